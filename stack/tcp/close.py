"""Connection teardown: half-close, the peer's FIN, RST, TIME-WAIT and the end of a socket.

Mirrors the ending half of Linux's TCP: ``net/ipv4/tcp.c`` (``tcp_close_state`` and its
``new_state`` table, ``tcp_shutdown``, ``tcp_write_queue_purge``, ``tcp_done``),
``net/ipv4/tcp_input.c`` (``tcp_fin``, ``tcp_reset``), ``net/ipv4/tcp_minisocks.c``
(``tcp_time_wait``) and ``include/net/tcp.h`` (``tcp_fin_time``).  The socket calls that end a
connection (``tcp_close``, ``tcp_disconnect``, ``inet_shutdown``) are in ``ops.py``; the
segment arrival that drives most of these is in ``rcv.py``, the timers that give up in
``timer.py``.  All of them call down to here, and this module calls only ``output.py``.

Contract: each function takes the socket in whatever state it is and leaves it in the state
RFC 9293 says, with its wait queue woken; ``tcp_done`` and ``tcp_time_wait`` drop every
unsent and unacknowledged segment (``purge_write_queue``).

Spec: RFC 9293 §3.10.4 (CLOSE), §3.10.7.4 (RST, FIN), §3.6 (TIME-WAIT).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.core.skbfree import consume_skb
from stack.sock import EPOLLERR, RCV_SHUTDOWN, SEND_SHUTDOWN
from stack.tcp import output, transmit
from stack.tcp.const import ICSK_ACK_SCHED, NS_PER_S, TCP_TIMEWAIT_LEN
from stack.tcp.state import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
    TcpState,
    tcp_set_state,
)

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

SHUTDOWN_MASK = RCV_SHUTDOWN | SEND_SHUTDOWN

# tcp_close_state's table: next state, and whether a FIN goes out.
CLOSE_STATE: dict[TcpState, tuple[TcpState, bool]] = {
    ESTABLISHED: (FIN_WAIT_1, True),
    SYN_SENT: (CLOSED, False),
    SYN_RECEIVED: (FIN_WAIT_1, True),
    FIN_WAIT_1: (FIN_WAIT_1, False),
    FIN_WAIT_2: (FIN_WAIT_2, False),
    CLOSED: (CLOSED, False),
    CLOSE_WAIT: (LAST_ACK, True),
    LAST_ACK: (LAST_ACK, False),
    LISTEN: (CLOSED, False),
    CLOSING: (CLOSING, False),
    TIME_WAIT: (TIME_WAIT, False),
}


def close_state(sk: TcpSock) -> bool:
    """``tcp_close_state``: move on; True when a FIN must be sent."""
    new, fin = CLOSE_STATE[sk.state]
    tcp_set_state(sk, new)
    return fin


def tcp_shutdown(sk: TcpSock) -> None:
    """Half-close: send our FIN (``tcp_shutdown``)."""
    if sk.state in (ESTABLISHED, SYN_SENT, SYN_RECEIVED, CLOSE_WAIT):
        if close_state(sk):
            output.send_fin(sk)


def fin_time(sk: TcpSock) -> int:
    """How long an orphan waits in FIN-WAIT-2 (``tcp_fin_time``): >= 3.5 RTO."""
    fin_timeout = (sk.linger2 or sk.net.sysctl.tcp_fin_timeout_s) * NS_PER_S
    rto = sk.rto
    return max(fin_timeout, (rto << 2) - (rto >> 1))


def tcp_fin(sk: TcpSock) -> None:
    """The peer's FIN, in order (``tcp_fin``, RFC 9293 §3.10.7.4 eighth)."""
    sk.ack_pending |= ICSK_ACK_SCHED
    sk.sk_shutdown |= RCV_SHUTDOWN
    sk.done = True
    state = sk.state
    if state in (SYN_RECEIVED, ESTABLISHED):
        tcp_set_state(sk, CLOSE_WAIT)
        sk.pingpong = 1  # delay the ACK: our FIN may ride along
    elif state == FIN_WAIT_1:
        transmit.send_ack(sk)
        tcp_set_state(sk, CLOSING)
    elif state == FIN_WAIT_2:
        transmit.send_ack(sk)
        tcp_time_wait(sk)
    for entry in sk.ofo:
        sk.rmem_alloc -= len(entry[2])
    sk.ofo.clear()
    sk.selective_acks = []
    sk.num_sacks = 0
    sk.wake()


def purge_write_queue(sk: TcpSock) -> None:
    """``tcp_write_queue_purge``: drop unsent and unacknowledged data."""
    for seg in sk.write_queue:
        consume_skb(seg.skb)
    for seg in sk.rtx:
        consume_skb(seg.skb)
    sk.write_queue.clear()
    sk.rtx.clear()
    sk.tsorted.clear()
    sk.wmem_queued = 0
    sk.sk_frag.release()  # sk_destruct's put_page of the socket's page frag
    sk.packets_out = sk.sacked_out = sk.lost_out = sk.retrans_out = 0


def tcp_done(sk: TcpSock) -> None:
    """The connection is over (``tcp_done``)."""
    if sk.state in (SYN_SENT, SYN_RECEIVED):
        sk.net.mib.tcp["AttemptFails"] += 1
    tcp_set_state(sk, CLOSED)
    sk.clear_xmit_timers()
    sk.timewait_timer.del_timer()
    sk.sk_shutdown = SHUTDOWN_MASK
    purge_write_queue(sk)
    if sk.orphan():
        sk.receive_queue.clear()
        sk.rmem_alloc = 0
        sk.ofo.clear()
    sk.wake()


def tcp_reset(sk: TcpSock, notify: bool = True) -> None:
    """An acceptable RST arrived: report the BSD error and close (``tcp_reset``)."""
    state = sk.state
    if state == CLOSED:
        return
    if notify:
        err = (errno.ECONNREFUSED if state == SYN_SENT
               else errno.EPIPE if state == CLOSE_WAIT else errno.ECONNRESET)
        sk.sk_err = err
        kernel = sk.net.kernel
        if kernel.tracers:
            kernel.trace("tcp_receive_reset", sk=sk)
    tcp_done(sk)
    if notify:
        sk.wake(EPOLLERR)


def tcp_time_wait(sk: TcpSock) -> None:
    """Enter TIME-WAIT for 2MSL = 60 s (``tcp_time_wait``)."""
    tcp_set_state(sk, TIME_WAIT)
    sk.clear_xmit_timers()
    purge_write_queue(sk)
    sk.sk_shutdown = SHUTDOWN_MASK
    sk.timewait_timer.name = "tcp timewait"
    sk.timewait_timer.mod_timer(sk.net.sched.now + TCP_TIMEWAIT_LEN)
    sk.wake()
