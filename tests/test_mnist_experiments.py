"""MNIST experiments (Table 1, Figs 6-11): cached resumable training and end-to-end smoke runs
through the report pipeline and the CLI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from diffregimes.cli import main
from diffregimes.experiments.mnist_common import images_for, train_or_load, train_spec, training_params
from diffregimes.experiments.runstore import RunDir, read_csv
from diffregimes.report import produce, write_report

pytest.importorskip("diffusers")
pytest.importorskip("mlxtend")

MNIST_EXPERIMENTS = ("table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11")




# ----------------------------------------------------------------------------- training
def _tiny_params(steps: int = 12) -> dict:
    p = training_params("smoke")
    p.update({"train_steps": steps, "checkpoint_every": 4})
    return p


class Interrupt(Exception):
    pass


def _stop_after(n: int):
    def progress(iterable, desc, total):
        for i, item in enumerate(iterable):
            if i == n:
                raise Interrupt
            yield item
    return progress


def test_interrupted_training_resumes_bit_identically(tmp_path):
    p = _tiny_params()
    spec = train_spec(p, "ctrl", 0.3, 0, 30, "cpu")
    ref = train_or_load(spec, tmp_path / "a", "cpu", None, checkpoint_every=4)
    with pytest.raises(Interrupt):  # steps 0..5 run; the checkpoint of step 4 is on disk
        train_or_load(spec, tmp_path / "b", "cpu", None, progress=_stop_after(6), checkpoint_every=4)
    assert (tmp_path / "b" / "_models" / f"{spec.key}.partial.pt").exists()
    resumed = train_or_load(spec, tmp_path / "b", "cpu", None, checkpoint_every=4)
    assert resumed.stats["resumed_from"] == 4 and not resumed.stats["cached"]
    for (name, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert not (tmp_path / "b" / "_models" / f"{spec.key}.partial.pt").exists()


def test_finished_model_is_loaded_not_retrained(tmp_path):
    spec = train_spec(_tiny_params(4), "main", 0.0, 1, 30, "cpu")
    first = train_or_load(spec, tmp_path, "cpu", None)
    again = train_or_load(spec, tmp_path, "cpu", None, progress=_stop_after(0))  # would raise if it trained
    assert again.stats["cached"] and again.stats["images_per_s"] == first.stats["images_per_s"]
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    other = train_spec(_tiny_params(4), "main", 0.5, 1, 30, "cpu")
    assert other.key != spec.key  # g is part of the model's identity


def test_stratified_subset_and_two_class_relabelling():
    _, labels = images_for(None, None, 240)
    assert torch.bincount(labels).tolist() == [24] * 10
    _, two = images_for(None, [7, 3], 100)
    assert torch.bincount(two).tolist() == [50, 50]  # digit 7 -> 0, digit 3 -> 1


# ----------------------------------------------------------------------------- end to end (smoke)
@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist_smoke")
    runs = {name: produce(name, "smoke", root, show_progress=False)[0] for name in MNIST_EXPERIMENTS}
    return root, runs


def _summary(run: RunDir) -> dict:
    return json.loads(run.file("summary.json").read_text())


def test_every_experiment_writes_its_files_and_shares_models(smoke_runs):
    root, runs = smoke_runs
    for name, run in runs.items():
        for f in ("config.json", "data.csv", "summary.json", "figure.png", "figure.pdf"):
            assert run.file(f).stat().st_size > 0, (name, f)
        assert _summary(run)["section"] == "mnist"
    models = sorted(p.name for p in (root / "_models").glob("*.pt"))
    # table1: MAIN/CTRL x g in {0, 0.5}; figs 6-9 reuse them; figs 10-11: two two-class models + classifiers
    assert len(models) == 7 and not any(m.endswith(".partial.pt") for m in models)
    _, reused = produce("table1", "smoke", root, show_progress=False)
    assert reused


def test_table1_gaps_are_consistent_and_reported(smoke_runs):
    root, runs = smoke_runs
    d = read_csv(runs["table1"].file("data.csv"))
    T = json.loads(runs["table1"].file("config.json").read_text())["params"]["T"]
    assert np.all((d["t_u"] >= 0) & (d["t_u"] <= T - 1) & (d["t_v"] >= 0) & (d["t_v"] <= T - 1))
    assert np.array_equal(d["dt"], d["t_v"] - d["t_u"])  # (100)
    assert np.allclose(d["dt_T200"], d["dt"] * 200 / T)
    s = _summary(runs["table1"])
    assert s["tables"][0]["title"].startswith("Table 1") and len(s["tables"][0]["rows"]) == 2  # g in {0, 0.5}
    assert [type(c["holds"]) for c in s["claims"]] == [bool] * 3
    md, _ = write_report(root, list(MNIST_EXPERIMENTS), "smoke")
    assert "Table 1 — Δt(τ)" in md.read_text() and "|Δt| MAIN ÷ CTRL" in md.read_text()


def test_fig6_fig7_curves_end_at_one_and_ghosting_identity(smoke_runs):
    _, runs = smoke_runs
    d6 = read_csv(runs["fig6"].file("data.csv"))
    last = d6["k"] == 0  # m_* is the prediction at k = 0, so its cosine to itself is 1 (98)
    assert last.sum() == 4 and np.allclose(d6["cos_u"][last], 1) and np.allclose(d6["cos_v"][last], 1)
    d7 = read_csv(runs["fig7"].file("data.csv"))
    assert np.allclose(d7["gi"], 2 * d7["c_u"] - d7["c_a"] - d7["c_b"])  # (108)


def test_fig8_fig9_arrays(smoke_runs):
    _, runs = smoke_runs
    with np.load(runs["fig8"].file("data.npz")) as z:
        n = len(z["k"])
        assert z["states"].shape == (n, 2, 28, 28) and z["x0"].shape == (n, 2, 28, 28) and z["k"][-1] == 0
    d9 = read_csv(runs["fig9"].file("data.csv"))
    assert np.all(d9["rms_du"] >= 0) and np.all(d9["rms_dv"] > 0)  # sigma > 0 moves v at least
    assert d9["paper_point"].sum() == 2  # one paper-step row per pairing
    k_paper = _summary(runs["fig9"])["headline"]["k_int"]
    assert k_paper == round(260 / 500 * 30)


def test_fig10_fig11_protocol2_tables(smoke_runs):
    _, runs = smoke_runs
    p = json.loads(runs["fig10"].file("config.json").read_text())["params"]
    d10 = read_csv(runs["fig10"].file("data.csv"))
    assert len(d10["g"]) == 2 * len(p["g_values"])
    assert np.all(d10["pairs"] == p["masters"] * p["trials"])
    d11 = read_csv(runs["fig11"].file("data.csv"))
    assert np.all((d11["phi"] >= 0) & (d11["phi"] <= 1) & (d11["phi_lo"] <= d11["phi"]) & (d11["phi"] <= d11["phi_hi"]))
    h = _summary(runs["fig10"])["headline"]
    assert 0.5 <= h["acc_u"] <= 1 and 0.5 <= h["acc_v"] <= 1


# ----------------------------------------------------------------------------- CLI --mnist
def test_cli_mnist_flag(tmp_path, capsys):
    images, labels = images_for(None, None, 240)
    npz = tmp_path / "mini.npz"
    np.savez(npz, x=(images.numpy() * 255).round().astype(np.uint8), y=labels.numpy())
    out = tmp_path / "runs"
    assert main(["fig", "8", "--preset", "smoke", "--mnist", str(npz), "--out", str(out), "--no-progress"]) == 0
    (run,) = out.glob("fig8-*")  # --mnist is an override: its own run directory beside the preset's
    config = json.loads((run / "config.json").read_text())
    assert config["params"]["mnist_path"] == str(npz.resolve())
    assert main(["fig", "1", "--preset", "smoke", "--mnist", str(npz), "--out", str(out)]) == 2
    assert "--mnist applies to the MNIST experiments only" in capsys.readouterr().err
    assert main(["table", "1", "--mnist", str(tmp_path / "missing.npz"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- Protocol II claims
def _curve(t, lo, hi):
    from types import SimpleNamespace
    return SimpleNamespace(t_spec=t, t_spec_lo=lo, t_spec_hi=hi)


def test_protocol2_gap_claims_follow_the_numbers():
    from diffregimes.experiments.mnist import _gap_claims

    per_g = {0.0: {"curves": {"u": _curve(25.0, 20.0, 30.0), "v": _curve(24.0, 22.0, 32.0)}},
             0.5: {"curves": {"u": _curve(50.0, 45.0, 55.0), "v": _curve(20.0, 15.0, 25.0)}}}
    at0, wider = _gap_claims(per_g)
    assert at0.holds is True and "+1.0 steps" in at0.ours  # intervals [20, 30] and [22, 32] overlap
    assert wider.holds is True and "+30.0 steps at g = 0.5" in wider.ours
    per_g[0.0]["curves"]["v"] = _curve(5.0, float("nan"), 8.0)  # lower bound below the scan range -> k = 0
    per_g[0.5]["curves"]["u"] = _curve(10.0, 8.0, 12.0)  # v first at g = 0.5: gap -10 < gap(0) = +20
    at0, wider = _gap_claims(per_g)
    assert at0.holds is False and wider.holds is False  # [20, 30] vs [0, 8] are disjoint
