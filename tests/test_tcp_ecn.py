"""ECN (RFC 3168) with the test as the raw peer: the ECE/CWR handshake under each
``net.ipv4.tcp_ecn`` value and the SYN fallback, ECT(0) on new data only, the receiver's ECE
echo until CWR, and the sender's once-per-window reduction (``tcp_enter_cwr``) with CWR on
the next new data; TCP_INFO's ECN bits and ``tcpi_delivered_ce``."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from helpers.tcp import REMOTE, Peer, listener
from helpers.units import MS, S

from stack.sysctl import Sysctl
from stack.tcp import CaState, TcpSock, TcpState
from stack.uapi import TCPI_OPT_ECN, TCPI_OPT_ECN_SEEN
from stack.wire.tcp import ACK, CWR, ECE, PSH, SYN

MSS = 1448
NOT_ECT, ECT_0, CE = 0, 2, 3


def _peer(ecn: int = 2, fallback: bool = True, frto: int = 2, **kw: Any) -> Peer:
    sysctl = Sysctl()
    sysctl.tcp_frto = frto
    sysctl.tcp_ecn = ecn
    sysctl.tcp_ecn_fallback = fallback
    sysctl.tcp_congestion_control = "reno"  # ssthresh = cwnd / 2: round numbers
    # No tail loss probes: at the harness's near-zero RTT one fires 2 ms after a flight (as on
    # Linux), before the ACKs these tests send at 10 ms.
    sysctl.tcp_early_retrans = 0
    return Peer(sysctl=sysctl, **kw)


def _connect(p: Peer) -> tuple[TcpSock, Any]:
    """Start an active open; returns the socket and its SYN as the peer saw it."""
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    syn = p.expect()
    p.dut_iss = syn.seq
    p.lport = syn.th.src_port
    p.ack = syn.seq + 1
    p.seq = p.iss
    return sk, syn


def _synack(p: Peer, flags: int) -> None:
    p.send(flags, seq=p.iss, mss=p.mss, wscale=p.use_wscale, sack_perm=p.use_sack)
    p.expect(ACK, seq=p.dut_iss + 1, ack=p.iss + 1)


def ecn_active(p: Peer) -> TcpSock:
    """An ECN connection we opened (tcp_ecn=1 on the engine)."""
    sk, syn = _connect(p)
    assert syn.flags == SYN | ECE | CWR
    _synack(p, SYN | ACK | ECE)
    assert sk.state == TcpState.ESTABLISHED
    return sk


def ecn_passive(p: Peer) -> TcpSock:
    """An ECN connection the peer opened to the engine's listener (any tcp_ecn but 0)."""
    lsk = listener(p)
    p.seq = p.iss
    p.send(SYN | ECE | CWR, seq=p.iss, ack=0, mss=p.mss, wscale=p.use_wscale, sack_perm=p.use_sack)
    sa = p.expect(SYN | ACK | ECE, ack=p.iss + 1)
    assert sa.ecn == NOT_ECT
    p.dut_iss = sa.seq
    p.send(ACK)
    return lsk.accept()


# -- negotiation ----------------------------------------------------------------------------------
def test_tcp_ecn_1_asks_on_the_syn_and_an_ece_synack_enables_ecn() -> None:
    p = _peer(ecn=1)
    sk, syn = _connect(p)
    assert syn.flags == SYN | ECE | CWR and syn.ecn == NOT_ECT  # RFC 3168 §6.1.1: SYN not ECT
    _synack(p, SYN | ACK | ECE)
    info = sk.info()
    assert info.options & TCPI_OPT_ECN and not info.options & TCPI_OPT_ECN_SEEN
    sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sk.sendmsg(b"x" * 100)
    data = p.expect(ACK | PSH, length=100)
    assert data.ecn == ECT_0 and not data.flags & (ECE | CWR)


def test_default_tcp_ecn_2_does_not_ask() -> None:
    p = _peer()
    assert p.net.sysctl.tcp_ecn == 2  # Linux's default: accept when the peer asks
    sk, syn = _connect(p)
    assert syn.flags == SYN
    _synack(p, SYN | ACK | ECE)  # an ECE the SYN never asked for enables nothing
    assert not sk.info().options & TCPI_OPT_ECN
    sk.sendmsg(b"x" * 100)
    assert p.expect(length=100).ecn == NOT_ECT


@pytest.mark.parametrize(
    ("synack", "ecn_ok"),
    [
        (SYN | ACK | ECE, True),
        (SYN | ACK, False),  # the peer does not do ECN
        (SYN | ACK | ECE | CWR, False),  # a reflector of flags, not an ECN answer (§6.1.1)
    ],
)
def test_the_synack_decides(synack: int, ecn_ok: bool) -> None:
    p = _peer(ecn=1)
    sk, _ = _connect(p)
    _synack(p, synack)
    assert bool(sk.info().options & TCPI_OPT_ECN) == ecn_ok
    sk.sendmsg(b"x" * 100)
    assert p.expect(length=100).ecn == (ECT_0 if ecn_ok else NOT_ECT)


@pytest.mark.parametrize(
    ("ecn", "syn_flags", "syn_ecn", "answer"),
    [
        (2, SYN | ECE | CWR, NOT_ECT, SYN | ACK | ECE),
        (1, SYN | ECE | CWR, NOT_ECT, SYN | ACK | ECE),
        (0, SYN | ECE | CWR, NOT_ECT, SYN | ACK),  # tcp_ecn=0: never
        (2, SYN | ECE, NOT_ECT, SYN | ACK),  # both bits or nothing
        (2, SYN | ECE | CWR, ECT_0, SYN | ACK),  # an ECT SYN is a broken middlebox's
    ],
)
def test_listener_answers_an_ecn_setup_syn(
    ecn: int, syn_flags: int, syn_ecn: int, answer: int
) -> None:
    p = _peer(ecn=ecn)
    lsk = listener(p)
    p.seq = p.iss
    p.send(syn_flags, seq=p.iss, ack=0, mss=p.mss, wscale=7, sack_perm=True, ecn=syn_ecn)
    sa = p.expect(answer, ack=p.iss + 1)
    p.dut_iss = sa.seq
    p.send(ACK)
    child = lsk.accept()
    assert bool(child.info().options & TCPI_OPT_ECN) == bool(answer & ECE)
    # the SYN-ACK is resent with the same answer
    assert sa.ecn == NOT_ECT


def test_synack_retransmission_keeps_ece() -> None:
    p = _peer()
    listener(p)
    p.send(SYN | ECE | CWR, seq=p.iss, ack=0, mss=p.mss, wscale=7, sack_perm=True)
    first = p.expect(SYN | ACK | ECE)
    again = p.expect(SYN | ACK | ECE, within=2 * S)
    assert again.time - first.time == 1 * S


@pytest.mark.parametrize(("fallback", "resent"), [(True, SYN), (False, SYN | ECE | CWR)])
def test_retransmitted_syn_falls_back(fallback: bool, resent: int) -> None:
    """RFC 3168 §6.1.1.1: a SYN may be lost for its ECN bits; tcp_ecn_fallback resends it
    plain, and the plain SYN's SYN-ACK (no ECE) leaves the connection without ECN."""
    p = _peer(ecn=1, fallback=fallback)
    sk, syn = _connect(p)
    assert syn.flags == SYN | ECE | CWR
    p.expect(resent, seq=syn.seq, within=2 * S)
    assert p.net.mib.tcpext["TCPSynRetrans"] == 1
    _synack(p, SYN | ACK)
    assert sk.state == TcpState.ESTABLISHED and not sk.info().options & TCPI_OPT_ECN


def test_simultaneous_open_keeps_ecn_only_if_both_ask() -> None:
    for peer_flags, ecn_ok in ((SYN | ECE | CWR, True), (SYN, False)):
        p = _peer(ecn=1)
        sk, _ = _connect(p)
        p.send(peer_flags, seq=p.iss, ack=0, mss=p.mss, wscale=7, sack_perm=True)
        sa = p.expect(ack=p.iss + 1)
        assert sa.flags == (SYN | ACK | ECE if ecn_ok else SYN | ACK)  # never CWR
        assert sk.state == TcpState.SYN_RECEIVED
        assert bool(sk.ecn_flags & 1) == ecn_ok


# -- the receiver ---------------------------------------------------------------------------------
def test_ce_is_echoed_with_ece_until_cwr() -> None:
    p = _peer()
    sk = ecn_passive(p)
    p.send(ACK | PSH, data=b"a" * 100, ecn=ECT_0)
    assert sk.info().options & TCPI_OPT_ECN_SEEN
    p.expect(ACK, ack=p.seq, within=300 * MS)  # ECT data: no echo
    p.send(ACK | PSH, data=b"b" * 100, ecn=CE)
    p.expect(ACK | ECE, ack=p.seq, within=0)  # a first CE: ACKed at once (quick-ACK mode)
    for _ in range(6):  # every ACK keeps echoing while no CWR came
        p.send(ACK | PSH, data=b"c" * MSS, ecn=ECT_0)
        p.expect(ACK | ECE, ack=p.seq, within=300 * MS)
    p.send(ACK)  # CWR must come on data from this sender, so a bare ACK changes nothing
    p.send(ACK | PSH, data=b"c" * 10, ecn=ECT_0)
    p.expect(ACK | ECE, ack=p.seq, within=300 * MS)
    p.send(ACK | PSH | CWR, data=b"d" * 100, ecn=ECT_0)
    p.expect(ACK, ack=p.seq, within=0)  # CWR on data: ACKed at once, and no more ECE
    p.send(ACK | PSH, data=b"e" * 100, ecn=ECT_0)
    assert not p.expect(ack=p.seq, within=300 * MS).flags & ECE
    got = sk.recvmsg(10000)[0]
    assert got == b"a" * 100 + b"b" * 100 + b"c" * (6 * MSS + 10) + b"d" * 100 + b"e" * 100


def test_ce_on_out_of_order_data_is_echoed() -> None:
    p = _peer()
    sk = ecn_passive(p)
    hole = p.seq
    p.send(ACK, seq=hole + 100, data=b"z" * 100, ecn=CE, advance=False)
    ack = p.expect(ACK | ECE, ack=hole)
    assert ack.th.sack_blocks == (((hole + 100) & 0xFFFFFFFF, (hole + 200) & 0xFFFFFFFF),)
    assert sk.ecn_flags & 4  # TCP_ECN_DEMAND_CWR


def test_ce_without_ecn_is_ignored() -> None:
    p = _peer(ecn=0)
    lsk = listener(p)
    p.send(SYN | ECE | CWR, seq=p.iss, ack=0, mss=p.mss, wscale=7, sack_perm=True)
    sa = p.expect(SYN | ACK)
    p.dut_iss = sa.seq
    p.send(ACK)
    lsk.accept()
    p.send(ACK | PSH, data=b"x" * 100, ecn=CE)
    assert not p.expect(ACK, within=300 * MS).flags & ECE


# -- the sender -----------------------------------------------------------------------------------
def _flight(p: Peer, sk: TcpSock, segments: int) -> list[Any]:
    sk.sendmsg(b"s" * segments * MSS)
    return [p.expect(length=MSS) for _ in range(segments)]


def test_ece_reduces_cwnd_once_per_window_and_cwr_goes_on_new_data() -> None:
    p = _peer(ecn=1)
    sk = ecn_active(p)
    sk.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    segs = _flight(p, sk, 10)
    assert all(s.ecn == ECT_0 and not s.flags & CWR for s in segs)
    assert sk.cwnd == 10
    p.send(ACK | ECE, ack=segs[0].seq + MSS, at=10 * MS)  # CE seen by the receiver
    assert sk.ca_state == CaState.CWR and sk.ssthresh == 5  # Reno: half of 10
    assert sk.high_seq == segs[-1].seq + MSS
    p.send(ACK | ECE, ack=segs[1].seq + MSS)  # the same window: no second reduction
    assert sk.ssthresh == 5 and sk.ca_state == CaState.CWR
    # PRR (RFC 6937): in flight 8 > ssthresh 5, so cwnd falls toward 5 as ACKs come
    assert sk.cwnd < 10
    sk.sendmsg(b"n" * 3 * MSS)
    new = p.drain()
    assert new and new[0].flags & CWR and new[0].ecn == ECT_0
    assert all(not s.flags & CWR for s in new[1:])  # CWR once
    for s in segs[2:]:
        p.send(ACK | ECE, ack=s.seq + MSS)  # the receiver echoes until it sees CWR
    assert sk.ssthresh == 5
    p.drain()
    p.send(ACK, ack=sk.snd_nxt, at=20 * MS)  # past high_seq: the reduction is over
    assert sk.ca_state == CaState.OPEN and sk.cwnd == 5
    info = sk.info()
    assert info.delivered_ce == 10  # every segment ACKed by an ECE ACK
    assert p.net.mib.tcpext["TCPFullUndo"] == 0 and sk.undo_marker == 0


def test_ece_in_a_new_window_reduces_again() -> None:
    p = _peer(ecn=1)
    sk = ecn_active(p)
    segs = _flight(p, sk, 10)
    p.send(ACK | ECE, ack=segs[-1].seq + MSS, at=10 * MS)  # the whole flight, marked
    assert sk.ca_state == CaState.CWR and sk.ssthresh == 5
    # CWR holds until something above high_seq is ACKed, so that the CWR reaches the peer
    segs = _flight(p, sk, 5)  # PRR: in flight 0, cwnd = ssthresh
    assert segs[0].flags & CWR and not any(s.flags & CWR for s in segs[1:])
    p.send(ACK, ack=segs[-1].seq + MSS, at=20 * MS)
    assert sk.ca_state == CaState.OPEN and sk.ssthresh == 5 and sk.cwnd >= 5
    cwnd = sk.cwnd
    segs = _flight(p, sk, cwnd)
    p.send(ACK | ECE, ack=segs[0].seq + MSS, at=30 * MS)  # a new window: a new reduction
    assert sk.ca_state == CaState.CWR and sk.ssthresh == cwnd // 2
    sk.sendmsg(b"t" * MSS)
    assert p.expect(length=MSS).flags & CWR


def test_retransmissions_and_pure_acks_are_not_ect() -> None:
    # No F-RTO: the final ACK covers never-retransmitted data, which F-RTO would call a
    # spurious timeout and undo, withdrawing the queued CWR (tcp_undo_cwnd_reduction), as
    # Linux does; this test is about the RTO's own CWR.
    p = _peer(ecn=1, frto=0)
    sk = ecn_active(p)
    segs = _flight(p, sk, 2)
    rto = p.expect(length=MSS, within=2 * S)  # nothing ACKed: the RTO resends the head
    assert rto.seq == segs[0].seq and rto.ecn == NOT_ECT  # tcp_ecn_send: not new data
    p.send(ACK | PSH, ack=segs[0].seq, data=b"r" * 10)
    ack = p.expect(ACK, length=0, within=300 * MS)
    assert ack.ecn == NOT_ECT
    p.send(ACK, ack=sk.snd_nxt)
    sk.sendmsg(b"q" * 100)
    after = p.expect(length=100)
    assert after.ecn == ECT_0 and after.flags & CWR  # tcp_enter_loss queued CWR


def test_ip_tos_keeps_the_kernels_ecn_bits() -> None:
    """IP_TOS sets DSCP only: the ECN field stays TCP's (``__ip_sock_set_tos``)."""
    p = _peer(ecn=1)
    sk = ecn_active(p)
    sk.sendmsg(b"x" * 100)
    p.expect(length=100)
    p.send(ACK)
    sk.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10 | CE)
    assert sk.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x10 | ECT_0
    sk.sendmsg(b"y" * 100)
    assert p.expect(length=100).tos == 0x10 | ECT_0


def test_tcp_ecn_range_is_checked() -> None:
    sysctl = Sysctl()
    for bad in (3, -1):
        with pytest.raises(OSError):
            sysctl.write("net.ipv4.tcp_ecn", bad)
    with pytest.raises(OSError):
        sysctl.write("net.ipv4.tcp_ecn_fallback", 2)
    sysctl.write("net.ipv4.tcp_ecn", "1")
    assert sysctl.read("net.ipv4.tcp_ecn") == 1
