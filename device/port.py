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
one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

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
        "_up",
        "_on_receive",
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
        self._up = False
        self._on_receive: Callable[[bytes], None] = _ignore_frame
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
        on_receive: Callable[[bytes], None],
        on_link_change: Callable[[bool], None],
    ) -> None:
        """Connect the MAC: frames from the medium go to ``on_receive``, link changes to
        ``on_link_change``.  The current state is read from ``link_up``, not replayed."""
        self._on_receive = on_receive
        self._on_link_change = on_link_change
        self.attached = True

    def detach(self) -> None:
        """Disconnect the MAC (device reset or unplug from the bus); frames are then ignored."""
        self._on_receive = _ignore_frame
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

    # -- medium side --------------------------------------------------------------------
    def connect(self, medium: Medium) -> None:
        """Plug a medium in; the link stays down until the medium calls ``set_link(True)``."""
        if self.medium is not None:
            raise RuntimeError(f"port {self.name} is already connected to {self.medium!r}")
        self.medium = medium
        self._send = medium.sender(self)

    def disconnect(self) -> None:
        """Remove the medium; drops the link first if it was up."""
        if self._up:
            self.set_link(False)
        self.medium = None
        self._send = None

    def set_link(self, up: bool) -> None:
        """Called by the medium when carrier comes or goes; tells the NIC on every change."""
        up = bool(up)
        if up and self.medium is None:
            raise RuntimeError(f"port {self.name}: link up without a medium")
        if up == self._up:
            return
        self._up = up
        self._on_link_change(up)

    def deliver(self, frame: bytes) -> None:
        """Hand a frame that arrived on the medium to the MAC (from a scheduled event)."""
        if not self._up:
            self.rx_dropped_link_down += 1
            return
        self.rx_frames += 1
        self.rx_bytes += len(frame)
        if self.trace_frame:
            now = self._sched.now
            for tap in self.trace_frame:
                tap("rx", now, frame)
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
