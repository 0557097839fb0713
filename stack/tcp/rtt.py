"""Round-trip time estimation and the retransmission timeout (RFC 6298 as Linux does it).

Mirrors ``tcp_rtt_estimator``, ``tcp_set_rto``, ``tcp_ack_update_rtt`` and the receiver's
``tcp_rtt_tsopt_us`` of Linux's ``net/ipv4/tcp_input.c``.  State is kept in
microseconds with Linux's fixed point: ``srtt_us`` is 8x the smoothed RTT, ``mdev_us`` 4x the
mean deviation, ``rttvar_us`` the deviation used for the RTO, floored at ``TCP_RTO_MIN``
(which is how Linux reaches RFC 6298's ``RTO = SRTT + max(G, 4 * RTTVAR)`` with a 200 ms
minimum for the variance term rather than for the whole RTO).  Samples come from the time
an ACK *arrived* (``skb.tstamp`` or ``sched.now`` at receive), never from when it is handled.

Spec: RFC 6298 §2-§5; RFC 7323 §4 (RTTM with timestamps); Karn's rule for retransmissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp.const import NS_PER_US, TCP_RTO_MAX, TCP_RTO_MIN

if TYPE_CHECKING:
    from stack.tcp.rate import RateSample
    from stack.tcp.sock import TcpSock

RTO_MIN_US = TCP_RTO_MIN // NS_PER_US


def rtt_estimator(sk: TcpSock, mrtt_us: int) -> None:
    """Fold one RTT sample (µs) into srtt/mdev/rttvar (``tcp_rtt_estimator``).

    Once per ACK with a sample: the max()es are comparisons (issue 18)."""
    m = mrtt_us if mrtt_us > 1 else 1
    srtt = sk.srtt_us
    if srtt:
        m -= srtt >> 3
        srtt += m
        if m < 0:
            m = -m
            m -= sk.mdev_us >> 2
            if m > 0:
                m >>= 3
        else:
            m -= sk.mdev_us >> 2
        sk.mdev_us += m
        if sk.mdev_us > sk.mdev_max_us:
            sk.mdev_max_us = sk.mdev_us
            if sk.mdev_max_us > sk.rttvar_us:
                sk.rttvar_us = sk.mdev_max_us
        if sk.snd_una > sk.rtt_seq:  # once per flight: let rttvar decay towards mdev_max
            if sk.mdev_max_us < sk.rttvar_us:
                sk.rttvar_us -= (sk.rttvar_us - sk.mdev_max_us) >> 2
            sk.rtt_seq = sk.snd_nxt
            sk.mdev_max_us = RTO_MIN_US
    else:
        srtt = m << 3
        sk.mdev_us = m << 1
        sk.rttvar_us = max(sk.mdev_us, RTO_MIN_US)
        sk.mdev_max_us = sk.rttvar_us
        sk.rtt_seq = sk.snd_nxt
    sk.srtt_us = srtt if srtt > 1 else 1


def set_rto(sk: TcpSock) -> None:
    """RTO = srtt + rttvar, at most TCP_RTO_MAX (``tcp_set_rto``/``tcp_bound_rto``)."""
    rto = ((sk.srtt_us >> 3) + sk.rttvar_us) * NS_PER_US
    sk.rto = rto if rto < TCP_RTO_MAX else TCP_RTO_MAX


def tsopt_rtt_us(sk: TcpSock) -> int:
    """RTT from the timestamp echo, in µs; a 1 ms clock reads at least 1 (``tcp_rtt_tsopt_us``)."""
    delta_ms = (sk.ts_now() - sk.rcv_tsecr) & 0xFFFFFFFF
    if delta_ms >= 0x7FFFFFFF // 1000:
        return -1
    return max(delta_ms, 1) * 1000


def ack_update_rtt(
    sk: TcpSock,
    seq_rtt_us: int,
    ca_rtt_us: int,
    acked: bool = True,
    rs: RateSample | None = None,
    sack_rtt_us: int = -1,
) -> bool:
    """Take an ACK's RTT sample; return whether there was one (``tcp_ack_update_rtt``).

    ``seq_rtt_us`` is -1 when every newly acked segment was retransmitted (Karn) or nothing
    was cumulatively acked; then the SACK sample ``sack_rtt_us`` (the oldest
    never-retransmitted segment this ACK SACKed) stands in, and failing that the timestamp
    echo, if the ACK acknowledged something (``acked``, RFC 7323 §4.1).
    """
    if seq_rtt_us < 0:
        seq_rtt_us = sack_rtt_us
    if seq_rtt_us < 0 and sk.saw_tstamp and sk.rcv_tsecr and acked:
        seq_rtt_us = ca_rtt_us = tsopt_rtt_us(sk)
    if rs is not None:
        rs.rtt_us = ca_rtt_us  # the RTT of the last (S)ACKed packet, for the CC (or -1)
    if seq_rtt_us < 0:
        return False
    if not sk.min_rtt_us or ca_rtt_us < sk.min_rtt_us:
        sk.min_rtt_us = max(ca_rtt_us, 1)
    rtt_estimator(sk, seq_rtt_us)
    rto = ((sk.srtt_us >> 3) + sk.rttvar_us) * NS_PER_US  # set_rto, inlined (once per ACK)
    sk.rto = rto if rto < TCP_RTO_MAX else TCP_RTO_MAX
    sk.backoff = 0  # RFC 6298 5.7: only a valid measurement resets the backoff
    return True
