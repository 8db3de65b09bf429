"""Discrete variance-preserving (VP) schedule with linear beta, (94) of the paper.

Step indices k run over {0, ..., T-1} and alpha_bar_k = prod_{s=0}^{k} alpha_s, as in (94)
(the same indexing as diffusers' ``alphas_cumprod``). The paper does not state beta_min/beta_max.
We take the DDPM values (1e-4, 0.02) at T = 1000 and scale both by 1000/T: the total injected noise
sum_k beta_k, hence alpha_bar_{T-1} ~ 4e-5 and the OU-time span, is then the same for T = 200 and
T = 500, so the paper's T = 500 robustness runs resolve the same process more finely instead of
ending at a different noise level (unscaled 0.02 at T = 200 would stop at alpha_bar ~ 0.13, far
from the mode-shaped noise that the reverse runs start from).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ValidationError

Tensor = torch.Tensor

DDPM_REFERENCE_T = 1000
DDPM_BETA_MIN = 1e-4
DDPM_BETA_MAX = 0.02
PAPER_T = 200  # the paper's T for Table 1 and Figs 6, 10-11 (Figs 7-9 use 500)


def ou_time(alpha_bar: Tensor | float) -> Tensor:
    """OU time of a discrete step: t = -1/2 log alpha_bar.

    With beta = 1 and sigma_W^2 = 2 the OU kernel has mean factor e^{-t} and variance 1 - e^{-2t};
    matching it with (94) gives alpha_bar = e^{-2t}. This is the only place the mapping lives.
    """
    a = torch.as_tensor(alpha_bar, dtype=torch.float64)
    if torch.any((a <= 0) | (a > 1)):
        raise ValidationError(f"alpha_bar must be in (0, 1]: min={a.min().item()}, max={a.max().item()}")
    return -0.5 * torch.log(a)


@dataclass(frozen=True, eq=False)
class VPSchedule:
    """Linear-beta VP schedule (94): betas, alphas = 1 - betas, alpha_bars = cumprod(alphas).

    Tensors are float64 on CPU; the samplers cast the coefficients they need to the state's
    dtype/device, so one schedule serves CPU and CUDA runs.
    """

    T: int
    beta_min: float
    beta_max: float
    betas: Tensor
    alphas: Tensor
    alpha_bars: Tensor

    @property
    def ou_times(self) -> Tensor:
        """OU time t_k = -1/2 log alpha_bar_k of every step (float64, [T])."""
        return ou_time(self.alpha_bars)

    def alpha_bar_prev(self, k_prev: int | Tensor) -> Tensor:
        """alpha_bar at k_prev, with alpha_bar_{-1} = 1 (the clean data, as in DDIM/DDPM)."""
        padded = torch.cat([torch.ones(1, dtype=self.alpha_bars.dtype), self.alpha_bars])
        return padded[torch.as_tensor(k_prev) + 1]


def linear_vp_schedule(T: int = PAPER_T, beta_min: float | None = None, beta_max: float | None = None) -> VPSchedule:
    """Linear-beta VP schedule (94) with T steps.

    beta_min/beta_max default to 1e-4 * 1000/T and 0.02 * 1000/T (see the module docstring for why).
    """
    if not isinstance(T, int) or T < 2:
        raise ValidationError(f"T must be an integer >= 2: T={T!r}")
    scale = DDPM_REFERENCE_T / T
    b0 = DDPM_BETA_MIN * scale if beta_min is None else float(beta_min)
    b1 = DDPM_BETA_MAX * scale if beta_max is None else float(beta_max)
    if not 0.0 < b0 <= b1 < 1.0:
        raise ValidationError(f"betas must satisfy 0 < beta_min <= beta_max < 1: beta_min={b0}, beta_max={b1}")
    betas = torch.linspace(b0, b1, T, dtype=torch.float64)
    alphas = 1.0 - betas
    return VPSchedule(
        T=T, beta_min=b0, beta_max=b1, betas=betas, alphas=alphas, alpha_bars=torch.cumprod(alphas, dim=0)
    )
