"""The registry lines: one :class:`Entry` per experiment, in report order. Adding an experiment is one module
under ``experiments/`` (its parameters, units and run) plus one line here (plus, for a new figure, a plotter
function in ``report/``, where matplotlib lives): the CLI, the driver and the report derive everything else.

Plain data on purpose: the CLI lists experiments without importing torch, and the report layer finds each
experiment's plotter and section here without importing the experiments (it reads results from disk only).
See ``docs/developers.md`` for a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """What is known about an experiment before its module is imported.

    ``module``: the module under ``diffregimes.experiments`` that defines it (in its ``EXPERIMENTS`` list);
    ``plotter``: ``"<module>.<function>"`` under ``diffregimes.report`` drawing its figure(s) from the saved
    results, which it reads from ``data`` ("csv": data.csv, "npz": data.npz); ``figures``: the stems it draws;
    ``section``: its part of the report.
    """

    name: str
    section: str
    title: str
    module: str
    plotter: str
    data: str = "csv"
    figures: tuple[str, ...] = ("figure",)
    #: rough wall time in seconds at the quick preset on a quiet 2-core CPU (in all: theory 15 s, App. C 3 s,
    #: validation 2.5 min, MNIST 8.7 min); only the ratios matter: they weight the overall ETA of ``reproduce``
    quick_s: float = 1.0


_T, _V, _M = "theory_plots", "validation_plots", "mnist_plots"
# fmt: off
CATALOG: tuple[Entry, ...] = (
    Entry("fig1", "theory", "Fig. 1 — speciation time vs symmetric coupling", "theory_figs", f"{_T}.plot_fig1", quick_s=3.0),
    Entry("fig2", "theory", "Fig. 2 — collapse times vs symmetric coupling", "theory_figs", f"{_T}.plot_fig2", quick_s=0.1),
    Entry("fig3", "theory", "Fig. 3 — anisotropic speciation, uninformative context", "theory_figs", f"{_T}.plot_fig3", quick_s=1.0),
    Entry("fig4", "theory", "Fig. 4 — anisotropic phase diagram t_S(g, θ)", "theory_figs", f"{_T}.plot_fig4", "npz", quick_s=6.0),
    Entry("fig5", "theory", "Fig. 5 — anisotropic joint and conditional collapse", "theory_figs", f"{_T}.plot_fig5", quick_s=1.0),
    Entry("appc", "appc", "Figs 12–14 — App. C exact-score conditional generation vs θ", "appc", "appc_plots.plot_appc", "npz", ("fig12", "fig13", "fig14"), quick_s=5.0),
    Entry("val_speciation", "validation", "Validation — speciation by cloning at g = 0 (Biroli et al. check)", "validation.speciation", f"{_V}.plot_speciation", quick_s=60.0),
    Entry("val_sync", "validation", "Validation — per-mode speciation and the synchronization gap (product mixture)", "validation.sync", f"{_V}.plot_sync", "npz", quick_s=40.0),
    Entry("val_collapse", "validation", "Validation — collapse with the empirical score, joint and per mode", "validation.collapse", f"{_V}.plot_collapse", quick_s=50.0),
    Entry("manifold", "manifold", "Manifold data — speciation and collapse against ψ = p/d (exact empirical score)", "manifold", "manifold_plots.plot_manifold", "npz", ("figure", "regimes"), quick_s=900.0),
    Entry("table1", "mnist", "Table 1 — Protocol I synchronization gap Δt(τ), MAIN vs CTRL", "mnist.table1", f"{_M}.plot_table1", quick_s=250.0),
    Entry("fig6", "mnist", "Fig. 6 — cosine-to-final curves Cos_u, Cos_v (Protocol I)", "mnist.table1", f"{_M}.plot_fig6", quick_s=5.0),
    Entry("fig7", "mnist", "Fig. 7 — ghosting index (Protocol I)", "mnist.ghosting", f"{_M}.plot_fig7", quick_s=5.0),
    Entry("fig8", "mnist", "Fig. 8 — denoising trajectory strip x_A, x_B, u (Protocol I)", "mnist.ghosting", f"{_M}.plot_fig8", "npz", quick_s=5.0),
    Entry("fig9", "mnist", "Fig. 9 — v-only intervention, RMS Δu and Δv (Protocol I)", "mnist.intervention", f"{_M}.plot_fig9", "npz", quick_s=20.0),
    Entry("fig10", "mnist", "Fig. 10 — cloning speciation times t_spec^u, t_spec^v vs g (Protocol II)", "mnist.cloning", f"{_M}.plot_fig10", quick_s=230.0),
    Entry("fig11", "mnist", "Fig. 11 — speciation curves φ^ex_u, φ^ex_v at g = 0 and 0.5 (Protocol II)", "mnist.cloning", f"{_M}.plot_fig11", quick_s=5.0),
    Entry("robustness", "mnist", "§5 robustness — the claims against training budget, transform and reading", "mnist.robustness", f"{_M}.plot_robustness", quick_s=60.0),
)
# fmt: on
