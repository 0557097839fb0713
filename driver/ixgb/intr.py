"""Interrupts and NAPI: the hard-IRQ handler, the poll, and IMS/IMC masking.

Mirrors Linux's ``ixgb_intr``, ``ixgb_clean``, ``ixgb_irq_enable`` and ``ixgb_irq_disable``
(ixgb_main.c).  Spec: docs/hardware.md §2.6.

The handler reads ICR (which clears it): 0 means the shared line was not ours (IRQ_NONE).
All-ones means the device may be gone (a read from an absent device completes with
all-ones): :func:`check_remove` confirms it on STATUS, as ``ixgbe_check_remove`` and
``igb_rd32`` ("PCIe link lost") do, and :func:`remove_adapter` cuts the driver off the BAR
(Linux clears ``hw->hw_addr``; every later read returns all-ones, every write goes nowhere),
then the removal task detaches the interface.  The handler returns IRQ_NONE and re-arms
nothing (no IMS write, no watchdog); Linux's own ixgb_intr had no such check and would
return IRQ_HANDLED for ever on a line a removed card left asserted.
RXSEQ or LSC run the watchdog at the next timer tick.  If the handler wins the NAPI instance
it masks everything (IMC = ~0, deliberately without a flush) and schedules the poll, which
cleans TX, then RX within the budget, and unmasks (IMS) only when it finished under budget.
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from device.spec.bus import IRQ_HANDLED, IRQ_NONE
from device.spec.ids import PCI_VENDOR_ID_SUN
from driver.ixgb.adapter import REMOVED, Adapter, next_tick
from driver.ixgb.rx import clean_rx_irq
from driver.ixgb.tx import clean_tx_irq
from stack.core import __napi_schedule, napi_complete_done, napi_schedule_prep, schedule_work

IRQ_ENABLE_MASK = R.INT_RXT0 | R.INT_RXDMT0 | R.INT_TXDW | R.INT_LSC
IXGB_FAILED_READ_REG = 0xFFFFFFFF  # what a read of an absent device returns (IXGBE_FAILED_READ_REG)


def _removed_read32(offset: int) -> int:
    return IXGB_FAILED_READ_REG


def _removed_write32(offset: int, value: int) -> None:
    return None


def remove_adapter(adapter: Adapter) -> None:
    """``ixgbe_remove_adapter``: forget the BAR (reads all-ones, writes dropped), log it once,
    and let the removal task take the interface down outside interrupt context."""
    if REMOVED in adapter.flags:
        return
    adapter.flags.add(REMOVED)
    hw = adapter.hw
    hw.read32 = _removed_read32
    hw.write32 = _removed_write32
    adapter.log("err", "Adapter removed")
    if adapter.remove_task is not None:
        schedule_work(adapter.remove_task)


def check_remove(adapter: Adapter) -> bool:
    """A register read returned all-ones: is the device gone?  (``ixgbe_check_remove``: a
    second read, of STATUS, that is all-ones too means yes; a register may read all-ones.)"""
    if REMOVED in adapter.flags:
        return True
    if adapter.hw.read32(R.STATUS) != IXGB_FAILED_READ_REG:
        return False
    remove_adapter(adapter)
    return True


def intr(adapter: Adapter, irq: int) -> int:
    """The hard-IRQ handler (registered with request_irq)."""
    hw = adapter.hw
    icr = hw.read32(R.ICR)
    if not icr:
        return IRQ_NONE  # not our interrupt
    if icr == IXGB_FAILED_READ_REG and check_remove(adapter):
        return IRQ_NONE  # the device is gone: nothing of ours can have raised the line
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
