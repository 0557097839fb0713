"""Run every benchmark once and gather the figures into one dict (``ixsim bench``'s body).

The result holds every figure by name, ``None`` where it was skipped, with the reason in
``skipped``; the machine it ran on (CPU model from /proc/cpuinfo, Python version, fastpath
implementation); ``scaling`` (cost per frame and per byte for a run and a run 10x longer,
both frame lengths: flat means no cost grows with the run); ``details`` (per-figure extras);
``costs`` (the counted figures of :mod:`ixsim.bench.cost` -- calls and scheduler events per
frame, per 1448 bytes of TCP payload and per transaction, split by layer: the same integers
on any machine, in ``--quick`` runs too); ``targets`` (issue 18's, each with whether it is
met); and ``ratios`` against the reference figures of other implementations, which were
measured on other machines, so only ratios travel.
"""

from __future__ import annotations

import cProfile
import io
import platform
import pstats
import time
from collections.abc import Callable
from typing import Any

import fastpath
from ixsim.bench import cost, frames, memory, tap, tcp

# Reference figures (other implementations, other machines): see the README's Performance.
REFERENCE = {
    "pytcp_mbps": 150.0,  # PyTCP, a pure-Python TCP/IP stack, over a tap
    "ixy_py_pps": 160_000.0,  # ixy.py, a pure-Python user-space ixgbe driver
    "linux_veth_mbps": 36_000.0,  # Linux TCP over a veth pair
}

FIGURES = (
    "frames_pps_64",
    "frames_pps_1514",
    "tcp_b2b_mbps",
    "tcp_b2b_jumbo_mbps",
    "tcp_virtual_gbps",
    "tcp_rr_per_s",
    "tap_tcp_mbps",
    "tap_ping_median_us",
    "tap_rr_median_us",
    "memory_peak_rss_mib",
    *cost.FIGURES,  # counted, not timed: the same on any machine (ixsim/bench/cost.py)
)

# The issue-18 targets: figure -> ("min" | "max", bound).  Wall figures are for a quiet
# machine; the counted ones hold anywhere.
TARGETS: dict[str, tuple[str, float]] = {
    "frames_pps_64": ("min", 150_000),
    "tcp_b2b_mbps": ("min", 500),
    "tcp_b2b_jumbo_mbps": ("min", 1_500),
    "tcp_rr_per_s": ("min", 5_000),
    "tap_ping_median_us": ("max", 200),
    "calls_per_frame_64": ("max", 60),
}

# Frame lengths without FCS: 60 is a 64-byte frame on the wire, 1514 a full standard one.
LENGTHS = {"64": 60, "1514": 1514}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "implementation": fastpath.IMPLEMENTATION,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "platform": platform.platform(terse=True),
    }


def sizes(quick: bool) -> dict[str, int]:
    """Frames per timed run (the short one; the scaling run is 10x this)."""
    if quick:
        return {"64": 2_000, "1514": 1_000}
    return {"64": 20_000, "1514": 10_000}


def profile_frames(path: str, frames_n: int, top: int = 10) -> str:
    """cProfile the 64-byte frames bench into ``path``; the top functions by tottime."""
    prof = cProfile.Profile()
    frames.measure(LENGTHS["64"], frames_n, profile=prof)
    prof.dump_stats(path)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def run(quick: bool = False, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every figure; ``log`` hears one line per step (the human output's progress)."""
    say = log or (lambda _line: None)
    t0 = time.perf_counter()
    result: dict[str, Any] = {"quick": quick, **machine()}
    skipped: dict[str, str] = {}
    details: dict[str, Any] = {}
    scaling: dict[str, Any] = {}
    repeat = 1 if quick else 3
    for name, length in LENGTHS.items():
        n = sizes(quick)[name]
        say(f"frames {name}: {n} and {10 * n} frames")
        short = frames.measure(length, n)
        long_best, rates = frames.best_of(length, 10 * n, repeat)
        key = f"frames_pps_{name}"
        result[key] = round(long_best.pps)
        details[key] = {**long_best.as_dict(), "runs_pps": rates}
        scaling[f"frames_{name}"] = {
            "short": short.as_dict(),
            "long": long_best.as_dict(),
            "ns_per_frame_ratio": round(long_best.ns_per_frame / short.ns_per_frame, 3),
            "ns_per_byte_ratio": round(long_best.ns_per_byte / short.ns_per_byte, 3),
        }
    say("tcp")
    tcp_ok, _reason = tcp.available()
    if tcp_ok:
        scaling["tcp_bytes"] = _tcp_scaling(quick)
    for key, fig in tcp.measure(quick).items():
        result[key] = fig["value"]
        if fig["skipped"]:
            skipped[key] = fig["skipped"]
    say("tap")
    for key, fig in tap.measure(quick).items():
        result[key] = fig["value"]
        if fig["skipped"]:
            skipped[key] = fig["skipped"]
    say("memory")
    mem = memory.measure(quick)
    result["memory_peak_rss_mib"] = mem.pop("value")
    reason = mem.pop("skipped")
    if reason:
        skipped["memory_peak_rss_mib"] = reason
    elif mem:
        details["memory_peak_rss_mib"] = mem
    if tcp_ok and not quick:
        small = memory.measure_count(memory.CONNECTIONS // 10)
        if small.get("per_connection_kib") and mem.get("per_connection_kib"):
            scaling["connections"] = {
                "short": small,
                "long": mem,
                "kib_per_connection_ratio": round(
                    mem["per_connection_kib"] / small["per_connection_kib"], 3
                ),
            }
    say("counted passes (calls and events per unit of work)")
    counted = cost.measure(say)
    result.update(counted["figures"])
    skipped.update(counted["skipped"])
    result["costs"] = counted["costs"]
    result["targets"] = targets(result)
    result["skipped"] = skipped
    result["details"] = details
    result["scaling"] = scaling
    result["ratios"] = ratios(result)
    result["reference"] = dict(REFERENCE)
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    return result


def _tcp_scaling(quick: bool) -> dict[str, Any]:
    """Wall-clock cost per byte of a TCP transfer and of one 10x longer (flat = good)."""
    n = (256 << 10) if quick else (3 << 20)
    runs = {}
    for name, size in (("short", n), ("long", 10 * n)):
        wall, virtual_ns = tcp.bulk(size)
        runs[name] = {
            "bytes": size,
            "seconds": round(wall, 4),
            "ns_per_byte": round(wall * 1e9 / size, 2),
            "mbps": round(size * 8 / wall / 1e6, 1),
            "virtual_ns": virtual_ns,
        }
    runs["ns_per_byte_ratio"] = round(runs["long"]["ns_per_byte"] / runs["short"]["ns_per_byte"], 3)
    return runs


def targets(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target, and whether this run's figure meets it (None where it was skipped)."""
    out = {}
    for name, (kind, bound) in TARGETS.items():
        value = result.get(name)
        met = None if value is None else (value >= bound if kind == "min" else value <= bound)
        out[name] = {kind: bound, "met": met}
    return out


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    def ratio(value: Any, ref: float) -> float | None:
        return None if value is None else round(value / ref, 3)

    return {
        "frames_pps_64_vs_ixy_py": ratio(result.get("frames_pps_64"), REFERENCE["ixy_py_pps"]),
        "tcp_b2b_mbps_vs_pytcp": ratio(result.get("tcp_b2b_mbps"), REFERENCE["pytcp_mbps"]),
        "tcp_b2b_mbps_vs_linux_veth": ratio(
            result.get("tcp_b2b_mbps"), REFERENCE["linux_veth_mbps"]
        ),
        "tap_tcp_mbps_vs_pytcp": ratio(result.get("tap_tcp_mbps"), REFERENCE["pytcp_mbps"]),
    }
