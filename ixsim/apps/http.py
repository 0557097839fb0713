"""A small HTTP/1.1 server and client (RFC 9112): GET/HEAD, Content-Length, keep-alive, 404.

The server serves generated content: ``/`` (a short index), ``/hello`` and ``/bytes/<n>``
(``n`` deterministic bytes, :func:`body_bytes`); anything else is 404, other methods 405, a
request it cannot parse 400 (and the connection closes).  Connections persist as HTTP/1.1
says - unless the client sends ``Connection: close`` (HTTP/1.0: unless ``keep-alive``).
Message bodies are framed by Content-Length only (no chunked coding), which is all the
client needs since the server always sends it.

What a client can make the server hold is bounded, whatever it asks (the limits are module
constants, and docs/tap.md lists them):

- A body is a :class:`Content` - a length and a source of pieces - written ``CHUNK`` bytes
  at a time as the socket's send buffer takes them, never built whole; ``HEAD`` sends the
  head alone (its Content-Length says what ``GET`` would send, RFC 9110 §9.3.2).
  ``/bytes/<n>`` serves at most ``MAX_BYTES``; beyond that it answers 400 with a body that
  says the limit.
- A request line longer than ``MAX_REQUEST_LINE`` is 414 (RFC 9112 §3: a request-target
  longer than the server parses); a field section over ``MAX_HEADER_BYTES`` or with more
  than ``MAX_HEADERS`` lines is 431 (RFC 6585 §5).  Either closes the connection.
- A request body (Content-Length) is read and discarded as it arrives, through one bounded
  buffer; a Content-Length over ``MAX_REQUEST_BODY`` is 413 (RFC 9110 §15.5.14) and closes.
  Transfer-Encoding is not implemented: 501 and close (RFC 9112 §6.1).  Conflicting
  Content-Length values are 400 (RFC 9112 §6.3).
- An error that closes the connection is a lingering close, as Apache's: the write side is
  shut, then up to ``LINGER_BYTES`` of what the client still sends are read and dropped for
  at most ``LINGER_S`` seconds, so the answer is not destroyed by the RST that closing with
  unread data sends (RFC 9112 §9.6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ixsim.apps.common import ServerStats, listen_on, open_socket
from stack.socket import SHUT_WR, Socket

CHUNK = 65536  # bytes per socket read or write
MAX_BYTES = 1 << 30  # largest /bytes/<n> the default site serves (1 GiB)
MAX_REQUEST_LINE = 8192  # bytes, CRLF included
MAX_HEADER_BYTES = 16384  # the whole field section, CRLFs included
MAX_HEADERS = 100  # field lines in one request
MAX_REQUEST_BODY = 1 << 30  # largest Content-Length accepted (the body is discarded)
MAX_RESPONSE_BODY = MAX_BYTES  # the client refuses a Content-Length over this
LINGER_BYTES = 1 << 20  # what a lingering close reads and drops at most
LINGER_S = 2.0  # and for how long it waits for the client's next bytes
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}
INDEX = b"<html><body><h1>ixsim</h1><p>try /hello or /bytes/1000</p></body></html>\n"
PERIOD = 251 * 256  # the period of /bytes/<n>
DIGITS = frozenset("0123456789")


@cache
def _block() -> bytes:
    """One period of ``/bytes/<n>`` followed by ``CHUNK`` more bytes of it, so a ``CHUNK``
    piece starting anywhere in the period is one slice."""
    period = bytes((i * 31 + i // 251) % 256 for i in range(PERIOD))
    return period + period[:CHUNK]


def body_bytes(n: int) -> bytes:
    """The content of ``/bytes/<n>``: byte i is ``(i * 31 + i // 251) % 256``, period 64256.

    Builds all ``n`` bytes: for checking a client, not for serving (the server streams)."""
    period = _block()[:PERIOD]
    return (period * (n // PERIOD + 1))[:n]


def _pattern_piece(offset: int, size: int) -> memoryview:
    start = offset % PERIOD
    return memoryview(_block())[start : start + min(size, CHUNK)]


@dataclass(frozen=True, slots=True)
class Content:
    """A response body the server streams: its length, media type, and ``piece(offset,
    size)`` giving up to ``size`` (at least one) bytes of it from ``offset``."""

    length: int
    content_type: str
    piece: Callable[[int, int], bytes | memoryview]

    @classmethod
    def of_bytes(cls, data: bytes, content_type: str) -> Content:
        view = memoryview(data)
        return cls(len(data), content_type, lambda offset, size: view[offset : offset + size])

    def pieces(self, size: int = CHUNK) -> Iterator[bytes | memoryview]:
        offset = 0
        while offset < self.length:
            piece = self.piece(offset, min(size, self.length - offset))
            if not piece:
                raise ValueError(f"content ended at {offset} of {self.length} bytes")
            yield piece
            offset += len(piece)


class HttpError(Exception):
    """A peer spoke something that is not HTTP/1.x (or closed mid-message), or asked for more
    than the server gives; ``status`` is the answer a server sends for it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _decimal(text: str, limit: int, what: str, status: int) -> int:
    """A 1*DIGIT field (ASCII digits only, as RFC 9110's DIGIT is) that is at most
    ``limit``; HttpError(``status``) when larger, 400 when not digits."""
    if not text or not DIGITS.issuperset(text):
        raise HttpError(f"bad {what} {text[:40]!r}")
    digits = text.lstrip("0")
    if len(digits) > len(str(limit)) or int(digits or "0") > limit:
        raise HttpError(f"{what} {text[:40]} is over the limit of {limit} bytes", status)
    return int(digits or "0")


def generated_content(path: str) -> Content | None:
    """The default site: the Content for a path, or None for 404; HttpError(400) for a
    ``/bytes/<n>`` over ``MAX_BYTES``."""
    if path == "/":
        return Content.of_bytes(INDEX, "text/html")
    if path == "/hello":
        return Content.of_bytes(b"hello, world\n", "text/plain")
    if path.startswith("/bytes/") and path[7:] and DIGITS.issuperset(path[7:]):
        n = _decimal(path[7:], MAX_BYTES, "/bytes/<n>", 400)
        return Content(n, "application/octet-stream", _pattern_piece)
    return None


class _Reader:
    """Buffered reads from a socket: a line up to a limit, an exact count, or a count read
    and dropped.  The buffer never holds more than a limit plus one ``CHUNK``."""

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    async def _fill(self) -> bool:
        data = await self.sock.recv(CHUNK)
        self.buf += data
        return bool(data)

    async def until(self, delim: bytes, limit: int, status: int = 400) -> bytes | None:
        """Bytes up to and including ``delim`` (at most ``limit`` of them, else
        HttpError(``status``)); None at a clean EOF before any byte."""
        while True:
            at = self.buf.find(delim, 0, limit)
            if at >= 0 and at + len(delim) <= limit:
                out = bytes(self.buf[: at + len(delim)])
                del self.buf[: at + len(delim)]
                return out
            if len(self.buf) >= limit:
                raise HttpError("header too long", status)
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

    async def discard(self, n: int) -> None:
        """Read ``n`` bytes and drop them as they arrive (one ``CHUNK`` buffer)."""
        take = min(n, len(self.buf))
        del self.buf[:take]
        n -= take
        if not n:
            return
        scratch = bytearray(min(n, CHUNK))
        while n:
            got = await self.sock.recv_into(scratch, min(n, len(scratch)))
            if not got:
                raise HttpError(f"connection closed with {n} body bytes to come")
            n -= got


def _field(line: str) -> tuple[str, str]:
    """One field line: ``(lower-cased name, value)``; HttpError(400) for a malformed one
    (no colon, whitespace before it, or obs-fold, which RFC 9112 §5.2 lets a server reject)."""
    name, sep, value = line.partition(":")
    if not sep or not name or name != name.strip() or line[0] in " \t":
        raise HttpError(f"bad header line {line[:60]!r}")
    return name.lower(), value.strip(" \t")


def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """Start line and fields (names lower-cased; repeats joined with ``, ``) of one head."""
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, value = _field(line)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return lines[0], headers


async def _read_request(reader: _Reader) -> tuple[str, dict[str, str], int] | None:
    """The request line, fields and head size of the next request; None at a clean EOF.

    Bounds what a head may take: the request line (414), the field section's bytes and line
    count (431).  Empty lines before the request line are skipped (RFC 9112 §2.2), as many
    as fit in ``MAX_REQUEST_LINE``."""
    size = 0
    while True:
        line = await reader.until(b"\r\n", MAX_REQUEST_LINE - size, 414)
        if line is None:
            return None
        size += len(line)
        if line != b"\r\n":
            break
    start = line[:-2].decode("latin-1")
    headers: dict[str, str] = {}
    budget = MAX_HEADER_BYTES
    count = 0
    while True:
        if budget <= 0:
            raise HttpError("header fields too large", 431)
        line = await reader.until(b"\r\n", budget, 431)
        if line is None:
            raise HttpError("connection closed inside a header")
        budget -= len(line)
        size += len(line)
        if line == b"\r\n":
            return start, headers, size
        count += 1
        if count > MAX_HEADERS:
            raise HttpError(f"more than {MAX_HEADERS} header fields", 431)
        name, value = _field(line[:-2].decode("latin-1"))
        headers[name] = f"{headers[name]}, {value}" if name in headers else value


def _content_length(headers: dict[str, str], limit: int, status: int) -> int:
    """The Content-Length (0 without one); repeated identical values are one, differing ones
    are 400 (RFC 9112 §6.3 item 5); over ``limit``: HttpError(``status``)."""
    value = headers.get("content-length")
    if value is None:
        return 0
    values = {v.strip(" \t") for v in value.split(",")}
    if len(values) != 1:
        raise HttpError(f"conflicting Content-Length {value[:60]!r}")
    return _decimal(values.pop(), limit, "Content-Length", status)


def _head(status: int, length: int, content_type: str, close: bool, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
        f"Server: ixsim\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n{extra}" + ("Connection: close\r\n" if close else "") + "\r\n"
    ).encode("latin-1")


async def _send(conn: Socket, head: bytes, body: Content | None) -> int:
    """Write the head, then the body piece by piece as the send buffer takes it."""
    await conn.sendall(head)
    if body is None:
        return len(head)
    for piece in body.pieces():
        await conn.sendall(piece)
    return len(head) + body.length


async def _lingering_close(conn: Socket) -> None:
    """Shut the write side, then drop what the client still sends (bounded in bytes and in
    time) until its FIN, so the error answer reaches it before any RST."""
    scratch = bytearray(CHUNK)
    left = LINGER_BYTES
    try:
        conn.shutdown(SHUT_WR)
        conn.settimeout(LINGER_S)
        while left > 0 and (got := await conn.recv_into(scratch, min(left, CHUNK))):
            left -= got
    except OSError:  # TimeoutError, ConnectionResetError, ...
        pass


def _as_content(found: Content | tuple[bytes, str]) -> Content:
    """A site function may also return ``(body bytes, media type)``."""
    return found if isinstance(found, Content) else Content.of_bytes(*found)


async def _answer(
    conn: Socket,
    stats: ServerStats,
    content: Callable[[str], Content | tuple[bytes, str] | None],
    method: str,
    target: str,
    close: bool,
) -> None:
    if method not in ("GET", "HEAD"):
        body = Content.of_bytes(b"method not allowed\n", "text/plain")
        status, extra = 405, "Allow: GET, HEAD\r\n"
    else:
        extra = ""
        try:
            found = content(target.split("?", 1)[0])
        except HttpError as exc:
            found = (f"{exc}\n".encode("latin-1"), "text/plain")
            status = exc.status
        else:
            status = 404 if found is None else 200
        body = _as_content(found or (b"not found\n", "text/plain"))
    head = _head(status, body.length, body.content_type, close, extra)
    stats.bytes_out += await _send(conn, head, None if method == "HEAD" else body)


async def _serve_connection(
    conn: Socket,
    stats: ServerStats,
    content: Callable[[str], Content | tuple[bytes, str] | None],
) -> None:
    reader = _Reader(conn)
    try:
        while True:
            try:
                request = await _read_request(reader)
                if request is None:
                    return
                start, headers, size = request
                stats.bytes_in += size
                parts = start.split(" ")
                if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1"):
                    raise HttpError(f"bad request line {start[:60]!r}")
                method, target, version = parts
                if "transfer-encoding" in headers:
                    raise HttpError("Transfer-Encoding is not implemented", 501)
                body_len = _content_length(headers, MAX_REQUEST_BODY, 413)
            except HttpError as exc:
                text = f"{exc}\n".encode("latin-1")
                head = _head(exc.status, len(text), "text/plain", True)
                await conn.sendall(head + text)
                stats.bytes_out += len(head) + len(text)
                await _lingering_close(conn)
                return
            await reader.discard(body_len)
            stats.bytes_in += body_len
            connection = headers.get("connection", "").lower()
            close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
            stats.requests += 1
            await _answer(conn, stats, content, method, target, close)
            if close:
                return
    except (ConnectionResetError, BrokenPipeError, HttpError):
        return
    finally:
        conn.close()


async def http_server(
    host: Any,
    port: int = 80,
    *,
    connections: int | None = None,
    content: Callable[[str], Content | tuple[bytes, str] | None] = generated_content,
    backlog: int = 128,
) -> ServerStats:
    """Serve ``content`` (path -> a :class:`Content`, ``(body, type)`` or None), one task per
    connection; return after ``connections`` connections ended (None: never)."""
    listener = listen_on(host, port, backlog)
    stats = ServerStats()
    handlers = []
    try:
        while connections is None or len(handlers) < connections:
            conn, _peer = await listener.accept()
            handlers.append(
                listener.sched.spawn(
                    _serve_connection(conn, stats, content), name=f"http {conn.fileno()}"
                )
            )
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


async def _request(
    sock: Socket, reader: _Reader, method: str, path: str, host_header: str, close: bool
) -> HttpResponse:
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: ixsim\r\n"
        + ("Connection: close\r\n" if close else "")
        + "\r\n"
    )
    await sock.sendall(request.encode("latin-1"))
    head = await reader.until(b"\r\n\r\n", MAX_HEADER_BYTES)
    if head is None:
        raise HttpError("server closed the connection without answering")
    start, headers = _parse_head(head)
    version, _, rest = start.partition(" ")
    status_text, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or len(status_text) != 3 or not status_text.isdigit():
        raise HttpError(f"bad status line {start[:60]!r}")
    length = 0 if method == "HEAD" else _content_length(headers, MAX_RESPONSE_BODY, 400)
    return HttpResponse(int(status_text), reason, headers, await reader.exactly(length))


async def http_get(
    host: Any,
    address: tuple[str, int],
    paths: str | list[str],
    *,
    keepalive: bool = True,
    method: str = "GET",
) -> list[HttpResponse]:
    """Fetch ``paths`` in order: over one persistent connection (``keepalive``), or one
    connection per request with ``Connection: close``.  Returns the responses; a body over
    ``MAX_RESPONSE_BODY`` is refused (HttpError)."""
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
