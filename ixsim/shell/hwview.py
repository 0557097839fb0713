"""Hardware views: registers, descriptor rings, DMA mappings, guest memory, EEPROM, counters.

Each view has a data form (plain dicts and lists, what ``--json`` prints) and a text form
(aligned columns, what the shell prints).  Everything here is non-destructive: registers are
peeked, memory is read as the CPU reads it, the EEPROM from the device's array; the one
exception is ``stats`` on a host with a driver, which asks the driver
(``get_ethtool_stats``), and the driver reads, accumulates and so clears the
clear-on-read counters, exactly as ``ethtool -S`` does on Linux.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from device.spec import regs as R
from device.spec.bus import DIR_NAMES
from device.spec.desc import describe_rx, describe_tx
from device.spec.eeprom import FIELDS
from firmware import DEFAULT_IMAGE, load_image
from firmware.layout import checksum_word
from firmware.layout import decode as decode_eeprom
from ixsim.shell.errors import ShellError
from ixsim.shell.rings import read_desc, ring
from ixsim.shell.target import NicRef, nics_of
from stack.core import ethtool_get_stats

MEM_MAX = 4096
_DD = 0x01
_STATUS_BYTE = 12  # the status byte of both descriptor formats


def columns(rows: Sequence[Sequence[Any]], indent: str = "") -> list[str]:
    """Rows as left-aligned columns two spaces apart; no trailing blanks."""
    cells = [[str(c) for c in row] for row in rows]
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells if i < len(row))
              for i in range(max(len(r) for r in cells))]
    return [indent + "  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip()
            for row in cells]


# -- registers ----------------------------------------------------------------------------
def reg_data(ref: NicRef, reg: R.Reg) -> dict[str, Any]:
    value = ref.nic.peek(reg.offset)
    return {
        "name": reg.name, "offset": reg.offset, "value": value, "access": reg.access,
        "doc": reg.doc, "bits": R.describe_bits(reg, value) if reg.fields else "",
        "fields": [{"name": n, "value": v, "meaning": m} for n, v, m in R.decode(reg, value)],
    }


def dump_regs() -> list[R.Reg]:
    """ethtool's register dump order (docs/hardware.md §2.14), registers part."""
    return [R.BY_NAME[name] for name in R.ETHTOOL_DUMP_ORDER]


def regs_dump_lines(ref: NicRef) -> list[str]:
    rows = [("register", "offset", "value", "access", "decoded")]
    for reg in dump_regs():
        d = reg_data(ref, reg)
        rows.append((reg.name, f"0x{reg.offset:05x}", f"0x{d['value']:08x}", reg.access,
                     d["bits"] or reg.doc))
    head = f"{ref.label} registers in ethtool -d order (peeked: no side effects)"
    return [head, *columns(rows, "  ")]


def regs_detail_lines(ref: NicRef, regs: list[R.Reg]) -> list[str]:
    out = []
    for reg in regs:
        d = reg_data(ref, reg)
        out.append(f"{ref.label} {reg.name} @0x{reg.offset:05x} = 0x{d['value']:08x} "
                   f"({reg.access}, {reg.doc})")
        fields = {f.name: f for f in reg.fields}
        rows = []
        for f in d["fields"]:
            spec = fields[f["name"]]
            bits = (f"{spec.shift}" if spec.width == 1
                    else f"{spec.shift + spec.width - 1}:{spec.shift}")
            value = f["meaning"] or (str(f["value"]) if spec.width == 1 else hex(f["value"]))
            rows.append((f["name"], f"[{bits}]", value, spec.doc))
        out.extend(columns(rows, "    "))
    return out


# -- rings --------------------------------------------------------------------------------
def ring_data(ref: NicRef, kind: str, lo: int | None = None,
              hi: int | None = None) -> dict[str, Any]:
    """Slots ``lo..hi`` (inclusive; default the whole ring) with owner and markers."""
    r = ring(ref.nic, kind)
    sw = getattr(ref.adapter, f"{kind}_ring", None)
    ntu = getattr(sw, "next_to_use", None)
    ntc = getattr(sw, "next_to_clean", None)
    data: dict[str, Any] = {
        "nic": ref.label, "kind": kind, "base": r.base, "count": r.count, "head": r.head,
        "tail": r.tail, "hw_owned": r.hw_owned, "next_to_use": ntu, "next_to_clean": ntc,
        "descriptors": [],
    }
    if not r.count:
        return data
    first = 0 if lo is None else lo
    last = r.count - 1 if hi is None else hi
    if not 0 <= first <= last < r.count:
        raise ShellError(f"slots {first}:{last} outside the ring of {r.count} (0:{r.count - 1})")
    mem = ref.pci.mem
    for i in range(first, last + 1):
        raw = read_desc(mem, r, i)
        markers = [name for name, at in (("HEAD", r.head), ("TAIL", r.tail), ("NTU", ntu),
                                         ("NTC", ntc)) if at == i]
        if raw is None:
            text, dd = "(not in guest RAM)", False
        elif not any(raw):
            text, dd = "(empty)", False
        else:
            text = describe_tx(raw) if kind == "tx" else describe_rx(raw)
            dd = bool(raw[_STATUS_BYTE] & _DD)
        data["descriptors"].append({"index": i, "owner": r.owner(i), "markers": markers,
                                    "dd": dd, "raw": raw.hex() if raw else "", "text": text})
    return data


def ring_lines(data: dict[str, Any], collapse: bool = True) -> list[str]:
    kind = data["kind"]
    h, t = ("TDH", "TDT") if kind == "tx" else ("RDH", "RDT")
    sw = ""
    if data["next_to_use"] is not None:
        sw = f" NTU=next_to_use={data['next_to_use']} NTC=next_to_clean={data['next_to_clean']}"
    out = [f"{data['nic']} {kind.upper()} ring: {data['count']} descriptors at "
           f"0x{data['base']:x}; HEAD={h}={data['head']} TAIL={t}={data['tail']}{sw}; "
           f"hardware owns {data['hw_owned']} [HEAD, TAIL)"]
    if not data["count"]:
        out.append(f"  ({kind.upper()} ring not programmed: {kind.upper()[0]}DLEN is 0)")
        return out
    rows: list[tuple[str, ...]] = []
    run: list[dict[str, Any]] = []

    def flush() -> None:
        if len(run) >= 4:
            a, b = run[0], run[-1]
            rows.append((f"{a['index']}..{b['index']}", a["owner"], "",
                         f"{len(run)} quiet slots (no DD), first: {a['text']}"))
        else:
            rows.extend(_ring_row(d) for d in run)
        run.clear()

    for d in data["descriptors"]:
        quiet = collapse and not d["markers"] and not d["dd"]
        if quiet and (not run or run[-1]["owner"] == d["owner"]):
            run.append(d)
            continue
        flush()
        if quiet:
            run.append(d)
        else:
            rows.append(_ring_row(d))
    flush()
    return out + columns(rows, "  ")


def _ring_row(d: dict[str, Any]) -> tuple[str, ...]:
    return (str(d["index"]), d["owner"], " ".join(d["markers"]), d["text"])


# -- DMA, memory --------------------------------------------------------------------------
def _dma_labels(host: Any) -> dict[int, str]:
    labels: dict[int, str] = {}
    for ref in nics_of(host):
        for kind in ("tx", "rx"):
            r = ring(ref.nic, kind)
            if r.count:
                labels[r.base] = f"{ref.iface} {kind.upper()} descriptor ring"
            sw = getattr(ref.adapter, f"{kind}_ring", None)
            for i, buf in enumerate(getattr(sw, "buffer_info", ()) or ()):
                dma = getattr(buf, "dma", 0)
                if dma:
                    labels.setdefault(dma, f"{ref.iface} {kind.upper()} buffer [{i}]")
    return labels


def dma_lines(host: Any, full: bool = False) -> list[str]:
    dmap = host.machine.dma
    labels = _dma_labels(host)
    maps = dmap.mappings()
    rows: list[tuple[str, ...]] = [("address", "size", "direction", "refs", "what")]
    group: list[tuple[int, int, int, int, str]] = []

    def key(entry: tuple[int, int, int, int, str]) -> tuple[Any, ...]:
        label = entry[4]
        return (label.split("[")[0], entry[1], entry[2]) if "[" in label else (id(entry),)

    def flush() -> None:
        if len(group) > 2 and not full:
            first, last = group[0], group[-1]
            idx = [g[4].split("[")[1].rstrip("]") for g in (first, last)]
            rows.append((f"0x{first[0]:x}..0x{last[0]:x}", f"{first[1]} each",
                         DIR_NAMES.get(first[2], str(first[2])), "",
                         f"{len(group)} x {first[4].split('[')[0]}[{idx[0]}..{idx[1]}]"))
        else:
            rows.extend((f"0x{a:x}", str(n), DIR_NAMES.get(d, str(d)), str(refs), label)
                        for a, n, d, refs, label in group)
        group.clear()

    for start, length, direction, refs in maps:
        entry = (start, length, direction, refs, labels.get(start, ""))
        if group and key(group[-1]) != key(entry):
            flush()
        group.append(entry)
    flush()
    total = sum(m[1] for m in maps)
    head = (f"{host.name}: {len(maps)} live DMA mappings, {total} bytes "
            f"(mapped {dmap.maps_total}, unmapped {dmap.unmaps_total} since boot)")
    return [head, *columns(rows, "  ")]


def mem_lines(host: Any, addr: int, length: int) -> list[str]:
    mem = host.machine.mem
    if length <= 0 or length > MEM_MAX:
        raise ShellError(f"bad length {length}: 1..{MEM_MAX} bytes")
    if not mem.in_ram(addr, length):
        raise ShellError(f"0x{addr:x}+{length} is outside guest RAM "
                         f"(0x{mem.base:x}..0x{mem.base + mem.size:x})")
    data = bytes(mem.read(addr, length))
    out = []
    for off in range(0, length, 16):
        chunk = data[off : off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(
            f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.append(f"0x{addr + off:08x}  {hexpart:<48}  |{text}|")
    return out


# -- EEPROM -------------------------------------------------------------------------------
@functools.cache
def _symbols() -> dict[str, tuple[int, int]]:
    return dict(load_image(DEFAULT_IMAGE).symbols)


def eeprom_lines(ref: NicRef) -> list[str]:
    words = list(ref.nic.eeprom.words)
    decoded = decode_eeprom(words)
    symbols = _symbols()
    rows: list[tuple[str, ...]] = [("word", "symbol", "bytes", "value", "meaning")]
    for f in FIELDS:
        span = f"0x{f.word:02x}" if f.words == 1 else f"0x{f.word:02x}-0x{f.word + f.words - 1:02x}"
        off, size = symbols.get(f.name, (f.offset, f.size))
        if f.kind == "bytes":
            value = str(decoded[f.name])
        elif f.kind == "words":
            run = words[f.word : f.word + f.words]
            value = "all 0" if not any(run) else " ".join(f"{w:04x}" for w in run)
        else:
            value = f"0x{decoded[f.name]:0{f.words * 4}x}"
        rows.append((span, f.name, f"@0x{off:02x}+{size}", value, f.doc))
    out = [f"{ref.label} EEPROM (device NVM, {len(words)} words; symbols from "
           f"{DEFAULT_IMAGE.name})", *columns(rows, "  ")]
    if decoded["checksum_ok"]:
        out.append(f"checksum: good (words sum to 0x{decoded['sum']:04x})")
    else:
        out.append(f"checksum: BAD (words sum to 0x{decoded['sum']:04x}, not 0xbaba; word "
                   f"0x3f should be 0x{checksum_word(words):04x}): probe would refuse it")
    out.append(f"signature: {'good' if decoded['signature_ok'] else 'BAD'}; "
               f"MAC: {'valid' if decoded['mac_ok'] else 'INVALID'}")
    hw = getattr(ref.adapter, "hw", None)
    cache = getattr(hw, "eeprom", None)
    if cache is not None and len(cache) == len(words):
        diff = [i for i, (a, b) in enumerate(zip(cache, words, strict=True)) if a != b]
        if diff:
            out.append("driver's cached copy differs at words "
                       + ", ".join(f"0x{i:02x}" for i in diff) + " (it re-reads on reset)")
    return out


# -- counters and faults ------------------------------------------------------------------
def stats_data(ref: NicRef) -> tuple[dict[str, int], str]:
    """(name -> value, source): the driver's ethtool -S, or the registers when unbound."""
    if ref.netdev is not None:
        try:
            return ethtool_get_stats(ref.netdev), "driver (ethtool -S)"
        except (OSError, NotImplementedError):
            pass
    out = {}
    for name, off, width, _doc in R.STATS:
        value = ref.nic.peek(off)
        if width == 64:
            value |= ref.nic.peek(off + 4) << 32
        out[name] = value
    return out, "device statistics registers (peek; no driver bound)"


def stats_lines(ref: NicRef) -> list[str]:
    stats, source = stats_data(ref)
    return [f"{ref.label} statistics from the {source}",
            *columns([(k, v) for k, v in stats.items()], "  ")]


def fault_lines(world: Any) -> list[str]:
    faults = world.faults
    if not faults:
        return ["no device faults"]
    return [str(f) for f in faults]
