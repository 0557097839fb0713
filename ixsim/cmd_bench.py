"""``ixsim bench``: the performance figures of docs/design.md, in one run.

Raw frames per second through driver -> device -> cable -> device -> driver (64 and 1514
bytes), TCP between two emulated hosts (wall clock and virtual time), Linux over a tap, and
memory with 1,000 connections; figures whose prerequisites are missing are reported as
skipped, with the reason.  Beside these wall-clock figures, counted ones that do not depend
on the machine or its load: Python and C function calls per 64- and 1514-byte frame, per 1448
bytes of TCP payload and per request/response transaction, and scheduler events per frame,
split by layer (ixsim/bench/cost.py says what is counted).  ``--json`` prints one object
with every figure (null where skipped), the machine, the targets, and ``scaling`` and
``costs`` sections; ``--quick`` shrinks every timed run for CI (the counted passes are the
same size); ``--profile`` also writes a cProfile of the frames hot path and prints its top ten.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ixsim.bench import cost, runner
from ixsim.ui import console, print_json, table

_UNITS = {
    "frames_pps_64": "frames/s",
    "frames_pps_1514": "frames/s",
    "tcp_b2b_mbps": "Mbit/s",
    "tcp_b2b_jumbo_mbps": "Mbit/s",
    "tcp_virtual_gbps": "Gbit/s",
    "tcp_rr_per_s": "transactions/s",
    "tap_tcp_mbps": "Mbit/s",
    "tap_ping_median_us": "µs",
    "tap_rr_median_us": "µs",
    "memory_peak_rss_mib": "MiB",
    "calls_per_frame_64": "calls/frame",
    "calls_per_frame_1514": "calls/frame",
    "calls_per_tcp_mss": "calls/1448 B",
    "calls_per_rr": "calls/transaction",
    "events_per_frame_64": "events/frame",
}
# The split table's columns: cost section -> heading.
_COST_COLUMNS = {
    "calls_per_frame_64": "64 B frame",
    "calls_per_frame_1514": "1514 B frame",
    "calls_per_tcp_mss": "TCP 1448 B",
    "calls_per_rr": "request/response",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="performance figures: frames/s, TCP, tap, memory", description=__doc__
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small runs (CI: well under a minute); figures are noisier",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--profile",
        nargs="?",
        const="ixsim-bench.prof",
        metavar="FILE",
        help="cProfile the frames hot path into FILE (default ixsim-bench.prof) "
        "and print the top ten functions by tottime",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = console()
    progress = None if args.json else (lambda line: out.print(f"[dim]running {line}[/]"))
    result = runner.run(quick=args.quick, log=progress)
    profile_text = ""
    if args.profile:
        n = runner.sizes(args.quick)["64"] * 2
        profile_text = runner.profile_frames(args.profile, n)
        result["profile"] = {"file": args.profile, "frames": n}
    if args.json:
        print_json(result)
        if profile_text:
            print(profile_text, file=sys.stderr)
        return 0
    _report(out, result)
    if profile_text:
        out.print(
            f"\n[bold]profile[/] of the 64-byte frames path written to {args.profile}; "
            "top ten by tottime:"
        )
        out.print(profile_text, markup=False, highlight=False)
    return 0


def _target(target: dict[str, Any] | None) -> str:
    if not target:
        return ""
    bound = f"≥ {target['min']:,}" if "min" in target else f"≤ {target['max']:,}"
    return bound + {True: " ✓", False: " ✗", None: ""}[target["met"]]


def _report_costs(out: Any, costs: dict[str, Any]) -> None:
    """Calls per unit by layer: all calls, and in brackets those of Python functions."""
    columns = [name for name in _COST_COLUMNS if name in costs]
    if not columns:
        return
    layers = [layer for layer in cost.LAYERS if any(layer in costs[n]["layers"] for n in columns)]
    rows = []
    for layer in layers:
        row = [layer]
        for name in columns:
            split = costs[name]["layers"].get(layer)
            units = costs[name]["units"]
            row.append(
                f"{split['per_unit']:,.1f} ({split['python'] / units:,.1f})" if split else ""
            )
        rows.append(tuple(row))
    totals = [
        f"{c['value']:,.1f} ({c['python_calls'] / c['units']:,.1f})"
        for c in (costs[n] for n in columns)
    ]
    rows.append(("total", *totals))
    rows.append(("scheduler events", *(f"{costs[n]['events_per_unit']:,.1f}" for n in columns)))
    out.print(
        table(
            "counted cost per unit by layer: all calls (Python functions); C calls are charged "
            "to the layer that makes them",
            ("layer", *(_COST_COLUMNS[n] for n in columns)),
            rows,
            justify=("left", *("right" for _ in columns)),
        )
    )


def _report(out: Any, result: dict[str, Any]) -> None:
    out.print(
        f"[bold]ixsim bench[/]{' --quick' if result['quick'] else ''}: "
        f"{result['cpu']}, Python {result['python']}, fastpath {result['implementation']}"
    )
    rows = []
    for name in _UNITS:
        value = result.get(name)
        target = _target(result["targets"].get(name))
        if value is None:
            rows.append((name, "-", target, result["skipped"].get(name, "")))
        else:
            if name.startswith(("calls_", "events_")):
                shown = f"{value:,.1f}"
            elif isinstance(value, int) or value >= 100:
                shown = f"{value:,.0f}"
            else:
                shown = f"{value:g}"
            note = "counted, not timed" if name.startswith(("calls_", "events_")) else ""
            rows.append((name, f"{shown} {_UNITS[name]}", target, note))
    out.print(
        table(
            None,
            ("figure", "value", "target", "note"),
            rows,
            justify=("left", "right", "right", "left"),
        )
    )
    _report_costs(out, result["costs"])
    rows = []
    for name, sc in result["scaling"].items():
        if not name.startswith("frames_"):
            continue
        for run_name in ("short", "long"):
            r = sc[run_name]
            rows.append(
                (
                    name,
                    run_name,
                    f"{r['frames']:,}",
                    f"{r['pps']:,}",
                    f"{r['ns_per_frame']:,.0f}",
                    f"{r['ns_per_byte']:.2f}",
                )
            )
        rows.append(
            (
                name,
                "long/short",
                "",
                "",
                f"x{sc['ns_per_frame_ratio']:.2f}",
                f"x{sc['ns_per_byte_ratio']:.2f}",
            )
        )
    out.print(
        table(
            "scaling (flat = no cost grows with the run)",
            ("bench", "run", "frames", "frames/s", "ns/frame", "ns/byte"),
            rows,
            justify=("left", "left", "right", "right", "right", "right"),
        )
    )
    tcp_sc = result["scaling"].get("tcp_bytes")
    conn_sc = result["scaling"].get("connections")
    rows = []
    if tcp_sc:
        for run_name in ("short", "long"):
            r = tcp_sc[run_name]
            rows.append(
                ("tcp bytes", run_name, f"{r['bytes']:,} B", f"{r['ns_per_byte']:.1f} ns/B")
            )
        rows.append(("tcp bytes", "long/short", "", f"x{tcp_sc['ns_per_byte_ratio']:.2f}"))
    if conn_sc:
        for run_name in ("short", "long"):
            r = conn_sc[run_name]
            rows.append(
                (
                    "connections",
                    run_name,
                    f"{r['connections']:,}",
                    f"{r['per_connection_kib']:.1f} KiB/conn",
                )
            )
        rows.append(
            ("connections", "long/short", "", f"x{conn_sc['kib_per_connection_ratio']:.2f}")
        )
    if rows:
        out.print(
            table(
                "scaling of TCP (10x the bytes, 10x the connections)",
                ("bench", "run", "size", "cost"),
                rows,
                justify=("left", "left", "right", "right"),
            )
        )
    rows = [
        (name, "-" if value is None else f"{value:g}") for name, value in result["ratios"].items()
    ]
    out.print(
        table(
            "ratios to reference figures (other implementations, other machines)",
            ("ratio", "value"),
            rows,
            justify=("left", "right"),
        )
    )
