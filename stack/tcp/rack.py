"""RACK: time-based loss detection (RFC 8985 §6), as Linux's ``net/ipv4/tcp_recovery.c``.

A sent segment is lost once a segment sent *after* it has been (S)ACKed and more than the
reordering window has passed beyond the RTT of that delivery: ``tcp_rack_advance`` records
the most recently sent delivered segment (``rack.mstamp``/``end_seq``) and its RTT,
``tcp_rack_detect_loss`` walks the sent segments in transmission order (the time-sorted list
of ``scoreboard.py``; a retransmission moves to its tail, so lost retransmissions are
detected too) and marks those whose deadline passed, ``tcp_rack_mark_lost`` arms the reorder
timer (``ICSK_TIME_REO_TIMEOUT``, on the retransmit timer's slot, ``"reo"`` here) for the
rest; when it fires, ``timer.rack_reo_timeout`` marks what expired and starts recovery.

The reordering window (``tcp_rack_reo_wnd``) is ``min_rtt/4`` times ``reo_wnd_steps``, at
most ``srtt``; it is 0 while no reordering was ever seen and the connection is in recovery,
or DupThresh segments are SACKed (unless ``tcp_recovery`` has ``TCP_RACK_NO_DUPTHRESH``).
D-SACKs that show a spurious retransmission widen it by one step per round trip
(``tcp_rack_update_reo_wnd``) for 16 recoveries.  Reordering seen on the SACK scoreboard
raises ``tp->reordering`` up to ``tcp_max_reordering`` (``tcp_check_sack_reordering``,
TCPSACKReorder / TCPTSReorder) and counts ``reord_seen`` (TCP_INFO's ``tcpi_reord_seen``).

Deviations: times are the scheduler's nanoseconds (Linux: microseconds, and the reorder
timer in jiffies, which rounds it up by up to 1 ms more).

Spec: RFC 8985 §6.2 (steps 1-5), §7.2 (reordering window); Linux tcp_recovery.c.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp.const import (
    NS_PER_US,
    TCP_RACK_NO_DUPTHRESH,
    TCP_RACK_RECOVERY_THRESH,
    TCP_RACK_STATIC_REO_WND,
    TCP_TIMEOUT_MIN,
    TCPCB_LOST,
    TCPCB_RETRANS,
    TCPCB_SACKED_RETRANS,
)
from stack.tcp.scoreboard import mark_skb_lost, ts_del
from stack.tcp.state import CaState

if TYPE_CHECKING:
    from stack.tcp.rate import RateSample
    from stack.tcp.sock import TcpSock

NO_MIN_RTT_US = 0xFFFFFFFF  # tcp_min_rtt() before any sample: ~0U


class RackState:
    """Linux's ``tp->rack``: the newest delivered transmission and the reordering window."""

    __slots__ = (
        "mstamp",
        "end_seq",
        "rtt_ns",
        "advanced",
        "reo_wnd_steps",
        "reo_wnd_persist",
        "dsack_seen",
        "last_delivered",
    )

    def __init__(self) -> None:
        self.mstamp = 0  # transmit time (ns) of the most recently sent (s)acked segment
        self.end_seq = 0
        self.rtt_ns = 0  # the RTT of the last (s)acked segment
        self.advanced = False  # mstamp moved since the last loss walk
        self.reo_wnd_steps = 1  # reo_wnd in units of min_rtt/4
        self.reo_wnd_persist = 0  # recoveries left before reo_wnd_steps falls back to 1
        self.dsack_seen = False  # a D-SACK arrived since reo_wnd was last widened
        self.last_delivered = 0  # tp->delivered when reo_wnd_steps last grew


def is_rack(sk: TcpSock) -> bool:
    """``tcp_is_rack``: RACK loss detection is on (``tcp_recovery`` bit 0x1)."""
    return bool(sk.net.sysctl.tcp_recovery & 1)


def min_rtt_us(sk: TcpSock) -> int:
    return sk.min_rtt_us or NO_MIN_RTT_US


def advance(sk: TcpSock, sacked: int, end_seq: int, xmit_time: int, now: int) -> None:
    """A segment sent at ``xmit_time`` was (S)ACKed (``tcp_rack_advance``, RFC 8985 step 2).

    A retransmitted segment delivered sooner than min_rtt after its retransmission was
    probably the original arriving late: it says nothing about the newest transmission.
    """
    rtt_ns = now - xmit_time
    if sacked & TCPCB_RETRANS and rtt_ns < min_rtt_us(sk) * NS_PER_US:
        return
    rack = sk.rack
    rack.advanced = True
    rack.rtt_ns = rtt_ns
    mstamp = rack.mstamp  # tcp_skb_sent_after: newer, ties broken by sequence
    if xmit_time > mstamp or (xmit_time == mstamp and end_seq > rack.end_seq):
        rack.mstamp = xmit_time
        rack.end_seq = end_seq


def reo_wnd_us(sk: TcpSock) -> int:
    """The reordering window in µs (``tcp_rack_reo_wnd``, RFC 8985 §6.2 step 4)."""
    if not sk.reord_seen:
        if sk.ca_state >= CaState.RECOVERY:
            return 0
        if (
            sk.sacked_out >= sk.reordering
            and not sk.net.sysctl.tcp_recovery & TCP_RACK_NO_DUPTHRESH
        ):
            return 0
    return min((min_rtt_us(sk) >> 2) * sk.rack.reo_wnd_steps, sk.srtt_us >> 3)


def detect_loss(sk: TcpSock) -> int:
    """Mark the segments whose RACK deadline passed; return the longest wait left, ns
    (0: none) (``tcp_rack_detect_loss``, RFC 8985 step 5)."""
    rack = sk.rack
    now = sk.net.sched.now
    budget = rack.rtt_ns + reo_wnd_us(sk) * NS_PER_US
    mstamp, rack_end = rack.mstamp, rack.end_seq
    wait = 0
    anchor = sk.tsorted
    seg = anchor.ts_next
    while seg is not anchor:
        nxt = seg.ts_next
        sacked = seg.sacked
        if sacked & TCPCB_LOST and not sacked & TCPCB_SACKED_RETRANS:
            seg = nxt  # marked lost, not yet retransmitted
            continue
        sent = seg.tx_time
        if not (mstamp > sent or (mstamp == sent and rack_end > seg.end_seq)):
            break  # sent after the newest delivered segment: nothing to learn beyond
        remaining = budget - (now - sent)
        if remaining <= 0:
            mark_skb_lost(sk, seg)
            ts_del(seg)
        elif remaining > wait:
            wait = remaining
        seg = nxt
    return wait


def mark_lost(sk: TcpSock) -> bool:
    """Run the loss walk if a newer delivery was seen; arm the reorder timer for what may
    still arrive.  True when the timer was armed (``tcp_rack_mark_lost``)."""
    rack = sk.rack
    if not rack.advanced:
        return False
    rack.advanced = False
    wait = detect_loss(sk)
    if wait:
        sk.reset_xmit_timer("reo", wait + TCP_TIMEOUT_MIN, sk.rto)
    return bool(wait)


def update_reo_wnd(sk: TcpSock, rs: RateSample) -> None:
    """Widen the window after a D-SACK, at most once a round trip (``tcp_rack_update_reo_wnd``,
    RFC 8985 §7.2); called for every ACK, acts when it delivered a segment with a rate
    sample (``rs.prior_delivered``).  "A round trip since the last widening" is Linux's:
    the newest segment delivered now was sent after ``delivered`` reached
    ``rack.last_delivered``."""
    if sk.net.sysctl.tcp_recovery & TCP_RACK_STATIC_REO_WND or not rs.prior_delivered:
        return
    rack = sk.rack
    if rs.prior_delivered < rack.last_delivered:  # sent before the last widening
        rack.dsack_seen = False
    if rack.dsack_seen:
        rack.reo_wnd_steps = min(0xFF, rack.reo_wnd_steps + 1)
        rack.dsack_seen = False
        rack.last_delivered = sk.delivered
        rack.reo_wnd_persist = TCP_RACK_RECOVERY_THRESH
    elif not rack.reo_wnd_persist:
        rack.reo_wnd_steps = 1


def highest_sack_seq(sk: TcpSock) -> int:
    """``tcp_highest_sack_seq``: the end of the highest SACKed segment (SND.UNA if none)."""
    if not sk.sacked_out:
        return sk.snd_una
    return max(sk.highest_sack, sk.snd_una)


def check_sack_reordering(sk: TcpSock, low_seq: int, ts: bool) -> None:
    """``low_seq`` was delivered below the highest SACK without a retransmission: the
    network reordered.  Raise ``reordering`` to the distance seen
    (``tcp_check_sack_reordering``)."""
    fack = highest_sack_seq(sk)
    if low_seq >= fack:
        return
    metric = fack - low_seq
    mss = sk.mss_cache
    if mss and metric > sk.reordering * mss:
        sk.reordering = min(-(-metric // mss), sk.net.sysctl.tcp_max_reordering)
    sk.reord_seen += 1
    sk.net.mib.tcpext["TCPTSReorder" if ts else "TCPSACKReorder"] += 1
