"""The register-level view of a NIC for people and tests: ``eth0.device.regs["STATUS"]``.

Indexing peeks (no side effects: reading ICR or a counter here never clears it) and returns a
:class:`RegValue`, an ``int`` that also knows its register and decodes its bit fields.
``read``/``write`` perform real MMIO accesses with their side effects, as a driver would.
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R


class RegValue(int):
    """A register value that prints decoded: ``STATUS=0x00000002 [LU]``."""

    reg: R.Reg

    def __new__(cls, value: int, reg: R.Reg) -> RegValue:
        obj = super().__new__(cls, value)
        obj.reg = reg
        return obj

    @property
    def fields(self) -> dict[str, int]:
        return {name: v for name, v, _m in R.decode(self.reg, int(self))}

    def __getattr__(self, name: str) -> int:
        for field in self.reg.fields:
            if field.name == name:
                return (int(self) >> field.shift) & ((1 << field.width) - 1)
        raise AttributeError(f"{self.reg.name} has no field {name}")

    def __repr__(self) -> str:
        return f"{self.reg.name}=0x{int(self):08x} [{R.describe_bits(self.reg, int(self))}]"

    __str__ = __repr__


class RegisterFile:
    """Mapping-like access to one NIC's registers by name or offset."""

    def __init__(self, nic: Any, pci: Any) -> None:
        self._nic = nic
        self._pci = pci

    def __getitem__(self, name: str | int) -> RegValue:
        reg = R.lookup(name)
        return RegValue(self._nic.peek(reg.offset), reg)

    def __contains__(self, name: str | int) -> bool:
        try:
            R.lookup(name)
        except KeyError:
            return False
        return True

    def read(self, name: str | int) -> RegValue:
        """A real MMIO read, side effects included (clears ICR, counters)."""
        reg = R.lookup(name)
        return RegValue(self._pci.mmio_read(reg.offset), reg)

    def write(self, name: str | int, value: int) -> None:
        """A real MMIO write, side effects included (a TDT write starts transmission)."""
        self._pci.mmio_write(R.lookup(name).offset, value)

    def names(self) -> list[str]:
        return list(R.BY_NAME)


class DeviceView:
    """What ``iface.device`` shows: the NIC model behind a netdev, for inspection."""

    def __init__(self, slot: Any) -> None:
        self.slot = slot
        self.nic = slot.nic
        self.pci = slot.pci
        self.port = slot.port
        self.regs = RegisterFile(slot.nic, slot.pci)

    @property
    def faults(self) -> list:
        return [f for f in self.nic.faults.faults if f.device == self.nic.name]

    @property
    def inject(self) -> Any:
        """The NIC's fault-injection knobs (:class:`device.ixgb.inject.Injection`)."""
        return self.nic.inject

    def __repr__(self) -> str:
        return f"<ixgb {self.nic.name} 8086:{self.pci.device_id:04x} irq {self.pci.irq}>"
