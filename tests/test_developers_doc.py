"""docs/developers.md as written: its example experiment (one module, one plotter function, one catalog
line) runs through the CLI, the driver under two executors and the report, with nothing else edited.

The module's code is written to a temporary directory on ``sys.path`` (so that spawned workers can import
its unit functions) and registered as ``diffregimes.experiments.kappa_curves``, the plotter as
``diffregimes.report.doc_plots``; the catalog line is added to the registry's and the report's view of
the catalog for the duration of the test.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from diffregimes.cli import main
from diffregimes.execution.driver import reproduce
from diffregimes.execution.executors import ProcessExecutor, SerialExecutor
from diffregimes.experiments import registry
from diffregimes.report import figures
from diffregimes.runstore import read_csv
from diffregimes.theory import CoupledOU, kappa

DOC = (Path(__file__).resolve().parents[1] / "docs" / "developers.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC, flags=re.S | re.M)


def _module(name: str, code: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"<docs/developers.md: {name}>"
    sys.modules[name] = module
    exec(compile(code, module.__file__, "exec"), module.__dict__)
    return module


@pytest.fixture
def kappa_experiment(monkeypatch, tmp_path):
    """The doc's module, plotter and catalog line, registered as the doc says (the plotter module renamed)."""
    assert len(BLOCKS) == 3, "the doc has a module, a plotter and a catalog line"
    (tmp_path / "doc_src").mkdir()
    (tmp_path / "doc_src" / "kappa_curves_doc.py").write_text(BLOCKS[0], encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "doc_src"))
    import kappa_curves_doc as exp_module

    monkeypatch.setitem(sys.modules, "diffregimes.experiments.kappa_curves", exp_module)
    _module("diffregimes.report.doc_plots", BLOCKS[1])
    entry = eval(BLOCKS[2], {"Entry": registry.Entry})  # noqa: S307 - the doc's own line
    entry = dataclasses.replace(entry, plotter=entry.plotter.replace("theory_plots.", "doc_plots."))
    monkeypatch.setitem(registry.ENTRIES, entry.name, entry)
    monkeypatch.setitem(figures.ENTRIES, entry.name, entry)
    yield exp_module
    for name in ("kappa_curves_doc", "diffregimes.report.doc_plots"):
        sys.modules.pop(name, None)


def test_the_doc_example_runs_through_cli_driver_and_report(kappa_experiment, tmp_path, capsys):
    # the CLI validates --set by the declared type and range
    assert main(["fig", "kappa_curves", "--preset", "smoke", "--out", str(tmp_path / "bad"), "--set", "n_t=1"]) == 2
    assert "n_t" in capsys.readouterr().err
    assert main(["fig", "kappa_curves", "--preset", "smoke", "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    data = read_csv(tmp_path / "cli" / "kappa_curves" / "data.csv")
    # the value the saved table must carry: κ(t) (28) of the doc's model computed here from the theory layer,
    # not through the experiment's own unit function
    t = np.linspace(0.0, 3.0, 21)
    model = CoupledOU.symmetric(beta=1.0, g=0.5, sigma_w2=2.0, sigma2=1.0, m_plus2=2.0, m_minus2=0.0)
    expected = kappa(model, t)
    assert np.allclose(data["t"], t) and np.allclose(data["kappa_g0.5"], expected, rtol=1e-9)
    assert (tmp_path / "cli" / "kappa_curves" / "figure.png").stat().st_size > 1000
    # the same bytes from two workers, and the report names the experiment in its section
    reproduce(["kappa_curves"], "smoke", tmp_path / "serial", log=lambda _: None, executor=SerialExecutor(threads=1))
    with ProcessExecutor(2, threads=1) as executor:
        reproduce(["kappa_curves"], "smoke", tmp_path / "process", log=lambda _: None, executor=executor)
    for f in ("data.csv", "summary.json"):
        serial = (tmp_path / "serial" / "kappa_curves" / f).read_bytes()
        assert (tmp_path / "process" / "kappa_curves" / f).read_bytes() == serial
    assert "κ(t) at a few couplings" in (tmp_path / "serial" / "report.md").read_text(encoding="utf-8")
