"""RACK-TLP and F-RTO as Linux 6.x, with the test as the receiver (raw peer).

The engine's first RTT sample is the handshake's: ``established(p, rtt=10 ms)`` gives srtt =
min_rtt = 10 ms, so the reordering window is min_rtt/4 = 2.5 ms, the reorder timer fires
``remaining + 2 ms`` (TCP_TIMEOUT_MIN) after the ACK that armed it, a tail loss probe is due
2 x srtt + 2 ms = 22 ms after a flight of several segments, and the RTO is srtt + 200 ms.
"""

from __future__ import annotations

from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import Peer, established
from helpers.units import MS, S

from stack.sysctl import Sysctl
from stack.tcp import CaState, TcpSock
from stack.wire.tcp import ACK

MSS = 1448
RTT = 10 * MS


def _flight(p: Peer, segments: int, queued: int = 0) -> tuple[TcpSock, list[int], int]:
    """A socket (handshake RTT 10 ms) that just sent ``segments`` full segments (with
    ``queued`` more waiting); their seqs and the send time."""
    sk = established(p, rtt=RTT)
    sk.setsockopt(6, 1, 1)  # TCP_NODELAY
    start = p.now
    sk.sendmsg(bytes((segments + queued) * MSS))
    seqs = [p.expect(length=MSS, at=start).seq for _ in range(segments)]
    return sk, seqs, start


def _sack(p: Peer, ack: int, *blocks: tuple[int, int], at: int | None = None) -> None:
    p.send(ACK, ack=ack, sack=blocks, at=at)


# -- tail loss probes ---------------------------------------------------------------------------
def test_a_loss_probe_precedes_the_rto_on_a_withheld_ack() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 3)
    assert sk.timers()[0] == ("tlp", start + 2 * RTT + 2 * MS)
    probe = p.expect(seq=seqs[2], length=MSS)  # the last segment again, 2 x srtt + 2 ms later
    assert probe.time == start + 22 * MS
    assert sk.tlp_high_seq == seqs[2] + MSS and sk.ca_state == CaState.OPEN
    assert sk.timers()[0] == ("rto", probe.time + sk.rto)  # restarted from the probe
    mib = p.net.mib.tcpext
    assert (mib["TCPLossProbes"], mib["TCPTimeouts"]) == (1, 0)
    assert p.net.mib.tcp["RetransSegs"] == 1 and sk.retrans_out == 0  # not a loss repair
    # The original and the probe both arrived: the D-SACK of the probe ends the episode.
    _sack(p, seqs[2] + MSS, (seqs[2], seqs[2] + MSS), at=probe.time + RTT)
    assert sk.tlp_high_seq == 0 and sk.cwnd == 10 and sk.ca_state == CaState.OPEN
    assert mib["TCPLossProbeRecovery"] == 0 and mib["TCPDSACKRecv"] == 1
    assert_linux_tcp_mib_names(p.net)


def test_a_probe_that_repaired_a_loss_reduces_cwnd_once() -> None:
    p = Peer()
    sk, seqs, _start = _flight(p, 3)
    probe = p.expect(seq=seqs[2])
    _sack(p, seqs[2] + MSS, at=probe.time + RTT)  # the last original was lost: no D-SACK
    assert sk.tlp_high_seq == seqs[2] + MSS  # the episode waits for an ACK beyond it
    sk.sendmsg(b"more")
    p.expect(data=b"more")
    p.send(ACK, ack=p.ack, at=p.now + RTT)
    mib = p.net.mib.tcpext
    assert mib["TCPLossProbeRecovery"] == 1 and sk.tlp_high_seq == 0
    assert sk.cwnd == sk.ssthresh == 7 and sk.ca_state == CaState.OPEN  # CUBIC: x 0.7


def test_a_probe_sends_new_data_when_the_window_allows() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10, queued=5)  # cwnd (10) is full, data waits
    probe = p.expect(length=MSS)
    assert probe.seq == (seqs[9] + MSS) & 0xFFFFFFFF and probe.time == start + 22 * MS
    assert sk.packets_out == 11 and not sk.tlp_retrans
    assert p.net.mib.tcp["RetransSegs"] == 0 and p.net.mib.tcpext["TCPLossProbes"] == 1


def test_the_single_segment_probe_waits_for_a_delayed_ack_but_not_past_the_rto() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 1)
    # 2 x srtt + 200 ms (the peer may be delaying its ACK) is past the RTO: the RTO's time.
    assert sk.timers()[0] == ("tlp", start + sk.rto)
    probe = p.expect(seq=seqs[0], within=1 * S)
    assert probe.time == start + sk.rto == start + RTT + 200 * MS
    assert sk.ca_state == CaState.OPEN and p.net.mib.tcpext["TCPTimeouts"] == 0
    rto = p.expect(seq=seqs[0], within=1 * S)  # then the RTO, a full RTO after the probe
    assert rto.time == probe.time + sk.rto // 2 and sk.ca_state == CaState.LOSS


def test_no_probe_without_sack_or_with_tcp_early_retrans_0() -> None:
    for peer in (Peer(sack=False), Peer(sysctl=Sysctl(tcp_early_retrans=0))):
        sk, _seqs, start = _flight(peer, 3)
        assert sk.timers()[0] == ("rto", start + sk.rto)


# -- RACK ------------------------------------------------------------------------------------------
def test_rack_marks_a_hole_lost_one_reordering_window_after_a_single_sack() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[1], seqs[2]), at=start + RTT)  # one SACK: no DupThresh
    # seqs[0] has rtt + reo_wnd - elapsed = 2.5 ms left; the timer adds TCP_TIMEOUT_MIN.
    assert sk.timers()[0] == ("reo", start + RTT + 4500 * 1000)
    p.expect_none(4 * MS)
    rexmit = p.expect(seq=seqs[0], length=MSS)
    assert rexmit.time == start + RTT + 4500 * 1000
    assert sk.ca_state == CaState.RECOVERY
    mib = p.net.mib.tcpext
    assert (mib["TCPSackRecovery"], mib["TCPFastRetrans"], mib["TCPTimeouts"]) == (1, 1, 0)
    p.send(ACK, ack=seqs[9] + MSS, at=rexmit.time + RTT)
    # ssthresh 7 (CUBIC's beta), then CUBIC's first update of the new epoch adds one
    # (target 8 with Linux's cubic_root and delay_min rounded up to a jiffy)
    assert sk.ca_state == CaState.OPEN and sk.ssthresh == 7 and sk.cwnd == 8


def test_dupthresh_sacks_mark_the_hole_lost_at_once_before_reordering_is_seen() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[1], seqs[4]), at=start + RTT)  # 3 SACKed: reo_wnd is 0
    rexmit = p.expect(seq=seqs[0])
    assert rexmit.time == start + RTT and sk.ca_state == CaState.RECOVERY


def test_a_reordered_segment_inside_the_window_is_not_retransmitted() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[1], seqs[3]), at=start + RTT)
    assert sk.timers()[0][0] == "reo"
    p.send(ACK, ack=seqs[9] + MSS, at=start + RTT + 1 * MS)  # the late original arrived
    p.expect_none(300 * MS)
    assert p.net.mib.tcp["RetransSegs"] == 0 and sk.ca_state == CaState.OPEN
    info = sk.info()
    assert info.reord_seen == 1 and p.net.mib.tcpext["TCPSACKReorder"] == 1
    # tcp_check_sack_reordering measures to SND.UNA once nothing is SACKed: 10 segments.
    assert info.reordering == 10 and sk.timers() == []


def test_reordering_grows_with_the_distance_seen_up_to_tcp_max_reordering() -> None:
    for limit, expected in ((300, 10), (6, 6)):
        p = Peer(sysctl=Sysctl(tcp_max_reordering=limit))
        sk, seqs, start = _flight(p, 10)
        _sack(p, seqs[0], (seqs[8], seqs[9]), at=start + RTT)
        p.send(ACK, ack=seqs[9] + MSS, at=start + RTT + 1 * MS)
        assert sk.reordering == expected and sk.info().reordering == expected


def test_a_dsack_after_reordering_widens_the_reordering_window() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[1], seqs[3]), at=start + RTT)
    p.send(ACK, ack=seqs[9] + MSS, at=start + RTT + 1 * MS)  # reordering seen
    assert sk.reord_seen == 1 and sk.rack.reo_wnd_steps == 1
    # A second flight: the hole outlives the window (4.5 ms) and is retransmitted...
    sk.sendmsg(bytes(10 * MSS))
    t1 = p.now
    seqs = [p.expect(length=MSS).seq for _ in range(10)]
    _sack(p, seqs[0], (seqs[1], seqs[2]), at=t1 + RTT)
    rexmit = p.expect(seq=seqs[0], within=10 * MS)
    assert rexmit.time == t1 + RTT + 4500 * 1000
    # ...but the original was only late: the receiver D-SACKs the retransmission.
    _sack(p, seqs[9] + MSS, (seqs[0], seqs[0] + MSS), at=rexmit.time + RTT)
    mib = p.net.mib.tcpext
    assert (mib["TCPDSACKRecv"], mib["TCPDSACKRecvSegs"]) == (1, 1)
    assert sk.rack.reo_wnd_steps == 2 and sk.info().dsack_dups == 1
    assert mib["TCPDSACKUndo"] + mib["TCPFullUndo"] == 1 and sk.cwnd >= 10  # undone
    # The window is now 2 x min_rtt/4 = 5 ms: the next lone SACK waits 7 ms.
    sk.sendmsg(bytes(10 * MSS))
    t2 = p.now
    seqs = [p.expect(length=MSS).seq for _ in range(10)]
    _sack(p, seqs[0], (seqs[1], seqs[2]), at=t2 + RTT)
    assert sk.timers()[0] == ("reo", t2 + RTT + 7 * MS)


def test_rack_detects_a_lost_retransmission_without_a_timeout() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10, queued=10)
    _sack(p, seqs[0], (seqs[1], seqs[4]), at=start + RTT)
    first = p.expect(seq=seqs[0])  # fast retransmit at once (3 SACKed)
    p.drain()
    # More SACKs clock out new data (PRR) after the retransmission...
    _sack(p, seqs[0], (seqs[1], seqs[9] + MSS), at=first.time + 1 * MS)
    new = [seg for seg in p.drain() if seg.seq != seqs[0]]
    assert new and new[0].time > first.time
    # ...and the SACK of that new data, while the retransmission is still missing, says the
    # retransmission was lost as well.
    _sack(p, seqs[0], (seqs[1], new[0].seq + MSS), at=new[0].time + RTT)
    again = p.expect(seq=seqs[0], within=20 * MS)
    assert again.time == new[0].time + RTT  # RACK, not the RTO
    mib = p.net.mib.tcpext
    assert mib["TCPLostRetransmit"] == 1 and mib["TCPTimeouts"] == 0


def test_tcp_recovery_0_keeps_the_dupthresh_rule() -> None:
    p = Peer(sysctl=Sysctl(tcp_recovery=0))
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[1], seqs[3]), at=start + RTT)  # two SACKed: below DupThresh
    assert all(what != "reo" for what, _ in sk.timers())
    p.expect_none(10 * MS)
    _sack(p, seqs[0], (seqs[1], seqs[4]))  # the third
    assert p.expect(seq=seqs[0]).time == p.now and sk.ca_state == CaState.RECOVERY


# -- F-RTO ----------------------------------------------------------------------------------------
def _spurious_rto(frto: int) -> tuple[Peer, TcpSock, list[int], list[int]]:
    """An RTO whose originals were only delayed; no timestamps, so only F-RTO can tell.
    Returns what was sent after the ACK of the retransmitted head."""
    p = Peer(ts=False, sysctl=Sysctl(tcp_frto=frto, tcp_early_retrans=0))
    sk = established(p, rtt=RTT)
    sk.setsockopt(6, 1, 1)
    sk.sendmsg(bytes(30 * 1460))
    seqs = [p.expect(length=1460).seq for _ in range(10)]
    p.expect(seq=seqs[0], within=1 * S)  # the RTO
    assert sk.ca_state == CaState.LOSS and sk.frto == bool(frto)
    p.send(ACK, ack=seqs[1], at=p.now + RTT)
    after = [seg.seq for seg in p.drain()]
    return p, sk, seqs, after


def test_frto_sends_new_data_after_an_rto_and_undoes_it_when_originals_are_acked() -> None:
    p, sk, seqs, after = _spurious_rto(2)
    assert after == [(seqs[9] + 1460 * k) & 0xFFFFFFFF for k in (1, 2)]  # new data, step 2.b
    assert (sk.cwnd, sk.prior_cwnd, sk.ssthresh) == (2, 10, 7)
    p.send(ACK, ack=seqs[5], at=p.now + RTT)  # never-retransmitted data is ACKed: step 3.b
    mib = p.net.mib.tcpext
    assert (mib["TCPSpuriousRTOs"], mib["TCPLossUndo"], mib["TCPTimeouts"]) == (1, 1, 1)
    # Undone: cwnd back to 10 and ssthresh to what it was (slow start), then this ACK's
    # 4 newly acknowledged segments grow it in slow start.
    assert sk.ca_state == CaState.OPEN and sk.lost_out == 0
    assert sk.ssthresh == 0x7FFFFFFF and sk.cwnd == 10 + 4


def test_without_frto_the_rto_goes_back_n() -> None:
    p, sk, seqs, after = _spurious_rto(0)
    assert after == [seqs[1], seqs[2]]  # retransmissions, slow start from 1
    p.send(ACK, ack=seqs[5], at=p.now + RTT)
    assert p.net.mib.tcpext["TCPSpuriousRTOs"] == 0 and sk.ca_state == CaState.LOSS


# -- what Linux's tcp_clean_rtx_queue / tcp_sacktag_one / tcp_try_undo_dsack do besides -----------
def test_a_sack_only_ack_gives_an_rtt_sample_that_reaches_cubic() -> None:
    # tcp_clean_rtx_queue runs for every ACK: with nothing cumulatively acked, the newest
    # never-retransmitted segment the ACK SACKed gives the sample (sack_rtt_us), and the
    # congestion control's pkts_acked sees it (CUBIC's delay_min).
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    # A passive open: the handshake's sample set min_rtt, but no ACK of data reached CUBIC.
    assert sk.min_rtt_us == 10_000 and sk.ca.delay_min == 0
    _sack(p, seqs[0], (seqs[1], seqs[2]), at=start + 4 * MS)
    assert sk.snd_una == seqs[0] and sk.sacked_out == 1
    assert sk.min_rtt_us == 4000 and sk.ca.delay_min == 4000
    assert sk.srtt_us >> 3 == 10_000 - (10_000 - 4000) // 8  # folded into srtt as well


def test_a_dsack_of_a_retransmission_whose_original_was_sacked_is_reordering() -> None:
    # Two holes, both retransmitted at once (no reordering seen: reo_wnd 0).  The original of
    # the second arrives while the first is still missing, so it is SACKed; then its
    # retransmission comes back as a duplicate: tcp_sacktag_one counts that as reordering.
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[2], seqs[5]), at=start + RTT)
    assert [p.expect(length=MSS).seq for _ in range(2)] == seqs[:2]
    t = p.now
    _sack(p, seqs[0], (seqs[1], seqs[5]), at=t + 1 * MS)  # the late original of seqs[1]
    assert sk.reord_seen == 0  # it was retransmitted: not counted as reordering
    _sack(p, seqs[0], (seqs[1], seqs[1] + MSS), (seqs[1], seqs[5]), at=t + 2 * MS)
    mib = p.net.mib.tcpext
    assert (mib["TCPDSACKOfoRecv"], mib["TCPDSACKRecvSegs"]) == (1, 1)
    assert sk.reord_seen == 1 and mib["TCPSACKReorder"] == 1
    assert sk.reordering == 4  # fack (seqs[5]) - seqs[1]: 4 segments


def test_a_dsack_undo_counts_the_duplicate_delivered_and_keeps_reo_wnd_one_recovery_more() -> None:
    p = Peer()
    sk, seqs, start = _flight(p, 10)
    _sack(p, seqs[0], (seqs[1], seqs[4]), at=start + RTT)  # fast retransmit at once
    rexmit = p.expect(seq=seqs[0], length=MSS)
    p.send(ACK, ack=seqs[9] + MSS, at=rexmit.time + 1 * MS)  # the original was only late
    assert sk.ca_state == CaState.OPEN and sk.ssthresh == 7 and sk.cwnd < 10
    assert sk.rack.reo_wnd_persist == 0
    delivered = sk.info().delivered
    _sack(p, seqs[9] + MSS, (seqs[0], seqs[0] + MSS), at=rexmit.time + RTT)
    mib = p.net.mib.tcpext
    assert mib["TCPDSACKUndo"] == 1 and sk.cwnd == 10  # tcp_try_undo_dsack
    assert sk.rack.reo_wnd_persist == 1  # and reo_wnd_persist + 1
    assert sk.info().delivered == delivered + 1  # tcp_dsack_seen: a duplicate is delivered
