"""The BSD socket API's numbers, with Linux's values (``include/linux/socket.h``,
``include/uapi/asm-generic/socket.h``, ``include/uapi/linux/in.h``, ``uapi/linux/tcp.h``).

``stack/`` is sans-I/O and may not import the stdlib ``socket`` module (ruff TID251), so the
numbers are spelled out here; ``tests/test_socket_constants.py`` asserts that every one equals
the stdlib's on the running Linux, so user code may pass ``socket.SO_REUSEADDR`` or
``stack.socket.SO_REUSEADDR`` interchangeably.  Epoll's bits live in :mod:`stack.sock` (the
kernel side's ``poll()`` mask) and are re-exported here.
"""

from __future__ import annotations

from stack.sock import (
    EPOLLERR,
    EPOLLET,
    EPOLLEXCLUSIVE,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    EPOLLPRI,
    EPOLLRDHUP,
    EPOLLRDNORM,
    EPOLLWRNORM,
    SHUT_RD,
    SHUT_RDWR,
    SHUT_WR,
)

# -- address families and socket types ---------------------------------------------------
AF_UNSPEC = 0
AF_INET = 2
AF_PACKET = 17

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
SOCK_TYPE_MASK = 0xF

SOMAXCONN = 4096

# -- protocols -------------------------------------------------------------------------------
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_RAW = 255

INADDR_ANY = 0x00000000
INADDR_BROADCAST = 0xFFFFFFFF
INADDR_LOOPBACK = 0x7F000001

# -- SOL_SOCKET options (asm-generic/socket.h) -----------------------------------------------
SOL_SOCKET = 1
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_LINGER = 13
SO_REUSEPORT = 15
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_BINDTODEVICE = 25
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_ACCEPTCONN = 30
SO_PROTOCOL = 38
SO_DOMAIN = 39

# -- AF_PACKET (linux/if_packet.h, if_ether.h)
ETH_P_ALL = 3
PACKET_HOST = 0
PACKET_OUTGOING = 4

# -- IPPROTO_IP options ------------------------------------------------------------------------
IP_TOS = 1
IP_TTL = 2
IP_HDRINCL = 3

# -- IPPROTO_TCP options (uapi/linux/tcp.h) ---------------------------------------------------
TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_CORK = 3
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6
TCP_SYNCNT = 7
TCP_LINGER2 = 8
TCP_DEFER_ACCEPT = 9
TCP_WINDOW_CLAMP = 10
TCP_INFO = 11
TCP_QUICKACK = 12
TCP_CONGESTION = 13
TCP_USER_TIMEOUT = 18
TCP_FASTOPEN = 23
TCP_NOTSENT_LOWAT = 25
TCP_CA_NAME_MAX = 16

# -- send/recv flags ---------------------------------------------------------------------------
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_CONFIRM = 0x800
MSG_ERRQUEUE = 0x2000
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000

# -- epoll_ctl operations (uapi/linux/eventpoll.h; the stdlib's select module lacks them) ------
EPOLL_CTL_ADD = 1
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLLWAKEUP = 1 << 29
EPOLL_CLOEXEC = SOCK_CLOEXEC

__all__ = [
    "SO_ATTACH_FILTER", "SO_DETACH_FILTER", "ETH_P_ALL", "PACKET_HOST", "PACKET_OUTGOING",
    "AF_INET", "AF_PACKET", "AF_UNSPEC", "EPOLL_CLOEXEC", "EPOLL_CTL_ADD", "EPOLL_CTL_DEL",
    "EPOLL_CTL_MOD", "EPOLLERR", "EPOLLET", "EPOLLEXCLUSIVE", "EPOLLHUP", "EPOLLIN",
    "EPOLLONESHOT", "EPOLLOUT", "EPOLLPRI", "EPOLLRDHUP", "EPOLLRDNORM", "EPOLLWAKEUP",
    "EPOLLWRNORM", "INADDR_ANY", "INADDR_BROADCAST", "INADDR_LOOPBACK", "IP_HDRINCL", "IP_TOS",
    "IP_TTL", "IPPROTO_ICMP", "IPPROTO_IP", "IPPROTO_RAW", "IPPROTO_TCP", "IPPROTO_UDP",
    "MSG_CONFIRM", "MSG_CTRUNC", "MSG_DONTROUTE", "MSG_DONTWAIT", "MSG_EOR", "MSG_ERRQUEUE",
    "MSG_MORE", "MSG_NOSIGNAL", "MSG_OOB", "MSG_PEEK", "MSG_TRUNC", "MSG_WAITALL", "SHUT_RD",
    "SHUT_RDWR", "SHUT_WR", "SO_ACCEPTCONN", "SO_BINDTODEVICE", "SO_BROADCAST", "SO_DEBUG",
    "SO_DOMAIN", "SO_DONTROUTE", "SO_ERROR", "SO_KEEPALIVE", "SO_LINGER", "SO_OOBINLINE",
    "SO_PROTOCOL", "SO_RCVBUF", "SO_RCVLOWAT", "SO_REUSEADDR", "SO_REUSEPORT", "SO_SNDBUF",
    "SO_SNDLOWAT", "SO_TYPE", "SOCK_CLOEXEC", "SOCK_DGRAM", "SOCK_NONBLOCK", "SOCK_RAW",
    "SOCK_STREAM", "SOCK_TYPE_MASK", "SOL_SOCKET", "SOMAXCONN", "TCP_CA_NAME_MAX",
    "TCP_CONGESTION", "TCP_CORK", "TCP_DEFER_ACCEPT", "TCP_FASTOPEN", "TCP_INFO",
    "TCP_KEEPCNT", "TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_LINGER2", "TCP_MAXSEG", "TCP_NODELAY",
    "TCP_NOTSENT_LOWAT", "TCP_QUICKACK", "TCP_SYNCNT", "TCP_USER_TIMEOUT", "TCP_WINDOW_CLAMP",
]  # fmt: skip
