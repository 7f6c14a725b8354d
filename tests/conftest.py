"""Fixtures shared by the test files."""

import pytest

from chainrule.ops import jit


@pytest.fixture(params=["jit", "numpy"])
def kernels(request, monkeypatch):
    """Run a test with the Numba kernels (where installed) and with the NumPy twins."""
    if request.param == "jit":
        if not jit.enabled():
            pytest.skip("numba is not installed")
        monkeypatch.setenv("CHAINRULE_JIT", "1")
    else:
        monkeypatch.setenv("CHAINRULE_JIT", "0")
    return request.param
