"""The ixgb (82597EX) NIC model: register file, side effects, interrupts, link, reset.

Mirrors QEMU's ``hw/net/e1000.c`` structure for a different register map: a flat register
file, a read dispatch and a write dispatch built from the spec table (``macreg_readops`` /
``macreg_writeops``), the default being a masked store.  The table's access kinds
(``regs.ACCESS``) make the generic handlers: read-to-clear (ICR, statistics), write-1-to-set
and write-1-to-clear (IMS; ICS into ICR, IMC into IMS), self-clearing bits, and "partial"
registers that are stored but not modelled (the first write is logged once, as QEMU's
``MAC_ACCESS_PARTIAL``).  Side effects beyond those are a second dict of handlers.  The TX
and RX engines (``device/ixgb/tx.py``, ``rx.py``) hang off this core and reach guest memory
only through the PCI function's bus-master DMA.  Everything a driver can get wrong is a device
fault (see ``device/faults.py``) carrying the register, the value and the guest time.

Decisions the datasheet leaves open are those of docs/hardware.md: hardware owns RX descriptors
[RDH, RDT); statistics clear on read (a 64-bit pair when its high half is read) and
saturate; CTRL0.RST, CTRL0.LRST and CTRL1.EE_RST self-clear; link is STATUS.LU plus
XPCSS.ALIGN_STATUS; MDIO commands complete at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from device.faults import FaultLog
from device.ixgb.eeprom import Eeprom
from device.ixgb.flowctl import FlowControl
from device.ixgb.inject import Injection
from device.ixgb.rx import RxEngine
from device.ixgb.tx import TxEngine
from device.pci import PciFunction
from device.port import Port
from device.spec import regs as R
from device.spec.eeprom import EEPROM_MAC
from device.spec.timing import DELAY_UNIT_NS

MAX_FRAME_FCS = R.MAX_JUMBO_FRAME_SIZE + 4  # the largest frame Linux programs, FCS included

_NREGS = R.BAR0_SIZE // 4
_REGISTERS = R.REGISTERS
_ICR = R.ICR >> 2
_IMS = R.IMS >> 2
# What a store keeps of a write: the writable bits less the self-clearing ones.
_STORE_MASK = {reg.offset: reg.writable & ~reg.sc for reg in R.REGISTERS.values()}

# PHY registers answered over MDIO (clause 45): (phy_addr, dev_type, reg) -> value.
_XPAK_VENDOR = b"IXSIM XPAK      "


def _default_phy() -> dict[tuple[int, int, int], int]:
    phy: dict[tuple[int, int, int], int] = {}
    for i in range(0, len(_XPAK_VENDOR), 2):
        word = (_XPAK_VENDOR[i] << 8) | _XPAK_VENDOR[i + 1]
        phy[(0x0, 0x1, 0x803A + i // 2)] = word
    phy[(0x0, 0x1, 0x0002)] = 0x0043  # PMA device identifier (high)
    phy[(0x0, 0x1, 0x0003)] = 0x7400
    return phy


class IxgbNic:
    """One 82597EX: attach it to a :class:`PciFunction` and a :class:`Port`."""

    def __init__(
        self,
        sched: Any,
        pci: PciFunction,
        port: Port,
        eeprom_words: list[int],
        faults: FaultLog,
        name: str = "ixgb",
    ) -> None:
        self.sched = sched
        self.pci = pci
        self.port = port
        self.faults = faults
        self.name = name
        self.trace_name = name
        self.eeprom = Eeprom(eeprom_words)
        self.r = [0] * _NREGS
        self.phy = _default_phy()
        self._phy_addr: dict[tuple[int, int], int] = {}
        self.mmio_reads = 0
        self.mmio_writes = 0
        self.resets = 0
        # Tracepoint "mmio" (device/trace.py) and the fault-injection knobs (inject.py).
        self.trace_mmio: list[Callable[[str, int, int, int], None]] = []
        self.inject = Injection()
        self.partial_logged: set[int] = set()  # PARTIAL registers already logged
        self.flowctl = FlowControl(self)
        self.tx = TxEngine(self)
        self.rx = RxEngine(self)
        # What a change of a register's contents sets off (read-to-clear, W1S, W1C).
        self._changed: dict[int, Callable[[], None]] = {
            R.ICR: self._update_irq,
            R.IMS: self._update_irq,
        }
        self._reads, self._writes = self._access_ops()
        self._reads[R.EECD] = self._read_eecd
        self._reads[R.TDH] = self._read_tdh
        self._writes.update({
            R.CTRL0: self._write_ctrl0,
            R.CTRL1: self._write_ctrl1,
            R.EECD: self._write_eecd,
            R.RCTL: self._write_rctl,
            R.RDLEN: self._write_ring_len,
            R.TDLEN: self._write_ring_len,
            R.RDH: self._write_head,
            R.TDH: self._write_head,
            R.RDT: self._write_rdt,
            R.TDT: self._write_tdt,
            R.TCTL: self._write_tctl,
            R.MSCA: self._write_msca,
            R.MFS: self._write_mfs,
        })
        port.attach(self.rx.receive, self._link_changed, sized=True)
        self._power_on()

    # -- reset ------------------------------------------------------------------------------
    def _power_on(self) -> None:
        r = self.r
        for i in range(_NREGS):
            r[i] = 0
        for reg in R.REGISTERS.values():
            r[reg.offset >> 2] = reg.reset
        self.eeprom._reset_state()
        if self.pci.pcix:  # bus mode as strapped at reset: PCI-X, 133 MHz, 64-bit
            r[R.STATUS >> 2] |= (R.STATUS_PCIX_MODE | R.STATUS_BUS64
                                 | 2 << R.STATUS_PCIX_SPD_SHIFT)
        self._load_rar0_from_eeprom()
        self._phy_addr.clear()
        self._set_link_bits(self.port.link_up)
        self.tx.reset()
        self.rx.reset()
        self.flowctl.reset()
        self.pci.set_irq(False)

    def _load_rar0_from_eeprom(self) -> None:
        """Like every Intel MAC, the NIC loads RAR0 from EEPROM words 0-2 at reset."""
        w = self.eeprom.words[EEPROM_MAC : EEPROM_MAC + 3]
        self.r[R.RAL(0) >> 2] = w[0] | (w[1] << 16)
        self.r[R.RAH(0) >> 2] = w[2] | R.RAH_AV

    def reset(self) -> None:
        self.resets += 1
        self._power_on()

    # -- link -------------------------------------------------------------------------------
    def _set_link_bits(self, up: bool) -> None:
        r = self.r
        if up and not self.inject.link_misaligned:
            r[R.STATUS >> 2] |= R.STATUS_LU
            r[R.XPCSS >> 2] |= R.XPCSS_ALIGN_STATUS | R.XPCSS_LANE_SYNC
            r[R.PCSS1 >> 2] |= R.PCSS1_RX_LINK_STATUS
        else:
            r[R.STATUS >> 2] &= ~R.STATUS_LU
            r[R.XPCSS >> 2] &= ~(R.XPCSS_ALIGN_STATUS | R.XPCSS_LANE_SYNC)
            r[R.PCSS1 >> 2] &= ~R.PCSS1_RX_LINK_STATUS

    def _link_changed(self, up: bool) -> None:
        self._set_link_bits(up)
        self.set_ics(R.INT_LSC)

    @property
    def link_up(self) -> bool:
        r = self.r
        return bool(r[R.STATUS >> 2] & R.STATUS_LU and r[R.XPCSS >> 2] & R.XPCSS_ALIGN_STATUS)

    # -- interrupts -------------------------------------------------------------------------
    # set_ics and _update_irq call pci.set_irq only when the level changes: set_irq does
    # nothing on an unchanged level, and most ICR/IMS/IMC accesses leave it as it was.
    def set_ics(self, causes: int) -> None:
        """Raise interrupt causes (hardware events and ICS writes both come here)."""
        r = self.r
        icr = r[_ICR] | causes
        r[_ICR] = icr
        level = bool(icr & r[_IMS])
        pci = self.pci
        if level != pci.irq_level:
            pci.set_irq(level)

    def _update_irq(self) -> None:
        r = self.r
        level = bool(r[_ICR] & r[_IMS])
        pci = self.pci
        if level != pci.irq_level:
            pci.set_irq(level)

    def delay_ns(self, ticks: int) -> int:
        return int(ticks * DELAY_UNIT_NS)

    # -- statistics -------------------------------------------------------------------------
    def stat_add(self, offset: int, amount: int = 1) -> None:
        """Add to a 32-bit counter, saturating at 2^32-1."""
        r = self.r
        i = offset >> 2
        v = r[i] + amount
        r[i] = v if v < 0xFFFFFFFF else 0xFFFFFFFF

    def stat_add64(self, offset: int, amount: int = 1) -> None:
        """Add to a 64-bit L/H counter pair, saturating at 2^64-1."""
        r = self.r
        i = offset >> 2
        v = r[i] + (r[i + 1] << 32) + amount
        if v > 0xFFFF_FFFF_FFFF_FFFF:
            v = 0xFFFF_FFFF_FFFF_FFFF
        r[i] = v & 0xFFFFFFFF
        r[i + 1] = v >> 32

    # -- MMIO dispatch ----------------------------------------------------------------------
    def mmio_read(self, offset: int) -> int:
        self.mmio_reads += 1
        if offset & 3 or not 0 <= offset < R.BAR0_SIZE:
            self.fault("BAR0", offset, f"unaligned or out-of-range MMIO read at 0x{offset:05x}")
            return 0xFFFFFFFF
        if self.inject.surprise_removal:
            return 0xFFFFFFFF
        # Membership tests, not dict.get: a register access is then no call but its handler's.
        if offset not in _REGISTERS:
            self.fault(f"0x{offset:05x}", offset, "read of an unimplemented register")
            return 0
        reads = self._reads
        value = reads[offset](offset) if offset in reads else self.r[offset >> 2]
        if self.trace_mmio:
            for fn in self.trace_mmio:
                fn("r", offset, value, value)
        return value

    def peek(self, offset: int) -> int:
        """Read without side effects (the debugger's view): never clears ICR or counters."""
        if offset == R.EECD:
            return self._eecd_value()
        return self.r[offset >> 2]

    def mmio_write(self, offset: int, value: int) -> None:
        self.mmio_writes += 1
        value &= 0xFFFFFFFF
        if offset & 3 or not 0 <= offset < R.BAR0_SIZE:
            self.fault("BAR0", offset, f"unaligned or out-of-range MMIO write at 0x{offset:05x}")
            return
        if offset not in _REGISTERS:
            self.fault(f"0x{offset:05x}", value, "write to an unimplemented register")
            return
        reg = _REGISTERS[offset]
        old = self.r[offset >> 2]
        access = reg.access
        if access == R.RO or access == R.RC:
            self.fault(reg.name, value, "write to a read-only register ignored")
            return
        if value & ~reg.writable and offset in R.STRICT_WRITES:
            # Setting a read-only bit that reads 0 is a driver bug; writing back what was
            # read (the read-modify-write idiom, e.g. EECD.DO) is not.
            ro_set = value & ~reg.writable & ~self.peek(offset)
            if ro_set:
                self.fault(
                    reg.name, value,
                    f"write sets read-only bits 0x{ro_set:08x} (writable mask "
                    f"0x{reg.writable:08x}); those bits were ignored",
                )
        writes = self._writes
        if offset in writes:
            writes[offset](offset, value)
        else:
            mask = _STORE_MASK[offset]
            self.r[offset >> 2] = (old & ~mask) | (value & mask)
        if self.trace_mmio:
            for fn in self.trace_mmio:
                fn("w", offset, value, old)

    def fault(self, register: str, value: int, message: str) -> None:
        self.faults.record(self.sched.now, self.name, register, value, message)

    def _store(self, offset: int, value: int) -> None:
        """The masked store: writable bits from ``value``; self-clearing bits stay 0."""
        mask = _STORE_MASK[offset]
        i = offset >> 2
        self.r[i] = (self.r[i] & ~mask) | (value & mask)

    # -- access kinds (spec: regs.ACCESS) ------------------------------------------------------
    def _access_ops(self) -> tuple[dict[int, Callable[[int], int]],
                                   dict[int, Callable[[int, int], None]]]:
        """Read and write handlers for every register that is not a plain value / masked
        store, from its access kind, bound once here so a hot access is one call."""
        reads: dict[int, Callable[[int], int]] = {}
        writes: dict[int, Callable[[int, int], None]] = {}
        for reg in R.REGISTERS.values():
            off, kind = reg.offset, reg.access
            target = reg.offset if reg.alias is None else reg.alias
            changed = self._changed.get(target)
            if kind in (R.RC, R.RC_W1C):
                also = None if reg.alias is None else reg.alias >> 2
                reads[off] = partial(self._read_clear, also, self._changed.get(off))
            elif R.reads_zero(reg):
                reads[off] = self._read_zero
            if kind == R.W1S:
                writes[off] = partial(self._write_1_set, target >> 2, reg.writable, changed)
            elif kind in (R.W1C, R.RC_W1C):
                writes[off] = partial(self._write_1_clear, target >> 2, reg.writable, changed)
            elif kind == R.PARTIAL:
                writes[off] = self._write_partial
        return reads, writes

    def _read_zero(self, offset: int) -> int:
        return 0

    def _read_clear(self, also: int | None, changed: Callable[[], None] | None,
                    offset: int) -> int:
        """Read-to-clear: ICR, a 32-bit counter, or a 64-bit counter's high half (``also``
        is then its low half: the pair clears together)."""
        r = self.r
        value = r[offset >> 2]
        r[offset >> 2] = 0
        if also is not None:
            r[also] = 0
        if changed is not None:
            changed()
        return value

    def _write_1_set(self, target: int, mask: int, changed: Callable[[], None] | None,
                     offset: int, value: int) -> None:
        self.r[target] |= value & mask
        if changed is not None:
            changed()

    def _write_1_clear(self, target: int, mask: int, changed: Callable[[], None] | None,
                       offset: int, value: int) -> None:
        self.r[target] &= ~(value & mask)
        if changed is not None:
            changed()

    def _write_partial(self, offset: int, value: int) -> None:
        self._store(offset, value)
        if offset not in self.partial_logged:
            self.partial_logged.add(offset)
            self.log_partial(offset, value)

    def log_partial(self, offset: int, value: int) -> None:
        """The one place a write to a stored-but-not-modelled register is reported: once per
        register, as a note (never a fault: the write is legal, the model just ignores it)."""
        self.faults.note(self.sched.now, self.name, R.REGISTERS[offset].name, value,
                         "register stored but not modelled (written values have no effect)")

    def _eecd_value(self) -> int:
        v = self.r[R.EECD >> 2] & ~R.EECD_DO
        return v | (R.EECD_DO if self.eeprom.do else 0)

    def _read_eecd(self, offset: int) -> int:
        return self._eecd_value()

    def _read_tdh(self, offset: int) -> int:
        """TDH follows the wire: frames that finished by now are completed first."""
        self.tx.catch_up()
        return self.r[offset >> 2]

    # -- write side effects -----------------------------------------------------------------
    def _write_ctrl0(self, offset: int, value: int) -> None:
        if value & R.CTRL0_RST:
            self.reset()  # every register, both engines; RST reads back clear
            return
        self._store(offset, value)  # LRST self-clears
        if value & R.CTRL0_LRST:
            # Link reset: the link retrains at once on a healthy cable; LSC only when the
            # link state the driver sees actually changes (a dead cable stays quietly down).
            before = self.link_up
            self._set_link_bits(self.port.link_up)
            if self.link_up != before:
                self.set_ics(R.INT_LSC)

    def _write_ctrl1(self, offset: int, value: int) -> None:
        self._store(offset, value)  # EE_RST self-clears
        if value & R.CTRL1_EE_RST:
            self.eeprom._reset_state()
            self._load_rar0_from_eeprom()

    def _write_eecd(self, offset: int, value: int) -> None:
        self._store(offset, value)
        self.eeprom.pins(bool(value & R.EECD_SK), bool(value & R.EECD_CS),
                         bool(value & R.EECD_DI))

    def _write_rctl(self, offset: int, value: int) -> None:
        self._store(offset, value)
        self.rx.control_changed()

    def _write_tctl(self, offset: int, value: int) -> None:
        self._store(offset, value)
        self.tx.control_changed()

    def _write_mfs(self, offset: int, value: int) -> None:
        self._store(offset, value)
        size = value >> R.MFS_SHIFT
        if not 64 <= size <= MAX_FRAME_FCS:
            self.fault("MFS", value, f"max frame size {size} outside 64..{MAX_FRAME_FCS}")

    def _write_ring_len(self, offset: int, value: int) -> None:
        name = "RDLEN" if offset == R.RDLEN else "TDLEN"
        if value == 0 or value % 128 or value > 0xFFF8 * 16:
            self.fault(name, value, "ring length must be a non-zero multiple of 128 bytes "
                       "(8 descriptors) and at most 0xFFF8 descriptors")
        self._store(offset, value)
        (self.rx if offset == R.RDLEN else self.tx).ring_changed()

    def _write_head(self, offset: int, value: int) -> None:
        name = "RDH" if offset == R.RDH else "TDH"
        engine = self.rx if offset == R.RDH else self.tx
        if engine.enabled():
            self.fault(name, value, f"{name} written while the unit is enabled")
        count = engine.ring_count()
        if count and value >= count:
            self.fault(name, value, f"{name} beyond the ring ({count} descriptors)")
            return
        self._store(offset, value)
        if offset == R.TDH:
            self.tx.head_written()

    def _write_rdt(self, offset: int, value: int) -> None:
        count = self.rx.ring_count()
        tail = value & 0xFFFF
        if count and tail >= count:
            self.fault("RDT", value, f"RDT beyond the ring ({count} descriptors, "
                       f"RDLEN={self.r[R.RDLEN >> 2]})")
            return
        self._store(offset, value)
        self.rx.doorbell()

    def _write_tdt(self, offset: int, value: int) -> None:
        count = self.tx.ring_count()
        if not count and value == 0:
            self._store(offset, value)  # ixgb_down: TDT = 0 after the reset cleared TDLEN
            return
        if not count or value >= count:
            self.fault("TDT", value, f"TDT beyond the ring ({count} descriptors, "
                       f"TDLEN={self.r[R.TDLEN >> 2]})")
            return
        self._store(offset, value)
        self.tx.doorbell()

    def _write_msca(self, offset: int, value: int) -> None:
        """Clause-45 MDIO: the command completes at once and MDI_COMMAND self-clears."""
        if value & R.MSCA_MDI_COMMAND:
            phy = (value >> R.MSCA_PHY_ADDR_SHIFT) & 0x1F
            dev = (value >> R.MSCA_DEV_TYPE_SHIFT) & 0x1F
            op = value & (3 << R.MSCA_OP_CODE_SHIFT)
            if op == R.MSCA_ADDR_CYCLE:
                self._phy_addr[(phy, dev)] = value & R.MSCA_NP_ADDR_MASK
            else:
                reg = self._phy_addr.get((phy, dev), 0)
                if op == R.MSCA_WRITE:
                    self.phy[(phy, dev, reg)] = self.r[R.MSRWD >> 2] & 0xFFFF
                else:
                    data = self.phy.get((phy, dev, reg), 0)
                    i = R.MSRWD >> 2
                    self.r[i] = (self.r[i] & 0xFFFF) | (data << R.MSRWD_READ_DATA_SHIFT)
                    if op == R.MSCA_READ_AUTOINC:
                        self._phy_addr[(phy, dev)] = (reg + 1) & 0xFFFF
        self._store(offset, value)  # MDI_COMMAND self-clears
