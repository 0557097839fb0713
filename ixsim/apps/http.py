"""A small HTTP/1.1 server and client (RFC 9112): GET/HEAD, Content-Length, keep-alive, 404.

The server serves generated content: ``/`` (a short index), ``/hello`` and ``/bytes/<n>``
(``n`` deterministic bytes, :func:`body_bytes`); anything else is 404, other methods 405, a
request it cannot parse 400 (and the connection closes).  Connections persist as HTTP/1.1
says - unless the client sends ``Connection: close`` (HTTP/1.0: unless ``keep-alive``).
Message bodies are framed by Content-Length only (no chunked coding), which is all the
client needs since the server always sends it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ixsim.apps.common import ServerStats, listen_on, open_socket
from stack.socket import Socket

MAX_HEADER = 16384
CHUNK = 65536
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
INDEX = b"<html><body><h1>ixsim</h1><p>try /hello or /bytes/1000</p></body></html>\n"


@cache
def _block() -> bytes:
    return bytes((i * 31 + i // 251) % 256 for i in range(251 * 256))


def body_bytes(n: int) -> bytes:
    """The content of ``/bytes/<n>``: byte i is ``(i * 31 + i // 251) % 256``, period 64256."""
    block = _block()
    return (block * (n // len(block) + 1))[:n]


def generated_content(path: str) -> tuple[bytes, str] | None:
    """The default site: ``(body, content type)`` for a path, or None for 404."""
    if path == "/":
        return INDEX, "text/html"
    if path == "/hello":
        return b"hello, world\n", "text/plain"
    if path.startswith("/bytes/") and path[7:].isdigit():
        return body_bytes(int(path[7:])), "application/octet-stream"
    return None


class HttpError(Exception):
    """A peer spoke something that is not HTTP/1.x (or closed mid-message)."""


class _Reader:
    """Buffered reads from a socket: up to a delimiter, or an exact count."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    async def _fill(self) -> bool:
        data = await self.sock.recv(CHUNK)
        self.buf += data
        return bool(data)

    async def until(self, delim: bytes, limit: int = MAX_HEADER) -> bytes | None:
        """Bytes up to and including ``delim``; None at a clean EOF before any byte."""
        while True:
            at = self.buf.find(delim)
            if at >= 0:
                out = bytes(self.buf[: at + len(delim)])
                del self.buf[: at + len(delim)]
                return out
            if len(self.buf) > limit:
                raise HttpError("header too long")
            if not await self._fill():
                if self.buf:
                    raise HttpError("connection closed inside a header")
                return None

    async def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not await self._fill():
                raise HttpError(f"connection closed after {len(self.buf)} of {n} body bytes")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """Start line and headers (names lower-cased) of one message head."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes everything
        raise HttpError(str(exc)) from None
    lines = text.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(f"bad header line {line!r}")
        headers[name.lower()] = value.strip()
    return lines[0], headers


def _content_length(headers: dict[str, str]) -> int:
    value = headers.get("content-length", "0")
    if not value.isdigit():
        raise HttpError(f"bad Content-Length {value!r}")
    return int(value)


def _response(status: int, body: bytes, content_type: str, close: bool,
              head_only: bool = False, extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
            f"Server: ixsim\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}"
            + ("Connection: close\r\n" if close else "") + "\r\n")
    return head.encode("latin-1") + (b"" if head_only else body)


async def _serve_connection(conn: Socket, stats: ServerStats,
                            content: Callable[[str], tuple[bytes, str] | None]) -> None:
    reader = _Reader(conn)
    try:
        while True:
            try:
                head = await reader.until(b"\r\n\r\n")
                if head is None:
                    return
                stats.bytes_in += len(head)
                start, headers = _parse_head(head)
                parts = start.split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
                    raise HttpError(f"bad request line {start!r}")
                method, target, version = parts
                body_len = _content_length(headers)
            except HttpError:
                await conn.sendall(_response(400, b"bad request\n", "text/plain", True))
                return
            if body_len:
                stats.bytes_in += len(await reader.exactly(body_len))
            connection = headers.get("connection", "").lower()
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            stats.requests += 1
            if method not in ("GET", "HEAD"):
                reply = _response(405, b"method not allowed\n", "text/plain", close,
                                  extra="Allow: GET, HEAD\r\n")
            else:
                found = content(target.split("?", 1)[0])
                if found is None:
                    reply = _response(404, b"not found\n", "text/plain", close,
                                      head_only=method == "HEAD")
                else:
                    reply = _response(200, found[0], found[1], close, head_only=method == "HEAD")
            await conn.sendall(reply)
            stats.bytes_out += len(reply)
            if close:
                return
    except (ConnectionResetError, BrokenPipeError, HttpError):
        return
    finally:
        conn.close()


async def http_server(host: Any, port: int = 80, *, connections: int | None = None,
                      content: Callable[[str], tuple[bytes, str] | None] = generated_content,
                      backlog: int = 128) -> ServerStats:
    """Serve ``content`` (path -> ``(body, type)`` or None), one task per connection; return
    after ``connections`` connections ended (None: never)."""
    listener = listen_on(host, port, backlog)
    stats = ServerStats()
    handlers = []
    try:
        while connections is None or len(handlers) < connections:
            conn, _peer = await listener.accept()
            handlers.append(listener.sched.spawn(_serve_connection(conn, stats, content),
                                                 name=f"http {conn.fileno()}"))
        for handler in handlers:
            await handler
            stats.connections += 1
    finally:
        listener.close()
    return stats


@dataclass(slots=True)
class HttpResponse:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


async def _request(sock: Socket, reader: _Reader, method: str, path: str, host_header: str,
                   close: bool) -> HttpResponse:
    request = (f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: ixsim\r\n"
               + ("Connection: close\r\n" if close else "") + "\r\n")
    await sock.sendall(request.encode("latin-1"))
    head = await reader.until(b"\r\n\r\n")
    if head is None:
        raise HttpError("server closed the connection without answering")
    start, headers = _parse_head(head)
    version, _, rest = start.partition(" ")
    status_text, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not status_text.isdigit():
        raise HttpError(f"bad status line {start!r}")
    length = 0 if method == "HEAD" else _content_length(headers)
    return HttpResponse(int(status_text), reason, headers, await reader.exactly(length))


async def http_get(host: Any, address: tuple[str, int], paths: str | list[str], *,
                   keepalive: bool = True, method: str = "GET") -> list[HttpResponse]:
    """Fetch ``paths`` in order: over one persistent connection (``keepalive``), or one
    connection per request with ``Connection: close``.  Returns the responses."""
    targets = [paths] if isinstance(paths, str) else list(paths)
    host_header = f"{address[0]}:{address[1]}"
    responses: list[HttpResponse] = []
    sock: Socket | None = None
    try:
        for i, path in enumerate(targets):
            if sock is None:
                sock = open_socket(host)
                await sock.connect(address)
                reader = _Reader(sock)
            last = not keepalive or i == len(targets) - 1
            response = await _request(sock, reader, method, path, host_header, last)
            responses.append(response)
            if last or response.headers.get("connection", "").lower() == "close":
                sock.close()
                sock = None
    finally:
        if sock is not None:
            sock.close()
    return responses
