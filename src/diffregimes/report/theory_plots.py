"""Figures 1-5 drawn from the saved results (data.csv / data.npz / summary.json) of each run."""

from __future__ import annotations

from typing import Any

import numpy as np

from .style import G_LABEL, Figure, pi_ticks, subplots


def plot_fig1(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Fig. 1: t_S against g per mode (corrected (66)) and for mixed means ((62) numerically)."""
    fig, ax = subplots(figsize=(6, 4))
    g = data["g"]
    ax.plot(g, data["t_s_common"], "-", color="C0", label=r"common mode only ($m_+^2=2$), (66) corrected")
    ax.plot(g, data["t_s_difference"], "--", color="C3", label=r"difference mode only ($m_-^2=2$), (66) corrected")
    styles = [":", "-."]
    mixes = [k for k in data if k.startswith("t_s_mix_")]
    for style, key in zip(styles * 3, mixes):
        mp, mm = key.removeprefix("t_s_mix_").split("_")
        ax.plot(g, data[key], style, color="0.3", label=f"mixture $m_+^2={mp}$, $m_-^2={mm}$, (62) numerically")
    h = summary["headline"]
    ax.plot([h["g_peak_common"]], [h["t_s_peak_common"]], "o", color="C0", ms=5)
    ax.annotate(
        f"peak at $g$ = {h['g_peak_common']:.3f}",
        (h["g_peak_common"], h["t_s_peak_common"]),
        textcoords="offset points",
        xytext=(5, 6),
        fontsize=8,
    )
    p = config["params"]
    ax.set(
        xlabel=G_LABEL,
        ylabel="speciation time $t_S$ (OU time)",
        title=rf"$\beta={p['beta']:g}$, $\sigma_W^2={p['sigma_w2']:g}$, $\sigma^2={p['sigma2']:g}$ "
        r"($\kappa$ per dimension)",
    )
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


def plot_fig2(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Fig. 2: collapse times against g: per mode (78), joint (72), bound (75)."""
    fig, ax = subplots(figsize=(6, 4))
    g = data["g"]
    ax.plot(g, data["t_c_plus"], "-", color="C0", label="common mode $t_{C+}$ (78)")
    ax.plot(g, data["t_c_minus"], "--", color="C3", label="difference mode $t_{C-}$ (78)")
    ax.plot(g, data["t_c"], "-", color="k", lw=2, label="joint $t_C$ (72)")
    ax.plot(g, data["t_max"], ":", color="0.5", label=r"bound $t_{\max}$ (75)")
    p = config["params"]
    ax.set(
        xlabel=G_LABEL,
        ylabel="collapse time $t_C$ (OU time)",
        title=rf"$\beta={p['beta']:g}$, $\sigma^2/\sigma_W^2={p['sigma2'] / p['sigma_w2']:g}$, "
        rf"$\alpha={p['alpha']:g}$",
    )
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_fig3(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Fig. 3: anisotropic t_S against g with an uninformative context (mu_x = 0)."""
    fig, ax = subplots(figsize=(6, 4))
    ax.plot(data["g"], data["t_s"], "-", color="C2")
    p = config["params"]
    ax.set(
        xlabel=G_LABEL,
        ylabel="speciation time $t_S$ (OU time)",
        title=rf"anisotropic, $\mu_x=0$, $m_y^2={p['my2']:g}$, $\sigma_W^2={p['sigma_w2']:g}$, $\sigma^2=1$, "
        rf"$\beta={p['beta']:g}$",
    )
    return fig


def plot_fig4(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Fig. 4: the (g, theta) phase diagram of t_S with the exact and the kappa(0) = 1 boundaries."""
    fig, ax = subplots(figsize=(6.4, 4.6))
    g, theta, t_s = arrays["g"], arrays["theta"], arrays["t_s"]
    masked = np.ma.masked_invalid(t_s.T)
    # imshow rasterises the grid once: a 400x400 pcolormesh is slow to draw and bloats the PDF
    mesh = ax.imshow(
        masked,
        origin="lower",
        aspect="auto",
        cmap="viridis",
        interpolation="nearest",
        extent=(g[0], g[-1], theta[0], theta[-1]),
    )
    fig.colorbar(mesh, ax=ax, label="speciation time $t_S$ (OU time)")
    ax.plot(arrays["g_boundary"], arrays["theta_boundary"], "-", color="w", lw=2.2)
    ax.plot(
        arrays["g_boundary"],
        arrays["theta_boundary"],
        "-",
        color="k",
        lw=1.2,
        label=r"exact boundary: $\sup_t \kappa = 1$ (83)",
    )
    crit = arrays["g_crit"]
    keep = np.isfinite(crit) & (crit <= g[-1])
    ax.plot(
        crit[keep],
        arrays["theta_boundary"][keep],
        "--",
        color="C0",
        lw=1.6,
        label=r"$g_{\mathrm{crit}}$: $\kappa(0) = 1$ (85)",
    )
    ax.set(
        xlabel=G_LABEL, ylabel=r"angle $\theta$ between the modality means (rad)", xlim=(g[0], g[-1]), ylim=(0, np.pi)
    )
    pi_ticks(ax.yaxis)
    ax.set_facecolor("white")
    ax.grid(False)
    p = config["params"]
    ax.set_title(
        rf"white: no speciation; $m_x^2=m_y^2={p['mx2']:g}$, $\sigma_W^2={p['sigma_w2']:g}$, $\sigma^2=1$, "
        rf"$\beta={p['beta']:g}$",
        fontsize=9,
    )
    # below the axes: inside, the legend would hide part of the colour map
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return fig


def plot_fig5(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    """Fig. 5: joint (86) and conditional (87) collapse times against g, and their change magnified."""
    fig, (ax, zoom) = subplots(1, 2, figsize=(10.5, 4))
    g = data["g"]
    ax.plot(g, data["t_c"], "-", color="k", lw=2, label="joint $t_C$ (86)")
    ax.plot(g, data["t_c_cond"], "--", color="C1", lw=2, label=r"conditional $t_{C,y|x}$ (87), $\alpha_C = \alpha$")
    ax.plot(g, data["t_c_cond_same_n"], ":", color="C1", lw=2, label=r"conditional, same $n$: $\alpha_C = 2\alpha$")
    p = config["params"]
    ax.set(
        xlabel=G_LABEL,
        ylabel="collapse time $t_C$ (OU time)",
        ylim=(0, None),
        title=rf"(a) anisotropic: $\sigma_W^2={p['sigma_w2']:g}$, $\sigma^2=1$, $\beta={p['beta']:g}$, "
        rf"$\alpha={p['alpha']:g}$",
    )
    ax.legend(fontsize=8, loc="center right")
    # the variation with g is ~1e-4 of t_C: a zoom on the change from g = 0 shows the order of the curves
    scale = 1e4
    zoom.plot(g, scale * (data["t_c"] - data["t_c"][0]), "-", color="k", lw=2, label="joint (86)")
    zoom.plot(
        g,
        scale * (data["t_c_cond"] - data["t_c_cond"][0]),
        "--",
        color="C1",
        lw=2,
        label=r"conditional (87), $\alpha_C = \alpha$",
    )
    zoom.set(xlabel=G_LABEL, ylabel=r"$t_C(g) - t_C(0)$ ($10^{-4}$ OU time)", title="(b) change with $g$, magnified")
    zoom.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
