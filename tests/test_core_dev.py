"""The receive path: eth_type_trans, protocol handlers, taps in both directions, VLAN.

GRO has its own tests (test_gro.py)."""

from __future__ import annotations

import struct

import pytest
from helpers.dummy import BCAST, MAC_A, MAC_B, DummyHost, frame

from stack.core import (
    ETH_HLEN,
    ETH_P_802_2,
    ETH_P_802_3,
    ETH_P_8021Q,
    ETH_P_ALL,
    ETH_P_ARP,
    ETH_P_IP,
    NET_RX_DROP,
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    PACKET_OUTGOING,
    PacketType,
    alloc_etherdev,
    consume_skb,
    dev_queue_xmit,
    eth_random_addr,
    eth_type_trans,
    is_valid_ether_addr,
    kfree_skb,
    netdev_alloc_skb,
    netif_receive_skb,
    netif_rx,
    register_netdev,
)


@pytest.fixture
def host():
    h = DummyHost()
    h.up()
    yield h
    for skb in h.received:
        consume_skb(skb)
    assert h.kernel.skb_live == 0


def rx_skb(h: DummyHost, data: bytes):
    skb = netdev_alloc_skb(h.dev, len(data))
    skb.put_data(data)
    return skb


@pytest.mark.parametrize(
    ("dst", "pkt_type"),
    [(MAC_A, PACKET_HOST), (BCAST, PACKET_BROADCAST),
     (bytes.fromhex("01005e000001"), PACKET_MULTICAST), (MAC_B, PACKET_OTHERHOST)],
)
def test_eth_type_trans_classifies_and_pulls(host, dst, pkt_type):
    skb = rx_skb(host, frame(dst=dst, proto=ETH_P_ARP))
    start = skb.data
    assert eth_type_trans(skb, host.dev) == ETH_P_ARP
    assert skb.protocol == ETH_P_ARP and skb.pkt_type == pkt_type and skb.dev is host.dev
    assert skb.mac_header == start and skb.data == start + ETH_HLEN
    assert skb.mac_bytes() == frame(dst=dst, proto=ETH_P_ARP)
    kfree_skb(skb)


def test_eth_type_trans_8023_length_frames(host):
    llc = rx_skb(host, frame(proto=46, payload=b"\xaa\xaa\x03" + bytes(43)))
    ipx = rx_skb(host, frame(proto=46, payload=b"\xff\xff" + bytes(44)))
    assert eth_type_trans(llc, host.dev) == ETH_P_802_2
    assert eth_type_trans(ipx, host.dev) == ETH_P_802_3
    kfree_skb(llc)
    kfree_skb(ipx)


def test_mac_helpers(host):
    addr = eth_random_addr(host.sched.rng)
    assert is_valid_ether_addr(addr) and addr[0] & 0x02
    assert not is_valid_ether_addr(bytes(6)) and not is_valid_ether_addr(BCAST)


def test_handler_gets_the_network_header(host):
    host.catch()
    host.deliver([frame(payload=b"\x45IPHDR" + bytes(40))])
    host.settle()
    (skb,) = host.received
    assert skb.tobytes().startswith(b"\x45IPHDR") and skb.network_header == skb.data
    assert skb.skb_iif == host.dev.ifindex and skb.pkt_type == PACKET_HOST


def test_unknown_protocol_is_counted_and_freed(host):
    host.deliver([frame(proto=0x88B5)])
    host.settle()
    assert host.dev.stats.rx_nohandler == 1
    assert host.kernel.drop_reasons == {"UNHANDLED_PROTO": 1}


def test_every_handler_owns_a_reference(host):
    got = []

    def keep(skb, dev, pt, orig):
        got.append(skb)

    host.kernel.dev_add_pack(PacketType(ETH_P_IP, keep))
    host.kernel.dev_add_pack(PacketType(ETH_P_IP, keep))
    other = alloc_etherdev(host.kernel)
    register_netdev(other)
    host.kernel.dev_add_pack(PacketType(ETH_P_IP, keep, dev=other))  # another device's
    host.deliver([frame()])
    host.settle()
    assert len(got) == 2 and got[0] is got[1] and got[0].users == 2
    consume_skb(got[0])
    assert host.kernel.skb_live == 1
    consume_skb(got[1])


def test_taps_see_both_directions(host):
    seen = []

    def tap(skb, dev, pt, orig):
        seen.append((skb.pkt_type, skb.mac_bytes(), skb.tobytes()[:2]))
        consume_skb(skb)

    pt = PacketType(ETH_P_ALL, tap)
    host.kernel.dev_add_pack(pt)
    host.catch()
    host.deliver([frame(src=MAC_B)])
    host.settle()
    host.xmit(frame(dst=MAC_B, src=MAC_A))
    assert seen == [
        (PACKET_HOST, frame(src=MAC_B), b"\x45\x00"),  # RX: data at the IP header
        (PACKET_OUTGOING, frame(dst=MAC_B, src=MAC_A), MAC_B[:2]),  # TX: data at the MAC
    ]
    assert len(host.received) == 1 and host.dev.stats.rx_nohandler == 0
    host.kernel.dev_remove_pack(pt)
    host.xmit(frame())
    assert len(seen) == 2


def test_a_tap_does_not_hide_rx_nohandler(host):
    host.kernel.dev_add_pack(PacketType(ETH_P_ALL, lambda skb, *a: consume_skb(skb)))
    host.deliver([frame(proto=0x88B5)])
    host.settle()
    assert host.dev.stats.rx_nohandler == 1


def test_packet_socket_does_not_see_its_own_transmissions(host):
    seen = []
    me = object()
    tap = PacketType(ETH_P_ALL, lambda skb, *a: seen.append(consume_skb(skb)), af_packet_priv=me)
    host.kernel.dev_add_pack(tap)
    skb = netdev_alloc_skb(host.dev, 60)
    skb.put_data(frame())
    skb.sk = me
    dev_queue_xmit(skb)
    host.xmit(frame())
    assert len(seen) == 1


def test_inband_vlan_tag_is_untagged(host):
    host.catch()
    tagged0 = frame(proto=ETH_P_8021Q, payload=struct.pack("!HH", 0x0000, ETH_P_IP) + bytes(42))
    tagged5 = frame(proto=ETH_P_8021Q, payload=struct.pack("!HH", 0x6005, ETH_P_IP) + bytes(42))
    host.deliver([tagged0, tagged5])
    host.settle()
    a, b = host.received
    assert a.protocol == ETH_P_IP and a.pkt_type == PACKET_HOST and not a.vlan_present
    assert a.vlan_tci == 0 and a.mac_bytes() == frame(payload=bytes(42))
    assert b.pkt_type == PACKET_OTHERHOST and b.vlan_tci == 0x6005  # no VLAN device


def test_receive_without_handlers_returns_drop(host):
    skb = rx_skb(host, frame(proto=0x1234))
    eth_type_trans(skb, host.dev)
    assert netif_receive_skb(skb) == NET_RX_DROP


def test_queueless_loopback_device_delivers_to_itself(host):
    """A virtual device as the stack's ``lo`` would be: tx_queue_len 0, xmit = netif_rx."""
    from stack.core import (
        IFF_LOOPBACK,
        NETDEV_TX_OK,
        NetDeviceOps,
        alloc_netdev,
        dev_open,
        ether_setup,
    )

    class LoopbackOps(NetDeviceOps):
        def ndo_start_xmit(self, skb, dev):
            skb.pkt_type = PACKET_HOST
            eth_type_trans(skb, dev)
            netif_rx(skb)
            return NETDEV_TX_OK

    def setup(dev):
        ether_setup(dev)
        dev.tx_queue_len = 0
        dev.flags |= IFF_LOOPBACK

    lo = alloc_netdev(host.kernel, "lo", setup)
    lo.netdev_ops = LoopbackOps()
    assert register_netdev(lo) == 0 and dev_open(lo) == 0
    host.catch()
    host.kernel.netdev_max_backlog = 2000
    for _ in range(1500):  # more than any txqueuelen, all in one go
        skb = netdev_alloc_skb(lo, 60)
        skb.put_data(frame(dst=bytes(6)))
        skb.dev = lo
        dev_queue_xmit(skb)
    host.settle()
    assert len(host.received) == 1500 and lo.qdisc.drops == 0
