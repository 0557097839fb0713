"""Receiving data: the receive queue, the out-of-order queue, SACK/D-SACK, delayed ACKs.

Mirrors the data half of Linux's ``net/ipv4/tcp_input.c``: ``tcp_data_queue``,
``tcp_data_queue_ofo``/``tcp_ofo_queue``, ``tcp_sack_new_ofo_skb``/``tcp_sack_remove``,
``tcp_dsack_set``/``tcp_dsack_extend``, ``tcp_try_rmem_schedule``/``tcp_prune_ofo_queue``,
``tcp_event_data_recv`` (the ATO estimator), ``tcp_measure_rcv_mss``, ``tcp_grow_window`` and
``__tcp_ack_snd_check`` (when to ACK now and when to delay).

The receive queue holds payload copies (``bytes``); the out-of-order queue holds disjoint
``[seq, end_seq, data, fin]`` entries sorted by sequence.  Every segment that carries new
data is charged to ``rmem_alloc``.  ACK policy (RFC 9293 §3.8.6.3, RFC 5681 §4.2): quick-ack
mode at the start and after gaps, an immediate ACK for out-of-order data, for a filled hole
and when more than one full segment is unacknowledged; otherwise a delayed ACK within ATO
(40 ms .. 200 ms).  Deviation: Linux's SACK compression (``tcp_comp_sack_*``) is not modelled.

Spec: RFC 9293 §3.10.7.4 (seventh: segment text); RFC 2018 §4 (SACK generation);
RFC 2883 (D-SACK); RFC 1122 4.2.3.2 (delayed ACK).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

from stack.core.dropreason import SkbDropReason
from stack.sock import EPOLLIN, EPOLLRDNORM
from stack.tcp import ecn, output, rcvbuf, transmit
from stack.tcp import window as win
from stack.tcp.close import tcp_fin
from stack.tcp.const import (
    ICSK_ACK_NOMEM,
    ICSK_ACK_NOW,
    ICSK_ACK_PUSHED,
    ICSK_ACK_PUSHED2,
    ICSK_ACK_SCHED,
    TCP_ATO_MIN,
    TCP_MAX_QUICKACKS,
    TCP_MIN_MSS,
    TCP_MSS_DEFAULT,
    TCP_NUM_SACKS,
)
from stack.wire.tcp import FIN, PSH

if TYPE_CHECKING:
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock


def fast_path_check(sk: TcpSock) -> None:
    """Header prediction may be used again (``tcp_fast_path_check``)."""
    if not sk.ofo and sk.rcv_wnd and sk.rmem_alloc < sk.sk_rcvbuf and not sk.urg_data:
        sk.fastpath = True


def data_ready(sk: TcpSock) -> None:
    if sk.wq:
        sk.wake(EPOLLIN | EPOLLRDNORM)


# -- SACK and D-SACK generation -------------------------------------------------------------------
def dsack_set(sk: TcpSock, seq: int, end: int) -> None:
    """Report a duplicate range in the next ACK (``tcp_dsack_set``, RFC 2883)."""
    if sk.sack_ok and sk.net.sysctl.tcp_dsack:
        sk.net.mib.tcpext["TCPDSACKOldSent" if seq < sk.rcv_nxt else "TCPDSACKOfoSent"] += 1
        sk.dsack = (seq, end)


def dsack_extend(sk: TcpSock, seq: int, end: int) -> None:
    if sk.dsack is None:
        dsack_set(sk, seq, end)
    else:
        s, e = sk.dsack
        if seq <= e and s <= end:
            sk.dsack = (min(s, seq), max(e, end))


def sack_new_ofo(sk: TcpSock, seq: int, end: int) -> None:
    """Put the block holding [seq, end) first, merging neighbours (``tcp_sack_new_ofo_skb``)."""
    blocks = sk.selective_acks
    for i, blk in enumerate(blocks):
        if seq <= blk[1] and blk[0] <= end:
            blk[0] = min(blk[0], seq)
            blk[1] = max(blk[1], end)
            blocks.insert(0, blocks.pop(i))
            _sack_coalesce(sk)
            return
    blocks.insert(0, [seq, end])
    del blocks[TCP_NUM_SACKS:]
    sk.num_sacks = len(blocks)


def _sack_coalesce(sk: TcpSock) -> None:
    blocks = sk.selective_acks
    first = blocks[0]
    keep = [first]
    for blk in blocks[1:]:
        if blk[0] <= first[1] and first[0] <= blk[1]:
            first[0] = min(first[0], blk[0])
            first[1] = max(first[1], blk[1])
        else:
            keep.append(blk)
    sk.selective_acks = keep
    sk.num_sacks = len(keep)


def sack_remove(sk: TcpSock) -> None:
    """Forget blocks RCV.NXT has passed (``tcp_sack_remove``)."""
    if not sk.ofo:
        sk.selective_acks = []
        sk.num_sacks = 0
        return
    rcv_nxt = sk.rcv_nxt
    sk.selective_acks = [b for b in sk.selective_acks if b[1] > rcv_nxt]
    sk.num_sacks = len(sk.selective_acks)


# -- memory ---------------------------------------------------------------------------------------
def try_rmem_schedule(sk: TcpSock, size: int) -> bool:
    """Room for ``size`` more bytes?  Prune the out-of-order queue if not (``tcp_prune_queue``)."""
    if sk.rmem_alloc + size <= sk.sk_rcvbuf:
        return True
    mib = sk.net.mib.tcpext
    mib["PruneCalled"] += 1
    if sk.ofo:
        mib["OfoPruned"] += 1
        for entry in sk.ofo:
            sk.rmem_alloc -= len(entry[2])
        sk.ofo.clear()
        sk.selective_acks = []
        sk.num_sacks = 0
        if sk.rmem_alloc + size <= sk.sk_rcvbuf:
            return True
    mib["RcvPruned"] += 1
    return False


# -- in-order and out-of-order data ---------------------------------------------------------------
def queue_rcv(sk: TcpSock, data: bytes, end_seq: int) -> None:
    if data:
        sk.receive_queue.append(data)
        sk.rmem_alloc += len(data)
        sk.bytes_received += len(data)
    sk.rcv_nxt = end_seq


def data_queue(sk: TcpSock, rx: RxSeg) -> SkbDropReason | None:
    """Step seven of RFC 9293 §3.10.7.4 (``tcp_data_queue``); returns a drop reason or None."""
    seq, end = rx.seq, rx.end_seq
    if seq == end:
        return None
    payload = rx.payload
    fin = rx.th.flags & FIN
    rcv_nxt = sk.rcv_nxt
    if seq < rcv_nxt < end:  # partial: the head is old
        dsack_set(sk, seq, rcv_nxt)
        if not sk.receive_window():
            sk.net.mib.tcpext["TCPZeroWindowDrop"] += 1
            return _out_of_window(sk, SkbDropReason.TCP_ZEROWINDOW)
        payload = payload[rcv_nxt - seq :]
        seq = rcv_nxt
    if seq == rcv_nxt:
        if not sk.receive_window() and (payload or not fin):
            sk.net.mib.tcpext["TCPZeroWindowDrop"] += 1
            return _out_of_window(sk, SkbDropReason.TCP_ZEROWINDOW)
        n = len(payload)
        if n and not try_rmem_schedule(sk, n):
            sk.ack_pending |= ICSK_ACK_NOMEM | ICSK_ACK_NOW | ICSK_ACK_SCHED
            data_ready(sk)
            if sk.receive_queue:
                sk.net.mib.tcpext["TCPRcvQDrop"] += 1
                return SkbDropReason.PROTO_MEM
        queue_rcv(sk, bytes(payload), end)
        if n:
            event_data_recv(sk, rx, n)
        if fin:
            tcp_fin(sk)
        if sk.ofo:
            ofo_queue(sk)
            if not sk.ofo:
                sk.ack_pending |= ICSK_ACK_NOW  # RFC 5681 4.2: a gap was filled
        if sk.num_sacks:
            sack_remove(sk)
        fast_path_check(sk)
        data_ready(sk)
        return None
    if end <= rcv_nxt:
        sk.net.mib.tcpext["DelayedACKLost"] += 1
        dsack_set(sk, seq, end)
        return _out_of_window(sk, SkbDropReason.TCP_OLD_DATA)
    if seq >= rcv_nxt + sk.receive_window():
        return _out_of_window(sk, SkbDropReason.TCP_OVERWINDOW)
    return data_queue_ofo(sk, rx)


def _out_of_window(sk: TcpSock, reason: SkbDropReason) -> SkbDropReason:
    output.enter_quickack_mode(sk, TCP_MAX_QUICKACKS)
    sk.ack_pending |= ICSK_ACK_SCHED
    return reason


def data_queue_ofo(sk: TcpSock, rx: RxSeg) -> SkbDropReason | None:
    """Hold a segment beyond a hole; SACK it; D-SACK overlaps (``tcp_data_queue_ofo``)."""
    mib = sk.net.mib.tcpext
    seq, end = rx.seq, rx.end_seq
    data = rx.payload
    if sk.ecn_flags and ecn.check_ce(sk, rx):
        output.enter_quickack_mode(sk, 2)
    if not try_rmem_schedule(sk, len(data)):
        mib["TCPOFODrop"] += 1
        data_ready(sk)
        return SkbDropReason.PROTO_MEM
    sk.fastpath = False
    sk.ack_pending |= ICSK_ACK_SCHED
    sk.rcv_ooopack += 1
    mib["TCPOFOQueue"] += 1
    fin = bool(rx.th.flags & FIN)
    dend = end - fin  # end of the data proper
    q = sk.ofo
    i = bisect_left(q, seq, key=_ofo_seq)
    if i and q[i - 1][1] > seq:  # overlaps the previous entry
        prev = q[i - 1]
        if prev[1] >= end:
            mib["TCPOFOMerge"] += 1
            dsack_set(sk, seq, end)
            _sack_add(sk, seq, end)
            rcvbuf.ofo_grow(sk)
            return SkbDropReason.TCP_OFOMERGE
        dsack_set(sk, seq, min(prev[1], dend))
        cut = prev[1] - seq
        data = data[cut:]
        seq = prev[1]
    while i < len(q) and q[i][0] < end:  # swallow entries we cover, trim the last overlap
        nxt = q[i]
        if nxt[1] <= end:
            dsack_extend(sk, nxt[0], nxt[1])
            sk.rmem_alloc -= len(nxt[2])
            del q[i]
            continue
        dsack_extend(sk, nxt[0], min(dend, nxt[1]))
        keep = nxt[0] - seq
        data = data[:keep]
        end = dend = nxt[0]
        fin = False
        break
    q.insert(i, [seq, end, bytes(data), fin])
    sk.rmem_alloc += len(data)
    _sack_add(sk, seq, end)
    rcvbuf.ofo_grow(sk)
    return None


def _ofo_seq(entry: list) -> int:
    return entry[0]


def _sack_add(sk: TcpSock, seq: int, end: int) -> None:
    if sk.sack_ok:
        sack_new_ofo(sk, seq, end)


def ofo_queue(sk: TcpSock) -> None:
    """Move what became in-order from the out-of-order queue (``tcp_ofo_queue``)."""
    q = sk.ofo
    while q and q[0][0] <= sk.rcv_nxt:
        seq, end, data, fin = q.pop(0)
        sk.rmem_alloc -= len(data)
        if end <= sk.rcv_nxt:
            dsack_extend(sk, seq, end)
            continue
        if seq < sk.rcv_nxt:
            dsack_extend(sk, seq, sk.rcv_nxt)
            data = data[sk.rcv_nxt - seq :]
        queue_rcv(sk, data, end)
        if fin:
            tcp_fin(sk)
            break


# -- ACK scheduling -------------------------------------------------------------------------------
def measure_rcv_mss(sk: TcpSock, rx: RxSeg, n: int) -> None:
    """Learn the peer's segment size for ACK decisions (``tcp_measure_rcv_mss``)."""
    lss = sk.last_seg_size
    sk.last_seg_size = 0
    length = rx.gso_size or n
    if length >= sk.rcv_mss:
        sk.rcv_mss = min(length, sk.advmss)
        if rx.th.flags & PSH:
            sk.ack_pending |= ICSK_ACK_PUSHED
        return
    length += rx.hlen
    if length >= TCP_MSS_DEFAULT + 20 or (
        length >= TCP_MIN_MSS + 20 and not rx.th.flags & (PSH | FIN)
    ):
        length -= sk.tcp_header_len
        sk.last_seg_size = length
        if length == lss:
            sk.rcv_mss = length
            return
    if sk.ack_pending & ICSK_ACK_PUSHED:
        sk.ack_pending |= ICSK_ACK_PUSHED2
    sk.ack_pending |= ICSK_ACK_PUSHED


def event_data_recv(sk: TcpSock, rx: RxSeg, n: int) -> None:
    """New in-order data: schedule an ACK, update ATO, grow the window (``tcp_event_data_recv``)."""
    sk.ack_pending |= ICSK_ACK_SCHED
    measure_rcv_mss(sk, rx, n)
    rcvbuf.rcv_rtt_measure(sk)
    now = rx.tstamp
    sk.data_segs_in += rx.skb.gso_segs or 1
    sk.last_data_recv = now
    if not sk.ato:
        output.incr_quickack(sk, TCP_MAX_QUICKACKS)
        sk.ato = TCP_ATO_MIN
    else:
        m = now - sk.lrcvtime
        if m <= TCP_ATO_MIN // 2:
            sk.ato = (sk.ato >> 1) + TCP_ATO_MIN // 2
        elif m < sk.ato:
            sk.ato = min((sk.ato >> 1) + m, sk.rto)
        elif m > sk.rto:
            output.incr_quickack(sk, TCP_MAX_QUICKACKS)
    sk.lrcvtime = now
    if sk.ecn_flags and ecn.check_ce(sk, rx):
        output.enter_quickack_mode(sk, 2)
    if n >= 128:
        grow_window(sk, n)


def grow_window(sk: TcpSock, n: int) -> None:
    """Open rcv_ssthresh towards the clamp while memory allows (``tcp_grow_window``)."""
    space = win.tcp_space(sk)
    if sk.rcv_ssthresh < sk.window_clamp and sk.rcv_ssthresh < space:
        room = min(sk.window_clamp, space) - sk.rcv_ssthresh
        incr = max(2 * sk.advmss, 2 * n)
        sk.rcv_ssthresh += min(room, incr)
        sk.ack_quick |= 1


def in_quickack_mode(sk: TcpSock) -> bool:
    return bool(sk.ack_quick) and not sk.pingpong


def ack_snd_check(sk: TcpSock) -> None:
    """ACK now or later (``__tcp_ack_snd_check``)."""
    if not sk.ack_pending & ICSK_ACK_SCHED:
        return
    if (
        (sk.rcv_nxt - sk.rcv_wup > sk.rcv_mss and win.raw_select_window(sk) >= sk.rcv_wnd)
        or (sk.ack_quick and not sk.pingpong)  # in_quickack_mode, inlined: per segment
        or sk.ack_pending & ICSK_ACK_NOW
        or sk.ofo
    ):
        transmit.send_ack(sk)
        return
    transmit.send_delayed_ack(sk)
