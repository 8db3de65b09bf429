"""Input validation of the theory layer's public entry points (DESIGN §3).

A bad value must raise ValueError whose message names the value and the valid range, e.g.
"symmetric coupling needs beta > |g|: beta=1.0, g=1.2". The expected messages below are written from
that convention, not copied from the code's output.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from diffregimes.theory import (
    CoupledOU,
    CouplingSchedule,
    anisotropic,
    anisotropic_kappa0,
    anisotropic_phase_grid,
    check_stable,
    collapse_upper_bound,
    g_crit,
    kappa,
    mode_collapse_time,
    propagate,
    single_mode_speciation_time,
    speciation_time,
    stability,
    symmetric,
    symmetric_kappa,
)

NAN = float("nan")


def raises(fn, *patterns):
    with pytest.raises(ValueError) as info:
        fn()
    msg = str(info.value)
    for p in patterns:
        assert re.search(p, msg), f"{p!r} not in {msg!r}"
    return msg


# ----------------------------------------------------------------------------- relaxation matrices
def test_symmetric_coupling_message_exact():
    msg = raises(lambda: symmetric(1.0, 1.2))
    assert msg == "symmetric coupling needs beta > |g|: beta=1.0, g=1.2"
    msg = raises(lambda: CoupledOU.symmetric(beta=1.0, g=1.2))
    assert msg == "symmetric coupling needs beta > |g|: beta=1.0, g=1.2"


@pytest.mark.parametrize("g", [1.0, -1.0, -3.0])
def test_symmetric_coupling_boundary_and_negative(g):
    raises(lambda: CoupledOU.symmetric(beta=1.0, g=g), r"beta > \|g\|", r"beta=1.0", rf"g={g}")


def test_with_coupling_validates_symmetric():
    raises(lambda: CoupledOU.symmetric(beta=1.0, g=0.2).with_coupling(1.5), r"beta > \|g\|: beta=1.0, g=1.5")


def test_with_coupling_validates_anisotropic_finite_g():
    raises(lambda: CoupledOU.anisotropic(beta=1.0, g=0.2).with_coupling(NAN), r"g must be a finite number", "nan")


def test_anisotropic_needs_positive_beta():
    raises(lambda: anisotropic(0.0, 1.0), r"beta > 0", r"beta=0")
    raises(lambda: CoupledOU.anisotropic(beta=-1.0), r"beta must be > 0", r"beta=-1")


@pytest.mark.parametrize(
    "M,patterns",
    [
        (np.array([[0.1, 0.0], [0.0, -1.0]]), [r"negative real part", r"max Re\(eig\)=0.1", r"< 0"]),
        # trace 0.5, det -0.5 + 4 = 3.5: eig = 0.25 +- i sqrt(3.4375), a growing spiral
        (np.array([[1.0, 2.0], [-2.0, -0.5]]), [r"negative real part", r"max Re\(eig\)=0.25", r"< 0"]),
        # eig -1 and 0: marginal, not Hurwitz
        (np.array([[-1.0, 0.0], [3.0, 0.0]]), [r"negative real part", r"max Re\(eig\)=0", r"< 0"]),
        (-np.ones((2, 3)), [r"square", r"shape=\(2, 3\)"]),
    ],
)
def test_general_rejects_non_hurwitz_or_non_square(M, patterns):
    raises(lambda: CoupledOU.general(M, 1.0, np.eye(M.shape[0]), np.eye(M.shape[0])), *patterns)
    raises(lambda: check_stable(M), *patterns)


# ----------------------------------------------------------------------------- variances, norms, NaN
@pytest.mark.parametrize(
    "kwargs,patterns",
    [
        (dict(sigma2=-1.0), [r"sigma2 must be > 0", r"sigma2=-1.0"]),
        (dict(sigma2=0.0), [r"sigma2 must be > 0", r"sigma2=0.0"]),
        (dict(sigma_w2=-2.0), [r"sigma_w2 must be > 0", r"sigma_w2=-2.0"]),
        (dict(beta=0.0), [r"beta must be > 0", r"beta=0.0"]),
        (dict(m_plus2=-0.5), [r"m_plus2 must be >= 0", r"m_plus2=-0.5"]),
        (dict(m_minus2=-1e-3), [r"m_minus2 must be >= 0", r"m_minus2=-0.001"]),
        (dict(g=NAN), [r"g must be a finite number", r"g=nan"]),
        (dict(sigma2=NAN), [r"sigma2 must be a finite number", r"sigma2=nan"]),
        (dict(beta=float("inf")), [r"beta must be a finite number", r"beta=inf"]),
    ],
)
def test_symmetric_model_bad_inputs(kwargs, patterns):
    raises(lambda: CoupledOU.symmetric(**kwargs), *patterns)


@pytest.mark.parametrize(
    "kwargs,patterns",
    [
        (dict(sigma_x2=-0.5), [r"sigma_x2 must be > 0", r"sigma_x2=-0.5"]),
        (dict(sigma_y2=0.0), [r"sigma_y2 must be > 0", r"sigma_y2=0.0"]),
        (dict(sigma_w2=-1.0), [r"sigma_w2 must be > 0", r"sigma_w2=-1.0"]),
        (dict(mx2=-1.0), [r"mx2 must be >= 0", r"mx2=-1.0"]),
        (dict(theta=NAN), [r"theta must be a finite number", r"theta=nan"]),
        (dict(g=NAN), [r"g must be a finite number", r"g=nan"]),
    ],
)
def test_anisotropic_model_bad_inputs(kwargs, patterns):
    raises(lambda: CoupledOU.anisotropic(**kwargs), *patterns)


def test_general_model_bad_shapes_and_noise():
    raises(lambda: CoupledOU.general(-np.eye(2), 1.0, np.eye(3), np.eye(2)), r"2 x 2", r"\(3, 3\)")
    raises(lambda: CoupledOU.general(-np.eye(2), -1.0, np.eye(2), np.eye(2)), r"sigma_w2 must be > 0", r"sigma_w2=-1.0")
    raises(lambda: CoupledOU.general(-np.eye(2), 1.0, np.diag([1.0, -0.5]), np.eye(2)), r"sigma0", r"positive definite")
    raises(lambda: CoupledOU.general(-np.eye(2), 1.0, np.eye(2), np.diag([1.0, -0.3])), r"gram", r"semi-definite")


@pytest.mark.parametrize("case", ["nan_M", "sigma0", "gram", "times"])
def test_messages_name_the_offending_value(case):
    fn, value = {
        "nan_M": (lambda: CoupledOU.general(np.array([[NAN, 0.0], [0.0, -1.0]]), 1.0, np.eye(2), np.eye(2)), "nan"),
        "sigma0": (lambda: CoupledOU.general(-np.eye(2), 1.0, np.diag([1.0, -0.5]), np.eye(2)), "-0.5"),
        "gram": (lambda: CoupledOU.general(-np.eye(2), 1.0, np.eye(2), np.diag([1.0, -0.3])), "-0.3"),
        "times": (
            lambda: propagate(-np.eye(2), np.zeros((2, 2)), CouplingSchedule.constant(0.0), 1.0, np.array([0.1, -0.7])),
            "-0.7",
        ),
    }[case]
    raises(fn, re.escape(value))


# ----------------------------------------------------------------------------- speciation / collapse / phase
def test_unknown_convention_and_missing_d():
    raises(
        lambda: kappa(CoupledOU.symmetric(), 0.3, "totals"),
        r"unknown kappa convention 'totals'",
        r"valid are \('per-dim', 'total'\)",
    )
    raises(lambda: speciation_time(CoupledOU.symmetric(), "total"), r"d >= 1", r"d=None")


def test_unknown_schedule_name():
    raises(
        lambda: CouplingSchedule.from_name("linear", 0.5, 0.3),
        r"unknown schedule 'linear'",
        r"\['constant', 'early', 'late'\]",
    )


def test_speciation_time_grid_arguments():
    raises(lambda: speciation_time(CoupledOU.symmetric(), T=0.0), r"T must be > 0", r"T=0.0")
    raises(lambda: speciation_time(CoupledOU.symmetric(), n_grid=4), r"n_grid must be >= 8", r"n_grid=4")


def test_single_mode_needs_decaying_mode():
    raises(lambda: single_mode_speciation_time(0.2, 1.0, 1.0, 2.0), r"lambda < 0", r"lambda=0.2")
    raises(lambda: single_mode_speciation_time(-1.0, -1.0, 1.0, 2.0), r"m2 must be >= 0", r"m2=-1.0")
    raises(lambda: single_mode_speciation_time(-1.0, 1.0, -1.0, 2.0), r"sigma2 must be > 0", r"sigma2=-1.0")


def test_collapse_entry_points():
    raises(lambda: mode_collapse_time(0.0, 1.0, 1.0, 1.0), r"tau must be > 0", r"tau=0.0")
    raises(lambda: mode_collapse_time(1.0, 1.0, 1.0, -0.5), r"alpha must be > 0", r"alpha=-0.5")
    raises(lambda: collapse_upper_bound(-1.0, 1.0, 1.0), r"sigma2 must be > 0", r"sigma2=-1.0")
    raises(lambda: collapse_upper_bound(1.0, 1.0, NAN), r"alpha must be a finite number", r"alpha=nan")


def test_phase_grid_arguments():
    raises(lambda: anisotropic_phase_grid([0.5], [0.1], beta=0.0), r"beta must be > 0", r"beta=0.0")
    raises(lambda: anisotropic_phase_grid([0.5], [0.1], factor=0.0), r"factor must be > 0", r"factor=0.0")
    raises(lambda: anisotropic_phase_grid([0.5], [0.1], mx2=-1.0), r"mx2 must be >= 0", r"mx2=-1.0")
    raises(lambda: anisotropic_phase_grid([0.5], [0.1], n_coarse=3), r"n_coarse must be >= 8", r"n_coarse=3")


# ----------------------------------------------------------------------------- validation of the closed-form helpers
def test_symmetric_kappa_rejects_unstable_coupling():
    raises(lambda: symmetric_kappa(1.0, 1.2, 1.0, 2.0, 1.0, 1.0, 0.5), r"beta > \|g\|", r"g=1.2")


@pytest.mark.parametrize("fn", ["kappa0", "g_crit"])
def test_kappa0_closed_form_rejects_singular_r(fn):
    call = {
        "kappa0": lambda: anisotropic_kappa0(1.0, 0.5, 1.0, 1.0, 1.0, 1.0, 0.0),
        "g_crit": lambda: g_crit(0.0, 1.0, 1.0, 1.0, 1.0, 1.0),
    }[fn]
    raises(call, r"beta", r"sigma_w2|sigma2|r")


def test_g_crit_rejects_negative_variance():
    raises(lambda: g_crit(0.0, 1.0, -1.0, 2.0, 1.0, 1.0), r"sigma2 must be > 0", r"sigma2=-1.0")


def test_kappa_rejects_negative_time_for_constant_coupling():
    raises(lambda: kappa(CoupledOU.symmetric(), -0.5), r">= 0", r"-0.5")


def test_kappa_rejects_negative_time_for_scheduled_coupling():
    raises(lambda: kappa(CoupledOU.symmetric(g=CouplingSchedule.late(0.2, 0.3)), np.array([0.1, -0.5])), r">= 0")


def test_stability_rejects_non_positive_horizon():
    raises(lambda: stability(CoupledOU.symmetric(), T=-1.0), r"T must be > 0", r"T=-1.0")
