"""The reproduction report: one Markdown and one self-contained HTML file built from saved runs.

Both are rendered from the same list of blocks, so they always say the same thing. Images are
linked in Markdown and embedded (base64) in HTML.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

from .. import __version__
from ..experiments.base import load_config, load_summary, load_timings
from ..experiments.runstore import RunDir, atomic_write_text

SECTIONS = {
    "theory": "Theory: coupled Ornstein–Uhlenbeck speciation and collapse (paper §3–4, Figs 1–5)",
    "validation": "Validation: measured regimes beside the theory (exact-score simulations)",
    "appc": "App. C: exact-score conditional generation (Figs 12–14)",
    "mnist": "MNIST synchronization experiment (paper §5, Table 1, Figs 6–11)",
}


@dataclass(frozen=True)
class Block:
    kind: str  # "h1" | "h2" | "h3" | "p" | "table" | "img"
    text: str = ""
    header: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    path: Path | None = None


def _holds(value: bool | None) -> str:
    return {True: "✓ yes", False: "✗ no", None: "–"}[value]


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "none"
    return str(value)


RunRef = Union[RunDir, str]


def _run_dirs(out: Path, runs: Sequence[RunRef]) -> list[RunDir]:
    """Run directories from RunDirs or experiment names (a name means the preset's run, no overrides)."""
    return [r if isinstance(r, RunDir) else RunDir(out, r) for r in runs]


def collect_blocks(out: Path, runs: Sequence[RunRef], preset: str) -> list[Block]:
    dirs = {r.dirname: r for r in _run_dirs(out, runs) if r.file(RunDir.SUMMARY).exists()}
    summaries = {n: load_summary(r) for n, r in dirs.items()}
    configs = {n: load_config(r) for n, r in dirs.items()}
    wall = sum(float(load_timings(r).get("wall_s") or 0.0) for r in dirs.values())
    blocks = [Block("h1", "diffregimes — reproduction report"),
              Block("p", f"Package version {__version__}; preset **{preset}**; generated "
                         f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; "
                         f"compute time of the runs in this report {wall:.1f} s. Times are OU time t unless an "
                         "axis says otherwise; κ is the paper's per-dimension κ (62) unless stated.")]
    claim_rows = [[summaries[n]["title"].split(" — ")[0], c["claim"], c["paper"], c["ours"], _holds(c["holds"])]
                  for n in summaries for c in summaries[n]["claims"]]
    if claim_rows:
        blocks += [Block("h2", "Paper claims against our numbers"),
                   Block("table", header=("experiment", "claim", "paper", "ours", "holds?"), rows=claim_rows)]
    for section, heading in SECTIONS.items():
        members = [n for n in summaries if summaries[n].get("section") == section]
        if not members:
            continue
        blocks.append(Block("h2", heading))
        for name in members:
            blocks += _experiment_blocks(dirs[name], summaries[name], configs[name])
    return blocks


def _experiment_blocks(run: RunDir, summary: dict[str, Any], config: dict[str, Any]) -> list[Block]:
    blocks = [Block("h3", summary["title"])]
    for png in sorted(run.path.glob("*.png")):
        blocks.append(Block("img", text=summary["title"], path=png))
    params = ", ".join(f"{k} = {_fmt_value(v)}" for k, v in config["params"].items())
    wall = load_timings(run).get("wall_s")
    took = f"; run time {wall:.1f} s" if isinstance(wall, (int, float)) else ""
    blocks.append(Block("p", f"*Parameters:* {params}; seed {config['seed']}{took}."))
    overrides = config.get("overrides") or {}
    if overrides:
        changed = ", ".join(f"{k} = {_fmt_value(v['value'])} (preset {config.get('preset')}: {_fmt_value(v['preset'])})"
                            for k, v in overrides.items())
        blocks.append(Block("p", f"*Overrides:* {changed}; results in {run.dirname}/."))
    for note in summary.get("notes", []):
        blocks.append(Block("p", note))
    for table in summary.get("tables", []):
        blocks += [Block("p", f"**{table['title']}**"), Block("table", header=table["header"], rows=table["rows"])]
    headline = [[k, _fmt_value(v)] for k, v in summary["headline"].items()]
    if headline:
        blocks.append(Block("table", header=("headline number", "value"), rows=headline))
    return blocks


def render_markdown(blocks: Sequence[Block], root: Path) -> str:
    lines: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "img":
            lines += [f"![{b.text}]({b.path.relative_to(root).as_posix()})", ""]
        elif b.kind == "table":
            lines.append("| " + " | ".join(b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in b.rows]
            lines.append("")
    return "\n".join(lines)


def _inline_md(text: str) -> str:
    """The two inline Markdown forms the report uses (**bold**, *italic*) as HTML, after escaping."""
    import re

    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"\*(.+?)\*", r"<i>\1</i>", out)


def render_html(blocks: Sequence[Block]) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>diffregimes report</title><style>",
             "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}",
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;"
             "padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}",
             "</style></head><body>"]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            parts.append(f"<{b.kind}>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline_md(b.text)}</p>")
        elif b.kind == "img":
            data = base64.b64encode(b.path.read_bytes()).decode()
            parts.append(f"<p><img alt='{html.escape(b.text)}' src='data:image/png;base64,{data}'></p>")
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in b.rows)
            parts.append(f"<table><tr>{head}</tr>{body}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(out: Path, runs: Sequence[RunRef], preset: str) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html`` for the finished runs among ``runs`` (run
    directories, or experiment names for the preset's runs without overrides)."""
    blocks = collect_blocks(out, runs, preset)
    md, page = out / "report.md", out / "report.html"
    atomic_write_text(md, render_markdown(blocks, out))
    atomic_write_text(page, render_html(blocks))
    return md, page
