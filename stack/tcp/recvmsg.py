"""TCP's receive path: ``recvmsg`` from the receive queue to user bytes.

Mirrors Linux's ``net/ipv4/tcp.c`` ``tcp_recvmsg_locked`` (``recvmsg``: MSG_PEEK, MSG_TRUNC,
MSG_OOB through ``urg``, a blocking read waiting for SO_RCVLOWAT; ``b""`` at end of stream),
``tcp_cleanup_rbuf`` (an ACK when a read reopens the window a lot) and
``tcp_epollin_ready``; the receive-buffer autotuning it drives is ``rcvbuf.py``.  Every call is
non-blocking: MSG_WAITALL is the BSD layer's loop (``stack.socket.recv``).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.sock import (
    RCV_SHUTDOWN,
    eagain,
    oserror,
)
from stack.tcp import transmit, urg
from stack.tcp import window as win
from stack.tcp.const import (
    ICSK_ACK_PUSHED,
    ICSK_ACK_PUSHED2,
    ICSK_ACK_SCHED,
)
from stack.tcp.poll import epollin_ready
from stack.tcp.rcvbuf import rcv_space_adjust
from stack.tcp.state import (
    CLOSED,
    LISTEN,
)
from stack.uapi import (
    MSG_DONTWAIT,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
)

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def tcp_recvmsg(sk: TcpSock, bufsize: int, flags: int = 0) -> bytes:
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
    if (
        queue
        and bufsize > 0
        and sk.rcvlowat > 1
        and not flags & MSG_DONTWAIT
        and not (sk.done or sk.sk_err or sk.sk_shutdown & RCV_SHUTDOWN)
        and not epollin_ready(sk, min(sk.rcvlowat, bufsize))
    ):
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
        err = sk.sock_error()
        if err:
            raise oserror(err)
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
        if sk.rcv_nxt - sk.rcv_wup > sk.rcv_mss or (
            copied > 0
            and (pending & ICSK_ACK_PUSHED2 or (pending & ICSK_ACK_PUSHED and not sk.pingpong))
            and not sk.rmem_alloc
        ):
            time_to_ack = True
    if copied > 0 and not time_to_ack and not sk.sk_shutdown & RCV_SHUTDOWN:
        now_win = sk.rcv_wup + sk.rcv_wnd - sk.rcv_nxt  # receive_window, inlined: per read
        if now_win < 0:
            now_win = 0
        if 2 * now_win <= sk.window_clamp:
            new_win = win.raw_select_window(sk)
            if new_win and new_win >= 2 * now_win:
                time_to_ack = True
    if time_to_ack:
        transmit.send_ack(sk)
