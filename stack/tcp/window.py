"""Segment and window sizing: MSS from the path, the size goal, the receive window.

Mirrors ``tcp_mtu_to_mss``/``tcp_sync_mss``/``tcp_current_mss``/``tcp_xmit_size_goal`` and
``tcp_select_initial_window``/``__tcp_select_window``/``tcp_select_window`` of Linux's
``net/ipv4/tcp_output.c``, ``tcp_win_from_space`` of ``include/net/tcp.h`` and the send
buffer's ``tcp_sndbuf_expand``/``tcp_check_space`` of ``net/ipv4/tcp_input.c``.

Receive memory: ``rmem_alloc`` charges the payload bytes held in the receive and
out-of-order queues, and half of ``sk_rcvbuf`` is offered as window (Linux's default
``scaling_ratio`` of 50%, the old ``tcp_adv_win_scale = 1``).  The window never shrinks
(RFC 9293 §3.8.6.2.2); receiver SWS avoidance offers nothing below one MSS (RFC 1122 4.2.3.3).

Spec: RFC 9293 §3.7.1 (MSS), §3.8.6 (SWS); RFC 7323 §2 (window scale); RFC 6691.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.features import NETIF_F_ALL_TSO
from stack.sock import SOCK_SNDBUF_LOCK
from stack.tcp.chrono import TCP_CHRONO_SNDBUF_LIMITED, chrono_stop
from stack.tcp.const import (
    GSO_MAX_SIZE,
    ICSK_ACK_NOMEM,
    MAX_TCP_HEADER,
    MAX_TCP_WINDOW,
    TCP_HLEN,
    TCP_INIT_CWND,
    TCP_MAX_WSCALE,
    TCP_MIN_MSS,
    TCP_MIN_SND_MSS,
    TCP_MSS_DEFAULT,
    TCP_MSS_DESIRED,
    TCPOLEN_SACK_BASE_ALIGNED,
    TCPOLEN_SACK_PERBLOCK,
    TCPOLEN_TSTAMP_ALIGNED,
)

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

MAX_TCP_OPTION_SPACE = 40


def win_from_space(space: int) -> int:
    """Window offered for ``space`` bytes of receive buffer (50%: Linux's default ratio)."""
    return space >> 1 if space > 0 else 0


def space_from_win(win: int) -> int:
    return win << 1


def full_space(sk: TcpSock) -> int:
    space = sk.sk_rcvbuf  # win_from_space, inlined here and in tcp_space (per ACK sent)
    return space >> 1 if space > 0 else 0


IPV6_NET_HEADER_LEN = 40  # icsk_af_ops->net_header_len of ipv6_specific
IP6_RT_MIN_ADVMSS = 1220  # net.ipv6.route.min_adv_mss: IPV6_MIN_MTU - 20 - 40


def tcp_space(sk: TcpSock) -> int:
    """Window for the receive memory still free (``tcp_space``)."""
    space = sk.sk_rcvbuf - sk.rmem_alloc
    return space >> 1 if space > 0 else 0


def advmss_for_mtu(mtu: int, net_header_len: int = 20) -> int:
    """``ipv4_default_advmss`` (``net_header_len`` 20) or ``ip6_default_advmss`` (40: the
    MTU less 60, at least ``ip6_rt_min_advmss``' 1220): what a route with ``mtu`` lets us
    advertise."""
    if net_header_len == IPV6_NET_HEADER_LEN:
        return min(max(mtu - IPV6_NET_HEADER_LEN - TCP_HLEN, IP6_RT_MIN_ADVMSS), 65535 - TCP_HLEN)
    return min(max(mtu - 40, 256), 65535 - 40)


def mss_clamp_user(sk: TcpSock, mss: int) -> int:
    """``tcp_mss_clamp``: TCP_MAXSEG bounds what we advertise."""
    return sk.user_mss if sk.user_mss and sk.user_mss < mss else mss


def mtu_to_mss(sk: TcpSock, pmtu: int) -> int:
    """Payload per segment for ``pmtu``, options (timestamps) included (``tcp_mtu_to_mss``)."""
    mss = min(pmtu - sk.net_header_len - TCP_HLEN, sk.mss_clamp)
    mss -= sk.tcp_header_len - TCP_HLEN
    return max(mss, TCP_MIN_SND_MSS)


def bound_to_half_wnd(sk: TcpSock, pktsize: int) -> int:
    """Never send more than half the largest window the peer offered (``tcp_bound_to_half_wnd``)."""
    mw = sk.max_window
    cutoff = mw >> 1 if mw > TCP_MSS_DESIRED else mw
    if cutoff and pktsize > cutoff:
        return max(cutoff, 68 - sk.tcp_header_len)
    return pktsize


def sync_mss(sk: TcpSock, pmtu: int) -> int:
    """Recompute ``mss_cache`` for a path MTU (``tcp_sync_mss``)."""
    mss = bound_to_half_wnd(sk, mtu_to_mss(sk, pmtu))
    sk.pmtu = pmtu
    sk.mss_cache = mss
    return mss


def options_len(sk: TcpSock) -> int:
    """Bytes of options on an established segment now (``tcp_established_options``)."""
    size = TCPOLEN_TSTAMP_ALIGNED if sk.tstamp_ok else 0
    eff = sk.num_sacks + (sk.dsack is not None)
    if eff and sk.sack_ok:
        room = (MAX_TCP_OPTION_SPACE - size - TCPOLEN_SACK_BASE_ALIGNED) // TCPOLEN_SACK_PERBLOCK
        size += TCPOLEN_SACK_BASE_ALIGNED + TCPOLEN_SACK_PERBLOCK * min(eff, room)
    return size


def current_mss(sk: TcpSock) -> int:
    """MSS for the next segment: path changes and SACK blocks shrink it (``tcp_current_mss``)."""
    route = sk.route
    if route is not None:
        mtu = min(route.mtu, sk.icmp_pmtu) if sk.icmp_pmtu else route.mtu
        if mtu != sk.pmtu:
            sync_mss(sk, mtu)
    mss = sk.mss_cache
    if sk.num_sacks or sk.dsack is not None:
        header_len = options_len(sk) + TCP_HLEN
    else:  # options_len without SACK blocks, inlined: once per write_xmit (issue 18)
        header_len = (TCPOLEN_TSTAMP_ALIGNED if sk.tstamp_ok else 0) + TCP_HLEN
    if header_len != sk.tcp_header_len:
        mss -= header_len - sk.tcp_header_len
    return mss


def can_gso(sk: TcpSock) -> bool:
    """The route's device segments for us (NETIF_F_TSO): build super-segments."""
    return bool(sk.features & NETIF_F_ALL_TSO)


def xmit_size_goal(sk: TcpSock, mss_now: int, large_allowed: bool = True) -> int:
    """Bytes per skb ``sendmsg`` builds: up to 64 KiB with TSO, else one MSS."""
    if not large_allowed or not sk.features & NETIF_F_ALL_TSO:  # can_gso, inlined
        return mss_now
    # bound_to_half_wnd, inlined: twice per transmit (issue 18)
    goal = GSO_MAX_SIZE - 1 - MAX_TCP_HEADER
    mw = sk.max_window
    cutoff = mw >> 1 if mw > TCP_MSS_DESIRED else mw
    if cutoff and goal > cutoff:
        goal = cutoff if cutoff > 68 - sk.tcp_header_len else 68 - sk.tcp_header_len
    return (goal // mss_now or 1) * mss_now


def initialize_rcv_mss(sk: TcpSock) -> None:
    """A first guess at the peer's segment size (``tcp_initialize_rcv_mss``): 536 at most."""
    hint = min(sk.advmss, sk.mss_cache, sk.rcv_wnd // 2 or sk.advmss, TCP_MSS_DEFAULT)
    sk.rcv_mss = max(hint, TCP_MIN_MSS)


def initial_window(
    sysctl, space: int, mss: int, window_clamp: int, wscale_ok: bool
) -> tuple[int, int, int]:
    """(rcv_wnd, window_clamp, rcv_wscale) for a SYN (``tcp_select_initial_window``).

    The window offered in the SYN is at most 64 KiB rounded down to a multiple of the MSS
    (the familiar 64240 and 65160); the scale is what the largest buffer could ever need.
    """
    clamp = window_clamp or (0xFFFF << TCP_MAX_WSCALE)
    space = min(clamp, space)
    if space > mss:
        space -= space % mss
    rcv_wnd = min(space, 0xFFFF)
    rcv_wscale = 0
    if wscale_ok:
        space = max(space, sysctl.tcp_rmem[2], sysctl.rmem_max)
        space = min(space, clamp)
        rcv_wscale = min(max(space.bit_length() - 1 - 15, 0), TCP_MAX_WSCALE)
    return rcv_wnd, min(0xFFFF << rcv_wscale, clamp), rcv_wscale


def select_initial_window(sk: TcpSock, space: int, mss: int, wscale_ok: bool) -> None:
    sk.rcv_wnd, sk.window_clamp, sk.rcv_wscale = initial_window(
        sk.net.sysctl, space, mss, sk.window_clamp, wscale_ok
    )


def raw_select_window(sk: TcpSock) -> int:
    """The window we could offer now, in bytes (``__tcp_select_window``)."""
    # tcp_space, full_space and min() inlined: once per segment sent and per ACK decision
    mss = sk.rcv_mss
    rcvbuf = sk.sk_rcvbuf
    free = rcvbuf - sk.rmem_alloc
    free = free >> 1 if free > 0 else 0
    allowed = rcvbuf >> 1 if rcvbuf > 0 else 0
    full = sk.window_clamp if sk.window_clamp < allowed else allowed
    if mss > full:
        mss = full
        if mss <= 0:
            return 0
    wscale = sk.rcv_wscale
    if free < (full >> 1):
        sk.ack_quick = 0
        free -= free % (1 << wscale)
        if free < (allowed >> 4) or free < mss:
            return 0
    if free > sk.rcv_ssthresh:
        free = sk.rcv_ssthresh
    if wscale:
        unit = 1 << wscale
        return (free + unit - 1) & ~(unit - 1)
    window = sk.rcv_wnd
    if window <= free - mss or window > free:
        window = (free // mss) * mss
    elif mss == full and free > window + (full >> 1):
        window = free
    return window


def select_window(sk: TcpSock) -> int:
    """The 16-bit window field of the next segment; never shrinks (``tcp_select_window``)."""
    old = sk.rcv_wnd
    if sk.ack_pending & ICSK_ACK_NOMEM:
        sk.fastpath = False
        sk.rcv_wnd = 0
        sk.rcv_wup = sk.rcv_nxt
        return 0
    cur = sk.rcv_wup + old - sk.rcv_nxt  # receive_window, inlined (per segment sent)
    if cur < 0:
        cur = 0
    new = raw_select_window(sk)
    wscale = sk.rcv_wscale
    if new < cur:
        if new == 0:
            sk.net.mib.tcpext["TCPWantZeroWindowAdv"] += 1
        unit = 1 << wscale
        new = (cur + unit - 1) & ~(unit - 1)
    sk.rcv_wnd = new
    sk.rcv_wup = sk.rcv_nxt
    if new > MAX_TCP_WINDOW << wscale:
        new = MAX_TCP_WINDOW << wscale
    new >>= wscale
    if new == 0:
        sk.fastpath = False
        if old:
            sk.net.mib.tcpext["TCPToZeroWindowAdv"] += 1
    elif old == 0:
        sk.net.mib.tcpext["TCPFromZeroWindowAdv"] += 1
    return new


# -- the send buffer ------------------------------------------------------------------------------
def sndbuf_expand(sk: TcpSock) -> None:
    """Room for two windows of data in the send buffer (``tcp_sndbuf_expand``)."""
    per_mss = max(sk.mss_clamp, sk.mss_cache) + 320 + 320
    per_mss = (1 << (per_mss - 1).bit_length()) + 256
    nr_segs = max(TCP_INIT_CWND, sk.cwnd, sk.reordering + 1)
    sndmem = sk.ca.sndbuf_expand(sk) * nr_segs * per_mss  # 2, or the CC's (BBR: 3)
    if sk.sk_sndbuf < sndmem:
        sk.sk_sndbuf = min(sndmem, sk.net.sysctl.tcp_wmem[2])


def should_expand_sndbuf(sk: TcpSock) -> bool:
    """``tcp_should_expand_sndbuf``: not if the user set SO_SNDBUF, nor while the congestion
    window is full (more buffer would not be sent any sooner).  Deviation: no global TCP
    memory pressure is modelled."""
    return not sk.userlocks & SOCK_SNDBUF_LOCK and sk.packets_in_flight() < sk.cwnd


def check_space(sk: TcpSock) -> None:
    """Wake a writer that found the buffer full once there is room (``tcp_check_space``,
    ``tcp_new_space``)."""
    if not sk.nospace:
        return
    if should_expand_sndbuf(sk):
        sndbuf_expand(sk)
        sk.cwnd_stamp = sk.net.sched.now
    if sk.sk_sndbuf - sk.wmem_queued >= sk.wmem_queued >> 1 and stream_memory_free(sk, 1):
        sk.nospace = False
        chrono_stop(sk, TCP_CHRONO_SNDBUF_LIMITED)
        sk.wake()


def stream_memory_free(sk: TcpSock, wake: int = 0) -> bool:
    """``tcp_stream_memory_free``: fewer unsent bytes than TCP_NOTSENT_LOWAT (else the
    ``tcp_notsent_lowat`` sysctl); a wake-up asks for half of that (``wake`` = 1)."""
    lowat = sk.notsent_lowat or sk.net.sysctl.tcp_notsent_lowat
    return (sk.write_seq - sk.snd_nxt) << wake < lowat
