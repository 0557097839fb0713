"""Fault injection into the 82597EX model: typed knobs, one set of names for every user.

A hardware failure a driver must survive (a hung TX unit, a lost interrupt, a corrupted
frame) is armed through ``nic.inject``, an :class:`Injection`.  The field names below are the
only names: the Python API sets them (``nic.inject.tx_stall = True``), the shell's ``inject``
command takes them with ``-`` for ``_`` (``inject a tx-stall``), docs/shell.md lists them.
A misspelt name raises (:class:`UnknownInjection`, or ``AttributeError`` on the slotted
class) instead of silently arming nothing.

Counted knobs arm the next N occurrences and count down to 0 as the engines consume them.
Three faults are actions rather than knobs, made from outside the model as a failure would
be: :func:`spurious_irq`, :func:`corrupt_eeprom_word` and :func:`pci_error` (a bus error
that freezes the PCI function's channel until the kernel's AER recovery resets the slot).

Performance: the engines test one attribute, ``armed``, per frame or pass before looking at
any knob; ``__setattr__`` keeps it up to date (a set is rare, a test is on the hot path).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from device.spec import regs as R


class UnknownInjection(ValueError):
    """A fault name that is not a field of :class:`Injection`."""


@dataclass(slots=True)
class Injection:
    """The armed faults of one NIC (all off by default)."""

    tx_stall: bool = False
    """A TX pass does nothing: TDH frozen, STATUS.TXOFF clear, as a hung TX unit.  Clear it
    and ring the doorbell (write TDT) to resume."""
    lost_irq: int = 0
    """Swallow the next N TX interrupt causes (TXDW before TXQE)."""
    rx_no_buffer: int = 0
    """The next N accepted frames find no RX descriptor (RNBC++) and wait in the packet
    buffer; the engine retries after ``rx.FETCH_RETRY_NS``, so the ring never wedges."""
    crc_error: int = 0
    """Mark the next N accepted frames with error CE (CRCERRS++; a wrong FCS when SECRC is
    clear); stored even without RCTL.SBP so the driver's error path runs."""
    bad_checksum: int = 0
    """Report TCPE on the next N received frames whose TCP/UDP checksum was checked."""
    link_misaligned: bool = False
    """Link comes up at the PHY but XAUI lanes never align: STATUS.LU stays clear."""
    surprise_removal: bool = False
    """The device is gone from the bus: every MMIO read returns 0xFFFFFFFF (ICR included, so
    a pending cause is never acknowledged and the line stays as it was).  Nobody tells the
    kernel: a driver must notice the all-ones reads (ixgb: ``intr.check_remove``) or its
    handler storms until the IRQ core disables the line (device/pci.py)."""
    armed: bool = field(default=False, init=False, repr=False, compare=False)
    """Derived: some knob is set (the engines' one test on the hot path)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "armed", any(getattr(self, knob) for knob in KNOBS))

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "armed":
            object.__setattr__(self, "armed", any(
                getattr(self, knob, False) for knob in KNOBS))

    def set(self, name: str, value: bool | int) -> None:
        """Arm (or with False/0 disarm) the knob ``name`` (``-`` may stand for ``_``)."""
        knob = name.replace("-", "_")
        if knob not in KNOBS:
            raise UnknownInjection(f"unknown fault {name!r} (one of "
                                   f"{', '.join(k.replace('_', '-') for k in KNOBS)})")
        kind = KNOBS[knob]
        if kind is bool:
            value = bool(value)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} takes a count of occurrences, not {value!r}")
        setattr(self, knob, value)

    def clear(self) -> None:
        """Disarm every knob."""
        for knob, kind in KNOBS.items():
            setattr(self, knob, kind())

    def active(self) -> dict[str, bool | int]:
        """The knobs that are set, by field name."""
        return {knob: getattr(self, knob) for knob in KNOBS if getattr(self, knob)}

    def take(self, knob: str) -> bool:
        """Consume one unit of the counted knob ``knob``; True if it was armed."""
        left = getattr(self, knob)
        if not left:
            return False
        setattr(self, knob, left - 1)
        return True


# Every knob and its type (bool: on/off; int: a count of occurrences).
KNOBS: dict[str, type] = {f.name: (bool if f.type in ("bool", bool) else int)
                          for f in fields(Injection) if f.name != "armed"}


def spurious_irq(nic: Any) -> None:
    """Raise the interrupt line with no cause in ICR (a glitch on a shared INTx line), from
    a scheduled event so breakpoints and ``step`` see the delivery; the line settles back to
    ICR & IMS at the event after.  The driver's handler must read ICR = 0 and return
    IRQ_NONE."""
    pci = nic.pci
    sched = nic.sched

    def glitch_end() -> None:
        pci.set_irq(bool(nic.peek(R.ICR) & nic.peek(R.IMS)))

    def glitch() -> None:
        pci.set_irq(True)
        sched.call_soon(glitch_end)

    sched.call_soon(glitch)


def corrupt_eeprom_word(nic: Any, word: int) -> tuple[int, int]:
    """Invert one word of the NIC's NVM (the driver sees it at its next EEPROM read);
    return (old, new)."""
    words = nic.eeprom.words
    old = words[word]
    words[word] = old ^ 0xFFFF
    return old, words[word]


def pci_error(nic: Any) -> None:
    """An uncorrectable PCI error on the NIC's function: the channel freezes (MMIO reads
    return all-ones, writes are dropped, DMA and interrupts stop) and the root port signals
    AER, whose recovery (device/pcierr.py) runs the driver's error handlers and resets the
    slot.  Python: ``pci_error(host.nics[0].nic)`` or ``host.pci_error("eth0")``."""
    nic.pci.raise_error()
