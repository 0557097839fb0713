"""The BSD socket API over a kernel Sock, in the shape of Python's ``socket.socket``.

Mirrors Linux's ``net/socket.c`` + ``net/ipv4/af_inet.c`` (``inet_create`` choosing the
protocol from ``inetsw``, ``inet_stream_connect``, ``inet_accept``, ``inet_sendmsg``,
``inet_recvmsg``) and CPython's ``Modules/socketmodule.c`` (method names, argument checks,
timeouts).  Contract (docs/stack-architecture.md, docs/design.md "The user's surface"):

* Same method names and semantics as ``socket.socket``; errors are ``OSError`` subclasses with
  stdlib errno values; addresses are ``("10.0.0.1", 7)`` at the API and ``(4-byte bytes,
  port)`` towards the Sock.
* Blocking sockets (``settimeout(None)``, the default, or a positive timeout): outside any
  task a call runs the world until it can complete (``stack.socket.wait.block``); inside a
  task (``sched.current_task``) the same call returns an awaitable ``Future``
  (``stack.socket.wait.task_wait``), so ``data = await conn.recv(5)`` works in ``async def``.
* Non-blocking sockets (``setblocking(False)``, ``SOCK_NONBLOCK``, ``MSG_DONTWAIT``) never
  wait and never return a Future: they return or raise ``BlockingIOError`` synchronously,
  inside tasks too - the shape an epoll loop is written in.
* Calls that never sleep (bind, listen, shutdown, close, options, names) are synchronous.
* There is no SIGPIPE: sending after ``shutdown(SHUT_WR)`` raises ``BrokenPipeError``.
* A socket has a per-host "fd" (``fileno()``, :mod:`stack.socket.fdtable`), not an OS fd.
  ``dup()`` gives a second fd on the same open file (:class:`SockFile`): the socket stays open
  until the last one closes, as Linux's ``__fput``; ``detach()`` leaves the fd open with no
  object, and ``socket_create(net, fileno=fd)`` adopts it.
* A ``Socket`` nobody references any more is closed when CPython frees it (``__del__``), as
  ``socket.socket`` is: the fd is released and the protocol closes (a TCP peer sees the FIN)
  at the moment the last reference goes, which reference counting makes deterministic.  A
  socket caught in a reference cycle is closed only when the cycle collector runs: close
  sockets explicitly when the packet sequence matters.  SO_LINGER does not make such a close
  wait (there is nobody to block).
* ``recvmsg``/``recvmsg_into``/``sendmsg`` (:mod:`stack.socket.msg`) carry ancillary data with
  CPython's signatures and tuples (:mod:`stack.socket.cmsg` frames it; the kernel side is
  ``Sock.recvmsg_ctl`` / ``sendmsg_ctl``); MSG_ERRQUEUE reads the error queue and never
  blocks; MSG_CMSG_CLOEXEC is accepted and only echoed in msg_flags, as Linux does without
  fds to pass.
* ``sendfile`` and ``makefile`` (:mod:`stack.socket.sockio`) follow CPython's; makefile's file
  objects block the world in virtual time and cannot be used inside a task.
* ``getsockopt(IPPROTO_TCP, TCP_INFO)`` without a length is an int (the first 4 bytes of
  ``struct tcp_info``), as CPython returns; the decoded ``TcpInfo`` is :func:`tcp_info`.
"""

from __future__ import annotations

import errno
import operator
import os
from collections.abc import Callable
from typing import Any

from stack.core.units import NS_PER_S
from stack.ipv6.sockglue import ipv6_addr_needs_scope_id
from stack.sock import Sock
from stack.socket.addr import format_endpoint, sockaddr_in, sockaddr_in6, to_user, to_user6
from stack.socket.fdtable import fdtable_of
from stack.socket.file import SockFile, ebadf, fput, sched_of, sock_release
from stack.socket.msg import MsgOps
from stack.socket.recv import RecvOps
from stack.socket.send import SendOps
from stack.socket.sockopt import (
    sock_getsockopt,
    sock_setsockopt,
    user_bytes,
    user_int,
    user_value,
)
from stack.socket.wait import (
    POLL_ACCEPT,
    POLL_CONNECT,
    Describe,
    block,
    task_wait,
)
from stack.uapi import (
    AF_INET,
    AF_INET6,
    AF_PACKET,
    IPPROTO_TCP,
    MSG_DONTWAIT,
    SIOCATMARK,
    SO_LINGER,
    SO_PROTOCOL,
    SO_TYPE,
    SOL_SOCKET,
    TCP_INFO,
)

DEFAULT_BACKLOG = 128  # CPython's listen() default: min(SOMAXCONN, 128)


class Socket(RecvOps, SendOps, MsgOps):
    """One user-side socket (``struct socket`` + ``struct file``) over a kernel :class:`Sock`."""

    def __init__(
        self,
        net: Any,
        sk: Sock,
        type: int | None = None,
        proto: int | None = None,
        family: int = AF_INET,
        file: SockFile | None = None,
        fd: int | None = None,
    ) -> None:
        self._fd = -1
        self.net = net
        self.sk = sk
        self._family = family
        self._type = type if type is not None else sk.type
        self._proto = proto if proto is not None else sk.protocol
        self.sched = sched_of(net)
        self._timeout_ns: int | None = None
        self._timeout_s: float | None = None
        self._inheritable = False  # the fd's FD_CLOEXEC, inverted (Python's default: off)
        self._io_refs = 0  # open makefile() objects, which keep the socket open (CPython's)
        self._closed = False
        self._file = file if file is not None else SockFile(sk)
        self.on_close = self._file.on_close  # epoll's eventpoll_release hooks
        self._connect_errno = errno.EINPROGRESS  # what this call's connect attempt said
        self._fdtable = fdtable_of(net)
        if fd is None:
            self._fd = self._fdtable.install(self, weak=True)
        else:
            self._fdtable.hold(fd, self, weak=True)
            self._fd = fd

    @property
    def _listening(self) -> bool:
        return self._file.listening

    @property
    def file(self) -> SockFile:
        """The open file this fd refers to (shared with ``dup()`` copies)."""
        return self._file

    # -- identity ----------------------------------------------------------------------
    @property
    def family(self) -> int:
        return self._family

    def _kaddr(self, address: Any, what: str) -> Any:
        """The user's address in the kernel's form (AF_PACKET tuples pass through; AF_INET6:
        ``(16-byte addr, port, flowinfo, scope_id)``, a ``%name`` scope looked up)."""
        if self._family == AF_PACKET:
            return tuple(address)
        if self._family == AF_INET6:
            addr, port, flowinfo, scope = sockaddr_in6(address, what)
            if isinstance(scope, str):
                dev = self.net.kernel.dev_get_by_name(scope)
                if dev is None:
                    raise OSError(errno.EINVAL, f"no interface {scope!r} for the scope id")
                scope = dev.ifindex
            return addr, port, flowinfo, scope
        return sockaddr_in(address, what)

    def _uaddr(self, addr: Any) -> Any:
        if self._family == AF_PACKET:
            return addr
        if self._family == AF_INET6:
            return to_user6(addr, self._scope_id(addr))
        return to_user(addr)

    def _scope_id(self, addr: Any) -> int:
        """``ipv6_iface_scope_id``: a link-local address's interface is the socket's."""
        if addr is None or len(addr) > 2 or len(addr[0] or b"") != 16:
            return 0
        dev = self.sk.bound_dev_if
        return dev.ifindex if dev is not None and ipv6_addr_needs_scope_id(addr[0]) else 0

    @property
    def type(self) -> int:
        return self._type

    @property
    def proto(self) -> int:
        return self._proto

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        """The host-local fd number (-1 once closed), usable with this host's epolls."""
        return self._fd

    def _check(self) -> Sock:
        if self._fd < 0:
            raise ebadf()
        return self.sk

    def poll(self) -> int:
        """The Sock's current EPOLL* readiness mask (not in Python's API; handy in tests)."""
        return self._check().poll()

    # -- timeouts ----------------------------------------------------------------------
    def settimeout(self, value: float | None) -> None:
        """As CPython's: the value is kept, then a closed socket is EBADF (its
        ``internal_setblocking`` fails on the fd)."""
        if value is None:
            self._timeout_s, self._timeout_ns = None, None
        else:
            seconds = float(value if isinstance(value, float) else operator.index(value))
            if seconds < 0 or seconds != seconds:
                raise ValueError("Timeout value out of range")
            self._timeout_s, self._timeout_ns = seconds, round(seconds * NS_PER_S)
        if self._fd < 0:
            raise ebadf()

    def gettimeout(self) -> float | None:
        return self._timeout_s

    @property
    def timeout(self) -> float | None:
        """The timeout in seconds (None: blocking), as ``socket.socket.timeout``."""
        return self._timeout_s

    def get_inheritable(self) -> bool:
        """The fd's inheritable flag (not FD_CLOEXEC).  Kept and reported as Linux keeps it;
        ixsim has no exec for it to act on."""
        self._check()
        return self._inheritable

    def set_inheritable(self, inheritable: bool) -> None:
        self._check()
        self._inheritable = bool(inheritable)

    def setblocking(self, flag: bool) -> None:
        self.settimeout(None if flag else 0.0)

    def getblocking(self) -> bool:
        return self._timeout_ns != 0

    # -- the one path for calls that may sleep ------------------------------------------
    def _call(
        self,
        op: Callable[[], Any],
        wanted: int,
        opname: str,
        flags: int = 0,
        on_timeout: Callable[[], Any] | None = None,
        target: tuple[bytes, int] | None = None,
    ) -> Any:
        timeout = 0 if flags & MSG_DONTWAIT else self._timeout_ns
        if timeout == 0:
            return op()
        sk = self.sk
        # blocking mode: the kernel's SO_RCVTIMEO/SO_SNDTIMEO apply (neither set: nothing to
        # look up, and no call per send or receive, issue 18)
        if timeout is None and (sk.sndtimeo is not None or sk.rcvtimeo is not None):
            timeout, on_timeout = self._kernel_timeout(op, opname, on_timeout)
            if timeout == 0:
                return op()
        sched = self.sched
        if sched.current_task is not None:
            return task_wait(sched, self.sk, op, wanted, timeout, on_timeout)
        return block(
            sched,
            self.sk,
            op,
            wanted,
            timeout,
            Describe(lambda: self.describe(opname, target)),
            on_timeout,
        )

    def _kernel_timeout(
        self, op: Callable[[], Any], opname: str, on_timeout: Callable[[], Any] | None
    ) -> tuple[int | None, Callable[[], Any] | None]:
        """SO_RCVTIMEO (receives, accept) or SO_SNDTIMEO (sends, connect) of a socket in
        blocking mode, and what its expiry raises: EAGAIN; for connect the errno its first
        attempt gave, EINPROGRESS, or EALREADY when another call had started the handshake
        (``sock_rcvtimeo``/``sock_sndtimeo`` and ``__inet_stream_connect``); a MSG_WAITALL
        receive that has data returns it (``on_timeout``), as Linux returns what it copied."""
        sk = self.sk
        sending = opname.startswith(("send", "connect"))
        timeo = sk.sndtimeo if sending else sk.rcvtimeo
        if timeo is None:
            return None, on_timeout

        def expired() -> Any:
            code = self._connect_errno if opname == "connect" else errno.EAGAIN
            if opname == "connect":
                if on_timeout is not None:
                    return code  # connect_ex returns the errno
            elif on_timeout is not None:
                try:
                    return on_timeout()
                except TimeoutError:
                    pass
            raise BlockingIOError(code, os.strerror(code))

        return timeo, expired

    def describe(self, opname: str, target: tuple[bytes, int] | None = None) -> str:
        """``recv on 10.0.0.2:7 <- 10.0.0.1:40000 (host b, fd 4)``, for Deadlock messages."""
        sk = self.sk
        try:
            local = format_endpoint(sk.getsockname())
        except OSError:
            local = "*:*"
        peer: str | None = format_endpoint(target) if target is not None else None
        if peer is None:
            try:
                peer = format_endpoint(sk.getpeername())
            except OSError:
                peer = None
        arrow = "<-" if opname.startswith(("recv", "accept")) else "->"
        where = f"{local} {arrow} {peer}" if peer else local
        kernel = getattr(self.net, "kernel", None)
        host = getattr(kernel, "hostname", None) or getattr(self.net, "hostname", None)
        context = f"host {host}, fd {self._fd}" if host else f"fd {self._fd}"
        return f"{opname} on {where} ({context})"

    # -- connection setup --------------------------------------------------------------
    def bind(self, address: tuple[str, int]) -> None:
        kaddr = self._kaddr(address, "bind()")
        if self._family == AF_INET6:
            self._check().bind(*kaddr)
        else:
            self._check().bind(*kaddr[:2])

    def listen(self, backlog: int = DEFAULT_BACKLOG) -> None:
        self._check().listen(max(int(backlog), 0))
        self._file.listening = True

    def accept(self) -> Any:
        """-> ``(Socket, ("ip", port))``; a Future of it inside a task."""
        sk = self._check()

        def op() -> tuple[Socket, tuple[str, int] | None]:
            self._check()
            conn = Socket(self.net, sk.accept(), self._type, self._proto, self._family)
            return conn, conn._uaddr(conn.sk.getpeername())

        return self._call(op, POLL_ACCEPT, "accept")

    def _connect_op(self, addr: bytes, port: int, *scope: int) -> Callable[[], None]:
        sk = self._check()
        started = False

        def op() -> None:
            nonlocal started
            self._check()
            if not started:
                started = True
                try:
                    sk.connect(addr, port, *scope)  # BlockingIOError: EINPROGRESS, EALREADY
                except BlockingIOError as exc:
                    self._connect_errno = exc.errno or errno.EINPROGRESS
                    raise
                return None
            sk.connect_check()  # woken: BlockingIOError until the handshake has an outcome
            return None

        return op

    def connect(self, address: tuple[str, int]) -> Any:
        """Blocking: until established or refused. Non-blocking: BlockingIOError(EINPROGRESS)."""
        dest = self._kaddr(address, "connect()")
        return self._call(self._connect_op(*dest), POLL_CONNECT, "connect", target=dest)

    def connect_ex(self, address: tuple[str, int]) -> Any:
        """``connect`` returning an errno (0 on success, EAGAIN on timeout) instead of raising."""
        dest = self._kaddr(address, "connect()")
        connect = self._connect_op(*dest)

        def op() -> int:
            try:
                connect()
            except BlockingIOError as exc:
                if self._timeout_ns != 0:
                    raise
                return exc.errno or errno.EAGAIN
            except OSError as exc:
                return exc.errno or errno.EIO
            return 0

        return self._call(op, POLL_CONNECT, "connect", on_timeout=lambda: errno.EAGAIN, target=dest)

    # -- ioctl ------------------------------------------------------------------------
    def ioctl(self, request: int) -> int:
        """``ioctl(fd, request, &value)`` for the socket ioctls Linux answers with an int:
        -> that int.  TCP: SIOCINQ/FIONREAD (bytes readable, up to the urgent mark),
        SIOCOUTQ (unacknowledged), SIOCOUTQNSD (unsent), SIOCATMARK; EINVAL for the queue
        sizes of a listener; ENOTTY for any other request, and from other protocols.

        Not in Python's ``socket`` on Linux, where one writes
        ``struct.unpack("i", fcntl.ioctl(sock, SIOCATMARK, bytes(4)))[0]``.
        """
        return self._check().ioctl(request)

    def sockatmark(self) -> int:
        """POSIX ``sockatmark()``: 1 when the next byte to read is the urgent mark, else 0
        (SIOCATMARK)."""
        return self.ioctl(SIOCATMARK)

    # -- teardown ----------------------------------------------------------------------
    def shutdown(self, how: int) -> None:
        if how not in (0, 1, 2):
            raise OSError(errno.EINVAL, "Invalid argument")
        self._check().shutdown(how)

    def close(self) -> Any:
        """Release the fd and the Sock; closing twice is harmless, as in Python.

        With SO_LINGER on and a positive ``l_linger``, a stream socket whose FIN is still
        unacknowledged waits for the ACK up to ``l_linger`` seconds (``inet_release`` ->
        ``sk_stream_wait_close``), blocking or not, as Linux does; when the time passes the
        close returns and the connection finishes on its own (no RST: that is BSD's and
        ``l_linger=0``'s).  Inside a task it then returns an awaitable Future.
        """
        if self._fd < 0:
            return None
        self._closed = True
        if self._io_refs > 0:  # CPython: the real close waits for the last makefile() object
            return None
        fd, self._fd = self._fd, -1
        file = self._file
        file.refs -= 1
        if file.refs:  # another fd (dup) still has the file open
            self._fdtable.release(fd)
            return None
        fput(file)
        self._fdtable.release(fd)
        sk = self.sk
        onoff, seconds = sk.options.get((SOL_SOCKET, SO_LINGER), (0, 0))
        sock_release(sk)
        if onoff and seconds > 0 and sk.closing():
            return self._linger(sk, seconds * NS_PER_S)
        return None

    def _decref_socketios(self) -> None:
        """A makefile() object closed (CPython's): close for real if close() was called."""
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def __del__(self) -> None:
        """Freed while open: close, as CPython's socket finalizer does (without lingering)."""
        fd = getattr(self, "_fd", -1)
        if fd < 0:
            return
        self._fd = -1
        file = self._file
        file.refs -= 1
        try:
            self._fdtable.release(fd)
        except OSError:
            pass
        if not file.refs:
            try:
                fput(file)
                sock_release(file.sk)
            except Exception:  # noqa: BLE001 - a finalizer must not raise (interpreter exit)
                pass

    def detach(self) -> int:
        """Close this object without closing the fd; -> the fd (-1 when already closed).
        ``socket_create(net, fileno=fd)`` makes a socket of it again."""
        fd = self._fd
        if fd < 0:
            return -1
        self._fd = -1
        self._fdtable.hold(fd, self)  # held strongly: the fd stays open with no user object
        return fd

    def dup(self) -> Socket:
        """A new socket object on a new fd sharing this open file (``dup(2)``): closing one
        leaves the other working; the timeout is copied, as CPython's ``dup`` does."""
        sk = self._check()
        self._file.refs += 1
        new = Socket(self.net, sk, self._type, self._proto, self._family, file=self._file)
        new._timeout_s, new._timeout_ns = self._timeout_s, self._timeout_ns
        return new

    def _linger(self, sk: Sock, timeout_ns: int) -> Any:
        """``sk_stream_wait_close``: sleep until the FIN is acknowledged or the time is up."""

        def op() -> None:
            if sk.closing():
                raise BlockingIOError(errno.EAGAIN, "lingering")

        sched = self.sched
        if sched.current_task is not None:
            return task_wait(sched, sk, op, ~0, timeout_ns, lambda: None)
        return block(
            sched, sk, op, ~0, timeout_ns, Describe(lambda: self.describe("close")), lambda: None
        )

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- names and options --------------------------------------------------------------
    def getsockname(self) -> tuple[str, int]:
        if self._family == AF_PACKET:
            return self._check().getsockname()
        if self._family == AF_INET6:
            return self._uaddr(self._check().getsockname()) or ("::", 0, 0, 0)
        return to_user(self._check().getsockname()) or ("0.0.0.0", 0)

    def getpeername(self) -> tuple[str, int]:
        peer = self._uaddr(self._check().getpeername())
        if peer is None:
            raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")
        return peer

    def setsockopt(self, level: int, optname: int, value: Any) -> None:
        sk = self._check()
        kvalue = user_value(level, optname, value)
        if level == SOL_SOCKET:
            sock_setsockopt(sk, optname, kvalue)
        else:
            sk.setsockopt(level, optname, kvalue)

    def getsockopt(self, level: int, optname: int, buflen: int | None = None) -> Any:
        """The option's value; raw bytes when ``buflen`` is given, as in Python (CPython's
        ``sock_getsockopt`` takes a ``buflen`` of 0 as none given: the int form).

        Without ``buflen``: ints for int options, SO_LINGER's ``l_onoff`` and TCP_INFO's first
        4 bytes as an int (as CPython decodes them), and the algorithm's name (``str``) for
        TCP_CONGESTION.  The decoded TCP_INFO is :func:`tcp_info`.
        """
        sk = self._check()
        if level == SOL_SOCKET and optname == SO_TYPE:
            value = self._type
        elif level == SOL_SOCKET and optname == SO_PROTOCOL:
            value = sk.protocol  # the protocol chosen, even when created with 0
        elif level == SOL_SOCKET:
            value = sock_getsockopt(sk, optname, self._listening)
        else:
            value = sk.getsockopt(level, optname)
        if buflen:
            return user_bytes(level, optname, value, buflen)
        return user_int(level, optname, value)

    def __repr__(self) -> str:
        if self._fd < 0:
            return f"<ixsim socket [closed] fd=-1, family={self._family}, type={self.type}>"
        parts = [
            f"fd={self._fd}",
            f"family={self._family}",
            f"type={self.type}",
            f"proto={self.proto}",
        ]
        try:
            parts.append(f"laddr={self.getsockname()}")
        except OSError:
            pass
        try:
            parts.append(f"raddr={self.getpeername()}")
        except OSError:
            pass
        return f"<ixsim socket {', '.join(parts)}>"


def tcp_info(sock: Socket) -> Any:
    """The decoded ``struct tcp_info`` of a TCP socket (:class:`stack.tcp.info.TcpInfo`):
    what ``getsockopt(IPPROTO_TCP, TCP_INFO, 256)`` returns, with named fields."""
    return sock._check().getsockopt(IPPROTO_TCP, TCP_INFO)
