"""Loss recovery: fast retransmit, NewReno, SACK recovery with PRR, RTO recovery, undo.

Mirrors the recovery half of Linux's ``net/ipv4/tcp_input.c``: ``tcp_fastretrans_alert`` and
its states (``TCP_CA_Open/Disorder/Recovery/Loss``), ``tcp_enter_recovery``, ``tcp_enter_loss``
(called by the RTO timer), ``tcp_cwnd_reduction`` (PRR, RFC 6937), ``tcp_end_cwnd_reduction``
and the undo functions (``tcp_try_undo_recovery``/``_partial``/``_dsack``/``_loss``).

Loss detection, as Linux 6.x's ``tcp_identify_packet_loss``: with SACK and
``tcp_recovery`` & 1 (the default) it is RACK's (``rack.py``, time-based, RFC 8985); with
``tcp_recovery`` = 0 RFC 6675's IsLost() on the SACK scoreboard (a hole is lost once
``reordering`` (DupThresh) segments above it are SACKed); without SACK RFC 6582 (three
duplicate ACKs mark the head lost; each partial ACK in recovery marks the new head lost).
Spurious retransmissions are undone on evidence: D-SACKs covering every retransmission, or a
timestamp echo older than the first retransmission (Eifel, RFC 3522).  After an RTO, F-RTO
(RFC 5682, ``tcp_frto``) sends new data instead of go-back-N and calls the timeout spurious
when never-retransmitted data is then (S)ACKed (``tcp_process_loss``, TCPSpuriousRTOs).

Spec: RFC 5681 §3.2; RFC 6582; RFC 6675; RFC 8985; RFC 6937; RFC 3522; RFC 5682; RFC 2883.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp import ecn, output, rack
from stack.tcp.cong import CA_EVENT_COMPLETE_CWR, CA_EVENT_LOSS
from stack.tcp.const import (
    NS_PER_MS,
    TCP_INFINITE_SSTHRESH,
    TCP_NAGLE_OFF,
    TCP_RACK_RECOVERY_THRESH,
    TCPCB_EVER_RETRANS,
    TCPCB_LOST,
    TCPCB_SACKED_ACKED,
)
from stack.tcp.scoreboard import mark_skb_lost
from stack.tcp.seq import before
from stack.tcp.state import CaState, tcp_set_ca_state

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

FLAG_DATA = 0x01
FLAG_WIN_UPDATE = 0x02
FLAG_DATA_ACKED = 0x04
FLAG_RETRANS_DATA_ACKED = 0x08
FLAG_SYN_ACKED = 0x10
FLAG_DATA_SACKED = 0x20
FLAG_ECE = 0x40
FLAG_LOST_RETRANS = 0x80
FLAG_SLOWPATH = 0x100
FLAG_ORIG_SACK_ACKED = 0x200
FLAG_SND_UNA_ADVANCED = 0x400
FLAG_DSACKING_ACK = 0x800
FLAG_SET_XMIT_TIMER = 0x1000
FLAG_UPDATE_TS_RECENT = 0x4000
FLAG_NO_CHALLENGE_ACK = 0x8000
FLAG_DSACK_TLP = 0x20000
FLAG_ACKED = FLAG_DATA_ACKED | FLAG_SYN_ACKED
FLAG_NOT_DUP = FLAG_DATA | FLAG_WIN_UPDATE | FLAG_ACKED
FLAG_CA_ALERT = FLAG_DATA_SACKED | FLAG_ECE | FLAG_DSACKING_ACK
FLAG_FORWARD_PROGRESS = FLAG_ACKED | FLAG_DATA_SACKED

# What the ACK leaves to send (tcp_ack's ``rexmit``): nothing, lost segments, new data (F-RTO).
REXMIT_NONE = 0
REXMIT_LOST = 1
REXMIT_NEW = 2


# -- small predicates -----------------------------------------------------------------------------
def any_retrans_done(sk: TcpSock) -> bool:
    if sk.retrans_out:
        return True
    return bool(sk.rtx and sk.rtx[0].sacked & TCPCB_EVER_RETRANS)


def current_ssthresh(sk: TcpSock) -> int:
    """ssthresh to remember for undo: 3/4 of cwnd outside reductions."""
    if sk.ca_state in (CaState.CWR, CaState.RECOVERY):
        return sk.ssthresh
    return max(sk.ssthresh, (sk.cwnd >> 1) + (sk.cwnd >> 2))


def packet_delayed(sk: TcpSock) -> bool:
    """Eifel: the ACK echoes a timestamp from before our first retransmission."""
    if sk.retrans_stamp:
        if sk.saw_tstamp and sk.rcv_tsecr:
            when = (sk.retrans_stamp // NS_PER_MS + sk.ts_off) & 0xFFFFFFFF
            return before(sk.rcv_tsecr, when)
        return False
    return True  # nothing was retransmitted


def may_undo(sk: TcpSock) -> bool:
    return bool(sk.undo_marker) and (not sk.undo_retrans or packet_delayed(sk))


def init_undo(sk: TcpSock) -> None:
    sk.undo_marker = sk.snd_una or 1  # 0 means "no undo possible"
    sk.undo_retrans = sk.retrans_out or -1


# -- scoreboard (mark_skb_lost: scoreboard.py) ----------------------------------------------------
def add_reno_sack(sk: TcpSock, num_dupack: int) -> None:
    """Without SACK, count duplicate ACKs as if each SACKed a segment (``tcp_add_reno_sack``)."""
    if not num_dupack:
        return
    prior = sk.sacked_out
    sk.sacked_out += num_dupack
    holes = min(max(sk.lost_out, 1), sk.packets_out)
    if sk.sacked_out + holes > sk.packets_out:
        sk.sacked_out = max(sk.packets_out - holes, 0)
    if sk.sacked_out > prior:
        sk.delivered += sk.sacked_out - prior


def remove_reno_sacks(sk: TcpSock, acked: int) -> None:
    """A cumulative ACK ate some of the counted duplicates (``tcp_remove_reno_sacks``)."""
    if acked > 0:
        sk.delivered += max(acked - sk.sacked_out, 1)
        sk.sacked_out = 0 if acked - 1 >= sk.sacked_out else sk.sacked_out - (acked - 1)


def identify_loss(sk: TcpSock, flag: int) -> int:
    """Mark lost segments (``tcp_identify_packet_loss``): RFC 6582 without SACK, RACK with it,
    RFC 6675 IsLost() when ``tcp_recovery`` turns RACK off.  Returns ``flag`` without
    FLAG_SET_XMIT_TIMER when RACK armed the reorder timer, with FLAG_LOST_RETRANS when a
    retransmission was found lost."""
    rtx = sk.rtx
    if not rtx:
        return flag
    if sk.sack_ok and rack.is_rack(sk):
        prior_retrans = sk.retrans_out
        if rack.mark_lost(sk):
            flag &= ~FLAG_SET_XMIT_TIMER
        if prior_retrans > sk.retrans_out:
            flag |= FLAG_LOST_RETRANS
        return flag
    if not sk.sack_ok:
        state = sk.ca_state
        if (state < CaState.RECOVERY and sk.sacked_out >= sk.reordering) or (
            state == CaState.RECOVERY and flag & FLAG_SND_UNA_ADVANCED
        ):
            head = rtx[0]
            if head.sacked & TCPCB_LOST:
                return flag
            if head.pcount > 1 and head.mss:
                output.fragment(sk, rtx, head, head.mss, head.mss)
            mark_skb_lost(sk, head)
        return flag
    if not sk.sacked_out:
        return flag
    # Walk from the highest segment down, counting SACKed segments above each hole.
    above = 0
    thresh = sk.reordering
    for seg in reversed(rtx):
        sacked = seg.sacked
        if sacked & TCPCB_SACKED_ACKED:
            above += seg.pcount
        elif above >= thresh and not sacked & TCPCB_LOST:
            mark_skb_lost(sk, seg)
    return flag


def time_to_recover(sk: TcpSock) -> bool:
    """``tcp_time_to_recover``: something is lost, or (without RACK) DupThresh duplicates
    arrived."""
    if sk.lost_out:
        return True
    return not (sk.sack_ok and rack.is_rack(sk)) and sk.sacked_out + 1 > sk.reordering


# -- state changes --------------------------------------------------------------------------------
def init_cwnd_reduction(sk: TcpSock) -> None:
    sk.high_seq = sk.snd_nxt
    sk.tlp_high_seq = 0
    sk.cwnd_cnt = 0
    sk.prior_cwnd = sk.cwnd
    sk.prr_delivered = 0
    sk.prr_out = 0
    sk.ssthresh = sk.ca.ssthresh(sk)
    ecn.queue_cwr(sk)


def cwnd_reduction(sk: TcpSock, newly_acked_sacked: int, newly_lost: int, flag: int) -> None:
    """Proportional Rate Reduction (RFC 6937, ``tcp_cwnd_reduction``)."""
    if newly_acked_sacked <= 0 or not sk.prior_cwnd:
        return
    sk.prr_delivered += newly_acked_sacked
    in_flight = sk.packets_in_flight()
    delta = sk.ssthresh - in_flight
    if delta < 0:
        dividend = sk.ssthresh * sk.prr_delivered + sk.prior_cwnd - 1
        sndcnt = dividend // sk.prior_cwnd - sk.prr_out
    else:
        sndcnt = max(sk.prr_delivered - sk.prr_out, newly_acked_sacked)
        if flag & FLAG_SND_UNA_ADVANCED and not newly_lost:
            sndcnt += 1
        sndcnt = min(delta, sndcnt)
    sndcnt = max(sndcnt, 0 if sk.prr_out else 1)  # force the fast retransmit out
    sk.cwnd = in_flight + sndcnt


def end_cwnd_reduction(sk: TcpSock) -> None:
    """``tcp_end_cwnd_reduction``: cwnd drops to ssthresh, unless the CC sets cwnd itself."""
    if sk.ca.has_cong_control:
        return
    if sk.ssthresh < TCP_INFINITE_SSTHRESH and (sk.ca_state == CaState.CWR or sk.undo_marker):
        sk.cwnd = sk.ssthresh
        sk.cwnd_stamp = sk.net.sched.now
    sk.ca.cwnd_event(sk, CA_EVENT_COMPLETE_CWR)


def enter_recovery(sk: TcpSock) -> None:
    """Fast retransmit / fast recovery begins (``tcp_enter_recovery``)."""
    sk.net.mib.tcpext["TCPSackRecovery" if sk.sack_ok else "TCPRenoRecovery"] += 1
    sk.prior_ssthresh = 0
    init_undo(sk)
    if sk.ca_state not in (CaState.CWR, CaState.RECOVERY):
        sk.prior_ssthresh = current_ssthresh(sk)
        init_cwnd_reduction(sk)
    tcp_set_ca_state(sk, CaState.RECOVERY)


def timeout_mark_lost(sk: TcpSock) -> None:
    """RTO: mark the outstanding segments lost (``tcp_timeout_mark_lost``).

    The head always; the others unless sent less than RACK's RTT ago (they may still be on
    their way).  SACK reneging (the head SACKed) forgets every SACK.
    """
    head = sk.rtx[0] if sk.rtx else None
    reneg = head is not None and bool(head.sacked & TCPCB_SACKED_ACKED)
    if reneg:
        sk.net.mib.tcpext["TCPSACKReneging"] += 1
        sk.sacked_out = 0
    elif not sk.sack_ok:
        sk.sacked_out = 0
    now = sk.net.sched.now
    recent = now - sk.rack.rtt_ns  # sent after this: RACK's deadline not passed
    for seg in sk.rtx:
        if reneg:
            seg.sacked &= ~TCPCB_SACKED_ACKED
        elif seg is not head and seg.tx_time > recent:
            continue
        mark_skb_lost(sk, seg)


def enter_loss(sk: TcpSock) -> None:
    """RTO: what is outstanding is presumed lost, cwnd = 1 (``tcp_enter_loss``, RFC 6298 5.5)."""
    state = sk.ca_state
    new_recovery = state < CaState.RECOVERY
    timeout_mark_lost(sk)
    if (
        state <= CaState.DISORDER
        or sk.high_seq <= sk.snd_una
        or (state == CaState.LOSS and not sk.retransmits)
    ):
        sk.prior_ssthresh = current_ssthresh(sk)
        sk.prior_cwnd = sk.cwnd
        sk.ssthresh = sk.ca.ssthresh(sk)
        sk.ca.cwnd_event(sk, CA_EVENT_LOSS)
        init_undo(sk)
    sk.cwnd = sk.packets_in_flight() + 1
    sk.cwnd_cnt = 0
    sk.cwnd_stamp = sk.net.sched.now
    # A timeout after many duplicates in Disorder: the reordering degree was overestimated.
    reordering = sk.net.sysctl.tcp_reordering
    if state <= CaState.DISORDER and sk.sacked_out >= reordering:
        sk.reordering = min(sk.reordering, reordering)
    tcp_set_ca_state(sk, CaState.LOSS)
    sk.high_seq = sk.snd_nxt
    sk.tlp_high_seq = 0
    # F-RTO (RFC 5682 §3.1 step 1), unless another recovery was underway (repeated
    # timeouts of the same SND.UNA are allowed, §3.2).
    sk.frto = bool(sk.net.sysctl.tcp_frto) and (new_recovery or sk.retransmits > 0)
    ecn.queue_cwr(sk)  # RFC 3168 §6.1.2: the RTO reduced the window too


def try_keep_open(sk: TcpSock) -> None:
    state = CaState.OPEN
    if sk.sacked_out + sk.lost_out or any_retrans_done(sk):
        state = CaState.DISORDER
    if sk.ca_state != state:
        tcp_set_ca_state(sk, state)
        sk.high_seq = sk.snd_nxt


def enter_cwr(sk: TcpSock) -> None:
    """Reduce cwnd once per window for a congestion signal that lost nothing, an ECN echo
    (``tcp_enter_cwr``, RFC 3168 §6.1.2): ssthresh from the congestion control, PRR down to
    it (``cong_control``), CWR queued for the receiver, and no undo."""
    sk.prior_ssthresh = 0
    if sk.ca_state < CaState.CWR:
        sk.undo_marker = 0
        init_cwnd_reduction(sk)
        tcp_set_ca_state(sk, CaState.CWR)


def try_to_open(sk: TcpSock, flag: int) -> None:
    if not any_retrans_done(sk):
        sk.retrans_stamp = 0
    if flag & FLAG_ECE:
        enter_cwr(sk)
    if sk.ca_state != CaState.CWR:
        try_keep_open(sk)


# -- undo -----------------------------------------------------------------------------------------
def undo_cwnd_reduction(sk: TcpSock, unmark_loss: bool) -> None:
    if unmark_loss:
        for seg in sk.rtx:
            seg.sacked &= ~TCPCB_LOST
        sk.lost_out = 0
    if sk.prior_ssthresh:
        sk.cwnd = sk.ca.undo_cwnd(sk)
        if sk.prior_ssthresh > sk.ssthresh:
            sk.ssthresh = sk.prior_ssthresh
            ecn.withdraw_cwr(sk)
    sk.cwnd_stamp = sk.net.sched.now
    sk.undo_marker = 0


def try_undo_recovery(sk: TcpSock) -> bool:
    """Recovery (or Loss) ended: undo if it was spurious; Reno holds until above high_seq."""
    mib = sk.net.mib.tcpext
    if may_undo(sk):
        undo_cwnd_reduction(sk, False)
        mib["TCPLossUndo" if sk.ca_state == CaState.LOSS else "TCPFullUndo"] += 1
    elif sk.rack.reo_wnd_persist:
        sk.rack.reo_wnd_persist -= 1
    if sk.snd_una == sk.high_seq and not sk.sack_ok:
        if not any_retrans_done(sk):
            sk.retrans_stamp = 0
        return True
    tcp_set_ca_state(sk, CaState.OPEN)
    return False


def try_undo_partial(sk: TcpSock, prior_snd_una: int) -> bool:
    if sk.undo_marker and packet_delayed(sk):
        # Plain luck: the hole was filled by the delayed original, not the retransmission.
        rack.check_sack_reordering(sk, prior_snd_una, True)
        if sk.retrans_out:
            return True
        if not any_retrans_done(sk):
            sk.retrans_stamp = 0
        undo_cwnd_reduction(sk, True)
        sk.net.mib.tcpext["TCPPartialUndo"] += 1
        try_keep_open(sk)
    return False


def try_undo_dsack(sk: TcpSock) -> bool:
    """D-SACKs covered every retransmission: undo the reduction (``tcp_try_undo_dsack``), and
    keep RACK's widened reordering window one more recovery (the recovery was reordering)."""
    if sk.undo_marker and not sk.undo_retrans:
        sk.rack.reo_wnd_persist = min(TCP_RACK_RECOVERY_THRESH, sk.rack.reo_wnd_persist + 1)
        undo_cwnd_reduction(sk, False)
        sk.net.mib.tcpext["TCPDSACKUndo"] += 1
        return True
    return False


def try_undo_loss(sk: TcpSock, frto_undo: bool) -> bool:
    """An RTO proved spurious (Eifel, D-SACK, or F-RTO): restore cwnd (``tcp_try_undo_loss``).

    Only F-RTO's verdict counts TCPSpuriousRTOs, as Linux's.
    """
    if frto_undo or may_undo(sk):
        undo_cwnd_reduction(sk, True)
        mib = sk.net.mib.tcpext
        mib["TCPLossUndo"] += 1
        if frto_undo:
            mib["TCPSpuriousRTOs"] += 1
        sk.retransmits = 0
        if frto_undo or sk.sack_ok:
            tcp_set_ca_state(sk, CaState.OPEN)
        return True
    return False


def process_loss(sk: TcpSock, flag: int, num_dupack: int) -> int:
    """An ACK in Loss: undo, F-RTO, or go on repairing (``tcp_process_loss``); the rexmit."""
    recovered = sk.snd_una >= sk.high_seq
    if flag & FLAG_SND_UNA_ADVANCED and try_undo_loss(sk, False):
        return REXMIT_NONE
    if sk.frto:  # RFC 5682 §3.1, the SACK-enhanced version
        # Step 3.b: never-retransmitted data was (S)ACKed, so not everything was lost.
        if flag & FLAG_ORIG_SACK_ACKED and try_undo_loss(sk, True):
            return REXMIT_NONE
        if sk.snd_nxt > sk.high_seq:
            if flag & FLAG_DATA_SACKED or num_dupack:
                sk.frto = False  # step 3.a: the loss was real
        elif flag & FLAG_SND_UNA_ADVANCED and not recovered:
            sk.high_seq = sk.snd_nxt
            # Step 2.b: send new data (once tcp_ack has grown cwnd), else fall back to the
            # conventional recovery.
            if sk.write_queue and sk.wnd_end() > sk.snd_nxt:
                return REXMIT_NEW
            sk.frto = False
    if recovered:  # step 2.a and the first part of step 3.a
        try_undo_recovery(sk)
        return REXMIT_NONE
    if not sk.sack_ok:
        if sk.snd_nxt > sk.high_seq and num_dupack:
            add_reno_sack(sk, num_dupack)
        elif flag & FLAG_SND_UNA_ADVANCED:
            sk.sacked_out = 0
    return REXMIT_LOST


def xmit_recovery(sk: TcpSock, rexmit: int) -> None:
    """Send what the ACK's recovery decided (``tcp_xmit_recovery``)."""
    if rexmit == REXMIT_NONE:
        return
    if rexmit == REXMIT_NEW:
        output.push_pending_frames(sk, TCP_NAGLE_OFF)
        if sk.snd_nxt > sk.high_seq:
            return
        sk.frto = False
    output.xmit_retransmit_queue(sk)


def fastretrans_alert(
    sk: TcpSock, prior_snd_una: int, num_dupack: int, flag: int
) -> tuple[int, int]:
    """The recovery state machine on a dubious ACK (``tcp_fastretrans_alert``).

    Returns what to send (``REXMIT_*``) and ``flag`` as loss detection left it.
    """
    if not sk.packets_out and sk.sacked_out:
        sk.sacked_out = 0
    state = sk.ca_state
    if state == CaState.OPEN:
        sk.retrans_stamp = 0
    elif sk.snd_una >= sk.high_seq:
        if state == CaState.CWR:
            if sk.snd_una != sk.high_seq:
                end_cwnd_reduction(sk)
                tcp_set_ca_state(sk, CaState.OPEN)
        elif state == CaState.RECOVERY:
            if not sk.sack_ok:
                sk.sacked_out = 0
            if try_undo_recovery(sk):
                return REXMIT_NONE, flag
            end_cwnd_reduction(sk)
    state = sk.ca_state
    rexmit = REXMIT_NONE
    if state == CaState.RECOVERY:
        if not flag & FLAG_SND_UNA_ADVANCED:
            if not sk.sack_ok:
                add_reno_sack(sk, num_dupack)
        elif try_undo_partial(sk, prior_snd_una):
            return REXMIT_NONE, flag
        if try_undo_dsack(sk):
            try_to_open(sk, flag)
        flag = identify_loss(sk, flag)
        if sk.ca_state != CaState.RECOVERY:
            if not time_to_recover(sk):
                return REXMIT_NONE, flag
            enter_recovery(sk)
        return REXMIT_LOST, flag
    if state == CaState.LOSS:
        rexmit = process_loss(sk, flag, num_dupack)
        flag = identify_loss(sk, flag)
        if not (sk.ca_state == CaState.OPEN or flag & FLAG_LOST_RETRANS):
            return rexmit, flag
        # cwnd was undone, or retransmissions are lost: on as in Open/Disorder
    if not sk.sack_ok:
        if flag & FLAG_SND_UNA_ADVANCED:
            sk.sacked_out = 0
        add_reno_sack(sk, num_dupack)
    if sk.ca_state <= CaState.DISORDER:
        try_undo_dsack(sk)
    flag = identify_loss(sk, flag)
    if not time_to_recover(sk):
        try_to_open(sk, flag)
        return rexmit, flag
    enter_recovery(sk)
    if not sk.lost_out and sk.rtx:  # the fast retransmit always starts with the head
        mark_skb_lost(sk, sk.rtx[0])
    return REXMIT_LOST, flag
