"""The ixgb NVM image: the EEPROM word map as bytes, its construct codec and its verdicts.

The word map itself (offsets, sizes, ``EEPROM_SUM``, the ICW1 signature and the :data:`FIELDS`
table) is a hardware fact and lives in :mod:`device.spec.eeprom`; this module builds on it what
the image tools need: the ``construct`` Struct, word/byte conversion, the checksum and
signature verdicts a driver's probe would reach, and the ELF container's names.

Contract:
- :data:`EEPROM` is the ``construct`` Struct built from ``FIELDS`` (cold path only).
- ``parse``/``build``/``decode`` take and give plain Python values; nothing here touches a
  device or a driver.

Spec: docs/hardware.md §1.4.
"""

from __future__ import annotations

import struct
from typing import Any

import construct as cs

from device.spec.eeprom import (
    EEPROM_BYTES,
    EEPROM_CHECKSUM,
    EEPROM_ICW1_SIGNATURE_MASK,
    EEPROM_ICW1_SIGNATURE_VALID,
    EEPROM_INIT_CTRL1,
    EEPROM_MAC,
    EEPROM_SUM,
    EEPROM_WORDS,
    FIELD_BY_NAME,
    FIELDS,
    Field,
)

# Bumped whenever FIELDS changes; written into the ELF image's note.
LAYOUT_VERSION = 1

# The ELF container (firmware/builder.py writes it, firmware/loader.py reads it).
EEPROM_SECTION = ".eeprom"
NOTE_SECTION = ".note.ixsim"
NOTE_NAME = "ixsim"
NT_IXSIM_NVM = 0x49580001  # our note type ("IX" + 1); desc = u32 layout version + version


def _construct_for(field: Field) -> cs.Construct:
    if field.kind == "bytes":
        return cs.Bytes(field.size)
    if field.kind == "u32":
        return cs.Int32ul
    if field.kind == "words":
        return cs.Array(field.words, cs.Int16ul)
    return cs.Int16ul


#: The construct decoder/encoder for the 128-byte image, built from FIELDS.
EEPROM: cs.Struct = cs.Struct(*(f.name / _construct_for(f) for f in FIELDS))

_WORDS = struct.Struct(f"<{EEPROM_WORDS}H")


def words_to_bytes(words: list[int]) -> bytes:
    """The image as stored: each word little-endian."""
    _check_len(words)
    return _WORDS.pack(*words)


def bytes_to_words(data: bytes) -> list[int]:
    if len(data) != EEPROM_BYTES:
        raise ValueError(f"EEPROM image is {EEPROM_BYTES} bytes, got {len(data)}")
    return list(_WORDS.unpack(data))


def _check_len(words: list[int]) -> None:
    if len(words) != EEPROM_WORDS:
        raise ValueError(f"EEPROM image is {EEPROM_WORDS} words, got {len(words)}")


def word_sum(words: list[int]) -> int:
    """Sum of all 64 words mod 2**16; 0xBABA for a good image."""
    return sum(words) & 0xFFFF


def checksum_word(words: list[int]) -> int:
    """The value word 0x3F must hold for ``words`` to sum to 0xBABA (its old value ignored).

    Spec: docs/hardware.md §1.4 (Linux ``ixgb_update_eeprom_checksum``).
    """
    _check_len(words)
    return (EEPROM_SUM - sum(words[:EEPROM_CHECKSUM])) & 0xFFFF


def checksum_ok(words: list[int]) -> bool:
    """True when there are 64 words and they sum to 0xBABA (``ixgb_validate_eeprom_checksum``)."""
    return len(words) == EEPROM_WORDS and word_sum(words) == EEPROM_SUM


def signature_ok(words: list[int]) -> bool:
    """True when init control 1 bits 15:14 are 01b, as the driver requires."""
    icw1 = words[EEPROM_INIT_CTRL1]
    return icw1 & EEPROM_ICW1_SIGNATURE_MASK == EEPROM_ICW1_SIGNATURE_VALID


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def mac_from_words(words: list[int]) -> bytes:
    """Words 0..2, low byte first in each word."""
    return struct.pack("<3H", *words[EEPROM_MAC : EEPROM_MAC + 3])


def mac_to_words(mac: bytes) -> list[int]:
    if len(mac) != 6:
        raise ValueError(f"a MAC address is 6 bytes, got {len(mac)}")
    return list(struct.unpack("<3H", mac))


def mac_ok(mac: bytes) -> bool:
    """A valid unicast address: not all zero, multicast bit clear (``is_valid_ether_addr``)."""
    return any(mac) and not mac[0] & 1


def parse(words: list[int]) -> dict[str, Any]:
    """Every field of the table, raw, through the construct decoder (reserved ones included)."""
    parsed = EEPROM.parse(words_to_bytes(words))
    return {f.name: _plain(parsed[f.name]) for f in FIELDS}


def build(values: dict[str, Any]) -> list[int]:
    """Encode fields by name through the construct encoder; fields not given are zero.

    The checksum word is taken as given: use :func:`checksum_word` to fix it.
    """
    unknown = set(values) - set(FIELD_BY_NAME)
    if unknown:
        raise ValueError(f"unknown EEPROM fields: {', '.join(sorted(unknown))}")
    full = {f.name: values[f.name] if f.name in values else _zero(f) for f in FIELDS}
    return bytes_to_words(EEPROM.build(full))


def decode(words: list[int]) -> dict[str, Any]:
    """The named (non-reserved) fields plus the verdicts a driver's probe would reach.

    ``mac`` is a ``"aa:bb:cc:dd:ee:ff"`` string, the rest are ints; ``sum``, ``checksum_ok``,
    ``signature_ok`` and ``mac_ok`` say whether probe would accept the image.
    """
    raw = parse(words)
    out: dict[str, Any] = {}
    for f in FIELDS:
        if not f.reserved:
            out[f.name] = raw[f.name]
    mac = raw["mac"]
    out["mac"] = format_mac(mac)
    out["d3_power"] = raw["power"] & 0xFF
    out["d0_power"] = raw["power"] >> 8
    out["sum"] = word_sum(words)
    out["checksum_ok"] = checksum_ok(words)
    out["signature_ok"] = signature_ok(words)
    out["mac_ok"] = mac_ok(mac)
    return out


def _zero(field: Field) -> Any:
    if field.kind == "bytes":
        return bytes(field.size)
    if field.kind == "words":
        return [0] * field.words
    return 0


def _plain(value: Any) -> Any:
    """construct's ListContainer -> list, so callers get plain Python values."""
    if isinstance(value, list):
        return [int(v) for v in value]
    return value
