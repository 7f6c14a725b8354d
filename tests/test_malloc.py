"""chainrule.utils.malloc: importing chainrule raises glibc's mmap and trim thresholds, so the
large arrays a training step allocates and frees each time stop landing on fresh pages.

Each case runs in a fresh interpreter: the thresholds are process-wide, and only rise.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "confstr") or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="the thresholds are glibc's",
)

# A step-shaped pattern: twelve 1 MiB arrays written, then all freed, ten times. glibc's own
# rule lifts the thresholds to 1 MiB / 2 MiB after the first free, so from the second round on
# the arrays come from the heap, and freeing all of them leaves 12 MiB free at its top, over the
# trim threshold: the heap is cut back and the next round faults on every page again.
STEPS = """
import resource, sys
import numpy as np
import chainrule
from chainrule.utils import malloc

def round_():
    arrays = [np.ones(1 << 18, np.float32) for _ in range(12)]
    del arrays

round_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    round_()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
print(malloc.thresholds_raised(), faults)
"""


def python(code: str, **env: str) -> list[str]:
    """What ``code`` prints, split, in a fresh interpreter whose environment sets no malloc
    threshold and no ``CHAINRULE_MALLOC_TUNE``, but for ``env``."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("MALLOC_", "GLIBC_TUN")) and k != "CHAINRULE_MALLOC_TUNE"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.split()


def test_import_raises_the_thresholds_and_a_step_stops_faulting() -> None:
    raised, faults = python(STEPS)
    assert raised == "True"
    assert float(faults) < 50  # 12 MiB of fresh pages would be 3,072 faults a round


def test_a_second_call_changes_nothing_and_keeps_the_state() -> None:
    code = (
        "from chainrule.utils import malloc\n"
        "print(malloc.thresholds_raised(), malloc.raise_thresholds(), malloc.thresholds_raised())"
    )
    assert python(code) == ["True", "False", "True"]  # the block now comes from the heap


def test_the_switch_leaves_glibc_as_it_is() -> None:
    raised, faults = python(STEPS, CHAINRULE_MALLOC_TUNE="0")
    assert raised == "False"
    assert float(faults) > 1000  # the heap is trimmed and grown again every round


def test_a_user_threshold_is_respected() -> None:
    # a fixed threshold turns glibc's dynamic adjustment off: chainrule's block then changes
    # nothing, and the user's 1 MiB trim threshold still trims every round
    raised, faults = python(STEPS, MALLOC_TRIM_THRESHOLD_=str(1 << 20))
    assert raised == "False"
    assert float(faults) > 1000
