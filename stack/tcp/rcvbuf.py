"""Receive-buffer autotuning: the receiver's RTT estimate and dynamic right-sizing (DRS).

Mirrors ``tcp_rcv_rtt_update``/``tcp_rcv_rtt_measure``/``tcp_rcv_rtt_measure_ts``,
``tcp_rcvbuf_grow`` and ``tcp_rcv_space_adjust`` of Linux 6.x's ``net/ipv4/tcp_input.c``.

Contract:

* The receiver estimates the RTT (``rcv_rtt_us``, x8 as Linux's ``rcv_rtt_est.rtt_us``) two
  ways: per window of data (the time to receive ``rcv_wnd`` bytes after the last measure, a
  minimum filter), and from the timestamp echo of full-sized segments (a moving average;
  a 1 ms TS clock reads 0 below a millisecond and gives no sample).
* Once per estimated RTT, reading data (``recvmsg``) compares what the application consumed
  in that RTT (less what still waits in the queue) with the last measure ``rcvq_space``; when
  it grew, ``rcvbuf_grow`` sizes ``sk_rcvbuf`` for twice that (DRS is one RTT late) plus the
  sender's slow-start growth, plus the out-of-order span, capped by ``tcp_rmem[2]``, and the
  window clamp follows (so the advertised window can grow toward it).  Out-of-order data
  also grows the buffer at once, for an accepted socket.
* Nothing grows with ``net.ipv4.tcp_moderate_rcvbuf`` = 0 or once the user fixed the size
  with SO_RCVBUF (SOCK_RCVBUF_LOCK).  TCP_WINDOW_CLAMP is overwritten when the buffer grows,
  as in Linux.

Deviations: the window is half the buffer (``window.win_from_space``, the old fixed
``tcp_adv_win_scale``), not Linux's measured ``scaling_ratio``; ``tcp_rcvbuf_low_rtt``
(the low-RTT damping of Linux 6.19) is not modelled.

Spec: Linux ``Documentation/networking/ip-sysctl.rst`` (tcp_moderate_rcvbuf, tcp_rmem); the
DRS paper (Fisk and Feng, "Dynamic Right-Sizing in TCP", 2001).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.sock import SOCK_RCVBUF_LOCK
from stack.tcp import window as win
from stack.tcp.const import NS_PER_MS, NS_PER_US

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def rcv_rtt_update(sk: TcpSock, sample_us: int, win_dep: bool) -> None:
    """Fold one receiver RTT sample into ``rcv_rtt_us`` (``tcp_rcv_rtt_update``): a smaller
    sample is taken at once; a larger one is averaged in (x8 fixed point) unless it came
    from the per-window method, which only ever lowers the estimate."""
    old = sk.rcv_rtt_us
    m = sample_us << 3
    if not old or m < old:
        sk.rcv_rtt_us = m
    elif not win_dep:
        sk.rcv_rtt_us = old - (old >> 3) + sample_us


def rcv_rtt_measure(sk: TcpSock) -> None:
    """The per-window receiver RTT (``tcp_rcv_rtt_measure``): the time from one measure until
    ``rcv_nxt`` passes the window edge advertised then."""
    now = sk.net.sched.now
    if sk.rcv_rtt_time:
        if sk.rcv_nxt < sk.rcv_rtt_seq:
            return
        rcv_rtt_update(sk, max((now - sk.rcv_rtt_time) // NS_PER_US, 1), True)
    sk.rcv_rtt_seq = sk.rcv_nxt + sk.rcv_wnd
    sk.rcv_rtt_time = now or 1


def rcv_rtt_measure_ts(sk: TcpSock, length: int) -> None:
    """The receiver RTT from the timestamp echo (``tcp_rcv_rtt_measure_ts``): one sample per new
    TSecr, from full-sized segments."""
    if not (sk.saw_tstamp and sk.rcv_tsecr) or sk.rcv_tsecr == sk.rcv_rtt_last_tsecr:
        return
    sk.rcv_rtt_last_tsecr = sk.rcv_tsecr
    if length < sk.rcv_mss:
        return
    delta_ms = (sk.ts_now() - sk.rcv_tsecr) & 0xFFFFFFFF  # tcp_rtt_tsopt_us(tp, 0)
    if 0 < delta_ms < 0x7FFFFFFF // 1000:
        rcv_rtt_update(sk, delta_ms * (NS_PER_MS // NS_PER_US), False)


def rcvbuf_grow(sk: TcpSock, newval: int) -> None:
    """Size the receive buffer for ``newval`` bytes per RTT (``tcp_rcvbuf_grow``)."""
    oldval = sk.rcvq_space
    sk.rcvq_space = newval
    if not sk.net.sysctl.tcp_moderate_rcvbuf or sk.userlocks & SOCK_RCVBUF_LOCK:
        return
    rcvwin = newval << 1  # DRS is always one RTT late
    if oldval:  # slow start: allow the sender to double its rate
        rcvwin += (rcvwin * (newval - oldval) // oldval) << 1
    if sk.ofo:
        rcvwin += sk.ofo[-1][1] - sk.rcv_nxt
    rcvbuf = min(win.space_from_win(rcvwin), sk.net.sysctl.tcp_rmem[2])
    if rcvbuf > sk.sk_rcvbuf:
        sk.sk_rcvbuf = rcvbuf
        sk.window_clamp = win.win_from_space(rcvbuf)  # the clamp follows along


def rcv_space_adjust(sk: TcpSock) -> None:
    """Once per receiver RTT, after a read: grow the buffer if the application consumed more
    than in the last RTT (``tcp_rcv_space_adjust``)."""
    rtt_us = sk.rcv_rtt_us >> 3
    if not rtt_us:
        return
    now = sk.net.sched.now
    if now - sk.rcvq_time < rtt_us * NS_PER_US:
        return
    copied = sk.copied_seq - sk.rcvq_seq
    copied -= sk.rcv_nxt - sk.copied_seq  # what still waits in the queue
    if copied > sk.rcvq_space:
        rcvbuf_grow(sk, copied)
    sk.rcvq_seq = sk.copied_seq
    sk.rcvq_time = now


def ofo_grow(sk: TcpSock) -> None:
    """Out-of-order data may need more room than the last RTT did: grow now, unless the
    socket is not yet accepted or already orphaned (``tcp_data_queue_ofo``'s
    ``tcp_rcvbuf_grow``)."""
    parent = sk.parent
    if sk.closed or (parent is not None and sk in parent.accept_queue):
        return
    rcvbuf_grow(sk, sk.rcvq_space)
