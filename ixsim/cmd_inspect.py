"""``ixsim regs|ring|stats``: one look at a freshly built world, without the prompt.

Each verb builds a scenario (``--scenario b2b|router``), runs it for ``--after`` (default
10 ms: drivers probed, links up), sends a little traffic from ``a`` (``--traffic N``: N
pings when the IPv4 stack is attached, else N raw broadcast frames through the driver; then
1 ms to deliver them), prints what the debugger's command of the same name prints, and
exits.  ``--host H`` (or ``H:IFACE``) narrows to one NIC; ``--json`` prints one object.

    ixsim regs --host a STATUS ICR        # the shell's 'regs a STATUS ICR'
    ixsim ring --host a tx --json
    ixsim stats --scenario router --host r:eth1
"""

from __future__ import annotations

import argparse
from typing import Any

from ixsim.cli import CliError
from ixsim.shell import SCENARIOS, ShellError, build_world
from ixsim.shell import hwview as V
from ixsim.shell.scenario import DEFAULT_AFTER
from ixsim.shell.target import NicRef, all_nics, parse_int, parse_time, registers, resolve_nic
from ixsim.shell.traffic import build_frames, send_frames
from ixsim.ui import print_json

SETTLE = "1ms"


def add_parser(sub: argparse._SubParsersAction) -> None:
    regs = _common(sub.add_parser(
        "regs", help="registers of a fresh world, decoded (peeked: no side effects)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    regs.add_argument("names", nargs="*", metavar="NAME",
                      help="registers to decode field by field (default: ethtool -d order)")
    regs.set_defaults(func=run_regs)
    ring = _common(sub.add_parser(
        "ring", help="descriptor rings of a fresh world with HEAD/TAIL/NTU/NTC",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    ring.add_argument("kind", nargs="?", choices=("tx", "rx"), help="one ring (default both)")
    ring.add_argument("slots", nargs="?", metavar="FROM[:TO]", help="slots to show")
    ring.set_defaults(func=run_ring)
    stats = _common(sub.add_parser(
        "stats", help="the driver's ethtool statistics after a little traffic",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter))
    stats.set_defaults(func=run_stats)


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--scenario", choices=sorted(SCENARIOS),
                   help="b2b: a - b (default); router: a - r - b")
    p.add_argument("--topology", metavar="FILE",
                   help="build the world from a topology file (TOML; README "
                        "'Topology files') instead of a scenario")
    p.add_argument("--after", default=DEFAULT_AFTER,
                   help=f"virtual time to run first (default {DEFAULT_AFTER})")
    p.add_argument("--traffic", type=int, default=4, metavar="N",
                   help="pings or raw frames a sends after that (default 4; 0: none)")
    p.add_argument("--host", metavar="H[:IFACE]", help="one NIC (default: every NIC)")
    p.add_argument("--seed", type=int, help="world seed (default 1, or the topology's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _world(args: argparse.Namespace) -> tuple[Any, list[NicRef]]:
    try:
        world = build_world(args.scenario, args.seed, parse_time(args.after, "--after"),
                            topology=args.topology)
        if args.traffic < 0:
            raise ShellError(f"bad --traffic {args.traffic}: 0 or more")
        if args.traffic:
            _traffic(world, args.traffic)
            world.run_for(SETTLE)
        refs = [resolve_nic(world, args.host)] if args.host else all_nics(world)
    except ShellError as exc:
        raise CliError(str(exc)) from None
    return world, refs


def _traffic(world: Any, n: int) -> None:
    hosts = list(world.hosts.values())
    src, dst = hosts[0], hosts[-1]
    if getattr(src, "ping", None) is not None and dst.addresses:
        src.ping(dst.addresses[0][1].split("/")[0], count=n)
        return
    ref = all_nics(world)[0]
    send_frames(ref, build_frames(ref, [f"count={n}", "len=100"]))


def _key(ref: NicRef) -> str:
    return f"{ref.host.name}:{ref.iface}"


def run_regs(args: argparse.Namespace) -> int:
    world, refs = _world(args)
    try:
        regs = registers(args.names) if args.names else None
    except ShellError as exc:
        raise CliError(str(exc)) from None
    with world:
        if args.json:
            chosen = regs or V.dump_regs()
            print_json({"time_ns": world.now, "nics": {
                _key(ref): {reg.name: V.reg_data(ref, reg) for reg in chosen} for ref in refs}})
            return 0
        for ref in refs:
            print("\n".join(V.regs_detail_lines(ref, regs) if regs else V.regs_dump_lines(ref)))
    return 0


def run_ring(args: argparse.Namespace) -> int:
    world, refs = _world(args)
    kinds = (args.kind,) if args.kind else ("tx", "rx")
    lo = hi = None
    try:
        if args.slots:
            first, sep, last = args.slots.partition(":")
            lo = parse_int(first, "slot", 0)
            hi = parse_int(last, "slot", 0) if sep else lo
        data = {_key(ref): {k: V.ring_data(ref, k, lo, hi) for k in kinds} for ref in refs}
    except ShellError as exc:
        raise CliError(str(exc)) from None
    with world:
        if args.json:
            print_json({"time_ns": world.now, "nics": data})
            return 0
        for rings in data.values():
            for ring in rings.values():
                print("\n".join(V.ring_lines(ring, collapse=lo is None)))
    return 0


def run_stats(args: argparse.Namespace) -> int:
    world, refs = _world(args)
    with world:
        if args.json:
            out = {}
            for ref in refs:
                stats, source = V.stats_data(ref)
                out[_key(ref)] = {"source": source, "stats": stats}
            print_json({"time_ns": world.now, "nics": out})
            return 0
        for ref in refs:
            print("\n".join(V.stats_lines(ref)))
    return 0
