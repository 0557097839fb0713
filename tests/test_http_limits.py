"""What a client can make ixsim's HTTP server (ixsim/apps/http.py) hold is bounded: bodies are
streamed (GET) or not built (HEAD), request bodies are dropped as they arrive, and oversize
numbers, request lines and header sections get 400/413/414/431 and a close.

Memory is measured with tracemalloc around a run between two hosts of the fake fabric (64 KiB
send windows), so the figure is what the server, the client and the fabric allocated; the
expected bytes are built before it starts."""

from __future__ import annotations

import hashlib
import tracemalloc

from helpers.fakes import two_hosts
from helpers.stack import veth_hosts

from ixsim.apps import http_get, http_server
from ixsim.apps.http import (
    LINGER_S,
    MAX_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_REQUEST_BODY,
    MAX_REQUEST_LINE,
    PERIOD,
    body_bytes,
)

MB = 1 << 20
BOUND = 3 * MB  # peak bytes allocated during a run: the buffers are 64 KiB pieces


def run(sched, *tasks):
    assert sched.run_until(lambda: all(t.done() for t in tasks), timeout="1000s")
    assert not sched.unhandled, sched.unhandled
    return [t.result() for t in tasks]


def measured(sched, *tasks):
    """Run the tasks under tracemalloc: (results, peak bytes allocated meanwhile)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        results = run(sched, *tasks)
        return results, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def pattern_sha256(n: int) -> str:
    """sha256 of body_bytes(n), a period at a time."""
    period = body_bytes(PERIOD)
    digest = hashlib.sha256()
    for _ in range(n // PERIOD):
        digest.update(period)
    digest.update(period[: n % PERIOD])
    return digest.hexdigest()


async def exchange(host, request: bytes, body: memoryview | None = None, piece: int = 65536):
    """Send a raw request (and a body, in pieces), read the answer to EOF; -> the answer."""
    s = host.socket()
    await s.connect(("10.0.0.2", 80))
    await s.sendall(request)
    if body is not None:
        for at in range(0, len(body), piece):
            await s.sendall(body[at : at + piece])
    out = bytearray()
    while chunk := await s.recv(65536):
        out += chunk
    s.close()
    return bytes(out)


async def get_hashed(host, path: str):
    """GET ``path`` (Connection: close) and hash the body as it arrives, keeping none of it:
    -> (status line, headers text, body length, body sha256)."""
    s = host.socket()
    await s.connect(("10.0.0.2", 80))
    await s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    buf = bytearray(65536)
    head = b""
    in_head = True
    digest = hashlib.sha256()
    total = 0
    while n := await s.recv_into(buf):
        piece = bytes(buf[:n])
        if in_head:
            head += piece
            if b"\r\n\r\n" not in head:
                continue
            head, _, piece = head.partition(b"\r\n\r\n")
            in_head = False
        digest.update(piece)
        total += len(piece)
    s.close()
    status, _, fields = head.decode().partition("\r\n")
    fields += "\r\n"
    return status, fields, total, digest.hexdigest()


def test_head_of_a_large_body_sends_the_head_alone_and_builds_no_body():
    fabric, a, b = two_hosts()
    server = fabric.sched.spawn(http_server(b, 80, connections=2))
    n = 50_000_000  # the body was built (about 3n bytes) before the fix
    heads = fabric.sched.spawn(http_get(a, ("10.0.0.2", 80), [f"/bytes/{n}", "/"], method="HEAD"))
    most = fabric.sched.spawn(http_get(a, ("10.0.0.2", 80), f"/bytes/{MAX_BYTES}", method="HEAD"))
    (got, top, stats), peak = measured(fabric.sched, heads, most, server)
    assert [r.status for r in got] == [200, 200] and got[0].body == b""
    assert got[0].headers["content-length"] == str(n)
    assert got[1].headers["content-length"] == "73"  # the index's length, no body
    assert top[0].status == 200 and top[0].headers["content-length"] == str(MAX_BYTES)
    assert stats.requests == 3 and stats.bytes_out < 1000  # heads only
    assert peak < BOUND, peak


def test_get_streams_a_large_body_intact_in_bounded_memory():
    fabric, a, b = two_hosts()
    n = 8_000_003  # not a whole number of pieces or periods
    expected = pattern_sha256(n)
    server = fabric.sched.spawn(http_server(b, 80, connections=1))
    client = fabric.sched.spawn(get_hashed(a, f"/bytes/{n}"))
    ((status, fields, total, sha), stats), peak = measured(fabric.sched, client, server)
    assert status == "HTTP/1.1 200 OK" and f"Content-Length: {n}\r\n" in fields
    assert total == n and sha == expected
    assert stats.bytes_out == n + len(status) + 2 + len(fields) + 2
    assert peak < BOUND, peak  # about 3n before the fix


def test_get_over_veth_streams_the_same_bytes_as_body_bytes():
    sched, a, b = veth_hosts()
    n = 3 * PERIOD + 12345
    server = b.spawn(http_server(b, 80, connections=1))
    client = a.spawn(http_get(a, ("10.0.0.2", 80), [f"/bytes/{n}", "/bytes/0", "/hello"]))
    responses, stats = run(sched, client, server)
    assert [r.body for r in responses] == [body_bytes(n), b"", b"hello, world\n"]
    assert responses[1].headers["content-length"] == "0"
    assert stats.requests == 3


def test_a_request_body_is_dropped_as_it_arrives():
    fabric, a, b = two_hosts()
    n = 8_000_000  # was buffered whole before the fix
    upload = memoryview(bytes(n))
    server = fabric.sched.spawn(http_server(b, 80, connections=1))
    request = (
        f"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\n\r\n".encode()
        + b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    # the second request follows the body: send the head, the body, then the GET
    head, follow = request.split(b"\r\n\r\n", 1)

    async def client():
        s = a.socket()
        await s.connect(("10.0.0.2", 80))
        await s.sendall(head + b"\r\n\r\n")
        for at in range(0, n, 65536):
            await s.sendall(upload[at : at + 65536])
        await s.sendall(follow)
        out = bytearray()
        while chunk := await s.recv(65536):
            out += chunk
        s.close()
        return bytes(out)

    (reply, stats), peak = measured(fabric.sched, fabric.sched.spawn(client()), server)
    assert reply.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert reply.endswith(b"\r\n\r\nhello, world\n")  # the GET after the body was framed right
    assert stats.requests == 2 and stats.bytes_in >= n
    assert peak < BOUND, peak


def status_of(reply: bytes) -> tuple[str, bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"\r\nConnection: close\r\n" in head + b"\r\n"
    return head.split(b"\r\n", 1)[0].decode(), body


def serve_one(request: bytes, body: memoryview | None = None):
    fabric, a, b = two_hosts()
    server = fabric.sched.spawn(http_server(b, 80, connections=1))
    client = fabric.sched.spawn(exchange(a, request, body))
    (reply, stats), peak = measured(fabric.sched, client, server)
    return reply, stats, peak


def test_bytes_over_the_maximum_is_400_with_a_body_that_says_the_limit():
    reply, stats, _ = serve_one(
        f"GET /bytes/{MAX_BYTES + 1} HTTP/1.1\r\nConnection: close\r\n\r\n".encode()
    )
    status, body = status_of(reply)
    assert status == "HTTP/1.1 400 Bad Request"
    assert body == f"/bytes/<n> {MAX_BYTES + 1} is over the limit of {MAX_BYTES} bytes\n".encode()
    assert stats.requests == 1


def test_bytes_with_thousands_of_digits_or_non_ascii_digits_is_an_answer_not_a_crash():
    # int() refuses strings of over 4300 digits and latin-1's superscripts pass isdigit():
    # both were a ValueError in the server task before the fix
    reply, _, _ = serve_one(
        b"GET /bytes/" + b"9" * 5000 + b" HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    assert status_of(reply)[0] == "HTTP/1.1 400 Bad Request"
    reply, _, _ = serve_one(b"GET /bytes/\xb2 HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status_of(reply)[0] == "HTTP/1.1 404 Not Found"
    reply, _, _ = serve_one(b"GET / HTTP/1.1\r\nContent-Length: \xb9\r\n\r\n")
    assert status_of(reply)[0] == "HTTP/1.1 400 Bad Request"


def test_content_length_over_the_maximum_is_413_and_nothing_is_read():
    reply, stats, _ = serve_one(
        f"POST / HTTP/1.1\r\nContent-Length: {MAX_REQUEST_BODY + 1}\r\n\r\n".encode()
    )
    status, body = status_of(reply)
    assert status == "HTTP/1.1 413 Content Too Large"
    assert str(MAX_REQUEST_BODY).encode() in body and stats.requests == 0
    reply, _, _ = serve_one(b"POST / HTTP/1.1\r\nContent-Length: 1" + b"0" * 400 + b"\r\n\r\n")
    assert status_of(reply)[0] == "HTTP/1.1 413 Content Too Large"


def test_conflicting_lengths_are_400_and_transfer_encoding_is_501():
    reply, _, _ = serve_one(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
    assert status_of(reply)[0] == "HTTP/1.1 400 Bad Request"
    reply, _, _ = serve_one(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert status_of(reply)[0] == "HTTP/1.1 501 Not Implemented"
    # the same length twice is one length (RFC 9112 §6.3): the body is read, 405 answered
    reply, _, _ = serve_one(
        b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc"
    )
    assert status_of(reply)[0] == "HTTP/1.1 405 Method Not Allowed"


def test_a_long_request_line_is_414():
    target = "/" + "a" * MAX_REQUEST_LINE
    reply, stats, _ = serve_one(f"GET {target} HTTP/1.1\r\n\r\n".encode())
    assert status_of(reply)[0] == "HTTP/1.1 414 URI Too Long" and stats.requests == 0
    # one that fits is served (a 404)
    fits = "/" + "a" * (MAX_REQUEST_LINE - len("GET / HTTP/1.1\r\n") - 1)
    reply, _, _ = serve_one(f"GET {fits} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    assert status_of(reply)[0] == "HTTP/1.1 404 Not Found"


def test_too_many_or_too_large_header_fields_are_431():
    many = "".join(f"X-{i}: y\r\n" for i in range(MAX_HEADERS + 1))
    reply, _, _ = serve_one(f"GET / HTTP/1.1\r\n{many}\r\n".encode())
    assert status_of(reply)[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    enough = "".join(f"X-{i}: y\r\n" for i in range(MAX_HEADERS - 1))
    reply, _, _ = serve_one(f"GET / HTTP/1.1\r\n{enough}Connection: close\r\n\r\n".encode())
    assert status_of(reply)[0] == "HTTP/1.1 200 OK"
    big = "X-Big: " + "b" * MAX_HEADER_BYTES
    reply, _, _ = serve_one(f"GET / HTTP/1.1\r\n{big}\r\n\r\n".encode())
    assert status_of(reply)[0] == "HTTP/1.1 431 Request Header Fields Too Large"


def test_an_endless_header_gets_431_in_bounded_memory_and_a_clean_close():
    # 8 MB of one header line: the server stops reading at the limit, answers, and drops a
    # bounded amount of the rest before it closes (a lingering close); the client reads the
    # whole answer (no RST destroyed it)
    flood = memoryview(b"GET / HTTP/1.1\r\nX-Flood: " + b"f" * 8_000_000)
    fabric, a, b = two_hosts()
    server = fabric.sched.spawn(http_server(b, 80, connections=1))

    async def client():
        s = a.socket()
        await s.connect(("10.0.0.2", 80))
        try:
            for at in range(0, len(flood), 65536):
                await s.sendall(flood[at : at + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed after its lingering close gave up
        out = bytearray()
        try:
            while chunk := await s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
        s.close()
        return bytes(out)

    (reply, stats), peak = measured(fabric.sched, fabric.sched.spawn(client()), server)
    assert status_of(reply)[0] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert stats.requests == 0 and peak < BOUND, peak


def test_a_lingering_close_gives_up_after_linger_s_of_silence():
    # the client reads the 400 to the server's FIN but neither sends nor closes: the server
    # waits LINGER_S for the client's FIN, then closes anyway
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(http_server(b, 80, connections=1))

    async def client():
        s = a.socket()
        await s.connect(("10.0.0.2", 80))
        await s.sendall(b"NONSENSE\r\n\r\n")
        out = bytearray()
        while chunk := await s.recv(65536):
            out += chunk
        eof_at = sched.now
        await sched.sleep("5s")
        s.close()
        return bytes(out), eof_at

    task = sched.spawn(client())
    assert sched.run_until(server.done, timeout="100s")
    server_done_at = sched.now
    (reply, eof_at), _ = run(sched, task, server)
    assert status_of(reply)[0] == "HTTP/1.1 400 Bad Request"
    assert eof_at < 1e6  # the answer and the FIN came at once (a few fabric delays)
    assert abs(server_done_at - eof_at - LINGER_S * 1e9) < 1e6  # from its shutdown: 2 s
