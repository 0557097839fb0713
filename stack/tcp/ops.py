"""The socket calls on a TCP socket: bind, listen, accept, connect, send, receive, close.

Mirrors Linux's ``net/ipv4/af_inet.c`` (``inet_bind``, ``inet_listen``,
``__inet_stream_connect``, ``inet_shutdown``) and ``net/ipv4/tcp.c`` (``tcp_sendmsg_locked``,
``tcp_recvmsg_locked``, ``tcp_cleanup_rbuf``, ``tcp_rcv_space_adjust``, ``tcp_poll``,
``tcp_close``, ``tcp_disconnect``); the teardown they share with segment arrival and
the timers (``tcp_shutdown``, ``tcp_done``, ...) is in ``close.py``.  Every call is
non-blocking and raises an ``OSError`` subclass with a stdlib errno; the BSD layer above
blocks by waiting on ``poll()`` and the socket's wait queue.

``connect`` follows ``__inet_stream_connect``: the first call sends the SYN and raises
``EINPROGRESS``; later calls raise ``EALREADY`` while the handshake runs, return once it
succeeded (then ``EISCONN``), or raise the pending error (``ECONNREFUSED``, ``ETIMEDOUT``).
``sendmsg`` copies into skbs of the size goal and raises ``EAGAIN`` only when nothing fit;
``recvmsg`` returns ``b""`` at end of stream.

Scatter-gather: when the route's device has NETIF_F_SG and a checksum offload
(``sk.features``, Linux's ``sk_route_caps``), ``sendmsg`` copies the payload into the
socket's page frag (``sk.sk_frag``, 32 KiB pages in guest memory) and attaches it as page
fragments, the linear head keeping only the room for headers, as ``tcp_sendmsg_locked``
does; bytes that continue the last fragment on the same page extend it
(``skb_can_coalesce``); a full fragment array (MAX_SKB_FRAGS) starts a new segment.  The
driver then maps the pages in place.  Without SG the skb is linear, as before; an skb
keeps whichever layout it was built with.  Deviation: Linux requires only SG (its
validate_xmit checksums the fragments in software); ixsim also asks for a checksum offload,
so the software checksum in ``header.py`` always sees a linear skb.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.core.features import NETIF_F_CSUM_MASK, NETIF_F_SG
from stack.core.page import get_page
from stack.core.skbuff import MAX_SKB_FRAGS, SKB_TRUESIZE_OVERHEAD, SkbFrag, consume_skb
from stack.ipv4.route import RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST
from stack.sock import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLPRI,
    EPOLLRDHUP,
    EPOLLRDNORM,
    EPOLLWRNORM,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SOCK_BINDADDR_LOCK,
    SOCK_BINDPORT_LOCK,
    eagain,
    oserror,
)
from stack.tcp import ecn, fastopen, minisocks, output, rate, urg
from stack.tcp import window as win
from stack.tcp.cb import TxSeg
from stack.tcp.chrono import TCP_CHRONO_BUSY, chrono_start
from stack.tcp.close import SHUTDOWN_MASK, close_state, fin_time, purge_write_queue, tcp_shutdown
from stack.tcp.cong import CA_EVENT_CWND_RESTART
from stack.tcp.connect import send_syn
from stack.tcp.const import (
    ICSK_ACK_PUSHED,
    ICSK_ACK_PUSHED2,
    ICSK_ACK_SCHED,
    SS_CONNECTED,
    SS_CONNECTING,
    SS_UNCONNECTED,
    TCP_INFINITE_SSTHRESH,
    TCP_INIT_CWND,
    TCP_NAGLE_CORK,
    TCP_NAGLE_PUSH,
    TCP_TIMEOUT_INIT,
    TCP_URG_VALID,
)
from stack.tcp.fastopen import TFO_CLIENT_ENABLE, TFO_SERVER_ENABLE, TFO_SERVER_WO_SOCKOPT1
from stack.tcp.rcvbuf import rcv_space_adjust
from stack.tcp.recovery import current_ssthresh
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
from stack.tcp.tsq import autocork
from stack.tcp.window import IPV6_NET_HEADER_LEN
from stack.uapi import (
    MSG_DONTWAIT,
    MSG_FASTOPEN,
    MSG_MORE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    SIOCATMARK,
    SIOCINQ,
    SIOCOUTQ,
    SIOCOUTQNSD,
    SO_DONTROUTE,
    SOL_SOCKET,
)
from stack.wire.ipv4 import INADDR_ANY
from stack.wire.tcp import ACK, PSH

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

def raise_sock_error(sk: TcpSock) -> None:
    err = sk.sock_error()
    if err:
        raise oserror(err)


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


# -- sending --------------------------------------------------------------------------------------
def _append(skb, data: memoryview) -> None:
    """Copy ``data`` to the end of an unsent skb, growing it (no one shares it yet)."""
    n = len(data)
    if skb.end - skb.tail >= n:
        skb.put_data(data)
        return
    head = skb.head
    del head[skb.tail:]
    head += data
    skb.tail = skb.end = len(head)
    skb.truesize += n


def _copy_to_page_frag(sk: TcpSock, skb, mv: memoryview, start: int, want: int) -> int:
    """Copy up to ``want`` bytes of ``mv[start:]`` into the socket's page frag and attach them
    to ``skb`` as fragments (``tcp_sendmsg_locked``'s ``sk_page_frag_refill`` /
    ``skb_can_coalesce`` / ``skb_copy_to_page_nocache`` / ``skb_fill_page_desc``).

    Bytes that continue the skb's last fragment on the same page extend it; otherwise a new
    fragment takes a page reference.  Returns the bytes copied: 0 when the skb already has
    MAX_SKB_FRAGS fragments (the caller starts a new segment) or no page could be had.
    """
    pfrag = sk.sk_frag
    kernel = sk.net.kernel
    frags = skb.shinfo.frags
    done = 0
    while done < want:
        if not pfrag.refill(kernel, 32):
            break
        page = pfrag.page
        off = pfrag.offset
        copy = min(want - done, page.size - off)
        last = frags[-1] if frags else None
        if last is not None and last.page is page and last.page_offset + last.size == off:
            last.size += copy  # skb_can_coalesce
        elif len(frags) >= MAX_SKB_FRAGS:
            break
        else:
            get_page(page)
            frags.append(SkbFrag(page, off, copy))  # skb_fill_page_desc
        at = start + done
        page.buf[off:off + copy] = mv[at:at + copy]
        pfrag.offset = off + copy
        skb.data_len += copy
        done += copy
    return done


def slow_start_after_idle_check(sk: TcpSock) -> None:
    """RFC 5681 4.1 / RFC 7661: shrink cwnd after an idle RTO (``tcp_cwnd_restart``)."""
    if not sk.net.sysctl.tcp_slow_start_after_idle or sk.packets_out:
        return
    delta = sk.net.sched.now - sk.lsndtime
    if delta <= sk.rto:
        return
    sk.ca.cwnd_event(sk, CA_EVENT_CWND_RESTART)
    sk.ssthresh = current_ssthresh(sk)
    restart = min(TCP_INIT_CWND, sk.cwnd)
    cwnd = sk.cwnd
    delta -= sk.rto
    while delta > 0 and cwnd > restart:
        cwnd >>= 1
        delta -= sk.rto
    sk.cwnd = max(cwnd, restart)
    sk.cwnd_stamp = sk.net.sched.now


def sendmsg_fastopen(sk: TcpSock, data: memoryview, addr: tuple[bytes, int] | None) -> int:
    """``sendto(MSG_FASTOPEN)`` or the first send of a deferred TCP_FASTOPEN_CONNECT: connect
    with the data in the SYN (``tcp_sendmsg_fastopen``).  Returns what the SYN carried;
    EINPROGRESS when it carried nothing (no cookie yet: the SYN asked for one)."""
    fo = sk.fastopen
    if not sk.net.sysctl.tcp_fastopen & TFO_CLIENT_ENABLE:
        raise oserror(errno.EOPNOTSUPP)
    if fo.req is not None:
        raise oserror(errno.EALREADY)  # another Fast Open is in progress
    fo.req = req = fastopen.FastOpenRequest(b"", data)
    try:
        if fo.defer_connect:
            send_syn(sk)
            raise BlockingIOError(errno.EINPROGRESS, "Operation now in progress")
        if addr is None:
            raise oserror(errno.EDESTADDRREQ)
        connect(sk, *addr)
    except BlockingIOError as exc:
        if exc.errno != errno.EINPROGRESS or not req.copied:
            raise
    finally:
        fo.req = None
        fo.defer_connect = False
    return req.copied


def sendmsg(sk: TcpSock, data: bytes | memoryview, flags: int = 0,
            addr: tuple[bytes, int] | None = None) -> int:
    """Queue ``data`` for sending and push it (``tcp_sendmsg_locked``).

    ``MSG_OOB`` makes the last byte urgent (``tcp_mark_urg``): every segment below it then
    carries URG and the urgent pointer until the peer acknowledges it (see ``urg.py``).
    ``MSG_FASTOPEN`` (or a connect deferred by TCP_FASTOPEN_CONNECT) connects with the data
    in the SYN (:func:`sendmsg_fastopen`).  A Fast Open child may send before the handshake
    completes (``tcp_passive_fastopen``).
    """
    if flags & MSG_FASTOPEN or sk.fastopen.defer_connect:
        return sendmsg_fastopen(sk, memoryview(data).cast("B"), addr)
    if sk.sk_err:
        raise_sock_error(sk)
    if sk.state not in (ESTABLISHED, CLOSE_WAIT) and not (
            sk.state == SYN_RECEIVED and sk.fastopen.rsk is not None):
        if sk.state in (SYN_SENT, SYN_RECEIVED):
            raise eagain()
        raise oserror(errno.EPIPE)
    if sk.sk_shutdown & SEND_SHUTDOWN:
        raise oserror(errno.EPIPE)
    mv = memoryview(data).cast("B")
    n = len(mv)
    if not n:
        return 0
    rate.check_app_limited(sk)  # is sending application-limited?
    mss_now = win.current_mss(sk)
    # tcp_send_mss: urgent data goes in segments of one MSS (no TSO size goal)
    size_goal = mss_now if flags & MSG_OOB else win.xmit_size_goal(sk, mss_now)
    if not sk.packets_out:
        slow_start_after_idle_check(sk)
    queue = sk.write_queue
    features = sk.features
    sg = features & NETIF_F_SG and features & NETIF_F_CSUM_MASK
    copied = 0
    new_segment = False
    while copied < n:
        tail = queue[-1] if queue else None
        if (tail is None or new_segment or tail.skb.len >= size_goal
                or tail.flags & ~(ACK | PSH) or (not sg and tail.skb.data_len)):
            if sk.wmem_queued >= sk.sk_sndbuf or not win.stream_memory_free(sk):
                break
            chunk = min(size_goal, n - copied)
            skb = output.new_queued_skb(sk, 0 if sg else chunk)
            tail = TxSeg(skb, sk.write_seq, sk.write_seq, ACK)
            skb.truesize = SKB_TRUESIZE_OVERHEAD
            sk.wmem_queued += SKB_TRUESIZE_OVERHEAD
            if not queue:
                chrono_start(sk, TCP_CHRONO_BUSY)  # tcp_add_write_queue_tail
            queue.append(tail)
            new_segment = False
        chunk = min(size_goal - tail.skb.len, n - copied)
        if sg:
            chunk = _copy_to_page_frag(sk, tail.skb, mv, copied, chunk)
            if not chunk:  # MAX_SKB_FRAGS full: tcp_mark_push, goto new_segment
                if tail.skb.len == 0:  # no page to be had (sk_page_frag_refill failed)
                    queue.pop()
                    sk.wmem_queued -= SKB_TRUESIZE_OVERHEAD
                    consume_skb(tail.skb)
                    break
                new_segment = True
                continue
        else:
            _append(tail.skb, mv[copied:copied + chunk])
        tail.skb.truesize = SKB_TRUESIZE_OVERHEAD + tail.skb.len
        tail.end_seq += chunk
        sk.write_seq += chunk
        sk.wmem_queued += chunk
        copied += chunk
    if copied < n:
        sk.nospace = True
    if not copied:
        raise eagain()
    if not flags & MSG_MORE:
        queue[-1].flags |= PSH
        sk.pushed_seq = sk.write_seq
    if flags & MSG_OOB:
        sk.snd_up = sk.write_seq  # tcp_mark_urg: the last byte sent is the urgent one
    nonagle = TCP_NAGLE_CORK if flags & MSG_MORE else sk.nonagle
    if not autocork(sk, queue[-1], size_goal):  # tcp_push: autocork waits for a completion
        output.push_pending_frames(sk, nonagle)
    sk.nonagle &= ~TCP_NAGLE_PUSH
    return copied


def writeable(sk: TcpSock) -> bool:
    """``sk_stream_is_writeable``: a third of the buffer free and fewer unsent bytes than
    TCP_NOTSENT_LOWAT; when not, the writer waits for ``check_space`` (SOCK_NOSPACE)."""
    if sk.sk_sndbuf - sk.wmem_queued >= sk.wmem_queued >> 1 and win.stream_memory_free(sk):
        return True
    sk.nospace = True
    return False


# -- receiving ------------------------------------------------------------------------------------
def recvmsg(sk: TcpSock, bufsize: int, flags: int = 0) -> bytes:
    """Copy queued data out (``tcp_recvmsg_locked``); ``b""`` at end of stream.

    ``MSG_PEEK`` reads across queued segments without consuming; ``MSG_TRUNC`` consumes (or,
    with ``MSG_PEEK``, counts) without copying: the result is that many zero bytes, standing
    for the count Linux returns.  ``MSG_OOB`` reads the urgent byte (``urg.recv_urg``); while
    urgent data is pending a read stops at its mark (``urg.read``).  ``MSG_WAITALL`` is the
    caller's loop (the BSD layer), since this call never sleeps.
    """
    if sk.state == LISTEN:
        raise oserror(errno.ENOTCONN)
    if flags & MSG_OOB:
        return urg.recv_urg(sk, bufsize, flags)
    queue = sk.receive_queue
    if (queue and bufsize > 0 and sk.rcvlowat > 1 and not flags & MSG_DONTWAIT
            and not (sk.done or sk.sk_err or sk.sk_shutdown & RCV_SHUTDOWN)
            and not epollin_ready(sk, min(sk.rcvlowat, bufsize))):
        raise eagain()  # a blocking read waits for sock_rcvlowat(sk, 0, len) bytes
    if queue and bufsize > 0 and sk.urg_data:
        data, used = urg.read(sk, bufsize, flags)
        if used and not flags & MSG_PEEK:
            rcv_space_adjust(sk)
            cleanup_rbuf(sk, len(data))
        if data:
            return data
        return nothing_to_read(sk)  # only the urgent byte was there, and it was skipped
    if queue and bufsize > 0:
        peek = flags & MSG_PEEK
        trunc = flags & MSG_TRUNC
        parts = []
        need = bufsize
        if peek:
            for chunk in queue:
                parts.append(chunk[:need])
                need -= len(parts[-1])
                if not need:
                    break
            return bytes(bufsize - need) if trunc else b"".join(parts)
        while queue and need:
            chunk = queue[0]
            if len(chunk) <= need:
                parts.append(queue.popleft())
                need -= len(chunk)
            else:
                parts.append(chunk[:need])
                queue[0] = chunk[need:]
                need = 0
        copied = bufsize - need
        if trunc:
            data = bytes(copied)
        else:
            data = parts[0] if len(parts) == 1 else b"".join(parts)
        sk.copied_seq += copied
        sk.rmem_alloc -= copied
        rcv_space_adjust(sk)
        cleanup_rbuf(sk, copied)
        return bytes(data)
    if bufsize <= 0 and queue:
        return b""
    return nothing_to_read(sk)


def nothing_to_read(sk: TcpSock) -> bytes:
    """``tcp_recvmsg_locked`` with nothing copied: end of stream, the error, or EAGAIN."""
    if sk.done:
        return b""
    if sk.sk_err:
        raise_sock_error(sk)
    if sk.sk_shutdown & RCV_SHUTDOWN:
        return b""
    if sk.state == CLOSED:
        raise oserror(errno.ENOTCONN)
    raise eagain()


def cleanup_rbuf(sk: TcpSock, copied: int) -> None:
    """After a read: ACK now if it reopens the window a lot (``tcp_cleanup_rbuf``)."""
    time_to_ack = False
    pending = sk.ack_pending
    if pending & ICSK_ACK_SCHED:
        if (sk.rcv_nxt - sk.rcv_wup > sk.rcv_mss
                or (copied > 0 and (pending & ICSK_ACK_PUSHED2
                                    or (pending & ICSK_ACK_PUSHED and not sk.pingpong))
                    and not sk.rmem_alloc)):
            time_to_ack = True
    if copied > 0 and not time_to_ack and not sk.sk_shutdown & RCV_SHUTDOWN:
        now_win = sk.receive_window()
        if 2 * now_win <= sk.window_clamp:
            new_win = win.raw_select_window(sk)
            if new_win and new_win >= 2 * now_win:
                time_to_ack = True
    if time_to_ack:
        output.send_ack(sk)


# -- readiness ------------------------------------------------------------------------------------
def epollin_ready(sk: TcpSock, target: int) -> bool:
    """``tcp_epollin_ready``: ``target`` bytes queued (SO_RCVLOWAT), or fewer when the buffer
    is under pressure or the window too small for more to come."""
    queue = sk.receive_queue
    if not queue:
        return False
    return (target <= 1 or sum(len(chunk) for chunk in queue) >= target
            or sk.rmem_alloc > sk.sk_rcvbuf - (sk.sk_rcvbuf >> 3)
            or sk.receive_window() <= sk.rcv_mss)


def poll(sk: TcpSock) -> int:
    """``tcp_poll``."""
    state = sk.state
    if state == LISTEN:
        return EPOLLIN | EPOLLRDNORM if sk.accept_queue else 0
    mask = 0
    shutdown = sk.sk_shutdown
    if shutdown == SHUTDOWN_MASK or state == CLOSED:
        mask |= EPOLLHUP
    if shutdown & RCV_SHUTDOWN:
        mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP
    if state == SYN_SENT and sk.fastopen.defer_connect:
        mask |= EPOLLOUT | EPOLLWRNORM  # write() makes the SYN (tcp_poll)
    elif state not in (SYN_SENT, SYN_RECEIVED) or sk.fastopen.rsk is not None:
        urg_data = sk.urg_data
        target = urg.poll_target(sk, sk.rcvlowat) if urg_data else sk.rcvlowat
        if epollin_ready(sk, target):
            mask |= EPOLLIN | EPOLLRDNORM
        if not shutdown & SEND_SHUTDOWN:
            if writeable(sk):
                mask |= EPOLLOUT | EPOLLWRNORM
        else:
            mask |= EPOLLOUT | EPOLLWRNORM
        if urg_data & TCP_URG_VALID:
            mask |= EPOLLPRI
    if sk.sk_err:
        mask |= EPOLLERR
    return mask


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
        output.send_active_reset(sk)
        tcp_set_state(sk, CLOSED)
    elif sk.linger[0] and not sk.linger[1]:
        disconnect(sk)
        mib["TCPAbortOnData"] += 1
    elif close_state(sk):
        output.send_fin(sk)
    if sk.state == FIN_WAIT_2:
        if sk.linger2 < 0:
            output.send_active_reset(sk)
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
        output.send_active_reset(sk)
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
