"""A host's hardware: guest RAM, the IOMMU map, a PCI bus, and the NICs plugged into it.

QEMU's machine model reduced to what ixsim needs: one RAM region, one fault log, and PCI
functions at fixed BAR addresses with their own IRQ numbers.  ``add_ixgb`` plugs in an 82597EX
with its own EEPROM image and port; the kernel side (``driver/``) is handed ``PciDev`` objects
from ``pci_devices`` and never sees the NIC model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device.faults import FaultLog
from device.ixgb.nic import IxgbNic
from device.memory import DmaMap, GuestMemory
from device.pci import PciFunction
from device.pcidev import PciDev
from device.port import Port
from device.spec import regs as R
from device.spec.ids import (
    CLASS_CODE_ETHERNET,
    DEFAULT_DEVICE_ID,
    DEFAULT_REVISION_ID,
    DEFAULT_SUBSYSTEM_ID,
    DEFAULT_SUBSYSTEM_VENDOR_ID,
    DEFAULT_VENDOR_ID,
)

BAR0_BASE = 0xF000_0000
FIRST_IRQ = 16
FIRST_MSI_IRQ = 24  # after the IO-APIC's 24 pins, where Linux x86 allocates MSI irqs
FIRST_MSI_VECTOR = 0x41


@dataclass
class NicSlot:
    """One NIC as the machine sees it: the PCI function, the model and its port."""

    index: int
    pci: PciFunction
    nic: IxgbNic
    port: Port
    pci_dev: PciDev


class Machine:
    def __init__(
        self, sched: Any, name: str, mem_size: int = 64 << 20, strict: bool = False,
        pcix: bool = False,
    ) -> None:
        self.pcix = pcix  # the bus runs in PCI-X mode (where ixgb turns MSI on)
        self.sched = sched
        self.name = name
        self.mem = GuestMemory(mem_size)
        self.dma = DmaMap(self.mem.base, self.mem.base + self.mem.size)
        self.faults = FaultLog(strict=strict)
        self.nics: list[NicSlot] = []

    def add_ixgb(
        self,
        eeprom_words: list[int],
        device_id: int = DEFAULT_DEVICE_ID,
        subsystem: int = DEFAULT_SUBSYSTEM_ID,
    ) -> NicSlot:
        index = len(self.nics)
        label = f"{self.name}:nic{index}"
        pci = PciFunction(
            self.sched, self.mem, self.dma, self.faults,
            name=label, vendor=DEFAULT_VENDOR_ID, device=device_id,
            class_code=CLASS_CODE_ETHERNET, revision=DEFAULT_REVISION_ID,
            bar0_size=R.BAR0_SIZE, bar0_addr=BAR0_BASE + index * R.BAR0_SIZE,
            irq=FIRST_IRQ + index, subsystem_vendor=DEFAULT_SUBSYSTEM_VENDOR_ID,
            subsystem=subsystem, pcix=self.pcix,
        )
        port = Port(self.sched, f"{label}.port")
        nic = IxgbNic(self.sched, pci, port, eeprom_words, self.faults, name=label)
        pci.bar0 = nic
        slot = NicSlot(index, pci, nic, port, PciDev(pci, msi_irq=FIRST_MSI_IRQ + index,
                                                     msi_vector=FIRST_MSI_VECTOR + index))
        self.nics.append(slot)
        return slot

    @property
    def pci_devices(self) -> list[PciDev]:
        return [slot.pci_dev for slot in self.nics]
