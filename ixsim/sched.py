"""The world's scheduler: integer-nanosecond time, one event queue (tasks: ixsim/tasks.py).

Mirrors the role of QEMU's main loop plus its virtual clock (QEMU_CLOCK_VIRTUAL with
``-icount``/qtest clock stepping): every device action, cable delivery, kernel timer and
softirq is an event on one queue ordered by (time, sequence), so a run is a pure function of
the seed and the inputs.  In virtual time the loop jumps straight to the next event; in real
time it waits on the wall clock and on file descriptors (taps) with ``epoll``/``select``.

Contract used by ``device/``, ``driver/`` and ``stack/`` (they receive this object, they never
import it): ``now`` (int ns), ``rng`` (seeded ``random.Random``), ``call_at``,
``call_later``, ``call_soon`` returning cancellable :class:`Handle` objects, ``add_reader`` /
``remove_reader`` (real-time only), ``future()`` and ``spawn()`` for tasks.
"""

from __future__ import annotations

import heapq
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ixsim.clock import (
    _FOREVER,
    NS_PER_MS,
    NS_PER_S,
    NS_PER_US,
    Deadlock,
    Handle,
    format_ns,
    parse_duration,
)
from ixsim.realtime import RealtimeLoop
from ixsim.tasks import Condition, Event, Future, Task, TaskCancelled

__all__ = [
    "Condition", "Deadlock", "Event", "Future", "Handle", "Scheduler", "Task", "TaskCancelled",
    "NS_PER_MS", "NS_PER_S", "NS_PER_US", "format_ns", "parse_duration",
]


class Scheduler(RealtimeLoop):
    """One event queue in integer nanoseconds, virtual or real time.

    ``step()`` runs exactly one event, which is what the debugger's ``step`` command uses;
    ``run_for``/``run_until`` run many.  Observers (``on_event``) see each event before it runs
    and may call ``stop()`` to break out of a run, as a debugger breakpoint does.

    Real time (``realtime=True``): an event runs once the wall clock (``time.monotonic_ns``
    since the scheduler was made) has reached its time, never before, and ``now`` is then the
    wall time it runs at (>= its time).  A run executes every event already due back to back,
    reading the clock once per event, and polls the file descriptors (``add_reader``) with a
    zero timeout every ``POLL_INTERVAL_NS`` (50 µs) of such a burst, all ready fds in one
    call; when nothing is due it waits for the next event's time, or a readable fd, whichever
    comes first.  A wait longer than ``SPIN_NS`` (200 µs) sleeps in ``select()`` (µs timeouts;
    ``epoll_wait`` only has whole milliseconds, rounded up, which once made a 59 µs interrupt
    delay cost 1.09 ms) until ``SPIN_NS`` before the time; the rest, and any wait shorter than
    that, is busy-polled (zero-timeout poll and the clock), because a sleeping wait overshoots
    by the timer slack (50 µs) plus the wake-up (another 20-40 µs): an emulated NIC's 59 µs
    receive interrupt delay would cost 120-150 µs.  So the loop spins at most 200 µs at a
    time, only when an event is that close.  ``run_until`` checks its condition before every
    event, after every fd callback, and at least every ``RECHECK_NS`` (1 ms) while idle, so
    a condition that changes outside the loop (a child process exiting) is seen within 1 ms.
    """

    def __init__(self, seed: int = 0, realtime: bool = False) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.realtime = realtime
        self.now = 0
        # Heap of (when, seq, handle): tuples compare in C, a Handle's __lt__ would not.
        self._queue: list[tuple[int, int, Handle]] = []
        # The last sequence number handed out (ties between events at one time run in this
        # order).  Public for a device that keeps its own queue of future events (a cable's
        # frames in flight): it may take the next one inline, ``seq = sched.seq = sched.seq
        # + 1``, exactly as reserve_seq() does, where that runs once per frame.
        self.seq = 0
        # The run in progress, for run_inline(): no event may run past _limit (-1 outside
        # run_for/run_until, so step() and real time never run anything inline), and
        # _predicate is the condition run_until checks before every event.
        self._limit = -1
        self._predicate: Callable[[], bool] | None = None
        self._stop = False
        self.events_run = 0
        self.current_task: Task | None = None  # the task whose coroutine is running now
        self.on_event: list[Callable[[Handle], None]] = []
        self.unhandled: list[tuple[Task, BaseException]] = []
        self._poller: Any = None  # epoll (select.poll elsewhere) over the readers' fds
        self._readers: dict[int, Callable[[], None]] = {}
        self._reader_fds: list[int] = []  # for select(), which takes a list
        self._select_ok = True  # every fd below FD_SETSIZE: select() can wait on them
        self._t0_wall = time.monotonic_ns() if realtime else 0

    # -- scheduling ---------------------------------------------------------------------
    def call_at(self, when: int, fn: Callable[..., Any], *args: Any) -> Handle:
        if when < self.now:
            when = self.now
        self.seq = seq = self.seq + 1
        handle = Handle(when, seq, fn, args)
        heapq.heappush(self._queue, (when, seq, handle))
        return handle

    def reserve_seq(self) -> int:
        """Take the sequence number an event scheduled now would get, without scheduling it.

        With :meth:`call_at_seq` and :meth:`run_inline` this lets a device keep a queue of
        its own future events (a cable's frames in flight) that run exactly where
        ``call_at`` would have put them, ties included.
        """
        self.seq = seq = self.seq + 1
        return seq

    def call_at_seq(self, when: int, seq: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """``call_at`` with a sequence number taken earlier by :meth:`reserve_seq`.

        In real time a key already in the past is kept, not raised to ``now``: the loop runs
        what is due in key order and ``now`` follows the wall clock, so the key only places
        the event among the others.  Raised, it would fall behind events keyed between
        ``when`` and ``now`` (a lagging loop re-arming a cable's FIFO drain would deliver the
        FIFO's frames behind later frames that have events of their own: reordering the
        stages never made).
        """
        if when < self.now and not self.realtime:
            when = self.now
        handle = Handle(when, seq, fn, args)
        heapq.heappush(self._queue, (when, seq, handle))
        return handle

    def run_inline(self, when: int, seq: int) -> bool:
        """Would the running loop run an event keyed (``when``, ``seq``) next?  Then take it.

        True means: the caller may run that event's work now, inline, from inside the event
        that is running; time is advanced to ``when`` and the event is counted, exactly as
        if the loop had popped it.  False (outside ``run_for``/``run_until``, in real time,
        with an ``on_event`` observer, after ``stop()``, past the run's deadline, when
        ``run_until``'s condition already holds, or when another event comes first) means
        the caller must schedule it with :meth:`call_at_seq` instead.  This is how a burst of
        frames is delivered by one scheduled event without changing any event's time or order.
        """
        if when > self._limit or self._stop or self.on_event:
            return False
        queue = self._queue
        while queue:
            head = queue[0]
            if head[2].cancelled:
                heapq.heappop(queue)
                continue
            if head[0] < when or (head[0] == when and head[1] < seq):
                return False
            break
        predicate = self._predicate
        if predicate is not None and predicate():
            return False
        if when > self.now:
            self.now = when
        self.events_run += 1
        return True

    # call_later and call_soon repeat call_at's body instead of calling it: softirqs, IRQ
    # delivery, doorbells and timers schedule through them several times per packet.
    def call_later(self, delay: int, fn: Callable[..., Any], *args: Any) -> Handle:
        now = self.now
        when = now + delay if delay > 0 else now
        self.seq = seq = self.seq + 1
        handle = Handle(when, seq, fn, args)
        heapq.heappush(self._queue, (when, seq, handle))
        return handle

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> Handle:
        when = self.now
        self.seq = seq = self.seq + 1
        handle = Handle(when, seq, fn, args)
        heapq.heappush(self._queue, (when, seq, handle))
        return handle

    def future(self) -> Future:
        return Future(self)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> Task:
        return Task(self, coro, name)

    def sleep(self, delay: int | str) -> Future:
        fut = Future(self)
        self.call_later(parse_duration(delay), fut.set_result, None)
        return fut

    def event(self) -> Event:
        return Event(self)

    def condition(self) -> Condition:
        return Condition(self)

    # -- file descriptors (real time only) ----------------------------------------------



    # -- running ------------------------------------------------------------------------
    def pending(self) -> list[Handle]:
        """Live events in the order they will run (for the debugger's listing)."""
        return [entry[2] for entry in sorted(self._queue) if not entry[2].cancelled]

    def peek(self) -> Handle | None:
        queue = self._queue
        while queue and queue[0][2].cancelled:
            heapq.heappop(queue)
        return queue[0][2] if queue else None

    def stop(self) -> None:
        """Ask the running ``run_*`` call to return after the current event."""
        self._stop = True


    # -- real time: waiting and file descriptors ----------------------------------------





    def step(self) -> Handle | None:
        """Run exactly one event; return it, or None when the queue is empty.

        Nothing runs inline (:meth:`run_inline` says no outside ``run_*``), so a debugger
        stepping through a burst sees every frame's delivery as its own event.
        """
        if self.realtime:
            return self._step_realtime()
        handle = self.peek()
        if handle is None:
            return None
        heapq.heappop(self._queue)
        if handle.when > self.now:
            self.now = handle.when
        for observer in self.on_event:
            observer(handle)
        self.events_run += 1
        handle.fn(*handle.args)
        return handle


    def run_for(self, duration: int | str) -> bool:
        """Run every event due within ``duration``; time ends exactly at now + duration.

        Returns False if a ``stop()`` cut the run short (time then stays where it stopped).
        In real time ``now`` first catches up with the wall clock (it stands still while no
        run is going on), so the run lasts ``duration`` of wall time from the call.
        """
        if self.realtime:
            self._catch_up()  # real time: the duration counts from the wall clock
        deadline = self.now + parse_duration(duration)
        return self.run_until_time(deadline)

    def run_until_time(self, deadline: int) -> bool:
        self._stop = False
        if self.realtime:
            return self._run_until_time_realtime(deadline)
        saved = self._limit, self._predicate
        self._limit, self._predicate = deadline, None
        try:
            queue = self._queue
            pop = heapq.heappop
            while queue:
                when, _seq, handle = queue[0]
                if handle.cancelled:
                    pop(queue)
                    continue
                if when > deadline:
                    break
                pop(queue)
                if when > self.now:
                    self.now = when
                if self.on_event:
                    for observer in self.on_event:
                        observer(handle)
                self.events_run += 1
                handle.fn(*handle.args)
                if self._stop:
                    self._stop = False
                    return False
            if deadline > self.now:
                self.now = deadline
            return True
        finally:
            self._limit, self._predicate = saved



    def run_until(
        self,
        predicate: Callable[[], bool],
        timeout: int | str | None = None,
        what: str = "condition",
    ) -> bool:
        """Run until ``predicate()`` is true (True) or ``timeout`` passes (False).

        Raises :class:`Deadlock` when the queue is empty in virtual time and the predicate is
        still false: nothing can ever happen again, so waiting longer is pointless.
        """
        if self.realtime:
            return self._run_until_realtime(predicate, timeout, what)
        deadline = None if timeout is None else self.now + parse_duration(timeout)
        self._stop = False
        saved = self._limit, self._predicate
        self._limit = _FOREVER if deadline is None else deadline
        self._predicate = predicate
        try:
            queue = self._queue
            pop = heapq.heappop
            while not predicate():
                while queue and queue[0][2].cancelled:
                    pop(queue)
                if not queue or (deadline is not None and queue[0][0] > deadline):
                    if deadline is None:
                        raise Deadlock(
                            f"deadlock at t={format_ns(self.now)}: waiting for {what}, "
                            "but no pending event can make progress"
                        )
                    if deadline > self.now:
                        self.now = deadline
                    return predicate()
                when, _seq, handle = pop(queue)
                if when > self.now:
                    self.now = when
                if self.on_event:
                    for observer in self.on_event:
                        observer(handle)
                self.events_run += 1
                handle.fn(*handle.args)
                if self._stop:
                    self._stop = False
                    return predicate()
            return True
        finally:
            self._limit, self._predicate = saved


    def wait(self, fut: Future, timeout: int | str | None = None, what: str = "") -> Any:
        """Block the caller (outside the loop) on ``fut``; the world runs meanwhile."""
        if not self.run_until(fut.done, timeout, what or "a result"):
            raise TimeoutError(f"timed out after {format_ns(parse_duration(timeout or 0))}")
        return fut.result()

    def close(self) -> None:
        if self._poller is not None:
            close = getattr(self._poller, "close", None)  # select.poll has none
            if close is not None:
                close()
            self._poller = None
        self._readers.clear()
        self._readers_changed()
