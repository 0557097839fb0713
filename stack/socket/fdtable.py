"""Per-host file descriptor numbers for sockets and epolls (Linux's ``fs/file.c`` fdtable).

ixsim sockets are not OS files; each host still hands out small integers, lowest free first
(``__alloc_fd``), so users may keep, print and register "fds" the way C and Python code does
(``epoll.register(fd)``, ``sock.fileno()``).  Numbering starts at 3: 0, 1 and 2 belong to the
imaginary process's stdio, so the first socket is fd 3, as in a fresh Python process.

The table hangs off the per-host namespace as ``net.fdtable`` (created on first use when the
``Net`` does not provide one).

A socket's entry is held weakly (``install(sock, weak=True)``): the table stands for the
kernel's, which holds the open file, not the Python object, so a ``Socket`` nobody references
is collected and its ``__del__`` closes the fd, as CPython's socket object does.  A detached
socket (``Socket.detach``) is held strongly again: the fd stays open with no object.
"""

from __future__ import annotations

import errno
import heapq
import weakref
from typing import Any

FIRST_FD = 3


class FdTable:
    """fd -> open file object (a :class:`~stack.socket.socket.Socket` or an Epoll)."""

    __slots__ = ("_files", "_free", "_next")

    def __init__(self) -> None:
        self._files: dict[int, Any] = {}  # fd -> file, or a weakref.ref to a Socket
        self._free: list[int] = []  # released numbers below _next, as a heap
        self._next = FIRST_FD

    def install(self, file: Any, weak: bool = False) -> int:
        """Give ``file`` the lowest free fd (``get_unused_fd`` + ``fd_install``)."""
        fd = heapq.heappop(self._free) if self._free else self._next
        if fd == self._next:
            self._next += 1
        self._files[fd] = weakref.ref(file) if weak else file
        return fd

    def hold(self, fd: int, file: Any, weak: bool = False) -> None:
        """Put another object on an open ``fd`` (a detached socket, a socket adopting it)."""
        if fd not in self._files:
            raise OSError(errno.EBADF, f"Bad file descriptor: {fd!r}")
        self._files[fd] = weakref.ref(file) if weak else file

    def get(self, fd: int) -> Any:
        """The file open on ``fd``, or ``OSError(EBADF)`` (``fget``)."""
        try:
            file = self._files[fd]
        except (KeyError, TypeError):
            raise OSError(errno.EBADF, f"Bad file descriptor: {fd!r}") from None
        if isinstance(file, weakref.ref):
            file = file()
            if file is None:
                raise OSError(errno.EBADF, f"Bad file descriptor: {fd!r}")
        return file

    def release(self, fd: int) -> None:
        """Free ``fd`` for reuse (``close_fd``); releasing an unused fd is EBADF."""
        if self._files.pop(fd, None) is None:
            raise OSError(errno.EBADF, f"Bad file descriptor: {fd!r}")
        heapq.heappush(self._free, fd)

    @property
    def files(self) -> dict[int, Any]:
        """fd -> open file object, for listings."""
        out = {}
        for fd, file in self._files.items():
            if isinstance(file, weakref.ref):
                file = file()
            if file is not None:
                out[fd] = file
        return out

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, fd: object) -> bool:
        return fd in self._files

    def __repr__(self) -> str:
        return f"<FdTable open={sorted(self._files)}>"


def fdtable_of(net: Any) -> FdTable:
    """The host's fd table, created on first use."""
    table = getattr(net, "fdtable", None)
    if table is None:
        table = FdTable()
        net.fdtable = table
    return table
