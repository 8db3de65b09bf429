"""Independent reference computations shared by the tests."""

from __future__ import annotations

import numpy as np
import scipy.linalg

_GL_X, _GL_W = np.polynomial.legendre.leggauss(20)


def gauss_Q(M: np.ndarray, sigma_w2: float, t: float, panel: float = 1.0) -> np.ndarray:
    """(9) by composite 20-point Gauss-Legendre on panels of width <= 1, with scipy's expm.

    The integrand f(s) = e^{Ms} e^{M^T s} is entire with f^(40) = sum_j C(40, j) M^j f (M^T)^(40-j), so
    |f^(40)| <= (2 ||M||)^40 max_s ||e^{Ms}||^2, and the 20-point rule's error on a panel of width h <= 1 is
    h^41 (20!)^4 / (41 (40!)^3) |f^(40)| <= 1.5e-72 * 10^40 * max||e^{Ms}||^2 ~ 1e-32 max||e^{Ms}||^2 for
    ||M||_2 < 5 (asserted here): exact to round-off and far cheaper than adaptive quadrature.
    """
    assert np.linalg.norm(M, 2) < 5
    edges = np.linspace(0.0, t, max(1, int(np.ceil(t / panel))) + 1)
    total = np.zeros(M.shape)
    for lo, hi in zip(edges[:-1], edges[1:]):
        for x, w in zip(_GL_X, _GL_W):
            E = scipy.linalg.expm(M * (lo + (hi - lo) * (x + 1) / 2))
            total += w * (hi - lo) / 2 * E @ E.T
    return sigma_w2 * total
