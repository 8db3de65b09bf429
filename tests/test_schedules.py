"""Piecewise-constant coupling schedules g(t) (144) and exact piecewise propagation of the moments.

References: schedule values read off (144) by hand; moments from a fine ODE integration
(scipy solve_ivp, DOP853, rtol 1e-11) of dPhi/dt = M(t) Phi and dSigma/dt = M Sigma + Sigma M^T + sigma_W^2 I,
restarted at every breakpoint so that the integrator never steps across a jump of M(t).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from diffregimes.theory import CoupledOU, CouplingSchedule, kappa, propagate
from diffregimes.theory.relaxation import anisotropic_direction, symmetric_direction


# ----------------------------------------------------------------------------- values of (144)
def test_constant_schedule_values():
    s = CouplingSchedule.constant(0.7)
    np.testing.assert_array_equal(s(np.array([0.0, 0.3, 5.0, 1e6])), [0.7, 0.7, 0.7, 0.7])


def test_late_schedule_values_away_from_switch():
    """g_late(t) = g0 1{t <= t0}: coupling on at small forward times only."""
    s = CouplingSchedule.late(0.5, 0.3)
    np.testing.assert_array_equal(s(np.array([0.0, 0.1, 0.2999, 0.3001, 1.0, 10.0])), [0.5, 0.5, 0.5, 0, 0, 0])


def test_early_schedule_values_including_switch():
    """g_early(t) = g0 1{t >= t0}, so g_early(t0) = g0 by (144)."""
    s = CouplingSchedule.early(1.0, 0.4)
    np.testing.assert_array_equal(s(np.array([0.0, 0.3999, 0.4, 0.4001, 3.0])), [0, 0, 1.0, 1.0, 1.0])


def test_late_schedule_is_on_at_the_switch_time():
    s = CouplingSchedule.late(0.5, 0.3)
    assert float(s(0.3)) == 0.5


def test_custom_breakpoints_and_from_name():
    s = CouplingSchedule((0.5, 1.0, 2.0), (0.1, -0.2, 0.3, 0.0))
    t = np.array([0.0, 0.49, 0.5, 0.99, 1.0, 1.5, 2.0, 7.0])
    np.testing.assert_array_equal(s(t), [0.1, 0.1, -0.2, -0.2, 0.3, 0.3, 0.0, 0.0])
    assert CouplingSchedule.from_name("late", 0.5, 0.3) == CouplingSchedule.late(0.5, 0.3)
    assert CouplingSchedule.from_name("early", 0.5, 0.3) == CouplingSchedule.early(0.5, 0.3)
    assert CouplingSchedule.from_name("constant", 0.5, 0.3) == CouplingSchedule.constant(0.5)


# ----------------------------------------------------------------------------- exact propagation vs ODE
def ode_moments(base, direction, schedule, sigma_w2, sigma0, times):
    """(Phi, Sigma) at `times` by integrating the moment ODEs segment by segment."""
    k = base.shape[0]
    edges = [0.0, *schedule.breakpoints, np.inf]
    times = np.asarray(times, float)
    out_phi, out_sig = np.empty((times.size, k, k)), np.empty((times.size, k, k))
    y = np.concatenate([np.eye(k).ravel(), np.asarray(sigma0, float).ravel()])
    t_end = times.max()
    for j, g in enumerate(schedule.values):
        lo, hi = edges[j], min(edges[j + 1], t_end)
        if lo > t_end:
            break
        M = base + g * direction

        def rhs(_t, y, M=M):
            Phi, Sig = y[: k * k].reshape(k, k), y[k * k :].reshape(k, k)
            return np.concatenate([(M @ Phi).ravel(), (M @ Sig + Sig @ M.T + sigma_w2 * np.eye(k)).ravel()])

        # times in this half-open segment [lo, edges[j+1]) plus the segment end
        sel = np.flatnonzero((times >= lo) & (times < edges[j + 1]))
        t_eval = np.unique(np.concatenate([[lo], times[sel], [hi]]))
        if hi > lo:
            sol = solve_ivp(rhs, (lo, hi), y, method="DOP853", rtol=1e-11, atol=1e-13, t_eval=t_eval)
            assert sol.success
            ys = sol.y.T
        else:
            ys = y[None, :]
        for i in sel:
            row = ys[np.searchsorted(t_eval, times[i])]
            out_phi[i], out_sig[i] = row[: k * k].reshape(k, k), row[k * k :].reshape(k, k)
        y = ys[-1]
    return out_phi, out_sig


TIMES = np.array([0.0, 0.05, 0.29, 0.3, 0.31, 0.8, 1.0, 1.7, 2.0, 2.6])


@pytest.mark.parametrize("name", ["late", "early", "custom"])
def test_anisotropic_scheduled_moments_match_ode(name):
    schedule = {
        "late": CouplingSchedule.late(1.0, 0.3),
        "early": CouplingSchedule.early(1.5, 0.3),
        "custom": CouplingSchedule((0.3, 1.0, 2.0), (0.8, -0.5, 2.0, 0.2)),
    }[name]
    model = CoupledOU.anisotropic(beta=1.0, g=schedule, sigma_w2=2.0, sigma_x2=0.7, sigma_y2=1.2)
    m = model.moments(TIMES)
    Phi_ref, Sig_ref = ode_moments(model.base, anisotropic_direction(), schedule, 2.0, model.sigma0, TIMES)
    np.testing.assert_allclose(m.transition, Phi_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(m.C, Sig_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(m.C, m.S + m.Q, rtol=0, atol=1e-14)
    # Q alone is the ODE from Sigma(0) = 0
    _, Q_ref = ode_moments(model.base, anisotropic_direction(), schedule, 2.0, np.zeros((2, 2)), TIMES)
    np.testing.assert_allclose(m.Q, Q_ref, rtol=0, atol=1e-8)
    # M in force at each time
    np.testing.assert_array_equal(m.M[:, 1, 0], schedule(TIMES))


def test_propagate_symmetric_schedule_matches_ode():
    schedule = CouplingSchedule((0.4, 1.1), (0.6, -0.3, 0.9))
    base, direction = -1.0 * np.eye(2), symmetric_direction()
    Phi, Q = propagate(base, direction, schedule, 1.3, TIMES)
    Phi_ref, Q_ref = ode_moments(base, direction, schedule, 1.3, np.zeros((2, 2)), TIMES)
    np.testing.assert_allclose(Phi, Phi_ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(Q, Q_ref, rtol=0, atol=1e-8)


def test_propagate_keeps_the_shape_of_t():
    schedule = CouplingSchedule.late(0.5, 0.3)
    t = np.array([[0.1, 0.5, 1.0], [2.0, 0.2, 0.0]])
    Phi, Q = propagate(-np.eye(2), symmetric_direction(), schedule, 2.0, t)
    assert Phi.shape == Q.shape == (2, 3, 2, 2)
    Phi_flat, Q_flat = propagate(-np.eye(2), symmetric_direction(), schedule, 2.0, t.ravel())
    np.testing.assert_array_equal(Phi.reshape(-1, 2, 2), Phi_flat)
    np.testing.assert_array_equal(Q.reshape(-1, 2, 2), Q_flat)


def test_constant_schedule_equals_constant_coupling():
    t = np.linspace(0.0, 5.0, 23)
    for g in (0.0, 0.8, 2.5):
        a = CoupledOU.anisotropic(g=CouplingSchedule.constant(g), sigma_x2=0.5, mx2=1.2, theta=0.7)
        b = CoupledOU.anisotropic(g=g, sigma_x2=0.5, mx2=1.2, theta=0.7)
        for x, y in zip(a.moments(t), b.moments(t)):
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-13)
        np.testing.assert_allclose(kappa(a, t), kappa(b, t), rtol=1e-12, atol=1e-14)


def test_equal_values_on_every_segment_compose_to_the_constant_model():
    """The semigroup property: splitting [0, t] at breakpoints with the same g changes nothing."""
    t = np.linspace(0.0, 4.0, 17)
    split = CoupledOU.symmetric(g=CouplingSchedule((0.25, 1.0, 3.0), (0.4, 0.4, 0.4, 0.4)))
    plain = CoupledOU.symmetric(g=0.4)
    for x, y in zip(split.moments(t), plain.moments(t)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "breakpoints,values,fragment",
    [
        ((0.5, 0.5), (0.0, 1.0, 2.0), "strictly increasing"),
        ((1.0, 0.5), (0.0, 1.0, 2.0), "strictly increasing"),
        ((0.5,), (0.0,), "len(values) = len(breakpoints) + 1"),
        ((0.5,), (0.0, 1.0, 2.0), "len(values) = len(breakpoints) + 1"),
        ((-0.5,), (0.0, 1.0), "breakpoint[0] must be >= 0: breakpoint[0]=-0.5"),
        ((0.5,), (0.0, float("nan")), "g[1] must be a finite number"),
    ],
)
def test_schedule_validation(breakpoints, values, fragment):
    with pytest.raises(ValueError) as info:
        CouplingSchedule(breakpoints, values)
    assert fragment in str(info.value)


@pytest.mark.parametrize("maker", [CouplingSchedule.late, CouplingSchedule.early])
def test_switch_time_must_be_positive(maker):
    with pytest.raises(ValueError, match=r"t0 must be > 0|switch time must be > 0: t0=0"):
        maker(0.5, 0.0)


def test_unknown_schedule_name():
    with pytest.raises(ValueError, match=r"unknown schedule 'sometimes'.*constant.*early.*late"):
        CouplingSchedule.from_name("sometimes", 0.5, 0.3)


def test_symmetric_schedule_values_must_be_stable():
    with pytest.raises(ValueError, match=r"beta > \|g\|: beta=1.0, g=1.2"):
        CoupledOU.symmetric(beta=1.0, g=CouplingSchedule.late(1.2, 0.3))


def test_propagate_rejects_negative_times():
    with pytest.raises(ValueError, match=">= 0"):
        propagate(-np.eye(2), symmetric_direction(), CouplingSchedule.constant(0.2), 2.0, np.array([0.1, -0.1]))


# ----------------------------------------------------------------------------- with_coupling
def test_general_model_with_a_direction_takes_a_coupling():
    """CoupledOU.general(M, ..., direction=N).with_coupling(g) has M(g) = M + g N; with N the symmetric
    direction (2) its kappa is the closed form (62) at g (symmetric_kappa, per-mode formula (63))."""
    from diffregimes.theory import symmetric_kappa

    beta, g, sw2, mp2, mm2 = 1.0, 0.7, 2.0, 2.0, 0.5
    v = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)  # columns v_+, v_- (50): gram = V diag(m+^2, m-^2) V^T
    general = CoupledOU.general(
        -beta * np.eye(2), sw2, np.eye(2), v @ np.diag([mp2, mm2]) @ v.T, direction=symmetric_direction()
    )
    coupled = general.with_coupling(g)
    np.testing.assert_array_equal(coupled.M(), -beta * np.eye(2) + g * symmetric_direction())
    t = np.linspace(0.0, 3.0, 13)
    np.testing.assert_allclose(kappa(coupled, t), symmetric_kappa(beta, g, 1.0, sw2, mp2, mm2, t), rtol=1e-12)
    with pytest.raises(ValueError, match=r"max Re\(eig\)=0.5"):
        general.with_coupling(1.5)  # M + 1.5 N has the eigenvalue -beta + g = 0.5 > 0


def test_general_model_without_a_direction_refuses_a_coupling():
    model = CoupledOU.general(np.array([[-1.0, 0.3], [0.2, -1.5]]), 2.0, np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="no coupling direction"):
        model.with_coupling(0.7)
