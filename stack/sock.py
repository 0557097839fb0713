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

# The poll() mask and shutdown()'s ``how`` are the ABI's (stack.uapi); protocols import them here.
from stack.core.skbfree import consume_skb
from stack.uapi import (  # noqa: F401
    AF_INET,
    EPOLLERR,
    EPOLLET,
    EPOLLEXCLUSIVE,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    EPOLLPRI,
    EPOLLRDBAND,
    EPOLLRDHUP,
    EPOLLRDNORM,
    EPOLLWRNORM,
    IP_PMTUDISC_WANT,
    MSG_ERRQUEUE,
    MSG_PEEK,
    MSG_TRUNC,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
    SO_BINDTODEVICE,
    SO_REUSEPORT,
    SOCK_STREAM,
    SOL_SOCKET,
)
from stack.wire.ipv4 import INADDR_ANY

RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
# include/net/sock.h: the smallest buffers SO_SNDBUF/SO_RCVBUF may set,
# 2 * (2048 + sizeof(struct sk_buff)) and half of that, on x86-64
SOCK_MIN_SNDBUF = 4608
SOCK_MIN_RCVBUF = 2304
# sk_userlocks: what the user fixed by hand, which autotuning then leaves alone
SOCK_SNDBUF_LOCK = 1
SOCK_RCVBUF_LOCK = 2
SOCK_BINDADDR_LOCK = 4
SOCK_BINDPORT_LOCK = 8
# sk_pacing_status (include/net/sock.h): who paces this socket's packets.  NEEDED: TCP's own
# pacing timer (SO_MAX_PACING_RATE was set); FQ: the fq qdisc (it marks the sockets it sees).
SK_PACING_NONE = 0
SK_PACING_NEEDED = 1
SK_PACING_FQ = 2
PACING_RATE_UNLIMITED = (1 << 64) - 1  # ~0UL: sk_pacing_rate / sk_max_pacing_rate unlimited
SK_PACING_SHIFT = 10  # sk_pacing_shift's default: TSQ and TSO sizes aim at ~1 ms of rate

# The identity every socket call runs as (``current_cred()``): root, as ixsim's tools (the
# shell, ``host.ping``) are root's.  Root holds CAP_NET_RAW, so raw sockets are allowed; ping
# sockets still check ``net.ipv4.ping_group_range`` against its groups, as Linux does for root.
CURRENT_EGID = 0
CURRENT_GROUPS = (0,)
CAP_NET_RAW = True

Waiter = Callable[["Sock", int], None]


def oserror(code: int, detail: str = "") -> OSError:
    """An OSError of the stdlib subclass for ``code`` (ConnectionRefusedError for ECONNREFUSED)."""
    message = os.strerror(code) + (f": {detail}" if detail else "")
    return OSError(code, message)  # OSError() picks the subclass from the errno


def eagain() -> BlockingIOError:
    return BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


def recv_ip_datagram(sk: Any, bufsize: int, flags: int) -> tuple[bytes, tuple[Any, ...]]:
    """The head of a raw or ping socket's receive queue as ``recvmsg`` returns it: its bytes
    from ``skb.data`` on (the real length under MSG_TRUNC), its source with port 0 (IPv6:
    ``(source, 0, 0, scope_id)``, the arrival interface for a link-local source), left
    queued under MSG_PEEK (``skb_recv_datagram`` + ``skb_copy_datagram_msg``); a pending
    error first, EAGAIN when empty."""
    err = sk.sock_error()
    if err:
        raise oserror(err)
    if not sk.rcvq:
        raise eagain()
    skb = sk.rcvq[0]
    head = skb.head
    data = bytes(head[skb.data : min(skb.tail, skb.data + max(bufsize, 0))])
    if flags & MSG_TRUNC:
        data = data.ljust(skb.tail - skb.data, b"\0")
    nh = skb.network_header
    if head[nh] >> 4 == 6:  # IPv6 (rawv6_recvmsg, ping_recvmsg): (source, 0, 0, scope_id)
        src = bytes(head[nh + 8 : nh + 24])
        linklocal = src[0] == 0xFE and src[1] & 0xC0 == 0x80 and skb.dev is not None
        addr: tuple[Any, ...] = (src, 0, 0, skb.dev.ifindex if linklocal else 0)
    else:
        addr = (bytes(head[nh + 12 : nh + 16]), 0)
    if not flags & MSG_PEEK:
        sk.rcvq.popleft()
        sk.rmem_alloc -= skb.truesize
        consume_skb(skb)
    return data, addr


def inet_rcv_saddr_conflict(sk: Any, addr: bytes, sk2: Any, addr2: bytes) -> bool:
    """Do two sockets' bound addresses claim a common destination?  (``inet_rcv_saddr_equal``
    with wildcards matching, as ``inet_bind_conflict`` and ``udp_lib_lport_inuse`` use it.)

    Kernel addresses are 4 bytes for IPv4 (an AF_INET6 socket's v4-mapped address included)
    and 16 for IPv6; the wildcard is INADDR_ANY for both families.  A wildcard covers every
    IPv4 address of an AF_INET socket; every IPv6 address of an AF_INET6 one, and every IPv4
    address too unless IPV6_V6ONLY is set (Linux's dual-stack ``::``).
    """
    return _meets(_cover(sk, addr, 4), _cover(sk2, addr2, 4)) or _meets(
        _cover(sk, addr, 16), _cover(sk2, addr2, 16))


_ALL = b"*"


def _cover(sk: Any, addr: bytes, size: int) -> bytes | None:
    """What of one family (4: IPv4, 16: IPv6) a socket bound to ``addr`` receives."""
    if addr == INADDR_ANY:
        if sk.family == AF_INET:
            return _ALL if size == 4 else None
        return _ALL if size == 16 or not sk.ipv6only else None
    return addr if len(addr) == size else None


def _meets(a: bytes | None, b: bytes | None) -> bool:
    return a is not None and b is not None and (a is _ALL or b is _ALL or a == b)


def ip_datagram_connected(sk: Any, rt: Any, daddr: bytes, port: int) -> None:
    """The tail of ``__ip4_datagram_connect`` / ``ip6_datagram_connect`` once the route is
    known: an unbound source takes the route's, and the peer is remembered (the caller caches
    ``rt`` as the socket's dst when its send path uses one)."""
    if sk.saddr == INADDR_ANY:
        sk.saddr = rt.src
    if sk.rcv_saddr == INADDR_ANY:
        sk.rcv_saddr = rt.src
    sk.daddr = daddr
    sk.dport = port


def inet_dgram_shutdown(sk: Any, how: int) -> None:
    """``inet_shutdown`` for a datagram socket (UDP, raw, ping): the bits are set even on an
    unconnected socket, which is then ENOTCONN, as Linux does."""
    sk._check_open()
    if how not in (0, 1, 2):
        raise oserror(errno.EINVAL)
    sk.sk_shutdown |= how + 1
    sk.wake()
    if sk.daddr is None:
        raise oserror(errno.ENOTCONN)


class Sock:
    """Base of every protocol socket: identity, buffers, errors, wait queue."""

    family = AF_INET
    type = 0
    protocol = 0

    def __init__(self, net: Any) -> None:
        self.net = net
        self.sk_err = 0
        self.sk_shutdown = 0
        self.sk_rcvbuf = net.sysctl.rmem_default if net is not None else 212992
        self.sk_sndbuf = net.sysctl.wmem_default if net is not None else 212992
        self.userlocks = 0  # sk_userlocks: SOCK_*_LOCK
        self.wq: list[Waiter] = []
        self.closed = False
        self.options: dict[tuple[int, int], Any] = {}
        self.rcvlowat = 1  # sk_rcvlowat: SO_RCVLOWAT, never 0
        self.priority = 0  # sk_priority: SO_PRIORITY, or IP_TOS's rt_tos2priority
        self.mark = 0  # sk_mark: SO_MARK
        self.rcvtimeo: int | None = None  # sk_rcvtimeo in ns; None: MAX_SCHEDULE_TIMEOUT
        self.sndtimeo: int | None = None  # sk_sndtimeo
        self.bound_dev_if: Any = None  # sk_bound_dev_if: SO_BINDTODEVICE's device, or None
        self.tos = 0  # inet->tos: IP_TOS
        self.ttl: int | None = None  # inet->uc_ttl: IP_TTL; None: net.ipv4.ip_default_ttl
        self.pmtudisc = IP_PMTUDISC_WANT  # inet->pmtudisc: IP_MTU_DISCOVER (DF under WANT/DO)
        self.recverr = False  # inet->recverr: IP_RECVERR
        # pacing (sock_init_data): bytes/s; SO_MAX_PACING_RATE caps sk_pacing_rate
        self.sk_pacing_rate = PACING_RATE_UNLIMITED
        self.sk_max_pacing_rate = PACING_RATE_UNLIMITED
        self.sk_pacing_status = SK_PACING_NONE
        self.sk_pacing_shift = SK_PACING_SHIFT
        # struct ipv6_pinfo, for AF_INET6 sockets (stack.ipv6.sockglue sets them)
        self.ipv6only = False  # sk_ipv6only: IPV6_V6ONLY
        self.hop_limit: int | None = None  # np->hop_limit: IPV6_UNICAST_HOPS; None: the route's
        self.tclass = 0  # np->tclass: IPV6_TCLASS
        self.rxopt = 0  # np->rxopt: IPV6_RECVPKTINFO and friends (stack.ipv6.sockglue bits)

    # -- buffer sizes: the one SO_SNDBUF/SO_RCVBUF handler (sk_setsockopt, net/core/sock.c) --
    def set_sndbuf(self, val: int) -> None:
        """SO_SNDBUF: bounded by ``net.core.wmem_max``, doubled for the kernel's bookkeeping
        (the doubled value is what getsockopt reports), at least SOCK_MIN_SNDBUF; the size is
        then the user's (autotuning leaves it) and writers may have room (``sk_write_space``).

        Linux compares as u32, so a negative value gets ``wmem_max``.
        """
        val = min(val & 0xFFFFFFFF, self.net.sysctl.wmem_max)
        self.userlocks |= SOCK_SNDBUF_LOCK
        self.sk_sndbuf = max(val * 2, SOCK_MIN_SNDBUF)
        self.write_space()

    def set_rcvbuf(self, val: int) -> None:
        """SO_RCVBUF (``__sock_set_rcvbuf``): as :meth:`set_sndbuf`, with ``rmem_max``."""
        val = min(val & 0xFFFFFFFF, self.net.sysctl.rmem_max)
        self.userlocks |= SOCK_RCVBUF_LOCK
        self.sk_rcvbuf = max(val * 2, SOCK_MIN_RCVBUF)

    @property
    def reuseport(self) -> bool:
        """SO_REUSEPORT (``sk_reuseport``): may share its port with a group of its own."""
        return bool(self.options.get((SOL_SOCKET, SO_REUSEPORT)))

    @property
    def bound_dev(self) -> Any:
        """The device SO_BINDTODEVICE named (``sk_bound_dev_if``), or None."""
        name = self.options.get((SOL_SOCKET, SO_BINDTODEVICE))
        return self.net.kernel.dev_get_by_name(name) if name else None

    def write_space(self) -> None:
        """``sk_write_space``: the send buffer grew. Protocols whose writers wait override it."""

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

    def ioctl(self, cmd: int) -> int:
        """A socket ioctl's answer (the int Linux writes through the argument); ENOTTY for a
        command the protocol does not know, as ``sock_do_ioctl`` says.  TCP answers SIOCINQ,
        SIOCOUTQ, SIOCOUTQNSD and SIOCATMARK (``tcp_ioctl``)."""
        raise oserror(errno.ENOTTY)

    def at_urgent_mark(self, offset: int = 0) -> bool:
        """The read position plus ``offset`` stream bytes is the urgent mark (SIOCATMARK's
        test, usable while peeking); only TCP has urgent data."""
        return False

    def bind(self, addr: bytes, port: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def listen(self, backlog: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def connect(self, addr: bytes, port: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def connect_check(self) -> None:
        """After a wake-up, the outcome of the connect in progress (the second half of
        ``__inet_stream_connect``): returns once connected, raises the pending error, or
        ``BlockingIOError`` while it is still under way."""
        err = self.sock_error()
        if err:
            raise oserror(err)
        mask = self.poll()
        if mask & EPOLLOUT:
            return
        if mask & EPOLLHUP:
            raise oserror(errno.ECONNABORTED)
        raise BlockingIOError(errno.EALREADY, "Operation already in progress")

    def accept(self) -> Sock:
        raise oserror(errno.EOPNOTSUPP)

    def sendmsg(self, data: bytes | memoryview, flags: int = 0,
                addr: tuple[bytes, int] | None = None) -> int:
        raise oserror(errno.EOPNOTSUPP)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[bytes, int] | None]:
        raise oserror(errno.EOPNOTSUPP)

    def recvmsg_ctl(self, bufsize: int, flags: int
                    ) -> tuple[bytes, tuple[bytes, int] | None, int, list[tuple[int, int, bytes]]]:
        """recvmsg(2) as the socket layer's ``recvmsg`` needs it: -> ``(data, addr, msg_flags,
        cmsgs)``.  This base has no ancillary data and an empty error queue (MSG_ERRQUEUE:
        EAGAIN at once, as ``inet_recv_error``/``sock_recv_errqueue`` give for TCP and packet
        sockets); a datagram's MSG_TRUNC comes from asking for its real length.  UDP overrides
        it (stack/ipv4/sockglue.py)."""
        if flags & MSG_ERRQUEUE:
            raise eagain()
        if self.type == SOCK_STREAM:
            data, addr = self.recvmsg(bufsize, flags)
            return data, addr, 0, []
        data, addr = self.recvmsg(bufsize, flags | MSG_TRUNC)
        if len(data) <= bufsize:
            return data, addr, 0, []
        return (data if flags & MSG_TRUNC else data[:bufsize]), addr, MSG_TRUNC, []

    def sendmsg_ctl(self, data: bytes | memoryview, flags: int,
                    addr: tuple[bytes, int] | None, ancdata: list[tuple[int, int, bytes]]) -> int:
        """sendmsg(2) with control messages: this base takes none (``sock_cmsg_send``: the
        SOL_SOCKET ones it knows are not modelled, so EINVAL; other levels are skipped, as
        TCP and packet sockets skip them).  UDP overrides it."""
        for level, ctype, _ in ancdata:
            if level == SOL_SOCKET:
                raise oserror(errno.EINVAL, f"SOL_SOCKET control message {ctype} not supported")
        return self.sendmsg(data, flags, addr)

    def shutdown(self, how: int) -> None:
        raise oserror(errno.EOPNOTSUPP)

    def close(self) -> None:
        self.closed = True

    def closing(self) -> bool:
        """``sk_stream_closing``: a FIN sent and not yet acknowledged, which a close() with
        SO_LINGER waits for. Only stream protocols linger."""
        return False

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        raise oserror(errno.ENOPROTOOPT)

    def getsockname(self) -> tuple[bytes, int]:
        raise oserror(errno.EOPNOTSUPP)

    def getpeername(self) -> tuple[bytes, int]:
        raise oserror(errno.ENOTCONN)
