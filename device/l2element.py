"""What switches and hubs share: their ports, the loop guard and the loop report.

Linux keeps a bridge's common state in ``net/bridge/br_private.h``; here the shared part is
smaller.  :class:`Element` builds an element's :class:`~device.port.Port` objects (named
``NAME:portN``, like a NIC's ``HOST:nicN.port``) and reports a forwarding loop once as a
fault.  :class:`LoopGuard` is the one piece with no counterpart in Linux or hardware: since
switches run no STP, it follows frames between bridges out of band so that a cabling loop
cannot spin the world forever (the contract is in :mod:`device.bridge`).
"""

from __future__ import annotations

from typing import Any

from device.faults import FaultLog
from device.port import Port
from device.units import NS_PER_S

MAX_PORTS = 1024  # BR_MAX_PORTS
DEFAULT_MAX_HOPS = 16
DEFAULT_MAX_COPIES = 1024


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


class Family:
    """What every copy of one frame shares: how many times copies went bridge to bridge."""

    __slots__ = ("copies",)

    def __init__(self) -> None:
        self.copies = 0


class LoopGuard:
    """The loop guard: bridge hops per frame copy, and a copy budget per original frame.

    Bytes carry no metadata, so the guard keeps it beside the frame object.  A bridge
    sending a frame out of a port whose cable leads to another bridge's port calls
    ``onward``, which charges the frame's :class:`Family` one copy (refusing once
    ``max_copies`` are spent: a broadcast storm that multiplies, such as three cables
    between two switches) and records the hops the copy has crossed; the next bridge reads
    and drops that record with ``take`` when the same object arrives (a cable passes frames
    on unchanged) and refuses a copy that has crossed ``max_hops`` bridges.  Every egress
    copy towards a bridge is an object of its own, so each keeps its own count.

    Records hold their frame (so its ``id`` stays unique while listed) and live in two
    generations of ``period_ns`` virtual time each: a frame lost on a cable between two
    bridges is forgotten within two periods.  So the table holds little more than the
    frames in flight between bridges, which the cables hold anyway; frames between a bridge
    and a NIC are never recorded.
    """

    __slots__ = ("sched", "max_hops", "max_copies", "period_ns", "ports", "_cur", "_old",
                 "_rotate_at", "dropped")

    def __init__(self, sched: Any, max_hops: int = DEFAULT_MAX_HOPS,
                 max_copies: int = DEFAULT_MAX_COPIES, period_ns: int = NS_PER_S) -> None:
        for what, value in (("max_hops", max_hops), ("max_copies", max_copies)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{what} must be a positive int, got {value!r}")
        self.sched = sched
        self.max_hops = max_hops
        self.max_copies = max_copies
        self.period_ns = period_ns
        self.ports: set[Port] = set()  # every bridge and hub port under this guard
        self._cur: dict[int, tuple[bytes, int, Family]] = {}
        self._old: dict[int, tuple[bytes, int, Family]] = {}
        self._rotate_at = period_ns
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._cur) + len(self._old)

    def take(self, frame: bytes) -> tuple[int, Family | None]:
        """The hops this frame object has crossed and its family, forgetting the record;
        ``(0, None)`` for a frame that comes from a NIC."""
        key = id(frame)
        entry = self._cur.pop(key, None)
        if entry is None:
            entry = self._old.pop(key, None)
            if entry is None:
                return 0, None
        return entry[1], entry[2]

    def peek(self, frame: bytes) -> int:
        """The hops recorded for ``frame`` (0 when none), without forgetting them."""
        entry = self._cur.get(id(frame)) or self._old.get(id(frame))
        return entry[1] if entry is not None and entry[0] is frame else 0

    def onward(self, frame: bytes, hops: int, family: Family) -> bool:
        """Record a copy leaving towards another bridge; False when the family's budget is
        spent (the caller drops it as a storm)."""
        family.copies += 1
        if family.copies > self.max_copies:
            return False
        now = self.sched.now
        if now >= self._rotate_at:
            self._old = self._cur
            self._cur = {}
            self._rotate_at = now + self.period_ns
        self._cur[id(frame)] = (frame, hops, family)
        return True

    def leads_to_bridge(self, port: Port) -> bool:
        """Whether the cable on ``port`` ends at another bridge or hub port."""
        medium = port.medium
        ends = (getattr(medium, "a", None), getattr(medium, "b", None))
        return any(end is not port and end in self.ports for end in ends)


def _check_ports(kind: str, name: str, ports: Any) -> int:
    if isinstance(ports, bool) or not isinstance(ports, int) or not 1 <= ports <= MAX_PORTS:
        raise ValueError(f"{kind} {name}: ports must be an int from 1 to {MAX_PORTS}, "
                         f"got {ports!r}")
    return ports


class Element:
    """What switches and hubs share: ports, the loop guard, the fault report."""

    kind = "element"

    def __init__(self, sched: Any, name: str, ports: int, guard: LoopGuard | None,
                 faults: FaultLog | None) -> None:
        self.sched = sched
        self.name = name
        self.guard = guard if guard is not None else LoopGuard(sched)
        self.faults = faults if faults is not None else FaultLog()
        self._loop_reported = False
        self._ports: list[Any] = []
        for index in range(_check_ports(self.kind, name, ports)):
            phy = Port(sched, f"{name}:port{index}")
            self.guard.ports.add(phy)
            self._ports.append(self._make_port(index, phy))

    port_class: Any = None  # the element's port type: (element, index, phy) -> port

    def _make_port(self, index: int, phy: Port) -> Any:
        """Wrap ``phy`` in the element's port type and take its frames and link changes."""
        port = self.port_class(self, index, phy)
        phy.attach(lambda frame: self._receive(port, frame),
                   lambda up: self._link_change(port, up))
        return port

    def _receive(self, port: Any, frame: bytes) -> None:
        raise NotImplementedError

    def _link_change(self, port: Any, up: bool) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._ports)

    @property
    def ports(self) -> list[Any]:
        return list(self._ports)

    def _port_at(self, index: Any) -> Any:
        if isinstance(index, bool) or not isinstance(index, int) or not (
                0 <= index < len(self._ports)):
            raise ValueError(f"{self.kind} {self.name} has ports 0 to {len(self._ports) - 1}, "
                             f"not {index!r}")
        return self._ports[index]

    def _to_bridge(self, out: Any, frame: bytes, hops: int, family: Family) -> bool:
        """Charge one copy towards another bridge to the loop guard; False: storm, dropped."""
        if self.guard.onward(frame, hops, family):
            return True
        self._loop_drop(out, frame, hops, f"not sent out of {out.name}: "
                        f"{self.guard.max_copies} copies of it already went between bridges")
        return False

    def _flood(self, ingress: Any, frame: bytes, hops: int, family: Family | None,
               ports: Any) -> None:
        """Send ``frame`` out of every port of ``ports`` but ``ingress`` that has link; a copy
        towards another bridge is an object of its own, counted by the loop guard."""
        shared = False
        for out in ports:
            if out is ingress or not out.port.link_up:
                continue
            out_frame = frame
            if out.to_bridge:
                if shared:
                    out_frame = bytes(memoryview(frame))
                shared = True
                if family is None:
                    family = Family()
                if not self._to_bridge(out, out_frame, hops, family):
                    continue
            out.port.transmit(out_frame)

    def _loop_drop(self, sp: Any, frame: bytes, hops: int, what: str = "") -> None:
        sp.loop_dropped += 1
        self.guard.dropped += 1
        if self._loop_reported:
            return
        self._loop_reported = True
        src = format_mac(frame[6:12]) if len(frame) >= 12 else "?"
        what = what or f"dropped on {sp.name} after crossing {hops} bridges"
        self.faults.record(
            self.sched.now, self.name, "loop", hops,
            f"frame from {src} {what}: a forwarding loop (switches run no STP; remove the "
            f"redundant cable); further drops are counted in loop_dropped")
