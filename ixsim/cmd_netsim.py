"""``ixsim netsim``: the verb's arguments and output around :mod:`ixsim.netsim`'s table.

The measurement (two hosts, one transfer, the loss x RTT and reordering tables) is
:mod:`ixsim.netsim`; ``--against-linux`` runs :mod:`ixsim.against_linux`.  This module parses
and bounds the options (docs/design.md "Command-line limits"), picks the defaults, and prints
the tables or ``--json``.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ixsim import netsim
from ixsim.netsim import (
    LOSSES,
    REORDER_BYTES,
    REORDER_RTTS_NS,
    REORDERS,
    RTTS_NS,
    Point,
    default_bytes,
    dsack_share,
    fmt_rtt,
    format_reorder_table,
    format_table,
    line_rate_gbps,
    mathis_gbps,
    measure_points,
    reorder_specs,
    spurious_share,
    table_specs,
)

MAX_JOBS = 64  # --jobs: worker processes at most


def _size(text: str) -> int:
    """``--bytes``: ixsim.cli's size (1 byte to 1 TiB)."""
    from ixsim.cli import size_arg

    return size_arg(text)


def _floats(text: str) -> list[float]:
    """``P,P,...``: at least one number (the verb checks the range)."""
    import argparse

    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


def _durations(text: str) -> list[int]:
    """``--rtt T,T,...``: each a duration up to ``ixsim.cli.MAX_LATENCY`` (10 s)."""
    import argparse

    from ixsim.cli import MAX_LATENCY, check_duration

    try:
        values = [check_duration(x.strip(), MAX_LATENCY) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one round-trip time")
    return values


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "netsim",
        help="TCP goodput on a simulated 10 Gb/s link, by loss x RTT (virtual time)",
        description=netsim.__doc__.split("\n\n")[0] + " Prints the table kept as "
        "tests/snapshots/netsim.txt; every figure is virtual time, deterministic for the seed.")
    p.add_argument("--loss", type=_floats, default=None, metavar="P,P,...",
                   help="loss probabilities of the data direction (default 0,0.0001,0.001,0.01;"
                   " 0.001,0.01 with --against-linux)")
    p.add_argument("--rtt", type=_durations, default=None, metavar="T,T,...",
                   help="round-trip times, e.g. 100us,1ms,10ms (the default; 10ms,40ms with "
                   "--against-linux, which needs 10ms or more), each up to 10s")
    p.add_argument("--reorder", type=_floats, default=None, metavar="P,P,...",
                   help="reordering probabilities of the second table, measured at 100us and "
                   "1ms with 0.1%% loss (default 0.01,0.05 with the default grid, else none); "
                   "with --against-linux, added to each point (default none)")
    p.add_argument("--reorder-delay", default=None, metavar="T",
                   help="with --against-linux and --reorder: how long a reordered data frame "
                   "is held back on both stacks' cable, 1ms..1s (default 2ms)")
    p.add_argument("--bytes", type=_size, default=None, metavar="SIZE",
                   help="bytes per point, e.g. 64M, from 1 byte to 1T (default: by loss and "
                   "RTT, see the docs)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--cc", default="cubic", help="congestion control: cubic (default), reno or bbr")
    p.add_argument("--jobs", type=int, default=1,
                   help=f"points measured in parallel processes (1..{MAX_JOBS})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--against-linux", action="store_true",
                   help="run each point also between two Linux namespaces over `ixsim wire` "
                   "(real time, needs root) and print both side by side")
    p.add_argument("--rate", default=None, metavar="R",
                   help="cable rate for --against-linux (default 100M, up to 1T)")
    p.add_argument("--repeat", type=int, default=None, metavar="N",
                   help="runs per point and side for --against-linux, with seeds seed.."
                   "seed+N-1; goodputs are averaged (default 3, at most 100)")
    p.set_defaults(func=_run_cli)


def point_json(point: Point) -> dict[str, Any]:
    flow, info = point.flow, point.flow.sender_info
    mathis = mathis_gbps(point.loss, point.rtt_ns)
    return {
        "loss": point.loss,
        "rtt_ns": point.rtt_ns,
        "bytes": point.nbytes,
        "goodput_gbps": flow.steady_gbps,
        "total_gbps": flow.gbps,
        "line_rate_gbps": line_rate_gbps(),
        "mathis_gbps": None if math.isinf(mathis) else mathis,
        "virtual_ns": flow.ns,
        "min_rtt_us": info.min_rtt,
        "srtt_us": info.rtt,
        "snd_cwnd": info.snd_cwnd,
        "retrans_segs": flow.counter("sender", "tcp.RetransSegs"),
        "timeouts": flow.counter("sender", "tcpext.TCPTimeouts"),
        "wall_s": flow.wall_s,
        "reorder": point.reorder,
        "spurious_share": spurious_share(point),
        "fast_retrans_segs": point.fast_retrans[1] if point.fast_retrans else None,
        "spurious_fast_retrans_segs": point.fast_retrans[0] if point.fast_retrans else None,
        "dsack_segs": flow.counter("sender", "tcpext.TCPDSACKRecvSegs"),
        "dsack_share": dsack_share(flow),
        "fast_retrans": flow.counter("sender", "tcpext.TCPFastRetrans"),
    }


def _run_cli(args: Any) -> int:
    import json
    import sys

    from ixsim.cli import CliError

    try:
        from stack.tcp.cong import find

        find(args.cc)
    except OSError:
        raise CliError(f"unknown congestion control {args.cc!r}") from None
    if args.against_linux:
        return _run_against_linux(args)
    if args.rate is not None:
        raise CliError("--rate is for --against-linux; netsim's own table runs at 10 Gbit/s")
    if args.repeat is not None:
        raise CliError("--repeat is for --against-linux; netsim's own table is deterministic")
    if args.reorder_delay is not None:
        raise CliError("--reorder-delay is for --against-linux; netsim's own reordering table "
                       "holds frames back 100us")
    reorder_default = args.loss is None and args.rtt is None
    args.loss = list(LOSSES) if args.loss is None else args.loss
    args.rtt = list(RTTS_NS) if args.rtt is None else args.rtt
    if any(not 0 <= p < 1 for p in args.loss) or any(r <= 0 for r in args.rtt):
        raise CliError("losses must be in [0, 1) and round-trip times positive")
    if not 1 <= args.jobs <= MAX_JOBS:
        raise CliError(f"--jobs {args.jobs}: 1..{MAX_JOBS}")
    sizes = (lambda loss, rtt: args.bytes) if args.bytes else default_bytes

    def note(point: Point) -> None:
        if not args.json:
            print(
                f"  measured loss {point.loss:g} reorder {point.reorder:g} "
                f"rtt {fmt_rtt(point.rtt_ns)}: "
                f"{point.goodput_gbps:.3f} Gbit/s, {point.flow.wall_s:.1f} s wall",
                file=sys.stderr,
            )

    default_grid = reorder_default
    reorders = [
        p for p in (REORDERS if args.reorder is None and default_grid else args.reorder or []) if p
    ]
    if any(not 0 < p < 1 for p in reorders):
        raise CliError("reordering probabilities must be in [0, 1)")
    started = time.perf_counter()
    specs: list[tuple[float, ...]] = [*table_specs(args.loss, args.rtt, sizes)]
    specs += reorder_specs(reorders, args.bytes or REORDER_BYTES)
    points = measure_points(specs, args.seed, args.cc, args.jobs, note)
    wall = time.perf_counter() - started
    split = len(points) - len(reorders) * len(REORDER_RTTS_NS)
    lossy, reordered = points[:split], points[split:]
    if args.json:
        print(
            json.dumps(
                {
                    "seed": args.seed,
                    "cc": args.cc,
                    "wall_s": wall,
                    "points": [point_json(p) for p in lossy],
                    "reorder_points": [point_json(p) for p in reordered],
                },
                indent=2,
            )
        )
    else:
        print(format_table(lossy, args.seed, args.cc), end="")
        if reordered:
            print(format_reorder_table(reordered), end="")
        print(f"({len(points)} points, {wall:.1f} s wall)", file=sys.stderr)
    return 0


def _run_against_linux(args: Any) -> int:
    import json
    import sys

    from ixsim import against_linux
    from ixsim.cli import CliError, duration_arg, rate_arg

    losses = list(against_linux.LOSSES) if args.loss is None else args.loss
    rtts = list(against_linux.RTTS_NS) if args.rtt is None else args.rtt
    if any(not 0 <= p < 1 for p in losses):
        raise CliError("losses must be in [0, 1)")
    if any(r < against_linux.MIN_RTT_NS for r in rtts):
        raise CliError("--against-linux needs round-trip times of 10ms or more "
                       "(real time is faithful there)")
    repeat = against_linux.DEFAULT_REPEAT if args.repeat is None else args.repeat
    if not 1 <= repeat <= 100:
        raise CliError("--repeat must be between 1 and 100")
    if args.cc != "cubic":
        raise CliError("--against-linux compares cubic with the kernel's default; "
                       "--cc is not supported with it")
    rate = (against_linux.DEFAULT_RATE_BPS if args.rate is None
            else rate_arg(args.rate, "--rate"))
    reorders = args.reorder or []
    if any(not 0 < p < 1 for p in reorders):
        raise CliError("reordering probabilities must be in (0, 1)")
    if args.reorder_delay is not None and not reorders:
        raise CliError("--reorder-delay needs --reorder")
    delay = (against_linux.DEFAULT_REORDER_DELAY_NS if args.reorder_delay is None
             else duration_arg(args.reorder_delay, "--reorder-delay",
                               against_linux.MAX_REORDER_DELAY_NS))
    if delay < against_linux.MIN_REORDER_DELAY_NS:
        raise CliError("--reorder-delay must be 1ms or more with --against-linux "
                       "(real time is faithful there)")
    available, reason = against_linux.available()
    if not available:
        raise CliError(f"--against-linux: {reason}")

    def note(c: Any) -> None:
        if not args.json:
            print(
                f"  measured loss {c.loss:g} reorder {c.reorder:g} rtt {fmt_rtt(c.rtt_ns)}: ixsim "
                f"{c.ixsim.goodput_mbps:.2f}, linux {c.linux.goodput_mbps:.2f} Mbit/s",
                file=sys.stderr,
            )

    started = time.perf_counter()
    try:
        points = against_linux.compare(losses, rtts, rate, args.seed, args.bytes, note, repeat,
                                       reorders or (0.0,), delay)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    wall = time.perf_counter() - started
    if args.json:
        print(json.dumps({"seed": args.seed, "rate_bps": rate, "wall_s": round(wall, 1),
                          "repeat": repeat, "points": [c.json() for c in points]}, indent=2))
    else:
        print(against_linux.format_table(points, rate, args.seed), end="")
        print(f"({len(points)} points, {wall:.1f} s wall)", file=sys.stderr)
    return 0
