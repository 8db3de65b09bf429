"""Vectorised (g, theta) phase grid (Fig. 4) and the batched last-crossing root finder.

The phase grid is checked cell by cell against a reference that uses none of the code under test beyond
the general kappa (which test_speciation checks against brute-force Kronecker matrices): a uniform
2000-point scan of kappa of CoupledOU.anisotropic, then scipy's brentq on the last sign change.
The root finder is checked on synthetic functions whose last roots are known in closed form.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq, minimize_scalar

from diffregimes.theory import CoupledOU, anisotropic_phase_grid, kappa, speciation_time
from diffregimes.theory.roots import last_crossing, refine_crossing

FIG4 = dict(beta=1.0, sigma_w2=2.0, sigma_x2=1.0, sigma_y2=1.0, mx2=1.0, my2=1.0)


def reference_t_s(g, theta, T=10.0, factor=1.0):
    """(t_S, sup kappa): last crossing of factor * kappa = 1 on [0, T] by a uniform scan + brentq."""
    model = CoupledOU.anisotropic(g=g, theta=theta, **FIG4)
    f = lambda t: factor * float(kappa(model, t)) - 1.0  # noqa: E731
    t = np.linspace(0.0, T, 2000)
    vals = factor * kappa(model, t)
    j = int(np.argmax(vals))
    lo, hi = t[max(j - 1, 0)], t[min(j + 1, t.size - 1)]
    sup = max(
        vals[j],
        -minimize_scalar(
            lambda s: -factor * float(kappa(model, s)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
        ).fun,
    )
    above = np.flatnonzero(vals > 1.0)
    if above.size == 0:
        return np.nan, sup
    last = above[-1]
    if last == t.size - 1:
        return np.inf, sup
    return brentq(f, t[last], t[last + 1], xtol=1e-14, rtol=4 * np.finfo(float).eps), sup


G = np.array([0.0, 0.5, 1.0, 1.3, 1.6, 1.68, 1.8, 2.4, 3.0])  # crosses the theta = 0 boundary (~1.705)
THETA = np.linspace(0.0, np.pi, 7)


def test_phase_grid_matches_per_cell_reference():
    grid = anisotropic_phase_grid(G, THETA, **FIG4)
    assert grid.t_s.shape == (G.size, THETA.size)
    n_nan = 0
    for i, g in enumerate(G):
        for j, th in enumerate(THETA):
            ref, sup = reference_t_s(g, th)
            # every cell is clearly on one side of (83), so the reference classification is unambiguous
            assert abs(sup - 1.0) > 1e-2
            if np.isnan(ref):
                n_nan += 1
                assert sup < 1.0
                assert np.isnan(grid.t_s[i, j]), (g, th)
            else:
                assert grid.t_s[i, j] == pytest.approx(ref, abs=1e-10), (g, th)
    assert n_nan >= 4  # the white region of Fig. 4 is represented
    # g = 0: kappa = 4 e^{-2t} for every theta (c = 1 as in the symmetric hand case), t_S = ln 2
    np.testing.assert_allclose(grid.t_s[0], np.log(2), rtol=0, atol=1e-12)


def test_phase_grid_has_a_double_crossing_cell():
    """At theta = 0, g = 1.6: kappa(0) = 4 - 3.2 = 0.8 < 1 (85) yet kappa rises above 1 at t > 0, so there
    are two crossings and t_S must be the later one."""
    model = CoupledOU.anisotropic(g=1.6, theta=0.0, **FIG4)
    t = np.linspace(0, 10, 2000)
    above = kappa(model, t) > 1
    assert not above[0] and above.any()
    grid = anisotropic_phase_grid(np.array([1.6]), np.array([0.0]), **FIG4)
    ref, _ = reference_t_s(1.6, 0.0)
    assert grid.t_s[0, 0] == pytest.approx(ref, abs=1e-10)
    assert grid.t_s[0, 0] > t[np.argmax(above)]


def test_phase_grid_marks_inf_when_kappa_above_one_at_T():
    T = 0.45
    g, theta = np.array([0.0, 1.0, 2.4]), np.array([0.0, np.pi / 2, np.pi])
    grid = anisotropic_phase_grid(g, theta, T=T, **FIG4)
    n_inf = 0
    for i in range(g.size):
        for j in range(theta.size):
            ref, _ = reference_t_s(g[i], theta[j], T=T)
            if np.isinf(ref):
                n_inf += 1
                assert grid.t_s[i, j] == np.inf
            elif np.isnan(ref):
                assert np.isnan(grid.t_s[i, j])
            else:
                assert grid.t_s[i, j] == pytest.approx(ref, abs=1e-10)
    # hand: g = 0 gives kappa(T) = 4 e^{-0.9} = 1.63 > 1
    assert n_inf >= 1 and np.all(np.isinf(grid.t_s[0]))


@pytest.mark.parametrize("d", [4, 32])
def test_phase_grid_factor_reproduces_total_convention(d):
    g, theta = np.array([0.3, 1.2, 2.5]), np.array([0.0, 1.0, 2.8])
    grid = anisotropic_phase_grid(g, theta, factor=float(d), **FIG4)
    for i in range(g.size):
        for j in range(theta.size):
            model = CoupledOU.anisotropic(g=g[i], theta=theta[j], **FIG4)
            ref = speciation_time(model, "total", d)
            ref = np.nan if ref is None else ref
            np.testing.assert_allclose(grid.t_s[i, j], ref, rtol=0, atol=1e-10)
    # hand at g = 0: total kappa = 4 d e^{-2t} -> t_S = (1/2) ln(4 d)
    g0 = anisotropic_phase_grid(np.array([0.0]), np.array([0.5]), factor=float(d), **FIG4)
    assert g0.t_s[0, 0] == pytest.approx(0.5 * np.log(4 * d), abs=1e-12)


# ----------------------------------------------------------------------------- roots, synthetic
R_CUBIC = (0.5, 1.5, 3.2)


def synthetic(t, idx):
    """A batch of cells with known last roots of f = 1 on [0, 5]:
    0: 3 e^{-t}                              -> ln 3
    1: 1 - 0.4 (t-0.5)(t-1.5)(t-3.2)         -> 3.2 (three crossings)
    2: 0.5 + 0.3 sin t                       -> never above 1 (NaN)
    3: 2 + e^{-t}                            -> above 1 at t = 5 (inf)
    4: 1 + (4 - t)(t - 1)^2                  -> 4 (tangent touch at 1 is not a crossing)
    5: exp(40 (2.3 - t))                     -> 2.3 (steep, but nearly log-linear within one grid cell)
    6: 1 + (e^{-t} - e^{-2.7})               -> 2.7 (flat: slope e^{-2.7} = 0.07)
    """
    t, idx = np.broadcast_arrays(np.asarray(t, float), np.asarray(idx))
    out = np.empty(t.shape)
    r1, r2, r3 = R_CUBIC
    table = {
        0: lambda s: 3 * np.exp(-s),
        1: lambda s: 1 - 0.4 * (s - r1) * (s - r2) * (s - r3),
        2: lambda s: 0.5 + 0.3 * np.sin(s),
        3: lambda s: 2 + np.exp(-s),
        4: lambda s: 1 + (4 - s) * (s - 1) ** 2,
        5: lambda s: np.exp(np.minimum(40 * (2.3 - s), 700)),
        6: lambda s: 1 + (np.exp(-s) - np.exp(-2.7)),
    }
    for key, fun in table.items():
        sel = idx == key
        out[sel] = fun(t[sel])
    return out


EXPECTED = np.array([np.log(3), 3.2, np.nan, np.inf, 4.0, 2.3, 2.7])


def test_last_crossing_on_synthetic_batch():
    n_cells = EXPECTED.size
    t_grid = np.linspace(0.0, 5.0, 41)
    values = synthetic(t_grid[:, None], np.arange(n_cells)[None, :])
    roots = last_crossing(values, t_grid, synthetic)
    assert roots.shape == (n_cells,)
    np.testing.assert_array_equal(np.isnan(roots), np.isnan(EXPECTED))
    np.testing.assert_array_equal(np.isinf(roots), np.isinf(EXPECTED))
    finite = np.isfinite(EXPECTED)
    np.testing.assert_allclose(roots[finite], EXPECTED[finite], rtol=0, atol=1e-12)


def test_last_crossing_two_dimensional_batch_and_level():
    """f = A e^{-t} crosses level L at ln(A/L); batch laid out as (2, 3)."""
    A = np.array([[2.0, 5.0, 0.1], [9.0, 1.5, 30.0]])
    level = 0.25
    t_grid = np.linspace(0.0, 6.0, 25)
    values = A[None] * np.exp(-t_grid)[:, None, None]
    f = lambda t, pos: A.ravel()[pos] * np.exp(-t)  # noqa: E731
    roots = last_crossing(values, t_grid, f, level=level)
    expected = np.log(A / level)
    expected[A * np.exp(-6.0) > level] = np.inf  # 30 e^{-6} = 0.074 < 0.25: none here
    expected[A <= level] = np.nan  # A = 0.1 never reaches the level
    np.testing.assert_array_equal(np.isnan(roots), np.isnan(expected))
    ok = np.isfinite(expected)
    np.testing.assert_allclose(roots[ok], expected[ok], rtol=0, atol=1e-12)


def test_refine_crossing_direct():
    # cells: 2 - t (root 1), a mildly steep exponential (root 2.3), and f(b) exactly at the level (returns b)
    def f(t, pos):
        t = np.asarray(t, float)
        out = np.empty_like(t)
        kinds = np.array([0, 1, 2])[pos]
        out[kinds == 0] = 2 - t[kinds == 0]
        out[kinds == 1] = np.exp(5 * (2.3 - t[kinds == 1]))
        out[kinds == 2] = 3 - t[kinds == 2]  # = 1 exactly at b = 2
        return out

    a = np.array([0.0, 0.0, 0.5])
    b = np.array([1.7, 4.0, 2.0])
    roots = refine_crossing(f, a, b)
    np.testing.assert_allclose(roots, [1.0, 2.3, 2.0], rtol=0, atol=1e-12)
    assert roots[2] == 2.0


def test_refine_crossing_strongly_convex_bracket():
    f = lambda t, pos: np.exp(40 * (2.3 - np.asarray(t, float)))  # noqa: E731
    root = refine_crossing(f, np.array([0.0]), np.array([4.0]))
    assert root[0] == pytest.approx(2.3, abs=1e-12)
