"""Kernel timers: a callback at a deadline in virtual nanoseconds.

Mirrors Linux's ``kernel/time/timer.c`` (``timer_setup``, ``mod_timer``, ``del_timer``,
``timer_pending``), without jiffies: deadlines are ``sched.now``-based integers.

Contract: ``Timer(kernel, fn, name=None)``; ``fn(timer)`` runs as its own scheduled event at
``expires`` (Linux passes the ``timer_list`` too; a bound method or closure finds its owner).
``mod_timer`` (re)arms and returns whether the timer was pending; ``del_timer`` disarms and
returns whether it was.  Every pending timer is listed by ``kernel.timers()``.

Pushing a pending timer *later* is O(1): the queued event is kept and, when it fires early,
re-queues itself for the real deadline (the trick Linux's timer wheel plays with its
granularity).  Timers that are re-armed per packet (TCP's RTO, delayed ACK) therefore do not
fill the event queue with cancelled entries.  Pulling a timer earlier replaces the event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack.core.kernel import Kernel


class Timer:
    """One kernel timer (Linux's ``struct timer_list``)."""

    __slots__ = ("kernel", "fn", "name", "expires", "_pending", "_handle")

    def __init__(self, kernel: Kernel, fn: Callable[[Timer], Any], name: str | None = None):
        self.kernel = kernel
        self.fn = fn
        self.name = name or getattr(fn, "__qualname__", repr(fn))
        self.expires = 0
        self._pending = False
        self._handle: Any = None

    @property
    def trace_name(self) -> str:
        return f"{self.kernel.hostname} timer {self.name}"

    def mod_timer(self, expires: int) -> bool:
        """Arm (or re-arm) the timer for absolute time ``expires`` (ns)."""
        was_pending = self._pending
        self.expires = expires
        handle = self._handle
        if handle is None or handle.when > expires:
            if handle is not None:
                handle.cancel()
            self._handle = self.kernel.sched.call_at(expires, self._expire)
        if not was_pending:
            self._pending = True
            self.kernel.pending_timers[self] = None
        return was_pending

    def add_timer(self) -> None:
        """Arm for the ``expires`` already set (Linux's add_timer)."""
        self.mod_timer(self.expires)

    def del_timer(self) -> bool:
        """Disarm; True if the timer was pending."""
        if not self._pending:
            return False
        self._pending = False
        del self.kernel.pending_timers[self]
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        return True

    del_timer_sync = del_timer  # nothing runs concurrently: disarming is already synchronous

    def timer_pending(self) -> bool:
        return self._pending

    pending = timer_pending

    def _expire(self) -> None:
        self._handle = None
        if not self._pending:
            return
        kernel = self.kernel
        if self.expires > kernel.sched.now:  # pushed later since this event was queued
            self._handle = kernel.sched.call_at(self.expires, self._expire)
            return
        self._pending = False
        del kernel.pending_timers[self]
        if kernel.tracers:
            kernel.trace("timer_expire", name=self.name)
        self.fn(self)

    def __repr__(self) -> str:
        state = f"expires={self.expires}" if self._pending else "idle"
        return f"<Timer {self.name} {state}>"
