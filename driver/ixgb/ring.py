"""Descriptor rings: allocating and freeing them, programming them, cleaning them out.

Mirrors Linux's ``ixgb_main.c`` ring management: ``ixgb_setup_tx_resources``/
``ixgb_setup_rx_resources``, ``ixgb_free_*_resources``, ``ixgb_configure_tx``,
``ixgb_setup_rctl``, ``ixgb_configure_rx`` and ``ixgb_clean_tx_ring``/``ixgb_clean_rx_ring``.
Spec: docs/hardware.md §2.3, §2.10.  :mod:`driver.ixgb.updown` calls them on open/close and
up/down, :mod:`driver.ixgb.ethtool` when the ring sizes change.
"""

from __future__ import annotations

import errno
from typing import Any

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import (
    DMA_FROM_DEVICE,
)
from driver.ixgb.adapter import (
    RXBUFFER_2048,
    RXBUFFER_4096,
    RXBUFFER_8192,
    RXBUFFER_16384,
    Adapter,
    Buffer,
)
from driver.ixgb.tx import unmap_and_free_tx_resource
from stack.core import (
    PAGE_SIZE,
    netdev_reset_queue,
)


def _setup_ring(adapter: Adapter, ring: Any) -> int:
    ring.buffer_info = [Buffer() for _ in range(ring.count)]
    ring.size = (ring.count * 16 + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)  # round up to 4 KiB
    try:
        ring.dma = adapter.pdev.dma_alloc_coherent(ring.size)
    except MemoryError:
        ring.buffer_info = []
        return -errno.ENOMEM
    ring.desc = adapter.mem.slice(ring.dma, ring.size)
    ring.next_to_use = 0
    ring.next_to_clean = 0
    return 0


def setup_tx_resources(adapter: Adapter) -> int:
    return _setup_ring(adapter, adapter.tx_ring)


def setup_rx_resources(adapter: Adapter) -> int:
    return _setup_ring(adapter, adapter.rx_ring)


def _free_ring(adapter: Adapter, ring: Any) -> None:
    ring.buffer_info = []
    ring.desc = None
    if ring.dma:
        adapter.pdev.dma_free_coherent(ring.dma)
        ring.dma = 0


def free_tx_resources(adapter: Adapter) -> None:
    clean_tx_ring(adapter)
    _free_ring(adapter, adapter.tx_ring)


def free_rx_resources(adapter: Adapter) -> None:
    clean_rx_ring(adapter)
    _free_ring(adapter, adapter.rx_ring)


def configure_tx(adapter: Adapter) -> None:
    """Ring base and length, TDH = TDT = 0, TIDV, TCTL; TXDCTL deliberately untouched."""
    h = adapter.hw
    ring = adapter.tx_ring
    h.write32(R.TDBAL, ring.dma & 0xFFFFFFFF)
    h.write32(R.TDBAH, ring.dma >> 32)
    h.write32(R.TDLEN, ring.count * 16)
    h.write32(R.TDH, 0)
    h.write32(R.TDT, 0)
    adapter.tx_tail = 0
    h.write32(R.TIDV, adapter.tx_int_delay)
    h.write32(R.TCTL, R.TCTL_TCE | R.TCTL_TXEN | R.TCTL_TPDE)
    adapter.tx_cmd_type = D.TXD_TYPE_DATA | (D.TXD_CMD_IDE if adapter.tx_int_delay_enable
                                             else 0)


def setup_rctl(adapter: Adapter) -> None:
    """Broadcasts, RDMTS 1/2, RXEN, CFF, the MO type, strip CRC, BSIZE from rx_buffer_len."""
    h = adapter.hw
    rctl = h.read32(R.RCTL) & ~R.RCTL_MO_MASK
    rctl |= (R.RCTL_BAM | R.RCTL_RDMTS_1_2 | R.RCTL_RXEN | R.RCTL_CFF
             | h.mc_filter_type << R.RCTL_MO_SHIFT | R.RCTL_SECRC)
    n = adapter.rx_buffer_len
    if n <= RXBUFFER_2048:
        rctl |= R.RCTL_BSIZE_2048
    elif n <= RXBUFFER_4096:
        rctl |= R.RCTL_BSIZE_4096
    elif n <= RXBUFFER_8192:
        rctl |= R.RCTL_BSIZE_8192
    elif n <= RXBUFFER_16384:
        rctl |= R.RCTL_BSIZE_16384
    h.write32(R.RCTL, rctl)


def configure_rx(adapter: Adapter) -> None:
    """RX off while the ring is set up; RDTR, base, length, RDH = RDT = 0, RXDCTL = 0
    (erratum: WTHRESH > 0 corrupts lengths), TCP/UDP checksum offload, RX back on."""
    h = adapter.hw
    ring = adapter.rx_ring
    rctl = h.read32(R.RCTL)
    h.write32(R.RCTL, rctl & ~R.RCTL_RXEN)
    h.write32(R.RDTR, adapter.rx_int_delay)
    h.write32(R.RDBAL, ring.dma & 0xFFFFFFFF)
    h.write32(R.RDBAH, ring.dma >> 32)
    h.write32(R.RDLEN, ring.count * 16)
    h.write32(R.RDH, 0)
    h.write32(R.RDT, 0)
    h.write32(R.RXDCTL, 0)
    if adapter.rx_csum:
        h.write32(R.RXCSUM, h.read32(R.RXCSUM) | R.RXCSUM_TUOFL)
    h.write32(R.RCTL, rctl)


def clean_tx_ring(adapter: Adapter) -> None:
    """Free every TX buffer and skb (dropped), zero the ring, TDH = TDT = 0."""
    ring = adapter.tx_ring
    for bi in ring.buffer_info:
        unmap_and_free_tx_resource(adapter, bi, consumed=False)
    ring.buffer_info = [Buffer() for _ in range(ring.count)] if ring.buffer_info else []
    if ring.desc is not None:
        ring.desc[:] = bytes(ring.size)
    ring.next_to_use = 0
    ring.next_to_clean = 0
    netdev_reset_queue(adapter.netdev)  # BQL: nothing is in flight any more
    adapter.hw.write32(R.TDH, 0)
    adapter.hw.write32(R.TDT, 0)
    adapter.tx_tail = 0


def clean_rx_ring(adapter: Adapter) -> None:
    """Unmap and free every RX buffer, zero the ring, RDH = RDT = 0."""
    ring = adapter.rx_ring
    unmap = adapter.pdev.dma_unmap_single
    mem = adapter.mem
    for bi in ring.buffer_info:
        if bi.dma:
            unmap(bi.dma, bi.length, DMA_FROM_DEVICE)
            bi.dma = 0
        if bi.buf:
            mem.free(bi.buf)
            bi.buf = 0
    ring.buffer_info = [Buffer() for _ in range(ring.count)] if ring.buffer_info else []
    if ring.desc is not None:
        ring.desc[:] = bytes(ring.size)
    ring.next_to_clean = 0
    ring.next_to_use = 0
    adapter.hw.write32(R.RDH, 0)
    adapter.hw.write32(R.RDT, 0)
