"""Moments of the coupled OU forward process (1) for any relaxation matrix M.

All functions work on the k x k modality blocks (the full matrices are ``X (x) I_d``) and
broadcast over leading axes: ``M`` may be ``(..., k, k)`` and ``t`` any array broadcastable
against ``M.shape[:-2]``; outputs have shape ``broadcast(...) + (k, k)``.

Notation of the paper: e^{Mt} drives the mean (7); Q(t) is the transition covariance (8-9);
S(t) = e^{Mt} Sigma(0) e^{M^T t} the drifted data covariance (17); C(t) = S(t) + Q(t) the
diffusion kernel of the population mixture (19).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_continuous_lyapunov

# Pade(13) coefficients and scaling threshold of Higham (2005), "The scaling and squaring method
# for the matrix exponential revisited" -- the algorithm scipy.linalg.expm also uses.
_PADE13 = (
    64764752532480000.0,
    32382376266240000.0,
    7771770303897600.0,
    1187353796428800.0,
    129060195264000.0,
    10559470521600.0,
    670442572800.0,
    33522128640.0,
    1323241920.0,
    40840800.0,
    960960.0,
    16380.0,
    182.0,
    1.0,
)
_THETA13 = 5.371920351148152


def expm(A: np.ndarray) -> np.ndarray:
    """Matrix exponential of a batch (..., n, n), vectorised over the batch.

    Scaling and squaring with the [13/13] Pade approximant, with a per-matrix number of squarings.
    scipy.linalg.expm loops over a batch in Python, which dominates the cost of kappa on long
    time grids; this version is checked against it in the tests.
    """
    A = np.asarray(A, dtype=float)
    batch, n = A.shape[:-2], A.shape[-1]
    A = A.reshape((-1, n, n))
    norm1 = np.abs(A).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        s = np.where(norm1 > _THETA13, np.ceil(np.log2(norm1 / _THETA13)), 0).astype(int)
    A = A / (2.0**s)[:, None, None]
    b = _PADE13
    eye = np.eye(n)
    A2 = A @ A
    A4 = A2 @ A2
    A6 = A4 @ A2
    U = A @ (A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2) + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    R = np.linalg.solve(V - U, V + U)
    for i in range(int(s.max(initial=0))):
        square = s > i
        R[square] = R[square] @ R[square]
    return R.reshape(batch + (n, n))


def _as_batch(M: np.ndarray, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    M = np.asarray(M, dtype=float)
    t = np.asarray(t, dtype=float)
    shape = np.broadcast_shapes(M.shape[:-2], t.shape)
    k = M.shape[-1]
    return np.broadcast_to(M, shape + (k, k)), np.broadcast_to(t, shape)


def transition_matrix(M: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """e^{M t} (7): the mean of the forward process is mu(t) = e^{Mt} mu(0)."""
    M, t = _as_batch(M, t)
    return expm(M * t[..., None, None])


def _van_loan(M: np.ndarray, sigma_w2: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(e^{Mt}, Q(t)) from one block exponential; accurate while |t| ||M|| is O(1)."""
    k = M.shape[-1]
    H = np.zeros(M.shape[:-2] + (2 * k, 2 * k))
    H[..., :k, :k] = M
    H[..., :k, k:] = sigma_w2 * np.eye(k)
    H[..., k:, k:] = -np.swapaxes(M, -1, -2)
    E = expm(H * t[..., None, None])
    return E[..., :k, :k], E[..., :k, k:] @ np.swapaxes(E[..., :k, :k], -1, -2)


def transition_cov(M: np.ndarray, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """Q(t) = int_0^t e^{M s} sigma_W^2 e^{M^T s} ds (8-9): Van Loan's block exponential plus doubling.

    exp([[M, D], [0, -M^T]] h) = [[e^{Mh}, F], [0, e^{-M^T h}]] with F e^{M^T h} = Q(h), exact for any M
    (defective ones such as the anisotropic case (3) included). At large t the growing block
    e^{-M^T t} costs about eps * e^{t (max - min Re eig)} of accuracy, so Q is computed at
    h = t / 2^s with h ||M|| <= 1/2 and doubled s times with the semigroup identity
    Q(2h) = Q(h) + e^{Mh} Q(h) e^{M^T h}, which only adds positive semi-definite terms.
    """
    M, t = _as_batch(M, t)
    shape, k = t.shape, M.shape[-1]
    M, t = M.reshape(-1, k, k), t.reshape(-1)
    norm = np.abs(M).sum(axis=-2).max(axis=-1)
    with np.errstate(divide="ignore"):
        s = np.where(np.abs(t) * norm > 0.5, np.ceil(np.log2(np.abs(t) * norm / 0.5)), 0).astype(int)
    # Q is linear in sigma_W^2: computed for unit noise and scaled at the end, so that a huge or tiny
    # sigma_W^2 never enters the block exponential (1e300 would overflow its squarings)
    E, Q = _van_loan(M, 1.0, t / 2.0**s)
    for i in range(int(s.max(initial=0))):
        grow = s > i
        Eg = E[grow]
        Q[grow] = Q[grow] + Eg @ Q[grow] @ np.swapaxes(Eg, -1, -2)
        E[grow] = Eg @ Eg
    Q = sigma_w2 * (0.5 * (Q + np.swapaxes(Q, -1, -2)))
    return Q.reshape(shape + (k, k))


def stationary_cov(M: np.ndarray, sigma_w2: float) -> np.ndarray:
    """Q(inf), the solution of the Lyapunov equation M Q + Q M^T + sigma_W^2 I = 0 (M Hurwitz)."""
    M = np.asarray(M, dtype=float)
    return solve_continuous_lyapunov(M, -sigma_w2 * np.eye(M.shape[-1]))


def transition_cov_lyapunov(M: np.ndarray, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """Q(t) = Q(inf) - e^{Mt} Q(inf) e^{M^T t}: a second, independent route to (8-9)."""
    Q_inf = stationary_cov(M, sigma_w2)
    E = transition_matrix(M, t)
    return Q_inf - E @ Q_inf @ np.swapaxes(E, -1, -2)


def drifted_data_cov(M: np.ndarray, sigma0: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """S(t) = e^{Mt} Sigma(0) e^{M^T t} (17)."""
    E = transition_matrix(M, t)
    return E @ np.asarray(sigma0, dtype=float) @ np.swapaxes(E, -1, -2)


def kernel_cov(M: np.ndarray, sigma_w2: float, sigma0: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """C(t) = S(t) + Q(t), the covariance of each population component (19)."""
    return drifted_data_cov(M, sigma0, t) + transition_cov(M, sigma_w2, t)


# ----------------------------------------------------------------------------- closed forms
def symmetric_mode_q(lam: np.ndarray | float, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """Per-mode transition variance q_pm(t) = sigma_W^2 (e^{2 lambda t} - 1) / (2 lambda) (112)."""
    lam = np.asarray(lam, dtype=float)
    t = np.asarray(t, dtype=float)
    # expm1 keeps the small-|lambda t| limit (q -> sigma_W^2 t) accurate.
    return sigma_w2 * np.expm1(2 * lam * t) / (2 * lam)


def symmetric_mode_c(lam: np.ndarray | float, sigma2: float, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """Per-mode kernel variance c_pm(t) = sigma^2 e^{2 lambda t} + sigma_W^2 (e^{2 lambda t}-1)/(2 lambda) (55)."""
    lam = np.asarray(lam, dtype=float)
    return sigma2 * np.exp(2 * lam * np.asarray(t, dtype=float)) + symmetric_mode_q(lam, sigma_w2, t)


def symmetric_modes_to_block(c_plus: np.ndarray, c_minus: np.ndarray) -> np.ndarray:
    """Assemble c_+ P_+ + c_- P_- (56) as a (..., 2, 2) block in the (x, y) basis."""
    c_plus, c_minus = np.broadcast_arrays(np.asarray(c_plus, float), np.asarray(c_minus, float))
    half_sum, half_diff = 0.5 * (c_plus + c_minus), 0.5 * (c_plus - c_minus)
    return np.stack([np.stack([half_sum, half_diff], -1), np.stack([half_diff, half_sum], -1)], -2)


def anisotropic_q_entries(
    beta: float, g: np.ndarray | float, sigma_w2: float, t: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q11, q12, q22) of the anisotropic case, (121-126)."""
    g = np.asarray(g, dtype=float)
    t = np.asarray(t, dtype=float)
    bt = beta * t
    decay = np.exp(-2 * bt)
    u = -np.expm1(-2 * bt)  # (121)
    k = 1 - decay * (1 + 2 * bt)  # (122)
    h = 1 - decay * (1 + 2 * bt + 2 * bt**2)  # (123)
    q11 = sigma_w2 * u / (2 * beta)  # (124)
    q12 = sigma_w2 * g * k / (4 * beta**2)  # (125)
    q22 = sigma_w2 * (u / (2 * beta) + g**2 * h / (4 * beta**3))  # (126)
    return q11, q12, q22


def anisotropic_c_entries(
    beta: float, g: np.ndarray | float, sigma_w2: float, sigma_x2: float, sigma_y2: float, t: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C11, C12, C22) of the anisotropic case, (127-129)."""
    g = np.asarray(g, dtype=float)
    t = np.asarray(t, dtype=float)
    decay = np.exp(-2 * beta * t)
    q11, q12, q22 = anisotropic_q_entries(beta, g, sigma_w2, t)
    c11 = decay * sigma_x2 + q11  # (127)
    c12 = decay * g * t * sigma_x2 + q12  # (128)
    c22 = decay * sigma_y2 + decay * g**2 * t**2 * sigma_x2 + q22  # (129)
    return c11, c12, c22


def _symmetric_block(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    a, b, c = np.broadcast_arrays(a, b, c)
    return np.stack([np.stack([a, b], -1), np.stack([b, c], -1)], -2)


def anisotropic_q(beta: float, g: np.ndarray | float, sigma_w2: float, t: np.ndarray | float) -> np.ndarray:
    """Closed-form Q(t) of the anisotropic case (121-126) as a (..., 2, 2) block."""
    return _symmetric_block(*anisotropic_q_entries(beta, g, sigma_w2, t))


def anisotropic_c(
    beta: float, g: np.ndarray | float, sigma_w2: float, sigma_x2: float, sigma_y2: float, t: np.ndarray | float
) -> np.ndarray:
    """Closed-form C(t) of the anisotropic case (127-129) as a (..., 2, 2) block."""
    return _symmetric_block(*anisotropic_c_entries(beta, g, sigma_w2, sigma_x2, sigma_y2, t))


def anisotropic_transition_matrix(beta: float, g: np.ndarray | float, t: np.ndarray | float) -> np.ndarray:
    """e^{Mt} = e^{-beta t} [[1, 0], [g t, 1]] from the nilpotent split (4)."""
    g, t = np.broadcast_arrays(np.asarray(g, float), np.asarray(t, float))
    decay = np.exp(-beta * t)
    zero = np.zeros_like(decay)
    return np.stack([np.stack([decay, zero], -1), np.stack([g * t * decay, decay], -1)], -2)
