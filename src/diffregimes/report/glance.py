"""What a reader needs in the first screen of a report: what was run against what the paper ran, the compute,
the verdicts on one line, why the failures fail, and the caveats; and one concluding paragraph per section.

Pure functions of the runs' summaries and configurations (as read from disk by :mod:`.build`), returning text:
the report's two formats are rendered from it by :mod:`.build`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

#: what each preset is, for the reader who did not choose it
PRESET_SCALE = {
    "smoke": "tiny sizes that exercise every code path in seconds (the tests); nothing in it is evidence",
    "quick": "reduced sizes (minutes on 2 cores): the theory and exact-score parts are exact at their sizes; the "
    "MNIST parts, where present, use small U-Nets trained briefly and are pipeline checks, not results",
    "evidence": "the paper's U-Net and recipe at a reduced training budget, sized to decide the §5 claims on "
    "2 CPU cores",
    "paper": "the paper's sizes (≈ 19,000 training steps per model, 4 seeds, g ∈ {0, 0.3, 0.5, 0.7})",
    "robustness": "the evidence recipe at several training budgets, transforms and readings (issue 16)",
}
Claims = Sequence[tuple[str, Mapping[str, Any]]]


def verdict_of(claim: Mapping[str, Any]) -> str:
    """holds / fails / inconclusive / none: the claim's verdict (older summaries held a bool ``holds``)."""
    if claim.get("verdict") is not None:
        return str(claim["verdict"])
    holds = claim.get("holds")
    return "none" if holds is None else "holds" if holds else "fails"


def verdict_line(claims: Claims) -> str:
    """'5 hold, 3 fail, 4 inconclusive, 1 without a verdict' (only the counts that occur)."""
    n = Counter(verdict_of(c) for _, c in claims)
    words = (("holds", "hold"), ("fails", "fail"), ("inconclusive", "inconclusive"), ("none", "without a verdict"))
    return ", ".join(f"{n[k]} {w}" for k, w in words if n[k]) or "no claims"


def _failures(claims: Claims) -> list[str]:
    """One line per failing claim; claims of one experiment failing for the same stated reason share a line."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for exp, c in claims:
        if verdict_of(c) == "fails":
            why = c.get("why") or ""
            grouped.setdefault((exp, why), []).append(c["claim"])
    return [f"{exp}: {'; '.join(names)} — {why or 'why is not yet known'}." for (exp, why), names in grouped.items()]


def what_was_run(summaries: Mapping[str, Mapping[str, Any]], preset: str) -> list[str]:
    """The preset in one sentence, and each distinct 'What was run' note of the experiments (their scale
    against the paper's)."""
    lines = [f"Preset **{preset}**: {PRESET_SCALE.get(preset, 'custom sizes (parameters under each figure)')}."]
    seen: list[str] = []
    for s in summaries.values():
        for note in s.get("notes", []):
            # experiments sharing models say nearly the same (one g fewer, no seed count): said once
            if note.startswith("What was run:") and all(_similarity(note, n) < NEAR_DUPLICATE for n in seen):
                seen.append(note)
    return lines + seen


NEAR_DUPLICATE = 0.9


def _similarity(a: str, b: str) -> float:
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a, b).ratio()


def compute_line(wall_s: float, configs: Mapping[str, Mapping[str, Any]]) -> str:
    """The runs' compute time and where their models came from (training done in the runs is inside it)."""
    dirs = sorted({str(d) for c in configs.values() if (d := c.get("params", {}).get("models_dir"))})
    text = (
        f"Compute: {format_hours(wall_s)} for the runs in this report: the work done in them, training included; "
        "work reused from an earlier run is not counted"
    )
    if dirs:
        text += f"; the trained models were loaded from {', '.join(dirs)} (trained beforehand)"
    return text + "."


def format_hours(seconds: float) -> str:
    """3134 -> '52 min', 9180 -> '2 h 33 min', 41 -> '41 s'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(round(seconds / 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def findings(summaries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """An experiment's conclusions in its own words: the notes that lead with a bold label (``**Label.** ...``)."""
    return [n for s in summaries.values() for n in s.get("notes", []) if n.startswith("**")]


def caveats(summaries: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Notes that qualify the verdicts: sample-quality gate warnings (pipeline checks, marginal models)."""
    keys = ("PIPELINE CHECK", "marginal")
    out: list[str] = []
    for s in summaries.values():
        for note in s.get("notes", []):
            if any(k in note for k in keys) and note not in out:
                out.append(note)
    return out


def glance(
    summaries: Mapping[str, Mapping[str, Any]],
    configs: Mapping[str, Mapping[str, Any]],
    claims: Claims,
    wall_s: float,
    preset: str,
) -> list[str]:
    """The at-a-glance box's lines, in reading order."""
    paper = [(e, c) for e, c in claims if c.get("kind", "paper") == "paper"]
    lines = what_was_run(summaries, preset) + [compute_line(wall_s, configs)]
    if paper:
        lines.append(f"Verdicts on the paper's claims: {verdict_line(paper)}.")
        lines += [f"Fails — {f}" for f in _failures(paper)]
    lines += findings(summaries)
    found = [(e, c) for e, c in claims if c.get("kind") == "finding"]
    if found:
        lines.append(f"Our additional findings: {verdict_line(found)}.")
    lines += [f"Caveat — {c}" for c in caveats(summaries)] or ["Caveats: none recorded by the runs."]
    return lines


def conclusion(claims: Claims) -> str:
    """One paragraph deciding a section: its claims by verdict, and why each failure fails where known."""
    if not claims:
        return ""
    groups: dict[str, list[str]] = {}
    for exp, c in claims:
        groups.setdefault(verdict_of(c), []).append(f"{c['claim']} ({exp})")
    parts = [f"**Conclusion.** Of {len(claims)} claim{'s' if len(claims) != 1 else ''}: {verdict_line(claims)}."]
    names = {"holds": "Holds", "fails": "Fails", "inconclusive": "Inconclusive", "none": "Without a verdict"}
    for key, name in names.items():
        if groups.get(key):
            parts.append(f"{name}: {'; '.join(groups[key])}.")
    whys = [f"{c['claim']}: {c['why']}" for _, c in claims if verdict_of(c) != "holds" and c.get("why")]
    if whys:
        parts.append("Why: " + " ".join(w.rstrip(".") + "." for w in whys))
    return " ".join(parts)
