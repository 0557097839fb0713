"""Interrupts and NAPI: the hard-IRQ handler, the poll, and IMS/IMC masking.

Mirrors Linux's ``ixgb_intr``, ``ixgb_clean``, ``ixgb_irq_enable`` and ``ixgb_irq_disable``
(ixgb_main.c).  Spec: docs/hardware.md §2.6.

The handler reads ICR (which clears it): 0 means the shared line was not ours (IRQ_NONE).
RXSEQ or LSC run the watchdog at the next timer tick.  If the handler wins the NAPI instance
it masks everything (IMC = ~0, deliberately without a flush) and schedules the poll, which
cleans TX, then RX within the budget, and unmasks (IMS) only when it finished under budget.
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from device.spec.bus import IRQ_HANDLED, IRQ_NONE
from device.spec.ids import PCI_VENDOR_ID_SUN
from driver.ixgb.adapter import Adapter, next_tick
from driver.ixgb.rx import clean_rx_irq
from driver.ixgb.tx import clean_tx_irq
from stack.core import __napi_schedule, napi_complete_done, napi_schedule_prep

IRQ_ENABLE_MASK = R.INT_RXT0 | R.INT_RXDMT0 | R.INT_TXDW | R.INT_LSC


def intr(adapter: Adapter, irq: int) -> int:
    """The hard-IRQ handler (registered with request_irq)."""
    hw = adapter.hw
    icr = hw.read32(R.ICR)
    if not icr:
        return IRQ_NONE  # not our interrupt
    if icr & (R.INT_RXSEQ | R.INT_LSC) and not adapter.down:
        adapter.watchdog_timer.mod_timer(next_tick(adapter.sched.now))
    napi = adapter.napi
    if napi_schedule_prep(napi):
        hw.write32(R.IMC, 0xFFFFFFFF)  # the posted-write flush is intentionally left out
        __napi_schedule(napi)
    return IRQ_HANDLED


def clean(napi: Any, budget: int) -> int:
    """The NAPI poll: TX completions, then up to ``budget`` received frames."""
    adapter: Adapter = napi.dev.priv
    clean_tx_irq(adapter)
    work_done = clean_rx_irq(adapter, budget)
    # Linux ixgb ignored napi_complete_done's verdict (it predates it); honouring it keeps
    # interrupts masked when the core re-scheduled the poll instead of completing it.
    if work_done < budget and napi_complete_done(napi, work_done) and not adapter.down:
        irq_enable(adapter)
    return work_done


def irq_enable(adapter: Adapter) -> None:
    """IMS = RXT0 | RXDMT0 | TXDW | LSC (plus GPI0 on Sun boards), then flush."""
    hw = adapter.hw
    val = IRQ_ENABLE_MASK
    if hw.subsystem_vendor_id == PCI_VENDOR_ID_SUN:
        val |= R.INT_GPI0
    hw.write32(R.IMS, val)
    hw.write_flush()


def irq_disable(adapter: Adapter) -> None:
    """IMC = ~0, flush, and wait for a running handler (synchronize_irq)."""
    hw = adapter.hw
    hw.write32(R.IMC, 0xFFFFFFFF)
    hw.write_flush()
    adapter.pdev.synchronize_irq()
