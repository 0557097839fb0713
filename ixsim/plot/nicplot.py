"""The NIC over a run: descriptor ring occupancy and interrupts per millisecond.

:class:`NicRecorder` subscribes to the device tracepoints (``device/trace.py``) of every NIC
it is given and, at each event that can move a ring index (a driver write to TDT or RDT, a
frame sent by the TX engine, a frame written back by the RX engine, an interrupt: the TX
engine moves TDH after the frames of a fetch have gone, and raises TXDW after that), peeks the ring
registers (no side effects) and records a point when the count changed:

* **TX**: descriptors handed to hardware and not yet processed, ``(TDT - TDH) mod n``;
* **RX**: descriptors hardware owns, free for arriving frames, ``(RDT - RDH) mod n``
  (docs/hardware.md: hardware owns ``[RDH, RDT)``).  At 0 an arriving frame has nowhere
  to go (RXO, missed packets).

``n`` is the ring length in descriptors (``TDLEN``/``RDLEN`` over 16).  Interrupts are the
``irq_deliver`` events of each PCI function, counted in 1 ms bins of virtual time.
:func:`draw_nic` draws the three series for every NIC on three stacked axes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from device.spec import regs as R
from device.trace import subscribe
from ixsim.plot import mpl

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
DESC_SIZE = 16


@dataclass(slots=True)
class NicSeries:
    """One NIC's ring occupancy steps (``t`` in seconds) and interrupt times (ns)."""

    name: str  # "a:eth0"
    tx: list[tuple[float, int]] = field(default_factory=list)
    rx: list[tuple[float, int]] = field(default_factory=list)
    tx_size: int = 0
    rx_size: int = 0
    irqs: list[int] = field(default_factory=list)


@dataclass(slots=True)
class NicTrace:
    """Every recorded NIC, and the time span of the recording (ns)."""

    nics: list[NicSeries]
    t0_ns: int
    end_ns: int

    def irq_per_ms(self, nic: NicSeries) -> tuple[list[float], list[int]]:
        """Interrupts in each 1 ms bin from ``t0``: (bin start times in s, counts)."""
        nbins = max(1, -(-(self.end_ns - self.t0_ns) // NS_PER_MS))
        counts = [0] * nbins
        for t in nic.irqs:
            counts[min(nbins - 1, (t - self.t0_ns) // NS_PER_MS)] += 1
        return [i * NS_PER_MS / NS_PER_S for i in range(nbins)], counts


class NicRecorder:
    """Record ring occupancy and interrupts of ``nics`` (``(name, NicSlot)`` pairs)."""

    def __init__(self, sched: Any, nics: Iterable[tuple[str, Any]]) -> None:
        self.sched = sched
        self.t0_ns = sched.now
        self.series: list[NicSeries] = []
        self._unsubscribe: list[Any] = []
        self._samplers: list[Any] = []
        for name, slot in nics:
            s = NicSeries(name)
            self.series.append(s)
            nic = slot.nic
            sample = self._sampler(s, nic)
            self._samplers.append(sample)

            def on_mmio(kind: str, offset: int, value: int, old: int, sample=sample) -> None:
                if kind == "w" and offset in (R.TDT, R.RDT):
                    sample()

            def on_irq(irq: int, s: NicSeries = s, sample=sample) -> None:
                s.irqs.append(self.sched.now)
                sample()

            self._unsubscribe += [
                subscribe(nic, "mmio", on_mmio),
                subscribe(nic.tx, "tx_frame", lambda frame, ndesc, sample=sample: sample()),
                subscribe(nic.rx, "rx_frame", lambda frame, index, sample=sample: sample()),
                subscribe(slot.pci, "irq_deliver", on_irq),
            ]
            sample()

    def _sampler(self, s: NicSeries, nic: Any) -> Any:
        peek = nic.peek

        def sample() -> None:
            t = (self.sched.now - self.t0_ns) / NS_PER_S
            tx_n = peek(R.TDLEN) // DESC_SIZE
            rx_n = peek(R.RDLEN) // DESC_SIZE
            s.tx_size, s.rx_size = tx_n, rx_n
            tx = (peek(R.TDT) - peek(R.TDH)) % tx_n if tx_n else 0
            rx = (peek(R.RDT) - peek(R.RDH)) % rx_n if rx_n else 0
            if not s.tx or s.tx[-1][1] != tx:
                s.tx.append((t, tx))
            if not s.rx or s.rx[-1][1] != rx:
                s.rx.append((t, rx))
        return sample

    def close(self) -> NicTrace:
        """Detach from every tracepoint and return what was recorded."""
        if self._unsubscribe:
            for sample in self._samplers:
                sample()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        return self.trace()

    def trace(self) -> NicTrace:
        return NicTrace(self.series, self.t0_ns, self.sched.now)


def _steps(points: list[tuple[float, int]], end: float) -> tuple[list[float], list[int]]:
    """A step series held to ``end`` (the last value lasts until the recording stopped)."""
    xs = [t for t, _ in points]
    ys = [n for _, n in points]
    if points and end > xs[-1]:
        xs.append(end)
        ys.append(ys[-1])
    return xs, ys


def draw_nic(trace: NicTrace, title: str | None = None) -> Any:
    """Draw every NIC's TX and RX occupancy and interrupt rate; return the Figure."""
    figure = mpl.new_figure(3, 8.0)
    ax_tx, ax_rx, ax_irq = figure.axes
    end = (trace.end_ns - trace.t0_ns) / NS_PER_S
    for s in trace.nics:
        xs, ys = _steps(s.tx, end)
        ax_tx.step(xs, ys, where="post", label=f"{s.name} (ring {s.tx_size})",
                   gid=f"tx:{s.name}")
        xs, ys = _steps(s.rx, end)
        ax_rx.step(xs, ys, where="post", label=f"{s.name} (ring {s.rx_size})",
                   gid=f"rx:{s.name}")
        bins, counts = trace.irq_per_ms(s)
        ax_irq.step(bins, counts, where="post", label=f"{s.name} ({len(s.irqs)} total)",
                    gid=f"irq:{s.name}")
    ax_tx.set_ylabel("TX descriptors\nqueued (TDT-TDH)")
    ax_rx.set_ylabel("RX descriptors\nfree (RDT-RDH)")
    ax_irq.set_ylabel("interrupts / ms")
    ax_irq.set_xlabel("time (s)")
    for ax in figure.axes:
        ax.grid(True, linewidth=0.3)
        ax.legend(loc="upper right", fontsize="small")
    ax_tx.set_title(title or "NIC rings and interrupts")
    return figure
