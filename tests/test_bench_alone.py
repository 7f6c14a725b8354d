"""benchmarks/alone.py runs each library's step in a process of its own: PyTorch's with glibc's
allocator as a PyTorch user has it, chainrule's as imported (no timings are checked here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
alone = pytest.importorskip("benchmarks.alone")
glibc = hasattr(os, "confstr") and bool(os.confstr("CS_GNU_LIBC_VERSION"))


@pytest.mark.parametrize("lib", ["chainrule", "torch"])
def test_each_library_runs_alone_with_its_own_allocator(lib: str, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(ROOT)  # `python -m benchmarks.alone` in the child
    got = alone.measure("mlp", lib, 1, 3)
    assert got["seconds"] > 0 and got["faults"] >= 0
    assert got["malloc_tuned"] is (glibc and lib == "chainrule")


def test_unknown_step_is_named() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-m", "benchmarks.alone", "--only", "mlp,vgg"],
                         cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert out.returncode == 2 and "unknown step vgg" in out.stderr
