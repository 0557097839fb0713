"""The worlds the debugger and the one-shot verbs start from.

``b2b``: hosts ``a`` (10.0.0.1/24) and ``b`` (10.0.0.2/24), one cable between their eth0.
``router``: ``a`` (10.0.0.1/24) - ``r`` (eth0 10.0.0.254/24, eth1 10.0.1.254/24) - ``b``
(10.0.1.1/24), two cables; when the IPv4 stack is attached, ``a`` and ``b`` route through
``r`` and ``r`` forwards.

``topology``: any world described by a topology file (``ixsim.topology``, README "Topology
files"), given as ``--topology FILE`` instead of ``--scenario``.

The world is then run for ``after`` (default 10 ms) so the drivers have probed, the links
are up and the rings are posted: what a developer sees after ``modprobe`` and ``ip link set up``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ixsim.shell.errors import ShellError
from ixsim.topology import TopologyError
from ixsim.world import World

DEFAULT_AFTER = "10ms"
CABLE_LATENCY = "1us"


def _b2b(w: World, driver: Any = True) -> None:
    a = w.host("a", "10.0.0.1/24", driver=driver)
    b = w.host("b", "10.0.0.2/24", driver=driver)
    w.cable(a.nics[0].port, b.nics[0].port, latency=CABLE_LATENCY)


def _router(w: World, driver: Any = True) -> None:
    a = w.host("a", "10.0.0.1/24", driver=driver)
    r = w.host("r", "10.0.0.254/24", "10.0.1.254/24", nics=2, driver=driver)
    b = w.host("b", "10.0.1.1/24", driver=driver)
    w.cable(a.nics[0].port, r.nics[0].port, latency=CABLE_LATENCY)
    w.cable(r.nics[1].port, b.nics[0].port, latency=CABLE_LATENCY)
    _stack_routes(a, "10.0.0.254")
    _stack_routes(b, "10.0.1.254")
    net = getattr(r, "net", None)
    sysctl = getattr(net, "sysctl", None)
    if sysctl is not None and hasattr(sysctl, "ip_forward"):
        sysctl.ip_forward = 1


def _stack_routes(host: Any, gateway: str) -> None:
    """A default route through ``gateway`` (``ip route add default via``), once the host
    has a stack (``host.route``)."""
    net = getattr(host, "net", None)
    if net is None:
        return
    try:
        host.route("0.0.0.0/0", via=gateway)
    except AttributeError:  # a Host without route(), or one calling a Net method renamed
        net.add_route("0.0.0.0/0", gateway=gateway)


SCENARIOS: dict[str, Callable[..., None]] = {"b2b": _b2b, "router": _router}


def build_world(scenario: str | None = None, seed: int | None = 1,
                after: int | str = DEFAULT_AFTER, strict: bool = False,
                topology: str | None = None, driver: Any = True) -> World:
    """A fresh world of ``scenario`` (or from the ``topology`` file), run for ``after``;
    ShellError for an unknown name or a mistake in the file (``file:line: key: ...``).

    With a topology, ``seed=None`` takes the file's seed and ``strict=False`` the file's
    ``[world] strict``.  ``driver`` is every host's driver (``w.host(driver=)``: True for
    ixgb, a module or a dotted name); a topology file names its own."""
    if topology is not None:
        if scenario is not None:
            raise ShellError("give --scenario or --topology, not both")
        if driver is not True:
            raise ShellError("--driver applies to the scenarios; a topology file names its "
                             "driver with the hosts' driver key")
        try:
            world = World.load(topology, seed=seed, strict=strict or None)
        except TopologyError as exc:
            raise ShellError(str(exc)) from None
        try:
            world.run_for(after)
        except BaseException:
            world.close()
            raise
        return world
    scenario = scenario or "b2b"
    seed = 1 if seed is None else seed
    build = SCENARIOS.get(scenario)
    if build is None:
        raise ShellError(f"unknown scenario {scenario!r} (one of {', '.join(SCENARIOS)})")
    world = World(seed=seed, strict=strict)
    try:
        build(world, driver=driver)
    except BaseException:
        world.close()
        raise
    world.run_for(after)
    return world
