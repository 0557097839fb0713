"""A NIC's physical port: the PHY side of the MAC, where frames meet a medium.

Mirrors QEMU's ``NetClientState`` peer pair (``net/net.c``: ``qemu_send_packet`` on one side,
``NetClientInfo.receive`` and ``link_status_changed`` on the other) reduced to what a 10 GbE
port needs.  The NIC model sits on one side (``attach``, ``transmit``, ``link_up``) and a
medium — a :class:`~device.cable.Cable`, a tap backend — on the other (``connect``,
``disconnect``, ``set_link``, ``deliver``).

Contract:

* Frames are complete Ethernet frames *without* FCS, as the MAC finished them (padding to
  the 60-byte minimum is the MAC's job, not the port's).  They are immutable ``bytes``; the
  port converts anything else once, so a medium may hold on to the object.
* ``transmit`` while no medium is connected or the link is down drops the frame and counts it
  in ``tx_dropped_link_down``: a PHY without link has nowhere to put bits.
* A medium calls ``deliver`` from a scheduled event, never from inside the sender's
  ``transmit`` (docs/hardware.md §3.11 lesson 3: no direct call into the peer's RX).
* ``set_link`` reports every change to the NIC through ``on_link_change`` synchronously; the
  NIC model turns it into its own events (LSC) as hardware latches the change.
* Tracepoint ``frame`` (:mod:`device.trace`): ``trace_frame`` subscribers are called
  ``(direction, time_ns, frame)`` with direction ``"tx"`` or ``"rx"``; when the list is
  empty they cost one truthiness test per frame.

A medium must provide ``sender(port) -> Callable[[bytes], None]``: the function the port
calls with each frame it puts on the wire, bound once at ``connect`` time so the hot path is
one call.  A medium that serializes (a :class:`~device.cable.Cable`) may also provide
``sender_at(port) -> Callable[[bytes, int, int], int]``: it takes a frame, the earliest time
its first bit may go on the wire and the frame's length, and returns the time its last bit
(and the inter-frame gap) left, which is how a NIC's MAC paces itself at the link rate
(``transmit_at``).
``rate_bps`` on the medium, when present, is the link rate; otherwise it is the 82597's
10 Gb/s.  The wire time of a frame is ``(len(frame) + WIRE_OVERHEAD) * 8 / rate``: the FCS,
preamble and start-of-frame delimiter and the inter-frame gap (IEEE 802.3 §4.4.2) are the 24
bytes of ``WIRE_OVERHEAD``, so a 1514-byte frame takes 1538 byte times, 1.2304 µs at 10 Gb/s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from device.spec.timing import LINK_RATE_BPS
from device.units import NS_PER_S

# FCS (4) + preamble and start-of-frame delimiter (8) + inter-frame gap (12), in bytes.
WIRE_OVERHEAD = 24

Tap = Callable[[str, int, bytes], None]


class Medium(Protocol):
    """What a port is plugged into: it hands the port the function that takes its frames."""

    def sender(self, port: Port) -> Callable[[bytes], None]: ...


def _ignore_frame(frame: bytes) -> None:
    """Receive hook of a port no NIC has attached to yet."""


def _ignore_link(up: bool) -> None:
    """Link hook of a port no NIC has attached to yet."""


class Port:
    """One PHY: counts, taps and forwards frames between a NIC model and a medium."""

    __slots__ = (
        "_sched",
        "name",
        "medium",
        "_send",
        "_send_at",
        "_busy",
        "_carry",
        "_up",
        "_on_receive",
        "_rx_sized",
        "_on_link_change",
        "attached",
        "trace_frame",
        "tx_frames",
        "tx_bytes",
        "rx_frames",
        "rx_bytes",
        "tx_dropped_link_down",
        "rx_dropped_link_down",
    )

    def __init__(self, sched: Any, name: str) -> None:
        self._sched = sched
        self.name = name
        self.medium: Medium | None = None
        self._send: Callable[[bytes], None] | None = None
        self._send_at: Callable[[bytes, int, int], int] | None = None
        self._busy = 0  # end of the last frame transmit_at paced itself (no sender_at)
        self._carry = 0
        self._up = False
        self._on_receive: Callable[..., None] = _ignore_frame
        self._rx_sized = False  # _on_receive takes (frame, len(frame))
        self._on_link_change: Callable[[bool], None] = _ignore_link
        self.attached = False
        self.trace_frame: list[Tap] = []  # tracepoint "frame" (device/trace.py)
        self.tx_frames = 0
        self.tx_bytes = 0
        self.rx_frames = 0
        self.rx_bytes = 0
        self.tx_dropped_link_down = 0
        self.rx_dropped_link_down = 0

    @property
    def trace_name(self) -> str:
        return f"port {self.name}"

    def __repr__(self) -> str:
        state = "up" if self._up else ("down" if self.medium is not None else "no medium")
        return f"<Port {self.name} {state}>"

    # -- NIC side -----------------------------------------------------------------------
    def attach(
        self,
        on_receive: Callable[..., None],
        on_link_change: Callable[[bool], None],
        sized: bool = False,
    ) -> None:
        """Connect the MAC: frames from the medium go to ``on_receive``, link changes to
        ``on_link_change``.  The current state is read from ``link_up``, not replayed.
        ``sized``: ``on_receive`` takes ``(frame, len(frame))`` (the length the medium
        measured already), else ``(frame)``."""
        self._on_receive = on_receive
        self._rx_sized = sized
        self._on_link_change = on_link_change
        self.attached = True

    def detach(self) -> None:
        """Disconnect the MAC (device reset or unplug from the bus); frames are then ignored."""
        self._on_receive = _ignore_frame
        self._rx_sized = False
        self._on_link_change = _ignore_link
        self.attached = False

    @property
    def link_up(self) -> bool:
        """True only while a medium is connected and reports link."""
        return self._up

    def transmit(self, frame: bytes) -> None:
        """Put one finished frame (no FCS) on the medium, or count it dropped without link."""
        if not self._up:
            self.tx_dropped_link_down += 1
            return
        if type(frame) is not bytes:
            frame = bytes(frame)
        self.tx_frames += 1
        self.tx_bytes += len(frame)
        if self.trace_frame:
            now = self._sched.now
            for tap in self.trace_frame:
                tap("tx", now, frame)
        self._send(frame)  # type: ignore[misc]  # set whenever _up is True

    @property
    def rate_bps(self) -> int:
        """The link rate: the medium's ``rate_bps`` if it has one, else 10 Gb/s."""
        rate = getattr(self.medium, "rate_bps", None)
        return rate if isinstance(rate, int) and rate > 0 else LINK_RATE_BPS

    def transmit_at(self, frame: bytes, start_ns: int, n: int = -1) -> int:
        """Put a frame on the wire no earlier than ``start_ns``; return when it has left.

        The MAC's serializer: with a medium that has ``sender_at`` (a cable) the medium's own
        serializer decides the start (``max(start_ns, line free)``) and the end, so the two
        can never disagree and the cable never queues behind a NIC.  Other media (a tap)
        take the frame now, and the port keeps the arithmetic itself at ``rate_bps``.  The
        ``tx`` tracepoint is stamped with ``start_ns``.  Without link the frame is dropped and
        counted, and ``start_ns`` is returned (a MAC without link does not serialize).
        ``n`` is ``len(frame)`` when the caller has it (the NIC's FIFO does): the length is
        taken once per frame, not once per layer.
        """
        if not self._up:
            self.tx_dropped_link_down += 1
            return start_ns
        if type(frame) is not bytes:
            frame = bytes(frame)
        if n < 0:
            n = len(frame)
        self.tx_frames += 1
        self.tx_bytes += n
        if self.trace_frame:
            for tap in self.trace_frame:
                tap("tx", start_ns, frame)
        send_at = self._send_at
        if send_at is not None:
            return send_at(frame, start_ns, n)
        self._send(frame)  # type: ignore[misc]  # set whenever _up is True
        start = self._busy
        if start_ns > start:
            start = start_ns
            carry = 0
        else:
            carry = self._carry
        wire, self._carry = divmod(carry + (n + WIRE_OVERHEAD) * 8 * NS_PER_S, self.rate_bps)
        self._busy = start + wire
        return self._busy

    # -- medium side --------------------------------------------------------------------
    def connect(self, medium: Medium) -> None:
        """Plug a medium in; the link stays down until the medium calls ``set_link(True)``."""
        if self.medium is not None:
            raise RuntimeError(f"port {self.name} is already connected to {self.medium!r}")
        self.medium = medium
        self._send = medium.sender(self)
        sender_at = getattr(medium, "sender_at", None)
        self._send_at = sender_at(self) if sender_at is not None else None

    def disconnect(self) -> None:
        """Remove the medium; drops the link first if it was up."""
        if self._up:
            self.set_link(False)
        self.medium = None
        self._send = None
        self._send_at = None

    def set_link(self, up: bool) -> None:
        """Called by the medium when carrier comes or goes; tells the NIC on every change."""
        up = bool(up)
        if up and self.medium is None:
            raise RuntimeError(f"port {self.name}: link up without a medium")
        if up == self._up:
            return
        self._up = up
        self._on_link_change(up)

    def deliver(self, frame: bytes, n: int = -1) -> None:
        """Hand a frame that arrived on the medium to the MAC (from a scheduled event);
        ``n`` is ``len(frame)`` when the medium has it (a cable does)."""
        if not self._up:
            self.rx_dropped_link_down += 1
            return
        if n < 0:
            n = len(frame)
        self.rx_frames += 1
        self.rx_bytes += n
        if self.trace_frame:
            now = self._sched.now
            for tap in self.trace_frame:
                tap("rx", now, frame)
        if self._rx_sized:
            self._on_receive(frame, n)
        else:
            self._on_receive(frame)

    def counters(self) -> dict[str, int]:
        """Every counter by name, for the shell and for tests."""
        return {
            "tx_frames": self.tx_frames,
            "tx_bytes": self.tx_bytes,
            "rx_frames": self.rx_frames,
            "rx_bytes": self.rx_bytes,
            "tx_dropped_link_down": self.tx_dropped_link_down,
            "rx_dropped_link_down": self.rx_dropped_link_down,
        }
