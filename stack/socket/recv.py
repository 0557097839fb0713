"""The receive calls of a socket: recv, recvfrom, recv_into, recvfrom_into.

Mirrors Linux's ``sock_recvmsg`` (``net/socket.c``: a non-blocking file passes MSG_DONTWAIT
on) and ``tcp_recvmsg_locked``'s MSG_WAITALL loop (``net/ipv4/tcp.c``), with CPython's
``sock_recv``/``sock_recvfrom``/``sock_recv_into``/``sock_recvfrom_into``
(``Modules/socketmodule.c``) argument checks, as a mixin of
:class:`stack.socket.socket.Socket` (it uses the Socket's ``_call``, ``_check`` and address
conversion).  :mod:`stack.socket.msg` builds recvmsg on the same ``_recv_op``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

from stack.sock import RCV_SHUTDOWN
from stack.socket.wait import POLL_RECV, TIMED_OUT
from stack.uapi import (
    MSG_CMSG_CLOEXEC,
    MSG_DONTWAIT,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SIOCATMARK,
    SOCK_STREAM,
)


class RecvOps:
    """recv/recvfrom/recv_into/recvfrom_into for :class:`~stack.socket.socket.Socket`."""

    # provided by Socket
    _type: int
    _timeout_ns: int | None
    _check: Any
    _call: Any
    _uaddr: Any

    def _recv_flags(self, flags: int) -> int:
        """The kernel's flags for a receive: MSG_DONTWAIT when it will not wait (a non-blocking
        socket), as ``sock_recvmsg`` passes ``O_NONBLOCK`` on; blocking TCP waits for
        SO_RCVLOWAT.  ``MSG_OOB`` never waits (``tcp_recv_urg``)."""
        if flags & (MSG_DONTWAIT | MSG_OOB) or self._timeout_ns == 0:
            return flags | MSG_DONTWAIT
        return flags

    def _recv_op(
        self, bufsize: int, flags: int
    ) -> tuple[Callable[[], tuple[bytes, Any]], Callable[[], Any] | None]:
        """The retryable receive under every recv method: ``(op, on_timeout)``, where ``op()``
        gives ``(data, kernel address)``.

        ``MSG_WAITALL`` on a stream (``tcp_recvmsg_locked`` with ``target = len``): what
        arrives is taken as it comes, and the call returns once ``bufsize`` bytes are in, or
        earlier with what it has at end of stream, on an error (left pending, reported by
        the next call), on timeout, or at once when the call does not block.  With
        ``MSG_PEEK`` nothing is consumed: it waits until ``bufsize`` bytes are queued.
        It stops early at the urgent mark, as Linux's loop does (not across it in one call),
        peeking too: Linux's loop compares the mark with its peek position, so a
        ``MSG_PEEK | MSG_WAITALL`` that reached the mark with data in hand returns short.
        """
        kflags = self._recv_flags(flags)
        if not (kflags & MSG_WAITALL and self._type == SOCK_STREAM):
            # _check's test in line: a call saved per receive attempt (issue 18)
            return (
                lambda: (self.sk if self._fd >= 0 else self._check()).recvmsg(bufsize, kflags)
            ), None
        kflags &= ~MSG_WAITALL
        blocking = not flags & MSG_DONTWAIT and self._timeout_ns != 0
        peek = kflags & MSG_PEEK
        got: list[bytes] = []
        have = 0

        def op() -> tuple[bytes, Any]:
            nonlocal have
            sk = self._check()
            while have < bufsize:
                if have and sk.sk_err:  # Linux breaks out with what it copied
                    break
                if have and not peek and sk.ioctl(SIOCATMARK):
                    break  # at the urgent mark with data in hand
                try:
                    data = sk.recvmsg(bufsize if peek else bufsize - have, kflags)[0]
                except BlockingIOError:
                    if have and not blocking:
                        break
                    raise
                if not data:
                    break  # end of stream
                if peek:
                    got[:] = [data]
                    have = len(data)
                    if have < bufsize and sk.at_urgent_mark(have):
                        break  # the peek stopped at the urgent mark (tcp_recvmsg_locked)
                    if have < bufsize and not sk.sk_shutdown & RCV_SHUTDOWN and blocking:
                        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
                    break
                got.append(data)
                have += len(data)
            return b"".join(got), None

        def on_timeout() -> tuple[bytes, Any]:
            if not have:
                raise TimeoutError(TIMED_OUT)
            return b"".join(got), None

        return op, on_timeout

    def _receive(
        self, bufsize: int, flags: int, opname: str, deliver: Callable[[bytes, Any], Any] | None
    ) -> Any:
        """The result is ``deliver(data, addr)``; with ``deliver`` None the data alone
        (``recv``: no deliver call per receive, issue 18's calls per transaction)."""
        if flags & MSG_ERRQUEUE:  # the error queue: never waits (ip_recv_error)
            data, addr, _, _ = self._check().recvmsg_ctl(bufsize, flags & ~MSG_CMSG_CLOEXEC)
            return data if deliver is None else deliver(data, addr)
        op, partial = self._recv_op(bufsize, flags)
        wait_flags = flags | MSG_DONTWAIT if flags & MSG_OOB else flags
        if deliver is None:
            on_timeout = None if partial is None else (lambda: partial()[0])
            return self._call(lambda: op()[0], POLL_RECV, opname, wait_flags, on_timeout=on_timeout)
        on_timeout = None if partial is None else (lambda: deliver(*partial()))
        return self._call(
            lambda: deliver(*op()), POLL_RECV, opname, wait_flags, on_timeout=on_timeout
        )

    def recv(self, bufsize: int, flags: int = 0) -> Any:
        """Up to ``bufsize`` bytes; ``b""`` at end of stream, and at once for ``recv(0)``.

        With ``MSG_TRUNC`` the result has the length Linux returns (a stream: the bytes
        discarded; a datagram: its real length) and zero bytes stand for what was not copied.
        """
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._fd < 0:  # _check's test in line (issue 18)
            self._check()
        if bufsize == 0 and not flags & MSG_OOB:  # recv(0, MSG_OOB) consumes the urgent byte
            return b""
        return self._receive(bufsize, flags, "recv", None)

    def recvfrom(self, bufsize: int, flags: int = 0) -> Any:
        """-> ``(data, ("ip", port))``; the address is None on a connected stream, as on Linux."""
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        self._check()
        return self._receive(
            bufsize, flags, "recvfrom", lambda data, addr: (data, self._uaddr(addr))
        )

    def _into(self, view: memoryview, nbytes: int, flags: int) -> Callable[[bytes], int]:
        """Copy a result into ``view``; -> the count Linux returns (MSG_TRUNC: may exceed it)."""
        skip = flags & MSG_TRUNC and self._type == SOCK_STREAM  # discarded, not copied

        def deliver(data: bytes) -> int:
            if not skip:
                n = min(len(data), nbytes)
                view[:n] = data[:n]
            return len(data)

        return deliver

    @staticmethod
    def _writable(buffer: Any, method: str) -> memoryview:
        view = memoryview(buffer)
        if view.readonly:
            raise TypeError(
                f"{method}() argument 1 must be read-write bytes-like object, "
                f"not {type(buffer).__name__}"
            )
        return view.cast("B")

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> Any:
        """Receive into a writable buffer; -> number of bytes written."""
        view = self._writable(buffer, "recv_into")
        if nbytes < 0:
            raise ValueError("negative buffersize in recv_into")
        if nbytes == 0 or nbytes > len(view):
            if nbytes > len(view):
                raise ValueError("buffer too small for requested bytes")
            nbytes = len(view)
        self._check()
        if nbytes == 0:
            return 0
        into = self._into(view, nbytes, flags)
        return self._receive(nbytes, flags, "recv_into", lambda data, _addr: into(data))

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> Any:
        view = self._writable(buffer, "recvfrom_into")
        nbytes = nbytes or len(view)
        if nbytes > len(view):
            raise ValueError("nbytes is greater than the length of the buffer")
        self._check()
        into = self._into(view, nbytes, flags)
        return self._receive(
            nbytes, flags, "recvfrom_into", lambda data, addr: (into(data), self._uaddr(addr))
        )
