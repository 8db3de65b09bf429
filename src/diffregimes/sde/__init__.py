"""Exact-score samplers for the coupled OU process (torch, CPU or CUDA).

Points have shape (..., k, d): k modalities (axis -2) by d dimensions; k x k blocks act on axis -2.

>>> import torch
>>> from diffregimes.theory import CoupledOU
>>> from diffregimes.sde import MixtureSpec, MomentTable, PopulationScore, euler_maruyama, reverse_times
>>> spec = MixtureSpec.from_model(CoupledOU.symmetric(g=0.3, m_plus2=2.0, m_minus2=0.5), d=8)
>>> table = MomentTable.build(spec.model, reverse_times(T=2.0, n_steps=200))
>>> gen = torch.Generator().manual_seed(0)
>>> z_T, _ = spec.sample(512, gen, t=2.0)          # exact draws of P_T (19)
>>> z_0 = euler_maruyama(PopulationScore.build(spec, table), z_T, table, gen)
>>> tuple(z_0.shape)
(512, 2, 8)
"""

from .integrators import euler_maruyama, heun_ode, reverse_drift
from .mixture import MixtureSpec, MomentTable, apply_block, class_means, reverse_times
from .scores import (
    EmpiricalScore,
    PopulationScore,
    ScoreFn,
    conditional_log_density,
    conditional_moments,
    conditional_score,
    empirical_score,
    mixture_score,
    population_score,
)

__all__ = [
    "EmpiricalScore",
    "MixtureSpec",
    "MomentTable",
    "PopulationScore",
    "ScoreFn",
    "apply_block",
    "class_means",
    "conditional_log_density",
    "conditional_moments",
    "conditional_score",
    "empirical_score",
    "euler_maruyama",
    "heun_ode",
    "mixture_score",
    "population_score",
    "reverse_drift",
    "reverse_times",
]
