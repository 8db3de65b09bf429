"""Measurement protocols of the validation section and the App. C / validation experiments end to end."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from diffregimes.catalog import CATALOG
from diffregimes.cli import main
from diffregimes.execution.driver import produce
from diffregimes.experiments import get
from diffregimes.experiments.appc import sign_change
from diffregimes.experiments.validation import EXPERIMENTS as VALIDATION
from diffregimes.protocols.regimes import clone_agreement, crossing_time, participation_ratio, sign_classifier
from diffregimes.runstore import read_csv
from diffregimes.sde import MixtureSpec, MomentTable, PopulationScore, reverse_times
from diffregimes.sde.components import ComponentMixtureScore, product_mixture_means, sample_components
from diffregimes.theory import CoupledOU, cloning_agreement, posterior_snr
from diffregimes.work import UnitEnv


def test_product_mixture_means_have_the_requested_mode_norms():
    d = 12
    means, labels = product_mixture_means(0.7, 0.3, d)
    v_plus = torch.tensor([1.0, 1.0], dtype=torch.float64) / math.sqrt(2)
    v_minus = torch.tensor([1.0, -1.0], dtype=torch.float64) / math.sqrt(2)
    for mean, (s_plus, s_minus) in zip(means, labels.tolist()):
        mu_plus, mu_minus = v_plus @ mean, v_minus @ mean  # mode projections (53)
        assert float(mu_plus @ mu_plus) / d == pytest.approx(0.7, abs=1e-12)
        assert float(mu_minus @ mu_minus) / d == pytest.approx(0.3, abs=1e-12)
        assert float(mu_plus[0]) * s_plus > 0 and float(mu_minus[1]) * s_minus > 0


def test_component_score_matches_autograd_of_the_mixture_density():
    model = CoupledOU.symmetric(1.0, 0.4, 2.0, 1.0, 0.5, 0.5)
    means, _ = product_mixture_means(0.5, 0.5, 6)
    times = reverse_times(2.0, 4)
    table = MomentTable.build(model, times)
    score = ComponentMixtureScore.build(means, table)
    z = torch.randn((5, 2, 6), generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    i = 2
    C_inv, Phi = table.C_inv[i], table.Phi[i]
    drifted = torch.einsum("ij,cjd->cid", Phi, means)
    diff = z[:, None] - drifted[None]  # (B, K, k, d)
    quad = torch.einsum("bcid,ij,bcjd->bc", diff, C_inv, diff)
    log_p = torch.logsumexp(-0.5 * quad, dim=1).sum()
    (grad,) = torch.autograd.grad(log_p, z)
    assert torch.allclose(score(i, z.detach()), grad, atol=1e-12)


def test_two_component_score_equals_population_score():
    model = CoupledOU.anisotropic(1.0, 0.7, 2.0, 1.0, 1.0, 0.6, 0.4, 1.1)
    spec = MixtureSpec.from_model(model, 5)
    table = MomentTable.build(model, reverse_times(1.5, 3))
    means = torch.stack([spec.mu0, -spec.mu0])
    z = torch.randn((7, 2, 5), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for i in range(len(table)):
        assert torch.allclose(
            ComponentMixtureScore.build(means, table)(i, z), PopulationScore.build(spec, table)(i, z), atol=1e-12
        )


def test_clone_agreement_matches_exact_curve_within_monte_carlo_error():
    # With the exact score, clones restarted at t pick classes independently from P(s | x_t), so their
    # agreement is phi(a(t)) exactly (theory.cloning); Euler-Maruyama with h = 0.01 adds a small bias.
    d, masters = 16, 600
    model = CoupledOU.general(np.array([[-1.0]]), 2.0, np.eye(1), np.eye(1))
    spec = MixtureSpec.from_model(model, d)
    times = reverse_times(3.0, 300)
    table = MomentTable.build(model, times)
    gen = torch.Generator().manual_seed(3)
    z_T, _ = spec.sample(masters, gen, t=3.0)
    idx = np.array([100, 150, 200])
    phi = clone_agreement(PopulationScore.build(spec, table), table, z_T, idx, sign_classifier(spec.mu0[None]), gen)[
        :, 0
    ]
    theory = cloning_agreement(posterior_snr(model, times[idx], "total", d))
    se = np.sqrt(theory * (1 - theory) / masters)
    assert np.all(np.abs(phi - theory) < 5 * se + 0.01)


def test_product_mixture_sampling_covariance():
    model = CoupledOU.symmetric(1.0, 0.5, 2.0, 1.0, 0.0, 0.0)  # zero means: z ~ N(0, C(t))
    means, _ = product_mixture_means(0.0, 0.0, 4)
    z, _ = sample_components(model, means, 40000, 0.7, torch.Generator().manual_seed(4))
    C = model.moments(0.7).C
    emp = torch.einsum("nid,njd->ij", z, z).numpy() / (z.shape[0] * z.shape[2])
    n = z.shape[0] * z.shape[2]
    se = np.sqrt((np.outer(np.diag(C), np.diag(C)) + C**2) / n)
    assert np.all(np.abs(emp - C) < 5 * se)


def test_participation_ratio_limits():
    # one training point: the single weight is 1, so Y2 = 1; n identical points: uniform weights, Y2 = 1/n.
    z = torch.randn((3, 1, 4), dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    Phi, Q = torch.tensor([[0.8]], dtype=torch.float64), torch.tensor([[0.3]], dtype=torch.float64)
    one = torch.randn((1, 1, 4), dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    assert torch.allclose(participation_ratio(z, one, Phi, Q), torch.ones(3, dtype=torch.float64))
    same = one.expand(7, 1, 4)
    assert torch.allclose(participation_ratio(z, same, Phi, Q, chunk=3), torch.full((3,), 1 / 7, dtype=torch.float64))


def test_crossing_time_and_sign_change_by_hand():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    # values 1, 0.8, 0.4, 0.2: level 0.5 is crossed between t=1 (0.8) and t=2 (0.4): 1 + 0.3/0.4 = 1.75
    assert crossing_time(t, np.array([1.0, 0.8, 0.4, 0.2]), 0.5) == pytest.approx(1.75)
    assert math.isnan(crossing_time(t, np.array([0.3, 0.2, 0.1, 0.0]), 0.5))
    # -1 at 0, +1 at pi/2: zero halfway, pi/4
    assert sign_change(np.array([0.0, np.pi / 2]), np.array([-1.0, 1.0])) == pytest.approx(np.pi / 4)
    assert sign_change(np.array([0.0, 1.0]), np.array([-1.0, -0.5])) is None


def _smoke(tmp_path, name):
    run_dir, _ = produce(name, "smoke", tmp_path, show_progress=False)
    assert list(run_dir.path.glob("*.png"))
    return read_csv(run_dir.file("data.csv")), json.loads(run_dir.file("summary.json").read_text())["headline"]


def _corrected_66(lam, m2, sigma2=1.0, sigma_w2=2.0):
    """t_S of one mode by hand: the root of (65), a = -sigma_W^2 / (2 lam (m^2 + sqrt(m^4 + B^2))),
    B = sigma^2 + sigma_W^2 / (2 lam), t = log(a) / (2 lam) (erratum 1)."""
    B = sigma2 + sigma_w2 / (2 * lam)
    return math.log(-sigma_w2 / (2 * lam * (m2 + math.sqrt(m2**2 + B**2)))) / (2 * lam)


def test_val_speciation_smoke_values(tmp_path):
    data, h = _smoke(tmp_path, "val_speciation")
    # one modality, beta = 1, sigma_W^2 = 2, unit variance and per-coordinate mean 1: c(t) = 1, so
    # a(t) = d e^{-2t} (Biroli: a = 1 at (1/2) log d) and total kappa = 2 d e^{-2t} (= 1 at (1/2) log 2d)
    assert h["d16_ts_biroli"] == pytest.approx(0.5 * math.log(16), abs=1e-9)
    assert h["d16_ts_kappa_total"] == pytest.approx(0.5 * math.log(32), abs=1e-9)
    assert np.all(np.abs(data["phi"] - data["phi_theory"]) <= 4 * data["phi_se"])  # binomial Monte Carlo error


def test_val_sync_smoke_values(tmp_path):
    _, h = _smoke(tmp_path, "val_sync")
    for g in (0.0, 0.5):  # smoke: d = 8, m+^2 = m-^2 = 1; total convention: norms d m^2
        assert h[f"g{g:g}_ts_plus_total"] == pytest.approx(_corrected_66(-1 + g, 8.0), abs=1e-9)
        assert h[f"g{g:g}_ts_minus_total"] == pytest.approx(_corrected_66(-1 - g, 8.0), abs=1e-9)


def test_val_collapse_smoke_values(tmp_path):
    _, h = _smoke(tmp_path, "val_collapse")
    # n = 64 points in d = 4, sigma^2 = 1: t_C = (1/2) log(1 + sigma^2 / (n^{2/d} - 1)) = (1/2) log(8/7)
    assert h["n64_d4_tc_theory"] == pytest.approx(0.5 * math.log(8 / 7), abs=1e-12)


def test_the_validation_package_gathers_its_three_experiments():
    assert [exp.name for exp in VALIDATION] == ["val_speciation", "val_sync", "val_collapse"]
    assert all(get(exp.name) is exp for exp in VALIDATION)


@pytest.mark.parametrize(
    ("name", "cells"),
    [
        ("val_speciation", lambda cfg: len(cfg.dims)),
        ("val_sync", lambda cfg: len(cfg.g_values)),
        # one unit per (n, d) case, one for all per-mode cells (they share one generator)
        ("val_collapse", lambda cfg: len(cfg.cases) + 1),
    ],
)
def test_validation_units_are_distinct_picklable_cells_weighted_by_the_catalog(name, cells):
    exp = get(name)
    quick_s = next(e.quick_s for e in CATALOG if e.name == name)
    for preset in ("smoke", "quick", "paper"):
        cfg = exp.config.preset(preset)
        made = exp.units(cfg, UnitEnv(seed=0, device="cpu", out="/nonexistent"))
        assert len(made) == cells(cfg) and len({u.key for u in made}) == len(made)
        assert all(u.label.startswith(name + " ") and u.cost > 0 for u in made)
        assert pickle.loads(pickle.dumps(made))[0].key == made[0].key
        if preset == "quick":
            assert sum(u.cost for u in made) == pytest.approx(quick_s)


def test_a_cell_keeps_its_unit_key_when_other_cells_are_added():
    # each unit's config is narrowed to its own cell: a stored result stays valid when the lists of cells change
    env = UnitEnv(seed=0, device="cpu", out="/nonexistent")
    for name, field, more in (
        ("val_speciation", "dims", [16, 32]),
        ("val_sync", "g_values", [0.0, 0.5, 0.7]),
        ("val_collapse", "cases", [[64, 4], [128, 5]]),
    ):
        exp = get(name)
        cfg = exp.config.preset("smoke")
        before, after = exp.units(cfg, env), exp.units(cfg.replace(**{field: more}), env)
        assert after[0].key == before[0].key and len(after) == len(before) + 1
        if name == "val_collapse":  # the per-mode unit does not read the cases
            assert after[-1].key == before[-1].key


def test_appc_baseline_rows_have_zero_delta(tmp_path):
    run_dir, _ = produce("appc", "smoke", tmp_path, show_progress=False)
    data = read_csv(run_dir.file("data.csv"))
    base = data["schedule"] == "baseline"
    assert base.any() and np.all(data["d_acc"][base] == 0) and np.all(data["d_mse"][base] == 0)
    required = {"theta", "schedule", "g0", "acc", "mse", "nll", "d_acc", "d_mse", "d_nll", "se_acc", "se_mse", "se_nll"}
    assert required <= set(data)


def test_cli_appc_flags(tmp_path, capsys):
    assert (
        main(
            [
                "fig",
                "12",
                "--preset",
                "smoke",
                "--m2",
                "0.3",
                "--t0",
                "0.5",
                "--trials",
                "16",
                "--steps",
                "40",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    (run,) = tmp_path.glob("appc-*")  # runs with overrides live in <name>-<hash of the overrides>
    params = json.loads((run / "config.json").read_text())["params"]
    assert params["m2"] == 0.3 and params["t0"] == 0.5 and params["trials"] == 16 and params["n_steps"] == 40
    capsys.readouterr()
    assert main(["fig", "4", "--m2", "0.3", "--out", str(tmp_path)]) == 2
    assert "figs 12-14 only" in capsys.readouterr().err
