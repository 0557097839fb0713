"""ip_rcv: each validation step of ip_rcv_core with its Linux counter, padding, options,
unknown protocols, packets for others, broadcasts."""

from __future__ import annotations

from helpers.frames import ether, inject, inject_ip, ipv4_packet, udp_datagram
from helpers.mib import assert_linux_mib_names
from helpers.stack import two_hosts
from helpers.units import MS

from stack.core import ETH_P_IP
from stack.wire import internet_checksum, ip_bytes
from stack.wire.layout import U16

A_MAC_FAKE = b"\x02\0\0\0\0\x99"


def good(payload: bytes = b"hi", dst: str = "10.0.0.2", src: str = "10.0.0.1") -> bytes:
    return ipv4_packet(src, dst, 17, udp_datagram(src, dst, 5, 9, payload))


def with_checksum(pkt: bytearray) -> bytes:
    hl = (pkt[0] & 0x0F) * 4
    U16.pack_into(pkt, 10, 0)
    U16.pack_into(pkt, 10, internet_checksum(bytes(pkt[:hl])))
    return bytes(pkt)


def test_valid_packet_with_link_padding_is_trimmed_and_delivered():
    sched, _a, b = two_hosts()
    rx = b.udp(9)
    pkt = good(b"x")
    assert len(pkt) == 29
    inject(b.dev, ether(b.dev.dev_addr, A_MAC_FAKE, ETH_P_IP, pkt + bytes(60 - 14 - 29)))
    data, (src, port) = rx.recvmsg(100)
    assert (data, src, port) == (b"x", ip_bytes("10.0.0.1"), 5)
    mib = b.net.mib.ip
    assert (mib["InReceives"], mib["InDelivers"]) == (1, 1)


def test_each_header_error_has_its_counter():
    sched, _a, b = two_hosts()
    dev = b.dev
    mib, ext = b.net.mib.ip, b.net.mib.ipext
    inject_ip(dev, good()[:19])  # shorter than a header
    assert mib["InHdrErrors"] == 1
    v6 = bytearray(good())
    v6[0] = 0x65
    inject_ip(dev, with_checksum(v6))
    assert mib["InHdrErrors"] == 2
    ihl4 = bytearray(good())
    ihl4[0] = 0x44
    inject_ip(dev, bytes(ihl4))
    assert mib["InHdrErrors"] == 3
    bad_sum = bytearray(good())
    bad_sum[10] ^= 0xFF
    inject_ip(dev, bytes(bad_sum))
    assert (mib["InHdrErrors"], ext["InCsumErrors"]) == (4, 1)
    longer = bytearray(good())
    U16.pack_into(longer, 2, len(longer) + 10)
    inject_ip(dev, with_checksum(longer))
    assert ext["InTruncatedPkts"] == 1 and mib["InHdrErrors"] == 4
    shorter = bytearray(good())
    U16.pack_into(shorter, 2, 12)
    inject_ip(dev, with_checksum(shorter))
    assert mib["InHdrErrors"] == 5
    assert mib["InReceives"] == 6 and mib["InDelivers"] == 0
    assert_linux_mib_names(b.net)
    assert b.kernel.skb_live == 0


def test_options_are_walked_bad_ones_get_parameter_problem_source_routes_dropped():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    dst, src = "10.0.0.2", "10.0.0.1"
    payload = udp_datagram(src, dst, 5, 9, b"opt")
    # NOPs, a record-route-shaped option and EOL: skipped, the datagram delivered
    inject_ip(b.dev, ipv4_packet(src, dst, 17, payload, options=b"\x01\x01\x07\x07\x04"
                                 + bytes(4) + b"\x00"))
    assert rx.recvmsg(100)[0] == b"opt"
    inject_ip(b.dev, ipv4_packet(src, dst, 17, payload, options=b"\x01\x44\x01\x00"))
    assert b.net.mib.ip["InHdrErrors"] == 1
    sched.run_for(10 * MS)
    assert b.net.mib.icmp["OutParmProbs"] == 1 and a.net.mib.icmp["InParmProbs"] == 1
    inject_ip(b.dev, ipv4_packet(src, dst, 17, payload, options=b"\x83\x07\x04" + bytes(5)))
    assert b.kernel.drop_reasons["IP_SRR"] == 1
    assert not rx.rcvq


def test_unknown_protocol_gets_protocol_unreachable():
    sched, a, b = two_hosts()
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 253, b"????????"))
    sched.run_for(10 * MS)
    assert b.net.mib.ip["InUnknownProtos"] == 1 and b.net.mib.ip["InDelivers"] == 0
    assert b.net.mib.icmp["OutDestUnreachs"] == 1
    assert a.net.mib.icmp["InDestUnreachs"] == 1


def test_not_for_us_on_a_host_and_frames_for_another_mac():
    sched, _a, b = two_hosts()
    inject_ip(b.dev, good(dst="10.0.0.77"))
    assert b.net.mib.ip["InAddrErrors"] == 1
    inject(b.dev, ether(b"\x02\0\0\0\0\x55", A_MAC_FAKE, ETH_P_IP, good()))
    assert b.net.mib.ip["InReceives"] == 1  # PACKET_OTHERHOST is dropped before counting
    assert b.kernel.drop_reasons["OTHERHOST"] == 1


def test_broadcasts_reach_wildcard_sockets_and_nobody_answers_them():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    for dst in ("10.0.0.255", "255.255.255.255"):
        inject(b.dev, ether(b"\xff" * 6, A_MAC_FAKE, ETH_P_IP, good(b"all", dst=dst)))
        assert rx.recvmsg(100)[0] == b"all"
    # to a port nobody has: counted as ignored, no port unreachable for a broadcast
    inject(b.dev, ether(b"\xff" * 6, A_MAC_FAKE, ETH_P_IP, ipv4_packet(
        "10.0.0.1", "10.0.0.255", 17, udp_datagram("10.0.0.1", "10.0.0.255", 5, 99, b"x"))))
    sched.run_for(10 * MS)
    assert b.net.mib.udp["IgnoredMulti"] == 1 and b.net.mib.icmp["OutMsgs"] == 0
