"""The open file of a socket: ``struct file`` shared by ``dup``'d fds, and its release.

Mirrors Linux's ``fs/file_table.c`` (``__fput``: the last fd of a file closed runs epoll's
``eventpoll_release`` hooks first) and ``net/socket.c`` (``sock_release``: the kernel Sock
closes and its sleepers wake).  :class:`stack.socket.socket.Socket` holds one
:class:`SockFile`; :mod:`stack.socket.epoll` keys its interest list by it.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from stack.sock import Sock
from stack.socket.wait import SockWaiter


def ebadf() -> OSError:
    """The error of a call on a closed (or detached) socket object, as CPython raises it."""
    return OSError(errno.EBADF, "Bad file descriptor")


def sched_of(net: Any) -> Any:
    sched = getattr(net, "sched", None)
    return sched if sched is not None else net.kernel.sched


class SockFile:
    """The open file under one or more fds (``struct file`` of a socket): the kernel Sock,
    how many fds share it (``dup``), and what ``__fput`` runs when the last one closes (epoll's
    ``eventpoll_release`` hooks)."""

    __slots__ = ("sk", "refs", "on_close", "listening", "__weakref__")

    def __init__(self, sk: Sock) -> None:
        self.sk = sk
        self.refs = 1
        self.on_close: list[Callable[[], None]] = []
        self.listening = False


def fput(file: SockFile) -> None:
    """The last fd of ``file`` closed: leave every epoll first (eventpoll_release)."""
    hooks = list(file.on_close)
    file.on_close.clear()
    for hook in hooks:
        hook()


def sock_release(sk: Sock) -> None:
    """``sock_release``: close the kernel Sock.  Tasks still sleeping in its calls retry now
    and fail with EBADF (Linux would leave them blocked on the file reference they hold; a
    task has none)."""
    sk.close()
    for entry in list(sk.wq):
        if isinstance(entry, SockWaiter):
            entry(sk, ~0)
