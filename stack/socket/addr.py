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
import ipaddress
from functools import lru_cache
from typing import Any

from stack.wire.ipv4 import ip_str

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
    """``10.0.0.1:7`` for messages (``*:*`` when unbound; ``[fd00::1]:7`` for IPv6)."""
    if address is None:
        return "*:*"
    if address[0] is not None and len(address[0]) == 16:
        return f"[{ip_str(bytes(address[0]))}]:{address[1]}"
    user = to_user(address[:2])
    assert user is not None
    return f"{user[0]}:{user[1]}"


# -- AF_INET6 -------------------------------------------------------------------------------------
IN6_ANY = bytes(16)
_NAMES6 = {"": IN6_ANY, "localhost": bytes(15) + b"\x01"}


@lru_cache(maxsize=4096)
def inet_pton6(text: str) -> bytes:
    """``"fd00::1"`` -> 16 bytes (``inet_pton(AF_INET6)``; ``""`` is ``::``)."""
    named = _NAMES6.get(text)
    if named is not None:
        return named
    try:
        return ipaddress.IPv6Address(text).packed
    except ValueError as exc:
        raise OSError(errno.EINVAL, f"not an IPv6 address: {text!r} (ixsim has no resolver)"
                      ) from exc


def sockaddr_in6(address: Any, what: str = "address") -> tuple[bytes, int, int, int | str]:
    """Check a user's ``(host, port[, flowinfo[, scope_id]])`` as CPython's
    ``getsockaddrarg`` does for AF_INET6 -> ``(16-byte addr, port, flowinfo, scope)``.

    A ``%scope`` suffix on the host (``"fe80::1%eth0"``, ``"fe80::1%2"``) gives the scope when
    the tuple has none, as ``getaddrinfo`` resolves it; an interface name is returned as a
    ``str`` for the caller to look up.
    """
    if not isinstance(address, tuple) or not 2 <= len(address) <= 4:
        raise TypeError(f"AF_INET6 {what} must be a tuple (host, port[, flowinfo[, scopeid]]),"
                        f" not {address!r}")
    host, port = address[0], address[1]
    flowinfo = address[2] if len(address) > 2 else 0
    scope: int | str = address[3] if len(address) > 3 else 0
    if isinstance(host, bytes | bytearray):
        host = host.decode("ascii")
    if not isinstance(host, str):
        raise TypeError(f"str, bytes or bytearray expected for the host, not {type(host).__name__}")
    for value in (port, flowinfo, scope):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"'{type(value).__name__}' object cannot be interpreted as an integer")
    if not 0 <= port <= 65535:
        raise OverflowError(f"{what}: port must be 0-65535.")
    if not 0 <= flowinfo <= 0xFFFFF:
        raise OverflowError(f"{what}: flowinfo must be 0-1048575.")
    if "%" in host:
        host, _, name = host.partition("%")
        if not scope:
            scope = int(name) if name.isdigit() else name
    return inet_pton6(host), port, flowinfo, scope


def to_user6(address: tuple[Any, ...] | None,
             scope_id: int = 0) -> tuple[str, int, int, int] | None:
    """Kernel address -> ``("fd00::1", port, flowinfo, scope_id)``, as CPython's
    ``makesockaddr`` gives an AF_INET6 one: a 4-byte kernel address (a v4-mapped connection) reads
    ``::ffff:a.b.c.d``, the wildcard ``::``.  A 4-tuple's own scope wins over ``scope_id``."""
    if address is None:
        return None
    addr, port = address[0], address[1]
    if len(address) > 3:
        scope_id = address[3]
    if addr is None or addr == ANY or addr == IN6_ANY:
        return "::", port, 0, 0
    addr = bytes(addr)
    if len(addr) == 4:
        return "::ffff:" + inet_ntoa(addr), port, 0, 0
    return ip_str(addr), port, 0, scope_id
