"""Vectorised root finding for "the largest t with f(t) = level" on a whole batch of problems.

Used for the speciation time (30) on phase grids: one coarse scan brackets the last crossing of
every cell, then a vectorised Illinois (modified regula falsi) refinement, with a bisection step
every few iterations as a convergence guarantee, polishes all cells at once. No Python loop runs
over cells; the loops are over grid times and over refinement iterations.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._validate import require_horizon

#: f(t, pos): the function at times ``t`` for the problems at positions ``pos`` of the batch being refined.
CellFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


def default_time_grid(T: float = 10.0, n: int = 512) -> np.ndarray:
    """Times on [0, T] packed quadratically towards 0, where kappa(t) changes fastest."""
    require_horizon(T)
    u = np.linspace(0.0, 1.0, n)
    return T * u**2


def bracket_last_crossing(values: np.ndarray, level: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index j of the last grid time with values[j] > level, per cell.

    ``values`` has shape (n_t,) + batch. Returns (j, crossing, beyond): ``crossing`` marks cells with
    values[j] > level >= values[j+1]; ``beyond`` marks cells still above the level at the last time.
    """
    above = values > level
    n_t = values.shape[0]
    j = n_t - 1 - np.argmax(above[::-1], axis=0)
    has_any = above.any(axis=0)
    beyond = above[-1]
    return j, has_any & ~beyond, beyond


def refine_crossing(
    f: CellFunction, a: np.ndarray, b: np.ndarray, level: float = 1.0, xtol: float = 1e-14, max_iter: int = 200
) -> np.ndarray:
    """Root of f(t, pos) = level in [a[pos], b[pos]] for every pos, given f(a) > level >= f(b).

    Illinois steps (regula falsi that halves the weight of an endpoint kept twice in a row)
    converge superlinearly; every fourth step is a bisection, so the bracket at least halves
    every four steps whatever the function does.
    """
    a, b = a.astype(float).copy(), b.astype(float).copy()
    everything = np.arange(a.size)
    fa = f(a, everything) - level  # > 0 side
    fb = f(b, everything) - level  # <= 0 side
    last = np.zeros(a.shape, dtype=np.int8)  # +1: a moved last step, -1: b moved
    active = fb != 0
    a[~active] = b[~active]
    for it in range(max_iter):
        if not active.any():
            break
        sel = np.flatnonzero(active)
        a_s, b_s, fa_s, fb_s = a[sel], b[sel], fa[sel], fb[sel]
        bisect = it % 4 == 3
        if bisect:
            c = 0.5 * (a_s + b_s)
        else:
            c = b_s - fb_s * (b_s - a_s) / (fb_s - fa_s)  # fa > 0 >= fb, so the denominator is < 0
            lo, hi = np.minimum(a_s, b_s), np.maximum(a_s, b_s)
            c = np.where((c > lo) & (c < hi), c, 0.5 * (a_s + b_s))
        fc = f(c, sel) - level
        up = fc > 0
        if not bisect:
            fb_s = np.where(up & (last[sel] == 1), 0.5 * fb_s, fb_s)
            fa_s = np.where(~up & (last[sel] == -1), 0.5 * fa_s, fa_s)
        a[sel], fa[sel] = np.where(up, c, a_s), np.where(up, fc, fa_s)
        b[sel], fb[sel] = np.where(up, b_s, c), np.where(up, fb_s, fc)
        last[sel] = 0 if bisect else np.where(up, 1, -1)
        exact = fc == 0
        a[sel[exact]] = b[sel[exact]] = c[exact]
        width = np.abs(b[sel] - a[sel])
        active[sel] = width > xtol + 4 * np.finfo(float).eps * np.abs(b[sel])
    return 0.5 * (a + b)


def last_crossing(
    values: np.ndarray, t_grid: np.ndarray, f: CellFunction, level: float = 1.0, xtol: float = 1e-14
) -> np.ndarray:
    """Largest t in [t_grid[0], t_grid[-1]] with f(t) = level for every cell of a batch.

    ``values`` = f on ``t_grid``, shape (n_t,) + batch. Cells that never exceed the level get NaN
    (no crossing); cells still above it at the last grid time get +inf (crossing beyond the grid).
    """
    batch = values.shape[1:]
    j, crossing, beyond = bracket_last_crossing(values, level)
    out = np.full(batch, np.nan)
    out[beyond] = np.inf
    idx = np.flatnonzero(crossing.ravel())
    if idx.size:
        jj = j.ravel()[idx]
        roots = refine_crossing(lambda t, pos: f(t, idx[pos]), t_grid[jj], t_grid[jj + 1], level, xtol)
        out.ravel()[idx] = roots  # out is C-contiguous, so ravel() is a view
    return out
