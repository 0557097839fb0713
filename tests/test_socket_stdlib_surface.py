"""ixsim's Socket offers what ``socket.socket`` offers: names, lifetimes, files, the edges.

The surface is compared with this machine's ``socket.socket``; every name ixsim leaves out
is listed with its reason, every name it adds with its purpose.
"""

from __future__ import annotations

import errno
import gc
import select
import socket
import struct

import pytest
from helpers.stack import two_hosts

from stack.socket import (
    EPOLLIN,
    EPOLLOUT,
    IPPROTO_TCP,
    SO_PROTOCOL,
    SOL_SOCKET,
    TCP_INFO,
    Socket,
    epoll_create,
    socket_create,
    tcp_info,
)

MS = 1_000_000

# deliberate absences: name -> why (calling it is an AttributeError, as on a platform without it)
ABSENT = {
    "sendmsg_afalg": "AF_ALG (the kernel crypto API) is not modelled; ixsim has AF_INET and "
                     "AF_PACKET sockets only",
}
# additions: name -> what for
EXTRA = {
    "closed": "True once closed (CPython keeps it private as _closed)",
    "describe": "the operation and endpoints named in Deadlock messages",
    "file": "the open file shared by dup() copies (fd reference count, epoll hooks)",
    "poll": "the Sock's EPOLL* readiness mask, for tests",
    "ioctl": "Linux socket ioctls (SIOCATMARK, SIOCINQ, SIOCOUTQ, SIOCOUTQNSD); CPython has "
             "socket.ioctl on Windows only, fcntl.ioctl(fd) elsewhere",
    "sockatmark": "sockatmark(3): is the next byte at the urgent mark (SIOCATMARK)",
}


def test_public_names_match_socket_socket():
    std = {n for n in dir(socket.socket) if not n.startswith("_")}
    ours = {n for n in dir(Socket) if not n.startswith("_")}
    assert std - ours == set(ABSENT)
    assert ours - std == set(EXTRA)
    for dunder in ("__enter__", "__exit__", "__repr__", "__del__"):
        assert hasattr(Socket, dunder)


def connected(sched, a, b, port=7):
    srv = b.socket()
    srv.bind(("0.0.0.0", port))
    srv.listen()
    cli = a.socket()
    cli.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return srv, cli, conn


# -- identity -------------------------------------------------------------------------------
def test_proto_reads_as_given_and_so_protocol_names_the_protocol():
    sched, a, b = two_hosts()
    for kind, proto in ((socket.SOCK_STREAM, IPPROTO_TCP), (socket.SOCK_DGRAM, 17)):
        ours = a.socket(socket.AF_INET, kind)
        real = socket.socket(socket.AF_INET, kind)
        assert (ours.family, ours.type, ours.proto) == (real.family, real.type, real.proto)
        assert ours.proto == 0
        assert ours.getsockopt(SOL_SOCKET, SO_PROTOCOL) == proto == real.getsockopt(
            SOL_SOCKET, SO_PROTOCOL)
        explicit = socket_create(a.net, socket.AF_INET, kind, proto)
        assert explicit.proto == proto
        real.close()


def test_timeout_property_and_settimeout_on_a_closed_socket():
    sched, a, b = two_hosts()
    for s in (a.socket(), socket.socket()):
        s.settimeout(2.5)
        assert s.timeout == 2.5 and s.gettimeout() == 2.5
        s.close()
        with pytest.raises(OSError) as info:
            s.settimeout(1.0)
        assert info.value.errno == errno.EBADF
        assert s.gettimeout() == 1.0  # stored before the fd is found closed, as CPython
        with pytest.raises(OSError) as info:
            s.setblocking(True)
        assert info.value.errno == errno.EBADF


def test_inheritable_flag_is_kept_per_fd():
    sched, a, b = two_hosts()
    s = a.socket()
    assert s.get_inheritable() is False
    s.set_inheritable(True)
    assert s.get_inheritable() is True and s.dup().get_inheritable() is False
    s.close()
    with pytest.raises(OSError) as info:
        s.get_inheritable()
    assert info.value.errno == errno.EBADF


def test_tcp_info_without_a_length_is_an_int_as_cpython():
    sched, a, b = two_hosts()
    real = socket.socket()
    ours = a.socket()
    assert ours.getsockopt(IPPROTO_TCP, TCP_INFO) == real.getsockopt(IPPROTO_TCP, TCP_INFO) == 7
    real.close()
    srv, cli, conn = connected(sched, a, b)
    raw = cli.getsockopt(IPPROTO_TCP, TCP_INFO, 104)
    assert cli.getsockopt(IPPROTO_TCP, TCP_INFO) == struct.unpack("=i", raw[:4])[0]
    info = tcp_info(cli)
    assert info.state == 1 and bytes(info)[:104] == raw


# -- lifetimes ------------------------------------------------------------------------------
def test_a_socket_nobody_references_is_closed_and_the_peer_sees_eof():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    fd = cli.fileno()
    del cli  # the last reference: closed at once, as CPython's refcounting does
    assert fd not in a.net.fdtable
    assert conn.recv(10) == b""  # the FIN arrived
    assert a.socket().fileno() == fd  # the number is free again


def test_a_collected_socket_keeps_a_dup_open():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    copy = cli.dup()
    assert copy.fileno() != cli.fileno() and copy.proto == cli.proto
    del cli
    gc.collect()
    copy.sendall(b"still open")
    assert conn.recv(20) == b"still open"
    copy.close()
    assert conn.recv(10) == b""


def test_dup_shares_the_socket_as_linux():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    copy = cli.dup()
    ep = epoll_create(a.net)
    ep.register(cli, EPOLLIN)
    fd = cli.fileno()
    cli.close()  # the file is still open through the copy: the registration stays
    assert len(ep) == 1
    conn.sendall(b"x")
    assert ep.poll(1.0) == [(fd, EPOLLIN)]  # reported under the fd it was registered as
    assert copy.recv(1) == b"x"
    copy.close()
    assert len(ep) == 0 and conn.recv(1) == b""


def test_detach_leaves_the_fd_open_and_fileno_adopts_it():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    fd = cli.detach()
    assert cli.fileno() == -1 and cli.detach() == -1 and fd in a.net.fdtable
    del cli
    gc.collect()
    again = socket_create(a.net, fileno=fd)
    assert again.fileno() == fd and again.getpeername() == ("10.0.0.2", 7)
    again.sendall(b"adopted")
    assert conn.recv(10) == b"adopted"
    with pytest.raises(OSError) as info:
        socket_create(a.net, fileno=99)
    assert info.value.errno == errno.EBADF


def test_context_manager_closes():
    sched, a, b = two_hosts()
    with a.socket() as s:
        fd = s.fileno()
    assert s.fileno() == -1 and fd not in a.net.fdtable


# -- files ------------------------------------------------------------------------------------
def test_makefile_reads_lines_and_writes_in_virtual_time():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    rfile = conn.makefile("rb")
    wfile = cli.makefile("wb", buffering=0)
    assert wfile.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 27
    assert rfile.readline() == b"GET / HTTP/1.1\r\n"
    assert rfile.readline() == b"Host: x\r\n"
    assert rfile.readline() == b"\r\n"
    text = cli.makefile("w", encoding="ascii")
    text.write("one\ntwo\n")
    text.flush()
    assert rfile.readline() == b"one\n"
    wfile.close()
    text.close()
    cli.close()
    assert rfile.read() == b"two\n"  # the rest, then EOF ends read()
    with pytest.raises(ValueError, match="invalid mode"):
        conn.makefile("rx")
    with pytest.raises(ValueError, match="unbuffered streams must be binary"):
        conn.makefile("r", buffering=0)


def test_close_waits_for_the_last_makefile_object():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    f = cli.makefile("wb")
    cli.close()  # CPython: the real close waits for the file object
    assert cli.fileno() >= 0
    f.write(b"late")
    f.close()
    assert cli.fileno() == -1
    assert conn.recv(10) == b"late" and conn.recv(10) == b""


def test_makefile_inside_a_task_refuses_to_block():
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    f = conn.makefile("rb")
    caught = []

    async def reader():
        try:
            f.readline()
        except RuntimeError as exc:
            caught.append(str(exc))

    b.spawn(reader())
    sched.run_for(1 * MS)
    assert caught and "await sock.recv()" in caught[0]


def test_sendfile_from_a_file_and_from_bytes(tmp_path):
    sched, a, b = two_hosts()
    srv, cli, conn = connected(sched, a, b)
    path = tmp_path / "blob"
    blob = bytes(range(256)) * 1000
    path.write_bytes(blob)
    with path.open("rb") as f:
        assert cli.sendfile(f, offset=1000, count=100_000) == 100_000
        assert f.tell() == 101_000
        got = bytearray()
        while len(got) < 100_000:
            got += conn.recv(65536)
        assert bytes(got) == blob[1000:101_000]
        assert cli.sendfile(f, offset=250_000) == 6_000 and f.tell() == 256_000
    assert cli.sendfile(b"0123456789", 2, 3) == 3
    tail = bytearray()
    while len(tail) < 6_003:
        tail += conn.recv(65536)
    assert bytes(tail) == blob[250_000:] + b"234"
    with path.open("r") as text, pytest.raises(ValueError, match="binary mode"):
        cli.sendfile(text)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="count must be a positive integer"):
            cli.sendfile(b"x", 0, bad)
    udp = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(ValueError, match="only SOCK_STREAM"):
        udp.sendfile(b"x")
    cli.setblocking(False)
    with pytest.raises(ValueError, match="non-blocking"):
        cli.sendfile(b"x")


# -- epoll edges -------------------------------------------------------------------------------
def test_epoll_reports_fds_and_refuses_what_select_epoll_refuses():
    sched, a, b = two_hosts()
    s = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ep = epoll_create(a.net)
    ep.register(s, EPOLLOUT)
    assert ep.poll(0) == [(s.fileno(), EPOLLOUT)]  # the fd, as select.epoll
    real = select.epoll()
    for epoll in (ep, real):
        with pytest.raises(ValueError, match="negative"):
            epoll.register(-1)
        with pytest.raises(TypeError):
            epoll.register("x")
        epoll.close()
        with pytest.raises(ValueError, match="closed epoll"):
            epoll.fileno()
