"""Device faults: every rule a driver breaks against the hardware, recorded loudly.

Real hardware punishes a driver mistake silently (a hang, a corrupted frame, a machine check);
the sandbox records it instead, with the register, the value, the guest time and a sentence,
the way QEMU's ``LOG_GUEST_ERROR`` does.  ``strict`` mode raises :class:`DeviceFaultError` at
the faulting access so a test points at the line that broke the rule.

Beside the faults, :meth:`FaultLog.note` keeps what is legal but not modelled (a write to a
register the model stores without acting on it), QEMU's ``LOG_UNIMP``: listed, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class DeviceFault:
    time_ns: int
    device: str
    register: str
    value: int
    message: str

    def __str__(self) -> str:
        return (
            f"[{self.time_ns / 1e9:.9f}] {self.device}: {self.register}=0x{self.value:x}: "
            f"{self.message}"
        )


class DeviceFaultError(Exception):
    """A device fault raised at the faulting access (strict mode)."""

    def __init__(self, fault: DeviceFault) -> None:
        super().__init__(str(fault))
        self.fault = fault


class FaultLog:
    """The faults of one device (or one platform), in order; ``strict`` raises them."""

    def __init__(self, strict: bool = False, limit: int = 10_000) -> None:
        self.strict = strict
        self.limit = limit
        self.faults: list[DeviceFault] = []
        self.count = 0
        self.notes: list[DeviceFault] = []
        self.trace_fault: list[Callable[[DeviceFault], None]] = []  # tracepoint "fault"

    def record(self, time_ns: int, device: str, register: str, value: int, message: str) -> None:
        fault = DeviceFault(time_ns, device, register, value, message)
        self.count += 1
        if len(self.faults) < self.limit:
            self.faults.append(fault)
        if self.trace_fault:
            for fn in self.trace_fault:
                fn(fault)
        if self.strict:
            raise DeviceFaultError(fault)

    def note(self, time_ns: int, device: str, register: str, value: int, message: str) -> None:
        """Record an unmodelled-but-legal access: not a fault, so strict mode does not raise."""
        if len(self.notes) < self.limit:
            self.notes.append(DeviceFault(time_ns, device, register, value, message))

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return iter(self.faults)

    def clear(self) -> None:
        self.faults.clear()
        self.count = 0
