"""Figs 12-14 (App. C): Delta accuracy, MSE and NLL against theta, one line per schedule."""

from __future__ import annotations

from typing import Any

import numpy as np

from .style import Figure, subplots

PANELS = (("d_acc", "se_acc", "Δ accuracy"), ("d_mse", "se_mse", "Δ MSE (145)"), ("d_nll", "se_nll", "Δ NLL (146)"))
STYLE = {"constant": ("C3", "-"), "late": ("C0", "--"), "early": ("C2", ":")}


def plot_appc(arrays: dict[str, np.ndarray], summary: dict[str, Any], config: dict[str, Any]) -> dict[str, Figure]:
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
                ax.errorbar(theta, arrays[key][:, j], yerr=2 * arrays[se_key][:, j], color=color, ls=style,
                            marker="o", ms=3, capsize=2, label=sched)
            ax.axhline(0, color="0.4", lw=0.8)
            ax.set(xlabel="angle θ between μx and μy", ylabel=f"{label} vs g0 = 0")
            ax.set_xticks([0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi], ["0", "π/4", "π/2", "3π/4", "π"])
        axes[0].legend(title="schedule", fontsize=8)
        p = config["params"]
        fig.suptitle(f"Fig. {number}: g0 = {g0:g} (d = {p['d']}, m² = {p['m2']:g}, t0 = {p['t0']:g}, "
                     f"N = {p['n_steps']}, {p['trials']} trials; bars: ±2 SE)", fontsize=10)
        fig.tight_layout()
        figures[f"fig{number}"] = fig
    return figures
