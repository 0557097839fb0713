"""Workqueues: deferred work in process context, each item run as its own event.

Mirrors Linux's ``kernel/workqueue.c`` (``INIT_WORK``, ``schedule_work``, ``queue_work``,
``cancel_work_sync``, ``flush_work``, delayed work) for one CPU and no concurrency.

Contract: ``Work(kernel, fn, name=None)``; ``schedule_work(work)`` queues it on the host's
system workqueue and returns False if it was already pending.  The item runs later as an event
of its own, ``fn(work)``, never inside the caller; items run in the order they were queued.
The pending bit is cleared before ``fn`` runs, so ``fn`` may queue itself again.
``cancel_work_sync`` removes a pending item (True if it was pending); since nothing runs
concurrently it never has to wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack.core.kernel import Kernel


class Work:
    """One work item (Linux's ``struct work_struct``)."""

    __slots__ = ("kernel", "fn", "name", "wq", "_handle", "runs")

    def __init__(self, kernel: Kernel, fn: Callable[[Any], Any], name: str | None = None):
        self.kernel = kernel
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", repr(fn))
        self.wq: Workqueue | None = None
        self._handle: Any = None
        self.runs = 0

    @property
    def trace_name(self) -> str:
        return f"{self.kernel.hostname} work {self.name}"

    def pending(self) -> bool:
        return self._handle is not None

    def _run(self) -> None:
        self._handle = None
        wq = self.wq
        if wq is not None:
            wq.pending.pop(self, None)
        self.runs += 1
        kernel = self.kernel
        if kernel.tracers:
            kernel.trace("workqueue_execute", name=self.name)
        self.fn(self)

    def __repr__(self) -> str:
        return f"<Work {self.name}{' pending' if self._handle is not None else ''}>"


class DelayedWork(Work):
    """Work that becomes runnable after a delay (Linux's ``struct delayed_work``)."""

    __slots__ = ()


class Workqueue:
    """A named queue of work items (``alloc_workqueue``); ``kernel.system_wq`` is "events"."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.pending: dict[Work, None] = {}

    def queue_work(self, work: Work) -> bool:
        return self.queue_delayed_work(work, 0)

    def queue_delayed_work(self, work: Work, delay: int) -> bool:
        if work._handle is not None:
            return False
        work.wq = self
        self.pending[work] = None
        sched = self.kernel.sched
        work._handle = sched.call_later(delay, work._run) if delay else sched.call_soon(work._run)
        return True

    def __repr__(self) -> str:
        return f"<Workqueue {self.name} pending={len(self.pending)}>"


def schedule_work(work: Work) -> bool:
    """Queue ``work`` on its host's system workqueue; False if it was already pending."""
    return work.kernel.system_wq.queue_work(work)


def queue_work(wq: Workqueue, work: Work) -> bool:
    return wq.queue_work(work)


def schedule_delayed_work(work: Work, delay: int) -> bool:
    """Queue ``work`` to run ``delay`` ns from now; False if it was already pending."""
    return work.kernel.system_wq.queue_delayed_work(work, delay)


def cancel_work_sync(work: Work) -> bool:
    """Remove ``work`` if it is pending; True if it was."""
    handle = work._handle
    if handle is None:
        return False
    handle.cancel()
    work._handle = None
    if work.wq is not None:
        work.wq.pending.pop(work, None)
    return True


cancel_delayed_work_sync = cancel_work_sync
cancel_delayed_work = cancel_work_sync


def flush_work(work: Work) -> bool:
    """Run ``work`` now if it is pending (Linux waits for it; here nothing else could run it)."""
    if not cancel_work_sync(work):
        return False
    work._run()
    return True
