"""Character generator (RFC 864, TCP port 19): an endless stream of 72-character lines.

Line ``i`` is the 95 printable ASCII characters (space 0x20 ... ``~`` 0x7e) rotated by
``i + 1``, cut at 72 and ended by CRLF, so the first line begins with ``!"#$%`` as RFC 864's
sample does; after 95 lines the pattern repeats.  The server writes until the client goes
away (EPIPE/ECONNRESET) or ``limit`` bytes.
"""

from __future__ import annotations

from typing import Any

from ixsim.apps.common import ServerStats, listen_on
from stack.socket import Socket

PRINTABLE = bytes(range(0x20, 0x7F))  # 95 characters: space .. tilde
LINE = 72


def chargen_pattern() -> bytes:
    """One full period of the stream: 95 lines of 74 bytes."""
    doubled = PRINTABLE + PRINTABLE
    return b"".join(doubled[i + 1:i + 1 + LINE] + b"\r\n" for i in range(len(PRINTABLE)))


PATTERN = chargen_pattern()


def chargen_bytes(n: int, offset: int = 0) -> bytes:
    """``n`` bytes of the stream starting at ``offset`` (what a client should receive)."""
    period = len(PATTERN)
    start = offset % period
    reps = (start + n) // period + 1
    return (PATTERN * reps)[start:start + n]


async def _chargen_connection(conn: Socket, stats: ServerStats, limit: int | None) -> None:
    block = PATTERN * 32  # ~231 KiB, a whole number of periods
    sent = 0
    try:
        while limit is None or sent < limit:
            chunk = block if limit is None else block[:limit - sent]
            await conn.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stats.bytes_out += sent
        conn.close()


async def chargen_server(host: Any, port: int = 19, *, connections: int | None = None,
                         limit: int | None = None, backlog: int = 128) -> ServerStats:
    """Accept and stream, one task per connection; ``limit`` bytes per connection (None: until
    the client leaves).  Returns after ``connections`` ended."""
    listener = listen_on(host, port, backlog)
    stats = ServerStats()
    handlers = []
    try:
        while connections is None or len(handlers) < connections:
            conn, _peer = await listener.accept()
            handlers.append(listener.sched.spawn(_chargen_connection(conn, stats, limit),
                                                 name=f"chargen {conn.fileno()}"))
        for handler in handlers:
            await handler
            stats.connections += 1
    finally:
        listener.close()
    return stats
