"""The World: one scheduler, the hosts on it and the cables between them.

This is the user's entry point (docs/design.md, "The user's surface")::

    with World(seed=7) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="50us", loss=0.01, pcap="ab.pcap")

Everything is deterministic for a seed: the scheduler's RNG feeds MAC addresses, cable
impairments, ISNs and ephemeral ports, and events run in (time, sequence) order.
"""

from __future__ import annotations

import os
from typing import Any

from device.bridge import Hub, LoopGuard, Switch
from device.cable import Cable
from device.faults import FaultLog
from device.impair import CeMark, Corrupt, Delay, Duplicate, Loss, Reorder
from device.pcap import PcapWriter
from device.port import Port
from ixsim.clock import parse_rate
from ixsim.host import Host
from ixsim.sched import Deadlock, Scheduler, format_ns, parse_duration
from ixsim.topology import load as load_topology
from stack.core import IF_OPER_UP

__all__ = ["World", "Deadlock", "Switch", "Hub", "parse_duration", "parse_rate", "format_ns"]


def _port_of(end: Any) -> Port:
    """Accept a Port, a host interface (``a.eth0``) or a Host (its first NIC)."""
    if isinstance(end, Port):
        return end
    if isinstance(end, Host):
        return end.nics[0].port
    port = getattr(end, "port", None)
    if isinstance(port, Port):
        return port
    if isinstance(end, Switch | Hub):
        raise TypeError(f"cannot cable {end!r} as a whole: pass one of its ports, "
                        f"{end.name}.port(i)")
    raise TypeError(f"cannot cable {end!r}: pass host.eth0, sw.port(i) (or a Port)")


class World:
    """A set of hosts and cables on one scheduler (virtual time unless ``realtime``)."""

    def __init__(self, seed: int = 0, realtime: bool = False, strict: bool = False) -> None:
        self.sched = Scheduler(seed=seed, realtime=realtime)
        self.seed = seed
        self.strict = strict
        self.hosts: dict[str, Host] = {}
        self.switches: dict[str, Switch] = {}
        self.hubs: dict[str, Hub] = {}
        self.cables: list[Cable] = []
        self.loop_guard = LoopGuard(self.sched)
        self._pcaps: list[PcapWriter] = []
        self.closers: list[Any] = []  # called by close(), last first (taps a topology opened)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, seed: int | None = None,
             realtime: bool | None = None, strict: bool | None = None) -> World:
        """A world built from a topology file (TOML; README "Topology files").

        ``seed``, ``realtime`` and ``strict`` override the file's ``[world]`` table (seed 0,
        virtual time unless the file has taps, not strict).  Every mistake in the file is an
        ``ixsim.topology.TopologyError`` (a ValueError) naming the file, line and key.
        """
        return load_topology(path, cls, seed=seed, realtime=realtime, strict=strict)

    # -- building ------------------------------------------------------------------------
    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a name must be a non-empty string, got {name!r}")
        for kind, table in (("host", self.hosts), ("switch", self.switches),
                            ("hub", self.hubs)):
            if name in table:
                raise ValueError(f"{kind} {name!r} exists already")

    def host(self, name: str, *addresses: str, nics: int = 1, **options: Any) -> Host:
        self._check_name(name)
        host = Host(self, name, index=len(self.hosts), nics=nics, **options)
        self.hosts[name] = host
        for i, addr in enumerate(addresses):
            host.add_address(f"eth{i}" if i < nics else "eth0", addr)
        if host.netconsole_config is not None:
            host.start_netconsole()  # a late_initcall: after the addresses, as ip= would
        return host

    def switch(
        self,
        name: str,
        ports: int = 8,
        *,
        vlan_filtering: bool = False,
        ageing: int | str = "300s",
    ) -> Switch:
        """A learning Ethernet bridge (device/bridge.py): ``w.cable(a.eth0, sw.port(0))``.

        ``ageing`` is how long an idle FDB entry lives (virtual time; 0: for ever);
        ``vlan_filtering=True`` enables 802.1Q access and trunk ports (``sw.port(i,
        vlan=10)``, ``sw.port(i, trunk=[10, 20])``).  There is no STP: a cabling loop is
        stopped by the loop guard, counted and reported in ``w.faults``.
        """
        self._check_name(name)
        try:
            ageing_ns = parse_duration(ageing)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"switch {name}: ageing: {exc}") from None
        sw = Switch(self.sched, name, ports, vlan_filtering=vlan_filtering,
                    ageing_ns=ageing_ns, guard=self.loop_guard,
                    faults=FaultLog(strict=self.strict))
        self.switches[name] = sw
        return sw

    def hub(self, name: str, ports: int = 4) -> Hub:
        """A repeater: every frame to every other port with link up (device/bridge.py)."""
        self._check_name(name)
        hub = Hub(self.sched, name, ports, guard=self.loop_guard,
                  faults=FaultLog(strict=self.strict))
        self.hubs[name] = hub
        return hub

    def cable(
        self,
        a: Any,
        b: Any,
        *,
        latency: int | str = 0,
        rate: int | str = "10G",
        loss: float = 0.0,
        dup: float = 0.0,
        reorder: float = 0.0,
        reorder_delay: int | str = "100us",
        corrupt: float = 0.0,
        ce: float = 0.0,
        delay: int | str = 0,
        jitter: int | str = 0,
        pcap: str | None = None,
        snaplen: int = 262144,
        wait: bool = True,
        limit: int | None = None,
    ) -> Cable:
        """Join two ports back to back, with optional impairments and a pcap file.

        An end is a host interface (``a.eth0``), a host (its first NIC), a switch or hub
        port (``sw.port(3)``) or a :class:`~device.port.Port`.

        Impairments apply in both directions, each direction drawing from the world's
        seeded RNG.  ``ce`` is the probability that an ECN-capable IPv4 packet is marked
        Congestion Experienced (others pass untouched; counted in ``ce_marked``).  ``limit``
        bounds each direction's serializer queue in frames (dropping beyond it, as netem's
        ``limit``); the default is unbounded (see device/cable.py).
        The pcap records every frame delivered in either direction.
        """
        stages: list[Any] = []
        if delay or jitter:
            stages.append(Delay(parse_duration(delay), parse_duration(jitter)))
        if loss:
            stages.append(Loss(loss))
        if dup:
            stages.append(Duplicate(dup))
        if corrupt:
            stages.append(Corrupt(corrupt))
        if reorder:
            stages.append(Reorder(reorder, parse_duration(reorder_delay)))
        if ce:
            stages.append(CeMark(ce))
        port_a, port_b = _port_of(a), _port_of(b)
        cable = Cable(
            self.sched, port_a, port_b, rate_bps=parse_rate(rate),
            latency_ns=parse_duration(latency), stages=stages, limit=limit,
        )
        if pcap:
            # Record at the receiving ends, so the file is in strict time order and holds
            # exactly what each NIC was offered (what the cable lost is not there).
            writer = PcapWriter(pcap, snaplen=snaplen)
            self._pcaps.append(writer)

            def record(direction: str, now: int, frame: bytes) -> None:
                if direction == "rx":
                    writer.write(now, frame)

            port_a.trace_frame.append(record)
            port_b.trace_frame.append(record)
        if wait:
            self.wait_link(a, b)
        self.cables.append(cable)
        return cable

    def wait_link(self, *ends: Any, timeout: int | str = "1s") -> None:
        """Run until every given interface (with a driver bound) is operationally up.

        Plugging a cable takes a few milliseconds to show as link in the driver (LSC, the
        watchdog, carrier, link watch); ``cable()`` waits for it so that the first packet a
        test sends is not dropped by a link that is still coming up.
        """
        devs = [end for end in ends if getattr(end, "operstate", None) is not None]
        if not devs:
            return

        def up() -> bool:
            return all(dev.operstate == IF_OPER_UP and dev.qdisc is not None
                       and dev.qdisc.active for dev in devs)

        self.sched.run_until(up, timeout, what="link up on " + ", ".join(
            f"{getattr(getattr(d, 'host', None), 'name', '?')}:{d.name}" for d in devs))

    # -- running -------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.sched.now

    def run_for(self, duration: int | str) -> bool:
        return self.sched.run_for(duration)

    def run_until(self, predicate, timeout: int | str | None = None, what: str = "condition"):
        return self.sched.run_until(predicate, timeout, what)

    def step(self):
        return self.sched.step()

    def spawn(self, coro, name: str = ""):
        return self.sched.spawn(coro, name)

    @property
    def faults(self) -> list:
        out = []
        for host in self.hosts.values():
            out.extend(host.machine.faults.faults)
        for element in (*self.switches.values(), *self.hubs.values()):
            out.extend(element.faults.faults)
        return sorted(out, key=lambda f: f.time_ns)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()
        for writer in self._pcaps:
            writer.close()
        self._pcaps.clear()
        for host in self.hosts.values():
            host.close()
        self.sched.close()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
