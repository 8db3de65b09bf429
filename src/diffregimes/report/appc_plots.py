"""Figs 12-14 (App. C): Delta accuracy, MSE and NLL against theta, one line per schedule."""

from __future__ import annotations

from typing import Any

import numpy as np

from .style import Figure, pi_ticks, subplots

PANELS = (
    ("d_acc", "se_acc", r"$\Delta$ accuracy (fraction)"),
    ("d_mse", "se_mse", r"$\Delta$ MSE (145)"),
    ("d_nll", "se_nll", r"$\Delta$ NLL (146, nats)"),
)
STYLE = {"constant": ("C3", "-"), "late": ("C0", "--"), "early": ("C2", ":")}


def plot_appc(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Figure]:
    """Figs 12, 13, 14: Delta accuracy, MSE (145) and NLL (146) against theta, one figure per g0."""
    theta = arrays["theta"]
    schedules, g0s = [str(s) for s in arrays["schedule"]], arrays["g0"]
    figures = {}
    for number, g0 in zip((12, 13, 14), config["params"]["g0s"]):
        fig, axes = subplots(1, 3, figsize=(12, 3.6), sharex=True)
        for ax, (key, se_key, label) in zip(axes, PANELS):
            for j, (sched, g) in enumerate(zip(schedules, g0s)):
                if sched == "baseline" or not np.isclose(g, g0):
                    continue
                color, style = STYLE.get(sched, ("k", "-"))
                ax.errorbar(
                    theta,
                    arrays[key][:, j],
                    yerr=2 * arrays[se_key][:, j],
                    color=color,
                    ls=style,
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=sched,
                )
            ax.axhline(0, color="0.4", lw=0.8)
            ax.set(xlabel=r"angle $\theta$ between $\mu_x$ and $\mu_y$ (rad)", ylabel=f"{label} vs $g_0 = 0$")
            pi_ticks(ax.xaxis)
        # outside the panels: inside, the curves of some g0 would run through it
        axes[-1].legend(title="schedule", fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
        p = config["params"]
        fig.suptitle(
            f"Fig. {number}: $g_0$ = {g0:g} ($d$ = {p['d']}, $m^2$ = {p['m2']:g}, $t_0$ = {p['t0']:g}, "
            f"$N$ = {p['n_steps']} steps, {p['trials']} trials; bars: ±2 standard errors)",
            fontsize=10,
        )
        fig.tight_layout()
        figures[f"fig{number}"] = fig
    return figures
