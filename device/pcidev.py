"""The kernel's face of a PCI function: Linux's ``struct pci_dev`` API and the DMA API.

What a driver is handed at probe (``PciDev``), shaped like Linux's ``drivers/pci/pci.c``
(``pci_enable_device``, ``pci_set_master``, ``pci_find_capability``), ``drivers/pci/msi/``
(``pci_enable_msi``/``pci_disable_msi``), ``lib/pci_iomap.c`` (``iomap`` -> :class:`Mmio`, an
object with ``read32``/``write32``), ``request_irq`` and the DMA mapping API
(``dma_alloc_coherent``, ``dma_map_single``, ``dma_map_page``).  It reaches the hardware only
through the :class:`device.pci.PciFunction` it wraps (config cycles, BAR0, the interrupt line
and the IOMMU map); the driver never sees the device object.
"""

from __future__ import annotations

import errno
from functools import partial
from typing import Any

from device.pci import (
    MSI_ADDRESS_BASE,
    PCI_CAP_ID_MSI,
    PCI_CAP_LIST_NEXT,
    PCI_CAPABILITY_LIST,
    PCI_COMMAND,
    PCI_COMMAND_INTX_DISABLE,
    PCI_COMMAND_MASTER,
    PCI_COMMAND_MEMORY,
    PCI_MSI_ADDRESS_HI,
    PCI_MSI_ADDRESS_LO,
    PCI_MSI_DATA_64,
    PCI_MSI_FLAGS,
    PCI_MSI_FLAGS_64BIT,
    PCI_MSI_FLAGS_ENABLE,
    PCI_MSI_FLAGS_QSIZE,
    PCI_REVISION_ID,
    PCI_STATUS,
    PCI_STATUS_CAP_LIST,
    PCI_SUBSYSTEM_ID,
    PCI_SUBSYSTEM_VENDOR_ID,
    PciFunction,
)
from device.spec.bus import (
    DMA_BIDIRECTIONAL,
    DMA_MAPPING_ERROR,
    IrqHandler,
    pci_channel_io_normal,
)


class Mmio:
    """The driver's ``ioremap`` of BAR0: 32-bit little-endian register access."""

    __slots__ = ("read32", "write32", "size")

    def __init__(self, fn: PciFunction) -> None:
        self.read32 = fn.mmio_read
        self.write32 = fn.mmio_write
        self.size = fn.bar0_size


class PciDev:
    """The kernel's view of a PCI function (Linux's ``struct pci_dev`` and the DMA API)."""

    def __init__(self, fn: PciFunction, msi_irq: int | None = None,
                 msi_vector: int = 0x41, msi_enabled_by_kernel: bool = True) -> None:
        self._fn = fn
        self.name = fn.name
        self.irq = fn.irq
        self._intx_irq = fn.irq
        # What the kernel's irq domain would allocate for the function's one MSI vector
        # (ixsim's numbers: Linux's x86 hands out the next free irq and vector).
        self._msi_irq = msi_irq if msi_irq is not None else fn.irq
        self._msi_vector = msi_vector
        self._msi_allowed = msi_enabled_by_kernel  # False: the kernel booted with pci=nomsi
        self._error_state = pci_channel_io_normal  # set by the error recovery (pcierr.py)
        self._drvdata: Any = None
        self.mem = fn.mem
        self._coherent: dict[int, int] = {}
        # dma_map_single(addr, length, direction) -> dma address: the IOMMU's map itself,
        # bound once (it is called for every packet); a range outside guest RAM gives
        # DMA_MAPPING_ERROR, as Linux's does.  dma_unmap_single(dma_addr, length, direction)
        # is the IOMMU's unmap with this function's fault reporter bound (a partial: no
        # Python wrapper per buffer): an unmap of what was never mapped is a device fault.
        self.dma_map_single = fn.dma_map.map
        self.dma_unmap_single = partial(fn.dma_map.unmap_or_report, self._unmap_single_fault)
        self._unmap = fn.dma_map.unmap_or_report  # (report, dma_addr, length, direction)

    @property
    def vendor(self) -> int:
        return self._fn.vendor_id

    @property
    def device(self) -> int:
        return self._fn.device_id

    @property
    def subsystem_vendor(self) -> int:
        return self.read_config(PCI_SUBSYSTEM_VENDOR_ID, 2)

    @property
    def subsystem_device(self) -> int:
        return self.read_config(PCI_SUBSYSTEM_ID, 2)

    @property
    def revision(self) -> int:
        return self.read_config(PCI_REVISION_ID, 1)

    def read_config(self, offset: int, size: int = 4) -> int:
        return self._fn.config_read(offset, size)

    def write_config(self, offset: int, value: int, size: int = 4) -> None:
        self._fn.config_write(offset, value, size)

    def find_capability(self, cap: int) -> int:
        """pci_find_capability: the config offset of capability ``cap``, 0 when absent."""
        if not self.read_config(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST:
            return 0
        pos = self.read_config(PCI_CAPABILITY_LIST, 1) & ~3
        for _ in range(48):  # PCI_FIND_CAP_TTL: a looping list ends
            if pos < 0x40:
                return 0
            if self.read_config(pos, 1) == cap:
                return pos
            pos = self.read_config(pos + PCI_CAP_LIST_NEXT, 1) & ~3
        return 0

    @property
    def msi_enabled(self) -> bool:
        return self._fn.msi_enabled

    @property
    def error_state(self) -> int:
        """``pdev->error_state``: a ``pci_channel_io_*`` value (pci_channel_offline when not
        normal)."""
        return self._error_state

    def set_drvdata(self, data: Any) -> None:
        """pci_set_drvdata: the driver's object, found again by its error handlers."""
        self._drvdata = data

    def get_drvdata(self) -> Any:
        return self._drvdata

    def enable_msi(self) -> int:
        """pci_enable_msi: program the one vector and switch from INTx to MSI.

        Returns 0, or -EINVAL as Linux does when MSI is unsupported (no capability, the
        kernel's ``pci=nomsi``) or already enabled.  On success ``irq`` is the MSI irq, the
        capability holds the message (address 0xFEE00000, data = the vector), MSI Enable is
        set and INTx is disabled in the command register (``pci_intx_for_msi``).
        """
        pos = self.find_capability(PCI_CAP_ID_MSI)
        if not pos or not self._msi_allowed or self.msi_enabled:
            return -errno.EINVAL
        flags = self.read_config(pos + PCI_MSI_FLAGS, 2)
        self.write_config(pos + PCI_MSI_ADDRESS_LO, MSI_ADDRESS_BASE, 4)
        if flags & PCI_MSI_FLAGS_64BIT:
            self.write_config(pos + PCI_MSI_ADDRESS_HI, 0, 4)
            self.write_config(pos + PCI_MSI_DATA_64, self._msi_vector, 2)
        cmd = self.read_config(PCI_COMMAND, 2)
        self.write_config(PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE, 2)
        self.write_config(pos + PCI_MSI_FLAGS, (flags & ~PCI_MSI_FLAGS_QSIZE)
                          | PCI_MSI_FLAGS_ENABLE, 2)
        self._fn.msi_irq = self.irq = self._msi_irq
        return 0

    def disable_msi(self) -> None:
        """pci_disable_msi: MSI Enable off, INTx back on, ``irq`` the INTx line again."""
        pos = self.find_capability(PCI_CAP_ID_MSI)
        if not pos or not self.msi_enabled:
            return
        flags = self.read_config(pos + PCI_MSI_FLAGS, 2)
        self.write_config(pos + PCI_MSI_FLAGS, flags & ~PCI_MSI_FLAGS_ENABLE, 2)
        cmd = self.read_config(PCI_COMMAND, 2)
        self.write_config(PCI_COMMAND, cmd & ~PCI_COMMAND_INTX_DISABLE, 2)
        self.irq = self._intx_irq

    def enable_device(self) -> None:
        cmd = self.read_config(PCI_COMMAND, 2)
        self.write_config(PCI_COMMAND, cmd | PCI_COMMAND_MEMORY, 2)

    def disable_device(self) -> None:
        cmd = self.read_config(PCI_COMMAND, 2)
        self.write_config(PCI_COMMAND, cmd & ~(PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER), 2)

    def set_master(self) -> None:
        cmd = self.read_config(PCI_COMMAND, 2)
        self.write_config(PCI_COMMAND, cmd | PCI_COMMAND_MASTER, 2)

    def clear_master(self) -> None:
        cmd = self.read_config(PCI_COMMAND, 2)
        self.write_config(PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER, 2)

    def resource_len(self, bar: int) -> int:
        return self._fn.bar0_size if bar == 0 else 0

    def iomap(self, bar: int = 0) -> Mmio:
        if bar != 0:
            raise ValueError(f"{self.name} has no BAR{bar}")
        return Mmio(self._fn)

    def request_irq(self, handler: IrqHandler, name: str = "") -> None:
        if self._fn._irq_handler is not None:
            raise RuntimeError(f"IRQ {self.irq} of {self.name} already requested")
        self._fn._irq_handler = handler
        self._fn.irq_disabled = False
        self._fn._irq_unhandled_run = 0
        self._fn._update_irq_delivery()

    def free_irq(self) -> None:
        self._fn._irq_handler = None
        if self._fn._irq_event is not None:
            self._fn._irq_event.cancel()
            self._fn._irq_event = None

    def synchronize_irq(self) -> None:
        """Nothing runs concurrently in the world, so a pending delivery is just cancelled."""
        if self._fn._irq_event is not None and not self._fn.irq_level:
            self._fn._irq_event.cancel()
            self._fn._irq_event = None

    # -- DMA API ---------------------------------------------------------------------------
    def dma_alloc_coherent(self, size: int) -> int:
        """Allocate zeroed memory mapped both ways for as long as it lives (rings)."""
        addr = self.mem.alloc(size)
        self.mem.slice(addr, size)[:] = bytes(size)
        self._fn.dma_map.map(addr, size, DMA_BIDIRECTIONAL)
        self._coherent[addr] = size
        return addr

    def dma_free_coherent(self, addr: int) -> None:
        size = self._coherent.pop(addr)
        self._fn.dma_map.unmap(addr, size, DMA_BIDIRECTIONAL)
        self.mem.free(addr)

    @staticmethod
    def dma_mapping_error(dma_addr: int) -> bool:
        """dma_mapping_error: did the map call that returned ``dma_addr`` fail?  (A hot path
        may compare with ``DMA_MAPPING_ERROR`` itself.)"""
        return dma_addr == DMA_MAPPING_ERROR

    def _unmap_single_fault(self, dma_addr: int, length: int) -> None:
        self._fn._fault("DMA_UNMAP", dma_addr, f"unmap of {length} bytes that were never mapped")

    def dma_map_page(self, page: int, offset: int, size: int, direction: int) -> int:
        """dma_map_page: map ``size`` bytes at ``page + offset`` (an skb fragment).

        The same IOMMU entry as ``dma_map_single``: a range outside guest RAM maps nothing
        and returns ``DMA_MAPPING_ERROR`` (``dma_mapping_error`` is then true).
        """
        return self._fn.dma_map.map(page + offset, size, direction)

    def dma_unmap_page(self, dma_addr: int, size: int, direction: int) -> None:
        if not self._unmap(None, dma_addr, size, direction):
            self._fn._fault(
                "DMA_UNMAP", dma_addr, f"dma_unmap_page of {size} bytes that were never mapped"
            )
