"""Hostile command-line input: every bad value is one line on stderr, exit code 2, no traceback, the
flag or parameter named, and nothing run or written before the refusal.

All cases run ``main`` in-process; the run layer's executor is replaced by one that fails the test,
so a bad input that slipped through validation and started work would show up as an error here.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from diffregimes.cli import main


def _npz(path, labels, images=None):
    n = len(labels)
    images = np.zeros((n, 28, 28), np.uint8) if images is None else images
    np.savez(path, x=images, y=np.asarray(labels, np.int64))
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files the bad inputs point at: a regular file, a FIFO, garbage and one-class data sets."""
    root = tmp_path_factory.mktemp("bad_inputs")
    plain = root / "plain.txt"
    plain.write_text("root:x:0:0\n")
    fifo = root / "fifo"
    os.mkfifo(fifo)
    (root / "dir.npz").mkdir()
    (root / "nomodels").mkdir()
    (root / "nomodels" / "fake.safetensors").write_bytes(b"not a model")
    garbage = root / "garbage.npz"
    garbage.write_bytes(b"\x80\x04not a zip, and not meant to be unpickled" * 10)
    pickled = root / "objects.npz"
    np.savez(pickled, x=np.array([object()] * 4, dtype=object), y=np.arange(4))
    return {
        "plain": str(plain),
        "fifo": str(fifo),
        "garbage": str(garbage),
        "pickled": str(pickled),
        "one_class": _npz(root / "one.npz", [3] * 8),
        "two_class": _npz(root / "two.npz", [3, 8] * 4),
        "ten": _npz(root / "ten.npz", list(range(10))),
        "root": root,
    }


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any experiment starts to run (in this process or through the driver's executor)."""
    from diffregimes.execution import driver
    from diffregimes.experiments import base

    def refuse(*args, **kwargs):
        raise AssertionError("a bad input started an experiment")

    monkeypatch.setattr(base, "_execute", refuse)
    monkeypatch.setattr(driver, "run_units", refuse)
    monkeypatch.setattr(driver, "make_executor", refuse, raising=False)


UNET_BAD_GROUPS = json.dumps({"block_out_channels": [8, 16], "norm_num_groups": 3})

# (argv, fragments that must all appear in the one error line); OUT is the output directory,
# {name} a file from the ``files`` fixture
CASES = [
    # ------------------------------------------------------------------ theory speciation
    (["theory", "speciation", "--g", "1.2"], ["beta > |g|", "g=1.2"]),
    (["theory", "speciation", "--g", "nan"], ["--g", "must be finite"]),
    (["theory", "speciation", "--beta", "abc"], ["--beta", "not a number"]),
    (["theory", "speciation", "--sigma-w2", "inf"], ["--sigma-w2", "must be finite"]),
    (["theory", "speciation", "--sigma2", "-1"], ["sigma2 must be > 0", "sigma2=-1.0"]),
    (["theory", "speciation", "--m-plus2", "-1"], ["m_plus2 must be >= 0"]),
    (["theory", "speciation", "--convention", "total"], ["d >= 1"]),
    (["theory", "speciation", "--convention", "sideways"], ["--convention", "sideways"]),
    (["theory", "speciation", "--coupling", "anisotropic", "--beta", "-1"], ["beta must be > 0: beta=-1.0"]),
    (["theory", "speciation", "--T", "1e308"], ["T must be a time horizon", "T=1e+308"]),
    (["theory", "speciation", "--T", "0"], ["T must be > 0"]),
    (["theory", "speciation", "--d", "0"], ["--d", "0"]),
    (["theory", "speciation", "--d", "1.5"], ["--d", "not an integer"]),
    (["theory", "speciation", "--coupling", "anisotropic", "--g", "1e300"], ["overflow", "g=1e+300"]),
    (["theory", "speciation", "--sigma-x2", "1", "--sigma-y2", "2"], ["equal variances", "--sigma-y2=2.0"]),
    # ------------------------------------------------------------------ theory collapse
    (["theory", "collapse", "--d", "-5", "--n", "100"], ["--d", "-5"]),
    (["theory", "collapse", "--n", "100", "--d", "0"], ["--d", "0"]),
    (["theory", "collapse", "--n", "1", "--d", "2"], ["--n", ">= 2"]),
    (["theory", "collapse", "--n", "abc", "--d", "2"], ["--n", "not an integer"]),
    (["theory", "collapse", "--n", "100"], ["--n needs --d"]),
    (["theory", "collapse", "--alpha", "-1"], ["alpha must be > 0"]),
    (["theory", "collapse", "--alpha", "1000"], ["no collapse", "alpha"]),
    (["theory", "collapse", "--g", "1"], ["beta > |g|", "g=1.0"]),
    (["theory", "collapse", "--sigma2", "1e300", "--sigma-w2", "1e-300"], ["overflow", "sigma2=1e+300"]),
    # ------------------------------------------------------------------ commands, presets, seeds
    (["theory"], ["speciation"]),
    (["fig"], ["NAME"]),
    (["fig", "1", "--bogus"], ["--bogus"]),
    (["fig", "99", "--out", "OUT"], ["unknown fig '99'"]),
    (["fig", "abc", "--out", "OUT"], ["unknown fig 'abc'"]),
    (["table", "7", "--out", "OUT"], ["unknown table '7'"]),
    (["fig", "1", "--preset", "huge", "--out", "OUT"], ["unknown preset 'huge'"]),
    (["fig", "1", "--preset", "evidence", "--out", "OUT"], ["fig1 has no preset 'evidence'"]),
    (["fig", "1", "--seed", "-1", "--out", "OUT"], ["--seed", "-1"]),
    (["fig", "1", "--seed", "1.5", "--out", "OUT"], ["--seed", "not an integer"]),
    (["fig", "1", "--seed", str(2**63), "--out", "OUT"], ["--seed", str(2**63)]),
    (["fig", "1", "--device", "tpu", "--out", "OUT"], ["--device", "tpu"]),
    # ------------------------------------------------------------------ --set: types and ranges
    (["fig", "1", "--set", "n_g=abc"], ["n_g=abc", "n_g must be an integer in [2, "]),
    (["fig", "1", "--set", "n_g=1.5"], ["n_g=1.5", "n_g must be an integer"]),
    (["fig", "1", "--set", "n_g=true"], ["n_g=true", "n_g must be an integer"]),
    (["fig", "1", "--set", "n_g=0"], ["n_g=0", "n_g must be an integer in [2, "]),
    (["fig", "1", "--set", "n_g=1000000000000"], ["n_g=1000000000000", "n_g must be an integer in [2, "]),
    (["fig", "1", "--set", "n_g=" + "9" * 5000], ["n_g=999", "n_g must be an integer"]),
    (["fig", "1", "--set", "g_max=abc"], ["g_max=abc", "g_max must be a finite number"]),
    (["fig", "1", "--set", "g_max="], ["g_max=:", "g_max must be a finite number"]),
    (["fig", "1", "--set", "g_max=nan"], ["g_max=nan", "g_max must be a finite number"]),
    (["fig", "1", "--set", "g_max=-1"], ["g_max=-1", "in [0, "]),
    (["fig", "1", "--set", "mixtures=3"], ["mixtures=3", "mixtures must be a list"]),
    (["fig", "1", "--set", "mixtures=abc"], ["mixtures=abc", "mixtures must be a list"]),
    (["fig", "1", "--set", "mixtures=[[1,2,3]]"], ["mixtures=[[1,2,3]]", "exactly 2 items"]),
    (["fig", "1", "--set", "beta=0.5"], ["beta > |g|", "beta=0.5", "g_max=0.99"]),
    (["fig", "2", "--set", "beta=-1"], ["beta > |g|", "beta=-1.0"]),
    (["fig", "2", "--set", "alpha=0"], ["alpha=0", "alpha must be a finite number > 0"]),
    (["fig", "2", "--set", "alpha=1000"], ["alpha=1000", "<= 100"]),
    (["fig", "1", "--set", "nope=1"], ["unknown parameter 'nope' for fig1"]),
    (["fig", "1", "--set", "n_g"], ["--set expects KEY=VALUE", "'n_g'"]),
    (["fig", "1", "--set", "=3"], ["--set expects KEY=VALUE", "'=3'"]),
    (
        ["fig", "4", "--set", "n_g=1000000", "--set", "n_theta=1000000"],
        ["n_g=1000000, n_theta=1000000", "needs an estimated", "TiB"],
    ),
    (["fig", "4", "--set", "T=1e9"], ["T=1e9", "T must be a finite number > 0 and <= 10000"]),
    # ------------------------------------------------------------------ App. C flags
    (["fig", "12", "--set", "threads=0"], ["threads=0", "threads must be an integer in [1, "]),
    (["fig", "12", "--set", "g0s=[]"], ["g0s=[]", "g0s must be a list of 1 to"]),
    (["fig", "13", "--set", "d=1"], ["d=1", "d must be an integer in [2, "]),
    (["fig", "12", "--trials", "1"], ["--trials 1", "trials must be an integer in [2, "]),
    (["fig", "12", "--trials", "abc"], ["--trials", "not an integer"]),
    (["fig", "12", "--steps", "0"], ["--steps 0", "n_steps must be an integer in [1, "]),
    (["fig", "14", "--t0", "5"], ["t0 must be < T", "t0=5.0"]),
    (["fig", "1", "--trials", "5"], ["--trials/--steps apply to figs 12-14 only", "fig1"]),
    # ------------------------------------------------------------------ MNIST parameters
    (["table", "1", "--set", "unet=abc"], ["unet=abc", "unet must be an object"]),
    (["table", "1", "--set", f"unet={UNET_BAD_GROUPS}"], ["unet=", "norm_num_groups must divide"]),
    (["table", "1", "--set", "eval_batch=-1"], ["eval_batch=-1", "eval_batch must be an integer in [1, "]),
    (["table", "1", "--set", "n_seeds=0"], ["n_seeds=0", "n_seeds must be an integer in [1, "]),
    (["table", "1", "--set", "threads=0"], ["threads=0", "threads must be an integer in [1, "]),
    (["table", "1", "--set", "g_values=[0.5,0.5]"], ["g_values must not repeat", "[0.5, 0.5]"]),
    (["table", "1", "--set", "g_values=[1.5]"], ["g_values=[1.5]", "< 1"]),
    (["table", "1", "--set", "train_steps=none"], ["exactly one of train_steps and epochs"]),
    (["table", "1", "--set", "precision=fp16"], ["precision=fp16", "one of auto, fp32, bf16"]),
    (["table", "1", "--set", "pairings=main,side"], ["pairings=main,side", "one of main, ctrl"]),
    (["fig", "10", "--set", "classes=[3,3]"], ["classes must not repeat"]),
    (["fig", "10", "--set", "holdout=1"], ["holdout=1", "holdout must be a finite number > 0 and < 1"]),
    (["table", "1", "--set", "batch=500"], ["batch must be <= the 240 training images", "batch=500"]),
    (["table", "1", "--set", "n_images=5"], ["n_images must be >= the number of classes (10)", "n_images=5"]),
    (["fig", "10", "--set", "scan_fracs=0.1,0.1001"], ["scan_fracs must give at least two distinct steps"]),
    # ------------------------------------------------------------------ --mnist
    (["table", "1", "--mnist", ""], ["--mnist", "MNIST path is empty"]),
    (["table", "1", "--mnist", "{root}/missing.npz"], ["--mnist", "does not exist"]),
    (["table", "1", "--mnist", "{fifo}"], ["--mnist", "not a regular file or directory"]),
    (["table", "1", "--mnist", "{garbage}"], ["--mnist", "not an .npz (zip) archive"]),
    (["table", "1", "--mnist", "{pickled}"], ["--mnist", "holds Python objects"]),
    (["table", "1", "--mnist", "{plain}"], ["--mnist", "bad IDX magic number"]),
    (["table", "1", "--mnist", "{one_class}"], ["mnist_path=", "at least two digits", "found 1 (3)"]),
    (["fig", "10", "--mnist", "{two_class}"], ["no images of digit(s) 0, 1", "classes=[0, 1]"]),
    (["fig", "1", "--mnist", "{two_class}"], ["--mnist applies to the MNIST experiments only"]),
    # ------------------------------------------------------------------ --out
    (["fig", "1", "--out", ""], ["--out is empty"]),
    (["fig", "1", "--out", "{plain}"], ["--out", "not a directory"]),
    (["fig", "1", "--out", "{plain}/sub"], ["--out", "cannot create the directory", "Not a directory"]),
    (["fig", "1", "--out", "/proc/diffregimes-nope/x"], ["--out", "cannot create the directory"]),
    # ------------------------------------------------------------------ reproduce --only
    (["reproduce", "--only", ","], ["--only needs at least one experiment name", "','"]),
    (["reproduce", "--only", ""], ["--only needs at least one experiment name", "''"]),
    (["reproduce", "--only", "fig1,,fig2"], ["--only has an empty name", "'fig1,,fig2'"]),
    (["reproduce", "--only", "fig1,figX"], ["unknown experiment 'figX'"]),
    (["reproduce", "--preset", "huge"], ["unknown preset 'huge'"]),
    (["reproduce", "--preset", "evidence", "--only", "fig1"], ["fig1 has no preset 'evidence'"]),
    (["reproduce", "--seed", "-3"], ["--seed", "-3"]),
    # ------------------------------------------------------------------ manifold
    (["fig", "manifold", "--set", "alpha=1"], ["alpha * d <= 13.82", "alpha=1 with d=16"]),
    (["fig", "manifold", "--set", "kinds=[relu]"], ["kinds", "relu"]),
    # ------------------------------------------------------------------ executors
    (["reproduce", "--executor", "threads"], ["--executor must be one of serial, process, ray", "'threads'"]),
    (["reproduce", "--workers", "0"], ["--workers must be in [1, 4096]", "workers=0"]),
    (["reproduce", "--executor", "serial", "--workers", "3"], ["--workers > 1 needs --executor process or ray"]),
    (["reproduce", "--address", "auto"], ["--address needs --executor ray", "'serial'"]),
    (["fig", "2", "--executor", "process", "--threads", "0"], ["--threads must be in [1, 1024]", "threads=0"]),
    (["fig", "2", "--workers", "-2"], ["--workers must be in [1, 4096]", "workers=-2"]),
    # ------------------------------------------------------------------ flags that do not apply, duplicates
    (["theory", "speciation", "--theta", "1"], ["--theta apply to --coupling anisotropic only"]),
    (["theory", "speciation", "--mx2", "2", "--my2", "1"], ["--mx2, --my2 apply to --coupling anisotropic"]),
    (
        ["theory", "speciation", "--coupling", "anisotropic", "--m-plus2", "3"],
        ["--m-plus2 apply to --coupling symmetric"],
    ),
    (["theory", "collapse", "--alpha", "0.5", "--n", "100", "--d", "4"], ["--alpha or --n with --d, not both"]),
    (["fig", "1", "--set", "n_g=11", "--set", "n_g=12"], ["--set n_g given twice", "n_g=11 and n_g=12"]),
    # ------------------------------------------------------------------ mnist sample: the user's files
    (["mnist", "sample", "--model", "{garbage}", "--out", "{root}/x.npz"], ["--model", "not a usable diffregimes"]),
    (["mnist", "sample", "--model", "{plain}", "--out", "{root}/x.npz"], ["--model", "not a usable diffregimes"]),
    (["mnist", "sample", "--model", "{garbage}", "--out", "/proc/x.npz"], ["--out /proc/x.npz", "cannot write"]),
    (["mnist", "sample", "--model", "{garbage}", "--out", "{root}/dir.npz"], ["--out is a directory"]),
    (["table", "1", "--mnist", "{ten}"], ["batch must be <= the 10 training images", "batch=16"]),
    (["fig", "8", "--models", "{root}/nomodels"], ["--models", "holds no published diffregimes model"]),
    # ------------------------------------------------------------------ theory manifold edges
    (["theory", "manifold", "--psi", "1e-300", "--alpha", "0.1", "--d", "64"], ["--psi × --d must be >= 0.5"]),
    (["theory", "manifold", "--psi", "0.01", "--alpha", "0.1", "--d", "1"], ["--psi × --d", "psi=0.01, d=1"]),
    (["theory", "manifold", "--psi", "0.5", "--alpha", "1e300", "--d", "64"], ["overflow", "alpha=1e+300"]),
    # ------------------------------------------------------------------ --retrain, --publish (MNIST only)
    (["fig", "4", "--retrain"], ["--retrain applies to the MNIST experiments only", "fig4"]),
    (["reproduce", "--only", "fig4", "--retrain"], ["--retrain applies to the MNIST experiments only"]),
    (["reproduce", "--only", "fig4", "--publish", "{root}/pub"], ["--publish applies to the MNIST experiments only"]),
    (["reproduce", "--only", "table1", "--publish", ""], ["--publish needs a directory"]),
    (["reproduce", "--only", "table1", "--publish", "{plain}"], ["--publish must be a directory", "plain.txt"]),
    (["reproduce", "--only", "table1", "--out", "OUT", "--publish", "OUT"], ["--publish must differ from --out"]),
]


def _argv(argv: list[str], files: dict, out) -> list[str]:
    filled = [
        a.replace("OUT", str(out)).format(**files)
        if "{" in a and "}" in a and "unet=" not in a
        else a.replace("OUT", str(out))
        for a in argv
    ]
    runs = argv[0] in ("fig", "table", "reproduce")
    extra = [] if not runs or "--out" in argv else ["--out", str(out)]
    if runs and "--preset" not in argv:
        extra += ["--preset", "smoke"]
    return filled + extra + (["--no-progress"] if runs and len(argv) > 1 else [])


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5"])
def test_a_bad_thread_cap_is_refused_not_ignored(value, monkeypatch, tmp_path, capsys, no_work):
    monkeypatch.setenv("DIFFREGIMES_THREADS", value)
    assert main(["fig", "2", "--preset", "smoke", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "DIFFREGIMES_THREADS must be an integer in [1, 4096]" in err[0] and repr(value) in err[0]


@pytest.mark.parametrize("m2", ["0", "1e-300"])
def test_manifold_without_speciation_is_null_not_nan_or_negative(m2, capsys):
    """m² = 0 (no class signal) or 1e-300: valid JSON, t_S null with a note, no warning, t_C finite and > 0."""
    import warnings

    for embedding in ("random", "orthonormal"):
        argv = ["theory", "manifold", "--psi", "0.5", "--alpha", "0.1", "--d", "64", "--m2", m2, "--json"]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert main([*argv, "--embedding", embedding]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["t_S"] is None and "no speciation" in result["t_S_note"]
        assert all(result.get(k) is None for k in ("t_S_leading", "t_S_summary"))
        assert 0 < result["t_C"] < 10


def test_a_fifo_at_a_runs_lock_is_refused_not_waited_on(tmp_path, capsys, no_work):
    out = tmp_path / "out"
    (out / "fig2").mkdir(parents=True)
    os.mkfifo(out / "fig2" / ".lock")
    assert main(["fig", "2", "--preset", "smoke", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a regular file" in err[0] and ".lock" in err[0]


def test_retrain_of_a_non_mnist_run_deletes_nothing(tmp_path, capsys, no_work):
    """`fig 4 --retrain` once deleted <out>/_models and _cache (the MNIST experiments' models): now refused."""
    out = tmp_path / "out"
    for sub in ("_models", "_cache"):
        (out / sub).mkdir(parents=True)
        (out / sub / "keep.pt").write_bytes(b"trained for hours")
    assert main(["fig", "4", "--retrain", "--preset", "smoke", "--out", str(out)]) == 2
    assert "--retrain applies to the MNIST experiments only" in capsys.readouterr().err
    assert all((out / sub / "keep.pt").exists() for sub in ("_models", "_cache"))


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60 and len({tuple(a) for a, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("argv, fragments", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_starts_nothing(argv, fragments, files, tmp_path, capsys, no_work):
    out = tmp_path / "out"
    try:
        code = main(_argv(argv, files, out))
    except SystemExit as exc:  # argparse exits directly
        code = exc.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert not out.exists() or not any(out.iterdir())  # nothing written before the refusal
