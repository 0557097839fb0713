"""Timers on virtual time: the RTO timeline (RFC 6298 with Linux's constants) up to
ETIMEDOUT, delayed ACKs (quick-ack, 40 ms .. 200 ms), Nagle and TCP_CORK, zero-window
probing, keepalive, and the timer listing."""

from __future__ import annotations

import errno

import pytest
from helpers.tcp import Peer, established, listener
from helpers.units import MS, S

from stack.sysctl import Sysctl
from stack.tcp import TcpState
from stack.tcp.timer import model_timeout
from stack.wire.tcp import ACK, PSH, RST

RTO_MAX = 120 * S


def test_model_timeout_matches_linux() -> None:
    assert model_timeout(15, 200 * MS) == 924_600 * MS  # tcp_retries2 = 15: 924.6 s
    assert model_timeout(3, 200 * MS) == 3_000 * MS  # tcp_retries1 = 3: 3 s


def test_rto_backoff_timeline_then_etimedout() -> None:
    p = Peer(sysctl=Sysctl(tcp_early_retrans=0))  # the RTO path: no loss probe first
    sk = established(p)
    p.run(1 * S)
    t0 = p.now
    sk.sendmsg(b"lost forever")
    p.expect(PSH | ACK, at=t0)
    rto = sk.rto
    assert 200 * MS <= rto < 201 * MS  # RFC 6298 with Linux's 200 ms floor
    assert sk.timers() == [("rto", t0 + rto)]
    expected, when = [], t0
    while True:  # retransmit, double (capped at 120 s), give up 924.6 s after the first send
        when += rto
        if when - t0 >= model_timeout(15, 200 * MS):
            break
        expected.append(when)
        rto = min(rto * 2, RTO_MAX)
    got = [p.expect(PSH | ACK, data=b"lost forever", within=200 * S).time for _ in expected]
    assert got == expected and len(got) == 15
    p.expect_none(when - p.now + 1)
    assert sk.state == TcpState.CLOSED
    with pytest.raises(TimeoutError) as exc:
        sk.recvmsg(10)
    assert exc.value.errno == errno.ETIMEDOUT
    mib = p.net.mib
    assert mib.tcp["RetransSegs"] == 15 and mib.tcpext["TCPTimeouts"] == 16
    assert mib.tcpext["TCPAbortOnTimeout"] == 1


def test_an_ack_ends_the_backoff_and_rtt_stays_karn_clean() -> None:
    p = Peer(sysctl=Sysctl(tcp_early_retrans=0))  # the RTO path: no loss probe first
    sk = established(p)
    sk.sendmsg(b"x")
    p.expect(PSH | ACK)
    p.expect(PSH | ACK, within=1 * S)
    p.expect(PSH | ACK, within=1 * S)
    assert sk.info().backoff == 2
    p.send(ACK, ack=p.ack, ts=None)  # no timestamps: an ambiguous (Karn) ACK
    assert sk.info().retransmits == 0 and sk.timers() == []
    assert sk.info().backoff == 2  # only a valid RTT sample resets the backoff (RFC 6298 5.7)
    sk.sendmsg(b"y")
    p.expect(PSH | ACK)
    p.send(ACK, ack=p.ack, at=p.now + 50 * MS)
    assert sk.info().backoff == 0 and sk.info().rtt < 50_000


def test_quick_acks_then_delayed_acks_between_40_and_200_ms() -> None:
    p = Peer()
    lsk = listener(p)
    p.syn()
    sa = p.expect()
    p.dut_iss = sa.seq
    p.send(ACK, at=300 * MS)  # a 300 ms RTT: delayed ACKs may grow up to 200 ms
    lsk.accept()
    for _ in range(16):  # quick-ack mode: every segment ACKed at once
        p.send(PSH | ACK, data=b"q" * 100, at=p.now + 1 * MS)
        p.expect(ACK, ack=p.seq, at=p.now)
    delays = []
    for gap in (1 * MS, 60 * MS, 100 * MS, 100 * MS):
        p.send(PSH | ACK, data=b"d" * 100, at=p.now + gap)
        sent = p.now
        delays.append(p.expect(ACK, ack=p.seq).time - sent)
    # ATO starts at 40 ms, each missed delayed ACK doubles it, the timer never exceeds 200 ms.
    assert delays == [40 * MS, 80 * MS, 160 * MS, 200 * MS]
    assert p.net.mib.tcpext["DelayedACKs"] == 4


def test_two_full_segments_are_acked_at_once() -> None:
    p = Peer()
    sk = established(p)
    p.send(ACK, data=b"0" * 1448)
    p.expect(ACK, ack=p.seq)  # quick-ack mode; this ACK also sets the window we compare to
    sk.recvmsg(2000)
    sk.ack_quick = 0  # past the start of the connection
    p.send(ACK, data=b"a" * 1448)
    assert len(sk.recvmsg(2000)[0]) == 1448  # an application that keeps up
    p.expect_none(1 * MS)
    p.send(ACK, data=b"b" * 1448)
    p.expect(ACK, ack=p.seq, at=p.now)  # more than one full segment unacknowledged


def test_out_of_order_data_is_acked_at_once_with_sack() -> None:
    p = Peer()
    sk = established(p)
    sk.ack_quick = 0
    hole = p.seq
    p.send(ACK, seq=hole + 1000, data=b"z" * 500, advance=False)
    seg = p.expect(ACK, ack=hole, at=p.now)
    assert seg.th.sack_blocks == (((hole + 1000) & 0xFFFFFFFF, (hole + 1500) & 0xFFFFFFFF),)
    assert p.net.mib.tcpext["TCPOFOQueue"] == 1


def test_nagle_holds_small_segments_until_the_ack() -> None:
    p = Peer()
    sk = established(p)
    sk.sendmsg(b"a")
    p.expect(PSH | ACK, data=b"a", at=0)
    sk.sendmsg(b"b")
    sk.sendmsg(b"c")
    p.expect_none(10 * MS)  # a small segment is unacknowledged: wait (RFC 896)
    p.send(ACK, ack=p.ack)
    p.expect(PSH | ACK, data=b"bc", at=10 * MS)


def test_nagle_never_delays_full_segments_and_minshall_lets_one_tail_go() -> None:
    p = Peer()
    sk = established(p)
    sk.sendmsg(b"x" * 1458)
    p.expect(ACK, length=1448, at=0)
    p.expect(PSH | ACK, length=10, at=0)  # no *small* segment in flight: Minshall sends it


def test_tcp_nodelay_sends_at_once() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(6, 1, 1)
    for c in (b"a", b"b", b"c"):
        sk.sendmsg(c)
        p.expect(PSH | ACK, data=c, at=0)


def test_tcp_cork_holds_until_uncorked_or_about_200_ms() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(6, 3, 1)
    sk.sendmsg(b"head")
    sk.sendmsg(b"er")
    p.expect_none(50 * MS)
    sk.setsockopt(6, 3, 0)
    p.expect(PSH | ACK, data=b"header", at=50 * MS)
    p.send(ACK, ack=p.ack)
    sk.setsockopt(6, 3, 1)
    start = p.now
    sk.sendmsg(b"corked")
    p.expect(PSH | ACK, data=b"corked", at=start + sk.rto)  # the probe timer's ceiling


def test_zero_window_probing_and_resume() -> None:
    p = Peer()
    sk = established(p)
    p.send(ACK, window=0)
    sk.sendmsg(b"waiting")
    t0 = p.now
    assert sk.timers()[0][0] == "probe0"
    base = sk.rto
    probes = []
    for _ in range(3):
        probe = p.expect(ACK, seq=p.dut_iss, data=b"", within=10 * S)  # SND.UNA - 1
        probes.append(probe.time - t0)
        p.send(ACK, window=0)  # the peer answers each probe, still closed
    assert probes == [base, base * 3, base * 7]
    assert sk.state == TcpState.ESTABLISHED and sk.info().probes == 0
    p.send(ACK, window=100)  # the window opens
    p.expect(PSH | ACK, data=b"waiting", at=p.now)
    assert p.net.mib.tcpext["TCPWinProbe"] == 3


def test_unanswered_zero_window_probes_time_out() -> None:
    p = Peer()
    sk = established(p)
    p.send(ACK, window=0)
    sk.sendmsg(b"stuck")
    n = 0
    while sk.state != TcpState.CLOSED:
        p.run(60 * S)
        n += len(p.drain())
    assert n == 15 and sk.sock_error() == errno.ETIMEDOUT


def test_zero_window_probe_into_a_partial_window_sends_data() -> None:
    p = Peer(wscale=None)
    sk = established(p)
    p.send(ACK, window=0)
    sk.sendmsg(b"0123456789")
    p.send(ACK, window=4)  # too small for the segment: only the probe timer sends into it
    p.expect_none(100 * MS)
    p.expect(PSH | ACK, data=b"0123", within=1 * S)


def test_keepalive_declares_a_dead_peer_after_idle_plus_intvl_times_cnt() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(1, 9, 1)  # SO_KEEPALIVE with Linux's defaults: 7200 s, 75 s, 9
    assert sk.timers() == [("keepalive", 7200 * S)]
    times = [p.expect(ACK, seq=p.dut_iss, data=b"", within=8000 * S).time for _ in range(9)]
    assert times == [(7200 + 75 * i) * S for i in range(9)]
    p.expect(RST | ACK, at=(7200 + 75 * 9) * S, within=100 * S)
    assert sk.state == TcpState.CLOSED and sk.sock_error() == errno.ETIMEDOUT
    assert p.net.mib.tcpext["TCPKeepAlive"] == 9


def test_keepalive_answered_keeps_the_connection() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(1, 9, 1)
    sk.setsockopt(6, 4, 10)  # TCP_KEEPIDLE
    sk.setsockopt(6, 5, 2)  # TCP_KEEPINTVL
    sk.setsockopt(6, 6, 3)  # TCP_KEEPCNT
    p.expect(ACK, seq=p.dut_iss, at=10 * S, within=11 * S)
    p.send(ACK)
    p.expect(ACK, seq=p.dut_iss, at=20 * S, within=11 * S)
    p.expect(ACK, at=22 * S)
    p.expect(ACK, at=24 * S)
    p.expect(RST | ACK, at=26 * S)


def test_timers_are_listed_by_purpose() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(1, 9, 1)
    sk.sendmsg(b"x")
    p.send(ACK | PSH, data=b"y", ack=p.dut_iss + 1)
    names = [name for name, _ in sk.timers()]
    assert "keepalive" in names
    assert all(when >= p.now for _, when in sk.timers())
    kernel_names = [name for name, _ in p.kernel.timers()]
    assert any(name.startswith("tcp ") for name in kernel_names)
