"""Micro-benchmark of fastpath: µs per call, the C core against its pure-Python twin.

Not a test (no timed assertions): run ``python -m ixsim.bench.bench_fastpath`` (``--json`` for
scripts) and read the figures.  The rows are the per-byte work of the data path: a
1500-byte frame's checksum (device RX checksum, skb_checksum_help), a 64 KiB TSO
super-packet cut into 1448-byte segments with both checksums per frame (the device's TX
engine), and the small helpers.  Without a built C core only the Python column is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import timeit
from collections.abc import Callable
from types import ModuleType

from fastpath import _pure

try:
    from fastpath import _c
except ImportError as err:
    _c = None
    C_MISSING = str(err)
else:
    C_MISSING = ""


def per_call_us(fn: Callable[[], object], budget_s: float = 0.2) -> float:
    """Best of five runs sized to about ``budget_s`` each, in µs per call."""
    number = 1
    while True:
        t = timeit.timeit(fn, number=number)
        if t >= budget_s / 10:
            break
        number *= 4
    number = max(1, int(number * budget_s / t))
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def tso_packet(payload: int, rng: random.Random) -> bytes:
    """Ethernet + IPv4 + TCP (54 bytes of headers, no options) + ``payload`` bytes."""
    eth = bytes(12) + b"\x08\x00"
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 0, 1, 0x4000, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    )
    tcp = struct.pack(">HHIIBBHHH", 34567, 80, 1000, 2000, 0x50, 0x18, 502, 0, 0)
    return eth + ip + tcp + rng.randbytes(payload)


def rows(rng: random.Random) -> list[tuple[str, Callable[[ModuleType], Callable[[], object]]]]:
    frame = rng.randbytes(1500)
    view = memoryview(bytearray(frame))
    big = rng.randbytes(65536)
    packet = tso_packet(65536 - 54, rng)
    dst = bytearray(2048)
    return [
        ("csum_partial 1500 B (bytes)", lambda m: lambda: m.csum_partial(frame)),
        ("csum_partial 1500 B (memoryview)", lambda m: lambda: m.csum_partial(view)),
        ("internet_checksum 1500 B", lambda m: lambda: m.internet_checksum(frame)),
        ("csum_partial 64 KiB", lambda m: lambda: m.csum_partial(big)),
        ("csum_copy 1500 B", lambda m: lambda: m.csum_copy(dst, 2, frame)),
        ("csum_fold", lambda m: lambda: m.csum_fold(0x3_A5F1)),
        ("csum_replace2", lambda m: lambda: m.csum_replace2(0xB861, 0x4000, 0x3F00)),
        (
            "tso_segment 64 KiB / 1448",
            lambda m: lambda: m.tso_segment(packet, 14, 34, 54, 1448, None, True),
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    results = []
    for name, make in rows(random.Random(1)):
        py = per_call_us(make(_pure))
        c = per_call_us(make(_c)) if _c is not None else None
        results.append(
            {
                "op": name,
                "python_us": round(py, 3),
                "c_us": None if c is None else round(c, 3),
                "speedup": None if c is None else round(py / c, 1),
            }
        )
    if args.json:
        print(json.dumps({"c_core": C_MISSING or "built", "rows": results}, indent=2))
        return
    print(f"{'operation':<34}{'python µs':>11}{'C µs':>9}{'C speed-up':>12}")
    for r in results:
        c_txt = "-" if r["c_us"] is None else f"{r['c_us']:.2f}"
        up = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        print(f"{r['op']:<34}{r['python_us']:>11.2f}{c_txt:>9}{up:>12}")
    if C_MISSING:
        print(f"\nC core not built: {C_MISSING}")


if __name__ == "__main__":
    main()
