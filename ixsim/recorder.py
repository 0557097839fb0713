"""A flight recorder for a World: every frame at every NIC port and the last trace lines,
written out on demand (the pytest plugin dumps it for a failing test).

Mirrors what one keeps after a failed run on real hardware: a capture of each link (QEMU's
``-object filter-dump`` per netdev) and the tail of the trace (QEMU's ``-trace`` log, the
kernel's ``dmesg``).  It observes through the device tracepoints (``device/trace.py``):
``frame`` on each port, ``irq`` and ``irq_deliver`` on each PCI function and ``fault`` on
each host's fault log; it changes nothing in the world, so a run with the recorder attached
sends the same frames at the same times as one without.

Contract:

* :meth:`Recorder.watch_host` subscribes to a host's NICs before anything is cabled (a
  :class:`RecordedWorld` does it in ``host()``), so the record starts with the first frame.
  :meth:`watch_port` watches any other port (a switch's, a tap's).
* Per port the last ``max_frames`` frames are kept (both directions, with their virtual
  time); the trace keeps the last ``trace_lines`` events.  The frames are the port's own
  immutable ``bytes``: recording one costs a tuple and a deque append.
* :meth:`dump` writes into a directory: ``cableN-A-B.pcap`` per cable of the world (the
  frames each end received, in time order: what the cable delivered, as ``World.cable``'s
  ``pcap=`` records), ``port-NAME.pcap`` for a watched port on no cable (both directions),
  ``trace.txt`` (one event a line, the format of docs/trace-format.md), ``dmesg-HOST.txt``,
  ``faults.txt`` and ``summary.txt`` (seed, virtual time, cable statistics).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device.pcap import PcapWriter
from device.spec import regs as R
from device.trace import subscribe
from ixsim.shell.trace import frame_text, line
from ixsim.world import World

DEFAULT_TRACE_LINES = 200
DEFAULT_MAX_FRAMES = 100_000

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(text: str, limit: int = 120) -> str:
    """A file name from any text (a test id, a port name): unsafe runs become ``_``."""
    name = _UNSAFE.sub("_", text).strip("._") or "_"
    return name[:limit]


class _PortLog:
    """The frames seen at one port: ``(time_ns, direction, frame)``, oldest dropped first."""

    __slots__ = ("port", "who", "frames", "seen")

    def __init__(self, port: Any, who: str, max_frames: int) -> None:
        self.port = port
        self.who = who
        self.frames: deque[tuple[int, str, bytes]] = deque(maxlen=max_frames)
        self.seen = 0


class Recorder:
    """Frames per port and a bounded trace of a world's hosts; see the module docstring."""

    def __init__(self, world: World, trace_lines: int = DEFAULT_TRACE_LINES,
                 max_frames: int = DEFAULT_MAX_FRAMES) -> None:
        if trace_lines < 0 or max_frames < 1:
            raise ValueError("trace_lines must be >= 0 and max_frames >= 1")
        self.world = world
        self.max_frames = max_frames
        # (time_ns, who, class, body-or-frame): frame bodies are described at dump time.
        self.trace: deque[tuple[int, str, str, Any]] = deque(maxlen=trace_lines)
        self.ports: dict[int, _PortLog] = {}
        self.hosts: list[Any] = []
        self._undo: list[Callable[[], None]] = []

    # -- attaching -------------------------------------------------------------------------
    def watch_host(self, host: Any) -> None:
        """Record every NIC of ``host``: its port's frames, its interrupts, its faults."""
        self.hosts.append(host)
        names = {id(dev.port): name for name, dev in host.interfaces.items()
                 if getattr(dev, "port", None) is not None}
        for slot in host.nics:
            who = f"{host.name} {names.get(id(slot.port), f'nic{slot.index}')}"
            self.watch_port(slot.port, who)
            self._undo.append(subscribe(slot.pci, "irq", self._on_irq(who)))
            self._undo.append(subscribe(slot.pci, "irq_deliver", self._on_deliver(who, slot)))
        self._undo.append(subscribe(host.machine.faults, "fault", self._on_fault(host.name)))

    def watch_port(self, port: Any, who: str | None = None) -> None:
        """Record the frames at ``port`` (once; a second call is a no-op)."""
        if id(port) in self.ports:
            return
        log = _PortLog(port, who or port.name, self.max_frames)
        self.ports[id(port)] = log
        frames, trace, who_ = log.frames, self.trace, log.who

        def on_frame(direction: str, time_ns: int, frame: bytes) -> None:
            log.seen += 1
            frames.append((time_ns, direction, frame))
            trace.append((time_ns, who_, "frame", (direction, frame)))

        self._undo.append(subscribe(port, "frame", on_frame))

    def _on_irq(self, who: str) -> Callable[[bool], None]:
        sched, trace = self.world.sched, self.trace

        def on_irq(level: bool) -> None:
            trace.append((sched.now, who, "irq", "line " + ("up" if level else "down")))

        return on_irq

    def _on_deliver(self, who: str, slot: Any) -> Callable[[int], None]:
        sched, trace, nic = self.world.sched, self.trace, slot.nic

        def on_deliver(irq: int) -> None:
            icr, ims = nic.peek(R.ICR), nic.peek(R.IMS)
            body = f"{irq} -> handler: ICR=0x{icr:x} IMS=0x{ims:x}"
            if not icr & ims:
                body += " (spurious: no unmasked cause)"
            trace.append((sched.now, who, "irq", body))

        return on_deliver

    def _on_fault(self, host: str) -> Callable[[Any], None]:
        trace = self.trace

        def on_fault(fault: Any) -> None:
            trace.append((fault.time_ns, host, "fault", str(fault)))

        return on_fault

    def close(self) -> None:
        """Detach from every tracepoint (the record stays readable)."""
        for undo in self._undo:
            undo()
        self._undo.clear()

    # -- reading ---------------------------------------------------------------------------
    def trace_lines(self) -> list[str]:
        """The kept trace, one event a line (docs/trace-format.md)."""
        out = []
        for time_ns, who, cls, body in self.trace:
            if cls == "frame":
                body = frame_text(*body)
            out.append(line(time_ns, who, cls, body))
        return out

    def cable_frames(self, cable: Any) -> list[tuple[int, bytes]] | None:
        """What ``cable`` delivered, both directions in time order; None if neither end is
        watched.  An end that is not watched is seen through the other end's transmissions."""
        logs = [self.ports.get(id(cable.a)), self.ports.get(id(cable.b))]
        if logs == [None, None]:
            return None
        merged: list[tuple[int, int, bytes]] = []
        for i, log in enumerate(logs):
            other = logs[1 - i]
            if log is not None:
                merged += [(t, i, f) for t, d, f in log.frames if d == "rx"]
            else:
                merged += [(t, i, f) for t, d, f in other.frames if d == "tx"]
        merged.sort(key=lambda rec: rec[0])  # stable: equal times keep each end's order
        return [(t, f) for t, _i, f in merged]

    # -- writing ---------------------------------------------------------------------------
    def dump(self, directory: str | Path, header: str = "") -> list[Path]:
        """Write the record into ``directory`` (created); return the files written."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        on_cable: set[int] = set()
        for i, cable in enumerate(self.world.cables):
            on_cable.update((id(cable.a), id(cable.b)))
            frames = self.cable_frames(cable)
            if frames is None:
                continue
            path = out / f"cable{i}-{safe_name(cable.a.name)}-{safe_name(cable.b.name)}.pcap"
            written.append(self._pcap(path, frames))
        for key, log in self.ports.items():
            if key not in on_cable and log.frames:
                path = out / f"port-{safe_name(log.port.name)}.pcap"
                written.append(self._pcap(path, [(t, f) for t, _d, f in log.frames]))
        written.append(self._text(out / "trace.txt", self.trace_lines()))
        for host in self.hosts:
            written.append(self._text(out / f"dmesg-{safe_name(host.name)}.txt",
                                      host.kernel.dmesg_text().splitlines()))
        written.append(self._text(out / "faults.txt", [str(f) for f in self.world.faults]))
        written.append(self._text(out / "summary.txt", self.summary(header)))
        return written

    def summary(self, header: str = "") -> list[str]:
        w = self.world
        lines = [header] if header else []
        lines += [f"seed {w.seed}", f"virtual time {w.now} ns",
                  f"hosts {', '.join(w.hosts) or 'none'}"]
        for i, cable in enumerate(w.cables):
            lines.append(f"cable{i} {cable.a.name} <-> {cable.b.name}")
            for way, lane in (("a->b", cable.ab), ("b->a", cable.ba)):
                stats = " ".join(f"{k}={v}" for k, v in lane.stats().items())
                lines.append(f"  {way}: {stats}")
        for log in self.ports.values():
            kept = len(log.frames)
            note = f" (kept the last {kept})" if kept < log.seen else ""
            lines.append(f"port {log.port.name} ({log.who}): {log.seen} frames{note}")
        lines.append(f"trace: the last {len(self.trace)} events")
        return lines

    @staticmethod
    def _pcap(path: Path, frames: list[tuple[int, bytes]]) -> Path:
        writer = PcapWriter(str(path), nanosecond=True)
        try:
            for time_ns, frame in frames:
                writer.write(time_ns, frame)
        finally:
            writer.close()
        return path

    @staticmethod
    def _text(path: Path, lines: list[str]) -> Path:
        path.write_text("".join(text + "\n" for text in lines))
        return path


class RecordedWorld(World):
    """A World whose hosts are recorded from birth (``self.recorder``)."""

    def __init__(self, *args: Any, trace_lines: int = DEFAULT_TRACE_LINES,
                 max_frames: int = DEFAULT_MAX_FRAMES, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = Recorder(self, trace_lines=trace_lines, max_frames=max_frames)

    def host(self, name: str, *addresses: str, nics: int = 1, **options: Any) -> Any:
        host = super().host(name, *addresses, nics=nics, **options)
        self.recorder.watch_host(host)
        return host

    def close(self) -> None:
        self.recorder.close()
        super().close()
