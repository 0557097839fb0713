"""Checksum offload and TSO through the driver, checked with an independent checksum."""

from __future__ import annotations

import struct

from helpers.checksum import ones_sum
from helpers.driver import DriverPair

from device.spec import regs as R
from driver.ixgb.watchdog import update_stats
from stack.core.ethtool_ioctl import ethtool_get_stats
from stack.core.qdisc import dev_queue_xmit
from stack.core.skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCPV4,
    consume_skb,
    skb_get,
)

IP_A = bytes([10, 0, 0, 1])
IP_B = bytes([10, 0, 0, 2])
ETH_P_IP = 0x0800
TCP, UDP = 6, 17
PSH_ACK = 0x18
FIN_PSH_ACK = 0x19


def pseudo(src: bytes, dst: bytes, proto: int, length: int) -> int:
    return ones_sum(src + dst + struct.pack("!BBH", 0, proto, length))


def fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def l4_ok(ip: bytes) -> bool:
    """The TCP/UDP checksum of an IPv4 packet verifies (sum with its field folds to 0xFFFF).

    The packet ends where its total length says (a short frame carries Ethernet padding)."""
    ihl = (ip[0] & 0xF) * 4
    seg = ip[ihl : struct.unpack_from("!H", ip, 2)[0]]
    return fold(ones_sum(seg) + pseudo(ip[12:16], ip[16:20], ip[9], len(seg))) == 0xFFFF


def ip_ok(ip: bytes) -> bool:
    return ones_sum(ip[: (ip[0] & 0xF) * 4]) == 0xFFFF


def ipv4(proto: int, l4: bytes, ident: int = 0x1234, checksum: bool = True) -> bytes:
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, 0x4000, 64,
                                proto, 0, IP_A, IP_B))
    if checksum:
        struct.pack_into("!H", hdr, 10, ~ones_sum(bytes(hdr)) & 0xFFFF)
    return bytes(hdr) + l4


def tcp(payload: bytes, seq: int, flags: int, check: int = 0) -> bytes:
    return struct.pack("!HHIIBBHHH", 40000, 5001, seq, 77, 5 << 4, flags, 65535, check,
                       0) + payload


def partial_skb(w: DriverPair, frame: bytes, l4_off: int, csum_offset: int):
    """A CHECKSUM_PARTIAL skb: the field holds the pseudo-header sum, as Linux leaves it."""
    skb = w.skb(w.a, frame)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data + l4_off
    skb.csum_offset = csum_offset
    skb.network_header = skb.data + 14
    skb.transport_header = skb.data + l4_off
    skb.protocol = ETH_P_IP
    return skb


def eth(w: DriverPair, ip: bytes) -> bytes:
    return w.b.netdev.dev_addr + w.a.netdev.dev_addr + struct.pack("!H", ETH_P_IP) + ip


def test_tcp_and_udp_checksum_offload_produce_valid_frames():
    w = DriverPair()
    for proto, size in ((TCP, 0), (TCP, 1), (TCP, 1000), (TCP, 1460), (UDP, 13), (UDP, 1472)):
        payload = bytes((7 * i) & 0xFF for i in range(size))
        if proto == TCP:
            l4 = tcp(payload, 1000, PSH_ACK, pseudo(IP_A, IP_B, TCP, 20 + size))
            offset = 16
        else:
            length = 8 + size
            l4 = struct.pack("!HHHH", 5353, 5353, length, pseudo(IP_A, IP_B, UDP, length))
            l4 += payload
            offset = 6
        frame = eth(w, ipv4(proto, l4))
        assert dev_queue_xmit(partial_skb(w, frame, 34, offset)) == 0
    w.run("1ms")
    assert len(w.b.rx) == 6
    for got in w.b.rx:
        ip = got.frame[14:]
        assert ip_ok(ip) and l4_ok(ip)
        assert got.ip_summed == CHECKSUM_UNNECESSARY  # b's hardware checked it, and said good
    assert w.a.adapter.hw_csum_tx_good == 6
    assert w.b.adapter.hw_csum_rx_good == 6
    w.assert_clean()


def test_tso_cuts_a_64k_skb_into_valid_mss_segments():
    w = DriverPair()
    mss = 1448
    payload = bytes((i * 31 + 5) & 0xFF for i in range(64000))
    ip = ipv4(TCP, tcp(payload, 0xFFFFF000, FIN_PSH_ACK, pseudo(IP_A, IP_B, TCP, 20 + 64000)),
              ident=0xFFFE)
    frame = eth(w, ip)
    skb = partial_skb(w, frame, 34, 16)
    skb.gso_size = mss
    skb.gso_type = SKB_GSO_TCPV4
    skb.gso_segs = -(-64000 // mss)
    ndesc: list[int] = []
    w.a.nic.tx.trace_tx_frame.append(lambda f, n: ndesc.append(n))
    skb_get(skb)  # keep it to look at what the driver did to the headers
    assert dev_queue_xmit(skb) == 0
    w.run("1ms")
    # ixgb_tso: IP total length and checksum zeroed, TCP checksum seeded with the
    # pseudo-header sum *without* the length.
    head = skb.head
    nh, th = skb.network_header, skb.transport_header
    assert head[nh + 2 : nh + 4] == b"\0\0" and head[nh + 10 : nh + 12] == b"\0\0"
    assert struct.unpack_from("!H", head, th + 16)[0] == pseudo(IP_A, IP_B, TCP, 0)
    consume_skb(skb)

    segs = [r.frame[14:] for r in w.b.rx]
    assert len(segs) == -(-64000 // mss) == 45
    data = b""
    for k, ip in enumerate(segs):
        assert ip_ok(ip) and l4_ok(ip)
        total, ident = struct.unpack_from("!HH", ip, 2)
        seq = struct.unpack_from("!I", ip, 24)[0]
        flags = ip[33]
        body = ip[40:]
        assert total == len(ip) == 40 + len(body)
        assert ident == (0xFFFE + k) & 0xFFFF
        assert seq == (0xFFFFF000 + k * mss) & 0xFFFFFFFF
        assert flags == (FIN_PSH_ACK if k == len(segs) - 1 else 0x10)
        assert len(body) == (mss if k < 44 else 64000 - 44 * mss)
        data += body
    assert data == payload
    # 64054 bytes in 16 KiB chunks: 16384 x 3 + 14902, the last cut 4 bytes short for the
    # TSO sentinel descriptor: 5 data descriptors for the one packet.
    assert ndesc == [5] * 45
    update_stats(w.a.adapter)
    assert ethtool_get_stats(w.a.netdev)["tx_tcp_seg_good"] == 1
    # clean_tx_irq counts every cleaned descriptor whose byte 13 has IXSM|TXSM: the 5 data
    # descriptors, and (as in Linux) the context, whose hdr_len there is 54 = 0x36.
    assert w.a.adapter.hw_csum_tx_good == 6
    assert w.a.peek(R.TCTL) & R.TCTL_TXEN
    w.assert_clean()


def test_tso_sentinel_on_a_small_gso_skb():
    w = DriverPair()
    payload = bytes(range(200)) * 10
    frame = eth(w, ipv4(TCP, tcp(payload, 1, PSH_ACK)))
    skb = partial_skb(w, frame, 34, 16)
    skb.gso_size = 536
    skb.gso_type = SKB_GSO_TCPV4
    ndesc: list[int] = []
    w.a.nic.tx.trace_tx_frame.append(lambda f, n: ndesc.append(n))
    dev_queue_xmit(skb)
    w.run("1ms")
    assert ndesc == [2] * 4  # the packet, 4 bytes short, then the 4-byte sentinel
    assert b"".join(r.frame[54:] for r in w.b.rx) == payload
    assert all(l4_ok(r.frame[14:]) and ip_ok(r.frame[14:]) for r in w.b.rx)


def test_a_bad_checksum_seen_by_the_receiver_is_left_to_the_stack():
    w = DriverPair()
    w.b.nic.inject.bad_checksum = 1
    for _ in range(2):
        frame = eth(w, ipv4(TCP, tcp(b"x" * 100, 5, PSH_ACK, pseudo(IP_A, IP_B, TCP, 120))))
        dev_queue_xmit(partial_skb(w, frame, 34, 16))
    w.run("1ms")
    assert [r.ip_summed for r in w.b.rx] == [CHECKSUM_NONE, CHECKSUM_UNNECESSARY]
    assert w.b.adapter.hw_csum_rx_error == 1 and w.b.adapter.hw_csum_rx_good == 1
    stats = ethtool_get_stats(w.b.netdev)
    assert stats["rx_csum_offload_errors"] == 1 and stats["rx_csum_offload_good"] == 1


def test_without_rx_checksum_offload_frames_arrive_unchecked():
    w = DriverPair(params_b={"XsumRX": 0})
    frame = eth(w, ipv4(TCP, tcp(b"y" * 10, 5, PSH_ACK, pseudo(IP_A, IP_B, TCP, 30))))
    dev_queue_xmit(partial_skb(w, frame, 34, 16))
    w.run("1ms")
    assert [r.ip_summed for r in w.b.rx] == [CHECKSUM_NONE]
    assert l4_ok(w.b.rx[0].frame[14:])
