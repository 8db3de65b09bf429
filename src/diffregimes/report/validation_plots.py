"""Validation figures: measured cloning and condensation curves beside the exact theory."""

from __future__ import annotations

from typing import Any

import numpy as np

from .style import G_LABEL, Figure, subplots


def plot_speciation(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """val_speciation: measured clone agreement against its exact curve, per d, against t/t_S."""
    fig, ax = subplots(figsize=(6.4, 4.2))
    h = summary["headline"]
    for i, d in enumerate(np.unique(data["d"])):
        sel = data["d"] == d
        ratio = data["t_over_ts"][sel]
        ax.errorbar(
            ratio,
            data["phi"][sel],
            yerr=2 * data["phi_se"][sel],
            fmt="o",
            ms=3,
            color=f"C{i}",
            capsize=2,
            label=f"$d$ = {int(d)}: measured (±2 SE)",
        )
        ax.plot(ratio, data["phi_theory"][sel], "-", color=f"C{i}", lw=1)
        ts_b, ts_k = h[f"d{int(d)}_ts_biroli"], h[f"d{int(d)}_ts_kappa_total"]
        ax.axvline(ts_k / ts_b, color=f"C{i}", ls=":", lw=0.8)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(
        xlabel=r"$t/t_S$ (dimensionless; $t_S = \frac{1}{2}\log d$, Biroli et al.)",
        ylabel=r"clone agreement $\varphi(t)$ (fraction)",
        title=r"$g = 0$: cloning vs its exact curve (lines); dotted: total $\kappa = 1$",
    )
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_sync(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """val_sync: measured per-mode t_S+- and the synchronization gap beside the theory."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    g = arrays["g"]
    for mode, color in (("plus", "C0"), ("minus", "C3")):
        sign = "+" if mode == "plus" else "-"
        ax1.plot(g, arrays[f"measured_{mode}"], "o", color=color, label=rf"measured $t_{{S{sign}}}$ ($\varphi = 3/4$)")
        ax1.plot(g, arrays[f"ts_{mode}_total"], "-", color=color, label=rf"$\kappa_{sign} = 1$, total ($d\,m^2$)")
        ax1.plot(g, arrays[f"ts_{mode}_posterior"], ":", color=color, label=rf"$a_{sign} = 1$ (posterior)")
        ax1.plot(
            g,
            arrays[f"ts_{mode}_perdim"],
            "--",
            color=color,
            alpha=0.6,
            label=rf"$\kappa_{sign} = 1$, per dimension (paper)",
        )
    ax1.set(
        xlabel=G_LABEL, ylabel=r"speciation time $t_{S\pm}$ (OU time)", title="(a) per-mode speciation, product mixture"
    )
    ax1.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax2.plot(g, arrays["gap_measured"], "o-", color="k", label=r"measured $t_{S+} - t_{S-}$")
    ax2.plot(g, arrays["gap_total"], "-", color="C1", label=r"theory, total $\kappa$")
    ax2.plot(g, arrays["gap_perdim"], "--", color="C1", alpha=0.6, label=r"theory, per-dimension $\kappa$")
    ax2.axhline(0, color="0.5", lw=0.8)
    ax2.set(xlabel=G_LABEL, ylabel=r"gap $t_{S+} - t_{S-}$ (OU time)", title="(b) synchronization gap")
    ax2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    fig.tight_layout()
    return fig


def plot_collapse(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """val_collapse: condensation and clone agreement against t/t_C; per-mode condensation."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    h = summary["headline"]
    single = data["experiment"] == "biroli"
    cases = sorted({(int(n), int(d)) for n, d in zip(data["n"][single], data["d"][single])})
    for i, (n, d) in enumerate(cases):
        sel = single & (data["n"] == n) & (data["d"] == d)
        clones = (data["experiment"] == "biroli_clones") & (data["n"] == n) & (data["d"] == d)
        t_c = h[f"n{n}_d{d}_tc_theory"]
        ax1.plot(data["t"][sel] / t_c, data["y2"][sel], "-o", ms=3, color=f"C{i}", label=f"$Y_2$, $n$={n}, $d$={d}")
        ax1.plot(
            data["t"][clones] / t_c,
            data["clone_nn"][clones],
            "--s",
            ms=3,
            color=f"C{i}",
            label=f"clone NN agreement, $n$={n}, $d$={d}",
        )
    ax1.axvline(1.0, color="k", lw=0.8)
    ax1.set(
        xlabel=r"$t/t_C$ (dimensionless; $t_C = \frac{1}{2}\log(1 + \sigma^2/(n^{2/d} - 1))$)",
        ylabel="$Y_2$ or clone agreement (fraction)",
        title="(a) collapse, one modality ($g$ = 0)",
    )
    ax1.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.22))  # clear of the tall x label
    modes = data["experiment"] == "modes"
    for i, g in enumerate(np.unique(data["g"][modes])):
        for mode, style in (("plus", "-"), ("minus", "--")):
            sel = modes & (data["g"] == g) & (data["mode"] == mode)
            ax2.plot(
                data["t"][sel],
                data["y2"][sel],
                style,
                color=f"C{i}",
                label=f"$g$ = {g:g}, {'+' if mode == 'plus' else '−'} mode",
            )
            ax2.axvline(h[f"g{g:g}_{mode}_tc_same_n"], color=f"C{i}", ls=style, lw=0.7)
    ax2.set(
        xlabel="forward time $t$ (OU time)",
        ylabel="per-mode $Y_2$ (fraction)",
        title="(b) per-mode condensation; vertical: (78) with $n^{2/d}$",
    )
    ax2.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22))
    fig.tight_layout()
    return fig
