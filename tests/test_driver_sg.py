"""Scatter-gather through the ixgb driver: skbs with page fragments in guest memory.

The driver maps the head (copied into a chunk, dma_map_single) and every fragment where it
lies (skb_frag_dma_map / dma_map_page, mapped_as_page), one descriptor per 16 KiB; the device
gathers them; completion unmaps each the way it was mapped.  A driver variant that maps only
the head faults at the fragment's descriptor.  With SG switched off (ethtool -K sg off) the
core makes the skb linear before the driver sees it.
"""

from __future__ import annotations

import struct

import pytest
from helpers.checksum import ones_sum
from helpers.driver import DriverPair, tx_mappings

from device.trace import subscribe
from driver.ixgb import tx as ixgb_tx
from stack.core import (
    CHECKSUM_PARTIAL,
    NETIF_F_SG,
    NETIF_F_TSO,
    SKB_GSO_TCPV4,
    alloc_pages,
    skb_add_rx_frag,
)
from stack.core.dev import PacketOffload
from stack.core.ethtool_ioctl import ethtool_set_features
from stack.core.netdevice import bql_store, netdev_get_tx_queue
from stack.core.qdisc import dev_queue_xmit
from stack.ipv4.gso import inet_gso_segment

IP_A, IP_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
ETH_P_IP = 0x0800
TCP = 6


def fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def pseudo(length: int) -> int:
    return ones_sum(IP_A + IP_B + struct.pack("!BBH", 0, TCP, length))


def l4_ok(ip: bytes) -> bool:
    seg = ip[20 : struct.unpack_from("!H", ip, 2)[0]]
    return fold(ones_sum(seg) + pseudo(len(seg))) == 0xFFFF


def headers(w: DriverPair, payload_len: int, seq: int = 1000) -> bytes:
    """Ethernet + IPv4 + TCP headers for ``payload_len`` bytes, TCP checksum field seeded
    with the pseudo-header sum (CHECKSUM_PARTIAL, as Linux leaves it)."""
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + payload_len, 7, 0x4000, 64,
                               TCP, 0, IP_A, IP_B))
    struct.pack_into("!H", ip, 10, ~ones_sum(bytes(ip)) & 0xFFFF)
    th = struct.pack("!HHIIBBHHH", 40000, 5001, seq, 77, 5 << 4, 0x18, 65535,
                     pseudo(20 + payload_len), 0)
    return w.b.netdev.dev_addr + w.a.netdev.dev_addr + struct.pack("!H", ETH_P_IP) + ip + th


def payload(n: int, seed: int) -> bytes:
    return bytes((seed + i * 13) & 0xFF for i in range(n))


def frag_skb(w: DriverPair, head: bytes, pieces: list[tuple[int, bytes]]):
    """An skb with ``head`` linear and one fragment per (page order, bytes) at offset 8."""
    kernel = w.a.kernel
    skb = w.skb(w.a, head)
    pages = []
    for i, (order, piece) in enumerate(pieces):
        page = alloc_pages(kernel, order)
        page.buf[8 : 8 + len(piece)] = piece
        skb_add_rx_frag(skb, i, page, 8, len(piece), page.size)
        pages.append(page)
    skb.protocol = ETH_P_IP
    skb.network_header = skb.data + 14
    skb.transport_header = skb.data + 34
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data + 34
    skb.csum_offset = 16
    return skb, pages


def watch(w: DriverPair):
    """The device's view: data descriptors per frame, and its DMA reads of buffers."""
    ndesc: list[int] = []
    reads: list[tuple[int, int, str, bool]] = []
    subscribe(w.a.nic.tx, "tx_frame", lambda frame, n: ndesc.append(n))
    subscribe(w.a.slot.pci, "dma", lambda d, addr, length, what, ok: reads.append(
        (addr, length, what, ok)) if d == "R" and what.startswith("TXD") else None)
    return ndesc, reads


def test_fragments_are_mapped_in_place_and_unmapped_on_completion():
    w = DriverPair()
    body = [payload(600, 1), payload(400, 2)]
    head = headers(w, 1000)
    skb, pages = frag_skb(w, head, [(0, body[0]), (0, body[1])])
    mapped_as_page: list[tuple[int, bool]] = []
    ring = w.a.adapter.tx_ring
    first = ring.next_to_use
    ndesc, reads = watch(w)
    assert dev_queue_xmit(skb) == 0
    # Before the device ran: three data descriptors after the checksum context; the two
    # fragments' slots are mapped_as_page at their pages' guest addresses.
    for k in range(1, 4):
        bi = ring.buffer_info[first + k]
        mapped_as_page.append((bi.dma, bi.mapped_as_page))
    assert mapped_as_page[0][1] is False
    assert mapped_as_page[1:] == [(pages[0].addr + 8, True), (pages[1].addr + 8, True)]
    assert tx_mappings(w.a) == 3
    w.run("1ms")
    assert ndesc == [3]
    assert [(a, n) for a, n, _what, ok in reads if ok][-2:] == [
        (pages[0].addr + 8, 600), (pages[1].addr + 8, 400)]  # the device read the pages
    assert len(w.b.rx) == 1
    ip = w.b.rx[0].frame[14:]
    assert ip[40:] == body[0] + body[1] and l4_ok(ip)
    # clean_tx_irq: every slot unmapped the way it was mapped, the skb and its pages freed
    assert tx_mappings(w.a) == 0
    assert w.a.kernel.pages_live == 0 and w.a.kernel.skb_live == 0
    w.assert_clean()


def test_a_32k_fragment_takes_two_descriptors_and_tso_ends_with_the_sentinel():
    w = DriverPair()
    mss = 1448
    body = [payload(1000, 3), payload(20000, 4), payload(9000, 5)]
    total = sum(map(len, body))
    skb, pages = frag_skb(w, headers(w, total, seq=5), [(0, body[0]), (3, body[1]),
                                                         (3, body[2])])
    skb.gso_size = mss
    skb.gso_type = SKB_GSO_TCPV4
    ndesc, reads = watch(w)
    assert dev_queue_xmit(skb) == 0
    w.run("2ms")
    # head 54 -> 1; 1000 -> 1; 20000 -> 16384 + 3616; 9000 -> 8996 + the 4-byte sentinel
    nseg = -(-total // mss)
    assert ndesc == [6] * nseg
    sizes = [n for _a, n, _w, ok in reads if ok]
    assert sizes[-5:] == [1000, 16384, 3616, 8996, 4]
    got = b"".join(r.frame[54:] for r in w.b.rx)
    assert got == b"".join(body) and all(l4_ok(r.frame[14:]) for r in w.b.rx)
    assert tx_mappings(w.a) == 0 and w.a.kernel.pages_live == 0
    w.assert_clean()


def test_a_driver_that_maps_only_the_head_faults_at_the_fragment(monkeypatch):
    """The classic SG bug: descriptors point at fragment pages nobody mapped."""
    w = DriverPair()
    monkeypatch.setattr(ixgb_tx, "skb_frag_dma_map",
                        lambda pdev, frag, off, size, d: frag.page.addr + frag.page_offset + off)
    monkeypatch.setattr(type(w.a.adapter.pdev), "dma_unmap_page",
                        lambda self, addr, size, d: None, raising=False)
    skb, pages = frag_skb(w, headers(w, 300), [(0, payload(300, 6))])
    first = w.a.adapter.tx_ring.next_to_use
    assert dev_queue_xmit(skb) == 0
    w.run("1ms")
    faults = w.a.faults()
    addr = pages[0].addr + 8
    assert faults and f"TXD[{first + 2}]" in faults[0] and f"{addr:#x}" in faults[0].lower()
    assert w.b.rx == []


@pytest.mark.parametrize("gso", [False, True])
def test_sg_off_linearizes_before_the_driver(gso: bool):
    w = DriverPair()
    # stack=False hosts have no IPv4: give host a the software GSO Net would register
    w.a.kernel.offloads[ETH_P_IP] = PacketOffload(ETH_P_IP, inet_gso_segment)
    features = ethtool_set_features(w.a.netdev, off=NETIF_F_SG)
    assert not features & NETIF_F_SG and not features & NETIF_F_TSO  # TSO needs SG
    body = [payload(3000, 7), payload(2000, 8)] if gso else [payload(500, 7), payload(500, 8)]
    skb, pages = frag_skb(w, headers(w, sum(map(len, body))), [(0, body[0]), (0, body[1])])
    if gso:
        skb.gso_size = 1448
        skb.gso_type = SKB_GSO_TCPV4
    ndesc, _reads = watch(w)
    ring = w.a.adapter.tx_ring
    first = ring.next_to_use
    assert dev_queue_xmit(skb) == 0
    assert not any(ring.buffer_info[(first + k) % ring.count].mapped_as_page
                   for k in range(4))
    w.run("1ms")
    assert ndesc == ([1] * 4 if gso else [1])  # linear: one chunk per frame
    got = b"".join(r.frame[54:] for r in w.b.rx)
    assert got == b"".join(body) and all(l4_ok(r.frame[14:]) for r in w.b.rx)
    assert w.a.kernel.pages_live == 0 and tx_mappings(w.a) == 0
    w.assert_clean()


def test_a_packet_tap_sees_the_fragments_of_a_transmitted_skb():
    """dev_queue_xmit_nit hands taps a clone that shares the fragments: the captured frame is
    the whole frame, as the wire carries it."""
    w = DriverPair()
    cap = w.a.host.capture("eth0")
    body = [payload(300, 9), payload(200, 10)]
    head = headers(w, 500)
    skb, _pages = frag_skb(w, head, [(0, body[0]), (0, body[1])])
    assert dev_queue_xmit(skb) == 0
    w.run("1ms")
    out = [f.frame for f in cap.frames if f.direction == "out"]
    assert len(out) == 1 and out[0][54:] == body[0] + body[1]
    assert w.b.rx[0].frame[54:] == out[0][54:]
    cap.stop()
    assert w.a.kernel.pages_live == 0


def test_software_gso_under_sg_keeps_the_fragments_pages():
    """TSO off, SG on: inet_gso_segment cuts the super-segment into frames whose payload
    shares the original's pages (skb_segment), so the driver maps every frame's payload in
    place (mapped_as_page) and the far end gets the same bytes."""
    w = DriverPair()
    w.a.kernel.offloads[ETH_P_IP] = PacketOffload(ETH_P_IP, inet_gso_segment)
    features = ethtool_set_features(w.a.netdev, off=NETIF_F_TSO)
    assert features & NETIF_F_SG and not features & NETIF_F_TSO
    body = [payload(3000, 11), payload(2000, 12)]
    skb, pages = frag_skb(w, headers(w, 5000), [(1, body[0]), (0, body[1])])
    skb.gso_size = 1448
    skb.gso_type = SKB_GSO_TCPV4
    # BQL's first limit (0) would stop the queue after the first frame: let all four reach the
    # ring at once, so they can be looked at before the device runs
    bql_store(netdev_get_tx_queue(w.a.netdev, 0), "limit_min", 1 << 16)
    ndesc, _reads = watch(w)
    ring = w.a.adapter.tx_ring
    first = ring.next_to_use
    assert dev_queue_xmit(skb) == 0
    as_page = [ring.buffer_info[(first + k) % ring.count].mapped_as_page for k in range(16)]
    assert sum(as_page) == 5  # payloads 1448 | 1448 | 104 + 1344 | 656 over the two pages
    w.run("1ms")
    # four frames: head + fragment(s) each; the third straddles the two pages
    assert ndesc == [2, 2, 3, 2]
    got = b"".join(r.frame[54:] for r in w.b.rx)
    assert got == b"".join(body) and all(l4_ok(r.frame[14:]) for r in w.b.rx)
    assert [len(r.frame) - 54 for r in w.b.rx] == [1448, 1448, 1448, 656]
    assert w.a.kernel.pages_live == 0 and tx_mappings(w.a) == 0
    w.assert_clean()
