"""``setsockopt``/``getsockopt`` for TCP sockets (SOL_SOCKET and SOL_TCP levels).

Mirrors ``sk_setsockopt`` (``net/core/sock.c``) for the options a TCP socket reads and
``do_tcp_setsockopt``/``do_tcp_getsockopt`` (``net/ipv4/tcp.c``).  Values are Python values:
ints (booleans accepted), ``(onoff, seconds)`` for SO_LINGER, a ``str``/``bytes`` name for
TCP_CONGESTION; TCP_INFO returns a :class:`stack.tcp.info.TcpInfo`.  Buffer sizes are
:meth:`stack.sock.Sock.set_sndbuf`'s business (doubled, bounded by ``*mem_max``), as for
every protocol.
SOL_IP: IP_TTL (every segment's TTL) and IP_TOS (the TOS byte with TCP's ECN bits kept, and
``sk_priority`` through ``rt_tos2priority``, hence the pfifo_fast band).  TCP_WINDOW_CLAMP
bounds the window we offer (at least SOCK_MIN_RCVBUF / 2; 0 only before a connection; as in
Linux, receive-buffer autotuning moves it again unless SO_RCVBUF fixed the buffer),
TCP_USER_TIMEOUT aborts with ETIMEDOUT once data has gone unacknowledged that long (the RTO is
clamped to it, ``tcp_clamp_rto_to_user_timeout``), TCP_LINGER2 is the orphaned FIN-WAIT-2
lifetime (at most 120 s; negative: close() resets instead), TCP_NOTSENT_LOWAT bounds the
unsent bytes under which the socket is writable (``tcp_stream_memory_free``; 0: the
``tcp_notsent_lowat`` sysctl), TCP_QUICKACK 1 leaves delayed-ACK (pingpong) mode and sends a
scheduled ACK at once, 0 enters it.  TCP_FASTOPEN sets a listener's Fast Open queue length
(capped by somaxconn), TCP_FASTOPEN_CONNECT makes connect() wait for the first send to put
data in the SYN, TCP_FASTOPEN_NO_COOKIE sends or accepts SYN data without a cookie
(``stack/tcp/fastopen.py``).
Unknown options raise ``ENOPROTOOPT``; out-of-range values ``EINVAL``.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.ipv4.route import rt_tos2priority
from stack.sock import SOCK_MIN_RCVBUF, SOCK_RCVBUF_LOCK, oserror
from stack.tcp import output, transmit
from stack.tcp import window as win
from stack.tcp.cong import find
from stack.tcp.const import (
    ICSK_ACK_SCHED,
    MAX_TCP_KEEPCNT,
    MAX_TCP_KEEPIDLE,
    MAX_TCP_KEEPINTVL,
    MAX_TCP_SYNCNT,
    NS_PER_MS,
    NS_PER_S,
    TCP_FIN_TIMEOUT_MAX_S,
    TCP_MIN_MSS,
    TCP_NAGLE_CORK,
    TCP_NAGLE_OFF,
    TCP_NAGLE_PUSH,
    TCP_RTO_MAX,
    TCP_TIMEOUT_INIT,
)
from stack.tcp.fastopen import TFO_CLIENT_ENABLE
from stack.tcp.state import CLOSE_WAIT, CLOSED, ESTABLISHED, LISTEN
from stack.tcp.timer import keepalive_time_when
from stack.uapi import (
    INET_ECN_MASK,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_OMIT,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    SO_ACCEPTCONN,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_RCVBUF,
    SO_RCVLOWAT,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_TYPE,
    SOL_IP,
    SOL_SOCKET,
    SOL_TCP,
    TCP_CONGESTION,
    TCP_CORK,
    TCP_DEFER_ACCEPT,
    TCP_FASTOPEN,
    TCP_FASTOPEN_CONNECT,
    TCP_FASTOPEN_NO_COOKIE,
    TCP_INFO,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_LINGER2,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
    TCP_QUICKACK,
    TCP_SYNCNT,
    TCP_USER_TIMEOUT,
    TCP_WINDOW_CLAMP,
)

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def _as_s32(value: int) -> int:
    """A u32 as getsockopt's int reads it back."""
    return value - (1 << 32) if value & 0x80000000 else value


def _int(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)) and len(value) == 4:
        return int.from_bytes(value, "little", signed=True)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise oserror(errno.EINVAL) from None


def _restart_keepalive(sk: TcpSock) -> None:
    if sk.keepopen and sk.state not in (CLOSED, LISTEN):
        elapsed = sk.net.sched.now - max(sk.lrcvtime, sk.rcv_tstamp)
        sk.reset_keepalive_timer(max(keepalive_time_when(sk) - elapsed, 0))


def setsockopt(sk: TcpSock, level: int, option: int, value: Any) -> None:
    if level == SOL_SOCKET:
        _set_socket(sk, option, value)
    elif level == SOL_TCP:
        _set_tcp(sk, option, value)
    elif level == SOL_IP:
        _set_ip(sk, option, _int(value))
    else:
        raise oserror(errno.ENOPROTOOPT)


def _set_ip(sk: TcpSock, option: int, val: int) -> None:
    """``do_ip_setsockopt`` for the IP options a TCP socket honours: IP_TTL (every segment's
    TTL; -1 restores ``ip_default_ttl``) and IP_TOS (the TOS byte of every segment with the
    ECN bits kept TCP's, and ``sk_priority`` from ``rt_tos2priority``, ``__ip_sock_set_tos``),
    IP_MTU_DISCOVER (``inet->pmtudisc``: the DF bit of every segment, set under
    IP_PMTUDISC_WANT, the default, and IP_PMTUDISC_DO, clear otherwise, as
    ``ip_dont_fragment`` says) and IP_RECVERR (an ICMP error on a synchronized connection sets
    ``sk_err`` at once instead of only ``sk_err_soft``, ``tcp_v4_err``).
    """
    if option == IP_TTL:
        if val != -1 and not 1 <= val <= 255:
            raise oserror(errno.EINVAL)
        sk.ttl = None if val == -1 else val
    elif option == IP_TOS:
        val = (val & ~INET_ECN_MASK & 0xFF) | (sk.tos & INET_ECN_MASK)
        if val != sk.tos:
            sk.tos = val
            sk.priority = rt_tos2priority(val)
    elif option == IP_MTU_DISCOVER:
        if not IP_PMTUDISC_DONT <= val <= IP_PMTUDISC_OMIT:
            raise oserror(errno.EINVAL)
        sk.pmtudisc = val
    elif option == IP_RECVERR:
        sk.recverr = bool(val)
    else:
        raise oserror(errno.ENOPROTOOPT)


def _set_socket(sk: TcpSock, option: int, value: Any) -> None:
    if option == SO_LINGER:
        onoff, secs = value
        sk.linger = (bool(onoff), max(int(secs), 0))
        return
    val = _int(value)
    if option == SO_REUSEADDR:
        sk.reuseaddr = bool(val)
    elif option == SO_REUSEPORT:
        sk.options[(SOL_SOCKET, SO_REUSEPORT)] = bool(val)
    elif option == SO_KEEPALIVE:
        sk.keepopen = bool(val)
        if sk.keepopen:
            _restart_keepalive(sk)
        else:
            sk.keepalive_timer.del_timer()
    elif option == SO_RCVLOWAT:
        set_rcvlowat(sk, val)
    elif option == SO_SNDBUF:
        sk.set_sndbuf(val)  # the one handler (stack.sock); TCP's write_space is check_space
    elif option == SO_RCVBUF:
        sk.set_rcvbuf(val)
    else:
        raise oserror(errno.ENOPROTOOPT)


def secs_to_retrans(seconds: int, timeout: int, rto_max: int) -> int:
    """TCP_DEFER_ACCEPT's seconds as the SYN-ACK retransmissions that first cover them."""
    res = 0
    if seconds > 0:
        period = timeout
        res = 1
        while seconds > period and res < 255:
            res += 1
            timeout = min(timeout << 1, rto_max)
            period += timeout
    return res


def retrans_to_secs(retrans: int, timeout: int, rto_max: int) -> int:
    """The inverse of :func:`secs_to_retrans`: what getsockopt(TCP_DEFER_ACCEPT) reports."""
    period = 0
    if retrans > 0:
        period = timeout
        for _ in range(retrans - 1):
            timeout = min(timeout << 1, rto_max)
            period += timeout
    return period


def set_rcvlowat(sk: TcpSock, val: int) -> None:
    """``tcp_set_rcvlowat``: capped at half the buffer it may grow to; an unlocked receive
    buffer grows so that ``val`` bytes fit in the window (the window clamp becomes ``val``)."""
    if sk.userlocks & SOCK_RCVBUF_LOCK:
        cap = sk.sk_rcvbuf >> 1
    else:
        cap = sk.net.sysctl.tcp_rmem[2] >> 1
    val = min(val, cap)
    sk.rcvlowat = val or 1
    if sk.userlocks & SOCK_RCVBUF_LOCK:
        sk.wake()  # tcp_data_ready: a lower mark may make queued data readable now
        return
    space = win.space_from_win(val)
    if space > sk.sk_rcvbuf:
        sk.sk_rcvbuf = space
        sk.window_clamp = val
    sk.wake()


def _set_tcp(sk: TcpSock, option: int, value: Any) -> None:
    if option == TCP_CONGESTION:
        name = value.decode() if isinstance(value, (bytes, bytearray)) else str(value)
        cls = find(name.rstrip("\0"))
        if type(sk.ca) is not cls:
            sk.ca.release(sk)
            sk.ca = cls()
            if sk.state not in (CLOSED, LISTEN):
                sk.ca.init(sk)
        return
    val = _int(value)
    if option == TCP_NODELAY:
        if val:
            sk.nonagle |= TCP_NAGLE_OFF | TCP_NAGLE_PUSH
            output.push_pending_frames(sk)
            sk.nonagle &= ~TCP_NAGLE_PUSH
        else:
            sk.nonagle &= ~TCP_NAGLE_OFF
    elif option == TCP_CORK:
        if val:
            sk.nonagle |= TCP_NAGLE_CORK
        else:
            sk.nonagle &= ~TCP_NAGLE_CORK
            if sk.nonagle & TCP_NAGLE_OFF:
                sk.nonagle |= TCP_NAGLE_PUSH
            output.push_pending_frames(sk)
            sk.nonagle &= ~TCP_NAGLE_PUSH
    elif option == TCP_MAXSEG:
        if val and (val < TCP_MIN_MSS or val > 65535):
            raise oserror(errno.EINVAL)
        sk.user_mss = val
    elif option == TCP_KEEPIDLE:
        if not 1 <= val <= MAX_TCP_KEEPIDLE:
            raise oserror(errno.EINVAL)
        sk.keepalive_time = val * NS_PER_S
        _restart_keepalive(sk)
    elif option == TCP_KEEPINTVL:
        if not 1 <= val <= MAX_TCP_KEEPINTVL:
            raise oserror(errno.EINVAL)
        sk.keepalive_intvl = val * NS_PER_S
    elif option == TCP_KEEPCNT:
        if not 1 <= val <= MAX_TCP_KEEPCNT:
            raise oserror(errno.EINVAL)
        sk.keepalive_probes = val
    elif option == TCP_SYNCNT:
        if not 1 <= val <= MAX_TCP_SYNCNT:
            raise oserror(errno.EINVAL)
        sk.syn_retries = val
    elif option == TCP_LINGER2:
        # seconds in an orphaned FIN-WAIT-2 (0: tcp_fin_timeout), at most TCP_FIN_TIMEOUT_MAX;
        # negative: no FIN-WAIT-2 at all, close() resets the connection
        sk.linger2 = -1 if val < 0 else min(val, TCP_FIN_TIMEOUT_MAX_S)
    elif option == TCP_USER_TIMEOUT:
        if val < 0:
            raise oserror(errno.EINVAL)
        sk.user_timeout = val * NS_PER_MS
    elif option == TCP_WINDOW_CLAMP:
        # tcp_set_window_clamp: 0 (no clamp) only before a connection; else at least half
        # SOCK_MIN_RCVBUF, and the window we offer shrinks to it from the next segment on
        if not val:
            if sk.state != CLOSED:
                raise oserror(errno.EINVAL)
            sk.window_clamp = 0
        else:
            val = max(val, SOCK_MIN_RCVBUF // 2)
            sk.window_clamp = val
            sk.rcv_ssthresh = min(sk.rcv_wnd, val)
    elif option == TCP_NOTSENT_LOWAT:
        sk.notsent_lowat = val & 0xFFFFFFFF
        sk.write_space()  # sk_write_space: writers may have room now
    elif option == TCP_QUICKACK:
        if not val:
            sk.pingpong = 1
        else:
            sk.pingpong = 0
            if sk.state in (ESTABLISHED, CLOSE_WAIT) and sk.ack_pending & ICSK_ACK_SCHED:
                transmit.send_ack(sk)
    elif option == TCP_DEFER_ACCEPT:
        sk.defer_accept = secs_to_retrans(val, TCP_TIMEOUT_INIT // NS_PER_S,
                                          TCP_RTO_MAX // NS_PER_S)
    elif option == TCP_FASTOPEN:
        # fastopen_queue_tune: the Fast Open children a listener may hold
        if val < 0 or sk.state not in (CLOSED, LISTEN):
            raise oserror(errno.EINVAL)
        sk.fastopen.max_qlen = min(val, sk.net.sysctl.somaxconn)
    elif option == TCP_FASTOPEN_CONNECT:
        if not 0 <= val <= 1:
            raise oserror(errno.EINVAL)
        if not sk.net.sysctl.tcp_fastopen & TFO_CLIENT_ENABLE:
            raise oserror(errno.EOPNOTSUPP)
        if sk.state != CLOSED:
            raise oserror(errno.EINVAL)
        sk.fastopen.connect = bool(val)
    elif option == TCP_FASTOPEN_NO_COOKIE:
        if not 0 <= val <= 1 or sk.state not in (CLOSED, LISTEN):
            raise oserror(errno.EINVAL)
        sk.fastopen.no_cookie = bool(val)
    else:
        raise oserror(errno.ENOPROTOOPT)


def getsockopt(sk: TcpSock, level: int, option: int) -> Any:
    if level == SOL_SOCKET:
        if option == SO_ERROR:
            return sk.sock_error()
        if option == SO_TYPE:
            return sk.type
        if option == SO_ACCEPTCONN:
            return int(sk.state == LISTEN)
        if option == SO_REUSEADDR:
            return int(sk.reuseaddr)
        if option == SO_KEEPALIVE:
            return int(sk.keepopen)
        if option == SO_SNDBUF:
            return sk.sk_sndbuf
        if option == SO_RCVBUF:
            return sk.sk_rcvbuf
        if option == SO_LINGER:
            return (int(sk.linger[0]), sk.linger[1])
        raise oserror(errno.ENOPROTOOPT)
    if level == SOL_IP:
        if option == IP_TTL:
            return sk.net.sysctl.ip_default_ttl if sk.ttl is None else sk.ttl
        if option == IP_TOS:
            return sk.tos
        if option == IP_MTU_DISCOVER:
            return sk.pmtudisc
        if option == IP_RECVERR:
            return int(sk.recverr)
        if option == IP_MTU:
            if not sk.pmtu or sk.state in (CLOSED, LISTEN):
                raise oserror(errno.ENOTCONN)  # no dst yet (do_ip_getsockopt)
            return sk.pmtu
        raise oserror(errno.ENOPROTOOPT)
    if level != SOL_TCP:
        raise oserror(errno.EOPNOTSUPP)  # tcp_getsockopt -> ip_getsockopt: not SOL_IP
    sysctl = sk.net.sysctl
    if option == TCP_INFO:
        return sk.info()
    if option == TCP_NODELAY:
        return int(bool(sk.nonagle & TCP_NAGLE_OFF))
    if option == TCP_CORK:
        return int(bool(sk.nonagle & TCP_NAGLE_CORK))
    if option == TCP_MAXSEG:
        return sk.mss_cache if sk.state not in (CLOSED, LISTEN) else (sk.user_mss or 536)
    if option == TCP_KEEPIDLE:
        return (sk.keepalive_time or sysctl.tcp_keepalive_time_s * NS_PER_S) // NS_PER_S
    if option == TCP_KEEPINTVL:
        return (sk.keepalive_intvl or sysctl.tcp_keepalive_intvl_s * NS_PER_S) // NS_PER_S
    if option == TCP_KEEPCNT:
        return sk.keepalive_probes or sysctl.tcp_keepalive_probes
    if option == TCP_SYNCNT:
        return sk.syn_retries or sysctl.tcp_syn_retries
    if option == TCP_LINGER2:
        return sk.linger2 if sk.linger2 else sysctl.tcp_fin_timeout_s
    if option == TCP_USER_TIMEOUT:
        return sk.user_timeout // NS_PER_MS
    if option == TCP_WINDOW_CLAMP:
        return sk.window_clamp
    if option == TCP_QUICKACK:
        return int(not sk.pingpong)
    if option == TCP_CONGESTION:
        return sk.ca.name
    if option == TCP_NOTSENT_LOWAT:
        return _as_s32(sk.notsent_lowat)
    if option == TCP_DEFER_ACCEPT:
        return retrans_to_secs(sk.defer_accept, TCP_TIMEOUT_INIT // NS_PER_S,
                               TCP_RTO_MAX // NS_PER_S)
    if option == TCP_FASTOPEN:
        return sk.fastopen.max_qlen
    if option == TCP_FASTOPEN_CONNECT:
        return int(sk.fastopen.connect)
    if option == TCP_FASTOPEN_NO_COOKIE:
        return int(sk.fastopen.no_cookie)
    raise oserror(errno.ENOPROTOOPT)
