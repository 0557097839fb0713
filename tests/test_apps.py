"""The apps in ixsim/apps, as tasks, over the fake stream Socks (and over two real hosts
cabled through veth, when the stack has landed)."""

from __future__ import annotations

import hashlib

from helpers.fakes import two_hosts
from helpers.stack import veth_hosts

from ixsim.apps import (
    bulk_receive,
    bulk_send,
    chargen_bytes,
    chargen_server,
    discard_server,
    echo_client,
    echo_server,
    echo_server_epoll,
    http_get,
    http_server,
    stream_bytes,
)
from ixsim.apps.http import body_bytes


def run(sched, *tasks):
    assert sched.run_until(lambda: all(t.done() for t in tasks), timeout="100s")
    assert not sched.unhandled, sched.unhandled
    return [t.result() for t in tasks]


def test_echo_server_with_a_task_per_connection():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    data = bytes(range(256)) * 1000  # 256 KB through 64 KiB windows both ways
    server = sched.spawn(echo_server(b, 7, connections=3))
    clients = [sched.spawn(echo_client(a, ("10.0.0.2", 7), data[i:])) for i in range(3)]
    *echoes, stats = run(sched, *clients, server)
    assert echoes == [data, data[1:], data[2:]]
    assert stats.connections == 3 and stats.bytes_in == stats.bytes_out == 3 * len(data) - 3


def test_echo_server_epoll_serves_many_connections_from_one_task():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    n = 300
    server = sched.spawn(echo_server_epoll(b, 7, connections=n))
    spawned_before = len(sched.pending())
    messages = [f"message {i} ".encode() * (1 + i % 50) for i in range(n)]
    clients = [sched.spawn(echo_client(a, ("10.0.0.2", 7), m)) for m in messages]
    *echoes, stats = run(sched, *clients, server)
    assert echoes == messages
    assert stats.connections == n and stats.bytes_in == sum(map(len, messages))
    assert spawned_before == 1  # the server is one task
    assert len(b.fdtable) == 0  # every fd (connections, listener, epoll) released


def test_echo_server_epoll_with_a_big_echo_that_needs_epollout():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    data = bytes(range(251)) * 2000  # ~500 KB: the server must wait for room to write
    server = sched.spawn(echo_server_epoll(b, 7, connections=1))
    client = sched.spawn(echo_client(a, ("10.0.0.2", 7), data))
    echo, stats = run(sched, client, server)
    assert echo == data and stats.bytes_out == len(data)


def test_discard_swallows_everything():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(discard_server(b, 9, connections=1))

    async def client():
        s = a.socket()
        await s.connect(("10.0.0.2", 9))
        await s.sendall(b"z" * 1_000_000)
        s.shutdown(1)
        assert await s.recv(10) == b""
        s.close()

    _, stats = run(sched, sched.spawn(client()), server)
    assert stats.bytes_in == 1_000_000 and stats.bytes_out == 0


def test_chargen_streams_rfc864_lines_until_the_client_leaves():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(chargen_server(b, 19, connections=2))

    async def read(n, close_early):
        s = a.socket()
        await s.connect(("10.0.0.2", 19))
        got = bytearray()
        while len(got) < n:
            got += await s.recv(n - len(got))
        s.close()  # unread data in flight: the server sees a reset or EPIPE and stops
        return bytes(got)

    first, second, stats = run(sched, sched.spawn(read(10_000, True)),
                               sched.spawn(read(74 * 95 * 3 + 5, True)), server)
    assert first == chargen_bytes(10_000)
    assert first.startswith(b'!"#$%&')
    assert first[72:74] == b"\r\n" and first[74:75] == b'"'
    assert second == chargen_bytes(len(second))
    assert stats.connections == 2


def test_chargen_with_a_limit_ends_with_eof():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(chargen_server(b, 19, connections=1, limit=5000))

    async def read_all():
        s = a.socket()
        await s.connect(("10.0.0.2", 19))
        got = bytearray()
        while chunk := await s.recv(4096):
            got += chunk
        s.close()
        return bytes(got)

    got, stats = run(sched, sched.spawn(read_all()), server)
    assert got == chargen_bytes(5000) and stats.bytes_out == 5000


def test_http_keepalive_404_head_and_content_length():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(http_server(b, 80, connections=1))
    paths = ["/", "/hello", "/bytes/100000", "/missing"]
    client = sched.spawn(http_get(a, ("10.0.0.2", 80), paths))
    responses, stats = run(sched, client, server)
    assert [r.status for r in responses] == [200, 200, 200, 404]
    assert responses[1].body == b"hello, world\n"
    big = responses[2]
    assert big.body == body_bytes(100_000)
    assert big.headers["content-length"] == "100000"
    assert big.headers["content-type"] == "application/octet-stream"
    assert responses[3].reason == "Not Found"
    assert responses[3].headers["connection"] == "close"  # the last request asked to close
    assert stats.connections == 1 and stats.requests == 4  # all over one connection


def test_http_without_keepalive_and_other_methods():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(http_server(b, 80, connections=4))
    gets = sched.spawn(http_get(a, ("10.0.0.2", 80), ["/hello", "/bytes/10"], keepalive=False))
    head = sched.spawn(http_get(a, ("10.0.0.2", 80), "/bytes/5000", method="HEAD"))
    post = sched.spawn(http_get(a, ("10.0.0.2", 80), "/hello", method="POST"))
    got, heads, posts, stats = run(sched, gets, head, post, server)
    assert [r.body for r in got] == [b"hello, world\n", body_bytes(10)]
    assert heads[0].status == 200 and heads[0].body == b""
    assert heads[0].headers["content-length"] == "5000"
    assert posts[0].status == 405 and posts[0].headers["allow"] == "GET, HEAD"
    assert stats.connections == 4


def test_http_bad_request_gets_400_and_a_close():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    server = sched.spawn(http_server(b, 80, connections=1))

    async def client():
        s = a.socket()
        await s.connect(("10.0.0.2", 80))
        await s.sendall(b"NONSENSE\r\n\r\n")
        out = b""
        while chunk := await s.recv(1000):
            out += chunk
        s.close()
        return out

    reply, _ = run(sched, sched.spawn(client()), server)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Connection: close" in reply


def test_bulk_goodput_and_sha256():
    fabric, a, b = two_hosts()
    sched = fabric.sched
    n = 3_000_000
    receiver = sched.spawn(bulk_receive(b, 5001))
    sender = sched.spawn(bulk_send(a, ("10.0.0.2", 5001), n, seed=3))
    rx, tx = run(sched, receiver, sender)
    expected = hashlib.sha256(stream_bytes(n, seed=3)).hexdigest()
    assert rx.bytes == tx.bytes == n
    assert rx.sha256 == tx.sha256 == expected
    assert 0 < rx.ns <= tx.ns
    # the fake frees window as soon as the reader reads: one 64 KiB window per 10 us one-way
    # trip is 52.4 Gbit/s at most
    assert 45 < rx.gbps < 52.5
    assert "Gbit/s" in str(rx)


# -- two real hosts over veth (TCP/IP under the apps) -----------------------------------------
def test_veth_echo_round_trip():
    sched, a, b = veth_hosts()
    data = bytes(range(256)) * 4096  # 1 MiB, echoed while it is being sent
    server = b.spawn(echo_server(b, 7, connections=1))
    client = a.spawn(echo_client(a, ("10.0.0.2", 7), data))
    echo, stats = run(sched, client, server)
    assert echo == data and stats.bytes_in == stats.bytes_out == len(data)


def test_veth_thousand_connections_through_epoll_by_one_task():
    sched, a, b = veth_hosts()
    n = 1000
    server = b.spawn(echo_server_epoll(b, 7, connections=n))
    messages = [f"connection {i};".encode() * (1 + i % 7) for i in range(n)]
    clients = [a.spawn(echo_client(a, ("10.0.0.2", 7), m)) for m in messages]
    *echoes, stats = run(sched, *clients, server)
    assert echoes == messages
    assert stats.connections == n and stats.bytes_out == sum(map(len, messages))
    assert b.net.mib.tcp["PassiveOpens"] == n
    assert len(b.net.fdtable) == 0  # every connection, the listener and the epoll closed


def test_veth_http_get():
    sched, a, b = veth_hosts()
    server = b.spawn(http_server(b, 80, connections=2))
    keep = a.spawn(http_get(a, ("10.0.0.2", 80), ["/", "/bytes/300000", "/nope"]))
    once = a.spawn(http_get(a, ("10.0.0.2", 80), "/hello", keepalive=False))
    responses, single, stats = run(sched, keep, once, server)
    assert [r.status for r in responses] == [200, 200, 404]
    assert responses[1].body == body_bytes(300_000)
    assert single[0].body == b"hello, world\n"
    assert stats.connections == 2 and stats.requests == 4


def test_veth_bulk_10mb_sha256_intact():
    sched, a, b = veth_hosts()  # 10 Gbit/s, 10 us one way
    n = 10_000_000
    receiver = b.spawn(bulk_receive(b, 5001))
    sender = a.spawn(bulk_send(a, ("10.0.0.2", 5001), n, seed=7))
    rx, tx = run(sched, receiver, sender)
    assert rx.bytes == tx.bytes == n
    assert rx.sha256 == tx.sha256 == hashlib.sha256(stream_bytes(n, seed=7)).hexdigest()
    assert 5 < rx.gbps < 10  # a 10 Gbit/s veth: TCP fills most of it
