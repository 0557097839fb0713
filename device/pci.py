"""A PCI function: config space, BAR0 MMIO dispatch, bus-master DMA, a level INTx line.

Two faces, as in a real machine.  The *hardware* face (``PciFunction``) is what a device model
plugs into: it registers its BAR0 handlers, reads and writes guest memory through
``dma_read``/``dma_write`` (honouring the command register's bus-master bit and the IOMMU map),
and drives its interrupt line with ``set_irq``.  The *kernel* face (``PciDev``) is what a
driver is handed at probe, shaped like Linux's ``struct pci_dev`` API: ``enable_device``,
``set_master``, ``iomap`` -> an object with ``read32``/``write32``, ``request_irq``,
``dma_alloc_coherent``, ``dma_map_single``.  The driver never sees the device object.

Interrupts are level-triggered and delivered as scheduled events (never a nested call from
inside a register write): while the line is high and a handler is installed, the handler runs
again after each return, like a shared INTx line that stays asserted.

Tracepoints (declared in :mod:`device.trace`): ``dma`` at every ``dma_read``/``dma_write``,
``irq`` when the line changes level, ``irq_deliver`` before the handler runs.  The pending
interrupt delivery is listed by :meth:`PciFunction.pending_events`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Protocol

from device.faults import FaultLog
from device.memory import DmaMap, GuestMemory
from device.spec.bus import DIR_NAMES, DMA_BIDIRECTIONAL, IRQ_NONE, IrqHandler
from device.trace import PendingEvent

PCI_VENDOR_ID = 0x00
PCI_DEVICE_ID = 0x02
PCI_COMMAND = 0x04
PCI_STATUS = 0x06
PCI_REVISION_ID = 0x08
PCI_CLASS_PROG = 0x09
PCI_CLASS_DEVICE = 0x0A
PCI_HEADER_TYPE = 0x0E
PCI_BASE_ADDRESS_0 = 0x10
PCI_SUBSYSTEM_VENDOR_ID = 0x2C
PCI_SUBSYSTEM_ID = 0x2E
PCI_INTERRUPT_LINE = 0x3C
PCI_INTERRUPT_PIN = 0x3D

PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4
PCI_COMMAND_INTX_DISABLE = 0x400

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

# Linux disables an IRQ nobody handles ("nobody cared"); we do the same, sooner.
SPURIOUS_LIMIT = 1000


class Bar0Device(Protocol):
    def mmio_read(self, offset: int) -> int: ...
    def mmio_write(self, offset: int, value: int) -> None: ...


class PciFunction:
    """The hardware side of one PCI function on the host's bus."""

    def __init__(
        self,
        sched: Any,
        mem: GuestMemory,
        dma: DmaMap,
        faults: FaultLog,
        *,
        name: str,
        vendor: int,
        device: int,
        class_code: int,
        bar0_size: int,
        bar0_addr: int,
        irq: int,
        subsystem_vendor: int = 0,
        subsystem: int = 0,
        revision: int = 0,
    ) -> None:
        self.sched = sched
        self.mem = mem
        self.dma_map = dma
        self.faults = faults
        self.name = name
        self.bar0_size = bar0_size
        self.irq = irq
        cfg = self.config = bytearray(256)
        _U16.pack_into(cfg, PCI_VENDOR_ID, vendor)
        _U16.pack_into(cfg, PCI_DEVICE_ID, device)
        cfg[PCI_REVISION_ID] = revision
        cfg[PCI_CLASS_PROG] = class_code & 0xFF
        _U16.pack_into(cfg, PCI_CLASS_DEVICE, class_code >> 8)
        cfg[PCI_HEADER_TYPE] = 0
        _U32.pack_into(cfg, PCI_BASE_ADDRESS_0, bar0_addr & ~0xF)  # 32-bit, non-prefetch mem
        _U16.pack_into(cfg, PCI_SUBSYSTEM_VENDOR_ID, subsystem_vendor)
        _U16.pack_into(cfg, PCI_SUBSYSTEM_ID, subsystem)
        cfg[PCI_INTERRUPT_LINE] = irq & 0xFF
        cfg[PCI_INTERRUPT_PIN] = 1  # INTA#
        self._command = 0  # PCI_COMMAND, cached: the DMA checks read it on every transfer
        self._allows = dma.allows
        self._mem_base = mem.base
        self._mem_view = mem.view
        self.bar0: Bar0Device | None = None
        self.irq_level = False
        self._irq_handler: IrqHandler | None = None
        self._irq_event = None
        self.irq_delivered = 0
        self.irq_unhandled = 0
        self._irq_unhandled_run = 0
        self.irq_disabled = False
        # Tracepoints (device/trace.py): subscribers, called in declared field order.
        self.trace_dma: list[Callable[[str, int, int, str, bool], None]] = []
        self.trace_irq: list[Callable[[bool], None]] = []
        self.trace_irq_deliver: list[Callable[[int], None]] = []

    # -- config space ---------------------------------------------------------------------
    @property
    def command(self) -> int:
        return self._command

    @property
    def vendor_id(self) -> int:
        return _U16.unpack_from(self.config, PCI_VENDOR_ID)[0]

    @property
    def device_id(self) -> int:
        return _U16.unpack_from(self.config, PCI_DEVICE_ID)[0]

    def config_read(self, offset: int, size: int = 4) -> int:
        if size not in (1, 2, 4) or offset % size or offset + size > 256:
            self._fault("PCI_CONFIG", offset, f"bad config read of {size} bytes")
            return (1 << (8 * size)) - 1
        return int.from_bytes(self.config[offset : offset + size], "little")

    def config_write(self, offset: int, value: int, size: int = 4) -> None:
        if size not in (1, 2, 4) or offset % size or offset + size > 256:
            self._fault("PCI_CONFIG", offset, f"bad config write of {size} bytes")
            return
        if offset == PCI_BASE_ADDRESS_0 and size == 4:
            # BAR sizing: writing all ones reads back the size mask.
            mask = ~(self.bar0_size - 1) & 0xFFFFFFFF
            _U32.pack_into(self.config, offset, value & mask)
            return
        if PCI_COMMAND <= offset < PCI_COMMAND + 2 or offset == PCI_INTERRUPT_LINE:
            data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
            self.config[offset : offset + size] = data
            self._command = _U16.unpack_from(self.config, PCI_COMMAND)[0]
            if offset <= PCI_COMMAND:
                self._update_irq_delivery()
            return
        # Everything else in a type-0 header we model is read-only identity.

    @property
    def bar0_addr(self) -> int:
        return _U32.unpack_from(self.config, PCI_BASE_ADDRESS_0)[0] & ~0xF

    # -- MMIO ------------------------------------------------------------------------------
    def mmio_read(self, offset: int) -> int:
        if not self._command & PCI_COMMAND_MEMORY:
            self._fault("BAR0", offset, "MMIO read with memory decoding disabled (PCI_COMMAND)")
            return 0xFFFFFFFF
        assert self.bar0 is not None
        return self.bar0.mmio_read(offset)

    def mmio_write(self, offset: int, value: int) -> None:
        if not self._command & PCI_COMMAND_MEMORY:
            self._fault("BAR0", offset, "MMIO write with memory decoding disabled (PCI_COMMAND)")
            return
        assert self.bar0 is not None
        self.bar0.mmio_write(offset, value)

    # -- DMA (device side) ---------------------------------------------------------------
    def dma_ok(self, addr: int, length: int, need: int, what: str) -> bool:
        """Check that the device may touch [addr, addr+length); record a fault if not."""
        if not self._command & PCI_COMMAND_MASTER:
            self._fault(what, addr, "DMA with bus mastering disabled (PCI_COMMAND.MASTER)")
            return False
        if not self.dma_map.allows(addr, length, need):
            verb = "read" if need == 1 else "write"
            self._fault(
                what,
                addr,
                f"DMA {verb} of {length} bytes at 0x{addr:x} outside any live "
                f"{DIR_NAMES[need]} mapping",
            )
            return False
        return True

    def dma_observed(self) -> bool:
        """Does the ``dma`` tracepoint have subscribers?  While not, engines may use
        :meth:`dma_view`/:meth:`dma_store`, which skip building the ``what`` text of every
        transfer (and so are not traced)."""
        return bool(self.trace_dma)

    def dma_view(self, addr: int, length: int) -> memoryview | None:
        """``dma_read`` for the hot path: same checks, but None without recording a fault.

        On None the caller repeats the transfer with ``dma_read(addr, length, what)``, which
        fails again and records the fault with its text: faults cost, successes do not.
        """
        if self._command & PCI_COMMAND_MASTER and self._allows(addr, length, 1):
            off = addr - self._mem_base
            return self._mem_view[off : off + length]
        return None

    def dma_store(self, addr: int, data: bytes | bytearray | memoryview) -> bool:
        """``dma_write`` for the hot path: False without recording (see :meth:`dma_view`)."""
        n = len(data)
        if self._command & PCI_COMMAND_MASTER and self._allows(addr, n, 2):
            off = addr - self._mem_base
            self._mem_view[off : off + n] = data
            return True
        return False

    def dma_read(self, addr: int, length: int, what: str = "DMA") -> memoryview | None:
        if not self.dma_ok(addr, length, 1, what):
            view = None
        else:
            view = self.mem.slice(addr, length)
        if self.trace_dma:
            for fn in self.trace_dma:
                fn("R", addr, length, what, view is not None)
        return view

    def dma_write(self, addr: int, data: bytes | bytearray | memoryview, what: str = "DMA") -> bool:
        ok = self.dma_ok(addr, len(data), 2, what)
        if ok:
            self.mem.write(addr, data)
        if self.trace_dma:
            for fn in self.trace_dma:
                fn("W", addr, len(data), what, ok)
        return ok

    # -- interrupts ------------------------------------------------------------------------
    def set_irq(self, level: bool) -> None:
        """Drive the INTx line (the device's ICR & IMS != 0)."""
        if level == self.irq_level:
            return
        self.irq_level = level
        if self.trace_irq:
            for fn in self.trace_irq:
                fn(level)
        self._update_irq_delivery()

    def pending_events(self) -> list[PendingEvent]:
        """The scheduled interrupt delivery, if any (device/trace.py)."""
        ev = self._irq_event
        return [PendingEvent(ev, "interrupt delivery")] if ev is not None else []

    def _update_irq_delivery(self) -> None:
        if (
            self.irq_level
            and self._irq_handler is not None
            and not self.irq_disabled
            and not self._command & PCI_COMMAND_INTX_DISABLE
            and self._irq_event is None
        ):
            self._irq_event = self.sched.call_soon(self._deliver_irq)

    def _deliver_irq(self) -> None:
        self._irq_event = None
        handler = self._irq_handler
        if not self.irq_level or handler is None or self.irq_disabled:
            return
        if self._command & PCI_COMMAND_INTX_DISABLE:
            return
        self.irq_delivered += 1
        if self.trace_irq_deliver:
            for fn in self.trace_irq_deliver:
                fn(self.irq)
        handled = handler(self.irq)
        if handled == IRQ_NONE:
            self.irq_unhandled += 1
            self._irq_unhandled_run += 1
            if self._irq_unhandled_run >= SPURIOUS_LIMIT:
                self.irq_disabled = True
                self._fault(
                    "IRQ", self.irq, "nobody cared: interrupt line stuck high, IRQ disabled"
                )
                return
        else:
            self._irq_unhandled_run = 0
        self._update_irq_delivery()  # still asserted: deliver again (level semantics)

    def _fault(self, register: str, value: int, message: str) -> None:
        self.faults.record(self.sched.now, self.name, register, value, message)


class Mmio:
    """The driver's ``ioremap`` of BAR0: 32-bit little-endian register access."""

    __slots__ = ("read32", "write32", "size")

    def __init__(self, fn: PciFunction) -> None:
        self.read32 = fn.mmio_read
        self.write32 = fn.mmio_write
        self.size = fn.bar0_size


class PciDev:
    """The kernel's view of a PCI function (Linux's ``struct pci_dev`` and the DMA API)."""

    def __init__(self, fn: PciFunction) -> None:
        self._fn = fn
        self.name = fn.name
        self.irq = fn.irq
        self.mem = fn.mem
        self._coherent: dict[int, int] = {}
        # dma_map_single(addr, length, direction) -> dma address: the IOMMU's map itself,
        # bound once (it is called for every packet); dma_unmap_single checks and reports.
        self.dma_map_single = fn.dma_map.map
        self._unmap = fn.dma_map.unmap

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

    def dma_unmap_single(self, dma_addr: int, length: int, direction: int) -> None:
        if not self._unmap(dma_addr, length, direction):
            self._fn._fault(
                "DMA_UNMAP", dma_addr, f"unmap of {length} bytes that were never mapped"
            )

    def dma_map_page(self, page: int, offset: int, size: int, direction: int) -> int:
        """dma_map_page: map ``size`` bytes at ``page + offset`` (an skb fragment).

        The same IOMMU entry as ``dma_map_single``; a page outside guest RAM is a fault (and
        maps nothing), as a bad ``struct page`` would be.
        """
        addr = page + offset
        if not self.mem.in_ram(addr, size):
            self._fn._fault("DMA_MAP", addr, f"dma_map_page of {size} bytes outside guest RAM")
            return addr
        return self._fn.dma_map.map(addr, size, direction)

    def dma_unmap_page(self, dma_addr: int, size: int, direction: int) -> None:
        if not self._unmap(dma_addr, size, direction):
            self._fn._fault(
                "DMA_UNMAP", dma_addr, f"dma_unmap_page of {size} bytes that were never mapped"
            )
