"""``socket.makefile``: file objects over an ixsim socket (CPython's ``socket.SocketIO``).

Mirrors CPython's ``Lib/socket.py`` (``makefile`` and the raw ``SocketIO``): the same modes
(``r``, ``w``, ``b`` and their mixes), buffering (``io.BufferedReader``/``BufferedWriter``/
``BufferedRWPair``, a ``TextIOWrapper`` for text), the same answers (a non-blocking socket's
EAGAIN reads as ``None``, a timed-out read poisons the object), and the same lifetime: closing
the socket while file objects are open only marks it, and the last file object's ``close``
closes it (``_io_refs``/``_decref_socketios``).

Reads and writes call the socket's ``recv_into``/``send``, which outside any task run the world
until they can complete, so ``f.readline()`` blocks in virtual time.  Inside a task a file
object cannot wait (``io`` has no awaitable reads): its I/O raises ``RuntimeError``; tasks use
``await sock.recv()``.
"""

from __future__ import annotations

import errno
import io
from typing import Any

_BLOCKING_ERRNOS = {errno.EAGAIN, errno.EWOULDBLOCK}


class SocketIO(io.RawIOBase):
    """Raw I/O over a socket (CPython's ``socket.SocketIO``)."""

    def __init__(self, sock: Any, mode: str) -> None:
        if mode not in ("r", "w", "rw", "rb", "wb", "rwb"):
            raise ValueError(f"invalid mode: {mode!r}")
        io.RawIOBase.__init__(self)
        self._sock = sock
        if "b" not in mode:
            mode += "b"
        self._mode = mode
        self._reading = "r" in mode
        self._writing = "w" in mode
        self._timeout_occurred = False

    def _in_task(self) -> None:
        if self._sock.sched.current_task is not None:
            raise RuntimeError("makefile() file objects block the world; inside a task use "
                               "await sock.recv() / sock.sendall()")

    def readinto(self, b: Any) -> int | None:  # type: ignore[override]
        self._checkClosed()  # type: ignore[attr-defined]
        self._checkReadable()  # type: ignore[attr-defined]
        if self._timeout_occurred:
            raise OSError("cannot read from timed out object")
        self._in_task()
        try:
            return int(self._sock.recv_into(b))
        except TimeoutError:
            self._timeout_occurred = True
            raise
        except OSError as exc:
            if exc.errno in _BLOCKING_ERRNOS:
                return None
            raise

    def write(self, b: Any) -> int | None:  # type: ignore[override]
        self._checkClosed()  # type: ignore[attr-defined]
        self._checkWritable()  # type: ignore[attr-defined]
        self._in_task()
        try:
            return int(self._sock.send(b))
        except OSError as exc:
            if exc.errno in _BLOCKING_ERRNOS:
                return None
            raise

    def readable(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed socket.")
        return self._reading

    def writable(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed socket.")
        return self._writing

    def seekable(self) -> bool:
        if self.closed:
            raise ValueError("I/O operation on closed socket.")
        return super().seekable()

    def fileno(self) -> int:
        self._checkClosed()  # type: ignore[attr-defined]
        return int(self._sock.fileno())

    @property
    def name(self) -> int:
        return self.fileno() if not self.closed else -1

    @property
    def mode(self) -> str:
        return self._mode

    def close(self) -> None:
        if self.closed:
            return
        io.RawIOBase.close(self)
        self._sock._decref_socketios()
        self._sock = None


def makefile(sock: Any, mode: str = "r", buffering: int | None = None, *,
             encoding: str | None = None, errors: str | None = None,
             newline: str | None = None) -> Any:
    """CPython's ``socket.makefile`` over ``sock``."""
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
    writing = "w" in mode
    reading = "r" in mode or not writing
    binary = "b" in mode
    rawmode = ("r" if reading else "") + ("w" if writing else "")
    raw = SocketIO(sock, rawmode)
    sock._io_refs += 1
    if buffering is None:
        buffering = -1
    if buffering < 0:
        buffering = io.DEFAULT_BUFFER_SIZE
    if buffering == 0:
        if not binary:
            raise ValueError("unbuffered streams must be binary")
        return raw
    buffer: Any
    if reading and writing:
        buffer = io.BufferedRWPair(raw, raw, buffering)
    elif reading:
        buffer = io.BufferedReader(raw, buffering)
    else:
        buffer = io.BufferedWriter(raw, buffering)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, io.text_encoding(encoding), errors, newline)
    text.mode = mode  # type: ignore[misc]
    return text
