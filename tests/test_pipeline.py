"""Run directories, caching, atomic results and the report, on the cheap theory figures."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from diffregimes.cli import main
from diffregimes.execution.driver import produce, reproduce
from diffregimes.experiments import get, run_experiment
from diffregimes.report.build import collect_blocks
from diffregimes.runstore import RunDir, read_csv


def test_fig2_run_writes_everything_and_values_match_hand_formula(tmp_path):
    run_dir, reused = produce("fig2", "smoke", tmp_path, show_progress=False)
    assert not reused
    for name in ("config.json", "data.csv", "summary.json", "figure.png", "figure.pdf"):
        assert run_dir.file(name).stat().st_size > 0
    config = json.loads(run_dir.file("config.json").read_text())
    assert {"params", "seed", "version", "cache_key"} <= set(config)
    data = read_csv(run_dir.file("data.csv"))
    # g = 0, sigma^2/sigma_W^2 = 1, alpha = 1: t_C = (1/2) log(1 + 2/(e^2 - 1)) (hand, see test_cli)
    assert data["t_c"][0] == pytest.approx(0.5 * math.log(1 + 2 / (math.e**2 - 1)), abs=1e-12)
    assert np.allclose(data["t_max"], 1 / (math.e**2 - 1), atol=1e-14)


def test_rerun_reuses_and_changed_config_recomputes(tmp_path):
    produce("fig2", "smoke", tmp_path, show_progress=False)
    _, reused = produce("fig2", "smoke", tmp_path, show_progress=False)
    assert reused
    _, reused = produce("fig2", "smoke", tmp_path, show_progress=False, overrides={"alpha": 0.5})
    assert not reused


def test_unknown_override_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown parameter 'nope' for fig2"):
        run_experiment(get("fig2"), "smoke", tmp_path, overrides={"nope": 1}, show_progress=False)


def test_interrupted_run_is_not_reused(tmp_path, monkeypatch):
    exp = get("fig2")

    def crash(params, ctx):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(
            type(exp)(exp.name, exp.title, exp.section, exp.params, crash), "smoke", tmp_path, show_progress=False
        )
    assert not RunDir(tmp_path, "fig2").file("summary.json").exists()
    _, reused = run_experiment(exp, "smoke", tmp_path, show_progress=False)
    assert not reused


def test_reproduce_writes_report_with_claims_and_embedded_figures(tmp_path):
    md, page = reproduce(["fig1", "fig2"], "smoke", tmp_path, show_progress=False, log=lambda s: None)
    text = md.read_text()
    assert "The paper's claims against our numbers" in text and "fig1/figure.png" in text
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 2 and "src='fig" not in html
    # a table of contents whose every link has its target, in both renderings
    links = re.findall(r"\]\(#([\w-]+)\)", text)
    assert {"claims", "section-theory", "fig1", "fig2"} <= set(links) and len(links) == len(set(links))
    assert all(f'<a id="{a}"></a>' in text and f"id='{a}'" in html for a in links)
    assert "DESIGN" not in text  # self-contained: nothing cites a document the reader does not have


def _summary(name: str, section: str, claims: list, notes: list) -> dict:
    return {
        "name": name,
        "title": f"{name.upper()} — a test",
        "section": section,
        "preset": "smoke",
        "wall_s": 1.0,
        "headline": {},
        "claims": claims,
        "notes": notes,
    }


def _fake_run(root, name: str, summary: dict) -> None:
    run = RunDir(root, name)
    run.path.mkdir(parents=True)
    run.file("summary.json").write_text(json.dumps(summary))
    run.file("config.json").write_text(json.dumps({"params": {"a": 1}, "seed": 0}))


def test_claims_are_split_into_paper_claims_and_findings_with_every_verdict_explained(tmp_path):
    old = {"claim": "old style", "paper": "p", "ours": "o", "holds": True}  # no kind: a paper claim
    none = {
        "claim": "read off",
        "paper": "0.6",
        "ours": "0.58",
        "holds": None,
        "kind": "paper",
        "note": "values read off the paper's figure",
    }
    new = {
        "claim": "new style",
        "paper": "p",
        "ours": "o",
        "interval": "[0.1, 0.3]",
        "verdict": "inconclusive",
        "kind": "finding",
    }
    _fake_run(tmp_path, "x1", _summary("x1", "theory", [old, none], ["shared note", "own note"]))
    _fake_run(tmp_path, "x2", _summary("x2", "theory", [new], ["shared note"]))
    blocks = collect_blocks(tmp_path, ["x1", "x2"], "smoke")
    tables = [b for b in blocks if b.kind == "table"]
    paper, findings = tables[0], tables[1]
    assert [r[1] for r in paper.rows] == ["old style", "read off"] and "interval" not in paper.header
    assert paper.rows[0][-1] == "✓ holds" and paper.rows[1][-1] == "– no verdict: values read off the paper's figure"
    assert findings.header[2] == "reference" and findings.rows[0][4:] == ["[0.1, 0.3]", "? inconclusive"]
    texts = [b.text for b in blocks if b.kind == "p"]
    assert texts.count("shared note") == 1 and texts.count("own note") == 1  # said once, at the section's top
    assert texts.index("shared note") < texts.index("own note")


def test_cli_fig_command(tmp_path, capsys):
    assert main(["fig", "3", "--preset", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "fig3" / "figure.png").exists()
    # Fig. 3 at g = 0 is uncoupled with mu_x = 0, m_y^2 = 2, c(t) = 1: t_S = ln 2 (hand, see test_cli).
    assert read_csv(tmp_path / "fig3" / "data.csv")["t_s"][0] == pytest.approx(math.log(2), abs=1e-10)
