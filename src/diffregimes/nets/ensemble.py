"""K eps-U-Nets of §5 as one network: every layer of K independent paper U-Nets in one kernel call.

The member network is exactly :class:`~diffregimes.nets.unet.EpsUNet` (diffusers ``UNet2DModel``,
sinusoidal time embedding, ResNet blocks, the mid-block self-attention): the same functions, in the
same order, on the same parameters. Member ``j``'s parameters are slice ``j`` of stacked tensors
``[K, *shape]`` (the layout of ``torch.func.stack_module_state``), and its activations are channel
block ``j`` of ``[B, K*C, H, W]``:

- a convolution is one grouped convolution (``groups=K``, weights ``[K*C_out, C_in, kh, kw]``);
- a GroupNorm with G groups is one GroupNorm with ``K*G`` groups (its groups never straddle members);
- SiLU, additions, nearest upsampling act per element or per channel, so on all members at once;
- the skip concatenations of the up path interleave per member (``[a_j, skip_j]`` for each j);
- the small matrix products (time embedding, its per-block projections, the 7x7 attention) run per
  member with the very call the single network makes (``F.linear`` / ``scaled_dot_product_attention``).

``torch.func.vmap`` over a stacked ``UNet2DModel`` is not used: it fails inside diffusers on an
``is_contiguous(memory_format=...)`` query (issue 19), and its convolution batching rule is this same
grouped convolution anyway. Channels-last runs end to end here (diffusers' ``.contiguous()`` calls in
its upsampler and shortcut, which undo channels-last at batch >= 64, are not repeated).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ValidationError
from .unet import EpsUNet, UNetConfig

Tensor = torch.Tensor
Getter = Callable[[str], Tensor]


@dataclass(frozen=True)
class _Resnet:
    """One diffusers ``ResnetBlock2D`` (pre-norm, additive time embedding, output scale 1)."""

    name: str
    shortcut: bool


@dataclass(frozen=True)
class _Level:
    """One down or up block: its ResNet blocks, then an optional down/upsampling convolution."""

    resnets: tuple[_Resnet, ...]
    resample: str | None


@dataclass(frozen=True)
class _Plan:
    """The layer structure of a ``UNet2DModel``, read off a built one so both can never disagree."""

    down: tuple[_Level, ...]
    mid: tuple[_Resnet, _Resnet]
    up: tuple[_Level, ...]
    groups: int
    eps: float
    heads: int


def _plan(unet: nn.Module, config: UNetConfig) -> _Plan:
    def res(prefix: str, block: nn.Module) -> _Resnet:
        return _Resnet(prefix, block.conv_shortcut is not None)

    def level(kind: str, i: int, block: nn.Module) -> _Level:
        resnets = tuple(res(f"{kind}_blocks.{i}.resnets.{r}", b) for r, b in enumerate(block.resnets))
        samplers = getattr(block, "downsamplers" if kind == "down" else "upsamplers")
        resample = None if samplers is None else f"{kind}_blocks.{i}.{kind}samplers.0.conv"
        return _Level(resnets, resample)

    mid = unet.mid_block
    if config.attention_levels or len(mid.attentions) != 1 or len(mid.resnets) != 2:
        raise ValidationError("EnsembleUNet supports the paper U-Net: no attention levels, one mid-block attention")
    return _Plan(
        down=tuple(level("down", i, b) for i, b in enumerate(unet.down_blocks)),
        mid=(res("mid_block.resnets.0", mid.resnets[0]), res("mid_block.resnets.1", mid.resnets[1])),
        up=tuple(level("up", i, b) for i, b in enumerate(unet.up_blocks)),
        groups=config.norm_num_groups,
        eps=float(unet.conv_norm_out.eps),
        heads=int(mid.attentions[0].heads),
    )


def _key(name: str) -> str:
    """ParameterDict keys may not contain dots."""
    return name.replace(".", "__")


class EnsembleUNet(nn.Module):
    """``members`` independent :class:`EpsUNet` s evaluated as one network.

    forward(z, k) -> eps_hat with z ``[K, B, C, H, W]`` (member j's batch is ``z[j]``) and k ``[K, B]``
    integer steps; eps_hat has z's shape, and ``eps_hat[j]`` is what member j alone returns on
    ``(z[j], k[j])`` (up to the summation order inside the kernels: see ``tests/test_ensemble.py``).
    """

    def __init__(self, config: UNetConfig, members: int, channels_last: bool = True) -> None:
        super().__init__()
        if members < 1:
            raise ValidationError(f"members must be >= 1: members={members}")
        template = EpsUNet(config).unet
        self.config, self.members, self.channels_last = config, int(members), bool(channels_last)
        self.plan = _plan(template, config)
        self.names = tuple(template.state_dict().keys())
        self.stacked = nn.ParameterDict(
            {
                _key(n): nn.Parameter(torch.zeros(members, *t.shape, dtype=t.dtype))
                for n, t in template.state_dict().items()
            }
        )

    @classmethod
    def from_members(cls, models: Sequence[EpsUNet], channels_last: bool = True) -> "EnsembleUNet":
        """The ensemble whose member j has exactly the weights of ``models[j]`` (all of one config)."""
        if not models or any(m.config != models[0].config for m in models):
            raise ValidationError("from_members needs one or more EpsUNets of one UNetConfig")
        ens = cls(models[0].config, len(models), channels_last)
        first = next(models[0].parameters())
        ens.to(device=first.device, dtype=first.dtype)
        for j, m in enumerate(models):
            ens.load_member(j, m.state_dict())
        return ens

    @torch.no_grad()
    def load_member(self, j: int, state: Mapping[str, Tensor]) -> None:
        """Set member j from an :class:`EpsUNet` state dict (keys ``unet.<name>``)."""
        for n in self.names:
            self.stacked[_key(n)][j].copy_(state["unet." + n])

    def member_state_dict(self, j: int, stacked: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Member j as an :class:`EpsUNet` state dict (copies). ``stacked``: another state dict of this
        ensemble to read instead of the live weights, e.g. an :class:`~diffregimes.nets.ema.EMA` shadow."""
        src = self.state_dict() if stacked is None else stacked
        return {"unet." + n: src["stacked." + _key(n)][j].detach().clone() for n in self.names}

    def forward(self, z: Tensor, k: Tensor) -> Tensor:
        """eps_hat for each member's batch: z ``[K, B, C, H, W]``, k ``[K, B]`` -> ``[K, B, C, H, W]``."""
        K = self.members
        if z.dim() != 5 or z.shape[0] != K or k.shape != z.shape[:2]:
            raise ValidationError(f"need z [K={K}, B, C, H, W] and k [K, B]: z={tuple(z.shape)}, k={tuple(k.shape)}")
        x = z.permute(1, 0, 2, 3, 4).flatten(1, 2)
        x = x.contiguous(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)
        out = _unet_forward(self._param, self.plan, K, x, k)
        return out.unflatten(1, (K, -1)).permute(1, 0, 2, 3, 4)

    def _param(self, name: str) -> Tensor:
        return self.stacked[_key(name)]


def _unet_forward(P: Getter, plan: _Plan, K: int, x: Tensor, k: Tensor) -> Tensor:
    """``UNet2DModel.forward`` (diffusers) for K members; x ``[B, K*C, H, W]``, k ``[K, B]``."""
    from diffusers.models.embeddings import get_timestep_embedding

    dim = P("time_embedding.linear_1.weight").shape[-1]
    t_emb = [get_timestep_embedding(k[j], dim, flip_sin_to_cos=True, downscale_freq_shift=0) for j in range(K)]
    t_emb = [t.to(P("conv_in.weight").dtype) for t in t_emb]
    emb = _linear(P, "time_embedding.linear_1", t_emb)
    emb = _linear(P, "time_embedding.linear_2", [F.silu(e) for e in emb])
    h = _conv(P, "conv_in", x, K)
    skips = [h]
    for lvl in plan.down:
        for r in lvl.resnets:
            h = _resnet(P, r, plan, K, h, emb)
            skips.append(h)
        if lvl.resample is not None:
            h = _conv(P, lvl.resample, h, K, stride=2)
            skips.append(h)
    h = _resnet(P, plan.mid[0], plan, K, h, emb)
    h = _attention(P, "mid_block.attentions.0", plan, K, h)
    h = _resnet(P, plan.mid[1], plan, K, h, emb)
    for lvl in plan.up:
        for r in lvl.resnets:
            h = _resnet(P, r, plan, K, _member_cat(h, skips.pop(), K), emb)
        if lvl.resample is not None:
            h = _conv(P, lvl.resample, F.interpolate(h, scale_factor=2.0, mode="nearest"), K)
    h = F.silu(_group_norm(P, "conv_norm_out", h, plan, K))
    return _conv(P, "conv_out", h, K)


def _conv(P: Getter, name: str, x: Tensor, K: int, stride: int = 1) -> Tensor:
    """K convolutions as one grouped convolution (member j: input block j, output block j)."""
    w = P(name + ".weight")
    return F.conv2d(x, w.flatten(0, 1), P(name + ".bias").flatten(), stride, w.shape[-1] // 2, 1, K)


def _group_norm(P: Getter, name: str, x: Tensor, plan: _Plan, K: int) -> Tensor:
    """GroupNorm(G) of each member = GroupNorm(K*G) of the stack: a group never spans two members."""
    return F.group_norm(x, K * plan.groups, P(name + ".weight").flatten(), P(name + ".bias").flatten(), plan.eps)


def _linear(P: Getter, name: str, xs: Sequence[Tensor]) -> list[Tensor]:
    """Member j's ``nn.Linear`` on ``xs[j]``: the same ``F.linear`` call the single network makes."""
    w, b = P(name + ".weight"), P(name + ".bias")
    return [F.linear(x, w[j], b[j]) for j, x in enumerate(xs)]


def _resnet(P: Getter, r: _Resnet, plan: _Plan, K: int, x: Tensor, emb: Sequence[Tensor]) -> Tensor:
    """diffusers ``ResnetBlock2D.forward`` (time_embedding_norm "default", output_scale_factor 1)."""
    h = _conv(P, r.name + ".conv1", F.silu(_group_norm(P, r.name + ".norm1", x, plan, K)), K)
    temb = _linear(P, r.name + ".time_emb_proj", [F.silu(e) for e in emb])
    h = h + torch.cat(temb, dim=1)[:, :, None, None]
    h = _conv(P, r.name + ".conv2", F.silu(_group_norm(P, r.name + ".norm2", h, plan, K)), K)
    if r.shortcut:
        x = _conv(P, r.name + ".conv_shortcut", x, K)
    return x + h  # diffusers divides by output_scale_factor = 1.0: an exact identity, skipped


def _attention(P: Getter, name: str, plan: _Plan, K: int, x: Tensor) -> Tensor:
    """diffusers ``Attention`` with ``AttnProcessor2_0`` (group norm, residual, rescale 1), per member."""
    B, KC, H, W = x.shape
    C = KC // K
    normed = _group_norm(P, name + ".group_norm", x, plan, K)
    seqs = [normed[:, j * C : (j + 1) * C].reshape(B, C, H * W).transpose(1, 2) for j in range(K)]
    q, kk, v = (_linear(P, f"{name}.to_{p}", seqs) for p in "qkv")
    out = []
    for j in range(K):
        heads = [t.view(B, -1, plan.heads, C // plan.heads).transpose(1, 2) for t in (q[j], kk[j], v[j])]
        a = F.scaled_dot_product_attention(*heads, dropout_p=0.0, is_causal=False)
        out.append(a.transpose(1, 2).reshape(B, -1, C).to(q[j].dtype))
    proj = _linear(P, name + ".to_out.0", out)
    # channels-last, as diffusers' transpose-reshape makes it; with it first, so is the sum (and the next block)
    h = torch.stack(proj, dim=2).reshape(B, H, W, KC).permute(0, 3, 1, 2)
    return h + x  # the residual; rescale_output_factor = 1.0 is skipped as above


def _layout(x: Tensor) -> torch.memory_format:
    """channels_last if ``x`` is stored so, else contiguous (the layout kernels will be chosen for)."""
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format


def _member_cat(a: Tensor, b: Tensor, K: int) -> Tensor:
    """Per member, ``torch.cat([a_j, b_j], dim=1)``; blocks stay member-major. Keeps channels-last."""
    if _layout(a) == _layout(b) == torch.channels_last:
        an, bn = a.permute(0, 2, 3, 1).unflatten(-1, (K, -1)), b.permute(0, 2, 3, 1).unflatten(-1, (K, -1))
        return torch.cat([an, bn], dim=-1).flatten(-2).permute(0, 3, 1, 2)
    return torch.cat([a.unflatten(1, (K, -1)), b.unflatten(1, (K, -1))], dim=2).flatten(1, 2)
