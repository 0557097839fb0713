"""``ixsim demo``: two emulated hosts cabled back to back, on virtual time.

``--bare`` drives the two NICs by register and descriptor writes alone (no driver, no stack),
the way a driver developer first meets the hardware.
"""

from __future__ import annotations

import argparse
import time

from ixsim.baremetal import run_bare
from ixsim.cli import CliError
from ixsim.ui import console, print_json, table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="two hosts back to back: link, frames, counters",
                       description=__doc__)
    p.add_argument("--bare", action="store_true",
                   help="no driver: move frames by register and descriptor writes only")
    p.add_argument("--frames", type=int, default=32, help="frames to send (--bare)")
    p.add_argument("--size", type=int, default=1514, help="frame size in bytes (--bare)")
    p.add_argument("--seed", type=int, default=1, help="world seed (same seed, same run)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return run_bare_demo(args)


def run_bare_demo(args: argparse.Namespace) -> int:
    if not 60 <= args.size <= 1514:
        raise CliError(f"--size {args.size}: frames are 60..1514 bytes here")
    if args.frames < 1:
        raise CliError(f"--frames {args.frames}: send at least one frame")
    out = console()
    lines: list[str] = []
    start = time.perf_counter()
    result = run_bare(args.frames, args.size, args.seed,
                      log=None if args.json else lines.append)
    wall = time.perf_counter() - start
    ok = result.frames_received == result.frames_sent and result.sha256_match
    if args.json:
        print_json({
            "ok": ok, "mode": "bare", "frames_sent": result.frames_sent,
            "frames_received": result.frames_received, "bytes": result.bytes_received,
            "sha256_match": result.sha256_match, "virtual_ns": result.virtual_ns,
            "wall_s": round(wall, 3), "device_faults": result.faults,
            "interrupt_causes": result.interrupts_causes, "counters": result.counters,
        })
        return 0 if ok else 1
    out.print("[bold]ixsim demo --bare[/]: two ixgb NICs back to back, driven by hand")
    for line in lines:
        out.print("  " + line)
    rows = [
        ("frames sent / received", f"{result.frames_sent} / {result.frames_received}"),
        ("bytes received", result.bytes_received),
        ("sha256 match", "yes" if result.sha256_match else "NO"),
        ("virtual time", f"{result.virtual_ns / 1000:.1f} us"),
        ("wall time", f"{wall * 1000:.1f} ms"),
        ("interrupt causes at b", ", ".join(f"{k}x{v}" for k, v in
                                            sorted(result.interrupts_causes.items()))),
        ("a GPTC / GOTC", f"{result.counters['a']['GPTCL']} / {result.counters['a']['GOTCL']}"),
        ("b GPRC / GORC", f"{result.counters['b']['GPRCL']} / {result.counters['b']['GORCL']}"),
        ("device faults", result.faults),
    ]
    out.print(table("summary", ("what", "value"), rows, ("left", "right")))
    return 0 if ok else 1
