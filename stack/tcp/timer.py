"""TCP's timers: retransmission (RTO, RACK reorder timeout, tail loss probe, zero-window probe),
delayed ACK, keepalive, TIME-WAIT.

Mirrors Linux's ``net/ipv4/tcp_timer.c``: ``tcp_write_timer_handler``'s dispatch,
``tcp_rack_reo_timeout`` (``tcp_recovery.c``), ``tcp_retransmit_timer`` with ``tcp_write_timeout``
and ``retransmits_timed_out``/``tcp_model_timeout``, ``tcp_probe_timer``/``tcp_send_probe0``,
``tcp_delack_timer_handler``, ``tcp_keepalive_timer`` (which also ends an orphaned
FIN-WAIT-2) and the TIME-WAIT expiry of ``inet_timewait_sock.c``.

Give-up rules, as Linux: a SYN is retried ``tcp_syn_retries`` (6) times, 1 s doubling, so
``connect`` fails with ETIMEDOUT after 127 s; data is retried until the time the
``tcp_retries2`` (15) doublings of a 200 ms RTO would take (924.6 s, capped at 120 s per
step) has passed since the first retransmission; zero-window probes stop after
``tcp_retries2`` unanswered probes; keepalive resets the connection after ``keepidle`` +
``keepcnt`` x ``keepintvl`` of silence (7200 + 9 x 75 s by default).

Spec: RFC 6298 §5 (RTO, backoff); RFC 9293 §3.8.1 / RFC 1122 4.2.3.5 (R1/R2);
RFC 1122 4.2.2.17 (probing zero windows) and 4.2.3.6 (keepalive).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.tcp import output, rack, recovery, tlp, transmit, xmit_timer
from stack.tcp.close import tcp_done
from stack.tcp.const import (
    ICSK_ACK_SCHED,
    ICSK_ACK_TIMER,
    NS_PER_S,
    TCP_ATO_MIN,
    TCP_RESOURCE_PROBE_INTERVAL,
    TCP_RTO_MAX,
    TCP_RTO_MIN,
)
from stack.tcp.state import (
    CLOSED,
    FIN_WAIT_2,
    LISTEN,
    SYN_RECEIVED,
    SYN_SENT,
    TIME_WAIT,
    CaState,
    tcp_set_state,
)

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


def keepalive_time_when(sk: TcpSock) -> int:
    return sk.keepalive_time or sk.net.sysctl.tcp_keepalive_time_s * NS_PER_S


def keepalive_intvl_when(sk: TcpSock) -> int:
    return sk.keepalive_intvl or sk.net.sysctl.tcp_keepalive_intvl_s * NS_PER_S


def keepalive_probes(sk: TcpSock) -> int:
    return sk.keepalive_probes or sk.net.sysctl.tcp_keepalive_probes


def model_timeout(boundary: int, rto_base: int) -> int:
    """How long ``boundary`` doublings from ``rto_base`` last, capped (``tcp_model_timeout``)."""
    thresh = (TCP_RTO_MAX // rto_base).bit_length() - 1
    if boundary <= thresh:
        return ((2 << boundary) - 1) * rto_base
    return ((2 << thresh) - 1) * rto_base + (boundary - thresh) * TCP_RTO_MAX


def retransmits_timed_out(sk: TcpSock, boundary: int, timeout: int) -> bool:
    """Has the connection retransmitted for longer than ``boundary`` backoffs would take?

    As ip-sysctl.rst puts it for tcp_retries2 = N: a connection with an initial RTO of
    TCP_RTO_MIN would retransmit N times and be killed at the (N+1)th RTO; the model is
    measured from the original transmission of the oldest unacknowledged segment.
    Deviation: Linux's code measures from ``retrans_stamp``, one RTO later.
    """
    if not sk.retransmits:
        return False
    if not timeout:
        timeout = model_timeout(boundary, TCP_RTO_MIN)
    return sk.net.sched.now - sk.timeout_stamp >= timeout


def orphan_retries(sk: TcpSock, alive: bool) -> int:
    """``tcp_orphan_retries``: an orphan gives up sooner (8 tries while it looks alive)."""
    retries = sk.net.sysctl.tcp_orphan_retries
    if sk.sk_err_soft and not alive:
        retries = 0
    if not retries and alive:
        retries = 8
    return retries


def write_err(sk: TcpSock) -> None:
    """Give up: report ETIMEDOUT (or the last soft error) and close (``tcp_write_err``)."""
    sk.sk_err = sk.sk_err_soft or errno.ETIMEDOUT
    sk.net.mib.tcpext["TCPAbortOnTimeout"] += 1
    tcp_done(sk)


def write_timeout(sk: TcpSock) -> bool:
    """``tcp_write_timeout``: True when the connection was aborted."""
    sysctl = sk.net.sysctl
    if sk.state in (SYN_SENT, SYN_RECEIVED):
        expired = sk.retransmits >= (sk.syn_retries or sysctl.tcp_syn_retries)
    else:
        retry_until = sysctl.tcp_retries2
        if sk.orphan():
            retry_until = orphan_retries(sk, sk.rto < TCP_RTO_MAX)
        expired = retransmits_timed_out(sk, retry_until, sk.user_timeout)
    if expired:
        write_err(sk)
        return True
    return False


def write_timer(sk: TcpSock) -> None:
    """The retransmit timer fired: RTO, reorder timeout, loss probe or zero-window probe
    (``tcp_write_timer_handler``).  The reorder and probe handlers run with their name still
    in ``xmit_timer_what``, so the RTO they re-arm keeps counting from the head's send."""
    what = sk.xmit_timer_what
    if sk.state in (CLOSED, LISTEN, TIME_WAIT) or not what:
        return
    if what == "reo":
        rack_reo_timeout(sk)
        return
    if what == "tlp":
        tlp.send_loss_probe(sk)
        return
    sk.xmit_timer_what = ""
    if what == "probe0":
        probe_timer(sk)
    else:
        retransmit_timer(sk)


def rack_reo_timeout(sk: TcpSock) -> None:
    """The reordering window ran out: mark what expired lost and repair it
    (``tcp_rack_reo_timeout``, RFC 8985 §6.3)."""
    prior_inflight = sk.packets_in_flight()
    prior_lost = sk.lost
    rack.detect_loss(sk)
    if prior_inflight != sk.packets_in_flight():
        if sk.ca_state != CaState.RECOVERY:
            recovery.enter_recovery(sk)
            recovery.cwnd_reduction(sk, 1, sk.lost - prior_lost, 0)
        output.xmit_retransmit_queue(sk)
    if sk.xmit_timer_what != "rto":
        xmit_timer.rearm_rto(sk)


def retransmit_timer(sk: TcpSock) -> None:
    """RTO expired: go-back-N from the head, back off (``tcp_retransmit_timer``)."""
    if not sk.packets_out or not sk.rtx:
        return
    sk.tlp_high_seq = 0
    mib = sk.net.mib.tcpext
    head = sk.rtx[0]
    if not sk.snd_wnd and not sk.orphan() and sk.state not in (SYN_SENT, SYN_RECEIVED):
        # The receiver shrank its window: retransmissions act as window probes.
        if sk.net.sched.now - sk.rcv_tstamp > TCP_RTO_MAX:
            write_err(sk)
            return
        recovery.enter_loss(sk)
        output.retransmit_skb(sk, head, 1)
    else:
        mib["TCPTimeouts"] += 1
        if write_timeout(sk):
            return
        if not sk.retransmits:
            state = sk.ca_state
            if state == CaState.RECOVERY:
                mib["TCPSackRecoveryFail" if sk.sack_ok else "TCPRenoRecoveryFail"] += 1
            elif state == CaState.LOSS:
                mib["TCPLossFailures"] += 1
            elif state in (CaState.DISORDER, CaState.CWR):
                mib["TCPSackFailures" if sk.sack_ok else "TCPRenoFailures"] += 1
        recovery.enter_loss(sk)
        if not output.retransmit_skb(sk, head, 1):
            sk.reset_xmit_timer("rto", min(sk.rto, TCP_RESOURCE_PROBE_INTERVAL), TCP_RTO_MAX)
            return
        sk.retransmits += 1
    sk.backoff += 1
    sk.rto = min(sk.rto << 1, TCP_RTO_MAX)
    timeout = sk.rto
    if sk.user_timeout:
        left = sk.user_timeout - (sk.net.sched.now - sk.timeout_stamp)
        timeout = max(min(timeout, left), 1)
    sk.reset_xmit_timer("rto", timeout, TCP_RTO_MAX)


def probe_timer(sk: TcpSock) -> None:
    """Zero-window probe timer (``tcp_probe_timer``)."""
    if sk.packets_out or not sk.write_queue:
        sk.probes_out = 0
        return
    max_probes = sk.net.sysctl.tcp_retries2
    if sk.orphan():
        alive = output.probe0_when(sk) < TCP_RTO_MAX
        max_probes = orphan_retries(sk, alive)
    if sk.probes_out >= max_probes:
        write_err(sk)
        return
    send_probe0(sk)


def send_probe0(sk: TcpSock) -> None:
    """Probe the closed window, back off (``tcp_send_probe0``)."""
    sent = output.write_wakeup(sk, "TCPWinProbe")
    if sk.packets_out or not sk.write_queue:
        sk.probes_out = 0
        sk.backoff = 0
        return
    sk.probes_out += 1
    if sent <= 0:
        if sk.backoff < sk.net.sysctl.tcp_retries2:
            sk.backoff += 1
        timeout = output.probe0_when(sk)
    else:
        timeout = TCP_RESOURCE_PROBE_INTERVAL
    sk.reset_xmit_timer("probe0", timeout, TCP_RTO_MAX)


def delack_timer(sk: TcpSock) -> None:
    """The delayed ACK is due (``tcp_delack_timer_handler``)."""
    if sk.state in (CLOSED, LISTEN) or not sk.ack_pending & ICSK_ACK_TIMER:
        return
    now = sk.net.sched.now
    if sk.ack_timeout > now:
        sk.delack_timer.mod_timer(sk.ack_timeout)
        return
    sk.ack_pending &= ~ICSK_ACK_TIMER
    if sk.ack_pending & ICSK_ACK_SCHED:
        if not sk.pingpong:
            sk.ato = min(sk.ato << 1, sk.rto)  # the delayed ACK was missed: inflate ATO
        else:
            sk.pingpong = 0
            sk.ato = TCP_ATO_MIN
        transmit.send_ack(sk)
        sk.net.mib.tcpext["DelayedACKs"] += 1


def keepalive_timer(sk: TcpSock) -> None:
    """Keepalive probes, or the end of an orphaned FIN-WAIT-2 (``tcp_keepalive_timer``)."""
    state = sk.state
    if state == LISTEN:
        return
    if state == FIN_WAIT_2 and sk.orphan():
        tcp_done(sk)
        return
    if not sk.keepopen or state in (CLOSED, SYN_SENT):
        return
    now = sk.net.sched.now
    delay = keepalive_time_when(sk)
    if not sk.packets_out and not sk.write_queue:
        elapsed = now - max(sk.lrcvtime, sk.rcv_tstamp)
        if elapsed >= delay:
            ut = sk.user_timeout
            if ((ut and elapsed >= ut and sk.probes_out > 0)
                    or (not ut and sk.probes_out >= keepalive_probes(sk))):
                transmit.send_active_reset(sk)
                write_err(sk)
                return
            if output.write_wakeup(sk, "TCPKeepAlive") <= 0:
                sk.probes_out += 1
                delay = keepalive_intvl_when(sk)
            else:
                delay = TCP_RESOURCE_PROBE_INTERVAL
        else:
            delay -= elapsed
    sk.reset_keepalive_timer(delay)


def timewait_timer(sk: TcpSock) -> None:
    """2MSL is over: the connection is gone (``tw_timer_handler``)."""
    if sk.state != TIME_WAIT:
        return
    sk.net.mib.tcpext["TW"] += 1
    tcp_set_state(sk, CLOSED)
    sk.wake()
