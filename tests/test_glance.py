"""The report's first screen (issue 20): the at-a-glance box and each section's conclusion, in both formats."""

from __future__ import annotations

import json

from diffregimes.report.build import collect_blocks, render_html, render_markdown
from diffregimes.report.glance import conclusion, format_hours, glance, verdict_line
from diffregimes.runstore import RunDir

CLAIMS = [
    ("Table 1", {"claim": "Δt < 0", "verdict": "holds", "kind": "paper"}),
    ("Table 1", {"claim": "ratio ≈ 2–3", "verdict": "fails", "kind": "paper"}),
    ("Fig. 7", {"claim": "c_u dominates in MAIN only", "verdict": "fails", "kind": "paper", "why": "u sums energy"}),
    ("Fig. 9", {"claim": "Δv > Δu", "verdict": "inconclusive", "kind": "paper"}),
    ("Fig. 4", {"claim": "old bool claim", "holds": True, "kind": "paper"}),
    ("val", {"claim": "κ convention", "verdict": "holds", "kind": "finding"}),
]


def test_format_hours_by_hand():
    # 9180 s = 153 min = 2 h 33 min (the evidence run's training); 3134 s = 52.2 min
    assert format_hours(9180) == "2 h 33 min"
    assert format_hours(3134) == "52 min"
    assert format_hours(41.4) == "41 s"
    assert format_hours(3600) == "1 h 00 min"


def test_verdict_line_counts_each_verdict_once():
    paper = [(e, c) for e, c in CLAIMS if c["kind"] == "paper"]
    # by hand: holds = Δt and the old bool claim; fails = ratio, c_u; inconclusive = Fig. 9
    assert verdict_line(paper) == "2 hold, 2 fail, 1 inconclusive"
    assert verdict_line([]) == "no claims"


def test_glance_names_every_failure_and_its_reason():
    summaries = {"table1": {"notes": ["What was run: the paper's U-Net, 2000 steps.", "A model is marginal here."]}}
    configs = {"table1": {"params": {"models_dir": "models"}}}
    lines = glance(summaries, configs, CLAIMS, 3134.0, "evidence")
    text = "\n".join(lines)
    assert "Preset **evidence**" in lines[0]
    assert "What was run: the paper's U-Net, 2000 steps." in lines
    assert "52 min" in text and "loaded from models" in text
    assert "Verdicts on the paper's claims: 2 hold, 2 fail, 1 inconclusive." in lines
    fails = [line for line in lines if line.startswith("Fails — ")]
    assert len(fails) == 2
    assert any("c_u dominates in MAIN only — u sums energy" in f for f in fails)
    assert any("ratio ≈ 2–3 — why is not yet known" in f for f in fails)
    assert "Our additional findings: 1 hold." in lines
    assert any(line.startswith("Caveat — A model is marginal") for line in lines)


def test_conclusion_groups_claims_and_gives_the_reasons():
    text = conclusion(CLAIMS[:4])
    assert text.startswith("**Conclusion.** Of 4 claims: 1 hold, 2 fail, 1 inconclusive.")
    assert "Fails: ratio ≈ 2–3 (Table 1); c_u dominates in MAIN only (Fig. 7)." in text
    assert "Why: c_u dominates in MAIN only: u sums energy." in text
    assert conclusion([]) == ""


def _run(out, name, claims, notes, wall):
    run = RunDir(out, name)
    run.path.mkdir(parents=True)
    claims = [dict(c, paper="p", ours="o") for c in claims]
    summary = {"title": f"Fig. {name} — test", "section": "mnist", "claims": claims, "notes": notes, "headline": {}}
    run.file(RunDir.SUMMARY).write_text(json.dumps(summary))
    run.file("config.json").write_text(json.dumps({"params": {"models_dir": None}, "seed": 0}))
    run.file("run.json").write_text(json.dumps({"wall_s": wall}))
    return run


def test_both_formats_open_with_the_same_box(tmp_path):
    a = _run(tmp_path, "7", [CLAIMS[2][1]], ["What was run: two models."], 60.0)
    b = _run(tmp_path, "9", [CLAIMS[3][1]], [], 1800.0)
    blocks = collect_blocks(tmp_path, [a, b], "evidence")
    box = [blk for blk in blocks if blk.kind == "box"]
    assert len(box) == 1 and blocks.index(box[0]) < next(i for i, b in enumerate(blocks) if b.kind == "h2")
    lines = [row[0] for row in box[0].rows]
    assert (  # 60 s + 1800 s = 31 min
        "Compute: 31 min for the runs in this report: the work done in them, training included; work reused from an "
        "earlier run is not counted." in lines
    )
    md, page = render_markdown(blocks, tmp_path), render_html(blocks)
    for line in lines:
        assert f"> - {line}" in md
    assert page.count("<div class='glance'>") == 1 and page.count("<li>Fails — ") == 1
    assert "**Conclusion.** Of 2 claims: 1 fail, 1 inconclusive." in md
    assert "✗ fails — why: u sums energy" in md


def test_failures_with_one_reason_share_a_line():
    claims = [
        ("App. C", {"claim": f"g0 = {g}: late least harmful", "verdict": "fails", "kind": "paper", "why": "early is"})
        for g in (0.2, 0.5)
    ] + [("App. C", {"claim": "other", "verdict": "fails", "kind": "paper"})]
    fails = [line for line in glance({}, {}, claims, 1.0, "quick") if line.startswith("Fails — ")]
    assert fails == [
        "Fails — App. C: g0 = 0.2: late least harmful; g0 = 0.5: late least harmful — early is.",
        "Fails — App. C: other — why is not yet known.",
    ]


def test_a_pipe_in_a_table_header_is_escaped_in_markdown(tmp_path):
    from diffregimes.report.build import Block

    md = render_markdown([Block("table", header=["setting", "|Δt| MAIN > CTRL"], rows=[["a", "|x|"]])], tmp_path)
    header, rule, row = md.splitlines()[:3]
    assert header == "| setting | \\|Δt\\| MAIN > CTRL |" and row == "| a | \\|x\\| |"
    assert rule.count("---") == 2  # two columns, as many as the header names
