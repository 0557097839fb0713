"""Socket options: the generic SOL_SOCKET level and the user <-> kernel value encodings.

Mirrors Linux's ``sk_setsockopt``/``sk_getsockopt`` (``net/core/sock.c``): SOL_SOCKET
options are common to every protocol and are kept on the Sock itself - ``sk_rcvbuf`` /
``sk_sndbuf`` (set by ``Sock.set_rcvbuf``/``set_sndbuf``, the one place that doubles and
clamps them; the protocol hears of a larger send buffer through ``sk.write_space()``),
``sk.priority`` (SO_PRIORITY: ``skb->priority`` of every packet the socket sends, which picks
the pfifo_fast band), ``sk.mark`` (SO_MARK: ``skb->mark``), ``sk.rcvtimeo``/``sk.sndtimeo``
(SO_RCVTIMEO/SO_SNDTIMEO, see below), ``sk.rcvlowat`` and, for everything else,
``sk.options[(SOL_SOCKET, opt)]``, which protocols read (``SO_REUSEADDR``/``SO_REUSEPORT`` at
bind, ``SO_BROADCAST`` at sendto, ``SO_LINGER`` at close, ``SO_KEEPALIVE``,
``SO_BINDTODEVICE`` in route lookups and receive demultiplexing).  After storing one of those,
the protocol's own ``sk.setsockopt(SOL_SOCKET, opt, value)`` is called so it can react (TCP
arms its keepalive timer, as ``sk->sk_prot->keepalive`` does); a protocol that does not care
raises ENOPROTOOPT, which is ignored.  SOL_SOCKET options this module does not know are the
protocol's alone (UDP's SO_NO_CHECK).  Other levels (IPPROTO_TCP, IPPROTO_IP, ...) go straight
to the protocol.

Linux's rules, each checked against a real kernel:

* Boolean options read back 1, not the value written (``sock_valbool_flag``).
* A negative SO_SNDBUF/SO_RCVBUF is the maximum (``sk_setsockopt`` compares as u32).
* SO_SNDLOWAT cannot be set (ENOPROTOOPT, Linux's ``sk_setsockopt``) and reads 1.
* SO_BINDTODEVICE takes an interface name (ENODEV for one the host lacks); an empty name
  unbinds.
* SO_RCVTIMEO/SO_SNDTIMEO take a ``struct timeval`` of two longs (16 bytes; shorter is EINVAL,
  ``tv_usec`` outside 0..999999 is EDOM, a negative ``tv_sec`` is a zero timeout, ``{0, 0}``
  none), rounded up to whole jiffies (``sock_set_timeout``; ixsim's HZ is 1000).  They are
  kernel timeouts, apart from CPython's ``settimeout``: CPython implements its own timeout
  with a non-blocking fd and poll, so only a socket in blocking mode (``settimeout(None)``)
  sleeps in the kernel and meets them; a receive (recv*, accept) then fails with EAGAIN
  (``BlockingIOError``) after SO_RCVTIMEO, a send with EAGAIN after SO_SNDTIMEO, and a
  connect with EINPROGRESS after SO_SNDTIMEO (``__inet_stream_connect``), as on Linux.
* SO_MARK (which Linux lets CAP_NET_ADMIN set; ixsim's user is root) stamps ``skb.mark`` on
  every packet the socket sends, as Linux does.  Nothing in ixsim reads a mark (there are no
  fwmark routing rules, netfilter, tc classifiers or ``SKF_AD_MARK`` loads), so, as on a Linux
  host without such rules, the mark changes nothing else.
* SO_PRIORITY takes any value (CAP_NET_ADMIN again); pfifo_fast maps ``priority & 15`` to a
  band through ``prio2band`` (``stack.core.qdisc``).
* SO_MAX_PACING_RATE is an unsigned long (bytes per second) on x86-64: 8 bytes or more are
  read as a u64; a 4-byte int (what CPython passes for a Python int) is its u32 value, with
  ``~0U`` (-1) meaning unlimited (``~0UL``).  A rate other than unlimited turns on TCP's
  internal pacing (``sk_pacing_status`` NONE -> NEEDED) and lowers ``sk_pacing_rate`` to it.
  Read back with a buffer of 8 bytes or more it is the u64; as an int it is the 32-bit
  version, ``min(rate, ~0U)``, which CPython shows as -1 for unlimited.

Values as CPython passes them: a Python int (bools count) is a 4-byte native int (outside
int32 CPython asks for a buffer: TypeError); a bytes-like object is passed as it is, and the
kernel checks its length: an int option shorter than 4 bytes is EINVAL (SOL_IP's int options take a
single byte as Linux's ``do_ip_setsockopt`` does), SO_LINGER is ``struct linger`` (8 bytes),
SO_RCVTIMEO/SO_SNDTIMEO ``struct timeval`` (16 bytes).  Anything else (a tuple, a float) is
CPython's TypeError.  Two conveniences of ixsim's: TCP_CONGESTION and SO_BINDTODEVICE also take
a ``str``, and SO_ATTACH_FILTER a tcpdump expression or a ``stack.bpf`` program.  The kernel
sees ints, an ``(onoff, seconds)`` tuple for SO_LINGER, ``(sec, usec)`` for the timeouts and a
``str`` for names.
"""

from __future__ import annotations

import errno
import struct
import sys
from typing import Any

from stack.core.units import HZ, NS_PER_S
from stack.sock import PACING_RATE_UNLIMITED, SK_PACING_NEEDED, SK_PACING_NONE, oserror
from stack.uapi import (
    AF_INET,
    ICMPV6_FILTER,
    IPPROTO_TCP,
    PACKET_STATISTICS,
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
    SO_MARK,
    SO_MAX_PACING_RATE,
    SO_OOBINLINE,
    SO_PRIORITY,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_RCVTIMEO,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_SNDTIMEO,
    SO_TYPE,
    SOL_ICMPV6,
    SOL_IP,
    SOL_PACKET,
    SOL_SOCKET,
    TCP_CA_NAME_MAX,
    TCP_CONGESTION,
    TCP_INFO,
)

_INT = struct.Struct("=i")
_UINT = struct.Struct("=I")
_ULONG = struct.Struct("=Q")
INT_MAX = 0x7FFFFFFF
_LINGER = struct.Struct("=ii")
_TIMEVAL = struct.Struct("=qq")  # struct __kernel_old_timeval on a 64-bit kernel
IFNAMSIZ = 16
USEC_PER_SEC = 1_000_000
_READ_ONLY = {SO_ERROR, SO_TYPE, SO_PROTOCOL, SO_DOMAIN, SO_ACCEPTCONN}
# sock_valbool_flag & co: stored as 0/1, so they read back 1 whatever was written
BOOL_SOCKET_OPTS = frozenset({SO_DEBUG, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST,
                              SO_KEEPALIVE, SO_OOBINLINE, SO_REUSEPORT})
_KNOWN_SOCKET_OPTS = BOOL_SOCKET_OPTS | {SO_SNDBUF, SO_RCVBUF, SO_LINGER, SO_RCVLOWAT,
                                        SO_SNDLOWAT, SO_BINDTODEVICE, SO_PRIORITY, SO_MARK,
                                        SO_RCVTIMEO, SO_SNDTIMEO, SO_MAX_PACING_RATE}


def _enoprotoopt(level: int, opt: int) -> OSError:
    return OSError(errno.ENOPROTOOPT, f"Protocol not available (level {level}, option {opt})")


def _as_buffer(value: Any) -> bytes:
    """What CPython's ``setsockopt`` hands the kernel: an int as 4 native bytes, a buffer."""
    if isinstance(value, int):  # bool too
        if not -0x80000000 <= value <= INT_MAX:  # not an "i": CPython then wants a buffer
            raise TypeError("a bytes-like object is required, not 'int'")
        return _INT.pack(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"a bytes-like object is required, not '{type(value).__name__}'")


def _int_of(buf: bytes) -> int:
    """An int option's value (``copy_from_sockptr`` of an int): EINVAL below 4 bytes."""
    if len(buf) < _INT.size:
        raise oserror(errno.EINVAL)
    return _INT.unpack_from(buf)[0]


def user_value(level: int, opt: int, value: Any) -> Any:
    """Decode what a user passed to ``setsockopt`` into the kernel's form (module docstring)."""
    if level == SOL_SOCKET and opt == SO_ATTACH_FILTER:
        return value  # a tcpdump expression, a stack.bpf program or its sock_filter bytes
    if level == SOL_PACKET and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)  # struct packet_mreq: the packet socket decodes it
    if (level == IPPROTO_TCP and opt == TCP_CONGESTION) or (
            level == SOL_SOCKET and opt == SO_BINDTODEVICE):
        if isinstance(value, str):
            return value
        name = _as_buffer(value) if not isinstance(value, int) else None
        if name is None:
            raise TypeError("a bytes-like object is required, not 'int'")
        return name.split(b"\0", 1)[0].decode("ascii", "replace")
    buf = _as_buffer(value)
    if level == SOL_ICMPV6 and opt == ICMPV6_FILTER:
        return bytes(buf)  # struct icmp6_filter: the raw socket copies up to 32 bytes
    if level == SOL_SOCKET:
        if opt == SO_LINGER:
            if len(buf) < _LINGER.size:
                raise oserror(errno.EINVAL)
            return _LINGER.unpack_from(buf)
        if opt in (SO_RCVTIMEO, SO_SNDTIMEO):
            if len(buf) < _TIMEVAL.size:
                raise oserror(errno.EINVAL)
            return _TIMEVAL.unpack_from(buf)
        if opt == SO_MAX_PACING_RATE and len(buf) >= _ULONG.size:
            return _ULONG.unpack_from(buf)[0]
        if opt == SO_MAX_PACING_RATE:
            val = _UINT.unpack(_INT.pack(_int_of(buf)))[0]
            return PACING_RATE_UNLIMITED if val == 0xFFFFFFFF else val
        return _int_of(buf)
    if level == SOL_IP:
        # do_ip_setsockopt: an int, or a single byte for the int-valued options
        if len(buf) >= _INT.size:
            return _INT.unpack_from(buf)[0]
        return buf[0] if buf else 0
    if level == IPPROTO_TCP:
        return _int_of(buf)
    if len(buf) >= _INT.size:
        return _INT.unpack_from(buf)[0]
    if buf:
        return buf[0]
    raise oserror(errno.EINVAL, "empty option value")


def user_bytes(level: int, opt: int, value: Any, buflen: int) -> bytes:
    """Encode a kernel option value as ``getsockopt(level, opt, buflen)`` returns it."""
    if buflen < 0 or buflen > 1024:
        raise OSError(errno.EINVAL, "getsockopt buflen out of range")
    if level == IPPROTO_TCP and opt == TCP_CONGESTION:
        name = value if isinstance(value, str) else str(value)
        return name.encode("ascii").ljust(TCP_CA_NAME_MAX, b"\0")[:buflen]
    if isinstance(value, str):  # SO_BINDTODEVICE: the name and its NUL, or nothing
        return ((value.encode("ascii") + b"\0") if value else b"")[:buflen]
    if level == IPPROTO_TCP and opt == TCP_INFO:
        return bytes(value)[:buflen]  # TcpInfo packs itself (stack.tcp.info)
    if level == SOL_SOCKET and opt in (SO_RCVTIMEO, SO_SNDTIMEO):
        return _TIMEVAL.pack(*value)[:buflen]
    if level == SOL_SOCKET and opt == SO_MAX_PACING_RATE:
        if buflen >= _ULONG.size:
            return _ULONG.pack(value)
        return _UINT.pack(min(value, 0xFFFFFFFF))[:buflen]
    if isinstance(value, tuple):
        return _LINGER.pack(*value)[:buflen]
    if isinstance(value, bytes | bytearray):
        return bytes(value)[:buflen]
    return _INT.pack(int(value))[:buflen]



def user_int(level: int, opt: int, value: Any) -> Any:
    """A kernel option value as ``getsockopt(level, opt)`` without ``buflen`` returns it:
    CPython reads one int where the kernel gives a struct (``sock_getsockopt`` in
    ``Modules/socketmodule.c``); ints, names (TCP_CONGESTION) and the rest pass through."""
    if level == SOL_ICMPV6 and isinstance(value, bytes):
        return int.from_bytes(value[:4], sys.byteorder, signed=True)  # CPython: an int
    if level == SOL_PACKET and opt == PACKET_STATISTICS:
        return int.from_bytes(value[:4], sys.byteorder)  # CPython reads one int's worth
    if level == SOL_SOCKET and opt == SO_MAX_PACING_RATE:
        return max_pacing_rate_int(value)
    if level == SOL_SOCKET and isinstance(value, tuple):
        return value[0]  # CPython reads an int: SO_LINGER's l_onoff, a timeval's tv_sec
    if level == IPPROTO_TCP and opt == TCP_INFO:
        # CPython reads an int: the first 4 bytes of struct tcp_info (tcpi_state, ca_state,
        # retransmits, probes), native byte order
        return int.from_bytes(bytes(value)[:4], sys.byteorder, signed=True)
    return value


def set_max_pacing_rate(sk: Any, rate: int) -> None:
    """SO_MAX_PACING_RATE (``sk_setsockopt``): the cap, internal pacing unless unlimited (or
    fq paces the socket already), and ``sk_pacing_rate`` lowered to it at once."""
    if rate != PACING_RATE_UNLIMITED and sk.sk_pacing_status == SK_PACING_NONE:
        sk.sk_pacing_status = SK_PACING_NEEDED
    sk.sk_max_pacing_rate = rate
    if rate < sk.sk_pacing_rate:
        sk.sk_pacing_rate = rate


def max_pacing_rate_int(rate: int) -> int:
    """SO_MAX_PACING_RATE read as an int: the 32-bit version, as CPython decodes it."""
    return _INT.unpack(_UINT.pack(min(rate, 0xFFFFFFFF)))[0]


def timeval_to_ns(sec: int, usec: int) -> int | None:
    """``sock_set_timeout``: None for ``{0, 0}`` (wait forever), else whole jiffies in ns;
    a negative ``tv_sec`` is a zero timeout (Linux warns and stores 0)."""
    if not 0 <= usec < USEC_PER_SEC:
        raise oserror(errno.EDOM)
    if sec < 0:
        return 0
    if sec == 0 and usec == 0:
        return None
    jiffy_us = USEC_PER_SEC // HZ
    jiffies = sec * HZ + -(-usec // jiffy_us)
    return jiffies * (NS_PER_S // HZ)


def ns_to_timeval(timeo: int | None) -> tuple[int, int]:
    """``sock_get_timeout``: ``{0, 0}`` for none, else seconds and microseconds."""
    if not timeo:
        return 0, 0
    us = timeo // 1000
    return us // USEC_PER_SEC, us % USEC_PER_SEC


def bind_to_device(sk: Any, name: str) -> None:
    """SO_BINDTODEVICE (``sock_bindtoindex``): ENODEV for a name the host lacks, "" unbinds."""
    name = name[:IFNAMSIZ - 1]
    dev = sk.net.kernel.dev_get_by_name(name) if name else None
    if name and dev is None:
        raise oserror(errno.ENODEV)
    sk.options[(SOL_SOCKET, SO_BINDTODEVICE)] = name
    sk.bound_dev_if = dev


def sock_setsockopt(sk: Any, opt: int, value: Any) -> None:
    """SOL_SOCKET options (``sk_setsockopt``): stored on the Sock, then shown to the protocol."""
    if opt in _READ_ONLY or opt == SO_SNDLOWAT:
        raise _enoprotoopt(SOL_SOCKET, opt)
    if opt not in _KNOWN_SOCKET_OPTS:
        sk.setsockopt(SOL_SOCKET, opt, value)  # a protocol's own (UDP's SO_NO_CHECK)
        return
    if opt in BOOL_SOCKET_OPTS:
        value = int(bool(value))
    if opt == SO_BINDTODEVICE:
        bind_to_device(sk, value)
        return
    if opt == SO_RCVTIMEO:
        sk.rcvtimeo = timeval_to_ns(*value)
        return
    elif opt == SO_SNDTIMEO:
        sk.sndtimeo = timeval_to_ns(*value)
        return
    elif opt == SO_PRIORITY:
        sk.priority = value
        return
    elif opt == SO_MARK:
        sk.mark = value & 0xFFFFFFFF
        return
    elif opt == SO_MAX_PACING_RATE:
        set_max_pacing_rate(sk, value)
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
    """SOL_SOCKET options (``sk_getsockopt``)."""
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
    if opt == SO_SNDLOWAT:
        return 1
    if opt == SO_RCVTIMEO:
        return ns_to_timeval(sk.rcvtimeo)
    if opt == SO_SNDTIMEO:
        return ns_to_timeval(sk.sndtimeo)
    if opt == SO_PRIORITY:
        return sk.priority
    if opt == SO_MARK:
        return _INT.unpack(_UINT.pack(sk.mark))[0]
    if opt == SO_MAX_PACING_RATE:
        return sk.sk_max_pacing_rate  # user_bytes / max_pacing_rate_int give it its width
    if opt in _KNOWN_SOCKET_OPTS:
        return int(bool(sk.options.get((SOL_SOCKET, opt), 0)))
    return sk.getsockopt(SOL_SOCKET, opt)  # a protocol's own, or its ENOPROTOOPT
