"""The send side's engine: what to send and when, retransmission, probes.

Mirrors Linux's ``net/ipv4/tcp_output.c``: ``tcp_write_xmit`` with ``tcp_cwnd_test``/
``tcp_snd_wnd_test``/``tcp_nagle_test``/``tcp_mss_split_point``/``tso_fragment``,
``tcp_push_pending_frames``, ``tcp_send_fin``, ``tcp_retransmit_skb``/
``tcp_xmit_retransmit_queue``, ``tcp_write_wakeup``/``tcp_send_probe0``'s timing, plus the
quick-ACK helpers of ``tcp_input.c``.

Sending one segment (``__tcp_transmit_skb``, ACKs, resets, the ``tcp_event_*`` bookkeeping)
is ``transmit.py``, whose names are re-exported here; the header itself (options, the
precompiled established header, checksum seeding) is written by ``header.py``; whether a
small super-segment waits for the next ACK is ``tso.py``'s ``tso_should_defer``.

Contract: every segment leaves through ``sk.table.transmit(skb, saddr, daddr)`` with
``skb.data`` at the TCP header.  Queued skbs are never sent themselves: a clone (or a copy,
when an earlier clone is still in flight) gets the header pushed in its headroom.  When the
route's device has a checksum offload the header carries the pseudo-header sum and the skb
is ``CHECKSUM_PARTIAL``; with TSO a super-segment also carries ``gso_size = mss``.
Queued skbs may carry page fragments (``sendmsg.tcp_sendmsg`` under NETIF_F_SG): lengths are
``skb.len``, ``fragment`` splits with ``skb_split`` (fragments move or are shared, never
copied; a clone still in flight is first uncloned), ``trim_head`` drops acknowledged bytes
with ``pskb_trim_head``, and a segment whose earlier clone is still in flight is sent as a
``pskb_copy`` (private head, shared pages).
Nagle is Linux's (Minshall's variant): a small segment waits while another small one is
unacknowledged; TCP_CORK holds small segments until full or ~200 ms (the probe timer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.skbfrag import pskb_trim_head, skb_split
from stack.core.skbfree import skb_header_release
from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD
from stack.sock import SK_PACING_NEEDED
from stack.tcp import ecn
from stack.tcp import window as win
from stack.tcp.cb import TxSeg
from stack.tcp.chrono import (
    TCP_CHRONO_BUSY,
    TCP_CHRONO_RWND_LIMITED,
    TCP_CHRONO_SNDBUF_LIMITED,
    chrono_start,
    chrono_stop,
)
from stack.tcp.cong import is_cwnd_limited
from stack.tcp.const import (
    TCP_ATO_MIN,
    TCP_NAGLE_CORK,
    TCP_NAGLE_OFF,
    TCP_NAGLE_PUSH,
    TCP_RTO_MAX,
    TCP_RTO_MIN,
    TCPCB_EVER_RETRANS,
    TCPCB_LOST,
    TCPCB_SACKED_ACKED,
    TCPCB_SACKED_RETRANS,
)
from stack.tcp.pacing import pacing_check, tso_autosize
from stack.tcp.scoreboard import ts_add_after
from stack.tcp.state import CaState, TcpState
from stack.tcp.transmit import (  # noqa: F401 - re-exported: output.send_ack etc.
    acceptable_seq,
    emit_raw,
    event_ack_sent,
    event_data_sent,
    event_new_data_sent,
    new_queued_skb,
    new_skb,
    send_ack,
    send_active_reset,
    send_control,
    send_delayed_ack,
    send_reset,
    transmit_skb,
    urgent_pointer,
)
from stack.tcp.tso import DEFER_CWND, tso_should_defer
from stack.tcp.tsq import small_queue_check
from stack.tcp.xmit_timer import schedule_loss_probe
from stack.wire.tcp import ACK, FIN, PSH, SYN

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


# -- the write queue engine -----------------------------------------------------------------------
def set_tso_segs(seg: TxSeg, mss_now: int) -> int:
    """Segments ``seg`` will leave as (``tcp_set_skb_tso_segs``)."""
    n = seg.skb.len
    if n <= mss_now:
        seg.pcount = 1
        seg.mss = 0
    else:
        seg.pcount = -(-n // mss_now)
        seg.mss = mss_now
    return seg.pcount


def fragment(sk: TcpSock, queue, seg: TxSeg, length: int, mss_now: int) -> TxSeg:
    """Split ``seg`` after ``length`` payload bytes; the tail joins ``queue`` after it.

    FIN and PSH move to the tail part (``tcp_fragment``/``tso_fragment``).  Returns the tail.
    """
    skb = seg.skb
    if skb.data_len and skb.cloned():  # skb_unclone: the fragment list is about to change
        skb.expand_head(0, 0)
        skb_header_release(skb)
    tail = new_queued_skb(sk, max(skb.tail - skb.data - length, 0))
    skb_split(skb, tail, length)  # fragments move (or are shared), never copied
    tail.truesize = SKB_TRUESIZE_OVERHEAD + tail.len
    skb.truesize = SKB_TRUESIZE_OVERHEAD + skb.len
    sk.wmem_queued += SKB_TRUESIZE_OVERHEAD
    nseg = TxSeg(tail, seg.seq + length, seg.end_seq, seg.flags)
    seg.end_seq = seg.seq + length
    seg.flags &= ~(FIN | PSH)
    nseg.sacked = seg.sacked
    nseg.tx_time = seg.tx_time
    nseg.tx_edt = seg.tx_edt  # tcp_fragment copies TCP_SKB_CB(skb)->tx
    nseg.tx_delivered = seg.tx_delivered
    nseg.tx_delivered_mstamp = seg.tx_delivered_mstamp
    nseg.tx_first_tx_mstamp = seg.tx_first_tx_mstamp
    nseg.tx_app_limited = seg.tx_app_limited
    ts_add_after(seg, nseg)
    old = seg.pcount
    set_tso_segs(seg, mss_now)
    set_tso_segs(nseg, mss_now)
    diff = old - seg.pcount - nseg.pcount
    if queue is sk.rtx:
        sk.rtx.insert(sk.rtx.index(seg) + 1, nseg)
        if diff:
            _recount(sk, seg, -diff)
    else:
        queue.insert(queue.index(seg) + 1, nseg)
    return nseg


def _recount(sk: TcpSock, seg: TxSeg, diff: int) -> None:
    """Keep the segment counters right when a queued skb's pcount changes."""
    sk.packets_out += diff
    if seg.sacked & TCPCB_SACKED_ACKED:
        sk.sacked_out += diff
    if seg.sacked & TCPCB_LOST:
        sk.lost_out += diff
    if seg.sacked & TCPCB_SACKED_RETRANS:
        sk.retrans_out += diff


def cwnd_test(sk: TcpSock) -> int:
    """Segments cwnd lets us send now, at most half of cwnd per skb (``tcp_cwnd_test``)."""
    in_flight = sk.packets_in_flight()
    cwnd = sk.cwnd
    if in_flight >= cwnd:
        return 0
    return min(max(cwnd >> 1, 1), cwnd - in_flight)


def snd_wnd_test(sk: TcpSock, seg: TxSeg, mss_now: int) -> bool:
    """Does the first MSS of ``seg`` fit in the peer's window?  (``tcp_snd_wnd_test``)"""
    end = seg.end_seq
    if seg.skb.len > mss_now:
        end = seg.seq + mss_now
    return end <= sk.snd_una + sk.snd_wnd


def minshall_check(sk: TcpSock) -> bool:
    return sk.snd_una < sk.snd_sml <= sk.snd_nxt


def nagle_check(sk: TcpSock, partial: bool, nonagle: int) -> bool:
    """True when a partial segment must wait (``tcp_nagle_check``, RFC 896 with Minshall)."""
    return partial and bool(
        nonagle & TCP_NAGLE_CORK or (not nonagle and sk.packets_out and minshall_check(sk))
    )


def mss_split_point(sk: TcpSock, seg: TxSeg, mss_now: int, max_segs: int, nonagle: int) -> int:
    """How many bytes of a super-segment to send now (``tcp_mss_split_point``)."""
    window = sk.wnd_end() - seg.seq
    max_len = mss_now * max_segs
    if max_len <= window and seg is not sk.write_queue[-1]:
        return max_len
    needed = min(seg.skb.len, window)
    if max_len <= needed:
        return max_len
    partial = needed % mss_now
    if nagle_check(sk, partial != 0, nonagle):
        return needed - partial
    return needed


def cwnd_validate(sk: TcpSock, cwnd_limited: bool) -> None:
    """Remember whether the flight was cwnd-limited (``tcp_cwnd_validate``, RFC 7661); a
    flight that was not, with the write queue empty and the writer out of buffer space,
    starts the SNDBUF_LIMITED chronograph (chrono.py)."""
    if (
        sk.snd_una >= sk.cwnd_usage_seq
        or cwnd_limited
        or (not sk.is_cwnd_limited and sk.packets_out > sk.max_packets_out)
    ):
        sk.is_cwnd_limited = cwnd_limited
        sk.max_packets_out = sk.packets_out
        sk.cwnd_usage_seq = sk.snd_nxt
    if (
        not sk.write_queue  # the cheap tests first: is_cwnd_limited is a call (issue 18)
        and sk.nospace
        and not is_cwnd_limited(sk)
        and sk.state in (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT)
    ):
        chrono_start(sk, TCP_CHRONO_SNDBUF_LIMITED)  # starved by the send buffer


def write_xmit(sk: TcpSock, mss_now: int, nonagle: int, push_one: int = 0) -> bool:
    """Send what cwnd, the peer's window, Nagle and TSO deferral allow (``tcp_write_xmit``).

    ``push_one``: 1 sends one skb; 2 is a tail loss probe, which goes out even when cwnd is
    full and does not plan another probe.  After a flight a loss probe is planned
    (``tcp_schedule_loss_probe``).  Returns True when nothing is in flight but data waits
    (the caller arms the probe timer).
    """
    queue = sk.write_queue
    sent = 0
    is_cwnd_limited = False
    is_rwnd_limited = False
    # Per-transmit helpers inlined here (calls_per_rr, issue 18): xmit_size_goal's
    # "at least 1" max(), cwnd_test and packets_in_flight, snd_wnd_test.  The functions stay
    # for the other callers and say what each test is.
    max_segs = win.xmit_size_goal(sk, mss_now) // mss_now or 1
    autosize = tso_autosize(sk, mss_now)
    if autosize < max_segs:
        max_segs = autosize
    while queue:
        if sk.sk_pacing_status == SK_PACING_NEEDED and pacing_check(sk):
            break
        seg = queue[0]
        # set_tso_segs, inlined, with skb.len (a property) read once per pass (issue 18)
        skb = seg.skb
        seglen = skb.len
        if seglen <= mss_now:
            tso_segs = seg.pcount = 1
            seg.mss = 0
        else:
            tso_segs = seg.pcount = -(-seglen // mss_now)
            seg.mss = mss_now
        # cwnd_test: half of cwnd per skb at most
        in_flight = sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out
        cwnd = sk.cwnd
        if in_flight >= cwnd:
            if push_one != 2:
                is_cwnd_limited = True
                break
            quota = 1  # force out the loss probe
        else:
            quota = cwnd >> 1 or 1
            if cwnd - in_flight < quota:
                quota = cwnd - in_flight
        # snd_wnd_test: the first MSS of seg fits in the peer's window
        end = seg.seq + mss_now if seglen > mss_now else seg.end_seq
        if end > sk.snd_una + sk.snd_wnd:
            is_rwnd_limited = True
            break
        last = seg is queue[-1]
        if tso_segs == 1:
            # tcp_nagle_test, with the length at hand: urgent data (tcp_urg_mode) and the
            # FIN do not wait
            seg_nonagle = nonagle if last else TCP_NAGLE_PUSH
            if not (
                seg_nonagle & TCP_NAGLE_PUSH or seg.flags & FIN or sk.snd_up > sk.snd_una
            ) and nagle_check(sk, seglen < mss_now, seg_nonagle):
                break
        elif not push_one:
            defer = tso_should_defer(sk, seg, mss_now, max_segs)
            if defer:
                is_cwnd_limited |= defer == DEFER_CWND
                break
        limit = mss_now
        if tso_segs > 1:
            limit = mss_split_point(sk, seg, mss_now, min(quota, max_segs), nonagle)
        if seglen > limit:
            fragment(sk, queue, seg, limit, mss_now)
            seglen = skb.len
        if small_queue_check(sk, skb, 0):
            break
        if not seg.pcount:
            set_tso_segs(seg, mss_now)
        transmit_skb(sk, seg)
        event_new_data_sent(sk, seg)
        if seglen < seg.pcount * mss_now:
            sk.snd_sml = seg.end_seq  # tcp_minshall_update
        sent += seg.pcount
        if push_one:
            break
    if is_rwnd_limited:
        chrono_start(sk, TCP_CHRONO_RWND_LIMITED)
    elif sk.chrono_type == TCP_CHRONO_RWND_LIMITED or not (sk.rtx or queue):
        chrono_stop(sk, TCP_CHRONO_RWND_LIMITED)  # the only cases where it changes anything
    if sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out >= sk.cwnd:
        is_cwnd_limited = True  # tcp_packets_in_flight, inlined
    if sent and push_one != 2:
        schedule_loss_probe(sk, False)  # one loss probe per tail loss episode
    if sent or is_cwnd_limited:
        cwnd_validate(sk, is_cwnd_limited)
    if sent:
        return False
    return not sk.packets_out and bool(queue)


def check_probe_timer(sk: TcpSock) -> None:
    """Arm the zero-window probe if nothing else is pending (``tcp_check_probe_timer``)."""
    if not sk.packets_out and not sk.retransmit_timer.pending():
        sk.reset_xmit_timer("probe0", probe0_base(sk), TCP_RTO_MAX)


def probe0_base(sk: TcpSock) -> int:
    return max(sk.rto, TCP_RTO_MIN)


def probe0_when(sk: TcpSock) -> int:
    return min(probe0_base(sk) << sk.backoff, TCP_RTO_MAX)


def push_pending_frames(sk: TcpSock, nonagle: int | None = None) -> None:
    """``tcp_push_pending_frames``: write_xmit, and the probe timer if the window is shut."""
    if not sk.write_queue or sk.state == TcpState.CLOSED:
        return
    if write_xmit(sk, win.current_mss(sk), sk.nonagle if nonagle is None else nonagle):
        check_probe_timer(sk)


def send_fin(sk: TcpSock) -> None:
    """Queue our FIN: on the unsent tail if there is one, else alone (``tcp_send_fin``)."""
    if sk.write_queue:
        tail = sk.write_queue[-1]
        tail.flags |= FIN
        tail.end_seq += 1
    else:
        seg = TxSeg(new_queued_skb(sk), sk.write_seq, sk.write_seq + 1, ACK | FIN)
        sk.wmem_queued += SKB_TRUESIZE_OVERHEAD
        sk.write_queue.append(seg)
        chrono_start(sk, TCP_CHRONO_BUSY)  # tcp_add_write_queue_tail: the queue was empty
    sk.write_seq += 1
    push_pending_frames(sk, TCP_NAGLE_OFF)


# -- retransmission -------------------------------------------------------------------------------
def trim_head(sk: TcpSock, seg: TxSeg, length: int) -> None:
    """Drop ``length`` acknowledged bytes from the front of ``seg`` (``tcp_trim_head``)."""
    skb = seg.skb
    if skb.data_len:
        if skb.cloned():  # skb_unclone_keeptruesize: the fragments are shared with a clone
            skb.expand_head(0, 0)
            skb_header_release(skb)
        pskb_trim_head(skb, length)
    else:
        skb.pull(length)
    seg.seq += length
    skb.truesize = SKB_TRUESIZE_OVERHEAD + skb.len
    sk.wmem_queued -= length


def retransmit_skb(sk: TcpSock, seg: TxSeg, segs: int, probe: bool = False) -> bool:
    """Send ``seg`` again, at most ``segs`` MSS of it (``tcp_retransmit_skb``).

    ``probe``: a tail loss probe (Linux calls ``__tcp_retransmit_skb`` for it): counted as a
    retransmission on the wire and in the MIB, but not in ``retrans_out``, the undo
    bookkeeping or ``retrans_stamp`` (it is not a loss repair).
    """
    if seg.seq < sk.snd_una:
        if seg.end_seq <= sk.snd_una:
            return False
        trim_head(sk, seg, sk.snd_una - seg.seq)
        set_tso_segs(seg, win.current_mss(sk))
    mss_now = win.current_mss(sk)
    if seg.seq >= sk.wnd_end() and seg.seq != sk.snd_una:
        return False
    length = mss_now * (max(segs, 1) if win.can_gso(sk) else 1)
    if seg.skb.len > length:
        fragment(sk, sk.rtx, seg, length, mss_now)
    elif seg.skb.len:
        old = seg.pcount
        if set_tso_segs(seg, mss_now) != old:  # the MSS changed since it was first sent
            _recount(sk, seg, seg.pcount - old)
    pcount = seg.pcount
    sk.net.mib.tcp["RetransSegs"] += pcount
    if seg.flags & SYN:
        sk.net.mib.tcpext["TCPSynRetrans"] += 1  # tcp_retransmit_skb
    sk.total_retrans += pcount
    sk.bytes_retrans += seg.skb.len
    kernel = sk.net.kernel
    if kernel.tracers:
        kernel.trace("tcp_retransmit_skb", sk=sk, seq=seg.seq, len=seg.skb.len)
    if not sk.retrans_stamp:  # the original transmission starts tcp_retries2's clock
        if probe:  # a probe of the head moves its send time: keep the original
            if sk.rtx and seg is sk.rtx[0]:
                sk.timeout_stamp = seg.tx_time or sk.net.sched.now
                sk.probed_head = seg
        elif seg is not sk.probed_head:
            sk.timeout_stamp = seg.tx_time or sk.net.sched.now
    if seg.flags & ecn.TCPHDR_SYN_ECN == ecn.TCPHDR_SYN_ECN:
        ecn.clear_syn(sk, seg)  # RFC 3168 §6.1.1.1: the SYN may have died for its ECN bits
    transmit_skb(sk, seg)
    if probe:
        seg.sacked |= TCPCB_EVER_RETRANS
        return True
    sk.probed_head = None
    if sk.ca_state == CaState.RECOVERY or sk.ca_state == CaState.CWR:  # tcp_in_cwnd_reduction
        sk.prr_out += pcount
    seg.sacked |= TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS
    sk.retrans_out += pcount
    if not sk.retrans_stamp:
        sk.retrans_stamp = sk.net.sched.now
    if sk.undo_retrans < 0:
        sk.undo_retrans = 0
    sk.undo_retrans += pcount
    return True


def xmit_retransmit_queue(sk: TcpSock) -> None:
    """Retransmit segments marked lost while pipe < cwnd (``tcp_xmit_retransmit_queue``).

    RFC 6675 NextSeg() rule 1; new data (rule 2) follows through ``write_xmit``.  The walk
    stops at ``lost_high``: nothing above it was ever marked lost (Linux resumes from
    ``retransmit_skb_hint`` instead); without the bound every ACK in recovery walked the
    whole queue, O(cwnd) per ACK.
    """
    if not sk.packets_out or not sk.lost_out:
        return
    rearm = False
    rtx = sk.rtx
    head = rtx[0] if rtx else None
    lost_high = sk.lost_high
    i = 0
    while i < len(rtx):  # by index: a retransmission may split the entry it sends
        seg = rtx[i]
        if seg.seq >= lost_high:
            break
        i += 1
        sacked = seg.sacked
        if not sacked & TCPCB_LOST or sacked & (TCPCB_SACKED_ACKED | TCPCB_SACKED_RETRANS):
            continue
        room = sk.cwnd - sk.packets_in_flight()
        if room <= 0:
            break
        if small_queue_check(sk, seg.skb, 1):
            break
        if not retransmit_skb(sk, seg, room):
            break
        sk.net.mib.tcpext[
            "TCPFastRetrans" if sk.ca_state != CaState.LOSS else "TCPSlowStartRetrans"
        ] += 1
        if seg is head:
            rearm = True
    if rearm and sk.xmit_timer_what != "reo":
        sk.reset_xmit_timer("rto", sk.rto, TCP_RTO_MAX)


# -- probes ---------------------------------------------------------------------------------------
def xmit_probe(sk: TcpSock, mib: str) -> None:
    """A segment the peer must ACK: SEQ = SND.UNA - 1, no data (``tcp_xmit_probe_skb``)."""
    sk.net.mib.tcpext[mib] += 1
    send_control(sk, sk.snd_una - 1, ACK)


def write_wakeup(sk: TcpSock, mib: str) -> int:
    """Probe the peer: new data if the window allows any, else an old-sequence ACK.

    Returns 1 when data was sent, 0 for a bare probe, -1 when closed (``tcp_write_wakeup``).
    """
    if sk.state == TcpState.CLOSED:
        return -1
    seg = sk.send_head()
    end = sk.wnd_end()
    if seg is not None and seg.seq < end:
        mss = win.current_mss(sk)
        size = end - seg.seq
        sk.pushed_seq = max(sk.pushed_seq, seg.end_seq)
        if size < seg.end_seq - seg.seq or seg.skb.len > mss:
            size = min(size, mss)
            seg.flags |= PSH
            if seg.skb.len > size:
                fragment(sk, sk.write_queue, seg, size, mss)
        set_tso_segs(seg, mss)
        seg.flags |= PSH
        transmit_skb(sk, seg)
        event_new_data_sent(sk, seg)
        return 1
    xmit_probe(sk, mib)
    return 0


def incr_quickack(sk: TcpSock, max_quickacks: int) -> None:
    """Allow up to ``max_quickacks`` immediate ACKs (``tcp_incr_quickack``)."""
    quickacks = sk.rcv_wnd // (2 * sk.rcv_mss) if sk.rcv_mss else 0
    quickacks = min(quickacks or 2, max_quickacks)
    if quickacks > sk.ack_quick:
        sk.ack_quick = quickacks


def enter_quickack_mode(sk: TcpSock, max_quickacks: int) -> None:
    """ACK every segment for a while (``tcp_enter_quickack_mode``)."""
    incr_quickack(sk, max_quickacks)
    sk.pingpong = 0
    sk.ato = TCP_ATO_MIN
