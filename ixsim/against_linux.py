"""``ixsim netsim --against-linux``: the same loss x RTT points, ixsim's TCP beside Linux's.

Each point is run twice over the same path: once between two ixsim hosts in virtual time
(:func:`ixsim.netsim.pair`, real ixgb NICs and driver), once between two Linux network
namespaces joined by :class:`ixsim.wire.Wire` in real time (this machine's kernel, with
cubic asked for by TCP_CONGESTION as on ixsim's side).  The path is the same cable model on
both sides: ``rate`` (100 Mbit/s by default: what a real-time Python wire carries faithfully,
where 10 Gbit/s would measure the wire), ``latency = rtt / 2`` each way, loss ``p`` on the
data direction only, MTU 1500, socket buffers at each kernel's defaults.

The figures compared are those of :mod:`ixsim.netsim`: steady-state goodput (from the moment
the receiver has read half the bytes to the last byte), retransmitted segments
(``Tcp.RetransSegs``) and retransmission timeouts (``TcpExt.TCPTimeouts``) of the sender,
read from ixsim's MIB and from the namespace's ``/proc/net/snmp`` and ``/proc/net/netstat``.
RTTs below 10 ms are refused: the real-time wire's wake-up latency (tens of µs) would then
be a visible part of the path.

Reordering (``--reorder P --reorder-delay T``): the cable of both sides also holds each data
frame back by ``T`` with probability ``P`` (:class:`device.impair.Reorder`, data direction
only), so later frames overtake it.  What is compared then is each sender's reaction, read
from the same MIB names on both stacks (:data:`REORDER_COUNTERS`): segments fast-retransmitted
(``TCPFastRetrans``), of them the spurious ones the receiver D-SACKed (``TCPDSACKRecvSegs``),
reordering detected (``TCPSACKReorder``, ``TCPTSReorder``), undos (``TCPDSACKUndo``,
``TCPFullUndo``, ``TCPPartialUndo``) and tail loss probes (``TCPLossProbes``).
The spurious share is printed both ways: D-SACKed segments over fast-retransmitted ones, and
over every retransmitted one (RetransSegs).  Real time is not faithful at netsim's 100 us, so
the geometry is scaled.  RACK's reordering window starts at min_rtt / 4 (``tcp_rack_reo_wnd``,
RFC 8985 6.2), and hold-backs are chosen on either side of it: at 20 ms RTT, 2 ms is inside
the 5 ms window (once reordering has been seen nothing should be retransmitted) and 8 ms is
beyond it (spurious retransmissions until D-SACKs widen the window), the latter the geometry
of netsim's 100 us hold-back at 100 us RTT (a 25 us window).

A run is one sample of a random process: at 0.1 % loss a 16 MiB transfer sees about a dozen
losses, and where the first of them falls moves the goodput of either stack by a factor of
two (one Linux run and one ixsim run of the same point were seen 2.2x apart with 16 and 7
retransmissions).  So each point is run ``repeat`` times on each side, with seeds ``seed``,
``seed + 1``, ...: the goodput compared is the mean over the runs, the ``ratio`` column is
ixsim's mean / Linux's mean, and retransmissions and timeouts are summed over the runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from ixsim.clock import NS_PER_MS
from ixsim.netns import available, unique_names
from ixsim.netsim import LOSS_EVENTS, MSS, line_rate_gbps, mathis_gbps, pair, transfer
from ixsim.wire import Wire

DEFAULT_RATE_BPS = 100_000_000
DEFAULT_REPEAT = 3  # runs per point and side: see the module docstring
LOSSES = (0.001, 0.01)
RTTS_NS = (10 * NS_PER_MS, 40 * NS_PER_MS)
MIN_RTT_NS = 10 * NS_PER_MS
DEFAULT_REORDER_DELAY_NS = 2 * NS_PER_MS  # --reorder-delay: below min_rtt/4 at 10 ms and up
MIN_REORDER_DELAY_NS = 1 * NS_PER_MS  # the real-time wire's wake-ups are tens of us
MAX_REORDER_DELAY_NS = 1000 * NS_PER_MS
# The sender's counters compared with reordering, by JSON key; the same names on both stacks.
REORDER_COUNTERS = {
    "fast_retrans": "TcpExt.TCPFastRetrans",
    "spurious": "TcpExt.TCPDSACKRecvSegs",
    "dsack_recv": "TcpExt.TCPDSACKRecv",
    "sack_reorder": "TcpExt.TCPSACKReorder",
    "ts_reorder": "TcpExt.TCPTSReorder",
    "dsack_undo": "TcpExt.TCPDSACKUndo",
    "full_undo": "TcpExt.TCPFullUndo",
    "partial_undo": "TcpExt.TCPPartialUndo",
    "loss_probes": "TcpExt.TCPLossProbes",
}
MAX_SECONDS = 12  # real seconds a Linux point may take at its expected goodput
PORT = 5001
CC = "cubic"  # both sides; the kernel's default may be another (bbr on some)

_SINK = r"""
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept()
total = 0; half_t = half_bytes = last = None
buf = bytearray(1 << 20)
while True:
    k = c.recv_into(buf)
    if not k:
        break
    now = time.monotonic()
    if half_t is None and total + k >= n // 2:
        half_t, half_bytes = now, total + k
    total += k
    last = now
c.close()
print(total, half_bytes, last - half_t, flush=True)
"""

_SOURCE = r"""
import json, socket, sys
def counters():
    out = {}
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = open(path).read().splitlines()
        for head, values in zip(lines[::2], lines[1::2]):
            group = head.split(":")[0]
            for name, value in zip(head.split()[1:], values.split()[1:]):
                out[group + "." + name] = int(value)
    return out
addr, n = sys.argv[1], int(sys.argv[2])
before = counters()
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[4].encode())
s.settimeout(120)
s.connect((addr, int(sys.argv[3])))
cc = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()
chunk = b"\x5a" * 65536
sent = 0
while sent < n:
    sent += s.send(chunk[:min(len(chunk), n - sent)])
s.shutdown(socket.SHUT_WR)
s.recv(1)
after = counters()
print(json.dumps({"cc": cc, "delta": {k: after[k] - before.get(k, 0) for k in after}}))
"""


@dataclass
class Side:
    """One run of a point: steady goodput (Mbit/s), retransmissions, timeouts, and the
    :data:`REORDER_COUNTERS` by their JSON keys."""

    goodput_mbps: float
    retrans: int
    timeouts: int
    counts: dict[str, int]

    def share(self, over: str) -> float | None:
        """D-SACKed (spurious) segments over ``fast_retrans`` or ``retrans``; None if 0."""
        total = self.retrans if over == "retrans" else self.counts[over]
        return min(self.counts["spurious"], total) / total if total else None


def combine(runs: list[Side]) -> Side:
    """Several runs of one point as one: mean goodput, summed counts."""
    return Side(sum(r.goodput_mbps for r in runs) / len(runs), sum(r.retrans for r in runs),
                sum(r.timeouts for r in runs),
                {k: sum(r.counts[k] for r in runs) for k in REORDER_COUNTERS})


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


@dataclass
class Comparison:
    loss: float
    rtt_ns: int
    nbytes: int
    ixsim_runs: list[Side]
    linux_runs: list[Side]
    linux_cc: str
    reorder: float = 0.0
    reorder_delay_ns: int = 0

    @property
    def ixsim(self) -> Side:
        return combine(self.ixsim_runs)

    @property
    def linux(self) -> Side:
        return combine(self.linux_runs)

    @property
    def ratio(self) -> float:
        return self.ixsim.goodput_mbps / self.linux.goodput_mbps if self.linux.goodput_mbps \
            else math.inf

    def json(self) -> dict[str, Any]:
        counts = {f"{name}_{key}": getattr(self, name).counts[key]
                  for name in ("ixsim", "linux") for key in REORDER_COUNTERS}
        shares = {f"{name}_spurious_share_{over}": getattr(self, name).share(over)
                  for name in ("ixsim", "linux") for over in ("fast_retrans", "retrans")}
        return {"loss": self.loss, "rtt_ns": self.rtt_ns, "bytes": self.nbytes,
                "reorder": self.reorder, "reorder_delay_ns": self.reorder_delay_ns,
                **counts, **shares,
                "ixsim_goodput_mbps": round(self.ixsim.goodput_mbps, 3),
                "linux_goodput_mbps": round(self.linux.goodput_mbps, 3),
                "ratio": round(self.ratio, 3),
                "ixsim_retrans": self.ixsim.retrans, "linux_retrans": self.linux.retrans,
                "ixsim_timeouts": self.ixsim.timeouts, "linux_timeouts": self.linux.timeouts,
                "linux_cc": self.linux_cc, "runs": len(self.ixsim_runs),
                "ixsim_runs_spurious": [r.counts["spurious"] for r in self.ixsim_runs],
                "linux_runs_spurious": [r.counts["spurious"] for r in self.linux_runs],
                "ixsim_runs_goodput_mbps": [round(r.goodput_mbps, 3) for r in self.ixsim_runs],
                "linux_runs_goodput_mbps": [round(r.goodput_mbps, 3) for r in self.linux_runs]}


def point_bytes(loss: float, rtt_ns: int, rate_bps: int) -> int:
    """Enough bytes for ~LOSS_EVENTS losses, at most MAX_SECONDS of the expected goodput."""
    expected = min(mathis_gbps(loss, rtt_ns) * 1e9, line_rate_gbps(rate_bps=rate_bps) * 1e9)
    cap = int(expected * MAX_SECONDS / 8)
    wanted = int(LOSS_EVENTS / loss * MSS) if loss > 0 else cap
    return max(min(wanted, cap), 1 << 20)


def run_ixsim(loss: float, rtt_ns: int, nbytes: int, rate_bps: int, seed: int,
              reorder: float = 0.0, reorder_delay_ns: int = 0) -> Side:
    with pair(seed, latency=rtt_ns // 2, rate=rate_bps) as p:
        if loss:
            p.cable.set_impairment("loss", loss, direction="ab")
        if reorder:
            p.cable.set_impairment("reorder", (reorder, reorder_delay_ns), direction="ab")
        flow = transfer(p.world, p.a, p.b, "10.0.0.2", nbytes, seed=seed, cc=CC)
    if not flow.intact:
        raise RuntimeError(f"ixsim: the stream arrived damaged at loss={loss} rtt={rtt_ns}")
    counts = {k: flow.counter("sender", "tcpext." + name.partition(".")[2])
              for k, name in REORDER_COUNTERS.items()}
    return Side(flow.steady_gbps * 1000, flow.counter("sender", "tcp.RetransSegs"),
                flow.counter("sender", "tcpext.TCPTimeouts"), counts)


def run_linux(loss: float, rtt_ns: int, nbytes: int, rate_bps: int, seed: int,
              reorder: float = 0.0, reorder_delay_ns: int = 0) -> tuple[Side, str]:
    ok, reason = available()
    if not ok:
        raise RuntimeError(f"--against-linux: {reason}")
    ns_a, _ = unique_names()
    ns_b, _ = unique_names()
    with Wire((f"{ns_a}:10.92.0.1/24", f"{ns_b}:10.92.0.2/24"), latency=rtt_ns // 2,
              rate=rate_bps, seed=seed) as wire:
        if loss:
            wire.cable.set_impairment("loss", loss, direction="ab")
        if reorder:
            wire.cable.set_impairment("reorder", (reorder, reorder_delay_ns), direction="ab")
        sink = wire.peer(1).spawn_python(_SINK, nbytes, PORT)
        wire.run_for("300ms")
        timeout = 60 + 4 * nbytes * 8 / 1e6  # generous: 0.25 Mbit/s at worst
        source = wire.peer(0).python(_SOURCE, "10.92.0.2", nbytes, PORT, CC, world=wire.world,
                                     timeout=timeout)
        received = wire.peer(1).wait(sink, wire.world, 30)
    report = json.loads(source.stdout.strip().splitlines()[-1])
    delta = report["delta"]
    total, half_bytes, seconds = received.stdout.split()[-3:]
    if int(total) != nbytes:
        raise RuntimeError(f"linux: {total} of {nbytes} bytes arrived")
    steady = (int(total) - int(half_bytes)) * 8 / float(seconds) / 1e6 if float(seconds) \
        else 0.0
    counts = {k: delta.get(name, 0) for k, name in REORDER_COUNTERS.items()}
    return (Side(steady, delta["Tcp.RetransSegs"], delta["TcpExt.TCPTimeouts"], counts),
            report["cc"])


def compare(losses: Any, rtts_ns: Any, rate_bps: int = DEFAULT_RATE_BPS, seed: int = 1,
            nbytes: int | None = None, progress: Any = lambda c: None,
            repeat: int = DEFAULT_REPEAT, reorders: Any = (0.0,),
            reorder_delay_ns: int = DEFAULT_REORDER_DELAY_NS) -> list[Comparison]:
    """Every (loss, rtt, reorder) point on both stacks, loss major; each ``repeat`` times per
    side, the runs of a point interleaved (ixsim, Linux, ixsim, ...) with seeds seed,
    seed + 1, ..."""
    out = []
    for loss in losses:
        for rtt in rtts_ns:
            for reorder in reorders:
                size = nbytes or point_bytes(loss, rtt, rate_bps)
                delay = reorder_delay_ns if reorder else 0
                ixsim_runs, linux_runs, cc = [], [], CC
                for run in range(repeat):
                    ixsim_runs.append(run_ixsim(loss, rtt, size, rate_bps, seed + run,
                                                reorder, delay))
                    linux_side, cc = run_linux(loss, rtt, size, rate_bps, seed + run,
                                               reorder, delay)
                    linux_runs.append(linux_side)
                out.append(Comparison(loss, rtt, size, ixsim_runs, linux_runs, cc, reorder,
                                      delay))
                progress(out[-1])
    return out


HEADER = ("loss", "rtt", "MiB", "ixsim", "linux", "ratio", "retrans ix/lx", "rto ix/lx")


def format_table(points: list[Comparison], rate_bps: int, seed: int) -> str:
    cc = points[0].linux_cc if points else "?"
    runs = len(points[0].ixsim_runs) if points else 0
    seeds = f"seed {seed}" if runs == 1 else f"seeds {seed}..{seed + runs - 1}"
    lines = [
        f"# ixsim netsim --against-linux: one TCP flow, {rate_bps / 1e6:g} Mbit/s cable, "
        f"latency rtt/2, loss on data only, {seeds}",
        f"# ixsim: cubic, virtual time; linux: this kernel's {cc} in two namespaces over "
        f"ixsim wire (real time); goodput Mbit/s, steady state, mean of {runs} run(s); "
        "retransmissions and timeouts summed",
    ]
    reordered = [c for c in points if c.reorder]
    # with reordering, a point is (loss, rtt, reorder): the reorder column tells them apart
    header = (*HEADER[:2], "reorder", *HEADER[2:]) if reordered else HEADER
    rows = [header]
    for c in points:
        key = (f"{c.loss:g}", f"{c.rtt_ns // NS_PER_MS}ms")
        key += (f"{c.reorder:g}",) if reordered else ()
        rows.append((*key, f"{c.nbytes / (1 << 20):.1f}", f"{c.ixsim.goodput_mbps:.2f}",
                     f"{c.linux.goodput_mbps:.2f}", f"{c.ratio:.2f}",
                     f"{c.ixsim.retrans}/{c.linux.retrans}",
                     f"{c.ixsim.timeouts}/{c.linux.timeouts}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    if reordered:
        lines += format_reorder_table(reordered)
    return "\n".join(lines) + "\n"


REORDER_HEADER = ("loss", "reorder", "hold", "rtt", "fastretx ix/lx", "dsacked ix/lx",
                  "share/fastretx ix/lx", "share/retrans ix/lx", "sackreord ix/lx",
                  "tsreord ix/lx", "undo d/f/p ix/lx", "tlp ix/lx")


def format_reorder_table(points: list[Comparison]) -> list[str]:
    """The reordering points' second table: the sender's reaction on both stacks."""
    lines = [
        "# reordering: each data frame held back by `hold` with probability `reorder`; sums "
        "over the runs; dsacked: TCPDSACKRecvSegs (spurious retransmissions),",
        "# share = dsacked / TCPFastRetrans and / RetransSegs; sackreord: TCPSACKReorder; "
        "tsreord: TCPTSReorder;",
        "# undo: TCPDSACKUndo/TCPFullUndo/TCPPartialUndo; tlp: TCPLossProbes",
    ]
    rows = [REORDER_HEADER]
    for c in points:
        ix, lx = c.ixsim, c.linux

        def pair(key: str, ix: Side = ix, lx: Side = lx) -> str:
            return f"{ix.counts[key]}/{lx.counts[key]}"

        def undo(side: Side) -> str:
            return "+".join(str(side.counts[k]) for k in ("dsack_undo", "full_undo",
                                                           "partial_undo"))

        rows.append((f"{c.loss:g}", f"{c.reorder:g}", f"{c.reorder_delay_ns / NS_PER_MS:g}ms",
                     f"{c.rtt_ns // NS_PER_MS}ms", pair("fast_retrans"), pair("spurious"),
                     f"{_pct(ix.share('fast_retrans'))}/{_pct(lx.share('fast_retrans'))}",
                     f"{_pct(ix.share('retrans'))}/{_pct(lx.share('retrans'))}",
                     pair("sack_reorder"), pair("ts_reorder"), undo(ix) + "/" + undo(lx),
                     pair("loss_probes")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(REORDER_HEADER))]
    for row in rows:
        lines.append("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
    return lines
