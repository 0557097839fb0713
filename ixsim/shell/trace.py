"""Trace lines: one decoded line per hardware or kernel event (format: docs/trace-format.md).

Every line is ``[SECONDS.NANOSECONDS] HOST IFACE CLASS BODY``; CLASS is one of ``mmio``,
``irq``, ``dma``, ``frame``, ``tx``, ``rx`` or ``tcp`` (``tcp`` lines name the host only).
The BODY formatters here are pure functions of what a tracepoint delivered plus peeks at the
device, so the same text serves the live ``trace`` output, ``step`` summaries and tests.
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from device.spec.desc import describe_rx
from ixsim.shell.rings import read_desc, ring, tx_batch
from stack.wire.describe import describe

_ICR = R.BY_NAME["ICR"]
_STAT_FIRST, _STAT_END = R.STAT_FIRST, R.STAT_END


def stamp(ns: int) -> str:
    """``[0.010026214]``: virtual seconds with nanoseconds, as device faults print time."""
    return f"[{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}]"


def line(ns: int, who: str, cls: str, body: str) -> str:
    return f"{stamp(ns)} {who} {cls} {body}"


def reg_name(offset: int) -> str:
    reg = R.REGISTERS.get(offset)
    return reg.name if reg is not None else f"0x{offset:05x}"


_CAUSE_REGS = (R.ICR, R.ICS, R.IMS, R.IMC)


def _bits(offset: int, value: int) -> str:
    reg = R.REGISTERS.get(offset)
    if reg is None or not reg.fields:
        return ""
    if offset in _CAUSE_REGS and value & R.INT_MASK == R.INT_MASK:
        return " [all causes]"
    return f" [{R.describe_bits(reg, value)}]"


# -- mmio ---------------------------------------------------------------------------------
def mmio_text(ref: Any, kind: str, offset: int, value: int, old: int) -> str:
    """``TDT <- 0x11  start_xmit: 3 descriptors, 1 frame 1514 B`` / ``ICR -> 0x3 [..]``."""
    name = reg_name(offset)
    if kind == "r":
        text = f"{name} -> 0x{value:x}{_bits(offset, value)}"
        if value and (offset == R.ICR or _STAT_FIRST <= offset < _STAT_END):
            text += "  (read clears)"
        return text
    text = f"{name} <- 0x{value:x}{_bits(offset, value)}"
    note = _WRITE_NOTES.get(offset)
    if note is not None:
        extra = note(ref, value, old)
        if extra:
            text += "  " + extra
    return text


def _tdt_note(ref: Any, value: int, old: int) -> str:
    nic = ref.nic
    r = ring(nic, "tx")
    if nic.peek(R.TDT) != value:
        return "refused (device fault)"
    if not nic.peek(R.TCTL) & R.TCTL_TXEN:
        return "TCTL.TXEN clear: nothing is fetched"
    if not r.count or value == old:
        return "no new descriptors"
    return "start_xmit: " + tx_batch(ref.pci.mem, r, old, value).text()


def _rdt_note(ref: Any, value: int, old: int) -> str:
    nic = ref.nic
    r = ring(nic, "rx")
    if nic.peek(R.RDT) & 0xFFFF != value & 0xFFFF:
        return "refused (device fault)"
    if not r.count:
        return ""
    n = ((value & 0xFFFF) - (old & 0xFFFF)) % r.count
    return f"{n} RX buffer{'s' if n != 1 else ''} to hardware (HW owns {r.hw_owned})"


def _ims_note(ref: Any, value: int, old: int) -> str:
    return f"IMS now 0x{ref.nic.peek(R.IMS):x}"


def _ics_note(ref: Any, value: int, old: int) -> str:
    return f"causes raised; ICR now 0x{ref.nic.peek(R.ICR):x}"


def _ctrl0_note(ref: Any, value: int, old: int) -> str:
    if value & R.CTRL0_RST:
        return "global reset"
    if value & R.CTRL0_LRST:
        return "link reset"
    return ""


_WRITE_NOTES = {
    R.TDT: _tdt_note,
    R.RDT: _rdt_note,
    R.IMS: _ims_note,
    R.IMC: _ims_note,
    R.ICS: _ics_note,
    R.CTRL0: _ctrl0_note,
}


# -- the other classes --------------------------------------------------------------------
def irq_text(ref: Any, irq: int) -> str:
    """At delivery, before the handler runs: the causes it is about to read."""
    icr = ref.nic.peek(R.ICR)
    ims = ref.nic.peek(R.IMS)
    text = f"{irq} -> handler: ICR=0x{icr:x} [{R.describe_bits(_ICR, icr)}] IMS=0x{ims:x}"
    if not icr & ims:
        text += "  (spurious: no unmasked cause)"
    return text


def frame_text(direction: str, frame: bytes) -> str:
    return f"{direction} {describe(frame)}"


def tx_engine_text(frame: bytes, ndesc: int) -> str:
    return f"frame of {len(frame)} B from {ndesc} data descriptor{'s' if ndesc != 1 else ''}"


def rx_engine_text(ref: Any, frame: bytes, index: int) -> str:
    raw = read_desc(ref.pci.mem, ring(ref.nic, "rx"), index)
    written = f": {describe_rx(raw)}" if raw is not None else ""
    return f"frame of {len(frame)} B written to descriptor {index}{written}"


def dma_text(direction: str, addr: int, length: int, what: str, ok: bool) -> str:
    text = f"{direction} 0x{addr:x} +{length} {what}"
    return text if ok else text + "  REFUSED (device fault)"


def tcp_text(event: str, fields: dict[str, Any]) -> str:
    """A kernel tracepoint: ``tcp_set_state sk=... oldstate=SYN_SENT newstate=ESTABLISHED``."""
    parts = []
    for key, value in fields.items():
        text = getattr(value, "name", None) or str(value)
        parts.append(f"{key}={text}")
    return " ".join([event, *parts])


# -- scheduler events ---------------------------------------------------------------------
def event_name(handle: Any) -> str:
    """The scheduler's generic name of an event: ``a timer eth0 ixgb_watchdog Timer._expire``,
    ``cable a:nic0->b:nic0 Lane._arrive``.  Device events listed by their components are
    named by label instead (:meth:`ixsim.shell.session.Session.event_name`)."""
    fn = handle.fn
    owner = getattr(fn, "__self__", None)
    qual = getattr(fn, "__qualname__", None) or repr(fn)
    label = getattr(owner, "trace_name", None) if owner is not None else None
    if not label and owner is not None:
        name = getattr(owner, "name", None)
        nic = getattr(owner, "nic", None)
        if isinstance(name, str):
            label = name
        elif nic is not None:
            label = getattr(nic, "name", None)
    if label and label.startswith("cable ") and "->" in label:
        label = "cable " + label.split()[-1].replace(".port", "")  # cable a:nic0->b:nic0
    return f"{label} {qual}" if label else qual
