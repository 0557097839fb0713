"""Socket creation: ``socket(family, type, proto)`` to a :class:`~stack.socket.socket.Socket`.

Mirrors Linux's ``__sock_create`` and ``net_families`` (``net/socket.c``), ``inet_create``
(``net/ipv4/af_inet.c``, the protocol from ``inetsw``), ``inet6_create``
(``net/ipv6/af_inet6.c``) and ``packet_create`` (``net/packet/af_packet.c``), and CPython's
``socket.socket(fileno=fd)`` for an fd ``detach()`` left open.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from stack.af_inet import INETSW
from stack.ipv6.af_inet6 import INETSW6, inet6_init
from stack.packet import PacketSock
from stack.socket.fdtable import fdtable_of
from stack.socket.socket import Socket
from stack.uapi import (
    AF_INET,
    AF_INET6,
    AF_PACKET,
    IPPROTO_IP,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_STREAM,
    SOCK_TYPE_MASK,
)


def packet_create(net: Any, base: int, proto: int) -> Socket:
    """``packet_create`` (``net/packet/af_packet.c``): raw frames, BPF filters."""
    if base not in (SOCK_RAW, SOCK_DGRAM):
        raise OSError(errno.ESOCKTNOSUPPORT, "AF_PACKET takes SOCK_RAW or SOCK_DGRAM")
    return Socket(net, PacketSock(net, base, proto), base, proto, family=AF_PACKET)


def inet_create(net: Any, base: int, proto: int) -> Socket:
    """``inet_create`` (``net/ipv4/af_inet.c``): the protocol from ``stack.af_inet.INETSW``."""
    answers = INETSW.get(base)
    if answers is None:
        raise OSError(errno.ESOCKTNOSUPPORT, f"Socket type not supported: {base}")
    for protocol, create in answers:
        if protocol == IPPROTO_IP:  # the wildcard (SOCK_RAW): made with the user's protocol
            return Socket(net, create(net, proto), base, proto)
        if proto in (0, protocol):
            return Socket(net, create(net), base, proto)  # ``proto`` reads as given (0 too)
    raise OSError(errno.EPROTONOSUPPORT, f"Protocol not supported: {proto}")


def inet6_create(net: Any, base: int, proto: int) -> Socket:
    """``inet6_create`` (``net/ipv6/af_inet6.c``): the protocol from ``INETSW6``; the first
    AF_INET6 socket loads IPv6 into the namespace (``stack.ipv6.af_inet6``)."""
    answers = INETSW6.get(base)
    if answers is None:
        raise OSError(errno.ESOCKTNOSUPPORT, f"Socket type not supported: {base}")
    for protocol, create in answers:
        if protocol == IPPROTO_IP:  # the wildcard (SOCK_RAW): made with the user's protocol
            inet6_init(net)
            return Socket(net, create(net, proto), base, proto, family=AF_INET6)
        if proto in (0, protocol):
            inet6_init(net)
            return Socket(net, create(net), base, proto, family=AF_INET6)
    raise OSError(errno.EPROTONOSUPPORT, f"Protocol not supported: {proto}")


# net_families (sock_register): address family -> create(net, type, proto)
NET_FAMILIES: dict[int, Callable[[Any, int, int], Socket]] = {
    AF_INET: inet_create,
    AF_INET6: inet6_create,
    AF_PACKET: packet_create,
}


def socket_create(
    net: Any,
    family: int = AF_INET,
    type: int = SOCK_STREAM,
    proto: int = 0,
    fileno: int | None = None,
) -> Socket:
    """``socket(family, type, proto)`` on the host whose namespace is ``net`` (``__sock_create``).

    ``type`` may carry SOCK_NONBLOCK (the socket starts non-blocking) and SOCK_CLOEXEC
    (accepted, meaningless here).  With ``fileno`` (an fd left open by ``detach()``) the
    socket is made on that fd; family, type and proto are then the fd's, as CPython detects
    them.
    """
    if fileno is not None:
        return _adopt(net, fileno)
    create = NET_FAMILIES.get(family)
    if create is None:
        raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
    sock = create(net, type & SOCK_TYPE_MASK, proto)
    if type & SOCK_NONBLOCK:
        sock.setblocking(False)
    return sock


def _adopt(net: Any, fd: int) -> Socket:
    """``socket.socket(fileno=fd)``: a new object on an fd that ``detach()`` left open."""
    old = fdtable_of(net).get(fd)
    if not isinstance(old, Socket):
        raise OSError(errno.ENOTSOCK, "Socket operation on non-socket")
    if old._fd >= 0:
        raise OSError(
            errno.EINVAL,
            f"fd {fd} belongs to a live socket object (ixsim adopts "
            "only an fd that detach() left open)",
        )
    return Socket(net, old.sk, old._type, old._proto, old._family, file=old._file, fd=fd)
