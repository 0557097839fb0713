"""``ixsim demo``: two emulated hosts cabled back to back, on virtual time.

Link up, ARP, a ping, a TCP bulk transfer with a progress bar, then a summary.  ``--bare``
drives the two NICs by register and descriptor writes alone (no driver, no stack), the way a
driver developer first meets the hardware.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from ixsim.baremetal import run_bare
from ixsim.cli import (
    MAX_LATENCY,
    CliError,
    add_driver_option,
    check_writable,
    duration_arg,
    load_driver_option,
    size_arg,
)
from ixsim.demo import run_demo
from ixsim.plot import MatplotlibMissing
from ixsim.plot.runs import TcpPlot
from ixsim.ui import console, print_json, table

MAX_BARE_FRAMES = 10_000  # --bare gives each frame a buffer: 64 MiB of guest memory holds ~40k


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="two hosts back to back: link, frames, counters", description=__doc__
    )
    add_run_options(p)
    p.add_argument(
        "--pcap",
        metavar="FILE",
        help="record the cable to a pcap file (checked writable before the run)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="draw the sender's TCP state over time (cwnd, ssthresh, srtt, bytes "
        "in flight) to FILE (.png, .svg, .pdf; needs matplotlib)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--bare",
        action="store_true",
        help="no driver: move frames by register and descriptor writes only",
    )
    add_driver_option(p, "both hosts' NICs")
    p.add_argument(
        "--frames", type=int, default=32, help=f"frames to send (--bare; 1..{MAX_BARE_FRAMES})"
    )
    p.add_argument("--size", type=int, default=1514, help="frame size in bytes (--bare)")
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser, default_bytes: str = "16M") -> None:
    """The scenario's options, shared with the verbs that run it (``ixsim plot tcp``)."""
    p.add_argument(
        "--bytes",
        type=size_arg,
        default=size_arg(default_bytes),
        metavar="N",
        help=f"bytes to transfer over TCP (suffixes K, M, G, T; 1 byte to 1T; "
        f"default {default_bytes})",
    )
    p.add_argument(
        "--loss",
        type=float,
        default=0.0,
        metavar="P",
        help="frame loss probability on the cable, each way (e.g. 0.01)",
    )
    p.add_argument(
        "--latency",
        default="50us",
        metavar="T",
        help="one-way cable latency, up to 10s (default 50us)",
    )
    p.add_argument("--mtu", type=int, default=1500, metavar="N", help="MTU of both NICs")
    p.add_argument("--seed", type=int, default=1, help="world seed (same seed, same run)")


def check_run_options(args: argparse.Namespace) -> None:
    """Refuse out-of-range scenario options with one CliError line."""
    if not 0.0 <= args.loss < 1.0:
        raise CliError(f"--loss {args.loss}: a probability in [0, 1)")
    if not 68 <= args.mtu <= 16114:
        raise CliError(f"--mtu {args.mtu}: the ixgb driver accepts 68..16114")
    duration_arg(args.latency, "--latency", MAX_LATENCY)


def run(args: argparse.Namespace) -> int:
    if args.bare:
        return run_bare_demo(args)
    return run_full_demo(args)


def run_full_demo(args: argparse.Namespace) -> int:
    check_run_options(args)
    if args.pcap:
        check_writable(args.pcap, "--pcap")
    driver = load_driver_option(getattr(args, "driver", None))
    try:  # refuse a missing matplotlib or a bad output path now, not after the run
        plot = TcpPlot(args.plot) if args.plot else None
    except MatplotlibMissing as exc:
        print(exc, file=sys.stderr)
        return 2
    except ValueError as exc:
        raise CliError(f"--plot: {exc}") from None
    out = console()
    quiet = args.json
    if not quiet:
        out.print(
            f"[bold]ixsim demo[/]: hosts a (10.0.0.1) and b (10.0.0.2), ixgb NICs back to "
            f"back, {args.latency} latency, loss {args.loss}, MTU {args.mtu}, "
            f"seed {args.seed}"
        )
    progress_bar = Progress(
        TextColumn("  TCP a -> b"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TextColumn("virtual {task.fields[vt]}"),
        console=out,
        transient=False,
        disable=quiet or not out.is_terminal,
    )
    state = {"last_pct": -1}

    def progress(done: int, total: int) -> None:
        if quiet:
            return
        if out.is_terminal:
            progress_bar.update(task, completed=done, vt=f"{done * 100 // total}%")
        else:
            pct = done * 100 // total
            if pct // 25 != state["last_pct"] // 25:
                state["last_pct"] = pct
                out.print(f"  TCP a -> b: {done:,} / {total:,} bytes ({pct}%)")

    say = (lambda text: None) if quiet else (lambda text: out.print("  " + text))
    with progress_bar:
        task = progress_bar.add_task("tcp", total=args.bytes, vt="0%")
        try:
            result = run_demo(
                args.bytes,
                args.loss,
                args.latency,
                args.mtu,
                args.seed,
                args.pcap,
                say=say,
                progress=progress,
                observe=plot.observe if plot else None,
                driver=driver,
            )
        except ValueError as exc:
            raise CliError(str(exc)) from None
        except OSError as exc:  # the capture file: the disk filled up during the run
            if not args.pcap:
                raise
            raise CliError(f"--pcap {args.pcap}: cannot write: {exc.strerror or exc}") from None
    if plot is not None:
        try:
            plot.save()
        except (OSError, ValueError) as exc:
            raise CliError(f"--plot: {exc}") from None
    if args.json:
        print_json(result.to_json())
        return 0 if result.ok else 1
    rows = [
        ("bytes transferred", f"{result.bytes:,}"),
        ("sha256 match", "yes" if result.sha256_match else "NO"),
        ("goodput (virtual time)", f"{result.goodput_virtual_gbps:.3f} Gbit/s"),
        ("goodput (wall clock)", f"{result.goodput_wall_mbps:.1f} Mbit/s"),
        (
            "transfer time",
            f"{result.transfer_virtual_s * 1e3:.3f} ms virtual, "
            f"{result.transfer_wall_s:.2f} s wall",
        ),
        ("retransmissions", result.retransmits),
        ("interrupts", result.interrupts),
        ("NAPI polls", result.napi_polls),
        ("frames per interrupt", f"{result.frames_per_interrupt:.1f}"),
        ("ping rtt", f"{result.ping_rtt_us:.1f} us" if result.ping_rtt_us else "-"),
        ("device faults", result.device_faults),
    ]
    out.print(table("summary", ("what", "value"), rows, ("left", "right")))
    if args.pcap:
        out.print(f"  capture written to {args.pcap} (tcpdump -r {args.pcap})")
    if plot is not None:
        out.print(f"  TCP plot written to {args.plot} ({plot.samples} tcp_probe samples)")
    return 0 if result.ok else 1


def run_bare_demo(args: argparse.Namespace) -> int:
    if args.plot:
        raise CliError("--plot draws the TCP transfer: it does not apply to --bare")
    if args.driver:
        raise CliError("--bare drives the NICs without a driver: --driver does not apply")
    if not 60 <= args.size <= 1514:
        raise CliError(f"--size {args.size}: frames are 60..1514 bytes here")
    if not 1 <= args.frames <= MAX_BARE_FRAMES:
        raise CliError(
            f"--frames {args.frames}: 1..{MAX_BARE_FRAMES} (each frame gets its own "
            "buffer in the host's guest memory)"
        )
    out = console()
    lines: list[str] = []
    start = time.perf_counter()
    result = run_bare(args.frames, args.size, args.seed, log=None if args.json else lines.append)
    wall = time.perf_counter() - start
    ok = result.frames_received == result.frames_sent and result.sha256_match
    if args.json:
        print_json(
            {
                "ok": ok,
                "mode": "bare",
                "frames_sent": result.frames_sent,
                "frames_received": result.frames_received,
                "bytes": result.bytes_received,
                "sha256_match": result.sha256_match,
                "virtual_ns": result.virtual_ns,
                "wall_s": round(wall, 3),
                "device_faults": result.faults,
                "interrupt_causes": result.interrupts_causes,
                "counters": result.counters,
            }
        )
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
        (
            "interrupt causes at b",
            ", ".join(f"{k}x{v}" for k, v in sorted(result.interrupts_causes.items())),
        ),
        ("a GPTC / GOTC", f"{result.counters['a']['GPTCL']} / {result.counters['a']['GOTCL']}"),
        ("b GPRC / GORC", f"{result.counters['b']['GPRCL']} / {result.counters['b']['GORCL']}"),
        ("device faults", result.faults),
    ]
    out.print(table("summary", ("what", "value"), rows, ("left", "right")))
    return 0 if ok else 1
