"""The ixgb (82597EX) EEPROM map: 64 little-endian 16-bit words, declared once as a table.

Mirrors Linux's ``drivers/net/ethernet/intel/ixgb/ixgb_ee.h`` (word offsets, the ICW1
signature, ``EEPROM_SUM``) and its ``struct ixgb_ee_map_type``.

Contract:
- ``EEPROM_*`` are plain ``int`` word indices and constants, for the device model's shadow and
  the driver's probe (hot enough that they must not be enums).
- :data:`FIELDS` is the one table (word, name, size in words, doc): every word belongs to
  exactly one field, reserved words included, so the ELF symbol table, the ``construct``
  decoder and the CLI's listing all come from it.
- :data:`EEPROM` is the ``construct`` Struct built from :data:`FIELDS` (cold path only).

Spec: spec/ixgb.md §1.4.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import construct as cs

# Sizes and the checksum rule.  Spec: spec/ixgb.md §1.4, §1.1.
EEPROM_WORDS = 64
EEPROM_BYTES = EEPROM_WORDS * 2
EEPROM_SUM = 0xBABA  # sum of words 0x00..0x3F, mod 2**16

# Word indices (Linux's EEPROM_*_REG).
EEPROM_MAC = 0x00  # three words: the MAC address bytes in order
EEPROM_COMPATIBILITY = 0x03
EEPROM_RESERVED1 = 0x04
EEPROM_PBA = 0x08  # low word; the high word is EEPROM_PBA + 1
EEPROM_PBA_HI = 0x09
EEPROM_INIT_CTRL1 = 0x0A
EEPROM_SUBSYSTEM_ID = 0x0B
EEPROM_SUBSYSTEM_VENDOR = 0x0C
EEPROM_DEVICE_ID = 0x0D
EEPROM_VENDOR_ID = 0x0E
EEPROM_INIT_CTRL2 = 0x0F
EEPROM_OEM_RESERVED = 0x10
EEPROM_SWDPINS = 0x20
EEPROM_CIRCUIT_CTRL = 0x21
EEPROM_POWER = 0x22  # D3 power in the low byte, D0 power in the high byte
EEPROM_RESERVED2 = 0x23
EEPROM_FLASH_VERSION = 0x32
EEPROM_RESERVED3 = 0x33
EEPROM_CHECKSUM = 0x3F

# Init control 1 signature: bits 15:14 must read 01b or the EEPROM data is not used.
EEPROM_ICW1_SIGNATURE_MASK = 0xC000
EEPROM_ICW1_SIGNATURE_VALID = 0x4000

# Bumped whenever FIELDS changes; written into the ELF image's note.
LAYOUT_VERSION = 1

# The ELF container (firmware/builder.py writes it, firmware/loader.py reads it).
EEPROM_SECTION = ".eeprom"
NOTE_SECTION = ".note.ixsim"
NOTE_NAME = "ixsim"
NT_IXSIM_NVM = 0x49580001  # our note type ("IX" + 1); desc = u32 layout version + version


@dataclass(frozen=True, slots=True)
class Field:
    """One run of EEPROM words.

    ``kind`` says how the construct decoder reads it: ``"u16"`` one word, ``"u32"`` two words
    low word first, ``"bytes"`` raw bytes in order (the MAC), ``"words"`` an array of words.
    """

    word: int
    name: str
    words: int
    doc: str
    kind: str = "u16"
    reserved: bool = False

    @property
    def offset(self) -> int:
        """Byte offset in the 128-byte image."""
        return self.word * 2

    @property
    def size(self) -> int:
        """Size in bytes."""
        return self.words * 2


FIELDS: tuple[Field, ...] = (
    Field(EEPROM_MAC, "mac", 3, "MAC address, bytes in order", "bytes"),
    Field(EEPROM_COMPATIBILITY, "compatibility", 1, "Compatibility"),
    Field(EEPROM_RESERVED1, "reserved1", 4, "Reserved", "words", reserved=True),
    Field(EEPROM_PBA, "pba", 2, "PBA number (low word, then high word)", "u32"),
    Field(EEPROM_INIT_CTRL1, "init_ctrl1", 1, "Init control 1 (signature in bits 15:14)"),
    Field(EEPROM_SUBSYSTEM_ID, "subsystem_id", 1, "Subsystem ID"),
    Field(EEPROM_SUBSYSTEM_VENDOR, "subsystem_vendor", 1, "Subsystem vendor ID"),
    Field(EEPROM_DEVICE_ID, "device_id", 1, "Device ID (init_hw takes it as hw->device_id)"),
    Field(EEPROM_VENDOR_ID, "vendor_id", 1, "Vendor ID"),
    Field(EEPROM_INIT_CTRL2, "init_ctrl2", 1, "Init control 2"),
    Field(EEPROM_OEM_RESERVED, "oem_reserved", 16, "Reserved for the OEM", "words", True),
    Field(EEPROM_SWDPINS, "swdpins", 1, "Software-definable pins"),
    Field(EEPROM_CIRCUIT_CTRL, "circuit_ctrl", 1, "Circuit control"),
    Field(EEPROM_POWER, "power", 1, "D3 power (low byte), D0 power (high byte)"),
    Field(EEPROM_RESERVED2, "reserved2", 15, "Reserved", "words", reserved=True),
    Field(EEPROM_FLASH_VERSION, "flash_version", 1, "Flash version"),
    Field(EEPROM_RESERVED3, "reserved3", 12, "Reserved", "words", reserved=True),
    Field(EEPROM_CHECKSUM, "checksum", 1, "Checksum: words 0x00..0x3F sum to 0xBABA"),
)

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


def _construct_for(field: Field) -> cs.Construct:
    if field.kind == "bytes":
        return cs.Bytes(field.size)
    if field.kind == "u32":
        return cs.Int32ul
    if field.kind == "words":
        return cs.Array(field.words, cs.Int16ul)
    return cs.Int16ul


def _check_table() -> None:
    """The table must tile the 64 words exactly, in order; checked once at import."""
    word = 0
    for f in FIELDS:
        if f.word != word or f.words < 1:
            raise AssertionError(f"EEPROM table: {f.name} at word {f.word:#x}, expected {word:#x}")
        word += f.words
    if word != EEPROM_WORDS:
        raise AssertionError(f"EEPROM table covers {word} words, not {EEPROM_WORDS}")


_check_table()

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

    Spec: spec/ixgb.md §1.4 (Linux ``ixgb_update_eeprom_checksum``).
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
