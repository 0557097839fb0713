"""In-memory Sock fakes for testing the BSD layer and epoll without TCP/UDP/IP.

``PipeSock`` is a stream Sock: connect/listen/accept through a ``Fabric`` (the fake network),
bytes delivered after ``delay`` ns by ``sched.call_later``, a bounded send window (``capacity``)
so writers block, FIN on shutdown/close, RST on close with unread data.  ``DgramSock`` is a
datagram Sock with sendto/recvfrom and SO_BROADCAST enforcement.  Both implement the Sock
contract of docs/stack-architecture.md: non-blocking operations, ``poll()`` masks shaped like
Linux's ``tcp_poll``/``udp_poll``, and ``wake(events)`` on every readiness change.

Their own tests are in ``tests/test_socket_fakes.py``.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import Any

from helpers.units import US
from ixsim.sched import Scheduler
from stack.sock import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLRDHUP,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    Sock,
    eagain,
    oserror,
)
from stack.socket import Socket
from stack.socket.addr import inet_aton
from stack.sysctl import Sysctl

SHUTDOWN_MASK = RCV_SHUTDOWN | SEND_SHUTDOWN
ANY = b"\0\0\0\0"
BROADCAST = b"\xff\xff\xff\xff"


class Fabric:
    """The fake network: who listens where, and the one-way delay."""

    def __init__(self, sched: Scheduler | None = None, delay: int = 10 * US) -> None:
        self.sched = sched or Scheduler(seed=1)
        self.delay = delay
        self.listeners: dict[tuple[bytes, int], PipeSock] = {}
        self.dgrams: dict[tuple[bytes, int], DgramSock] = {}
        self.bound: dict[tuple[bytes, int, int], Sock] = {}
        self.blackhole: set[bytes] = set()  # destinations whose SYNs vanish

    def host(self, name: str, addr: str) -> FakeNet:
        return FakeNet(self, name, addr)


class FakeNet:
    """What a Sock and a Socket need of ``stack.net.Net``."""

    def __init__(self, fabric: Fabric, hostname: str, addr: str) -> None:
        self.fabric = fabric
        self.sched = fabric.sched
        self.sysctl = Sysctl()
        self.hostname = hostname
        self.addr = inet_aton(addr)
        self.next_port = 40000

    def socket(self, family: int = 2, type: int = 1) -> Socket:
        """What apps call (``Host.socket``'s shape)."""
        assert family == 2
        return self.stream() if type & 0xF == 1 else self.dgram()

    def stream(self, **kw: Any) -> Socket:
        return Socket(self, PipeSock(self, **kw))

    def dgram(self) -> Socket:
        return Socket(self, DgramSock(self))


def _bind(sk: Any, addr: bytes, port: int) -> tuple[bytes, int]:
    net = sk.net
    if addr not in (ANY, net.addr):
        raise oserror(errno.EADDRNOTAVAIL)
    if port == 0:
        port = net.next_port
        net.next_port += 1
    key = (net.addr, sk.type, port)
    other = net.fabric.bound.get(key)
    if other is not None and not other.closed:
        reuse = sk.options.get((1, 2)) and other.options.get((1, 2))
        if not reuse or getattr(other, "state", "") == "listen":
            raise oserror(errno.EADDRINUSE)
    net.fabric.bound[key] = sk
    return addr, port


class PipeSock(Sock):
    type = 1
    protocol = 6

    def __init__(self, net: FakeNet, capacity: int = 64 * 1024) -> None:
        super().__init__(net)
        self.capacity = capacity
        self.state = "closed"
        self.local: tuple[bytes, int] | None = None
        self.remote: tuple[bytes, int] | None = None
        self.peer: PipeSock | None = None
        self.rx = bytearray()
        self.inflight = 0
        self.queue: deque[PipeSock] = deque()
        self.backlog = 0
        self.setsockopt_calls: list[tuple[int, int, Any]] = []

    # -- helpers -------------------------------------------------------------------------
    @property
    def sched(self) -> Scheduler:
        return self.net.sched

    def room(self) -> int:
        queued = self.inflight + (len(self.peer.rx) if self.peer is not None else 0)
        return self.capacity - queued

    def later(self, fn: Any, *args: Any) -> None:
        self.sched.call_later(self.net.fabric.delay, fn, *args)

    # -- the Sock interface --------------------------------------------------------------
    def poll(self) -> int:
        if self.state == "listen":
            return EPOLLIN if self.queue else 0
        mask = 0
        if self.sk_err:
            mask |= EPOLLERR
        if self.sk_shutdown == SHUTDOWN_MASK or self.state == "closed":
            mask |= EPOLLHUP
        if self.sk_shutdown & RCV_SHUTDOWN:
            mask |= EPOLLIN | EPOLLRDHUP
        if self.rx:
            mask |= EPOLLIN
        if self.state == "established":
            if self.sk_shutdown & SEND_SHUTDOWN or self.room() > 0:
                mask |= EPOLLOUT
        return mask

    def bind(self, addr: bytes, port: int) -> None:
        if self.local is not None:
            raise oserror(errno.EINVAL)
        self.local = _bind(self, addr, port)

    def listen(self, backlog: int) -> None:
        if self.local is None:
            self.bind(ANY, 0)
        self.state = "listen"
        self.backlog = max(backlog, 1)
        self.net.fabric.listeners[(self.net.addr, self.local[1])] = self

    def accept(self) -> Sock:
        if self.state != "listen":
            raise oserror(errno.EINVAL)
        if not self.queue:
            raise eagain()
        return self.queue.popleft()

    def connect(self, addr: bytes, port: int) -> None:
        if self.state == "established":
            raise oserror(errno.EISCONN)
        if self.state == "connecting":
            raise oserror(errno.EALREADY)
        if self.local is None:
            self.bind(ANY, 0)
        self.state = "connecting"
        self.remote = (addr, port)
        self.later(self._syn, addr, port)
        raise BlockingIOError(errno.EINPROGRESS, "Operation now in progress")

    def _syn(self, addr: bytes, port: int) -> None:
        if addr in self.net.fabric.blackhole:
            return
        listener = self.net.fabric.listeners.get((addr, port))
        if listener is None or listener.closed or len(listener.queue) >= listener.backlog:
            self.later(self._refused)
            return
        child = PipeSock(listener.net, self.capacity)
        child.state = "established"
        child.local = (addr, port)
        child.remote = (self.net.addr, self.local[1])
        child.peer, self.peer = self, child
        listener.queue.append(child)
        listener.wake(EPOLLIN)
        self.later(self._established)

    def _refused(self) -> None:
        self.state = "closed"
        self.sk_err = errno.ECONNREFUSED
        self.wake(EPOLLERR | EPOLLHUP)

    def _established(self) -> None:
        if self.state == "connecting":
            self.state = "established"
            self.local = (self.net.addr, self.local[1])
            self.wake(EPOLLOUT)

    def sendmsg(self, data: Any, flags: int = 0, addr: Any = None) -> int:
        if self.sk_err:
            raise oserror(self.sock_error())
        if self.sk_shutdown & SEND_SHUTDOWN:
            raise oserror(errno.EPIPE)
        if self.state != "established":
            raise oserror(errno.ENOTCONN)
        room = self.room()
        if room <= 0:
            raise eagain()
        chunk = bytes(data[:room])
        self.inflight += len(chunk)
        self.later(self.peer._deliver, chunk, self)
        return len(chunk)

    def _deliver(self, chunk: bytes, sender: PipeSock) -> None:
        sender.inflight -= len(chunk)
        if self.closed:
            sender._reset()
            return
        self.rx += chunk
        self.wake(EPOLLIN)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        if self.rx:
            data = bytes(self.rx[:bufsize])
            if not flags & 2:  # MSG_PEEK
                del self.rx[:bufsize]
                if self.peer is not None:
                    self.peer.wake(EPOLLOUT)
            return data, None
        if self.sk_err:
            raise oserror(self.sock_error())
        if self.sk_shutdown & RCV_SHUTDOWN:
            return b"", None
        if self.state != "established":
            raise oserror(errno.ENOTCONN)
        raise eagain()

    def shutdown(self, how: int) -> None:
        if self.state not in ("established", "closed") or self.remote is None:
            raise oserror(errno.ENOTCONN)
        if how in (1, 2) and not self.sk_shutdown & SEND_SHUTDOWN:
            self.sk_shutdown |= SEND_SHUTDOWN
            if self.peer is not None:
                self.later(self.peer._fin)
        if how in (0, 2):
            self.sk_shutdown |= RCV_SHUTDOWN
        self.wake()

    def _fin(self) -> None:
        self.sk_shutdown |= RCV_SHUTDOWN
        self.wake(EPOLLIN | EPOLLRDHUP)

    def _reset(self) -> None:
        if self.closed:
            return
        self.sk_err = errno.ECONNRESET
        self.sk_shutdown = SHUTDOWN_MASK
        self.wake(EPOLLERR | EPOLLHUP)

    def close(self) -> None:
        if self.state == "listen":
            self.net.fabric.listeners.pop((self.net.addr, self.local[1]), None)
            for child in self.queue:
                child.close()
        elif self.state == "established":
            if self.rx and self.peer is not None:
                self.later(self.peer._reset)
            elif not self.sk_shutdown & SEND_SHUTDOWN and self.peer is not None:
                self.later(self.peer._fin)
        self.sk_shutdown = SHUTDOWN_MASK
        self.state = "closed"
        super().close()

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        self.setsockopt_calls.append((level, option, value))
        if level == 6:
            self.options[(level, option)] = value
            return
        raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        if level == 6 and option == 13:
            return self.options.get((6, 13), "cubic")
        if level == 6 and option == 11:
            return FakeTcpInfo(len(self.rx))
        if (level, option) in self.options:
            return self.options[(level, option)]
        raise oserror(errno.ENOPROTOOPT)

    def getsockname(self) -> tuple[bytes, int]:
        return self.local or (ANY, 0)

    def getpeername(self) -> tuple[bytes, int]:
        if self.state != "established" or self.remote is None:
            raise oserror(errno.ENOTCONN)
        return self.remote


class FakeTcpInfo:
    def __init__(self, rx: int) -> None:
        self.tcpi_state = 1
        self.rx = rx

    def __bytes__(self) -> bytes:
        return bytes([self.tcpi_state]) + bytes(103)


class DgramSock(Sock):
    type = 2
    protocol = 17

    def __init__(self, net: FakeNet) -> None:
        super().__init__(net)
        self.local: tuple[bytes, int] | None = None
        self.remote: tuple[bytes, int] | None = None
        self.queue: deque[tuple[bytes, tuple[bytes, int]]] = deque()

    def poll(self) -> int:
        return (EPOLLIN if self.queue else 0) | EPOLLOUT | (EPOLLERR if self.sk_err else 0)

    def bind(self, addr: bytes, port: int) -> None:
        self.local = _bind(self, addr, port)
        self.net.fabric.dgrams[(self.net.addr, self.local[1])] = self

    def connect(self, addr: bytes, port: int) -> None:
        self.remote = (addr, port)

    def sendmsg(self, data: Any, flags: int = 0, addr: Any = None) -> int:
        dest = addr or self.remote
        if dest is None:
            raise oserror(errno.EDESTADDRREQ)
        if dest[0] == BROADCAST and not self.options.get((1, 6)):
            raise oserror(errno.EACCES)
        if self.local is None:
            self.bind(ANY, 0)
        payload = bytes(data)
        src = (self.net.addr, self.local[1])
        target = self.net.fabric.dgrams.get(dest)
        if target is not None:
            self.net.sched.call_later(self.net.fabric.delay, target._deliver, payload, src)
        return len(payload)

    def _deliver(self, payload: bytes, src: tuple[bytes, int]) -> None:
        if not self.closed:
            self.queue.append((payload, src))
            self.wake(EPOLLIN)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        if not self.queue:
            raise eagain()
        payload, src = self.queue.popleft()
        return payload[:bufsize], src

    def getsockname(self) -> tuple[bytes, int]:
        return self.local or (ANY, 0)

    def getpeername(self) -> tuple[bytes, int]:
        if self.remote is None:
            raise oserror(errno.ENOTCONN)
        return self.remote

    def close(self) -> None:
        if self.local is not None:
            self.net.fabric.dgrams.pop((self.net.addr, self.local[1]), None)
        super().close()


def two_hosts(delay: int = 10 * US) -> tuple[Fabric, FakeNet, FakeNet]:
    fabric = Fabric(delay=delay)
    return fabric, fabric.host("a", "10.0.0.1"), fabric.host("b", "10.0.0.2")


def connected_pair(port: int = 7, **kw: Any) -> tuple[Fabric, Socket, Socket, Socket]:
    """(fabric, client, server-side conn, listener), connected over the fake network."""
    fabric, a, b = two_hosts()
    srv = b.stream(**kw)
    srv.bind(("0.0.0.0", port))
    srv.listen()
    cli = a.stream(**kw)
    cli.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return fabric, cli, conn, srv
