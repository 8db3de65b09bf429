"""The reproduction report: one Markdown and one self-contained HTML file built from saved runs.

Both are rendered from the same list of blocks, so they always say the same thing. Images are
linked in Markdown and embedded (base64) in HTML. The report is meant to be read on its own: every
correction of the paper is stated where a number depends on it (the experiments' notes), never by
reference to a document the reader may not have.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

from .. import __version__
from ..runstore import RunDir, atomic_write_text, load_config, load_summary, load_timings
from .glance import conclusion, glance

SECTIONS = {
    "theory": "Theory: coupled Ornstein–Uhlenbeck speciation and collapse (paper §3–4, Figs 1–5)",
    "validation": "Validation: measured regimes beside the theory (exact-score simulations)",
    "appc": "App. C: exact-score conditional generation (Figs 12–14)",
    "manifold": "Manifold data model: speciation and collapse against ψ = p/d (docs/manifold.md)",
    "mnist": "MNIST synchronization experiment (paper §5, Table 1, Figs 6–11)",
}
#: what each section is, said once at its top (set-up shared by all of its experiments follows it)
INTROS = {
    "theory": "Values of the coupled OU theory on the parameters of the paper's Figs 1–5, from closed forms and "
    "exact moments (matrix exponentials, Van Loan); no simulation, so every number is exact to the root "
    "finder's tolerance (1e-10). κ is the paper's per-dimension κ (62) throughout this section.",
    "validation": "Simulations with the exact score (of the Gaussian mixture, or of the n training points for "
    "collapse) that measure speciation by cloning and collapse by condensation, set beside the theory. "
    "They decide between the two κ conventions: the per-dimension κ (62) of the paper's figures and "
    "the total κ = d·κ_per-dim whose crossing of 1 a d-dimensional sampler shows.",
    "appc": "The experiment of the paper's App. C with the exact score: source X, target Y at angle θ, reverse "
    "Euler–Maruyama under the constant, late and early coupling schedules (144). Without a learnt network, "
    "every difference from the uncoupled baseline (g0 = 0) is the coupling's.",
    "manifold": "The companion result on manifold data: latent z = sμ + ξ ∈ R^p embedded in R^d (ψ = p/d) by "
    "x = F(Wz/√p) (random features) or x = Uz (orthonormal). Theory: collapse from (1/d) I(x; x_t) = α "
    "(replica-symmetric GLM formula, Marchenko–Pastur, closed form), speciation from κ = 1 of the "
    "Gaussian-equivalent mixture. Simulations: the exact empirical score of n = e^{αd} training points "
    "with clones. Derivations in docs/manifold.md.",
    "mnist": "Trained ε-prediction U-Nets on paired MNIST (paper §5). Protocol I (Table 1, Figs 6–9) follows "
    "deterministic DDIM trajectories: when the common mode u = (x_A + x_B)/√2 and the difference mode v "
    "stabilise, ghosting, and a v-only intervention. Protocol II (Figs 10–11) clones whitened-DDPM "
    "trajectories and reads when each mode's class is decided. Units: DDPM step k (reverse time runs from "
    "k = T−1 to 0) and OU time t = −½ log ᾱ_k.",
}
#: claim kind -> (heading, anchor, what the table is, name of the reference column)
CLAIM_TABLES = {
    "paper": (
        "The paper's claims against our numbers",
        "claims",
        "Each row is a statement of the paper, the value the paper gives, ours, and whether the statement "
        "holds for our number.",
        "paper",
    ),
    "finding": (
        "Our additional findings",
        "findings",
        "Checks beyond the paper's own statements: against another reference (Biroli et al. 2024 for one "
        "modality) or on a convention the paper leaves open.",
        "reference",
    ),
}
VERDICTS = {"holds": "✓ holds", "fails": "✗ fails", "inconclusive": "? inconclusive"}
LEGEND = (
    "✓ holds: our number satisfies the statement; ✗ fails: it does not; ? inconclusive: the interval of our "
    "number admits both outcomes; – no verdict: the row sets two values side by side without a criterion "
    "(the reason is given in the row)."
)


@dataclass(frozen=True)
class Block:
    """One piece of the report, rendered alike to Markdown and HTML."""

    kind: str  # "h1" | "h2" | "h3" | "p" | "table" | "img" | "toc" | "box" (a framed list: rows of one cell)
    text: str = ""
    header: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    path: Path | None = None
    anchor: str = ""
    items: Sequence[tuple[int, str, str]] = ()  # toc: (level, text, anchor)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "none"
    return str(value)


def verdict(claim: dict[str, Any]) -> str:
    """The verdict cell: ``verdict`` (holds/fails/inconclusive) when present, else the older ``holds`` bool; a
    claim that does not hold says why where its experiment knows (``why``)."""
    if claim.get("verdict") is not None:
        text = VERDICTS.get(str(claim["verdict"]), str(claim["verdict"]))
        return f"{text} — why: {claim['why']}" if claim.get("why") and claim["verdict"] != "holds" else text
    holds = claim.get("holds")
    if holds is None:
        note = claim.get("note", "")
        return f"– no verdict: {note}" if note else "– no verdict"
    return VERDICTS["holds" if holds else "fails"]


def _claim_table(rows: list[tuple[str, dict[str, Any]]], reference: str) -> Block:
    with_interval = any(c.get("interval") for _, c in rows)
    header = ["experiment", "statement", reference, "ours", *(["interval"] if with_interval else []), "verdict"]
    body = [
        [exp, c["claim"], c["paper"], c["ours"], *([str(c.get("interval") or "")] if with_interval else []), verdict(c)]
        for exp, c in rows
    ]
    return Block("table", header=header, rows=body)


RunRef = Union[RunDir, str]


def _run_dirs(out: Path, runs: Sequence[RunRef]) -> list[RunDir]:
    """Run directories from RunDirs or experiment names (a name means the preset's run, no overrides)."""
    return [r if isinstance(r, RunDir) else RunDir(out, r) for r in runs]


def collect_blocks(out: Path, runs: Sequence[RunRef], preset: str) -> list[Block]:
    """The report's blocks for the finished runs among ``runs`` (run directories or experiment names),
    in report order. Runs are keyed by directory, so a run with overrides is told apart from the preset's."""
    dirs = {r.dirname: r for r in _run_dirs(out, runs) if r.file(RunDir.SUMMARY).exists()}
    summaries = {n: load_summary(r) for n, r in dirs.items()}
    configs = {n: load_config(r) for n, r in dirs.items()}
    wall = sum(float(load_timings(r).get("wall_s") or 0.0) for r in dirs.values())
    # "Fig. 4", "Table 1" name a paper's figure; other titles ("Validation — ...") say less than the run's name
    short = {
        n: t if (t := s["title"].split(" — ")[0]).startswith(("Fig", "Table")) else n for n, s in summaries.items()
    }
    claims = [(short[n], c) for n in summaries for c in summaries[n]["claims"]]

    body: list[Block] = []
    toc: list[tuple[int, str, str]] = []
    for kind, (heading, anchor, intro, reference) in CLAIM_TABLES.items():
        rows = [(e, c) for e, c in claims if c.get("kind", "paper") == kind]
        if rows:
            toc.append((1, heading, anchor))
            body += [
                Block("h2", heading, anchor=anchor),
                Block("p", f"{intro} {LEGEND}"),
                _claim_table(rows, reference),
            ]
    for section, heading in SECTIONS.items():
        members = [n for n in summaries if summaries[n].get("section") == section]
        if not members:
            continue
        shared = _shared_notes([summaries[n].get("notes", []) for n in members])
        toc.append((1, heading, f"section-{section}"))  # "appc" is also an experiment's anchor
        body += [Block("h2", heading, anchor=f"section-{section}"), Block("p", INTROS[section])]
        decided = [(short[n], c) for n in members for c in summaries[n]["claims"] if c.get("kind", "paper") == "paper"]
        if decided:
            body.append(Block("p", conclusion(decided)))
        if shared:
            body += [Block("p", "*Common to the experiments of this section:*")] + [Block("p", n) for n in shared]
        first_seen: dict[str, str] = {}
        for name in members:
            toc.append((2, summaries[name]["title"], name))
            body += _experiment_blocks(dirs[name], summaries[name], configs[name], shared, first_seen)
    header = [
        Block("h1", "diffregimes — reproduction report"),
        Block(
            "p",
            f"Package version {__version__}; preset **{preset}**; generated "
            f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}; "
            f"compute time of the runs in this report {wall:.1f} s. Times are OU time t unless an "
            "axis says otherwise; κ is the paper's per-dimension κ (62) unless stated. Equation "
            "numbers (n) are the paper's.",
        ),
        Block("box", "At a glance", rows=[[line] for line in glance(summaries, configs, claims, wall, preset)]),
    ]
    if toc:
        header += [Block("h2", "Contents", anchor="contents"), Block("toc", items=toc)]
    return header + body


def _shared_notes(notes: list[list[str]]) -> list[str]:
    """Notes that every experiment of a section (two or more) repeats: said once, at the section's top."""
    if len(notes) < 2:
        return []
    return [n for n in notes[0] if all(n in other for other in notes[1:])]


def _experiment_blocks(
    run: RunDir, summary: dict[str, Any], config: dict[str, Any], shared: Sequence[str], first_seen: dict[str, str]
) -> list[Block]:
    title = summary["title"]
    blocks = [Block("h3", title, anchor=run.dirname)]
    for png in sorted(run.path.glob("*.png")):
        blocks.append(Block("img", text=title, path=png))
    params = ", ".join(f"{k} = {_fmt_value(v)}" for k, v in config["params"].items())
    wall = load_timings(run).get("wall_s", summary.get("wall_s"))  # summaries of older runs held it
    took = f"; run time {wall:.1f} s" if isinstance(wall, (int, float)) else ""
    blocks.append(Block("p", f"*Parameters:* {params}; seed {config['seed']}{took}."))
    overrides = config.get("overrides") or {}
    if overrides:
        changed = ", ".join(
            f"{k} = {_fmt_value(v['value'])} (preset {config.get('preset')}: {_fmt_value(v['preset'])})"
            for k, v in overrides.items()
        )
        blocks.append(Block("p", f"*Overrides:* {changed}; results in {run.dirname}/."))
    for note in summary.get("notes", []):
        if note in shared:
            continue
        if note in first_seen:  # said in full under an earlier experiment of this section
            blocks.append(Block("p", f"*As under {first_seen[note]}:* {_gist(note)}"))
            continue
        first_seen[note] = title.split(" — ")[0]
        blocks.append(Block("p", note))
    for table in summary.get("tables", []):
        blocks += [Block("p", f"**{table['title']}**"), Block("table", header=table["header"], rows=table["rows"])]
    headline = [[k, _fmt_value(v)] for k, v in summary["headline"].items()]
    if headline:
        blocks.append(Block("table", header=("headline number", "value"), rows=headline))
    return blocks


def render_markdown(blocks: Sequence[Block], root: Path) -> str:
    """The report as Markdown; images are linked relative to ``root``."""
    lines: list[str] = []
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            if b.anchor:
                lines.append(f'<a id="{b.anchor}"></a>')
            lines += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "box":
            lines += [f"> **{b.text}**", ">"] + [f"> - {row[0]}" for row in b.rows] + [""]
        elif b.kind == "img":
            lines += [f"![{b.text}]({b.path.relative_to(root).as_posix()})", ""]
        elif b.kind == "toc":
            lines += ["  " * (level - 1) + f"- [{text}](#{anchor})" for level, text, anchor in b.items]
            lines.append("")
        elif b.kind == "table":
            lines.append("| " + " | ".join(str(h).replace("|", "\\|") for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in b.rows]
            lines.append("")
    return "\n".join(lines)


def _inline_md(text: str) -> str:
    """The two inline Markdown forms the report uses (**bold**, *italic*) as HTML, after escaping."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"\*(.+?)\*", r"<i>\1</i>", out)


def _html_toc(items: Sequence[tuple[int, str, str]]) -> str:
    parts, level = [], 0
    for depth, text, anchor in items:
        if depth > level:
            parts.append("<ul>" * (depth - level))
        elif depth < level:
            parts.append("</li></ul>" * (level - depth) + "</li>")
        elif parts:
            parts.append("</li>")
        parts.append(f"<li><a href='#{html.escape(anchor)}'>{html.escape(text)}</a>")
        level = depth
    parts.append("</li></ul>" * level)
    return "".join(parts)


def render_html(blocks: Sequence[Block]) -> str:
    """The report as one self-contained HTML page (images embedded as base64)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>diffregimes report</title><style>",
        "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}",
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}"
        ".glance{border:2px solid #444;border-radius:6px;padding:0.6em 1em;margin:1em 0;background:#fafafa}",
        "</style></head><body>",
    ]
    for b in blocks:
        if b.kind in ("h1", "h2", "h3"):
            ident = f" id='{html.escape(b.anchor)}'" if b.anchor else ""
            parts.append(f"<{b.kind}{ident}>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{_inline_md(b.text)}</p>")
        elif b.kind == "box":
            items = "".join(f"<li>{_inline_md(row[0])}</li>" for row in b.rows)
            parts.append(f"<div class='glance'><b>{html.escape(b.text)}</b><ul>{items}</ul></div>")
        elif b.kind == "img":
            data = base64.b64encode(b.path.read_bytes()).decode()
            parts.append(f"<p><img alt='{html.escape(b.text)}' src='data:image/png;base64,{data}'></p>")
        elif b.kind == "toc":
            parts.append(_html_toc(b.items))
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


def _gist(note: str, limit: int = 90) -> str:
    """The first sentence of a note said in full earlier, or its words up to ``limit`` characters with an
    ellipsis: never a word cut in half."""
    first = note.split(". ", 1)[0].rstrip(".")
    if len(first) <= limit:
        return first + ("." if first != note.rstrip(".") or note.endswith(".") else "")
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
