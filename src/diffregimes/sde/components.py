"""Equal-weight Gaussian mixtures with any number of components sharing the covariance Sigma(0).

The two-class law (13) is the case of components +-mu(0). The *product mixture* of the symmetric case
puts independent class labels on the common and on the difference mode,
z_0 = s_+ mu_+ + s_- mu_- + noise with s_pm = +-1, four components, which is what lets each
eigenmode speciate on its own (Sec. 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import require
from ..theory import CoupledOU
from .mixture import MomentTable, apply_block

Tensor = torch.Tensor


def product_mixture_means(
    m_plus2: float,
    m_minus2: float,
    d: int,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """Component means (4, 2, d) and their labels (4, 2) in {+1, -1} for the two-modality product mixture.

    mu_+ = v_+ (x) a_+ and mu_- = v_- (x) a_- (50, 53) with orthogonal a_pm in R^d, |a_pm|^2 = d m_pm^2
    (a_+ on the first basis vector, a_- on the second), so the per-dimension norms are m_pm^2.
    """
    require(int(d) >= 2, f"the product mixture needs d >= 2: d={d}")
    require(m_plus2 >= 0 and m_minus2 >= 0, f"mode norms must be >= 0: m_plus2={m_plus2}, m_minus2={m_minus2}")
    mu_plus = torch.zeros((2, d), dtype=dtype, device=device)
    mu_minus = torch.zeros((2, d), dtype=dtype, device=device)
    a_plus, a_minus = np.sqrt(d * m_plus2), np.sqrt(d * m_minus2)
    mu_plus[:, 0] = a_plus / np.sqrt(2.0)
    mu_minus[0, 1], mu_minus[1, 1] = a_minus / np.sqrt(2.0), -a_minus / np.sqrt(2.0)
    labels = torch.tensor([[1, 1], [1, -1], [-1, 1], [-1, -1]], device=device)
    means = labels[:, 0, None, None].to(dtype) * mu_plus + labels[:, 1, None, None].to(dtype) * mu_minus
    return means, labels


def sample_components(
    model: CoupledOU, means: Tensor, n: int, t: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """n exact draws of the mixture at forward time t: component c uniform, z = Phi(t) m_c + chol(C(t)) eps.

    Returns (z of shape (n, k, d), component index of shape (n,)).
    """
    require(int(n) >= 1, f"n must be >= 1: n={n}")
    m = model.moments(np.asarray(float(t)))
    Phi = torch.as_tensor(m.transition, dtype=means.dtype, device=means.device)
    L = torch.as_tensor(np.linalg.cholesky(m.C), dtype=means.dtype, device=means.device)
    c = torch.randint(0, means.shape[0], (int(n),), generator=generator, device=means.device)
    eps = torch.randn((int(n),) + tuple(means.shape[1:]), generator=generator, dtype=means.dtype, device=means.device)
    return apply_block(Phi, means[c]) + apply_block(L, eps), c


@dataclass(frozen=True, eq=False)
class ComponentMixtureScore:
    """Exact score of an equal-weight mixture of N(Phi(t) m_c, C(t)) on a moment grid.

    grad log P_t(z) = -C^{-1} z + sum_c w_c(z) C^{-1} Phi m_c, with w = softmax_c(<C^{-1} Phi m_c, z>
    - 1/2 <Phi m_c, C^{-1} Phi m_c>); for the components +-mu it reduces to (21).
    """

    C_inv: Tensor  # (N + 1, k, k)
    a: Tensor  # (N + 1, K, k, d): C^{-1} Phi m_c
    b: Tensor  # (N + 1, K): 1/2 <Phi m_c, C^{-1} Phi m_c>

    @classmethod
    def build(cls, means: Tensor, table: MomentTable) -> "ComponentMixtureScore":
        """The score of the mixture of components ``means`` (K, k, d) on the time grid of ``table``."""
        require(
            means.ndim == 3 and means.shape[1] == table.k,
            f"means must have shape (K, k={table.k}, d): shape={tuple(means.shape)}",
        )
        means = means.to(table.Phi)
        drifted = torch.einsum("nij,cjd->ncid", table.Phi, means)
        a = torch.einsum("nij,ncjd->ncid", table.C_inv, drifted)
        return cls(table.C_inv, a, 0.5 * (a * drifted).sum(dim=(-2, -1)))

    def __call__(self, i: int, z: Tensor) -> Tensor:
        a = self.a[i]  # (K, k, d)
        logits = torch.einsum("cid,...id->...c", a, z) - self.b[i]
        w = torch.softmax(logits, dim=-1)
        return -apply_block(self.C_inv[i], z) + torch.einsum("...c,cid->...id", w, a)
