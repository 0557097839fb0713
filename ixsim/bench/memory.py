"""Memory: peak RSS of a two-host world holding 1,000 established TCP connections.

Measured in a fresh interpreter (``python -m ixsim.bench.memory N``), so what the other benchmarks
allocated does not count: it reports the RSS after building the two hosts (``baseline``) and
the peak (``ru_maxrss``) once ``N`` connections are established and accepted, and the cost
per connection between the two.  Skipped with the TCP probe's reason
(``ixsim.bench.tcp.available``) until two hosts can connect.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from ixsim.bench import tcp

CONNECTIONS = 1000
QUICK_CONNECTIONS = 100
_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the ixsim package


def _rss_mib() -> float:
    """The current RSS (Linux /proc), in MiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / (1 << 20)


def _peak_rss_mib() -> float:
    """This process's RSS high-water mark (VmHWM).

    Not ``getrusage().ru_maxrss``: Linux keeps that across ``exec``, so a child started by a
    large parent (``ixsim bench`` itself) would report the parent's peak, not its own.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return _rss_mib()


def child(count: int) -> dict[str, Any]:
    """Build the world, open ``count`` connections, report RSS (runs in the subprocess)."""
    from ixsim.world import World

    w = World(seed=1)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0)
    w.run_for("10ms")
    baseline = _rss_mib()
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", tcp.PORT))
    srv.listen(count)
    clients, accepted = [], []
    for _ in range(count):
        c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(1.0)
        c.connect(("10.0.0.2", tcp.PORT))
        clients.append(c)
        accepted.append(srv.accept()[0])
    w.run_for("10ms")
    peak = _peak_rss_mib()
    return {
        "connections": count,
        "baseline_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "per_connection_kib": round((peak - baseline) * 1024 / count, 1),
    }


def measure(quick: bool) -> dict[str, Any]:
    """``{"value": peak MiB | None, "skipped": reason | None, ...details}``."""
    ok, reason = tcp.available()
    if not ok:
        return {"value": None, "skipped": reason}
    return measure_count(QUICK_CONNECTIONS if quick else CONNECTIONS)


def measure_count(count: int) -> dict[str, Any]:
    """Peak RSS of a fresh process holding ``count`` established connections."""
    proc = subprocess.run(
        [sys.executable, "-m", "ixsim.bench.memory", str(count)],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"value": None, "skipped": f"error: {tail}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"value": out["peak_rss_mib"], "skipped": None, **out}


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]) if len(sys.argv) > 1 else CONNECTIONS)))
