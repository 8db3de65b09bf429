"""Shared test set-up."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests' tensors are small: intra-op threads only add barrier overhead, and on a 2-core machine
    shared with other jobs 2 threads ran up to ~8x slower than 1. Restored at the end of the session."""
    try:
        import torch
    except ImportError:  # the theory tests need no torch
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: the theory figures (Figs 1-5) at the smoke preset: a few seconds together, and a report of five figures
THEORY_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5")


@pytest.fixture(scope="session")
def theory_smoke_report(tmp_path_factory):
    """Figs 1-5 run at the smoke preset and their report written (report.md, report.html): the output folder.
    Read-only for the tests that share it."""
    from diffregimes.execution.driver import reproduce

    out = tmp_path_factory.mktemp("theory_smoke")
    reproduce(list(THEORY_FIGURES), "smoke", out, show_progress=False, log=lambda _line: None)
    return out
