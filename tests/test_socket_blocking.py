"""The BSD layer called from outside any task: blocking calls run the world.

Against the in-memory fakes of test_socket_fakes.py (10 us one-way delay), so what is checked
is the Socket layer itself: waiting, timeouts on virtual time, Deadlock messages, errors,
address conversion, options and the fd table.
"""

from __future__ import annotations

import errno
import struct

import pytest
from helpers.fakes import DgramSock, PipeSock, connected_pair, two_hosts
from helpers.units import US

import stack.socket as so
from ixsim.sched import Deadlock
from stack.socket import INETSW, socket_create, tcp_info


def test_connect_accept_send_recv_round_trip_with_names():
    fabric, cli, conn, srv = connected_pair()
    sched = fabric.sched
    assert cli.getpeername() == ("10.0.0.2", 7)
    assert cli.getsockname() == ("10.0.0.1", 40000)
    assert conn.getpeername() == ("10.0.0.1", 40000)
    assert conn.getsockname() == ("10.0.0.2", 7)
    assert srv.getsockname() == ("0.0.0.0", 7)
    t0 = sched.now
    assert cli.send(b"hello") == 5
    assert conn.recv(5) == b"hello"
    assert sched.now - t0 == 10 * US  # the recv ran the world exactly until the data landed
    conn.sendall(b"world")
    assert cli.recv(100) == b"world"


def test_blocking_recv_waits_for_data_sent_later():
    fabric, cli, conn, _ = connected_pair()
    sched = fabric.sched
    sched.call_later(1_000 * US, cli.sk.sendmsg, b"late")
    t0 = sched.now
    assert conn.recv(10) == b"late"
    assert sched.now - t0 == 1_010 * US


def test_recv_timeout_is_virtual_and_says_timed_out():
    fabric, cli, conn, _ = connected_pair()
    sched = fabric.sched
    sched.call_later(10_000 * US, lambda: None)  # something pending, far away
    conn.settimeout(0.002)
    t0 = sched.now
    with pytest.raises(TimeoutError, match="timed out"):
        conn.recv(10)
    assert sched.now - t0 == 2_000_000
    assert conn.gettimeout() == 0.002 and conn.getblocking()


def test_deadlock_names_the_operation_and_the_socket():
    _, cli, conn, _ = connected_pair()
    with pytest.raises(Deadlock) as info:
        conn.recv(10)
    message = str(info.value)
    assert "recv on 10.0.0.2:7 <- 10.0.0.1:40000" in message
    assert "(host b, fd 4)" in message
    assert "no pending event can make progress" in message
    with pytest.raises(Deadlock, match=r"accept on 0\.0\.0\.0:7 \(host b"):
        _srv_of(conn).accept()


def _srv_of(conn):
    return conn._fdtable.get(3)  # host b's first fd: the listener


def test_nonblocking_recv_and_connect():
    fabric, a, b = two_hosts()
    srv = b.stream()
    srv.bind(("", 7))
    srv.listen()
    srv.setblocking(False)
    assert not srv.getblocking() and srv.gettimeout() == 0.0
    with pytest.raises(BlockingIOError) as info:
        srv.accept()
    assert info.value.errno == errno.EAGAIN
    cli = a.stream()
    cli.setblocking(False)
    with pytest.raises(BlockingIOError) as info:
        cli.connect(("10.0.0.2", 7))
    assert info.value.errno == errno.EINPROGRESS
    fabric.sched.run_for(100 * US)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_ERROR) == 0
    assert cli.poll() & so.EPOLLOUT
    conn, peer = srv.accept()
    assert peer == ("10.0.0.1", 40000) and conn.getblocking()  # accepted sockets block
    with pytest.raises(BlockingIOError):
        cli.recv(1)
    # MSG_DONTWAIT makes one call on a blocking socket non-blocking
    with pytest.raises(BlockingIOError):
        conn.recv(1, so.MSG_DONTWAIT)
    a2 = a.stream()
    a2.setblocking(False)
    assert a2.connect_ex(("10.0.0.2", 7)) == errno.EINPROGRESS


def test_connection_refused_three_ways():
    fabric, a, b = two_hosts()
    with pytest.raises(ConnectionRefusedError):
        a.stream().connect(("10.0.0.2", 9))
    assert a.stream().connect_ex(("10.0.0.2", 9)) == errno.ECONNREFUSED
    s = a.stream()
    s.setblocking(False)
    assert s.connect_ex(("10.0.0.2", 9)) == errno.EINPROGRESS
    fabric.sched.run_for(100 * US)
    assert s.poll() & (so.EPOLLERR | so.EPOLLHUP)
    assert s.getsockopt(so.SOL_SOCKET, so.SO_ERROR) == errno.ECONNREFUSED
    assert s.getsockopt(so.SOL_SOCKET, so.SO_ERROR) == 0  # SO_ERROR consumes the error


def test_connect_timeout_and_deadlock_when_the_peer_never_answers():
    fabric, a, b = two_hosts()
    fabric.blackhole.add(b.addr)
    s = a.stream()
    with pytest.raises(Deadlock, match=r"connect on 0\.0\.0\.0:40000 -> 10\.0\.0\.2:80"):
        s.connect(("10.0.0.2", 80))
    s2 = a.stream()
    s2.settimeout(0.5)
    fabric.sched.call_later(2_000_000_000, lambda: None)
    with pytest.raises(TimeoutError):
        s2.connect(("10.0.0.2", 80))
    s3 = a.stream()
    s3.settimeout(0.5)
    assert s3.connect_ex(("10.0.0.2", 80)) == errno.EAGAIN  # CPython's EWOULDBLOCK


def test_sendall_waits_for_window_and_delivers_everything():
    fabric, cli, conn, _ = connected_pair(capacity=1000)
    data = bytes(range(256)) * 40  # 10 KiB through a 1000-byte window
    sched = fabric.sched
    got = bytearray()

    def reader():
        try:
            while True:
                got.extend(conn.sk.recvmsg(4096)[0])
        except BlockingIOError:
            pass
        if len(got) < len(data):
            sched.call_later(5 * US, reader)

    sched.call_soon(reader)
    assert cli.sendall(data) is None
    sched.run_until(lambda: len(got) == len(data))
    assert bytes(got) == data
    assert sched.now >= 10 * 10 * US  # at least ten one-way trips of a full window


def test_send_returns_a_partial_count_when_the_window_is_short():
    _, cli, conn, _ = connected_pair(capacity=100)
    assert cli.send(b"x" * 500) == 100


def test_shutdown_write_gives_eof_and_broken_pipe():
    _, cli, conn, _ = connected_pair()
    cli.sendall(b"bye")
    cli.shutdown(so.SHUT_WR)
    with pytest.raises(BrokenPipeError) as info:
        cli.send(b"more")
    assert info.value.errno == errno.EPIPE
    with pytest.raises(BrokenPipeError):
        cli.sendall(b"more")
    assert conn.recv(10) == b"bye"
    assert conn.recv(10) == b""
    conn.sendall(b"still open the other way")
    assert cli.recv(100) == b"still open the other way"
    with pytest.raises(OSError) as info:
        cli.shutdown(7)
    assert info.value.errno == errno.EINVAL


def test_reset_surfaces_as_connection_reset_error():
    _, cli, conn, _ = connected_pair()
    cli.sendall(b"unread")
    cli.sk.net.sched.run_for(100 * US)
    conn.close()  # unread data: the fake sends RST, as Linux does
    with pytest.raises(ConnectionResetError):
        cli.recv(10)


def test_close_releases_the_fd_and_later_calls_are_ebadf():
    fabric, a, b = two_hosts()
    s = a.stream()
    assert s.fileno() == 3
    s.close()
    s.close()  # harmless twice
    assert s.fileno() == -1 and s.closed
    for call in (lambda: s.recv(1), lambda: s.send(b"x"), lambda: s.bind(("", 1)),
                 s.getsockname, lambda: s.setsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 1)):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF
    with a.stream() as t:
        assert t.fileno() == 3  # lowest free number again
        assert "fd=3" in repr(t)
    assert t.closed and "closed" in repr(t)


def test_recv_into_recvfrom_and_peek():
    _, cli, conn, _ = connected_pair()
    cli.sendall(b"abcdef")
    buf = bytearray(4)
    assert conn.recv_into(buf) == 4 and buf == b"abcd"
    assert conn.recv(2, so.MSG_PEEK) == b"ef"
    assert conn.recvfrom(10) == (b"ef", None)  # connected stream: no address, as on Linux
    cli.sendall(b"xyz")
    big = bytearray(10)
    assert conn.recvfrom_into(big) == (3, None) and big[:3] == b"xyz"
    with pytest.raises(ValueError):
        conn.recv(-1)
    with pytest.raises(ValueError):
        conn.recv_into(bytearray(2), 5)


def test_datagrams_sendto_recvfrom_and_broadcast_needs_so_broadcast():
    fabric, a, b = two_hosts()
    rx = b.dgram()
    rx.bind(("0.0.0.0", 53))
    tx = a.dgram()
    assert tx.sendto(b"query", ("10.0.0.2", 53)) == 5
    data, src = rx.recvfrom(512)
    assert data == b"query" and src == ("10.0.0.1", tx.getsockname()[1])
    assert rx.sendto(b"answer", 0, src) == 6
    assert tx.recvfrom(512) == (b"answer", ("10.0.0.2", 53))
    with pytest.raises(PermissionError):
        tx.sendto(b"all", ("<broadcast>", 53))
    tx.setsockopt(so.SOL_SOCKET, so.SO_BROADCAST, 1)
    assert tx.getsockopt(so.SOL_SOCKET, so.SO_BROADCAST) == 1
    assert tx.sendto(b"all", ("255.255.255.255", 53)) == 3
    tx.connect(("10.0.0.2", 53))
    tx.send(b"connected")
    assert rx.recv(100) == b"connected"


def test_bind_errors_and_ephemeral_ports():
    fabric, a, b = two_hosts()
    s1 = b.stream()
    s1.bind(("10.0.0.2", 8080))
    s1.listen()
    s2 = b.stream()
    with pytest.raises(OSError) as info:
        s2.bind(("0.0.0.0", 8080))
    assert info.value.errno == errno.EADDRINUSE
    s3 = b.stream()
    s3.bind(("0.0.0.0", 0))
    assert s3.getsockname() == ("0.0.0.0", 40000)
    with pytest.raises(OverflowError):
        b.stream().bind(("", 65536))
    with pytest.raises(OSError) as info:
        b.stream().bind(("10.0.0.99", 1))
    assert info.value.errno == errno.EADDRNOTAVAIL
    with pytest.raises(OSError):
        b.stream().bind(("no.such.host", 1))


def test_reuseaddr_reaches_the_sock_options_that_bind_reads():
    fabric, a, b = two_hosts()
    s1, s2 = b.stream(), b.stream()
    for s in (s1, s2):
        s.setsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 1)
        assert s.sk.options[(so.SOL_SOCKET, so.SO_REUSEADDR)] == 1
    s1.bind(("", 5000))
    s2.bind(("", 5000))  # the fake honours SO_REUSEADDR on both, not listening
    assert s2.getsockopt(so.SOL_SOCKET, so.SO_REUSEADDR) == 1


def test_socket_level_options():
    _, cli, conn, srv = connected_pair()
    cli.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 65536)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_RCVBUF) == 131072  # Linux doubles it
    assert cli.sk.sk_rcvbuf == 131072
    cli.setsockopt(so.SOL_SOCKET, so.SO_SNDBUF, 1)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_SNDBUF) == 4608  # SOCK_MIN_SNDBUF
    cli.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 10 << 20)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_RCVBUF) == 2 * 212992  # clamped to rmem_max
    cli.setsockopt(so.SOL_SOCKET, so.SO_KEEPALIVE, True)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_KEEPALIVE) == 1
    assert (so.SOL_SOCKET, so.SO_KEEPALIVE, 1) in cli.sk.setsockopt_calls  # protocol hook
    cli.setsockopt(so.SOL_SOCKET, so.SO_LINGER, struct.pack("ii", 1, 0))
    assert cli.sk.options[(so.SOL_SOCKET, so.SO_LINGER)] == (1, 0)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_LINGER) == 1
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_LINGER, 8) == struct.pack("ii", 1, 0)
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_TYPE) == so.SOCK_STREAM
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_PROTOCOL) == so.IPPROTO_TCP
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_DOMAIN) == so.AF_INET
    assert srv.getsockopt(so.SOL_SOCKET, so.SO_ACCEPTCONN) == 1
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_ACCEPTCONN) == 0
    assert cli.getsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 4) == struct.pack("i", 0)
    with pytest.raises(OSError) as info:
        cli.setsockopt(so.SOL_SOCKET, so.SO_ERROR, 1)
    assert info.value.errno == errno.ENOPROTOOPT
    with pytest.raises(OSError) as info:
        cli.getsockopt(so.SOL_SOCKET, 999)
    assert info.value.errno == errno.ENOPROTOOPT
    with pytest.raises(TypeError):
        cli.setsockopt(so.SOL_SOCKET, so.SO_KEEPALIVE, "yes")


def test_tcp_level_options_go_to_the_protocol():
    _, cli, conn, _ = connected_pair()
    for opt in (so.TCP_NODELAY, so.TCP_CORK, so.TCP_KEEPIDLE, so.TCP_KEEPINTVL, so.TCP_KEEPCNT):
        cli.setsockopt(so.IPPROTO_TCP, opt, 7)
        assert cli.getsockopt(so.IPPROTO_TCP, opt) == 7
    cli.setsockopt(so.IPPROTO_TCP, so.TCP_CONGESTION, b"reno")
    assert cli.getsockopt(so.IPPROTO_TCP, so.TCP_CONGESTION) == "reno"
    cli.setsockopt(so.IPPROTO_TCP, so.TCP_CONGESTION, "cubic")
    raw = cli.getsockopt(so.IPPROTO_TCP, so.TCP_CONGESTION, 16)
    assert raw == b"cubic" + bytes(11)
    info = tcp_info(cli)
    assert info.tcpi_state == 1
    assert cli.getsockopt(so.IPPROTO_TCP, so.TCP_INFO) == 1  # CPython's int: 4 bytes read
    raw = cli.getsockopt(so.IPPROTO_TCP, so.TCP_INFO, 104)
    assert len(raw) == 104 and raw[0] == 1
    assert len(cli.getsockopt(so.IPPROTO_TCP, so.TCP_INFO, 8)) == 8


def test_timeouts_and_blocking_flags():
    _, cli, _, _ = connected_pair()
    assert cli.gettimeout() is None and cli.getblocking()
    cli.settimeout(1.5)
    assert cli.gettimeout() == 1.5 and cli.getblocking()
    cli.setblocking(False)
    assert cli.gettimeout() == 0.0 and not cli.getblocking()
    cli.setblocking(True)
    assert cli.gettimeout() is None
    with pytest.raises(ValueError, match="out of range"):
        cli.settimeout(-1)


def test_socket_create_picks_the_protocol_from_inetsw(monkeypatch):
    fabric, a, b = two_hosts()
    monkeypatch.setitem(INETSW, so.SOCK_STREAM, [(so.IPPROTO_TCP, PipeSock)])
    monkeypatch.setitem(INETSW, so.SOCK_DGRAM, [(so.IPPROTO_UDP, DgramSock)])
    s = socket_create(a, so.AF_INET, so.SOCK_STREAM)
    assert isinstance(s.sk, PipeSock) and s.type == so.SOCK_STREAM
    assert s.family == so.AF_INET and s.proto == 0  # as given, as Python's socket
    assert s.getsockopt(so.SOL_SOCKET, so.SO_PROTOCOL) == so.IPPROTO_TCP
    u = socket_create(a, so.AF_INET, so.SOCK_DGRAM, so.IPPROTO_UDP)
    assert isinstance(u.sk, DgramSock)
    nb = socket_create(a, so.AF_INET, so.SOCK_STREAM | so.SOCK_NONBLOCK | so.SOCK_CLOEXEC)
    assert not nb.getblocking()
    with pytest.raises(OSError) as info:
        socket_create(a, 1, so.SOCK_STREAM)  # AF_UNIX: a family ixsim has not (AF_INET6 it has)
    assert info.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(OSError) as info:
        socket_create(a, so.AF_INET, so.SOCK_STREAM, so.IPPROTO_UDP)
    assert info.value.errno == errno.EPROTONOSUPPORT
    with pytest.raises(OSError) as info:
        socket_create(a, so.AF_INET, 5)  # SOCK_SEQPACKET
    assert info.value.errno == errno.ESOCKTNOSUPPORT
    assert sorted(a.fdtable.files) == [3, 4, 5]
