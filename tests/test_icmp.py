"""ICMP: echo and the ping engine on virtual time, the rules of when not to send an error,
rate limiting, timestamps, checksum errors, and errors handed to protocols."""

from __future__ import annotations

import errno

import pytest
from helpers.frames import Tap, ether, icmp_message, inject, inject_ip, ipv4_packet, udp_datagram
from helpers.mib import assert_linux_mib_names
from helpers.stack import routed, two_hosts
from helpers.units import MS, US, S

from ixsim.apps.ping import Ping, ping
from stack.core import ETH_P_IP, alloc_skb
from stack.ipv4 import MAX_HEADER, ip_send
from stack.wire import ICMP_DEST_UNREACH, IcmpPacket, IcmpRepr, Ipv4Packet, ip_bytes

A = ip_bytes("10.0.0.1")
B = ip_bytes("10.0.0.2")


def icmp_sent(tap: Tap) -> list[tuple[int, Ipv4Packet, IcmpPacket]]:
    out = []
    for t, frame in tap.sent(ETH_P_IP):
        ip = Ipv4Packet.checked(frame[14:])
        if ip.proto == 1:
            out.append((t, ip, IcmpPacket.checked(ip.payload)))
    return out


@pytest.mark.parametrize("delay", [10 * US, 1 * MS, 25 * MS])
def test_ping_rtt_is_twice_the_link_delay(delay):
    sched, a, b = two_hosts(delay=delay)
    ping(a.net, "10.0.0.2")  # resolve ARP first
    result = ping(a.net, "10.0.0.2", count=5)
    assert (result.transmitted, result.received, result.loss) == (5, 5, 0.0)
    assert result.rtts == [2 * delay] * 5
    assert [r.seq for r in result.replies] == [1, 2, 3, 4, 5]
    assert result.rtt_min == result.rtt_max == result.rtt_avg == 2 * delay
    assert result.rtt_mdev == 0
    assert result.time == 4 * S + 2 * delay
    assert_linux_mib_names(a.net)
    assert a.kernel.skb_live == 0 and b.kernel.skb_live == 0


def test_ping_text_is_what_ping8_prints():
    sched, a, b = two_hosts(delay=50 * US)
    ping(a.net, "10.0.0.2")
    result = ping(a.net, "10.0.0.2", count=2, size=100)
    assert result.text() == (
        "PING 10.0.0.2 (10.0.0.2) 100(128) bytes of data.\n"
        "108 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.100 ms\n"
        "108 bytes from 10.0.0.2: icmp_seq=2 ttl=64 time=0.100 ms\n"
        "\n"
        "--- 10.0.0.2 ping statistics ---\n"
        "2 packets transmitted, 2 received, 0% packet loss, time 1000ms\n"
        "rtt min/avg/max/mdev = 0.100/0.100/0.100/0.000 ms\n")


def test_ping_loss_and_timeout_and_the_loopback():
    sched, a, b = two_hosts()
    ping(a.net, "10.0.0.2")
    count = [0]

    def lose_every_other_reply(frame: bytes) -> int | None:
        if frame[12:14] == b"\x08\x00" and frame[23] == 1 and frame[34] == 0:
            count[0] += 1
            return None if count[0] % 2 else 0
        return 0

    b.dev.priv.impair = lose_every_other_reply
    result = ping(a.net, "10.0.0.2", count=4, timeout=2 * S)
    assert (result.transmitted, result.received) == (4, 2) and result.loss == 50.0
    assert result.time == 3 * S + 2 * S  # the last request, then the timeout
    assert "4 packets transmitted, 2 received, 50% packet loss, time 5000ms" in result.text()
    local = ping(a.net, "127.0.0.1", count=2)
    assert local.rtts == [0, 0]
    own = ping(a.net, "10.0.0.1")
    assert own.received == 1
    with pytest.raises(OSError) as info:
        ping(a.net, "192.168.9.9")
    assert info.value.errno == errno.ENETUNREACH


def test_ping_in_a_task_awaits_the_result():
    sched, a, b = two_hosts()
    results = []

    async def pinger():
        results.append(await Ping(a.net, "10.0.0.2", count=2).start())

    sched.spawn(pinger())
    sched.run_for(3 * S)
    assert results and results[0].received == 2


def test_echo_reply_mirrors_the_request():
    sched, a, b = two_hosts()
    tap = Tap(b.kernel)
    req = IcmpRepr.echo_request(0x1234, 7, b"payload!")
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1, icmp_message(req), ttl=9))
    sched.run_for(10 * MS)
    (_t, ip, icmp), = icmp_sent(tap)
    assert (ip.src, ip.dst, ip.ttl) == (B, A, 64)
    assert (icmp.type, icmp.code, icmp.ident, icmp.seq) == (0, 0, 0x1234, 7)
    assert bytes(icmp.data) == b"payload!" and icmp.verify_checksum()
    assert b.net.mib.icmp["InEchos"] == 1 and b.net.mib.icmp["OutEchoReps"] == 1
    assert b.net.mib.icmpmsg["InType8"] == 1 and b.net.mib.icmpmsg["OutType0"] == 1


def test_broadcast_echo_is_ignored_unless_allowed():
    sched, a, b = two_hosts()
    tap = Tap(b.kernel)
    req = icmp_message(IcmpRepr.echo_request(1, 1, b"x"))
    bcast = ether(b"\xff" * 6, a.dev.dev_addr, ETH_P_IP,
                  ipv4_packet("10.0.0.1", "10.0.0.255", 1, req))
    inject(b.dev, bcast)
    sched.run_for(10 * MS)
    assert icmp_sent(tap) == [] and b.net.mib.icmp["InErrors"] == 1
    b.net.sysctl.icmp_echo_ignore_broadcasts = False
    inject(b.dev, bcast)
    sched.run_for(10 * MS)
    (_t, ip, icmp), = icmp_sent(tap)
    assert ip.src == B and icmp.type == 0  # answered from the interface's address


def test_no_error_about_an_icmp_error_a_later_fragment_or_a_broadcast_source():
    sched, a, b = two_hosts()
    tap = Tap(b.kernel)
    bad_opt = b"\x01\x44\x01\x00"  # a malformed option: parameter problem
    err = icmp_message(IcmpRepr.dest_unreachable(3, ipv4_packet("10.0.0.2", "10.0.0.1", 17,
                                                               bytes(8))))
    echo = icmp_message(IcmpRepr.echo_request(1, 1))
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1, err, options=bad_opt))
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1, echo, options=bad_opt,
                                 frag_offset=8))
    inject_ip(b.dev, ipv4_packet("10.0.0.255", "10.0.0.2", 17,
                                 udp_datagram("10.0.0.255", "10.0.0.2", 5, 77, b"x")))
    sched.run_for(10 * MS)
    assert icmp_sent(tap) == []
    assert b.net.mib.ip["InHdrErrors"] == 2 and b.net.mib.udp["NoPorts"] == 1
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1, echo, options=bad_opt))
    sched.run_for(10 * MS)
    (_t, _ip, icmp), = icmp_sent(tap)
    assert (icmp.type, icmp.pointer) == (12, 21)  # pointer at the bad option


def test_per_host_rate_limit_allows_a_burst_of_six_then_one_per_second():
    sched, a, b = two_hosts()
    tx = a.udp()
    for _ in range(10):
        tx.sendmsg(b"x", addr=(B, 4444))
    sched.run_for(10 * MS)
    assert b.net.mib.icmp["OutDestUnreachs"] == 6
    assert b.net.mib.icmp["OutRateLimitHost"] == 4
    assert b.net.mib.udp["NoPorts"] == 10
    sched.run_for(1 * S)
    for _ in range(3):
        tx.sendmsg(b"x", addr=(B, 4444))
    sched.run_for(10 * MS)
    assert b.net.mib.icmp["OutDestUnreachs"] == 7


def test_global_rate_limit_and_what_is_never_limited():
    sched, a, b = two_hosts()
    b.net.sysctl.icmp_ratelimit_ms = 0
    b.net.sysctl.icmp_msgs_burst = 5
    tx = a.udp()
    for _ in range(10):
        tx.sendmsg(b"x", addr=(B, 4444))
    sched.run_for(10 * MS)
    icmp = b.net.mib.icmp
    assert (icmp["OutDestUnreachs"], icmp["OutRateLimitGlobal"]) == (5, 5)
    for seq in range(20):  # echo replies are not rate limited
        inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1,
                                     icmp_message(IcmpRepr.echo_request(9, seq))))
    sched.run_for(10 * MS)
    assert icmp["OutEchoReps"] == 20


def test_fragmentation_needed_is_never_rate_limited():
    sched, a, r, b = routed(mtu_rb=1000)
    for _ in range(10):
        skb = alloc_skb(a.kernel, MAX_HEADER + 1200)
        skb.reserve(MAX_HEADER)
        skb.put_data(bytes(1200))
        ip_send(a.net, skb, None, ip_bytes("10.0.2.1"), 17, df=True)
    sched.run_for(10 * MS)
    assert r.net.mib.icmp["OutDestUnreachs"] == 10 and r.net.mib.ip["FragFails"] == 10


def test_timestamp_request_is_answered():
    sched, a, b = two_hosts()
    sched.run_for(3 * S)
    tap = Tap(b.kernel)
    body = (123456).to_bytes(4, "big") + bytes(8)
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1,
                                 icmp_message(IcmpRepr(13, 0, 0x00050006, body))))
    sched.run_for(10 * MS)
    (_t, _ip, icmp), = icmp_sent(tap)
    data = bytes(icmp.data)
    assert icmp.type == 14 and (icmp.ident, icmp.seq) == (5, 6)
    now_ms = 4 * 1000  # two_hosts settled 1 s, we waited 3 s
    assert int.from_bytes(data[:4], "big") == 123456
    assert int.from_bytes(data[4:8], "big") == int.from_bytes(data[8:12], "big") == now_ms


def test_bad_icmp_checksum_and_truncated_messages_are_counted():
    sched, a, b = two_hosts()
    msg = bytearray(icmp_message(IcmpRepr.echo_request(1, 1, b"abc")))
    msg[2] ^= 0x55
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1, bytes(msg)))
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1, b"\x08\x00\x00"))
    icmp = b.net.mib.icmp
    assert (icmp["InMsgs"], icmp["InCsumErrors"], icmp["InErrors"]) == (2, 1, 2)
    assert b.kernel.skb_live == 0


def test_errors_reach_the_protocol_err_handler_with_the_quote():
    sched, a, b = two_hosts()
    seen = []

    def rcv(net, skb):
        raise AssertionError("nothing should arrive")

    def err(net, iph, l4, itype, code, info):
        seen.append((iph.proto, iph.dst, bytes(l4[:8]), itype, code, info, net.icmp.err_src))

    a.net.register_protocol(99, rcv, err)
    skb = alloc_skb(a.kernel, MAX_HEADER + 12)
    skb.reserve(MAX_HEADER)
    skb.put_data(b"ABCDEFGHIJKL")
    assert ip_send(a.net, skb, None, B, 99) == 0
    sched.run_for(10 * MS)
    assert seen == [(99, B, b"ABCDEFGH", ICMP_DEST_UNREACH, 2, 0, B)]
    assert b.net.mib.ip["InUnknownProtos"] == 1
    with pytest.raises(ValueError):
        a.net.register_protocol(99, rcv, err)
