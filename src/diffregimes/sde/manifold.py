"""Samplers of the manifold data model (torch): x = F(W z / sqrt(p)) or x = U z, z = s mu + xi.

The latent z in R^p has class s = +-1 (equiprobable), mean s mu with mu = m (1, ..., 1) and unit covariance;
the embedding is either a random-feature map (W in R^{d x p} with i.i.d. N(0, 1) entries, F elementwise) or
an orthonormal one (U in R^{d x p}, U^T U = I_p). Points come out in the sde layer's layout (n, 1, d): one
modality. The theory of this model is :mod:`diffregimes.theory.manifold`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import require as _require
from ..theory.manifold import check_model, latent_dimension

Tensor = torch.Tensor
_ACTIVATIONS = {"linear": lambda u: u, "tanh": torch.tanh, "sign": torch.sign}


@dataclass(frozen=True, eq=False)
class ManifoldData:
    """The data law of one manifold model with a fixed embedding matrix (d x p)."""

    embedding_matrix: Tensor
    embedding: str
    activation: str
    m2: float

    @classmethod
    def build(
        cls,
        d: int,
        psi: float,
        m2: float,
        embedding: str,
        activation: str,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> ManifoldData:
        """Draw the embedding: W with N(0, 1) entries, or U = the Q factor of such a W (orthonormal columns)."""
        check_model(psi, m2, embedding, activation)
        p = latent_dimension(d, psi)
        W = torch.randn((int(d), p), generator=generator, dtype=dtype, device=device)
        if embedding == "orthonormal":
            W, _ = torch.linalg.qr(W)
        return cls(W, embedding, activation, float(m2))

    @property
    def d(self) -> int:
        return int(self.embedding_matrix.shape[0])

    @property
    def p(self) -> int:
        return int(self.embedding_matrix.shape[1])

    def embed(self, z: Tensor) -> Tensor:
        """x = F(W z / sqrt(p)) (random) or U z (orthonormal) for latents z of shape (n, p)."""
        if self.embedding == "orthonormal":
            return z @ self.embedding_matrix.T
        return _ACTIVATIONS[self.activation](z @ self.embedding_matrix.T / math.sqrt(self.p))

    def sample(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n draws: (x of shape (n, 1, d), class s of shape (n,) in {+1, -1})."""
        _require(int(n) >= 1, f"n must be >= 1: n={n}")
        W = self.embedding_matrix
        s = 2.0 * torch.randint(0, 2, (int(n),), generator=generator, device=W.device).to(W.dtype) - 1.0
        z = s[:, None] * math.sqrt(self.m2) + torch.randn(
            (int(n), self.p), generator=generator, dtype=W.dtype, device=W.device
        )
        return self.embed(z)[:, None, :], s

    def noised(self, x: Tensor, t: float, generator: torch.Generator) -> Tensor:
        """x_t = e^{-t} x + sqrt(1 - e^{-2t}) xi: the forward process (beta = 1, sigma_W^2 = 2) at time t."""
        _require(float(t) >= 0, f"t must be >= 0: t={t}")
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return math.exp(-float(t)) * x + math.sqrt(-math.expm1(-2 * float(t))) * noise

    def weights_numpy(self) -> np.ndarray:
        """The embedding matrix as float64 NumPy (for :class:`diffregimes.theory.manifold.GEMixture`)."""
        return self.embedding_matrix.detach().cpu().double().numpy()
