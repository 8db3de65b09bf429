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
