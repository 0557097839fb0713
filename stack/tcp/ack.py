"""Processing the ACK field: window update, retransmit queue, RTT, SACK scoreboard, congestion.

Mirrors ``tcp_ack`` and its helpers in Linux's ``net/ipv4/tcp_input.c``:
``tcp_ack_update_window``, ``tcp_clean_rtx_queue`` (Karn's rule for RTT samples),
the SACK scoreboard (``tcp_sacktag_*``, :mod:`stack.tcp.sacktag`),
``tcp_cong_control``, ``tcp_ack_probe`` (the zero window reopens), plus the out-of-window ACK
rate limits and the RFC 5961 challenge ACK (``tcp_send_challenge_ack``).

Contract: :func:`tcp_ack` returns > 0 for an acceptable ACK, 0 for an old duplicate that was
only used for SACK information, < 0 when the segment must be dropped (an ACK of data never
sent, or older than a whole window).

Spec: RFC 9293 §3.10.7.4 (fifth: the ACK field); RFC 5681 §3.2; RFC 6675 §5; RFC 6298 §5;
RFC 5961 §5 (ACK throttling) and §7 (challenge ACK rate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.skbfree import consume_skb
from stack.tcp import ecn, output, pacing, rack, rate, recovery, rtt, tlp, transmit
from stack.tcp import window as win
from stack.tcp.chrono import TCP_CHRONO_BUSY, chrono_stop
from stack.tcp.const import (
    ICSK_ACK_NOW,
    NS_PER_MS,
    NS_PER_US,
    TCP_INVALID_RATELIMIT,
    TCP_RTO_MAX,
    TCPCB_EVER_RETRANS,
    TCPCB_LOST,
    TCPCB_SACKED_ACKED,
    TCPCB_SACKED_RETRANS,
)
from stack.tcp.recovery import (
    FLAG_ACKED,
    FLAG_CA_ALERT,
    FLAG_DATA,
    FLAG_DATA_ACKED,
    FLAG_DSACKING_ACK,
    FLAG_ECE,
    FLAG_FORWARD_PROGRESS,
    FLAG_NO_CHALLENGE_ACK,
    FLAG_NOT_DUP,
    FLAG_ORIG_SACK_ACKED,
    FLAG_RETRANS_DATA_ACKED,
    FLAG_SET_XMIT_TIMER,
    FLAG_SLOWPATH,
    FLAG_SND_UNA_ADVANCED,
    FLAG_SYN_ACKED,
    FLAG_UPDATE_TS_RECENT,
    FLAG_WIN_UPDATE,
)
from stack.tcp.sacktag import SackTagState, sacktag
from stack.tcp.scoreboard import ts_del
from stack.tcp.seq import before, s32
from stack.tcp.state import CaState
from stack.tcp.xmit_timer import set_xmit_timer
from stack.wire.tcp import CWR, SYN

if TYPE_CHECKING:
    from stack.tcp.cb import TxSeg
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock


# -- rate limits and challenge ACKs ---------------------------------------------------------------
def oow_rate_limited(sk: TcpSock, rx: RxSeg | None, mib: str) -> bool:
    """Limit ACKs to out-of-window segments to one per 500 ms (``tcp_oow_rate_limited``).

    Data segments without SYN are never limited: they are no part of an ACK loop.
    """
    if rx is not None and rx.end_seq != rx.seq and not rx.th.flags & SYN:
        return False
    now = sk.net.sched.now
    last = sk.last_oow_ack_time
    if last and now - last < TCP_INVALID_RATELIMIT:
        sk.net.mib.tcpext[mib] += 1
        return True
    sk.last_oow_ack_time = now or 1
    return False


def send_dupack(sk: TcpSock, rx: RxSeg) -> None:
    """ACK an unacceptable segment (``tcp_send_dupack``): D-SACK old data, quick-ack mode."""
    if rx.end_seq != rx.seq and rx.seq < sk.rcv_nxt:
        sk.net.mib.tcpext["DelayedACKLost"] += 1
        output.enter_quickack_mode(sk, 16)
        if sk.sack_ok and sk.net.sysctl.tcp_dsack:
            end = min(rx.end_seq, sk.rcv_nxt)
            sk.dsack = (rx.seq, end)
            sk.net.mib.tcpext["TCPDSACKOldSent"] += 1
    if not oow_rate_limited(sk, rx, "TCPACKSkippedSeq"):
        transmit.send_ack(sk)


def send_challenge_ack(sk: TcpSock, rx: RxSeg | None) -> None:
    """RFC 5961 challenge ACK, per socket and per host rate-limited (``tcp_send_challenge_ack``)."""
    if oow_rate_limited(sk, rx, "TCPACKSkippedChallenge"):
        return
    if not sk.table.challenge_ack_allowed():
        return
    sk.net.mib.tcpext["TCPChallengeACK"] += 1
    transmit.send_ack(sk)


def replace_ts_recent(sk: TcpSock, seq: int) -> None:
    """Remember the peer's TSval from an in-window segment (``tcp_replace_ts_recent``)."""
    if sk.saw_tstamp and seq <= sk.rcv_wup and s32(sk.ts_recent - sk.rcv_tsval) <= 0:
        sk.ts_recent = sk.rcv_tsval
        sk.ts_recent_stamp = sk.net.sched.now or 1


# -- the ACK --------------------------------------------------------------------------------------
def update_window(sk: TcpSock, rx: RxSeg, ack: int) -> int:
    """``tcp_ack_update_window``: take SEG.WND if the segment is newer (RFC 9293 SND.WL1/WL2)."""
    flag = 0
    nwin = rx.th.window
    if not rx.th.flags & SYN:
        nwin <<= sk.snd_wscale
    seq = rx.seq
    if (
        ack > sk.snd_una
        or seq > sk.snd_wl1
        or (seq == sk.snd_wl1 and (nwin > sk.snd_wnd or not nwin))
    ):
        flag = FLAG_WIN_UPDATE
        sk.snd_wl1 = seq
        if sk.snd_wnd != nwin:
            sk.snd_wnd = nwin
            sk.fastpath = False
            if nwin > sk.max_window:
                sk.max_window = nwin
                win.sync_mss(sk, sk.pmtu)
    snd_una_update(sk, ack)
    return flag


def snd_una_update(sk: TcpSock, ack: int) -> None:
    delta = ack - sk.snd_una
    if delta > 0:
        sk.bytes_acked += delta
        sk.snd_una = ack


def tcp_ack(sk: TcpSock, rx: RxSeg, flag: int) -> int:
    """Process SEG.ACK (``tcp_ack``); see the module docstring for the return value."""
    prior_snd_una = sk.snd_una
    ack = rx.ack
    mib = sk.net.mib.tcpext
    if ack < prior_snd_una:
        if ack < prior_snd_una - sk.max_window:
            if not flag & FLAG_NO_CHALLENGE_ACK:
                send_challenge_ack(sk, rx)
            return -1
        if rx.th.sack_blocks and sk.sack_ok:  # an old ACK may still carry SACK news
            st = SackTagState(sk.snd_nxt, sk.net.sched.now, rate.RateSample())
            flag |= sacktag(sk, rx.th.sack_blocks, prior_snd_una, ack, st)
            rexmit, flag = recovery.fastretrans_alert(sk, prior_snd_una, 0, flag)
            recovery.xmit_recovery(sk, rexmit)
        return 0
    if ack > sk.snd_nxt:
        return -1
    if ack > prior_snd_una:
        flag |= FLAG_SND_UNA_ADVANCED
        sk.retransmits = 0
    prior_packets = sk.packets_out
    # tcp_packets_in_flight, inlined (once per ACK)
    rs = rate.RateSample(sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out)
    prior_delivered = sk.delivered
    prior_lost = sk.lost
    # rack.highest_sack_seq, inlined: once per ACK (issue 18)
    if not sk.sack_ok or not sk.sacked_out:
        prior_fack = prior_snd_una
    else:
        prior_fack = sk.highest_sack if sk.highest_sack > prior_snd_una else prior_snd_una
    st = SackTagState(sk.snd_nxt, sk.net.sched.now, rs)
    if flag & FLAG_UPDATE_TS_RECENT:
        replace_ts_recent(sk, rx.seq)
    if (flag & (FLAG_SLOWPATH | FLAG_SND_UNA_ADVANCED)) == FLAG_SND_UNA_ADVANCED:
        sk.snd_wl1 = rx.seq  # header prediction: the window did not change
        if ack > prior_snd_una:  # snd_una_update, inlined (once per ACK)
            sk.bytes_acked += ack - prior_snd_una
            sk.snd_una = ack
        flag |= FLAG_WIN_UPDATE
        mib["TCPHPAcks"] += 1
    else:
        if rx.end_seq != rx.seq:
            flag |= FLAG_DATA
        else:
            mib["TCPPureAcks"] += 1
        flag |= update_window(sk, rx, ack)
        if rx.th.sack_blocks and sk.sack_ok:
            flag |= sacktag(sk, rx.th.sack_blocks, prior_snd_una, ack, st)
        if sk.ecn_flags and ecn.rcv_ecn_echo(sk, rx.th.flags):
            flag |= FLAG_ECE
    # CWR is taken from any acceptable segment, pure ACKs too (Linux's deviation from RFC
    # 3168 §6.1.3, so a CWR on a bare ACK does not leave ECE latched)
    if rx.th.flags & CWR and ecn.accept_cwr(sk, rx):
        sk.ack_pending |= ICSK_ACK_NOW
    sk.sk_err_soft = 0
    sk.probes_out = 0
    sk.rcv_tstamp = rx.tstamp
    if not prior_packets:
        if flag & FLAG_DSACKING_ACK:
            recovery.fastretrans_alert(sk, prior_snd_una, 0, flag)
        ack_probe(sk)
        if sk.tlp_high_seq:
            tlp.process_tlp_ack(sk, ack, flag)
        if sk.net.kernel.tracers:
            trace_probe(sk, rx)
        return 1
    flag |= clean_rtx_queue(sk, rx, prior_snd_una, prior_fack, flag, st)
    rack.update_reo_wnd(sk, rs)
    if sk.tlp_high_seq:
        tlp.process_tlp_ack(sk, ack, flag)
    rexmit = recovery.REXMIT_NONE
    if not flag & FLAG_NOT_DUP or flag & FLAG_CA_ALERT or sk.ca_state != CaState.OPEN:
        num_dupack = 0
        if not flag & (FLAG_SND_UNA_ADVANCED | FLAG_NOT_DUP | FLAG_DSACKING_ACK):
            num_dupack = 1
        rexmit, flag = recovery.fastretrans_alert(sk, prior_snd_una, num_dupack, flag)
    if flag & FLAG_SET_XMIT_TIMER:
        set_xmit_timer(sk)  # a loss probe or the RTO, unless RACK armed its reorder timer
    delivered = sk.delivered - prior_delivered
    if flag & FLAG_ECE:
        sk.delivered_ce += delivered  # tcp_count_delivered(..., ece_ack)
    rate.rate_gen(sk, delivered, sk.lost - prior_lost, False, rs)
    cong_control(sk, ack, delivered, flag, rs)
    if rexmit != recovery.REXMIT_NONE:  # xmit_recovery's own first test: most ACKs
        recovery.xmit_recovery(sk, rexmit)
    if sk.net.kernel.tracers:
        trace_probe(sk, rx)
    return 1


def trace_probe(sk: TcpSock, rx: RxSeg) -> None:
    """Fire ``tcp_probe`` (Linux's ``trace_tcp_probe``) with the state this ACK left.

    Deviation: Linux fires it on entry to ``tcp_rcv_established``, before the segment is
    processed; here it fires once an acceptable ACK has been processed (cwnd, ssthresh, RTT
    and the window updated), in any synchronized state, so a plot shows each ACK's effect.
    ixsim has no pacing, so there is no pacing-rate field.
    """
    sk.net.kernel.trace(
        "tcp_probe",
        sk=sk,
        data_len=len(rx.payload),
        snd_nxt=sk.snd_nxt,
        snd_una=sk.snd_una,
        snd_cwnd=sk.cwnd,
        ssthresh=sk.ssthresh,
        snd_wnd=sk.snd_wnd,
        srtt=sk.srtt_us >> 3,
        rcv_wnd=sk.rcv_wnd,
        in_flight=sk.packets_in_flight(),
        mss=sk.mss_cache,
    )


def cong_control(sk: TcpSock, ack: int, acked_sacked: int, flag: int, rs: rate.RateSample) -> None:
    """``tcp_cong_control``: an algorithm with its own ``cong_control`` (BBR) sets cwnd and
    the pacing rate from the rate sample alone; otherwise PRR while reducing, else
    ``cong_avoid`` grows cwnd, and the pacing rate follows cwnd/srtt."""
    ca = sk.ca
    if ca.has_cong_control:
        ca.cong_control(sk, ack, flag, rs)
        return
    if sk.ca_state in (CaState.CWR, CaState.RECOVERY):
        recovery.cwnd_reduction(sk, acked_sacked, rs.losses, flag)
    elif flag & (
        FLAG_FORWARD_PROGRESS if sk.reordering > sk.net.sysctl.tcp_reordering else FLAG_DATA_ACKED
    ):
        ca.cong_avoid(sk, ack, acked_sacked)
    pacing.update_pacing_rate(sk)


def ack_probe(sk: TcpSock) -> None:
    """A window probe was answered: stop probing if the window opened (``tcp_ack_probe``)."""
    head = sk.send_head()
    if head is None:
        return
    if head.end_seq <= sk.wnd_end():
        sk.backoff = 0
        if sk.xmit_timer_what == "probe0":
            sk.clear_xmit_timer()
    else:
        sk.reset_xmit_timer("probe0", output.probe0_when(sk), TCP_RTO_MAX)


def clean_rtx_queue(
    sk: TcpSock, rx: RxSeg, prior_snd_una: int, prior_fack: int, flag: int, st: SackTagState
) -> int:
    """Free what SND.UNA covers, take an RTT sample, count deliveries, feed RACK, the
    reordering detector and the rate sample ``st.rate`` (``tcp_clean_rtx_queue``).

    As Linux's, it runs for every ACK while data is outstanding, SACK-only ones included:
    the RTT sample falls back to the newest never-retransmitted segment this ACK SACKed
    (``sack->first_sackt``/``last_sackt``), and the congestion control's ``pkts_acked``
    sees each ACK with ``rs.rtt_us`` (CUBIC's ``delay_min`` and HyStart take SACK samples).
    """
    rs = st.rate
    ack = sk.snd_una
    rtxq = sk.rtx
    now = rx.tstamp
    first_ackt = last_ackt = -1
    pkts_acked = 0
    n = 0
    sack_ok = sk.sack_ok
    reord = sk.snd_nxt  # lowest never-retransmitted segment delivered in a hole
    high_seq = sk.high_seq
    rack_last = rack_newest = None  # for RACK: the last acked in order, the newest sent
    for seg in rtxq:
        if seg.end_seq > ack:
            if seg.seq < ack and not seg.flags & SYN and seg.skb.len:
                before_pcount = seg.pcount
                output.trim_head(sk, seg, ack - seg.seq)
                output.set_tso_segs(seg, seg.mss or win.current_mss(sk))
                gone = before_pcount - seg.pcount
                if gone > 0:
                    sk.packets_out -= gone
                    pkts_acked += gone
                    if seg.sacked & TCPCB_LOST:
                        sk.lost_out -= gone
                    if seg.sacked & TCPCB_SACKED_RETRANS:
                        sk.retrans_out -= gone
                    sk.delivered += gone
                    # The acked head of a TSO skb times the ACK as a whole skb would
                    # (tcp_clean_rtx_queue reads the skb's timestamp before the
                    # "fully_acked" check): without it a flight of 64 KB skbs ACKed
                    # every few MSS gives an RTT sample only once per skb.
                    if seg.sacked & (TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS):
                        flag |= FLAG_RETRANS_DATA_ACKED
                    elif not seg.sacked & TCPCB_SACKED_ACKED:
                        last_ackt = seg.tx_time
                        if first_ackt < 0:
                            first_ackt = last_ackt
                    rate.skb_delivered(sk, seg, rs)
                flag |= FLAG_DATA_ACKED
            break
        sacked = seg.sacked
        pcount = seg.pcount
        if sacked & (TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS):
            if sacked & TCPCB_SACKED_RETRANS:
                sk.retrans_out -= pcount
            flag |= FLAG_RETRANS_DATA_ACKED
        elif not sacked & TCPCB_SACKED_ACKED:
            last_ackt = seg.tx_time
            if first_ackt < 0:
                first_ackt = last_ackt
            if seg.seq < reord:
                reord = seg.seq
            if seg.end_seq <= high_seq:
                flag |= FLAG_ORIG_SACK_ACKED
        if sacked & TCPCB_SACKED_ACKED:
            sk.sacked_out -= pcount
        elif sack_ok:
            sk.delivered += pcount
            if not _spurious_retrans(sk, seg):
                rack_last = seg
                if rack_newest is None or seg.tx_time >= rack_newest.tx_time:
                    rack_newest = seg
        rate.skb_delivered(sk, seg, rs)
        ts_del(seg)
        if sacked & TCPCB_LOST:
            sk.lost_out -= pcount
        sk.packets_out -= pcount
        pkts_acked += pcount
        if seg.flags & SYN:
            flag |= FLAG_SYN_ACKED
            sk.retrans_stamp = 0
        else:
            flag |= FLAG_DATA_ACKED
        skb = seg.skb
        sk.wmem_queued -= skb.truesize
        consume_skb(skb)
        n += 1
    if n:
        del rtxq[:n]
        if not rtxq:
            chrono_stop(sk, TCP_CHRONO_BUSY)
    seq_rtt = ca_rtt = sack_rtt = -1
    if first_ackt >= 0 and not flag & FLAG_RETRANS_DATA_ACKED:
        seq_rtt = (now - first_ackt) // NS_PER_US
        ca_rtt = (now - last_ackt) // NS_PER_US
    if st.first_sackt >= 0:
        sack_rtt = (now - st.first_sackt) // NS_PER_US
        ca_rtt = (now - st.last_sackt) // NS_PER_US
    if rack_last is not None:  # tcp_rack_advance for each: the newest moves RACK's
        now_ns = sk.net.sched.now  # transmission mark, the last one leaves its RTT
        rack.advance(sk, rack_newest.sacked, rack_newest.end_seq, rack_newest.tx_time, now_ns)
        if rack_last is not rack_newest:
            rack.advance(sk, rack_last.sacked, rack_last.end_seq, rack_last.tx_time, now_ns)
    acked = bool(flag & FLAG_ACKED)
    rtt_update = rtt.ack_update_rtt(sk, seq_rtt, ca_rtt, acked, rs, sack_rtt)
    if acked:
        flag |= FLAG_SET_XMIT_TIMER  # a loss probe or the RTO
        if not sack_ok:
            recovery.remove_reno_sacks(sk, pkts_acked)
        elif reord < prior_fack:  # a never-retransmitted hole was filled: reordering
            rack.check_sack_reordering(sk, reord, False)
    elif rtxq and rtt_update and sack_rtt >= 0 and sack_rtt > (now - rtxq[0].tx_time) // NS_PER_US:
        # The SACK sample was sent before the head's last (re)transmission: re-arm (an RTT
        # from data sent after it must not keep extending the timeout in recovery).
        flag |= FLAG_SET_XMIT_TIMER
    sk.ca.pkts_acked(sk, pkts_acked, rs.rtt_us)
    return flag


def _spurious_retrans(sk: TcpSock, seg: TxSeg) -> bool:
    """The ACK echoes a timestamp from before ``seg``'s retransmission: it acknowledges the
    original, so the retransmission's send time says nothing (``tcp_skb_spurious_retrans``)."""
    if not seg.sacked & (TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS):
        return False
    if not (sk.saw_tstamp and sk.rcv_tsecr):
        return False
    sent = (seg.tx_time // NS_PER_MS + sk.ts_off) & 0xFFFFFFFF
    return before(sk.rcv_tsecr, sent)
