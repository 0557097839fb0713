"""TCP's congestion state over a run: cwnd, ssthresh, srtt and bytes in flight.

Linux users get these from the ``tcp:tcp_probe`` trace event (``perf record -e
tcp:tcp_probe``, or the old ``tcp_probe`` module) and plot them; ixsim's kernel fires the
same tracepoint (declared in ``stack/tcp/state.py``, emitted by ``stack/tcp/ack.py`` after
each acceptable ACK).  :class:`TcpProbeRecorder` attaches to one or more kernels'
``tracers`` and keeps the samples per connection; :func:`draw_tcp` draws one connection.

Pacing: ixsim's TCP does not pace (TCP_INFO reports ``pacing_rate`` 0), so there is no pacing
series; the figure says so in its legend rather than drawing an invented line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ixsim.plot import mpl
from stack.tcp.const import TCP_INFINITE_SSTHRESH
from stack.wire.ipv4 import ip_str

NS_PER_S = 1_000_000_000
PACING_NOTE = "pacing rate: not modelled (ixsim has no pacing)"


@dataclass(slots=True)
class TcpSeries:
    """One connection's ``tcp_probe`` samples, one list per field (``t`` in seconds)."""

    name: str  # "10.0.0.1:40000>10.0.0.2:5001", local to remote
    host: str
    t: list[float] = field(default_factory=list)
    cwnd: list[int] = field(default_factory=list)  # segments
    ssthresh: list[float] = field(default_factory=list)  # segments; NaN while infinite
    srtt_us: list[int] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)  # RFC 6675 pipe, segments
    bytes_in_flight: list[int] = field(default_factory=list)  # snd_nxt - snd_una
    snd_wnd: list[int] = field(default_factory=list)  # bytes, the peer's window
    acked: int = 0  # bytes acknowledged between the first and the last sample

    def __len__(self) -> int:
        return len(self.t)


class TcpProbeRecorder:
    """Record ``tcp_probe`` on the given kernels until :meth:`close` (see module docstring).

    ``t0_ns`` is time zero of the series (default: the first sample).
    """

    def __init__(self, *kernels: Any, t0_ns: int | None = None) -> None:
        self.kernels = kernels
        self.t0_ns = t0_ns
        self.series: dict[int, TcpSeries] = {}  # by id(sk)
        self._first_una: dict[int, int] = {}
        self._tracers = []
        for kernel in kernels:
            tracer = self._tracer(kernel.hostname)
            kernel.tracers.append(tracer)
            self._tracers.append((kernel, tracer))

    def _tracer(self, host: str) -> Any:
        def on_event(now: int, event: str, f: dict[str, Any]) -> None:
            if event == "tcp_probe":
                self._sample(host, now, f)
        return on_event

    def _sample(self, host: str, now: int, f: dict[str, Any]) -> None:
        sk = f["sk"]
        key = id(sk)
        s = self.series.get(key)
        if s is None:
            name = f"{ip_str(sk.laddr)}:{sk.lport}>{ip_str(sk.raddr)}:{sk.rport}"
            s = self.series[key] = TcpSeries(name, host)
            self._first_una[key] = f["snd_una"]
        if self.t0_ns is None:
            self.t0_ns = now
        s.t.append((now - self.t0_ns) / NS_PER_S)
        s.cwnd.append(f["snd_cwnd"])
        ssthresh = f["ssthresh"]
        s.ssthresh.append(math.nan if ssthresh >= TCP_INFINITE_SSTHRESH else ssthresh)
        s.srtt_us.append(f["srtt"])
        s.in_flight.append(f["in_flight"])
        s.bytes_in_flight.append(f["snd_nxt"] - f["snd_una"])
        s.snd_wnd.append(f["snd_wnd"])
        s.acked = f["snd_una"] - self._first_una[key]

    def close(self) -> None:
        """Detach from every kernel; the series stay."""
        for kernel, tracer in self._tracers:
            if tracer in kernel.tracers:
                kernel.tracers.remove(tracer)
        self._tracers.clear()

    def busiest(self) -> TcpSeries:
        """The connection that had the most bytes acknowledged: the bulk sender."""
        if not self.series:
            raise ValueError("no tcp_probe samples: no TCP connection processed an ACK")
        return max(self.series.values(), key=lambda s: (s.acked, len(s)))


def draw_tcp(s: TcpSeries, title: str | None = None) -> Any:
    """Draw one connection's series on a new Figure (three stacked axes) and return it."""
    lines = mpl.require("lines")
    figure = mpl.new_figure(3, 8.0)
    ax_cwnd, ax_rtt, ax_bytes = figure.axes
    ax_cwnd.step(s.t, s.cwnd, where="post", label="cwnd", gid="cwnd")
    ax_cwnd.step(s.t, s.ssthresh, where="post", label="ssthresh", gid="ssthresh")
    ax_cwnd.step(s.t, s.in_flight, where="post", label="packets in flight (pipe)",
                 linewidth=0.7, gid="in_flight")
    ax_cwnd.set_ylabel("segments")
    # Steps, not lines: a value holds until the next ACK (an RTO gap is flat, then a jump).
    ax_rtt.step(s.t, s.srtt_us, where="post", label="srtt", color="tab:purple", gid="srtt")
    ax_rtt.set_ylabel("srtt (µs)")
    ax_bytes.step(s.t, s.bytes_in_flight, where="post", color="tab:green",
                  label="bytes in flight (snd_nxt - snd_una)", gid="bytes_in_flight")
    ax_bytes.step(s.t, s.snd_wnd, where="post", color="tab:gray", linewidth=0.7,
                  label="peer's window (snd_wnd)", gid="snd_wnd")
    ax_bytes.set_ylabel("bytes")
    ax_bytes.set_xlabel("time (s)")
    handles, labels = ax_bytes.get_legend_handles_labels()
    handles.append(lines.Line2D([], [], linestyle="none", gid="pacing"))
    labels.append(PACING_NOTE)
    ax_bytes.legend(handles, labels, loc="upper right", fontsize="small")
    for ax in (ax_cwnd, ax_rtt):
        ax.legend(loc="upper right", fontsize="small")
    for ax in figure.axes:
        ax.grid(True, linewidth=0.3)
    ax_cwnd.set_title(title or f"{s.host}: {s.name}, {len(s)} ACKs (tcp_probe)")
    return figure
