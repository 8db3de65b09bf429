"""Exponential moving average of network weights (used for evaluation, §5)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class EMA:
    """shadow <- decay * shadow + (1 - decay) * param after each optimiser step.

    The shadow is kept in float32 whatever the training precision, and floating buffers are
    averaged too; integer buffers (counters) are copied.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= float(decay) < 1.0:
            raise ValueError(f"decay must be in [0, 1): decay={decay}")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow: dict[str, torch.Tensor] = {
            name: t.detach().clone().float() if t.is_floating_point() else t.detach().clone()
            for name, t in model.state_dict().items()
        }

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the model's current weights into the average."""
        state = model.state_dict()
        if state.keys() != self.shadow.keys():
            raise ValueError("EMA.update: model parameters differ from those the EMA was built on")
        floats = [n for n, t in self.shadow.items() if t.is_floating_point()]
        torch._foreach_lerp_(
            [self.shadow[n] for n in floats], [state[n].detach().float() for n in floats], 1.0 - self.decay
        )
        for n, t in self.shadow.items():
            if not t.is_floating_point():
                t.copy_(state[n])
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model`` (e.g. an evaluation copy)."""
        model.load_state_dict({n: t.to(model.state_dict()[n].dtype) for n, t in self.shadow.items()})

    def state_dict(self) -> dict[str, Any]:
        """decay, update count and shadow weights (copies), for checkpoints."""
        return {
            "decay": self.decay,
            "num_updates": self.num_updates,
            "shadow": {n: t.clone() for n, t in self.shadow.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        if set(state.get("shadow", {})) != set(self.shadow):
            raise ValueError("EMA.load_state_dict: parameter names do not match this model")
        self.decay = float(state["decay"])
        self.num_updates = int(state["num_updates"])
        for n, t in state["shadow"].items():
            self.shadow[n].copy_(t)
