"""DMA and guest RAM: the IOMMU map is exact and never reaches outside RAM (issue 19, 3 and 7).

``DmaMap.map`` (``dma_map_single``/``dma_map_page``) refuses a range outside guest RAM with
``DMA_MAPPING_ERROR``; a device access to such an address, or to a ring programmed there, is a
device fault naming the descriptor or register, never an alias of other RAM and never an
exception out of ``run_for``.  The ixgb driver checks every mapping as Linux's does.
``DmaMap.allows`` agrees with a brute-force oracle whatever mappings nest or overlap.
"""

from __future__ import annotations

import hashlib
import random

from helpers.driver import DriverPair
from helpers.qtest import make_rig

from device.memory import DmaMap
from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import (
    DMA_BIDIRECTIONAL,
    DMA_FROM_DEVICE,
    DMA_MAPPING_ERROR,
    DMA_TO_DEVICE,
)
from stack.core import alloc_pages, skb_add_rx_frag
from stack.core.page import Page
from stack.core.qdisc import dev_queue_xmit

DST = b"\xff" * 6  # broadcast: accepted by the filter (RCTL.BAM) without programming RAR
SRC = bytes.fromhex("020000000001")


def frame(n: int = 100, salt: int = 0) -> bytes:
    return DST + SRC + b"\x88\xb5" + bytes((i + salt) & 0xFF for i in range(n - 14))


def ram_digest(rig) -> str:
    return hashlib.sha256(rig.mem.view).hexdigest()


def ready_rig():
    rig = make_rig()
    rig.rd(R.ICR)
    return rig


# -- the map ----------------------------------------------------------------------------
def test_mapping_outside_guest_ram_is_refused_and_maps_nothing():
    rig = ready_rig()
    pdev = rig.slot.pci_dev
    base, end = rig.mem.base, rig.mem.base + rig.mem.size
    live = rig.machine.dma.live
    for addr, length in (
        (0x1000, 2048),
        (base - 16, 32),
        (end - 16, 32),
        (end, 1),
        (1 << 40, 64),
        (base, -1),
    ):
        assert pdev.dma_map_single(addr, length, DMA_FROM_DEVICE) == DMA_MAPPING_ERROR
        assert pdev.dma_mapping_error(DMA_MAPPING_ERROR)
        if length > 0:
            assert pdev.dma_map_page(addr, 0, length, DMA_TO_DEVICE) == DMA_MAPPING_ERROR
    assert rig.machine.dma.live == live and rig.machine.dma.map_errors == 11
    # The edges of RAM are mappable.
    assert pdev.dma_map_single(base, 64, DMA_TO_DEVICE) == base
    assert pdev.dma_map_single(end - 64, 64, DMA_TO_DEVICE) == end - 64
    assert not pdev.dma_mapping_error(base)
    assert rig.faults.count == 0


# -- the device: RX buffers and rings -----------------------------------------------------
def test_rx_buffer_below_ram_is_a_fault_not_an_alias_of_the_end_of_ram():
    """The reported case: a buffer at 0x1000 (below the RAM base) was written to RAM at
    base + size - (base - 0x1000), silently."""
    rig = ready_rig()
    rig.setup_rx(count=8)
    # A driver that ignored dma_mapping_error() posts 0x1000 in descriptor 0.
    assert rig.slot.pci_dev.dma_map_single(0x1000, 2048, DMA_FROM_DEVICE) == DMA_MAPPING_ERROR
    rig.mem.write(rig.rx_ring, D.RX_DESC.pack(0x1000, 0, 0, 0, 0, 0))
    before = ram_digest(rig)
    rig.inject(frame(200))
    rig.run()
    assert [f.register for f in rig.faults] == ["RX buffer 0"]
    assert "0x1000 outside guest RAM" in rig.faults.faults[0].message
    # Descriptor 0 consumed with RXE (the engine's unwritable-buffer rule), nothing else.
    _addr, length, _r, status, errors, _sp = rig.rx_desc(0)
    assert (length, status, errors) == (0, D.RXD_STAT_DD | D.RXD_STAT_EOP, D.RXD_ERR_RXE)
    rig.mem.write(rig.rx_ring, D.RX_DESC.pack(0x1000, 0, 0, 0, 0, 0))  # undo the write-back
    assert ram_digest(rig) == before
    assert rig.nic.rx.state()["dropped_dma"] == 1


def test_rx_buffer_past_the_end_of_ram_is_a_fault_not_an_exception():
    rig = ready_rig()
    rig.setup_rx(count=8)
    end = rig.mem.base + rig.mem.size
    # Mapped by a driver that ignored dma_mapping_error(): the old map accepted it, and the
    # device's write raised ValueError out of run_for.
    pdev = rig.slot.pci_dev
    assert pdev.dma_map_single(end - 100, 2048, DMA_FROM_DEVICE) == DMA_MAPPING_ERROR
    rig.mem.write(rig.rx_ring, D.RX_DESC.pack(end - 100, 0, 0, 0, 0, 0))
    rig.inject(frame(200))
    rig.inject(frame(300, 1))
    rig.run()
    assert [f.register for f in rig.faults] == ["RX buffer 0"]
    assert rig.rx_desc(1)[1] == 300 and rig.nic.peek(R.RDH) == 2  # the next frame is fine


def test_rx_ring_outside_ram_is_a_fault_naming_the_descriptor():
    for where in ("below", "past"):
        rig = ready_rig()
        rig.setup_rx(count=8)
        end = rig.mem.base + rig.mem.size
        ring = 0x2000 if where == "below" else end - 64  # 4 descriptors in, 4 beyond
        pdev = rig.slot.pci_dev
        assert pdev.dma_map_single(ring, 128, DMA_BIDIRECTIONAL) == DMA_MAPPING_ERROR
        rig.wr(R.RDBAL, ring)
        rig.wr(R.RDBAH, 0)
        before = ram_digest(rig)
        for k in range(6):
            rig.inject(frame(100 + k))
        rig.run()
        assert rig.faults.count == 6, where
        assert {f.register for f in rig.faults} == {"RX desc 0"}
        assert rig.nic.peek(R.RDH) == 0 and ram_digest(rig) == before


def test_tx_ring_outside_ram_is_a_fault_naming_tdbal():
    for base in ("below", "past", "high"):
        rig = ready_rig()
        rig.setup_tx(count=64)
        end = rig.mem.base + rig.mem.size
        ring = {"below": 0x1000, "past": end - 256, "high": 1 << 36}[base]
        pdev = rig.slot.pci_dev
        assert pdev.dma_map_single(ring, 1024, DMA_BIDIRECTIONAL) == DMA_MAPPING_ERROR
        rig.wr(R.TCTL, 0)
        rig.wr(R.TDBAL, ring & 0xFFFFFFFF)
        rig.wr(R.TDBAH, ring >> 32)
        rig.wr(R.TCTL, R.TCTL_TXEN)
        rig.wr(R.TDT, 40)  # 40 descriptors, 16 of them in RAM for "past"
        rig.run()
        assert [f.register for f in rig.faults] == ["TDBAL"], base
        assert rig.wire == [] and rig.nic.peek(R.TDH) == 0


def test_tx_buffer_outside_ram_is_a_fault_and_the_packet_is_dropped():
    rig = ready_rig()
    rig.setup_tx()
    end = rig.mem.base + rig.mem.size
    good = frame(80)
    for i, addr in enumerate((0x1000, end - 40, rig.buffer(good))):
        rig.tx_desc(i, addr, 80, D.TXD_CMD_EOP | D.TXD_CMD_RS)
    rig.wr(R.TDT, 3)
    rig.run()
    assert [f.register for f in rig.faults] == ["TXD[0]", "TXD[1]"]
    assert all("outside guest RAM" in f.message for f in rig.faults)
    assert rig.wire == [good] and rig.nic.tx.dropped == 2 and rig.nic.peek(R.TDH) == 3


# -- the driver checks dma_mapping_error() --------------------------------------------------
def test_driver_drops_a_packet_whose_fragment_cannot_be_mapped():
    w = DriverPair()
    ring = w.a.adapter.tx_ring
    first = ring.next_to_use
    tdt = w.a.peek(R.TDT)
    skb = w.skb(w.a, w.frame(w.a, 60))
    # A fragment whose page lies outside guest RAM (a bogus struct page): dma_map_page fails.
    # It holds a second reference, so freeing the skb does not give it back to the allocator.
    bogus = Page(w.a.kernel, 0x1000, memoryview(bytearray(4096)), 0)
    bogus.refcount = 2
    skb_add_rx_frag(skb, 0, bogus, 0, 100, 4096)
    good_page = alloc_pages(w.a.kernel, 0)
    skb_add_rx_frag(skb, 1, good_page, 0, 100, 4096)
    dev_queue_xmit(skb)
    w.run("1ms")
    assert ring.next_to_use == first and w.a.peek(R.TDT) == tdt  # nothing queued
    assert all(bi.dma == 0 and bi.buf == 0 for bi in ring.buffer_info)  # all unwound
    assert w.a.nic.tx.frames == 0 and not w.a.faults()
    assert "TX DMA map failed" in w.a.kernel.dmesg_text()
    # The next packet goes out as usual.
    w.send(w.a, w.frame(w.a, 200))
    w.run("1ms")
    assert len(w.b.frames()) == 1


def test_driver_rx_refill_stops_at_a_failed_mapping_and_counts_it():
    w = DriverPair()
    adapter = w.a.adapter
    pdev = adapter.pdev
    real = pdev.dma_map_single
    fail = {"n": 0}

    def failing_map(addr: int, length: int, direction: int) -> int:
        # Fault injection standing in for an IOMMU out of space: the next calls fail.
        if fail["n"]:
            fail["n"] -= 1
            return DMA_MAPPING_ERROR
        return real(addr, length, direction)

    pdev.dma_map_single = failing_map
    for k in range(12):  # consume buffers so the driver refills
        w.send(w.b, w.frame(w.b, 100, seq=k))
    fail["n"] = 1
    w.run("1ms")
    assert adapter.alloc_rx_buff_failed >= 1
    assert len(w.a.frames()) == 12 and not w.a.faults()
    # Descriptors never point at DMA_MAPPING_ERROR: every posted buffer is a live mapping.
    for k in range(adapter.rx_ring.count):
        addr = int.from_bytes(adapter.rx_ring.desc[k * 16 : k * 16 + 8], "little")
        assert addr != DMA_MAPPING_ERROR & ((1 << 64) - 1)
    for k in range(12, 24):
        w.send(w.b, w.frame(w.b, 100, seq=k))
    w.run("1ms")
    assert len(w.a.frames()) == 24 and not w.a.faults()


# -- item 7: exact lookups ------------------------------------------------------------------
def _oracle(live: list[tuple[int, int, int]], addr: int, length: int, need: int) -> bool:
    end = addr + length
    return any(s <= addr and end <= e and d & need for s, e, d in live)


def test_allows_agrees_with_a_brute_force_oracle():
    """Seeded random maps (nested, overlapping, some larger than 1 MiB), unmaps and lookups:
    zero disagreements.  The old fixed 1 MiB look-back refused DMA into a large mapping
    that contained the start of another one."""
    rng = random.Random(19)
    lo, hi = 0x10_0000, 0x10_0000 + (64 << 20)
    dmap = DmaMap(lo, hi)
    live: list[tuple[int, int, int]] = []
    lookups = disagreements = allowed = 0
    for _ in range(30_000):
        op = rng.random()
        if op < 0.25 or not live:
            size = rng.choice((64, 2048, 4096, 65536, 3 << 20, rng.randrange(1, 8 << 20)))
            addr = rng.randrange(lo, hi - size) & ~0x3F
            direction = rng.choice((DMA_TO_DEVICE, DMA_FROM_DEVICE, DMA_BIDIRECTIONAL))
            assert dmap.map(addr, size, direction) == addr
            live.append((addr, addr + size, direction))
        elif op < 0.4:
            s, e, d = live.pop(rng.randrange(len(live)))
            assert dmap.unmap(s, e - s, d)
        else:
            if rng.random() < 0.7:
                s, e, _d = rng.choice(live)
                addr = rng.randrange(s, e)
                length = rng.randrange(0, min(e - addr, 16384) + 1)
                if rng.random() < 0.2:
                    length += rng.randrange(1, 1 << 21)
            else:
                addr = rng.randrange(lo, hi)
                length = rng.randrange(0, 1 << 16)
            need = rng.choice((DMA_TO_DEVICE, DMA_FROM_DEVICE))
            got = dmap.allows(addr, length, need)
            want = _oracle(live, addr, length, need)
            lookups += 1
            allowed += want
            disagreements += got != want
    assert disagreements == 0
    assert lookups > 15_000 and allowed > lookups // 3  # the check exercised both answers
    assert dmap.live == len(live)


def test_a_large_mapping_containing_the_start_of_another_allows_dma_into_it():
    dmap = DmaMap(0, 1 << 32)
    dmap.map(0x100000, 4 << 20, DMA_BIDIRECTIONAL)  # a 4 MiB coherent block
    dmap.map(0x300000, 2048, DMA_FROM_DEVICE)  # a buffer inside it
    assert dmap.allows(0x300000 + 4096, 1500, DMA_FROM_DEVICE)
    assert dmap.allows(0x4FF000, 4096, DMA_TO_DEVICE)
    assert not dmap.allows(0x4FF000, 4097, DMA_TO_DEVICE)
    dmap.unmap(0x100000, 4 << 20, DMA_BIDIRECTIONAL)
    assert not dmap.allows(0x300000 + 4096, 1500, DMA_FROM_DEVICE)
    assert dmap.allows(0x300000, 2048, DMA_FROM_DEVICE)


def test_starts_left_by_unmapped_buffers_neither_allow_nor_grow_without_bound():
    """An unmapped buffer's start stays in the range search's list (so mapping the same
    address again costs no insort): it allows nothing, a mapping that contains it still
    answers, and the list is compacted when the stale starts outnumber the live ones."""
    dmap = DmaMap(0, 1 << 32)
    dmap.map(0x100000, 1 << 20, DMA_TO_DEVICE)  # a ring-sized block, one direction
    for round_ in range(50):
        for i in range(100):
            addr = 0x400000 + (round_ * 100 + i) * 4096  # fresh addresses every round
            assert dmap.map(addr, 2048, DMA_FROM_DEVICE) == addr
            assert dmap.allows(addr + 100, 1000, DMA_FROM_DEVICE)
            assert dmap.unmap(addr, 2048, DMA_FROM_DEVICE)
            assert not dmap.allows(addr, 1, DMA_FROM_DEVICE)
            assert not dmap.allows(addr + 100, 1000, DMA_TO_DEVICE)
    assert dmap.allows(0x100000 + 4096, 64, DMA_TO_DEVICE)
    assert not dmap.allows(0x100000 + 4096, 64, DMA_FROM_DEVICE)
    assert len(dmap.mappings()) == 1 and dmap.live == 1
    assert len(dmap._starts) <= 2 * 1 + 256 + 1  # compacted: 5,000 addresses were mapped
    # A buffer mapped again at a stale start is found by the exact-start and range checks.
    dmap.map(0x400000, 2048, DMA_FROM_DEVICE)
    assert dmap.allows(0x400000 + 8, 8, DMA_FROM_DEVICE)
    assert dmap.mappings() == [(0x100000, 1 << 20, DMA_TO_DEVICE, 1),
                               (0x400000, 2048, DMA_FROM_DEVICE, 1)]


def test_dma_unmap_single_of_what_was_never_mapped_is_a_fault_and_the_mapping_count_holds():
    """dma_unmap_single is the IOMMU's unmap with the function's fault reporter bound: an
    unmap of a never-mapped range, or a second unmap, is recorded with the range; a good one
    is not."""
    w = DriverPair()
    pdev = w.a.adapter.pdev
    addr = pdev.mem.alloc(2048)
    live = pdev._fn.dma_map.live
    assert pdev.dma_map_single(addr, 2048, DMA_TO_DEVICE) == addr
    pdev.dma_unmap_single(addr, 2048, DMA_TO_DEVICE)
    assert w.a.faults() == []
    pdev.dma_unmap_single(addr, 2048, DMA_TO_DEVICE)  # a double unmap
    pdev.dma_unmap_single(addr + 64, 100, DMA_FROM_DEVICE)  # never mapped at all
    faults = w.a.faults()
    assert len(faults) == 2
    assert "DMA_UNMAP" in faults[0] and "unmap of 2048 bytes that were never mapped" in faults[0]
    assert f"{addr + 64:#x}" in faults[1].lower() and "unmap of 100 bytes" in faults[1]
    assert pdev._fn.dma_map.live == live
