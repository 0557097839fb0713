"""802.3x flow control of the 82597EX: PAUSE frames sent from the RX FIFO's fill level, and
PAUSE frames received.

Mirrors the flow-control half of QEMU's ``hw/net/e1000x_common.c`` and the hardware behind
Linux ixgb's ``ixgb_setup_fc`` (docs/hardware.md §2.2 step 7, §1.10).

Contract:

* **Sending** (CTRL0.TPE set and FCRTH != 0): when the RX FIFO (the packet buffer frames
  wait in while no descriptor is free) holds more than FCRTH.RTH bytes, the MAC sends XOFF: a
  PAUSE frame with pause time PAP.TXPC (quanta of 512 bit times) to 01-80-C2-00-00-01 from
  the station address (RAR0); XOFFTXC and PFTC count it.  While the FIFO stays at or above
  FCRTL.RTL, the XOFF is refreshed when half its pause time has passed (e1000's FCRTV
  refresh; the 82597's own refresh is not in our sources).  When the FIFO falls below
  FCRTL.RTL and FCRTL.XONE is set, XON (pause time 0) follows; XONTXC and PFTC count it.
* **Receiving**: a MAC control frame (EtherType 0x8808) is consumed by the MAC, never
  delivered to the host.  With CTRL0.RPE set, a PAUSE to the reserved address or to the
  station address stops the transmitter (``TxFifo.pause``) and counts in XOFFRXC (pause
  time > 0) or XONRXC, and PFRC; without RPE it is dropped uncounted, as Intel MACs count
  flow-control frames only while receive flow control is enabled.  Other opcodes are dropped.
* PFRC/PFTC (pause frames received / transmitted) count XON and XOFF together *(inferred
  from their names; the Linux driver reports only the XON/XOFF counters)*.
"""

from __future__ import annotations

import struct
from typing import Any

from device.spec import regs as R
from device.spec.mac import ETH_P_MAC_CONTROL, MAC_CONTROL_PAUSE, PAUSE_DST
from device.spec.timing import PAUSE_QUANTUM_BITS
from device.trace import PendingEvent
from device.units import NS_PER_S

_PAUSE = struct.Struct("!6s6sHHH")
_PAUSE_HEAD = struct.Struct("!HH")  # EtherType, opcode
_ZLEN = 60  # frames are padded to 60 bytes (64 with the FCS)
_RTL_MASK = 0x7FFF8  # FCRTL/FCRTH bits 18:3, a byte count in 8-byte units

_CTRL0 = R.CTRL0 >> 2
_FCRTL = R.FCRTL >> 2
_FCRTH = R.FCRTH >> 2
_PAP = R.PAP >> 2


def pause_frame(src: bytes, quanta: int) -> bytes:
    """An 802.3x PAUSE frame from ``src`` asking for ``quanta`` x 512 bit times (0: XON)."""
    head = _PAUSE.pack(PAUSE_DST, src, ETH_P_MAC_CONTROL, MAC_CONTROL_PAUSE, quanta & 0xFFFF)
    return head + bytes(_ZLEN - len(head))


class FlowControl:
    """The flow-control state of one NIC: XOFF sent or not, the refresh timer."""

    def __init__(self, nic: Any) -> None:
        self.nic = nic
        self.sched = nic.sched
        self.r: list[int] = nic.r
        self.xoff_sent = False
        self._refresh: Any = None
        self.received = 0  # PAUSE frames honoured (debugger's view)
        self.ignored = 0  # MAC control frames dropped without effect

    def reset(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
        self.xoff_sent = False

    def _station(self) -> bytes:
        r = self.r
        ral = r[R.RAL(0) >> 2]
        rah = r[R.RAH(0) >> 2]
        return struct.pack("<IH", ral, rah & 0xFFFF)

    # -- sending, from the RX FIFO's level ----------------------------------------------------
    def fifo_rose(self, used: int) -> None:
        """The RX FIFO grew to ``used`` bytes: XOFF once it passes FCRTH (with TPE)."""
        r = self.r
        if self.xoff_sent or not r[_CTRL0] & R.CTRL0_TPE:
            return
        high = r[_FCRTH] & _RTL_MASK
        if high and used > high:
            self._send_xoff()

    def fifo_fell(self, used: int) -> None:
        """The RX FIFO shrank to ``used`` bytes: XON once below FCRTL (with XONE)."""
        if not self.xoff_sent:
            return
        r = self.r
        if used < r[_FCRTL] & _RTL_MASK:
            self.xoff_sent = False
            if self._refresh is not None:
                self._refresh.cancel()
                self._refresh = None
            if r[_FCRTL] & R.FCRTL_XONE and r[_CTRL0] & R.CTRL0_TPE:
                self._send(0)
                self.nic.stat_add(R.XONTXC)

    def _send_xoff(self) -> None:
        quanta = self.r[_PAP] & 0xFFFF
        self.xoff_sent = True
        self._send(quanta)
        self.nic.stat_add(R.XOFFTXC)
        if quanta:
            ns = quanta * PAUSE_QUANTUM_BITS * NS_PER_S // self.nic.port.rate_bps
            self._refresh = self.sched.call_later(max(ns // 2, 1), self._refresh_xoff)

    def _refresh_xoff(self) -> None:
        self._refresh = None
        if self.xoff_sent and self.r[_CTRL0] & R.CTRL0_TPE:
            self._send_xoff()

    def _send(self, quanta: int) -> None:
        self.nic.stat_add(R.PFTC)
        self.nic.tx.send_control(pause_frame(self._station(), quanta))

    # -- receiving ----------------------------------------------------------------------------
    def mac_control(self, frame: bytes) -> None:
        """A MAC control frame arrived (EtherType 0x8808): honour a PAUSE, drop the rest."""
        r = self.r
        if len(frame) < 18 or not r[_CTRL0] & R.CTRL0_RPE:
            self.ignored += 1
            return
        _ethertype, opcode = _PAUSE_HEAD.unpack_from(frame, 12)
        dst = frame[:6]
        if opcode != MAC_CONTROL_PAUSE or (dst != PAUSE_DST and dst != self._station()):
            self.ignored += 1
            return
        quanta = (frame[16] << 8) | frame[17]
        self.received += 1
        nic = self.nic
        nic.stat_add(R.PFRC)
        nic.stat_add(R.XOFFRXC if quanta else R.XONRXC)
        nic.tx.pause(quanta)

    def pending_events(self) -> list[PendingEvent]:
        """The XOFF refresh, when one is pending (device/trace.py)."""
        if self._refresh is None:
            return []
        return [PendingEvent(self._refresh, "XOFF refresh (half the pause time)")]
