"""The recv family's flags and edges, as Linux (tcp_recvmsg_locked, udp_recvmsg,
packet_recvmsg, udp_sendmsg) and CPython's socket module show them (issue 12).

Two ixgb hosts on a World; every wait is virtual time.  The sender's segments are timed with
``sched.call_later`` so the blocking receiver sees data arrive in separate pieces.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ixsim.world import World
from stack.uapi import (
    MSG_DONTWAIT,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SO_REUSEADDR,
    SOL_SOCKET,
)

MS = 1_000_000
ETH_P_ALL = 0x0003


@pytest.fixture
def hosts():
    with World(seed=12) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="10us")
        yield w, a, b


def tcp_pair(hosts):
    w, a, b = hosts
    srv = b.socket()
    srv.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 7))
    srv.listen()
    cli = a.socket()
    cli.connect(("10.0.0.2", 7))
    conn, _ = srv.accept()
    return w, cli, conn


def udp_pair(hosts):
    w, a, b = hosts
    rx = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 53))
    tx = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    return w, tx, rx


def send_later(w, sock, delay_ns, data):
    w.sched.call_later(delay_ns, lambda: sock.send(data, MSG_DONTWAIT))


def settle(w, conn, nbytes):
    """Run until ``nbytes`` are queued on ``conn`` (peeked, not consumed)."""
    w.run_until(lambda: len(conn.sk.receive_queue) and sum(map(len, conn.sk.receive_queue))
                >= nbytes, "1s")


# -- MSG_WAITALL --------------------------------------------------------------------------
def test_waitall_blocks_until_every_byte_arrived(hosts):
    w, cli, conn = tcp_pair(hosts)
    send_later(w, cli, 1 * MS, b"abc")
    send_later(w, cli, 3 * MS, b"defgh")
    t0 = w.now
    assert conn.recv(8, MSG_WAITALL) == b"abcdefgh"
    assert w.now - t0 >= 3 * MS  # the second piece had to arrive


def test_waitall_returns_the_partial_read_at_end_of_stream(hosts):
    w, cli, conn = tcp_pair(hosts)
    send_later(w, cli, 1 * MS, b"abc")
    send_later(w, cli, 2 * MS, b"de")
    w.sched.call_later(3 * MS, lambda: cli.shutdown(socket.SHUT_WR))
    assert conn.recv(100, MSG_WAITALL) == b"abcde"
    assert conn.recv(100, MSG_WAITALL) == b""


def test_waitall_returns_the_partial_read_on_timeout(hosts):
    w, cli, conn = tcp_pair(hosts)
    send_later(w, cli, 1 * MS, b"abc")
    send_later(w, cli, 2 * MS, b"de")
    conn.settimeout(0.005)
    t0 = w.now
    assert conn.recv(100, MSG_WAITALL) == b"abcde"
    assert w.now - t0 == 5 * MS
    with pytest.raises(TimeoutError):
        conn.recv(100, MSG_WAITALL)  # nothing at all: the plain timeout
    cli.send(b"xy")
    settle(w, conn, 2)
    assert conn.recv(100, MSG_WAITALL | MSG_DONTWAIT) == b"xy"  # non-blocking: what is there
    with pytest.raises(BlockingIOError):
        conn.recv(100, MSG_WAITALL | MSG_DONTWAIT)


def test_waitall_in_a_task_returns_the_partial_read_on_timeout(hosts):
    w, cli, conn = tcp_pair(hosts)
    send_later(w, cli, 1 * MS, b"abc")
    send_later(w, cli, 2 * MS, b"de")
    conn.settimeout(0.005)
    out = []

    async def reader():
        out.append(await conn.recv(100, MSG_WAITALL))
        try:
            await conn.recv(100, MSG_WAITALL)
        except TimeoutError as exc:
            out.append(exc)

    w.spawn(reader())
    w.run_for("20ms")
    assert out[0] == b"abcde" and isinstance(out[1], TimeoutError)


def test_waitall_peek_waits_for_all_and_consumes_nothing(hosts):
    w, cli, conn = tcp_pair(hosts)
    send_later(w, cli, 1 * MS, b"abc")
    send_later(w, cli, 3 * MS, b"def")
    t0 = w.now
    assert conn.recv(6, MSG_WAITALL | MSG_PEEK) == b"abcdef"
    assert w.now - t0 >= 3 * MS
    assert len(conn.sk.receive_queue) == 2  # two skbs: a plain peek reads past the first
    assert conn.recv(5, MSG_PEEK) == b"abcde"
    assert conn.recv(100) == b"abcdef"


def test_waitall_recv_into_fills_the_buffer(hosts):
    w, cli, conn = tcp_pair(hosts)
    send_later(w, cli, 1 * MS, b"ab")
    send_later(w, cli, 2 * MS, b"cd")
    buf = bytearray(4)
    assert conn.recv_into(buf, 0, MSG_WAITALL) == 4 and buf == b"abcd"


# -- MSG_TRUNC ----------------------------------------------------------------------------
def test_tcp_trunc_discards_and_returns_the_count(hosts):
    w, cli, conn = tcp_pair(hosts)
    cli.send(b"hello world")
    settle(w, conn, 11)
    assert len(conn.recv(5, MSG_TRUNC)) == 5  # discarded, not copied
    buf = bytearray(b"zzzzzzzz")
    assert conn.recv_into(buf, 3, MSG_TRUNC) == 3 and buf == b"zzzzzzzz"
    assert len(conn.recv(10, MSG_TRUNC | MSG_PEEK)) == 3  # counted, nothing consumed
    assert conn.recv(100) == b"rld"


def test_udp_trunc_returns_the_datagrams_real_length(hosts):
    w, tx, rx = udp_pair(hosts)
    for _ in range(4):
        tx.sendto(b"0123456789", ("10.0.0.2", 53))
    rx.settimeout(0.01)
    buf = bytearray(4)
    assert rx.recv_into(buf, 4, MSG_TRUNC) == 10 and buf == b"0123"
    data = rx.recv(4, MSG_TRUNC)
    assert len(data) == 10 and data[:4] == b"0123"
    n, addr = rx.recvfrom_into(bytearray(4), 4, MSG_TRUNC | MSG_PEEK)
    assert n == 10 and addr[0] == "10.0.0.1"
    assert rx.recv(4) == b"0123"  # without MSG_TRUNC: what fit


def test_packet_trunc_returns_the_frames_real_length_and_waitall_is_einval(hosts):
    w, a, b = hosts
    tx = a.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.bind(("eth0", 0))
    rx = b.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
    rx.bind(("eth0", socket.htons(0x88B5)))
    frame = bytes(b.eth0.dev_addr) + bytes(a.eth0.dev_addr) + struct.pack("!H", 0x88B5)
    frame += b"ixsim raw frame".ljust(46, b".")
    tx.send(frame)
    rx.settimeout(0.01)
    buf = bytearray(14)
    assert rx.recv_into(buf, 14, MSG_TRUNC | MSG_PEEK) == len(frame) and buf == frame[:14]
    with pytest.raises(OSError) as exc:
        rx.recv(100, MSG_WAITALL)  # packet_recvmsg refuses flags it does not know
    assert exc.value.errno == errno.EINVAL
    assert rx.recv(2048) == frame


# -- edges --------------------------------------------------------------------------------
def test_recv_zero_returns_at_once(hosts):
    w, cli, conn = tcp_pair(hosts)
    t0 = w.now
    assert conn.recv(0) == b""
    assert conn.recv_into(bytearray(0)) == 0
    assert w.now == t0


def test_recv_into_a_read_only_buffer_is_typeerror(hosts):
    w, cli, conn = tcp_pair(hosts)
    with pytest.raises(TypeError, match="read-write bytes-like object, not bytes"):
        conn.recv_into(b"abc")
    with pytest.raises(TypeError, match="recvfrom_into"):
        conn.recvfrom_into(b"abc")


def test_udp_sendto_oob_is_eopnotsupp(hosts):
    w, tx, rx = udp_pair(hosts)
    with pytest.raises(OSError) as exc:
        tx.sendto(b"x", MSG_OOB, ("10.0.0.2", 53))
    assert exc.value.errno == errno.EOPNOTSUPP


def test_tcp_recv_oob_without_urgent_data_is_einval(hosts):
    w, cli, conn = tcp_pair(hosts)
    conn.settimeout(0.01)
    with pytest.raises(OSError) as exc:
        conn.recv(10, MSG_OOB)
    assert exc.value.errno == errno.EINVAL
