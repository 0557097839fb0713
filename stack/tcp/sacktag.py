"""The SACK scoreboard: tagging SACKed segments and judging D-SACKs.

Mirrors Linux's ``tcp_sacktag_write_queue``/``tcp_sacktag_one`` and ``tcp_check_dsack``
(``net/ipv4/tcp_input.c``; D-SACK per RFC 2883, the scoreboard per RFC 6675 §5): each newly
SACKed segment feeds the ACK's rate sample and SACK RTT, reordering is judged against the
forward-most SACKed sequence (``tcp_check_sack_reordering``), and the previous ACK's blocks are
remembered (``recv_sack_cache``).  Called from :func:`stack.tcp.ack.tcp_ack`.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from stack.tcp import output, rack, rate
from stack.tcp.const import (
    TCPCB_EVER_RETRANS,
    TCPCB_LOST,
    TCPCB_SACKED_ACKED,
    TCPCB_SACKED_RETRANS,
)
from stack.tcp.recovery import (
    FLAG_DATA_SACKED,
    FLAG_DSACK_TLP,
    FLAG_DSACKING_ACK,
    FLAG_ORIG_SACK_ACKED,
)
from stack.tcp.seq import unwrap
from stack.tcp.state import CaState

if TYPE_CHECKING:
    from stack.tcp.cb import TxSeg
    from stack.tcp.sock import TcpSock


def sacktag(
    sk: TcpSock, blocks: tuple[tuple[int, int], ...], prior_snd_una: int, ack: int, st: SackTagState
) -> int:
    """Mark SACKed segments on the scoreboard (``tcp_sacktag_write_queue``); each newly
    SACKed segment feeds the rate sample ``st.rate`` and the SACK RTT (``st.first_sackt``).

    As Linux's ``recv_sack_cache``, the blocks of the previous ACK are remembered and the
    segments they covered are skipped: they are SACKed already while ``sacked_out`` is
    non-zero (reneging clears both).  Without it a block that grows by a few segments per
    ACK was re-walked whole, O(cwnd) per ACK.
    """
    mib = sk.net.mib.tcpext
    una = sk.snd_una
    sp = [(unwrap(una, s), unwrap(una, e)) for s, e in blocks]
    dup = check_dsack(sk, sp, ack, prior_snd_una, st)
    cache = sk.sack_cache if sk.sacked_out else []
    tagged: list[tuple[int, int]] = []
    if dup:
        s, e = sp.pop(0)
        if not (s < e <= sk.snd_nxt) or s < una - sk.max_window - 1:
            mib["TCPDSACKIgnoredOld"] += 1
        else:
            _tag_range(sk, s, e, True, (), st)
    sp.sort()  # in sequence order, as Linux sorts them: reordering is judged against fack
    for s, e in sp:
        if not (s < e <= sk.snd_nxt) or s < una - sk.max_window - 1:
            mib["TCPSACKDiscard"] += 1
            continue
        if e <= una:
            continue
        _tag_range(sk, s, e, False, cache, st)
        tagged.append((s, e))
    sk.sack_cache = tagged
    if st.reord < sk.snd_nxt and (sk.ca_state != CaState.LOSS or sk.undo_marker):
        rack.check_sack_reordering(sk, st.reord, False)
    return st.flag


class SackTagState:
    """What one ACK's SACK walk gathers (Linux's ``struct tcp_sacktag_state``)."""

    __slots__ = ("flag", "reord", "now", "rate", "first_sackt", "last_sackt")

    def __init__(self, snd_nxt: int, now: int, rs: rate.RateSample) -> None:
        self.flag = 0
        self.reord = snd_nxt  # lowest never-retransmitted segment newly SACKed below fack
        self.now = now
        self.rate = rs
        # send times (ns) of the first and last never-retransmitted segments newly SACKed,
        # -1: none (the SACK RTT sample of tcp_clean_rtx_queue)
        self.first_sackt = -1
        self.last_sackt = -1


def check_dsack(
    sk: TcpSock, sp: list[tuple[int, int]], ack: int, prior_snd_una: int, st: SackTagState
) -> bool:
    """Is the first block a D-SACK (RFC 2883 §4)?  Count it as Linux's ``tcp_check_dsack``
    and ``tcp_dsack_seen`` do: below the ACK (TCPDSACKRecv) or inside the second block
    (TCPDSACKOfoRecv); a range wider than the peer's largest window, or more duplicates than
    we ever retransmitted, is dubious and ignored (TCPDSACKIgnoredDubious).  A D-SACK of
    exactly the outstanding loss probe flags FLAG_DSACK_TLP; any other, once reordering was
    seen, asks RACK to widen its window (``rack.dsack_seen``)."""
    mib = sk.net.mib.tcpext
    s0, e0 = sp[0]
    if s0 < ack:
        mib["TCPDSACKRecv"] += 1
    elif len(sp) > 1:
        s1, e1 = sp[1]
        if e0 > e1 or s0 < s1:
            return False
        mib["TCPDSACKOfoRecv"] += 1
    else:
        return False
    dup_segs = 0
    if s0 < e0 <= s0 + sk.max_window:
        dup_segs = 1
        mss = sk.mss_cache
        if e0 - s0 > mss:
            dup_segs = -(-(e0 - s0) // mss)
        elif sk.tlp_high_seq and sk.tlp_high_seq == e0:
            st.flag |= FLAG_DSACK_TLP
        sk.dsack_dups += dup_segs
        if sk.dsack_dups > sk.total_retrans:
            dup_segs = 0  # more duplicates than retransmissions: not ours
    if not dup_segs:
        mib["TCPDSACKIgnoredDubious"] += 1
        return False
    if sk.reord_seen and not st.flag & FLAG_DSACK_TLP:
        sk.rack.dsack_seen = True
    st.flag |= FLAG_DSACKING_ACK
    sk.delivered += dup_segs  # a spurious retransmission is delivered (sack_delivered)
    mib["TCPDSACKRecvSegs"] += dup_segs
    if sk.undo_marker and sk.undo_retrans > 0 and e0 <= prior_snd_una and e0 > sk.undo_marker:
        sk.undo_retrans = max(0, sk.undo_retrans - dup_segs)  # for data already forgotten
    return True


def _tag_range(
    sk: TcpSock,
    s: int,
    e: int,
    dup_sack: bool,
    skip: list[tuple[int, int]] | tuple[()],
    st: SackTagState,
) -> None:
    rtxq = sk.rtx
    i = max(bisect_right(rtxq, s, key=_seq_of) - 1, 0)
    while i < len(rtxq):
        seg = rtxq[i]
        if seg.seq >= e:
            break
        if seg.end_seq <= s:
            i += 1
            continue
        if skip:
            done = _cached_end(seg, skip)
            if done:  # inside a block the last ACK tagged: jump past it
                i = max(bisect_right(rtxq, done, key=_seq_of) - 1, i + 1)
                continue
        if seg.seq < s or seg.end_seq > e:
            mss = seg.mss
            if seg.pcount <= 1 or not mss or dup_sack:
                i += 1
                continue
            if seg.seq < s:  # split at the first MSS boundary inside the block
                cut = -(-(s - seg.seq) // mss) * mss
                if cut < seg.skb.len:
                    output.fragment(sk, rtxq, seg, cut, mss)
                i += 1
                continue
            cut = (e - seg.seq) // mss * mss
            if not cut:
                break
            output.fragment(sk, rtxq, seg, cut, mss)
        _tag_one(sk, seg, dup_sack, st)
        i += 1


def _cached_end(seg: TxSeg, cache: list[tuple[int, int]] | tuple[()]) -> int:
    """The end of the cached SACK block holding all of ``seg``, else 0."""
    for start, end in cache:
        if start <= seg.seq and seg.end_seq <= end:
            return end
    return 0


def _seq_of(seg: TxSeg) -> int:
    return seg.seq


def _tag_one(sk: TcpSock, seg: TxSeg, dup_sack: bool, st: SackTagState) -> None:
    """``tcp_sacktag_one``: SACK one segment, feed RACK, note reordering."""
    sacked = seg.sacked
    pcount = seg.pcount
    if dup_sack and sacked & (TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS):
        if sk.undo_marker and sk.undo_retrans > 0 and seg.end_seq > sk.undo_marker:
            sk.undo_retrans = max(0, sk.undo_retrans - pcount)
        if sacked & TCPCB_SACKED_ACKED and seg.seq < st.reord:
            # The original was SACKed and the retransmission came back as a duplicate:
            # the network reordered it (``tcp_sacktag_one``).
            st.reord = seg.seq
    if seg.end_seq <= sk.snd_una:
        return
    if not sacked & TCPCB_SACKED_ACKED:
        rack.advance(sk, sacked, seg.end_seq, seg.tx_time, st.now)
        if sacked & TCPCB_SACKED_RETRANS:
            if sacked & TCPCB_LOST:
                sacked &= ~(TCPCB_LOST | TCPCB_SACKED_RETRANS)
                sk.lost_out -= pcount
                sk.retrans_out -= pcount
        else:
            if not sacked & TCPCB_EVER_RETRANS:
                # A never-retransmitted segment in a hole below the highest SACK:
                # the network reordered it.
                if seg.seq < rack.highest_sack_seq(sk) and seg.seq < st.reord:
                    st.reord = seg.seq
                if seg.end_seq <= sk.high_seq:
                    st.flag |= FLAG_ORIG_SACK_ACKED
                if st.first_sackt < 0:
                    st.first_sackt = seg.tx_time
                st.last_sackt = seg.tx_time
            if sacked & TCPCB_LOST:
                sacked &= ~TCPCB_LOST
                sk.lost_out -= pcount
        sacked |= TCPCB_SACKED_ACKED
        st.flag |= FLAG_DATA_SACKED
        sk.sacked_out += pcount
        sk.delivered += pcount
        seg.sacked = sacked
        rate.skb_delivered(sk, seg, st.rate)  # tcp_sacktag_walk, after tcp_sacktag_one
        if seg.end_seq > sk.highest_sack:
            sk.highest_sack = seg.end_seq
    if dup_sack and sacked & TCPCB_SACKED_RETRANS:
        sacked &= ~TCPCB_SACKED_RETRANS
        sk.retrans_out -= pcount
    seg.sacked = sacked
