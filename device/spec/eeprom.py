"""The ixgb (82597EX) EEPROM: its word map and its Microwire command set, declared once.

Mirrors Linux's ``drivers/net/ethernet/intel/ixgb/ixgb_ee.h`` (word offsets, the ICW1
signature, ``EEPROM_SUM``, the opcodes) and its ``struct ixgb_ee_map_type``.  Three readers
share it: the device model's EEPROM (``device/ixgb/eeprom.py``), the driver's bit-banging
(``driver/ixgb/ee.py``) and the NVM image tools (``firmware/``), as the datasheet is read by
the hardware, the driver and the NVM tool engineers alike.

Contract:
- ``EEPROM_*`` are plain ``int`` word indices and constants (no enums: the driver's probe and
  the model's shadow index lists with them).
- :data:`FIELDS` is the one table (word, name, size in words, doc): every word belongs to
  exactly one field, reserved words included, checked at import.  The firmware's ELF symbol
  table, its ``construct`` decoder and the CLI's listing all come from it.

Spec: docs/hardware.md §1.4.
"""

from __future__ import annotations

from dataclasses import dataclass

# Sizes and the checksum rule.  Spec: docs/hardware.md §1.4, §1.1.
EEPROM_WORDS = 64
EEPROM_BYTES = EEPROM_WORDS * 2
EEPROM_ADDR_BITS = 6  # a 93C46-style part: 64 words, 6 address bits
EEPROM_WORD_BITS = 16  # data bits shifted per word, MSB first
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
EEPROM_ICW1_SIGNATURE_CLEAR = 0x0000  # what the driver stores to mark its cache invalid

# Microwire opcodes (ixgb_ee.h), shifted out MSB first after the part is selected.  READ,
# WRITE and ERASE are 3 bits followed by EEPROM_ADDR_BITS address bits; the extended commands
# are 5 bits (100 + a 2-bit sub-opcode where the address would start) followed by 4 dummy bits.
EEPROM_READ_OPCODE = 0x6  # 110
EEPROM_WRITE_OPCODE = 0x5  # 101
EEPROM_ERASE_OPCODE = 0x7  # 111
EEPROM_EXT_OPCODE = 0x4  # 100: the 3-bit prefix of the extended commands below
EEPROM_EWEN_OPCODE = 0x13  # 10011: erase/write enable
EEPROM_EWDS_OPCODE = 0x10  # 10000: erase/write disable
EEPROM_WRAL_OPCODE = 0x11  # 10001: write all (93C46; the ixgb driver never sends it)
EEPROM_ERAL_OPCODE = 0x12  # 10010: erase all (93C46; the ixgb driver never sends it)
EEPROM_OPCODE_BITS = 3
EEPROM_EXT_OPCODE_BITS = 5
EEPROM_EXT_DUMMY_BITS = EEPROM_ADDR_BITS + EEPROM_OPCODE_BITS - EEPROM_EXT_OPCODE_BITS  # 4


@dataclass(frozen=True, slots=True)
class Field:
    """One run of EEPROM words.

    ``kind`` says how a decoder reads it: ``"u16"`` one word, ``"u32"`` two words low word
    first, ``"bytes"`` raw bytes in order (the MAC), ``"words"`` an array of words.
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


def _check_table() -> None:
    """The table must tile the 64 words exactly, in order; checked once at import."""
    word = 0
    for f in FIELDS:
        if f.word != word or f.words < 1:
            raise AssertionError(f"EEPROM table: {f.name} at word {f.word:#x}, expected {word:#x}")
        word += f.words
    if word != EEPROM_WORDS:
        raise AssertionError(f"EEPROM table covers {word} words, not {EEPROM_WORDS}")
    if EEPROM_WORDS != 1 << EEPROM_ADDR_BITS:
        raise AssertionError("EEPROM size and address width disagree")


_check_table()
