"""Softirqs: deferred kernel work raised from interrupt context, run as events of their own.

Mirrors Linux's ``kernel/softirq.c`` (``open_softirq``, ``raise_softirq``, ``__do_softirq``).

Contract: ``raise_softirq(nr)`` never runs anything inline.  It marks the vector pending and,
unless it already was, schedules exactly one event (``call_soon``) that clears the pending bit
and runs the vector's action once.  An action that wants to run again (NET_RX out of budget)
raises itself, which schedules a *new* event behind whatever else is due at this instant: the
equivalent of Linux handing the rest to ``ksoftirqd``.  Linux re-runs pending softirqs up to
ten times inside one ``__do_softirq``; here every pass is its own event, so a debugger can stop
between them.

Tasklets (``kernel/softirq.c``: ``tasklet_schedule``, ``tasklet_action``) ride on
TASKLET_SOFTIRQ: :func:`tasklet_schedule` queues a :class:`Tasklet` once (a second schedule
before it ran is a no-op, as ``TASKLET_STATE_SCHED`` makes it) and raises the vector; the
action runs every queued tasklet in order.  TCP Small Queues' per-CPU tasklet is one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

HI_SOFTIRQ = 0
TIMER_SOFTIRQ = 1
NET_TX_SOFTIRQ = 2
NET_RX_SOFTIRQ = 3
BLOCK_SOFTIRQ = 4
IRQ_POLL_SOFTIRQ = 5
TASKLET_SOFTIRQ = 6
SCHED_SOFTIRQ = 7
HRTIMER_SOFTIRQ = 8
RCU_SOFTIRQ = 9
NR_SOFTIRQS = 10

SOFTIRQ_NAMES = (
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
)  # fmt: skip


class SoftirqVector:
    """One opened softirq: its action, its pending event, how often it ran."""

    __slots__ = ("nr", "name", "action", "handle", "count", "hostname", "on_entry")

    def __init__(self, nr: int, action: Callable[[], None], hostname: str) -> None:
        self.nr = nr
        self.name = SOFTIRQ_NAMES[nr]
        self.action = action
        self.handle: Any = None
        self.count = 0
        self.hostname = hostname
        self.on_entry: Callable[[str], None] | None = None

    @property
    def trace_name(self) -> str:
        return f"{self.hostname} softirq {self.name}"

    def run(self) -> None:
        self.handle = None
        self.count += 1
        if self.on_entry is not None:
            self.on_entry(self.name)
        self.action()


class Softirqs:
    """The per-host softirq table (one CPU): ``open_softirq``, ``raise_softirq``, counts."""

    def __init__(self, sched: Any, hostname: str) -> None:
        self.sched = sched
        self.hostname = hostname
        self.vectors: list[SoftirqVector | None] = [None] * NR_SOFTIRQS
        self.tasklet_vec: deque[Tasklet] = deque()  # this CPU's tasklet list
        self.open_softirq(TASKLET_SOFTIRQ, lambda: tasklet_action(self.tasklet_vec))

    def open_softirq(self, nr: int, action: Callable[[], None]) -> None:
        self.vectors[nr] = SoftirqVector(nr, action, self.hostname)

    def raise_softirq(self, nr: int) -> None:
        vec = self.vectors[nr]
        if vec is None:
            raise RuntimeError(f"softirq {SOFTIRQ_NAMES[nr]} raised but never opened")
        if vec.handle is None:
            vec.handle = self.sched.call_soon(vec.run)

    def pending(self) -> list[str]:
        """Names of the vectors raised and not yet run (the debugger's view)."""
        return [v.name for v in self.vectors if v is not None and v.handle is not None]

    def counts(self) -> dict[str, int]:
        """How many times each opened vector ran (``/proc/softirqs``)."""
        return {v.name: v.count for v in self.vectors if v is not None}


class Tasklet:
    """``struct tasklet_struct``: a function run once from TASKLET_SOFTIRQ per schedule."""

    __slots__ = ("softirqs", "func", "name", "scheduled", "count")

    def __init__(self, softirqs: Softirqs, func: Callable[[], None], name: str) -> None:
        self.softirqs = softirqs
        self.func = func
        self.name = name
        self.scheduled = False  # TASKLET_STATE_SCHED
        self.count = 0


def tasklet_action(queue: deque[Tasklet]) -> None:
    """TASKLET_SOFTIRQ's action: run the tasklets queued so far (``tasklet_action``)."""
    for _ in range(len(queue)):
        t = queue.popleft()
        t.scheduled = False
        t.count += 1
        t.func()


def tasklet_schedule(t: Tasklet) -> None:
    """Queue ``t`` to run from TASKLET_SOFTIRQ unless it is queued already."""
    if t.scheduled:
        return
    t.scheduled = True
    softirqs = t.softirqs
    softirqs.tasklet_vec.append(t)
    softirqs.raise_softirq(TASKLET_SOFTIRQ)
