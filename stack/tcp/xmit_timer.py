"""The retransmit timer's slot: RTO, reorder timeout and tail loss probe share it.

Linux multiplexes ``ICSK_TIME_RETRANS``, ``ICSK_TIME_REO_TIMEOUT`` (RACK), ``ICSK_TIME_LOSS_PROBE``
(TLP) and ``ICSK_TIME_PROBE0`` on ``icsk_retransmit_timer``; here ``sk.xmit_timer_what`` is
``"rto"``, ``"reo"``, ``"tlp"`` or ``"probe0"``.  This module holds the arithmetic that picks
the deadline: ``tcp_rearm_rto`` and ``tcp_rto_delta_us`` (``tcp_input.c``/``tcp.h``),
``tcp_schedule_loss_probe`` (``tcp_output.c``) and ``tcp_set_xmit_timer``.  It imports
nothing of the engine, so the send path can arm a probe after every flight.

The probe timeout (RFC 8985 §7.2, as Linux computes it): 2 x SRTT, plus the minimum RTO
(200 ms, room for the receiver's delayed ACK) when a single segment is in flight, else plus
``TCP_TIMEOUT_MIN`` (2 ms); 1 s before any RTT sample; never later than the RTO would fire.
Probes are sent only by SACK connections in Open or CWR with ``tcp_early_retrans`` 3 or 4.

Spec: RFC 8985 §7.2 (PTO), §7.3; RFC 6298 §5 (the RTO).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp.const import (
    NS_PER_US,
    TCP_RTO_MAX,
    TCP_RTO_MIN,
    TCP_TIMEOUT_INIT,
    TCP_TIMEOUT_MIN,
)
from stack.tcp.state import CaState

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

_OPEN_OR_CWR = (CaState.OPEN, CaState.CWR)


def rto_delta(sk: TcpSock) -> int:
    """How far in the future (ns) the RTO of the head falls (``tcp_rto_delta_us``)."""
    if not sk.rtx:
        return sk.rto
    return sk.rtx[0].tx_time + sk.rto - sk.net.sched.now


def rearm_rto(sk: TcpSock) -> None:
    """RTO while data is outstanding, else off (``tcp_rearm_rto``).

    When a reorder timeout or a loss probe held the slot, the RTO keeps counting from the
    head's transmission rather than restarting a full RTO from now.
    """
    what = sk.xmit_timer_what
    if not sk.packets_out:
        if what in ("rto", "reo", "tlp"):
            sk.clear_xmit_timer()
        return
    rto = sk.rto
    if what in ("reo", "tlp"):
        rto = max(rto_delta(sk), 1)
    sk.reset_xmit_timer("rto", rto, TCP_RTO_MAX)


def schedule_loss_probe(sk: TcpSock, advancing_rto: bool) -> bool:
    """Arm the tail loss probe (``tcp_schedule_loss_probe``); False when no probe applies."""
    early_retrans = sk.net.sysctl.tcp_early_retrans
    if (
        early_retrans not in (3, 4)
        or not sk.packets_out
        or not sk.sack_ok
        or sk.ca_state not in _OPEN_OR_CWR
    ):
        return False
    if sk.srtt_us:
        timeout = (sk.srtt_us >> 2) * NS_PER_US  # srtt_us is 8 x SRTT: this is 2 x SRTT
        timeout += TCP_RTO_MIN if sk.packets_out == 1 else TCP_TIMEOUT_MIN
    else:
        timeout = TCP_TIMEOUT_INIT
    if advancing_rto or not sk.rtx:
        delta = sk.rto
    else:  # rto_delta, inlined (once per flight, issue 18)
        delta = sk.rtx[0].tx_time + sk.rto - sk.net.sched.now
    if 0 < delta < timeout:
        timeout = delta
    sk.reset_xmit_timer("tlp", timeout, TCP_RTO_MAX)
    return True


def set_xmit_timer(sk: TcpSock) -> None:
    """New data was ACKed: a loss probe if one applies, else the RTO (``tcp_set_xmit_timer``)."""
    if not schedule_loss_probe(sk, True):
        rearm_rto(sk)
