"""The README as a user reads it: every code block runs as written, and its numbers are the committed ones.

Python blocks run each on its own (a fresh namespace: a block may not lean on an earlier one). Command
lines are parsed by the real parser (so every subcommand and flag exists); the instant ones (``theory``,
``list``) also run. The install and test commands are the ones CI runs.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import pytest

from diffregimes.cli import build_parser, main
from diffregimes.progress import format_seconds

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def command_lines(program: str) -> list[list[str]]:
    lines = [line.split(" #")[0].strip() for block in code_blocks("bash") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(program + " ")]


PYTHON_BLOCKS = code_blocks("python")


def test_readme_has_the_blocks_this_test_expects():
    assert len(PYTHON_BLOCKS) == 2 and len(command_lines("diffregimes")) >= 10


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_block_runs_on_its_own(index):
    namespace: dict = {"__name__": "readme"}
    exec(compile(PYTHON_BLOCKS[index], f"README.md, python block {index + 1}", "exec"), namespace)
    if index == 0:  # the value the block's comment states
        assert round(namespace["speciation_time"](namespace["model"]), 5) == 0.75263


def test_command_lines_parse_and_the_instant_ones_run(capsys):
    parser = build_parser()
    for argv in command_lines("diffregimes"):
        parser.parse_args(argv[1:])  # exits (SystemExit) on an unknown subcommand or flag
        if argv[1] in ("theory", "list"):
            assert main(argv[1:]) == 0, argv
    capsys.readouterr()


def test_install_and_test_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    install, test = (line.split(" && ", 1)[1] for block in code_blocks("bash")[:2] for line in block.splitlines())
    assert test in ci and "pip install --quiet torch==2.13.0" in ci
    assert install == 'pip install -e ".[mnist]" && diffregimes reproduce --preset quick'


def test_benchmark_scripts_exist():
    for argv in command_lines("python"):
        assert (ROOT / argv[1]).is_file(), argv


# ----------------------------------------------------------------------------- numbers of the committed runs
RESULTS = ROOT / "docs" / "results" / "quick"
ERRATA = (ROOT / "docs" / "errata.md").read_text(encoding="utf-8")


def summary(name: str) -> dict:
    return json.loads((RESULTS / name / "summary.json").read_text(encoding="utf-8"))


def headline(name: str) -> dict:
    return summary(name)["headline"]


def _pi_units(rad: float) -> str:
    """An angle as the figure's axis shows it, in units of π radians."""
    return f"{rad / math.pi:.2f}π"


def _appc_sign_changes() -> str:
    h = headline("appc")
    constant, late, early = (_pi_units(h[f"g0.5_{s}_sign_change_theta"]) for s in ("constant", "late", "early"))
    assert constant == late  # the caption gives them one angle
    return f"θ ≈ {constant} (constant, late), {early} (early)"


def _wall(*names: str) -> str:
    return format_seconds(sum(summary(n)["wall_s"] for n in names))


VALIDATION = ("val_speciation", "val_sync", "val_collapse")
#: (document, text built from the committed results that the document must contain)
NUMBERS = [
    (README, lambda: "peaks at g = {g_peak_common:.3f} (t_S = {t_s_peak_common:.4f})".format(**headline("fig1"))),
    (
        README,
        lambda: "flat at {t_c_g0:.4f} → {t_c_g0.9:.4f} (g = 0 → 0.9)".replace("t_c_g0.9", "t").format(
            t_c_g0=headline("fig2")["t_c_g0"], t=headline("fig2")["t_c_g0.9"]
        ),
    ),
    (README, lambda: "t_C(0) = {t_c_g0:.4f} < t_max = {t_max:.4f}".format(**headline("fig2"))),
    (ERRATA, lambda: "t_C = {t_c_g0:.4f} < t_max = {t_max:.4f}".format(**headline("fig2"))),
    (
        README,
        lambda: "(g = {boundary_theta0_exact:.3f} at θ = 0); dashed: κ(0) = 1 (g = {g_crit_theta0:.1f})".format(
            **headline("fig4")
        ),
    ),
    (README, lambda: "g = {boundary_theta0_exact:.4f} at θ = 0".format(**headline("fig4"))),
    (ERRATA, lambda: "at θ = 0 g = {boundary_theta0_exact:.4f}".format(**headline("fig4"))),
    (README, lambda: "rises by {max_rise_theta0:.3f} (max at g ≈ {g_of_max_theta0:.2f})".format(**headline("fig4"))),
    (
        ERRATA,
        lambda: "rises by {max_rise_theta0:.3f} for small g (maximum at\ng ≈ {g_of_max_theta0:.2f})".format(
            **headline("fig4")
        ),
    ),
    (ERRATA, lambda: "only for g > {g_difference_overtakes:.3f}".format(**headline("fig1"))),
    (
        README,
        lambda: "t_C varies by {}, the conditional one (α_C = α) by {}".format(
            *(f"{headline('fig5')[k]:.1e}".replace("e-0", "e-") for k in ("joint_spread", "cond_spread"))
        ),
    ),
    (README, lambda: "the conditional time is {t_c_cond_same_n_g0:.3f}".format(**headline("fig5"))),
    (ERRATA, lambda: "far smaller ({t_c_cond_same_n_g0:.3f} vs {t_c_g0:.3f})".format(**headline("fig5"))),
    (README, _appc_sign_changes),
    (
        README,
        lambda: (
            "t/t_S = {d64_ratio_measured_to_ts:.3f}, {d256_ratio_measured_to_ts:.3f}, "
            "{d1024_ratio_measured_to_ts:.3f}".format(**headline("val_speciation"))
        ),
    ),
    (
        README,
        lambda: "within {max_err_total:.2f} of the total-κ times, {max_err_perdim:.2f} of the per-dimension".format(
            **headline("val_sync")
        ),
    ),
    (
        README,
        lambda: (
            f"theory {_wall('fig1', 'fig2', 'fig3', 'fig4', 'fig5')}, App. C {_wall('appc')}, "
            f"validation {_wall(*VALIDATION)}"
        ),
    ),
]


@pytest.mark.parametrize("document, expected", NUMBERS, ids=[f"number{i}" for i in range(len(NUMBERS))])
def test_documented_numbers_are_the_committed_ones(document, expected):
    text = expected()
    assert text in document, f"docs say something else than the committed results: expected {text!r}"


def test_gallery_images_exist_and_are_from_the_committed_runs():
    images = re.findall(r"\]\((docs/[\w./-]+\.png)\)", README)
    assert images and all(im.startswith(("docs/results/quick/", "docs/results/evidence/")) for im in images), images
    for image in images:
        assert (ROOT / image).is_file(), image
    for name in ("fig1", "fig2", "fig3", "fig4", "fig5", "appc", *VALIDATION):
        config = json.loads((RESULTS / name / "config.json").read_text(encoding="utf-8"))
        assert config["preset"] == "quick" and config["seed"] == 0


# ----------------------------------------------------------------------------- the MNIST evidence run
EVIDENCE = json.loads((ROOT / "docs" / "results" / "evidence" / "summary.json").read_text(encoding="utf-8"))


def test_evidence_verdicts_in_the_readme_are_the_committed_ones():
    table = README.split("| paper's claim (§5) |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    verdicts = [row.rstrip(" |").rsplit("|", 1)[1].strip().strip("*") for row in rows]
    assert verdicts == [c["verdict"] for c in EVIDENCE["claims"]]


def test_evidence_numbers_in_the_readme_are_the_committed_ones():
    t1 = json.loads((ROOT / "docs" / "results" / "evidence" / "table1" / "summary.json").read_text())["headline"]
    pooled = f"{t1['ratio_main_ctrl_pooled']:.2f} [{t1['ratio_main_ctrl_pooled_lo']:.2f}, {t1['ratio_main_ctrl_pooled_hi']:.2f}]"
    assert f"pooled {pooled}" in README
    protocol1 = [m for m in EVIDENCE["models"] if m["classes"] is None]
    rec = sorted(m["recognised"] for m in protocol1)
    assert f"recognised {rec[0]:.3f}–{rec[-1]:.3f}" in README and all(m["passes_gate"] for m in EVIDENCE["models"])


def test_the_published_evidence_report_shows_its_figures():
    report = ROOT / "docs" / "results" / "evidence" / "report.md"
    text = report.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+\.png)\)", text)
    assert len(links) >= 7 and all((report.parent / link).is_file() for link in links)
    # published under their own names: no run directory of the build machine, no absolute path of it
    assert not re.search(r"\b(table1|fig\d+)-[0-9a-f]{8}\b", text) and not re.search(
        r"(models_dir|mnist_path) = /", text
    )
