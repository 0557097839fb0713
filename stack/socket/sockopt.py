"""Socket options: the generic SOL_SOCKET level and the user <-> kernel value encodings.

Mirrors Linux's ``sock_setsockopt``/``sock_getsockopt`` (``net/core/sock.c``): SOL_SOCKET
options are common to every protocol and are kept on the Sock itself - ``sk_rcvbuf`` /
``sk_sndbuf`` (set by ``Sock.set_rcvbuf``/``set_sndbuf``, the one place that doubles and
clamps them; the protocol hears of a larger send buffer through ``sk.write_space()``) and, for
everything else, ``sk.options[(SOL_SOCKET, opt)]``, which protocols read (``SO_REUSEADDR`` at
bind, ``SO_BROADCAST`` at sendto, ``SO_LINGER`` at close, ``SO_KEEPALIVE``); SO_RCVLOWAT is
``sk.rcvlowat`` (``sk_rcvlowat``: at least 1), which TCP's poll and recv honour.  After storing
one of those, the protocol's own ``sk.setsockopt(SOL_SOCKET, opt, value)`` is called so it
can react (TCP arms its keepalive timer, as ``sk->sk_prot->keepalive`` does); a protocol that
does not care raises ENOPROTOOPT, which is ignored.  SOL_SOCKET options this module does not
know are the protocol's alone (UDP's SO_NO_CHECK).  Other levels (IPPROTO_TCP, IPPROTO_IP,
...) go straight to the protocol.

Values as users pass them: Python ints (bools count), 4-byte native ints, ``struct linger``
(8 bytes) or an ``(onoff, seconds)`` tuple for SO_LINGER, ``bytes``/``str`` for
TCP_CONGESTION.  The kernel sees ints, a ``(onoff, seconds)`` tuple and a ``str``.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from stack.uapi import (
    AF_INET,
    IPPROTO_TCP,
    SO_ACCEPTCONN,
    SO_ATTACH_FILTER,
    SO_BINDTODEVICE,
    SO_BROADCAST,
    SO_DEBUG,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_TYPE,
    SOL_PACKET,
    SOL_SOCKET,
    TCP_CA_NAME_MAX,
    TCP_CONGESTION,
    TCP_INFO,
)

_INT = struct.Struct("=i")
INT_MAX = 0x7FFFFFFF
_LINGER = struct.Struct("=ii")
_READ_ONLY = {SO_ERROR, SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ACCEPTCONN}
_KNOWN_SOCKET_OPTS = {SO_DEBUG, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST, SO_SNDBUF, SO_RCVBUF,
                      SO_KEEPALIVE, SO_OOBINLINE, SO_LINGER, SO_REUSEPORT, SO_RCVLOWAT,
                      SO_SNDLOWAT, SO_BINDTODEVICE}


def _enoprotoopt(level: int, opt: int) -> OSError:
    return OSError(errno.ENOPROTOOPT, f"Protocol not available (level {level}, option {opt})")


def user_value(level: int, opt: int, value: Any) -> Any:
    """Decode what a user passed to ``setsockopt`` into the kernel's form."""
    if level == SOL_SOCKET and opt == SO_ATTACH_FILTER:
        return value  # a tcpdump expression, a stack.bpf program or its sock_filter bytes
    if level == SOL_PACKET and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)  # struct packet_mreq: the packet socket decodes it
    if level == SOL_SOCKET and opt == SO_LINGER:
        if isinstance(value, tuple) and len(value) == 2:
            return int(value[0]), int(value[1])
        if isinstance(value, bytes | bytearray | memoryview) and len(value) >= _LINGER.size:
            onoff, seconds = _LINGER.unpack_from(value)
            return onoff, seconds
        raise OSError(errno.EINVAL, "SO_LINGER takes struct.pack('ii', onoff, seconds)")
    if (level == IPPROTO_TCP and opt == TCP_CONGESTION) or (
            level == SOL_SOCKET and opt == SO_BINDTODEVICE):
        if isinstance(value, bytes | bytearray | memoryview):
            value = bytes(value).split(b"\0", 1)[0].decode("ascii", "replace")
        if not isinstance(value, str):
            raise TypeError("this option takes a name (bytes or str)")
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        if len(value) >= _INT.size:
            return _INT.unpack_from(value)[0]
        if len(value) >= 1:
            return bytes(value)[0]
        raise OSError(errno.EINVAL, "Invalid argument: empty option value")
    raise TypeError(f"a bytes-like object or int is required, not '{type(value).__name__}'")


def user_bytes(level: int, opt: int, value: Any, buflen: int) -> bytes:
    """Encode a kernel option value as ``getsockopt(level, opt, buflen)`` returns it."""
    if buflen < 0 or buflen > 1024:
        raise OSError(errno.EINVAL, "getsockopt buflen out of range")
    if level == IPPROTO_TCP and opt == TCP_CONGESTION:
        name = value if isinstance(value, str) else str(value)
        return name.encode("ascii").ljust(TCP_CA_NAME_MAX, b"\0")[:buflen]
    if isinstance(value, str):  # SO_BINDTODEVICE
        return (value.encode("ascii") + b"\0")[:buflen]
    if level == IPPROTO_TCP and opt == TCP_INFO:
        return bytes(value)[:buflen]  # TcpInfo packs itself (stack.tcp.info)
    if isinstance(value, tuple):
        return _LINGER.pack(*value)[:buflen]
    if isinstance(value, bytes | bytearray):
        return bytes(value)[:buflen]
    return _INT.pack(int(value))[:buflen]


def sock_setsockopt(sk: Any, opt: int, value: Any) -> None:
    """SOL_SOCKET options (``sock_setsockopt``): stored on the Sock, then shown to the protocol."""
    if opt in _READ_ONLY:
        raise _enoprotoopt(SOL_SOCKET, opt)
    if opt not in _KNOWN_SOCKET_OPTS:
        sk.setsockopt(SOL_SOCKET, opt, value)  # a protocol's own (UDP's SO_NO_CHECK)
        return
    sk.options[(SOL_SOCKET, opt)] = value
    if opt == SO_RCVBUF:
        sk.set_rcvbuf(value)
        return
    if opt == SO_SNDBUF:
        sk.set_sndbuf(value)  # the protocol hears of it through sk.write_space()
        return
    if opt == SO_RCVLOWAT:
        # a negative value means INT_MAX, 0 means 1; TCP then caps it (tcp_set_rcvlowat)
        value = INT_MAX if value < 0 else value
        sk.options[(SOL_SOCKET, opt)] = value
        sk.rcvlowat = value or 1
    try:
        sk.setsockopt(SOL_SOCKET, opt, value)
    except OSError as exc:
        if exc.errno != errno.ENOPROTOOPT:
            raise


def sock_getsockopt(sk: Any, opt: int, listening: bool) -> Any:
    """SOL_SOCKET options (``sock_getsockopt``)."""
    if opt == SO_ERROR:
        return sk.sock_error()
    if opt == SO_TYPE:
        return sk.type
    if opt == SO_PROTOCOL:
        return sk.protocol
    if opt == SO_DOMAIN:
        return AF_INET
    if opt == SO_ACCEPTCONN:
        return int(listening)
    if opt == SO_RCVBUF:
        return sk.sk_rcvbuf
    if opt == SO_SNDBUF:
        return sk.sk_sndbuf
    if opt == SO_LINGER:
        return sk.options.get((SOL_SOCKET, opt), (0, 0))
    if opt == SO_BINDTODEVICE:
        return sk.options.get((SOL_SOCKET, opt), "")
    if opt == SO_RCVLOWAT:
        return sk.rcvlowat
    if opt in _KNOWN_SOCKET_OPTS:
        return sk.options.get((SOL_SOCKET, opt), 0)
    return sk.getsockopt(SOL_SOCKET, opt)  # a protocol's own, or its ENOPROTOOPT
