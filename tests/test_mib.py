"""MIB counters are a declared table: a misspelt name raises instead of growing a counter."""

from __future__ import annotations

import pytest
from helpers.mib import LINUX_TCP_MIB, LINUX_TCPEXT_MIB

from stack.mib import COUNTERS, GROUPS, Mib


def test_every_group_is_prefilled_with_zeros():
    mib = Mib()
    for group in GROUPS:
        assert mib.group(group) == dict.fromkeys(COUNTERS[group], 0)
    assert mib.snapshot() == {group: {} for group in GROUPS}


def test_a_misspelt_counter_raises_where_it_is_bumped():
    mib = Mib()
    with pytest.raises(KeyError):
        mib.tcp["ActiveOpen"] += 1
    with pytest.raises(KeyError):
        mib.tcpext["TCPLossProbe"] += 1
    assert "ActiveOpen" not in mib.tcp and "TCPLossProbe" not in mib.tcpext


def test_declared_names_are_linux_names():
    assert set(COUNTERS["tcp"]) <= LINUX_TCP_MIB
    assert set(COUNTERS["tcpext"]) <= LINUX_TCPEXT_MIB
    for group in GROUPS:
        assert len(set(COUNTERS[group])) == len(COUNTERS[group]), group


def test_snapshot_keeps_only_what_moved():
    mib = Mib()
    mib.tcp["ActiveOpens"] += 2
    mib.icmpmsg["OutType8"] += 1
    snap = mib.snapshot()
    assert snap["tcp"] == {"ActiveOpens": 2} and snap["icmpmsg"] == {"OutType8": 1}
