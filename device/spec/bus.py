"""What a driver sees of the bus: DMA directions and a PCI function (:class:`PciDevice`).

The contract between ``driver/`` and ``device/`` in one place, as Linux's
``include/linux/dma-direction.h`` and the ``struct pci_dev`` API are: a driver is handed a
:class:`PciDevice` at probe and touches the hardware only through it (config space, BAR0 as
``read32``/``write32``, DMA-able memory, one interrupt line).  ``device.pcidev.PciDev``
implements it; ``tests/test_layering.py`` checks that it does, member by member.  A different
device model only has to hand out something of this shape; a different driver needs nothing
more.

Deviation, said out loud: the directions are a bit mask in ixsim.  ``DMA_TO_DEVICE`` (1) and
``DMA_FROM_DEVICE`` (2) have Linux's values, but ``DMA_BIDIRECTIONAL`` is 3 (both bits; Linux's
enum has it as 0 and ``DMA_NONE`` as 3) so that the IOMMU checks a device access with one
``direction & need``.

Spec: docs/hardware.md §1.1 (BAR0, DMA), docs/design.md "Layers and who may import whom".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# enum dma_data_direction (values as a bit mask, see above).
DMA_TO_DEVICE = 1
DMA_FROM_DEVICE = 2
DMA_BIDIRECTIONAL = DMA_TO_DEVICE | DMA_FROM_DEVICE
DIR_NAMES = {DMA_TO_DEVICE: "to-device", DMA_FROM_DEVICE: "from-device", DMA_BIDIRECTIONAL: "bidi"}

# What a failed dma_map_single/dma_map_page returns (Linux's DMA_MAPPING_ERROR, an all-ones
# dma_addr_t); a driver tests it with dma_mapping_error() before using the address.
DMA_MAPPING_ERROR = (1 << 64) - 1

# irqreturn_t: what an interrupt handler returns.
IRQ_NONE = 0
IRQ_HANDLED = 1

IrqHandler = Callable[[int], int]  # handler(irq) -> IRQ_NONE | IRQ_HANDLED

# What one interrupt costs the CPU that takes it, and so the least time between two deliveries
# of one line: interrupt entry and exit (1.54 us on a Pentium 100 in Ingo Molnar's 1997 trace,
# LKML "Summary of latencies": entry 0.37, exit 0.76, resched 0.41) plus the handler's
# non-posted ICR read across a PCI-X bridge (about 1 us).  ixsim runs a handler in zero
# virtual time, so this is where the cost is charged (device/pci.py: a line still, or again,
# asserted is delivered IRQ_LATENCY_NS after the previous delivery, never at the same instant).
IRQ_LATENCY_NS = 2_000

# Linux's note_interrupt (kernel/irq/spurious.c): 99,900 of 100,000 deliveries unhandled is
# "irq N: nobody cared" and the line is disabled.  ixsim disables it after this many unhandled
# deliveries in a row (sooner: a test should not wait for 100,000).
SPURIOUS_LIMIT = 1000

# A storm of *handled* interrupts: Linux has no check for it (the CPU livelocks in hard-IRQ
# context until the soft-lockup watchdog complains); ixsim adds a per-line rate limit: more
# than IRQ_STORM_COUNT deliveries within IRQ_STORM_WINDOW_NS (200,000 a second, far above
# what NAPI with the 82597EX's interrupt delay timers asks for, below the 500,000 a second a
# line re-delivered every IRQ_LATENCY_NS reaches) is a device fault and the line is disabled.
IRQ_STORM_COUNT = 10_000
IRQ_STORM_WINDOW_NS = 50_000_000

# pci_channel_state_t (include/linux/pci.h): the state of the link to a function.
pci_channel_io_normal = 1  # I/O channel is in normal state
pci_channel_io_frozen = 2  # I/O to the channel is blocked (MMIO reads ~0, DMA stopped)
pci_channel_io_perm_failure = 3  # the function is dead or gone (surprise removal)

# pci_ers_result_t: what an error handler answers.
PCI_ERS_RESULT_NONE = 1  # no result, or no opinion
PCI_ERS_RESULT_CAN_RECOVER = 2  # the device may recover without a reset
PCI_ERS_RESULT_NEED_RESET = 3  # the driver asks for a slot reset
PCI_ERS_RESULT_DISCONNECT = 4  # the device is dead: give up
PCI_ERS_RESULT_RECOVERED = 5  # the device works again
PCI_ERS_RESULT_NO_AER_DRIVER = 6  # no driver with error handlers is bound


@dataclass(frozen=True, slots=True)
class PciErrorHandlers:
    """A driver's ``struct pci_error_handlers``: the PCI core's error recovery calls them in
    the order of Linux's ``pcie_do_recovery`` (device/pcierr.py): ``error_detected`` with the
    channel state, after the slot reset ``slot_reset``, then ``resume``.  ``mmio_enabled``
    runs when every driver answered CAN_RECOVER."""

    error_detected: Callable[[Any, int], int]
    slot_reset: Callable[[Any], int] | None = None
    resume: Callable[[Any], None] | None = None
    mmio_enabled: Callable[[Any], int] | None = None


@runtime_checkable
class IoMem(Protocol):
    """An ioremapped BAR (Linux's ``void __iomem *``): 32-bit little-endian registers."""

    size: int  # the BAR's length in bytes

    def read32(self, offset: int) -> int: ...
    def write32(self, offset: int, value: int) -> None: ...


@runtime_checkable
class DmaMemory(Protocol):
    """Guest RAM as the kernel sees it: allocate, free, and the CPU's view of an address.

    Memory must be mapped (:meth:`PciDevice.dma_map_single`) before the device may reach it.
    """

    def alloc(self, size: int) -> int: ...
    def free(self, addr: int) -> None: ...
    def slice(self, addr: int, length: int) -> memoryview: ...
    def read(self, addr: int, length: int) -> bytes: ...
    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None: ...


@runtime_checkable
class PciDevice(Protocol):
    """One PCI function, as a driver's probe is handed it (Linux's ``struct pci_dev`` API).

    Identity comes from config space (``vendor``, ``device``, ...).  ``enable_device`` turns
    on memory decoding, ``set_master`` bus mastering (without it every DMA is a device fault).
    ``dma_alloc_coherent`` returns zeroed memory mapped both ways (rings); streaming buffers
    are mapped and unmapped around each transfer with a direction.  ``enable_msi`` switches
    the function from its INTx line to one MSI vector (0 or -EINVAL, Linux's
    ``pci_enable_msi``); ``irq`` is then the MSI irq until ``disable_msi``.  ``error_state``
    is the channel state the PCI core's error recovery set (``pci_channel_io_*``), and
    ``set_drvdata``/``get_drvdata`` keep the driver's object for its error handlers.
    """

    name: str
    irq: int
    mem: DmaMemory

    @property
    def vendor(self) -> int: ...
    @property
    def device(self) -> int: ...
    @property
    def subsystem_vendor(self) -> int: ...
    @property
    def subsystem_device(self) -> int: ...
    @property
    def revision(self) -> int: ...

    @property
    def msi_enabled(self) -> bool: ...
    @property
    def error_state(self) -> int: ...

    def set_drvdata(self, data: Any) -> None: ...
    def get_drvdata(self) -> Any: ...

    def read_config(self, offset: int, size: int = 4) -> int: ...
    def write_config(self, offset: int, value: int, size: int = 4) -> None: ...
    def find_capability(self, cap: int) -> int: ...
    def enable_msi(self) -> int: ...
    def disable_msi(self) -> None: ...
    def enable_device(self) -> None: ...
    def disable_device(self) -> None: ...
    def set_master(self) -> None: ...
    def clear_master(self) -> None: ...
    def resource_len(self, bar: int) -> int: ...
    def iomap(self, bar: int = 0) -> IoMem: ...
    def request_irq(self, handler: IrqHandler, name: str = "") -> None: ...
    def free_irq(self) -> None: ...
    def synchronize_irq(self) -> None: ...
    def dma_alloc_coherent(self, size: int) -> int: ...
    def dma_free_coherent(self, addr: int) -> None: ...
    # dma_map_single/dma_map_page return DMA_MAPPING_ERROR for a range outside guest RAM
    # (nothing is mapped); a driver checks every address with dma_mapping_error().
    def dma_map_single(self, addr: int, length: int, direction: int) -> int: ...
    def dma_mapping_error(self, dma_addr: int) -> bool: ...
    def dma_unmap_single(self, dma_addr: int, length: int, direction: int) -> None: ...
    # dma_map_page(page, offset, size, dir): ``page`` is the page's guest address (an skb
    # fragment's ``page.addr``); the mapping covers ``size`` bytes from ``page + offset``.
    def dma_map_page(self, page: int, offset: int, size: int, direction: int) -> int: ...
    def dma_unmap_page(self, dma_addr: int, size: int, direction: int) -> None: ...
