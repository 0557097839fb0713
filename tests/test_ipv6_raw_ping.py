"""Raw IPv6 sockets and ICMPv6 ping sockets between two emulated hosts on the ixgb NIC (issue 15,
item 4: ``net/ipv6/raw.c``, ``net/ipv6/ping.c``).

Each test asserts what the peer, its counters or the sockets show: payloads without the IPv6
header, checksums the kernel wrote (verified by the receiving stack), ICMPV6_FILTER verdicts,
errors with their origin and sender, ping(8)'s statistics.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ixsim import World
from ixsim.apps.ping6 import icmp6_filter_pass
from stack.uapi import (
    ICMPV6_FILTER,
    IPV6_CHECKSUM,
    IPV6_HDRINCL,
    IPV6_HOPLIMIT,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    IPV6_UNICAST_HOPS,
    MSG_ERRQUEUE,
    SO_EE_ORIGIN_ICMP6,
    SOL_ICMPV6,
    SOL_IPV6,
    SOL_RAW,
)
from stack.wire.checksum import l4_checksum6, verify_l4_6
from stack.wire.ipv6 import ipv6_bytes

A6, B6, R6 = "fd00::1", "fd00::2", "fd00::fe"
PROTO_EXP = 253  # RFC 3692 experimentation: no handler on either host
EE = struct.Struct("=IBBBBII")


@pytest.fixture
def world():
    with World(seed=5) as w:
        a = w.host("a", "10.0.0.1/24", f"{A6}/64")
        b = w.host("b", "10.0.0.2/24", f"{B6}/64")
        w.cable(a.eth0, b.eth0)
        w.run_for("3s")
        yield w, a, b


def _drain(sock) -> list[tuple[bytes, tuple, list]]:
    out = []
    while True:
        try:
            data, cmsgs, _flags, addr = sock.recvmsg(65536, 1024)
        except BlockingIOError:
            return out
        out.append((data, addr, cmsgs))


def echo(ident: int, seq: int, data: bytes = b"") -> bytes:
    return struct.pack("!BBHHH", 128, 0, 0, ident, seq) + data


def test_raw_icmpv6_kernel_checksum_filter_and_payload(world):
    w, a, b = world
    ra = a.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    ra.setblocking(False)
    ra.setsockopt(SOL_IPV6, IPV6_RECVHOPLIMIT, 1)
    assert ra.getsockopt(SOL_IPV6, IPV6_CHECKSUM) == 2  # rawv6_init_sk
    # the user leaves the checksum 0: the kernel writes it, B answers (it verified it)
    ra.sendto(echo(0x1234, 1, b"hello"), (B6, 0))
    w.run_for("10ms")
    got = _drain(ra)
    replies = [g for g in got if g[0][0] == 129]
    assert len(replies) == 1
    data, addr, cmsgs = replies[0]
    assert data[4:] == struct.pack("!HH", 0x1234, 1) + b"hello"  # no IPv6 header
    assert addr == (B6, 0, 0, 0)
    assert cmsgs == [(SOL_IPV6, IPV6_HOPLIMIT, struct.pack("=i", 64))]
    assert verify_l4_6(ipv6_bytes(B6), ipv6_bytes(A6), 58, data)
    assert b.net.mib.icmp6["Icmp6InEchos"] == 1 and b.net.mib.icmp6["Icmp6InCsumErrors"] == 0
    assert a.net.mib.icmp6["Icmp6OutEchos"] == 1  # counted as the kernel's own
    # ICMPV6_FILTER: only echo replies pass; ND the ping caused is blocked
    ra.setsockopt(SOL_ICMPV6, ICMPV6_FILTER, icmp6_filter_pass(129))
    assert ra.getsockopt(SOL_ICMPV6, ICMPV6_FILTER, 32) == icmp6_filter_pass(129)
    ra.sendto(echo(0x1234, 2), (B6, 0))
    w.run_for("10s")  # NUD probes (NS/NA) happen meanwhile
    assert [g[0][0] for g in _drain(ra)] == [129]
    assert (
        b.net.mib.icmp6["Icmp6OutNeighborSolicits"] + a.net.mib.icmp6["Icmp6OutNeighborSolicits"]
        > 0
    )


def test_raw_socket_of_an_unhandled_protocol(world):
    w, a, b = world
    rb = b.socket(socket.AF_INET6, socket.SOCK_RAW, PROTO_EXP)
    rb.setblocking(False)
    ra = a.socket(socket.AF_INET6, socket.SOCK_RAW, PROTO_EXP)
    assert ra.getsockopt(SOL_RAW, IPV6_CHECKSUM) == -1
    ra.sendto(b"payload!", (B6, 0))
    ra.sendto(b"also", (B6, PROTO_EXP))  # the port is the protocol
    with pytest.raises(OSError) as exc:
        ra.sendto(b"x", (B6, 17))
    assert exc.value.errno == errno.EINVAL
    w.run_for("10ms")
    assert [(d, a_) for d, a_, _ in _drain(rb)] == [
        (b"payload!", (A6, 0, 0, 0)),
        (b"also", (A6, 0, 0, 0)),
    ]
    # a raw socket took them: no parameter problem (ip6_input_finish)
    assert b.net.mib.ip6["Ip6InUnknownProtos"] == 0 and b.net.mib.icmp6["Icmp6OutParmProblems"] == 0
    rb.close()
    ra.sendto(b"nobody", (B6, 0))
    w.run_for("10ms")
    assert b.net.mib.ip6["Ip6InUnknownProtos"] == 1 and b.net.mib.icmp6["Icmp6OutParmProblems"] == 1
    # IPV6_CHECKSUM at offset 0 on both sides: written by A, checked by B; a bad one dropped
    rb = b.socket(socket.AF_INET6, socket.SOCK_RAW, PROTO_EXP)
    rb.setblocking(False)
    rb.setsockopt(SOL_IPV6, IPV6_CHECKSUM, 0)
    ra.setsockopt(SOL_IPV6, IPV6_CHECKSUM, 0)
    ra.sendto(b"\0\0summed", (B6, 0))
    with pytest.raises(OSError) as exc:
        ra.sendto(b"\0", (B6, 0))  # too short to hold the checksum
    assert exc.value.errno == errno.EINVAL
    ra.setsockopt(SOL_IPV6, IPV6_CHECKSUM, -1)
    ra.sendto(b"\x12\x34garbage", (B6, 0))
    w.run_for("10ms")
    got = _drain(rb)
    assert len(got) == 1 and got[0][0][2:] == b"summed"
    expect = l4_checksum6(ipv6_bytes(A6), ipv6_bytes(B6), PROTO_EXP, b"\0\0summed")
    assert got[0][0][:2] == expect.to_bytes(2, "big")
    assert rb.sk.drops == 1


def test_hdrincl_sends_the_users_packet(world):
    w, a, b = world
    rb = b.socket(socket.AF_INET6, socket.SOCK_RAW, PROTO_EXP)
    rb.setblocking(False)
    ra = a.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    assert ra.getsockopt(SOL_IPV6, IPV6_HDRINCL) == 1
    payload = b"whole packet"
    hdr = struct.pack(
        "!IHBB16s16s", 6 << 28, len(payload), PROTO_EXP, 7, ipv6_bytes(A6), ipv6_bytes(B6)
    )
    ra.sendto(hdr + payload, (B6, 0))
    with pytest.raises(OSError) as exc:
        ra.sendto(b"short", (B6, 0))
    assert exc.value.errno == errno.EINVAL
    w.run_for("10ms")
    rb.setsockopt(SOL_IPV6, IPV6_RECVHOPLIMIT, 1)
    got = _drain(rb)
    assert got == [(payload, (A6, 0, 0, 0), [(SOL_IPV6, IPV6_HOPLIMIT, struct.pack("=i", 7))])]


def test_ping_socket_gated_then_used_by_host_ping(world):
    w, a, b = world
    with pytest.raises(PermissionError):
        a.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
    res = a.ping(B6, count=2)  # the raw fallback, as iputils
    assert res.received == 2 and res.replies[0].ttl == 64
    a.sysctl("net.ipv4.ping_group_range", "0 0")
    s = a.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
    s.setblocking(False)
    s.setsockopt(SOL_IPV6, IPV6_RECVHOPLIMIT, 1)
    s.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, 9)
    s.sendto(echo(0, 7, b"abc"), (B6, 0))
    for bad in (b"\x80\x01" + bytes(6), b"\x81\x00" + bytes(6), b"\x80\x00"):
        with pytest.raises(OSError) as exc:
            s.sendto(bad, (B6, 0))
        assert exc.value.errno == errno.EINVAL
    w.run_for("10ms")
    ident = s.getsockname()[1]
    assert ident != 0 and s.getsockname() == ("::", ident, 0, 0)
    got = _drain(s)
    assert len(got) == 1
    data, addr, cmsgs = got[0]
    assert data[0] == 129 and struct.unpack("!HH", data[4:8]) == (ident, 7) and data[8:] == b"abc"
    assert addr == (B6, 0, 0, 0)
    assert cmsgs == [(SOL_IPV6, IPV6_HOPLIMIT, struct.pack("=i", 64))]
    assert b.net.mib.ip6["Ip6InReceives"] > 0
    # an IPv4 ping socket may share the identifier (SO_REUSEADDR on by default) and hears
    # only IPv4 replies
    s4 = a.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s4.setblocking(False)
    s4.bind(("0.0.0.0", ident))
    s.sendto(echo(0, 8), (B6, 0))
    w.run_for("10ms")
    assert [struct.unpack("!H", d[6:8])[0] for d, _, _ in _drain(s)] == [8]
    assert _drain(s4) == []
    s.close()
    s4.close()
    res = a.ping(B6, count=3)  # now over a ping socket
    assert res.received == 3 and [r.ttl for r in res.replies] == [64] * 3
    assert res.text().count("bytes from fd00::2") == 3


def test_ping_socket_errors_through_a_router():
    with World(seed=3) as w:
        a = w.host("a", f"{A6}/64")
        r = w.host("r", f"{R6}/64", "fd01::fe/64", nics=2)
        b = w.host("b", "fd01::1/64")
        w.cable(a.eth0, r.eth0)
        w.cable(r.eth1, b.eth0)
        r.sysctl("net.ipv6.conf.all.forwarding", 1)
        a.route("::/0", via=R6)
        b.route("::/0", via="fd01::fe")
        w.run_for("3s")
        a.sysctl("net.ipv4.ping_group_range", "0 0")
        s = a.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
        s.setblocking(False)
        s.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
        s.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, 1)
        s.sendto(echo(0, 1), ("fd01::1", 0))
        w.run_for("50ms")
        with pytest.raises(OSError) as exc:
            s.recvfrom(100)
        assert exc.value.errno == errno.EHOSTUNREACH  # time exceeded: icmpv6_err_convert
        quoted, cmsgs, flags, addr = s.recvmsg(100, 1024, MSG_ERRQUEUE)
        assert (
            flags == MSG_ERRQUEUE and quoted[0] == 128 and struct.unpack("!H", quoted[6:8]) == (1,)
        )
        assert addr == ("fd01::1", 0, 0, 0)
        [(level, kind, value)] = cmsgs
        assert (level, kind) == (SOL_IPV6, IPV6_RECVERR)
        ee_errno, origin, itype, code, _, _, _ = EE.unpack_from(value)
        assert (ee_errno, origin, itype, code) == (errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP6, 3, 0)
        family, _port, _flow, offender, _scope = struct.unpack_from("=H2sI16sI", value, EE.size)
        assert family == socket.AF_INET6 and offender == ipv6_bytes(R6)
        # ping(8) over the socket prints what iputils prints
        res = a.ping("fd01::1", count=1, ttl=1)
        assert res.errors == 1 and "From fd00::fe icmp_seq=1 Time exceeded: Hop limit" in res.text()
        res = a.ping("fd01::1", count=2)
        assert res.received == 2 and res.replies[0].ttl == 63


def test_a_router_redirects_a_host_to_an_on_link_neighbour():
    """ip6_forward -> ndisc_send_redirect: a, r and d share one switch; d's prefix is not a's,
    so a's packets for d go through r, which sends them back out the same interface and
    tells a that d itself is the better first hop (RFC 4861 §8.2)."""
    with World(seed=8) as w:
        sw = w.switch("sw0", ports=4)
        a = w.host("a", f"{A6}/64")
        r = w.host("r", f"{R6}/64", "fd02::fe/64")  # both on eth0
        d = w.host("d", "fd02::5/64")
        for i, h in enumerate((a, r, d)):
            w.cable(h.eth0, sw.port(i))
        r.sysctl("net.ipv6.conf.all.forwarding", 1)
        w.run_for("3s")
        r_ll = r.net.ipv6.link_local(r.eth0)
        ll_text = socket.inet_ntop(socket.AF_INET6, r_ll)
        a.route("::/0", via=ll_text, dev="eth0")  # a redirect must come from the first hop
        d.route("::/0", via=ll_text, dev="eth0")
        reader = a.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        reader.setblocking(False)
        reader.setsockopt(SOL_ICMPV6, ICMPV6_FILTER, icmp6_filter_pass(137))
        reader.setsockopt(SOL_IPV6, IPV6_RECVHOPLIMIT, 1)
        res = a.ping("fd02::5", count=1)
        assert res.received == 1 and res.replies[0].ttl == 63  # forwarded by r
        got = _drain(reader)
        assert len(got) == 1
        msg, addr, cmsgs = got[0]
        assert addr == (ll_text, 0, 0, a.eth0.ifindex)  # from r's link-local address
        assert cmsgs == [(SOL_IPV6, IPV6_HOPLIMIT, struct.pack("=i", 255))]
        assert msg[0] == 137 and msg[8:24] == msg[24:40] == ipv6_bytes("fd02::5")  # target = dest
        opts = msg[40:]
        # the target's link-layer option (r resolved d while forwarding) may precede the
        # redirected header, which quotes the echo request as r received it (hop limit 64)
        if opts[0] == 2:
            assert opts[1] == 1 and opts[2:8] == d.eth0.dev_addr
            opts = opts[8:]
        assert opts[0] == 4 and opts[1] * 8 == len(opts) and opts[8] >> 4 == 6
        assert opts[8 + 7] == 64 and opts[8 + 24 : 8 + 40] == ipv6_bytes("fd02::5")
        assert r.net.mib.icmp6["Icmp6OutRedirects"] >= 1
        # a took it: a /128 on-link route to d, and the next pings go straight to d
        assert "fd02::5 dev eth0 proto redirect" in a.net.ip6_route()
        forwarded = r.net.mib.ip6["Ip6OutForwDatagrams"]
        res = a.ping("fd02::5", count=3)
        assert res.received == 3 and [x.ttl for x in res.replies] == [64] * 3
        assert r.net.mib.ip6["Ip6OutForwDatagrams"] == forwarded
