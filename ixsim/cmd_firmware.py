"""``ixsim firmware``: build and inspect the NIC's EEPROM image (an ELF file).

``ixsim firmware build --mac 02:00:00:00:00:01 -o nic.elf [--device-id 0x1048]
[--corrupt-checksum]`` writes an image; ``ixsim firmware show nic.elf [--json]`` decodes one,
including a corrupt one, and says whether the driver's probe would accept it.  The role of
Intel's NVM tools and of ``ethtool -e``; the format is firmware/ (docs/hardware.md §1.4).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from device.spec.eeprom import EEPROM_CHECKSUM, EEPROM_DEVICE_ID, EEPROM_SUM, FIELDS, Field
from device.spec.ids import DEFAULT_DEVICE_ID, DEVICE_NAMES
from firmware.builder import build_words, parse_mac, write_elf
from firmware.layout import checksum_word, format_mac, word_sum
from firmware.loader import EepromImage, FirmwareError, load_image
from ixsim.cli import CliError

_VERDICTS = ("sum", "checksum_ok", "signature_ok", "mac_ok")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "firmware",
        help="build and inspect the NIC's EEPROM image (ELF)",
        description="Build and inspect the ixgb EEPROM image, stored as an ELF file.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    b = sub.add_parser("build", help="write an EEPROM image", description="Write an EEPROM image.")
    b.add_argument("--mac", required=True, help="MAC address, e.g. 02:00:00:00:00:01")
    b.add_argument("-o", "--output", required=True, help="the ELF file to write")
    b.add_argument(
        "--device-id",
        default=f"0x{DEFAULT_DEVICE_ID:04X}",
        help=f"PCI device ID stored in word 0x{EEPROM_DEVICE_ID:02X} (default "
        f"0x{DEFAULT_DEVICE_ID:04X}, {DEVICE_NAMES[DEFAULT_DEVICE_ID]})",
    )
    b.add_argument(
        "--corrupt-checksum",
        action="store_true",
        help="store a wrong checksum, to test that probe refuses the image",
    )
    b.set_defaults(func=run_build)

    s = sub.add_parser("show", help="decode an EEPROM image", description="Decode an image.")
    s.add_argument("image", help="the ELF file to read")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run_show)


def _u16(option: str, text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFF:
        raise CliError(f"bad {option} {text!r}: expected a 16-bit number such as "
                       f"0x{DEFAULT_DEVICE_ID:04X}")
    return value


def run_build(args: argparse.Namespace) -> int:
    try:
        mac = parse_mac(args.mac)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    words = build_words(mac, device_id=_u16("--device-id", args.device_id))
    if args.corrupt_checksum:
        words[EEPROM_CHECKSUM] = (words[EEPROM_CHECKSUM] + 1) & 0xFFFF
    try:
        write_elf(words, args.output)
    except OSError as exc:
        raise CliError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    total = word_sum(words)
    verdict = "good" if total == EEPROM_SUM else "bad, as asked"
    print(
        f"wrote {args.output}: mac {format_mac(mac)}, device 0x{words[EEPROM_DEVICE_ID]:04X}, "
        f"checksum 0x{words[EEPROM_CHECKSUM]:04X} ({verdict}: sum 0x{total:04X})"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    try:
        image = load_image(args.image, verify=False)
    except FirmwareError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(_as_json(image)))
    else:
        _print_text(image, rich=sys.stdout.isatty())
    return 0


def _as_json(image: EepromImage) -> dict[str, Any]:
    decoded = image.decode()
    return {
        "path": image.path,
        "version": image.version,
        "layout_version": image.layout_version,
        "fields": {k: v for k, v in decoded.items() if k not in _VERDICTS},
        **{k: decoded[k] for k in _VERDICTS},
        "checksum_expected": checksum_word(image.words),
        "symbols": {n: {"offset": o, "size": s} for n, (o, s) in image.symbols.items()},
        "words": image.words,
    }


def _value(field: Field, words: list[int], decoded: dict[str, Any]) -> str:
    if field.kind == "bytes":
        return str(decoded[field.name])
    if field.kind == "words":
        run = words[field.word : field.word + field.words]
        return "0 (all words)" if not any(run) else " ".join(f"{w:04X}" for w in run)
    return f"0x{decoded[field.name]:0{field.words * 4}X}"


def _note(field: Field, image: EepromImage, decoded: dict[str, Any]) -> str:
    if field.name == "mac":
        return "" if decoded["mac_ok"] else "not a valid unicast address"
    if field.name == "init_ctrl1":
        return "signature good" if decoded["signature_ok"] else "BAD signature (bits 15:14 != 01b)"
    if field.name == "checksum":
        if decoded["checksum_ok"]:
            return f"good (sum 0x{decoded['sum']:04X})"
        return (
            f"BAD (sum 0x{decoded['sum']:04X} != 0x{EEPROM_SUM:04X}; "
            f"expected 0x{checksum_word(image.words):04X})"
        )
    return ""


def _print_text(image: EepromImage, rich: bool) -> None:
    decoded = image.decode()
    rows = []
    for f in FIELDS:
        span = f"0x{f.word:02X}" if f.words == 1 else f"0x{f.word:02X}-0x{f.word + f.words - 1:02X}"
        note = _note(f, image, decoded)
        rows.append([span, f.name, _value(f, image.words, decoded), note or f.doc])
    title = f"{image.path}: version {image.version or '?'}, layout {image.layout_version or '?'}"
    symbols = sorted(image.symbols.items(), key=lambda kv: kv[1])
    sym_rows = [[name, f"0x{off:02X}", str(size)] for name, (off, size) in symbols]
    verdict = "probe would accept it" if image.checksum_ok and image.signature_ok else (
        "probe would REFUSE it"
    )
    if rich:
        from rich.console import Console
        from rich.table import Table

        console = Console(markup=False)  # paths and values are data, never markup
        table = Table(title=title, title_justify="left")
        for h in ("word", "field", "value", "meaning"):
            table.add_column(h, no_wrap=h != "meaning")
        for r in rows:
            table.add_row(*r)
        console.print(table)
        console.print(f"checksum: {'good' if image.checksum_ok else 'BAD'}; {verdict}")
        syms = Table(title=".symtab (offsets into .eeprom)", title_justify="left")
        for h in ("symbol", "offset", "size"):
            syms.add_column(h, justify="right" if h != "symbol" else "left")
        for r in sym_rows:
            syms.add_row(*r)
        console.print(syms)
        return
    print(title)
    _plain_table(["word", "field", "value", "meaning"], rows)
    print(f"checksum: {'good' if image.checksum_ok else 'BAD'}; {verdict}")
    print()
    print(".symtab (offsets into .eeprom)")
    _plain_table(["symbol", "offset", "size"], sym_rows)


def _plain_table(headers: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell, two spaces apart; no trailing blanks."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    for line in [headers, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
