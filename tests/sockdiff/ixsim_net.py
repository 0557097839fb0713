"""The ixsim backend: two hosts on one cable in a World on virtual time.

``IxsimLink`` is the counterpart of :class:`tests.sockdiff.linux.LinuxLink`: one seeded World
with ``a`` (10.0.0.1/24) and ``b`` (10.0.0.2/24) on a 50 us cable, shared by the scenarios of
a run as Linux's namespaces are (building a World costs a tenth of a second or more; the
per-scenario ports keep scenarios apart, as on Linux).  A scenario that raised inside the
world (a hang, a crash) may have left it half-way through an event, so the link then builds a
fresh World for the next one.  ``sysctls`` are the settings the Linux side could not set to
Linux's defaults (``LinuxLink.mirrored``), applied to both hosts.

A blocking socket call made by a scenario runs the world until it completes (ixsim sockets
block in virtual time when called outside a task); ``settle(ms)`` is ``run_for``.  A call
that would block for ever raises ``ScenarioHang`` after 10 s of virtual time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ixsim import World
from stack.socket import epoll_create
from tests.sockdiff.api import EpollView, Net

MS = 1_000_000
HANG_NS = 10_000_000_000  # virtual time a scenario may take before it counts as blocked


class ScenarioHang(Exception):
    """A blocking call ran the world for longer than any scenario needs (a periodic timer,
    such as the driver's watchdog, keeps the queue non-empty, so ``Deadlock`` never comes)."""


def _hang(link: IxsimLink) -> None:
    link.dirty = True  # raised out of an event: the world is not trusted afterwards
    raise ScenarioHang("blocked for more than 10 s of virtual time in ixsim")


class IxsimLink:
    def __init__(self, seed: int = 1, sysctls: dict[str, str] | None = None) -> None:
        self.seed = seed
        self.sysctls = dict(sysctls or {})
        self.world: Any = None
        self.hosts: dict[str, Any] = {}
        self.dirty = False
        self.renew()

    def renew(self) -> None:
        self.close()
        self.dirty = False
        self.world = World(seed=self.seed)
        self.hosts = {side: self.world.host(side, f"{addr}/24")
                      for side, addr in Net.ADDRS.items()}
        self.world.cable(self.hosts["a"].eth0, self.hosts["b"].eth0, latency="50us")
        for host in self.hosts.values():
            for key, value in self.sysctls.items():
                host.sysctl(key, value)

    def close(self) -> None:
        if self.world is not None:
            self.world.close()
            self.world = None


class IxsimNet(Net):
    backend = "ixsim"

    def __init__(self, link: IxsimLink, index: int = 0) -> None:
        super().__init__(index)
        self.link = link
        self.world = link.world
        self.hosts = link.hosts

    def _socket(self, side: str, family: int, type: int, proto: int) -> Any:
        return self.hosts[side].socket(family, type, proto)

    def settle(self, ms: float = 5) -> None:
        self.world.run_for(int(ms * MS))

    def _poll(self, sock: Any) -> int:
        return sock.poll()

    def sockatmark(self, sock: Any) -> int:
        return sock.sockatmark()

    def sysctl(self, side: str, key: str, value: Any) -> None:
        self.hosts[side].sysctl(key, value)

    def epoll(self, side: str) -> EpollView:
        ep = epoll_create(self.hosts[side].net)
        self._socks.append(ep)
        return EpollView(ep, lambda sock: sock.fileno())

    def run(self, fn: Callable[[Net], None]) -> None:
        guard = self.world.sched.call_later(HANG_NS, _hang, self.link)
        clean = False
        try:
            fn(self)
            clean = True
        finally:
            guard.cancel()
            try:
                self.close()
            except Exception:  # noqa: BLE001 - the world is renewed below
                clean = False
            if not clean or self.link.dirty:
                self.link.renew()
