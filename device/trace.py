"""Device tracepoints: the debug port through which the shell and tests watch the hardware.

Mirrors QEMU's ``trace-events`` files: every tracepoint a device model emits is declared once
below (:data:`TRACEPOINTS`: name, the component that owns it, its fields in call order, one
line of doc), and consumers attach to a component's tracepoint by name with
:func:`subscribe`, never by wrapping or patching the component's methods.

Contract:

* A component owning tracepoint ``NAME`` has a plain list attribute ``trace_NAME`` of
  subscribers.  It emits with ``if self.trace_NAME: for fn in self.trace_NAME: fn(...)``,
  arguments in the declared field order: while nobody subscribed, an emit costs one
  truthiness test of an empty list and the event's text is never built.
* A subscriber runs inside the device event that emitted, at the moment it happened; it may
  read device state (peek registers, guest memory) and, as a debugger does, change it (write
  a register, reset the device).  A change takes effect at once, and the engine that emitted
  notices a reset or a disabled unit (its generation counter) right after the subscribers
  return and abandons its pass there: nothing of the old pass (a frame, a write-back, a
  head move) follows the reset.
* ``dma`` is special in one way: while it has subscribers, the engines take the slow DMA
  path (``dma_read``/``dma_write`` with a text naming each transfer) for every transfer, so
  each one is seen; the fast path (``dma_view``/``dma_store``) is used only when unwatched.

Scheduled device events are the other half of the debug port: each component lists what it
has pending with ``pending_events()`` -> ``[(handle, label), ...]`` (:class:`PendingEvent`),
so a debugger can name an event or stop before one without knowing the component's methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class Tracepoint:
    """One declared tracepoint: ``trace_<name>`` on an ``owner``, called with ``fields``."""

    name: str
    owner: str
    fields: tuple[str, ...]
    doc: str

    @property
    def attr(self) -> str:
        return "trace_" + self.name


TRACEPOINTS: dict[str, Tracepoint] = {tp.name: tp for tp in (
    Tracepoint("mmio", "IxgbNic", ("kind", "offset", "value", "old"),
               "a BAR0 register access by the driver: kind 'r' (value read) or 'w' (value "
               "written, old = the register before); after the access took effect"),
    Tracepoint("dma", "PciFunction", ("direction", "addr", "length", "what", "ok"),
               "a bus-master transfer: direction 'R' (device reads guest memory) or 'W', "
               "what names the descriptor or buffer, ok False when it was refused (a fault)"),
    Tracepoint("irq", "PciFunction", ("level",),
               "the interrupt condition changes level: True when asserted (ICR & IMS != 0), "
               "False when deasserted; the INTx line, or with MSI a message on each rise"),
    Tracepoint("msi", "PciFunction", ("addr", "data"),
               "an MSI message was sent (MSI enabled, a rising edge of ICR & IMS): the write "
               "of data to addr, also seen on dma as a 4-byte write"),
    Tracepoint("irq_deliver", "PciFunction", ("irq",),
               "an interrupt is delivered: runs before the driver's handler is called"),
    Tracepoint("frame", "Port", ("direction", "time_ns", "frame"),
               "a frame at the PHY: direction 'tx' (leaving for the medium) or 'rx' "
               "(arrived from it), before the MAC's filters"),
    Tracepoint("tx_frame", "TxEngine", ("frame", "ndesc"),
               "the TX engine put a frame on the port, gathered from ndesc data descriptors"),
    Tracepoint("rx_frame", "RxEngine", ("frame", "index"),
               "the RX engine wrote a frame to descriptor index (frame as it came off the "
               "wire), after its write-back"),
    Tracepoint("fault", "FaultLog", ("fault",),
               "a device fault (a DeviceFault) was recorded, before strict mode raises it"),
)}


class PendingEvent(NamedTuple):
    """A scheduled device event, as its component labels it (``pending_events()``)."""

    handle: Any  # the scheduler's Handle: .when, .cancelled
    label: str  # what the event will do, e.g. "TX descriptor fetch"


class UnknownTracepoint(ValueError):
    """A tracepoint name that is not declared, or not owned by the object given."""


def tracepoints_of(obj: Any) -> list[str]:
    """The declared tracepoints ``obj`` emits."""
    return [name for name, tp in TRACEPOINTS.items() if isinstance(getattr(obj, tp.attr, None),
                                                                     list)]


def _probe(obj: Any, name: str) -> list[Callable[..., None]]:
    tp = TRACEPOINTS.get(name)
    probe = getattr(obj, tp.attr, None) if tp is not None else None
    if not isinstance(probe, list):
        owned = ", ".join(tracepoints_of(obj)) or "none"
        raise UnknownTracepoint(f"{type(obj).__name__} has no tracepoint {name!r} "
                                f"(its tracepoints: {owned})")
    return probe


def subscribe(obj: Any, name: str, fn: Callable[..., None]) -> Callable[[], None]:
    """Call ``fn(*fields)`` at every ``name`` event of ``obj``; return the unsubscriber."""
    probe = _probe(obj, name)
    probe.append(fn)
    return lambda: unsubscribe(obj, name, fn)


def unsubscribe(obj: Any, name: str, fn: Callable[..., None]) -> None:
    """Detach ``fn`` from ``obj``'s tracepoint ``name``; detaching twice is harmless."""
    probe = _probe(obj, name)
    if fn in probe:
        probe.remove(fn)
