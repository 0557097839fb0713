"""The ``selectors`` API over ixsim's epoll, so code written for ``selectors`` runs unchanged.

Mirrors CPython's ``Lib/selectors.py`` (``_BaseSelectorImpl`` + ``EpollSelector``) over
:class:`stack.socket.epoll.Epoll` instead of ``select.epoll``: the same ``SelectorKey``
(``fileobj, fd, events, data``), ``EVENT_READ``/``EVENT_WRITE``, the same errors (``ValueError``
for a bad file object or events, ``KeyError`` for a double or missing registration), the same
event mapping (any epoll bit other than EPOLLIN counts as writable, any other than EPOLLOUT as
readable, masked by what was asked), the same timeout rounding.

Users get one from ``host.selector()`` (``ixsim/host.py``, which also registers the class as
a virtual subclass of ``selectors.BaseSelector``: ``stack/`` may not import ``selectors``).
``select()`` behaves like every other blocking ixsim call: outside any task it runs the world
until something is ready or the timeout passes; inside a task it returns an awaitable
(``events = await sel.select()``).  File objects are ixsim sockets (anything whose
``fileno()`` is an fd of this host) or fd numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from stack.socket.epoll import Epoll
from stack.uapi import EPOLLIN, EPOLLOUT

EVENT_READ = 1 << 0
EVENT_WRITE = 1 << 1


class SelectorKey(NamedTuple):
    """CPython's ``selectors.SelectorKey``."""

    fileobj: Any
    fd: int
    events: int
    data: Any


def _fileobj_to_fd(fileobj: Any) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _SelectorMapping(Mapping[Any, SelectorKey]):
    """Mapping of file objects to selector keys (CPython's)."""

    def __init__(self, selector: IxsimSelector) -> None:
        self._selector = selector

    def __len__(self) -> int:
        return len(self._selector._fd_to_key)

    def get(self, fileobj: Any, default: Any = None) -> Any:
        fd = self._selector._fileobj_lookup(fileobj)
        return self._selector._fd_to_key.get(fd, default)

    def __getitem__(self, fileobj: Any) -> SelectorKey:
        fd = self._selector._fileobj_lookup(fileobj)
        key = self._selector._fd_to_key.get(fd)
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        return key

    def __iter__(self) -> Iterator[Any]:
        return iter(self._selector._fd_to_key)


class IxsimSelector:
    """``selectors.EpollSelector`` over an ixsim host's epoll."""

    def __init__(self, net: Any) -> None:
        self._ep = Epoll(net)
        self._fd_to_key: dict[int, SelectorKey] = {}
        self._map: _SelectorMapping | None = _SelectorMapping(self)

    def fileno(self) -> int:
        return self._ep.fileno()

    def _fileobj_lookup(self, fileobj: Any) -> int:
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            for key in self._fd_to_key.values():  # a closed object still registered
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def register(self, fileobj: Any, events: int, data: Any = None) -> SelectorKey:
        if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
            raise ValueError(f"Invalid events: {events!r}")
        key = SelectorKey(fileobj, self._fileobj_lookup(fileobj), events, data)
        if key.fd in self._fd_to_key:
            raise KeyError(f"{fileobj!r} (FD {key.fd}) is already registered")
        poller_events = (EPOLLIN if events & EVENT_READ else 0) | (
            EPOLLOUT if events & EVENT_WRITE else 0)
        self._ep.register(key.fd, poller_events)
        self._fd_to_key[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> SelectorKey:
        try:
            key = self._fd_to_key.pop(self._fileobj_lookup(fileobj))
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        try:
            self._ep.unregister(key.fd)
        except OSError:
            pass  # closed already, which left the epoll (CPython ignores this too)
        return key

    def modify(self, fileobj: Any, events: int, data: Any = None) -> SelectorKey:
        try:
            key = self._fd_to_key[self._fileobj_lookup(fileobj)]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None
        if events != key.events:
            if (not events) or (events & ~(EVENT_READ | EVENT_WRITE)):
                raise ValueError(f"Invalid events: {events!r}")
            poller_events = (EPOLLIN if events & EVENT_READ else 0) | (
                EPOLLOUT if events & EVENT_WRITE else 0)
            self._ep.modify(key.fd, poller_events)
            key = key._replace(events=events, data=data)
            self._fd_to_key[key.fd] = key
        elif data != key.data:
            key = key._replace(data=data)
            self._fd_to_key[key.fd] = key
        return key

    def _ready(self, fd_events: list[tuple[int, int]]) -> list[tuple[SelectorKey, int]]:
        ready = []
        for fd, event in fd_events:
            events = 0
            if event & ~EPOLLIN:
                events |= EVENT_WRITE
            if event & ~EPOLLOUT:
                events |= EVENT_READ
            key = self._fd_to_key.get(fd)
            if key:
                ready.append((key, events & key.events))
        return ready

    def select(self, timeout: float | None = None) -> Any:
        """-> ``[(key, events), ...]``; a Future of it inside a task."""
        if timeout is None:
            seconds: float | None = None
        elif timeout <= 0:
            seconds = 0
        else:
            seconds = math.ceil(timeout * 1e3) * 1e-3  # CPython rounds up to a millisecond
        result = self._ep.poll(seconds, max(len(self._fd_to_key), 1))
        sched = self._ep._sched
        if sched.current_task is not None:  # the epoll gave a Future: map it when it settles
            fut = sched.future()
            if result.done():
                _settle(fut, result, self._ready)
            else:
                result.add_done_callback(lambda done: _settle(fut, done, self._ready))
            return fut
        return self._ready(result)

    def close(self) -> None:
        self._fd_to_key.clear()
        self._map = None
        self._ep.close()

    def get_map(self) -> Mapping[Any, SelectorKey]:
        return self._map  # type: ignore[return-value]

    def get_key(self, fileobj: Any) -> SelectorKey:
        mapping = self.get_map()
        if mapping is None:
            raise RuntimeError("Selector is closed")
        try:
            return mapping[fileobj]
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def __enter__(self) -> IxsimSelector:
        return self

    def __exit__(self, *args: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<IxsimSelector epoll fd={self._ep._fd} registered={len(self._fd_to_key)}>"


def _settle(fut: Any, done: Any, ready: Any) -> None:
    exc = done.exception()
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(ready(done.result()))
