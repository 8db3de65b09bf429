"""Report text (issue 20): a note repeated under a later experiment is recalled by its gist, never cut mid-word."""

from __future__ import annotations

from diffregimes.report.build import _gist


def test_gist_is_the_first_sentence_when_short():
    assert _gist("Data: the embedded subset; transform T = edge. The rest is detail.") == (
        "Data: the embedded subset; transform T = edge."
    )
    assert _gist("One sentence only") == "One sentence only"


def test_gist_of_a_long_sentence_ends_on_a_whole_word():
    note = "Trajectories of x̂0 are logged at every step; " * 5
    gist = _gist(note, limit=60)
    assert gist.endswith(" …") and len(gist) <= 62
    words = gist.removesuffix(" …").split()
    assert words == note.split()[: len(words)]  # every word whole, in order
