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
    SO_REUSEADDR,
    SOCK_STREAM,
    SOL_SOCKET,
    Socket,
    socket_create,
)


def open_socket(host: Any, type: int = SOCK_STREAM) -> Socket:
    make = getattr(host, "socket", None)
    if callable(make):
        return make(AF_INET, type)
    return socket_create(getattr(host, "net", host), AF_INET, type)


def listen_on(host: Any, port: int, backlog: int = 128) -> Socket:
    """A TCP listener on ``0.0.0.0:port`` with SO_REUSEADDR, as servers usually set it."""
    sock = open_socket(host)
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", port))
    sock.listen(backlog)
    return sock


@dataclass(slots=True)
class ServerStats:
    """What a server did before it returned."""

    connections: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    requests: int = 0

