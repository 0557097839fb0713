"""TCP super-segments through ip_queue_xmit: software GSO for a device without TSO, the
device's own "hardware" TSO, and checksum offload either way; every frame on the wire valid."""

from __future__ import annotations

import pytest
from helpers.frames import Tap
from helpers.stack import two_hosts
from helpers.units import MS, S

from stack.core import (
    CHECKSUM_PARTIAL,
    ETH_P_IP,
    NETIF_F_HW_CSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    SKB_GSO_TCPV4,
    SkBuff,
    alloc_skb,
    consume_skb,
)
from stack.ipv4 import MAX_HEADER, ip_queue_xmit
from stack.wire import ACK, FIN, PSH, TcpPacket, TcpRepr, ip_bytes, pseudo_header_sum
from stack.wire.checksum import l4_checksum
from stack.wire.layout import U16

A = ip_bytes("10.0.0.1")
B = ip_bytes("10.0.0.2")
PAYLOAD = bytes(i & 0xFF for i in range(4000))


def super_segment(kernel, partial: bool) -> SkBuff:
    skb = alloc_skb(kernel, MAX_HEADER + 20 + len(PAYLOAD))
    skb.reserve(MAX_HEADER + 20)
    skb.put_data(PAYLOAD)
    off = skb.push(20)
    TcpRepr(40000, 80, 1000, 555, ACK | PSH | FIN, 65535,
            payload_len=len(PAYLOAD)).emit(skb.head, off)  # checksum field left 0
    skb.transport_header = off
    seg = memoryview(skb.head)[off : skb.tail]
    if partial:
        U16.pack_into(skb.head, off + 16, pseudo_header_sum(A, B, 6, len(seg)))
        skb.ip_summed = CHECKSUM_PARTIAL
        skb.csum_start = off
        skb.csum_offset = 16
    else:
        U16.pack_into(skb.head, off + 16, l4_checksum(A, B, 6, seg))
    skb.gso_size = 1000
    skb.gso_segs = 4
    skb.gso_type = SKB_GSO_TCPV4
    return skb


@pytest.mark.parametrize("features", [0, NETIF_F_HW_CSUM, NETIF_F_SG | NETIF_F_HW_CSUM
                                      | NETIF_F_TSO])
@pytest.mark.parametrize("partial", [True, False])
def test_super_segment_arrives_as_valid_mss_segments(features, partial):
    sched, a, b = two_hosts(features=features)
    got: list[tuple[bytes, bytes]] = []

    def tcp_catch(net, skb: SkBuff) -> None:
        nh = skb.network_header
        got.append((bytes(skb.head[nh : skb.data]), skb.tobytes()))
        consume_skb(skb)

    b.net.unregister_protocol(6)  # TCP's own handler steps aside (inet_del_protocol)
    b.net.register_protocol(6, tcp_catch)
    tap = Tap(a.kernel)
    assert ip_queue_xmit(a.net, super_segment(a.kernel, partial), A, B, 6) == 0
    sched.run_for(10 * MS)
    assert len(got) == 4
    ids = []
    for i, (iph, seg) in enumerate(got):
        tcp = TcpPacket.checked(seg, A, B)  # the checksum verifies
        repr_ = TcpRepr.parse(tcp)
        assert repr_.seq == 1000 + 1000 * i
        last = i == 3
        assert bool(repr_.flags & FIN) == last and bool(repr_.flags & PSH) == last
        assert repr_.flags & ACK
        assert bytes(tcp.payload) == PAYLOAD[i * 1000 : (i + 1) * 1000]
        ids.append(U16.unpack_from(iph, 4)[0])
        assert iph[8] == 64 and U16.unpack_from(iph, 2)[0] == 1040
    assert ids == [(ids[0] + i) & 0xFFFF for i in range(4)]
    sent = tap.sent(ETH_P_IP)
    if features & NETIF_F_TSO:
        assert [len(f) for _t, f in sent] == [14 + 40 + 4000]  # the device segments it
    else:
        assert [len(f) for _t, f in sent] == [14 + 40 + 1000] * 4
    assert a.kernel.skb_live == 0 and b.kernel.skb_live == 0
    sched.run_for(S)
