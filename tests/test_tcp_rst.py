"""Blind-attack defences and sequence validation: RFC 5961 challenge ACKs and their rate
limit, RST acceptance, SYN on a synchronized connection, PAWS (RFC 7323), invalid ACKs."""

from __future__ import annotations

import errno

from helpers.tcp import Peer, established
from helpers.units import MS

from stack.tcp import TcpState
from stack.wire.tcp import ACK, PSH, RST, SYN


def test_exact_rst_resets_the_connection() -> None:
    p = Peer()
    sk = established(p)
    p.send(RST | ACK)
    assert sk.state == TcpState.CLOSED and sk.sock_error() == errno.ECONNRESET
    p.expect_none(1000 * MS)


def test_in_window_rst_gets_a_rate_limited_challenge_ack() -> None:
    p = Peer()
    sk = established(p)
    p.send(RST, seq=p.seq + 100, ts=None, advance=False)
    assert sk.state == TcpState.ESTABLISHED
    p.expect(ACK, seq=p.dut_iss + 1, ack=p.seq)  # RFC 5961 3.2: tell the real peer our seq
    p.send(RST, seq=p.seq + 200, ts=None, advance=False, at=100 * MS)
    p.expect_none(10 * MS)  # one challenge ACK per 500 ms per socket
    p.send(RST, seq=p.seq + 300, ts=None, advance=False, at=600 * MS)
    p.expect(ACK, ack=p.seq)
    mib = p.net.mib.tcpext
    assert (mib["TCPChallengeACK"], mib["TCPACKSkippedChallenge"]) == (2, 1)
    assert sk.state == TcpState.ESTABLISHED


def test_out_of_window_rst_is_ignored() -> None:
    p = Peer()
    sk = established(p)
    p.send(RST, seq=p.seq + 10_000_000, ts=None, advance=False)
    p.send(RST, seq=p.seq - 10_000, ts=None, advance=False)
    assert sk.state == TcpState.ESTABLISHED
    p.expect_none(100 * MS)
    assert p.kernel.drop_reasons["TCP_INVALID_SEQUENCE"] == 2


def test_syn_on_an_established_connection_gets_a_challenge_ack() -> None:
    p = Peer()
    sk = established(p)
    p.send(SYN, seq=p.seq + 5, ack=0, advance=False)
    p.expect(ACK, ack=p.seq)
    assert sk.state == TcpState.ESTABLISHED
    assert p.net.mib.tcpext["TCPSYNChallenge"] == 1 and p.net.mib.tcp["InErrs"] == 1


def test_paws_rejects_an_old_timestamp_and_acks() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"new", ts=(p.tsval() + 1000, p.ts_recent))
    p.expect(ACK, ack=p.seq)
    old = (p.tsval() - 5, p.ts_recent)  # an older TSval: a wrapped-sequence duplicate
    p.send(PSH | ACK, data=b"old", ts=old, advance=False)
    p.expect(ACK, ack=p.seq)
    assert sk.recvmsg(10)[0] == b"new"
    assert p.net.mib.tcpext["PAWSEstab"] == 1
    assert p.kernel.drop_reasons["TCP_RFC7323_PAWS"] == 1
    p.send(RST, ts=old)  # a reset is accepted even when PAWS fails
    assert sk.state == TcpState.CLOSED


def test_ack_for_unsent_data_is_dropped() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, ack=p.dut_iss + 1000, data=b"x", advance=False)
    assert not sk.receive_queue
    assert p.kernel.drop_reasons["TCP_ACK_INVALID"] == 1


def test_very_old_ack_gets_a_challenge_ack() -> None:
    p = Peer()
    established(p)
    p.send(ACK, ack=p.dut_iss - 20_000_000)  # older than the largest window (8 MB)
    p.expect(ACK, ack=p.seq)
    assert p.net.mib.tcpext["TCPChallengeACK"] == 1


def test_out_of_window_data_is_acked_not_queued() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, seq=p.seq + 10_000_000, data=b"far", advance=False)
    p.expect(ACK, ack=p.seq)
    p.send(PSH | ACK, seq=p.seq + 10_000_000, data=b"far", advance=False)
    p.expect(ACK, ack=p.seq)  # data segments are not rate limited
    p.send(ACK, seq=p.seq + 10_000_000, advance=False, at=10 * MS)
    p.expect(ACK, ack=p.seq)
    p.send(ACK, seq=p.seq + 10_000_000, advance=False, at=20 * MS)
    p.expect_none(10 * MS)  # bare out-of-window ACKs are, to 1 per 500 ms
    assert p.net.mib.tcpext["TCPACKSkippedSeq"] == 1
    assert not sk.receive_queue


def test_retransmitted_data_is_dsacked() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"abc")
    p.expect(ACK)
    p.send(PSH | ACK, seq=p.seq - 3, data=b"abc", advance=False)
    dup = p.expect(ACK, ack=p.seq)
    assert dup.th.sack_blocks == (((p.seq - 3) & 0xFFFFFFFF, p.seq & 0xFFFFFFFF),)
    assert sk.recvmsg(10)[0] == b"abc"
    assert p.net.mib.tcpext["TCPDSACKOldSent"] == 1
