"""The scheduler's real-time half: waiting on the wall clock and on file descriptors.

A mixin of :class:`ixsim.sched.Scheduler`, used when a world is cabled to a Linux tap
(``World(realtime=True)``); the virtual-time paths never call into it.  The reasons for each
number (the bounded spin, the poll interval, select() rather than epoll for short waits) are in
the Scheduler's docstring.
"""

from __future__ import annotations

import heapq
import select
import time
from collections.abc import Callable

from ixsim.clock import (
    _FD_SETSIZE,
    _FOREVER,
    _POLLER,
    NS_PER_MS,
    NS_PER_S,
    POLL_INTERVAL_NS,
    RECHECK_NS,
    SPIN_NS,
    Deadlock,
    Handle,
    format_ns,
    parse_duration,
)


class RealtimeLoop:
    """Real-time methods of the Scheduler (see its docstring, "Real time")."""

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

    def _wall_now(self) -> int:
        return time.monotonic_ns() - self._t0_wall

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
