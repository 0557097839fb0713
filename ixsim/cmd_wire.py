"""``ixsim wire``: cable two Linux interfaces through an ixsim cable, in real time.

``ixsim wire --netns A:10.9.0.1/24 --netns B:10.9.0.2/24 --latency 5ms --loss 0.01
--rate 100M`` makes network namespaces A and B (unless they exist), a tap in each with the
address given, and joins the taps with a cable that has the rate, latency and impairments
asked for; ``--tap NAME`` takes an existing tap interface instead of making a namespace.  It
runs until Ctrl-C (or ``--duration``) and removes everything it made on exit.  The wire's
semantics and how they differ from netem are in :mod:`ixsim.wire`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from device.backends.tap import TUN_PATH, TapError
from ixsim.cli import (
    MAX_LATENCY,
    MAX_REALTIME,
    CliError,
    check_writable,
    duration_arg,
    rate_arg,
)
from ixsim.netns import Unavailable
from ixsim.ui import console, print_json, table
from ixsim.wire import DEFAULT_LIMIT, NetnsEnd, TapEnd, Wire

STATUS_NS = 500_000_000


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "wire",
        help="join two Linux interfaces with an impaired ixsim cable "
        "(real time; a netem substitute)",
        description=__doc__,
    )
    p.add_argument(
        "--netns",
        action="append",
        default=[],
        metavar="NS:CIDR",
        help="an end: namespace NS (made if missing) with a tap addressed CIDR, "
        "e.g. A:10.9.0.1/24; give two ends in all",
    )
    p.add_argument(
        "--tap",
        action="append",
        default=[],
        metavar="IFNAME",
        help="an end: an existing tap interface of this namespace, as it is",
    )
    p.add_argument(
        "--latency", default="0us", metavar="T", help="one-way delay, e.g. 5ms (up to 10s)"
    )
    p.add_argument(
        "--jitter",
        default="0us",
        metavar="T",
        help="random extra delay up to T per frame (reorders, as netem's; T up to 10s)",
    )
    p.add_argument("--rate", default="10G", metavar="R", help="line rate, e.g. 100M, 1G (up to 1T)")
    p.add_argument("--loss", type=float, default=0.0, metavar="P", help="loss probability")
    p.add_argument("--dup", type=float, default=0.0, metavar="P", help="duplication probability")
    p.add_argument(
        "--corrupt",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of flipping one bit of a frame",
    )
    p.add_argument(
        "--reorder",
        type=float,
        default=0.0,
        metavar="P",
        help="probability of holding a frame back 100 µs",
    )
    p.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"frames queued per direction before drops (default {DEFAULT_LIMIT})",
    )
    p.add_argument("--mtu", type=int, help="MTU of the taps it makes")
    p.add_argument(
        "--pcap", metavar="FILE", help="record every frame delivered at either end to FILE"
    )
    p.add_argument(
        "--duration",
        metavar="T",
        help="exit by itself after T (e.g. 10s; seconds if bare; up to 30 days)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the impairments' RNG")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def _ends(args: argparse.Namespace) -> tuple[Any, Any]:
    ends: list[NetnsEnd | TapEnd] = []
    for text in args.netns:
        try:
            ends.append(NetnsEnd.parse(text))
        except ValueError as exc:
            raise CliError(f"--netns {exc}") from None
    for name in args.tap:
        if not 0 < len(name.encode()) < 16 or any(c in name for c in "/ :"):
            raise CliError(f"--tap {name!r}: 1-15 characters, no '/', ':' or blanks")
        ends.append(TapEnd(name))
    if len(ends) != 2:
        raise CliError(f"a wire has two ends: give two of --netns/--tap (got {len(ends)})")
    return ends[0], ends[1]


def _check(args: argparse.Namespace) -> dict[str, Any]:
    for what in ("loss", "dup", "corrupt", "reorder"):
        value = getattr(args, what)
        if not 0.0 <= value <= 1.0:
            raise CliError(f"--{what} {value}: a probability, 0..1")
    if args.limit < 1:
        raise CliError(f"--limit {args.limit}: at least 1 frame")
    if args.mtu is not None and not 68 <= args.mtu <= 65521:
        raise CliError(f"--mtu {args.mtu}: use 68..65521")
    latency = duration_arg(args.latency, "--latency", MAX_LATENCY)
    jitter = duration_arg(args.jitter, "--jitter", MAX_LATENCY)
    rate = rate_arg(args.rate, "--rate")
    duration = None
    if args.duration is not None:
        duration = duration_arg(args.duration, "--duration", MAX_REALTIME, bare_seconds=True)
    if args.pcap:
        check_writable(args.pcap, "--pcap")
    if os.geteuid() != 0:
        raise CliError("ixsim wire needs root (taps and namespaces need CAP_NET_ADMIN)")
    if not os.path.exists(TUN_PATH):
        raise CliError(f"{TUN_PATH} is missing: load the tun module (modprobe tun)")
    return {"latency": latency, "jitter": jitter, "rate": rate, "duration": duration}


def run(args: argparse.Namespace) -> int:
    ends = _ends(args)
    opts = _check(args)
    out = console()
    wire = Wire(
        ends,
        latency=opts["latency"],
        rate=opts["rate"],
        loss=args.loss,
        dup=args.dup,
        corrupt=args.corrupt,
        reorder=args.reorder,
        jitter=opts["jitter"],
        limit=args.limit,
        pcap=args.pcap,
        mtu=args.mtu,
        seed=args.seed,
    )
    try:
        wire.start()
    except (TapError, Unavailable, RuntimeError, ValueError) as exc:
        wire.close()
        raise CliError(str(exc)) from None
    t0 = time.monotonic()
    try:
        if not args.json:
            _banner(out, args, wire)
        _loop(wire, opts["duration"], live=sys.stdout.isatty() and not args.json)
        summary = {
            "ends": [_describe(e) for e in wire.ends],
            "latency_ns": opts["latency"],
            "rate_bps": opts["rate"],
            "loss": args.loss,
            "limit": args.limit,
            "wall_s": round(time.monotonic() - t0, 3),
            "directions": wire.stats(),
            "pcap_frames": wire.writer.packets if wire.writer else None,
        }
    finally:
        wire.close()
    if args.json:
        print_json(summary)
    else:
        _summary(out, summary)
    return 0


def _describe(end: NetnsEnd | TapEnd) -> str:
    return f"{end.ns}:{end.cidr}" if isinstance(end, NetnsEnd) else f"tap {end.ifname}"


def _loop(wire: Wire, duration: int | None, live: bool) -> None:
    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    world = wire.world
    end = None if duration is None else world.now + duration
    try:
        while end is None or world.now < end:
            world.run_for(STATUS_NS if end is None else min(STATUS_NS, end - world.now))
            if live:
                sys.stdout.write("\r" + _status(wire) + "\x1b[K")
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if live:
            sys.stdout.write("\n")


def _status(wire: Wire) -> str:
    parts = []
    for name, s in wire.stats().items():
        parts.append(
            f"{name} {s['delivered']} frames, {s['dropped_loss']} lost, "
            f"{s['dropped_queue']} over limit"
        )
    return "  ".join(parts)


def _banner(out: Any, args: argparse.Namespace, wire: Wire) -> None:
    ends = [_describe(e) for e in wire.ends]
    out.print(
        f"[bold]ixsim wire[/]: {ends[0]} <==> {ends[1]}  (rate {args.rate}, latency "
        f"{args.latency}, loss {args.loss:g}, limit {args.limit})"
    )
    for index, end in enumerate(wire.ends):
        if isinstance(end, NetnsEnd):
            other = wire.ends[1 - index]
            if isinstance(other, NetnsEnd):
                out.print(f"  try: ip netns exec {end.ns} ping {other.ip}")
            out.print(
                f"  {end.ns}: interface {wire.peer(index).ifname}; capture: "
                f"ip netns exec {end.ns} tcpdump -ni {wire.peer(index).ifname}"
            )
    out.print("  Ctrl-C to stop" + (f" (or after {args.duration})" if args.duration else ""))
    sys.stdout.flush()


def _summary(out: Any, s: dict[str, Any]) -> None:
    rows = []
    for name, d in s["directions"].items():
        rows.append(
            (
                name,
                d["frames"],
                d["delivered"],
                d["dropped_loss"],
                d["dropped_queue"],
                d["duplicated"],
                d["corrupted"],
            )
        )
    out.print(
        table(
            "ixsim wire: summary",
            ("direction", "frames", "delivered", "lost", "over limit", "duplicated", "corrupted"),
            rows,
            ("left", "right", "right", "right", "right", "right", "right"),
        )
    )
    out.print(
        f"wall time {s['wall_s']:.1f} s"
        + (f", {s['pcap_frames']} frames captured" if s["pcap_frames"] is not None else "")
    )
