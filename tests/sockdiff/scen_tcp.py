"""TCP connection scenarios: connect and bind edges, listen and accept, shutdown, resets,
poll masks, SO_ERROR, TCP_INFO states (issue 12 items 1, 3, 7)."""

from __future__ import annotations

import socket as S

from tests.sockdiff.api import Net, scenario
from tests.sockdiff.helpers import NOWHERE, linger, listener, note_state, tcp_pair


def _tcp(net: Net, side: str = "a"):
    return net.socket(side, S.AF_INET, S.SOCK_STREAM)


# -- connect ---------------------------------------------------------------------------------
@scenario
def connect_closed_port_refused(net: Net) -> None:
    c = _tcp(net)
    net.try_("connect", c.connect, (net.addr("b"), net.port(0)))
    net.try_("SO_ERROR after", c.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    note_state(net, "state", c)


@scenario
def connect_again_after_refused(net: Net) -> None:
    c = _tcp(net)
    net.try_("first", c.connect, (net.addr("b"), net.port(0)))
    net.try_("second", c.connect, (net.addr("b"), net.port(0)))
    listener(net, "b", 0)
    net.try_("third, now listening", c.connect, (net.addr("b"), net.port(0)))
    net.try_("peer", c.getpeername)


@scenario
def connect_ex_closed_port(net: Net) -> None:
    c = _tcp(net)
    net.try_("connect_ex", c.connect_ex, (net.addr("b"), net.port(0)))


@scenario
def connect_twice_eisconn(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("again", cli.connect, (net.addr("b"), net.port(0)))
    net.try_("connect_ex again", cli.connect_ex, (net.addr("b"), net.port(0)))


@scenario
def connect_nonblocking_ealready(net: Net) -> None:
    c = _tcp(net)
    c.setblocking(False)
    net.try_("first", c.connect, (NOWHERE, net.port(0)))
    net.try_("second", c.connect, (NOWHERE, net.port(0)))
    net.try_("connect_ex", c.connect_ex, (NOWHERE, net.port(0)))
    net.note_poll("poll", c)
    net.try_("SO_ERROR", c.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    note_state(net, "state", c)


@scenario
def connect_nonblocking_refused_so_error(net: Net) -> None:
    c = _tcp(net)
    c.setblocking(False)
    net.try_("connect", c.connect, (net.addr("b"), net.port(0)))
    net.settle(20)
    net.note_poll("poll", c)
    net.try_("SO_ERROR", c.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    net.try_("SO_ERROR again (cleared)", c.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    net.note_poll("poll after read", c)


@scenario
def connect_nonblocking_completes(net: Net) -> None:
    listener(net, "b", 0)
    c = _tcp(net)
    c.setblocking(False)
    net.try_("connect", c.connect, (net.addr("b"), net.port(0)))
    net.settle(20)
    net.note_poll("poll", c)
    net.try_("SO_ERROR", c.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    net.try_("connect again", c.connect, (net.addr("b"), net.port(0)))
    net.try_("connect_ex again", c.connect_ex, (net.addr("b"), net.port(0)))


@scenario
def connect_on_listener(net: Net) -> None:
    srv = listener(net, "b", 0)
    net.try_("connect", srv.connect, (net.addr("a"), net.port(1)))


@scenario
def connect_udp_then_tcp_style_errors(net: Net) -> None:
    c = _tcp(net)
    net.try_("getpeername unconnected", c.getpeername)
    net.try_("getsockname unbound", c.getsockname)
    net.try_("recv unconnected", c.recv, 10)
    net.try_("send unconnected", c.send, b"x")
    net.try_("shutdown unconnected", c.shutdown, S.SHUT_RDWR)


# -- bind ------------------------------------------------------------------------------------
@scenario
def bind_foreign_address_eaddrnotavail(net: Net) -> None:
    c = _tcp(net)
    net.try_("peer's address", c.bind, (net.addr("b"), net.port(0)))
    net.try_("unknown address", c.bind, ("10.0.0.9", net.port(0)))
    net.try_("own address", c.bind, (net.addr("a"), net.port(0)))
    net.try_("name", c.getsockname)


@scenario
def bind_twice_einval(net: Net) -> None:
    c = _tcp(net)
    net.try_("first", c.bind, (net.addr("a"), net.port(0)))
    net.try_("second", c.bind, (net.addr("a"), net.port(1)))


@scenario
def bind_port_zero_ephemeral(net: Net) -> None:
    c = _tcp(net)
    net.try_("bind", c.bind, ("0.0.0.0", 0))
    net.try_("name", c.getsockname)


@scenario
def bind_conflict_eaddrinuse(net: Net) -> None:
    one, two = _tcp(net), _tcp(net)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))
    net.try_("two on wildcard", two.bind, ("0.0.0.0", net.port(0)))


@scenario
def bind_reuseaddr_both_then_listen(net: Net) -> None:
    one, two = _tcp(net), _tcp(net)
    for s in (one, two):
        s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))
    net.try_("listen one", one.listen, 4)
    net.try_("listen two", two.listen, 4)


@scenario
def bind_reuseaddr_one_side_only(net: Net) -> None:
    one, two = _tcp(net), _tcp(net)
    two.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))


@scenario
def bind_reuseaddr_after_listener_closed_time_wait(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    conn.close()  # the server side closes first: its port is in TIME_WAIT
    net.settle(5)
    cli.close()
    net.settle(5)
    srv.close()
    again = _tcp(net, "b")
    net.try_("without SO_REUSEADDR", again.bind, (net.addr("b"), net.port(0)))
    other = _tcp(net, "b")
    other.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    net.try_("with SO_REUSEADDR", other.bind, (net.addr("b"), net.port(0)))


@scenario
def bind_reuseport_both_listen(net: Net) -> None:
    one, two = _tcp(net), _tcp(net)
    for s in (one, two):
        s.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))
    net.try_("listen one", one.listen, 4)
    net.try_("listen two", two.listen, 4)


@scenario
def bind_reuseport_one_side_only(net: Net) -> None:
    one, two = _tcp(net), _tcp(net)
    one.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))


# -- listen and accept -------------------------------------------------------------------------
@scenario
def listen_unbound_autobinds(net: Net) -> None:
    s = _tcp(net)
    net.try_("listen", s.listen, 4)
    net.try_("name", s.getsockname)
    net.try_("SO_ACCEPTCONN", s.getsockopt, S.SOL_SOCKET, S.SO_ACCEPTCONN)
    net.note_poll("poll", s)
    note_state(net, "state", s)


@scenario
def listen_on_connected_einval(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("listen", cli.listen, 4)
    net.try_("accept on client", cli.accept)


@scenario
def accept_nonblocking_empty(net: Net) -> None:
    srv = listener(net, "b", 0)
    srv.setblocking(False)
    net.try_("accept", srv.accept)
    net.note_poll("poll", srv)


@scenario
def accept_on_unlistened_einval(net: Net) -> None:
    s = _tcp(net, "b")
    s.bind((net.addr("b"), net.port(0)))
    net.try_("accept", s.accept)


@scenario
def listen_backlog_zero_queue(net: Net) -> None:
    srv = listener(net, "b", 0, backlog=0)
    clients = [_tcp(net) for _ in range(3)]
    for i, c in enumerate(clients):
        c.setblocking(False)
        net.try_(f"connect {i}", c.connect, (net.addr("b"), net.port(0)))
        net.settle(5)
    net.settle(20)
    for i, c in enumerate(clients):
        net.note(f"poll {i}", net.poll(c))
    net.note_poll("listener", srv)


@scenario
def listen_backlog_pending_poll_in(net: Net) -> None:
    srv = listener(net, "b", 0)
    c = _tcp(net)
    c.connect((net.addr("b"), net.port(0)))
    net.settle(5)
    net.note_poll("listener", srv)
    conn, peer = srv.accept()
    net.note("peer", peer)
    net.note("conn name", conn.getsockname())
    net.note_poll("listener after accept", srv)


@scenario
def accept_inherits_options(net: Net) -> None:
    def before(srv):
        srv.setsockopt(S.SOL_SOCKET, S.SO_KEEPALIVE, 1)
        srv.setsockopt(S.SOL_SOCKET, S.SO_OOBINLINE, 1)
        srv.setsockopt(S.IPPROTO_TCP, S.TCP_NODELAY, 1)
        srv.setsockopt(S.IPPROTO_TCP, S.TCP_KEEPIDLE, 77)
        srv.setsockopt(S.SOL_SOCKET, S.SO_RCVBUF, 8192)
    srv, cli, conn = tcp_pair(net, before_listen=before)
    for name, level, opt in (("SO_KEEPALIVE", S.SOL_SOCKET, S.SO_KEEPALIVE),
                             ("SO_OOBINLINE", S.SOL_SOCKET, S.SO_OOBINLINE),
                             ("TCP_NODELAY", S.IPPROTO_TCP, S.TCP_NODELAY),
                             ("TCP_KEEPIDLE", S.IPPROTO_TCP, S.TCP_KEEPIDLE),
                             ("SO_RCVBUF", S.SOL_SOCKET, S.SO_RCVBUF)):
        net.try_(name, conn.getsockopt, level, opt)


@scenario
def accepted_socket_identity(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.note("type", conn.type)
    net.note("proto", conn.proto)
    net.note("family", conn.family)
    net.note("name", conn.getsockname())
    net.note("peer", conn.getpeername())
    net.note("cli name", cli.getsockname())


# -- shutdown, close, reset ---------------------------------------------------------------------
@scenario
def shutdown_wr_peer_reads_eof(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"bye")
    cli.shutdown(S.SHUT_WR)
    net.settle(100)
    net.try_("recv", conn.recv, 10)
    net.try_("recv at eof", conn.recv, 10)
    net.note_poll("peer poll", conn)
    net.note_poll("own poll", cli)
    net.try_("send after SHUT_WR", cli.send, b"x")
    net.note_poll("own poll after EPIPE", cli)
    note_state(net, "own state", cli)
    note_state(net, "peer state", conn)


@scenario
def shutdown_rd_semantics(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.shutdown(S.SHUT_RD)
    net.note_poll("poll", cli)
    net.try_("recv", cli.recv, 10)
    conn.sendall(b"late")
    net.settle(5)
    cli.setblocking(False)
    net.try_("recv after data", cli.recv, 10)
    net.try_("send still works", cli.send, b"ok")
    net.settle(5)
    net.try_("peer gets it", conn.recv, 10)


@scenario
def shutdown_rdwr_both_polls(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.shutdown(S.SHUT_RDWR)
    net.settle(5)
    net.note_poll("own", cli)
    net.note_poll("peer", conn)
    net.try_("shutdown again", cli.shutdown, S.SHUT_RDWR)
    net.try_("bad how", cli.shutdown, 7)


@scenario
def peer_close_then_send_epipe(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    conn.close()
    net.settle(5)
    net.note_poll("poll after FIN", cli)
    net.try_("first send", cli.send, b"x")
    net.settle(5)
    net.note_poll("poll after RST", cli)
    net.try_("second send", cli.send, b"y")
    net.try_("SO_ERROR", cli.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    note_state(net, "state", cli)


@scenario
def close_with_unread_data_sends_rst(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"unread")
    net.settle(5)
    conn.close()
    net.settle(5)
    net.note_poll("poll", cli)
    net.try_("recv", cli.recv, 10)
    net.try_("recv again", cli.recv, 10)
    note_state(net, "state", cli)


@scenario
def linger_zero_reset(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.setsockopt(S.SOL_SOCKET, S.SO_LINGER, linger(1, 0))
    cli.close()
    net.settle(5)
    net.note_poll("peer poll", conn)
    net.try_("SO_ERROR", conn.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    net.note_poll("peer poll after SO_ERROR", conn)
    net.try_("recv", conn.recv, 10)
    net.try_("send", conn.send, b"x")


@scenario
def poll_masks_fresh_sockets(net: Net) -> None:
    net.note_poll("tcp", _tcp(net))
    net.note_poll("udp", net.socket("a", S.AF_INET, S.SOCK_DGRAM))
    s = _tcp(net)
    s.bind((net.addr("a"), net.port(0)))
    net.note_poll("tcp bound", s)


@scenario
def poll_established_and_data(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.note_poll("idle", conn)
    cli.sendall(b"abc")
    net.settle(5)
    net.note_poll("with data", conn)


# -- TCP_INFO states -----------------------------------------------------------------------------
@scenario
def tcp_info_states_active_close(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    note_state(net, "new", _tcp(net))
    note_state(net, "listener", srv)
    note_state(net, "established", cli)
    cli.shutdown(S.SHUT_WR)
    net.settle(100)  # past Linux's delayed ACK of a FIN (40 ms minimum)
    note_state(net, "after own FIN", cli)
    note_state(net, "peer after FIN", conn)
    conn.shutdown(S.SHUT_WR)
    net.settle(100)
    note_state(net, "after both FINs", cli)
    note_state(net, "peer after both", conn)


@scenario
def tcp_info_state_syn_sent_and_reset(net: Net) -> None:
    c = _tcp(net)
    c.setblocking(False)
    try:
        c.connect((NOWHERE, net.port(0)))
    except BlockingIOError:
        pass
    note_state(net, "connecting", c)
    srv, cli, conn = tcp_pair(net, 1)
    conn.setsockopt(S.SOL_SOCKET, S.SO_LINGER, linger(1, 0))
    conn.close()
    net.settle(5)
    note_state(net, "after RST", cli)


@scenario
def tcp_info_short_buffer(net: Net) -> None:
    s = _tcp(net)
    net.try_("1 byte", lambda: s.getsockopt(S.IPPROTO_TCP, S.TCP_INFO, 1))
    net.try_("8 bytes len", lambda: len(s.getsockopt(S.IPPROTO_TCP, S.TCP_INFO, 8)))
