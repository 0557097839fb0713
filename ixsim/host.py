"""A Host: one emulated machine with its NICs, its driver instances and its network stack.

Assembly only (the kernel's boot, in miniature): guest memory and a PCI bus from ``device/``,
an EEPROM image per NIC from ``firmware/``, the driver probed on each PCI function, and the
stack configured with the addresses the user asked for.
"""

from __future__ import annotations

from typing import Any

from device.machine import Machine, NicSlot
from driver import ixgb
from firmware import default_words
from ixsim.regview import DeviceView
from stack.core import Kernel, dev_open


def host_mac(host_index: int, nic_index: int) -> str:
    """Deterministic, locally administered MACs: 02:00:00:00:<host+1>:<nic>."""
    return f"02:00:00:00:{host_index + 1:02x}:{nic_index:02x}"


class Host:
    def __init__(
        self,
        world: Any,
        name: str,
        index: int,
        nics: int = 1,
        mem_size: int = 64 << 20,
        eeproms: list[list[int]] | None = None,
        driver_params: dict[str, Any] | None = None,
        driver: bool = True,
    ) -> None:
        self.world = world
        self.name = name
        self.index = index
        self.sched = world.sched
        self.machine = Machine(world.sched, name, mem_size=mem_size, strict=world.strict)
        self.kernel = Kernel(world.sched, name)
        self.addresses: list[tuple[str, str]] = []
        self.interfaces: dict[str, Any] = {}
        self.probe_errors: list[str] = []
        for i in range(nics):
            words = eeproms[i] if eeproms and i < len(eeproms) else default_words(
                host_mac(index, i))
            self.machine.add_ixgb(words)
        # Boot: bind the driver to every PCI function it matches, then bring links up.
        # driver=False leaves the NICs unbound (the module "blacklisted"): bare-metal use.
        for slot in self.machine.nics if driver else ():
            self._bind(slot, driver_params or {})

    def _bind(self, slot: NicSlot, params: dict[str, Any]) -> None:
        if not ixgb.match(slot.pci_dev):
            return
        try:
            netdev = ixgb.probe(self.kernel, slot.pci_dev, **params)
        except ixgb.ProbeError as exc:
            self.probe_errors.append(str(exc))
            return
        netdev.device = DeviceView(slot)  # the register-level view: eth0.device.regs[...]
        netdev.port = slot.port
        netdev.host = self
        self.interfaces[netdev.name] = netdev
        dev_open(netdev)

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
