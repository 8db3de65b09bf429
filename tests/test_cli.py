"""The command-line interface: values, JSON keys, one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import diffregimes
from diffregimes.cli import main
from diffregimes.cli.runs import _experiment_name
from diffregimes.experiments import registry


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits directly
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def test_speciation_json_at_zero_coupling(capsys):
    # By hand: beta=1, sigma_W^2=2, sigma^2=1 gives c(t) = 1 for all t (data variance equals the
    # stationary variance), so kappa = sigma_W^2 e^{-2t} m^2 / (1 * (-1 + 2)) = 2 m^2 e^{-2t}; with m^2 = 2,
    # kappa = 4 e^{-2t}: t_S = ln 2, kappa(0) = 4.
    code, out, _ = run_cli(capsys, "theory", "speciation", "--g", "0", "--m-plus2", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["t_s"] == pytest.approx(math.log(2), abs=1e-12)
    assert result["kappa0"] == pytest.approx(4.0, abs=1e-12)
    assert result["stable"] is True


def test_speciation_none_when_kappa_never_reaches_one(capsys):
    # kappa(0) = 2 m^2 at g = 0 (as above), so m^2 = 0.2 gives kappa <= 0.4 < 1 everywhere.
    code, out, _ = run_cli(capsys, "theory", "speciation", "--m-plus2", "0.2", "--json")
    assert code == 0 and json.loads(out)["t_s"] is None


def test_total_convention_scales_kappa_by_d(capsys):
    # total kappa = d * per-dim kappa: with m^2 = 0.3 and d = 10, kappa(0) = 10 * 2 * 0.3 = 6 and
    # 6 e^{-2t} = 1 gives t_S = ln(6)/2.
    code, out, _ = run_cli(
        capsys, "theory", "speciation", "--m-plus2", "0.3", "--convention", "total", "--d", "10", "--json"
    )
    result = json.loads(out)
    assert code == 0
    assert result["kappa0"] == pytest.approx(6.0, abs=1e-10)
    assert result["t_s"] == pytest.approx(math.log(6) / 2, abs=1e-10)
    assert result["t_s_plus"] == pytest.approx(math.log(6) / 2, abs=1e-10)


def test_collapse_json_symmetric(capsys):
    # By hand at g = 0, sigma^2/sigma_W^2 = 1, alpha = 1: (1 + 2/(e^{2t}-1))^2 = e^4, so
    # t_C = (1/2) log(1 + 2/(e^2 - 1)); t_max = 1/(e^2 - 1) by (75).
    code, out, _ = run_cli(capsys, "theory", "collapse", "--sigma-w2", "1", "--sigma2", "1", "--alpha", "1", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["t_c"] == pytest.approx(0.5 * math.log(1 + 2 / (math.e**2 - 1)), abs=1e-12)
    assert result["t_c_plus"] == pytest.approx(result["t_c"], abs=1e-12)
    assert result["t_max"] == pytest.approx(1 / (math.e**2 - 1), abs=1e-12)


def test_collapse_alpha_from_n_and_d(capsys):
    # alpha = log(n)/(2d) (33): n = e^4, d = 2 gives alpha = 1, the case above.
    code, out, _ = run_cli(
        capsys, "theory", "collapse", "--sigma-w2", "1", "--n", str(round(math.e**4 * 1e6)), "--d", "2", "--json"
    )
    alpha = math.log(round(math.e**4 * 1e6)) / 4
    assert code == 0 and json.loads(out)["alpha"] == pytest.approx(alpha)


def test_collapse_anisotropic_has_conditional(capsys):
    code, out, _ = run_cli(capsys, "theory", "collapse", "--coupling", "anisotropic", "--g", "1", "--json")
    result = json.loads(out)
    assert code == 0 and set(result) >= {"t_c", "t_c_cond"}


def test_readable_line(capsys):
    code, out, _ = run_cli(capsys, "theory", "speciation", "--g", "0.3")
    assert code == 0 and out.startswith("coupling = symmetric") and "t_s = " in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (("theory", "speciation", "--g", "1.2"), "beta > |g|: beta=1.0, g=1.2"),
        (("theory", "speciation", "--g", "nan"), "must be finite"),
        (("theory", "speciation", "--convention", "total"), "d >= 1"),
        (("theory", "speciation", "--coupling", "anisotropic", "--beta", "-1"), "beta must be > 0: beta=-1.0"),
        (("theory", "collapse", "--alpha", "-1"), "alpha must be > 0"),
        (("fig", "99", "--preset", "smoke"), "unknown fig '99'"),
        (("reproduce", "--preset", "huge"), "unknown preset 'huge'"),
        (("reproduce", "--only", "fig1,figX"), "unknown experiment 'figX'"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, argv, fragment):
    code, _, err = run_cli(capsys, *argv, *(("--out", str(tmp_path)) if argv[0] in ("fig", "reproduce") else ()))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in err


def test_every_command_has_help(capsys):
    for argv in (
        ["--help"],
        ["theory", "--help"],
        ["theory", "speciation", "--help"],
        ["theory", "collapse", "--help"],
        ["fig", "--help"],
        ["table", "--help"],
        ["reproduce", "--help"],
        ["list", "--help"],
    ):
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0 and "usage:" in out


def _run_python(code: str) -> subprocess.CompletedProcess:
    src = str(Path(diffregimes.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_list_is_aligned_and_reads_only_the_catalog():
    # `list` must not import the experiments (torch takes seconds): NumPy, torch and matplotlib stay unloaded.
    out = _run_python(
        "import sys; from diffregimes.cli import main; main(['list']); "
        "print([m for m in ('numpy', 'torch', 'matplotlib') if m in sys.modules])"
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "[]"
    rows = {line.split()[0]: line for line in lines[1:] if line and line.split()[0] in registry.ENTRIES}
    assert list(rows) == registry.names()
    columns = {
        (row.index(registry.ENTRIES[n].section, len(n)), row.index(registry.ENTRIES[n].title))
        for n, row in rows.items()
    }
    assert len(columns) == 1  # section and title start at the same column on every row


def test_catalog_matches_the_experiment_modules():
    from diffregimes.report import plotter

    for entry in registry.CATALOG:
        draw, source = plotter(entry.name)
        assert callable(draw) and draw.__name__ == entry.plotter.rsplit(".", 1)[1] and source in ("csv", "npz")
        exp = registry.get(entry.name)
        assert (exp.name, exp.title, exp.section, exp.figures) == (
            entry.name,
            entry.title,
            entry.section,
            entry.figures,
        )


@pytest.mark.parametrize(
    "kind, token, expected",
    [
        ("fig", "4", "fig4"),
        ("fig", "12", "fig12"),
        ("fig", "val_speciation", "val_speciation"),
        ("fig", "appc", "appc"),
        ("fig", "table1", "table1"),
        ("table", "1", "table1"),
    ],
)
def test_fig_accepts_numbers_and_every_name(kind, token, expected):
    assert _experiment_name(kind, token) == expected
    assert all(_experiment_name("fig", name) == name for name in registry.names())


def test_fig_by_name_runs_that_experiment(tmp_path, capsys):
    code, out, _ = run_cli(
        capsys, "fig", "val_speciation", "--preset", "smoke", "--out", str(tmp_path), "--no-progress"
    )
    assert code == 0 and "val_speciation: done" in out
    summary = json.loads((tmp_path / "val_speciation" / "summary.json").read_text())
    # g = 0, per-coordinate mean 1, c(t) = 1: a(t) = d e^{-2t} = 1 at t_S = (1/2) log d (Biroli et al.), d = 16
    assert summary["headline"]["d16_ts_biroli"] == pytest.approx(0.5 * math.log(16), abs=1e-9)


def test_theory_help_describes_both_quantities(capsys):
    code, out, _ = run_cli(capsys, "theory", "--help")
    text = " ".join(out.split())
    assert code == 0 and "Evaluate the coupled Ornstein-Uhlenbeck theory" in text
    assert "speciation speciation time t_S (30)" in text and "collapse collapse time t_C (72/86)" in text
