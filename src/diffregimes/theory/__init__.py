"""Coupled Ornstein-Uhlenbeck theory (NumPy/SciPy, float64): moments, speciation, collapse.

Pure math: this package never imports torch, matplotlib, or touches files.

>>> from diffregimes.theory import CoupledOU, speciation_time
>>> model = CoupledOU.symmetric(beta=1.0, g=0.45, sigma_w2=2.0, sigma2=1.0, m_plus2=2.0, m_minus2=0.0)
>>> round(speciation_time(model), 4)
0.7526
"""

from .cloning import (
    cloning_agreement,
    mode_posterior_snr,
    posterior_snr,
    posterior_speciation_time,
)
from .collapse import (
    cgf,
    cgf_derivative,
    chi,
    collapse_time,
    collapse_upper_bound,
    conditional_collapse_time,
    log_det_ratio,
    mode_collapse_time,
    rate_function,
    symmetric_collapse_time,
    symmetric_mode_collapse_times,
)
from .model import CoupledOU, Moments
from .moments import (
    anisotropic_c,
    anisotropic_q,
    drifted_data_cov,
    kernel_cov,
    stationary_cov,
    symmetric_mode_c,
    transition_cov,
    transition_cov_lyapunov,
    transition_matrix,
)
from .phase import AnisotropicKappa, PhaseGrid, anisotropic_kernel, anisotropic_phase_grid
from .relaxation import anisotropic, check_stable, symmetric, symmetric_eigenvalues
from .schedules import CouplingSchedule, propagate
from .speciation import (
    Stability,
    anisotropic_kappa0,
    g_crit,
    kappa,
    kappa0,
    single_mode_speciation_time,
    speciation_time,
    stability,
    symmetric_kappa,
    symmetric_mode_kappa,
)

__all__ = [
    "AnisotropicKappa",
    "CoupledOU",
    "CouplingSchedule",
    "Moments",
    "PhaseGrid",
    "Stability",
    "anisotropic",
    "anisotropic_c",
    "anisotropic_kappa0",
    "anisotropic_kernel",
    "anisotropic_phase_grid",
    "anisotropic_q",
    "cgf",
    "cgf_derivative",
    "check_stable",
    "chi",
    "cloning_agreement",
    "collapse_time",
    "collapse_upper_bound",
    "conditional_collapse_time",
    "drifted_data_cov",
    "g_crit",
    "kappa",
    "kappa0",
    "kernel_cov",
    "log_det_ratio",
    "mode_collapse_time",
    "mode_posterior_snr",
    "posterior_snr",
    "posterior_speciation_time",
    "propagate",
    "rate_function",
    "single_mode_speciation_time",
    "speciation_time",
    "stability",
    "stationary_cov",
    "symmetric",
    "symmetric_collapse_time",
    "symmetric_eigenvalues",
    "symmetric_kappa",
    "symmetric_mode_c",
    "symmetric_mode_collapse_times",
    "symmetric_mode_kappa",
    "transition_cov",
    "transition_cov_lyapunov",
    "transition_matrix",
]
