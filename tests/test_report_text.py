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


def test_models_are_named_by_the_seed_index_the_data_files_use():
    """data.csv numbers the seeds 0, 1, ...; a model's label must say the same, not its derived weight seed."""
    from diffregimes.experiments.mnist.training import model_seed, seed_name
    from diffregimes.seeds import derive_seed

    assert model_seed(0, 1) == derive_seed(0, "mnist-model", 1)  # the seed the label is decoded from
    assert seed_name(model_seed(0, 0)) == "seed 0" and seed_name(model_seed(0, 1)) == "seed 1"
    assert seed_name(model_seed(7, 1), run_seed=7) == "seed 1"
    assert seed_name(123) == "seed=123"  # not a model seed of run 0: shown as it is
