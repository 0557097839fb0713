"""The ixgb data path against the device: sizes, jumbo, copybreak, doorbells, queue, NAPI, IRQs."""

from __future__ import annotations

from helpers.driver import DriverPair, tx_mappings

from device.spec import regs as R
from driver.ixgb.adapter import desc_unused
from driver.ixgb.tx import DESC_NEEDED
from stack.core import bql_store, netdev_get_tx_queue
from stack.core.ethtool_ioctl import ethtool_get_stats
from stack.core.netdevice import dev_set_mtu, netif_queue_stopped

SIZES = [60, 61, 64, 127, 128, 255, 256, 257, 511, 512, 1000, 1023, 1024, 1500, 1513, 1514]
JUMBO_SIZES = [1515, 2048, 4096, 8191, 9014, 9018, 12000, 16383, 16384, 16385, 16114]


def test_frames_of_every_size_both_ways_byte_exact():
    w = DriverPair()
    sent = {w.a: [], w.b: []}
    for i, size in enumerate(SIZES):
        for src in w.hosts:
            frame = w.frame(src, size, seq=i)
            sent[src].append(frame)
            assert w.send(src, frame) == 0
        w.run("100us")
    w.run("1ms")
    assert w.b.frames() == sent[w.a]
    assert w.a.frames() == sent[w.b]
    w.assert_clean()


def test_short_frames_are_padded_to_60_bytes_by_the_device():
    w = DriverPair()
    frame = w.frame(w.a, 42)
    w.send(w.a, frame)
    w.run("1ms")
    assert w.b.frames() == [frame + bytes(18)]


def test_jumbo_frames_up_to_the_maximum_mtu_after_an_mtu_change():
    w = DriverPair()
    for host in w.hosts:
        assert dev_set_mtu(host.netdev, 16114) == 0
        assert host.netdev.mtu == 16114
        assert host.peek(R.MFS) >> 16 == 16114 + 18
        assert host.peek(R.CTRL0) & R.CTRL0_JFE
        assert host.peek(R.RCTL) & R.RCTL_BSIZE_MASK == R.RCTL_BSIZE_16384
        assert host.adapter.rx_buffer_len == 16114 + 18 + 8
    w.run("10ms")
    sent = {w.a: [], w.b: []}
    for i, size in enumerate(SIZES[::3] + JUMBO_SIZES):
        size = min(size, 16114 + 14)
        for src in w.hosts:
            frame = w.frame(src, size, seq=i)
            sent[src].append(frame)
            w.send(src, frame)
        w.run("200us")
    w.run("1ms")
    assert w.b.frames() == sent[w.a]
    assert w.a.frames() == sent[w.b]
    w.assert_clean()


def test_a_frame_above_the_mtu_is_dropped_by_the_receiver_as_oversize():
    w = DriverPair()
    assert dev_set_mtu(w.a.netdev, 9000) == 0
    w.run("10ms")
    w.send(w.a, w.frame(w.a, 9014))
    w.run("1ms")
    assert w.b.frames() == []
    assert ethtool_get_stats(w.b.netdev)["rx_long_length_errors"] == 1  # ROC


def test_copybreak_recycles_small_buffers_and_replaces_large_ones():
    w = DriverPair()
    mem = w.b.machine.mem
    for i in range(600):  # wrap the ring once: the 4 slots never posted get buffers too
        w.send(w.a, w.frame(w.a, 60, seq=i))
        if i % 100 == 99:
            w.run("100us")
    w.run("1ms")
    assert mem.live_allocations == 2 + 512 and w.b.machine.dma.live == 2 + 508
    allocs, frees = mem.allocs, mem.frees
    for i in range(50):
        w.send(w.a, w.frame(w.a, 256, seq=i))  # <= copybreak (256): the buffer is recycled
    w.run("1ms")
    assert len(w.b.rx) == 650
    assert (mem.allocs, mem.frees) == (allocs, frees)
    for i in range(50):
        w.send(w.a, w.frame(w.a, 257, seq=i))  # > copybreak: the buffer goes, a new one comes
    w.run("1ms")
    assert len(w.b.rx) == 700
    assert mem.frees == frees + 50
    # The refill first re-posts the 4 idle slots' recycled buffers, then allocates.
    assert mem.allocs == allocs + 46 and mem.live_allocations == 2 + 508
    assert w.b.machine.dma.live == 2 + 508


def test_doorbells_are_batched_with_xmit_more():
    w = DriverPair()
    tdt_writes = []
    w.a.nic.trace_mmio.append(
        lambda kind, off, value, old: tdt_writes.append(value) if kind == "w" and off == R.TDT
        else None)
    # 63 frames wait in the qdisc; the 64th makes one qdisc run hand all 64 to the driver,
    # the first 63 with xmit_more: one doorbell for the burst.  BQL's limit starts at
    # limit_min (0), which would stop the queue after the first packet (a doorbell each
    # time, as in Linux): give it room for the burst.
    bql_store(netdev_get_tx_queue(w.a.netdev, 0), "limit_min", 64 * 60)
    for i in range(63):
        w.a.netdev.qdisc.enqueue(w.skb(w.a, w.frame(w.a, 60, seq=i)))
    w.send(w.a, w.frame(w.a, 60, seq=63))
    w.run("1ms")
    assert len(w.b.rx) == 64
    assert tdt_writes == [64]
    assert w.b.frames() == [w.frame(w.a, 60, seq=i) for i in range(64)]


def test_bql_stop_writes_the_doorbell_and_the_limit_grows_under_starvation():
    """With BQL's limit at its start (0) the first packet of a burst stops the queue
    (STACK_XOFF) and its doorbell is written at once; each completion that finds the device
    starved grows the limit, so the doorbells of one burst come at growing strides."""
    w = DriverPair()
    txq = netdev_get_tx_queue(w.a.netdev, 0)
    tdt_writes = []
    w.a.nic.trace_mmio.append(
        lambda kind, off, value, old: tdt_writes.append(value) if kind == "w" and off == R.TDT
        else None)
    for i in range(63):
        w.a.netdev.qdisc.enqueue(w.skb(w.a, w.frame(w.a, 60, seq=i)))
    w.send(w.a, w.frame(w.a, 60, seq=63))
    w.run("1ms")
    assert len(w.b.rx) == 64
    assert tdt_writes[0] == 1  # stopped by BQL after one packet
    strides = [b - a for a, b in zip(tdt_writes, tdt_writes[1:], strict=False)]
    assert strides[:3] == sorted(strides[:3]) and strides[2] > strides[0]
    assert tdt_writes[-1] == 64 and len(tdt_writes) < 64
    assert txq.dql.limit > 0 and txq.dql.inflight == 0 and not txq.stack_xoff


def test_the_queue_stops_when_the_tx_ring_fills_and_wakes_after_cleaning():
    w = DriverPair(params_a={"TxDescriptors": 64})
    # BQL would stop the qdisc long before the ring fills: lift its floor above the ring.
    bql_store(netdev_get_tx_queue(w.a.netdev, 0), "limit_min", 300 * 1000)
    for i in range(300):  # 300 frames in one go: the 64-descriptor ring cannot take them
        w.send(w.a, w.frame(w.a, 1000, seq=i))
    assert netif_queue_stopped(w.a.netdev)
    adapter = w.a.adapter
    assert desc_unused(adapter.tx_ring) < DESC_NEEDED
    w.run("5ms")
    assert not netif_queue_stopped(w.a.netdev)
    assert adapter.restart_queue >= 1
    assert w.b.frames() == [w.frame(w.a, 1000, seq=i) for i in range(300)]
    assert tx_mappings(w.a) == 0 and w.a.kernel.skb_live == 0
    w.assert_clean()


def test_napi_honours_its_budget_and_unmasks_only_under_budget():
    w = DriverPair()
    b = w.b
    polls: list[tuple[int, int]] = []  # (work_done, IMS writes during the poll)
    ims_writes = []
    b.nic.trace_mmio.append(
        lambda kind, off, value, old: ims_writes.append(value) if kind == "w" and off == R.IMS
        else None)
    napi = b.adapter.napi
    poll = napi.poll

    def traced(n, budget):
        start = len(ims_writes)
        done = poll(n, budget)
        assert budget == 64
        polls.append((done, len(ims_writes) - start))
        return done

    napi.poll = traced
    for i in range(300):  # at line rate: all land before RDTR's 59 us moderation expires
        w.send(w.a, w.frame(w.a, 60, seq=i))
    w.run("2ms")
    assert len(b.rx) == 300
    assert sum(done for done, _ims in polls) == 300
    assert sum(done == 64 for done, _ims in polls) >= 3  # the burst outlasted several polls
    for done, ims in polls:
        assert done <= 64
        # A poll that used its budget leaves interrupts masked (NAPI polls again); one that
        # finished under budget completes and re-enables them (one IMS write).
        assert ims == (0 if done == 64 else 1), polls
    assert b.peek(R.IMS) == R.INT_RXT0 | R.INT_RXDMT0 | R.INT_TXDW | R.INT_LSC
    assert b.slot.pci.irq_delivered - b.adapter.napi.polls <= 3


def test_interrupts_per_frame_fall_as_load_rises():
    def irqs_per_frame(gap: str, frames: int) -> float:
        w = DriverPair()
        before = w.b.slot.pci.irq_delivered
        for i in range(frames):
            w.send(w.a, w.frame(w.a, 100, seq=i))
            if gap:
                w.run(gap)
        w.run("1ms")
        assert len(w.b.rx) == frames
        return (w.b.slot.pci.irq_delivered - before) / frames

    light = irqs_per_frame("500us", 40)  # one frame every 500 us: one interrupt each
    medium = irqs_per_frame("20us", 200)  # within RDTR's 59 us: a few frames per interrupt
    heavy = irqs_per_frame("", 400)  # back to back at line rate: NAPI takes them in bulk
    assert light >= 1.0
    assert medium < light / 2
    assert heavy < 0.05
    assert heavy < medium < light


def test_tx_bounce_chunks_stay_with_their_slot_but_mappings_do_not():
    """A standard frame's bounce chunk is reused by its slot's next packet (no allocation per
    packet), a jumbo one is freed at completion; the to-device mapping is made and undone
    per packet either way, so the device can never read a completed packet's chunk."""
    w = DriverPair()
    mem = w.a.machine.mem
    count = w.a.adapter.tx_ring.count
    for i in range(count):  # every slot gets its chunk once
        w.send(w.a, w.frame(w.a, 60, seq=i))
        if i % 64 == 63:
            w.run("100us")
    w.run("1ms")
    allocs, frees, live = mem.allocs, mem.frees, mem.live_allocations
    assert tx_mappings(w.a) == 0
    for i in range(2 * count):
        w.send(w.a, w.frame(w.a, 1514 if i % 2 else 60, seq=i))
        if i % 64 == 63:
            w.run("100us")
    w.run("1ms")
    assert len(w.b.frames()) == 3 * count
    assert tx_mappings(w.a) == 0  # every chunk unmapped at completion
    # A 1514-byte frame outgrows a 64-byte chunk once per slot: one free and one allocation
    # each time, then the 2 KiB chunk serves both sizes.
    assert mem.allocs - allocs == mem.frees - frees <= count
    assert mem.live_allocations == live
    for host in w.hosts:
        assert dev_set_mtu(host.netdev, 9000) == 0
    w.run("10ms")
    allocs, frees = mem.allocs, mem.frees
    for i in range(8):
        w.send(w.a, w.frame(w.a, 9014, seq=i))
    w.run("1ms")
    assert mem.allocs - allocs == mem.frees - frees == 8  # jumbo chunks go at completion
    w.assert_clean()
