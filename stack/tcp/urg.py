"""Urgent data (RFC 9293 §3.8.5, RFC 6093): the receive side of ``MSG_OOB``.

Mirrors the urgent parts of Linux's ``net/ipv4/tcp_input.c`` (``tcp_check_urg``, ``tcp_urg``)
and ``net/ipv4/tcp.c`` (``tcp_recv_urg``, the urgent mark in ``tcp_recvmsg_locked``,
``tcp_inq``, SIOCATMARK in ``tcp_ioctl``).  The send side is two lines elsewhere:
``tcp_mark_urg`` in ``sendmsg.tcp_sendmsg`` (``snd_up = write_seq`` after a ``MSG_OOB`` send) and
the URG flag with the urgent pointer that ``transmit.transmit_skb`` writes on every segment
below ``snd_up`` while it is ahead of ``snd_una`` (``__tcp_transmit_skb``).

As Linux does, the urgent pointer points one past the urgent byte (BSD's reading, not
RFC 1122's), the only urgent byte is the last one of the pointer, and a newer pointer
replaces an unread one.  The byte stays in the receive queue at ``urg_seq``, where
``tp->urg_data`` (:data:`TCP_URG_VALID` with the byte in its low 8 bits) keeps a copy: without
SO_OOBINLINE a read skips it (and a read that reaches it that way throws it away), ``recv``
with ``MSG_OOB`` returns it once; with SO_OOBINLINE it is read in band and ``MSG_OOB`` is
EINVAL.  Either way a read stops at the mark: a ``recv`` never returns bytes from both sides
of it, and SIOCATMARK (``sockatmark``) is true while the read position is at it.  ``poll``
reports EPOLLPRI while the byte is unread and does not count it for EPOLLIN.

Deviations: no SIGURG (``sk_send_sigurg``): ixsim has no signals; EPOLLPRI is how to learn of
urgent data.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.sock import (
    EPOLLIN,
    EPOLLPRI,
    EPOLLRDBAND,
    EPOLLRDNORM,
    RCV_SHUTDOWN,
    eagain,
    oserror,
)
from stack.tcp.const import TCP_URG_NOTYET, TCP_URG_READ, TCP_URG_VALID
from stack.tcp.rcvq import fast_path_check
from stack.tcp.state import CLOSED, SYN_RECEIVED, SYN_SENT
from stack.uapi import MSG_PEEK, MSG_TRUNC, SO_OOBINLINE, SOL_SOCKET
from stack.wire.tcp import SYN, URG

if TYPE_CHECKING:
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock

_OOBINLINE = (SOL_SOCKET, SO_OOBINLINE)


def urginline(sk: TcpSock) -> bool:
    """SO_OOBINLINE (``sock_flag(sk, SOCK_URGINLINE)``), read when it matters: at each read."""
    return bool(sk.options.get(_OOBINLINE))


# -- arrival (tcp_input.c) ------------------------------------------------------------------------
def check_urg(sk: TcpSock, rx: RxSeg) -> None:
    """A segment with URG: take a new urgent pointer (``tcp_check_urg``)."""
    ptr = rx.th.urgent
    if ptr and not sk.net.sysctl.tcp_stdurg:
        ptr -= 1  # BSD: the pointer is one past the urgent byte
    ptr += rx.seq
    if sk.copied_seq > ptr:  # already read past it
        return
    if ptr < sk.rcv_nxt:  # do not replay an old pointer
        return
    if sk.urg_data and ptr <= sk.urg_seq:  # not newer than the one we have
        return
    # The reader sits on an unread urgent byte that the new pointer would turn into data:
    # drop it from the stream (Linux keeps this BSD-compatible quirk).
    queue = sk.receive_queue
    if (sk.urg_seq == sk.copied_seq and sk.urg_data and not urginline(sk)
            and sk.copied_seq != sk.rcv_nxt and queue):
        head = queue[0]
        if len(head) > 1:
            queue[0] = head[1:]
        else:
            queue.popleft()
        sk.copied_seq += 1
        sk.rmem_alloc -= 1
    sk.urg_data = TCP_URG_NOTYET
    sk.urg_seq = ptr
    sk.fastpath = False  # tp->pred_flags = 0


def tcp_urg(sk: TcpSock, rx: RxSeg) -> None:
    """RFC 9293 §3.10.7.4 sixth, check the URG bit (``tcp_urg``): a new pointer, and the
    urgent byte if this segment carries it."""
    th = rx.th
    if th.flags & URG:
        check_urg(sk, rx)
    if sk.urg_data == TCP_URG_NOTYET:
        off = sk.urg_seq - rx.seq - bool(th.flags & SYN)
        if 0 <= off < len(rx.payload):
            sk.urg_data = TCP_URG_VALID | rx.payload[off]
            if not sk.orphan():  # sk_data_ready: sock_def_readable's mask
                sk.wake(EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND)


# -- reading (tcp.c) ------------------------------------------------------------------------------
def recv_urg(sk: TcpSock, bufsize: int, flags: int) -> bytes:
    """``recv(MSG_OOB)`` (``tcp_recv_urg``): the urgent byte, once; never waits.

    EINVAL when there is none to read (none came, it was read, or SO_OOBINLINE keeps it in
    band); EAGAIN while its pointer came but the byte did not, even on a blocking socket;
    ``b""`` at end of stream.  ``MSG_PEEK`` leaves it unread, ``MSG_TRUNC`` discards it (a
    zero byte stands for it), a zero ``bufsize`` consumes it and returns ``b""``.
    """
    urg_data = sk.urg_data
    if urginline(sk) or not urg_data or urg_data == TCP_URG_READ:
        raise oserror(errno.EINVAL)
    if sk.state == CLOSED and not sk.done:
        raise oserror(errno.ENOTCONN)
    if urg_data & TCP_URG_VALID:
        if not flags & MSG_PEEK:
            sk.urg_data = TCP_URG_READ
        if bufsize <= 0:
            return b""
        return b"\0" if flags & MSG_TRUNC else bytes((urg_data & 0xFF,))
    if sk.state == CLOSED or sk.sk_shutdown & RCV_SHUTDOWN:
        return b""
    raise eagain()


def read(sk: TcpSock, bufsize: int, flags: int) -> tuple[bytes, int]:
    """``tcp_recvmsg_locked``'s copy loop while ``urg_data`` is set: stop at the mark once
    something was read; at the mark, skip the urgent byte unless SO_OOBINLINE.

    Returns the data and how many bytes of the stream it covered (data plus a skipped
    byte); consumes them unless ``MSG_PEEK``.  ``MSG_TRUNC`` gives zero bytes for the data.
    """
    queue = sk.receive_queue
    stream = b"".join(queue)
    base = sk.copied_seq
    peek = flags & MSG_PEEK
    inline = urginline(sk)
    out = []
    pos = 0  # stream offset from copied_seq
    need = bufsize
    copied = 0
    while need > 0 and pos < len(stream):
        urg_off = sk.urg_seq - (base + pos) if sk.urg_data else -1
        if urg_off == 0 and copied:
            break  # at the urgent mark: not across it in one call
        used = min(len(stream) - pos, need)
        if 0 <= urg_off < used:
            if urg_off == 0:
                if not inline:
                    pos += 1  # the urgent byte is not in the stream
                    used -= 1
            else:
                used = urg_off
        out.append(stream[pos:pos + used])
        pos += used
        need -= used
        copied += used
        if not peek and sk.urg_data and base + pos > sk.urg_seq:
            sk.urg_data = 0  # read past the mark: the urgent data is gone
            fast_path_check(sk)
    if not peek and pos:
        rest = stream[pos:]
        queue.clear()
        if rest:
            queue.append(rest)
        sk.copied_seq += pos
        sk.rmem_alloc -= pos
    data = b"".join(out)
    return (bytes(len(data)) if flags & MSG_TRUNC else data), pos


def at_mark(sk: TcpSock, offset: int = 0) -> bool:
    """SIOCATMARK: the read position (plus ``offset``) is at the urgent mark (``tcp_ioctl``)."""
    return bool(sk.urg_data) and sk.urg_seq == sk.copied_seq + offset


def inq(sk: TcpSock) -> int:
    """SIOCINQ: bytes readable, up to the mark when the urgent byte is out of band
    (``tcp_inq``)."""
    if sk.state in (SYN_SENT, SYN_RECEIVED):
        return 0
    if (urginline(sk) or not sk.urg_data or sk.urg_seq < sk.copied_seq
            or sk.urg_seq >= sk.rcv_nxt):
        answ = sk.rcv_nxt - sk.copied_seq
        if answ and sk.done:
            answ -= 1  # the FIN
        return answ
    return sk.urg_seq - sk.copied_seq


def poll_target(sk: TcpSock, target: int) -> int:
    """``tcp_poll``: the urgent byte at the read position does not count for EPOLLIN."""
    if sk.urg_seq == sk.copied_seq and not urginline(sk):
        return target + 1
    return target

