"""Fixtures shared by the test files."""

import pytest

from chainrule.ops import jit


@pytest.fixture(params=["jit", "numpy"])
def kernels(request, monkeypatch):
    """Run a test with the Numba kernels (where installed) and with the NumPy twins."""
    if request.param == "jit":
        if not jit.enabled():
            pytest.skip("numba is not installed")
        monkeypatch.setitem(jit._state, "on", True)
    else:
        monkeypatch.setitem(jit._state, "on", False)
    return request.param
