"""The files a Python research package is expected to carry: LICENSE, CITATION.cff and CHANGELOG.md agree
with the package metadata (pyproject.toml and ``diffregimes.__version__``) and with the paper's title page."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

import diffregimes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test extra installs tomli there
    tomllib = pytest.importorskip("tomli")
yaml = pytest.importorskip("yaml", reason="PyYAML reads CITATION.cff (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
#: the paper's title and authors as its title page prints them (docs of the paper, not our metadata)
PAPER_TITLE = "Dynamical Regimes of Multimodal Diffusion Models"
PAPER_AUTHORS = [("Emil", "Albrychiewicz"), ("Andrés", "Franco Valiente"), ("Li-Ching", "Chen")]


def _citation() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def _person(entry: dict[str, Any]) -> str:
    """An author entry of CFF 1.2.0: an entity (``name``) or a person (``given-names`` ``family-names``)."""
    if "name" in entry:
        return str(entry["name"])
    return f"{entry.get('given-names', '')} {entry['family-names']}".strip()


def test_license_file_is_the_mit_license_the_metadata_declares():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert PYPROJECT["license"] == "MIT" and text.splitlines()[0] == "MIT License"
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text
    holder = re.search(r"^Copyright \(c\) \d{4} (.+)$", text, flags=re.M)
    assert holder and holder.group(1) == PYPROJECT["authors"][0]["name"]
    assert "LICENSE" in PYPROJECT["license-files"]  # shipped in the sdist and the wheel


def test_citation_file_is_cff_1_2_0_for_this_version_and_license():
    cff = _citation()
    assert cff["cff-version"] == "1.2.0"
    assert {"cff-version", "message", "title", "authors"} <= set(cff)  # the keys CFF 1.2.0 requires
    assert cff["type"] == "software" and cff["message"].strip()
    assert cff["license"] == PYPROJECT["license"]
    assert cff["version"] == PYPROJECT["version"] == diffregimes.__version__
    assert [_person(a) for a in cff["authors"]] == [a["name"] for a in PYPROJECT["authors"]]


def test_citation_names_the_paper_with_its_title_and_authors():
    (paper,) = [r for r in _citation()["references"] if r["title"] == PAPER_TITLE]
    assert paper["type"] == "article"
    assert [(a["given-names"], a["family-names"]) for a in paper["authors"]] == PAPER_AUTHORS
    text = (ROOT.parent / "shared" / "paper" / "multimodal-dynamical-regimes.txt").resolve()
    if text.is_file():  # the paper's own title page, where a checkout has it beside
        head = text.read_text(encoding="utf-8")[:3000]
        assert PAPER_TITLE in head and all(f"{g} {f}" in head for g, f in PAPER_AUTHORS)


def test_changelog_follows_keep_a_changelog_and_names_the_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n") and "keepachangelog.com" in text
    sections = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert sections and sections[0] == "Unreleased"
    assert f"version, {diffregimes.__version__}" in text
