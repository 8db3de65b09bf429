"""Figure mechanics: no two tick labels of an axis overlap where they are drawn, the OU-time top axes of the
MNIST figures included (their ticks crowd where OU time grows fast, near k = T - 1). The MNIST figures
themselves are checked on the smoke runs in ``test_mnist_experiments.py``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THEORY_FIGURES
from figure_checks import redraw, tick_label_collisions

from diffregimes.report.style import figure_style, subplots
from diffregimes.runstore import RunDir


def test_the_check_finds_two_labels_drawn_over_each_other():
    with figure_style():
        fig, ax = subplots(1, 1, figsize=(3.0, 2.0))
        ax.set_xlim(0, 1)
        ax.set_xticks([0.0, 0.01, 0.5, 1.0], ["6", "5", "0.5", "1"])  # "6" and "5" a hundredth apart: "65"
    assert tick_label_collisions(fig) == ["'6' / '5' (x axis of Axes)"]
    ax.set_xticks([0.0, 0.5, 1.0], ["6", "0.5", "1"])
    assert tick_label_collisions(fig) == []


def _ou_axis_figure(T: int, k: np.ndarray, width: float):
    """One panel ``width`` inches wide with the MNIST figures' reverse-time step axis and its OU-time top
    axis, over the steps ``k`` of the VP schedule with T steps (the OU times from the diffusion layer)."""
    from diffregimes.diffusion.schedule import linear_vp_schedule
    from diffregimes.report.mnist_plots import _reverse_k_axis

    ou = linear_vp_schedule(T).ou_times.numpy()[k]
    with figure_style():
        fig, ax = subplots(1, 1, figsize=(width, 2.6))
        ax.plot(k, np.linspace(0, 1, k.size))
        _reverse_k_axis(ax, k, ou)
        fig.tight_layout()
    return fig


@pytest.mark.parametrize("T", [30, 100, 200, 500, 1000])
@pytest.mark.parametrize("width", [2.0, 3.4, 5.2, 8.0])
@pytest.mark.parametrize("span", ["all steps", "clone starts"])
def test_ou_time_ticks_never_collide(T, width, span):
    """Every step k = 0..T-1 (Figs 6, 7, 9) or the clone starts of Fig. 11 (k from 2 % to 65 % of T), in
    panels from narrow (a third of a wide figure) to wide."""
    k = np.arange(T) if span == "all steps" else np.unique(np.linspace(0.02 * T, 0.65 * T, 12).astype(int))
    fig = _ou_axis_figure(T, k, width)
    top = fig.axes[0].child_axes
    assert len(top) == 1 and len([t for t in top[0].get_xticklabels() if t.get_text()]) >= 2
    assert tick_label_collisions(fig) == []


@pytest.mark.parametrize("name", THEORY_FIGURES)
def test_theory_figures_tick_labels_do_not_collide(theory_smoke_report, name):
    for stem, fig in redraw(RunDir(theory_smoke_report, name)).items():
        assert tick_label_collisions(fig) == [], stem
