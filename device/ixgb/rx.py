"""The ixgb RX engine: MAC receive checks, address filter, packet buffer, descriptor DMA.

Mirrors QEMU's receive path in ``hw/net/e1000.c`` (``e1000_receive_iov``, ``receive_filter``,
``e1000_has_rxbufs``, the RDTR/RXDMT0 logic) for the 82597EX, and is the hardware half of
Linux ixgb's ``ixgb_clean_rx_irq`` / ``ixgb_alloc_rx_buffers`` (docs/hardware.md §2.7).

Contract with the NIC core (``device/ixgb/nic.py``): ``receive(frame)`` is called by the port
for every frame that arrives, always from a scheduled event; ``doorbell()`` after a validated
RDT write; ``control_changed()`` after an RCTL write; ``ring_changed()`` after an RDLEN write;
``reset()`` at power-on and CTRL0.RST; ``enabled()`` and ``ring_count()`` for the core's RDH
checks.  ``trace_rx_frame`` is the ``rx_frame`` tracepoint (:mod:`device.trace`): callables
``(frame, index)`` run after a frame's descriptor ``index`` has been written back (``frame`` as
it came off the wire).

Per frame, in hardware order:

1. Receiver off (RCTL.RXEN clear) or link down: dropped, no counter moves (the Intel MACs'
   MPC "does not increment if receives are not enabled"); ``dropped_disabled`` counts it.
2. TPR++, TOR += length + 4 (the FCS our frames arrive without).  Length with FCS < 64:
   RUC++, dropped.  Above MFS (bits 31:16, FCS included; 4 more for a VLAN-tagged frame, the
   802.1Q allowance; MFS is capped at 1518 while CTRL0.JFE is clear, which is why the driver
   sets JFE for MFS > 1518): ROC++, dropped.
3. Address filter (``rxfilter``): not accepted, dropped silently (``dropped_filter``).
4. The frame is prepared as it enters the packet buffer: VLAN tag stripped into ``special``
   with status VP when CTRL0.VME is set; checksums (``rxcsum``); PIF when the filter was
   inexact; with RCTL.SECRC clear, the 4 FCS bytes (CRC32 of the frame as it was on the wire)
   are appended and counted in the length, as hardware passes them up.
5. It goes to the first descriptor hardware owns, **[RDH, RDT)** (docs/hardware.md decision):
   one DMA of the data to ``buff_addr``, then one DMA of the write-back half (length,
   status, errors, special: the status dword is the last bytes written, DD among them, after
   the data), RDH advances with wrap.  Good-frame counters (GPRC, GORC, UPRC/MPRC/BPRC, VPRC,
   JPRC) count frames that reached host memory.
6. Interrupts: RXT0 after RDTR x 0.8192 us (at once for RDTR 0); RXDMT0 when the free count
   (descriptors hardware owns) falls to RCTL.RDMTS's fraction of the ring (1/2, 1/4, 1/8;
   the reserved value 11b never fires).

No descriptor free: RNBC++ and the frame waits in the packet buffer (``fifo``, bounded by
``fifo_bytes``, the 82597's 512 KiB receive packet buffer); when it does not fit there: MPC++,
the RXO cause, dropped.  A doorbell drains the buffer into the newly posted descriptors as its
own scheduled event (``call_soon``), never from inside the RDT write.  Clearing RCTL.RXEN
empties the buffer (``fifo_flushed``), as disabling the receiver loses what it held.

Deliberate deviations, said out loud:

* **RXT0 is a non-restarting packet timer**: the first frame written back after the last
  RXT0 starts it and later frames do not push it back.  The 82597's RDTR timer restarts on
  every packet, which under a steady stream never expires unless RAIDC is used; a fixed
  deadline keeps latency bounded without modelling RAIDC (not modelled).  RDT.FPDB (bit 31)
  in a doorbell fires a pending RXT0 at once, like e1000's RDTR.FPD.
* **A frame never spans descriptors.**  One that does not fit one buffer (RCTL.BSIZE) is
  dropped and counted in **ROC** (it is "too long" for the receive setup; the driver reports
  ROC as rx_long_length_errors and in rx_errors, whereas RLEC is invisible to it), plus one
  device fault per RCTL write.  Hardware would chain descriptors without EOP, which the Linux
  driver drops anyway (§2.7 step 2).
* **A descriptor whose buffer cannot be written** (buff_addr 0, CVE-2020-28916's NULL
  descriptor, or a buffer not mapped for device writes) is a device fault; the descriptor is
  consumed with DD|EOP, length 0 and error RXE, RDH advances, the frame is dropped.  The
  engine can never spin on it, and the driver sees an error descriptor and recycles it.
* A ring the device cannot read (descriptor DMA refused) loses the frame without moving RDH;
  RDH or RDT beyond the ring (RDLEN shrunk under them) means "no descriptor free" plus one
  fault until the ring is reprogrammed.
* Broadcasts are counted in BPRC and, while RCTL.MPE is set, in MPRC too: the Linux driver
  subtracts BPRC from MPRC in promiscuous and all-multi modes (§2.13), which is what the
  hardware's counting implies.
* Fault injection (``nic.inject``, :class:`device.ixgb.inject.Injection`): ``crc_error`` = N
  marks the next N accepted frames with error CE (CRCERRS++; a wrong FCS when SECRC is
  clear).  They are stored even without RCTL.SBP so the driver's error path runs; real
  hardware without SBP drops them after counting.  ``rx_no_buffer`` = N makes the next N
  frames find no descriptor (RNBC++, they wait in the packet buffer); the engine retries
  after ``FETCH_RETRY_NS``, like a late descriptor fetch, so an injection never wedges the
  ring.  ``bad_checksum`` = N reports TCPE on the next N frames whose TCP/UDP checksum was
  checked.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

from device.ixgb.rxcsum import rx_checksum
from device.ixgb.rxfilter import DA_UNPACK_FROM, EXACT, INEXACT, RAH0, RAH_MATCH, RAL0, RxFilter
from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE, DMA_TO_DEVICE
from device.spec.mac import RX_FIFO_BYTES
from device.trace import PendingEvent

FETCH_RETRY_NS = 1_000  # retry after an injected "no descriptor" (a late descriptor fetch)
ETH_ZLEN_FCS = 64  # minimum frame length with FCS
MAX_STD_FRAME = 1518  # largest frame without CTRL0.JFE, FCS included (1522 tagged)

# Register indices into nic.r (offset >> 2) for the hot path.
_CTRL0 = R.CTRL0 >> 2
_STATUS = R.STATUS >> 2
_XPCSS = R.XPCSS >> 2
_MFS = R.MFS >> 2
_RCTL = R.RCTL >> 2
_RDBAL = R.RDBAL >> 2
_RDBAH = R.RDBAH >> 2
_RDLEN = R.RDLEN >> 2
_RDH = R.RDH >> 2
_RDT = R.RDT >> 2
_RDTR = R.RDTR >> 2
_RXCSUM = R.RXCSUM >> 2
_TPR = R.TPRL >> 2
_TOR = R.TORL >> 2
_GPRC = R.GPRCL >> 2
_GORC = R.GORCL >> 2
_BPRC = R.BPRCL >> 2
_MPRC = R.MPRCL >> 2
_UPRC = R.UPRCL >> 2
_VPRC = R.VPRCL >> 2
_JPRC = R.JPRCL >> 2

_RXEN = R.RCTL_RXEN
_SECRC = R.RCTL_SECRC
_LU = R.STATUS_LU
_ALIGN = R.XPCSS_ALIGN_STATUS
_VME = R.CTRL0_VME
_JFE = R.CTRL0_JFE
_OFFLOADS = R.RXCSUM_IPOFL | R.RXCSUM_TUOFL
_DD_EOP = D.RXD_STAT_DD | D.RXD_STAT_EOP
_IXSM = D.RXD_STAT_IXSM
_RDMTS_SHIFT = (1, 2, 3, 0)  # free <= count >> shift; 0 = reserved, never fires

# Frame kinds for the good-frame counters.
K_UNICAST = 1
K_MULTICAST = 2
K_BROADCAST = 4
K_VLAN = 8
K_JUMBO = 16
K_BAD = 32  # CE marked: not a good frame

_RDMTS_MASK = R.RCTL_RDMTS_MASK
_RDMTS_SHIFT_BITS = R.RCTL_RDMTS_SHIFT
_BSIZE_BYTES = R.BSIZE_BYTES
_BSIZE_MASK = R.RCTL_BSIZE_MASK
_BSIZE_SHIFT = R.RCTL_BSIZE_SHIFT
_PIF = D.RXD_STAT_PIF

_U64 = struct.Struct("<Q")
_U64_UNPACK = _U64.unpack
_FCS = struct.Struct("<I")
_WB = D.RX_WB
_WB_PACK = _WB.pack
_WB_PACK_INTO = _WB.pack_into
_DMA_RW = DMA_TO_DEVICE | DMA_FROM_DEVICE  # the device reads and writes it
_U64_UNPACK_FROM = _U64.unpack_from
_WB_OFF = D.RX_WB_OFFSET
_DESC_SIZE = _WB_OFF + _WB.size  # one receive descriptor: buffer address, then write-back
_MASK32 = 0xFFFFFFFF

# One prepared frame in the packet buffer: (data to DMA, status, errors, special, kind,
# octets on the wire with FCS, frame as received, len(data)).
Entry = tuple[bytes, int, int, int, int, int, bytes, int]


class RxEngine:
    """The 82597's receive unit, hung off an :class:`~device.ixgb.nic.IxgbNic`."""

    def __init__(self, nic: Any, fifo_bytes: int = RX_FIFO_BYTES) -> None:
        self.nic = nic
        self.sched = nic.sched
        self.r: list[int] = nic.r
        self.filter = RxFilter(nic.r)
        self.fifo_bytes = fifo_bytes
        self.fifo: deque[Entry] = deque()
        self.fifo_used = 0
        self.trace_rx_frame: list[Callable[[bytes, int], None]] = []  # tracepoint "rx_frame"
        self._rxt0: Any = None  # Handle of the pending RXT0 timer
        self._drain_ev: Any = None  # Handle of the pending packet-buffer drain
        self._said: set[str] = set()  # faults reported once per configuration
        # Bumped when a reset or RXEN cleared empties the packet buffer: a drain or a frame's
        # placement that ran a tracepoint subscriber (dma, rx_frame) checks it and stops.
        self._gen = 0
        self.reset()

    # -- the core's interface ---------------------------------------------------------------
    def reset(self) -> None:
        """Power-on / CTRL0.RST: empty the packet buffer, cancel timers, zero own counters."""
        self._gen += 1
        if self._rxt0 is not None:
            self._rxt0.cancel()
            self._rxt0 = None
        if self._drain_ev is not None:
            self._drain_ev.cancel()
            self._drain_ev = None
        self.fifo.clear()
        self.fifo_used = 0
        self._said.clear()
        self.delivered = 0  # descriptors written back with a frame
        self.dropped_disabled = 0  # receiver off or link down
        self.dropped_filter = 0  # rejected by the address/VLAN filter
        self.dropped_bsize = 0  # too long for one buffer (also in ROC)
        self.dropped_dma = 0  # descriptor unreadable or buffer unwritable
        self.fifo_flushed = 0  # lost from the packet buffer when RXEN was cleared
        self.fifo_peak = 0  # most bytes ever waiting in the packet buffer

    def control_changed(self) -> None:
        """RCTL written: clearing RXEN loses the packet buffer; re-arm one-shot faults."""
        self._said.clear()
        if not self.r[_RCTL] & _RXEN and self.fifo:
            self._gen += 1
            self.fifo_flushed += len(self.fifo)
            self.fifo.clear()
            self.fifo_used = 0
            if self._drain_ev is not None:
                self._drain_ev.cancel()
                self._drain_ev = None
            self.nic.flowctl.fifo_fell(0)

    def ring_changed(self) -> None:
        """RDLEN written: re-arm the one-shot ring faults; waiting frames may now fit."""
        self._said.discard("ring")
        if self.fifo:
            self._kick(0)

    def doorbell(self) -> None:
        """RDT written: drain the packet buffer in its own event; FPDB fires RXT0 now."""
        if self.r[_RDT] & R.RDT_FPDB and self._rxt0 is not None:
            self._rxt0.cancel()
            self._rxt0_fire()
        if self.fifo:
            self._kick(0)

    def enabled(self) -> bool:
        return bool(self.r[_RCTL] & _RXEN)

    def ring_count(self) -> int:
        return self.r[_RDLEN] >> 4

    def free_count(self) -> int:
        """Descriptors hardware owns, [RDH, RDT); 0 for an unusable ring."""
        r = self.r
        count = r[_RDLEN] >> 4
        head = r[_RDH]
        tail = r[_RDT] & 0xFFFF
        if not count or head >= count or tail >= count:
            return 0
        return (tail - head) % count

    # -- receive ----------------------------------------------------------------------------
    def receive(self, frame: bytes, n: int = -1) -> None:
        """One frame from the port (no FCS), from a scheduled event; ``n`` is its length
        when the port has it.

        Never raises, except the DeviceFaultError of a strict fault log."""
        nic = self.nic
        r = self.r
        rctl = r[_RCTL]
        if not rctl & _RXEN or not (r[_STATUS] & _LU and r[_XPCSS] & _ALIGN):
            self.dropped_disabled += 1
            return
        if n < 0:
            n = len(frame)
        wire = n + 4
        # TPR/TOR: every frame the MAC saw, whatever becomes of it.
        v = r[_TPR] + 1
        if v <= _MASK32:
            r[_TPR] = v
        else:
            nic.stat_add64(R.TPRL)
        v = r[_TOR] + wire
        if v <= _MASK32:
            r[_TOR] = v
        else:
            nic.stat_add64(R.TORL, wire)
        if wire < ETH_ZLEN_FCS:
            nic.stat_add(R.RUC)
            return
        if frame[12] == 0x88 and frame[13] == 0x08:  # MAC control: the MAC's own (PAUSE)
            nic.flowctl.mac_control(frame)
            return
        tagged = frame[12] == 0x81 and frame[13] == 0x00
        ctrl0 = r[_CTRL0]
        limit = r[_MFS] >> 16
        if limit > MAX_STD_FRAME and not ctrl0 & _JFE:
            limit = MAX_STD_FRAME
        if wire > (limit + 4 if tagged else limit):
            nic.stat_add(R.ROC)
            return
        if tagged:
            accepted, reason = self.filter.check(frame, rctl)
        else:
            # RxFilter.check's first test, inline (once per frame): untagged, to RAR0.
            lo, hi = DA_UNPACK_FROM(frame, 0)
            rah = r[RAH0]
            if lo == r[RAL0] and hi == rah & 0xFFFF and rah & RAH_MATCH == R.RAH_AV:
                accepted, reason = True, EXACT
            else:
                accepted, reason = self.filter.check(frame, rctl)
        if not accepted:
            self.dropped_filter += 1
            return

        # Into the packet buffer: strip, checksum, FCS, classify.
        status = _DD_EOP
        errors = 0
        special = 0
        if frame[0] & 1:
            kind = K_BROADCAST if frame[:6] == b"\xff\xff\xff\xff\xff\xff" else K_MULTICAST
        else:
            kind = K_UNICAST
        if tagged:
            kind |= K_VLAN
            if ctrl0 & _VME:
                special = (frame[14] << 8) | frame[15]
                data = frame[:12] + frame[16:]
                size = n - 4
                status |= D.RXD_STAT_VP
                l3 = 14
            else:
                data = frame
                size = n
                l3 = 18
            if wire > MAX_STD_FRAME + 4:
                kind |= K_JUMBO
        else:
            data = frame
            size = n
            l3 = 14
            if wire > MAX_STD_FRAME:
                kind |= K_JUMBO
        if not rctl & _SECRC:
            size += 4  # the FCS is stored too
        bsize = _BSIZE_BYTES[(rctl & _BSIZE_MASK) >> _BSIZE_SHIFT]
        if size > bsize:
            self.dropped_bsize += 1
            nic.stat_add(R.ROC)
            self._say_once("bsize", "RCTL", rctl,
                           f"a {size}-byte frame does not fit one {bsize}-byte RX buffer "
                           f"(RCTL.BSIZE): dropped and counted in ROC; ixsim never spans "
                           f"descriptors")
            return
        rxcsum = r[_RXCSUM]
        if rxcsum & _OFFLOADS and data[l3 - 2] == 0x08 and data[l3 - 1] == 0x00:
            cs, errors = rx_checksum(data, l3, rxcsum)
            status |= cs
        else:
            status |= _IXSM  # offloads off, or not IPv4: rx_checksum would say the same
        if reason in INEXACT:
            status |= _PIF
        inject = nic.inject
        nobuf = False
        if inject.armed:
            if status & D.RXD_STAT_TCPCS and inject.take("bad_checksum"):
                errors |= D.RXD_ERR_TCPE
            if inject.take("crc_error"):
                errors |= D.RXD_ERR_CE
                kind |= K_BAD
                nic.stat_add(R.CRCERRS)
            nobuf = inject.take("rx_no_buffer")
        if not rctl & _SECRC:
            fcs = zlib.crc32(frame)
            if kind & K_BAD:
                fcs ^= _MASK32
            data = data + _FCS.pack(fcs)
        entry = (data, status, errors, special, kind, wire, frame, size)
        if not self.fifo and not nobuf:
            if self._place(entry):
                return
            nic.stat_add(R.RNBC)
        elif nobuf or not self.free_count():
            nic.stat_add(R.RNBC)
        self._enqueue(entry, nobuf)

    # -- the packet buffer ------------------------------------------------------------------
    def _enqueue(self, entry: Entry, retry: bool) -> None:
        size = entry[7]
        if self.fifo_used + size > self.fifo_bytes:
            self.nic.stat_add(R.MPC)
            self.nic.set_ics(R.INT_RXO)
            return
        self.fifo.append(entry)
        self.fifo_used += size
        if self.fifo_used > self.fifo_peak:
            self.fifo_peak = self.fifo_used
        self.nic.flowctl.fifo_rose(self.fifo_used)
        if retry:
            self._kick(FETCH_RETRY_NS)
        elif self._drain_ev is None and self.free_count():
            self._kick(0)  # a safety net: waiting frames never sit beside free descriptors

    def _kick(self, delay: int) -> None:
        """Schedule a drain ``delay`` ns from now (sooner replaces later)."""
        ev = self._drain_ev
        if ev is not None:
            if ev.when <= self.sched.now + delay:
                return
            ev.cancel()
        self._drain_ev = self.sched.call_later(delay, self._drain)

    def _drain(self) -> None:
        """Move waiting frames into free descriptors; at most one ring's worth per event."""
        self._drain_ev = None
        fifo = self.fifo
        gen = self._gen
        try:
            for _ in range(max(self.ring_count(), 1)):
                if not fifo:
                    return
                if not self._place(fifo[0]):
                    return  # no descriptor: the next doorbell drains
                if self._gen != gen:
                    return  # a subscriber reset the device or cleared RXEN: buffer emptied
                self.fifo_used -= fifo.popleft()[7]
            if fifo and self.free_count():
                self._kick(0)
        finally:
            self.nic.flowctl.fifo_fell(self.fifo_used)

    # -- descriptors ------------------------------------------------------------------------
    def _place(self, entry: Entry) -> bool:
        """Write one frame to the descriptor at RDH.  False when hardware owns none."""
        r = self.r
        count = r[_RDLEN] >> 4
        head = r[_RDH]
        tail = r[_RDT] & 0xFFFF
        if head == tail or not count:
            return False
        if head >= count or tail >= count:
            self._say_once("ring", "RDH", head,
                           f"RDH={head}/RDT={tail} beyond the RX ring of {count} descriptors "
                           f"(RDLEN={r[_RDLEN]}): no descriptor is usable")
            return False
        nic = self.nic
        pci = nic.pci
        daddr = (r[_RDBAL] | (r[_RDBAH] << 32)) + (head << 4)
        # Unobserved, the transfers go through dma_view/dma_store (no per-frame "RX desc n"
        # text); a refused one is repeated through dma_read/dma_write to record the fault.
        fast = not pci.trace_dma  # not pci.dma_observed(), inline: once per frame
        # The descriptor is read (buffer address) and written back (length, status): one
        # window check for both.  Refused, each transfer is repeated alone below.
        desc = pci.dma_view(daddr, _DESC_SIZE, _DMA_RW) if fast else None
        gen = self._gen
        if desc is None:
            raw = pci.dma_read(daddr, 8, f"RX desc {head}")
            if self._gen != gen:
                return True  # a dma subscriber reset the device: nothing more to do
            if raw is None:
                self.dropped_dma += 1  # the fault is recorded; RDH cannot honestly move
                return True
            buf = _U64_UNPACK(raw)[0]
        else:
            buf = _U64_UNPACK_FROM(desc)[0]
        data, status, errors, special, kind, wire, frame, size = entry
        if not buf:
            ok = False
        elif fast and pci.dma_store(buf, data, size):
            ok = True
        else:
            ok = pci.dma_write(buf, data, f"RX buffer {head}")
            if self._gen != gen:
                return True  # a dma subscriber reset the device: nothing more to do
        if desc is not None:
            if ok:
                _WB_PACK_INTO(desc, _WB_OFF, size, 0, status, errors, special)
            else:
                self.dropped_dma += 1
                _WB_PACK_INTO(desc, _WB_OFF, 0, 0, _DD_EOP, D.RXD_ERR_RXE, 0)
        else:
            if ok:
                wb = _WB_PACK(size, 0, status, errors, special)
            else:
                self.dropped_dma += 1
                wb = _WB_PACK(0, 0, _DD_EOP, D.RXD_ERR_RXE, 0)
            if not (fast and pci.dma_store(daddr + _WB_OFF, wb)):
                pci.dma_write(daddr + _WB_OFF, wb, f"RX desc {head}")
                if self._gen != gen:
                    return True
        index = head
        head += 1
        if head == count:
            head = 0
        r[_RDH] = head
        if ok:
            self.delivered += 1
            if not kind & K_BAD:
                # GPRC, GORC and the per-kind counters (saturating 64-bit pairs), inline:
                # once per frame.
                v = r[_GPRC] + 1
                if v <= _MASK32:
                    r[_GPRC] = v
                else:
                    nic.stat_add64(R.GPRCL)
                v = r[_GORC] + wire
                if v <= _MASK32:
                    r[_GORC] = v
                else:
                    nic.stat_add64(R.GORCL, wire)
                idx = _UPRC if kind & K_UNICAST else _BPRC if kind & K_BROADCAST else _MPRC
                v = r[idx] + 1
                if v <= _MASK32:
                    r[idx] = v
                else:
                    nic.stat_add64(idx << 2)
                if kind & (K_VLAN | K_JUMBO | K_BROADCAST):
                    if kind & K_VLAN:
                        nic.stat_add64(R.VPRCL)
                    if kind & K_JUMBO:
                        nic.stat_add64(R.JPRCL)
                    if kind & K_BROADCAST and r[_RCTL] & R.RCTL_MPE:
                        nic.stat_add64(R.MPRCL)
        # Interrupt causes.
        if self._rxt0 is None:
            rdtr = r[_RDTR] & 0xFFFF
            if rdtr:
                self._rxt0 = self.sched.call_later(nic.delay_ns(rdtr), self._rxt0_fire)
            else:
                nic.set_ics(R.INT_RXT0)
        shift = _RDMTS_SHIFT[(r[_RCTL] & _RDMTS_MASK) >> _RDMTS_SHIFT_BITS]
        if shift and (tail - head) % count == count >> shift:
            nic.set_ics(R.INT_RXDMT0)
        if not buf:
            # Recorded after the state is consistent: a strict fault log raises here.
            nic.fault("RDH", index, f"RX buffer address 0 in descriptor {index}: descriptor "
                      f"consumed with RXE, frame dropped")
        if self.trace_rx_frame:
            for fn in self.trace_rx_frame:
                fn(frame, index)
        return True

    def _rxt0_fire(self) -> None:
        self._rxt0 = None
        self.nic.set_ics(R.INT_RXT0)

    def _say_once(self, key: str, register: str, value: int, message: str) -> None:
        """A device fault reported once until the configuration changes."""
        if key not in self._said:
            self._said.add(key)
            self.nic.fault(register, value, message)

    # -- the debugger's view ----------------------------------------------------------------
    def pending_events(self) -> list[PendingEvent]:
        """The engine's scheduled events, labelled for the debugger (device/trace.py)."""
        out = []
        if self._drain_ev is not None:
            out.append(PendingEvent(self._drain_ev, "RX packet buffer drain"))
        if self._rxt0 is not None:
            out.append(PendingEvent(self._rxt0, "RDTR: RX delay timer (RXT0)"))
        return out

    def state(self) -> dict[str, int]:
        """Counters and queue depths by name, for the shell and for tests."""
        return {
            "free": self.free_count(),
            "fifo_frames": len(self.fifo),
            "fifo_bytes": self.fifo_used,
            "fifo_peak": self.fifo_peak,
            "delivered": self.delivered,
            "dropped_disabled": self.dropped_disabled,
            "dropped_filter": self.dropped_filter,
            "dropped_bsize": self.dropped_bsize,
            "dropped_dma": self.dropped_dma,
            "fifo_flushed": self.fifo_flushed,
            "rxt0_pending": int(self._rxt0 is not None),
        }
