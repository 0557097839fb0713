"""The time-sequence graph of one TCP flow in a capture, as tcptrace and Wireshark draw it.

Mirrors tcptrace's ``-S`` graph (``plot_tsg``) and Wireshark's "TCP Stream Graph: Stevens /
tcptrace": time on x (seconds from the flow's first packet), sequence numbers on y, relative
to the sender's initial sequence number (``SYN`` is 0, the first data byte 1).

What is drawn (:func:`draw_tcptrace`), from what is extracted (:func:`time_sequence`):

* **segments**: each data segment the sender put on the wire, a vertical bar from its first
  to one past its last byte at the time it was captured (tcptrace's "I" bars);
* **retransmissions**, in red: a segment whose end is at or below the highest sequence
  number already sent;
* **ACK line**: the receiver's cumulative ACK as a step line;
* **receive window**: the right edge of the receiver's advertised window, ``ack + (window
  << wscale)``, as a step line; ``wscale`` is the receiver's window-scale option, honoured
  only when both SYNs carried one (RFC 7323 §2.2).  Without the handshake in the capture
  the windows are read unscaled (tcptrace does the same) and the result says so;
* **SACK blocks**: each block of each ACK as a short vertical bar at the ACK's time.

Input is a classic pcap of Ethernet frames (``device/pcap.py``), parsed with the stack's
wire views; frames that are not IPv4/TCP, fragments and malformed headers are skipped and
counted.  Sequence numbers are unwrapped past 2**32, so transfers above 4 GiB plot as one
rising line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from device.pcap import LINKTYPE_ETHERNET, PcapError, PcapReader
from ixsim.plot import mpl
from stack.uapi import ETH_P_IP, IPPROTO_TCP
from stack.wire.errors import Malformed
from stack.wire.ethernet import EthernetFrame
from stack.wire.ipv4 import Ipv4Packet, ip_str
from stack.wire.tcp import ACK, SYN, TcpPacket, TcpRepr

SEQ_SPACE = 1 << 32
NS_PER_S = 1_000_000_000

# tcptrace's colours (xplot): data white/black, retransmissions red, ACK green, window yellow,
# SACK purple.  Yellow on white is unreadable, so the window is drawn in olive.
COLOURS = {"segment": "black", "retransmission": "red", "ack": "green", "window": "olive",
           "sack": "purple"}


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction of a TCP connection: ``10.0.0.1:40000>10.0.0.2:5001``."""

    src: str
    sport: int
    dst: str
    dport: int

    @classmethod
    def parse(cls, text: str) -> Flow:
        """Parse ``SRC:PORT>DST:PORT``; a ValueError names the expected form."""
        try:
            left, right = text.replace(" ", "").split(">")
            src, sport = left.rsplit(":", 1)
            dst, dport = right.rsplit(":", 1)
            flow = cls(src, int(sport), dst, int(dport))
        except ValueError:
            raise ValueError(f"not a flow: {text!r} (use SRC:PORT>DST:PORT, "
                             "e.g. 10.0.0.1:40000>10.0.0.2:5001)") from None
        if not (0 <= flow.sport <= 0xFFFF and 0 <= flow.dport <= 0xFFFF):
            raise ValueError(f"not a flow: {text!r} (ports are 0..65535)")
        return flow

    def reverse(self) -> Flow:
        return Flow(self.dst, self.dport, self.src, self.sport)

    def __str__(self) -> str:
        return f"{self.src}:{self.sport}>{self.dst}:{self.dport}"


@dataclass(frozen=True, slots=True)
class TcpPacketRecord:
    """One TCP segment of the capture: when, which direction, its decoded header."""

    ts_ns: int
    flow: Flow
    th: TcpRepr


@dataclass(slots=True)
class FlowStats:
    """A flow's share of the capture: ``tcptrace -l`` in brief."""

    flow: Flow
    packets: int = 0
    data_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Segment:
    """A data segment: captured at ``t`` (s), bytes ``[start, end)`` relative to the ISN."""

    t: float
    start: int
    end: int
    retrans: bool


@dataclass(slots=True)
class TimeSequence:
    """Everything :func:`draw_tcptrace` draws for one flow (see the module docstring)."""

    flow: Flow
    isn: int
    wscale: int | None  # the receiver's shift; None: no handshake seen, windows unscaled
    t0_ns: int
    segments: list[Segment] = field(default_factory=list)
    acks: list[tuple[float, int]] = field(default_factory=list)  # (t, relative ack)
    windows: list[tuple[float, int]] = field(default_factory=list)  # (t, right edge)
    sacks: list[tuple[float, int, int]] = field(default_factory=list)  # (t, left, right)

    @property
    def retransmissions(self) -> list[Segment]:
        return [s for s in self.segments if s.retrans]

    @property
    def data_bytes(self) -> int:
        return sum(s.end - s.start for s in self.segments if not s.retrans)


class Capture:
    """The TCP segments of a pcap file, in capture order; ``skipped`` counts the rest.

    A file that cannot be read or is not a pcap of Ethernet frames raises ValueError naming
    the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.packets: list[TcpPacketRecord] = []
        self.skipped = 0
        try:
            with PcapReader(path) as reader:
                if reader.linktype != LINKTYPE_ETHERNET:
                    raise ValueError(f"{path}: link type {reader.linktype}, only Ethernet (1) "
                                     "is read")
                for ts_ns, frame in reader:
                    rec = _decode(ts_ns, frame)
                    if rec is None:
                        self.skipped += 1
                    else:
                        self.packets.append(rec)
        except OSError as exc:
            raise ValueError(f"{path}: {exc.strerror or exc}") from None
        except PcapError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def flows(self) -> list[FlowStats]:
        """Every direction seen, most data bytes first (ties: first seen first)."""
        stats: dict[Flow, FlowStats] = {}
        for rec in self.packets:
            st = stats.get(rec.flow)
            if st is None:
                st = stats[rec.flow] = FlowStats(rec.flow)
            st.packets += 1
            st.data_bytes += rec.th.payload_len
        return sorted(stats.values(), key=lambda s: -s.data_bytes)

    def pick(self, flow: Flow | str | None = None) -> Flow:
        """The flow asked for (it must be in the capture), or the one with most data."""
        flows = self.flows()
        if not flows:
            raise ValueError(f"{self.path}: no IPv4 TCP segments in the capture")
        if flow is None:
            return flows[0].flow
        if isinstance(flow, str):
            flow = Flow.parse(flow)
        if any(st.flow == flow for st in flows):
            return flow
        seen = ", ".join(str(st.flow) for st in flows[:8])
        raise ValueError(f"{self.path}: no flow {flow} in the capture (flows: {seen})")


def _decode(ts_ns: int, frame: bytes) -> TcpPacketRecord | None:
    try:
        eth = EthernetFrame.checked(frame)
        if eth.payload_ethertype != ETH_P_IP:
            return None
        ip = Ipv4Packet.checked(eth.payload, verify_checksum=False)
        if ip.proto != IPPROTO_TCP or ip.is_fragment:
            return None
        th = TcpRepr.parse(TcpPacket.checked(ip.payload))
    except Malformed:
        return None
    flow = Flow(ip_str(ip.src), th.src_port, ip_str(ip.dst), th.dst_port)
    return TcpPacketRecord(ts_ns, flow, th)


class _Unwrap:
    """32-bit sequence numbers to a line: each value lands within 2**31 of the last."""

    __slots__ = ("base", "last")

    def __init__(self, base: int) -> None:
        self.base = base
        self.last = 0

    def __call__(self, seq: int) -> int:
        rel = (seq - self.base) % SEQ_SPACE
        value = rel + (self.last - self.last % SEQ_SPACE)
        if value - self.last > SEQ_SPACE // 2:
            value -= SEQ_SPACE
        elif self.last - value > SEQ_SPACE // 2:
            value += SEQ_SPACE
        self.last = value
        return value


def _s32(delta: int) -> int:
    """A 32-bit sequence difference as a signed number (Linux's ``before``/``after``)."""
    delta %= SEQ_SPACE
    return delta - SEQ_SPACE if delta >= SEQ_SPACE // 2 else delta


def time_sequence(capture: Capture, flow: Flow | str | None = None) -> TimeSequence:
    """Extract the time-sequence graph of ``flow`` (default: the flow with most data)."""
    flow = capture.pick(flow)
    back = flow.reverse()
    packets = [r for r in capture.packets if r.flow == flow or r.flow == back]
    fwd_syn = next((r.th for r in packets if r.flow == flow and r.th.flags & SYN), None)
    rev_syn = next((r.th for r in packets if r.flow == back and r.th.flags & SYN), None)
    first_fwd = next(r.th for r in packets if r.flow == flow)
    isn = fwd_syn.seq if fwd_syn is not None else (first_fwd.seq - 1) % SEQ_SPACE
    wscale: int | None = None
    if fwd_syn is not None and rev_syn is not None:
        both = fwd_syn.wscale is not None and rev_syn.wscale is not None
        wscale = min(rev_syn.wscale, 14) if both else 0
    shift = wscale or 0
    t0 = packets[0].ts_ns
    out = TimeSequence(flow, isn, wscale, t0)
    seq_of = _Unwrap(isn)
    ack_of = _Unwrap(isn)
    highest = 0
    for rec in packets:
        th = rec.th
        t = (rec.ts_ns - t0) / NS_PER_S
        if rec.flow == flow:
            if th.payload_len:
                start = seq_of(th.seq)
                end = start + th.payload_len
                out.segments.append(Segment(t, start, end, end <= highest))
                highest = max(highest, end)
            continue
        if not th.flags & ACK:  # no ACK field (the peer's SYN, a bare RST)
            continue
        ack = ack_of(th.ack)
        out.acks.append((t, ack))
        win = th.window if th.flags & SYN else th.window << shift  # a SYN's window: unscaled
        out.windows.append((t, ack + win))
        for left, right in th.sack_blocks:
            lo = ack + _s32(left - th.ack)  # SACK blocks lie within a window of the ACK
            out.sacks.append((t, lo, lo + (right - left) % SEQ_SPACE))
    return out


def draw_tcptrace(ts: TimeSequence, title: str | None = None) -> Any:
    """Draw ``ts`` on a new matplotlib Figure (one axes) and return it."""
    collections = mpl.require("collections")
    figure = mpl.new_figure(1, 6.0)
    ax = figure.axes[0]
    new = [[(s.t, s.start), (s.t, s.end)] for s in ts.segments if not s.retrans]
    old = [[(s.t, s.start), (s.t, s.end)] for s in ts.segments if s.retrans]
    ax.add_collection(collections.LineCollection(
        new, colors=COLOURS["segment"], linewidths=1.0, label=f"segments ({len(new)})",
        gid="segments"))
    if old:
        ax.add_collection(collections.LineCollection(
            old, colors=COLOURS["retransmission"], linewidths=1.5,
            label=f"retransmissions ({len(old)})", gid="retransmissions"))
        ax.plot([s.t for s in ts.retransmissions], [s.end for s in ts.retransmissions],
                linestyle="none", marker="x", markersize=4, color=COLOURS["retransmission"],
                gid="retransmission-marks")
    if ts.acks:
        ax.step([t for t, _ in ts.acks], [a for _, a in ts.acks], where="post",
                color=COLOURS["ack"], linewidth=1.0, label="ACK", gid="ack")
        ax.step([t for t, _ in ts.windows], [w for _, w in ts.windows], where="post",
                color=COLOURS["window"], linewidth=1.0, label="receive window", gid="window")
    if ts.sacks:
        ax.add_collection(collections.LineCollection(
            [[(t, lo), (t, hi)] for t, lo, hi in ts.sacks], colors=COLOURS["sack"],
            linewidths=2.0, label=f"SACK blocks ({len(ts.sacks)})", gid="sacks"))
    ax.autoscale_view()
    ax.set_xlabel("time (s)")
    ax.set_ylabel("sequence number (bytes, relative to ISN)")
    scale = "unknown: no handshake captured" if ts.wscale is None else str(ts.wscale)
    ax.set_title(title or f"{ts.flow}: {len(ts.segments)} segments, "
                          f"{len(ts.retransmissions)} retransmitted, wscale {scale}")
    ax.grid(True, linewidth=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return figure
