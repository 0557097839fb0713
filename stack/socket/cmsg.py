"""Control-message framing for recvmsg/sendmsg: Linux's ``put_cmsg`` and ``CMSG_*`` rules.

Mirrors ``net/core/scm.c`` (``put_cmsg``) and ``include/linux/socket.h`` (``CMSG_ALIGN``,
``CMSG_LEN``, ``CMSG_SPACE``) on x86-64, where a ``struct cmsghdr`` is 16 bytes and data is
aligned to 8; :func:`CMSG_LEN` and :func:`CMSG_SPACE` give what CPython's
``socket.CMSG_LEN``/``socket.CMSG_SPACE`` give on this machine.

The kernel side hands the socket layer a list of ``(level, type, data)`` cmsgs
(stack/ipv4/sockglue.py); :func:`put_cmsgs` lays them into a control buffer of the user's
``ancbufsize`` as ``put_cmsg`` does: a cmsg whose ``CMSG_LEN`` does not fit is cut to what
is left (its data truncated, possibly to nothing) and sets MSG_CTRUNC; once less than a
header is left, every further cmsg is dropped with MSG_CTRUNC.  What CPython's ``recvmsg``
then decodes from such a buffer is what :func:`put_cmsgs` returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stack.uapi import MSG_CTRUNC

CMSG_HDR_LEN = 16  # sizeof(struct cmsghdr): size_t cmsg_len, int cmsg_level, int cmsg_type
_ALIGN = 8  # sizeof(long)
CMSG_MAX = 0x7FFFFFFF  # CPython refuses lengths whose CMSG_SPACE overflows a socklen_t

Cmsg = tuple[int, int, bytes]


def CMSG_ALIGN(length: int) -> int:  # noqa: N802 - the C macro's name
    return (length + _ALIGN - 1) & ~(_ALIGN - 1)


def _check_length(length: int, name: str) -> None:
    if not isinstance(length, int) or isinstance(length, bool):
        raise TypeError(f"'{type(length).__name__}' object cannot be interpreted as an integer")
    if length < 0 or CMSG_HDR_LEN + CMSG_ALIGN(length) > CMSG_MAX:
        raise OverflowError(f"{name}() argument out of range")


def CMSG_LEN(length: int) -> int:  # noqa: N802 - CPython's and the C macro's name
    """The ``cmsg_len`` of a control message with ``length`` bytes of data."""
    _check_length(length, "CMSG_LEN")
    return CMSG_HDR_LEN + length


def CMSG_SPACE(length: int) -> int:  # noqa: N802 - CPython's and the C macro's name
    """The buffer space one control message with ``length`` bytes of data takes."""
    _check_length(length, "CMSG_SPACE")
    return CMSG_HDR_LEN + CMSG_ALIGN(length)


def put_cmsgs(cmsgs: Iterable[Cmsg], controllen: int) -> tuple[list[Cmsg], int]:
    """``put_cmsg`` for each cmsg into ``controllen`` bytes: -> ``(cmsgs as CPython decodes
    them, MSG_CTRUNC or 0)``."""
    out: list[Cmsg] = []
    flags = 0
    room = controllen
    for level, ctype, data in cmsgs:
        if room < CMSG_HDR_LEN:
            flags |= MSG_CTRUNC
            continue
        cmlen = CMSG_HDR_LEN + len(data)
        if room < cmlen:
            flags |= MSG_CTRUNC
            cmlen = room
        out.append((level, ctype, bytes(data[: cmlen - CMSG_HDR_LEN])))
        room -= min(CMSG_HDR_LEN + CMSG_ALIGN(len(data)), room)
    return out, flags


def user_ancdata(ancdata: Any) -> list[Cmsg]:
    """sendmsg's ``ancdata`` checked as CPython checks it: an iterable of
    ``(level, type, bytes-like)`` tuples."""
    out: list[Cmsg] = []
    for item in ancdata:
        if not isinstance(item, tuple) or len(item) != 3:
            raise TypeError("[sendmsg() ancillary data items]() argument must be sequence "
                            "of length 3")
        level, ctype, data = item
        for value in (level, ctype):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an "
                                "integer")
        try:
            raw = bytes(memoryview(data))
        except TypeError:
            raise TypeError("a bytes-like object is required, not "
                            f"'{type(data).__name__}'") from None
        out.append((level, ctype, raw))
    return out
