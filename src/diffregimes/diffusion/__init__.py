"""Discrete diffusion for the MNIST experiment (paper §5): the linear-beta VP schedule (94), the
OU-time map, common/difference modes (91), mode-shaped noise (92)-(93), the training step (96),
and DDIM / whitened-DDPM (102) reverse steps as pure functions with the noise passed in.
"""

from .modes import (
    check_g,
    from_modes,
    mode_std,
    noise_covariance,
    perturb_difference_mode,
    predict_x0,
    q_sample,
    sample_mode_noise,
    shape_noise,
    to_modes,
    unwhiten,
    whiten,
)
from .samplers import (
    ddim_sample,
    ddim_step,
    ddpm_sample,
    ddpm_step,
    ddpm_step_whitened,
    reverse_pairs,
)
from .schedule import PAPER_T, VPSchedule, linear_vp_schedule, ou_time
from .training import (
    bf16_autocast_recommended,
    eps_loss,
    make_optimizer,
    sample_timesteps,
    set_lr,
    train_step,
    warmup_lr,
)

__all__ = [
    "PAPER_T",
    "VPSchedule",
    "bf16_autocast_recommended",
    "check_g",
    "ddim_sample",
    "ddim_step",
    "ddpm_sample",
    "ddpm_step",
    "ddpm_step_whitened",
    "eps_loss",
    "from_modes",
    "linear_vp_schedule",
    "make_optimizer",
    "mode_std",
    "noise_covariance",
    "ou_time",
    "perturb_difference_mode",
    "predict_x0",
    "q_sample",
    "reverse_pairs",
    "sample_mode_noise",
    "sample_timesteps",
    "set_lr",
    "shape_noise",
    "to_modes",
    "train_step",
    "unwhiten",
    "warmup_lr",
    "whiten",
]
