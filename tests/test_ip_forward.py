"""A - R - B: forwarding with TTL decrement, ICMP time exceeded / unreachable from the router,
fragmentation on a smaller next hop, forwarding switched off."""

from __future__ import annotations

import errno

from helpers.frames import Tap, inject_ip, ipv4_packet, udp_datagram
from helpers.mib import assert_linux_mib_names
from helpers.stack import routed
from helpers.units import MS, US, S

from ixsim.apps.ping import ping
from stack.core import ETH_P_IP
from stack.ipv4.route import RTN_UNREACHABLE
from stack.uapi import IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_RECVERR, IP_TTL, SOL_IP
from stack.wire import Ipv4Packet, ip_bytes

D = 50 * US


def test_ping_across_the_router_decrements_ttl_and_takes_two_hops():
    sched, a, r, b = routed(delay=D)
    tap_b = Tap(b.kernel)
    tap_r = Tap(r.kernel)
    first = ping(a.net, "10.0.2.1")
    assert first.received == 1
    result = ping(a.net, "10.0.2.1", count=3)
    assert result.received == 3 and result.loss == 0.0
    assert result.rtts == [4 * D] * 3  # A->R->B and back, each hop one link delay
    assert {reply.ttl for reply in result.replies} == {63}  # B's reply crossed R
    # at B the request arrives with TTL 63 and a header checksum that still verifies
    _t, frame = tap_b.received(ETH_P_IP)[0]
    pkt = Ipv4Packet.checked(frame[14:])
    assert pkt.ttl == 63 and pkt.verify_checksum()
    # R's own tap saw the frame as it came in (TTL 64): the forwarded copy was made private
    _t, rframe = tap_r.received(ETH_P_IP)[0]
    assert Ipv4Packet(rframe[14:]).ttl == 64
    assert r.net.mib.ip["ForwDatagrams"] == 8 and r.net.mib.ip["InDelivers"] == 0
    assert r.net.mib.ip["OutTransmits"] == 8
    for host in (a, r, b):
        assert_linux_mib_names(host.net)
        assert host.kernel.skb_live == 0


def test_ttl_one_gets_time_exceeded_from_the_router():
    sched, a, r, b = routed()
    result = ping(a.net, "10.0.2.1", ttl=1)
    assert result.received == 0 and result.errors == 1
    err, = result.icmp_errors
    assert (err.src, err.text) == (ip_bytes("10.0.1.254"), "Time to live exceeded")
    assert "From 10.0.1.254 icmp_seq=1 Time to live exceeded" in result.text()
    assert r.net.mib.ip["InHdrErrors"] == 1 and r.net.mib.ip["ForwDatagrams"] == 0
    assert r.net.mib.icmp["OutTimeExcds"] == 1 and r.net.mib.icmpmsg["OutType11"] == 1
    assert a.net.mib.icmp["InTimeExcds"] == 1
    assert b.net.mib.ip["InReceives"] == 0
    # a connected UDP socket only hears about it with IP_RECVERR (time exceeded is soft)
    sk = a.udp()
    sk.setsockopt(SOL_IP, IP_TTL, 1)
    sk.connect(ip_bytes("10.0.2.1"), 9)
    sk.sendmsg(b"x")
    sched.run_for(10 * MS)
    assert sk.sk_err == 0
    sk.setsockopt(SOL_IP, IP_RECVERR, 1)
    sched.run_for(1 * S)  # past the router's ICMP rate limit
    sk.sendmsg(b"x")
    sched.run_for(10 * MS)
    assert sk.sk_err == errno.EHOSTUNREACH


def test_no_route_and_unreachable_routes_at_the_router():
    sched, a, r, b = routed()
    result = ping(a.net, "10.9.9.9")
    assert [e.text for e in result.icmp_errors] == ["Destination Net Unreachable"]
    assert r.net.mib.ipext["InNoRoutes"] == 1
    r.net.add_route("10.8.0.0/16", type=RTN_UNREACHABLE)
    sched.run_for(2 * S)
    result = ping(a.net, "10.8.1.1")
    assert [e.text for e in result.icmp_errors] == ["Destination Host Unreachable"]
    assert r.net.mib.icmp["OutDestUnreachs"] == 2


def test_forwarding_off_counts_in_addr_errors_and_stays_silent():
    sched, a, r, b = routed()
    r.net.sysctl.ip_forward = False
    result = ping(a.net, "10.0.2.1", timeout=1 * S)
    assert result.received == 0 and result.errors == 0 and result.loss == 100.0
    assert r.net.mib.ip["InAddrErrors"] == 1 and r.net.mib.icmp["OutMsgs"] == 0


def test_router_fragments_for_a_smaller_next_hop_and_drops_df_with_frag_needed():
    sched, a, r, b = routed(mtu_rb=1000)
    rx = b.udp(9)
    tx = a.udp()
    tx.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    tx.sendmsg(b"f" * 1400, addr=(ip_bytes("10.0.2.1"), 9))
    sched.run_for(10 * MS)
    assert rx.recvmsg(2000)[0] == b"f" * 1400
    assert r.net.mib.ip["FragOKs"] == 1 and r.net.mib.ip["FragCreates"] == 2
    assert b.net.mib.ip["ReasmOKs"] == 1
    # with DF (the default for datagrams that fit A's own link) R refuses and says why
    conn = a.udp()
    conn.connect(ip_bytes("10.0.2.1"), 9)
    conn.sendmsg(b"g" * 1400)
    sched.run_for(10 * MS)
    assert r.net.mib.ip["FragFails"] == 1
    assert a.net.mib.icmp["InDestUnreachs"] == 1
    assert a.net.fib.path_mtu(ip_bytes("10.0.2.1")) == 1000
    try:
        conn.recvmsg(10)
        raise AssertionError("EMSGSIZE expected")
    except OSError as exc:
        assert exc.errno == errno.EMSGSIZE
    # the next datagram follows the learned path MTU: fragmented by A itself
    conn.sendmsg(b"h" * 1400)
    sched.run_for(10 * MS)
    assert a.net.mib.ip["FragCreates"] == 2
    assert rx.recvmsg(2000)[0] == b"h" * 1400


def test_martians_are_dropped_by_the_router():
    sched, a, r, _b = routed()
    dev = r.devs[0]
    before = r.net.mib.ip["ForwDatagrams"]
    for src, dst in (("10.0.1.254", "10.0.2.1"), ("127.0.0.1", "10.0.2.1"),
                     ("224.0.0.1", "10.0.2.1"), ("0.0.0.0", "10.0.2.1"),
                     ("10.0.1.1", "127.0.0.1"), ("10.0.1.1", "0.1.2.3")):
        payload = udp_datagram(src, dst, 1, 9, b"m")
        inject_ip(dev, ipv4_packet(src, dst, 17, payload))
    sched.run_for(10 * MS)
    assert r.net.mib.ip["ForwDatagrams"] == before
    reasons = r.kernel.drop_reasons
    assert reasons["IP_INVALID_SOURCE"] == 4 and reasons["IP_INVALID_DEST"] == 2
    assert r.kernel.skb_live == 0
