"""epoll: readiness notification for many sockets, fed by the sockets' wake-ups.

Mirrors Linux's ``fs/eventpoll.c``.  Each registered socket gets an :class:`EpItem` hooked on
its Sock's wait queue (``sk.wq``); a wake-up runs :meth:`Epoll._poll_callback`
(``ep_poll_callback``), which puts the item on the ready list (``rdllist``) and wakes the
epoll's waiters.  ``poll`` (``epoll_wait`` -> ``ep_send_events``) only visits the ready list,
asking each item's Sock for its current mask: a wait never scans every registered socket.

* Level-triggered (default): a reported item goes back on the ready list, so the next wait
  re-checks it and reports it again while it stays ready.
* ``EPOLLET``: reported once per wake-up; only a new wake-up (more data, more room) reports
  it again.
* ``EPOLLONESHOT``: after one report the item is disarmed (its event mask is cleared down to
  the private bits) until ``modify`` re-arms it.
* ``EPOLLEXCLUSIVE``: exclusive entries sit in one shared :class:`ExclusiveWaitQueue` at the
  tail of the Sock's wait queue, woken in order until one epoll that has a waiter accepts the
  event (``__wake_up_common`` with ``nr_exclusive = 1``): when several epolls wait on one
  socket, one wake-up wakes one of them.  As in Linux, EPOLLEXCLUSIVE is only valid with ADD
  and with IN/OUT/ERR/HUP/ET (EINVAL otherwise).
* EPOLLERR and EPOLLHUP are always reported; closing a socket removes it from every epoll.

Targets are :class:`~stack.socket.socket.Socket` objects (anything with ``fileno()``) or
their per-host fd numbers; ``poll`` reports the fd, as ``select.epoll`` does.  A registration
is of the open file and the fd (``struct epoll_filefd``): it holds no reference to the Python
socket object, and lasts until the file's last fd closes (a ``dup`` keeps it).  A negative fd
is ``ValueError``, anything else without ``fileno()`` ``TypeError``, as in CPython; a closed
epoll's ``fileno()`` is ``ValueError``.  Outside a
task ``poll`` runs the world until something is ready or the timeout passes (raising the
scheduler's ``Deadlock`` when nothing can ever happen); inside a task it returns a ``Future``.
Nested epolls (an epoll registered in an epoll) are not supported (EINVAL).
"""

from __future__ import annotations

import errno
import sys
from collections import deque
from typing import Any

from stack.core.units import NS_PER_S
from stack.socket.fdtable import FdTable, fdtable_of
from stack.socket.file import SockFile, sched_of
from stack.socket.socket import Socket
from stack.socket.wait import Describe
from stack.uapi import (
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EPOLLERR,
    EPOLLET,
    EPOLLEXCLUSIVE,
    EPOLLHUP,
    EPOLLIN,
    EPOLLONESHOT,
    EPOLLOUT,
    EPOLLPRI,
    EPOLLRDHUP,
    EPOLLWAKEUP,
)

EP_PRIVATE_BITS = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE
EPOLLINOUT_BITS = EPOLLIN | EPOLLOUT
EPOLLEXCLUSIVE_OK_BITS = (EPOLLINOUT_BITS | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET
                          | EPOLLEXCLUSIVE)
DEFAULT_EVENTS = EPOLLIN | EPOLLPRI | EPOLLOUT  # select.epoll.register's default

_NAMES = ((EPOLLIN, "IN"), (EPOLLPRI, "PRI"), (EPOLLOUT, "OUT"), (EPOLLERR, "ERR"),
          (EPOLLHUP, "HUP"), (EPOLLRDHUP, "RDHUP"), (EPOLLET, "ET"), (EPOLLONESHOT, "ONESHOT"),
          (EPOLLEXCLUSIVE, "EXCLUSIVE"))


def events_str(mask: int) -> str:
    """``EPOLLIN|EPOLLOUT`` for messages and the shell."""
    names = [f"EPOLL{name}" for bit, name in _NAMES if mask & bit]
    return "|".join(names) or "0"


class EpItem:
    """One registration (``struct epitem``); also the Sock wait-queue entry for it."""

    __slots__ = ("ep", "ffd", "sk", "key", "events", "release", "exclusive_wq")

    def __init__(self, ep: Epoll, ffd: tuple[SockFile, int], events: int) -> None:
        self.ep = ep
        self.ffd = ffd  # (file, fd): struct epoll_filefd
        self.sk = ffd[0].sk
        self.key = ffd[1]  # what poll() reports: the fd
        self.events = events
        self.release = lambda: ep._remove(self)  # eventpoll_release, run by Socket.close
        self.exclusive_wq: ExclusiveWaitQueue | None = None

    def __call__(self, sk: Any, key: int) -> None:
        self.ep._poll_callback(self, key)

    def __repr__(self) -> str:
        return f"<EpItem fd={self.key} {events_str(self.events)}>"


class ExclusiveWaitQueue:
    """The EPOLLEXCLUSIVE entries of one Sock, woken until one of them takes the event."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[EpItem] = []

    def __call__(self, sk: Any, key: int) -> None:
        for item in list(self.items):
            if item.ep._poll_callback(item, key):
                break

    @staticmethod
    def of(sk: Any) -> ExclusiveWaitQueue:
        for entry in sk.wq:
            if isinstance(entry, ExclusiveWaitQueue):
                return entry
        entry = ExclusiveWaitQueue()
        sk.wq.append(entry)
        return entry


class _PollWaiter:
    """A task's pending ``poll``."""

    __slots__ = ("fut", "task", "maxevents", "timer")

    def __init__(self, fut: Any, task: Any, maxevents: int) -> None:
        self.fut = fut
        self.task = task
        self.maxevents = maxevents
        self.timer: Any = None

    def stale(self) -> bool:
        return self.fut.done() or (self.task is not None and self.task.done())

    def finish(self, events: list[tuple[Any, int]]) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.fut.set_result(events)


class Epoll:
    """One epoll instance (``struct eventpoll``) with Python's ``select.epoll`` methods."""

    def __init__(self, net: Any = None) -> None:
        self.net = net
        self._sched: Any = None
        self._fdtable: FdTable | None = None
        self._fd = -1
        self._items: dict[tuple[SockFile, int], EpItem] = {}
        self._rdllist: dict[EpItem, None] = {}  # insertion-ordered set: the ready list
        self._waiters: deque[_PollWaiter] = deque()
        self._blocked = 0  # callers outside tasks currently running the world in poll()
        self._dispatch_queued = False
        self._closed = False
        if net is not None:
            self._attach(net)

    def _attach(self, net: Any) -> None:
        """Learn the host: its scheduler, and an fd in its table."""
        self.net = net
        self._sched = sched_of(net)
        self._fdtable = fdtable_of(net)
        self._fd = self._fdtable.install(self)

    @property
    def trace_name(self) -> str:
        return f"epoll fd {self._fd}"

    # -- Python's select.epoll surface ---------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def fileno(self) -> int:
        if self._closed:
            raise ValueError("I/O operation on closed epoll object")
        return self._fd

    def __len__(self) -> int:
        return len(self._items)

    def register(self, target: Any, eventmask: int = DEFAULT_EVENTS) -> None:
        self.ctl(EPOLL_CTL_ADD, target, eventmask)

    def modify(self, target: Any, eventmask: int) -> None:
        self.ctl(EPOLL_CTL_MOD, target, eventmask)

    def unregister(self, target: Any) -> None:
        self.ctl(EPOLL_CTL_DEL, target)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for item in list(self._items.values()):
            self._remove(item)
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.timer is not None:
                waiter.timer.cancel()
            waiter.fut.set_exception(OSError(errno.EBADF, "epoll closed while waiting"))
        if self._fdtable is not None and self._fd >= 0:
            self._fdtable.release(self._fd)
        self._fd = -1

    def __enter__(self) -> Epoll:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._items)} items"
        return f"<Epoll fd={self._fd} {state} ready={len(self._rdllist)}>"

    # -- epoll_ctl -------------------------------------------------------------------------
    def _resolve(self, target: Any) -> tuple[tuple[SockFile, int], Any]:
        """-> ``((file, fd), net)`` for a Socket, an object with ``fileno()`` or an fd."""
        if isinstance(target, Socket):
            if target.closed:
                raise OSError(errno.EBADF, "Bad file descriptor")
            return (target.file, target.fileno()), target.net
        if not isinstance(target, int) or isinstance(target, bool):
            fileno = getattr(target, "fileno", None)
            if fileno is None:
                raise TypeError("argument must be an int, or have a fileno() method.")
            target = fileno()
            if not isinstance(target, int):
                raise TypeError("fileno() returned a non-integer")
        if target < 0:
            raise ValueError(f"file descriptor cannot be a negative integer ({target})")
        if self._fdtable is None:
            raise OSError(errno.EBADF, f"fd {target}: this epoll has no host yet "
                          "(epoll_create(net), or register a Socket first)")
        file = self._fdtable.get(target)
        if isinstance(file, Socket):
            return (file.file, target), file.net
        raise OSError(errno.EINVAL, f"fd {target} is not a socket (nested epoll?)")

    def ctl(self, op: int, target: Any, events: int = 0) -> None:
        """``epoll_ctl``: EPOLL_CTL_ADD / MOD / DEL with Linux's errors."""
        if self._closed:
            raise ValueError("I/O operation on closed epoll object")
        ffd, net = self._resolve(target)
        if self._sched is None:
            self._attach(net)
        if op in (EPOLL_CTL_ADD, EPOLL_CTL_MOD) and events & EPOLLEXCLUSIVE:
            if op == EPOLL_CTL_MOD or events & ~EPOLLEXCLUSIVE_OK_BITS:
                raise OSError(errno.EINVAL, "EPOLLEXCLUSIVE: ADD only, with IN/OUT/ERR/HUP/ET")
        item = self._items.get(ffd)
        if op == EPOLL_CTL_ADD:
            if item is not None:
                raise OSError(errno.EEXIST, f"fd {ffd[1]} is already registered")
            self._insert(ffd, events | EPOLLERR | EPOLLHUP)
        elif op == EPOLL_CTL_DEL:
            if item is None:
                raise OSError(errno.ENOENT, f"fd {ffd[1]} is not registered")
            self._remove(item)
        elif op == EPOLL_CTL_MOD:
            if item is None:
                raise OSError(errno.ENOENT, f"fd {ffd[1]} is not registered")
            if item.events & EPOLLEXCLUSIVE:
                raise OSError(errno.EINVAL, "an EPOLLEXCLUSIVE registration cannot be modified")
            self._modify(item, events | EPOLLERR | EPOLLHUP)
        else:
            raise OSError(errno.EINVAL, f"unknown epoll_ctl op {op}")

    def _insert(self, ffd: tuple[SockFile, int], events: int) -> None:
        """``ep_insert``: hook the Sock's wait queue, then report it if it is ready already."""
        item = EpItem(self, ffd, events)
        self._items[ffd] = item
        sk = item.sk
        if events & EPOLLEXCLUSIVE:
            item.exclusive_wq = ExclusiveWaitQueue.of(sk)
            item.exclusive_wq.items.append(item)
        else:
            sk.wq.append(item)
        ffd[0].on_close.append(item.release)
        if sk.poll() & events:
            self._rdllist[item] = None
            self._wake()

    def _modify(self, item: EpItem, events: int) -> None:
        """``ep_modify``: new mask (re-arming a ONESHOT), then re-check readiness."""
        item.events = events
        if item.sk.poll() & events and item not in self._rdllist:
            self._rdllist[item] = None
            self._wake()

    def _remove(self, item: EpItem) -> None:
        """``ep_remove``: unhook from the Sock and forget the item."""
        if self._items.get(item.ffd) is not item:
            return
        del self._items[item.ffd]
        self._rdllist.pop(item, None)
        sk = item.sk
        if item.exclusive_wq is not None:
            entries = item.exclusive_wq.items
            entries.remove(item)
            if not entries and item.exclusive_wq in sk.wq:
                sk.wq.remove(item.exclusive_wq)
        elif item in sk.wq:
            sk.wq.remove(item)
        try:
            item.ffd[0].on_close.remove(item.release)
        except ValueError:
            pass  # the socket is closing and already took its hooks

    # -- the wake-up side ------------------------------------------------------------------
    def _poll_callback(self, item: EpItem, key: int) -> bool:
        """``ep_poll_callback``: queue a ready item; True if it woke a waiter (EXCLUSIVE)."""
        events = item.events
        if not events & ~EP_PRIVATE_BITS:
            return False  # a ONESHOT that reported already: disarmed until MOD
        if key and not key & events:
            return False
        if item not in self._rdllist:
            self._rdllist[item] = None
        woke = False
        if self._waiters or self._blocked:
            if events & EPOLLEXCLUSIVE:
                inout = key & EPOLLINOUT_BITS
                if inout == EPOLLIN:
                    woke = bool(events & EPOLLIN)
                elif inout == EPOLLOUT:
                    woke = bool(events & EPOLLOUT)
                elif inout == 0:
                    woke = True
            self._wake()
        return woke if events & EPOLLEXCLUSIVE else True

    def _wake(self) -> None:
        if self._waiters and not self._dispatch_queued:
            self._dispatch_queued = True
            self._sched.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Hand ready events to waiting tasks, first come first served."""
        self._dispatch_queued = False
        waiters = self._waiters
        while waiters and self._rdllist:
            waiter = waiters[0]
            if waiter.stale():
                waiters.popleft()
                if waiter.timer is not None:
                    waiter.timer.cancel()
                continue
            events = self._send_events(waiter.maxevents)
            if not events:
                break
            waiters.popleft()
            waiter.finish(events)

    # -- epoll_wait ---------------------------------------------------------------------------
    def _send_events(self, maxevents: int) -> list[tuple[Any, int]]:
        """``ep_send_events``: report what on the ready list is still ready."""
        if not self._rdllist:
            return []
        txlist = list(self._rdllist)
        self._rdllist = {}
        out: list[tuple[Any, int]] = []
        items = self._items
        for i, item in enumerate(txlist):
            if len(out) >= maxevents:
                rest = dict.fromkeys(txlist[i:])  # unreported items go back first
                rest.update(self._rdllist)
                self._rdllist = rest
                break
            if items.get(item.ffd) is not item:
                continue
            revents = item.sk.poll() & item.events
            if not revents:
                continue
            out.append((item.key, revents))
            if item.events & EPOLLONESHOT:
                item.events &= EP_PRIVATE_BITS
            elif not item.events & EPOLLET:
                self._rdllist[item] = None  # level-triggered: look again next time
        return out

    def poll(self, timeout: float | None = None, maxevents: int = -1) -> Any:
        """-> ``[(target, events), ...]``; ``[]`` on timeout.  A Future of it inside a task.

        ``timeout`` in seconds (None or negative: wait for ever, 0: do not wait), as in
        ``select.epoll.poll``; ``maxevents`` -1 for no limit.
        """
        if self._closed:
            raise ValueError("I/O operation on closed epoll object")
        if maxevents == -1:
            maxevents = sys.maxsize
        elif maxevents < 1:
            raise ValueError(f"maxevents must be greater than 0, got {maxevents}")
        timeout_ns = None if timeout is None or timeout < 0 else round(timeout * NS_PER_S)
        sched = self._sched
        if sched is None:
            if timeout_ns == 0:
                return []
            raise OSError(errno.EINVAL, "poll on an epoll with no host and nothing registered "
                          "(use epoll_create(net))")
        if sched.current_task is not None:
            return self._poll_task(sched, timeout_ns, maxevents)
        deadline = None if timeout_ns is None else sched.now + timeout_ns
        what = Describe(self._describe)
        while True:
            events = self._send_events(maxevents)
            if events:
                return events
            remaining = None
            if deadline is not None:
                remaining = deadline - sched.now
                if remaining <= 0:
                    return []
            self._blocked += 1
            try:
                sched.run_until(lambda: bool(self._rdllist), remaining, what)
            finally:
                self._blocked -= 1

    def _poll_task(self, sched: Any, timeout_ns: int | None, maxevents: int) -> Any:
        fut = sched.future()
        events = self._send_events(maxevents)
        if events or timeout_ns == 0:
            fut.set_result(events)
            return fut
        waiter = _PollWaiter(fut, sched.current_task, maxevents)
        if timeout_ns is not None:
            waiter.timer = sched.call_later(timeout_ns, self._expire, waiter)
        self._waiters.append(waiter)
        return fut

    def _expire(self, waiter: _PollWaiter) -> None:
        waiter.timer = None
        try:
            self._waiters.remove(waiter)
        except ValueError:
            return
        waiter.fut.set_result([])

    def _describe(self) -> str:
        watched = [f"fd {item.key} {events_str(item.events & ~EP_PRIVATE_BITS)}"
                   for item in list(self._items.values())[:4]]
        more = f", ... {len(self._items) - 4} more" if len(self._items) > 4 else ""
        return (f"epoll_wait on epoll fd {self._fd} watching {len(self._items)} sockets"
                f" ({', '.join(watched)}{more})")


def epoll_create(net: Any = None) -> Epoll:
    """``epoll_create1(0)``: a new epoll; ``net`` (the host) may be left out and is then
    learnt from the first socket registered."""
    return Epoll(net)
