"""The ixsim backend: a fresh ``World`` per scenario with two hosts on one cable.

``a`` is 10.0.0.1/24 and ``b`` 10.0.0.2/24 with a 50 us cable, seeded, virtual time.  A
blocking socket call made by a scenario runs the world until it completes (ixsim sockets
block in virtual time when called outside a task); ``settle(ms)`` is ``run_for``.
``sysctls`` are the settings the Linux side could not set to Linux's defaults
(``LinuxLink.mirrored``).  A call that would block for ever raises ``ScenarioHang`` after
10 s of virtual time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ixsim import World
from tests.sockdiff.api import Net

MS = 1_000_000
HANG_NS = 10_000_000_000  # virtual time a scenario may take before it counts as blocked


class ScenarioHang(Exception):
    """A blocking call ran the world for longer than any scenario needs (a periodic timer,
    such as the driver's watchdog, keeps the queue non-empty, so ``Deadlock`` never comes)."""


def _hang() -> None:
    raise ScenarioHang("blocked for more than 10 s of virtual time in ixsim")


class IxsimNet(Net):
    backend = "ixsim"

    def __init__(self, index: int = 0, seed: int = 1,
                 sysctls: dict[str, str] | None = None) -> None:
        super().__init__(index)
        self.world = World(seed=seed)
        self.hosts = {side: self.world.host(side, f"{addr}/24")
                      for side, addr in self.ADDRS.items()}
        for host in self.hosts.values():
            for key, value in (sysctls or {}).items():
                host.sysctl(key, value)
        self.world.cable(self.hosts["a"].eth0, self.hosts["b"].eth0, latency="50us")

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

    def run(self, fn: Callable[[Net], None]) -> None:
        self.world.sched.call_later(HANG_NS, _hang)
        try:
            fn(self)
        finally:
            self.close()
            self.world.close()
