"""Segment arrival for a connection: validation, header prediction, the state machine.

Mirrors Linux's ``net/ipv4/tcp_input.c``: ``tcp_rcv_established`` (the fast path of header
prediction, then the slow path), ``tcp_validate_incoming`` (PAWS, the sequence check, RST
and SYN handling with RFC 5961's challenge ACK), ``tcp_rcv_state_process`` (every state
but LISTEN and TIME-WAIT, which ``minisocks.py`` handles), ``tcp_rcv_synsent_state_process``
(including simultaneous open) and ``tcp_init_transfer``.  What ends a connection (``tcp_fin``,
``tcp_reset``, ``tcp_done``, ``tcp_time_wait``) is in ``close.py``.

Contract: :func:`do_rcv` takes an :class:`RxSeg` and owns its skb: the payload is copied
into the socket's queues and the skb is consumed, or it is dropped with
``kfree_skb(skb, reason)`` so that every discarded segment is counted by reason.

Spec: RFC 9293 §3.10.7.3-§3.10.7.4; RFC 7323 §5 (PAWS); RFC 5961 §3-§4 (blind RST/SYN).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.dropreason import SkbDropReason
from stack.core.skbfree import consume_skb, kfree_skb
from stack.sock import RCV_SHUTDOWN, SEND_SHUTDOWN
from stack.tcp import ack as tack
from stack.tcp import connect, ecn, fastopen, output, rcvbuf, rcvq, transmit, urg
from stack.tcp import window as win
from stack.tcp.close import fin_time, tcp_done, tcp_reset, tcp_shutdown, tcp_time_wait
from stack.tcp.const import (
    ICSK_ACK_SCHED,
    ICSK_ACK_TIMER,
    NS_PER_MS,
    TCP_DELACK_MAX,
    TCP_INIT_CWND,
    TCP_PAWS_24DAYS,
    TCP_PAWS_WINDOW,
    TCP_RTO_MAX,
    TCP_TIMEOUT_MIN,
    TCPOLEN_TSTAMP_ALIGNED,
)
from stack.tcp.recovery import FLAG_NO_CHALLENGE_ACK, FLAG_SLOWPATH, FLAG_UPDATE_TS_RECENT
from stack.tcp.seq import SEQ_FULL, SEQ_HALF, SEQ_MASK, between, s32, unwrap
from stack.tcp.state import (
    CLOSE_WAIT,
    CLOSED,
    CLOSING,
    ESTABLISHED,
    FIN_WAIT_1,
    FIN_WAIT_2,
    LAST_ACK,
    SYN_RECEIVED,
    SYN_SENT,
    tcp_set_state,
)
from stack.tcp.timer import keepalive_time_when
from stack.wire.tcp import ACK, FIN, PSH, RST, SYN, URG, TcpRepr

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff
    from stack.tcp.sock import TcpSock


class RxSeg:
    """One received segment: the parsed header, addresses, payload and unwrapped numbers."""

    __slots__ = (
        "skb",
        "th",
        "saddr",
        "daddr",
        "payload",
        "hlen",
        "seq",
        "end_seq",
        "ack",
        "tstamp",
        "gso_size",
    )

    def __init__(
        self,
        skb: SkBuff,
        th: TcpRepr,
        saddr: bytes,
        daddr: bytes,
        payload: memoryview,
        hlen: int,
        tstamp: int,
    ) -> None:
        self.skb = skb
        self.th = th
        self.saddr = saddr
        self.daddr = daddr
        self.payload = payload
        self.hlen = hlen
        self.tstamp = tstamp
        self.gso_size = skb.gso_size
        self.seq = th.seq
        self.end_seq = th.seq + len(payload) + (th.flags & SYN != 0) + (th.flags & FIN != 0)
        self.ack = th.ack

    def key(self) -> tuple[bytes, int, bytes, int]:
        """(local address, local port, remote address, remote port) as the hashes use."""
        return (self.daddr, self.th.dst_port, self.saddr, self.th.src_port)

    def unwrap(self, sk: TcpSock) -> None:
        """Place SEG.SEQ near RCV.NXT and SEG.ACK near SND.UNA (see seq.py)."""
        seq = unwrap(sk.rcv_nxt, self.th.seq)
        self.end_seq += seq - self.seq
        self.seq = seq
        self.ack = unwrap(sk.snd_una, self.th.ack)


def reply_rst(sk: TcpSock, rx: RxSeg) -> None:
    """RST for a segment (``tcp_v4_send_reset``): never in reply to an RST."""
    reply_rst_table(sk.table, rx)


def reply_rst_table(table, rx: RxSeg) -> None:
    if rx.th.flags & RST:
        return
    th = rx.th
    seg_len = len(rx.payload) + bool(th.flags & SYN) + bool(th.flags & FIN)
    transmit.send_reset(table, th, rx.saddr, rx.daddr, seg_len)


def parse_ts(sk: TcpSock, th: TcpRepr) -> None:
    """Take the timestamp option if it was negotiated (``tcp_fast_parse_options``)."""
    ts = th.timestamp
    if ts is not None and sk.tstamp_ok:
        sk.saw_tstamp = True
        sk.rcv_tsval, sk.rcv_tsecr = ts
    else:
        sk.saw_tstamp = False


def do_rcv(sk: TcpSock, rx: RxSeg) -> None:
    """Deliver ``rx`` to a connection and free its skb (``tcp_v4_do_rcv``)."""
    # RxSeg.unwrap and seq.unwrap twice, inlined: three calls per received segment (issue 18)
    th = rx.th
    delta = (th.seq - sk.rcv_nxt) & SEQ_MASK
    seq = sk.rcv_nxt + (delta - SEQ_FULL if delta >= SEQ_HALF else delta)
    rx.end_seq += seq - rx.seq
    rx.seq = seq
    delta = (th.ack - sk.snd_una) & SEQ_MASK
    rx.ack = sk.snd_una + (delta - SEQ_FULL if delta >= SEQ_HALF else delta)
    sk.segs_in += rx.skb.gso_segs or 1  # tcp_segs_in: a GRO super-segment counts its parts
    if sk.state == ESTABLISHED:
        reason = rcv_established(sk, rx)
    else:
        reason = rcv_state_process(sk, rx)
    if reason is None:
        consume_skb(rx.skb)
    else:
        kfree_skb(rx.skb, reason)


# -- validation -----------------------------------------------------------------------------------
def paws_check(sk: TcpSock, paws_win: int) -> bool:
    """``tcp_paws_check``: TSval not older than ts_recent (or ts_recent too old to trust)."""
    if s32(sk.ts_recent - sk.rcv_tsval) <= paws_win:
        return True
    if sk.net.sched.now >= sk.ts_recent_stamp + TCP_PAWS_24DAYS:
        return True
    return not sk.ts_recent


def disordered_ack(sk: TcpSock, rx: RxSeg) -> bool:
    """A reordered pure duplicate ACK that PAWS should let through (``tcp_disordered_ack``)."""
    th = rx.th
    seq = rx.seq
    nwin = th.window << sk.snd_wscale
    return (
        bool(th.flags & ACK)
        and seq == rx.end_seq
        and seq == sk.rcv_nxt
        and rx.ack == sk.snd_una
        and not (seq > sk.snd_wl1 or (seq == sk.snd_wl1 and nwin > sk.snd_wnd))
        and s32(sk.ts_recent - sk.rcv_tsval) <= sk.rto // NS_PER_MS * 1024 // 1000
    )


def sequence_ok(sk: TcpSock, rx: RxSeg) -> bool:
    """RFC 9293's acceptability test as Linux writes it (``tcp_sequence``)."""
    return rx.end_seq >= sk.rcv_wup and rx.seq <= sk.rcv_nxt + sk.receive_window()


def reset_check(sk: TcpSock, rx: RxSeg) -> bool:
    """An RST at RCV.NXT-1 after the peer's FIN is acceptable (``tcp_reset_check``)."""
    return rx.seq == sk.rcv_nxt - 1 and sk.state in (CLOSE_WAIT, LAST_ACK, CLOSING)


def validate_incoming(sk: TcpSock, rx: RxSeg, syn_inerr: bool) -> SkbDropReason | None:
    """Steps one to four of RFC 9293 §3.10.7.4 (``tcp_validate_incoming``); a reason drops."""
    flags = rx.th.flags
    mib = sk.net.mib
    if sk.saw_tstamp and not paws_check(sk, TCP_PAWS_WINDOW) and not disordered_ack(sk, rx):
        if not flags & RST:
            mib.tcpext["PAWSEstab"] += 1
            tack.send_dupack(sk, rx)
            return SkbDropReason.TCP_RFC7323_PAWS
    if not sequence_ok(sk, rx):
        if not flags & RST:
            if flags & SYN:
                return _syn_challenge(sk, rx, syn_inerr)
            tack.send_dupack(sk, rx)
        elif reset_check(sk, rx):
            tcp_reset(sk)
            return SkbDropReason.TCP_RESET
        return SkbDropReason.TCP_INVALID_SEQUENCE
    if flags & RST:
        seq = rx.seq
        if seq == sk.rcv_nxt or reset_check(sk, rx):
            tcp_reset(sk)
            return SkbDropReason.TCP_RESET
        if sk.sack_ok and sk.num_sacks and seq == max(b[1] for b in sk.selective_acks):
            tcp_reset(sk)
            return SkbDropReason.TCP_RESET
        tack.send_challenge_ack(sk, rx)  # RFC 5961 3.2: in window, not exact
        return SkbDropReason.TCP_RESET
    if flags & SYN:
        if (
            sk.state == SYN_RECEIVED
            and flags & ACK
            and rx.seq + 1 == rx.end_seq
            and rx.seq + 1 == sk.rcv_nxt
            and rx.ack == sk.snd_nxt
        ):
            return None  # simultaneous open: the peer's SYN-ACK
        return _syn_challenge(sk, rx, syn_inerr)
    return None


def _syn_challenge(sk: TcpSock, rx: RxSeg, syn_inerr: bool) -> SkbDropReason:
    """RFC 5961 4.2: a SYN on a synchronized connection gets a challenge ACK."""
    if syn_inerr:
        sk.net.mib.tcp["InErrs"] += 1
    sk.net.mib.tcpext["TCPSYNChallenge"] += 1
    tack.send_challenge_ack(sk, rx)
    return SkbDropReason.TCP_INVALID_SYN


# -- ESTABLISHED: header prediction ---------------------------------------------------------------
def store_ts_recent(sk: TcpSock) -> None:
    sk.ts_recent = sk.rcv_tsval
    sk.ts_recent_stamp = sk.net.sched.now or 1


def data_snd_check(sk: TcpSock) -> None:
    """Send what the ACK allowed, wake writers if space opened (``tcp_data_snd_check``)."""
    output.push_pending_frames(sk)
    win.check_space(sk)


def rcv_established(sk: TcpSock, rx: RxSeg) -> SkbDropReason | None:
    """``tcp_rcv_established``: header prediction, else the full slow path."""
    th = rx.th
    # Header prediction runs for nearly every segment, so parse_ts, s32, store_ts_recent,
    # receive_window and data_snd_check are inlined here (issue 18: calls per transaction).
    ts = th.timestamp
    saw_tstamp = sk.saw_tstamp = ts is not None and sk.tstamp_ok
    if saw_tstamp:
        sk.rcv_tsval, sk.rcv_tsecr = ts
    if (
        sk.fastpath
        and (th.flags & ~PSH) == ACK
        and rx.hlen == sk.tcp_header_len
        and th.window == sk.snd_wnd >> sk.snd_wscale
        and rx.seq == sk.rcv_nxt
        and sk.snd_una <= rx.ack <= sk.snd_nxt
        and (
            not sk.tstamp_ok or (saw_tstamp and (sk.rcv_tsval - sk.ts_recent) & SEQ_MASK < SEQ_HALF)
        )
    ):
        n = len(rx.payload)
        if not n:
            if saw_tstamp and sk.rcv_nxt == sk.rcv_wup:
                sk.ts_recent = sk.rcv_tsval
                sk.ts_recent_stamp = sk.net.sched.now or 1
            tack.tcp_ack(sk, rx, 0)
            output.push_pending_frames(sk)
            win.check_space(sk)
            return None
        rwin = sk.rcv_wup + sk.rcv_wnd - sk.rcv_nxt
        if n <= rwin and sk.rmem_alloc + n <= sk.sk_rcvbuf:
            if saw_tstamp and rx.seq <= sk.rcv_wup:
                sk.ts_recent = sk.rcv_tsval
                sk.ts_recent_stamp = sk.net.sched.now or 1
            rcvbuf.rcv_rtt_measure_ts(sk, n)
            sk.net.mib.tcpext["TCPHPHits"] += 1
            rcvq.queue_rcv(sk, bytes(rx.payload), rx.end_seq)
            rcvq.event_data_recv(sk, rx, n)
            if rx.ack != sk.snd_una:
                tack.tcp_ack(sk, rx, 1)  # FLAG_DATA
                output.push_pending_frames(sk)
                win.check_space(sk)
            else:
                sk.snd_wl1 = rx.seq
            rcvq.ack_snd_check(sk)
            rcvq.data_ready(sk)
            return None
    if not th.flags & (ACK | RST | SYN):
        return SkbDropReason.TCP_FLAGS
    reason = validate_incoming(sk, rx, True)
    if reason is not None:
        return reason
    if tack.tcp_ack(sk, rx, FLAG_SLOWPATH | FLAG_UPDATE_TS_RECENT) < 0:
        return SkbDropReason.TCP_ACK_INVALID
    rcvbuf.rcv_rtt_measure_ts(sk, len(rx.payload))
    if th.flags & URG or sk.urg_data:
        urg.tcp_urg(sk, rx)
    reason = rcvq.data_queue(sk, rx)
    data_snd_check(sk)
    rcvq.ack_snd_check(sk)
    return reason


# -- the other synchronized states ----------------------------------------------------------------
def rcv_state_process(sk: TcpSock, rx: RxSeg) -> SkbDropReason | None:
    """``tcp_rcv_state_process`` for SYN-SENT, SYN-RECEIVED and the closing states."""
    state = sk.state
    th = rx.th
    if state == CLOSED:
        reply_rst(sk, rx)
        return SkbDropReason.TCP_CLOSE
    if state == SYN_SENT:
        return rcv_synsent(sk, rx)
    parse_ts(sk, th)
    if not th.flags & (ACK | RST | SYN):
        return SkbDropReason.TCP_FLAGS
    reason = validate_incoming(sk, rx, False)
    if reason is not None:
        return reason
    if not th.flags & ACK:
        return SkbDropReason.TCP_FLAGS
    acceptable = (
        tack.tcp_ack(sk, rx, FLAG_SLOWPATH | FLAG_UPDATE_TS_RECENT | FLAG_NO_CHALLENGE_ACK) > 0
    )
    if not acceptable:
        if sk.state == SYN_RECEIVED:
            reply_rst(sk, rx)
            return SkbDropReason.TCP_ACK_INVALID
        tack.send_challenge_ack(sk, rx)
        return SkbDropReason.TCP_ACK_INVALID
    state = sk.state
    if state == SYN_RECEIVED:
        establish_passive(sk, rx)
    elif state == FIN_WAIT_1 and sk.snd_una == sk.write_seq:
        tcp_set_state(sk, FIN_WAIT_2)
        sk.sk_shutdown |= SEND_SHUTDOWN
        sk.wake()  # sk_state_change: the user, or a close() lingering (SO_LINGER)
        if sk.orphan():
            if sk.linger2 < 0:
                tcp_done(sk)
                sk.net.mib.tcpext["TCPAbortOnData"] += 1
                return None
            if rx.end_seq != rx.seq and rx.end_seq - bool(th.flags & FIN) > sk.rcv_nxt:
                tcp_done(sk)  # data after close(): RFC 1122 4.2.2.13
                sk.net.mib.tcpext["TCPAbortOnData"] += 1
                reply_rst(sk, rx)
                return None
            sk.reset_keepalive_timer(fin_time(sk), "fin_wait2")
    elif state == CLOSING and sk.snd_una == sk.write_seq:
        tcp_time_wait(sk)
        return None
    elif state == LAST_ACK and sk.snd_una == sk.write_seq:
        tcp_done(sk)
        return None
    state = sk.state
    reason = None
    if th.flags & URG or sk.urg_data:
        urg.tcp_urg(sk, rx)  # step six: the URG bit
    if state in (CLOSE_WAIT, CLOSING, LAST_ACK):
        if rx.seq >= sk.rcv_nxt:
            state = None  # data after the peer's FIN: ignore it
    if state in (FIN_WAIT_1, FIN_WAIT_2) and sk.sk_shutdown & RCV_SHUTDOWN:
        if rx.end_seq != rx.seq and rx.end_seq - bool(th.flags & FIN) > sk.rcv_nxt:
            sk.net.mib.tcpext["TCPAbortOnData"] += 1
            reply_rst(sk, rx)
            tcp_reset(sk)
            return None
    if state in (ESTABLISHED, FIN_WAIT_1, FIN_WAIT_2):
        reason = rcvq.data_queue(sk, rx)
    if sk.state != CLOSED:
        data_snd_check(sk)
        rcvq.ack_snd_check(sk)
    return reason


def establish_passive(sk: TcpSock, rx: RxSeg) -> None:
    """SYN-RECEIVED -> ESTABLISHED on the ACK of our SYN-ACK (RFC 9293 §3.10.7.4 fifth)."""
    sk.delivered += 1
    if sk.fastopen.rsk is not None:  # a Fast Open child: set up (and maybe read) already
        fastopen.synrecv_done(sk)
    else:
        sk.retrans_stamp = 0
        init_transfer(sk)
        sk.copied_seq = sk.rcv_nxt
    tcp_set_state(sk, ESTABLISHED)
    sk.snd_una = rx.ack
    sk.snd_wnd = rx.th.window << sk.snd_wscale
    sk.snd_wl1 = rx.seq
    sk.max_window = max(sk.max_window, sk.snd_wnd)
    if sk.tstamp_ok:
        sk.advmss -= TCPOLEN_TSTAMP_ALIGNED
    sk.lsndtime = sk.net.sched.now
    win.initialize_rcv_mss(sk)
    sk.fastpath = True
    sk.wake()
    if sk.sk_shutdown & SEND_SHUTDOWN and sk.state == ESTABLISHED:
        tcp_shutdown(sk)


def rcv_synsent(sk: TcpSock, rx: RxSeg) -> SkbDropReason | None:
    """SYN-SENT: our SYN answered (``tcp_rcv_synsent_state_process``)."""
    th = rx.th
    flags = th.flags
    rx.seq = th.seq  # the peer's ISN is new to us: no unwrapping yet
    rx.end_seq = th.seq + len(rx.payload) + bool(flags & SYN) + bool(flags & FIN)
    sysctl = sk.net.sysctl
    ts = th.timestamp if sysctl.tcp_timestamps else None
    sk.saw_tstamp = ts is not None
    if ts is not None:
        sk.rcv_tsval, sk.rcv_tsecr = ts
    if flags & ACK:
        if rx.ack <= sk.snd_una or rx.ack > sk.snd_nxt:
            if not sk.retransmits:
                sk.reset_xmit_timer("rto", TCP_TIMEOUT_MIN, TCP_RTO_MAX)
            reply_rst(sk, rx)
            return SkbDropReason.TCP_INVALID_ACK_SEQUENCE
        if ts is not None and ts[1]:
            sent = (sk.retrans_stamp // NS_PER_MS + sk.ts_off) & SEQ_MASK
            if not between(ts[1], sent, sk.ts_now()):
                sk.net.mib.tcpext["PAWSActive"] += 1
                reply_rst(sk, rx)
                return SkbDropReason.TCP_RFC7323_PAWS
        if flags & RST:
            tcp_reset(sk)
            return SkbDropReason.TCP_RESET
        if not flags & SYN:
            return SkbDropReason.TCP_FLAGS
        _take_syn_options(sk, th)
        ecn.rcv_synack(sk, flags)
        sk.snd_wl1 = rx.seq
        tack.tcp_ack(sk, rx, FLAG_SLOWPATH)
        sk.irs = th.seq
        sk.rcv_nxt = sk.rcv_wup = th.seq + 1
        sk.snd_wnd = th.window
        sk.max_window = max(sk.max_window, sk.snd_wnd)
        if sk.tstamp_ok:
            sk.advmss -= TCPOLEN_TSTAMP_ALIGNED
            store_ts_recent(sk)
        win.sync_mss(sk, sk.pmtu)
        win.initialize_rcv_mss(sk)
        sk.copied_seq = sk.rcv_nxt
        finish_connect(sk)
        fo = sk.fastopen
        if (fo.syn_fastopen or fo.syn_data) and fastopen.rcv_synack(sk, rx):
            return None  # the SYN's data goes again, and carries the ACK
        if sk.pingpong:  # save one ACK: data will follow soon
            sk.ack_pending |= ICSK_ACK_SCHED | ICSK_ACK_TIMER
            output.enter_quickack_mode(sk, 16)
            sk.ack_timeout = sk.net.sched.now + TCP_DELACK_MAX
            sk.delack_timer.mod_timer(sk.ack_timeout)
            return None
        transmit.send_ack(sk)
        data_snd_check(sk)
        return None
    if flags & RST:
        return SkbDropReason.TCP_RESET
    if sk.ts_recent_stamp and sk.saw_tstamp and not paws_check(sk, 0):
        return SkbDropReason.TCP_RFC7323_PAWS
    if flags & SYN:  # simultaneous open (RFC 9293 figure 8)
        tcp_set_state(sk, SYN_RECEIVED)
        _take_syn_options(sk, th)
        ecn.rcv_syn(sk, flags)
        if sk.saw_tstamp:
            store_ts_recent(sk)
        sk.irs = th.seq
        sk.rcv_nxt = sk.rcv_wup = sk.copied_seq = th.seq + 1
        sk.snd_wnd = sk.max_window = th.window
        sk.snd_wl1 = th.seq
        win.sync_mss(sk, sk.pmtu)
        win.initialize_rcv_mss(sk)
        connect.send_synack(sk)
        return None
    return SkbDropReason.TCP_FLAGS


def _take_syn_options(sk: TcpSock, th: TcpRepr) -> None:
    """Negotiated options from the peer's SYN or SYN-ACK (``tcp_parse_options``)."""
    sysctl = sk.net.sysctl
    mss = th.mss or 536
    if sk.user_mss and sk.user_mss < mss:
        mss = sk.user_mss
    sk.mss_clamp = mss
    sk.wscale_ok = th.wscale is not None and bool(sysctl.tcp_window_scaling)
    if sk.wscale_ok:
        sk.snd_wscale = min(th.wscale, 14)
    else:
        sk.snd_wscale = sk.rcv_wscale = 0
        sk.window_clamp = min(sk.window_clamp, 65535)
    sk.sack_ok = th.sack_permitted and bool(sysctl.tcp_sack)
    sk.tstamp_ok = th.timestamp is not None and bool(sysctl.tcp_timestamps)
    if sk.tstamp_ok:
        sk.tcp_header_len = 20 + TCPOLEN_TSTAMP_ALIGNED
    else:
        sk.tcp_header_len = 20


# -- becoming established -------------------------------------------------------------------------
def init_transfer(sk: TcpSock) -> None:
    """Congestion control and buffers at establishment (``tcp_init_transfer``)."""
    now = sk.net.sched.now
    if not sk.userlocks & 1:
        win.sndbuf_expand(sk)
    sk.rcvq_time = now
    sk.rcvq_seq = sk.copied_seq
    maxwin = win.full_space(sk)
    if sk.window_clamp >= maxwin:
        sk.window_clamp = maxwin
    sk.rcv_ssthresh = min(sk.rcv_ssthresh, sk.window_clamp)
    sk.rcvq_space = min(sk.rcv_ssthresh, sk.rcv_wnd, TCP_INIT_CWND * sk.advmss)
    sk.cwnd = 1 if sk.total_retrans > 1 and sk.undo_marker else TCP_INIT_CWND
    sk.cwnd_stamp = now
    sk.ca.init(sk)
    ecn.dontxmit(sk)  # tcp_init_congestion_control: no congestion control here needs ECT
    if sk.keepopen:
        sk.reset_keepalive_timer(keepalive_time_when(sk))


def finish_connect(sk: TcpSock) -> None:
    """SYN-SENT -> ESTABLISHED (``tcp_finish_connect``)."""
    tcp_set_state(sk, ESTABLISHED)
    init_transfer(sk)
    sk.lsndtime = sk.net.sched.now
    sk.rcv_tstamp = sk.net.sched.now
    sk.fastpath = True
    sk.wake()
