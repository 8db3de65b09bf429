"""Manifold data model: t_S and t_C against psi (theory curves, simulation points) and the (psi, alpha) diagram."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter

from .style import Figure, subplots

COLORS = {"orthonormal": "C2", "linear": "C0", "tanh": "C1", "sign": "C3"}
LABELS = {
    "orthonormal": "orthonormal U z",
    "linear": "random, F linear",
    "tanh": "random, F = tanh",
    "sign": "random, F = sign",
}
TREND_MARKERS = ("s", "^", "D")
ALPHA_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)


def _kinds(arrays: dict[str, np.ndarray]) -> list[str]:
    return [k for k in COLORS if f"theory_tc_{k}" in arrays]


def _errorbar(ax, x, y, lo, hi, **kw) -> None:
    """Points with asymmetric bars [lo, hi]; open intervals (no crossing of a Wilson bound) are drawn to the
    axis edge as arrows would clutter: a NaN bound becomes the point itself."""
    lo = np.where(np.isfinite(lo), lo, y)
    hi = np.where(np.isfinite(hi), hi, y)
    ax.errorbar(x, y, yerr=[np.maximum(y - lo, 0), np.maximum(hi - y, 0)], capsize=2.5, lw=1, ls="none", **kw)


def plot_manifold(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    return {"figure": _times_figure(arrays, config), "regimes": _regime_figure(arrays, config)}


def _times_figure(a: dict[str, np.ndarray], config: dict[str, Any]) -> Figure:
    from matplotlib.lines import Line2D

    p = config["params"]
    fig, (ax_c, ax_s) = subplots(1, 2, figsize=(12, 5.6))
    psi = a["theory_psi"]
    kinds = _kinds(a)
    offsets = {k: 0.012 * (i - (len(kinds) - 1) / 2) for i, k in enumerate(kinds)}
    dims = [p["d"], *p["trend_dims"]]
    markers = {d: ("o" if d == p["d"] else TREND_MARKERS[j % len(TREND_MARKERS)]) for j, d in enumerate(dims[1:])}
    markers[p["d"]] = "o"
    shift = {d: (0.0 if d == p["d"] else 0.03 * (j + 1)) for j, d in enumerate(dims[1:])} | {p["d"]: 0.0}
    for kind in kinds:
        color = COLORS[kind]
        ax_c.plot(psi, a[f"theory_tc_{kind}"], "-", color=color, lw=1.5)
        for d in dims:
            sel = (a["collapse_kind"] == kind) & (a["collapse_d"] == d)
            x = a["collapse_psi"][sel] + offsets[kind] + shift[d]
            _errorbar(
                ax_c,
                x,
                a["collapse_t_c_measured"][sel],
                a["collapse_t_c_lo"][sel],
                a["collapse_t_c_hi"][sel],
                marker=markers[d],
                ms=5,
                color=color,
                mfc=color if d == p["d"] else "white",
            )
            ax_c.plot(x, a["collapse_t_c_finite_d"][sel], "x", color=color, ms=7)
        ax_s.plot(psi, a[f"theory_ts_{kind}"], "-", color=color, lw=1.5)
        if f"summary_ts_{kind}" in a:
            ax_s.plot(psi, a[f"summary_ts_{kind}"], ":", color=color, lw=1.2)
        sel = a["speciation_kind"] == kind
        x = a["speciation_psi"][sel] + offsets[kind]
        ax_s.plot(x, a["speciation_t_s_theory"][sel], "x", color=color, ms=7)
        _errorbar(
            ax_s,
            x,
            a["speciation_t_s_measured"][sel],
            a["speciation_t_s_lo"][sel],
            a["speciation_t_s_hi"][sel],
            marker="o",
            ms=5,
            color=color,
        )
    kind_handles = [Line2D([], [], color=COLORS[k], lw=1.5) for k in kinds]
    kind_labels = [LABELS[k] for k in kinds]
    gray = "0.3"
    c_handles = kind_handles + [
        Line2D([], [], color=gray, marker=markers[d], ls="none", ms=5, mfc=gray if d == p["d"] else "white")
        for d in dims
    ]
    c_handles.append(Line2D([], [], color=gray, marker="x", ls="none", ms=7))
    c_labels = [f"{lab}: theory (d → ∞)" for lab in kind_labels] + [f"measured, d = {d} (95% interval)" for d in dims]
    c_labels.append("same criterion, log det of the sampled W (linear)")
    ax_c.set(
        xlabel=r"manifold-to-ambient ratio $\psi = p/d$",
        ylabel=r"collapse time $t_C$ (OU time)",
        title=rf"collapse: $I(x; x_t)/d = \alpha$, $\alpha$ = {p['alpha']:g}, $m^2$ = {p['m2']:g}",
        xlim=(0, 1.1),
    )
    ax_c.set_ylim(bottom=0)
    ax_c.legend(c_handles, c_labels, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    s_handles = kind_handles + [
        Line2D([], [], color=gray, marker="o", ls="none", ms=5),
        Line2D([], [], color=gray, marker="x", ls="none", ms=7),
        Line2D([], [], color=gray, ls=":", lw=1.2),
    ]
    s_labels = [f"{lab}: κ = 1, d → ∞" for lab in kind_labels] + [
        f"measured, d = {p['d']} (95% interval)",
        "κ = 1 for the sampled W",
        "summary's ½ log[2(ϱ₁²ψd‖μ̃‖² + ϱ*²)] read with ‖μ̃‖² = m²",
    ]
    ax_s.set(
        xlabel=r"manifold-to-ambient ratio $\psi = p/d$",
        ylabel=r"speciation time $t_S$ (OU time)",
        title=rf"speciation: $\kappa = 1$ (total convention), $d$ = {p['d']}, $m^2$ = {p['m2']:g}",
        xlim=(0, 1.1),
    )
    ax_s.set_ylim(bottom=0)
    ax_s.legend(s_handles, s_labels, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    return fig


def _regime_figure(a: dict[str, np.ndarray], config: dict[str, Any]) -> Figure:
    p = config["params"]
    psi, alpha = a["diagram_psi"], a["diagram_alpha"]
    acts = [act for act in ("linear", "tanh", "sign") if f"diagram_tc_{act}" in a]
    fig = Figure(figsize=(4.3 * len(acts) + 1.0, 4.6))
    width = 0.8 / len(acts)
    axes = [fig.add_axes((0.07 + i * (width + 0.012), 0.24, width, 0.66)) for i in range(len(acts))]
    cax = fig.add_axes((0.07 + len(acts) * (width + 0.012) + 0.01, 0.24, 0.015, 0.66))
    levels = np.arange(-3.0, 0.51, 0.25)
    superscript = {-3: "10⁻³", -2: "10⁻²", -1: "10⁻¹", 0: "1"}
    mesh = None
    for i, (ax, act) in enumerate(zip(axes, acts)):
        t_c = a[f"diagram_tc_{act}"]
        none = t_c == 0
        # under the no-collapse hatch, continue each column with its last finite value (no white seam)
        filled = np.where(none, np.nanmin(np.where(none, np.nan, t_c), axis=0, keepdims=True), t_c)
        mesh = ax.contourf(psi, alpha, np.clip(np.log10(filled), levels[0], levels[-1]), levels=levels, cmap="viridis")
        log_tc = np.log10(np.where(none, np.nan, t_c))  # contour lines only where t_C > 0
        ax.contour(psi, alpha, log_tc, levels=[-3, -2], colors="white", linewidths=0.6, linestyles="solid")
        lines = ax.contour(psi, alpha, log_tc, levels=[-1, 0], colors="white", linewidths=0.8, linestyles="solid")
        ax.clabel(lines, fmt=lambda v: f"t_C = {superscript[round(float(v))]}", fontsize=7, inline_spacing=2)
        if none.any():
            ax.contourf(psi, alpha, none.astype(float), levels=[0.5, 1.5], colors="0.88", hatches=["//"])
            ax.text(
                0.04,
                0.9,
                "no collapse",
                transform=ax.transAxes,
                fontsize=8,
                color="0.15",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5},
            )
        approx = a[f"diagram_exact_{act}"] < 0.5
        if approx.any():
            ax.contour(psi, alpha, approx.astype(float), levels=[0.5], colors="white", linestyles=":", linewidths=1.6)
        # speciation meets collapse at the simulated d: below the red line t_C > t_S (no generalisation window)
        t_s = a[f"diagram_ts_{act}"]
        gap = np.where(np.isfinite(t_s)[None, :] & (t_c > 0), t_c - t_s[None, :], np.nan)
        ax.contour(psi, alpha, gap, levels=[0.0], colors="red", linewidths=1.5)
        ax.set(
            yscale="log", xlabel=r"manifold-to-ambient ratio $\psi = p/d$", title=LABELS[act], xlim=(psi[0], psi[-1])
        )
        ax.grid(False)
        ax.yaxis.set_major_locator(FixedLocator(ALPHA_TICKS))
        ax.yaxis.set_major_formatter(FixedFormatter([f"{v:g}" for v in ALPHA_TICKS]))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(alpha[0], alpha[-1])
        if i:
            ax.tick_params(which="both", labelleft=False)
    axes[0].set_ylabel(r"sample-size exponent $\alpha = \log(n)/d$")
    cbar = fig.colorbar(mesh, cax=cax)
    cbar.set_label(r"$\log_{10} t_C$ ($t_C$ in OU time)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color="red", lw=1.5),
        Line2D([], [], color="0.5", ls=":", lw=1.6),
        Patch(facecolor="0.88", hatch="//", edgecolor="0.3"),
    ]
    labels = [
        f"t_C = t_S at d = {p['d']}, m² = {p['m2']:g} (below it: collapse before speciation)",
        (
            "dotted (top left): above it t_C < 10⁻³, from the small-noise limit of the GLM formula; "
            "thin white lines: t_C = 10⁻², 10⁻³"
        ),
        "no collapse: (1/d) I(x; x_t) < α at every t (F = sign: H(x)/d < log 2)",
    ]
    fig.legend(handles, labels, loc="lower left", ncol=1, fontsize=8, bbox_to_anchor=(0.07, 0.0))
    return fig
