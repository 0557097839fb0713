"""IPv6 layer 3: wire round trips, ping6 over the ixgb NIC, ND/DAD, SLAAC, forwarding,
Packet Too Big, fragmentation and reassembly, malformed packets dropped with their reasons."""

from __future__ import annotations

from helpers.ipv6 import A6, B6, icmpv6, inject6, ipv6_packet, two_hosts6
from helpers.stack import new_host
from helpers.units import MS, S

from ixsim import World
from ixsim.apps.ping6 import icmp6_filter_pass
from ixsim.sched import Scheduler
from stack.ipv6.addrconf import IFA_F_DADFAILED, eui64
from stack.ipv6.icmp import icmp6_xmit
from stack.ipv6.output import Flow6
from stack.ipv6.radvd import Radvd
from stack.neigh import NUD_DELAY, NUD_INCOMPLETE, NUD_PROBE, NUD_REACHABLE, NUD_STALE
from stack.socket import socket_create
from stack.uapi import (
    AF_INET6,
    ICMPV6_FILTER,
    IPPROTO_ICMPV6,
    IPV6_RECVHOPLIMIT,
    SOCK_RAW,
    SOL_ICMPV6,
    SOL_IPV6,
)
from stack.veth import veth_pair
from stack.wire.checksum import verify_l4_6
from stack.wire.icmpv6 import (
    ICMPV6_CONSTRUCT,
    NDISC_NEIGHBOUR_SOLICITATION,
    Icmpv6Repr,
)
from stack.wire.ipv6 import (
    IPV6_CONSTRUCT,
    FragRepr,
    Ipv6Packet,
    Ipv6Repr,
    ipv6_bytes,
    ipv6_str,
)

C6 = ipv6_bytes("fd01::1")


def test_ipv6_header_round_trip_and_construct_agree() -> None:
    r = Ipv6Repr(A6, B6, 58, 12, 17, 0xB8, 0xABCDE)
    buf = bytearray(b"\xa5" * 52)
    assert r.emit(buf) == 40
    assert Ipv6Repr.parse(Ipv6Packet.checked(buf)) == r
    c = IPV6_CONSTRUCT.parse(bytes(buf))
    assert (c.vtf.version, c.vtf.tclass, c.vtf.flow_lbl, c.payload_len, c.nexthdr, c.hop_limit) == (
        6,
        0xB8,
        0xABCDE,
        12,
        58,
        17,
    )
    f = FragRepr(17, 1448, True, 0x12345678)
    fb = bytearray(8)
    f.emit(fb)
    assert FragRepr.parse(fb) == f


def test_icmpv6_checksum_and_construct() -> None:
    msg = icmpv6(A6, B6, Icmpv6Repr.echo_request(7, 9, b"hello"))
    assert verify_l4_6(A6, B6, 58, msg)
    c = ICMPV6_CONSTRUCT.parse(msg)
    assert (c.type, c.un.identifier, c.un.sequence, c.data) == (128, 7, 9, b"hello")


def test_two_host_dual_stack_ping_over_ixgb() -> None:
    with World(seed=7) as w:
        a = w.host("a", "10.0.0.1/24", "fd00::1/64")
        b = w.host("b", "10.0.0.2/24", "fd00::2/64")
        w.cable(a.eth0, b.eth0)
        w.run_for("3s")
        assert "fe80::ff:fe00:100/64 scope link" in a.net.ip6_addr()
        r = a.ping("fd00::2", count=3)
        assert r.received == 3 and r.replies[0].ttl == 64
        assert "fd00::2 dev eth0 lladdr 02:00:00:00:02:00 REACHABLE" in a.net.ip6_neigh()
        assert a.ping("10.0.0.2").received == 1
        # the solicited-node groups reached the NIC's multicast list (33:33:ff:00:00:02)
        assert b"\x33\x33\xff\x00\x00\x02" in b.eth0.mc
        assert b.net.mib.icmp6["Icmp6OutEchoReplies"] == 3


def test_nud_states_reachable_stale_delay_probe_failed() -> None:
    sched, a, b = two_hosts6()
    tbl = a.net.ipv6.nd_tbl
    seen: list[int] = []
    tbl.watchers.append(lambda _t, n, _o, new: seen.append(new) if n.key == B6 else None)
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(1, 1), Flow6(None, B6, 58))
    sched.run_for(60 * S)  # resolved, then aged to STALE
    b.net.ipv6.addrconf.delete(b.net.ipv6.idev(b.dev).get(B6))  # B stops answering
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(1, 2), Flow6(None, B6, 58))
    sched.run_for(20 * S)
    assert seen[:5] == [NUD_INCOMPLETE, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE]
    assert tbl.lookup(B6, a.dev).state_name == "FAILED"


def test_dad_conflict_with_a_second_host() -> None:
    sched, a, b = two_hosts6()
    b.net.configure(b.dev, "fd00::1/64")  # A holds it already
    sched.run_for(3 * S)
    ifa = b.net.ipv6.idev(b.dev).get(A6)
    assert ifa.flags & IFA_F_DADFAILED and not ifa.usable
    assert "dadfailed" in b.net.ip6_addr()


def test_slaac_and_default_route_from_radvd_then_lifetimes_expire() -> None:
    sched, a, r = two_hosts6()
    Radvd(r.net, r.dev, ["2001:db8:1::/64"], valid=100, preferred=50, lifetime=60)
    sched.run_for(5 * S)
    slaac = ipv6_str(ipv6_bytes("2001:db8:1::")[:8] + eui64(a.dev.dev_addr))
    assert f"inet6 {slaac}/64 scope global dynamic" in a.net.ip6_addr()
    assert "default via fe80::" in a.net.ip6_route()
    assert r.net.sysctl.read("net.ipv6.conf.all.forwarding") == 1
    sched.run_for(1000 * S)  # RAs stop being heard after the router goes away
    r.net.ipv6.idev(r.dev).radvd.stop()
    sched.run_for(200 * S)
    assert "2001:db8:1::" not in a.net.ip6_addr()
    assert "default" not in a.net.ip6_route()


def _routed6(mtu_rb: int = 1500) -> tuple[Scheduler, object, object, object]:
    sched = Scheduler(seed=1)
    a, r, b = new_host(sched, "a"), new_host(sched, "r"), new_host(sched, "b")
    da, ra = veth_pair(a.kernel, r.kernel, delay=50_000)
    rb, db = veth_pair(r.kernel, b.kernel, delay=50_000, mtu=mtu_rb)
    a.devs.append(da)
    r.devs += [ra, rb]
    b.devs.append(db)
    r.net.enable_ipv6()
    r.net.sysctl.write("net.ipv6.conf.all.forwarding", 1)
    a.net.configure(da, "fd00::1/64")
    r.net.configure(ra, "fd00::fe/64")
    r.net.configure(rb, "fd01::fe/64")
    b.net.configure(db, "fd01::1/64")
    sched.run_for(3 * S)
    a.net.add_route("::/0", gateway="fd00::fe")
    b.net.add_route("::/0", gateway="fd01::fe")
    return sched, a, r, b


def _icmp6_reader(net: object) -> object:
    """A raw ICMPv6 socket with IPV6_RECVHOPLIMIT, passing echo replies and errors only."""
    sock = socket_create(net, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)
    sock.setsockopt(SOL_ICMPV6, ICMPV6_FILTER, icmp6_filter_pass(129, 1, 2, 3, 4))
    sock.setsockopt(SOL_IPV6, IPV6_RECVHOPLIMIT, 1)
    sock.setblocking(False)
    return sock


def _read6(sock: object) -> list[tuple[object, ...]]:
    """(type, source, hop limit, info or echo length) of each queued ICMPv6 message."""
    out = []
    while True:
        try:
            data, addr, _flags, cmsgs = sock.sk.recvmsg_ctl(65536, 0)
        except BlockingIOError:
            return out
        hops = int.from_bytes(cmsgs[0][2], "little")
        info = len(data) - 8 if data[0] == 129 else int.from_bytes(data[4:8], "big")
        out.append((data[0], data[1], addr[0], hops, info))


def test_forwarding_hop_limit_and_time_exceeded() -> None:
    sched, a, r, b = _routed6()
    sock = _icmp6_reader(a.net)
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(5, 1), Flow6(None, C6, 58))
    sched.run_for(100 * MS)
    assert _read6(sock) == [(129, 0, C6, 63, 0)]
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(5, 2), Flow6(None, C6, 58, hop_limit=1))
    sched.run_for(100 * MS)
    assert _read6(sock) == [(3, 0, ipv6_bytes("fd00::fe"), 64, 0)]
    assert r.net.mib.ip6["Ip6OutForwDatagrams"] == 2 and r.net.mib.ip6["Ip6InHdrErrors"] == 1


def test_packet_too_big_sets_pmtu_and_source_fragments() -> None:
    sched, a, r, b = _routed6(mtu_rb=1280)
    sock = _icmp6_reader(a.net)
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(6, 1, bytes(1400)), Flow6(None, C6, 58))
    sched.run_for(100 * MS)
    assert [(t, info) for t, _c, _s, _h, info in _read6(sock)] == [(2, 1280)]
    assert a.net.ipv6.fib.path_mtu(C6) == 1280
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(6, 2, bytes(1400)), Flow6(None, C6, 58))
    sched.run_for(100 * MS)
    assert [(t, info) for t, _c, _s, _h, info in _read6(sock)] == [(129, 1400)]
    assert a.net.mib.ip6["Ip6FragCreates"] == 2 and b.net.mib.ip6["Ip6ReasmOKs"] == 1
    assert b.net.mib.ip6["Ip6FragCreates"] == 2  # the reply is fragmented at its source too


def _frag(ident: int, offset: int, more: bool, data: bytes) -> bytes:
    fh = bytes((59, 0)) + (offset | more).to_bytes(2, "big") + ident.to_bytes(4, "big")
    return ipv6_packet(A6, B6, 44, data, ext=fh)


def test_reassembly_overlap_drops_the_whole_queue_and_timeout_sends_time_exceeded() -> None:
    sched, _a, b = two_hosts6()
    inject6(b.dev, _frag(1, 0, True, bytes(16)))
    inject6(b.dev, _frag(1, 8, True, bytes(16)))  # overlaps: RFC 5722
    assert b.kernel.drop_reasons["DUP_FRAG"] == 1 and not b.net.ipv6.frags.queues
    inject6(b.dev, _frag(2, 0, True, bytes(16)))
    sched.run_for(61 * S)
    mib = b.net.mib.ip6
    assert mib["Ip6ReasmTimeout"] == 1 and b.net.mib.icmp6["Icmp6OutTimeExcds"] == 1


def test_malformed_packets_are_counted_and_dropped_with_reasons() -> None:
    sched, _a, b = two_hosts6()
    mib, drops = b.net.mib.ip6, b.kernel.drop_reasons
    inject6(b.dev, ipv6_packet(A6, B6, 59, b"")[:30])  # truncated header
    inject6(b.dev, ipv6_packet(A6, B6, 59, b"")[:40] + b"")  # fine: no next header
    pkt = bytearray(ipv6_packet(A6, B6, 59, b"12345678"))
    pkt[5] = 200  # payload length beyond the frame
    inject6(b.dev, bytes(pkt))
    rh0 = bytes((59, 0, 0, 1, 0, 0, 0, 0))  # type 0, segments left 1
    inject6(b.dev, ipv6_packet(A6, B6, 43, b"", ext=rh0))
    unk = bytes((59, 0, 0x82, 0, 0, 0, 0, 0))  # option 0x82: discard + ICMP
    inject6(b.dev, ipv6_packet(A6, B6, 60, b"", ext=unk))
    drop_opt = bytes((59, 0, 0x42, 0, 1, 2, 0, 0))  # option 0x42: discard silently
    inject6(b.dev, ipv6_packet(A6, B6, 60, b"", ext=drop_opt))
    ns = icmpv6(A6, B6, Icmpv6Repr(NDISC_NEIGHBOUR_SOLICITATION, 0, 0, B6))
    inject6(b.dev, ipv6_packet(A6, B6, 58, ns, hop_limit=64))
    bad_len = bytes((59, 9, 1, 0, 0, 0, 0, 0))  # claims 80 bytes
    inject6(b.dev, ipv6_packet(A6, B6, 60, b"", ext=bad_len))
    sched.run_for(10 * MS)
    assert mib["Ip6InHdrErrors"] == 3 and mib["Ip6InTruncatedPkts"] == 1
    assert drops["IP_INHDR"] == 1 and drops["PKT_TOO_SMALL"] == 1
    assert drops["IPV6_BAD_EXTHDR"] == 2 and drops["UNHANDLED_PROTO"] == 2
    assert drops["IPV6_NDISC_HOP_LIMIT"] == 1
    assert b.net.mib.icmp6["Icmp6OutParmProblems"] == 2
