"""Piecewise-constant coupling schedules g(t) and exact propagation of the forward moments.

With M(g) = M_0 + g N constant on each segment, the forward moments are propagated segment by
segment with the exact one-segment maps (7-9):

    Phi(t) = e^{M_j (t - t_j)} Phi(t_j),
    Q(t)   = e^{M_j (t - t_j)} Q(t_j) e^{M_j^T (t - t_j)} + Q_j(t - t_j),

so no time-stepping error enters. The App. C schedules (144) are presets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import require, require_finite, require_nonnegative
from .moments import transition_cov, transition_matrix


@dataclass(frozen=True)
class CouplingSchedule:
    """g(t) = values[j] on the j-th segment between breakpoints (forward OU time).

    Segments are [b_{j-1}, b_j) by default and (b_{j-1}, b_j] with ``right_closed`` (which decides
    only the value exactly at a breakpoint: g_late = g0 1{t <= t0} needs it). ``breakpoints`` are
    strictly increasing and positive; ``values`` has one more entry.
    """

    breakpoints: tuple[float, ...]
    values: tuple[float, ...]
    right_closed: bool = False

    def __post_init__(self) -> None:
        require(
            len(self.values) == len(self.breakpoints) + 1,
            f"a schedule needs len(values) = len(breakpoints) + 1: {len(self.values)} values, "
            f"{len(self.breakpoints)} breakpoints",
        )
        require_finite(**{f"g[{i}]": v for i, v in enumerate(self.values)})
        require_nonnegative(**{f"breakpoint[{i}]": b for i, b in enumerate(self.breakpoints)})
        require(
            all(a < b for a, b in zip(self.breakpoints, self.breakpoints[1:])),
            f"schedule breakpoints must be strictly increasing: {self.breakpoints}",
        )

    @classmethod
    def constant(cls, g0: float) -> "CouplingSchedule":
        """g_const(t) = g0 (144)."""
        return cls((), (float(g0),))

    @classmethod
    def late(cls, g0: float, t0: float) -> "CouplingSchedule":
        """g_late(t) = g0 1{t <= t0} (144): coupling acts late in the reverse process (small t)."""
        require(t0 > 0, f"schedule switch time must be > 0: t0={t0}")
        return cls((float(t0),), (float(g0), 0.0), right_closed=True)

    @classmethod
    def early(cls, g0: float, t0: float) -> "CouplingSchedule":
        """g_early(t) = g0 1{t >= t0} (144): coupling acts early in the reverse process (large t)."""
        require(t0 > 0, f"schedule switch time must be > 0: t0={t0}")
        return cls((float(t0),), (0.0, float(g0)))

    @classmethod
    def from_name(cls, name: str, g0: float, t0: float) -> "CouplingSchedule":
        """One of ``constant``, ``late``, ``early`` by name."""
        makers = {
            "constant": lambda: cls.constant(g0),
            "late": lambda: cls.late(g0, t0),
            "early": lambda: cls.early(g0, t0),
        }
        require(name in makers, f"unknown schedule {name!r}: valid are {sorted(makers)}")
        return makers[name]()

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        """g(t), vectorised."""
        side = "left" if self.right_closed else "right"
        idx = np.searchsorted(np.asarray(self.breakpoints, float), np.asarray(t, float), side=side)
        return np.asarray(self.values, float)[idx]


def propagate(
    base: np.ndarray, direction: np.ndarray, schedule: CouplingSchedule, sigma_w2: float, t: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Phi(t), Q(t)) under a piecewise-constant g(t), M(t) = base + g(t) direction.

    Phi(t) is the state-transition matrix from 0 to t (mean mu(t) = Phi(t) mu(0)); Q(t) the
    accumulated noise covariance. Returns arrays of shape t.shape + (k, k).
    """
    t = np.asarray(t, dtype=float)
    require(bool(np.all(t >= 0)), f"times must be >= 0: min t={float(np.min(t)) if t.size else 0.0}")
    k = base.shape[-1]
    flat = t.ravel()
    Phi = np.empty(flat.shape + (k, k))
    Q = np.empty(flat.shape + (k, k))
    edges = (0.0,) + tuple(schedule.breakpoints) + (np.inf,)
    Phi_start, Q_start = np.eye(k), np.zeros((k, k))
    for j, g in enumerate(schedule.values):
        lo, hi = edges[j], edges[j + 1]
        M_j = base + g * direction
        in_seg = (flat >= lo) & (flat < hi)
        if np.any(in_seg):
            E = transition_matrix(M_j, flat[in_seg] - lo)
            Phi[in_seg] = E @ Phi_start
            Q[in_seg] = E @ Q_start @ np.swapaxes(E, -1, -2) + transition_cov(M_j, sigma_w2, flat[in_seg] - lo)
        if np.isfinite(hi):
            E = transition_matrix(M_j, hi - lo)
            Phi_start = E @ Phi_start
            Q_start = E @ Q_start @ E.T + transition_cov(M_j, sigma_w2, hi - lo)
    return Phi.reshape(t.shape + (k, k)), Q.reshape(t.shape + (k, k))
