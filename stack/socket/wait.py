"""Sleeping on a socket until an operation can finish: the two process contexts.

Mirrors Linux's ``sk_wait_event``/``wait_woken`` (``net/core/stream.c``,
``inet_wait_for_connect``, ``inet_csk_wait_for_connect``): an operation is tried without
blocking; while it raises ``BlockingIOError`` the caller sleeps until the socket's readiness
intersects ``wanted``, then tries again.  How it sleeps depends on who calls
(docs/stack-architecture.md, "Sockets: kernel side and user side"):

* **outside any task** (a test calling ``sock.recv()``): the caller *is* the world's driver, so
  it runs the world with ``sched.run_until(readiness, timeout, what)``.  When the event queue
  empties first, the scheduler raises its ``Deadlock`` naming ``what`` (the operation and the
  socket's endpoints); when the timeout passes, ``TimeoutError("timed out")``.
* **inside a task** (``sched.current_task`` is set): the call returns a ``Future`` at once.
  A callback on the Sock's wait queue (``sk.wq``, woken by ``sk.wake(events)``) schedules a
  retry as its own process-context event - never inside the softirq that woke it, as Linux
  wakes the sleeper and lets it run later - and the retry completes the future.

``op`` carries its own progress (``sendall``'s offset, ``connect``'s "already started"), so
retrying it is always safe; it raises ``BlockingIOError`` to mean "not yet".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stack.uapi import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP

TIMED_OUT = "timed out"  # CPython's socket.timeout message
# what each kind of call waits for
POLL_RECV = EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP
POLL_SEND = EPOLLOUT | EPOLLERR | EPOLLHUP
POLL_CONNECT = EPOLLOUT | EPOLLERR | EPOLLHUP
POLL_ACCEPT = EPOLLIN | EPOLLERR | EPOLLHUP


class Describe:
    """A message built only if a Deadlock needs it (``run_until`` formats ``what`` lazily)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], str]) -> None:
        self.fn = fn

    def __str__(self) -> str:
        return self.fn()


def block(
    sched: Any,
    sk: Any,
    op: Callable[[], Any],
    wanted: int,
    timeout_ns: int | None,
    what: Describe,
    on_timeout: Callable[[], Any] | None = None,
) -> Any:
    """Run ``op`` to completion from outside the loop, running the world while it would block."""
    deadline = None if timeout_ns is None else sched.now + timeout_ns
    while True:
        try:
            return op()
        except BlockingIOError:
            if timeout_ns == 0:
                raise
        remaining = None
        if deadline is not None:
            remaining = deadline - sched.now
            if remaining <= 0:
                if on_timeout is not None:
                    return on_timeout()
                raise TimeoutError(TIMED_OUT)
        # At least one event must run before retrying: a Sock whose poll() says ready while
        # the operation still says EAGAIN must not make this loop spin at one instant.
        sched.run_until(_ready(sched, sk, wanted), remaining, what)


def _ready(sched: Any, sk: Any, wanted: int) -> Callable[[], bool]:
    start = sched.events_run
    return lambda: sched.events_run != start and bool(sk.poll() & wanted)


class SockWaiter:
    """One task's pending operation, parked on the Sock's wait queue."""

    __slots__ = ("sched", "sk", "op", "wanted", "fut", "task", "timer", "queued", "on_timeout")

    def __init__(
        self,
        sched: Any,
        sk: Any,
        op: Callable[[], Any],
        wanted: int,
        fut: Any,
        timeout_ns: int | None,
        on_timeout: Callable[[], Any] | None,
    ) -> None:
        self.sched = sched
        self.sk = sk
        self.op = op
        self.wanted = wanted
        self.fut = fut
        self.task = sched.current_task
        self.queued = False
        self.on_timeout = on_timeout
        self.timer = None if timeout_ns is None else sched.call_later(timeout_ns, self._expire)
        sk.wq.append(self)

    @property
    def trace_name(self) -> str:
        return f"socket wait ({getattr(self.task, 'name', 'task')})"

    def __call__(self, sk: Any, events: int) -> None:
        """The wake-up (``woken_wake_function``): schedule a retry, once, in process context."""
        if events & self.wanted and not self.queued:
            self.queued = True
            self.sched.call_soon(self._retry)

    def _retry(self) -> None:
        self.queued = False
        fut = self.fut
        if fut.done() or (self.task is not None and self.task.done()):
            self._detach()  # the task was cancelled or finished: do not consume its data
            return
        try:
            result = self.op()
        except BlockingIOError:
            return
        except Exception as exc:  # noqa: BLE001 - delivered to the awaiting task
            self._detach()
            fut.set_exception(exc)
            return
        self._detach()
        fut.set_result(result)

    def _expire(self) -> None:
        self.timer = None
        self._detach()
        if self.on_timeout is not None:
            try:
                result = self.on_timeout()
            except Exception as exc:  # noqa: BLE001 - delivered to the awaiting task
                self.fut.set_exception(exc)
                return
            self.fut.set_result(result)
        else:
            self.fut.set_exception(TimeoutError(TIMED_OUT))

    def _detach(self) -> None:
        try:
            self.sk.wq.remove(self)
        except ValueError:
            pass
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


def task_wait(
    sched: Any,
    sk: Any,
    op: Callable[[], Any],
    wanted: int,
    timeout_ns: int | None,
    on_timeout: Callable[[], Any] | None = None,
) -> Any:
    """Start ``op`` for the running task; return a Future with its result or its error."""
    fut = sched.future()
    try:
        fut.set_result(op())
        return fut
    except BlockingIOError:
        if timeout_ns == 0:
            raise
    except Exception as exc:  # noqa: BLE001 - delivered to the awaiting task
        fut.set_exception(exc)
        return fut
    SockWaiter(sched, sk, op, wanted, fut, timeout_ns, on_timeout)
    return fut
