"""Deliberately broken variants of the built-in ixgb driver, for ``ixsim drivertest``'s tests.

Each variant is a module object (what ``w.host(driver=)`` takes) whose ``probe`` is ixgb's,
after which the probed instance's NAPI poll is swapped for a copy of ``driver.ixgb``'s
``clean`` with one function rebound (:func:`rebind`: the same code, other globals).  The
bug lives in a hand-copied function here; ``driver/ixgb`` itself is never edited or patched.

* ``NO_UNMAP``: TX completion frees each bounce buffer but never calls dma_unmap_single.
* ``IMS_OVER_BUDGET``: the poll re-enables interrupts (IMS) even when it used its budget.
* ``RDT_PAST_RING``: the RX refill writes RDT = next_to_use, i.e. RDT = count at the wrap.
* ``DD_LATE``: RX takes a descriptor (reads the write-back, unmaps the buffer) before it
  looks at DD, so an unwritten descriptor is consumed and the ring falls out of step.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE
from driver import ixgb
from driver.ixgb import intr, rx, tx
from driver.ixgb.adapter import Adapter, desc_unused
from stack.core import (
    dev_consume_skb_any,
    napi_complete_done,
    netif_carrier_ok,
    netif_queue_stopped,
    netif_wake_queue,
)
from stack.core.netdevice import netdev_get_tx_queue, netdev_tx_completed_queue


def rebind(fn: Callable[..., Any], **names: Any) -> Callable[..., Any]:
    """A copy of ``fn`` whose global names in ``names`` refer to other objects."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, **names}, fn.__name__,
                              fn.__defaults__, fn.__closure__)


def _variant(name: str, poll: Callable[..., Any]) -> types.ModuleType:
    module = types.ModuleType(f"broken_ixgb.{name}", f"ixgb with one bug: {name}")

    def probe(kernel: Any, pci_dev: Any, **params: Any) -> Any:
        netdev = ixgb.probe(kernel, pci_dev, **params)
        netdev.priv.napi.poll = poll
        return netdev

    module.match = ixgb.match  # type: ignore[attr-defined]
    module.probe = probe  # type: ignore[attr-defined]
    module.remove = ixgb.remove  # type: ignore[attr-defined]
    module.ProbeError = ixgb.ProbeError  # type: ignore[attr-defined]
    return module


# -- no unmap on TX completion -------------------------------------------------------------------
def clean_tx_irq_no_unmap(adapter: Adapter) -> bool:
    """tx.clean_tx_irq without the dma_unmap_single (the buffer is freed while mapped)."""
    ring = adapter.tx_ring
    desc = ring.desc
    buffer_info = ring.buffer_info
    free = adapter.mem.free
    i = ring.next_to_clean
    eop = buffer_info[i].next_to_watch
    cleaned = False
    pkts = nbytes = 0
    while desc[(eop << 4) + 12] & D.TXD_STAT_DD:
        cleaned = False
        while not cleaned:
            bi = buffer_info[i]
            bi.dma = 0  # BUG: forgotten dma_unmap_single(bi.dma, bi.length, DMA_TO_DEVICE)
            if bi.buf:
                free(bi.buf)
                bi.buf = 0
            if bi.skb is not None:
                pkts += 1
                nbytes += bi.skb.len
                dev_consume_skb_any(bi.skb)
                bi.skb = None
            bi.time_stamp = 0
            desc[(i << 4) + 12 : (i << 4) + 16] = bytes(4)
            cleaned = i == eop
            i = (i + 1) % ring.count
        eop = buffer_info[i].next_to_watch
    ring.next_to_clean = i
    netdev = adapter.netdev
    if nbytes:  # BQL, as the real clean_tx_irq reports it
        netdev_tx_completed_queue(netdev_get_tx_queue(netdev, 0), pkts, nbytes)
    if (cleaned and netif_carrier_ok(netdev) and desc_unused(ring) >= tx.DESC_NEEDED
            and netif_queue_stopped(netdev)):
        netif_wake_queue(netdev)
    return cleaned


# -- IMS re-enabled over budget ------------------------------------------------------------------
def clean_ims_over_budget(napi: Any, budget: int) -> int:
    """intr.clean that unmasks interrupts whatever the poll's work."""
    adapter: Adapter = napi.dev.priv
    intr.clean_tx_irq(adapter)
    work_done = intr.clean_rx_irq(adapter, budget)
    if not adapter.down:
        intr.irq_enable(adapter)  # BUG: also when work_done == budget (polling continues)
    if work_done < budget:
        napi_complete_done(napi, work_done)
    return work_done


# -- RDT written past the ring -------------------------------------------------------------------
def alloc_rx_buffers_rdt_past(adapter: Adapter, cleaned_count: int) -> None:
    """rx.alloc_rx_buffers that forgets the modulo in RDT: a refill that wraps past the
    ring's end writes an index beyond it (any refill that crosses the end, whatever the
    traffic's pattern)."""
    ring = adapter.rx_ring
    n = ring.count
    i = start = ring.next_to_use
    filled = 0
    cleancount = desc_unused(ring)
    while True:
        cleancount -= 1
        if cleancount <= 2 or not cleaned_count:
            break
        cleaned_count -= 1
        bi = ring.buffer_info[i]
        if not bi.buf:
            bi.buf = adapter.mem.alloc(adapter.rx_buffer_len)
            bi.length = adapter.rx_buffer_len
        bi.dma = adapter.pdev.dma_map_single(bi.buf, adapter.rx_buffer_len, DMA_FROM_DEVICE)
        D.RX_DESC.pack_into(ring.desc, i << 4, bi.dma, 0, 0, 0, 0, 0)
        i = (i + 1) % n
        filled += 1
    if i != start:
        ring.next_to_use = i
        adapter.hw.write32(R.RDT, start + filled - 1)  # BUG: ((i or n) - 1) wraps, this not


# -- DD read after the descriptor was taken ------------------------------------------------------
def clean_rx_irq_dd_late(adapter: Adapter, budget: int) -> int:
    """rx.clean_rx_irq that takes the descriptor first and looks at DD afterwards."""
    ring = adapter.rx_ring
    desc = ring.desc
    n = ring.count
    i = ring.next_to_clean
    work_done = 0
    while work_done < budget:
        off = i << 4
        length, _res, status, errors, special = D.RX_WB.unpack_from(desc, off + 8)
        bi = ring.buffer_info[i]
        adapter.pdev.dma_unmap_single(bi.dma, bi.length, DMA_FROM_DEVICE)
        bi.dma = 0
        i = (i + 1) % n
        work_done += 1
        if not status & D.RXD_STAT_DD:
            break  # BUG: too late, the descriptor is already consumed
        if status & D.RXD_STAT_EOP and not errors & rx._RX_ERRORS:
            skb = rx.netdev_alloc_skb_ip_align(adapter.netdev, length)
            skb.put_data(adapter.mem.slice(bi.buf, length))
            skb.protocol = rx.eth_type_trans(skb, adapter.netdev)
            rx.napi_gro_receive(adapter.napi, skb)
        desc[off + 12] = 0
    ring.next_to_clean = i
    unused = desc_unused(ring)
    if unused:
        rx.alloc_rx_buffers(adapter, unused)
    return work_done


NO_UNMAP = _variant("no_unmap", rebind(intr.clean, clean_tx_irq=clean_tx_irq_no_unmap))
IMS_OVER_BUDGET = _variant("ims_over_budget", clean_ims_over_budget)
RDT_PAST_RING = _variant("rdt_past_ring", rebind(
    intr.clean, clean_rx_irq=rebind(rx.clean_rx_irq, alloc_rx_buffers=alloc_rx_buffers_rdt_past)))
DD_LATE = _variant("dd_late", rebind(intr.clean, clean_rx_irq=clean_rx_irq_dd_late))
