"""Numerics at the edges of the public API: refused with the project's error, or computed without
overflow and without RuntimeWarnings. Every expected number comes from a limit worked out by hand
in the test's comment, not from the code under test.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from diffregimes.cli import main
from diffregimes.errors import ValidationError
from diffregimes.theory import (
    CoupledOU,
    anisotropic_phase_grid,
    g_crit,
    single_mode_speciation_time,
    speciation_time,
    symmetric_collapse_time,
    symmetric_mode_collapse_times,
)
from diffregimes.theory.collapse import chi
from diffregimes.theory.phase import no_speciation_boundary


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _cli_json(capsys, *argv: str) -> dict:
    assert main(["theory", *argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no RuntimeWarning (or anything else) on stderr
    return json.loads(captured.out)


# ----------------------------------------------------------------------------- stability errors
@pytest.mark.parametrize("g", [1.0, -1.0, 1.5])
def test_symmetric_collapse_at_or_beyond_the_stability_limit_raises_the_stability_error(g):
    with pytest.raises(ValidationError, match=r"symmetric coupling needs beta > \|g\|: beta=1.0"):
        symmetric_collapse_time(1.0, g, 1.0, 1.0, 1.0)
    with pytest.raises(ValidationError, match=r"beta > \|g\|"):
        symmetric_mode_collapse_times(1.0, g, 1.0, 1.0, 1.0)


# ----------------------------------------------------------------------------- huge and tiny variances
def test_speciation_time_at_huge_noise_variance_is_its_limit():
    """sigma_W^2 -> inf at beta = 1, g = 0, sigma^2 = 1, m^2 = 2: c(t) ~ sigma^2 + sigma_W^2 t, and
    kappa ~ m^2 / c(t) = 1 at t = (m^2 - sigma^2) / sigma_W^2 = 1e-300 (was 7.58 with overflow warnings)."""
    model = CoupledOU.symmetric(1.0, 0.0, 1e300, 1.0, 2.0, 0.0)
    t_s = speciation_time(model)
    assert 0.0 <= t_s < 1e-13  # the root search resolves times to 1e-14
    assert single_mode_speciation_time(-1.0, 2.0, 1.0, 1e300) == pytest.approx(1e-300, rel=1e-9)


def test_slow_mode_limit_of_the_closed_form():
    """|lambda| -> 0: c(t) -> sigma^2 + sigma_W^2 t and kappa -> m^2 / c, so t_S -> (m^2 - sigma^2) / sigma_W^2."""
    assert single_mode_speciation_time(-1e-300, 2.0, 1.0, 2.0) == pytest.approx(0.5, rel=1e-12)
    assert single_mode_speciation_time(-1e-12, 3.0, 1.0, 4.0) == pytest.approx(0.5, rel=1e-9)


def test_huge_data_variance_does_not_overflow():
    """sigma^2 = 1e300, lambda = -1, sigma_W^2 = 2: c(t) = 1e300 e^{-2t} + 1 - e^{-2t}; kappa changes sign
    where c = sigma_W^2 / |lambda| = 2 and crosses 1 just after, at e^{-2t} ~ 1e-300: t ~ (1/2) ln 1e300."""
    t = single_mode_speciation_time(-1.0, 2.0, 1e300, 2.0)
    assert t == pytest.approx(0.5 * math.log(1e300), abs=0.01)


def test_collapse_at_huge_noise_variance():
    """sigma^2 / sigma_W^2 = r = 1e-300: chi ~ r / t per mode (67) at small t, and (1/4) 2 log(1 + chi) = alpha
    gives chi = e^{2 alpha} - 1, so t_C = r / (e^{2 alpha} - 1)."""
    assert symmetric_collapse_time(1.0, 0.0, 1.0, 1e300, 1.0) == pytest.approx(1e-300 / math.expm1(2.0), rel=1e-6)


def test_chi_at_long_times_underflows_quietly():
    """chi = (sigma^2 / sigma_W^2) 2|lambda| / (e^{2|lambda| t} - 1) (67): 2 e^{-2000} is below every double."""
    assert chi(-1.0, 1.0, 1.0, 1000.0) == 0.0
    assert chi(-1.0, 1.0, 1.0, 1.0) == pytest.approx(2 / math.expm1(2.0), rel=1e-14)


# ----------------------------------------------------------------------------- NaN inputs
def test_nan_in_a_phase_grid_input_raises_instead_of_meaning_no_speciation():
    with pytest.raises(ValidationError, match="g must be finite: 1 of 3 values are NaN"):
        anisotropic_phase_grid(np.array([0.0, np.nan, 1.0]), np.array([0.0]))
    with pytest.raises(ValidationError, match="theta must be finite"):
        anisotropic_phase_grid(np.array([0.0]), np.array([np.inf]))
    with pytest.raises(ValidationError, match="theta must be finite"):
        g_crit(np.array([0.0, np.nan]), 1.0, 1.0, 2.0, 1.0, 1.0)
    with pytest.raises(ValidationError, match="theta must be finite"):
        no_speciation_boundary(float("nan"))


def test_horizon_beyond_double_range_is_refused_naming_T():
    with pytest.raises(ValidationError, match=r"T must be a time horizon in \(0, 1e\+06\]: T=1e\+308"):
        speciation_time(CoupledOU.symmetric(), T=1e308)


# ----------------------------------------------------------------------------- the CLI at the edges
def test_cli_tiny_noise_never_prints_a_number_beside_none(capsys):
    """sigma_W^2 = 1e-300: kappa < 0 on [0, T] (the reverse drift is unstable), t_S = none; the closed-form
    crossing of the common mode lies far beyond T (~345), so it is reported as beyond T too."""
    result = _cli_json(capsys, "speciation", "--sigma-w2", "1e-300")
    assert result["t_s"] is None and result["t_s_plus"] == "beyond T" and result["stable"] is False


@pytest.mark.parametrize(
    "argv, key, expected",
    [
        # beta -> 0 (see test_slow_mode_limit_of_the_closed_form): t_S -> (m^2 - sigma^2) / sigma_W^2 = (2 - 1) / 2
        (("speciation", "--beta", "1e-300"), "t_s", 0.5),
        # sigma^2 = 1e300: t_max (75) = (sigma^2 / sigma_W^2) / (e^{2 alpha} - 1) = 5e299 / (e^2 - 1)
        (("collapse", "--sigma2", "1e300"), "t_max", 5e299 / math.expm1(2.0)),
        # sigma_W^2 = 1e300: t_C = r / (e^{2 alpha} - 1), r = 1e-300 (see test_collapse_at_huge_noise_variance)
        (("collapse", "--sigma-w2", "1e300"), "t_c", 1e-300 / math.expm1(2.0)),
    ],
)
def test_cli_extreme_values_compute_without_warnings(capsys, argv, key, expected):
    assert _cli_json(capsys, *argv)[key] == pytest.approx(expected, rel=1e-6)
