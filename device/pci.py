"""A PCI function: config space, BAR0 MMIO dispatch, bus-master DMA, INTx and MSI.

Two faces, as in a real machine.  This module holds the *hardware* face (``PciFunction``,
QEMU's ``hw/pci/pci.c`` and ``hw/pci/msi.c`` in role), what a device model plugs into: it
registers its BAR0 handlers, reads and writes guest memory through ``dma_read``/``dma_write``
(honouring the command register's bus-master bit and the IOMMU map), and drives its interrupt
line with ``set_irq``.  The *kernel* face, what a driver is handed at probe (``PciDev``, Linux's
``struct pci_dev`` API and the DMA API), is :mod:`device.pcidev`.  The driver never sees the
device object.  The config space register offsets (Linux's ``include/uapi/linux/pci_regs.h``
names) are declared here, for both faces.

Interrupts are delivered as scheduled events (never a nested call from inside a register
write).  With INTx (the default) they are level-triggered: while the line is high and a
handler is installed, the handler runs again after each return, like a shared INTx line that
stays asserted.  Each delivery costs the CPU :data:`~device.spec.bus.IRQ_LATENCY_NS` (entry,
exit, the handler's bus reads; the handler itself runs in zero virtual time), so the next
delivery of the line comes no sooner than that after the previous one: a line asserted
after a quiet spell is delivered at once (the delay from a cause to the interrupt is the
device's moderation timers'), one that stays or comes back asserted waits, and virtual time
moves on under any storm.  Two limits stop a storm: ``SPURIOUS_LIMIT`` unhandled deliveries
in a row ("nobody cared", Linux's ``note_interrupt``), and for handled ones a per-line rate
limit Linux does not have (``IRQ_STORM_COUNT`` within ``IRQ_STORM_WINDOW_NS``); either
disables the line with a device fault naming the IRQ (``request_irq`` enables it again).

With MSI enabled (the capability below, turned on by the kernel face's
:meth:`device.pcidev.PciDev.enable_msi`, Linux's ``pci_enable_msi``) they are edge-triggered
messages: each rising edge of the device's interrupt condition (ICR & IMS != 0) is one
bus-master write of the capability's Message Data to its Message Address, seen on the ``dma``
and ``msi`` tracepoints; a message that arrives while the previous one is still pending
merges with it, as the local APIC's IRR bit does; nothing is re-delivered while the
condition stays high.

The MSI capability: the config space STATUS has CAP_LIST, the capabilities pointer (0x34)
points at one capability, MSI (ID 0x05) at :data:`MSI_CAP`: Message Control (MSI Enable and
Multiple Message Enable writable; one vector; 64-bit address capable; no per-vector masking),
Message Address (low, high) and Message Data, the PCI 2.3 layout.  Simplified, said out loud:
the offset 0x50 is ixsim's (the spec file gives no capability offsets), and the list has MSI
only (no power management or PCI-X capability).  A message must go to the x86 interrupt
window (0xFEE00000-0xFEEFFFFF) and needs bus mastering; anything else is a device fault.

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
from device.spec.bus import (
    DIR_NAMES,
    IRQ_LATENCY_NS,
    IRQ_NONE,
    IRQ_STORM_COUNT,
    IRQ_STORM_WINDOW_NS,
    SPURIOUS_LIMIT,
    IrqHandler,
)
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
PCI_STATUS_CAP_LIST = 0x10
PCI_CAPABILITY_LIST = 0x34

# The MSI capability (Linux's include/uapi/linux/pci_regs.h names, offsets from the capability).
PCI_CAP_ID_MSI = 0x05
PCI_CAP_LIST_NEXT = 1
PCI_MSI_FLAGS = 2
PCI_MSI_FLAGS_ENABLE = 0x0001
PCI_MSI_FLAGS_QMASK = 0x000E  # Multiple Message Capable (RO): 0, one vector
PCI_MSI_FLAGS_QSIZE = 0x0070  # Multiple Message Enable (RW)
PCI_MSI_FLAGS_64BIT = 0x0080
PCI_MSI_ADDRESS_LO = 4
PCI_MSI_ADDRESS_HI = 8
PCI_MSI_DATA_64 = 12
MSI_CAP = 0x50
MSI_CAP_SIZE = 14
MSI_ADDRESS_BASE = 0xFEE00000  # the x86 local APIC window a message must write to
MSI_ADDRESS_WINDOW = 0x100000

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


class Bar0Device(Protocol):
    def mmio_read(self, offset: int) -> int: ...
    def mmio_write(self, offset: int, value: int) -> None: ...
    def reset(self) -> None: ...


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
        pcix: bool = False,
    ) -> None:
        self.sched = sched
        self.pcix = pcix  # the slot's bus runs in PCI-X mode (64-bit, 133 MHz), else PCI 33
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
        _U16.pack_into(cfg, PCI_STATUS, PCI_STATUS_CAP_LIST)
        cfg[PCI_CAPABILITY_LIST] = MSI_CAP
        cfg[MSI_CAP] = PCI_CAP_ID_MSI
        cfg[MSI_CAP + PCI_CAP_LIST_NEXT] = 0
        _U16.pack_into(cfg, MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT)
        # Writable bits of the capability, per byte (QEMU's wmask): Message Control's
        # Enable and MME, the dword-aligned address, the 16-bit data.
        self._msi_wmask = bytes((0, 0, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE, 0,
                                 0xFC, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF))
        self.msi_enabled = False  # Message Control's MSI Enable, cached for set_irq
        self.msi_irq = irq  # the irq number the kernel bound to the vector (PciDev.enable_msi)
        self.msi_sent = 0
        # Errors and hot-plug (device/pcierr.py runs the recovery): a frozen channel or an
        # absent card reads all-ones and neither takes writes nor masters the bus.
        self.frozen = False
        self.present = True
        self.isolated = False  # frozen or not present: the one test on the paths below
        self.errors = 0
        self.dma_blocked = 0
        self.error_notify: Callable[[PciFunction], None] | None = None  # the root port's AER
        self._command = 0  # PCI_COMMAND, cached: the DMA checks read it on every transfer
        self._dma = dma
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
        self._irq_next = 0  # the earliest next delivery: the last one + IRQ_LATENCY_NS
        self._storm_start = 0  # the time of the first delivery of the current storm window
        self._storm_count = 0
        self.irq_storms = 0
        # Tracepoints (device/trace.py): subscribers, called in declared field order.
        self.trace_dma: list[Callable[[str, int, int, str, bool], None]] = []
        self.trace_irq: list[Callable[[bool], None]] = []
        self.trace_irq_deliver: list[Callable[[int], None]] = []
        self.trace_msi: list[Callable[[int, int], None]] = []

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
        if not self.present:  # nobody answers: a master abort reads all-ones
            return (1 << (8 * size)) - 1
        return int.from_bytes(self.config[offset : offset + size], "little")

    def config_write(self, offset: int, value: int, size: int = 4) -> None:
        if size not in (1, 2, 4) or offset % size or offset + size > 256:
            self._fault("PCI_CONFIG", offset, f"bad config write of {size} bytes")
            return
        if not self.present:
            return
        if offset == PCI_BASE_ADDRESS_0 and size == 4:
            # BAR sizing: writing all ones reads back the size mask.
            mask = ~(self.bar0_size - 1) & 0xFFFFFFFF
            _U32.pack_into(self.config, offset, value & mask)
            return
        if MSI_CAP <= offset < MSI_CAP + MSI_CAP_SIZE:
            cfg = self.config
            for i in range(size):
                at = offset + i - MSI_CAP
                if at >= MSI_CAP_SIZE:
                    break
                mask = self._msi_wmask[at]
                cfg[offset + i] = (cfg[offset + i] & ~mask) | ((value >> (8 * i)) & mask)
            flags = _U16.unpack_from(cfg, MSI_CAP + PCI_MSI_FLAGS)[0]
            self.msi_enabled = bool(flags & PCI_MSI_FLAGS_ENABLE)
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
        if self.isolated:  # a frozen channel or an absent card: all-ones, as Linux expects
            return 0xFFFFFFFF
        if not self._command & PCI_COMMAND_MEMORY:
            self._fault("BAR0", offset, "MMIO read with memory decoding disabled (PCI_COMMAND)")
            return 0xFFFFFFFF
        assert self.bar0 is not None
        return self.bar0.mmio_read(offset)

    def mmio_write(self, offset: int, value: int) -> None:
        if self.isolated:  # dropped on the floor
            return
        if not self._command & PCI_COMMAND_MEMORY:
            self._fault("BAR0", offset, "MMIO write with memory decoding disabled (PCI_COMMAND)")
            return
        assert self.bar0 is not None
        self.bar0.mmio_write(offset, value)

    # -- DMA (device side) ---------------------------------------------------------------
    # Every transfer is checked against the IOMMU map (DmaMap.allows), whose mappings all lie
    # inside guest RAM (DmaMap.map refuses any other range): so an allowed transfer is in RAM
    # and its offset from the RAM base never wraps or runs off the end.
    def dma_ok(self, addr: int, length: int, need: int, what: str) -> bool:
        """Check that the device may touch [addr, addr+length); record a fault if not."""
        if self.isolated:  # DMA stopped by the error (or the card is gone): no fault of its own
            self.dma_blocked += 1
            return False
        if not self._command & PCI_COMMAND_MASTER:
            self._fault(what, addr, "DMA with bus mastering disabled (PCI_COMMAND.MASTER)")
            return False
        if not self.dma_map.allows(addr, length, need):
            verb = "read" if need == 1 else "write"
            where = ("outside guest RAM" if not self.mem.in_ram(addr, length)
                     else f"outside any live {DIR_NAMES[need]} mapping")
            self._fault(what, addr, f"DMA {verb} of {length} bytes at 0x{addr:x} {where}")
            return False
        return True

    def dma_observed(self) -> bool:
        """Does the ``dma`` tracepoint have subscribers?  While not, engines may use
        :meth:`dma_view`/:meth:`dma_store`, which skip building the ``what`` text of every
        transfer (and so are not traced)."""
        return bool(self.trace_dma)

    def dma_view(self, addr: int, length: int, need: int = 1) -> memoryview | None:
        """``dma_read`` for the hot path: same checks, but None without recording a fault.

        On None the caller repeats the transfer with ``dma_read(addr, length, what)``, which
        fails again and records the fault with its text: faults cost, successes do not.
        ``need`` = 3 (read and write) gives a view the device may also write through, checked
        once for both (a descriptor read and written back: the caller's slow path repeats
        each transfer on its own).
        """
        if not self._command & PCI_COMMAND_MASTER:
            return None
        # DmaMap.allows' first two checks, inline (the ring its last lookup found, a buffer
        # mapped at ``addr``); anything else asks allows itself, which is exact.
        end = addr + length
        dma = self._dma
        lo, hi, direction = dma.hit
        if not (lo <= addr and end <= hi and direction & need == need):
            maps = dma.maps
            if addr in maps:
                entry = maps[addr][0]
                if not (entry[0] >= end and entry[1] & need == need) and not self._allows(
                    addr, length, need
                ):
                    return None
            elif not self._allows(addr, length, need):
                return None
        off = addr - self._mem_base
        return self._mem_view[off : off + length]

    def dma_store(self, addr: int, data: bytes | bytearray | memoryview, n: int = -1) -> bool:
        """``dma_write`` for the hot path: False without recording (see :meth:`dma_view`).
        ``n`` is ``len(data)`` when the caller knows it already."""
        if n < 0:
            n = len(data)
        if not self._command & PCI_COMMAND_MASTER:
            return False
        end = addr + n
        dma = self._dma
        lo, hi, direction = dma.hit  # DmaMap.allows' first two checks, inline (dma_view)
        if not (lo <= addr and end <= hi and direction & 2):
            maps = dma.maps
            if addr in maps:
                entry = maps[addr][0]
                if not (entry[0] >= end and entry[1] & 2) and not self._allows(addr, n, 2):
                    return False
            elif not self._allows(addr, n, 2):
                return False
        off = addr - self._mem_base
        self._mem_view[off : end - self._mem_base] = data
        return True

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
        """Drive the interrupt condition (the device's ICR & IMS != 0): the INTx line, or
        with MSI enabled one message per rising edge."""
        if level == self.irq_level:
            return
        self.irq_level = level
        if self.trace_irq:
            for fn in self.trace_irq:
                fn(level)
        if self.msi_enabled:
            if level:
                self._send_msi()
            return
        self._update_irq_delivery()

    def msi_message(self) -> tuple[int, int]:
        """The capability's (Message Address, Message Data)."""
        cfg = self.config
        addr = (_U32.unpack_from(cfg, MSI_CAP + PCI_MSI_ADDRESS_LO)[0]
                | _U32.unpack_from(cfg, MSI_CAP + PCI_MSI_ADDRESS_HI)[0] << 32)
        return addr, _U16.unpack_from(cfg, MSI_CAP + PCI_MSI_DATA_64)[0]

    def _send_msi(self) -> None:
        """One message: a DWORD memory write of Message Data to Message Address (PCI 2.3
        §6.8), which the interrupt controller turns into the bound vector's interrupt."""
        if self.isolated:
            return
        addr, data = self.msi_message()
        ok = bool(self._command & PCI_COMMAND_MASTER)
        if self.trace_dma:
            for fn in self.trace_dma:
                fn("W", addr, 4, f"MSI message data 0x{data:04x}", ok)
        if not ok:
            self._fault("MSI", addr, "MSI message with bus mastering disabled "
                        "(PCI_COMMAND.MASTER): the interrupt is lost")
            return
        if not MSI_ADDRESS_BASE <= addr < MSI_ADDRESS_BASE + MSI_ADDRESS_WINDOW:
            self._fault("MSI", addr, f"MSI message to 0x{addr:x}, outside the interrupt "
                        f"window 0x{MSI_ADDRESS_BASE:x}: the write went to memory")
            return
        self.msi_sent += 1
        if self.trace_msi:
            for fn in self.trace_msi:
                fn(addr, data)
        if self._irq_event is None and self._irq_handler is not None and not self.irq_disabled:
            self._irq_event = self.sched.call_at(self._irq_next, self._deliver_msi)

    def _deliver_msi(self) -> None:
        self._irq_event = None
        handler = self._irq_handler
        if handler is None or self.irq_disabled or not self.msi_enabled:
            return
        self.irq_delivered += 1
        self._irq_next = self.sched.now + IRQ_LATENCY_NS
        if self.trace_irq_deliver:
            for fn in self.trace_irq_deliver:
                fn(self.msi_irq)
        if handler(self.msi_irq) == IRQ_NONE:
            self.irq_unhandled += 1
        self._irq_accounting(self.msi_irq)

    def _irq_accounting(self, irq: int) -> None:
        """After a delivery (whose start set ``_irq_next``): the storm limit
        (device/spec/bus.py).  IRQ_STORM_COUNT deliveries within IRQ_STORM_WINDOW_NS disable
        the line with a fault naming the IRQ and the rate, as ``note_interrupt`` disables an
        unhandled one; ``request_irq`` enables it again."""
        now = self.sched.now
        count = self._storm_count
        if not count or now - self._storm_start >= IRQ_STORM_WINDOW_NS:
            self._storm_start = now
            count = 0
        count += 1
        if count >= IRQ_STORM_COUNT:
            span = now - self._storm_start
            rate = count * 1_000_000_000 // max(span, 1)
            limit = IRQ_STORM_COUNT * 1_000_000_000 // IRQ_STORM_WINDOW_NS
            self.irq_disabled = True
            self.irq_storms += 1
            self._fault("IRQ", irq, f"irq {irq}: interrupt storm, {count} deliveries in "
                        f"{span / 1e6:.3f} ms ({rate}/s, above the limit of {limit}/s): "
                        "IRQ disabled")
            count = 0
        self._storm_count = count

    def pending_events(self) -> list[PendingEvent]:
        """The scheduled interrupt delivery, if any (device/trace.py)."""
        ev = self._irq_event
        label = "MSI delivery" if self.msi_enabled else "interrupt delivery"
        return [PendingEvent(ev, label)] if ev is not None else []

    def _update_irq_delivery(self) -> None:
        if (
            self.irq_level
            and not self.msi_enabled
            and not self.isolated
            and self._irq_handler is not None
            and not self.irq_disabled
            and not self._command & PCI_COMMAND_INTX_DISABLE
            and self._irq_event is None
        ):
            # call_at clamps to now: a line quiet for IRQ_LATENCY_NS is delivered at once
            self._irq_event = self.sched.call_at(self._irq_next, self._deliver_irq)

    def _deliver_irq(self) -> None:
        self._irq_event = None
        handler = self._irq_handler
        if not self.irq_level or handler is None or self.irq_disabled:
            return
        if self._command & PCI_COMMAND_INTX_DISABLE or self.msi_enabled:
            return
        self.irq_delivered += 1
        self._irq_next = self.sched.now + IRQ_LATENCY_NS
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
                    "IRQ", self.irq, f"irq {self.irq}: nobody cared: interrupt line stuck "
                    f"high, {self._irq_unhandled_run} unhandled deliveries, IRQ disabled"
                )
                return
        else:
            self._irq_unhandled_run = 0
        self._irq_accounting(self.irq)
        self._update_irq_delivery()  # still asserted: deliver again (level semantics)

    # -- errors and hot-plug ----------------------------------------------------------------
    def raise_error(self) -> None:
        """An uncorrectable bus error: the channel freezes (MMIO reads all-ones, writes and
        DMA stop, no interrupts) and the root port signals AER, which runs the kernel's
        recovery (``error_notify``) from an event of its own."""
        self.errors += 1
        if self.frozen:  # already isolated: the recovery under way covers this one too
            return
        self.frozen = True
        self._update_isolation()
        if self.error_notify is not None:
            notify = self.error_notify
            self.sched.call_soon(lambda: notify(self))

    def set_present(self, present: bool) -> None:
        """The card is pulled out (False) or plugged back (True, in its power-on state)."""
        self.present = present
        if present:
            self.secondary_bus_reset()
        self._update_isolation()

    def secondary_bus_reset(self) -> None:
        """A reset of the slot (the root port's secondary bus reset): the freeze ends, the
        command register and the MSI capability return to their reset values, the device
        resets.  BAR0 keeps its address (Linux restores the saved config around a bus
        reset)."""
        self.frozen = False
        self._update_isolation()
        cfg = self.config
        _U16.pack_into(cfg, PCI_COMMAND, 0)
        self._command = 0
        cfg[MSI_CAP + PCI_MSI_ADDRESS_LO : MSI_CAP + MSI_CAP_SIZE] = bytes(
            MSI_CAP_SIZE - PCI_MSI_ADDRESS_LO)
        _U16.pack_into(cfg, MSI_CAP + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT)
        self.msi_enabled = False
        if self._irq_event is not None:
            self._irq_event.cancel()
            self._irq_event = None
        self.irq_level = False
        if self.bar0 is not None:
            self.bar0.reset()

    def _update_isolation(self) -> None:
        self.isolated = self.frozen or not self.present
        if self.isolated and self._irq_event is not None:
            self._irq_event.cancel()
            self._irq_event = None

    def _fault(self, register: str, value: int, message: str) -> None:
        self.faults.record(self.sched.now, self.name, register, value, message)
