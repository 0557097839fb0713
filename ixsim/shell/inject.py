"""Fault injection from the prompt: the device's ``inject`` knobs, plus two the shell makes.

The NIC model's knobs (``nic.inject``, documented in device/ixgb/tx.py and rx.py):
``tx_stall``, ``lost_irq: N``, ``rx_no_buffer: N``, ``rx_crc_error: N``, ``bad_checksum: N``.
Made here, from outside the device, as a hardware failure would be:

* ``spurious-irq``: the interrupt line is raised with no cause in ICR (a glitch on a shared
  INTx line): the driver's handler must read ICR = 0 and return IRQ_NONE.  It is raised from
  a scheduled event, so breakpoints and ``step`` see the delivery.
* ``eeprom-corruption [WORD]``: one word of the NIC's NVM is inverted (default word 0x3e, a
  reserved one, so only the checksum goes bad); the driver sees it at its next EEPROM read.
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from firmware.layout import EEPROM_WORDS, checksum_ok, word_sum
from ixsim.shell.errors import ShellError
from ixsim.shell.target import NicRef, parse_int

# shell name -> (nic.inject key, takes a count)
KNOBS: dict[str, tuple[str, bool]] = {
    "tx-stall": ("tx_stall", False),
    "rx-no-buffer": ("rx_no_buffer", True),
    "lost-irq": ("lost_irq", True),
    "bad-checksum": ("bad_checksum", True),
    "crc-error": ("rx_crc_error", True),
}
FAULTS = (*KNOBS, "spurious-irq", "eeprom-corruption", "clear")
DEFAULT_EEPROM_WORD = 0x3E


def inject(ref: NicRef, fault: str, value: str | None) -> str:
    """Apply one fault to ``ref``'s NIC; return the sentence saying what will happen."""
    nic = ref.nic
    if fault in KNOBS:
        key, counted = KNOBS[fault]
        if value == "off" or value == "0":
            nic.inject.pop(key, None)
            if key == "tx_stall" and nic.peek(R.TDH) != nic.peek(R.TDT):
                nic.tx.doorbell()
                return f"{ref.label}: {fault} off; the TX unit resumes (doorbell re-rung)"
            return f"{ref.label}: {fault} off"
        if not counted:
            if value not in (None, "on"):
                raise ShellError(f"{fault} takes on or off, not {value!r}")
            nic.inject[key] = True
            return (f"{ref.label}: tx-stall on: the TX unit stops fetching (TDH frozen, "
                    "STATUS.TXOFF clear); 'inject HOST tx-stall off' resumes it")
        n = parse_int(value, "count", 1, 1_000_000) if value is not None else 1
        nic.inject[key] = n
        return f"{ref.label}: {fault} armed for the next {n} {_unit(fault, n)}"
    if fault == "spurious-irq":
        if value is not None:
            raise ShellError("spurious-irq takes no value")
        _spurious_irq(ref)
        return (f"{ref.label}: the interrupt line will be raised with ICR empty at the next "
                "event; the handler should return IRQ_NONE")
    if fault == "eeprom-corruption":
        word = parse_int(value, "EEPROM word", 0, EEPROM_WORDS - 1) if value else \
            DEFAULT_EEPROM_WORD
        words = nic.eeprom.words
        old = words[word]
        words[word] = old ^ 0xFFFF
        verdict = "good" if checksum_ok(words) else f"BAD (sum 0x{word_sum(words):04x})"
        return (f"{ref.label}: EEPROM word 0x{word:02x} 0x{old:04x} -> 0x{words[word]:04x}; "
                f"checksum now {verdict}; the driver sees it at its next EEPROM read")
    if fault == "clear":
        nic.inject.clear()
        return f"{ref.label}: every injection cleared"
    raise ShellError(f"unknown fault {fault!r} (one of {', '.join(FAULTS)})")


def _unit(fault: str, n: int) -> str:
    word = {"lost-irq": "TX interrupt cause", "rx-no-buffer": "received frame",
            "bad-checksum": "checksummed frame", "crc-error": "received frame"}[fault]
    return word + ("s" if n != 1 else "")


def _spurious_irq(ref: NicRef) -> None:
    nic, pci = ref.nic, ref.pci
    sched = nic.sched

    def glitch_end() -> None:
        pci.set_irq(bool(nic.peek(R.ICR) & nic.peek(R.IMS)))

    def glitch() -> None:
        pci.set_irq(True)
        sched.call_soon(glitch_end)

    sched.call_soon(glitch)


def describe_injections(ref: NicRef) -> str:
    active = {k: v for k, v in ref.nic.inject.items() if v}
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
