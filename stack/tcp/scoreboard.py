"""The retransmit queue's loss marks and its time-sorted list (``tcp_mark_skb_lost`` and
``tp->tsorted_sent_queue`` of Linux's ``net/ipv4/tcp_input.c`` / ``tcp_output.c``).

RACK (RFC 8985) needs the sent segments in the order they were last *transmitted*, not in
sequence order: a retransmission moves to the tail.  As Linux's ``tcp_tsorted_anchor`` list,
it is an intrusive doubly-linked list through :class:`~stack.tcp.cb.TxSeg`'s ``ts_prev`` /
``ts_next`` slots with a per-socket anchor, so moving a segment to the tail on every
transmission (``tcp_update_skb_after_send``), unlinking it when RACK marks it lost or when it
is freed, and linking a split-off tail right after its head (``tcp_fragment``) are O(1).
A segment off the list has ``ts_next is None`` (Linux's ``list_del_init``).

This module imports nothing of the engine, so ``output.py`` (every transmission), ``ack.py``
(every freed segment) and ``rack.py`` (the loss walk) can all use it without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp.const import TCPCB_LOST, TCPCB_SACKED_ACKED, TCPCB_SACKED_RETRANS

if TYPE_CHECKING:
    from stack.tcp.cb import TxSeg
    from stack.tcp.sock import TcpSock


class TsortedAnchor:
    """The list head: ``ts_next`` is the oldest transmission, ``ts_prev`` the newest."""

    __slots__ = ("ts_prev", "ts_next")

    def __init__(self) -> None:
        self.ts_prev: TxSeg | TsortedAnchor = self
        self.ts_next: TxSeg | TsortedAnchor = self

    def clear(self) -> None:
        """``INIT_LIST_HEAD`` (``tcp_write_queue_purge``): the segments are being freed."""
        self.ts_prev = self.ts_next = self

    def __iter__(self):
        node = self.ts_next
        while node is not self:
            nxt = node.ts_next
            yield node
            node = nxt


def ts_del(seg: TxSeg) -> None:
    """Unlink ``seg`` if it is on the list (``list_del_init``)."""
    nxt = seg.ts_next
    if nxt is not None:
        prev = seg.ts_prev
        prev.ts_next = nxt
        nxt.ts_prev = prev
        seg.ts_next = seg.ts_prev = None


def ts_move_tail(anchor: TsortedAnchor, seg: TxSeg) -> None:
    """``seg`` was just transmitted: it becomes the newest (``list_move_tail``)."""
    nxt = seg.ts_next
    if nxt is not None:
        prev = seg.ts_prev
        prev.ts_next = nxt
        nxt.ts_prev = prev
    last = anchor.ts_prev
    seg.ts_prev = last
    seg.ts_next = anchor
    last.ts_next = seg
    anchor.ts_prev = seg


def ts_add_after(seg: TxSeg, nseg: TxSeg) -> None:
    """``nseg`` (split off ``seg``, same transmit time) goes right after it (``list_add``)."""
    nxt = seg.ts_next
    if nxt is None:
        return
    nseg.ts_prev = seg
    nseg.ts_next = nxt
    nxt.ts_prev = nseg
    seg.ts_next = nseg


def mark_skb_lost(sk: TcpSock, seg: TxSeg) -> None:
    """``tcp_mark_skb_lost``: LOST (a lost retransmission loses its R bit, and is counted)."""
    sacked = seg.sacked
    if sacked & TCPCB_SACKED_ACKED:
        return
    if sacked & TCPCB_LOST:
        if sacked & TCPCB_SACKED_RETRANS:
            seg.sacked &= ~TCPCB_SACKED_RETRANS
            sk.retrans_out -= seg.pcount
            sk.net.mib.tcpext["TCPLostRetransmit"] += seg.pcount
    else:
        seg.sacked |= TCPCB_LOST
        sk.lost_out += seg.pcount
        sk.lost += seg.pcount
        if seg.end_seq > sk.lost_high:
            sk.lost_high = seg.end_seq
