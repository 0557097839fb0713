"""The BSD layer and epoll over the real stack: two hosts (Kernel + Net) joined by veth
(``helpers.stack.veth_hosts``).

TCP (stack.tcp), UDP (stack.udp) and IP under the Socket API, from outside tasks (blocking
calls run the world) and inside them.
"""

from __future__ import annotations

import errno
import struct

import pytest
from helpers.stack import veth_hosts

from ixsim.sched import Deadlock
from stack.socket import (
    AF_INET,
    EPOLLIN,
    EPOLLOUT,
    IPPROTO_TCP,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_RCVBUF,
    SO_REUSEADDR,
    SOCK_DGRAM,
    SOL_SOCKET,
    TCP_CONGESTION,
    TCP_INFO,
    TCP_NODELAY,
    epoll_create,
    tcp_info,
)


def test_blocking_echo_round_trip_as_in_the_design():
    sched, a, b = veth_hosts()
    srv = b.socket()
    srv.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 7))
    srv.listen()
    c = a.socket()
    c.connect(("10.0.0.2", 7))  # runs the world until established
    conn, peer = srv.accept()
    assert peer == c.getsockname() and c.getpeername() == ("10.0.0.2", 7)
    assert conn.getsockname() == ("10.0.0.2", 7)
    c.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    conn.sendall(b"world")
    assert c.recv(5) == b"world"
    c.shutdown(1)
    assert conn.recv(5) == b""
    with pytest.raises(Deadlock, match=r"recv on 10\.0\.0\.1:\d+ <- 10\.0\.0\.2:7 \(host a"):
        c.recv(5)  # the peer never sends or closes: nothing can ever make progress
    conn.close()
    assert c.recv(5) == b""
    c.close()
    srv.close()


def test_refused_timeout_and_nonblocking_connect():
    sched, a, b = veth_hosts()
    with pytest.raises(ConnectionRefusedError):
        a.socket().connect(("10.0.0.2", 9))
    s = a.socket()
    s.setblocking(False)
    with pytest.raises(BlockingIOError) as info:
        s.connect(("10.0.0.2", 9))
    assert info.value.errno == errno.EINPROGRESS
    ep = epoll_create(a.net)
    ep.register(s, EPOLLOUT)
    events = ep.poll(1.0)
    assert events and events[0][0] == s.fileno()  # the fd, as select.epoll reports
    assert s.getsockopt(SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED
    srv = b.socket()
    srv.bind(("", 80))
    srv.listen()
    quiet = a.socket()
    quiet.connect(("10.0.0.2", 80))
    quiet.settimeout(0.25)
    t0 = sched.now
    with pytest.raises(TimeoutError, match="timed out"):
        quiet.recv(10)
    assert sched.now - t0 == 250_000_000


def test_options_reach_tcp_and_tcp_info_packs_as_linux():
    sched, a, b = veth_hosts()
    srv = b.socket()
    srv.bind(("", 7))
    srv.listen()
    c = a.socket()
    c.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
    c.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    c.setsockopt(SOL_SOCKET, SO_RCVBUF, 100_000)
    c.setsockopt(IPPROTO_TCP, TCP_CONGESTION, b"reno")
    c.connect(("10.0.0.2", 7))
    assert c.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 1
    assert c.getsockopt(SOL_SOCKET, SO_KEEPALIVE) == 1 and c.sk.keepopen
    assert c.getsockopt(SOL_SOCKET, SO_RCVBUF) == 200_000 == c.sk.sk_rcvbuf
    assert c.getsockopt(IPPROTO_TCP, TCP_CONGESTION) == "reno"
    assert c.getsockopt(IPPROTO_TCP, TCP_CONGESTION, 16) == b"reno" + bytes(12)
    info = tcp_info(c)
    assert info.state == 1  # TCP_ESTABLISHED
    raw = c.getsockopt(IPPROTO_TCP, TCP_INFO, 248)
    assert len(raw) == 248 and raw[0] == 1
    snd_mss, = struct.unpack_from("<I", raw, 16)
    assert snd_mss == info.snd_mss
    snd_cwnd, = struct.unpack_from("<I", raw, 8 + 4 * 18)
    assert snd_cwnd == info.snd_cwnd


def test_udp_through_the_socket_api_and_epoll():
    sched, a, b = veth_hosts()
    rx = b.socket(AF_INET, SOCK_DGRAM)
    rx.bind(("0.0.0.0", 53))
    ep = epoll_create(b.net)
    ep.register(rx, EPOLLIN)
    tx = a.socket(AF_INET, SOCK_DGRAM)
    assert tx.sendto(b"query", ("10.0.0.2", 53)) == 5
    assert ep.poll(1.0) == [(rx.fileno(), EPOLLIN)]
    data, src = rx.recvfrom(512)
    assert data == b"query" and src == ("10.0.0.1", tx.getsockname()[1])
    rx.sendto(b"answer", src)
    assert tx.recvfrom(512) == (b"answer", ("10.0.0.2", 53))
    with pytest.raises(PermissionError):
        tx.sendto(b"x", ("10.0.0.255", 53))  # the subnet broadcast needs SO_BROADCAST


def test_tasks_over_tcp_many_clients():
    sched, a, b = veth_hosts()
    srv = b.socket()
    srv.bind(("", 7))
    srv.listen()

    async def serve(n):
        for _ in range(n):
            conn, _ = await srv.accept()
            data = await conn.recv(100)
            await conn.sendall(data[::-1])
            conn.close()

    async def client(i):
        s = a.socket()
        await s.connect(("10.0.0.2", 7))
        await s.sendall(f"abc{i}".encode())
        reply = await s.recv(100)
        s.close()
        return reply

    server = b.spawn(serve(20))
    clients = [a.spawn(client(i)) for i in range(20)]
    assert sched.run_until(lambda: server.done() and all(t.done() for t in clients),
                           timeout="10s")
    assert [t.result() for t in clients] == [f"abc{i}".encode()[::-1] for i in range(20)]
    assert not sched.unhandled
