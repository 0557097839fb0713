"""The send calls of a socket: send, sendall, sendto.

Mirrors Linux's ``sock_sendmsg`` (``net/socket.c``: a non-blocking file passes MSG_DONTWAIT
on, a shut-down or errored stream answers ``sk_stream_error``'s pending error or EPIPE) with
CPython's ``sock_send``/``sock_sendall``/``sock_sendto`` (``Modules/socketmodule.c``) argument
forms, as a mixin of :class:`stack.socket.socket.Socket` (it uses the Socket's ``_call``,
``_fd``, ``sk`` and address conversion), the twin of :mod:`stack.socket.recv`.
"""

from __future__ import annotations

import errno
from typing import Any

from stack.sock import SEND_SHUTDOWN, Sock, oserror
from stack.socket.file import ebadf
from stack.socket.wait import POLL_SEND
from stack.uapi import MSG_DONTWAIT, MSG_FASTOPEN


class SendOps:
    """send/sendall/sendto for :class:`~stack.socket.socket.Socket`."""

    # provided by Socket
    _fd: int
    sk: Any
    _call: Any
    _kaddr: Any

    def _send_check(self) -> Sock:
        if self._fd < 0:  # _check, inlined: twice per send (issue 18)
            raise ebadf()
        sk = self.sk
        if sk.sk_shutdown & SEND_SHUTDOWN:
            err = sk.sock_error() if sk.sk_err else 0  # sk_stream_error: the pending one first
            if err:
                raise oserror(err)
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        return sk

    def send(self, data: bytes | bytearray | memoryview, flags: int = 0) -> Any:
        """Queue what fits, at least one byte; -> count (a Future of it inside a task)."""
        self._send_check()
        payload = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        kflags = flags & ~MSG_DONTWAIT

        def op() -> int:
            return self._send_check().sendmsg(payload, kflags)

        return self._call(op, POLL_SEND, "send", flags)

    def sendall(self, data: bytes | bytearray | memoryview, flags: int = 0) -> Any:
        """Queue everything, waiting for room as needed; -> None (a Future inside a task)."""
        self._send_check()
        view = memoryview(data).cast("B")
        total = len(view)
        kflags = flags & ~MSG_DONTWAIT
        sent = 0

        def op() -> None:
            nonlocal sent
            sk = self._send_check()
            while sent < total:
                sent += sk.sendmsg(view[sent:], kflags)  # BlockingIOError once it is full
            return None

        return self._call(op, POLL_SEND, "sendall", flags)

    def sendto(
        self, data: bytes | bytearray | memoryview, flags_or_addr: Any, address: Any = None
    ) -> Any:
        """``sendto(data, address)`` or ``sendto(data, flags, address)``."""
        if address is None:
            flags, address = 0, flags_or_addr
        else:
            flags = flags_or_addr
        dest = self._kaddr(address, "sendto()")
        self._send_check()
        payload = data if isinstance(data, bytes) else bytes(data)
        kflags = flags & ~MSG_DONTWAIT

        def op() -> int:
            nonlocal kflags
            try:
                return self._send_check().sendmsg(payload, kflags, dest)
            except BlockingIOError:
                kflags &= ~MSG_FASTOPEN  # the SYN is out: a retry waits for the handshake
                raise

        return self._call(op, POLL_SEND, "sendto", flags)
