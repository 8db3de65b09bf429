"""The validation experiments: measured regimes beside the theory, from exact-score simulations of
speciation and collapse. :mod:`.speciation` owns ``val_speciation`` (the g = 0 cloning check of Biroli et al.),
:mod:`.sync` owns ``val_sync`` (per-mode speciation and the synchronization gap of the product mixture),
:mod:`.collapse` owns ``val_collapse`` (collapse with the empirical score, joint and per mode), and
:mod:`.common` what they share (seeded generators, the one-modality model, interval verdicts, unit costs).
Each experiment is a list of independent work units (:mod:`diffregimes.work`) whose random generators are
seeded from the cell alone; ``EXPERIMENTS`` gathers the three, in report order.
"""

from .collapse import EXPERIMENTS as _COLLAPSE
from .speciation import EXPERIMENTS as _SPECIATION
from .sync import EXPERIMENTS as _SYNC

EXPERIMENTS = [*_SPECIATION, *_SYNC, *_COLLAPSE]
