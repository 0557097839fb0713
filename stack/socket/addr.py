"""AF_INET addresses at the API edge: dotted strings for users, 4-byte ``bytes`` for the kernel.

Mirrors the checks of Linux's ``inet_bind``/``inet_stream_connect`` address handling and of
CPython's ``getsockaddrarg`` for AF_INET: a ``(host, port)`` tuple, port 0..65535 (else
``OverflowError``, as CPython raises), host a dotted quad, ``""`` for INADDR_ANY and
``"<broadcast>"`` for INADDR_BROADCAST.  There is no resolver: ``"localhost"`` is the only
name understood (127.0.0.1); any other name is ``OSError(EINVAL)`` rather than a DNS lookup.
Conversions are cached; addresses repeat on every call of a server loop.
"""

from __future__ import annotations

import errno
from functools import lru_cache
from typing import Any

ANY = b"\x00\x00\x00\x00"
BROADCAST = b"\xff\xff\xff\xff"
LOOPBACK = b"\x7f\x00\x00\x01"
_NAMES = {"": ANY, "<broadcast>": BROADCAST, "localhost": LOOPBACK}


@lru_cache(maxsize=4096)
def inet_aton(text: str) -> bytes:
    """``"10.0.0.1"`` -> ``b"\\n\\x00\\x00\\x01"`` (strict dotted quad, or a known name)."""
    named = _NAMES.get(text)
    if named is not None:
        return named
    parts = text.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        octets = [int(p) for p in parts]
        if all(o <= 255 for o in octets):
            return bytes(octets)
    raise OSError(errno.EINVAL, f"not an IPv4 address: {text!r} (ixsim has no resolver)")


@lru_cache(maxsize=4096)
def inet_ntoa(packed: bytes) -> str:
    """``b"\\n\\x00\\x00\\x01"`` -> ``"10.0.0.1"``."""
    if len(packed) != 4:
        raise ValueError(f"an IPv4 address is 4 bytes, got {len(packed)}")
    a, b, c, d = packed
    return f"{a}.{b}.{c}.{d}"


def sockaddr_in(address: Any, what: str = "address") -> tuple[bytes, int]:
    """Check a user's ``(host, port)`` and convert it for the kernel Sock."""
    if not isinstance(address, tuple) or len(address) != 2:
        raise TypeError(f"AF_INET {what} must be a tuple (host, port), not {address!r}")
    host, port = address
    if isinstance(host, bytes | bytearray):
        host = host.decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected for the host, not {type(host).__name__}")
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"'{type(port).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(f"{what}: port must be 0-65535.")
    return inet_aton(host), port


def to_user(address: tuple[bytes, int] | None) -> tuple[str, int] | None:
    """Kernel ``(4-byte addr, port)`` -> user ``("10.0.0.1", port)``; None stays None."""
    if address is None:
        return None
    addr, port = address
    return (inet_ntoa(bytes(addr)) if addr is not None else "0.0.0.0"), port


def format_endpoint(address: tuple[bytes, int] | None) -> str:
    """``10.0.0.1:7`` for messages (``*:*`` when unbound)."""
    if address is None:
        return "*:*"
    user = to_user(address)
    assert user is not None
    return f"{user[0]}:{user[1]}"
