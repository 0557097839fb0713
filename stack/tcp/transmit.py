"""Sending one segment: its header, the clone that leaves, ACKs and resets, and the bookkeeping
every transmission does.

Mirrors Linux's ``net/ipv4/tcp_output.c`` below ``tcp_write_xmit``: ``__tcp_transmit_skb``
(header, options, window, urgent pointer, checksum offload), the skb allocation
(``tcp_stream_alloc_skb``), ``tcp_send_ack``/``__tcp_send_ack``, ``tcp_send_delayed_ack``,
``tcp_send_active_reset``, ``tcp_acceptable_seq``, ``tcp_event_ack_sent``/
``tcp_event_data_sent``/``tcp_event_new_data_sent``, and ``tcp_v4_send_reset``
(``tcp_ipv4.c``) for segments no socket wants.  Deciding what to send (the write queue engine,
retransmission, probes) is ``output.py``, whose docstring states the contract (clones,
``CHECKSUM_PARTIAL``, ``pskb_copy``); the header bytes are written by ``header.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.features import NETIF_F_CSUM_MASK
from stack.core.skbfree import skb_header_release
from stack.core.skbuff import (
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SKB_TRUESIZE_OVERHEAD,
    SkBuff,
    alloc_skb,
)
from stack.sock import SK_PACING_NONE
from stack.tcp import ecn, rate
from stack.tcp import window as win
from stack.tcp.cb import TxSeg
from stack.tcp.cong import CA_EVENT_TX_START
from stack.tcp.const import (
    ICSK_ACK_PUSHED,
    ICSK_ACK_SCHED,
    ICSK_ACK_TIMER,
    MAX_TCP_HEADER,
    NS_PER_US,
    TCP_ATO_MIN,
    TCP_DELACK_MAX,
    TCP_DELACK_MIN,
    TICK_NS,
)
from stack.tcp.header import established_options, syn_options, write_established, write_header
from stack.tcp.pacing import update_skb_after_send
from stack.tcp.scoreboard import ts_move_tail
from stack.tcp.seq import SEQ_MASK
from stack.tcp.state import CaState, TcpState
from stack.tcp.tsq import skb_set_owner_w
from stack.tcp.xmit_timer import rearm_rto
from stack.wire.tcp import ACK, CWR, RST, SYN, URG, TcpRepr

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def transmit_skb(sk: TcpSock, seg: TxSeg, clone: bool = True) -> None:
    """Send ``seg`` with a fresh header (``__tcp_transmit_skb``)."""
    skb = seg.skb
    if clone:
        skb = skb.pskb_copy() if skb.cloned() else skb.clone()
    flags = seg.flags
    now = sk.net.sched.now
    # __tcp_transmit_skb: tcp_wstamp_ns moves up to now; prior_wstamp is its value before
    prior_wstamp = sk.tcp_wstamp_ns
    if prior_wstamp < now:
        sk.tcp_wstamp_ns = now
    th = None
    payload = skb.tail - skb.data + skb.data_len
    if flags & SYN:
        window = min(sk.rcv_wnd, 0xFFFF)
        th = TcpRepr(
            sk.lport,
            sk.rport,
            seg.seq & SEQ_MASK,
            sk.rcv_nxt & SEQ_MASK if flags & ACK else 0,
            flags,
            window,
        )
        syn_options(sk, th)
    else:
        if sk.ecn_flags & ecn.TCP_ECN_OK:
            flags = ecn.send(sk, seg, flags, payload)
        window = win.select_window(sk)
        if (
            (sk.sack_ok and (sk.num_sacks or sk.dsack is not None))
            or not sk.features & NETIF_F_CSUM_MASK
            or sk.snd_up > sk.snd_una
        ):
            th = TcpRepr(
                sk.lport, sk.rport, seg.seq & SEQ_MASK, sk.rcv_nxt & SEQ_MASK, flags, window
            )
            established_options(sk, th)
            if sk.snd_up > sk.snd_una:
                urgent_pointer(sk, seg.seq, th)
    pcount = seg.pcount
    if pcount > 1:
        skb.gso_size = seg.mss
        skb.gso_segs = pcount
        gso = SKB_GSO_TCPV6 if sk.net_header_len == win.IPV6_NET_HEADER_LEN else SKB_GSO_TCPV4
        skb.gso_type = gso | SKB_GSO_TCP_ECN if flags & CWR else gso
    if clone:
        seg.tx_time = now
        seg.tx_edt = sk.tcp_wstamp_ns  # skb_mstamp_ns: this send's departure time
        ts_move_tail(sk.tsorted, seg)  # tcp_update_skb_after_send: newest transmission
    if flags & ACK:
        event_ack_sent(sk)
    if payload:
        event_data_sent(sk)
        sk.data_segs_out += pcount
        sk.bytes_sent += payload
    sk.segs_out += pcount
    sk.net.mib.tcp["OutSegs"] += pcount
    if th is None:
        write_established(sk, skb, seg.seq, flags, window, now)
    else:
        write_header(sk, skb, th)
    skb.sk = sk
    skb_set_owner_w(sk, skb, not payload and flags == ACK)  # TSQ (tsq.py)
    skb.tstamp = sk.tcp_wstamp_ns if payload else 0  # EDT departure time (pacing.py)
    sk.table.transmit(skb, sk.laddr, sk.raddr)
    if clone:
        if sk.sk_pacing_status != SK_PACING_NONE:  # update_skb_after_send's own first test
            update_skb_after_send(sk, payload, prior_wstamp)
        rate.skb_sent(sk, seg, seg.tx_edt)


def urgent_pointer(sk: TcpSock, seq: int, th: TcpRepr) -> None:
    """URG and the urgent pointer while urgent data is unacknowledged (``tcp_urg_mode``:
    ``snd_up`` ahead of ``snd_una``), on every segment that starts below ``snd_up``, data or
    not (``__tcp_transmit_skb``).  The pointer is ``snd_up - seq``: one past the urgent byte;
    0xFFFF when ``snd_up`` is further than the 16 bits reach and the segment is not the last.
    """
    snd_up = sk.snd_up
    if seq >= snd_up:
        return
    if snd_up < seq + 0x10000:
        th.urgent = snd_up - seq
        th.flags |= URG
    elif seq + 0xFFFF > sk.snd_nxt:
        th.urgent = 0xFFFF
        th.flags |= URG


def new_skb(sk: TcpSock, payload: int = 0) -> SkBuff:
    """An empty skb with headroom for every header (``tcp_stream_alloc_skb``)."""
    skb = alloc_skb(sk.net.kernel, MAX_TCP_HEADER + payload)
    skb.reserve(MAX_TCP_HEADER)
    skb.truesize = SKB_TRUESIZE_OVERHEAD  # charged per byte as data is added
    return skb


def new_queued_skb(sk: TcpSock, payload: int = 0) -> SkBuff:
    """An skb for the write queue: its clones own the headroom (``__skb_header_release``),
    so a driver editing their headers (TSO) does not copy the segment."""
    skb = alloc_skb(sk.net.kernel, MAX_TCP_HEADER + payload)  # new_skb, inlined: per send
    skb.reserve(MAX_TCP_HEADER)
    skb.truesize = SKB_TRUESIZE_OVERHEAD  # charged per byte as data is added
    skb_header_release(skb)
    return skb


def send_control(sk: TcpSock, seq: int, flags: int) -> None:
    """A segment without data from a socket (ACK, RST, probe): not queued, not retransmitted."""
    seg = TxSeg(new_skb(sk), seq, seq, flags)
    transmit_skb(sk, seg, clone=False)


def acceptable_seq(sk: TcpSock) -> int:
    """SEQ for a control segment: snd_nxt unless the window shrank (``tcp_acceptable_seq``)."""
    end = sk.wnd_end()
    if end >= sk.snd_nxt or (sk.wscale_ok and sk.snd_nxt - end < (1 << sk.rcv_wscale)):
        return sk.snd_nxt
    return end


def send_ack(sk: TcpSock) -> None:
    """An immediate pure ACK (``tcp_send_ack``)."""
    if sk.state == TcpState.CLOSED:
        return
    send_control(sk, acceptable_seq(sk), ACK)


def send_active_reset(sk: TcpSock) -> None:
    """Abort: RST|ACK at the current sequence (``tcp_send_active_reset``)."""
    sk.net.mib.tcp["OutRsts"] += 1
    kernel = sk.net.kernel
    if kernel.tracers:
        kernel.trace(
            "tcp_send_reset", sk=sk, saddr=sk.laddr, daddr=sk.raddr, sport=sk.lport, dport=sk.rport
        )
    send_control(sk, acceptable_seq(sk), ACK | RST)


def emit_raw(table, th: TcpRepr, saddr: bytes, daddr: bytes) -> None:
    """Send a segment that belongs to no full socket (reset, SYN-ACK, TIME-WAIT ACK)."""
    net = table.net
    net.mib.tcp["OutSegs"] += 1
    skb = alloc_skb(net.kernel, MAX_TCP_HEADER)
    skb.reserve(MAX_TCP_HEADER)
    off = skb.push(th.buffer_len())
    th.payload_len = 0
    th.emit(skb.head, off, saddr, daddr)
    skb.transport_header = off
    table.transmit(skb, saddr, daddr)


def send_reset(table, th: TcpRepr, saddr: bytes, daddr: bytes, seg_len: int) -> None:
    """RST in reply to a segment no socket accepts (``tcp_v4_send_reset``, RFC 9293 §3.10.7.1).

    ``saddr``/``daddr`` are the offending segment's; never called for an RST.
    """
    if th.flags & ACK:
        rep = TcpRepr(th.dst_port, th.src_port, th.ack, 0, RST, 0)
    else:
        rep = TcpRepr(th.dst_port, th.src_port, 0, (th.seq + seg_len) & SEQ_MASK, RST | ACK, 0)
    net = table.net
    net.mib.tcp["OutRsts"] += 1
    if net.kernel.tracers:
        net.kernel.trace(
            "tcp_send_reset",
            sk=None,
            saddr=daddr,
            daddr=saddr,
            sport=th.dst_port,
            dport=th.src_port,
        )
    emit_raw(table, rep, daddr, saddr)


# -- events ---------------------------------------------------------------------------------------
def event_ack_sent(sk: TcpSock) -> None:
    """An ACK left: the delayed ACK is no longer owed (``tcp_event_ack_sent``)."""
    if sk.ack_quick and sk.ack_pending & ICSK_ACK_SCHED:  # tcp_dec_quickack_mode
        sk.ack_quick -= 1
        if not sk.ack_quick:
            sk.ato = TCP_ATO_MIN
    sk.ack_pending = 0
    sk.delack_timer.del_timer()


def event_data_sent(sk: TcpSock) -> None:
    """Data left: restart-after-idle hook and ping-pong detection (``tcp_event_data_sent``)."""
    now = sk.net.sched.now
    if sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out == 0:  # in flight
        sk.ca.cwnd_event(sk, CA_EVENT_TX_START)
    sk.lsndtime = now
    if now - sk.lrcvtime < sk.ato:  # a reply within ato of the last data: interactive
        sk.pingpong += 1


def event_new_data_sent(sk: TcpSock, seg: TxSeg) -> None:
    """Move ``seg`` from the write queue to the retransmit queue (``tcp_event_new_data_sent``)."""
    prior = sk.packets_out
    sk.snd_nxt = seg.end_seq
    sk.write_queue.popleft()
    sk.rtx.append(seg)
    sk.packets_out += seg.pcount
    if sk.ca_state == CaState.RECOVERY or sk.ca_state == CaState.CWR:  # tcp_in_cwnd_reduction
        sk.prr_out += seg.pcount
    if not prior or sk.xmit_timer_what not in ("rto", "reo") or not sk.retransmit_timer.pending():
        rearm_rto(sk)  # a pending loss probe gives way to the RTO (then is re-planned)
    sk.net.mib.tcpext["TCPOrigDataSent"] += seg.pcount


def send_delayed_ack(sk: TcpSock) -> None:
    """Schedule the ACK within ato, bounded by RTT and 200 ms (``tcp_send_delayed_ack``).

    With ato still 0 (no data received yet: the peer's FIN on a silent connection) Linux arms
    the timer for ``jiffies + 0``, which the timer wheel runs at the next tick (HZ), so an
    application that closes at once sends one FIN|ACK.  Other timeouts are ``now + ato`` to
    the nanosecond, not rounded to ticks as Linux's are (a deliberate simplification).
    """
    ato = sk.ato
    now = sk.net.sched.now
    if ato > TCP_DELACK_MIN:
        max_ato = 500_000_000
        if sk.pingpong or sk.ack_pending & ICSK_ACK_PUSHED:
            max_ato = TCP_DELACK_MAX
        if sk.srtt_us:
            rtt = max((sk.srtt_us >> 3) * NS_PER_US, TCP_DELACK_MIN)
            max_ato = min(max_ato, rtt)
        ato = min(ato, max_ato)
    ato = min(ato, TCP_DELACK_MAX)
    timeout = now + ato if ato else (now // TICK_NS + 1) * TICK_NS  # jiffies + 0: next tick
    if sk.ack_pending & ICSK_ACK_TIMER:
        if sk.ack_timeout <= now + (ato >> 2):
            send_ack(sk)
            return
        timeout = min(timeout, sk.ack_timeout)
    sk.ack_pending |= ICSK_ACK_SCHED | ICSK_ACK_TIMER
    sk.ack_timeout = timeout
    sk.delack_timer.mod_timer(timeout)
