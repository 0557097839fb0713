"""The small edges of the socket calls (issue 12), each as this machine's Linux answers them
(checked with Python's ``socket`` against 127.0.0.1): connect twice, connect after a failure,
bind to an address the host does not own, SO_ERROR and EPOLLERR after errors, UDP autobind,
TCP_INFO's state for a socket whose connection has ended.

Linux's reference: ``__inet_stream_connect`` (net/ipv4/af_inet.c), ``tcp_disconnect`` and
``tcp_poll`` (net/ipv4/tcp.c), ``inet_bind``, ``sock_error``, ``tcp_get_info``.
"""

from __future__ import annotations

import errno
import socket as pysocket
import struct

import pytest

from ixsim import World
from stack.uapi import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    IPPROTO_TCP,
    SO_ERROR,
    SO_LINGER,
    SOCK_DGRAM,
    SOL_SOCKET,
    TCP_INFO,
)

MS = 1_000_000
TCP_CLOSE = 7
TCP_CLOSE_WAIT = 8


@pytest.fixture
def pair():
    w = World(seed=9)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0, latency="1ms")
    yield w, a, b
    w.close()


def connected(w, a, b, port=5000):
    srv = b.socket()
    srv.bind(("0.0.0.0", port))
    srv.listen()
    cli = a.socket()
    cli.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return srv, cli, conn


def test_connect_again_to_the_same_peer_is_eisconn(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    with pytest.raises(OSError) as exc:
        cli.connect(("10.0.0.2", 5000))
    assert exc.value.errno == errno.EISCONN
    assert cli.connect_ex(("10.0.0.2", 5000)) == errno.EISCONN


def test_a_failed_blocking_connect_can_be_retried(pair):
    w, a, b = pair
    cli = a.socket()
    for _ in range(2):  # Linux: ECONNREFUSED both times, never ECONNABORTED
        syns = a.net.mib.tcp["ActiveOpens"]
        with pytest.raises(ConnectionRefusedError):
            cli.connect(("10.0.0.2", 5000))
        assert a.net.mib.tcp["ActiveOpens"] == syns + 1  # a new SYN went out
        addr, port = cli.getsockname()
        assert addr == "0.0.0.0" and port  # tcp_disconnect cleared the source address
    srv = b.socket()
    srv.bind(("0.0.0.0", 5000))
    srv.listen()
    cli.connect(("10.0.0.2", 5000))
    assert cli.getsockname()[0] == "10.0.0.1"


def test_non_blocking_connect_after_a_refusal(pair):
    w, a, b = pair
    cli = a.socket()
    cli.setblocking(False)
    with pytest.raises(BlockingIOError) as exc:
        cli.connect(("10.0.0.2", 5000))
    assert exc.value.errno == errno.EINPROGRESS
    with pytest.raises(BlockingIOError) as exc:  # still in progress: EALREADY
        cli.connect(("10.0.0.2", 5000))
    assert exc.value.errno == errno.EALREADY
    w.run_for("10ms")
    with pytest.raises(ConnectionRefusedError):  # the pending error, once
        cli.connect(("10.0.0.2", 5000))
    assert cli.getsockname()[0] == "0.0.0.0"
    with pytest.raises(BlockingIOError) as exc:  # and then a new attempt
        cli.connect(("10.0.0.2", 5000))
    assert exc.value.errno == errno.EINPROGRESS


@pytest.mark.parametrize("type_", [pysocket.SOCK_STREAM, SOCK_DGRAM])
def test_bind_to_a_foreign_address_is_eaddrnotavail(pair, type_):
    w, a, b = pair
    s = a.socket(pysocket.AF_INET, type_)
    with pytest.raises(OSError) as exc:
        s.bind(("10.0.0.2", 5000))  # b's, not a's
    assert exc.value.errno == errno.EADDRNOTAVAIL
    a.sysctl("net.ipv4.ip_nonlocal_bind", 1)
    s.bind(("10.0.0.2", 5000))
    assert s.getsockname() == ("10.0.0.2", 5000)


def test_epipe_leaves_no_epollerr_and_so_error_is_read_once(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.shutdown(pysocket.SHUT_WR)
    with pytest.raises(BrokenPipeError):
        cli.send(b"x")
    assert cli.getsockopt(SOL_SOCKET, SO_ERROR) == 0
    assert cli.poll() & (EPOLLERR | EPOLLOUT) == EPOLLOUT  # a level-triggered loop won't spin


def test_a_reset_sets_epollerr_until_the_error_is_read(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    w.run_for("10ms")
    assert cli.poll() & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP) == (
        EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP)
    with pytest.raises(ConnectionResetError):
        cli.send(b"x")
    assert not cli.poll() & EPOLLERR  # read once: gone
    assert cli.getsockopt(SOL_SOCKET, SO_ERROR) == 0
    with pytest.raises(BrokenPipeError):
        cli.send(b"x")


def test_so_error_is_cleared_by_reading_it(pair):
    w, a, b = pair
    cli = a.socket()
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        cli.connect(("10.0.0.2", 5000))
    w.run_for("10ms")
    assert cli.poll() & EPOLLERR
    assert cli.getsockopt(SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED
    assert cli.getsockopt(SOL_SOCKET, SO_ERROR) == 0
    assert not cli.poll() & EPOLLERR


def test_udp_send_autobinds_a_port(pair):
    w, a, b = pair
    s = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    assert s.getsockname() == ("0.0.0.0", 0)
    s.sendto(b"x", ("10.0.0.2", 9))
    addr, port = s.getsockname()
    low, high = a.net.sysctl.ip_local_port_range
    assert addr == "0.0.0.0" and low <= port <= high


def tcpi_state(sock) -> int:
    return sock.getsockopt(IPPROTO_TCP, TCP_INFO, 1)[0]


def test_tcp_info_state_of_an_ended_connection_is_close(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.shutdown(pysocket.SHUT_WR)
    conn.close()
    w.run_for("10ms")
    # the connection is in TIME-WAIT, but that is the timewait sock's: the socket says CLOSE
    assert tcpi_state(cli) == TCP_CLOSE
    srv2, cli2, conn2 = connected(w, a, b, port=5001)
    conn2.close()
    w.run_for("10ms")
    assert tcpi_state(cli2) == TCP_CLOSE_WAIT
