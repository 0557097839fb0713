"""Load an ixgb EEPROM image from an ELF file (read with pyelftools) and check it.

The driver-side counterpart is Linux's ``ixgb_validate_eeprom_checksum`` and the signature
check in ``ixgb_get_eeprom_data`` (``ixgb_ee.c``): an image they would refuse is refused here
too, unless the caller asks for it as it is (``verify=False``) to test exactly that refusal.

Contract: every problem with a file is one :class:`FirmwareError` whose message is one line
naming the file and the problem; nothing else escapes for bad input.  What loading costs is
bounded by ``MAX_IMAGE_BYTES`` whatever the file says: at most that many bytes (plus one, to
see that there are more) are read, so a device file such as ``/dev/zero`` is refused after
one bounded read, and every size in the ELF headers is checked against the bytes read
(:mod:`firmware.elfcheck`) before pyelftools reads or allocates by it.  The ``.eeprom``
section must hold its ``EEPROM_BYTES`` in the file: not NOBITS, not compressed.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection, SymbolTableSection

from device.spec.eeprom import EEPROM_BYTES, EEPROM_INIT_CTRL1, EEPROM_SUM
from firmware.elfcheck import SHF_COMPRESSED, SHT_NOBITS, check_headers
from firmware.layout import (
    EEPROM_SECTION,
    NOTE_NAME,
    NT_IXSIM_NVM,
    bytes_to_words,
    checksum_ok,
    decode,
    signature_ok,
    word_sum,
)

# What pyelftools raises on a damaged file (it does not wrap its own errors); UnicodeDecodeError
# is a ValueError, OverflowError an ArithmeticError, a bad index a LookupError.
_MALFORMED = (ELFError, ConstructError, struct.error, ValueError, ArithmeticError, LookupError)


#: The largest image file read: the shipped one is 1,304 bytes; 64 KiB leaves room for a few
#: thousand symbols, and is the bound on what a load reads and allocates.
MAX_IMAGE_BYTES = 64 * 1024


class FirmwareError(Exception):
    """A firmware image that cannot be used; ``str()`` is one line naming file and problem."""


@dataclass(slots=True)
class EepromImage:
    """A loaded image: the 64 words, the ELF symbols that name them, the note's version."""

    words: list[int]
    symbols: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (offset, size)
    version: str = ""
    path: str = ""
    layout_version: int | None = None

    @property
    def checksum_ok(self) -> bool:
        return checksum_ok(self.words)

    @property
    def signature_ok(self) -> bool:
        return signature_ok(self.words)

    @property
    def sum(self) -> int:
        return word_sum(self.words)

    def decode(self) -> dict[str, Any]:
        """The named fields and verdicts (see :func:`firmware.layout.decode`)."""
        return decode(self.words)


def load_image(path: str | os.PathLike[str], verify: bool = True) -> EepromImage:
    """Read ``path`` and return its image; raise :class:`FirmwareError` on any problem.

    With ``verify=False`` a well-formed file whose checksum or signature is bad is returned
    as it is (``checksum_ok`` / ``signature_ok`` False); structural problems still raise.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            raw = fh.read(MAX_IMAGE_BYTES + 1)
    except OSError as exc:
        raise FirmwareError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_IMAGE_BYTES:
        raise FirmwareError(f"{name}: larger than {MAX_IMAGE_BYTES} bytes (not an EEPROM image)")
    try:
        image = _parse(raw, name)
    except FirmwareError:
        raise
    except _MALFORMED as exc:
        raise FirmwareError(f"{name}: malformed ELF file ({_one_line(exc)})") from None
    if verify:
        verify_image(image)
    return image


def verify_image(image: EepromImage) -> None:
    """Raise :class:`FirmwareError` if the driver's probe would refuse ``image``.

    Spec: docs/hardware.md §1.4, §2.1 steps 5-6.
    """
    if not image.checksum_ok:
        raise FirmwareError(
            f"{image.path}: bad checksum (sum 0x{image.sum:04X} != 0x{EEPROM_SUM:04X})"
        )
    if not image.signature_ok:
        icw1 = image.words[EEPROM_INIT_CTRL1]
        raise FirmwareError(
            f"{image.path}: bad signature (init control 1 = 0x{icw1:04X}, bits 15:14 must be 01b)"
        )


def load_words(path: str | os.PathLike[str], verify: bool = True) -> list[int]:
    """Just the 64 words of the image at ``path``."""
    return load_image(path, verify).words


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _parse(raw: bytes, name: str) -> EepromImage:
    if raw[:4] != b"\x7fELF":
        raise FirmwareError(f"{name}: not an ELF file (no \\x7fELF magic)")
    headers = check_headers(raw, MAX_IMAGE_BYTES)
    shndx = next((i for i, (_, sname) in enumerate(headers) if sname == EEPROM_SECTION), None)
    if shndx is None:
        raise FirmwareError(f"{name}: no {EEPROM_SECTION} section")
    sh = headers[shndx][0]
    if sh.type == SHT_NOBITS:
        raise FirmwareError(
            f"{name}: {EEPROM_SECTION} is SHT_NOBITS (its bytes are not in the file)"
        )
    if sh.flags & SHF_COMPRESSED:
        raise FirmwareError(f"{name}: {EEPROM_SECTION} is compressed (SHF_COMPRESSED)")
    if sh.size != EEPROM_BYTES:
        raise FirmwareError(
            f"{name}: {EEPROM_SECTION} has the wrong size "
            f"(expect {EEPROM_BYTES} bytes, got {sh.size})"
        )
    elf = ELFFile(io.BytesIO(raw))
    image = EepromImage(words=bytes_to_words(elf.get_section(shndx).data()), path=name)
    for sec in elf.iter_sections():
        if isinstance(sec, SymbolTableSection):
            for sym in sec.iter_symbols():
                if sym.name and sym["st_shndx"] == shndx and sym["st_info"]["type"] == "STT_OBJECT":
                    image.symbols[sym.name] = (sym["st_value"], sym["st_size"])
        elif isinstance(sec, NoteSection):
            for note in sec.iter_notes():
                if note["n_name"] == NOTE_NAME and note["n_type"] == NT_IXSIM_NVM:
                    desc = bytes(note["n_descdata"])
                    if len(desc) >= 4:
                        image.layout_version = struct.unpack_from("<I", desc)[0]
                        image.version = desc[4:].split(b"\0", 1)[0].decode("utf-8", "replace")
    return image
