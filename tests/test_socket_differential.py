"""The same socket scenarios against Linux's sockets and ixsim's, observation by observation
(issue 12: "a run of the same socket scripts against Linux sockets and against ixsim shows
the same results").

Each scenario of ``tests/sockdiff`` runs on two network namespaces joined by a veth pair
(10.0.0.1 and 10.0.0.2, made once per test process) and on a two-host ixsim World (also
shared; renewed after a scenario that raised in it);
the two observation lists (return values, errno names, poll masks, option values, names,
normalised for ephemeral ports) must be equal.  Skipped with the reason where the Linux side
cannot be built (not root, no ``ip netns``); CI's ``IXSIM_REQUIRE_TOOLS=1`` turns that skip
into a failure.

``tests/sockdiff/known.py`` lists the scenarios that differ on today's tree, each with the
measured difference and the part building the behaviour; they are strict xfails here, so a
scenario that starts to match fails until its entry is removed.  ``python -m tests.sockdiff``
prints the table.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sockdiff import SCENARIOS
from tests.sockdiff.ixsim_net import IxsimLink
from tests.sockdiff.known import KNOWN
from tests.sockdiff.linux import LinuxLink, Unavailable, available
from tests.sockdiff.runner import diff, linux_broke, run_ixsim, run_linux

_names = {sc.name for sc in SCENARIOS}
assert set(KNOWN) <= _names, f"KNOWN names no scenario: {sorted(set(KNOWN) - _names)}"


@pytest.fixture(scope="module")
def link() -> Iterator[LinuxLink]:
    ok, why = available()
    if not ok:
        pytest.skip(f"Linux peer unavailable: {why}")
    try:
        made = LinuxLink()
    except Unavailable as exc:
        pytest.skip(f"Linux peer unavailable: {exc}")
    yield made
    made.close()


@pytest.fixture(scope="module")
def sim(link: LinuxLink) -> Iterator[IxsimLink]:
    made = IxsimLink(sysctls=link.mirrored)
    yield made
    made.close()


def _param(sc):
    marks = ()
    if sc.name in KNOWN:
        marks = (pytest.mark.xfail(strict=True, reason=KNOWN[sc.name]),)
    return pytest.param(sc, id=sc.name, marks=marks)


@pytest.mark.parametrize("sc", [_param(sc) for sc in SCENARIOS])
def test_same_as_linux(link: LinuxLink, sim: IxsimLink, sc) -> None:
    linux = run_linux(link, sc)
    assert not linux_broke(linux), linux_broke(linux)
    ixsim = run_ixsim(sim, sc)
    assert linux == ixsim, f"{sc.name} differs from Linux:\n{diff(linux, ixsim)}"


def test_enough_scenarios() -> None:
    """Issue 12 measured 90 scenarios; the suite keeps at least that many."""
    assert len(SCENARIOS) >= 90
