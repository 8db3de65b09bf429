"""The execution layer: work units, executors (serial, process, Ray) and the ``reproduce`` driver.

:mod:`.units` and :mod:`.executors` know nothing about experiments (experiments declare their units with
them); :mod:`.driver` sits above the experiments: it plans a run, hands every unit to an executor, writes
the results and figures, and builds the report.
"""
