"""Figures 1-5 drawn from the saved results (data.csv / data.npz / summary.json) of each run."""

from __future__ import annotations

from typing import Any

import numpy as np

from .style import Figure, subplots


def plot_fig1(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    fig, ax = subplots(figsize=(6, 4))
    g = data["g"]
    ax.plot(g, data["t_s_common"], "-", color="C0", label="common mode only (m₊²=2), eq. (66) corrected")
    ax.plot(g, data["t_s_difference"], "--", color="C3", label="difference mode only (m₋²=2), eq. (66) corrected")
    styles = [":", "-."]
    mixes = [k for k in data if k.startswith("t_s_mix_")]
    for style, key in zip(styles * 3, mixes):
        mp, mm = key.removeprefix("t_s_mix_").split("_")
        ax.plot(g, data[key], style, color="0.3", label=f"mixture m₊²={mp}, m₋²={mm} (62), numerical")
    h = summary["headline"]
    ax.plot([h["g_peak_common"]], [h["t_s_peak_common"]], "o", color="C0", ms=5)
    ax.annotate(f"peak g={h['g_peak_common']:.3f}", (h["g_peak_common"], h["t_s_peak_common"]),
                textcoords="offset points", xytext=(5, 6), fontsize=8)
    p = config["params"]
    ax.set(xlabel="coupling g", ylabel="speciation time $t_S$ (OU time)",
           title=f"β={p['beta']:g}, σ_W²={p['sigma_w2']:g}, σ²={p['sigma2']:g} (κ per dimension)")
    ax.legend(fontsize=7.5)
    return fig


def plot_fig2(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    fig, ax = subplots(figsize=(6, 4))
    g = data["g"]
    ax.plot(g, data["t_c_plus"], "-", color="C0", label="common mode $t_{C+}$ (78)")
    ax.plot(g, data["t_c_minus"], "--", color="C3", label="difference mode $t_{C-}$ (78)")
    ax.plot(g, data["t_c"], "-", color="k", lw=2, label="joint $t_C$ (72)")
    ax.plot(g, data["t_max"], ":", color="0.5", label="bound $t_{max}$ (75)")
    p = config["params"]
    ax.set(xlabel="coupling g", ylabel="collapse time $t_C$ (OU time)",
           title=f"β={p['beta']:g}, σ²/σ_W²={p['sigma2']/p['sigma_w2']:g}, α={p['alpha']:g}")
    ax.legend(fontsize=8)
    return fig


def plot_fig3(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    fig, ax = subplots(figsize=(6, 4))
    ax.plot(data["g"], data["t_s"], "-", color="C2")
    p = config["params"]
    ax.set(xlabel="coupling g", ylabel="speciation time $t_S$ (OU time)",
           title=f"anisotropic, μx=0, m_y²={p['my2']:g}, σ_W²={p['sigma_w2']:g}, σ²=1, β={p['beta']:g}")
    return fig


def plot_fig4(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    fig, ax = subplots(figsize=(6.4, 4.6))
    g, theta, t_s = arrays["g"], arrays["theta"], arrays["t_s"]
    masked = np.ma.masked_invalid(t_s.T)
    # imshow rasterises the grid once: a 400x400 pcolormesh is slow to draw and bloats the PDF
    mesh = ax.imshow(masked, origin="lower", aspect="auto", cmap="viridis", interpolation="nearest",
                     extent=(g[0], g[-1], theta[0], theta[-1]))
    fig.colorbar(mesh, ax=ax, label="speciation time $t_S$ (OU time)")
    ax.plot(arrays["g_boundary"], arrays["theta_boundary"], "-", color="w", lw=2.2)
    ax.plot(arrays["g_boundary"], arrays["theta_boundary"], "-", color="k", lw=1.2,
            label="exact boundary: sup$_t$ κ = 1 (83)")
    crit = arrays["g_crit"]
    keep = np.isfinite(crit) & (crit <= g[-1])
    ax.plot(crit[keep], arrays["theta_boundary"][keep], "--", color="C0", lw=1.6, label="$g_{crit}$: κ(0) = 1 (85)")
    ax.set(xlabel="coupling g", ylabel="angle θ between modality means", xlim=(g[0], g[-1]), ylim=(0, np.pi))
    ax.set_facecolor("white")
    ax.grid(False)
    p = config["params"]
    ax.set_title(f"white: no speciation; m_x²=m_y²={p['mx2']:g}, σ_W²={p['sigma_w2']:g}, σ²=1, β={p['beta']:g}",
                 fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def plot_fig5(data: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> Figure:
    fig, ax = subplots(figsize=(6, 4))
    g = data["g"]
    ax.plot(g, data["t_c"], "-", color="k", lw=2, label="joint $t_C$ (86)")
    ax.plot(g, data["t_c_cond"], "--", color="C1", lw=2, label="conditional $t_{C,y|x}$ (87), α_C = α")
    p = config["params"]
    ax.set(xlabel="coupling g", ylabel="collapse time (OU time)",
           title=f"anisotropic: σ_W²={p['sigma_w2']:g}, σ²=1, β={p['beta']:g}, α={p['alpha']:g}")
    ax.legend(fontsize=8)
    inset = ax.inset_axes([0.58, 0.35, 0.38, 0.3])
    inset.plot(g, data["t_c_cond_same_n"], color="C1", lw=1)
    inset.set_title("conditional, same n (α_C = 2α)", fontsize=7)
    inset.tick_params(labelsize=6)
    return fig
