"""Segments to a TIME-WAIT socket, and its end.

Mirrors Linux's ``tcp_timewait_state_process`` (``net/ipv4/tcp_minisocks.c``): PAWS, an
in-window FIN or ACK re-arms the 2MSL timer (``TCP_TIMEWAIT_LEN``) and is acknowledged (rate
limited, ``TCPACKSkippedTimeWait``), an RST kills the socket (TIME-WAIT assassination, which
Linux allows by default, RFC 1337), and a SYN with a higher sequence number or a newer
timestamp reopens the connection with a larger ISN (RFC 1122 4.2.2.13, RFC 6191); and
``inet_twsk_deschedule_put`` (``net/ipv4/inet_timewait_sock.c``, :func:`kill_timewait`).
ixsim keeps the full :class:`TcpSock` in TIME_WAIT rather than a ``tcp_timewait_sock``.

Spec: RFC 9293 §3.10.7.4 (TIME-WAIT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.dropreason import SkbDropReason
from stack.core.skbfree import consume_skb, kfree_skb
from stack.tcp import ack as tack
from stack.tcp import rcv, transmit
from stack.tcp.const import TCP_TIMEWAIT_LEN
from stack.tcp.seq import SEQ_MASK, s32
from stack.tcp.state import CLOSED, TIME_WAIT, tcp_set_state
from stack.wire.tcp import ACK, RST, SYN

if TYPE_CHECKING:
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock


def timewait_rcv(sk: TcpSock, rx: RxSeg) -> int:
    """``tcp_timewait_state_process``; returns the ISN for a new connection, else 0.

    Frees the skb unless a new connection is to be made (then the caller owns it).
    """
    rx.unwrap(sk)
    th = rx.th
    flags = th.flags
    rcv.parse_ts(sk, th)
    mib = sk.net.mib
    now = sk.net.sched.now
    paws_reject = False
    if sk.saw_tstamp and not rcv.paws_check(sk, 0):
        paws_reject = not (flags & RST and now >= sk.ts_recent_stamp + 60 * 10**9)
    if not paws_reject and rx.seq == sk.rcv_nxt and (rx.seq == rx.end_seq or flags & RST):
        if flags & RST:  # TIME-WAIT assassination (RFC 1337), as Linux allows by default
            kill_timewait(sk)
            kfree_skb(rx.skb, SkbDropReason.TCP_RESET)
            return 0
        sk.timewait_timer.mod_timer(now + TCP_TIMEWAIT_LEN)
        if sk.saw_tstamp:
            rcv.store_ts_recent(sk)
        consume_skb(rx.skb)
        return 0
    if (
        flags & SYN
        and not flags & (RST | ACK)
        and not paws_reject
        and (rx.seq > sk.rcv_nxt or (sk.saw_tstamp and s32(sk.ts_recent - sk.rcv_tsval) < 0))
    ):
        isn = (sk.snd_nxt + 65535 + 2) & SEQ_MASK or 1
        kill_timewait(sk)
        return isn
    if paws_reject:
        mib.tcpext["PAWSEstab"] += 1
    if not flags & RST:
        if paws_reject or flags & ACK:
            sk.timewait_timer.mod_timer(now + TCP_TIMEWAIT_LEN)
        if not tack.oow_rate_limited(sk, rx, "TCPACKSkippedTimeWait"):
            transmit.send_ack(sk)
        consume_skb(rx.skb)
        return 0
    kfree_skb(rx.skb, SkbDropReason.TCP_RESET)
    return 0


def kill_timewait(sk: TcpSock) -> None:
    """``inet_twsk_deschedule_put``: the TIME-WAIT socket goes away now."""
    sk.timewait_timer.del_timer()
    if sk.state == TIME_WAIT:
        tcp_set_state(sk, CLOSED)
    sk.wake()
