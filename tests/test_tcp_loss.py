"""Loss recovery with the test as the receiver: fast retransmit (SACK and NewReno), several
losses repaired in one window, RTO recovery and its undo (Eifel, D-SACK); the receiver's
out-of-order queue, SACK blocks and D-SACK; slow start; pluggable congestion control.

The SACK fast-retransmit tests drive the DupThresh detection (RFC 6675), which Linux keeps
for ``tcp_recovery = 0``, and the RTO tests the timeout path: both run with tail loss probes
off, since at the harness's ~0 RTT a probe (2 x SRTT + 2 ms) would come first.  RACK and the
probes have their own tests (test_tcp_rack.py)."""

from __future__ import annotations

import errno

import pytest
from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import Peer, established
from helpers.units import MS

from stack.sysctl import Sysctl
from stack.tcp import CaState, TcpSock
from stack.wire.tcp import ACK, PSH

MSS = 1448


def _dupthresh() -> Peer:
    """A peer of a sender with DupThresh loss detection and no loss probes."""
    return Peer(sysctl=Sysctl(tcp_recovery=0, tcp_early_retrans=0))


def _no_probes() -> Peer:
    """A peer of a sender without tail loss probes: the RTO is the first timer to fire."""
    return Peer(sysctl=Sysctl(tcp_early_retrans=0))


def _sender(p: Peer, segments: int) -> tuple[TcpSock, list[int]]:
    """An established socket that just sent ``segments`` full segments; their seqs."""
    sk = established(p)
    sk.setsockopt(6, 1, 1)  # TCP_NODELAY
    sk.sendmsg(bytes(range(256)) * (segments * MSS // 256) + b"\0" * (segments * MSS % 256))
    seqs = [p.expect(length=MSS).seq for _ in range(min(segments, sk.cwnd))]
    return sk, seqs


def _sack(p: Peer, ack: int, *blocks: tuple[int, int], at: int | None = None) -> None:
    p.send(ACK, ack=ack, sack=blocks, at=at)


def test_one_loss_is_repaired_by_fast_retransmit_without_a_timeout() -> None:
    p = _dupthresh()
    sk, seqs = _sender(p, 10)
    una = seqs[0]
    for i in (1, 2):  # the first segment was lost; SACKs for the next ones arrive
        _sack(p, una, (seqs[1], seqs[i] + MSS), at=10 * MS)
        p.expect_none(0)
    _sack(p, una, (seqs[1], seqs[3] + MSS))  # DupThresh SACKed segments above the hole
    p.expect(ACK, seq=una, length=MSS, at=10 * MS)
    assert sk.ca_state == CaState.RECOVERY
    p.send(ACK, ack=seqs[9] + MSS, at=20 * MS)
    # CUBIC: beta 0.7, so ssthresh 7; the ACK ending recovery sets cwnd to it and then opens
    # a new epoch: Linux's cubic_root gives K = 2003 for W_max - cwnd = 3, and t counts
    # delay_min rounded up to a jiffy, so the target is 8 (cnt 7) and 9 ACKed segments add 1.
    assert sk.ca_state == CaState.OPEN and sk.ssthresh == 7 and sk.cwnd == 8
    mib = p.net.mib.tcpext
    assert (mib["TCPSackRecovery"], mib["TCPFastRetrans"], mib["TCPTimeouts"]) == (1, 1, 0)
    assert p.net.mib.tcp["RetransSegs"] == 1 and sk.packets_out == 0
    assert_linux_tcp_mib_names(p.net)


def test_newreno_three_dupacks_then_a_partial_ack_repairs_two_losses() -> None:
    p = Peer(sack=False)
    sk, seqs = _sender(p, 10)
    for _ in range(2):
        p.send(ACK, ack=seqs[0], at=10 * MS)
    p.expect_none(0)
    p.send(ACK, ack=seqs[0])  # the third duplicate ACK
    p.expect(ACK, seq=seqs[0], length=MSS, at=10 * MS)
    p.send(ACK, ack=seqs[0], at=11 * MS)  # more duplicates inflate the pipe: new data may go
    p.send(ACK, ack=seqs[5], at=20 * MS)  # a partial ACK: the next hole is retransmitted at once
    p.expect(ACK, seq=seqs[5], length=MSS, at=20 * MS)
    p.send(ACK, ack=seqs[9] + MSS, at=30 * MS)
    assert sk.ca_state == CaState.RECOVERY  # NewReno holds until data above high_seq is ACKed
    sk.sendmsg(b"more")
    p.expect(PSH | ACK, data=b"more")
    p.send(ACK, ack=p.ack)
    assert sk.ca_state == CaState.OPEN
    mib = p.net.mib.tcpext
    assert (mib["TCPRenoRecovery"], mib["TCPTimeouts"]) == (1, 0)
    assert p.net.mib.tcp["RetransSegs"] == 2


def test_sack_repairs_several_losses_in_one_window() -> None:
    p = _dupthresh()
    sk = established(p)
    sk.setsockopt(6, 1, 1)
    sk.sendmsg(b"w" * 10 * MSS)  # one round to open cwnd to 20
    first = [p.expect(length=MSS).seq for _ in range(10)]
    p.send(ACK, ack=first[-1] + MSS, at=10 * MS)
    assert sk.cwnd == 20
    sk.sendmsg(b"x" * 20 * MSS)
    seqs = [p.expect(length=MSS).seq for _ in range(20)]
    lost = {3, 8, 14}
    got = [i for i in range(20) if i not in lost]
    # The receiver SACKs what arrived, most recent block first (RFC 2018).
    blocks = []
    start = None
    for i in got:
        if start is None:
            start = i
        if i + 1 not in got:
            blocks.append((seqs[start], seqs[i] + MSS))
            start = None
    _sack(p, seqs[3], *reversed(blocks[1:]), at=20 * MS)
    retransmitted = sorted(seqs.index(s.seq) for s in p.drain() if s.seq in seqs)
    assert retransmitted == sorted(lost)  # every hole, in one round trip, no timeout
    p.send(ACK, ack=seqs[-1] + MSS, at=30 * MS)
    mib = p.net.mib.tcpext
    assert (mib["TCPSackRecovery"], mib["TCPTimeouts"]) == (1, 0)
    assert p.net.mib.tcp["RetransSegs"] == 3 and sk.ca_state == CaState.OPEN


def test_rto_recovery_is_undone_when_timestamps_prove_it_spurious() -> None:
    p = _no_probes()
    sk = established(p)
    sk.sendmsg(b"x" * 100)
    original = p.expect(PSH | ACK)
    cwnd = sk.cwnd
    p.expect(PSH | ACK, at=sk.rto)  # the RTO fires: the ACK was only late
    assert sk.ca_state == CaState.LOSS and sk.cwnd == 1
    p.send(ACK, ack=p.ack, ts=(p.tsval(), original.th.timestamp[0]))  # echoes the original
    assert sk.ca_state == CaState.OPEN and sk.cwnd == cwnd
    mib = p.net.mib.tcpext
    # An Eifel undo counts TCPLossUndo; Linux counts TCPSpuriousRTOs only for F-RTO's verdict
    # (tcp_try_undo_loss with frto_undo), see test_tcp_rack.py.
    assert (mib["TCPTimeouts"], mib["TCPLossUndo"], mib["TCPSpuriousRTOs"]) == (1, 1, 0)


def test_real_rto_loss_is_not_undone() -> None:
    p = _no_probes()
    sk = established(p)
    sk.sendmsg(b"x" * 100)
    p.expect(PSH | ACK)
    retrans = p.expect(PSH | ACK, within=1000 * MS)
    p.send(ACK, ack=p.ack, ts=(p.tsval(), retrans.th.timestamp[0]))
    assert sk.cwnd < 10 and p.net.mib.tcpext["TCPLossUndo"] == 0


def test_dsack_undoes_a_spurious_fast_retransmit() -> None:
    p = _dupthresh()
    sk, seqs = _sender(p, 10)
    una = seqs[0]
    _sack(p, una, (seqs[1], seqs[4] + MSS), at=10 * MS)  # reordering, not loss
    p.expect(ACK, seq=una, length=MSS)
    prior = sk.prior_cwnd
    p.send(ACK, ack=seqs[5], at=11 * MS)  # the "lost" segment arrives after all
    p.send(ACK, ack=seqs[5], sack=((una, una + MSS),), at=12 * MS)  # D-SACK: retransmit was a dup
    assert p.net.mib.tcpext["TCPDSACKRecv"] == 1
    assert p.net.mib.tcpext["TCPDSACKUndo"] + p.net.mib.tcpext["TCPFullUndo"] >= 1
    assert sk.cwnd >= prior


def test_receiver_builds_sack_blocks_newest_first_and_fills_holes() -> None:
    p = Peer()
    sk = established(p)
    base = p.seq
    for off in (1000, 3000, 5000, 7000):  # four islands: three blocks fit beside timestamps
        p.send(ACK, seq=base + off, data=b"i" * 500, advance=False)
        seg = p.expect(ACK, ack=base)
    assert seg.th.sack_blocks == tuple(
        ((base + o) & 0xFFFFFFFF, (base + o + 500) & 0xFFFFFFFF) for o in (7000, 5000, 3000)
    )
    p.send(ACK, seq=base + 3500, data=b"j" * 1500, advance=False)  # joins two islands
    seg = p.expect(ACK, ack=base)
    assert seg.th.sack_blocks[0] == ((base + 3000) & 0xFFFFFFFF, (base + 5500) & 0xFFFFFFFF)
    p.send(ACK, seq=base, data=b"h" * 1000, advance=False)  # fills the first hole
    seg = p.expect(ACK, ack=base + 1500)
    assert sk.recvmsg(10_000)[0] == b"h" * 1000 + b"i" * 500
    assert p.net.mib.tcpext["TCPOFOQueue"] == 5


def test_duplicate_out_of_order_data_is_dsacked() -> None:
    p = Peer()
    established(p)
    base = p.seq
    p.send(ACK, seq=base + 1000, data=b"o" * 500, advance=False)
    p.expect(ACK)
    p.send(ACK, seq=base + 1000, data=b"o" * 500, advance=False)
    seg = p.expect(ACK, ack=base)
    d = ((base + 1000) & 0xFFFFFFFF, (base + 1500) & 0xFFFFFFFF)
    assert seg.th.sack_blocks[:2] == (d, d)  # D-SACK first, then the SACK block (RFC 2883)
    assert p.net.mib.tcpext["TCPDSACKOfoSent"] == 1


def test_out_of_order_data_beyond_the_receive_buffer_is_pruned() -> None:
    p = Peer(wscale=None)
    sk = TcpSock(p.net)
    sk.setsockopt(1, 8, 4096)  # SO_RCVBUF: 8 KiB after Linux's doubling
    sk.bind(b"\x0a\x00\x00\x01", p.lport)
    sk.listen(1)
    p.syn()
    sa = p.expect()
    p.dut_iss = sa.seq
    assert sa.window == 4096 - 4096 % 1448
    p.send(ACK)
    child = sk.accept()
    base = p.seq
    p.send(ACK, seq=base + 1448, data=b"z" * 8000, advance=False)  # starts inside the window
    p.send(ACK, seq=base + 200, data=b"y" * 1000, advance=False)  # no room left: prune
    mib = p.net.mib.tcpext
    assert (mib["PruneCalled"], mib["OfoPruned"]) == (1, 1)
    p.send(ACK, seq=base, data=b"a" * 200, advance=False)
    assert child.recvmsg(100_000)[0] == b"a" * 200 + b"y" * 1000
    assert child.rmem_alloc == 0


def test_slow_start_doubles_cwnd_per_round_trip() -> None:
    p = Peer()
    sk, seqs = _sender(p, 10)
    p.send(ACK, ack=seqs[4] + MSS, at=10 * MS)
    p.send(ACK, ack=seqs[9] + MSS, at=10 * MS)
    assert sk.cwnd == 20 and sk.info().snd_cwnd == 20


def test_congestion_control_is_pluggable() -> None:
    p = Peer()
    sk = established(p)
    assert sk.getsockopt(6, 13) == "cubic"  # Linux's default
    sk.setsockopt(6, 13, b"reno\0")
    assert sk.getsockopt(6, 13) == "reno"
    with pytest.raises(OSError) as exc:
        sk.setsockopt(6, 13, "vegas")
    assert exc.value.errno == errno.ENOENT
    p.net.sysctl.tcp_congestion_control = "reno"
    assert TcpSock(p.net).ca.name == "reno"


def test_reno_and_cubic_reduce_differently() -> None:
    for name, expected in (("reno", 5), ("cubic", 7)):
        p = _dupthresh()
        sk, seqs = _sender(p, 10)
        sk.setsockopt(6, 13, name)
        _sack(p, seqs[0], (seqs[1], seqs[4] + MSS), at=10 * MS)
        p.expect(ACK, seq=seqs[0])
        assert sk.ssthresh == expected
