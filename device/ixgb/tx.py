"""The 82597EX transmit engine: descriptor fetch, TX FIFO, line-rate drain, write-back, TXDW.

Mirrors QEMU's ``hw/net/e1000.c`` (``start_xmit`` / ``process_tx_desc`` / ``xmit_seg`` /
``txdesc_writeback``) in logic, for the ixgb descriptor formats (docs/hardware.md §1.5), with the
offload arithmetic in :mod:`device.ixgb.offload` and the timing of a real MAC: a bounded
on-chip FIFO drained at the link rate (docs/hardware.md §1.10).  The core
(``device/ixgb/nic.py``) calls ``doorbell()`` after a validated TDT write,
``control_changed()`` after TCTL, ``ring_changed()`` after TDLEN, ``head_written()`` after
TDH, ``catch_up()`` before a TDH read, ``pause()`` for a received PAUSE frame and ``reset()``
on power-on and CTRL0.RST.

Contract:

* A doorbell never does the work itself: with TCTL.TXEN set it schedules one engine event
  (``sched.call_soon``), so a debugger can stop between the TDT write and the fetch.  One
  event at a time: a doorbell while one is pending sooner does nothing more, a doorbell
  while one runs (from a tracepoint) asks for one more pass afterwards.
* **Fetch** (an engine event): descriptors from the fetch pointer up to TDT are read with
  one DMA read (two when the range wraps) and consumed in order while the TX FIFO
  (``TX_FIFO_BYTES``, 256 KiB) has room; the check is made at packet boundaries, so the
  last packet fetched may overrun it (by at most one packet).  Context descriptors (TYPE 0)
  load the offload context, which stays in force until the next one; data descriptors
  (TYPE 1) are gathered up to EOP, then the packet is finished (TSO, checksums, VLAN,
  padding) into frames that wait in the FIFO.  Each loop is bounded by the ring size,
  whatever the guest wrote (CVE-2021-20257).
* **Drain**: frames leave the FIFO for the port in order at the link rate
  (``Port.transmit_at``; the cable's serializer decides start and end, see
  ``device/cable.py``): a frame of ``n`` bytes takes ``(n + 24) * 8 / rate`` (FCS,
  preamble/SFD and inter-frame gap), 1.2304 µs for 1514 bytes at 10 Gb/s.  A frame is
  handed to the port when its start is less than a *commit horizon* ahead: everything at
  once while CTRL0.RPE is clear (no PAUSE can stop it), ``COMMIT_NS`` (16.384 µs) of wire
  time while RPE is set, so a received PAUSE stops transmission within that horizon.
* **Completion**: a frame's FIFO space is freed, and its packet's RS descriptors get DD and
  TDH moves past its EOP, when its last bit has left (the end the port returned), never at
  fetch.  The engine does this at its own events and computes the times arithmetically;
  its events are: the doorbell, a commit point (the horizon half spent), a refill point (the
  FIFO drained to half while descriptors wait), the end of a frame whose write-back raises
  TXDW at once, the TIDV expiry, the end of the last frame (TDH reaches TDT: TXQE), and the
  end of a pause.  Between them, DD in memory lags the wire (never leads it) by less than
  the time to the next of those events; a TDH read catches up first, so TDH is exact.
* **TXDW**: at once for a write-back without IDE (or with TIDV = 0), at that frame's end;
  otherwise by a one-shot timer of TIDV x 0.8192 µs started at the end of the first delayed
  write-back and never restarted while it runs; an immediate TXDW cancels it.  When it
  fires, every frame finished by then has been written back.  TXQE is raised when TDH
  reaches TDT with nothing in the FIFO (and by a doorbell that finds TDH == TDT).
* **PAUSE** (``pause(quanta)``, from the RX side with CTRL0.RPE): no frame starts before
  ``now + quanta x 512`` bit times; STATUS.TXOFF is set meanwhile; pause time 0 (XON) ends
  a pause at once.  The PAUSE frames this NIC sends itself (``send_control``) bypass the
  FIFO and the pause, as MAC control frames do.
* Hostile descriptors are device faults (one sentence, register ``TXD[i]``), then skipped
  safely: zero length (no data, still written back), buffer address 0 or DMA outside a
  mapping (the packet is dropped at its EOP), invalid TYPE (the packet in progress is
  dropped), a context not followed by data, a chain spanning the whole ring without EOP, a
  packet over 16 KiB (256 KiB with TSO), offsets the offloads cannot honour.  Dropped
  packets are counted in ``dropped`` (and TSCTFC for TSO); their write-back waits for the
  frames ahead of them.
* Statistics (GPTC, GOTC, TPT, ...) count a frame when it goes on the wire, accumulated
  during an event and added to the saturating counters at its end.
* Fault injection (``nic.inject``, :class:`device.ixgb.inject.Injection`): ``tx_stall``
  makes an event do nothing (TDH frozen, STATUS.TXOFF clear, as a hung TX unit); clear it and
  ring the doorbell to resume.  ``lost_irq = n`` swallows the next ``n`` TX interrupt causes
  (TXDW before TXQE).
* Tracepoint ``tx_frame`` (:mod:`device.trace`): ``trace_tx_frame`` subscribers are called
  ``(frame, ndesc)`` for every frame handed to the port, ``ndesc`` being the number of data
  descriptors of its packet.  Empty by default.

Deviations from hardware, deliberate: a packet's offload flags (popts, TSE) come from its
first data descriptor (as QEMU's e1000 does) and VLE/vlan from its EOP descriptor; a frame
put on a port without link is counted as sent (the port counts the drop) where hardware
would hold the queue; a context descriptor inside a packet is ignored rather than applied;
the write-back of DD is batched at the engine's events (above) rather than posted per frame;
frames within the commit horizon are not stopped by a PAUSE received after they were handed
to the port (at most ``COMMIT_NS`` of wire time, a few frames, where hardware finishes only
the frame in progress).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from device.ixgb.offload import (
    EMPTY_CONTEXT,
    ETH_ZLEN,
    MAX_PACKET,
    MAX_TSO_PACKET,
    OffloadError,
    TxContext,
    insert_ip_checksum,
    insert_l4_checksum,
    insert_vlan,
    pad,
    tso_segments,
)
from device.spec import desc as D
from device.spec import regs as R
from device.spec.mac import TX_FIFO_BYTES
from device.spec.timing import PAUSE_QUANTUM_BITS
from device.trace import PendingEvent
from device.units import NS_PER_S

# Register indexes into nic.r (offset >> 2) for the hot path.
_CTRL0 = R.CTRL0 >> 2
_STATUS = R.STATUS >> 2
_TCTL = R.TCTL >> 2
_TDBAL = R.TDBAL >> 2
_TDBAH = R.TDBAH >> 2
_TDLEN = R.TDLEN >> 2
_TDH = R.TDH >> 2
_TDT = R.TDT >> 2
_TIDV = R.TIDV >> 2

_TXEN = R.TCTL_TXEN
_TPDE = R.TCTL_TPDE
_VME = R.CTRL0_VME
_RPE = R.CTRL0_RPE
_TXOFF = R.STATUS_TXOFF

_TYPE_MASK = D.TXD_TYPE_MASK
_TYPE_DATA = D.TXD_TYPE_DATA
_TYPE_CONTEXT = D.TXD_TYPE_CONTEXT
_LEN_MASK = D.TXD_LEN_MASK
_EOP = D.TXD_CMD_EOP
_TSE = D.TXD_CMD_TSE
_RS = D.TXD_CMD_RS
_VLE = D.TXD_CMD_VLE
_IDE = D.TXD_CMD_IDE
_IXSM = D.TXD_POPTS_IXSM
_TXSM = D.TXD_POPTS_TXSM
_CSUM = _IXSM | _TXSM
_CMD_MASK = 0xFF00_0000
_PAYLEN_MASK = D.TXC_PAYLEN_MASK
_STATUS_OFFSET = D.TX_STATUS_OFFSET
_DESC_UNPACK = D.TX_DESC.unpack_from
_CTX_UNPACK = D.TX_CTX.unpack_from

# The status byte written back: what the descriptor held, with DD set.
_DD_BYTES = tuple(bytes((status | D.TXD_STAT_DD,)) for status in range(256))
_WB_NOW = 1  # a write-back without IDE (or with TIDV = 0): TXDW at once
_WB_DELAYED = 2  # a write-back with IDE: TXDW after TIDV
_DONE = 4  # a completion batch ran
_BROADCAST = b"\xff" * 6
_STD_MAX_FRAME = 1518  # with FCS, without a VLAN tag; above it a frame counts in JPTC

# How far ahead of its start a frame is handed to the port while PAUSE can stop the MAC
# (CTRL0.RPE): 16.384 µs of wire time, about 13 full-size frames at 10 Gb/s.  The engine
# wakes when half of it is spent.  Without RPE nothing can stop a fetched frame and the
# whole FIFO is handed over at once (one event per fetch instead of one per horizon).
COMMIT_NS = 16_384
_FOREVER = 1 << 62

# Indexes of the per-pass statistics accumulator.
_S_FRAMES, _S_OCTETS, _S_BCAST, _S_MCAST, _S_VLAN, _S_JUMBO, _S_SHORT = range(7)

FrameHook = Callable[[bytes, int], None]

# A frame (or a marker) waiting in the FIFO: [frame or None, ndesc, write-backs, TDH after].
# A marker carries the write-backs and TDH move of descriptors that produced no frame (a
# dropped packet, an RS context descriptor); it takes no wire time.  ``wb`` is a list of
# (ring index, status, IDE) or None; ``tdh`` is -1 for all but a packet's last frame.
Queued = list[Any]
# A frame on the wire: (end ns, FIFO bytes, write-backs, TDH after, _WB_* flag).
OnWire = tuple[int, int, Any, int, int]


class TxEngine:
    """One TX queue of the 82597EX, driven by TDT doorbells (see the module contract)."""

    def __init__(self, nic: Any, fifo_bytes: int = TX_FIFO_BYTES) -> None:
        self.nic = nic
        self.sched = nic.sched
        self.fifo_bytes = fifo_bytes
        self.trace_tx_frame: list[FrameHook] = []  # tracepoint "tx_frame"
        # Counters for the debugger (the guest-visible ones are the statistics registers).
        self.passes = 0
        self.descriptors = 0
        self.packets = 0
        self.frames = 0
        self.dropped = 0
        self.stalled = 0
        self.lost_irqs = 0
        self.control_frames = 0
        self.fifo_peak = 0
        self._event: Any = None
        self._tidv_timer: Any = None
        self._running = False
        self._again = False
        self._gen = 0
        self._txen = False
        self._acc = [0] * 7
        self.context: TxContext = EMPTY_CONTEXT
        self.context_valid = False
        self._ctx_pending = -1
        self._fetch = 0  # the next descriptor to fetch; TDH trails it by what is in the FIFO
        self._txq: deque[Queued] = deque()  # fetched, not yet handed to the port
        self._wire: deque[OnWire] = deque()  # handed to the port, not yet finished
        self._imm: deque[int] = deque()  # ends of on-wire frames whose write-back is _WB_NOW
        self.fifo_used = 0  # bytes of frames fetched and not yet finished
        self.wire_free = 0  # end of the last frame handed to the port
        self.pause_until = 0  # no frame starts before this (802.3x PAUSE received)
        self._clear_packet()

    @property
    def trace_name(self) -> str:
        return f"{self.nic.trace_name} tx"

    # -- the core's interface -------------------------------------------------------------
    def reset(self) -> None:
        """Power-on / CTRL0.RST: forget everything in flight, cancel pending events."""
        self._cancel_event()
        self._cancel_tidv()
        self._gen += 1
        self._again = False
        self._txen = False
        self._acc = [0] * 7
        self.context = EMPTY_CONTEXT
        self.context_valid = False
        self._ctx_pending = -1
        self._flush_fifo()
        self.pause_until = 0
        self._fetch = 0
        self._clear_packet()

    def control_changed(self) -> None:
        """TCTL written: TXEN falling loses the FIFO; rising starts the queue."""
        r = self.nic.r
        on = bool(r[_TCTL] & _TXEN)
        if on and not self._txen:
            self._txen = True
            self._fetch = r[_TDH]
            if r[_TDH] != r[_TDT]:
                self.doorbell()
        elif not on and self._txen:
            self._txen = False
            self._cancel_event()
            self._cancel_tidv()
            self._gen += 1
            self._flush_fifo()
            self._clear_packet()

    def ring_changed(self) -> None:
        """TDLEN written: descriptors held for a packet in progress no longer mean anything."""
        self._gen += 1
        self._flush_fifo()
        self._fetch = self.nic.r[_TDH]
        self._clear_packet()

    def head_written(self) -> None:
        """TDH written by the driver (only legal while TXEN is clear): fetch from there."""
        if not self._wire and not self._txq:
            self._fetch = self.nic.r[_TDH]

    def doorbell(self) -> None:
        """TDT written (already validated by the core): schedule one engine event now."""
        if not self.nic.r[_TCTL] & _TXEN:
            return
        if self._running:
            self._again = True
            return
        ev = self._event
        if ev is not None:
            if ev.when <= self.sched.now:
                return
            ev.cancel()
        self._event = self.sched.call_soon(self._process)

    def enabled(self) -> bool:
        return bool(self.nic.r[_TCTL] & _TXEN)

    def ring_count(self) -> int:
        return self.nic.r[_TDLEN] >> 4

    def catch_up(self) -> None:
        """Complete what has finished by now (before a TDH read, so TDH is exact)."""
        if self._wire and self._wire[0][0] <= self.sched.now:
            self._after_completion(self._complete(self.sched.now))
            self._flush_stats()

    # -- PAUSE ------------------------------------------------------------------------------
    def pause(self, quanta: int) -> None:
        """A PAUSE frame arrived (CTRL0.RPE): hold transmission ``quanta`` x 512 bit times.

        Spec: IEEE 802.3 Annex 31B.3.7 (the pause timer restarts with each PAUSE; 0 resumes).
        """
        now = self.sched.now
        r = self.nic.r
        if quanta:
            rate = self.nic.port.rate_bps
            bits = quanta * PAUSE_QUANTUM_BITS
            self.pause_until = now + -(-bits * NS_PER_S // rate)
            r[_STATUS] |= _TXOFF
        else:
            self.pause_until = now
            r[_STATUS] &= ~_TXOFF
        if r[_TCTL] & _TXEN:
            self._reschedule(now)

    def send_control(self, frame: bytes) -> int:
        """Put a MAC control frame (PAUSE) on the wire now, ahead of the FIFO; its end."""
        self.control_frames += 1
        end = self.nic.port.transmit_at(frame, self.sched.now)
        if end > self.wire_free:
            self.wire_free = end
        return end

    # -- state ------------------------------------------------------------------------------
    def _cancel_event(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def _cancel_tidv(self) -> None:
        if self._tidv_timer is not None:
            self._tidv_timer.cancel()
            self._tidv_timer = None

    def _flush_fifo(self) -> None:
        """Lose the FIFO (reset, TXEN cleared, ring changed); frames on the wire stay there."""
        self._txq.clear()
        self._wire.clear()
        self._imm.clear()
        self.fifo_used = 0

    def _clear_packet(self) -> None:
        """Forget the packet being gathered (its descriptors were already consumed)."""
        self._chunks: list[Any] = []
        self._size = 0
        self._ndesc = 0
        self._popts = 0
        self._tse = 0
        self._bad = False
        self._wb: list[tuple[int, int, int]] = []

    def pending_events(self) -> list[PendingEvent]:
        """The engine's scheduled events, labelled for the debugger (device/trace.py)."""
        out = []
        if self._event is not None:
            out.append(PendingEvent(self._event, "TX descriptor fetch"))
        if self._tidv_timer is not None:
            out.append(PendingEvent(self._tidv_timer, "TIDV: TX interrupt delay (TXDW)"))
        return out

    @property
    def in_progress(self) -> int:
        """Data descriptors gathered for a packet whose EOP has not been fetched yet."""
        return self._ndesc

    def state(self) -> dict[str, int]:
        """The FIFO and its timing by name, for the shell and for tests."""
        return {
            "fetch": self._fetch,
            "fifo_bytes": self.fifo_used,
            "fifo_size": self.fifo_bytes,
            "fifo_peak": self.fifo_peak,
            "fifo_frames": sum(1 for q in self._txq if q[0] is not None) + len(self._wire),
            "on_wire": len(self._wire),
            "wire_free_ns": self.wire_free,
            "pause_until_ns": self.pause_until,
            "control_frames": self.control_frames,
        }

    # -- one engine event -------------------------------------------------------------------
    def _process(self) -> None:
        """Complete what finished, fetch while the FIFO has room, hand frames to the port."""
        self._event = None
        nic = self.nic
        r = nic.r
        if not r[_TCTL] & _TXEN:
            return
        inject = nic.inject
        if inject.armed and inject.tx_stall:
            self.stalled += 1
            return
        now = self.sched.now
        if self.pause_until <= now and r[_STATUS] & _TXOFF:
            r[_STATUS] &= ~_TXOFF
        gen = self._gen
        flags = self._complete(now) if self._wire else 0
        if self._fetch != r[_TDT] and self.fifo_used < self.fifo_bytes:
            self._running = True
            try:
                self._fetch_descriptors()
            finally:
                self._running = False
            if self._gen != gen:
                return  # a tracepoint reset or disabled the unit: stop here
        if self._txq:
            self._commit(now)
            if self._wire and self._wire[0][0] <= now:  # markers and frames without link
                flags |= self._complete(now)
        self._after_completion(flags, True)
        self._flush_stats()
        self._reschedule(now)
        if self._again:
            self._again = False
            self.doorbell()

    def _fetch_descriptors(self) -> None:
        """Read [fetch, TDT) from the ring and consume it while the FIFO has room."""
        nic = self.nic
        r = nic.r
        count = r[_TDLEN] >> 4
        if not count:
            return
        head = self._fetch
        tail = r[_TDT]
        if head >= count or tail >= count:
            nic.fault("TDH", head, f"TDH={head} or TDT={tail} lies beyond the ring of {count} "
                      "descriptors (TDLEN changed after they were set); TX stopped")
            return
        if head == tail:
            return
        base = r[_TDBAL] | (r[_TDBAH] << 32)
        dma_read = nic.pci.dma_read  # the ring is fetched once an event: no fast path needed
        if head < tail:
            n = tail - head
            view = dma_read(base + (head << 4), n << 4, "TDBAL")
            if view is None:
                return  # the PCI layer recorded the fault; nothing can be fetched
            ring = bytes(view)
        else:
            n = count - head
            view = dma_read(base + (head << 4), n << 4, "TDBAL")
            if view is None:
                return
            ring = bytes(view)
            if tail:
                view = dma_read(base, tail << 4, "TDBAL")
                if view is not None:
                    ring += view
                    n += tail
        self.passes += 1
        self._walk(ring, head, n, count)

    def _walk(self, ring: bytes, head: int, n: int, count: int) -> None:
        """Consume up to ``n`` fetched descriptors from ring index ``head`` into the FIFO."""
        nic = self.nic
        fault = nic.fault
        pci = nic.pci
        dma_read = pci.dma_read
        # Unobserved, a buffer is fetched with dma_view (no per-descriptor "TXD[i]" text);
        # a refused fetch is repeated through dma_read, which records the fault.
        dma_view = None if pci.dma_observed() else pci.dma_view
        gen = self._gen
        txq = self._txq
        fifo_bytes = self.fifo_bytes
        chunks = self._chunks
        size = self._size
        ndesc = self._ndesc
        popts0 = self._popts
        tse0 = self._tse
        bad = self._bad
        wb = self._wb
        ctx_pending = self._ctx_pending
        i = head
        done = 0
        loose = False  # descriptors outside a packet (contexts, skipped ones) since a marker
        for off in range(0, n << 4, 16):
            if not ndesc and self.fifo_used >= fifo_bytes:
                break  # the FIFO is full: fetch the next packet when it has drained
            done += 1
            addr, ctl, status, popts, vlan = _DESC_UNPACK(ring, off)
            kind = ctl & _TYPE_MASK
            if kind == _TYPE_DATA:
                ctx_pending = -1
                if not ndesc:
                    if loose:  # TDH passes them once the frames ahead have left, not later
                        txq.append([None, 0, wb or None, i])
                        wb = []
                        loose = False
                    popts0 = popts
                    tse0 = ctl & _TSE
                ndesc += 1
                length = ctl & _LEN_MASK
                if not length:
                    fault(f"TXD[{i}]", ctl, "data descriptor with length 0 (the ixgb driver "
                          "never writes one); it carries no data")
                elif not bad:
                    if not addr:
                        fault(f"TXD[{i}]", addr, "data descriptor with buffer address 0; "
                              "the packet is dropped")
                        bad = True
                    else:
                        size += length
                        limit = MAX_TSO_PACKET if tse0 else MAX_PACKET
                        if size > limit:
                            fault(f"TXD[{i}]", size, f"packet of {size}+ bytes exceeds the "
                                  f"{limit // 1024} KiB limit; the packet is dropped")
                            bad = True
                        else:
                            view = dma_view(addr, length) if dma_view is not None else None
                            if view is None:
                                view = dma_read(addr, length, f"TXD[{i}]")
                            if view is None:
                                bad = True
                            else:
                                chunks.append(view)
                if ctl & _RS:
                    wb.append((i, status, ctl & _IDE))
                if ctl & _EOP:
                    mark = len(txq)
                    self._packet(chunks, size, ndesc, popts0, tse0, bad, ctl, vlan, i)
                    i += 1
                    if i == count:
                        i = 0
                    if self._gen != gen:
                        return  # a tracepoint reset or disabled the unit: stop here
                    if len(txq) > mark:  # the packet's last frame carries its write-back
                        last = txq[-1]
                        last[2] = wb or None
                        last[3] = i
                    else:
                        txq.append([None, 0, wb or None, i])
                    wb = []
                    chunks = []
                    size = ndesc = 0
                    bad = False
                    continue
                if ndesc >= count:
                    fault(f"TXD[{i}]", ndesc, f"a chain of {ndesc} data descriptors without "
                          f"EOP spans the whole ring of {count}; the packet is dropped")
                    self._drop(tse0)
                    txq.append([None, 0, wb or None, (i + 1) % count])
                    wb = []
                    chunks = []
                    size = ndesc = 0
                    bad = False
            elif kind == _TYPE_CONTEXT:
                if ndesc:
                    fault(f"TXD[{i}]", ctl, f"context descriptor inside a packet ({ndesc} "
                          "data descriptors without EOP before it); it is ignored")
                else:
                    if ctx_pending >= 0:
                        fault(f"TXD[{ctx_pending}]", ctx_pending, "context descriptor not "
                              f"followed by a data descriptor (TXD[{i}] replaces it)")
                    (ipcss, ipcso, ipcse, tucss, tucso, tucse, cctl, _st, hdr_len,
                     mss) = _CTX_UNPACK(ring, off)
                    self.context = TxContext(ipcss, ipcso, ipcse, tucss, tucso, tucse,
                                             cctl & _CMD_MASK, cctl & _PAYLEN_MASK,
                                             hdr_len, mss)
                    self.context_valid = True
                    ctx_pending = i
                    loose = True
                if ctl & _RS:
                    wb.append((i, status, ctl & _IDE))
            else:
                fault(f"TXD[{i}]", ctl, f"descriptor TYPE {kind >> 20} is neither data (1) "
                      "nor context (0); it is skipped"
                      + (" and the packet in progress dropped" if ndesc else ""))
                if ndesc:
                    self._drop(tse0)
                    chunks = []
                    size = ndesc = 0
                    bad = False
                loose = True
                if ctl & _RS:
                    wb.append((i, status, ctl & _IDE))
            i += 1
            if i == count:
                i = 0
        self.descriptors += done
        if done == n and ctx_pending >= 0 and not ndesc:
            fault(f"TXD[{ctx_pending}]", ctx_pending, "context descriptor is the last before "
                  "TDT, not followed by a data descriptor")
            ctx_pending = -1
        if self._gen != gen:
            return
        if not ndesc and (wb or not txq or txq[-1][3] != i):
            # Descriptors outside a packet (RS contexts, skipped ones): their write-back and
            # TDH follow the frames ahead of them.
            txq.append([None, 0, wb or None, i])
            wb = []
        # Keep a packet whose EOP is still to come; its buffers are copied out of guest memory
        # now, as the hardware's FIFO would hold them.
        self._chunks = [bytes(c) for c in chunks] if chunks else []
        self._size = size
        self._ndesc = ndesc
        self._popts = popts0
        self._tse = tse0
        self._bad = bad
        self._wb = wb
        self._ctx_pending = ctx_pending
        self._fetch = i

    # -- the wire ---------------------------------------------------------------------------
    def _commit(self, now: int) -> None:
        """Hand queued frames to the port while they start within the commit horizon."""
        r = self.nic.r
        limit = now + COMMIT_NS if r[_CTRL0] & _RPE else _FOREVER
        txq = self._txq
        wire = self._wire
        transmit_at = self.nic.port.transmit_at
        pause = self.pause_until
        earliest = pause if pause > now else now
        wire_free = self.wire_free
        tidv = r[_TIDV]
        acc = self._acc
        hooks = self.trace_tx_frame
        while txq:
            if (wire_free if wire_free > earliest else earliest) >= limit:
                break
            frame, ndesc, wb, tdh = txq.popleft()
            if frame is None:
                end = wire_free if wire_free > now else now
                size = 0
            else:
                end = transmit_at(frame, earliest)
                if end > wire_free:
                    wire_free = end
                self.frames += 1
                size = n = len(frame)
                acc[_S_FRAMES] += 1
                acc[_S_OCTETS] += n + 4  # the FCS the MAC appends
                if frame[0] & 1:
                    acc[_S_BCAST if frame[:6] == _BROADCAST else _S_MCAST] += 1
                tagged = n >= 14 and frame[12] == 0x81 and frame[13] == 0x00
                if tagged:
                    acc[_S_VLAN] += 1
                    n -= 4
                if n + 4 > _STD_MAX_FRAME:
                    acc[_S_JUMBO] += 1
                elif n < ETH_ZLEN and not tagged:
                    acc[_S_SHORT] += 1
                if hooks:
                    for hook in hooks:
                        hook(frame, ndesc)
            flag = 0
            if wb is not None:
                flag = _WB_DELAYED
                if not tidv:
                    flag = _WB_NOW
                else:
                    for item in wb:
                        if not item[2]:
                            flag = _WB_NOW
                            break
                if flag == _WB_NOW:
                    self._imm.append(end)
                elif self._tidv_timer is None:
                    self._tidv_timer = self.sched.call_at(end + self.nic.delay_ns(tidv),
                                                          self._tidv_expired)
            wire.append((end, size, wb, tdh, flag))
        self.wire_free = wire_free

    def _complete(self, now: int) -> int:
        """Retire every frame whose last bit has left by ``now``: DD, TDH, FIFO space."""
        wire = self._wire
        r = self.nic.r
        flags = _DONE
        base = -1
        while wire and wire[0][0] <= now:
            _end, size, wb, tdh, flag = wire.popleft()
            self.fifo_used -= size
            if wb is not None:
                if base < 0:
                    base = r[_TDBAL] | (r[_TDBAH] << 32)
                self._write_back(wb, base)
                flags |= flag
            if tdh >= 0:
                r[_TDH] = tdh
        imm = self._imm
        while imm and imm[0] <= now:
            imm.popleft()
        return flags

    def _after_completion(self, flags: int, in_event: bool = False) -> None:
        """Interrupt causes of a completion batch: TXDW (at once), TXQE (queue empty)."""
        r = self.nic.r
        causes = 0
        if flags & _WB_NOW:
            causes = R.INT_TXDW
            self._cancel_tidv()
            self._arm_tidv()
        if ((flags or in_event) and not self._wire and not self._txq and not self._ndesc
                and r[_TDH] == r[_TDT]):
            causes |= R.INT_TXQE
        if causes:
            self._raise(causes)

    def _arm_tidv(self) -> None:
        """Start TIDV at the end of the first delayed write-back still on the wire."""
        for end, _size, _wb, _tdh, flag in self._wire:
            if flag == _WB_DELAYED:
                r = self.nic.r
                self._tidv_timer = self.sched.call_at(end + self.nic.delay_ns(r[_TIDV]),
                                                      self._tidv_expired)
                return

    def _reschedule(self, now: int) -> None:
        """Make sure the engine's next event is due at the earliest time it has work."""
        r = self.nic.r
        if not r[_TCTL] & _TXEN:
            return
        due = _FOREVER
        if self._txq:
            hold = self.pause_until if self.pause_until > self.wire_free else self.wire_free
            due = hold - (COMMIT_NS >> 1) if r[_CTRL0] & _RPE else hold
        if self._fetch != r[_TDT] and self.fifo_used >= self.fifo_bytes:
            need = self.fifo_used - (self.fifo_bytes >> 1)  # refill at half full
            for end, size, _wb, _tdh, _flag in self._wire:
                need -= size
                if need <= 0:
                    if end < due:
                        due = end
                    break
        if self._imm and self._imm[0] < due:
            due = self._imm[0]
        if self._wire and not self._txq and self._wire[-1][0] < due:
            due = self._wire[-1][0]  # the last frame's end: TDH reaches the fetch point
        if now < self.pause_until < due:
            due = self.pause_until  # the pause ends: STATUS.TXOFF clears
        if due == _FOREVER:
            return
        if due < now:
            due = now
        ev = self._event
        if ev is not None:
            if ev.when <= due:
                return
            ev.cancel()
        self._event = self.sched.call_at(due, self._process)

    # -- packets ----------------------------------------------------------------------------
    def _packet(self, chunks: list[Any], size: int, ndesc: int, popts: int, tse: int,
                bad: bool, ctl: int, vlan: int, eop: int) -> None:
        """Finish one gathered packet (offloads, VLAN, padding) and put it on the wire."""
        self.packets += 1
        if bad or not size:
            self._drop(tse)
            return
        r = self.nic.r
        vle = ctl & _VLE and r[_CTRL0] & _VME
        tpde = r[_TCTL] & _TPDE
        try:
            if tse or popts & _CSUM:
                if not self.context_valid:
                    raise OffloadError("checksum or TSO offload requested before any context "
                                       "descriptor was loaded", popts)
                packet = b"".join(chunks)
                if tse:
                    for seg in tso_segments(packet, self.context, bool(popts & _IXSM),
                                            bool(popts & _TXSM)):
                        self._emit(self._finish(seg, vle, vlan, tpde), ndesc)
                    self.nic.stat_add(R.TSCTC)
                    return
                buf = bytearray(packet)
                ctx = self.context
                if popts & _IXSM:
                    insert_ip_checksum(buf, ctx.ipcss, ctx.ipcso, ctx.ipcse)
                if popts & _TXSM:
                    insert_l4_checksum(buf, ctx.tucss, ctx.tucso, ctx.tucse)
                frame: bytes | bytearray = buf
            else:
                frame = b"".join(chunks)
                if not vle and len(frame) >= ETH_ZLEN:  # nothing for _finish to do
                    self._emit(frame, ndesc)
                    return
        except OffloadError as err:
            self.nic.fault(f"TXD[{eop}]", err.value, f"{err}; the packet is dropped")
            self._drop(tse)
            return
        self._emit(self._finish(frame, vle, vlan, tpde), ndesc)

    @staticmethod
    def _finish(frame: bytes | bytearray, vle: int, vlan: int, tpde: int) -> bytes:
        if vle:
            frame = insert_vlan(frame, vlan)
        if len(frame) < ETH_ZLEN and tpde:
            return pad(frame)
        return frame if type(frame) is bytes else bytes(frame)

    def _emit(self, frame: bytes, ndesc: int) -> None:
        """Queue one finished frame in the TX FIFO (it goes on the wire in ``_commit``)."""
        self._txq.append([frame, ndesc, None, -1])
        used = self.fifo_used + len(frame)
        self.fifo_used = used
        if used > self.fifo_peak:
            self.fifo_peak = used

    def _drop(self, tse: int) -> None:
        self.dropped += 1
        if tse:
            self.nic.stat_add(R.TSCTFC)

    def _flush_stats(self) -> None:
        acc = self._acc
        frames = acc[_S_FRAMES]
        if not frames:
            return
        nic = self.nic
        add64 = nic.stat_add64
        add64(R.TPTL, frames)
        add64(R.GPTCL, frames)
        add64(R.GOTCL, acc[_S_OCTETS])
        add64(R.TOTL, acc[_S_OCTETS])
        unicast = frames - acc[_S_BCAST] - acc[_S_MCAST]
        if unicast:
            add64(R.UPTCL, unicast)
        if acc[_S_BCAST]:
            add64(R.BPTCL, acc[_S_BCAST])
        if acc[_S_MCAST]:
            add64(R.MPTCL, acc[_S_MCAST])
        if acc[_S_VLAN]:
            add64(R.VPTCL, acc[_S_VLAN])
        if acc[_S_JUMBO]:
            add64(R.JPTCL, acc[_S_JUMBO])
        if acc[_S_SHORT]:
            nic.stat_add(R.PLT64C, acc[_S_SHORT])
        self._acc = [0] * 7

    # -- write-back and interrupts ----------------------------------------------------------
    def _write_back(self, wb: list[tuple[int, int, int]], base: int) -> None:
        """Set DD in the status byte of each RS descriptor of a finished packet."""
        pci = self.nic.pci
        dma_write = pci.dma_write
        dma_store = None if pci.dma_observed() else pci.dma_store
        for index, status, _ide in wb:
            addr = base + (index << 4) + _STATUS_OFFSET
            if dma_store is None or not dma_store(addr, _DD_BYTES[status]):
                dma_write(addr, _DD_BYTES[status], "TDBAL")

    def _tidv_expired(self) -> None:
        """TIDV ran out: write back what has finished, raise TXDW, re-arm for what follows."""
        self._tidv_timer = None
        now = self.sched.now
        flags = self._complete(now) if self._wire else _DONE
        self._after_completion(flags | _WB_NOW)
        self._flush_stats()
        self._reschedule(now)

    def _raise(self, causes: int) -> None:
        inject = self.nic.inject
        if inject.armed and inject.lost_irq:
            for bit in (R.INT_TXDW, R.INT_TXQE):
                if causes & bit and inject.take("lost_irq"):
                    causes &= ~bit
                    self.lost_irqs += 1
        if causes:
            self.nic.set_ics(causes)
