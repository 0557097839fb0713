"""The message calls of a socket: recvmsg, recvmsg_into, sendmsg, sendfile, makefile.

Mirrors Linux's ``___sys_recvmsg``/``___sys_sendmsg`` (``net/socket.c``) and CPython's
``sock_recvmsg``/``sock_recvmsg_into``/``sock_sendmsg`` (``Modules/socketmodule.c``) and
``socket.sendfile``/``socket.makefile`` (``Lib/socket.py``), as a mixin of
:class:`stack.socket.socket.Socket` (it uses the Socket's ``_call``, ``_recv_op``, address and
state checks).  Ancillary data is framed by :mod:`stack.socket.cmsg` from what the kernel
Sock's ``recvmsg_ctl`` gives, and handed to its ``sendmsg_ctl``; MSG_ERRQUEUE never waits;
MSG_CMSG_CLOEXEC is accepted and echoed in msg_flags, as Linux does with no fds to pass.
"""

from __future__ import annotations

from typing import Any

from stack.socket.cmsg import put_cmsgs, user_ancdata
from stack.socket.sockio import makefile
from stack.socket.wait import POLL_RECV, POLL_SEND, TIMED_OUT
from stack.uapi import MSG_CMSG_CLOEXEC, MSG_DONTWAIT, MSG_ERRQUEUE, MSG_TRUNC, SOCK_STREAM


class MsgOps:
    """recvmsg/sendmsg/sendfile/makefile for :class:`~stack.socket.socket.Socket`."""

    # provided by Socket
    _type: int
    _timeout_ns: int | None
    sk: Any
    _check: Any
    _call: Any
    _recv_op: Any
    _recv_flags: Any
    _uaddr: Any
    _kaddr: Any
    _send_check: Any
    _writable: Any

    def _recvmsg(self, bufsize: int, ancbufsize: int, flags: int, opname: str,
                 deliver: Any) -> Any:
        """The one path of recvmsg and recvmsg_into: ``(deliver(data), ancdata, msg_flags,
        address)``, ancillary data framed for ``ancbufsize`` bytes as ``put_cmsg`` does."""
        if ancbufsize < 0:
            raise ValueError("invalid ancillary data buffer length")
        self._check()
        echo = flags & MSG_CMSG_CLOEXEC  # accepted and echoed in msg_flags, as Linux does
        flags &= ~MSG_CMSG_CLOEXEC

        def finish(result: tuple[bytes, Any, int, list[tuple[int, int, bytes]]]) -> Any:
            data, addr, msg_flags, cmsgs = result
            ancdata, ctrunc = put_cmsgs(cmsgs, ancbufsize)
            return deliver(data), ancdata, msg_flags | ctrunc | echo, self._uaddr(addr)

        if flags & MSG_ERRQUEUE:  # never waits
            return finish(self.sk.recvmsg_ctl(bufsize, flags))
        if self._type == SOCK_STREAM:  # no ancillary data; MSG_WAITALL as recv does
            op, partial = self._recv_op(bufsize, flags)
            on_timeout = None if partial is None else (
                lambda: finish((*partial(), 0, [])))
            return self._call(lambda: finish((*op(), 0, [])), POLL_RECV, opname, flags,
                              on_timeout=on_timeout)
        kflags = self._recv_flags(flags)
        return self._call(lambda: finish(self._check().recvmsg_ctl(bufsize, kflags)),
                          POLL_RECV, opname, flags)

    def recvmsg(self, bufsize: int, ancbufsize: int = 0, flags: int = 0) -> Any:
        """-> ``(data, ancdata, msg_flags, address)`` as CPython's: ``ancdata`` a list of
        ``(level, type, bytes)``, msg_flags with MSG_TRUNC/MSG_CTRUNC/MSG_ERRQUEUE as Linux
        sets them, ``address`` None on a connected stream.  A Future of it inside a task."""
        if bufsize < 0:
            raise ValueError("negative buffer size in recvmsg()")
        return self._recvmsg(bufsize, ancbufsize, flags, "recvmsg", lambda data: data)

    def recvmsg_into(self, buffers: Any, ancbufsize: int = 0, flags: int = 0) -> Any:
        """-> ``(nbytes, ancdata, msg_flags, address)``, scattering into writable buffers."""
        try:
            views = [self._writable(b, "recvmsg_into") for b in buffers]
        except TypeError as exc:
            if "read-write" in str(exc):
                raise
            raise TypeError("recvmsg_into() argument 1 must be an iterable") from None
        total = sum(len(v) for v in views)
        skip = flags & MSG_TRUNC and self._type == SOCK_STREAM

        def scatter(data: bytes) -> int:
            if not skip:
                at = 0
                for view in views:
                    n = min(len(view), len(data) - at)
                    if n <= 0:
                        break
                    view[:n] = data[at:at + n]
                    at += n
            return len(data)

        return self._recvmsg(total, ancbufsize, flags, "recvmsg_into", scatter)

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0,
                address: Any = None) -> Any:
        """``sendmsg(buffers[, ancdata[, flags[, address]]])`` -> bytes sent; ``ancdata``
        ``(level, type, bytes)`` tuples (UDP: IP_PKTINFO, IP_TTL, IP_TOS)."""
        try:
            payload = b"".join(memoryview(b).cast("B") for b in buffers)
        except TypeError:
            raise TypeError("sendmsg() argument 1 must be an iterable") from None
        anc = user_ancdata(ancdata)
        dest = self._kaddr(address, "sendmsg()") if address is not None else None
        self._send_check()
        kflags = flags & ~MSG_DONTWAIT

        def op() -> int:
            sk = self._send_check()
            if anc:
                return sk.sendmsg_ctl(payload, kflags, dest, anc)
            return sk.sendmsg(payload, kflags, dest) if dest is not None else \
                sk.sendmsg(payload, kflags)

        return self._call(op, POLL_SEND, "sendmsg", flags, target=dest)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> Any:
        """CPython's ``socket.sendfile``: send ``file`` (a binary file object, or bytes) from
        ``offset``, ``count`` bytes or to the end; -> bytes sent, and the file's position is
        left after them.  A Future of it inside a task."""
        if self._type != SOCK_STREAM:
            raise ValueError("only SOCK_STREAM type sockets are supported")
        if self._timeout_ns == 0:
            raise ValueError("non-blocking sockets are not supported")
        if isinstance(file, bytes | bytearray | memoryview):
            whole = memoryview(file).cast("B")
            is_file = False
        else:
            if "b" not in getattr(file, "mode", "b"):
                raise ValueError("file should be opened in binary mode")
            whole = None
            is_file = True
        if count is not None:
            if not isinstance(count, int):
                raise TypeError(f"count must be a positive integer (got {count!r})")
            if count <= 0:
                raise ValueError(f"count must be a positive integer (got {count!r})")
        if is_file:
            file.seek(offset)
            data = memoryview(file.read() if count is None else file.read(count)).cast("B")
        else:
            assert whole is not None
            data = whole[offset:] if count is None else whole[offset:offset + count]
        total = len(data)
        sent = 0

        def settle() -> None:
            if is_file and sent:
                file.seek(offset + sent)

        def op() -> int:
            nonlocal sent
            sk = self._send_check()
            try:
                while sent < total:
                    sent += sk.sendmsg(data[sent:], 0)
            except BlockingIOError:
                raise
            except BaseException:
                settle()
                raise
            settle()
            return sent

        def on_timeout() -> int:
            settle()
            raise TimeoutError(TIMED_OUT)

        return self._call(op, POLL_SEND, "sendfile", on_timeout=on_timeout)

    def makefile(self, mode: str = "r", buffering: int | None = None, *,
                 encoding: str | None = None, errors: str | None = None,
                 newline: str | None = None) -> Any:
        """A file object over the socket, as CPython's ``makefile`` (modes r, w, b and their
        mixes; ``buffering`` as ``open``); its reads and writes block in virtual time."""
        return makefile(self, mode, buffering, encoding=encoding, errors=errors,
                        newline=newline)
