"""Receive: clean_rx_irq (the NAPI receive half), rx_checksum, alloc_rx_buffers.

Mirrors Linux's ``ixgb_clean_rx_irq``, ``ixgb_rx_checksum``, ``ixgb_check_copybreak`` and
``ixgb_alloc_rx_buffers`` (ixgb_main.c).  Spec: docs/hardware.md §2.7.

Contract and the ixsim differences, said out loud:

* Every RX descriptor owns a guest-memory buffer of ``rx_buffer_len`` bytes (``Buffer.buf``)
  mapped from-device.  On clean the buffer is unmapped and the frame copied into a new skb,
  since skbs are Python buffers.  Copybreak keeps Linux's meaning for the *buffer*: a frame of
  at most ``copybreak`` bytes leaves its buffer in the slot to be re-mapped ("recycle! it's
  good for you"); a longer one frees it, as Linux hands that buffer up the stack, and
  ``alloc_rx_buffers`` allocates a fresh one.
* RDT is written with the index of the last filled descriptor (``i - 1``) and three
  descriptors always stay unused; with the model's [RDH, RDT) ownership one more filled
  descriptor sits idle, which is harmless (docs/hardware.md §1.7).
* Frames go up through ``napi_gro_receive``, as modern Intel drivers (e1000e, ixgbe) pass
  them; Linux's ixgb called ``netif_receive_skb`` and so never had GRO.  With GRO a TCP
  flow's segments of one poll reach the stack as one skb (``ethtool -K eth0 gro off`` turns
  it off).
* The refill every RX_BUFFER_WRITE (8) cleaned descriptors sees the new next_to_clean.
  Linux publishes next_to_clean only at the end of the poll, so on a full ring its mid-poll
  refill finds no room and everything waits for the final one; ixsim's batches of 8 really
  go back to the hardware during a long poll.
"""

from __future__ import annotations

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE, DMA_MAPPING_ERROR
from driver.ixgb.adapter import RX_BUFFER_WRITE, Adapter, desc_unused
from stack.core import (
    CHECKSUM_UNNECESSARY,
    ETH_P_8021Q,
    eth_type_trans,
    napi_gro_receive,
    netdev_alloc_skb_ip_align,
)

_DD = D.RXD_STAT_DD
_EOP = D.RXD_STAT_EOP
_VP = D.RXD_STAT_VP
_IXSM = D.RXD_STAT_IXSM
_TCPCS = D.RXD_STAT_TCPCS
_RX_ERRORS = D.RXD_ERR_CE | D.RXD_ERR_SE | D.RXD_ERR_P | D.RXD_ERR_RXE
_WB_UNPACK = D.RX_WB.unpack_from
_ADDR_PACK = D.RX_DESC.pack_into


def rx_checksum(adapter: Adapter, status: int, errors: int, skb) -> None:
    """CHECKSUM_UNNECESSARY only when the device checked TCP/UDP and found it good."""
    if status & _IXSM or not status & _TCPCS:
        return  # CHECKSUM_NONE, as allocated
    if errors & D.RXD_ERR_TCPE:
        adapter.hw_csum_rx_error += 1  # let the stack verify it
    else:
        skb.ip_summed = CHECKSUM_UNNECESSARY
        adapter.hw_csum_rx_good += 1


def clean_rx_irq(adapter: Adapter, budget: int) -> int:
    """Pass up to ``budget`` received frames to the stack; the number of descriptors done.

    Refills the ring every RX_BUFFER_WRITE descriptors and once more at the end.
    """
    ring = adapter.rx_ring
    netdev = adapter.netdev
    desc = ring.desc
    buffer_info = ring.buffer_info
    n = ring.count
    mem = adapter.mem
    # The CPU's view of guest memory: the frame is copied straight from the RX buffer into
    # the skb (skb_put + skb_copy_to_linear_data), no slice object or put_data call per frame.
    mem_view = mem.view
    mem_base = mem.base
    unmap = adapter.pdev.dma_unmap_single
    copybreak = adapter.copybreak
    napi = adapter.napi
    i = ring.next_to_clean
    work_done = 0
    cleaned_count = 0
    while desc[(i << 4) + 12] & _DD:
        if work_done >= budget:
            break
        work_done += 1
        off = i << 4
        length, _res, status, errors, special = _WB_UNPACK(desc, off + 8)
        bi = buffer_info[i]
        i += 1
        if i == n:
            i = 0
        cleaned_count += 1
        unmap(bi.dma, bi.length, DMA_FROM_DEVICE)
        bi.dma = 0
        desc[off + 8] = desc[off + 9] = 0  # rx_desc->length = 0

        if not status & _EOP or errors & _RX_ERRORS:
            # No EOP: the frame spanned buffers (every frame must fit one); or a bad frame.
            mem.free(bi.buf)
            bi.buf = 0
        else:
            skb = netdev_alloc_skb_ip_align(netdev, length)
            off = skb.tail  # skb_put(skb, length) on a fresh skb of exactly that room
            skb.tail = off + length
            src = bi.buf - mem_base
            skb.head[off : off + length] = mem_view[src : src + length]
            if length > copybreak:
                mem.free(bi.buf)  # Linux hands this buffer up; the slot gets a fresh one
                bi.buf = 0
            if status & _TCPCS and not status & _IXSM:  # else CHECKSUM_NONE: no call
                rx_checksum(adapter, status, errors, skb)
            skb.protocol = eth_type_trans(skb, netdev)
            if status & _VP:
                skb.vlan_hwaccel_put_tag(ETH_P_8021Q, special)
            napi_gro_receive(napi, skb)

        desc[off + 12] = 0  # status: "might be written over by hardware"
        if cleaned_count >= RX_BUFFER_WRITE:
            ring.next_to_clean = i  # alloc_rx_buffers counts unused slots from here
            alloc_rx_buffers(adapter, cleaned_count)
            cleaned_count = 0
    ring.next_to_clean = i
    cleaned_count = desc_unused(ring)
    if cleaned_count:
        alloc_rx_buffers(adapter, cleaned_count)
    return work_done


def alloc_rx_buffers(adapter: Adapter, cleaned_count: int) -> None:
    """Give up to ``cleaned_count`` buffers back to hardware, leaving 3 descriptors unused.

    Each slot keeps (recycles) its buffer or gets a new one, which is mapped from-device; the
    descriptor gets its address and status 0 (the other half of the "hardware double
    write-back" workaround).  Then RDT = the last filled index.
    Spec: docs/hardware.md §2.7 step 8.
    """
    ring = adapter.rx_ring
    desc = ring.desc
    buffer_info = ring.buffer_info
    n = ring.count
    mem = adapter.mem
    map_single = adapter.pdev.dma_map_single
    rx_buffer_len = adapter.rx_buffer_len
    start = i = ring.next_to_use
    cleancount = desc_unused(ring)
    while True:
        cleancount -= 1
        if cleancount <= 2 or not cleaned_count:
            break
        cleaned_count -= 1
        bi = buffer_info[i]
        if not bi.buf:
            try:
                bi.buf = mem.alloc(rx_buffer_len)
            except MemoryError:
                adapter.alloc_rx_buff_failed += 1  # better luck next round
                break
            bi.length = rx_buffer_len
        dma = map_single(bi.buf, rx_buffer_len, DMA_FROM_DEVICE)
        if dma == DMA_MAPPING_ERROR:  # dma_mapping_error(): Linux counts it and stops here
            adapter.alloc_rx_buff_failed += 1
            break
        bi.dma = dma
        off = i << 4
        _ADDR_PACK(desc, off, bi.dma, 0, 0, 0, 0, 0)
        i += 1
        if i == n:
            i = 0
    if i != start:
        ring.next_to_use = i
        adapter.hw.write32(R.RDT, (i or n) - 1)
