"""The 82597EX transmit MAC side: the TX FIFO, line-rate drain, completion, TXDW, PAUSE.

The serializer half of the transmit unit, as QEMU's ``hw/net/e1000.c`` separates
``start_xmit``'s descriptor loop from ``e1000_send_packet`` and ``txdesc_writeback``, with the
timing of a real MAC: a bounded on-chip FIFO drained at the link rate (docs/hardware.md
§1.10).  :class:`TxFifo` is the base of :class:`device.ixgb.tx.TxEngine`, which fills the
FIFO (``_emit``) from the descriptors it fetches and whose ``_process`` event this half
schedules (``_reschedule``).

Contract:

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
  the time to the next of those events; a TDH read catches up first (``catch_up``), so TDH
  is exact.
* **TXDW**: at once for a write-back without IDE (or with TIDV = 0), at that frame's end;
  otherwise by a one-shot timer of TIDV x 0.8192 µs started at the end of the first delayed
  write-back and never restarted while it runs; an immediate TXDW cancels it.  When it
  fires, every frame finished by then has been written back.  TXQE is raised when TDH
  reaches TDT with nothing in the FIFO (and by a doorbell that finds TDH == TDT).
* **PAUSE** (``pause(quanta)``, from the RX side with CTRL0.RPE): no frame starts before
  ``now + quanta x 512`` bit times; STATUS.TXOFF is set meanwhile; pause time 0 (XON) ends
  a pause at once.  The PAUSE frames this NIC sends itself (``send_control``) bypass the
  FIFO and the pause, as MAC control frames do.
* Statistics (GPTC, GOTC, TPT, ...) count a frame when it goes on the wire, accumulated
  during an event and added to the saturating counters at its end.
* Fault injection (``nic.inject``, :class:`device.ixgb.inject.Injection`): ``lost_irq = n``
  swallows the next ``n`` TX interrupt causes (TXDW before TXQE).
* Tracepoint ``tx_frame`` (:mod:`device.trace`): ``trace_tx_frame`` subscribers are called
  ``(frame, ndesc)`` for every frame handed to the port, ``ndesc`` being the number of data
  descriptors of its packet.  Empty by default.

Deviations from hardware, deliberate: a frame put on a port without link is counted as sent
(the port counts the drop) where hardware would hold the queue; the write-back of DD is
batched at the engine's events (above) rather than posted per frame; frames within the
commit horizon are not stopped by a PAUSE received after they were handed to the port (at
most ``COMMIT_NS`` of wire time, a few frames, where hardware finishes only the frame in
progress).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from device.ixgb.offload import ETH_ZLEN
from device.spec import desc as D
from device.spec import regs as R
from device.spec.mac import TX_FIFO_BYTES
from device.spec.timing import PAUSE_QUANTUM_BITS
from device.units import NS_PER_S

# Register indexes into nic.r (offset >> 2) for the hot path.
_CTRL0 = R.CTRL0 >> 2
_STATUS = R.STATUS >> 2
_TCTL = R.TCTL >> 2
_TDBAL = R.TDBAL >> 2
_TDBAH = R.TDBAH >> 2
_TDH = R.TDH >> 2
_TDT = R.TDT >> 2
_TIDV = R.TIDV >> 2

_TXEN = R.TCTL_TXEN
_RPE = R.CTRL0_RPE
_TXOFF = R.STATUS_TXOFF
_STATUS_OFFSET = D.TX_STATUS_OFFSET

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

# A frame (or a marker) waiting in the FIFO: [frame or None, ndesc, write-backs, TDH after,
# len(frame) or 0] (the length travels with the frame: it is taken once, in the TX engine).
# A marker carries the write-backs and TDH move of descriptors that produced no frame (a
# dropped packet, an RS context descriptor); it takes no wire time.  ``wb`` is a list of
# (ring index, status, IDE) or None; ``tdh`` is -1 for all but a packet's last frame.
Queued = list[Any]
# A frame on the wire: (end ns, FIFO bytes, write-backs, TDH after, _WB_* flag).
OnWire = tuple[int, int, Any, int, int]


class TxFifo:
    """The TX FIFO and the MAC that drains it (see the module contract); the engine's base."""

    # Kept by the engine (device/ixgb/tx.py): its event, its fetch point, the data
    # descriptors of a packet whose EOP is still to come.
    _event: Any
    _fetch: int
    _ndesc: int
    _gen: int  # bumped by a reset, TXEN cleared or TDLEN written: a pass in progress stops

    def __init__(self, nic: Any, fifo_bytes: int = TX_FIFO_BYTES) -> None:
        self.nic = nic
        self.sched = nic.sched
        self.fifo_bytes = fifo_bytes
        self.trace_tx_frame: list[FrameHook] = []  # tracepoint "tx_frame"
        # Counters for the debugger (the guest-visible ones are the statistics registers).
        self.frames = 0
        self.lost_irqs = 0
        self.control_frames = 0
        self.fifo_peak = 0
        self._tidv_timer: Any = None
        self._acc = [0] * 7
        self._txq: deque[Queued] = deque()  # fetched, not yet handed to the port
        self._wire: deque[OnWire] = deque()  # handed to the port, not yet finished
        self._imm: deque[int] = deque()  # ends of on-wire frames whose write-back is _WB_NOW
        self.fifo_used = 0  # bytes of frames fetched and not yet finished
        self.wire_free = 0  # end of the last frame handed to the port
        self.pause_until = 0  # no frame starts before this (802.3x PAUSE received)

    def _process(self) -> None:
        """One engine event: fetch and commit (``TxEngine._process``); scheduled from here."""
        raise NotImplementedError

    # -- the core's interface: TDH reads, flow control --------------------------------------
    def catch_up(self) -> None:
        """Complete what has finished by now (before a TDH read, so TDH is exact)."""
        if self._wire and self._wire[0][0] <= self.sched.now:
            gen = self._gen
            flags = self._complete(self.sched.now)
            if self._gen == gen:
                self._after_completion(flags)
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
        gen = self._gen
        while txq:
            if (wire_free if wire_free > earliest else earliest) >= limit:
                break
            frame, ndesc, wb, tdh, size = txq.popleft()
            if frame is None:
                end = wire_free if wire_free > now else now
            else:
                end = transmit_at(frame, earliest, size)
                if end > wire_free:
                    wire_free = end
                self.frames += 1
                n = size
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
                if self._gen != gen:  # a subscriber (tx_frame, the port's frame) reset the
                    self.wire_free = wire_free  # device: that frame is on the wire, no more
                    return
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
        gen = self._gen
        pci = self.nic.pci
        # Unobserved, DD is set with dma_store (no per-descriptor text); refused, the write
        # is repeated through dma_write, which records the fault.
        dma_store = None if pci.trace_dma else pci.dma_store  # pci.dma_observed(), inline
        while wire and wire[0][0] <= now:
            _end, size, wb, tdh, flag = wire.popleft()
            self.fifo_used -= size
            if wb is not None:
                if base < 0:
                    base = r[_TDBAL] | (r[_TDBAH] << 32)
                # Write-back: set DD in the status byte of each RS descriptor of the packet
                # (inline: once per packet).
                for index, status, _ide in wb:
                    addr = base + (index << 4) + _STATUS_OFFSET
                    if dma_store is None or not dma_store(addr, _DD_BYTES[status], 1):
                        pci.dma_write(addr, _DD_BYTES[status], "TDBAL")
                if self._gen != gen:
                    return flags  # a dma subscriber reset the device: nothing more is done
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

    # -- the FIFO and the statistics registers ----------------------------------------------
    def _emit(self, frame: bytes, ndesc: int, n: int) -> None:
        """Queue one finished frame of ``n`` bytes in the TX FIFO (it goes on the wire in
        ``_commit``)."""
        self._txq.append([frame, ndesc, None, -1, n])
        used = self.fifo_used + n
        self.fifo_used = used
        if used > self.fifo_peak:
            self.fifo_peak = used

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
    def _tidv_expired(self) -> None:
        """TIDV ran out: write back what has finished, raise TXDW, re-arm for what follows."""
        self._tidv_timer = None
        now = self.sched.now
        gen = self._gen
        flags = self._complete(now) if self._wire else _DONE
        if self._gen != gen:
            return
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
