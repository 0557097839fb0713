"""Explicit Congestion Notification for TCP (RFC 3168), as Linux's classic ECN.

Mirrors the ``tcp_ecn_*`` helpers of Linux 6.x: ``tcp_ecn_send_syn``/``tcp_ecn_clear_syn``/
``tcp_ecn_send_synack``/``tcp_ecn_make_synack``/``tcp_ecn_send`` (``net/ipv4/tcp_output.c``),
``tcp_ecn_rcv_synack``/``tcp_ecn_rcv_syn``/``tcp_ecn_create_request``/``tcp_ecn_check_ce``/
``tcp_ecn_accept_cwr``/``tcp_ecn_rcv_ecn_echo``/``tcp_ecn_queue_cwr``/``tcp_ecn_withdraw_cwr``
(``net/ipv4/tcp_input.c``), ``tcp_ecn_openreq_child`` (``tcp_minisocks.c``) and
``INET_ECN_xmit``/``INET_ECN_dontxmit`` (``include/net/inet_ecn.h``).  The sender's reaction,
``tcp_enter_cwr``, is with the other congestion-state changes in ``recovery.py``.

Contract (the state is ``sk.ecn_flags``, Linux's ``tp->ecn_flags`` bits below):

* Negotiation (RFC 3168 §6.1.1): with ``net.ipv4.tcp_ecn`` = 1 the SYN carries ECE|CWR;
  a listener with ``tcp_ecn`` 1 or 2 (the default: accept when asked) answers a SYN that
  carries both, and is not itself ECT, with ECE on the SYN-ACK.  The client keeps ECN only
  if the SYN-ACK has ECE without CWR.  A retransmitted SYN drops ECE|CWR while
  ``net.ipv4.tcp_ecn_fallback`` is 1 (§6.1.1.1), and the SYN-ACK that answers it then
  lacks ECE, so the connection runs without ECN.
* Sending (§6.1.2, ``tcp_ecn_send``): new data is ECT(0) (the socket's TOS byte keeps the
  codepoint, as ``inet->tos``; ``IP_TOS`` cannot change it); pure ACKs, retransmissions, the
  FIN alone and window probes are Not-ECT.  CWR goes on the first new data segment after a
  window reduction; ECE on every segment while the receiver owes the echo.
* Receiving (§6.1.3): a CE mark on data makes the receiver echo ECE (entering quick-ACK
  mode, so the echo is not delayed) until a data segment with CWR arrives.
* Not modelled: Accurate ECN (RFC 9768, ``tcp_ecn`` 3..5 in Linux 6.18), ECT(1)/L4S, the
  per-route ``features ecn`` (RTAX_FEATURE_ECN) and congestion controls that need ECN
  (DCTCP): ``tcp_ca_needs_ecn`` is always false here.

Spec: RFC 3168 §6.1; Linux ``Documentation/networking/ip-sysctl.rst`` (tcp_ecn,
tcp_ecn_fallback).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.uapi import INET_ECN_MASK
from stack.wire.tcp import CWR, ECE, SYN

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff
    from stack.tcp.cb import TxSeg
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock

# tp->ecn_flags (include/net/tcp.h)
TCP_ECN_OK = 1
TCP_ECN_QUEUE_CWR = 2
TCP_ECN_DEMAND_CWR = 4
TCP_ECN_SEEN = 8

# the ECN field of the IPv4 TOS byte (include/net/inet_ecn.h)
INET_ECN_NOT_ECT = 0
INET_ECN_ECT_1 = 1
INET_ECN_ECT_0 = 2
INET_ECN_CE = 3

TCPHDR_SYN_ECN = SYN | ECE | CWR


def ip_dsfield(skb: SkBuff) -> int:
    """The received segment's TOS byte (``TCP_SKB_CB(skb)->ip_dsfield``)."""
    return skb.head[skb.network_header + 1]


# -- the handshake --------------------------------------------------------------------------------
def send_syn(sk: TcpSock, seg: TxSeg) -> None:
    """Ask for ECN on our SYN when ``tcp_ecn`` is 1 (``tcp_ecn_send_syn``)."""
    sk.ecn_flags = 0
    if sk.net.sysctl.tcp_ecn == 1:
        seg.flags |= ECE | CWR
        sk.ecn_flags = TCP_ECN_OK


def clear_syn(sk: TcpSock, seg: TxSeg) -> None:
    """A retransmitted ECN SYN goes out plain under ``tcp_ecn_fallback``
    (``tcp_ecn_clear_syn``, RFC 3168 §6.1.1.1); ``ecn_flags`` stays until the SYN-ACK."""
    if seg.flags & TCPHDR_SYN_ECN == TCPHDR_SYN_ECN and sk.net.sysctl.tcp_ecn_fallback:
        seg.flags &= ~(ECE | CWR)


def rcv_synack(sk: TcpSock, flags: int) -> None:
    """Keep ECN only if the SYN-ACK says ECE and not CWR (``tcp_ecn_rcv_synack``)."""
    if sk.ecn_flags & TCP_ECN_OK and (not flags & ECE or flags & CWR):
        sk.ecn_flags &= ~TCP_ECN_OK


def rcv_syn(sk: TcpSock, flags: int) -> None:
    """Simultaneous open: the crossing SYN must ask for ECN too (``tcp_ecn_rcv_syn``)."""
    if sk.ecn_flags & TCP_ECN_OK and (not flags & ECE or not flags & CWR):
        sk.ecn_flags &= ~TCP_ECN_OK


def synack_flags(sk: TcpSock, flags: int) -> int:
    """Our SYN resent as a SYN-ACK: no CWR, ECE only if ECN holds (``tcp_ecn_send_synack``)."""
    flags &= ~CWR
    if not sk.ecn_flags & TCP_ECN_OK:
        flags &= ~ECE
    return flags


def create_request(listener: TcpSock, rx: RxSeg) -> bool:
    """Will a listener's SYN-ACK agree to ECN (``tcp_ecn_create_request``)?  The SYN must carry
    ECE and CWR, must not itself be ECT nor set a reserved bit, and ``tcp_ecn`` must be
    non-zero."""
    if rx.th.flags & (ECE | CWR) != ECE | CWR:
        return False
    skb = rx.skb
    ect = ip_dsfield(skb) & INET_ECN_MASK != INET_ECN_NOT_ECT
    res1 = skb.head[skb.data + 12] & 0x0F  # th->res1 (the NS bit and the reserved ones)
    return bool((not ect or res1) and listener.net.sysctl.tcp_ecn)


# -- established ----------------------------------------------------------------------------------
def send(sk: TcpSock, seg: TxSeg, flags: int, payload: int) -> int:
    """The ECN part of every non-SYN segment an ECN connection sends (``tcp_ecn_send``):
    ECT(0) and a queued CWR on new data, Not-ECT otherwise, ECE while the peer's CWR is owed.
    Returns the segment's flags."""
    ecn = sk.ecn_flags
    if payload and seg.seq >= sk.snd_nxt:
        sk.tos = (sk.tos & ~INET_ECN_MASK) | INET_ECN_ECT_0  # INET_ECN_xmit
        if ecn & TCP_ECN_QUEUE_CWR:
            sk.ecn_flags = ecn = ecn & ~TCP_ECN_QUEUE_CWR
            flags |= CWR
    else:
        sk.tos &= ~INET_ECN_MASK  # INET_ECN_dontxmit
    if ecn & TCP_ECN_DEMAND_CWR:
        flags |= ECE
    return flags


def check_ce(sk: TcpSock, rx: RxSeg) -> bool:
    """Note the ECN codepoint of received data (``__tcp_ecn_check_ce``); True when the ACK
    should not be delayed (quick-ACK mode for two ACKs, as Linux): a first CE mark, or a
    Not-ECT segment after ECT ones (likely a retransmission)."""
    ecn = sk.ecn_flags
    if not ecn & TCP_ECN_OK:
        return False
    field = ip_dsfield(rx.skb) & INET_ECN_MASK
    if field == INET_ECN_NOT_ECT:
        return bool(ecn & TCP_ECN_SEEN)
    if field == INET_ECN_CE:
        quick = not ecn & TCP_ECN_DEMAND_CWR
        sk.ecn_flags = ecn | TCP_ECN_DEMAND_CWR | TCP_ECN_SEEN
        return quick
    sk.ecn_flags = ecn | TCP_ECN_SEEN
    return False


def accept_cwr(sk: TcpSock, rx: RxSeg) -> bool:
    """The sender reduced its window: stop echoing ECE (``tcp_ecn_accept_cwr``); True when the
    segment carries data and must be ACKed at once (its cwnd may be one segment)."""
    if not rx.th.flags & CWR:
        return False
    sk.ecn_flags &= ~TCP_ECN_DEMAND_CWR
    return rx.seq != rx.end_seq


def rcv_ecn_echo(sk: TcpSock, flags: int) -> bool:
    """An ACK that echoes congestion (``tcp_ecn_rcv_ecn_echo``): ECE, not on a SYN."""
    return bool(flags & ECE and not flags & SYN and sk.ecn_flags & TCP_ECN_OK)


def queue_cwr(sk: TcpSock) -> None:
    """A window reduction began: tell the receiver with CWR on the next new data
    (``tcp_ecn_queue_cwr``)."""
    if sk.ecn_flags & TCP_ECN_OK:
        sk.ecn_flags |= TCP_ECN_QUEUE_CWR


def dontxmit(sk: TcpSock) -> None:
    """Not-ECT from now on, until new data of an ECN connection (``INET_ECN_dontxmit``,
    as ``tcp_init_congestion_control`` does at establishment)."""
    sk.tos &= ~INET_ECN_MASK


def withdraw_cwr(sk: TcpSock) -> None:
    """The reduction was undone: no CWR owed (``tcp_ecn_withdraw_cwr``)."""
    sk.ecn_flags &= ~TCP_ECN_QUEUE_CWR
