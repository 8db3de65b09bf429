"""The ``diffregimes mnist sample`` command: generated pairs from a trained or published MNIST model.

This module owns the ``mnist`` subcommand's flags, the checks on them (pair count, seed, an existing
``--model`` file, an ``.npz`` output), and the call into the MNIST experiments that loads the model and
samples it; torch and the experiments are imported inside :func:`cmd_mnist_sample` only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ValidationError
from .args import _device


def cmd_mnist_sample(args: argparse.Namespace) -> None:
    """diffregimes mnist sample: N generated pairs of a model as x [N, 2, 28, 28] (pixels in [0, 1])."""
    from ..seeds import check_seed

    if args.n < 1 or args.n > 100_000:
        raise ValidationError(f"--n must be in [1, 100000]: n={args.n}")
    check_seed(args.seed, "--seed")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValidationError(f"--out must name an .npz file: out={args.out}")
    _check_writable(out)
    model = Path(args.model)
    if not model.is_file():
        raise ValidationError(f"--model: no such file: {args.model}")
    import io

    import numpy as np

    from ..atomic import atomic_write_bytes
    from ..experiments.base import default_device
    from ..experiments.mnist.weights import load_model_file, sample_pairs

    device = _device(args.device) or default_device()
    try:
        tm = load_model_file(model, device)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:  # the user's file, not a bug of ours
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"--model {args.model}: not a usable diffregimes MNIST model ({text})") from None
    x = sample_pairs(tm, args.n, args.seed, device)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x)
    atomic_write_bytes(out, buffer.getvalue())
    print(f"mnist sample: {args.n} pairs from {tm.spec.label} ({tm.spec.steps} steps) -> {out}")


def _check_writable(out: Path) -> None:
    """--out can be written: not a directory, in an existing directory where a file can be created (checked
    with a probe file before any sampling, so a bad path costs nothing)."""
    import tempfile

    if out.is_dir():
        raise ValidationError(f"--out is a directory, not an .npz file: out={out}")
    try:
        with tempfile.NamedTemporaryFile(dir=out.parent if str(out.parent) else ".", prefix=".probe-"):
            pass
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot write there ({exc.strerror or type(exc).__name__})") from None


def add_mnist_parser(sub: argparse._SubParsersAction) -> None:
    """The ``mnist`` subcommand (``mnist sample``), added to the top-level subparsers ``sub``."""
    mnist = sub.add_parser(
        "mnist",
        help="use a trained or published MNIST model",
        description="mnist sample: generated pairs from a saved (.pt) or published (.safetensors) MNIST model",
    )
    msub = mnist.add_subparsers(dest="mnist_cmd", required=True, metavar="{sample}")
    smp = msub.add_parser("sample", help="generate pairs (x_A, x_B) from a model into an .npz (array x)")
    smp.add_argument(
        "--model",
        required=True,
        metavar="PATH",
        help="a published .safetensors model (or a runs/_models/<key>.pt file)",
    )
    smp.add_argument("--n", type=int, default=16, help="number of pairs (default 16)")
    smp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    smp.add_argument("--out", required=True, metavar="FILE.npz", help="output file: array x [N, 2, 28, 28] in [0, 1]")
    smp.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to sample (default auto)")
    smp.set_defaults(func=cmd_mnist_sample)
