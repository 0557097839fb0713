"""Socket option scenarios: SOL_SOCKET, IPPROTO_IP and IPPROTO_TCP get/set round trips,
buffer doubling and clamping, bool options, refusals (issue 12 item 3)."""

from __future__ import annotations

import socket as S
import struct

from tests.sockdiff.api import Net, scenario
from tests.sockdiff.helpers import (
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_RECVERR,
    IP_RECVTTL,
    linger,
    roundtrip,
    tcp_pair,
)

SOL, TCP, IP = S.SOL_SOCKET, S.IPPROTO_TCP, S.IPPROTO_IP


def _tcp(net: Net, side: str = "a"):
    return net.socket(side, S.AF_INET, S.SOCK_STREAM)


def _udp(net: Net, side: str = "a"):
    return net.socket(side, S.AF_INET, S.SOCK_DGRAM)


# -- identity --------------------------------------------------------------------------------
@scenario
def identity_tcp(net: Net) -> None:
    s = _tcp(net)
    net.note("proto property", s.proto)
    net.note("type property", s.type)
    net.try_("SO_TYPE", s.getsockopt, SOL, S.SO_TYPE)
    net.try_("SO_PROTOCOL", s.getsockopt, SOL, S.SO_PROTOCOL)
    net.try_("SO_DOMAIN", s.getsockopt, SOL, S.SO_DOMAIN)
    net.try_("SO_ACCEPTCONN", s.getsockopt, SOL, S.SO_ACCEPTCONN)


@scenario
def identity_tcp_explicit_proto(net: Net) -> None:
    s = net.socket("a", S.AF_INET, S.SOCK_STREAM, S.IPPROTO_TCP)
    net.note("proto property", s.proto)
    net.try_("SO_PROTOCOL", s.getsockopt, SOL, S.SO_PROTOCOL)


@scenario
def identity_udp(net: Net) -> None:
    s = _udp(net)
    net.note("proto property", s.proto)
    net.try_("SO_TYPE", s.getsockopt, SOL, S.SO_TYPE)
    net.try_("SO_PROTOCOL", s.getsockopt, SOL, S.SO_PROTOCOL)


@scenario
def socket_create_refusals(net: Net) -> None:
    net.try_("stream with udp", lambda: net.socket("a", S.AF_INET, S.SOCK_STREAM,
                                                    S.IPPROTO_UDP) and "ok")
    net.try_("dgram with tcp", lambda: net.socket("a", S.AF_INET, S.SOCK_DGRAM,
                                                   S.IPPROTO_TCP) and "ok")
    net.try_("seqpacket", lambda: net.socket("a", S.AF_INET, S.SOCK_SEQPACKET) and "ok")


@scenario
def readonly_options_refused(net: Net) -> None:
    s = _tcp(net)
    for name, opt in (("SO_TYPE", S.SO_TYPE), ("SO_ERROR", S.SO_ERROR),
                      ("SO_PROTOCOL", S.SO_PROTOCOL), ("SO_ACCEPTCONN", S.SO_ACCEPTCONN)):
        net.try_(f"set {name}", s.setsockopt, SOL, opt, 1)


# -- bool options --------------------------------------------------------------------------
@scenario
def bool_options_read_one(net: Net) -> None:
    s = _tcp(net)
    for name, level, opt in (("SO_KEEPALIVE", SOL, S.SO_KEEPALIVE),
                             ("SO_REUSEADDR", SOL, S.SO_REUSEADDR),
                             ("SO_REUSEPORT", SOL, S.SO_REUSEPORT),
                             ("SO_OOBINLINE", SOL, S.SO_OOBINLINE),
                             ("SO_BROADCAST", SOL, S.SO_BROADCAST),
                             ("SO_DONTROUTE", SOL, S.SO_DONTROUTE),
                             ("TCP_NODELAY", TCP, S.TCP_NODELAY),
                             ("TCP_CORK", TCP, S.TCP_CORK)):
        net.try_(f"{name} default", s.getsockopt, level, opt)
        net.try_(f"{name} set 5", s.setsockopt, level, opt, 5)
        net.try_(f"{name} reads", s.getsockopt, level, opt)
        net.try_(f"{name} set 0", s.setsockopt, level, opt, 0)
        net.try_(f"{name} reads 0", s.getsockopt, level, opt)


@scenario
def bool_options_udp(net: Net) -> None:
    s = _udp(net)
    for name, opt in (("SO_BROADCAST", S.SO_BROADCAST), ("SO_REUSEADDR", S.SO_REUSEADDR),
                      ("SO_KEEPALIVE", S.SO_KEEPALIVE)):
        net.try_(f"{name} set -3", s.setsockopt, SOL, opt, -3)
        net.try_(f"{name} reads", s.getsockopt, SOL, opt)


# -- buffers -------------------------------------------------------------------------------
@scenario
def sndbuf_rcvbuf_defaults(net: Net) -> None:
    t, u = _tcp(net), _udp(net)
    net.try_("tcp SO_SNDBUF", t.getsockopt, SOL, S.SO_SNDBUF)
    net.try_("tcp SO_RCVBUF", t.getsockopt, SOL, S.SO_RCVBUF)
    net.try_("udp SO_SNDBUF", u.getsockopt, SOL, S.SO_SNDBUF)
    net.try_("udp SO_RCVBUF", u.getsockopt, SOL, S.SO_RCVBUF)


@scenario
def sndbuf_doubling_and_clamping(net: Net) -> None:
    s = _tcp(net)
    roundtrip(net, s, SOL, S.SO_SNDBUF, [4096, 0, 1, 1 << 30, -1, -4096], "SO_SNDBUF")


@scenario
def rcvbuf_doubling_and_clamping(net: Net) -> None:
    s = _tcp(net)
    roundtrip(net, s, SOL, S.SO_RCVBUF, [4096, 0, 1, 1 << 30, -1, -4096], "SO_RCVBUF")


@scenario
def udp_buffers_doubling(net: Net) -> None:
    s = _udp(net)
    roundtrip(net, s, SOL, S.SO_RCVBUF, [3000, 100000], "SO_RCVBUF")
    roundtrip(net, s, SOL, S.SO_SNDBUF, [3000, 100000], "SO_SNDBUF")


@scenario
def sndlowat_refused(net: Net) -> None:
    s = _tcp(net)
    net.try_("get", s.getsockopt, SOL, S.SO_SNDLOWAT)
    net.try_("set", s.setsockopt, SOL, S.SO_SNDLOWAT, 100)
    net.try_("get after", s.getsockopt, SOL, S.SO_SNDLOWAT)


@scenario
def rcvlowat_values(net: Net) -> None:
    s = _tcp(net)
    roundtrip(net, s, SOL, S.SO_RCVLOWAT, [0, 100, -1], "SO_RCVLOWAT")
    u = _udp(net)
    roundtrip(net, u, SOL, S.SO_RCVLOWAT, [10], "udp SO_RCVLOWAT")


@scenario
def rcvlowat_poll(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    conn.setsockopt(SOL, S.SO_RCVLOWAT, 10)
    cli.sendall(b"12345")
    net.settle(5)
    net.note_poll("5 of 10", conn)
    cli.sendall(b"67890")
    net.settle(5)
    net.note_poll("10 of 10", conn)
    net.try_("recv", conn.recv, 100)


@scenario
def linger_roundtrip(net: Net) -> None:
    s = _tcp(net)
    net.try_("default", s.getsockopt, SOL, S.SO_LINGER, 8)
    net.try_("set", s.setsockopt, SOL, S.SO_LINGER, linger(1, 7))
    net.try_("get", s.getsockopt, SOL, S.SO_LINGER, 8)
    net.try_("get as int", s.getsockopt, SOL, S.SO_LINGER)
    net.try_("set short", s.setsockopt, SOL, S.SO_LINGER, b"\1\0\0\0")


@scenario
def so_priority_roundtrip(net: Net) -> None:
    s = _tcp(net)
    roundtrip(net, s, SOL, S.SO_PRIORITY, [6, 0], "SO_PRIORITY")


@scenario
def so_rcvtimeo_sndtimeo(net: Net) -> None:
    s = _tcp(net)
    tv = struct.pack("ll", 1, 500000)
    net.try_("set SO_RCVTIMEO", s.setsockopt, SOL, S.SO_RCVTIMEO, tv)
    net.try_("get SO_RCVTIMEO", s.getsockopt, SOL, S.SO_RCVTIMEO, 16)
    net.try_("set SO_SNDTIMEO", s.setsockopt, SOL, S.SO_SNDTIMEO, tv)
    net.try_("get SO_SNDTIMEO", s.getsockopt, SOL, S.SO_SNDTIMEO, 16)


# -- lengths and unknown numbers ----------------------------------------------------------------
@scenario
def invalid_option_lengths(net: Net) -> None:
    s = _tcp(net)
    net.try_("SO_KEEPALIVE 1 byte", s.setsockopt, SOL, S.SO_KEEPALIVE, b"\1")
    net.try_("SO_RCVBUF 2 bytes", s.setsockopt, SOL, S.SO_RCVBUF, b"\0\x10")
    net.try_("TCP_NODELAY 2 bytes", s.setsockopt, TCP, S.TCP_NODELAY, b"\1\0")
    net.try_("IP_TTL 1 byte", s.setsockopt, IP, S.IP_TTL, b"\x21")
    net.try_("IP_TTL after", s.getsockopt, IP, S.IP_TTL)
    net.try_("IP_TOS 1 byte", s.setsockopt, IP, S.IP_TOS, b"\x20")
    net.try_("IP_TOS after", s.getsockopt, IP, S.IP_TOS)
    net.try_("SO_KEEPALIVE 8 bytes", s.setsockopt, SOL, S.SO_KEEPALIVE, b"\1" + b"\0" * 7)


@scenario
def getsockopt_buffer_lengths(net: Net) -> None:
    s = _tcp(net)
    s.setsockopt(TCP, S.TCP_CONGESTION, b"cubic")  # the machine's default may be another
    net.try_("SO_KEEPALIVE buflen 2", s.getsockopt, SOL, S.SO_KEEPALIVE, 2)
    net.try_("SO_KEEPALIVE buflen 8", s.getsockopt, SOL, S.SO_KEEPALIVE, 8)
    net.try_("TCP_NODELAY buflen 1", s.getsockopt, TCP, S.TCP_NODELAY, 1)
    net.try_("IP_TTL buflen 1", s.getsockopt, IP, S.IP_TTL, 1)
    net.try_("TCP_CONGESTION buflen 4", s.getsockopt, TCP, S.TCP_CONGESTION, 4)


@scenario
def getsockopt_buflen_zero_is_int(net: Net) -> None:
    s = _tcp(net)
    net.try_("SO_RCVBUF buflen 0", s.getsockopt, SOL, S.SO_RCVBUF, 0)
    net.try_("TCP_NODELAY buflen 0", s.getsockopt, TCP, S.TCP_NODELAY, 0)


@scenario
def unknown_option_numbers(net: Net) -> None:
    t, u = _tcp(net), _udp(net)
    for label, s in (("tcp", t), ("udp", u)):
        net.try_(f"{label} set SOL_SOCKET 999", s.setsockopt, SOL, 999, 1)
        net.try_(f"{label} get SOL_SOCKET 999", s.getsockopt, SOL, 999)
        net.try_(f"{label} set IP 999", s.setsockopt, IP, 999, 1)
        net.try_(f"{label} get IP 999", s.getsockopt, IP, 999)
        net.try_(f"{label} set level 999", s.setsockopt, 999, 1, 1)
        net.try_(f"{label} get level 999", s.getsockopt, 999, 1)
    net.try_("tcp set TCP 999", t.setsockopt, TCP, 999, 1)
    net.try_("tcp get TCP 999", t.getsockopt, TCP, 999)
    net.try_("udp set TCP_NODELAY", u.setsockopt, TCP, S.TCP_NODELAY, 1)


# -- IP level ----------------------------------------------------------------------------------
@scenario
def ip_ttl_tcp(net: Net) -> None:
    roundtrip(net, _tcp(net), IP, S.IP_TTL, [1, 255, -1, 0, 256], "IP_TTL")


@scenario
def ip_ttl_udp(net: Net) -> None:
    roundtrip(net, _udp(net), IP, S.IP_TTL, [17, -1, 300], "IP_TTL")


@scenario
def ip_tos_tcp(net: Net) -> None:
    roundtrip(net, _tcp(net), IP, S.IP_TOS, [0x10, 0x13, 0x103, -1], "IP_TOS")


@scenario
def ip_tos_udp(net: Net) -> None:
    roundtrip(net, _udp(net), IP, S.IP_TOS, [0x10, 0x13, 0x103], "IP_TOS")


@scenario
def ip_ttl_on_the_wire(net: Net) -> None:
    rx = net.socket("b", S.AF_INET, S.SOCK_DGRAM)
    rx.bind((net.addr("b"), net.port(0)))
    rx.setsockopt(IP, IP_RECVTTL, 1)
    tx = _udp(net)
    tx.setsockopt(IP, S.IP_TTL, 33)
    tx.sendto(b"t", (net.addr("b"), net.port(0)))
    net.settle(5)
    net.try_("recvmsg", lambda: [(lv, ty, bytes(d)) for lv, ty, d in rx.recvmsg(10, 64)[1]])


@scenario
def ip_mtu_discover_and_mtu(net: Net) -> None:
    s = _tcp(net)
    net.try_("IP_MTU_DISCOVER default", s.getsockopt, IP, IP_MTU_DISCOVER)
    net.try_("IP_MTU unconnected", s.getsockopt, IP, IP_MTU)
    srv, cli, conn = tcp_pair(net)
    net.try_("IP_MTU connected", cli.getsockopt, IP, IP_MTU)
    u = _udp(net)
    net.try_("udp IP_MTU_DISCOVER default", u.getsockopt, IP, IP_MTU_DISCOVER)
    net.try_("set 5", u.setsockopt, IP, IP_MTU_DISCOVER, 5)
    net.try_("set 2", u.setsockopt, IP, IP_MTU_DISCOVER, 2)
    net.try_("get", u.getsockopt, IP, IP_MTU_DISCOVER)


@scenario
def ip_multicast_defaults(net: Net) -> None:
    u = _udp(net)
    net.try_("IP_MULTICAST_TTL", u.getsockopt, IP, S.IP_MULTICAST_TTL)
    net.try_("IP_MULTICAST_LOOP", u.getsockopt, IP, S.IP_MULTICAST_LOOP)


@scenario
def ip_recverr_roundtrip(net: Net) -> None:
    u = _udp(net)
    roundtrip(net, u, IP, IP_RECVERR, [1, 0], "IP_RECVERR")


# -- TCP level --------------------------------------------------------------------------------
@scenario
def tcp_nodelay_cork_roundtrip(net: Net) -> None:
    s = _tcp(net)
    roundtrip(net, s, TCP, S.TCP_NODELAY, [1, 0], "TCP_NODELAY")
    roundtrip(net, s, TCP, S.TCP_CORK, [1, 0], "TCP_CORK")


@scenario
def tcp_quickack_roundtrip(net: Net) -> None:
    srv, cli, conn = tcp_pair(net)
    roundtrip(net, cli, TCP, S.TCP_QUICKACK, [0, 1], "TCP_QUICKACK")


@scenario
def tcp_user_timeout_roundtrip(net: Net) -> None:
    roundtrip(net, _tcp(net), TCP, S.TCP_USER_TIMEOUT, [5000, 0, -1], "TCP_USER_TIMEOUT")


@scenario
def tcp_linger2_roundtrip(net: Net) -> None:
    roundtrip(net, _tcp(net), TCP, S.TCP_LINGER2, [30, -1, 0, 500], "TCP_LINGER2")


@scenario
def tcp_window_clamp_roundtrip(net: Net) -> None:
    roundtrip(net, _tcp(net), TCP, S.TCP_WINDOW_CLAMP, [100, 50000, 0, -5],
              "TCP_WINDOW_CLAMP")
    srv, cli, conn = tcp_pair(net)
    net.try_("connected set 0", cli.setsockopt, TCP, S.TCP_WINDOW_CLAMP, 0)


@scenario
def tcp_notsent_lowat_roundtrip(net: Net) -> None:
    roundtrip(net, _tcp(net), TCP, S.TCP_NOTSENT_LOWAT, [1000, 0, -1], "TCP_NOTSENT_LOWAT")


@scenario
def tcp_keepalive_knobs(net: Net) -> None:
    s = _tcp(net)
    roundtrip(net, s, TCP, S.TCP_KEEPIDLE, [10, 0, 40000], "TCP_KEEPIDLE")
    roundtrip(net, s, TCP, S.TCP_KEEPINTVL, [3, 0], "TCP_KEEPINTVL")
    roundtrip(net, s, TCP, S.TCP_KEEPCNT, [4, 0, 200], "TCP_KEEPCNT")


@scenario
def tcp_syncnt_roundtrip(net: Net) -> None:
    roundtrip(net, _tcp(net), TCP, S.TCP_SYNCNT, [3, 0, 127, 128], "TCP_SYNCNT")


@scenario
def tcp_maxseg(net: Net) -> None:
    s = _tcp(net)
    net.try_("unconnected", s.getsockopt, TCP, S.TCP_MAXSEG)
    net.try_("set 1000", s.setsockopt, TCP, S.TCP_MAXSEG, 1000)
    net.try_("get", s.getsockopt, TCP, S.TCP_MAXSEG)
    net.try_("set 10", s.setsockopt, TCP, S.TCP_MAXSEG, 10)
    srv, cli, conn = tcp_pair(net)
    net.try_("connected", cli.getsockopt, TCP, S.TCP_MAXSEG)


@scenario
def tcp_congestion_names(net: Net) -> None:
    s = _tcp(net)
    net.try_("set cubic", s.setsockopt, TCP, S.TCP_CONGESTION, b"cubic")
    net.try_("get cubic", lambda: s.getsockopt(TCP, S.TCP_CONGESTION, 16).rstrip(b"\0"))
    net.try_("set reno", s.setsockopt, TCP, S.TCP_CONGESTION, b"reno")
    net.try_("get", lambda: s.getsockopt(TCP, S.TCP_CONGESTION, 16).rstrip(b"\0"))
    net.try_("set bogus", s.setsockopt, TCP, S.TCP_CONGESTION, b"bogus")


@scenario
def tcp_defer_accept_and_fastopen(net: Net) -> None:
    s = _tcp(net, "b")
    roundtrip(net, s, TCP, S.TCP_DEFER_ACCEPT, [5, 0], "TCP_DEFER_ACCEPT")
    roundtrip(net, s, TCP, S.TCP_FASTOPEN, [5], "TCP_FASTOPEN")
