"""What the checks share: the driver under test, the rigs a check built, the faults seen."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ixsim.drivertest.rig import Rig, Skip
from stack.core import features as F


class Context:
    """One kit run: ``rig()`` builds a bench for the current check and accounts for it."""

    def __init__(self, driver: ModuleType) -> None:
        self.driver = driver
        self.rigs: list[Rig] = []
        self.faults: list[str] = []  # every device fault of every world built, in order
        self.worlds = 0
        self._extra: list[Any] = []  # worlds a check built itself

    def rig(self, **options: Any) -> Rig:
        rig = Rig(self.driver, **options)
        self.rigs.append(rig)
        self.worlds += 1
        return rig

    def world_built(self, world: Any) -> None:
        """Account for a world a check built itself (probe-remove's bare one)."""
        self.worlds += 1
        self._extra.append(world)

    def close_rigs(self) -> None:
        for rig in self.rigs:
            self.faults.extend(rig.faults())
            rig.close()
        for world in self._extra:
            self.faults.extend(str(f) for f in world.faults)
            world.close()
        self.rigs.clear()
        self._extra = []


def require(dev: Any, feature: int) -> None:
    """Skip unless ``dev`` advertises ``feature`` (in ``features``, i.e. turned on)."""
    if not dev.features & feature:
        raise Skip(f"driver does not advertise {feature_name(feature)}")


def feature_name(feature: int) -> str:
    for name in dir(F):
        if name.startswith("NETIF_F_") and getattr(F, name) == feature:
            return name
    return f"feature 0x{feature:x}"
