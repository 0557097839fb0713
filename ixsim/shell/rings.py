"""Descriptor rings as the debugger sees them: geometry from the registers, slots from memory.

Read-only and side-effect free: registers are peeked (``nic.peek``), descriptors are read from
guest RAM as the CPU would (no DMA check, no fault), so looking at a ring never changes it.
Ownership follows docs/hardware.md: hardware owns the slots in ``[head, tail)`` (TX: TDH..TDT;
RX: RDH..RDT), software owns the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device.spec import desc as D
from device.spec import regs as R

_REGS = {
    "tx": (R.TDBAL, R.TDBAH, R.TDLEN, R.TDH, R.TDT),
    "rx": (R.RDBAL, R.RDBAH, R.RDLEN, R.RDH, R.RDT),
}


@dataclass
class Ring:
    kind: str  # "tx" or "rx"
    base: int
    count: int
    head: int
    tail: int

    def owner(self, i: int) -> str:
        """``HW`` for a slot in [head, tail) (modulo the ring), else ``SW``."""
        if not self.count:
            return "SW"
        return "HW" if (i - self.head) % self.count < self.hw_owned else "SW"

    @property
    def hw_owned(self) -> int:
        if not self.count or self.head >= self.count or self.tail >= self.count:
            return 0
        return (self.tail - self.head) % self.count


def ring(nic: Any, kind: str) -> Ring:
    bal, bah, length, head, tail = _REGS[kind]
    peek = nic.peek
    return Ring(kind, peek(bal) | peek(bah) << 32, peek(length) >> 4, peek(head) & 0xFFFF,
                peek(tail) & 0xFFFF)


def read_desc(mem: Any, r: Ring, i: int) -> bytes | None:
    """Slot ``i`` as 16 raw bytes, or None when the ring is not in guest RAM."""
    addr = r.base + i * D.DESC_SIZE
    if not mem.in_ram(addr, D.DESC_SIZE):
        return None
    return bytes(mem.read(addr, D.DESC_SIZE))


@dataclass
class TxBatch:
    """What a span of TX slots holds: the work a TDT write hands to the device."""

    descriptors: int = 0
    contexts: int = 0
    frames: int = 0  # packets ended by EOP
    bytes: int = 0
    tso: bool = False

    def text(self) -> str:
        ctx = f" ({self.contexts} context)" if self.contexts else ""
        kind = "TSO packet" if self.tso else "frame"
        return (f"{_n(self.descriptors, 'descriptor')}{ctx}, "
                f"{_n(self.frames, kind)} {self.bytes} B")


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def tx_batch(mem: Any, r: Ring, start: int, end: int) -> TxBatch:
    """Decode the TX slots [start, end) (modulo the ring) without touching the device."""
    out = TxBatch()
    if not r.count:
        return out
    n = (end - start) % r.count
    for k in range(n):
        raw = read_desc(mem, r, (start + k) % r.count)
        if raw is None:
            break
        out.descriptors += 1
        _addr, ctl, _status, _popts, _vlan = D.TX_DESC.unpack(raw)
        if ctl & D.TXD_TYPE_MASK == D.TXD_TYPE_DATA:
            out.bytes += ctl & D.TXD_LEN_MASK
            if ctl & D.TXD_CMD_TSE:
                out.tso = True
            if ctl & D.TXD_CMD_EOP:
                out.frames += 1
        else:
            out.contexts += 1
    return out
