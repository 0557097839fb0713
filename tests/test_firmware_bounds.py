"""The firmware loader's cost is bounded by the file, never by what its headers claim
(firmware/loader.py, firmware/elfcheck.py): crafted ELF images, built here with struct from
the builder's bytes, each give one line of error in a few MB of memory, and a device file
is refused after one bounded read."""

from __future__ import annotations

import random
import struct
import time
import tracemalloc
from pathlib import Path

import pytest

from device.spec.eeprom import EEPROM_BYTES
from firmware.builder import build_words, elf_bytes
from firmware.loader import MAX_IMAGE_BYTES, FirmwareError, load_image
from ixsim.cli import main

MAC = "02:00:00:00:00:01"
GIB = 1 << 30
BOUND = 4 << 20  # peak bytes a load may allocate, whatever the file says
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr
SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
SH_FIELDS = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "align", "entsize")
EEPROM, NOTE, SYMTAB, STRTAB, SHSTRTAB = 1, 2, 3, 4, 5  # the builder's section order


def image() -> bytearray:
    return bytearray(elf_bytes(build_words(MAC)))


def set_ehdr(raw: bytearray, **fields: int) -> bytearray:
    names = (
        "ident type machine version entry phoff shoff flags ehsize phentsize phnum "
        "shentsize shnum shstrndx"
    ).split()
    values = dict(zip(names, EHDR.unpack_from(raw), strict=True))
    values.update(fields)
    EHDR.pack_into(raw, 0, *values.values())
    return raw


def set_shdr(raw: bytearray, index: int, **fields: int) -> bytearray:
    shoff = EHDR.unpack_from(raw)[6]
    at = shoff + index * SHDR.size
    values = dict(zip(SH_FIELDS, SHDR.unpack_from(raw, at), strict=True))
    values.update(fields)
    SHDR.pack_into(raw, at, *values.values())
    return raw


def load_error(path: Path) -> tuple[str, int]:
    """Load ``path`` under tracemalloc: (the one-line error, peak bytes allocated)."""
    tracemalloc.start()
    try:
        with pytest.raises(FirmwareError) as info:
            load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    return msg[len(str(path)) + 2 :], peak


def write(tmp_path: Path, raw: bytes | bytearray, name: str = "crafted.elf") -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("size", [64 << 20, GIB, 4 * GIB, (1 << 64) - 1])
def test_a_nobits_eeprom_of_any_size_costs_nothing(tmp_path: Path, size: int) -> None:
    # the 1,304-byte file: .eeprom SHT_NOBITS, sh_size 1 GiB took 1 GiB before the
    # size check; 4 GiB was a MemoryError traceback
    raw = set_shdr(image(), EEPROM, type=8, size=size)
    assert len(raw) == 1304
    msg, peak = load_error(write(tmp_path, raw))
    assert msg == f"malformed ELF file (section 1 claims {size} bytes (at most {MAX_IMAGE_BYTES}))"
    assert peak < BOUND, peak


def test_a_nobits_eeprom_of_the_right_size_is_refused(tmp_path: Path) -> None:
    raw = set_shdr(image(), EEPROM, type=8)
    msg, _ = load_error(write(tmp_path, raw))
    assert msg == ".eeprom is SHT_NOBITS (its bytes are not in the file)"


def test_a_compressed_eeprom_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    raw = set_shdr(image(), EEPROM, flags=0x800 | 2)
    # an Elf64_Chdr claiming 1 GiB of zlib output at the section's start
    offset = SHDR.unpack_from(raw, EHDR.unpack_from(raw)[6] + EEPROM * SHDR.size)[4]
    struct.pack_into("<IIQQ", raw, offset, 1, 0, GIB, 1)
    msg, peak = load_error(write(tmp_path, raw))
    assert msg == ".eeprom is compressed (SHF_COMPRESSED)" and peak < BOUND


def test_wrong_size_is_told_from_the_header(tmp_path: Path) -> None:
    msg, _ = load_error(write(tmp_path, set_shdr(image(), EEPROM, size=EEPROM_BYTES * 2)))
    assert msg == f".eeprom has the wrong size (expect {EEPROM_BYTES} bytes, got 256)"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            lambda r: set_shdr(r, EEPROM, offset=1 << 62),
            "section 1 (128 bytes at 4611686018427387904) runs past the end of the file",
        ),
        (
            lambda r: set_shdr(r, NOTE, size=60_000),
            "section 2 (60000 bytes at 192) runs past the end of the file",
        ),
        (
            lambda r: set_ehdr(r, shoff=1 << 40),
            "section headers at 1099511627776 past the end of the file",
        ),
        (
            lambda r: set_shdr(set_ehdr(r, shnum=0), 0, size=1 << 40),
            "1099511627776 section headers at",
        ),
        (lambda r: set_ehdr(r, shnum=0xFFFE), "65534 section headers at"),
        (lambda r: set_ehdr(r, shentsize=0), "section header size 0 (ELF class 2 has 64)"),
        (lambda r: set_ehdr(r, shstrndx=40), "section name table index 40 out of range"),
        (lambda r: set_shdr(r, SYMTAB, entsize=0), "section 3: symbol size 0 (expect 24)"),
        (lambda r: set_shdr(r, SYMTAB, link=99), "section 3: string table index 99 out of range"),
        (lambda r: set_shdr(r, STRTAB, size=1), "section 3 symbol 1: name at 1 does not end"),
        (lambda r: set_shdr(r, SHSTRTAB, size=1), "section 1: name at 1 does not end"),
    ],
)
def test_headers_that_point_outside_the_file_are_one_line(
    tmp_path: Path, patch, message: str
) -> None:
    msg, peak = load_error(write(tmp_path, patch(image())))
    assert msg.startswith("malformed ELF file (") and message in msg, msg
    assert peak < BOUND, peak


def test_names_without_an_end_are_refused_before_pyelftools_maps_them(tmp_path: Path) -> None:
    # a string table of 60,000 bytes with no NUL, and every symbol pointing somewhere in it:
    # pyelftools would keep thousands of names of up to 60 KB each
    raw = image()
    strtab_at = len(raw)
    raw += b"n" * 60_000
    set_shdr(raw, STRTAB, offset=strtab_at, size=60_000)
    msg, peak = load_error(write(tmp_path, raw))
    assert "does not end within 256 bytes" in msg and peak < BOUND, (msg, peak)


def test_a_file_over_the_cap_is_refused_after_reading_cap_plus_one(tmp_path: Path) -> None:
    raw = image() + bytes(MAX_IMAGE_BYTES)  # a valid image with padding after it
    msg, peak = load_error(write(tmp_path, raw))
    assert msg == f"larger than {MAX_IMAGE_BYTES} bytes (not an EEPROM image)"
    assert peak < 2 * MAX_IMAGE_BYTES + (256 << 10)
    assert load_image(write(tmp_path, image() + bytes(1000), "padded.elf")).checksum_ok


def test_dev_zero_is_refused_quickly() -> None:
    start = time.perf_counter()
    msg, peak = load_error(Path("/dev/zero"))
    assert msg == f"larger than {MAX_IMAGE_BYTES} bytes (not an EEPROM image)"
    assert time.perf_counter() - start < 1.0 and peak < 2 * MAX_IMAGE_BYTES + (256 << 10)


def test_cli_show_dev_zero_and_a_nobits_image_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nobits = write(tmp_path, set_shdr(image(), EEPROM, type=8, size=4 * GIB))
    for path in ("/dev/zero", str(nobits)):
        assert main(["firmware", "show", path]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith(f"ixsim: error: {path}: ")
        assert "Traceback" not in captured.err


HOSTILE = (0, 1, 7, 8, 63, 64, 0xFFFF, 0xFFFFFFFF, 1 << 31, 1 << 40, (1 << 63) - 1, (1 << 64) - 1)


def test_header_fuzz_gives_one_line_errors_in_bounded_memory(tmp_path: Path) -> None:
    """A seeded campaign (600 images): one to three header fields of the ELF header or a
    section header set to hostile values.  Every load ends in an image or one FirmwareError,
    within the memory bound."""
    rng = random.Random(19)
    path = tmp_path / "fuzz.elf"
    outcomes = {"loaded": 0, "refused": 0}
    tracemalloc.start()
    try:
        for _ in range(600):
            raw = image()
            ehdr: dict[str, int] = {}  # applied last: a hostile e_shoff moves the table
            for _ in range(rng.randint(1, 3)):
                value = rng.choice(HOSTILE)
                if rng.random() < 0.3:
                    name = rng.choice(("shoff", "shentsize", "shnum", "shstrndx"))
                    ehdr[name] = value & ((1 << 64) - 1 if name == "shoff" else 0xFFFF)
                else:
                    field = rng.choice(SH_FIELDS)
                    wide = field in ("flags", "addr", "offset", "size", "align", "entsize")
                    mask = (1 << (64 if wide else 32)) - 1
                    set_shdr(raw, rng.randrange(6), **{field: value & mask})
            set_ehdr(raw, **ehdr)
            path.write_bytes(raw)
            tracemalloc.reset_peak()
            try:
                load_image(path, verify=False)
                outcomes["loaded"] += 1
            except FirmwareError as exc:
                assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
                outcomes["refused"] += 1
            assert tracemalloc.get_traced_memory()[1] < BOUND
    finally:
        tracemalloc.stop()
    assert outcomes["refused"] > 300 and outcomes["loaded"] > 10, outcomes
