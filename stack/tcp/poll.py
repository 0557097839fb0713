"""TCP readiness: the EPOLL* mask of a TCP socket.

Mirrors Linux's ``tcp_poll`` and ``tcp_epollin_ready`` (``net/ipv4/tcp.c``) and
``sk_stream_is_writeable`` (``include/net/sock.h``): readable once SO_RCVLOWAT bytes are
queued (fewer under memory pressure, a closing window, or the urgent mark), writable while a
third of the send buffer is free and the unsent bytes stay under TCP_NOTSENT_LOWAT.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.sock import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLPRI,
    EPOLLRDHUP,
    EPOLLRDNORM,
    EPOLLWRNORM,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
)
from stack.tcp import urg
from stack.tcp import window as win
from stack.tcp.close import SHUTDOWN_MASK
from stack.tcp.const import (
    TCP_URG_VALID,
)
from stack.tcp.state import (
    CLOSED,
    LISTEN,
    SYN_RECEIVED,
    SYN_SENT,
)

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def epollin_ready(sk: TcpSock, target: int) -> bool:
    """``tcp_epollin_ready``: ``target`` bytes queued (SO_RCVLOWAT), or fewer when the buffer
    is under pressure or the window too small for more to come."""
    queue = sk.receive_queue
    if not queue:
        return False
    return (
        target <= 1
        or sum(len(chunk) for chunk in queue) >= target
        or sk.rmem_alloc > sk.sk_rcvbuf - (sk.sk_rcvbuf >> 3)
        or sk.receive_window() <= sk.rcv_mss
    )


def writeable(sk: TcpSock) -> bool:
    """``sk_stream_is_writeable``: a third of the buffer free and fewer unsent bytes than
    TCP_NOTSENT_LOWAT; when not, the writer waits for ``check_space`` (SOCK_NOSPACE)."""
    if sk.sk_sndbuf - sk.wmem_queued >= sk.wmem_queued >> 1 and win.stream_memory_free(sk):
        return True
    sk.nospace = True
    return False


def tcp_poll(sk: TcpSock) -> int:
    """``tcp_poll``."""
    state = sk.state
    if state == LISTEN:
        return EPOLLIN | EPOLLRDNORM if sk.accept_queue else 0
    mask = 0
    shutdown = sk.sk_shutdown
    if shutdown == SHUTDOWN_MASK or state == CLOSED:
        mask |= EPOLLHUP
    if shutdown & RCV_SHUTDOWN:
        mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP
    if state == SYN_SENT and sk.fastopen.defer_connect:
        mask |= EPOLLOUT | EPOLLWRNORM  # write() makes the SYN (tcp_poll)
    elif state not in (SYN_SENT, SYN_RECEIVED) or sk.fastopen.rsk is not None:
        urg_data = sk.urg_data
        target = urg.poll_target(sk, sk.rcvlowat) if urg_data else sk.rcvlowat
        if epollin_ready(sk, target):
            mask |= EPOLLIN | EPOLLRDNORM
        if not shutdown & SEND_SHUTDOWN:
            if writeable(sk):
                mask |= EPOLLOUT | EPOLLWRNORM
        else:
            mask |= EPOLLOUT | EPOLLWRNORM
        if urg_data & TCP_URG_VALID:
            mask |= EPOLLPRI
    if sk.sk_err:
        mask |= EPOLLERR
    return mask
