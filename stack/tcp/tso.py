"""TSO deferral: wait for the next ACK rather than send a small super-segment now.

Mirrors Linux's ``tcp_tso_should_defer`` (``net/ipv4/tcp_output.c``), which ``tcp_write_xmit``
asks before sending an skb of more than one segment.  Sending whatever sliver of window
each ACK opens makes many small bursts, and every burst costs a header, an interrupt and an
ACK on both hosts; deferring makes them full-sized.

Contract: :func:`tso_should_defer` returns :data:`SEND`, :data:`DEFER_CWND` (wait: cwnd is
the limit) or :data:`DEFER` (wait: the peer's window or the application is).  It never
defers in recovery, when nothing is in flight (no ACK will come to release the data), when
the last transmission is more than 1 ms old, when a full-sized super-segment fits, when the
segment is not the queue's tail and fits whole, when at least 1/``tcp_tso_win_divisor``
(sysctl, default 3) of the window is open, when the oldest segment in flight left less
than half an RTT ago (its ACK would come too late), or for a FIN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.units import NS_PER_MS, NS_PER_US
from stack.tcp.state import CaState
from stack.wire.tcp import FIN

if TYPE_CHECKING:
    from stack.tcp.cb import TxSeg
    from stack.tcp.sock import TcpSock

SEND = 0
DEFER_CWND = 1
DEFER = 2


def tso_should_defer(sk: TcpSock, seg: TxSeg, mss_now: int, max_segs: int) -> int:
    """``tcp_tso_should_defer`` (see the module docstring)."""
    if sk.ca_state >= CaState.RECOVERY:
        return SEND
    now = sk.net.sched.now
    if now - sk.lsndtime > NS_PER_MS:
        return SEND  # no defer after a pause: avoid a burst
    rtx = sk.rtx
    if not rtx:
        return SEND
    in_flight = sk.packets_in_flight()
    send_win = sk.wnd_end() - seg.seq
    cong_win = (sk.cwnd - in_flight) * mss_now
    limit = min(send_win, cong_win)
    if limit >= max_segs * mss_now:
        return SEND
    length = seg.skb.len
    if seg is not sk.write_queue[-1] and limit >= length:
        return SEND
    divisor = sk.net.sysctl.tcp_tso_win_divisor
    if divisor and limit >= min(sk.snd_wnd, sk.cwnd * mss_now) // divisor:
        return SEND
    if now - rtx[0].tx_time < (sk.srtt_us >> 4) * NS_PER_US:
        return SEND  # the next ACK would come too late
    if cong_win < send_win:
        if cong_win <= length:
            return DEFER_CWND
    elif send_win <= length:
        return DEFER
    if seg.flags & FIN:
        return SEND
    return DEFER
