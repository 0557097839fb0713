"""Topology files: a world of hosts, switches, hubs, cables and taps described in TOML.

``World.load("net.toml")`` (which calls :func:`load`) reads a file like this (README,
"Topology files", has the whole layout; examples/topologies/ has working ones)::

    [hosts.a]
    addresses = ["10.0.0.1/24"]
    [hosts.b]
    addresses = ["10.0.0.2/24"]
    [switches.sw0]
    ports = 4
    [[cables]]
    ends = ["a.eth0", "sw0.port0"]
    latency = "50us"
    [[cables]]
    ends = ["b.eth0", "sw0.port1"]

and makes the calls a test would make by hand, in this order: ``w.host`` for each host (with
``nics``, ``driver``, ``driver_params``, ...), its MTU, ``add_address``, its sysctls by Linux
name and its routes; ``w.switch`` (ports configured with ``port(i, vlan=, trunk=)``) and
``w.hub``; ``w.cable`` for each cable with the impairments by ``World.cable``'s own keyword
names; the taps (``device.backends.tap``, real time only); then it runs the world until every
cabled interface has link, as ``w.cable`` does.

Contract: :mod:`ixsim.topocheck` checks the whole file first; what the world then refuses while
building (a driver that does not import, an MTU the driver rejects, a gateway that is not on a
connected network, a tap without root) is raised as a :class:`TopologyError` at the line that
asked for it, and the half-built world is closed.
"""

from __future__ import annotations

import os
from typing import Any

from device.backends.tap import TapError, TapMedium
from ixsim.clock import Deadlock
from ixsim.host import load_driver
from ixsim.netns import attach_tap
from ixsim.tomlkeys import find_line
from ixsim.topocheck import (
    End,
    HostSpec,
    KeyPath,
    Topology,
    TopologyError,
    format_key,
    parse,
    read,
)
from stack.core import IF_OPER_UP, IFF_UP, dev_set_mtu

__all__ = ["Topology", "TopologyError", "build", "load", "parse", "read"]

# What building may raise for a bad value that the file check cannot see.
_BUILD_ERRORS = (ValueError, TypeError, KeyError, OSError, TapError, AttributeError)


def load(path: str | os.PathLike[str], world_cls: Any, *, seed: int | None = None,
         realtime: bool | None = None, strict: bool | None = None, wait: bool = True) -> Any:
    """Read, check and build the topology file at ``path`` into a new ``world_cls``."""
    return build(read(path), world_cls, seed=seed, realtime=realtime, strict=strict,
                 wait=wait)


def build(topo: Topology, world_cls: Any, *, seed: int | None = None,
          realtime: bool | None = None, strict: bool | None = None, wait: bool = True) -> Any:
    """A world built from a checked topology.  Arguments override the file's ``[world]``
    table; real time is on by default when the file has taps (they need it)."""
    builder = _Builder(topo)
    if seed is None:
        seed = topo.seed if topo.seed is not None else 0
    if realtime is None:
        realtime = topo.realtime if topo.realtime is not None else bool(topo.taps)
    if strict is None:
        strict = bool(topo.strict)
    if topo.taps and not realtime:
        raise builder.error(topo.taps[0].key, "a tap needs a real-time world "
                                              "(World.load(..., realtime=True))")
    world = world_cls(seed=seed, realtime=realtime, strict=strict)
    try:
        builder.run(world, wait)
    except BaseException:
        world.close()
        raise
    return world


class _Builder:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.world: Any = None
        self.bridges: dict[str, Any] = {}
        self.ports: dict[tuple[str, int], Any] = {}  # configured switch ports

    def error(self, path: KeyPath, message: str) -> TopologyError:
        return TopologyError(self.topo.file, find_line(self.topo.text, path),
                             format_key(path), message)

    def run(self, world: Any, wait: bool) -> None:
        self.world = world
        for spec in self.topo.hosts.values():
            self.host(spec)
        for spec in self.topo.bridges.values():
            self.bridge(spec)
        cabled: list[Any] = []
        for cable in self.topo.cables:
            a, b = (self.end(end) for end in cable.ends)
            try:
                world.cable(a, b, wait=False, **cable.options)
            except _BUILD_ERRORS as exc:
                raise self.error(cable.key, _reason(exc)) from None
            cabled += [x for x in (a, b) if getattr(x, "operstate", None) is not None]
        for tap in self.topo.taps:
            self.tap(tap)
        if wait:
            self.wait(cabled)

    def host(self, spec: HostSpec) -> None:
        options = dict(spec.options)
        if "driver" in options:
            try:
                options["driver"] = load_driver(options["driver"])
            except (TypeError, ValueError, ImportError) as exc:
                raise self.error((*spec.key, "driver"), _reason(exc)) from None
        try:
            host = self.world.host(spec.name, nics=spec.nics, **options)
        except _BUILD_ERRORS as exc:
            raise self.error(spec.key, _reason(exc)) from None
        if host.probe_errors:
            raise self.error((*spec.key, "driver"), "; ".join(host.probe_errors))
        if spec.mtu is not None:
            for dev in host.interfaces.values():
                if dev_set_mtu(dev, spec.mtu) != 0:
                    raise self.error((*spec.key, "mtu"), f"{dev.name} refused MTU {spec.mtu} "
                                                         f"({dev.min_mtu}..{dev.max_mtu})")
        for iface, cidr, where in spec.addresses:
            if iface not in host.interfaces:
                raise self.error(where, f"host {spec.name} has no interface {iface} with a "
                                        "driver bound (driver = false?)")
            try:
                host.add_address(iface, cidr)
            except _BUILD_ERRORS as exc:
                raise self.error(where, _reason(exc)) from None
        for path, value, where in spec.sysctls:
            try:
                host.sysctl(path, value)
            except _BUILD_ERRORS as exc:
                raise self.error(where, _reason(exc)) from None
        for route, where in spec.routes:
            try:
                host.route(route["dst"], via=route.get("via"), dev=route.get("dev"),
                           metric=route.get("metric", 0))
            except _BUILD_ERRORS as exc:
                raise self.error(where, _reason(exc)) from None

    def bridge(self, spec: Any) -> None:
        make = getattr(self.world, spec.kind, None)
        if make is None:
            raise self.error(spec.key, f"this ixsim has no {spec.kind}es "
                                       f"(World.{spec.kind} is missing)")
        try:
            if spec.kind == "switch":
                extra = {} if spec.ageing is None else {"ageing": spec.ageing}
                obj = make(spec.name, ports=spec.ports, vlan_filtering=spec.vlan_filtering,
                           **extra)
            else:
                obj = make(spec.name, ports=spec.ports)
        except _BUILD_ERRORS as exc:
            raise self.error(spec.key, _reason(exc)) from None
        self.bridges[spec.name] = obj
        for index, (conf, where) in sorted(spec.port.items()):
            try:
                self.ports[(spec.name, index)] = obj.port(index, **conf)
            except _BUILD_ERRORS as exc:
                raise self.error(where, _reason(exc)) from None

    def end(self, end: End) -> Any:
        """What ``w.cable`` takes: a host's net_device (its NIC's port when unbound) or a
        switch or hub port."""
        if end.kind == "host":
            host = self.world.hosts[end.name]
            dev = host.interfaces.get(end.iface)
            return dev if dev is not None else host.nics[end.index].port
        configured = self.ports.get((end.name, end.index))
        if configured is not None:
            return configured
        try:
            return self.bridges[end.name].port(end.index)
        except _BUILD_ERRORS as exc:
            raise self.error(end.key, _reason(exc)) from None

    def tap(self, spec: Any) -> None:
        host = self.world.hosts[spec.end.name]
        try:
            tap = TapMedium(spec.ifname, **spec.options)
            self.world.closers.append(tap.close)
            tap.open()
            attach_tap(self.world, host, spec.end.iface, tap)
        except _BUILD_ERRORS as exc:
            raise self.error(spec.key, _reason(exc)) from None

    def wait(self, devs: list[Any]) -> None:
        """Run until every cabled interface that is up has link (``World.wait_link``)."""
        devs = [dev for dev in devs if dev.flags & IFF_UP]  # up = false: left down
        if not devs:
            return
        try:
            self.world.wait_link(*devs)
        except (Deadlock, TimeoutError) as exc:
            down = [f"{dev.host.name}.{dev.name}" for dev in devs
                    if dev.operstate != IF_OPER_UP]
            raise TopologyError(self.topo.file, 0, "", f"no link on {', '.join(down)} "
                                                       f"({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    """The message of an exception, without KeyError's quotes."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__
