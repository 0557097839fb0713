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
import select
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ixsim.tasks import Condition, Event, Future, Task, TaskCancelled

__all__ = [
    "Condition", "Deadlock", "Event", "Future", "Handle", "Scheduler", "Task", "TaskCancelled",
    "format_ns", "parse_duration",
]

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_FOREVER = 1 << 62  # a deadline no run reaches (virtual ns: 146 years)

# Real time (see "Real time" in the Scheduler docstring for the why of each number).
SPIN_NS = 200_000  # waits shorter than this are busy-polled, never slept
POLL_INTERVAL_NS = 50_000  # fds are polled at least this often while events run back to back
RECHECK_NS = NS_PER_MS  # run_until re-checks its condition at least this often when idle
_FD_SETSIZE = 1024  # select()'s limit on fd numbers (Linux glibc)
_POLLER = getattr(select, "epoll", None)  # epoll on Linux; select.poll elsewhere
_UNITS = {"ns": 1, "us": NS_PER_US, "µs": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S}


def parse_duration(value: int | float | str) -> int:
    """Turn ``"50us"``, ``"1.5ms"``, ``"2s"`` or an int (nanoseconds) into nanoseconds.

    A float without a unit is seconds, as in ``time.sleep``; an int is nanoseconds, the
    scheduler's own unit.  Raises ``ValueError`` naming the bad text.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative duration: {value}")
        return value
    if isinstance(value, float):
        if value < 0:
            raise ValueError(f"negative duration: {value}")
        return round(value * NS_PER_S)
    text = value.strip().lower()
    for unit in ("ns", "us", "µs", "ms", "s"):
        if text.endswith(unit):
            number = text[: -len(unit)].strip()
            try:
                amount = float(number)
            except ValueError:
                break
            if amount < 0:
                break
            return round(amount * _UNITS[unit])
    raise ValueError(f"not a duration: {value!r} (use e.g. 50us, 1.5ms, 2s)")


def format_ns(ns: int) -> str:
    """Render a time for people: ``1.234567 s`` style with the unit that fits."""
    if ns >= NS_PER_S:
        return f"{ns / NS_PER_S:.6f} s"
    if ns >= NS_PER_MS:
        return f"{ns / NS_PER_MS:.3f} ms"
    if ns >= NS_PER_US:
        return f"{ns / NS_PER_US:.3f} us"
    return f"{ns} ns"


class Deadlock(RuntimeError):
    """No pending event can ever make the awaited condition true."""


class Handle:
    """One scheduled call; ``cancel()`` makes the loop skip it."""

    __slots__ = ("when", "seq", "fn", "args", "cancelled")

    def __init__(self, when: int, seq: int, fn: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.seq = seq
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Handle) -> bool:
        if self.when != other.when:
            return self.when < other.when
        return self.seq < other.seq

    @property
    def name(self) -> str:
        fn = self.fn
        owner = getattr(fn, "__self__", None)
        qual = getattr(fn, "__qualname__", repr(fn))
        label = getattr(owner, "trace_name", None) if owner is not None else None
        return f"{label} {qual}" if label else qual

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<Handle t={self.when} #{self.seq} {self.name}{state}>"


class Scheduler:
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
        self._seq = 0
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
        self._seq = seq = self._seq + 1
        handle = Handle(when, seq, fn, args)
        heapq.heappush(self._queue, (when, seq, handle))
        return handle

    def reserve_seq(self) -> int:
        """Take the sequence number an event scheduled now would get, without scheduling it.

        With :meth:`call_at_seq` and :meth:`run_inline` this lets a device keep a queue of
        its own future events (a cable's frames in flight) that run exactly where
        ``call_at`` would have put them, ties included.
        """
        self._seq = seq = self._seq + 1
        return seq

    def call_at_seq(self, when: int, seq: int, fn: Callable[..., Any], *args: Any) -> Handle:
        """``call_at`` with a sequence number taken earlier by :meth:`reserve_seq`."""
        if when < self.now:
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

    def call_later(self, delay: int, fn: Callable[..., Any], *args: Any) -> Handle:
        return self.call_at(self.now + delay, fn, *args)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> Handle:
        return self.call_at(self.now, fn, *args)

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
    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` from the loop whenever ``fd`` is readable (or has hung up).

        Level-triggered: the callback should read until EAGAIN (or EOF, then
        ``remove_reader``), else it is called again at the next poll.  A second
        ``add_reader`` for the same fd replaces the callback, as asyncio's does.
        """
        if not self.realtime:
            raise RuntimeError(
                "file descriptors need real time: build the world with World(realtime=True)"
            )
        if fd in self._readers:
            self._readers[fd] = callback
            return
        if self._poller is None:
            self._poller = _POLLER() if _POLLER is not None else select.poll()
        try:
            self._poller.register(fd, select.POLLIN)
        except FileExistsError:  # a closed fd's number, reused before remove_reader
            self._poller.modify(fd, select.POLLIN)
        self._readers[fd] = callback
        self._readers_changed()

    def remove_reader(self, fd: int) -> None:
        if fd in self._readers:
            del self._readers[fd]
            self._readers_changed()
            try:
                self._poller.unregister(fd)
            except (OSError, KeyError, ValueError):
                pass  # closed already: the kernel forgot it with its last reference

    def _readers_changed(self) -> None:
        self._reader_fds = fds = list(self._readers)
        self._select_ok = all(0 <= fd < _FD_SETSIZE for fd in fds)

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

    def _wall_now(self) -> int:
        return time.monotonic_ns() - self._t0_wall

    # -- real time: waiting and file descriptors ----------------------------------------
    def _poll_ready(self) -> list[int]:
        """The readers' fds that are readable now (a zero-timeout poll; no syscall without
        readers)."""
        if not self._readers:
            return []
        return [fd for fd, _mask in self._poller.poll(0)]

    def _block(self, timeout_ns: int) -> list[int]:
        """Sleep up to ``timeout_ns`` (> 0) or until a reader's fd is readable; those fds.

        ``select()`` takes microseconds; ``epoll``/``poll`` only whole milliseconds, so they
        are used (rounded down: never oversleep) only when an fd is beyond select()'s range.
        """
        if not self._readers:
            time.sleep(timeout_ns / NS_PER_S)
            return []
        if self._select_ok:
            try:
                return select.select(self._reader_fds, (), (), timeout_ns / NS_PER_S)[0]
            except (OSError, ValueError):
                pass  # a reader's fd was closed under us: epoll/poll just forget it
        ms = timeout_ns // NS_PER_MS
        if _POLLER is not None and isinstance(self._poller, _POLLER):
            ready = self._poller.poll((ms - 0.5) / 1000 if ms else 0)  # rounds up to `ms`
        else:
            ready = self._poller.poll(ms)
        return [fd for fd, _mask in ready]

    def _dispatch(self, fds: list[int], predicate: Callable[[], bool] | None) -> None:
        """Run the callbacks of the ready ``fds``, ``now`` set to the wall clock for each;
        stop early, leaving the rest for the next poll (level-triggered), once ``stop()`` was
        called or ``predicate`` holds."""
        readers = self._readers
        for fd in fds:
            callback = readers.get(fd)
            if callback is None:  # removed by an earlier callback
                continue
            wall = time.monotonic_ns() - self._t0_wall
            if wall > self.now:
                self.now = wall
            callback()
            if self._stop or (predicate is not None and predicate()):
                return

    def _wait(self, target: int, predicate: Callable[[], bool] | None) -> None:
        """Until wall time ``target`` or until fd callbacks ran, whichever comes first.

        The fds are polled at least once, even when ``target`` has passed.  Far from
        ``target`` this sleeps (``_block``) until ``SPIN_NS`` before it; the rest is spun.
        """
        clock = time.monotonic_ns
        t0 = self._t0_wall
        while True:
            remaining = target - (clock() - t0)
            if remaining > SPIN_NS:
                ready = self._block(remaining - SPIN_NS)
            else:
                ready = self._poll_ready()
            if ready:
                self._dispatch(ready, predicate)
                return
            if remaining <= 0:
                return

    def _catch_up(self) -> None:
        """Real time: ``now`` has stood still since the last event ran; bring it to the wall
        clock, so that a run's deadline and what its caller schedules count from now."""
        wall = time.monotonic_ns() - self._t0_wall
        if wall > self.now:
            self.now = wall

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

    def _step_realtime(self) -> Handle | None:
        """Real-time ``step()``: handle ready fds, wait (fds served meanwhile) until the
        first event is due, run it.  None when the queue is empty."""
        self._dispatch(self._poll_ready(), None)
        while True:
            handle = self.peek()
            if handle is None:
                return None
            wall = self._wall_now()
            if handle.when <= wall:
                break
            self._wait(handle.when, None)  # an fd callback may schedule an earlier event
        heapq.heappop(self._queue)
        if wall > self.now:
            self.now = wall
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

    def _run_until_time_realtime(self, deadline: int) -> bool:
        self._catch_up()
        if self._run_realtime(deadline, None, "") is False:
            return False
        if deadline > self.now:
            self.now = deadline
        return True

    def _run_realtime(
        self, deadline: int, predicate: Callable[[], bool] | None, what: str
    ) -> bool | None:
        """The real-time loop of ``run_until_time`` and ``run_until`` (see the class
        docstring): True once ``predicate`` holds, None at ``deadline`` (every event due by
        it has run and the wall clock has passed it), False after ``stop()``."""
        queue = self._queue
        pop = heapq.heappop
        clock = time.monotonic_ns
        t0 = self._t0_wall
        observers = self.on_event
        poll_at = 0  # wall time of the next zero-timeout poll while events run back to back
        while True:
            if self._stop:
                self._stop = False
                return False
            if predicate is not None and predicate():
                return True
            # Every event due by the wall clock (and the deadline), back to back.
            wall = clock() - t0
            polled = False
            while queue:
                when, _seq, handle = queue[0]
                if handle.cancelled:
                    pop(queue)
                    continue
                if when > wall or when > deadline:
                    break
                pop(queue)
                if wall > self.now:
                    self.now = wall
                if observers:
                    for observer in observers:
                        observer(handle)
                self.events_run += 1
                handle.fn(*handle.args)
                if self._stop:
                    self._stop = False
                    return False
                if predicate is not None and predicate():
                    return True
                wall = clock() - t0
                if wall >= poll_at:
                    poll_at = wall + POLL_INTERVAL_NS
                    ready = self._poll_ready()
                    if ready:
                        self._dispatch(ready, predicate)
                        polled = True
                        break
            if polled:
                continue  # stop() and the predicate are checked at the top
            # Nothing due: wait for the next event, the deadline or an fd.
            head = None
            while queue:
                if queue[0][2].cancelled:
                    pop(queue)
                    continue
                head = queue[0][0]
                break
            wall = clock() - t0
            if head is not None and head <= wall and head <= deadline:
                continue  # fell due meanwhile
            if wall >= deadline:
                return None
            if head is None and predicate is not None and deadline == _FOREVER \
                    and not self._readers:
                raise Deadlock(
                    f"deadlock at t={format_ns(self.now)}: waiting for {what}, "
                    "but no pending event can make progress"
                )
            # An event's time is kept precisely (sleep, then spin); the deadline and the
            # condition's re-check are not worth a spin (they may come up to ~100 µs late).
            until = deadline if predicate is None else min(deadline, wall + RECHECK_NS)
            if head is not None and head <= until:
                self._wait(head, predicate)
            else:
                ready = self._block(until - wall)
                if ready:
                    self._dispatch(ready, predicate)
            poll_at = clock() - t0 + POLL_INTERVAL_NS

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

    def _run_until_realtime(
        self, predicate: Callable[[], bool], timeout: int | str | None, what: str
    ) -> bool:
        duration = None if timeout is None else parse_duration(timeout)
        self._stop = False
        self._catch_up()  # the timeout counts from the wall clock
        deadline = _FOREVER if duration is None else self.now + duration
        done = self._run_realtime(deadline, predicate, what)
        if done is None and deadline > self.now:
            self.now = deadline
        return True if done else predicate()

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
