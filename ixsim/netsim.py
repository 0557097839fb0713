"""Netsim: how well TCP fills a simulated 10 Gb/s link, by loss x RTT, on virtual time.

The protocol-quality half of docs/design.md's "Performance": one TCP flow between two World hosts
over real ixgb NICs, driver and cable, its goodput measured in virtual time against the line
rate and the Mathis bound.  Everything is a pure function of the seed, so the table it prints
is kept as a text snapshot (tests/snapshots/netsim.txt) and any change in the stack, driver or
device that moves a figure shows up as a diff.

Also the two-host toolkit the end-to-end tests use:

* :func:`pair` builds hosts ``a`` (10.0.0.1) and ``b`` (10.0.0.2) cabled back to back, links
  up, as a context manager that closes the world;
* :func:`transfer` runs one bulk TCP transfer between two hosts as tasks and returns a
  :class:`Flow`: bytes and sha256 at both ends, virtual durations (whole and steady state),
  the sender's and receiver's TCP_INFO at the end, and the MIB counters each host moved;
* :func:`run_point` is one table entry, :func:`measure_point` the same with every figure,
  :func:`netsim_table` the whole text.

Conventions of a point, said out loud because they set what the numbers mean:

* The cable runs at 10 Gbit/s with ``latency = rtt / 2`` each way; the RTT a flow sees is
  longer by the NICs' interrupt moderation (RDTR 72 x 0.8192 us at each receiver) and by
  whatever queues at the sender; TCP_INFO's ``min_rtt`` is printed beside it (``--json``
  also gives the smoothed RTT at the end, ``srtt_us``: TCP_INFO's ``rtt``).
* Loss is applied to the data direction (a -> b) only, so ``p`` is the segment loss rate of
  the Mathis model; ACKs travel a clean path.
* Socket buffers are tuned as for a long fat network (``tcp_rmem``/``tcp_wmem`` maximum
  32 MiB on both hosts, ESnet fasterdata's advice for 10G): with Linux's defaults (6 MiB
  receive, so a 3 MiB window) a 10 ms path could never carry more than ~2.4 Gbit/s and the
  table would measure the buffer, not the protocol.
* Goodput is application bytes over virtual time.  ``goodput`` (what :func:`run_point`
  returns) is the steady state: from the moment the application has read half of the
  bytes to its last byte, counting what TCP held at that moment (in order and out of
  order) as already arrived, so slow start is left out; ``total`` is iperf's figure,
  connect to last byte.
* The device model has no transmit backpressure: the TX engine hands every frame to the
  cable at DMA speed (write-back at once, the ring never fills, the qdisc never queues) and
  the cable serializes behind an unbounded ``busy_until``.  A window larger than the path's
  BDP therefore queues *in the cable* (the no-loss points end with srtt of milliseconds and
  a cwnd of 10-20 thousand segments) instead of overflowing a ring or qdisc, and after a
  loss that standing queue keeps the link busy.  Short paths thus beat the Mathis bound,
  which assumes no queue; read the figures with that in mind.
* Reordering points (:data:`REORDERS`, a second table): RTT 100 us and 1 ms, 0.1 % loss
  (so that some retransmissions are real), and the cable holding back each data frame with
  probability ``p`` by 100 us (``reorder=`` of the cable), so about 80 later frames overtake
  it.  Their figure is the issue's *spurious fast retransmissions over fast
  retransmissions*, judged on the wire (:mod:`ixsim.retxaudit`: a segment retransmitted in
  Recovery is spurious when an earlier copy of it reached the receiver); the D-SACK count
  (TCPDSACKRecvSegs, and its share of RetransSegs) is printed beside it.  The share covers
  the whole transfer, and its start weighs heavily: until the sender has seen reordering,
  RACK's window is 0 once three segments are SACKed, so every held-back frame of the first
  milliseconds is retransmitted.  At 100 us the hold-back is also longer than RACK's window
  (min_rtt/4), which must first widen on D-SACKs; at 1 ms it is shorter.
* Line rate with MSS 1448 and timestamps: 1448 payload bytes per 1538 on the wire (Ethernet,
  IP, TCP + 12 option bytes, FCS, preamble, inter-frame gap) = 9.415 Gbit/s.  The Mathis
  bound is ``MSS * 8 / RTT * 1.22 / sqrt(p)`` with the nominal RTT (Mathis et al. 1997).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from ixsim.apps.bulk import BLOCK, CHUNK, stream_bytes
from ixsim.clock import NS_PER_MS, NS_PER_S, NS_PER_US
from ixsim.retxaudit import RetransAudit
from ixsim.world import World
from stack.core import IF_OPER_UP, dev_set_mtu
from stack.socket import IPPROTO_TCP, SHUT_WR, SO_REUSEADDR, SOL_SOCKET, TCP_CONGESTION, tcp_info

LINK_BPS = 10_000_000_000
MSS = 1448  # MTU 1500 - 20 (IP) - 20 (TCP) - 12 (timestamps)
WIRE_PER_SEGMENT = MSS + 12 + 20 + 20 + 14 + 4 + 8 + 12  # + options, TCP, IP, Ethernet, FCS,
# preamble/SFD and inter-frame gap: 1538 bytes of wire time per full segment
BUFFER_MAX = 32 << 20  # tcp_rmem[2] and tcp_wmem[2] for the table (module docstring)
PORT = 5001

LOSSES = (0.0, 0.0001, 0.001, 0.01)
RTTS_NS = (100 * NS_PER_US, 1 * NS_PER_MS, 10 * NS_PER_MS)
REORDERS = (0.01, 0.05)  # the reordering table's probabilities (module docstring)
REORDER_RTTS_NS = (100 * NS_PER_US, 1 * NS_PER_MS)
REORDER_LOSS = 0.001
REORDER_DELAY_NS = 100 * NS_PER_US
REORDER_BYTES = 32 << 20


def line_rate_gbps(mss: int = MSS, rate_bps: int = LINK_BPS) -> float:
    """TCP goodput of a saturated link: payload share of each full segment's wire time."""
    wire = WIRE_PER_SEGMENT - MSS + mss
    return rate_bps * mss / wire / 1e9


def mathis_gbps(loss: float, rtt_ns: int, mss: int = MSS) -> float:
    """Mathis et al.: ``MSS * 8 / RTT * C / sqrt(p)``, C = sqrt(3/2) ~ 1.22; inf for p = 0."""
    if loss <= 0:
        return math.inf
    return mss * 8 / (rtt_ns / NS_PER_S) * 1.22 / math.sqrt(loss) / 1e9


# -- two hosts ------------------------------------------------------------------------------------
@dataclass
class Pair:
    """Hosts ``a`` (10.0.0.1/24) and ``b`` (10.0.0.2/24) cabled eth0 to eth0, links up."""

    world: World
    a: Any
    b: Any
    cable: Any

    def __enter__(self) -> Pair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.world.close()


def links_up(world: World, *devs: Any, timeout: str = "10s") -> None:
    """Run the world until every given netdev reports carrier (the driver's watchdog)."""
    world.run_until(
        lambda: all(dev.operstate == IF_OPER_UP for dev in devs),
        timeout=timeout,
        what="link up on " + ", ".join(dev.name for dev in devs),
    )


def tune_buffers(host: Any, maximum: int = BUFFER_MAX) -> None:
    """``sysctl net.ipv4.tcp_{r,w}mem`` with a larger maximum (defaults kept below it)."""
    sysctl = host.net.sysctl
    sysctl.tcp_rmem = (sysctl.tcp_rmem[0], sysctl.tcp_rmem[1], maximum)
    sysctl.tcp_wmem = (sysctl.tcp_wmem[0], sysctl.tcp_wmem[1], maximum)


def pair(seed: int = 1, *, mtu: int = 1500, buffers: int | None = None, **cable: Any) -> Pair:
    """Two hosts back to back; ``cable`` takes :meth:`World.cable`'s keywords."""
    world = World(seed=seed)
    try:
        a = world.host("a", "10.0.0.1/24")
        b = world.host("b", "10.0.0.2/24")
        for host in (a, b):
            if mtu != 1500 and dev_set_mtu(host.eth0, mtu) != 0:
                raise ValueError(f"MTU {mtu} refused by the driver")
            if buffers:
                tune_buffers(host, buffers)
        wire = world.cable(a.eth0, b.eth0, **cable)
        links_up(world, a.eth0, b.eth0)
    except BaseException:
        world.close()
        raise
    return Pair(world, a, b, wire)


# -- one transfer ---------------------------------------------------------------------------------
def _mib(host: Any) -> dict[str, dict[str, int]]:
    mib = host.net.mib
    return {group: dict(mib.group(group)) for group in ("ip", "ipext", "tcp", "tcpext", "udp")}


def _delta(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for group, counters in after.items():
        prior = before.get(group, {})
        out[group] = {
            k: v - prior.get(k, 0) for k, v in sorted(counters.items()) if v != prior.get(k, 0)
        }
    return out


@dataclass
class Flow:
    """One bulk transfer as both ends saw it (times are virtual ns)."""

    nbytes: int
    received: int = 0
    sent_sha256: str = ""
    received_sha256: str = ""
    ns: int = 0  # sender's connect() done -> receiver's last byte
    steady_bytes: int = 0
    steady_ns: int = 0
    sender_info: Any = None  # TcpInfo once every byte was acknowledged
    receiver_info: Any = None
    sender_mib: dict[str, dict[str, int]] = field(default_factory=dict)  # counters it moved
    receiver_mib: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def intact(self) -> bool:
        """Every byte arrived, in order: same count and same sha256 at both ends."""
        return (
            self.received == self.nbytes
            and bool(self.sent_sha256)
            and self.sent_sha256 == self.received_sha256
        )

    @property
    def gbps(self) -> float:
        return self.received * 8 / self.ns if self.ns else 0.0

    @property
    def steady_gbps(self) -> float:
        return self.steady_bytes * 8 / self.steady_ns if self.steady_ns else 0.0

    def counter(self, side: str, name: str) -> int:
        """A counter's change on ``"sender"`` or ``"receiver"``: ``"tcpext.TCPTimeouts"``."""
        group, _, key = name.partition(".")
        return getattr(self, f"{side}_mib").get(group, {}).get(key, 0)

    def fingerprint(self) -> tuple[Any, ...]:
        """What must repeat exactly for the same seed (determinism checks)."""
        return (
            self.ns,
            self.received_sha256,
            self.sender_mib,
            self.receiver_mib,
            self.sender_info.total_retrans if self.sender_info else None,
        )


def _held(conn: Any) -> int:
    """Stream bytes a receiving TCP holds: in order (TCP_INFO) plus its out-of-order queue.

    The steady-state window starts from this, not from what the application has read, so
    a hole filled just after the start cannot pour a queue of earlier arrivals into it.
    """
    info = tcp_info(conn)
    return info.bytes_received + sum(end - seq for seq, end, *_rest in conn.sk.ofo)


def transfer(
    world: World,
    src: Any,
    dst: Any,
    address: str,
    nbytes: int,
    *,
    port: int = PORT,
    seed: int = 0,
    cc: str | None = None,
    warmup: float = 0.5,
    timeout: str = "1000s",
) -> Flow:
    """Send ``nbytes`` of the bulk stream from ``src`` to ``dst`` (listening on ``address``).

    Runs a receiver task on ``dst`` and a sender task on ``src`` until both are done.  The
    steady-state figures cover the bytes after the first ``warmup`` fraction.
    """
    flow = Flow(nbytes)
    source = memoryview(stream_bytes(BLOCK + CHUNK, seed))  # any offset has a chunk after it
    warm_at = int(nbytes * warmup)
    marks: dict[str, int] = {}
    before = (_mib(src), _mib(dst))
    listener = dst.socket()
    listener.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(1)

    async def receiver() -> None:
        conn, _peer = await listener.accept()
        listener.close()
        sched = conn.sched
        digest = hashlib.sha256()
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        total = 0
        while n := await conn.recv_into(buf):
            digest.update(view[:n])
            if total < warm_at <= total + n:
                marks["warm"], marks["warm_bytes"] = sched.now, _held(conn)
            total += n
            marks["last"] = sched.now
        flow.received = total
        flow.received_sha256 = digest.hexdigest()
        flow.receiver_info = tcp_info(conn)
        conn.close()

    async def sender() -> None:
        sock = src.socket()
        if cc:
            sock.setsockopt(IPPROTO_TCP, TCP_CONGESTION, cc)
        await sock.connect((address, port))
        marks["start"] = sock.sched.now
        digest = hashlib.sha256()
        sent = 0
        while sent < nbytes:
            offset = sent % BLOCK
            piece = source[offset : offset + min(CHUNK, nbytes - sent)]
            await sock.sendall(piece)
            digest.update(piece)
            sent += len(piece)
        sock.shutdown(SHUT_WR)
        while await sock.recv(CHUNK):
            pass  # the receiver sends nothing: this waits for its close, all data acked
        flow.sent_sha256 = digest.hexdigest()
        flow.sender_info = tcp_info(sock)
        sock.close()

    wall = time.perf_counter()
    tasks = (dst.spawn(receiver(), "netsim:receiver"), src.spawn(sender(), "netsim:sender"))
    world.run_until(
        lambda: all(t.done() for t in tasks),
        timeout=timeout,
        what=f"the transfer of {nbytes} bytes",
    )
    for task in tasks:
        task.result()  # re-raise what a task died of
    flow.wall_s = time.perf_counter() - wall
    flow.ns = marks.get("last", 0) - marks.get("start", 0)
    if "warm" in marks and marks["last"] > marks["warm"]:
        flow.steady_bytes = flow.received - marks["warm_bytes"]
        flow.steady_ns = marks["last"] - marks["warm"]
    flow.sender_mib = _delta(before[0], _mib(src))
    flow.receiver_mib = _delta(before[1], _mib(dst))
    return flow


# -- the table ------------------------------------------------------------------------------------
@dataclass
class Point:
    loss: float
    rtt_ns: int
    nbytes: int
    flow: Flow
    reorder: float = 0.0
    # (spurious, all) fast-retransmitted segments, from the wire (ixsim.retxaudit); None
    # when the point has no reordering
    fast_retrans: tuple[int, int] | None = None

    @property
    def goodput_gbps(self) -> float:
        return self.flow.steady_gbps


def measure_point(
    loss: float, rtt_ns: int, nbytes: int, seed: int = 1, cc: str = "cubic", reorder: float = 0.0
) -> Point:
    """One flow a -> b over a 10 Gb/s cable with ``latency = rtt / 2``, data loss ``p`` and
    data frames held back by :data:`REORDER_DELAY_NS` with probability ``reorder``."""
    audit = None
    with pair(seed, latency=rtt_ns // 2, buffers=BUFFER_MAX) as p:
        if loss:
            p.cable.set_impairment("loss", loss, direction="ab")
        if reorder:
            p.cable.set_impairment("reorder", (reorder, REORDER_DELAY_NS), direction="ab")
            audit = RetransAudit(MSS)
            audit.attach(p.cable.lanes("ab")[0], p.a.net.kernel)
        flow = transfer(p.world, p.a, p.b, "10.0.0.2", nbytes, seed=seed, cc=cc)
    if not flow.intact:
        raise AssertionError(
            f"netsim: the stream arrived damaged at loss={loss} "
            f"reorder={reorder} rtt={rtt_ns} ns: {flow.received}/{nbytes} bytes"
        )
    return Point(loss, rtt_ns, nbytes, flow, reorder, audit.counts("fast") if audit else None)


def spurious_share(point: Point) -> float | None:
    """The issue's figure: spurious fast retransmissions over fast retransmissions, judged on
    the wire (:mod:`ixsim.retxaudit`); None without reordering or fast retransmissions."""
    if not point.fast_retrans or not point.fast_retrans[1]:
        return None
    spurious, total = point.fast_retrans
    return spurious / total


def dsack_share(flow: Flow) -> float | None:
    """What the sender's counters say: D-SACKed segments over RetransSegs (every kind of
    retransmission); None if nothing was retransmitted."""
    retrans = flow.counter("sender", "tcp.RetransSegs")
    if not retrans:
        return None
    return min(flow.counter("sender", "tcpext.TCPDSACKRecvSegs"), retrans) / retrans


def run_point(loss: float, rtt_ns: int, bytes: int, seed: int = 1, cc: str = "cubic") -> float:
    """Steady-state goodput in Gbit/s of one flow (see :func:`measure_point`)."""
    return measure_point(loss, rtt_ns, bytes, seed, cc).goodput_gbps


LOSS_EVENTS = 40  # losses a lossy point should see, so its second half is near equilibrium
MAX_BYTES = 384 << 20


def default_bytes(loss: float, rtt_ns: int) -> int:
    """Transfer size for a point: long enough that its second half is steady state.

    Without loss: slow start on a 10 ms path takes ~11 RTTs and some 25 MB before the
    12.5 MB pipe is full, so 96 MiB there and 32 MiB on shorter paths.  With loss the flow
    leaves slow start far above its equilibrium window (1.22/sqrt(p) segments) and every
    loss only takes 30 % off (CUBIC): it needs tens of losses to get there, so a point
    sends ``LOSS_EVENTS / p`` segments (16 MiB at least, ``MAX_BYTES`` at most), except
    where the Mathis bound is above the line rate: that flow is limited by the link, which
    it reaches at once.
    """
    if loss <= 0:
        return 96 << 20 if rtt_ns >= 10 * NS_PER_MS else 32 << 20
    if mathis_gbps(loss, rtt_ns) > line_rate_gbps():
        return 48 << 20
    wanted = int(LOSS_EVENTS / loss * MSS)
    return min(max(-(-wanted // (1 << 20)) << 20, 16 << 20), MAX_BYTES)


def _fmt_rate(gbps: float) -> str:
    return "inf" if math.isinf(gbps) else f"{gbps:.3f}"


def fmt_rtt(ns: int) -> str:
    if ns % NS_PER_MS == 0:
        return f"{ns // NS_PER_MS}ms"
    return f"{ns // NS_PER_US}us" if ns % NS_PER_US == 0 else f"{ns}ns"


HEADER = (
    "loss",
    "rtt",
    "MiB",
    "goodput",
    "total",
    "%line",
    "mathis",
    "min_rtt",
    "retrans",
    "rto",
    "cwnd",
)


def format_row(point: Point) -> tuple[str, ...]:
    flow = point.flow
    info = flow.sender_info
    return (
        f"{point.loss:g}",
        fmt_rtt(point.rtt_ns),
        f"{point.nbytes / (1 << 20):g}",
        f"{flow.steady_gbps:.3f}",
        f"{flow.gbps:.3f}",
        f"{100 * flow.steady_gbps / line_rate_gbps():.1f}",
        _fmt_rate(mathis_gbps(point.loss, point.rtt_ns)),
        f"{info.min_rtt}us",
        str(flow.counter("sender", "tcp.RetransSegs")),
        str(flow.counter("sender", "tcpext.TCPTimeouts")),
        str(info.snd_cwnd),
    )


def format_table(points: Sequence[Point], seed: int, cc: str) -> str:
    lines = [
        f"# ixsim netsim: one TCP flow ({cc}) a -> b over ixgb NICs, 10 Gbit/s cable, "
        f"virtual time, seed {seed}",
        "# latency = rtt/2; loss on the data direction only; tcp_rmem/tcp_wmem max "
        f"{BUFFER_MAX >> 20} MiB; MTU 1500, MSS {MSS} + timestamps",
        f"# goodput: steady state (second half of the bytes), Gbit/s; total: connect to last "
        f"byte; line rate {line_rate_gbps():.3f}; lossy points send ~{LOSS_EVENTS}/p segments",
        "# mathis: MSS*8/rtt * 1.22/sqrt(p) with the nominal rtt; min_rtt, cwnd (segments): "
        "the sender's TCP_INFO at the end; retrans, rto: RetransSegs, TCPTimeouts",
    ]
    rows = [HEADER, *map(format_row, points)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    for row in rows:
        cells = (cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


REORDER_HEADER = (
    "reorder",
    "rtt",
    "MiB",
    "goodput",
    "retrans",
    "fastretx",
    "spurious",
    "share",
    "dsacked",
    "reord_seen",
    "reordering",
)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f}%"


def format_reorder_row(point: Point) -> tuple[str, ...]:
    flow = point.flow
    info = flow.sender_info
    spurious, fast = point.fast_retrans or (0, 0)
    return (
        f"{point.reorder:g}",
        fmt_rtt(point.rtt_ns),
        f"{point.nbytes / (1 << 20):g}",
        f"{flow.steady_gbps:.3f}",
        str(flow.counter("sender", "tcp.RetransSegs")),
        str(fast),
        str(spurious),
        _pct(spurious_share(point)),
        f"{flow.counter('sender', 'tcpext.TCPDSACKRecvSegs')} ({_pct(dsack_share(flow))})",
        str(info.reord_seen),
        str(info.reordering),
    )


def format_reorder_table(points: Sequence[Point]) -> str:
    """The reordering table (module docstring): spurious retransmission share by ``p``."""
    lines = [
        f"# reordering: loss {REORDER_LOSS:g}; each data frame held back "
        f"{REORDER_DELAY_NS // NS_PER_US} us with probability p; "
        "retrans: RetransSegs",
        "# fastretx: segments retransmitted in Recovery; spurious: those of them an earlier copy "
        "of which had reached the receiver (seen on the wire); share = spurious / fastretx",
        "# dsacked: TCPDSACKRecvSegs (and its share of RetransSegs); reord_seen, reordering: "
        "the sender's TCP_INFO at the end",
    ]
    rows = [REORDER_HEADER, *map(format_reorder_row, points)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(REORDER_HEADER))]
    for row in rows:
        cells = (cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def reorder_specs(
    reorders: Iterable[float] = REORDERS, nbytes: int = REORDER_BYTES
) -> list[tuple[float, int, int, float]]:
    """The (loss, rtt, bytes, reorder) of each reordering row, reordering major."""
    return [(REORDER_LOSS, rtt, nbytes, p) for p in reorders for rtt in REORDER_RTTS_NS]


def _measure(spec: tuple[float, int, int, int, str, float]) -> Point:
    return measure_point(*spec)


def measure_points(
    specs: Sequence[tuple[float, ...]],
    seed: int = 1,
    cc: str = "cubic",
    jobs: int = 1,
    progress: Callable[[Point], None] = lambda point: None,
) -> list[Point]:
    """Measure ``(loss, rtt_ns, nbytes[, reorder])`` points, in ``jobs`` processes; results
    in order.

    Every point is its own World from ``seed``, so where it runs changes nothing but the
    wall time; the biggest transfers are started first to balance the workers.
    """
    full = [
        (spec[0], int(spec[1]), int(spec[2]), seed, cc, spec[3] if len(spec) > 3 else 0.0)
        for spec in specs
    ]
    if jobs <= 1 or len(full) <= 1:
        points = []
        for spec in full:
            points.append(_measure(spec))
            progress(points[-1])
        return points
    order = sorted(range(len(full)), key=lambda i: -full[i][2])
    out: dict[int, Point] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_measure, full[i]): i for i in order}
        for future in as_completed(futures):
            out[futures[future]] = future.result()
            progress(out[futures[future]])
    return [out[i] for i in range(len(full))]


def table_specs(
    losses: Iterable[float] = LOSSES,
    rtts_ns: Iterable[int] = RTTS_NS,
    nbytes: Callable[[float, int], int] = default_bytes,
) -> list[tuple[float, int, int]]:
    """The (loss, rtt, bytes) of each row, loss major."""
    rtts = tuple(rtts_ns)
    return [(loss, rtt, nbytes(loss, rtt)) for loss in losses for rtt in rtts]


def netsim_table(
    losses: Iterable[float] = LOSSES,
    rtts_ns: Iterable[int] = RTTS_NS,
    seed: int = 1,
    cc: str = "cubic",
    nbytes: Callable[[float, int], int] = default_bytes,
    jobs: int = 1,
    progress: Callable[[Point], None] = lambda point: None,
) -> str:
    """The table, one row per (loss, rtt), loss major; deterministic for ``seed``."""
    points = measure_points(table_specs(losses, rtts_ns, nbytes), seed, cc, jobs, progress)
    return format_table(points, seed, cc)
