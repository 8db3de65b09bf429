"""The epsilon-prediction U-Net of §5: diffusers' ``UNet2DModel`` on z in R^{2 x 28 x 28}.

Sinusoidal ("positional") time embedding of the step index k, as the paper states. With three
levels (32, 64, 64) and one ResNet layer per level, 28 -> 14 -> 7 divides exactly, so no padding
to 32 is needed; this is the ~1.06 M-parameter network of benchmarks/unet.py (no attention:
it costs throughput on CPU and the experiment is about mode ordering, not sample quality).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import torch
from torch import nn

from ..errors import ValidationError

Tensor = torch.Tensor


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the eps-network; ``asdict`` of it is what checkpoints store."""

    in_channels: int = 2
    sample_size: int = 28
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    norm_num_groups: int = 8
    attention_levels: tuple[int, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        levels = len(self.block_out_channels)
        if levels < 1 or any(c < 1 for c in self.block_out_channels):
            raise ValidationError(f"block_out_channels must be positive: {self.block_out_channels}")
        if self.sample_size % (2 ** (levels - 1)) != 0:
            raise ValidationError(
                f"sample_size must be divisible by 2^(levels-1)={2 ** (levels - 1)}: sample_size={self.sample_size}"
            )
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValidationError(
                f"norm_num_groups must divide every channel count: "
                f"norm_num_groups={self.norm_num_groups}, channels={self.block_out_channels}"
            )
        if any(not 0 <= i < levels for i in self.attention_levels):
            raise ValidationError(f"attention_levels must be in [0, {levels - 1}]: {self.attention_levels}")
        if self.layers_per_block < 1 or self.in_channels < 1:
            raise ValidationError(
                f"layers_per_block and in_channels must be >= 1: {self.layers_per_block}, {self.in_channels}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UNetConfig":
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class EpsUNet(nn.Module):
    """forward(z, k) -> eps_hat, both [B, 2, 28, 28]; k is an int or a [B] integer tensor."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        try:
            from diffusers import UNet2DModel
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("the MNIST U-Net needs diffusers (pip install 'diffregimes[mnist]')") from exc
        self.config = config
        att = set(config.attention_levels)
        levels = range(len(config.block_out_channels))
        self.unet = UNet2DModel(
            sample_size=config.sample_size,
            in_channels=config.in_channels,
            out_channels=config.in_channels,
            block_out_channels=tuple(config.block_out_channels),
            layers_per_block=config.layers_per_block,
            norm_num_groups=config.norm_num_groups,
            time_embedding_type="positional",
            down_block_types=tuple("AttnDownBlock2D" if i in att else "DownBlock2D" for i in levels),
            up_block_types=tuple("AttnUpBlock2D" if i in att else "UpBlock2D" for i in reversed(levels)),
        )

    def forward(self, z: Tensor, k: int | Tensor) -> Tensor:
        """eps_hat(z_k, k) for states ``z`` [B, 2, 28, 28] at DDPM step(s) ``k`` (an int or one per sample)."""
        kk = torch.as_tensor(k, device=z.device)
        if kk.dim() == 0:
            kk = kk.expand(z.shape[0])
        return self.unet(z, kk).sample


def make_unet(config: UNetConfig | None = None, seed: int | None = None) -> EpsUNet:
    """Build the eps-prediction U-Net for ``config`` (default :class:`UNetConfig`).

    diffusers initialises weights from torch's global RNG; with ``seed`` the build runs inside
    ``torch.random.fork_rng`` seeded with it, so the weights are reproducible and the caller's
    global RNG state is left exactly as it was.
    """
    cfg = UNetConfig() if config is None else config
    if seed is None:
        return EpsUNet(cfg)
    with seeded_init(seed):
        return EpsUNet(cfg)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Seed torch's global RNG for a module's construction only, restoring it afterwards."""
    if int(seed) < 0:
        raise ValidationError(f"seed must be >= 0: seed={seed}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield
