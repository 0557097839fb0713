"""Tasks on the world's scheduler: futures, ``async def`` coroutines, events, conditions.

asyncio's shapes without asyncio: a :class:`Task` drives a coroutine that awaits
:class:`Future` objects (socket operations, ``sched.sleep``, :class:`Event`), and every
resumption is its own scheduled event, so tasks interleave deterministically with the
hardware and the kernel.  The scheduler (``ixsim/sched.py``) creates them; sockets complete
their futures from wait-queue callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ixsim.sched import Scheduler


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
