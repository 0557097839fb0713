"""A full-duplex cable joining two ports back to back, with rate, latency and impairments.

Mirrors QEMU's ``-netdev hubport``/socket pairing plus the rate shaping of ``filter-buffer``
and the ``sch_netem`` pipeline of Linux: each direction (a :class:`Lane`) serializes frames
at the line rate, adds the propagation latency, runs the impairment stages of
:mod:`device.impair`, then schedules delivery to the far port with ``sched.call_at`` — never
a direct call (docs/hardware.md §3.11 lesson 3).

Contract:

* Wire time of a frame = ``(len(frame) + 24) * 8 / rate`` seconds: the frame as given (no
  FCS) plus 4 bytes FCS, 8 bytes preamble/SFD and 12 bytes inter-frame gap.  Time is integer
  ns; the sub-nanosecond remainder is carried while the line stays busy, so a run of
  back-to-back frames ends exactly at ``floor(n * wire_time)`` and never drifts.  A frame that
  finds the line idle starts at ``now`` and the carry is dropped.
* A frame is delivered at ``end of serialization + latency``, then whatever the stages make
  of it.  Frames of one direction are never reordered unless a stage does it (:class:`Reorder`
  or a :class:`Delay` built with ``reorder=True``); equal times keep sending order because the
  scheduler breaks ties by sequence.
* Per frame the cost is the arithmetic above plus a FIFO append; the stages run eagerly when
  the frame is sent.  Each frame keeps the event key it always had, (arrival time, the
  sequence number ``call_at`` would have given it, taken with ``sched.reserve_seq``), but
  only the head of a lane's FIFO is a scheduled event (``_drain``).  After delivering a
  frame the drain asks ``sched.run_inline`` whether the next frame's key is what the run
  loop would pick next anyway (nothing else due before it, no observer, no stop, within the
  run's deadline and condition); if so it delivers it inline, else it schedules itself at
  that key.  Times, order, ties and ``events_run`` are exactly those of one event per frame;
  a burst just costs one heap push.  A frame that a stage sends back in time (reorder,
  jitter) behind later ones gets its own event (``_arrive``), as before.
* ``limit`` (optional, per direction) bounds the frames waiting for the serializer, the one
  being serialized included, as ``sch_netem``'s ``limit`` bounds its queue: a frame that finds
  ``limit`` frames not yet on the wire is dropped and counted in ``dropped_queue``.  Without
  it the serializer queue is unbounded, which is right between two NICs (their TX rings are
  the bound) but not for a medium that never pushes back, such as a tap (``ixsim wire``).
  Unlike netem's, the limit does not count frames already serialized and only propagating.
* A NIC's MAC hands its frames over with ``send_at(frame, start_ns)`` (the medium's
  ``sender_at``, used by ``Port.transmit_at``): the frame starts at ``max(start_ns, line
  free)`` and the call returns the end of its serialization, which the NIC takes as the
  moment the frame left (its DD write-back, its FIFO space).  The lane's serializer *is* the
  MAC's: a NIC that paces itself by these end times keeps at most the frame being
  serialized on the line, never a queue, whatever the cable's rate (a cable slower than
  10 Gb/s is a link negotiated down).  ``limit`` does not apply to ``send_at``: a paced
  sender has nothing waiting.  The NIC may hand over frames a little ahead of their start
  (``device/ixgb/txfifo.py``, its commit horizon); they are on the wire from that moment.
* ``unplug()`` drops the link on both ports (each sees ``on_link_change(False)``) and loses
  every frame still on the wire, counted in ``dropped_link``; ``plug()`` brings it back.
* ``set_impairment(kind, value)`` is the debugger's knob: it updates the stage of that kind
  in place, adds one if there is none, or removes it with ``value=None``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from device.impair import KINDS, CeMark, Corrupt, Delay, Duplicate, Loss, PcapTap, Reorder, Stage
from device.port import WIRE_OVERHEAD, Port
from device.units import NS_PER_S

Emit = Callable[[bytes, int], None]

STAT_NAMES = (
    "frames",
    "bytes",
    "delivered",
    "delivered_bytes",
    "dropped_loss",
    "dropped_link",
    "dropped_queue",
    "duplicated",
    "reordered",
    "corrupted",
    "ce_marked",
    "in_flight",
)


def wire_time_ns(length: int, rate_bps: int) -> float:
    """Exact wire time of a frame of ``length`` bytes (without FCS), in (fractional) ns."""
    return (length + WIRE_OVERHEAD) * 8 * NS_PER_S / rate_bps


def _chain(stage: Callable[[bytes, int, Emit], None], nxt: Emit) -> Emit:
    def step(frame: bytes, when_ns: int) -> None:
        stage(frame, when_ns, nxt)

    return step


class Lane:
    """One direction of a cable: serializer, latency, stages, delivery, statistics."""

    __slots__ = (
        "_sched",
        "_call_at",
        "_dst",
        "label",
        "rate_bps",
        "latency_ns",
        "busy_until",
        "_carry",
        "_gen",
        "stages",
        "_head",
        "_bare",
        "_retired",
        "_fifo",
        "_draining",
        "_reserve_seq",
        "_call_at_seq",
        "_run_inline",
        "frames",
        "bytes",
        "delivered",
        "delivered_bytes",
        "dropped_link",
        "dropped_queue",
        "limit",
        "_backlog",
        "in_flight",
    )

    def __init__(
        self,
        sched: Any,
        dst: Port,
        label: str,
        rate_bps: int,
        latency_ns: int,
        stages: Sequence[Stage],
        limit: int | None = None,
    ) -> None:
        self._sched = sched
        self._call_at = sched.call_at
        self._dst = dst
        self.label = label
        self.rate_bps = rate_bps
        self.latency_ns = latency_ns
        self.busy_until = 0
        self._carry = 0
        self._gen = 0
        self.stages: list[Stage] = list(stages)
        self._head: Emit = self._emit
        self._bare = True  # no stages: _head is _emit, which send_at runs inline
        self._retired: dict[str, int] = {}
        # Frames on the wire in (arrival time, seq) order: (when_ns, seq, frame, gen).
        self._fifo: deque[tuple[int, int, bytes, int]] = deque()
        self._draining = False
        self._reserve_seq = sched.reserve_seq
        self._call_at_seq = sched.call_at_seq
        self._run_inline = sched.run_inline
        self.frames = 0
        self.bytes = 0
        self.delivered = 0
        self.delivered_bytes = 0
        self.dropped_link = 0
        self.dropped_queue = 0
        self.limit = limit
        self._backlog: deque[int] = deque()  # serialization end times, only with a limit
        self.in_flight = 0
        self.rebuild()

    @property
    def trace_name(self) -> str:
        return f"cable {self.label}"

    def __repr__(self) -> str:
        return f"<Lane {self.label} in_flight={self.in_flight}>"

    def rebuild(self) -> None:
        """Recompose the stage chain after ``stages`` changed (cold path)."""
        head: Emit = self._emit
        for stage in reversed(self.stages):
            if getattr(stage, "rng", False) is None:
                stage.rng = self._sched.rng
            head = _chain(stage, head)
        self._head = head
        self._bare = not self.stages

    # -- hot path -----------------------------------------------------------------------
    def send(self, frame: bytes) -> None:
        """Serialize ``frame`` behind whatever is on the wire, then pass it down the chain."""
        now = self._sched.now
        start = self.busy_until
        if now > start:
            start = now
            carry = 0
        else:
            carry = self._carry
        if self.limit is not None and self._full(now):
            self.dropped_queue += 1
            return
        size = len(frame)
        wire, carry = divmod(carry + (size + WIRE_OVERHEAD) * 8 * NS_PER_S, self.rate_bps)
        done = start + wire
        self.busy_until = done
        self._carry = carry
        if self.limit is not None:
            self._backlog.append(done)
        self.frames += 1
        self.bytes += size
        self._head(frame, done + self.latency_ns)

    def send_at(self, frame: bytes, start_ns: int, size: int = -1) -> int:
        """Serialize ``frame`` from ``max(start_ns, line free)``; return its end (in ns).
        ``size`` is ``len(frame)`` when the sender has it (``Port.transmit_at``)."""
        start = self.busy_until
        if start_ns > start:
            start = start_ns
            carry = 0
        else:
            carry = self._carry
        if size < 0:
            size = len(frame)
        # divmod without the call: floor division and remainder of non-negative ints.
        bits = carry + (size + WIRE_OVERHEAD) * 8 * NS_PER_S
        rate = self.rate_bps
        wire = bits // rate
        carry = bits - wire * rate
        done = start + wire
        self.busy_until = done
        self._carry = carry
        if self.limit is not None:
            self._backlog.append(done)
        self.frames += 1
        self.bytes += size
        if not self._bare:
            self._head(frame, done + self.latency_ns)
            return done
        # No stages: _emit, inline (once per frame), with reserve_seq() inline too.
        when_ns = done + self.latency_ns
        self.in_flight += 1
        sched = self._sched
        seq = sched.seq = sched.seq + 1
        fifo = self._fifo
        if not fifo:
            fifo.append((when_ns, seq, frame, self._gen))
            if not self._draining:
                self._call_at_seq(when_ns, seq, self._drain)
        elif when_ns >= fifo[-1][0]:
            fifo.append((when_ns, seq, frame, self._gen))
        else:  # a latency lowered while frames are in flight: an event of its own
            self._call_at_seq(when_ns, seq, self._arrive, frame, self._gen)
        return done

    def _full(self, now: int) -> bool:
        """Are ``limit`` frames still waiting for, or on, the serializer?"""
        backlog = self._backlog
        while backlog and backlog[0] <= now:
            backlog.popleft()
        return len(backlog) >= self.limit  # type: ignore[operator]  # only with a limit

    def _emit(self, frame: bytes, when_ns: int) -> None:
        """The chain's sink: queue the frame under the event key it would have had."""
        self.in_flight += 1
        seq = self._reserve_seq()
        fifo = self._fifo
        if not fifo:
            fifo.append((when_ns, seq, frame, self._gen))
            if not self._draining:
                self._call_at_seq(when_ns, seq, self._drain)
        elif when_ns >= fifo[-1][0]:
            fifo.append((when_ns, seq, frame, self._gen))
        else:  # a stage moved it before frames already queued: an event of its own
            self._call_at_seq(when_ns, seq, self._arrive, frame, self._gen)

    def _drain(self) -> None:
        """Deliver the FIFO's head, then every next frame the run loop would run next anyway."""
        fifo = self._fifo
        dst = self._dst
        run_inline = self._run_inline
        self._draining = True
        try:
            while True:
                _when, _seq, frame, gen = fifo.popleft()
                if gen == self._gen:  # else sent before an unplug, counted in dropped_link
                    self.in_flight -= 1
                    self.delivered += 1
                    n = len(frame)
                    self.delivered_bytes += n
                    dst.deliver(frame, n)
                if not fifo:
                    return
                head = fifo[0]
                if not run_inline(head[0], head[1]):
                    break
        except BaseException:
            if fifo:  # a strict fault log raised: the frames behind keep their events
                self._call_at_seq(fifo[0][0], fifo[0][1], self._drain)
            raise
        finally:
            self._draining = False
        self._call_at_seq(head[0], head[1], self._drain)

    def _arrive(self, frame: bytes, gen: int) -> None:
        if gen != self._gen:
            return  # sent before an unplug; already counted in dropped_link
        self.in_flight -= 1
        self.delivered += 1
        self.delivered_bytes += len(frame)
        self._dst.deliver(frame)

    # -- control ------------------------------------------------------------------------
    def flush(self) -> None:
        """Empty the wire: frames in flight are lost and counted; stages forget their state."""
        self.dropped_link += self.in_flight
        self.in_flight = 0
        self._gen += 1
        self.busy_until = self._sched.now
        self._carry = 0
        self._backlog.clear()
        for stage in self.stages:
            reset = getattr(stage, "reset", None)
            if reset is not None:
                reset()

    def retire(self, stage: Stage) -> None:
        """Remove a stage, keeping what it counted in this lane's statistics."""
        self.stages.remove(stage)
        stat = getattr(stage, "stat", "")
        if stat:
            self._retired[stat] = self._retired.get(stat, 0) + stage.count
        self.rebuild()

    def _stage_stat(self, stat: str) -> int:
        total = self._retired.get(stat, 0)
        for stage in self.stages:
            if getattr(stage, "stat", "") == stat:
                total += stage.count
        return total

    @property
    def dropped_loss(self) -> int:
        return self._stage_stat("dropped_loss")

    @property
    def duplicated(self) -> int:
        return self._stage_stat("duplicated")

    @property
    def reordered(self) -> int:
        return self._stage_stat("reordered")

    @property
    def corrupted(self) -> int:
        return self._stage_stat("corrupted")

    @property
    def ce_marked(self) -> int:
        return self._stage_stat("ce_marked")

    def stats(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in STAT_NAMES}


class Cable:
    """Two ports joined back to back; ``ab`` carries a->b, ``ba`` carries b->a.

    ``stages`` are used for a->b; b->a gets ``stage.fork()`` of each (same parameters, shared
    rng and pcap writer, independent state) unless ``stages_ba`` is given.  Stages built with
    ``rng=None`` draw from ``sched.rng``.  The ports are connected and the link comes up at
    construction.
    """

    def __init__(
        self,
        sched: Any,
        a: Port,
        b: Port,
        rate_bps: int = 10_000_000_000,
        latency_ns: int = 0,
        stages: Sequence[Stage] = (),
        name: str = "",
        stages_ba: Sequence[Stage] | None = None,
        limit: int | None = None,
    ) -> None:
        if isinstance(rate_bps, bool) or not isinstance(rate_bps, int) or rate_bps <= 0:
            raise ValueError(f"rate_bps must be a positive int, got {rate_bps!r}")
        if isinstance(latency_ns, bool) or not isinstance(latency_ns, int) or latency_ns < 0:
            raise ValueError(f"latency_ns must be a non-negative int, got {latency_ns!r}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise ValueError(f"limit must be a positive int or None, got {limit!r}")
        if a is b:
            raise ValueError(f"a cable needs two ports, got {a.name} twice")
        self.sched = sched
        self.a = a
        self.b = b
        self.rate_bps = rate_bps
        self.latency_ns = latency_ns
        self.name = name or f"{a.name}<->{b.name}"
        if stages_ba is None:
            stages_ba = [_fork(stage) for stage in stages]
        self.ab = Lane(sched, b, f"{self.name} {a.name}->{b.name}", rate_bps, latency_ns, stages,
                       limit)
        self.ba = Lane(sched, a, f"{self.name} {b.name}->{a.name}", rate_bps, latency_ns,
                       stages_ba, limit)
        self.plugged = False
        a.connect(self)
        try:
            b.connect(self)
        except RuntimeError:
            a.disconnect()
            raise
        self.plug()

    def __repr__(self) -> str:
        state = "plugged" if self.plugged else "unplugged"
        return f"<Cable {self.name} {self.rate_bps} b/s +{self.latency_ns} ns {state}>"

    # -- the Medium protocol (device.port) ----------------------------------------------
    def sender(self, port: Port) -> Callable[[bytes], None]:
        if port is self.a:
            return self.ab.send
        if port is self.b:
            return self.ba.send
        raise ValueError(f"port {port.name} is not an end of cable {self.name}")

    def sender_at(self, port: Port) -> Callable[[bytes, int, int], int]:
        """The paced entry for a MAC (``Port.transmit_at``): ``Lane.send_at``."""
        if port is self.a:
            return self.ab.send_at
        if port is self.b:
            return self.ba.send_at
        raise ValueError(f"port {port.name} is not an end of cable {self.name}")

    # -- link control -------------------------------------------------------------------
    def unplug(self) -> None:
        """Pull the cable: both ports lose link; frames on the wire are lost and counted."""
        if not self.plugged:
            return
        self.plugged = False
        self.ab.flush()
        self.ba.flush()
        self.a.set_link(False)
        self.b.set_link(False)

    def plug(self) -> None:
        """Put the cable back: both ports see link up."""
        if self.plugged:
            return
        self.plugged = True
        self.a.set_link(True)
        self.b.set_link(True)

    def detach(self) -> None:
        """Unplug and disconnect both ports, so each can take another medium."""
        self.unplug()
        self.a.disconnect()
        self.b.disconnect()

    def lanes(self, direction: str = "both") -> tuple[Lane, ...]:
        """``"ab"``, ``"ba"`` or ``"both"``."""
        if direction == "both":
            return (self.ab, self.ba)
        if direction == "ab":
            return (self.ab,)
        if direction == "ba":
            return (self.ba,)
        raise ValueError(f"direction must be 'ab', 'ba' or 'both', got {direction!r}")

    # -- the debugger's knob ------------------------------------------------------------
    def set_impairment(self, kind: str, value: Any, direction: str = "both") -> None:
        """Set one impairment on the cable while it runs.

        ``kind`` and ``value``: ``"loss"``/``"dup"``/``"corrupt"`` take a probability;
        ``"reorder"`` takes ``(p, delay_ns)`` (or ``p`` alone to change an existing one);
        ``"delay"`` takes ``extra_ns`` or ``(extra_ns, jitter_ns)``.  ``value=None`` removes
        the stage (its counts stay in the statistics).  An existing stage of that kind is
        updated in place, keeping its state, so lowering a delay does not reorder frames
        already in flight; a new stage goes before any trailing :class:`PcapTap`, so a tap
        placed last keeps recording what is delivered.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown impairment {kind!r}; one of {', '.join(KINDS)}")
        cls = KINDS[kind]
        lanes = self.lanes(direction)
        if value is None:
            for lane in lanes:
                for stage in [s for s in lane.stages if type(s) is cls]:
                    lane.retire(stage)
            return
        params = _params(cls, value)
        for lane in lanes:
            current = next((s for s in lane.stages if type(s) is cls), None)
            if current is None:
                if cls is Reorder and "delay_ns" not in params:
                    raise ValueError("a new reorder impairment needs (p, delay_ns)")
                stage = cls(**params, rng=self.sched.rng)
                index = len(lane.stages)
                while index and isinstance(lane.stages[index - 1], PcapTap):
                    index -= 1
                lane.stages.insert(index, stage)
            else:
                merged = {key: getattr(current, key) for key in _PARAMS[cls]}
                merged.update(params)
                checked = cls(**merged, rng=current.rng)  # validates the new values
                for key in params:
                    setattr(current, key, getattr(checked, key))
            lane.rebuild()

    def stats(self) -> dict[str, dict[str, int]]:
        return {self.ab.label: self.ab.stats(), self.ba.label: self.ba.stats()}


def _fork(stage: Any) -> Any:
    fork = getattr(stage, "fork", None)
    return fork() if fork is not None else stage


# The positional meaning of set_impairment's value, per stage class.
_PARAMS: dict[type[Stage], tuple[str, ...]] = {
    Loss: ("p",),
    Duplicate: ("p",),
    Corrupt: ("p",),
    CeMark: ("p",),
    Reorder: ("p", "delay_ns"),
    Delay: ("extra_ns", "jitter_ns"),
}


def _params(cls: type[Stage], value: Any) -> dict[str, Any]:
    names = _PARAMS[cls]
    values = tuple(value) if isinstance(value, tuple | list) else (value,)
    if len(values) > len(names):
        raise ValueError(f"{cls.__name__} takes {', '.join(names)}; got {value!r}")
    return dict(zip(names, values, strict=False))
