"""Listening and request socks (the SYN queue).

Mirrors Linux's ``net/ipv4/tcp_minisocks.c`` (``tcp_check_req``,
``tcp_create_openreq_child``), the SYN handling of
``tcp_input.c`` (``tcp_conn_request``), ``inet_connection_sock.c`` (``reqsk_timer_handler``,
``inet_csk_listen_stop``) and ``tcp_ipv4.c`` (``tcp_v4_syn_recv_sock``, ``tcp_v4_send_synack``).

A SYN to a listener creates a :class:`RequestSock` (Linux's ``request_sock`` in state
TCP_NEW_SYN_RECV): it lives in the listener's SYN queue and in the established hash,
retransmits its SYN-ACK with a doubling timeout (``tcp_synack_retries``), and becomes a full
child :class:`TcpSock` on a valid ACK (with TCP_DEFER_ACCEPT, on the first one carrying data,
or any ACK once the deferring period has passed; bare ACKs before are dropped and counted in
``TCPDeferAcceptDrop``) - if the accept queue has room (``backlog`` + 1 entries
as in Linux); otherwise the ACK is dropped and counted in ``ListenOverflows`` and
``ListenDrops``, and the peer's retransmission gets another chance.  A SYN that finds the
SYN queue full (more requests than the backlog, ``inet_csk_reqsk_queue_is_full`` as of Linux
6.13) gets a SYN cookie under ``tcp_syncookies`` (``syncookies.py``; the ACK that returns it
makes the child in :func:`cookie_v4_check`) or is dropped (``TCPReqQFullDrop``).  A Fast Open
SYN with a valid cookie (``fastopen.py``) makes the child at once, its data queued, and its
request stays with it to retransmit the SYN-ACK (:func:`fastopen_synack_timer`).

Segments to TIME-WAIT sockets are ``timewait.py``.

Spec: RFC 9293 §3.10.7.2 (LISTEN).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.skbfree import consume_skb, kfree_skb
from stack.core.skbuff import alloc_skb
from stack.core.timer import Timer
from stack.sock import EPOLLIN
from stack.tcp import ecn, fastopen, rcv, rtt, transmit
from stack.tcp import syncookies as syncookies_mod
from stack.tcp import window as win
from stack.tcp.close import tcp_done
from stack.tcp.const import (
    MAX_TCP_HEADER,
    NS_PER_MS,
    NS_PER_US,
    TCP_PAWS_WINDOW,
    TCP_RTO_MAX,
    TCP_TIMEOUT_INIT,
    TCPOLEN_TSTAMP_ALIGNED,
)
from stack.tcp.seq import SEQ_MASK, s32, unwrap
from stack.tcp.state import LISTEN, SYN_RECEIVED, tcp_set_state
from stack.uapi import SOL_SOCKET
from stack.wire.ipv4 import ip_str
from stack.wire.tcp import ACK, ECE, RST, SYN, TcpRepr

if TYPE_CHECKING:
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock


class RequestSock:
    """An embryonic connection: SYN received, SYN-ACK sent (``struct tcp_request_sock``)."""

    bound_dev_if = None  # the listener's device binding was checked when the SYN arrived

    __slots__ = ("listener", "laddr", "lport", "raddr", "rport", "iss", "irs", "mss",
                 "advmss", "wscale_ok", "snd_wscale", "rcv_wscale", "sack_ok", "tstamp_ok",
                 "ts_recent", "ts_off", "rcv_wnd", "window_clamp", "num_retrans",
                 "num_timeout", "snt_synack", "acked", "timer", "last_oow_ack_time", "route",
                 "snd_wnd", "rcv_nxt", "tfo_child", "ecn_ok")

    def __init__(self, listener: TcpSock, rx: RxSeg) -> None:
        self.listener = listener
        self.laddr = rx.daddr
        self.lport = rx.th.dst_port
        self.raddr = rx.saddr
        self.rport = rx.th.src_port
        self.irs = rx.th.seq
        self.rcv_nxt = rx.th.seq + 1  # past the SYN's data too for a Fast Open child
        self.tfo_child: Any = None  # the child a Fast Open SYN created at once
        self.ecn_ok = False  # the SYN asked for ECN and we accept (tcp_ecn_create_request)
        self.snt_synack = -1  # ns the SYN-ACK left; -1: none was sent by this request
        self.num_retrans = 0
        self.num_timeout = 0
        self.acked = False
        self.last_oow_ack_time = 0
        self.timer = Timer(listener.net.kernel, lambda t: synack_timer(self),
                           f"tcp synack {ip_str(self.raddr)}:{self.rport}")

    @property
    def key(self) -> tuple[bytes, int, bytes, int]:
        return (self.laddr, self.lport, self.raddr, self.rport)

    def ts_now(self) -> int:
        return (self.listener.net.sched.now // NS_PER_MS + self.ts_off) & SEQ_MASK

    def __repr__(self) -> str:
        return f"<RequestSock {ip_str(self.raddr)}:{self.rport} -> :{self.lport}>"


# -- LISTEN ---------------------------------------------------------------------------------------
def acceptq_is_full(listener: TcpSock) -> bool:
    return len(listener.accept_queue) > listener.max_ack_backlog


def listen_rcv(listener: TcpSock, rx: RxSeg, tw_isn: int = 0) -> None:
    """A segment to a listener (``tcp_rcv_state_process`` case TCP_LISTEN); frees the skb."""
    flags = rx.th.flags
    if flags & ACK:
        nsk = cookie_v4_check(listener, rx) if not flags & SYN else listener
        if nsk is None:
            kfree_skb(rx.skb, SkbDropReason.TCP_LISTEN_OVERFLOW)
            return
        if nsk is not listener:  # tcp_child_process: the cookie's child takes the ACK
            rcv.do_rcv(nsk, rx)
            if listener.wq:
                listener.wake(EPOLLIN)
            return
        rcv.reply_rst(listener, rx)
        kfree_skb(rx.skb, SkbDropReason.TCP_FLAGS)
        return
    if flags & RST:
        kfree_skb(rx.skb, SkbDropReason.TCP_RESET)
        return
    if not flags & SYN or flags & 0x01:  # SYN+FIN is nonsense
        kfree_skb(rx.skb, SkbDropReason.TCP_FLAGS)
        return
    reason = conn_request(listener, rx, tw_isn)
    if reason is None:
        consume_skb(rx.skb)
    else:
        kfree_skb(rx.skb, reason)


def reqsk_queue_is_full(listener: TcpSock) -> bool:
    """``inet_csk_reqsk_queue_is_full``: more requests than the backlog (Linux 6.13 on)."""
    return len(listener.syn_table) > listener.max_ack_backlog


def conn_request(listener: TcpSock, rx: RxSeg, tw_isn: int) -> SkbDropReason | None:
    """Answer a SYN with a SYN-ACK: queue a request, send a cookie, or make a Fast Open child
    at once (``tcp_conn_request``)."""
    net = listener.net
    mib = net.mib
    table = listener.table
    sysctl = net.sysctl
    syncookies = sysctl.tcp_syncookies
    want_cookie = False
    if (syncookies == 2 or reqsk_queue_is_full(listener)) and not tw_isn:
        want_cookie = syncookies_mod.syn_flood_action(listener)
        if not want_cookie:
            mib.tcpext["ListenDrops"] += 1
            return SkbDropReason.TCP_REQQFULLDROP
    if acceptq_is_full(listener):
        mib.tcpext["ListenOverflows"] += 1
        mib.tcpext["ListenDrops"] += 1
        return SkbDropReason.TCP_LISTEN_OVERFLOW
    if rx.key() in listener.syn_table:
        return SkbDropReason.TCP_OLD_SYN
    try:
        route = table.route(rx.saddr, rx.daddr)
    except OSError:
        mib.tcpext["ListenDrops"] += 1
        return SkbDropReason.IP_OUTNOROUTES
    th = rx.th
    req = RequestSock(listener, rx)
    req.route = route
    mss = th.mss or 536
    if listener.user_mss and listener.user_mss < mss:
        mss = listener.user_mss
    req.mss = mss
    # a cookie keeps the SYN's options only in a timestamp: without one they are dropped
    keep = th.timestamp is not None or not want_cookie
    req.tstamp_ok = th.timestamp is not None and bool(sysctl.tcp_timestamps)
    req.ts_recent = th.timestamp[0] if req.tstamp_ok else 0
    req.sack_ok = keep and th.sack_permitted and bool(sysctl.tcp_sack)
    req.wscale_ok = keep and th.wscale is not None and bool(sysctl.tcp_window_scaling)
    req.snd_wscale = min(th.wscale, 14) if req.wscale_ok else 0
    req.snd_wnd = th.window
    req.ecn_ok = ecn.create_request(listener, rx)
    req.ts_off = table.ts_offset(req.laddr, req.raddr)
    if not want_cookie and not tw_isn and not syncookies:
        # without cookies the last quarter of tcp_max_syn_backlog is kept for peers proven
        # alive (tcp_peer_is_proven; ixsim keeps no RTT metrics, so none is)
        backlog = sysctl.tcp_max_syn_backlog
        if backlog - len(listener.syn_table) < backlog >> 2:
            mib.tcpext["ListenDrops"] += 1
            return SkbDropReason.TCP_REQQFULLDROP
    if want_cookie:
        req.iss, req.mss = syncookies_mod.init_sequence(listener, rx, mss)
    else:
        req.iss = tw_isn or table.secure_seq(req.laddr, req.lport, req.raddr, req.rport)
    req.advmss = win.mss_clamp_user(listener, win.advmss_for_mtu(
        route.mtu, win.IPV6_NET_HEADER_LEN if len(req.raddr) == 16 else 20))
    space = win.full_space(listener)
    if listener.userlocks & 2 and (not listener.window_clamp
                                   or listener.window_clamp > space):
        clamp = space
    else:
        clamp = listener.window_clamp
    req.rcv_wnd, req.window_clamp, req.rcv_wscale = win.initial_window(
        sysctl, space, req.advmss - (TCPOLEN_TSTAMP_ALIGNED if req.tstamp_ok else 0), clamp,
        req.wscale_ok)
    if not req.wscale_ok:
        req.rcv_wscale = 0
    if want_cookie:
        send_synack(req, cookie=True)  # and forget it: the ACK will bring it back
        return None
    make_child, foc = fastopen.try_fastopen(listener, rx, fastopen.parse_cookie(th.fastopen))
    if make_child:
        child = syn_recv_sock(listener, req, rx)
        if child is not None:
            fastopen_child(listener, child, req, rx)
            send_synack(req)
            if listener.wq:
                listener.wake(EPOLLIN)
            return None
        mib.tcpext["TCPFastOpenPassiveFail"] += 1
    send_synack(req, foc=foc)
    listener.syn_table[req.key] = req
    table.ehash[req.key] = req
    req.timer.mod_timer(net.sched.now + TCP_TIMEOUT_INIT)
    return None


def fastopen_child(listener: TcpSock, child: TcpSock, req: RequestSock, rx: RxSeg) -> None:
    """Finish a child made from a Fast Open SYN (``tcp_fastopen_create_child``): its data is
    queued now, its window is the SYN's unscaled one, and its request stays with it to
    retransmit the SYN-ACK until the handshake completes."""
    listener.net.mib.tcpext["TCPFastOpenPassive"] += 1
    listener.fastopen.qlen += 1
    child.fastopen.rsk = req
    req.tfo_child = child
    child.snd_wnd = child.max_window = rx.th.window
    rcv.init_transfer(child)
    fastopen.add_syn_data(child, rx)
    req.rcv_nxt = child.rcv_nxt
    req.timer.mod_timer(listener.net.sched.now + TCP_TIMEOUT_INIT)


def cookie_v4_check(listener: TcpSock, rx: RxSeg) -> TcpSock | None:
    """An ACK to a listener that may carry a cookie: rebuild the request from it and make the
    child (``cookie_v4_check``, ``tcp_get_cookie_sock``).  Returns the listener when the ACK
    carries no usable cookie (it is answered with a reset), None when the child could not be
    made (the accept queue is full: dropped)."""
    checked = syncookies_mod.cookie_check(listener, rx)
    if checked is None:
        return listener
    mss, isn, tsoff = checked
    th = rx.th
    net = listener.net
    sysctl = net.sysctl
    tsecr = (th.timestamp[1] - tsoff) & SEQ_MASK if th.timestamp is not None else 0
    decoded = syncookies_mod.timestamp_decode(sysctl, rx, tsecr)
    if decoded is None:
        return listener
    try:
        route = listener.table.route(rx.saddr, rx.daddr)
    except OSError:
        return None
    req = RequestSock(listener, rx)
    req.irs = (th.seq - 1) & SEQ_MASK
    req.rcv_nxt = th.seq
    req.iss = isn
    req.mss = mss
    req.route = route
    req.wscale_ok, req.sack_ok, req.snd_wscale = decoded
    req.tstamp_ok = th.timestamp is not None
    req.ts_recent = th.timestamp[0] if req.tstamp_ok else 0
    req.ts_off = tsoff
    req.snd_wnd = th.window
    req.advmss = win.mss_clamp_user(listener, win.advmss_for_mtu(route.mtu))
    space = win.full_space(listener)
    clamp = listener.window_clamp
    if listener.userlocks & 2 and (not clamp or clamp > space):
        clamp = space
    req.rcv_wnd, req.window_clamp, req.rcv_wscale = win.initial_window(
        sysctl, space, mss, clamp, req.wscale_ok)
    if not req.wscale_ok:
        req.rcv_wscale = 0
    return syn_recv_sock(listener, req, rx)


def send_synack(req: RequestSock, foc: bytes | None = None, cookie: bool = False) -> None:
    """``tcp_v4_send_synack``: SYN-ACK with the options the SYN asked for, a Fast Open cookie
    (``foc``) when one is due; a SYN cookie's carries the peer's options in its TSval
    (``tcp_make_synack`` with TCP_SYNACK_COOKIE)."""
    listener = req.listener
    net = listener.net
    th = TcpRepr(req.lport, req.rport, req.iss & SEQ_MASK, req.rcv_nxt & SEQ_MASK,
                 SYN | ACK | ECE if req.ecn_ok else SYN | ACK,  # tcp_ecn_make_synack
                 min(req.rcv_wnd, 0xFFFF))
    th.mss = req.advmss
    if req.tstamp_ok:
        if cookie:
            tsval = syncookies_mod.init_timestamp(req.wscale_ok, req.snd_wscale, req.sack_ok,
                                                  req.ecn_ok, net.sched.now) + req.ts_off
            th.timestamp = (tsval & SEQ_MASK, req.ts_recent)
        else:
            th.timestamp = (req.ts_now(), req.ts_recent)
    if req.wscale_ok:
        th.wscale = req.rcv_wscale
    th.sack_permitted = req.sack_ok
    th.fastopen = foc
    req.snt_synack = net.sched.now
    # ip_build_and_send_pkt on behalf of the listener: its IP_TOS, IP_TTL and IP_MTU_DISCOVER
    # shape the IP header and its SO_PRIORITY / SO_MARK go on the skb, as on any segment of
    # its own (the table's transmit hook reads them from skb.sk)
    net.mib.tcp["OutSegs"] += 1
    skb = alloc_skb(net.kernel, MAX_TCP_HEADER)
    skb.reserve(MAX_TCP_HEADER)
    off = skb.push(th.buffer_len())
    th.payload_len = 0
    th.emit(skb.head, off, req.laddr, req.raddr)
    skb.transport_header = off
    skb.sk = listener
    listener.table.transmit(skb, req.laddr, req.raddr)


def synack_timer(req: RequestSock) -> None:
    """Retransmit the SYN-ACK, doubling from 1 s, then give up (``reqsk_timer_handler``)."""
    if req.tfo_child is not None:
        fastopen_synack_timer(req)
        return
    listener = req.listener
    if listener.state != LISTEN:
        drop_request(req)
        return
    max_retries = listener.syn_retries or listener.net.sysctl.tcp_synack_retries
    defer = listener.defer_accept
    if not defer:  # syn_ack_recalc
        expire = req.num_timeout >= max_retries
        resend = True
    else:
        # Deferring: an ACKed request waits for data without resending, until the last
        # period, when a SYN-ACK gives the peer's ACK (or data) one more chance.
        expire = req.num_timeout >= max_retries and (not req.acked
                                                     or req.num_timeout >= defer)
        resend = not req.acked or req.num_timeout >= defer - 1
    if expire:
        drop_request(req)
        return
    if resend:
        mib = listener.net.mib
        mib.tcp["RetransSegs"] += 1
        mib.tcpext["TCPSynRetrans"] += 1
        req.num_retrans += 1
        send_synack(req)
    req.num_timeout += 1
    timeout = min(TCP_TIMEOUT_INIT << req.num_timeout, TCP_RTO_MAX)
    req.timer.mod_timer(listener.net.sched.now + timeout)


def fastopen_synack_timer(req: RequestSock) -> None:
    """A Fast Open child's SYN-ACK unanswered: resend it, one retry more than a request
    gets, then fail the child with ETIMEDOUT (``tcp_fastopen_synack_timer``)."""
    child = req.tfo_child
    if child.state != SYN_RECEIVED or child.fastopen.rsk is not req:
        return
    net = child.net
    max_retries = child.syn_retries or net.sysctl.tcp_synack_retries + 1
    if req.num_timeout >= max_retries:
        fastopen.synrecv_done(child)
        child.sk_err = child.sk_err_soft or errno.ETIMEDOUT
        net.mib.tcpext["TCPAbortOnTimeout"] += 1
        tcp_done(child)
        return
    net.mib.tcp["RetransSegs"] += 1
    net.mib.tcpext["TCPSynRetrans"] += 1
    req.num_retrans += 1
    send_synack(req)
    req.num_timeout += 1
    child.total_retrans += 1
    if not child.retrans_stamp:
        child.retrans_stamp = net.sched.now
    req.timer.mod_timer(net.sched.now + min(TCP_TIMEOUT_INIT << req.num_timeout, TCP_RTO_MAX))


def drop_request(req: RequestSock) -> None:
    """Forget a request (``inet_csk_reqsk_queue_drop``)."""
    req.timer.del_timer()
    listener = req.listener
    listener.syn_table.pop(req.key, None)
    table = listener.table
    if table.ehash.get(req.key) is req:
        del table.ehash[req.key]


# -- SYN-RECEIVED (request socks) -----------------------------------------------------------------
def req_rcv(req: RequestSock, rx: RxSeg) -> None:
    """A segment for a request sock (``tcp_check_req``); frees the skb."""
    listener = req.listener
    net = listener.net
    if listener.state != LISTEN:
        drop_request(req)
        kfree_skb(rx.skb, SkbDropReason.TCP_CLOSE)
        return
    th = rx.th
    flags = th.flags
    seq = unwrap(req.irs + 1, th.seq)
    end_seq = seq + len(rx.payload) + bool(flags & SYN) + bool(flags & 0x01)
    paws_reject = False
    if req.tstamp_ok and th.timestamp is not None:
        tsval = th.timestamp[0]
        paws_reject = s32(req.ts_recent - tsval) > TCP_PAWS_WINDOW and not flags & RST
    if seq == req.irs and flags == SYN and not paws_reject:  # a retransmitted SYN
        if not _oow_limited(req, rx, "TCPACKSkippedSynRecv"):
            net.mib.tcp["RetransSegs"] += 1
            net.mib.tcpext["TCPSynRetrans"] += 1
            req.num_retrans += 1
            send_synack(req)
        consume_skb(rx.skb)
        return
    if flags & ACK and th.ack != (req.iss + 1) & SEQ_MASK:
        rcv.reply_rst(listener, rx)
        kfree_skb(rx.skb, SkbDropReason.TCP_INVALID_ACK_SEQUENCE)
        return
    rcv_nxt = req.irs + 1
    window = req.rcv_wnd
    in_window = (end_seq >= rcv_nxt and seq <= rcv_nxt + window) or seq == end_seq == rcv_nxt
    if paws_reject or not in_window:
        if not flags & RST and not _oow_limited(req, rx, "TCPACKSkippedSynRecv"):
            _send_req_ack(req)
        if paws_reject:
            net.mib.tcpext["PAWSEstab"] += 1
        kfree_skb(rx.skb, SkbDropReason.TCP_RFC7323_PAWS if paws_reject
                  else SkbDropReason.TCP_INVALID_SEQUENCE)
        return
    if req.tstamp_ok and th.timestamp is not None and seq <= rcv_nxt:
        req.ts_recent = th.timestamp[0]
    if seq == req.irs:
        flags &= ~SYN
    if flags & (RST | SYN):
        net.mib.tcp["AttemptFails"] += 1
        if not flags & RST:
            rcv.reply_rst(listener, rx)
        drop_request(req)
        net.mib.tcpext["EmbryonicRsts"] += 1
        kfree_skb(rx.skb, SkbDropReason.TCP_RESET)
        return
    if not flags & ACK:
        kfree_skb(rx.skb, SkbDropReason.TCP_FLAGS)
        return
    if req.num_timeout < listener.defer_accept and end_seq == rcv_nxt:
        # TCP_DEFER_ACCEPT: a bare ACK does not make the child; data (or the end of the
        # deferring period) will
        req.acked = True
        net.mib.tcpext["TCPDeferAcceptDrop"] += 1
        kfree_skb(rx.skb, SkbDropReason.NOT_SPECIFIED)
        return
    child = syn_recv_sock(listener, req, rx)
    if child is None:
        if net.sysctl.tcp_abort_on_overflow:
            rcv.reply_rst(listener, rx)
            drop_request(req)
        else:
            req.acked = True
        kfree_skb(rx.skb, SkbDropReason.TCP_LISTEN_OVERFLOW)
        return
    rcv.do_rcv(child, rx)
    if listener.wq:
        listener.wake(EPOLLIN)


def _oow_limited(req: RequestSock, rx: RxSeg, mib: str) -> bool:
    if rx.payload and not rx.th.flags & SYN:
        return False
    now = req.listener.net.sched.now
    if req.last_oow_ack_time and now - req.last_oow_ack_time < 500 * NS_PER_MS:
        req.listener.net.mib.tcpext[mib] += 1
        return True
    req.last_oow_ack_time = now or 1
    return False


def _send_req_ack(req: RequestSock) -> None:
    """``tcp_v4_reqsk_send_ack``: an ACK on behalf of a request sock."""
    th = TcpRepr(req.lport, req.rport, (req.iss + 1) & SEQ_MASK, (req.irs + 1) & SEQ_MASK, ACK,
                 min(req.rcv_wnd >> req.rcv_wscale, 0xFFFF))
    if req.tstamp_ok:
        th.timestamp = (req.ts_now(), req.ts_recent)
    transmit.emit_raw(req.listener.table, th, req.laddr, req.raddr)


def syn_recv_sock(listener: TcpSock, req: RequestSock, rx: RxSeg) -> TcpSock | None:
    """Make the child socket from a request (``tcp_v4_syn_recv_sock`` + ``..._openreq_child``)."""
    net = listener.net
    if acceptq_is_full(listener):
        net.mib.tcpext["ListenOverflows"] += 1
        net.mib.tcpext["ListenDrops"] += 1
        return None
    child: Any = type(listener)(net, listener.table)
    for name in ("nonagle", "keepopen", "keepalive_time", "keepalive_intvl", "keepalive_probes",
                 "user_mss", "linger", "linger2", "sk_sndbuf", "sk_rcvbuf", "userlocks",
                 "syn_retries", "user_timeout", "reuseaddr", "priority", "mark", "rcvtimeo",
                 "sndtimeo", "tos", "ttl", "notsent_lowat", "bound_dev_if", "pmtudisc",
                 "recverr", "ipv6only", "hop_limit", "tclass", "rxopt"):
        setattr(child, name, getattr(listener, name))
    # sk_clone_lock copies the whole struct sock: every SOL_SOCKET flag and value the user set
    # (SO_KEEPALIVE, SO_LINGER, SO_OOBINLINE, SO_RCVLOWAT, SO_BINDTODEVICE, ...)
    child.options = {key: value for key, value in listener.options.items()
                     if key[0] == SOL_SOCKET}
    child.rcvlowat = listener.rcvlowat
    child.ca = type(listener.ca)()
    child.laddr, child.lport, child.raddr, child.rport = req.key
    child.route = req.route
    child.features = listener.table.route_caps(req.route, child.raddr)
    child.net_header_len = win.IPV6_NET_HEADER_LEN if len(child.raddr) == 16 else 20
    child.iss = req.iss
    child.snd_una = child.snd_nxt = child.write_seq = req.iss + 1
    child.snd_sml = child.snd_up = child.pushed_seq = req.iss + 1
    child.irs = req.irs
    child.rcv_nxt = child.rcv_wup = child.copied_seq = req.irs + 1
    child.snd_wl1 = req.irs
    child.wscale_ok = req.wscale_ok
    child.snd_wscale = req.snd_wscale
    child.rcv_wscale = req.rcv_wscale
    child.snd_wnd = child.max_window = rx.th.window << req.snd_wscale
    child.rcv_wnd = req.rcv_wnd
    child.rcv_ssthresh = req.rcv_wnd
    child.window_clamp = req.window_clamp
    child.sack_ok = req.sack_ok
    child.tstamp_ok = req.tstamp_ok
    child.ecn_flags = ecn.TCP_ECN_OK if req.ecn_ok else 0  # tcp_ecn_openreq_child
    child.ts_recent = req.ts_recent
    child.ts_recent_stamp = net.sched.now or 1
    child.ts_off = req.ts_off
    child.tcp_header_len = 20 + (TCPOLEN_TSTAMP_ALIGNED if req.tstamp_ok else 0)
    child.mss_clamp = req.mss
    child.advmss = req.advmss
    win.sync_mss(child, req.route.mtu)
    win.initialize_rcv_mss(child)
    child.total_retrans = req.num_retrans
    parse = rcv.parse_ts
    parse(child, rx.th)
    if req.num_retrans or req.snt_synack < 0:  # a cookie's or Fast Open's: no sample
        rtt.ack_update_rtt(child, -1, -1)
    else:
        sample = (rx.tstamp - req.snt_synack) // NS_PER_US
        rtt.ack_update_rtt(child, sample, sample)
    tcp_set_state(child, SYN_RECEIVED)
    net.mib.tcp["PassiveOpens"] += 1
    drop_request(req)
    listener.table.hash_child(child, listener)
    child.parent = listener
    listener.accept_queue.append(child)
    return child


def listen_stop(listener: TcpSock) -> None:
    """Close a listener: forget requests, abort unaccepted children (``inet_csk_listen_stop``)."""
    for req in list(listener.syn_table.values()):
        drop_request(req)
    while listener.accept_queue:
        child = listener.accept_queue.popleft()
        child.parent = None
        child.closed = True
        child.disconnect()
