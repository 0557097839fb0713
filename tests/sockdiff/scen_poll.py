"""epoll scenarios (level and edge triggering, ONESHOT, RDHUP, listeners) and a few
remaining options and connection ends (SO_BINDTODEVICE, SO_MARK, a listener closed with
connections queued, a transfer larger than the buffers)."""

from __future__ import annotations

import select
import socket as S
import struct

from tests.sockdiff.api import Net, scenario
from tests.sockdiff.helpers import listener, tcp_pair

IN, OUT, ET = select.EPOLLIN, select.EPOLLOUT, select.EPOLLET
RDHUP, ONESHOT, PRI = select.EPOLLRDHUP, select.EPOLLONESHOT, select.EPOLLPRI


@scenario
def epoll_level_triggered_repeats(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    ep = net.epoll("b")
    ep.register(conn, IN | OUT, "conn")
    net.note("idle", ep.poll())
    cli.sendall(b"data")
    net.settle(5)
    net.note("data", ep.poll())
    net.note("data again", ep.poll())
    conn.recv(10)
    net.note("drained", ep.poll())


@scenario
def epoll_edge_triggered_once(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    ep = net.epoll("b")
    ep.register(conn, IN | ET, "conn")
    net.note("nothing", ep.poll())
    cli.sendall(b"one")
    net.settle(5)
    net.note("first edge", ep.poll())
    net.note("no new edge", ep.poll())
    cli.sendall(b"two")
    net.settle(5)
    net.note("second edge", ep.poll())


@scenario
def epoll_oneshot_needs_modify(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    ep = net.epoll("b")
    ep.register(conn, IN | ONESHOT, "conn")
    cli.sendall(b"x")
    net.settle(5)
    net.note("fires", ep.poll())
    net.note("disarmed", ep.poll())
    ep.modify(conn, IN | ONESHOT)
    net.note("rearmed", ep.poll())


@scenario
def epoll_rdhup_and_hup(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    ep = net.epoll("b")
    ep.register(conn, IN | OUT | RDHUP, "conn")
    cli.shutdown(S.SHUT_WR)
    net.settle(100)
    net.note("peer FIN", ep.poll())
    cli.close()
    net.settle(100)
    conn.shutdown(S.SHUT_WR)
    net.settle(100)
    net.note("both closed", ep.poll())


@scenario
def epoll_listener_and_connect(net: Net) -> None:
    srv = listener(net, "b", 0)
    ep_b = net.epoll("b")
    ep_b.register(srv, IN, "listener")
    c = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    c.setblocking(False)
    ep_a = net.epoll("a")
    ep_a.register(c, IN | OUT, "client")
    net.note("client before connect", ep_a.poll())
    net.try_("connect", c.connect, (net.addr("b"), net.port(0)))
    net.settle(20)
    net.note("client connected", ep_a.poll())
    net.note("listener", ep_b.poll())
    ep_b.unregister(srv)
    net.note("listener unregistered", ep_b.poll())


@scenario
def epoll_udp_and_refused(net: Net) -> None:
    u = net.socket("a", S.AF_INET, S.SOCK_DGRAM)
    u.connect((net.addr("b"), net.port(0)))
    ep = net.epoll("a")
    ep.register(u, IN | OUT, "udp")
    net.note("idle", ep.poll())
    u.send(b"x")
    net.settle(5)
    net.note("after port unreachable", ep.poll())
    net.try_("recv", u.recv, 10, S.MSG_DONTWAIT)
    net.note("after the error was read", ep.poll())


# -- remaining options -------------------------------------------------------------------------
@scenario
def so_bindtodevice_names(net: Net) -> None:
    s = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    net.try_("unbound", s.getsockopt, S.SOL_SOCKET, S.SO_BINDTODEVICE, 16)
    net.try_("unknown device", s.setsockopt, S.SOL_SOCKET, S.SO_BINDTODEVICE, b"nosuchdev0")
    net.try_("lo", s.setsockopt, S.SOL_SOCKET, S.SO_BINDTODEVICE, b"lo")
    net.try_("reads lo", s.getsockopt, S.SOL_SOCKET, S.SO_BINDTODEVICE, 16)
    net.try_("empty unbinds", s.setsockopt, S.SOL_SOCKET, S.SO_BINDTODEVICE, b"")
    net.try_("reads empty", s.getsockopt, S.SOL_SOCKET, S.SO_BINDTODEVICE, 16)


@scenario
def so_mark_roundtrip(net: Net) -> None:
    s = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    net.try_("default", s.getsockopt, S.SOL_SOCKET, S.SO_MARK)
    net.try_("set", s.setsockopt, S.SOL_SOCKET, S.SO_MARK, 42)
    net.try_("get", s.getsockopt, S.SOL_SOCKET, S.SO_MARK)


# -- connection ends ---------------------------------------------------------------------------
@scenario
def listener_closed_with_queued_connection(net: Net) -> None:
    srv = listener(net, "b", 0)
    c = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    c.connect((net.addr("b"), net.port(0)))
    net.settle(5)
    srv.close()
    net.settle(5)
    net.note_poll("client", c)
    net.try_("recv", c.recv, 10)
    net.try_("connect again", c.connect_ex, (net.addr("b"), net.port(0)))


@scenario
def transfer_larger_than_buffers(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    payload = bytes(range(256)) * 2048  # 512 KiB, far over the default buffers
    cli.setblocking(False)
    sent = 0
    got = bytearray()
    conn.setblocking(False)
    for _ in range(2000):
        if sent < len(payload):
            try:
                sent += cli.send(payload[sent:])
            except BlockingIOError:
                pass
        net.settle(1)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                got += chunk
        except BlockingIOError:
            pass
        if len(got) == len(payload):
            break
    net.note("all bytes arrive in order", bytes(got) == payload)
    cli.shutdown(S.SHUT_WR)
    net.settle(100)
    net.try_("eof", conn.recv, 10)


@scenario
def relisten_and_listen_after_shutdown(net: Net) -> None:
    srv = listener(net, "b", 0)
    net.try_("listen again", srv.listen, 3)
    net.try_("shutdown listener", srv.shutdown, S.SHUT_RDWR)
    net.try_("accept after shutdown", srv.accept)
    net.note_poll("poll", srv)


@scenario
def connect_refused_then_names(net: Net) -> None:
    c = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    net.try_("connect", c.connect, (net.addr("b"), net.port(0)))
    net.try_("getsockname after", c.getsockname)
    net.try_("getpeername after", c.getpeername)
    b = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    b.bind((net.addr("a"), net.port(1)))
    net.try_("bound: connect", b.connect, (net.addr("b"), net.port(0)))
    net.try_("bound: getsockname after", b.getsockname)


@scenario
def so_rcvtimeo_blocking_recv(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    tv = struct.pack("ll", 0, 50000)
    net.try_("set", conn.setsockopt, S.SOL_SOCKET, S.SO_RCVTIMEO, tv)
    net.try_("blocking recv on an idle connection", conn.recv, 10)
    cli.sendall(b"late")
    net.settle(5)
    net.try_("then data", conn.recv, 10)
