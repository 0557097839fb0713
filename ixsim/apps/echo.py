"""Echo (RFC 862, TCP port 7): a server per connection task, a one-task epoll server, a client.

Every function is an ``async def`` to run in the world with ``host.spawn(...)`` (or
``sched.spawn``), written against the BSD API exactly as one would against Python's sockets:
``await`` where a blocking socket would block.
"""

from __future__ import annotations

from typing import Any

from ixsim.apps.common import ServerStats, listen_on, open_socket
from stack.socket import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLRDHUP,
    SHUT_WR,
    Socket,
    epoll_create,
)

CHUNK = 65536


async def _echo_connection(conn: Socket, stats: ServerStats) -> None:
    try:
        while data := await conn.recv(CHUNK):
            stats.bytes_in += len(data)
            await conn.sendall(data)
            stats.bytes_out += len(data)
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        conn.close()


async def echo_server(host: Any, port: int = 7, *, connections: int | None = None,
                      backlog: int = 128) -> ServerStats:
    """Accept and echo, one task per connection; return after ``connections`` (None: never).

    The returned stats count the connections served to completion.
    """
    listener = listen_on(host, port, backlog)
    stats = ServerStats()
    handlers = []
    try:
        while connections is None or len(handlers) < connections:
            conn, _peer = await listener.accept()
            handlers.append(listener.sched.spawn(_echo_connection(conn, stats),
                                                 name=f"echo {conn.fileno()}"))
        for handler in handlers:
            await handler
            stats.connections += 1
    finally:
        listener.close()
    return stats


async def echo_server_epoll(host: Any, port: int = 7, *, connections: int | None = None,
                            backlog: int = 4096) -> ServerStats:
    """The same service from ONE task: non-blocking sockets and a level-triggered epoll.

    Reads what is there, writes what fits, keeps the rest and waits for EPOLLOUT; a peer's
    FIN (recv -> b"") ends the connection once everything has been echoed.
    """
    listener = listen_on(host, port, backlog)
    listener.setblocking(False)
    ep = epoll_create(listener.net)
    ep.register(listener, EPOLLIN)
    pending: dict[Socket, bytearray] = {}
    masks: dict[Socket, int] = {}
    finishing: set[Socket] = set()
    by_fd: dict[int, Socket] = {listener.fileno(): listener}  # epoll reports fds
    stats = ServerStats()

    def want(sock: Socket, mask: int) -> None:
        if masks[sock] != mask:
            masks[sock] = mask
            ep.modify(sock, mask)

    def finish(sock: Socket) -> None:
        by_fd.pop(sock.fileno(), None)
        pending.pop(sock, None)
        masks.pop(sock, None)
        finishing.discard(sock)
        sock.close()  # leaves the epoll too
        stats.connections += 1

    def flush(sock: Socket) -> None:
        out = pending[sock]
        try:
            while out:
                n = sock.send(out)
                del out[:n]
                stats.bytes_out += n
        except BlockingIOError:
            want(sock, EPOLLOUT if sock in finishing else EPOLLIN | EPOLLOUT | EPOLLRDHUP)
            return
        except (BrokenPipeError, ConnectionResetError):
            finish(sock)
            return
        if sock in finishing:
            finish(sock)
        else:
            want(sock, EPOLLIN | EPOLLRDHUP)

    try:
        while connections is None or stats.connections < connections:
            for fd, events in await ep.poll():
                sock = by_fd.get(fd)
                if sock is None:
                    continue  # closed earlier in this batch
                if sock is listener:
                    while True:
                        try:
                            conn, _peer = listener.accept()
                        except BlockingIOError:
                            break
                        conn.setblocking(False)
                        pending[conn] = bytearray()
                        masks[conn] = EPOLLIN | EPOLLRDHUP
                        by_fd[conn.fileno()] = conn
                        ep.register(conn, masks[conn])
                    continue
                if sock not in pending:
                    continue  # closed earlier in this batch
                if events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP):
                    try:
                        data = sock.recv(CHUNK)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        finish(sock)
                        continue
                    if data:
                        stats.bytes_in += len(data)
                        pending[sock] += data
                    elif data == b"":
                        finishing.add(sock)  # flush, then close
                if sock in pending:
                    flush(sock)
    finally:
        for sock in list(pending):
            sock.close()
        listener.close()
        ep.close()
    return stats


async def echo_client(host: Any, address: tuple[str, int], data: bytes,
                      chunk: int = CHUNK) -> bytes:
    """Send ``data`` while reading the echo (a second task), half-close, read to EOF.

    Reading concurrently matters: an echo client that only reads after sending everything
    deadlocks once both directions' windows are full.
    """
    sock = open_socket(host)
    received = bytearray()

    async def read_all() -> None:
        while part := await sock.recv(CHUNK):
            received.extend(part)

    try:
        await sock.connect(address)
        reader = sock.sched.spawn(read_all(), name="echo client reader")
        view = memoryview(data)
        for start in range(0, len(data), chunk):
            await sock.sendall(view[start:start + chunk])
        sock.shutdown(SHUT_WR)
        await reader
        return bytes(received)
    finally:
        sock.close()
