"""firmware/: the EEPROM layout, the ELF builder and loader, and ``ixsim firmware``."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firmware
from device.spec import eeprom as spec
from device.spec.eeprom import (
    EEPROM_CHECKSUM,
    EEPROM_DEVICE_ID,
    EEPROM_INIT_CTRL1,
    EEPROM_MAC,
    EEPROM_SUM,
    FIELDS,
)
from firmware import layout
from firmware.builder import DEFAULT_MAC, build_words, elf_bytes, parse_mac, set_mac, write_elf
from firmware.layout import EEPROM
from firmware.loader import FirmwareError, load_image, load_words
from ixsim.cli import main

MAC = "02:00:00:00:00:2a"
FUZZ = settings(
    max_examples=200, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def write(tmp_path: Path, words: list[int], name: str = "nic.elf") -> Path:
    path = tmp_path / name
    write_elf(words, path)
    return path


# --- layout -------------------------------------------------------------------------------


def test_word_constants_match_the_spec_and_the_table() -> None:
    # Spec: docs/hardware.md §1.4
    assert (spec.EEPROM_MAC, spec.EEPROM_COMPATIBILITY, spec.EEPROM_PBA) == (0, 3, 8)
    assert (EEPROM_INIT_CTRL1, spec.EEPROM_SUBSYSTEM_ID, spec.EEPROM_SUBSYSTEM_VENDOR) == (
        0x0A, 0x0B, 0x0C,
    )
    assert (EEPROM_DEVICE_ID, spec.EEPROM_VENDOR_ID, spec.EEPROM_INIT_CTRL2) == (
        0x0D, 0x0E, 0x0F,
    )
    assert (spec.EEPROM_SWDPINS, spec.EEPROM_CIRCUIT_CTRL, spec.EEPROM_POWER) == (
        0x20, 0x21, 0x22,
    )
    assert (spec.EEPROM_FLASH_VERSION, EEPROM_CHECKSUM, EEPROM_SUM) == (0x32, 0x3F, 0xBABA)
    by_name = spec.FIELD_BY_NAME
    assert by_name["mac"].word == EEPROM_MAC and by_name["mac"].words == 3
    assert by_name["pba"].word == spec.EEPROM_PBA and by_name["pba"].words == 2
    assert by_name["init_ctrl1"].word == EEPROM_INIT_CTRL1
    assert by_name["device_id"].word == EEPROM_DEVICE_ID
    assert by_name["flash_version"].word == spec.EEPROM_FLASH_VERSION
    assert by_name["checksum"].word == EEPROM_CHECKSUM


def test_table_tiles_all_64_words_reserved_included() -> None:
    covered = [w for f in FIELDS for w in range(f.word, f.word + f.words)]
    assert covered == list(range(64))
    reserved = {w for f in FIELDS if f.reserved for w in range(f.word, f.word + f.words)}
    assert reserved == set(range(4, 8)) | set(range(0x10, 0x20)) | set(range(0x23, 0x32)) | set(
        range(0x33, 0x3F)
    )


def test_construct_struct_agrees_with_the_table() -> None:
    assert EEPROM.sizeof() == 128
    offset = 0
    for f in FIELDS:
        sub = next(s for s in EEPROM.subcons if s.name == f.name)
        assert sub.sizeof() == f.size, f.name
        assert offset == f.offset, f.name
        offset += sub.sizeof()


@FUZZ
@given(st.lists(st.integers(0, 0xFFFF), min_size=64, max_size=64))
def test_construct_decode_matches_word_slices(words: list[int]) -> None:
    parsed = layout.parse(words)
    for f in FIELDS:
        run = words[f.word : f.word + f.words]
        if f.kind == "bytes":
            assert parsed[f.name] == struct.pack(f"<{f.words}H", *run)
        elif f.kind == "u32":
            assert parsed[f.name] == run[0] | run[1] << 16
        elif f.kind == "words":
            assert parsed[f.name] == run
        else:
            assert parsed[f.name] == run[0]
    assert layout.build(parsed) == words


def test_mac_is_little_endian_within_words() -> None:
    words = build_words(bytes([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]))
    assert words[0:3] == [0x1102, 0x3322, 0x5544]
    assert layout.decode(words)["mac"] == "02:11:22:33:44:55"


def test_checksum_sums_to_babab_exactly() -> None:
    for mac, dev in [(MAC, 0x1048), ("00:1b:21:ff:ff:fe", 0x109E), ("fe:ff:ff:ff:ff:ff", 0xFFFF)]:
        words = build_words(mac, device_id=dev, pba=0xFFFF_FFFF, flash_version=0xFFFF)
        assert sum(words) & 0xFFFF == 0xBABA
        assert layout.checksum_ok(words)
        assert layout.checksum_word(words) == words[EEPROM_CHECKSUM]
    words[5] ^= 1
    assert not layout.checksum_ok(words)
    assert layout.checksum_word(words) != words[EEPROM_CHECKSUM]
    assert not layout.checksum_ok(words[:63])


def test_decode_reports_ids_and_verdicts() -> None:
    d = layout.decode(build_words(MAC, pba=0x12345678))
    assert d["mac"] == MAC and d["mac_ok"]
    assert (d["device_id"], d["vendor_id"]) == (0x1048, 0x8086)
    assert (d["subsystem_id"], d["subsystem_vendor"]) == (0xA11F, 0x8086)
    assert d["pba"] == 0x12345678 and d["init_ctrl1"] & 0xC000 == 0x4000
    assert d["signature_ok"] and d["checksum_ok"] and d["sum"] == 0xBABA
    assert not any(k.startswith("reserved") for k in d)
    bad = layout.decode(build_words("01:00:5e:00:00:01", init_ctrl1=0x8000))
    assert not bad["signature_ok"] and not bad["mac_ok"] and bad["checksum_ok"]


def test_parse_mac() -> None:
    assert parse_mac("02-00-00-00-00-0A") == bytes([2, 0, 0, 0, 0, 10])
    assert parse_mac(b"\x02\0\0\0\0\x01") == b"\x02\0\0\0\0\x01"
    for bad in ["02:00:00:00:00", "02:00:00:00:00:zz", "02:00:00:00:00:001", "", b"\x02"]:
        with pytest.raises(ValueError):
            parse_mac(bad)
    with pytest.raises(ValueError):
        build_words(MAC, device_id=0x10000)


# --- ELF round trip ----------------------------------------------------------------------


def test_build_write_load_round_trip(tmp_path: Path) -> None:
    words = build_words(MAC, device_id=0x1A48, pba=0x00C0FFEE, flash_version=0x0203)
    path = write(tmp_path, words)
    image = load_image(path)
    assert image.words == words and load_words(path) == words
    assert image.path == str(path)
    assert image.version == "2.3" and image.layout_version == layout.LAYOUT_VERSION
    assert image.checksum_ok and image.signature_ok
    assert image.decode()["device_id"] == 0x1A48
    # The .eeprom section holds the words little-endian, and the output is reproducible.
    with path.open("rb") as fh:
        assert ELFFile(fh).get_section_by_name(".eeprom").data() == struct.pack("<64H", *words)
    buf = io.BytesIO()
    write_elf(words, buf)
    assert buf.getvalue() == path.read_bytes() == elf_bytes(words)
    write_elf(words, tmp_path / "v.elf", version="lab build 7")
    assert load_image(tmp_path / "v.elf").version == "lab build 7"


def test_symbol_table_names_every_field(tmp_path: Path) -> None:
    path = write(tmp_path, build_words(MAC))
    image = load_image(path)
    assert list(image.symbols) == [f.name for f in FIELDS]
    assert image.symbols["mac"] == (0, 6)
    assert image.symbols["pba"] == (0x10, 4)
    assert image.symbols["device_id"] == (0x1A, 2)
    assert image.symbols["checksum"] == (0x7E, 2)
    assert all(image.symbols[f.name] == (f.offset, f.size) for f in FIELDS)
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        assert elf["e_type"] == "ET_REL" and elf.elfclass == 64 and elf.little_endian
        shndx = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".eeprom")
        syms = [s for s in elf.get_section_by_name(".symtab").iter_symbols() if s.name]
        assert {s["st_shndx"] for s in syms} == {shndx}
        assert {s["st_info"]["type"] for s in syms} == {"STT_OBJECT"}
        (note,) = elf.get_section_by_name(".note.ixsim").iter_notes()
        assert note["n_name"] == "ixsim" and note["n_type"] == layout.NT_IXSIM_NVM


def test_readelf_reads_the_image_without_warnings(tmp_path: Path) -> None:
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    path = write(tmp_path, build_words(MAC))
    out = subprocess.run(
        [readelf, "-a", "-W", str(path)], capture_output=True, text=True, check=False, timeout=30
    )
    assert out.returncode == 0 and out.stderr == ""
    assert "REL (Relocatable file)" in out.stdout
    assert ".eeprom           PROGBITS" in out.stdout
    assert "Symbol table '.symtab' contains 19 entries" in out.stdout
    assert "0000000000000010     4 OBJECT  GLOBAL DEFAULT    1 pba" in out.stdout
    assert "Unknown note type: (0x49580001)" in out.stdout
    dump = subprocess.run(
        [readelf, "-x", ".eeprom", str(path)], capture_output=True, text=True, check=True
    )
    assert "0x00000000 02000000 002a0000" in dump.stdout and dump.stderr == ""


# --- bad images ---------------------------------------------------------------------------


def _load_error(path: Path, **kw: bool) -> str:
    with pytest.raises(FirmwareError) as info:
        load_image(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    return msg


def _patch_eeprom_header(raw: bytes, field_offset: int, value: bytes) -> bytes:
    """Overwrite bytes of section 1 (.eeprom)'s Elf64_Shdr."""
    (shoff,) = struct.unpack_from("<Q", raw, 0x28)
    at = shoff + 64 + field_offset
    return raw[:at] + value + raw[at + len(value) :]


def test_not_an_elf_file(tmp_path: Path) -> None:
    path = tmp_path / "text.elf"
    path.write_text("just text\n")
    assert _load_error(path) == f"{path}: not an ELF file (no \\x7fELF magic)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.elf"
    assert _load_error(path) == f"{path}: cannot read: No such file or directory"


def test_no_eeprom_section(tmp_path: Path) -> None:
    raw = elf_bytes(build_words(MAC)).replace(b".eeprom\0", b".nvram_\0")
    path = tmp_path / "noeeprom.elf"
    path.write_bytes(raw)
    assert _load_error(path) == f"{path}: no .eeprom section"


def test_wrong_size(tmp_path: Path) -> None:
    raw = _patch_eeprom_header(elf_bytes(build_words(MAC)), 32, struct.pack("<Q", 126))
    path = tmp_path / "short.elf"
    path.write_bytes(raw)
    assert _load_error(path) == (
        f"{path}: .eeprom has the wrong size (expect 128 bytes, got 126)"
    )


def test_bad_checksum_and_verify_false(tmp_path: Path) -> None:
    words = build_words(MAC)
    words[EEPROM_CHECKSUM] = (words[EEPROM_CHECKSUM] + 1) & 0xFFFF
    path = write(tmp_path, words)
    assert _load_error(path) == f"{path}: bad checksum (sum 0xBABB != 0xBABA)"
    image = load_image(path, verify=False)
    assert image.words == words and not image.checksum_ok and image.sum == 0xBABB


def test_bad_signature(tmp_path: Path) -> None:
    path = write(tmp_path, build_words(MAC, init_ctrl1=0x8000))
    assert _load_error(path) == (
        f"{path}: bad signature (init control 1 = 0x8000, bits 15:14 must be 01b)"
    )
    image = load_image(path, verify=False)
    assert image.checksum_ok and not image.signature_ok


def test_truncated_elf_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "cut.elf"
    path.write_bytes(elf_bytes(build_words(MAC))[:200])
    assert ": malformed ELF file (" in _load_error(path)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_files_raise_only_firmware_error(
    tmp_path: Path, damage: list[tuple[int, int]]
) -> None:
    raw = bytearray(firmware.DEFAULT_IMAGE.read_bytes())
    for where, value in damage:
        raw[where % len(raw)] = value
    path = tmp_path / "fuzz.elf"
    path.write_bytes(raw)
    try:
        image = load_image(path)
    except FirmwareError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
    else:
        assert image.checksum_ok and len(image.words) == 64


# --- the shipped default image ------------------------------------------------------------


def test_default_image_is_current() -> None:
    assert firmware.DEFAULT_IMAGE.name == "ixgb-default.elf"
    expected = elf_bytes(build_words(DEFAULT_MAC))
    assert firmware.DEFAULT_IMAGE.read_bytes() == expected, (
        "regenerate: python -m firmware.builder --mac 02:00:00:00:00:01 "
        "-o firmware/ixgb-default.elf"
    )
    d = load_image(firmware.DEFAULT_IMAGE).decode()
    assert d["mac"] == "02:00:00:00:00:01" and d["device_id"] == 0x1048


def test_default_words() -> None:
    words = firmware.default_words()
    assert words == build_words(DEFAULT_MAC)
    words[0] = 0xFFFF  # a fresh copy each call
    assert firmware.default_words()[0] == 0x0002
    other = firmware.default_words("02:00:00:00:00:07")
    assert layout.decode(other)["mac"] == "02:00:00:00:00:07" and layout.checksum_ok(other)
    assert other == set_mac(build_words(DEFAULT_MAC), "02:00:00:00:00:07")


def test_builder_main_writes_the_default_image(tmp_path: Path) -> None:
    from firmware.builder import main as builder_main

    out = tmp_path / "d.elf"
    assert builder_main(["--mac", "02:00:00:00:00:01", "-o", str(out)]) == 0
    assert out.read_bytes() == firmware.DEFAULT_IMAGE.read_bytes()


def test_public_api() -> None:
    for name in firmware.__all__:
        assert getattr(firmware, name) is not None
    assert firmware.build_words is build_words and firmware.FirmwareError is FirmwareError


# --- ixsim firmware -----------------------------------------------------------------------


def test_cli_build_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nic.elf"
    assert main(["firmware", "build", "--mac", MAC, "-o", str(out), "--device-id", "0x109e"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}: mac {MAC}, device 0x109E") and "sum 0xBABA" in said
    assert load_image(out).decode()["device_id"] == 0x109E

    assert main(["firmware", "show", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    row = next(line for line in lines if " device_id " in line)
    header = next(line for line in lines if line.startswith("word "))
    assert row.split()[:3] == ["0x0D", "device_id", "0x109E"]
    assert row.index("device_id") == header.index("field")  # aligned columns
    assert row.index("0x109E") == header.index("value")
    assert "good (sum 0xBABA)" in text and "probe would accept it" in text
    assert "\x1b[" not in text  # plain when piped
    assert any(line.split() == ["pba", "0x10", "4"] for line in lines)


def test_cli_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bad.elf"
    assert main(["firmware", "build", "--mac", MAC, "-o", str(out), "--corrupt-checksum"]) == 0
    assert "bad, as asked: sum 0xBABB" in capsys.readouterr().out
    assert main(["firmware", "show", str(out), "--json"]) == 0
    text = capsys.readouterr().out
    assert text.count("\n") == 1
    obj = json.loads(text)
    assert obj["fields"]["mac"] == MAC and obj["fields"]["device_id"] == 0x1048
    assert obj["checksum_ok"] is False and obj["signature_ok"] is True
    assert obj["sum"] == 0xBABB
    assert obj["checksum_expected"] == obj["fields"]["checksum"] - 1
    assert obj["symbols"]["checksum"] == {"offset": 0x7E, "size": 2}
    assert len(obj["words"]) == 64 and obj["layout_version"] == layout.LAYOUT_VERSION

    assert main(["firmware", "show", str(out)]) == 0
    assert "BAD (sum 0xBABB != 0xBABA" in capsys.readouterr().out


def test_cli_show_uses_rich_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, build_words(MAC), "[bold]x.elf")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    # A relative name: rich wraps at the console width, and tmp_path's length varies (longer
    # under pytest-xdist), which would split the name this test looks for.
    monkeypatch.chdir(tmp_path)
    assert main(["firmware", "show", "[bold]x.elf"]) == 0
    text = capsys.readouterr().out
    assert "┃" in text and "0x1048" in text and "[bold]x.elf" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["build", "--mac", "02:00:00:00:zz:01", "-o", "{tmp}/x.elf"], "bad MAC address"),
        (["build", "--mac", MAC, "-o", "{tmp}/x.elf", "--device-id", "0x10000"], "bad --device-id"),
        (["build", "--mac", MAC, "-o", "{tmp}/no/such/dir/x.elf"], "cannot write"),
        (["show", "{tmp}/absent.elf"], "absent.elf: cannot read"),
        (["show", "{tmp}"], "cannot read"),
        (["show", "{self}"], "not an ELF file"),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a.format(tmp=tmp_path, self=__file__) for a in argv]
    assert main(["firmware", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ixsim: error: ") and captured.err.count("\n") == 1
    assert message in captured.err


def test_cli_show_refuses_a_bad_signature_only_in_its_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, build_words(MAC, init_ctrl1=0))
    assert main(["firmware", "show", str(path)]) == 0
    text = capsys.readouterr().out
    assert "BAD signature" in text and "probe would REFUSE it" in text
