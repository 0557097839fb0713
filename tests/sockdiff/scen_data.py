"""Data path scenarios: recv flags on TCP and UDP, UDP autobind and errors, TCP urgent data,
the IP_RECVERR error queue, raw and ping sockets (issue 12 items 2, 4, 5)."""

from __future__ import annotations

import socket as S
import struct

from tests.sockdiff.api import Net, scenario
from tests.sockdiff.helpers import IP_RECVERR, icmp_echo, tcp_pair, udp_pair


def _udp(net: Net, side: str = "a"):
    return net.socket(side, S.AF_INET, S.SOCK_DGRAM)


# -- TCP recv flags ---------------------------------------------------------------------------
@scenario
def tcp_msg_peek(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"abc")
    net.settle(2)
    cli.sendall(b"def")
    net.settle(5)
    net.try_("peek 4", conn.recv, 4, S.MSG_PEEK)
    net.try_("peek 10", conn.recv, 10, S.MSG_PEEK)
    net.try_("recv 10", conn.recv, 10)


@scenario
def tcp_msg_waitall_until_eof(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"0123456789")
    cli.shutdown(S.SHUT_WR)
    net.settle(5)
    net.try_("waitall 4", conn.recv, 4, S.MSG_WAITALL)
    net.try_("waitall 100 at eof", conn.recv, 100, S.MSG_WAITALL)
    net.try_("after", conn.recv, 100)


@scenario
def tcp_msg_waitall_nonblocking_partial(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"abc")
    net.settle(5)
    conn.setblocking(False)
    net.try_("waitall 10 nonblocking", conn.recv, 10, S.MSG_WAITALL)
    net.try_("again", conn.recv, 10, S.MSG_WAITALL)


@scenario
def tcp_msg_trunc_discards(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"0123456789")
    net.settle(5)
    buf = bytearray(b"-" * 8)
    net.try_("recv_into trunc 4", conn.recv_into, buf, 4, S.MSG_TRUNC)
    net.note("buffer untouched", bytes(buf))
    net.try_("rest", conn.recv, 100)


@scenario
def tcp_msg_dontwait_empty(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("dontwait", conn.recv, 10, S.MSG_DONTWAIT)
    net.try_("peek dontwait", conn.recv, 10, S.MSG_PEEK | S.MSG_DONTWAIT)


@scenario
def tcp_recv_zero(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("recv(0) empty", conn.recv, 0)
    cli.sendall(b"x")
    net.settle(5)
    net.try_("recv(0) with data", conn.recv, 0)
    net.try_("recv", conn.recv, 10)
    net.try_("recv_into empty buffer", conn.recv_into, bytearray(0))


@scenario
def tcp_recv_into_readonly(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("readonly", conn.recv_into, b"abc")
    net.try_("negative", conn.recv, -1)


@scenario
def tcp_recvfrom_address_none(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    cli.sendall(b"hi")
    net.settle(5)
    net.try_("recvfrom", conn.recvfrom, 10)


@scenario
def tcp_send_flags(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("MSG_DONTWAIT", cli.send, b"a", S.MSG_DONTWAIT)
    net.try_("MSG_NOSIGNAL", cli.send, b"b", S.MSG_NOSIGNAL)
    net.try_("MSG_MORE", cli.send, b"c", S.MSG_MORE)
    net.try_("MSG_EOR", cli.send, b"d", S.MSG_EOR)
    net.try_("MSG_CONFIRM", cli.send, b"e", S.MSG_CONFIRM)
    net.settle(300)
    net.try_("peer", conn.recv, 100)


@scenario
def tcp_sendto_on_connected(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("sendto elsewhere", cli.sendto, b"x", (net.addr("b"), net.port(5)))
    net.settle(5)
    net.try_("peer", conn.recv, 10)


# -- TCP urgent data (issue 12 item 2) ----------------------------------------------------------
@scenario
def tcp_oob_send_and_recv(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("send oob", cli.send, b"abc!", S.MSG_OOB)
    net.settle(5)
    net.note_poll("poll", conn)
    net.try_("recv oob", conn.recv, 1, S.MSG_OOB | S.MSG_DONTWAIT)
    net.try_("recv oob again", conn.recv, 1, S.MSG_OOB | S.MSG_DONTWAIT)
    net.try_("inline", conn.recv, 10, S.MSG_DONTWAIT)


@scenario
def tcp_oob_none_pending(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("recv oob, none", conn.recv, 1, S.MSG_OOB | S.MSG_DONTWAIT)
    cli.sendall(b"plain")
    net.settle(5)
    net.try_("recv oob after plain", conn.recv, 1, S.MSG_OOB | S.MSG_DONTWAIT)


@scenario
def tcp_oob_inline(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    conn.setsockopt(S.SOL_SOCKET, S.SO_OOBINLINE, 1)
    cli.send(b"xy!", S.MSG_OOB)
    net.settle(5)
    net.try_("recv oob inline", conn.recv, 1, S.MSG_OOB | S.MSG_DONTWAIT)
    net.try_("recv", conn.recv, 10, S.MSG_DONTWAIT)


@scenario
def tcp_sockatmark(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    net.try_("at mark, nothing", net.sockatmark, conn)
    cli.sendall(b"12")
    cli.send(b"3", S.MSG_OOB)
    cli.sendall(b"45")
    net.settle(5)
    net.try_("before", net.sockatmark, conn)
    net.try_("recv", conn.recv, 10, S.MSG_DONTWAIT)
    net.try_("after first read", net.sockatmark, conn)
    net.try_("oob", conn.recv, 1, S.MSG_OOB | S.MSG_DONTWAIT)
    net.try_("rest", conn.recv, 10, S.MSG_DONTWAIT)


@scenario
def tcp_sockatmark_inline(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    conn.setsockopt(S.SOL_SOCKET, S.SO_OOBINLINE, 1)
    cli.sendall(b"ab")
    cli.send(b"U", S.MSG_OOB)
    net.settle(5)
    net.try_("recv up to mark", conn.recv, 10, S.MSG_DONTWAIT)
    net.try_("at mark", net.sockatmark, conn)
    net.try_("recv mark", conn.recv, 10, S.MSG_DONTWAIT)
    net.try_("past mark", net.sockatmark, conn)


# -- UDP -------------------------------------------------------------------------------------
@scenario
def udp_autobind_on_send(net: Net) -> None:
    rx, _ = udp_pair(net)
    s = _udp(net)
    net.try_("name before", s.getsockname)
    s.sendto(b"x", (net.addr("b"), net.port(0)))
    net.try_("name after", s.getsockname)
    net.settle(5)
    net.try_("peer sees", rx.recvfrom, 10)


@scenario
def udp_msg_oob_refused(net: Net) -> None:
    rx, tx = udp_pair(net)
    net.try_("sendto oob", tx.sendto, b"x", S.MSG_OOB, (net.addr("b"), net.port(0)))
    rx.setblocking(False)
    net.try_("recv oob", rx.recv, 10, S.MSG_OOB)


@scenario
def udp_msg_peek_and_trunc(net: Net) -> None:
    rx, tx = udp_pair(net)
    tx.sendto(b"hello world", (net.addr("b"), net.port(0)))
    tx.sendto(b"second", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("peek 5", rx.recv, 5, S.MSG_PEEK)
    net.try_("trunc 5", rx.recv, 5, S.MSG_TRUNC)
    net.try_("next", rx.recvfrom, 100)
    rx.setblocking(False)
    net.try_("empty", rx.recv, 100)


@scenario
def udp_truncated_datagram_rest_discarded(net: Net) -> None:
    rx, tx = udp_pair(net)
    tx.sendto(b"abcdef", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("recv 2", rx.recv, 2)
    net.try_("next", rx.recv, 10, S.MSG_DONTWAIT)


@scenario
def udp_waitall_and_zero_length(net: Net) -> None:
    rx, tx = udp_pair(net)
    tx.sendto(b"", (net.addr("b"), net.port(0)))
    tx.sendto(b"abc", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("empty datagram", rx.recvfrom, 10)
    net.try_("waitall 10", rx.recv, 10, S.MSG_WAITALL)
    net.try_("recv(0) empty queue", rx.recv, 0, S.MSG_DONTWAIT)


@scenario
def udp_recv_zero_consumes(net: Net) -> None:
    rx, tx = udp_pair(net)
    tx.sendto(b"abc", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("recv(0)", rx.recv, 0)
    net.try_("then", rx.recv, 10, S.MSG_DONTWAIT)


@scenario
def udp_connected_refused(net: Net) -> None:
    s = _udp(net)
    s.connect((net.addr("b"), net.port(0)))
    net.try_("peer", s.getpeername)
    net.try_("send", s.send, b"x")
    net.settle(5)
    net.note_poll("poll", s)
    net.try_("recv", s.recv, 10, S.MSG_DONTWAIT)
    net.try_("recv again", s.recv, 10, S.MSG_DONTWAIT)


@scenario
def udp_unconnected_no_error(net: Net) -> None:
    s = _udp(net)
    s.bind((net.addr("a"), net.port(1)))
    net.try_("sendto closed", s.sendto, b"x", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.note_poll("poll", s)
    net.try_("SO_ERROR", s.getsockopt, S.SOL_SOCKET, S.SO_ERROR)
    net.try_("recv", s.recv, 10, S.MSG_DONTWAIT)


@scenario
def udp_send_unconnected_edges(net: Net) -> None:
    s = _udp(net)
    net.try_("send without peer", s.send, b"x")
    net.try_("too big", s.sendto, b"x" * 70000, (net.addr("b"), net.port(0)))
    net.try_("max payload", s.sendto, b"x" * 65507, (net.addr("b"), net.port(0)))
    net.try_("one over", s.sendto, b"x" * 65508, (net.addr("b"), net.port(0)))
    net.try_("port 0", s.sendto, b"x", (net.addr("b"), 0))
    net.try_("shutdown unconnected", s.shutdown, S.SHUT_RDWR)


@scenario
def udp_broadcast_needs_so_broadcast(net: Net) -> None:
    s = _udp(net)
    net.try_("without", s.sendto, b"x", ("10.0.0.255", net.port(0)))
    s.setsockopt(S.SOL_SOCKET, S.SO_BROADCAST, 1)
    net.try_("with", s.sendto, b"x", ("10.0.0.255", net.port(0)))


@scenario
def udp_listen_accept_refused(net: Net) -> None:
    s = _udp(net)
    net.try_("listen", s.listen, 1)
    net.try_("accept", s.accept)


@scenario
def udp_bind_conflicts(net: Net) -> None:
    one, two = _udp(net), _udp(net)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))
    three, four = _udp(net), _udp(net)
    for s in (three, four):
        s.setsockopt(S.SOL_SOCKET, S.SO_REUSEADDR, 1)
    net.try_("three reuseaddr", three.bind, (net.addr("a"), net.port(1)))
    net.try_("four reuseaddr", four.bind, (net.addr("a"), net.port(1)))


@scenario
def udp_reuseport_both(net: Net) -> None:
    one, two = _udp(net), _udp(net)
    for s in (one, two):
        s.setsockopt(S.SOL_SOCKET, S.SO_REUSEPORT, 1)
    net.try_("one", one.bind, (net.addr("a"), net.port(0)))
    net.try_("two", two.bind, (net.addr("a"), net.port(0)))


@scenario
def udp_poll_masks(net: Net) -> None:
    rx, tx = udp_pair(net)
    net.note_poll("empty", rx)
    tx.sendto(b"x", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.note_poll("with datagram", rx)
    net.try_("SHUT_RD unconnected", rx.shutdown, S.SHUT_RD)
    rx.connect((net.addr("a"), net.port(1)))
    net.try_("SHUT_RD connected", rx.shutdown, S.SHUT_RD)
    net.note_poll("after SHUT_RD", rx)


@scenario
def udp_connect_then_sendto_other(net: Net) -> None:
    rx, tx = udp_pair(net)
    other = net.socket("b", S.AF_INET, S.SOCK_DGRAM)
    other.bind((net.addr("b"), net.port(2)))
    tx.connect((net.addr("b"), net.port(0)))
    net.try_("sendto other", tx.sendto, b"o", (net.addr("b"), net.port(2)))
    net.try_("send", tx.send, b"c")
    net.settle(5)
    net.try_("other got", other.recvfrom, 10)
    net.try_("rx got", rx.recvfrom, 10)
    other.sendto(b"from other", (net.addr("a"), net.port(1)))
    net.settle(5)
    net.try_("connected filters", tx.recv, 20, S.MSG_DONTWAIT)


# -- IP_RECVERR / MSG_ERRQUEUE (issue 12 item 4) -------------------------------------------------
def _errqueue(net: Net, s, label: str) -> None:
    def read():
        data, anc, flags, addr = s.recvmsg(100, 256, S.MSG_ERRQUEUE)
        out = [data, flags & ~0x2000, addr]
        for level, typ, blob in anc:
            # struct sock_extended_err: errno, origin, type, code, pad, info, data
            ee_errno, origin, etype, code = struct.unpack_from("IBBB", blob)
            out.append((level, typ, ee_errno, origin, etype, code))
        return tuple(out)
    net.try_(label, read)


@scenario
def udp_recverr_errqueue(net: Net) -> None:
    s = _udp(net)
    s.bind((net.addr("a"), net.port(1)))
    s.setsockopt(S.IPPROTO_IP, IP_RECVERR, 1)
    s.sendto(b"probe", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.note_poll("poll", s)
    _errqueue(net, s, "errqueue")
    net.try_("errqueue empty", s.recvmsg, 100, 256, S.MSG_ERRQUEUE)
    net.try_("SO_ERROR", s.getsockopt, S.SOL_SOCKET, S.SO_ERROR)


@scenario
def udp_recverr_off_errqueue_empty(net: Net) -> None:
    s = _udp(net)
    s.bind((net.addr("a"), net.port(1)))
    s.sendto(b"probe", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("errqueue", s.recvmsg, 100, 256, S.MSG_ERRQUEUE)


@scenario
def udp_recvmsg_sendmsg_plain(net: Net) -> None:
    rx, tx = udp_pair(net)
    net.try_("sendmsg", tx.sendmsg, [b"ab", b"cd"], [], 0, (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("recvmsg", rx.recvmsg, 10)


# -- raw and ping sockets (issue 12 item 5) -----------------------------------------------------
def _allow_ping(net: Net) -> None:
    for side in ("a", "b"):
        net.try_(f"ping_group_range {side}", net.sysctl, side,
                 "net.ipv4.ping_group_range", "0 2147483647")


@scenario
def ping_socket_echo(net: Net) -> None:
    _allow_ping(net)
    s = net.try_("socket", net.socket, "a", S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_ICMP)
    if s is None:
        return
    net.note("proto", s.proto)
    net.try_("sendto", s.sendto, icmp_echo(0, 1, b"ping!"), (net.addr("b"), 0))
    net.settle(5)

    def reply():
        data, addr = s.recvfrom(100, S.MSG_DONTWAIT)
        return data[0], data[1], data[6:8], data[8:], addr
    net.try_("reply", reply)

    def name():
        # ping_get_port picks the identifier after one rover, a static u16 of net/ipv4/ping.c
        # that every namespace shares and that starts at 0 at boot: Linux's value here is this
        # machine's ping history (ixsim's fresh kernel gives 1, as a freshly booted Linux
        # does), so compare only that one was chosen.
        addr, ident = s.getsockname()
        return addr, "rover" if ident else 0
    net.try_("name", name)


@scenario
def ping_socket_refusals(net: Net) -> None:
    _allow_ping(net)
    s = net.try_("socket", net.socket, "a", S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_ICMP)
    if s is None:
        return
    net.try_("not an echo request", s.sendto, b"\x00\x00\x00\x00\x00\x00\x00\x01",
             (net.addr("b"), 0))
    net.try_("too short", s.sendto, b"\x08\x00", (net.addr("b"), 0))
    net.try_("listen", s.listen, 1)


@scenario
def ping_socket_not_permitted_by_default(net: Net) -> None:
    for side in ("a",):
        net.try_("ping_group_range off", net.sysctl, side, "net.ipv4.ping_group_range", "1 0")
    net.try_("socket", lambda: net.socket("a", S.AF_INET, S.SOCK_DGRAM, S.IPPROTO_ICMP)
             and "ok")


@scenario
def raw_icmp_echo(net: Net) -> None:
    s = net.try_("socket", net.socket, "a", S.AF_INET, S.SOCK_RAW, S.IPPROTO_ICMP)
    if s is None:
        return
    net.note("proto", s.proto)
    net.try_("sendto", s.sendto, icmp_echo(0x1234, 7, b"raw!"), (net.addr("b"), 0))
    net.settle(5)

    def reply():
        data, addr = s.recvfrom(200, S.MSG_DONTWAIT)
        ihl = (data[0] & 0xF) * 4
        return data[9], data[12:16], data[ihl], data[ihl + 4:ihl + 8], data[ihl + 8:], addr
    net.try_("reply", reply)


@scenario
def raw_socket_options(net: Net) -> None:
    s = net.try_("socket", net.socket, "a", S.AF_INET, S.SOCK_RAW, S.IPPROTO_UDP)
    if s is None:
        return
    net.try_("IP_HDRINCL default", s.getsockopt, S.IPPROTO_IP, S.IP_HDRINCL)
    net.try_("SO_PROTOCOL", s.getsockopt, S.SOL_SOCKET, S.SO_PROTOCOL)
    net.try_("raw ipproto_raw", lambda: net.socket("a", S.AF_INET, S.SOCK_RAW, S.IPPROTO_RAW)
             .getsockopt(S.IPPROTO_IP, S.IP_HDRINCL))
    net.try_("raw proto 0", lambda: net.socket("a", S.AF_INET, S.SOCK_RAW, 0) and "ok")


@scenario
def raw_udp_sees_datagram(net: Net) -> None:
    raw = net.try_("socket", net.socket, "b", S.AF_INET, S.SOCK_RAW, S.IPPROTO_UDP)
    if raw is None:
        return
    rx, tx = udp_pair(net)
    tx.sendto(b"seen", (net.addr("b"), net.port(0)))
    net.settle(5)

    def read():
        data = raw.recv(200, S.MSG_DONTWAIT)
        ihl = (data[0] & 0xF) * 4
        return data[9], struct.unpack_from("!HH", data, ihl), data[ihl + 8:]
    net.try_("raw copy", read)
    net.try_("udp still delivers", rx.recv, 10, S.MSG_DONTWAIT)
