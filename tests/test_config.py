"""Typed, frozen configs made from each experiment's declarations: the same parameters as a planned run,
validated on construction, immutable, and usable to run exactly that configuration."""

from __future__ import annotations

import dataclasses
import json

import pytest

from diffregimes.errors import ValidationError
from diffregimes.execution.driver import produce
from diffregimes.experiments import config_class, get, registry
from diffregimes.experiments.base import plan_run


@pytest.mark.parametrize("name", registry.names())
def test_every_preset_config_equals_the_planned_parameters(name, tmp_path):
    exp = get(name)
    cls = config_class(exp)
    assert cls.__name__.endswith("Config") and [f.name for f in dataclasses.fields(cls)] == list(exp.params("smoke"))
    for preset in exp.presets:
        # the run layer plans the preset on its own path: the config must carry exactly what a run is keyed on
        assert cls.preset(preset).as_params() == plan_run(exp, preset, tmp_path).params


def test_configs_are_frozen_and_validated_on_construction():
    cls = config_class(get("fig2"))
    cfg = cls.preset("quick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_g = 5
    with pytest.raises(ValidationError, match=r"fig2: n_g=1: n_g must be an integer in \[2, 10000000\]"):
        cfg.replace(n_g=1)
    with pytest.raises(ValidationError, match="beta > |g|"):
        cls.preset("quick", beta=0.5)  # g_max = 0.99 > beta: a cross-parameter check
    with pytest.raises(ValidationError, match="unknown parameter 'nope' for fig2"):
        cfg.replace(nope=1)
    with pytest.raises(ValidationError, match="fig2 has no preset 'evidence'"):
        cls.preset("evidence")


def test_a_config_runs_exactly_its_parameters(tmp_path):
    cfg = config_class(get("fig2")).preset("smoke").replace(n_g=7, alpha=0.4)
    assert cfg.overrides("smoke") == {"n_g": 7, "alpha": 0.4}
    run, _ = produce("fig2", "smoke", tmp_path, show_progress=False, overrides=cfg.overrides("smoke"))
    assert json.loads(run.file("config.json").read_text())["params"] == cfg.as_params()


def test_manifold_parameters_are_declared_and_checked():
    cls = config_class(get("manifold"))
    assert cls.preset("quick").replace(n_scan=5).n_scan == 5
    # n = e^(alpha d) training points: alpha = 1 at d = 64 would ask for e^64 of them
    with pytest.raises(ValidationError, match=r"alpha \* d <= 13.82, got alpha=1 with d=64"):
        cls.preset("quick", alpha=1.0)
    with pytest.raises(ValidationError, match="psis"):
        cls.preset("quick", psis=[0.5, 1.5])
