"""The debugger's engine: tracepoints, breakpoints, single-stepping and running a world.

One :class:`Session` per world.  At construction it subscribes to every NIC's device
tracepoints (:mod:`device.trace`: ``mmio``, ``tx_frame``, ``rx_frame``, ``irq_deliver``,
``frame`` at the port); the ``dma`` tracepoint and the kernel's tracers are subscribed only
while ``trace dma`` / ``trace tcp`` is on (a watched DMA takes the engines' slow path).  Each
observation becomes one line (:mod:`ixsim.shell.trace`) that is printed when its trace class
is on for that host, collected when a ``step`` is recording, and matched against the
breakpoints.  Device events are named by the labels their components give them
(``pending_events()``), never by the scheduled method's name.

Running is the scheduler's own ``peek``/``step`` in a loop, so the debugger can stop at
two places:

* **after an event** in which a breakpoint matched (a register access, a frame): a TDT
  breakpoint stops right after the event that wrote TDT, and the device's descriptor fetch,
  a separate event by the device's contract, is the next one pending;
* **before an event**: ``break irq HOST`` stops with the interrupt delivery pending, before
  the driver's handler reads ICR.  Resuming runs that event first without stopping again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from device.pcap import PcapWriter
from device.spec import regs as R
from device.trace import subscribe
from ixsim.shell import trace as T
from ixsim.shell.errors import ShellError
from ixsim.shell.target import NicRef, all_nics
from stack.wire.describe import describe

_ICR = R.BY_NAME["ICR"]
TRACE_CLASSES = ("mmio", "irq", "dma", "frames", "tcp")
MAX_EFFECT_LINES = 60


@dataclass
class Breakpoint:
    number: int
    kind: str  # "reg", "irq" or "frame"
    host: str | None = None
    iface: str | None = None  # None: any NIC of the host
    reg: R.Reg | None = None
    access: str = "access"  # "read", "write" or "access" (either)
    expr: str = ""
    matcher: Callable[[bytes], bool] | None = None
    hits: int = 0

    def describe(self) -> str:
        where = f"{self.host}:{self.iface}" if self.iface else (self.host or "any host")
        if self.kind == "reg":
            assert self.reg is not None
            what = {"read": "read of", "write": "write to", "access": "access to"}[self.access]
            return f"{what} {self.reg.name} on {where}"
        if self.kind == "irq":
            return f"interrupt delivery on {where} (stops before the handler runs)"
        return f"frame matching {self.expr!r} on any port"


@dataclass
class Hit:
    bp: Breakpoint
    text: str


@dataclass
class Stop:
    """Why a run returned: ``reason`` is "time" (deadline reached), "breakpoint", "idle"
    (nothing left to run) or "interrupted"."""

    reason: str
    events: int
    hits: list[Hit] = field(default_factory=list)
    before: Breakpoint | None = None  # a stop before an event (irq)
    pending: Any = None  # the event that runs next


class Session:
    """Observers, breakpoints and execution control over one :class:`~ixsim.world.World`."""

    def __init__(self, world: Any, write: Callable[[str], None]) -> None:
        self.world = world
        self.sched = world.sched
        self.write = write
        self.traces: dict[str, set[str]] = {cls: set() for cls in TRACE_CLASSES}
        self.breakpoints: dict[int, Breakpoint] = {}
        self._next_bp = 1
        self.hits: list[Hit] = []
        self._effects: list[str] | None = None
        self._step_rx: dict[int, list[int]] = {}
        self._step_tx: dict[int, list[int]] = {}
        self._shell_access = False
        self._resume: Any = None
        self._undo: list[Callable[[], None]] = []
        self._dma_undo: dict[str, list[Callable[[], None]]] = {}
        self._tcp_undo: dict[str, Callable[[], None]] = {}
        self.pcap: PcapWriter | None = None
        self.pcap_path = ""
        self.pcap_frames = 0
        self.pcap_error = ""  # why a running capture stopped writing
        self.refs = all_nics(world)
        for ref in self.refs:
            self._attach(ref)

    # -- observers ----------------------------------------------------------------------
    def _attach(self, ref: NicRef) -> None:
        nic, pci, port = ref.nic, ref.pci, ref.port

        def on_mmio(kind: str, offset: int, value: int, old: int) -> None:
            self._on_mmio(ref, kind, offset, value, old)

        def on_tx(frame: bytes, ndesc: int) -> None:
            if self._effects is not None:  # only a step records
                self._step_tx.setdefault(id(ref), []).append(len(frame))
                self._effect(ref.label, "tx", T.tx_engine_text(frame, ndesc))

        def on_rx(frame: bytes, index: int) -> None:
            if self._effects is not None:
                self._step_rx.setdefault(id(ref), []).append(index)
                self._effect(ref.label, "rx", T.rx_engine_text(ref, frame, index))

        def on_irq(irq: int) -> None:
            self._emit(ref.host.name, ref.label, "irq", "irq", lambda: T.irq_text(ref, irq))

        def on_msi(addr: int, data: int) -> None:
            self._emit(
                ref.host.name,
                ref.label,
                "irq",
                "msi",
                lambda: f"message: write 0x{data:04x} to 0x{addr:x}",
            )

        def on_port(direction: str, now: int, frame: bytes) -> None:
            self._on_port(ref, direction, now, frame)

        hooks = (
            (nic, "mmio", on_mmio),
            (nic.tx, "tx_frame", on_tx),
            (nic.rx, "rx_frame", on_rx),
            (pci, "irq_deliver", on_irq),
            (pci, "msi", on_msi),
            (port, "frame", on_port),
        )
        for obj, name, fn in hooks:
            self._undo.append(subscribe(obj, name, fn))

    def close(self) -> None:
        """Remove every observer and close a running capture."""
        for host in list(self._dma_undo):
            self.set_dma_trace(host, False)
        for host in list(self._tcp_undo):
            self.set_tcp_trace(host, False)
        for undo in self._undo:
            undo()
        self._undo.clear()
        if self.pcap is not None:
            self.pcap_stop()

    def _effect(self, who: str, cls: str, body: str) -> None:
        assert self._effects is not None
        self._effects.append(f"{who} {cls} {body}")

    def _emit(self, host: str, who: str, trace_cls: str, cls: str, body: Callable[[], str]) -> None:
        """Record a line for a step, or print it when its class is traced for ``host``."""
        if self._effects is not None:
            self._effect(who, cls, body())
        elif host in self.traces[trace_cls]:
            self.write(T.line(self.sched.now, who, cls, body()))

    def _on_mmio(self, ref: NicRef, kind: str, offset: int, value: int, old: int) -> None:
        bps = [
            bp
            for bp in self.breakpoints.values()
            if bp.kind == "reg"
            and bp.reg is not None
            and bp.reg.offset == offset
            and bp.access in ("access", "read" if kind == "r" else "write")
            and self._matches(bp, ref)
        ]
        host = ref.host.name
        if not bps and self._effects is None and host not in self.traces["mmio"]:
            return
        body = T.mmio_text(ref, kind, offset, value, old)
        if self._shell_access:
            body += "  (shell)"
        self._emit(host, ref.label, "mmio", "mmio", lambda: body)
        for bp in bps:
            self._hit(bp, T.line(self.sched.now, ref.label, "mmio", body))

    def _on_port(self, ref: NicRef, direction: str, now: int, frame: bytes) -> None:
        if self.pcap is not None and direction == "rx":
            try:
                self.pcap.write(now, frame)
            except OSError as exc:  # the disk filled up: stop capturing, say so at 'pcap stop'
                self.pcap_error = f"writing {self.pcap_path}: {exc.strerror or exc}"
                _close_quietly(self.pcap)
            self.pcap_frames += 1
        host = ref.host.name
        bps = [
            bp
            for bp in self.breakpoints.values()
            if bp.kind == "frame" and bp.matcher is not None and bp.matcher(frame)
        ]
        if not bps and self._effects is None and host not in self.traces["frames"]:
            return
        body = T.frame_text(direction, frame)
        self._emit(host, ref.label, "frames", "frame", lambda: body)
        for bp in bps:
            self._hit(bp, T.line(now, ref.label, "frame", body))

    @staticmethod
    def _matches(bp: Breakpoint, ref: NicRef) -> bool:
        if bp.host is not None and bp.host != ref.host.name:
            return False
        return bp.iface is None or bp.iface in (ref.iface, f"nic{ref.slot.index}")

    def _hit(self, bp: Breakpoint, text: str) -> None:
        bp.hits += 1
        self.hits.append(Hit(bp, text))
        if self._effects is not None:
            self._effects.append(f"breakpoint {bp.number} hit")

    @contextlib.contextmanager
    def shell_access(self) -> Iterator[None]:
        """Mark MMIO done by the user's ``read``/``write`` as ``(shell)`` in traces."""
        self._shell_access = True
        try:
            yield
        finally:
            self._shell_access = False

    # -- optional observers: DMA and kernel tracepoints ---------------------------------
    def set_dma_trace(self, host: str, on: bool) -> None:
        if on and host not in self._dma_undo:
            undo: list[Callable[[], None]] = []
            for ref in self.refs:
                if ref.host.name == host:
                    undo.append(self._watch_dma(ref))
            self._dma_undo[host] = undo
        elif not on and host in self._dma_undo:
            for fn in self._dma_undo.pop(host):
                fn()

    def _watch_dma(self, ref: NicRef) -> Callable[[], None]:
        """Subscribe to the PCI function's ``dma`` tracepoint; return the unsubscriber."""
        host = ref.host.name

        def on_dma(direction: str, addr: int, length: int, what: str, ok: bool) -> None:
            self._emit(
                host, ref.label, "dma", "dma", lambda: T.dma_text(direction, addr, length, what, ok)
            )

        return subscribe(ref.pci, "dma", on_dma)

    def set_tcp_trace(self, host: str, on: bool) -> None:
        kernel = self.world.hosts[host].kernel
        if on and host not in self._tcp_undo:

            def tracer(now: int, event: str, fields: dict[str, Any]) -> None:
                if event.startswith("tcp"):
                    self._emit(host, host, "tcp", "tcp", lambda: T.tcp_text(event, fields))

            kernel.tracers.append(tracer)
            self._tcp_undo[host] = lambda: kernel.tracers.remove(tracer)
        elif not on and host in self._tcp_undo:
            self._tcp_undo.pop(host)()

    # -- breakpoints --------------------------------------------------------------------
    def add_breakpoint(self, **fields: Any) -> Breakpoint:
        bp = Breakpoint(self._next_bp, **fields)
        self.breakpoints[bp.number] = bp
        self._next_bp += 1
        return bp

    def delete_breakpoint(self, number: int) -> Breakpoint:
        bp = self.breakpoints.pop(number, None)
        if bp is None:
            known = ", ".join(map(str, self.breakpoints)) or "none"
            raise ShellError(f"no breakpoint {number} (breakpoints: {known})")
        return bp

    def _before(self, handle: Any) -> Breakpoint | None:
        """A breakpoint that stops *before* ``handle`` runs (interrupt delivery): the PCI
        function lists its pending delivery (``pending_events``), so no name is matched."""
        ref = self._irq_owner(handle)
        if ref is None or not ref.pci.irq_level:
            return None
        for bp in self.breakpoints.values():
            if bp.kind == "irq" and self._matches(bp, ref):
                bp.hits += 1
                return bp
        return None

    def _irq_owner(self, handle: Any) -> NicRef | None:
        """The NIC whose PCI function will deliver an interrupt at ``handle``, if any."""
        if not any(bp.kind == "irq" for bp in self.breakpoints.values()):
            return None
        for ref in self.refs:
            for ev in ref.pci.pending_events():
                if ev.handle is handle:
                    return ref
        return None

    def _device_event(self, handle: Any) -> tuple[NicRef, str] | None:
        """The NIC one of whose components (PCI function, TX or RX engine) lists ``handle``
        among its pending events, with the component's label for it."""
        for ref in self.refs:
            for component in (ref.pci, ref.nic.tx, ref.nic.rx):
                for ev in component.pending_events():
                    if ev.handle is handle:
                        return ref, ev.label
        return None

    def event_name(self, handle: Any) -> str:
        """``a:nic0 TX descriptor fetch`` for a device event (its component's label),
        else the scheduler's generic name (:func:`ixsim.shell.trace.event_name`)."""
        found = self._device_event(handle)
        if found is not None:
            ref, label = found
            return f"{ref.nic.trace_name} {label}"
        for element in (*self.world.switches.values(), *self.world.hubs.values()):
            for ev in element.pending_events():
                if ev.handle is handle:
                    return ev.label  # "sw0 FDB ageing sweep"
        return T.event_name(handle)

    # -- execution ----------------------------------------------------------------------
    def run(self, duration: int | None) -> Stop:
        """Run events until ``duration`` ns passed (None: until a breakpoint or idle).

        Ctrl-C stops the run between two events (never inside one), like a breakpoint.
        """
        sched = self.sched
        deadline = None if duration is None else sched.now + duration
        self.hits.clear()
        events = 0
        with _sigint_flag() as interrupted:
            while True:
                head = sched.peek()
                if head is None or (deadline is not None and head.when > deadline):
                    if deadline is not None:
                        sched.run_until_time(deadline)
                        return Stop("time", events, pending=sched.peek())
                    return Stop("idle", events)
                if head is not self._resume:
                    bp = self._before(head)
                    if bp is not None:
                        self._resume = head
                        return Stop("breakpoint", events, before=bp, pending=head)
                self._resume = None
                sched.step()
                events += 1
                if self.hits:
                    return Stop("breakpoint", events, list(self.hits), pending=sched.peek())
                if interrupted:
                    return Stop("interrupted", events, pending=sched.peek())

    def step(self) -> list[str] | None:
        """Run exactly one event; return its header line and what it did (None: idle)."""
        sched = self.sched
        head = sched.peek()
        if head is None:
            return None
        found = self._device_event(head)
        owner = found[0] if found is not None else None
        name = self.event_name(head)
        before = self._snapshot()
        faults = len(self.world.faults)
        self._step_rx.clear()
        self._step_tx.clear()
        self._effects = []
        self.hits.clear()
        self._resume = None
        try:
            sched.step()
        finally:
            effects, self._effects = self._effects, None
        summary = self._summary(before, owner)
        header = f"{T.stamp(head.when)} {name}"
        if summary:
            header += ": " + summary
        new_faults = self.world.faults[faults:]
        effects.extend(f"FAULT {f}" for f in new_faults)
        if len(effects) > MAX_EFFECT_LINES:
            extra = len(effects) - MAX_EFFECT_LINES
            effects = effects[:MAX_EFFECT_LINES] + [f"... and {extra} more"]
        return [header, *("    " + e for e in effects)]

    def _snapshot(self) -> dict[int, tuple[Any, ...]]:
        out = {}
        for ref in self.refs:
            tx, rx, pci = ref.nic.tx, ref.nic.rx, ref.pci
            out[id(ref)] = (
                tx.descriptors,
                tx.frames,
                tx.stalled,
                tx.dropped,
                ref.nic.peek(R.TDH),
                rx.state(),
                pci.irq_delivered,
                pci.irq_unhandled,
                tx.lost_irqs,
                ref.nic.peek(R.ICR),
                pci.irq_level,
            )
        return out

    def _summary(self, before: dict[int, tuple[Any, ...]], owner: NicRef | None) -> str:
        """What the event did to the devices, from counter differences (one phrase each)."""
        phrases = []
        for ref in self.refs:
            (
                desc0,
                _frames0,
                stalled0,
                dropped0,
                tdh0,
                rx0,
                irq0,
                unhandled0,
                lost0,
                icr0,
                level0,
            ) = before[id(ref)]
            tx, rx, pci = ref.nic.tx, ref.nic.rx, ref.pci
            said = []
            if tx.descriptors > desc0:
                sizes = self._step_tx.get(id(ref), [])
                n = tx.descriptors - desc0
                said.append(
                    f"fetched {n} descriptor{'s' if n != 1 else ''} "
                    f"(TDH {tdh0} -> {ref.nic.peek(R.TDH)}), "
                    f"{len(sizes)} frame{'s' if len(sizes) != 1 else ''} "
                    f"{sum(sizes)} B"
                )
            if tx.stalled > stalled0:
                said.append("TX stalled: nothing fetched (inject tx-stall)")
            if tx.dropped > dropped0:
                said.append(f"{tx.dropped - dropped0} TX packet(s) dropped (see faults)")
            if tx.lost_irqs > lost0:
                said.append(f"{tx.lost_irqs - lost0} TX interrupt cause(s) lost (inject)")
            said.extend(_rx_phrases(rx0, rx.state(), self._step_rx.get(id(ref), [])))
            icr = ref.nic.peek(R.ICR)
            if icr & ~icr0:
                said.append(f"raises {R.describe_bits(_ICR, icr & ~icr0)} (ICR now 0x{icr:x})")
            if pci.irq_level != level0:
                said.append(f"IRQ line {'up' if pci.irq_level else 'down'}")
            if pci.irq_unhandled > unhandled0:
                said.append("interrupt not handled (the handler returned IRQ_NONE)")
            elif pci.irq_delivered > irq0:
                said.append(f"interrupt {pci.irq} handled")
            if said:
                prefix = "" if ref is owner else f"{ref.label}: "
                phrases.append(prefix + ", ".join(said))
        return "; ".join(phrases)

    # -- capture ------------------------------------------------------------------------
    def pcap_start(self, path: str) -> None:
        if self.pcap is not None:
            raise ShellError(f"a capture to {self.pcap_path} is running; 'pcap stop' first")
        try:
            writer = PcapWriter(path)
        except OSError as exc:
            raise ShellError(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            writer.flush()  # the header: a full device (/dev/full) says so now, not later
        except OSError as exc:
            _close_quietly(writer)
            raise ShellError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.pcap = writer
        self.pcap_path = path
        self.pcap_frames = 0
        self.pcap_error = ""

    def pcap_stop(self) -> tuple[str, int]:
        if self.pcap is None:
            raise ShellError("no capture is running ('pcap start FILE')")
        writer, self.pcap = self.pcap, None
        error, self.pcap_error = self.pcap_error, ""
        try:
            writer.close()
        except OSError as exc:
            error = error or f"writing {self.pcap_path}: {exc.strerror or exc}"
        if error:
            raise ShellError(f"{error} (the capture is incomplete)")
        return self.pcap_path, self.pcap_frames


def _close_quietly(writer: PcapWriter) -> None:
    """Close a writer whose file already failed (the error was reported)."""
    try:
        writer.close()
    except OSError:
        pass


@contextlib.contextmanager
def _sigint_flag() -> Iterator[list[bool]]:
    """While active, Ctrl-C only sets a flag (a non-empty list) the run loop checks."""
    flag: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda _sig, _frame: flag.append(True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _rx_phrases(before: dict[str, int], after: dict[str, int], indexes: list[int]) -> list[str]:
    d = {k: after[k] - before[k] for k in after if k in before}
    out = []
    if indexes:
        where = ", ".join(map(str, indexes))
        out.append(
            f"{len(indexes)} frame{'s' if len(indexes) != 1 else ''} written to RX "
            f"descriptor{'s' if len(indexes) != 1 else ''} {where}"
        )
    if d.get("fifo_frames", 0) > 0:
        out.append("no free RX descriptor: frame waits in the packet buffer (RNBC)")
    for key, text in (
        ("dropped_filter", "dropped by the address filter"),
        ("dropped_disabled", "dropped: receiver off or link down"),
        ("dropped_bsize", "dropped: larger than one RX buffer (ROC)"),
        ("dropped_dma", "dropped: RX buffer not writable (see faults)"),
        ("fifo_flushed", "packet buffer flushed (RXEN cleared)"),
    ):
        if d.get(key, 0) > 0:
            out.append(text)
    return out


def frame_matcher(expr: str) -> tuple[Callable[[bytes], bool], str]:
    """A tcpdump filter through stack.bpf when present, else a substring of the one-line
    description; returns the matcher and what it is, for the breakpoint listing."""
    try:
        from stack.bpf import Filter
    except ImportError:
        Filter = None  # noqa: N806 - the class, when the package exists
    if Filter is not None:
        try:
            flt = Filter(expr)
        except Exception as exc:  # noqa: BLE001 - any compile error is the user's filter
            raise ShellError(f"bad filter {expr!r}: {exc}") from None
        return flt, "tcpdump filter"
    return (lambda frame: expr in describe(frame)), "substring of the frame's description"
