"""TCP's send path: ``sendmsg`` from user bytes to skbs on the write queue.

Mirrors Linux's ``net/ipv4/tcp.c`` ``tcp_sendmsg_locked`` (``sendmsg``: copies into skbs of the
size goal, raises ``EAGAIN`` only when nothing fit, marks urgent data under ``MSG_OOB`` and
pushes or autocorks), ``tcp_sendmsg_fastopen`` (``sendmsg_fastopen``: MSG_FASTOPEN or
TCP_FASTOPEN_CONNECT puts data in the SYN), ``tcp_cwnd_restart`` (RFC 5681 4.1 after idle)
and ``sk_stream_is_writeable``.

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
from stack.core.skbfree import MAX_SKB_FRAGS, SkbFrag, consume_skb
from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD
from stack.sock import (
    SEND_SHUTDOWN,
    eagain,
    oserror,
)
from stack.tcp import fastopen, output, rate, transmit
from stack.tcp import window as win
from stack.tcp.cb import TxSeg
from stack.tcp.chrono import TCP_CHRONO_BUSY, chrono_start
from stack.tcp.cong import CA_EVENT_CWND_RESTART
from stack.tcp.connect import send_syn
from stack.tcp.const import (
    TCP_INIT_CWND,
    TCP_NAGLE_CORK,
    TCP_NAGLE_PUSH,
)
from stack.tcp.fastopen import TFO_CLIENT_ENABLE
from stack.tcp.ops import connect
from stack.tcp.recovery import current_ssthresh
from stack.tcp.state import (
    CLOSE_WAIT,
    ESTABLISHED,
    SYN_RECEIVED,
    SYN_SENT,
)
from stack.tcp.tsq import autocork
from stack.uapi import (
    MSG_FASTOPEN,
    MSG_MORE,
    MSG_OOB,
)
from stack.wire.tcp import ACK, PSH

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def _append(skb, data: memoryview) -> None:
    """Copy ``data`` to the end of an unsent skb, growing it (no one shares it yet)."""
    n = len(data)
    if skb.end - skb.tail >= n:
        skb.put_data(data)
        return
    head = skb.head
    del head[skb.tail :]
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
        page.buf[off : off + copy] = mv[at : at + copy]
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


def tcp_sendmsg(
    sk: TcpSock, data: bytes | memoryview, flags: int = 0, addr: tuple[bytes, int] | None = None
) -> int:
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
        err = sk.sock_error()
        if err:
            raise oserror(err)
    if sk.state not in (ESTABLISHED, CLOSE_WAIT) and not (
        sk.state == SYN_RECEIVED and sk.fastopen.rsk is not None
    ):
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
    if not sk.packets_out and sk.net.sched.now - sk.lsndtime > sk.rto:  # the cheap test first
        slow_start_after_idle_check(sk)
    queue = sk.write_queue
    features = sk.features
    sg = features & NETIF_F_SG and features & NETIF_F_CSUM_MASK
    copied = 0
    new_segment = False
    while copied < n:
        tail = queue[-1] if queue else None
        if (
            tail is None
            or new_segment
            or tail.skb.len >= size_goal
            or tail.flags & ~(ACK | PSH)
            or (not sg and tail.skb.data_len)
        ):
            if sk.wmem_queued >= sk.sk_sndbuf or not win.stream_memory_free(sk):
                break
            chunk = n - copied if n - copied < size_goal else size_goal  # min(), per skb
            skb = transmit.new_queued_skb(sk, 0 if sg else chunk)
            tail = TxSeg(skb, sk.write_seq, sk.write_seq, ACK)
            skb.truesize = SKB_TRUESIZE_OVERHEAD
            sk.wmem_queued += SKB_TRUESIZE_OVERHEAD
            if not queue:
                chrono_start(sk, TCP_CHRONO_BUSY)  # tcp_add_write_queue_tail
            queue.append(tail)
            new_segment = False
        # skb.len (a property) read once per pass; min() as a comparison (issue 18)
        tskb = tail.skb
        tlen = tskb.len
        chunk = size_goal - tlen
        if n - copied < chunk:
            chunk = n - copied
        if sg:
            chunk = _copy_to_page_frag(sk, tskb, mv, copied, chunk)
            if not chunk:  # MAX_SKB_FRAGS full: tcp_mark_push, goto new_segment
                if tlen == 0:  # no page to be had (sk_page_frag_refill failed)
                    queue.pop()
                    sk.wmem_queued -= SKB_TRUESIZE_OVERHEAD
                    consume_skb(tskb)
                    break
                new_segment = True
                continue
        else:
            _append(tskb, mv[copied : copied + chunk])
        tskb.truesize = SKB_TRUESIZE_OVERHEAD + tlen + chunk  # both paths add chunk bytes
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
