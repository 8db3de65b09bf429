"""report.md and report.html show the same figures, byte for byte and in the same order, and every image of
report.html loads in a real browser (headless Chromium).

Checked on a report built here (Figs 1-5 at the smoke preset) and on every report committed under
docs/results/. The number of figures expected comes from the catalog (each experiment's figure stems), and
each image's pixel width from its PNG header, not from the report builder.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import THEORY_FIGURES

from diffregimes.catalog import CATALOG

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "docs" / "results").glob("**/report.md"))
FIGURES_PER_RUN = {e.name: len(e.figures) for e in CATALOG}


class _Images(HTMLParser):
    """The ``src`` of every ``<img>`` of a page, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def html_images(page: Path) -> list[bytes]:
    """The bytes of each image of an HTML page, in order: decoded from a data: URI, or read from the file the
    ``src`` names (relative to the page)."""
    parser = _Images()
    parser.feed(page.read_text(encoding="utf-8"))
    out = []
    for src in parser.sources:
        head, _, data = src.partition(",")
        if head.startswith("data:"):
            assert head.endswith(";base64"), head
            out.append(base64.b64decode(data))
        else:
            out.append((page.parent / src).read_bytes())
    return out


def markdown_figures(md: Path) -> list[Path]:
    """The image files a Markdown report shows, in order: ``![alt](path)`` and any raw ``<img src=...>``."""
    text = md.read_text(encoding="utf-8")
    found = re.finditer(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)|<img\b[^>]*\bsrc=[\"']([^\"']+)[\"']", text)
    return [md.parent / (m.group(1) or m.group(2)) for m in found]


def png_width(data: bytes) -> int:
    """The width in pixels from a PNG's IHDR chunk (bytes 16-20)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">I", data[16:20])[0]


def _same_figures(md: Path, page: Path) -> list[Path]:
    figures = markdown_figures(md)
    shown = html_images(page)
    assert len(shown) == len(figures), (md, len(shown), len(figures))
    for i, (path, data) in enumerate(zip(figures, shown)):
        assert path.read_bytes() == data, f"{page.name}: image {i + 1} is not {path.relative_to(md.parent)}"
    return figures


def test_built_report_shows_the_markdown_figures_in_the_html(theory_smoke_report):
    out = theory_smoke_report
    figures = _same_figures(out / "report.md", out / "report.html")
    assert len(figures) == sum(FIGURES_PER_RUN[n] for n in THEORY_FIGURES)
    assert [p.parent.name for p in figures] == [n for n in THEORY_FIGURES for _ in range(FIGURES_PER_RUN[n])]


def test_a_changed_figure_file_is_noticed(tmp_path, theory_smoke_report):
    """The comparison can fail: a report whose figure file changed after the HTML embedded it (issue 20's
    stale Fig. 10) is caught."""
    out = tmp_path / "report"
    shutil.copytree(theory_smoke_report, out)
    (out / "fig2" / "figure.png").write_bytes((out / "fig1" / "figure.png").read_bytes())
    with pytest.raises(AssertionError, match="image 2 is not fig2/figure.png"):
        _same_figures(out / "report.md", out / "report.html")


@pytest.mark.parametrize("md", COMMITTED, ids=[str(p.parent.relative_to(ROOT)) for p in COMMITTED])
def test_committed_report_shows_the_markdown_figures_in_the_html(md):
    assert _same_figures(md, md.with_suffix(".html"))


def test_the_evidence_report_is_among_the_committed_ones():
    assert ROOT / "docs" / "results" / "evidence" / "report.md" in COMMITTED


# ----------------------------------------------------------------------------- a real browser
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
#: written into the page on window 'load' (every image loaded or failed by then): how many images there are,
#: which did not load (a missing file, bytes that are no image: no natural width) and their natural widths
PROBE = """<script>
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var probe = document.createElement('pre');
  probe.id = 'image-probe';
  probe.textContent = JSON.stringify({
    count: images.length,
    broken: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; }),
    widths: images.map(function (i) { return i.naturalWidth; })
  });
  document.body.appendChild(probe);
});
</script>"""


def browser_images(page: Path, tmp: Path) -> dict:
    """Open a copy of ``page`` (with its sibling folders, for linked images) in headless Chromium and return
    what the probe saw after 'load': {"count", "broken" (alt texts), "widths" (natural, in pixels)}."""
    site = tmp / "site"
    shutil.copytree(page.parent, site, ignore=shutil.ignore_patterns("*.npz", "*.pt", "*.safetensors", "_*"))
    probed = site / "probed.html"
    text = page.read_text(encoding="utf-8")
    probed.write_text(text.replace("</body>", PROBE + "</body>") if "</body>" in text else text + PROBE, "utf-8")
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp / 'profile'}"]
    argv += ["--virtual-time-budget=10000", "--dump-dom", probed.as_uri()]
    dom = subprocess.run(argv, capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"<pre id=\"image-probe\">(.*?)</pre>", dom, flags=re.S)
    assert found, f"the probe did not run in Chromium; DOM starts {dom[:200]!r}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium); .ci/run installs it"
)
@pytest.mark.parametrize("which", ["built", *[str(p.parent.relative_to(ROOT)) for p in COMMITTED]])
def test_every_image_of_the_html_report_loads_in_a_browser(which, theory_smoke_report, tmp_path):
    md = theory_smoke_report / "report.md" if which == "built" else ROOT / which / "report.md"
    figures = markdown_figures(md)
    seen = browser_images(md.with_suffix(".html"), tmp_path)
    assert seen["broken"] == [] and seen["count"] == len(figures) > 0
    assert seen["widths"] == [png_width(p.read_bytes()) for p in figures]


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium); .ci/run installs it"
)
def test_the_browser_probe_sees_a_broken_image(tmp_path, theory_smoke_report):
    """The probe can fail: of a good embedded PNG, bytes that are no image and a missing file, the last two are
    reported. (A truncated PNG is drawn in part, and decodes: the byte comparison above is what catches it.)"""
    good = base64.b64encode((theory_smoke_report / "fig1" / "figure.png").read_bytes()).decode()
    page = tmp_path / "page" / "report.html"
    page.parent.mkdir()
    page.write_text(
        "<!doctype html><html><body>"
        f"<img alt='good' src='data:image/png;base64,{good}'>"
        f"<img alt='garbage' src='data:image/png;base64,{base64.b64encode(b'not a PNG' * 50).decode()}'>"
        "<img alt='missing' src='nowhere/figure.png'></body></html>",
        encoding="utf-8",
    )
    seen = browser_images(page, tmp_path)
    assert seen["count"] == 3 and seen["broken"] == ["garbage", "missing"]
    assert seen["widths"][0] == png_width((theory_smoke_report / "fig1" / "figure.png").read_bytes())
