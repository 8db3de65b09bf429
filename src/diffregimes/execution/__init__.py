"""The execution layer, on top of the experiments: executors (serial, process, Ray), the scheduler and the
``reproduce`` driver. The unit contract they run (:class:`~diffregimes.work.Unit`, the store, the thread
budget) lives below the experiments, in :mod:`diffregimes.work`, so that nothing here is imported from below.
"""
