"""The raw-peer TCP harness (``helpers.tcp``) checks itself: every state fixture reaches its
state, injected checksums are right, sequence tracking follows both sides."""

from __future__ import annotations

import pytest
from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import STATE_FIXTURES, Peer, established, listener
from helpers.units import MS

from stack.tcp import TcpSock, TcpState
from stack.wire.tcp import ACK, PSH, SYN


# -- the harness's own tests -----------------------------------------------------------------
@pytest.mark.parametrize("state", list(STATE_FIXTURES))
def test_every_state_fixture_reaches_its_state(state: TcpState) -> None:
    p = Peer()
    sk = STATE_FIXTURES[state](p)
    assert sk.state == state
    assert p.kernel.skb_live == _queued_skbs(sk)
    assert_linux_tcp_mib_names(p.net)


def _queued_skbs(sk: TcpSock) -> int:
    return len(sk.write_queue) + len(sk.rtx)


def test_injected_segments_carry_a_valid_checksum_and_bad_ones_are_counted() -> None:
    p = Peer()
    listener(p)
    p.syn(csum_ok=False)
    p.expect_none(10 * MS)
    assert p.net.mib.tcp["InCsumErrors"] == 1 and p.net.mib.tcp["InErrs"] == 1
    assert p.kernel.drop_reasons["TCP_CSUM"] == 1
    p.syn()
    p.expect(SYN | ACK, ack=p.iss + 1)
    assert p.net.mib.tcp["InSegs"] == 1


def test_sequence_tracking_follows_both_sides() -> None:
    p = Peer()
    sk = established(p)
    p.send(ACK | PSH, data=b"hello")
    p.expect(ACK, ack=p.seq)  # quick-ack mode at the start of a connection
    assert sk.recvmsg(100)[0] == b"hello"
    sk.sendmsg(b"world")
    p.expect(ACK | PSH, seq=p.dut_iss + 1, ack=p.seq, data=b"world")
    assert p.ack == p.dut_iss + 6
