"""Fixtures shared by several test files (rigs a test imports live in ``tests/helpers/``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ixsim.sched import Scheduler
from stack.core import Kernel


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A bare kernel on its own scheduler (seed 0), no device; the test must not leak skbs."""
    k = Kernel(Scheduler(seed=0), "t")
    yield k
    assert k.skb_live == 0, "a test leaked skbs"
