"""The MNIST synchronization study (paper §5): Table 1 and Figs 6-11, their models and the evidence run.

Modules, from the ground up: :mod:`.presets` (every experiment's parameters per preset, the shared
:class:`~.presets.TrainingConfig`), :mod:`.schema` (their types and ranges), :mod:`.common` (threads, cached
arrays, images), :mod:`.training` (cached resumable training, sampling), :mod:`.weights` (published fp16
weights), :mod:`.gate` (the sample-quality gate), :mod:`.models` (models as work units, their records);
then one module per paper artefact: :mod:`.table1` (Table 1, Fig. 6), :mod:`.ghosting` (Figs 7-8),
:mod:`.intervention` (Fig. 9), :mod:`.cloning` (Figs 10-11, Protocol II), and the robustness study
:mod:`.robustness` (the §5 claims against budget, transform and reading); on top :mod:`.evidence` (publishing a
run). The catalog names each experiment's module; nothing is imported here, so that reading
the catalog does not pay for torch.
"""
