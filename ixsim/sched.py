"""The world's scheduler: integer-nanosecond time, one event queue, tasks.

Mirrors the role of QEMU's main loop plus its virtual clock (QEMU_CLOCK_VIRTUAL with
``-icount``/qtest clock stepping): every device action, cable delivery, kernel timer and
softirq is an event on one queue ordered by (time, sequence), so a run is a pure function of
the seed and the inputs.  In virtual time the loop jumps straight to the next event; in real
time it waits on the wall clock and on file descriptors (taps) with ``selectors``.

Contract used by ``device/``, ``driver/`` and ``stack/`` (they receive this object, they never
import it): ``now`` (int ns), ``rng`` (seeded ``random.Random``), ``call_at``,
``call_later``, ``call_soon`` returning cancellable :class:`Handle` objects, ``add_reader`` /
``remove_reader`` (real-time only), ``future()`` and ``spawn()`` for tasks.
"""

from __future__ import annotations

import heapq
import random
import selectors
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_FOREVER = 1 << 62  # a deadline no run reaches (virtual ns: 146 years)
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


class Future:
    """A result that a task can await and a blocking caller can run the world for."""

    __slots__ = ("_sched", "_done", "_result", "_exc", "_callbacks")

    def __init__(self, sched: Scheduler) -> None:
        self._sched = sched
        self._done = False
        self._result: Any = None
        self._exc: BaseException | None = None
        self._callbacks: list[Callable[[Future], None]] = []

    def done(self) -> bool:
        return self._done

    def result(self) -> Any:
        if not self._done:
            raise RuntimeError("future is not done")
        if self._exc is not None:
            raise self._exc
        return self._result

    def exception(self) -> BaseException | None:
        return self._exc

    def set_result(self, value: Any = None) -> None:
        if self._done:
            return
        self._done = True
        self._result = value
        self._fire()

    def set_exception(self, exc: BaseException) -> None:
        if self._done:
            return
        self._done = True
        self._exc = exc
        self._fire()

    def add_done_callback(self, fn: Callable[[Future], None]) -> None:
        if self._done:
            self._sched.call_soon(fn, self)
        else:
            self._callbacks.append(fn)

    def _fire(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            self._sched.call_soon(fn, self)

    def __await__(self) -> Generator[Future, None, Any]:
        if not self._done:
            yield self
        return self.result()


class Task(Future):
    """Drives an ``async def`` coroutine on the scheduler (asyncio's Task, without asyncio).

    The coroutine may await :class:`Future` objects (socket operations, ``sleep``,
    :class:`Event`); each resumption is its own event, so tasks interleave deterministically.
    """

    __slots__ = ("coro", "name")

    def __init__(self, sched: Scheduler, coro: Coroutine[Any, Any, Any], name: str = "") -> None:
        super().__init__(sched)
        self.coro = coro
        self.name = name or getattr(coro, "__qualname__", "task")
        sched.call_soon(self._step, None)

    @property
    def trace_name(self) -> str:
        return f"task {self.name}"

    def _step(self, value: Any, exc: BaseException | None = None) -> None:
        sched = self._sched
        outer, sched.current_task = sched.current_task, self
        try:
            if exc is not None:
                awaited = self.coro.throw(exc)
            else:
                awaited = self.coro.send(value)
        except StopIteration as stop:
            self.set_result(stop.value)
            return
        except BaseException as error:  # noqa: BLE001 - delivered to whoever awaits the task
            awaited_by_someone = bool(self._callbacks)
            self.set_exception(error)
            if not awaited_by_someone:
                self._sched.unhandled.append((self, error))
            return
        finally:
            sched.current_task = outer
        if not isinstance(awaited, Future):
            self._sched.call_soon(
                self._step, None, TypeError(f"task awaited a non-ixsim awaitable: {awaited!r}")
            )
            return
        awaited.add_done_callback(self._wakeup)

    def _wakeup(self, fut: Future) -> None:
        if fut._exc is not None:
            self._step(None, fut._exc)
        else:
            self._step(fut._result)

    def cancel(self) -> None:
        """Throw ``CancelledError`` into the coroutine at its next resumption point."""
        if not self._done:
            self._sched.call_soon(self._step, None, TaskCancelled(self.name))


class TaskCancelled(Exception):
    """Raised inside a task that was cancelled."""


class Event:
    """asyncio.Event for tasks: ``await ev.wait()`` until ``ev.set()``."""

    def __init__(self, sched: Scheduler) -> None:
        self._sched = sched
        self._flag = False
        self._waiters: list[Future] = []

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        self._flag = True
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            fut.set_result(True)

    def clear(self) -> None:
        self._flag = False

    def wait(self) -> Future:
        fut = Future(self._sched)
        if self._flag:
            fut.set_result(True)
        else:
            self._waiters.append(fut)
        return fut


class Condition:
    """asyncio.Condition-like wait/notify for tasks (no lock: the loop is single-threaded)."""

    def __init__(self, sched: Scheduler) -> None:
        self._sched = sched
        self._waiters: list[Future] = []

    def wait(self) -> Future:
        fut = Future(self._sched)
        self._waiters.append(fut)
        return fut

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self.wait()

    def notify(self, n: int = 1) -> None:
        for _ in range(min(n, len(self._waiters))):
            self._waiters.pop(0).set_result(True)

    def notify_all(self) -> None:
        self.notify(len(self._waiters))


class Scheduler:
    """One event queue in integer nanoseconds, virtual or real time.

    ``step()`` runs exactly one event, which is what the debugger's ``step`` command uses;
    ``run_for``/``run_until`` run many.  Observers (``on_event``) see each event before it runs
    and may call ``stop()`` to break out of a run, as a debugger breakpoint does.
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
        self._selector: selectors.BaseSelector | None = None
        self._readers: dict[int, Callable[[], None]] = {}
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
        if not self.realtime:
            raise RuntimeError(
                "file descriptors need real time: build the world with World(realtime=True)"
            )
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
        self._selector.register(fd, selectors.EVENT_READ)
        self._readers[fd] = callback

    def remove_reader(self, fd: int) -> None:
        if fd in self._readers:
            del self._readers[fd]
            assert self._selector is not None
            self._selector.unregister(fd)

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

    def _poll_fds(self, timeout_ns: int | None) -> None:
        if self._selector is None or not self._readers:
            if timeout_ns:
                time.sleep(timeout_ns / NS_PER_S)
            return
        timeout = None if timeout_ns is None else max(timeout_ns, 0) / NS_PER_S
        for key, _mask in self._selector.select(timeout):
            callback = self._readers.get(key.fd)  # type: ignore[arg-type]
            if callback is not None:
                self.now = max(self.now, self._wall_now())
                callback()

    def step(self) -> Handle | None:
        """Run exactly one event; return it, or None when the queue is empty.

        Nothing runs inline (:meth:`run_inline` says no outside ``run_*``), so a debugger
        stepping through a burst sees every frame's delivery as its own event.
        """
        handle = self.peek()
        if handle is None:
            return None
        if self.realtime:
            wait = handle.when - self._wall_now()
            if wait > 0 or self._readers:
                self._poll_fds(max(wait, 0))
                handle = self.peek()
                if handle is None or handle.when > self._wall_now():
                    return None
        heapq.heappop(self._queue)
        if handle.when > self.now:
            self.now = handle.when
        if self.realtime:
            self.now = max(self.now, self._wall_now())
        for observer in self.on_event:
            observer(handle)
        self.events_run += 1
        handle.fn(*handle.args)
        return handle

    def run_for(self, duration: int | str) -> bool:
        """Run every event due within ``duration``; time ends exactly at now + duration.

        Returns False if a ``stop()`` cut the run short (time then stays where it stopped).
        """
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
        while True:
            head = self.peek()
            if head is None or head.when > deadline:
                wait = deadline - self._wall_now()
                if head is not None:
                    wait = min(wait, head.when - self._wall_now())
                if wait > 0 or self._readers:
                    self._poll_fds(max(wait, 0))
                if self._wall_now() < deadline:
                    continue
                self.now = max(self.now, deadline)
                return True
            self.step()
            if self._stop:
                self._stop = False
                return False

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
        deadline = None if timeout is None else self.now + parse_duration(timeout)
        self._stop = False
        if self.realtime:
            return self._run_until_realtime(predicate, deadline, what)
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
        self, predicate: Callable[[], bool], deadline: int | None, what: str
    ) -> bool:
        while not predicate():
            head = self.peek()
            if deadline is not None and (head is None or head.when > deadline):
                self._poll_fds(max(0, min(deadline - self._wall_now(), NS_PER_MS * 50)))
                if self._wall_now() < deadline:
                    continue
                self.now = max(self.now, deadline)
                return predicate()
            if head is None:
                if self._readers:
                    self._poll_fds(NS_PER_MS * 50)
                    continue
                raise Deadlock(
                    f"deadlock at t={format_ns(self.now)}: waiting for {what}, "
                    "but no pending event can make progress"
                )
            self.step()
            if self._stop:
                self._stop = False
                return predicate()
        return True

    def wait(self, fut: Future, timeout: int | str | None = None, what: str = "") -> Any:
        """Block the caller (outside the loop) on ``fut``; the world runs meanwhile."""
        if not self.run_until(fut.done, timeout, what or "a result"):
            raise TimeoutError(f"timed out after {format_ns(parse_duration(timeout or 0))}")
        return fut.result()

    def close(self) -> None:
        if self._selector is not None:
            self._selector.close()
            self._selector = None
            self._readers.clear()
