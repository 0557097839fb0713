"""Suite-wide pytest hooks and the fixtures several test files share (the rigs a test imports
live in ``tests/helpers/``).

``IXSIM_REQUIRE_TOOLS=1`` (set by ``.ci/run``) turns a skip for a missing external tool
(tcpdump, tshark, readelf, ruff, pexpect) or a missing Linux peer (root, ``ip netns``,
``/dev/net/tun``) into a failure: CI installs them, so there such a skip would hide a
differential test that never ran.  Skips for what the kernel itself lacks (sch_netem) stay
skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ixsim.sched import Scheduler
from stack.core import Kernel

MISSING_TOOL_MARKS = ("is not installed", "nor tshark is installed", "needs tcpdump",
                      "Linux peer unavailable", "C core not built")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("IXSIM_REQUIRE_TOOLS", "") in ("", "0"):
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(mark in reason for mark in MISSING_TOOL_MARKS):
        report.outcome = "failed"
        report.longrepr = f"IXSIM_REQUIRE_TOOLS=1 but this test was skipped: {reason}"


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    """A bare kernel on its own scheduler (seed 0), no device; the test must not leak skbs."""
    k = Kernel(Scheduler(seed=0), "t")
    yield k
    assert k.skb_live == 0, "a test leaked skbs"
