"""Build an ixgb EEPROM image and write it as an ELF64 object file.

Plays the part of the vendor's NVM tool (Linux's counterpart is ``ixgb_update_eeprom_checksum``
in ``ixgb_ee.c``). The ELF file is written by hand with ``struct``: pyelftools only reads.

File layout (ET_REL, ELFCLASS64, little-endian, EM_NONE, no program headers)::

    ELF header | .eeprom (128 bytes) | .note.ixsim | .symtab | .strtab | .shstrtab | sections

- ``.eeprom``: SHT_PROGBITS, SHF_ALLOC, the 64 words little-endian.
- ``.symtab``: one global STT_OBJECT per layout field, value = byte offset in ``.eeprom``,
  size = bytes, st_shndx = ``.eeprom``.
- ``.note.ixsim``: owner ``"ixsim"``, type :data:`NT_IXSIM_NVM`, desc = u32 layout version
  followed by the NUL-terminated UTF-8 version string.

Run ``python -m firmware.builder --mac 02:00:00:00:00:01 -o firmware/ixgb-default.elf`` to
regenerate the shipped default image.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from typing import BinaryIO

from device.spec.eeprom import (
    EEPROM_BYTES,
    EEPROM_CHECKSUM,
    EEPROM_FLASH_VERSION,
    EEPROM_ICW1_SIGNATURE_VALID,
    EEPROM_MAC,
    FIELDS,
)
from device.spec.ids import (
    DEFAULT_DEVICE_ID,
    DEFAULT_SUBSYSTEM_ID,
    DEFAULT_SUBSYSTEM_VENDOR_ID,
    DEFAULT_VENDOR_ID,
)
from firmware.layout import (
    EEPROM_SECTION,
    LAYOUT_VERSION,
    NOTE_NAME,
    NOTE_SECTION,
    NT_IXSIM_NVM,
    build,
    checksum_word,
    mac_to_words,
    words_to_bytes,
)

DEFAULT_MAC = "02:00:00:00:00:01"  # locally administered, unicast
DEFAULT_FLASH_VERSION = 0x0100  # shown as "1.0"

# ELF constants (System V ABI, elf.h).
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_EV_CURRENT = 1
_ET_REL = 1
_EM_NONE = 0
_SHT_PROGBITS, _SHT_SYMTAB, _SHT_STRTAB, _SHT_NOTE = 1, 2, 3, 7
_SHF_ALLOC = 0x2
_STB_GLOBAL = 1
_STT_OBJECT = 1

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr, 64 bytes
_SHNDX_EEPROM, _SHNDX_NOTE, _SHNDX_SYMTAB, _SHNDX_STRTAB, _SHNDX_SHSTRTAB = 1, 2, 3, 4, 5

_SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr, 64 bytes
_SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym, 24 bytes
_NHDR = struct.Struct("<III")  # Elf64_Nhdr: namesz, descsz, type


def parse_mac(mac: bytes | str) -> bytes:
    """``"02:00:00:00:00:01"`` (``:`` or ``-`` separated) or 6 raw bytes -> 6 bytes.

    Raises ValueError with a one-line reason for anything else.
    """
    if isinstance(mac, bytes | bytearray):
        if len(mac) != 6:
            raise ValueError(f"a MAC address is 6 bytes, got {len(mac)}")
        return bytes(mac)
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"bad MAC address {mac!r}: expected six hex bytes like 02:00:00:00:00:01")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(
            f"bad MAC address {mac!r}: expected six hex bytes like 02:00:00:00:00:01"
        ) from None


def _u16(name: str, value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{name} must fit in 16 bits, got {value:#x}")
    return value


def build_words(
    mac: bytes | str,
    device_id: int = DEFAULT_DEVICE_ID,
    vendor_id: int = DEFAULT_VENDOR_ID,
    subsystem_id: int = DEFAULT_SUBSYSTEM_ID,
    subsystem_vendor: int = DEFAULT_SUBSYSTEM_VENDOR_ID,
    pba: int = 0,
    flash_version: int = DEFAULT_FLASH_VERSION,
    compatibility: int = 0,
    init_ctrl1: int = EEPROM_ICW1_SIGNATURE_VALID,
    init_ctrl2: int = 0,
    swdpins: int = 0,
    circuit_ctrl: int = 0,
    power: int = 0,
) -> list[int]:
    """The 64 EEPROM words for one NIC, with the checksum word set so they sum to 0xBABA.

    ``init_ctrl1`` is stored as given: its default carries the valid signature (01b in bits
    15:14); pass a value without it to build an image the driver must refuse. A ``pba`` of 0
    means "no PBA number assigned". Reserved words are zero.
    """
    if not 0 <= pba <= 0xFFFF_FFFF:
        raise ValueError(f"pba must fit in 32 bits, got {pba:#x}")
    values = {
        "mac": parse_mac(mac),
        "compatibility": _u16("compatibility", compatibility),
        "pba": pba,
        "init_ctrl1": _u16("init_ctrl1", init_ctrl1),
        "subsystem_id": _u16("subsystem_id", subsystem_id),
        "subsystem_vendor": _u16("subsystem_vendor", subsystem_vendor),
        "device_id": _u16("device_id", device_id),
        "vendor_id": _u16("vendor_id", vendor_id),
        "init_ctrl2": _u16("init_ctrl2", init_ctrl2),
        "swdpins": _u16("swdpins", swdpins),
        "circuit_ctrl": _u16("circuit_ctrl", circuit_ctrl),
        "power": _u16("power", power),
        "flash_version": _u16("flash_version", flash_version),
    }
    words = build(values)
    words[EEPROM_CHECKSUM] = checksum_word(words)
    return words


def set_mac(words: list[int], mac: bytes | str) -> list[int]:
    """A copy of ``words`` with another MAC address and the checksum fixed up to match."""
    out = list(words)
    out[EEPROM_MAC : EEPROM_MAC + 3] = mac_to_words(parse_mac(mac))
    out[EEPROM_CHECKSUM] = checksum_word(out)
    return out


def flash_version_text(words: list[int]) -> str:
    """Word 0x32 as ``"major.minor"`` (high byte, low byte)."""
    v = words[EEPROM_FLASH_VERSION]
    return f"{v >> 8}.{v & 0xFF}"


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class _StrTab:
    """An ELF string table: starts with the empty string, returns offsets."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")

    def add(self, s: str) -> int:
        off = len(self.data)
        self.data += s.encode() + b"\0"
        return off


def _note(name: str, ntype: int, desc: bytes) -> bytes:
    n = name.encode() + b"\0"
    return (
        _NHDR.pack(len(n), len(desc), ntype)
        + n.ljust(_align(len(n), 4), b"\0")
        + desc.ljust(_align(len(desc), 4), b"\0")
    )


def elf_bytes(words: list[int], version: str | None = None) -> bytes:
    """The whole ELF file for ``words``; deterministic (no timestamps, no paths).

    ``version`` defaults to the flash version word as ``"major.minor"``.
    """
    eeprom = words_to_bytes(words)
    if version is None:
        version = flash_version_text(words)
    desc = struct.pack("<I", LAYOUT_VERSION) + version.encode() + b"\0"
    note = _note(NOTE_NAME, NT_IXSIM_NVM, desc)

    strtab = _StrTab()
    symtab = bytearray(_SYM.size)  # symbol 0: the null symbol
    for f in FIELDS:
        symtab += _SYM.pack(
            strtab.add(f.name),
            (_STB_GLOBAL << 4) | _STT_OBJECT,
            0,  # STV_DEFAULT
            _SHNDX_EEPROM,
            f.offset,
            f.size,
        )

    shstrtab = _StrTab()
    names = [shstrtab.add(n) for n in (EEPROM_SECTION, NOTE_SECTION, ".symtab", ".strtab")]
    names.append(shstrtab.add(".shstrtab"))
    # (type, flags, data, link, info, addralign, entsize), in _SHNDX_* order after the
    # SHT_NULL section 0.  .symtab: sh_link = .strtab, sh_info = first non-local symbol.
    sections = [
        (_SHT_PROGBITS, _SHF_ALLOC, eeprom, 0, 0, 2, 0),
        (_SHT_NOTE, 0, note, 0, 0, 4, 0),
        (_SHT_SYMTAB, 0, bytes(symtab), _SHNDX_STRTAB, 1, 8, _SYM.size),
        (_SHT_STRTAB, 0, bytes(strtab.data), 0, 0, 1, 0),
        (_SHT_STRTAB, 0, bytes(shstrtab.data), 0, 0, 1, 0),
    ]

    body = bytearray()
    headers = [bytes(_SHDR.size)]
    offset = _EHDR.size
    for name_off, (stype, flags, data, link, info, align, entsize) in zip(
        names, sections, strict=True
    ):
        pad = _align(offset, align) - offset
        body += bytes(pad)
        offset += pad
        headers.append(
            _SHDR.pack(name_off, stype, flags, 0, offset, len(data), link, info, align, entsize)
        )
        body += data
        offset += len(data)
    pad = _align(offset, 8) - offset
    body += bytes(pad)
    shoff = offset + pad

    ident = b"\x7fELF" + bytes([_ELFCLASS64, _ELFDATA2LSB, _EV_CURRENT, 0]) + bytes(8)
    ehdr = _EHDR.pack(
        ident, _ET_REL, _EM_NONE, _EV_CURRENT,
        0, 0, shoff,  # e_entry, e_phoff, e_shoff
        0, _EHDR.size, 0, 0,  # e_flags, e_ehsize, e_phentsize, e_phnum
        _SHDR.size, len(headers), _SHNDX_SHSTRTAB,  # e_shentsize, e_shnum, e_shstrndx
    )
    assert len(headers) == _SHNDX_SHSTRTAB + 1 and len(eeprom) == EEPROM_BYTES
    return ehdr + bytes(body) + b"".join(headers)


def write_elf(
    words: list[int], path_or_file: str | os.PathLike[str] | BinaryIO, version: str | None = None
) -> None:
    """Write the image as an ELF file to a path or a binary file object (see module doc)."""
    data = elf_bytes(words, version)
    if hasattr(path_or_file, "write"):
        path_or_file.write(data)  # type: ignore[union-attr]
        return
    with open(path_or_file, "wb") as fh:  # type: ignore[arg-type]
        fh.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.builder", description="Write an ixgb EEPROM image as ELF."
    )
    parser.add_argument("--mac", default=DEFAULT_MAC, help=f"MAC address (default {DEFAULT_MAC})")
    parser.add_argument("--device-id", type=lambda s: int(s, 0), default=DEFAULT_DEVICE_ID)
    parser.add_argument("-o", "--output", required=True, help="the ELF file to write")
    args = parser.parse_args(argv)
    try:
        words = build_words(args.mac, device_id=args.device_id)
        write_elf(words, args.output)
    except (ValueError, OSError) as exc:
        print(f"firmware.builder: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
