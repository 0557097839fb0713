"""Discard (RFC 863, TCP port 9): read everything, answer nothing."""

from __future__ import annotations

from typing import Any

from ixsim.apps.common import ServerStats, listen_on
from stack.socket import Socket

CHUNK = 262144


async def _discard_connection(conn: Socket, stats: ServerStats) -> None:
    buf = bytearray(CHUNK)
    try:
        while n := await conn.recv_into(buf):
            stats.bytes_in += n
    except ConnectionResetError:
        pass
    finally:
        conn.close()


async def discard_server(host: Any, port: int = 9, *, connections: int | None = None,
                         backlog: int = 128) -> ServerStats:
    """Accept and swallow, one task per connection; return after ``connections`` ended."""
    listener = listen_on(host, port, backlog)
    stats = ServerStats()
    handlers = []
    try:
        while connections is None or len(handlers) < connections:
            conn, _peer = await listener.accept()
            handlers.append(listener.sched.spawn(_discard_connection(conn, stats),
                                                 name=f"discard {conn.fileno()}"))
        for handler in handlers:
            await handler
            stats.connections += 1
    finally:
        listener.close()
    return stats
