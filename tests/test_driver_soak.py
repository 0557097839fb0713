"""100,000 frames each way through both rings many times over, then zero leaks."""

from __future__ import annotations

from helpers.driver import DriverPair, tx_mappings

from stack.core.dev import PacketType
from stack.core.etherdevice import ETH_P_ALL
from stack.core.netdevice import dev_close
from stack.core.skbuff import PACKET_OUTGOING, consume_skb

FRAMES = 100_000
BURST = 50  # frames per burst; one burst every 40 us each way (about 7.5 Gb/s)
SIZES = (60, 64, 128, 200, 256, 257, 512, 1000, 1514, 777)


def test_100k_frames_each_way_wrap_the_rings_and_leak_nothing():
    w = DriverPair()
    expect = {}
    for src in w.hosts:
        expect[w.peer(src)] = [w.frame(src, SIZES[i % len(SIZES)], seq=i)
                               for i in range(len(SIZES) * 3)]
    seen = {w.a: 0, w.b: 0}
    bad = []

    def checker(host):
        def tap(skb, dev, pt, orig):
            if skb.pkt_type != PACKET_OUTGOING:
                i = seen[host]
                frame = skb.mac_bytes()
                want = expect[host][i % len(expect[host])]
                if frame != want and len(bad) < 5:
                    bad.append((host.name, i, len(frame), len(want)))
                seen[host] = i + 1
            consume_skb(skb)
            return 0
        return tap

    for host in w.hosts:
        host.taps_on = False
        host.kernel.dev_add_pack(PacketType(ETH_P_ALL, checker(host), dev=host.netdev))
    dmas_open = {host: host.machine.dma.live for host in w.hosts}
    sent = 0
    while sent < FRAMES:
        for src in w.hosts:
            frames = expect[w.peer(src)]
            for i in range(sent, sent + BURST):
                assert w.send(src, frames[i % len(frames)]) == 0
        sent += BURST
        w.run(40_000)
    w.run("2ms")
    assert bad == []
    assert seen == {w.a: FRAMES, w.b: FRAMES}
    for host in w.hosts:
        adapter = host.adapter
        assert adapter.tx_ring.next_to_clean == adapter.tx_ring.next_to_use == FRAMES % 256
        assert adapter.rx_ring.next_to_clean == FRAMES % 512
        assert adapter.restart_queue == 0  # the ring never filled at this rate
        # Every TX chunk was unmapped and freed; what stays mapped is the rings and the RX
        # buffers posted to hardware.
        assert tx_mappings(host) == 0
        assert host.machine.dma.live == dmas_open[host] == 2 + 508
        assert host.kernel.skb_live == 0
        assert host.slot.pci.irq_delivered < FRAMES / 10
    for host in w.hosts:
        assert dev_close(host.netdev) == 0
        assert host.machine.dma.live == 0
        assert host.machine.mem.live_allocations == 0
        assert host.kernel.skb_live == 0
        assert host.kernel.skb_drops == 0
    w.assert_clean()
