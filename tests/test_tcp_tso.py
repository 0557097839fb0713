"""The send side's fast paths: TSO deferral (``tcp_tso_should_defer``) and the precompiled
header of established segments (same bytes as ``TcpRepr.emit``)."""

from __future__ import annotations

from helpers.tcp import Peer, established
from helpers.units import MS

from stack.core.features import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO
from stack.wire.tcp import ACK

TSO = NETIF_F_TSO | NETIF_F_HW_CSUM | NETIF_F_SG


def flight(p: Peer) -> int:
    """Bytes of the segments the engine sent since the last drain."""
    return sum(len(s.data) for s in p.drain())


def test_a_small_opening_waits_for_the_next_ack_then_a_full_burst_goes() -> None:
    p = Peer(features=TSO)
    sk = established(p)
    start = p.ack
    sk.sendmsg(b"t" * 300_000)
    assert flight(p) == 10 * 1448  # the initial window
    # One segment ACKed half a millisecond later: slow start opens 2 segments, a sliver of
    # the window, while 9 are still in flight and their ACKs are due: Linux waits for them.
    p.send(ACK, ack=start + 1448, at=p.now + MS // 2)
    p.expect_none(0)
    assert sk.is_cwnd_limited
    p.send(ACK, ack=start + 10 * 1448)  # the rest: cwnd 20, nothing in flight
    assert flight(p) == 20 * 1448


def test_no_deferral_after_a_pause_or_when_the_segment_would_complete_the_data() -> None:
    p = Peer(features=TSO)
    sk = established(p)
    start = p.ack
    sk.sendmsg(b"t" * 300_000)
    p.drain()
    p.send(ACK, ack=start + 1448, at=p.now + 2 * MS)  # the last send is over 1 ms old
    assert flight(p) == 2 * 1448
    q = Peer(features=TSO)
    sk = established(q)
    start = q.ack
    sk.sendmsg(b"t" * (11 * 1448))  # the tail fits the window once one segment is ACKed
    q.drain()
    q.send(ACK, ack=start + 1448, at=q.now + MS // 2)
    assert flight(q) == 1448  # a single segment is Nagle's business, not deferral's


def test_offloaded_established_headers_are_the_bytes_tcprepr_emits() -> None:
    runs = []
    for features in (0, NETIF_F_HW_CSUM):
        p = Peer(features=features)
        sk = established(p)
        start = p.ack
        sk.sendmsg(bytes(range(256)) * 20)
        p.send(ACK, ack=start + 2896, data=b"hello", at=p.now + MS)
        p.send(ACK, seq=p.seq + 100, data=b"after a hole")  # a SACK block: the slow path
        p.send(ACK, at=p.now + 300 * MS)
        runs.append([(s.th, s.data) for s in p.drain()])
    assert runs[0] == runs[1] and len(runs[0]) >= 5
    assert any(th.sack_blocks for th, _ in runs[1])


def test_an_ack_of_part_of_a_tso_skb_is_an_rtt_sample() -> None:
    """``tcp_clean_rtx_queue`` times a partly acknowledged super-segment too: after a 2 ms
    handshake, an ACK of two MSS of a 5-MSS skb 700 us after it left brings min_rtt to
    700 us and srtt down by an eighth of the difference."""
    p = Peer(features=TSO)
    sk = established(p, rtt=2 * MS)
    assert sk.min_rtt_us == 2000 and sk.srtt_us >> 3 == 2000
    start = p.ack
    sk.sendmsg(b"t" * (10 * 1448))
    sent = p.drain()
    assert [len(s.data) for s in sent] == [5 * 1448, 5 * 1448]  # two TSO skbs
    p.send(ACK, ack=start + 2 * 1448, at=sent[0].time + 700 * 1000)
    assert sk.snd_una == start + 2 * 1448 and sk.packets_out == 8
    assert sk.min_rtt_us == 700
    assert sk.srtt_us == 2000 * 8 - 2000 + 700
