"""Active open: sizing a new connection and sending its SYN.

Mirrors ``tcp_connect_init``, ``tcp_connect`` and ``tcp_send_synack`` of Linux's
``net/ipv4/tcp_output.c`` (gVisor keeps these apart as ``connect.go``).  The SYN is queued
like data, so the retransmit timer and the ACK engine handle it as any other segment.

Spec: RFC 9293 §3.5 (the three-way handshake), §3.10.1 (OPEN); RFC 6298 §2.1 (initial RTO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD
from stack.tcp import ecn
from stack.tcp import window as win
from stack.tcp.cb import TxSeg
from stack.tcp.const import TCP_RTO_MAX
from stack.tcp.fastopen import send_syn_data
from stack.tcp.transmit import new_skb, transmit_skb
from stack.wire.tcp import ACK, SYN

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def connect_init(sk: TcpSock) -> None:
    """Sizes and windows for an active open (``tcp_connect_init``)."""
    sysctl = sk.net.sysctl
    sk.tcp_header_len = 20 + (12 if sysctl.tcp_timestamps else 0)
    if sk.user_mss:
        sk.mss_clamp = sk.user_mss
    sk.max_window = 0
    mtu = sk.route.mtu
    win.sync_mss(sk, mtu)
    sk.advmss = win.mss_clamp_user(sk, win.advmss_for_mtu(mtu, sk.net_header_len))
    win.initialize_rcv_mss(sk)
    if sk.userlocks & 2 and (sk.window_clamp > win.full_space(sk) or not sk.window_clamp):
        sk.window_clamp = win.full_space(sk)
    win.select_initial_window(sk, win.full_space(sk), sk.advmss, bool(sysctl.tcp_window_scaling))
    sk.rcv_ssthresh = sk.rcv_wnd
    sk.sk_err = 0
    sk.done = False
    sk.snd_wnd = 0
    sk.snd_wl1 = 0
    sk.snd_una = sk.snd_sml = sk.snd_up = sk.snd_nxt = sk.write_seq
    sk.rcv_nxt = sk.rcv_wup = sk.copied_seq = 0
    sk.retransmits = 0


def send_syn(sk: TcpSock) -> None:
    """Queue and send our SYN, arm the 1 s RTO (``tcp_connect``)."""
    connect_init(sk)
    seg = TxSeg(new_skb(sk), sk.write_seq, sk.write_seq + 1, SYN)
    sk.wmem_queued += SKB_TRUESIZE_OVERHEAD
    sk.write_seq += 1
    sk.write_queue.append(seg)
    ecn.send_syn(sk, seg)
    sk.retrans_stamp = sk.timeout_stamp = sk.net.sched.now
    sk.write_queue.popleft()
    sk.rtx.append(seg)
    sk.packets_out += 1
    if sk.fastopen.req is not None:
        send_syn_data(sk, seg)  # Fast Open: data (or a cookie request) with the SYN
    else:
        transmit_skb(sk, seg)
    sk.snd_nxt = sk.pushed_seq = sk.write_seq
    sk.net.mib.tcp["ActiveOpens"] += 1
    sk.reset_xmit_timer("rto", sk.rto, TCP_RTO_MAX)


def send_synack(sk: TcpSock) -> None:
    """Simultaneous open: our SYN goes out again with ACK set (``tcp_send_synack``)."""
    if not sk.rtx or not sk.rtx[0].flags & SYN:
        return
    seg = sk.rtx[0]
    seg.flags = ecn.synack_flags(sk, seg.flags | ACK)
    transmit_skb(sk, seg)
