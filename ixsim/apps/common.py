"""What every app shares: opening a socket on "a host", server statistics, the listener.

An app's ``host`` argument is anything with a ``socket(family, type)`` method (an ixsim
``Host``, a test's fake namespace) or a per-host ``Net`` (``stack.net.Net``), for which the
socket comes from :func:`stack.socket.socket_create`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.socket import (
    AF_INET,
    AF_INET6,
    SO_REUSEADDR,
    SOCK_STREAM,
    SOL_SOCKET,
    Socket,
    socket_create,
)


def open_socket(host: Any, type: int = SOCK_STREAM, family: int = AF_INET) -> Socket:
    make = getattr(host, "socket", None)
    if callable(make):
        return make(family, type)
    return socket_create(getattr(host, "net", host), family, type)


def family_of(address: tuple[Any, ...]) -> int:
    """AF_INET6 for an IPv6 address (it has a colon), else AF_INET."""
    return AF_INET6 if ":" in str(address[0]) else AF_INET


def listen_on(host: Any, port: int, backlog: int = 128, family: int = AF_INET) -> Socket:
    """A TCP listener on ``0.0.0.0:port`` (``[::]:port``, dual-stack, for AF_INET6) with
    SO_REUSEADDR, as servers usually set it."""
    sock = open_socket(host, family=family)
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    sock.bind(("::" if family == AF_INET6 else "0.0.0.0", port))
    sock.listen(backlog)
    return sock


@dataclass(slots=True)
class ServerStats:
    """What a server did before it returned."""

    connections: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    requests: int = 0

