"""The socket calls on a TCP socket: bind, listen, accept, connect, ioctl, shutdown, close.

Mirrors Linux's ``net/ipv4/af_inet.c`` (``inet_bind``, ``inet_listen``,
``__inet_stream_connect``, ``inet_shutdown``) and ``net/ipv4/tcp.c`` (``tcp_ioctl``,
``tcp_close``, ``tcp_disconnect``); the data calls are ``sendmsg.py`` (``tcp_sendmsg``) and
``recvmsg.py`` (``tcp_recvmsg``), readiness ``poll.py`` (``tcp_poll``); the teardown they share
with segment arrival and the timers (``tcp_shutdown``, ``tcp_done``, ...) is in ``close.py``.
Every call is non-blocking and raises an ``OSError`` subclass with a stdlib errno; the BSD
layer above blocks by waiting on ``poll()`` and the socket's wait queue.

``connect`` follows ``__inet_stream_connect``: the first call sends the SYN and raises
``EINPROGRESS``; later calls raise ``EALREADY`` while the handshake runs, return once it
succeeded (then ``EISCONN``), or raise the pending error (``ECONNREFUSED``, ``ETIMEDOUT``).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.ipv4.route import RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST
from stack.sock import (
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SOCK_BINDADDR_LOCK,
    SOCK_BINDPORT_LOCK,
    eagain,
    oserror,
)
from stack.tcp import ecn, fastopen, minisocks, output, transmit, urg
from stack.tcp.close import SHUTDOWN_MASK, close_state, fin_time, purge_write_queue, tcp_shutdown
from stack.tcp.connect import send_syn
from stack.tcp.const import (
    SS_CONNECTED,
    SS_CONNECTING,
    SS_UNCONNECTED,
    TCP_INFINITE_SSTHRESH,
    TCP_INIT_CWND,
    TCP_TIMEOUT_INIT,
)
from stack.tcp.fastopen import TFO_SERVER_ENABLE, TFO_SERVER_WO_SOCKOPT1
from stack.tcp.state import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    LISTEN,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
    CaState,
    tcp_set_state,
)
from stack.tcp.window import IPV6_NET_HEADER_LEN
from stack.uapi import (
    SIOCATMARK,
    SIOCINQ,
    SIOCOUTQ,
    SIOCOUTQNSD,
    SO_DONTROUTE,
    SOL_SOCKET,
)
from stack.wire.ipv4 import INADDR_ANY

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

# -- addresses ------------------------------------------------------------------------------------
def bind(sk: TcpSock, addr: bytes, port: int) -> None:
    """``inet_bind``: EINVAL if already bound, EADDRINUSE on a conflict."""
    if sk.state != CLOSED or sk.bound:
        raise oserror(errno.EINVAL)
    if addr != INADDR_ANY and not sk.net.sysctl.ip_nonlocal_bind and (
            sk.net.fib.addr_type(addr) not in (RTN_LOCAL, RTN_MULTICAST, RTN_BROADCAST)):
        raise oserror(errno.EADDRNOTAVAIL)  # inet_addr_valid_or_nonlocal
    sk.table.bind(sk, addr, port)
    if addr != INADDR_ANY:
        sk.userlocks |= SOCK_BINDADDR_LOCK
    if port:
        sk.userlocks |= SOCK_BINDPORT_LOCK


def getpeername(sk: TcpSock) -> tuple[bytes, int]:
    if not sk.rport or sk.state in (CLOSED, SYN_SENT, LISTEN):
        raise oserror(errno.ENOTCONN)
    return sk.raddr, sk.rport


# -- passive open ---------------------------------------------------------------------------------
def listen(sk: TcpSock, backlog: int) -> None:
    """``inet_listen``: the accept queue holds ``min(backlog, somaxconn) + 1`` connections."""
    if sk.sock_state != SS_UNCONNECTED or sk.state not in (CLOSED, LISTEN):
        raise oserror(errno.EINVAL)
    backlog = max(min(backlog, sk.net.sysctl.somaxconn), 0)
    if sk.state == LISTEN:
        sk.max_ack_backlog = backlog
        return
    if not sk.bound:
        sk.table.bind(sk, sk.laddr, 0)
    sk.table.listen_start(sk)
    sk.max_ack_backlog = backlog
    tfo = sk.net.sysctl.tcp_fastopen
    if (tfo & TFO_SERVER_WO_SOCKOPT1 and tfo & TFO_SERVER_ENABLE
            and not sk.fastopen.max_qlen):  # Fast Open on every listener
        sk.fastopen.max_qlen = min(backlog, sk.net.sysctl.somaxconn)
    tcp_set_state(sk, LISTEN)


def accept(sk: TcpSock) -> TcpSock:
    if sk.state != LISTEN:
        raise oserror(errno.EINVAL)
    if not sk.accept_queue:
        raise eagain()
    child = sk.accept_queue.popleft()
    child.parent = None
    child.sock_state = SS_CONNECTED
    return child


# -- active open ----------------------------------------------------------------------------------
def connect(sk: TcpSock, addr: bytes, port: int) -> None:
    """``__inet_stream_connect`` + ``tcp_v4_connect``."""
    if sk.sock_state == SS_CONNECTED:
        raise oserror(errno.EISCONN)
    if sk.sock_state == SS_CONNECTING:
        if sk.fastopen.defer_connect:
            raise oserror(errno.EISCONN)
        connect_check(sk)
        return
    if sk.state != CLOSED:
        raise oserror(errno.EISCONN)
    table = sk.table
    saddr = sk.laddr if sk.laddr != INADDR_ANY else None
    oif = sk.bound_dev_if  # SO_BINDTODEVICE: the route leaves through that device
    route = table.route(addr, saddr) if oif is None else table.route(addr, saddr, oif)
    if getattr(route, "gateway", None) is not None and sk.options.get((SOL_SOCKET,
                                                                      SO_DONTROUTE)):
        raise oserror(errno.ENETUNREACH)  # SO_DONTROUTE (RTO_ONLINK): on-link peers only
    if sk.laddr == INADDR_ANY:
        sk.laddr = route.src
    sk.raddr = addr
    sk.rport = port
    sk.route = route
    sk.net_header_len = IPV6_NET_HEADER_LEN if len(addr) == 16 else 20
    sk.features = table.route_caps(route, addr)
    tcp_set_state(sk, SYN_SENT)
    try:
        table.hash_connect(sk)
    except OSError:
        tcp_set_state(sk, CLOSED)
        sk.raddr, sk.rport = INADDR_ANY, 0
        raise
    if not sk.write_seq:
        sk.write_seq = table.secure_seq(sk.laddr, sk.lport, sk.raddr, sk.rport)
    sk.iss = sk.write_seq
    sk.ts_off = table.ts_offset(sk.laddr, sk.raddr)
    if fastopen.defer_connect(sk):  # TCP_FASTOPEN_CONNECT: the SYN leaves with the first send
        sk.sock_state = SS_CONNECTING
        return
    send_syn(sk)
    sk.sock_state = SS_CONNECTING
    raise BlockingIOError(errno.EINPROGRESS, "Operation now in progress")


def connect_check(sk: TcpSock) -> None:
    """A connect in progress, looked at again (``__inet_stream_connect`` after
    ``inet_wait_for_connect``): EALREADY while the handshake runs; once it failed (refused,
    reset, timed out) the error, once, and ``tcp_disconnect``, so the next connect starts
    afresh from a cleared source address; else the socket is connected."""
    if sk.state in (SYN_SENT, SYN_RECEIVED):
        raise oserror(errno.EALREADY)
    if sk.state == CLOSED:
        err = sk.sock_error() or errno.ECONNABORTED
        disconnect(sk)
        raise oserror(err)
    sk.sock_state = SS_CONNECTED


# -- readiness ------------------------------------------------------------------------------------
def ioctl(sk: TcpSock, cmd: int) -> int:
    """``tcp_ioctl``: SIOCINQ (FIONREAD), SIOCATMARK, SIOCOUTQ, SIOCOUTQNSD; ENOTTY for the
    rest, as ``sock_do_ioctl`` answers a command no layer knows."""
    state = sk.state
    if cmd == SIOCATMARK:
        return int(urg.at_mark(sk))
    if cmd in (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD):
        if state == LISTEN:
            raise oserror(errno.EINVAL)
        if cmd == SIOCINQ:
            return urg.inq(sk)
        if state in (SYN_SENT, SYN_RECEIVED):
            return 0
        return sk.write_seq - (sk.snd_una if cmd == SIOCOUTQ else sk.snd_nxt)
    raise oserror(errno.ENOTTY)


# -- closing --------------------------------------------------------------------------------------
def shutdown(sk: TcpSock, how: int) -> None:
    """``inet_shutdown``: SHUT_RD/SHUT_WR/SHUT_RDWR (0/1/2)."""
    how += 1
    if how not in (1, 2, 3):
        raise oserror(errno.EINVAL)
    state = sk.state
    if sk.sock_state == SS_CONNECTING:
        sk.sock_state = SS_UNCONNECTED if state in (SYN_SENT, SYN_RECEIVED, CLOSED) \
            else SS_CONNECTED
    err = 0
    if state == CLOSED:
        err = errno.ENOTCONN
        sk.sk_shutdown |= how
    elif state == LISTEN:
        if how & RCV_SHUTDOWN:
            disconnect(sk)
    elif state == SYN_SENT:
        disconnect(sk)
    else:
        sk.sk_shutdown |= how
        if how & SEND_SHUTDOWN:
            tcp_shutdown(sk)
    sk.wake()
    if err:
        raise oserror(err)


def destroy(sk: TcpSock) -> None:
    """``inet_csk_destroy_sock``: nothing left to do for a closed orphan."""
    sk.clear_xmit_timers()
    purge_write_queue(sk)
    sk.receive_queue.clear()
    sk.ofo.clear()
    sk.rmem_alloc = 0
    sk.table.put_port(sk)
    sk.ca.release(sk)


def close(sk: TcpSock) -> None:
    """``tcp_close``: FIN after the queued data, RST if unread data is thrown away."""
    if sk.closed:
        return
    sk.closed = True
    sk.sk_shutdown = SHUTDOWN_MASK
    state = sk.state
    if state == LISTEN:
        tcp_set_state(sk, CLOSED)
        minisocks.listen_stop(sk)
        destroy(sk)
        sk.wake()
        return
    unread = sum(len(c) for c in sk.receive_queue)
    sk.receive_queue.clear()
    sk.rmem_alloc = 0
    if state == CLOSED:
        destroy(sk)
        return
    if state == TIME_WAIT:
        return
    mib = sk.net.mib.tcpext
    if unread:
        mib["TCPAbortOnClose"] += 1
        transmit.send_active_reset(sk)
        tcp_set_state(sk, CLOSED)
    elif sk.linger[0] and not sk.linger[1]:
        disconnect(sk)
        mib["TCPAbortOnData"] += 1
    elif close_state(sk):
        output.send_fin(sk)
    if sk.state == FIN_WAIT_2:
        if sk.linger2 < 0:
            transmit.send_active_reset(sk)
            tcp_set_state(sk, CLOSED)
            mib["TCPAbortOnLinger"] += 1
        else:
            sk.reset_keepalive_timer(fin_time(sk), "fin_wait2")
    if sk.state == CLOSED:
        destroy(sk)
    sk.wake()


def disconnect(sk: TcpSock) -> None:
    """Abort the connection and make the socket reusable (``tcp_disconnect``)."""
    old = sk.state
    need_reset = old in (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_1, FIN_WAIT_2, SYN_RECEIVED) or (
        sk.snd_nxt != sk.write_seq and old in (CLOSING, LAST_ACK))
    if need_reset:
        transmit.send_active_reset(sk)
        sk.sk_err = errno.ECONNRESET
    elif old == SYN_SENT:
        sk.sk_err = errno.ECONNRESET
    if old != CLOSED:
        tcp_set_state(sk, CLOSED)
    if old == LISTEN:
        minisocks.listen_stop(sk)
    sk.clear_xmit_timers()
    sk.timewait_timer.del_timer()
    purge_write_queue(sk)
    sk.receive_queue.clear()
    sk.ofo.clear()
    sk.rmem_alloc = 0
    sk.urg_data = 0
    sk.selective_acks = []
    sk.num_sacks = 0
    sk.dsack = None
    sk.sk_shutdown = 0
    sk.done = False
    seq = (sk.write_seq + sk.max_window + 2) & 0xFFFFFFFF
    sk.write_seq = seq or 1
    sk.srtt_us = sk.mdev_us = sk.rttvar_us = 0
    sk.cwnd = TCP_INIT_CWND
    sk.packets_out = 0
    sk.retransmits = sk.backoff = sk.probes_out = 0
    sk.tstamp_ok = sk.sack_ok = sk.wscale_ok = False
    sk.tcp_header_len = 20
    sk.rto = TCP_TIMEOUT_INIT
    sk.ssthresh = TCP_INFINITE_SSTHRESH
    sk.ca_state = CaState.OPEN
    sk.delivered_ce = 0
    sk.ecn_flags = 0
    ecn.dontxmit(sk)  # the next connection's SYN must be Not-ECT (RFC 3168 §6.1.1)
    if not sk.userlocks & SOCK_BINDADDR_LOCK:
        sk.laddr = INADDR_ANY  # inet_reset_saddr: the next connect picks its source again
    sk.rport = 0
    sk.sock_state = SS_UNCONNECTED
    fo = sk.fastopen
    fo.req = None
    fo.defer_connect = fo.syn_fastopen = fo.syn_data = fo.syn_data_acked = False
    sk.wake()
