"""The kernel side of a socket (Linux's ``struct sock`` + ``struct proto``).

Protocols (UDP, TCP, raw, packet) subclass :class:`Sock`; the BSD layer (``stack/socket/``)
wraps one.  Every operation is non-blocking: it returns, or raises an ``OSError`` subclass with
a stdlib errno (``BlockingIOError(EAGAIN)`` when it would block).  Readiness is ``poll()``, and
every change of it calls :meth:`wake`, which runs the wait-queue callbacks (blocked callers,
tasks, epoll) - Linux's ``sk_data_ready``/``sk_write_space``/``sk_state_change``.
See docs/stack-architecture.md.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDNORM = 0x040
EPOLLWRNORM = 0x100
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE = 1 << 28
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2
RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2

Waiter = Callable[["Sock", int], None]


def oserror(code: int, detail: str = "") -> OSError:
    """An OSError of the stdlib subclass for ``code`` (ConnectionRefusedError for ECONNREFUSED)."""
    message = os.strerror(code) + (f": {detail}" if detail else "")
    return OSError(code, message)  # OSError() picks the subclass from the errno


def eagain() -> BlockingIOError:
    return BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


class Sock:
    """Base of every protocol socket: identity, buffers, errors, wait queue."""

    family = 2  # AF_INET
    type = 0
    protocol = 0

    def __init__(self, net: Any) -> None:
        self.net = net
        self.sk_err = 0
        self.sk_shutdown = 0
        self.sk_rcvbuf = net.sysctl.rmem_default if net is not None else 212992
        self.sk_sndbuf = net.sysctl.wmem_default if net is not None else 212992
        self.wq: list[Waiter] = []
        self.closed = False
        self.options: dict[tuple[int, int], Any] = {}

    # -- wait queue -------------------------------------------------------------------------
    def wake(self, events: int = 0) -> None:
        if self.wq:
            for waiter in list(self.wq):
                waiter(self, events or self.poll())

    def sock_error(self) -> int:
        err, self.sk_err = self.sk_err, 0
        return err

    # -- operations (protocols override) ----------------------------------------------------
    def poll(self) -> int:
        raise NotImplementedError

    def bind(self, addr: bytes, port: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def listen(self, backlog: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def connect(self, addr: bytes, port: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def accept(self) -> Sock:
        raise oserror(errno.EOPNOTSUPP)

    def sendmsg(self, data: bytes | memoryview, flags: int = 0,
                addr: tuple[bytes, int] | None = None) -> int:
        raise oserror(errno.EOPNOTSUPP)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[bytes, int] | None]:
        raise oserror(errno.EOPNOTSUPP)

    def shutdown(self, how: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def close(self) -> None:
        self.closed = True

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        raise oserror(errno.ENOPROTOOPT)

    def getsockname(self) -> tuple[bytes, int]:
        raise oserror(errno.EOPNOTSUPP)

    def getpeername(self) -> tuple[bytes, int]:
        raise oserror(errno.ENOTCONN)
