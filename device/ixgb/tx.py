"""The 82597EX transmit engine: descriptor fetch, the ring walk, packet assembly with offloads.

Mirrors QEMU's ``hw/net/e1000.c`` (``start_xmit`` / ``process_tx_desc`` / ``xmit_seg``) in
logic, for the ixgb descriptor formats (docs/hardware.md §1.5), with the offload arithmetic in
:mod:`device.ixgb.offload` and the MAC side (the TX FIFO, its drain at the link rate,
completion, write-back, TXDW, PAUSE) in :mod:`device.ixgb.txfifo`, whose :class:`TxFifo` is
this engine's base.  The core (``device/ixgb/nic.py``) calls ``doorbell()`` after a validated
TDT write, ``control_changed()`` after TCTL, ``ring_changed()`` after TDLEN,
``head_written()`` after TDH, ``catch_up()`` before a TDH read, ``pause()`` for a received
PAUSE frame and ``reset()`` on power-on and CTRL0.RST.

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
  whatever the guest wrote (CVE-2021-20257).  The drain, completion, TXDW and PAUSE
  timing that follow are :mod:`device.ixgb.txfifo`'s contract.
* Hostile descriptors are device faults (one sentence, register ``TXD[i]``), then skipped
  safely: zero length (no data, still written back), buffer address 0 or DMA outside a
  mapping (the packet is dropped at its EOP), invalid TYPE (the packet in progress is
  dropped), a context not followed by data, a chain spanning the whole ring without EOP, a
  packet over 16 KiB (256 KiB with TSO), offsets the offloads cannot honour.  Dropped
  packets are counted in ``dropped`` (and TSCTFC for TSO); their write-back waits for the
  frames ahead of them.
* Fault injection (``nic.inject``, :class:`device.ixgb.inject.Injection`): ``tx_stall``
  makes an event do nothing (TDH frozen, STATUS.TXOFF clear, as a hung TX unit); clear it and
  ring the doorbell to resume.  (``lost_irq`` is the FIFO side's.)

Deviations from hardware, deliberate: a packet's offload flags (popts, TSE) come from its
first data descriptor (as QEMU's e1000 does) and VLE/vlan from its EOP descriptor; a context
descriptor inside a packet is ignored rather than applied.  The MAC side's deviations are in
:mod:`device.ixgb.txfifo`.
"""

from __future__ import annotations

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
from device.ixgb.txfifo import TxFifo
from device.spec import desc as D
from device.spec import regs as R
from device.spec.mac import TX_FIFO_BYTES
from device.trace import PendingEvent

# Register indexes into nic.r (offset >> 2) for the hot path.
_CTRL0 = R.CTRL0 >> 2
_STATUS = R.STATUS >> 2
_TCTL = R.TCTL >> 2
_TDBAL = R.TDBAL >> 2
_TDBAH = R.TDBAH >> 2
_TDLEN = R.TDLEN >> 2
_TDH = R.TDH >> 2
_TDT = R.TDT >> 2

_TXEN = R.TCTL_TXEN
_TPDE = R.TCTL_TPDE
_VME = R.CTRL0_VME
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
_DESC_UNPACK = D.TX_DESC.unpack_from
_CTX_UNPACK = D.TX_CTX.unpack_from


class TxEngine(TxFifo):
    """One TX queue of the 82597EX, driven by TDT doorbells (see the module contract)."""

    def __init__(self, nic: Any, fifo_bytes: int = TX_FIFO_BYTES) -> None:
        super().__init__(nic, fifo_bytes)
        # Counters for the debugger (the guest-visible ones are the statistics registers).
        self.passes = 0
        self.descriptors = 0
        self.packets = 0
        self.dropped = 0
        self.stalled = 0
        self._event: Any = None
        self._running = False
        self._again = False
        self._gen = 0
        self._txen = False
        self.context: TxContext = EMPTY_CONTEXT
        self.context_valid = False
        self._ctx_pending = -1
        self._fetch = 0  # the next descriptor to fetch; TDH trails it by what is in the FIFO
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
        self._held = 0
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
        """Descriptors fetched for a packet whose EOP has not been fetched yet: its data
        descriptors and any context descriptor it ignored (TDH passes them all together)."""
        return self._held

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
        # After each step that runs tracepoint subscribers (the DMA of a write-back, a frame
        # handed to the port), a changed generation means one of them reset the device or
        # disabled the unit: the pass is abandoned there (the reset did the cleaning).
        flags = self._complete(now) if self._wire else 0
        if self._gen != gen:
            return
        if self._fetch != r[_TDT] and self.fifo_used < self.fifo_bytes:
            self._running = True
            try:
                self._fetch_descriptors()
            finally:
                self._running = False
            if self._gen != gen:
                return
        if self._txq:
            self._commit(now)
            if self._gen != gen:
                return
            if self._wire and self._wire[0][0] <= now:  # markers and frames without link
                flags |= self._complete(now)
                if self._gen != gen:
                    return
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
        gen = self._gen
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
        if self._gen != gen:
            return  # a dma subscriber reset the device
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
        held = self._held  # descriptors of that packet: its data ones and contexts it ignored
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
            if self._gen != gen:
                return  # a subscriber (dma, fault) reset the device: the pass is over
            done += 1
            addr, ctl, status, popts, vlan = _DESC_UNPACK(ring, off)
            kind = ctl & _TYPE_MASK
            if kind == _TYPE_DATA:
                ctx_pending = -1
                if not ndesc:
                    if loose:  # TDH passes them once the frames ahead have left, not later
                        txq.append([None, 0, wb or None, i, 0])
                        wb = []
                        loose = False
                    popts0 = popts
                    tse0 = ctl & _TSE
                ndesc += 1
                held += 1
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
                            elif chunks:
                                chunks.append(view)
                            else:
                                chunks = [view]  # one buffer, the common case: no append
                if ctl & _RS:
                    if wb:
                        wb.append((i, status, ctl & _IDE))
                    else:
                        wb = [(i, status, ctl & _IDE)]
                if ctl & _EOP:
                    if self._gen != gen:
                        return
                    mark = txq[-1] if txq else None
                    self._packet(chunks, size, ndesc, popts0, tse0, bad, ctl, vlan, i)
                    i += 1
                    if i == count:
                        i = 0
                    if self._gen != gen:
                        return  # a tracepoint reset or disabled the unit: stop here
                    last = txq[-1] if txq else None
                    if last is not mark:  # the packet's last frame carries its write-back
                        last[2] = wb or None  # type: ignore[index]
                        last[3] = i  # type: ignore[index]
                    else:
                        txq.append([None, 0, wb or None, i, 0])
                    wb = []
                    chunks = []
                    size = ndesc = held = 0
                    bad = False
                    continue
                if held >= count:
                    fault(f"TXD[{i}]", held, f"a chain of {held} descriptors without "
                          f"EOP spans the whole ring of {count}; the packet is dropped")
                    if self._gen != gen:
                        return
                    self._drop(tse0)
                    txq.append([None, 0, wb or None, (i + 1) % count, 0])
                    wb = []
                    chunks = []
                    size = ndesc = held = 0
                    bad = False
            elif kind == _TYPE_CONTEXT:
                if ndesc:
                    fault(f"TXD[{i}]", ctl, f"context descriptor inside a packet ({ndesc} "
                          "data descriptors without EOP before it); it is ignored")
                    held += 1  # consumed, and TDH passes it with the packet
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
                if self._gen != gen:
                    return
                if ndesc:
                    self._drop(tse0)
                    chunks = []
                    size = ndesc = held = 0
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
            txq.append([None, 0, wb or None, i, 0])
            wb = []
        # Keep a packet whose EOP is still to come; its buffers are copied out of guest memory
        # now, as the hardware's FIFO would hold them.
        self._chunks = [bytes(c) for c in chunks] if chunks else []
        self._size = size
        self._ndesc = ndesc
        self._held = held
        self._popts = popts0
        self._tse = tse0
        self._bad = bad
        self._wb = wb
        self._ctx_pending = ctx_pending
        self._fetch = i

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
                        seg = self._finish(seg, vle, vlan, tpde)
                        self._emit(seg, ndesc, len(seg))
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
                if not vle and size >= ETH_ZLEN:  # nothing for _finish to do
                    # _emit, inline (once per packet); size: the sum of the buffers joined.
                    self._txq.append([frame, ndesc, None, -1, size])
                    used = self.fifo_used + size
                    self.fifo_used = used
                    if used > self.fifo_peak:
                        self.fifo_peak = used
                    return
        except OffloadError as err:
            self.nic.fault(f"TXD[{eop}]", err.value, f"{err}; the packet is dropped")
            self._drop(tse)
            return
        frame = self._finish(frame, vle, vlan, tpde)
        self._emit(frame, ndesc, len(frame))

    @staticmethod
    def _finish(frame: bytes | bytearray, vle: int, vlan: int, tpde: int) -> bytes:
        if vle:
            frame = insert_vlan(frame, vlan)
        if len(frame) < ETH_ZLEN and tpde:
            return pad(frame)
        return frame if type(frame) is bytes else bytes(frame)

    def _drop(self, tse: int) -> None:
        self.dropped += 1
        if tse:
            self.nic.stat_add(R.TSCTFC)
