"""A Host: one emulated machine with its NICs, its driver instances and its network stack.

Assembly only (the kernel's boot, in miniature): guest memory and a PCI bus from ``device/``,
an EEPROM image per NIC from ``firmware/``, the driver probed on each PCI function, and the
stack configured with the addresses the user asked for.
"""

from __future__ import annotations

from typing import Any

from device.machine import Machine, NicSlot
from firmware import default_words
from ixsim.regview import DeviceView


def host_mac(host_index: int, nic_index: int) -> str:
    """Deterministic, locally administered MACs: 02:00:00:00:<host+1>:<nic>."""
    return f"02:00:00:00:{host_index + 1:02x}:{nic_index:02x}"


class Interface:
    """A host's view of one NIC before (or without) a driver: its port and its registers."""

    def __init__(self, host: Host, slot: NicSlot, name: str) -> None:
        self.host = host
        self.slot = slot
        self.name = name
        self.port = slot.port
        self.device = DeviceView(slot)

    def __repr__(self) -> str:
        return f"<{self.host.name} {self.name} {self.device!r}>"


class Host:
    def __init__(
        self,
        world: Any,
        name: str,
        index: int,
        nics: int = 1,
        mem_size: int = 64 << 20,
        eeproms: list[list[int]] | None = None,
    ) -> None:
        self.world = world
        self.name = name
        self.index = index
        self.sched = world.sched
        self.machine = Machine(world.sched, name, mem_size=mem_size, strict=world.strict)
        self.addresses: list[tuple[str, str]] = []
        self.interfaces: dict[str, Interface] = {}
        for i in range(nics):
            words = eeproms[i] if eeproms and i < len(eeproms) else default_words(
                host_mac(index, i))
            slot = self.machine.add_ixgb(words)
            self.interfaces[f"eth{i}"] = Interface(self, slot, f"eth{i}")

    @property
    def nics(self) -> list[NicSlot]:
        return self.machine.nics

    def __getattr__(self, name: str) -> Any:
        interfaces = self.__dict__.get("interfaces", {})
        if name in interfaces:
            return interfaces[name]
        raise AttributeError(f"host {self.__dict__.get('name')!r} has no attribute {name!r}")

    def add_address(self, iface: str, cidr: str) -> None:
        self.addresses.append((iface, cidr))

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Host {self.name} nics={len(self.nics)}>"
