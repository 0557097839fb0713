"""Fault injection from the prompt: the device's knobs (:mod:`device.ixgb.inject`) by name.

Every knob of :class:`~device.ixgb.inject.Injection` is a fault here, its field name written
with ``-`` for ``_`` (``tx_stall`` -> ``tx-stall``): one set of names for the Python API, the
shell and docs/shell.md.  On/off knobs take ``on``/``off``; counted ones a count N (default 1,
``0``/``off`` disarms).  Two faults are actions, made from outside the model as a hardware
failure would be (:func:`device.ixgb.inject.spurious_irq`, ``corrupt_eeprom_word``):

* ``spurious-irq``: the interrupt line is raised with no cause in ICR (a glitch on a shared
  INTx line): the driver's handler must read ICR = 0 and return IRQ_NONE.  It is raised from
  a scheduled event, so breakpoints and ``step`` see the delivery.
* ``pci-error``: an uncorrectable bus error freezes the PCI function (MMIO reads
  all-ones, DMA stops) and the kernel's AER recovery runs the driver's error handlers
  (error_detected, slot reset, slot_reset, resume) at the next event (device/pcierr.py).
* ``eeprom-corruption [WORD]``: one word of the NIC's NVM is inverted (default word 0x3e, a
  reserved one, so only the checksum goes bad); the driver sees it at its next EEPROM read.
"""

from __future__ import annotations

from typing import Any

from device.ixgb.inject import KNOBS, corrupt_eeprom_word, pci_error, spurious_irq
from device.spec import regs as R
from device.spec.eeprom import EEPROM_WORDS
from firmware.layout import checksum_ok, word_sum
from ixsim.shell.errors import ShellError
from ixsim.shell.target import NicRef, parse_int

# shell name -> Injection field
KNOB_NAMES: dict[str, str] = {knob.replace("_", "-"): knob for knob in KNOBS}
FAULTS = (*KNOB_NAMES, "spurious-irq", "eeprom-corruption", "pci-error", "clear")
DEFAULT_EEPROM_WORD = 0x3E

_ON = {
    "tx_stall": "the TX unit stops fetching (TDH frozen, STATUS.TXOFF clear); "
                "'inject HOST tx-stall off' resumes it",
    "link_misaligned": "the XAUI lanes will not align: STATUS.LU stays clear from the next "
                       "link change",
    "surprise_removal": "the device is gone from the bus: MMIO reads return 0xffffffff",
}
_UNITS = {"lost_irq": "TX interrupt cause", "rx_no_buffer": "received frame",
          "bad_checksum": "checksummed frame", "crc_error": "received frame"}


def inject(ref: NicRef, fault: str, value: str | None) -> str:
    """Apply one fault to ``ref``'s NIC; return the sentence saying what will happen."""
    nic = ref.nic
    knob = KNOB_NAMES.get(fault)
    if knob is not None:
        if value == "off" or value == "0":
            nic.inject.set(knob, False if KNOBS[knob] is bool else 0)
            if knob == "tx_stall" and nic.peek(R.TDH) != nic.peek(R.TDT):
                nic.tx.doorbell()
                return f"{ref.label}: {fault} off; the TX unit resumes (doorbell re-rung)"
            return f"{ref.label}: {fault} off"
        if KNOBS[knob] is bool:
            if value not in (None, "on"):
                raise ShellError(f"{fault} takes on or off, not {value!r}")
            nic.inject.set(knob, True)
            return f"{ref.label}: {fault} on: {_ON[knob]}"
        n = parse_int(value, "count", 1, 1_000_000) if value is not None else 1
        nic.inject.set(knob, n)
        unit = _UNITS[knob] + ("s" if n != 1 else "")
        return f"{ref.label}: {fault} armed for the next {n} {unit}"
    if fault == "spurious-irq":
        if value is not None:
            raise ShellError("spurious-irq takes no value")
        spurious_irq(nic)
        return (f"{ref.label}: the interrupt line will be raised with ICR empty at the next "
                "event; the handler should return IRQ_NONE")
    if fault == "pci-error":
        if value is not None:
            raise ShellError("pci-error takes no value")
        pci_error(nic)
        return (f"{ref.label}: PCI channel frozen (MMIO reads 0xffffffff, DMA stopped); "
                "AER recovery runs at the next event (see dmesg)")
    if fault == "eeprom-corruption":
        word = parse_int(value, "EEPROM word", 0, EEPROM_WORDS - 1) if value else \
            DEFAULT_EEPROM_WORD
        old, new = corrupt_eeprom_word(nic, word)
        words = nic.eeprom.words
        verdict = "good" if checksum_ok(words) else f"BAD (sum 0x{word_sum(words):04x})"
        return (f"{ref.label}: EEPROM word 0x{word:02x} 0x{old:04x} -> 0x{new:04x}; "
                f"checksum now {verdict}; the driver sees it at its next EEPROM read")
    if fault == "clear":
        nic.inject.clear()
        return f"{ref.label}: every injection cleared"
    raise ShellError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")


def describe_injections(ref: NicRef) -> str:
    active = ref.nic.inject.active()
    if not active:
        return f"{ref.label}: no injection armed"
    return f"{ref.label}: " + ", ".join(f"{k}={v}" for k, v in active.items())


def cable_value(kind: str, text: str, parse_time: Any, parse_p: Any) -> Any:
    """``cable`` command values: ``off``; a probability; ``delay D[,JITTER]``;
    ``reorder P[,DELAY]``."""
    if text in ("off", "none"):
        return None
    if kind == "delay":
        parts = text.split(",")
        if len(parts) > 2:
            raise ShellError(f"bad delay {text!r}: DELAY[,JITTER] such as 50us,10us")
        values = tuple(parse_time(p) for p in parts)
        return values if len(values) == 2 else values[0]
    if kind == "reorder":
        p, sep, delay = text.partition(",")
        return (parse_p(p), parse_time(delay or "100us"))
    return parse_p(text)
