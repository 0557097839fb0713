"""The PCI core's error recovery and hot-plug removal, in miniature (Linux drivers/pci/pcie/).

A function whose channel froze (:meth:`device.pci.PciFunction.raise_error`: MMIO reads
all-ones, DMA and interrupts stopped) is recovered by :func:`pcie_do_recovery`, in the order
of Linux's ``pcie_do_recovery`` (drivers/pci/pcie/err.c) for a frozen channel:

1. ``error_state`` becomes ``pci_channel_io_frozen`` and the driver's ``error_detected(pdev,
   pci_channel_io_frozen)`` runs (``report_frozen_detected``); no driver, or one without
   error handlers, votes ``PCI_ERS_RESULT_NO_AER_DRIVER``;
2. the link is reset (``reset_subordinates``: the root port's secondary bus reset, which
   ends the freeze and resets the function: :meth:`PciFunction.secondary_bus_reset`);
3. CAN_RECOVER runs ``mmio_enabled``; NEED_RESET runs ``slot_reset`` (``report_slot_reset``),
   whose answer is the verdict;
4. RECOVERED: ``error_state`` is normal again and ``resume`` runs (``report_resume``); the
   kernel logs "AER: device recovery successful".  Anything else logs "AER: device recovery
   failed" and leaves the function in ``pci_channel_io_perm_failure``.

Simplified, said out loud: one function per slot, so there is no walk over a bridge's
subordinate devices and no merging of several drivers' votes; the error is always
uncorrectable and fatal (a frozen channel: Linux's non-fatal ``pci_channel_io_normal`` path,
where the link is only reset when a driver asks, is not modelled); there is no AER
capability, no error source register to read and no ``aer_recover_queue``: the root port's
interrupt (``PciFunction.error_notify``, an event of its own) calls the recovery directly, as
``aer_isr`` would from its thread.

:func:`pci_surprise_remove` is pciehp's removal of a card that is already gone
(``pci_dev_set_disconnected``, then ``pci_stop_and_remove_bus_device`` calling the driver's
``remove``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from device.pci import PciFunction
from device.pcidev import PciDev
from device.spec.bus import (
    PCI_ERS_RESULT_CAN_RECOVER,
    PCI_ERS_RESULT_NEED_RESET,
    PCI_ERS_RESULT_NO_AER_DRIVER,
    PCI_ERS_RESULT_RECOVERED,
    PciErrorHandlers,
    pci_channel_io_frozen,
    pci_channel_io_normal,
    pci_channel_io_perm_failure,
)

ROOT_PORT = "pcieport 0000:00:1c.0"  # the bridge the messages name (ixsim has one per host)

Log = Callable[[str, str], None]  # kernel.log(level, message)


def pcie_do_recovery(pdev: PciDev, fn: PciFunction, handlers: PciErrorHandlers | None,
                     log: Log) -> int:
    """Recover ``pdev`` after a fatal error froze its channel; return the final verdict."""
    log("err", f"{ROOT_PORT}: AER: Uncorrected (Fatal) error received: {pdev.name}")
    pdev._error_state = pci_channel_io_frozen
    if handlers is None:
        status = PCI_ERS_RESULT_NO_AER_DRIVER
    else:
        status = handlers.error_detected(pdev, pci_channel_io_frozen)
    fn.secondary_bus_reset()  # reset_subordinates: the freeze ends with the link reset
    log("info", f"{ROOT_PORT}: AER: Root Port link has been reset (0)")
    if status == PCI_ERS_RESULT_CAN_RECOVER:
        status = PCI_ERS_RESULT_RECOVERED
        if handlers is not None and handlers.mmio_enabled is not None:
            status = handlers.mmio_enabled(pdev)
    if status == PCI_ERS_RESULT_NEED_RESET:
        status = PCI_ERS_RESULT_RECOVERED
        if handlers is not None and handlers.slot_reset is not None:
            status = handlers.slot_reset(pdev)
    if status != PCI_ERS_RESULT_RECOVERED:
        pdev._error_state = pci_channel_io_perm_failure
        log("info", f"{ROOT_PORT}: AER: device recovery failed")
        return status
    pdev._error_state = pci_channel_io_normal
    if handlers is not None and handlers.resume is not None:
        handlers.resume(pdev)
    log("info", f"{ROOT_PORT}: AER: device recovery successful")
    return status


def pci_surprise_remove(pdev: PciDev, fn: PciFunction, remove: Callable[[], Any] | None,
                        log: Log) -> None:
    """The card left the slot: mark it disconnected, then unbind its driver (``remove``).

    The driver's ``remove`` runs against a device that reads all-ones, as on Linux, where
    ``pci_dev_set_disconnected`` precedes the removal.
    """
    fn.set_present(False)
    pdev._error_state = pci_channel_io_perm_failure
    log("info", f"pciehp {ROOT_PORT[9:]}:pcie004: Slot(0): Card not present")
    if remove is not None:
        remove()


def pci_hotplug_add(pdev: PciDev, fn: PciFunction, log: Log) -> None:
    """A card is plugged into the empty slot: it powers on and is enumerated again."""
    fn.set_present(True)
    pdev._error_state = pci_channel_io_normal
    pdev.irq = pdev._intx_irq
    log("info", f"pciehp {ROOT_PORT[9:]}:pcie004: Slot(0): Card present")
