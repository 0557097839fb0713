"""A hub: the repeater of shared-medium Ethernet, for tests that want every frame everywhere.

Every frame that arrives on a port goes out of every other port with link up, unchanged:
no learning, no VLANs, no collisions (each cable is full duplex).  The loop guard of
:mod:`device.l2element` applies as on a switch; a hub's pending events are none.
"""

from __future__ import annotations

from typing import Any

from device.faults import FaultLog
from device.l2element import Element, LoopGuard
from device.port import Port
from device.trace import PendingEvent


class HubPort:
    """One port of a hub: its PHY (``.port``) and counters."""

    __slots__ = ("hub", "index", "name", "port", "to_bridge", "loop_dropped")

    def __init__(self, hub: Any, index: int, port: Port) -> None:
        self.hub = hub
        self.index = index
        self.name = f"port{index}"
        self.port = port
        self.to_bridge = False
        self.loop_dropped = 0

    def __repr__(self) -> str:
        state = "up" if self.port.link_up else "down"
        return f"<HubPort {self.hub.name}:{self.name} {state}>"

    @property
    def link_up(self) -> bool:
        return self.port.link_up

    def counters(self) -> dict[str, int]:
        phy = self.port
        return {
            "rx_packets": phy.rx_frames,
            "rx_bytes": phy.rx_bytes,
            "tx_packets": phy.tx_frames,
            "tx_bytes": phy.tx_bytes,
            "rx_dropped_link_down": phy.rx_dropped_link_down,
            "tx_dropped_link_down": phy.tx_dropped_link_down,
            "loop_dropped": self.loop_dropped,
        }


class Hub(Element):
    """A repeater: every frame to every other port with link up (see the module docstring)."""

    kind = "hub"
    port_class = HubPort

    def __init__(self, sched: Any, name: str, ports: int = 4, guard: LoopGuard | None = None,
                 faults: FaultLog | None = None) -> None:
        self.repeated = 0
        super().__init__(sched, name, ports, guard, faults)

    def __repr__(self) -> str:
        return f"<Hub {self.name} {len(self._ports)} ports>"

    def port(self, index: int) -> HubPort:
        """Port ``index``, a cable end."""
        return self._port_at(index)

    def pending_events(self) -> list[PendingEvent]:
        return []

    def _link_change(self, hp: HubPort, up: bool) -> None:
        hp.to_bridge = up and self.guard.leads_to_bridge(hp.port)

    def _receive(self, hp: HubPort, frame: bytes) -> None:
        hops, family = self.guard.take(frame)
        if hops >= self.guard.max_hops:
            self._loop_drop(hp, frame, hops)
            return
        self.repeated += 1
        self._flood(hp, frame, hops + 1, family, self._ports)

    def counters(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for hp in self._ports:
            for key, value in hp.counters().items():
                total[key] = total.get(key, 0) + value
        total["repeated"] = self.repeated
        return total
