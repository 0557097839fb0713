"""The 82597EX transmit engine: descriptor fetch, gather, offloads, write-back, TX interrupts.

Mirrors QEMU's ``hw/net/e1000.c`` (``start_xmit`` / ``process_tx_desc`` / ``xmit_seg`` /
``txdesc_writeback``) in logic, for the ixgb descriptor formats (docs/hardware.md §1.5), with the
offload arithmetic in :mod:`device.ixgb.offload`.  The core (``device/ixgb/nic.py``) calls
``doorbell()`` after a validated TDT write, ``control_changed()`` after TCTL,
``ring_changed()`` after TDLEN and ``reset()`` on power-on and CTRL0.RST.

Contract:

* A doorbell never does the work itself: with TCTL.TXEN set it schedules one processing
  event (``sched.call_soon``), so a debugger can stop between the TDT write and the fetch.
  One event at a time: a doorbell while one is pending does nothing more, a doorbell while
  one runs (from a tracepoint) asks for one more pass afterwards.
* An event reads every descriptor in [TDH, TDT) with one DMA read (two when the range wraps)
  and consumes all of them: each loop is bounded by the ring size, whatever the guest wrote
  (CVE-2021-20257).  Context descriptors (TYPE 0) load the offload context, which stays in
  force until the next one; data descriptors (TYPE 1) are gathered up to EOP, then the packet
  is finished (TSO, checksums, VLAN, padding) and put on the port.
* Write-back: DD is set in the status byte of every descriptor with RS, *after* the frame(s)
  of its packet went out; then TDH moves.  A packet whose EOP has not been fetched yet stays
  in the engine (the TX FIFO) across doorbells; its descriptors are consumed (TDH moves) but
  their DD waits for the packet.  TXDW is raised at once, or, when every write-back of the
  pass had IDE and TIDV != 0, by a one-shot timer of TIDV x 0.8192 us started by the first
  delayed write-back and never restarted while it runs; an immediate TXDW cancels it.
  TXQE is raised when TDH == TDT at the end of a pass.
* Hostile descriptors are device faults (one sentence, register ``TXD[i]``), then skipped
  safely: zero length (no data, still written back), buffer address 0 or DMA outside a
  mapping (the packet is dropped at its EOP), invalid TYPE (the packet in progress is
  dropped), a context not followed by data, a chain spanning the whole ring without EOP, a
  packet over 16 KiB (256 KiB with TSO), offsets the offloads cannot honour.  Dropped
  packets are counted in ``dropped`` (and TSCTFC for TSO).
* Statistics are accumulated during a pass and added to the saturating counters at its end.
* Fault injection (``nic.inject``, :class:`device.ixgb.inject.Injection`): ``tx_stall``
  makes a pass do nothing (TDH frozen, STATUS.TXOFF clear, as a hung TX unit); clear it and
  ring the doorbell to resume.  ``lost_irq = n`` swallows the next ``n`` TX interrupt causes
  (TXDW before TXQE).
* Tracepoint ``tx_frame`` (:mod:`device.trace`): ``trace_tx_frame`` subscribers are called
  ``(frame, ndesc)`` for every frame put on the wire, ``ndesc`` being the number of data
  descriptors of its packet.  Empty by default.

Deviations from hardware, deliberate: a packet's offload flags (popts, TSE) come from its
first data descriptor (as QEMU's e1000 does) and VLE/vlan from its EOP descriptor; a frame
put on a port without link is counted as sent (the port counts the drop) where hardware
would hold the queue; a context descriptor inside a packet is ignored rather than applied.
"""

from __future__ import annotations

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
from device.trace import PendingEvent

# Register indexes into nic.r (offset >> 2) for the hot path.
_CTRL0 = R.CTRL0 >> 2
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
_BROADCAST = b"\xff" * 6
_STD_MAX_FRAME = 1518  # with FCS, without a VLAN tag; above it a frame counts in JPTC

# Indexes of the per-pass statistics accumulator.
_S_FRAMES, _S_OCTETS, _S_BCAST, _S_MCAST, _S_VLAN, _S_JUMBO, _S_SHORT = range(7)

FrameHook = Callable[[bytes, int], None]


class TxEngine:
    """One TX queue of the 82597EX, driven by TDT doorbells (see the module contract)."""

    def __init__(self, nic: Any) -> None:
        self.nic = nic
        self.sched = nic.sched
        self.trace_tx_frame: list[FrameHook] = []  # tracepoint "tx_frame"
        # Counters for the debugger (the guest-visible ones are the statistics registers).
        self.passes = 0
        self.descriptors = 0
        self.packets = 0
        self.frames = 0
        self.dropped = 0
        self.stalled = 0
        self.lost_irqs = 0
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
        self._clear_packet()

    @property
    def trace_name(self) -> str:
        return f"{self.nic.trace_name} tx"

    # -- the core's interface -------------------------------------------------------------
    def reset(self) -> None:
        """Power-on / CTRL0.RST: forget everything in flight, cancel pending events."""
        self._cancel_event()
        if self._tidv_timer is not None:
            self._tidv_timer.cancel()
            self._tidv_timer = None
        self._gen += 1
        self._again = False
        self._txen = False
        self._acc = [0] * 7
        self.context = EMPTY_CONTEXT
        self.context_valid = False
        self._ctx_pending = -1
        self._clear_packet()

    def control_changed(self) -> None:
        """TCTL written: TXEN falling drops the packet in progress; rising starts the queue."""
        r = self.nic.r
        on = bool(r[_TCTL] & _TXEN)
        if on and not self._txen:
            self._txen = True
            if r[_TDH] != r[_TDT]:
                self.doorbell()
        elif not on and self._txen:
            self._txen = False
            self._cancel_event()
            self._gen += 1
            self._clear_packet()

    def ring_changed(self) -> None:
        """TDLEN written: descriptors held for a packet in progress no longer mean anything."""
        self._gen += 1
        self._clear_packet()

    def doorbell(self) -> None:
        """TDT written (already validated by the core): schedule one processing pass."""
        if not self.nic.r[_TCTL] & _TXEN:
            return
        if self._running:
            self._again = True
        elif self._event is None:
            self._event = self.sched.call_soon(self._process)

    def enabled(self) -> bool:
        return bool(self.nic.r[_TCTL] & _TXEN)

    def ring_count(self) -> int:
        return self.nic.r[_TDLEN] >> 4

    # -- state ------------------------------------------------------------------------------
    def _cancel_event(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

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

    # -- one pass ---------------------------------------------------------------------------
    def _process(self) -> None:
        self._event = None
        nic = self.nic
        r = nic.r
        if not r[_TCTL] & _TXEN:
            return
        inject = nic.inject
        if inject.armed and inject.tx_stall:
            self.stalled += 1
            return
        count = r[_TDLEN] >> 4
        if not count:
            return
        head = r[_TDH]
        tail = r[_TDT]
        if head >= count or tail >= count:
            nic.fault("TDH", head, f"TDH={head} or TDT={tail} lies beyond the ring of {count} "
                      "descriptors (TDLEN changed after they were set); TX stopped")
            return
        if head == tail:
            self._raise(R.INT_TXQE)
            return
        base = r[_TDBAL] | (r[_TDBAH] << 32)
        dma_read = nic.pci.dma_read  # the ring is fetched once a pass: no fast path needed
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
        self._running = True
        try:
            self._walk(ring, head, n, count, base)
        finally:
            self._running = False
        if self._again:
            self._again = False
            self.doorbell()

    def _walk(self, ring: bytes, head: int, n: int, count: int, base: int) -> None:
        """Consume ``n`` fetched descriptors starting at ring index ``head``."""
        nic = self.nic
        r = nic.r
        fault = nic.fault
        pci = nic.pci
        dma_read = pci.dma_read
        # Unobserved, a buffer is fetched with dma_view (no per-descriptor "TXD[i]" text);
        # a refused fetch is repeated through dma_read, which records the fault.
        dma_view = None if pci.dma_observed() else pci.dma_view
        gen = self._gen
        chunks = self._chunks
        size = self._size
        ndesc = self._ndesc
        popts0 = self._popts
        tse0 = self._tse
        bad = self._bad
        wb = self._wb
        ctx_pending = self._ctx_pending
        wb_flags = 0
        self.descriptors += n
        i = head
        for off in range(0, n << 4, 16):
            addr, ctl, status, popts, vlan = _DESC_UNPACK(ring, off)
            kind = ctl & _TYPE_MASK
            if kind == _TYPE_DATA:
                ctx_pending = -1
                if not ndesc:
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
                    self._packet(chunks, size, ndesc, popts0, tse0, bad, ctl, vlan, i)
                    if wb:
                        wb_flags |= self._write_back(wb, base)
                    i += 1
                    if i == count:
                        i = 0
                    if self._gen != gen:
                        return  # a tracepoint reset or disabled the unit: stop here
                    r[_TDH] = i
                    chunks = []
                    size = ndesc = 0
                    bad = False
                    continue
                if ndesc >= count:
                    fault(f"TXD[{i}]", ndesc, f"a chain of {ndesc} data descriptors without "
                          f"EOP spans the whole ring of {count}; the packet is dropped")
                    self._drop(tse0)
                    if wb:
                        wb_flags |= self._write_back(wb, base)
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
                if ctl & _RS:
                    wb.append((i, status, ctl & _IDE))
            i += 1
            if i == count:
                i = 0
        if ctx_pending >= 0 and not ndesc:
            fault(f"TXD[{ctx_pending}]", ctx_pending, "context descriptor is the last before "
                  "TDT, not followed by a data descriptor")
            ctx_pending = -1
        if wb and not ndesc:
            wb_flags |= self._write_back(wb, base)
        if self._gen != gen:
            return
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
        r[_TDH] = i
        self._flush_stats()
        causes = R.INT_TXQE if i == r[_TDT] else 0
        if wb_flags & _WB_NOW or (wb_flags and not r[_TIDV]):
            causes |= R.INT_TXDW
            if self._tidv_timer is not None:
                self._tidv_timer.cancel()
                self._tidv_timer = None
        elif wb_flags and self._tidv_timer is None:
            self._tidv_timer = self.sched.call_later(nic.delay_ns(r[_TIDV]),
                                                     self._tidv_expired)
        if causes:
            self._raise(causes)

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
        """Put one finished frame on the port and account for it."""
        self.nic.port.transmit(frame)
        self.frames += 1
        acc = self._acc
        n = len(frame)
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
        if self.trace_tx_frame:
            for hook in self.trace_tx_frame:
                hook(frame, ndesc)

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
    def _write_back(self, wb: list[tuple[int, int, int]], base: int) -> int:
        """Set DD in the status byte of each queued RS descriptor; return _WB_* flags."""
        pci = self.nic.pci
        dma_write = pci.dma_write
        dma_store = None if pci.dma_observed() else pci.dma_store
        flags = 0
        for index, status, ide in wb:
            addr = base + (index << 4) + _STATUS_OFFSET
            if dma_store is None or not dma_store(addr, _DD_BYTES[status]):
                dma_write(addr, _DD_BYTES[status], "TDBAL")
            flags |= _WB_DELAYED if ide else _WB_NOW
        wb.clear()
        return flags

    def _tidv_expired(self) -> None:
        self._tidv_timer = None
        self._raise(R.INT_TXDW)

    def _raise(self, causes: int) -> None:
        inject = self.nic.inject
        if inject.armed and inject.lost_irq:
            for bit in (R.INT_TXDW, R.INT_TXQE):
                if causes & bit and inject.take("lost_irq"):
                    causes &= ~bit
                    self.lost_irqs += 1
        if causes:
            self.nic.set_ics(causes)
