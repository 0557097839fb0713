"""Delivery-rate estimation: one rate sample per ACK, as Linux's ``net/ipv4/tcp_rate.c``.

Each transmitted segment remembers the connection's delivery state at its (last) send
(:func:`skb_sent`, ``tcp_rate_skb_sent``): ``delivered`` so far, when that count last grew
(``delivered_mstamp``), when the send phase of its flight began (``first_tx_mstamp``) and
whether the sender was application-limited then.  When an ACK (S)ACKs segments,
:func:`skb_delivered` (``tcp_rate_skb_delivered``) keeps the state of the most recently sent
one, and :func:`rate_gen` (``tcp_rate_gen``) turns it into a :class:`RateSample`: packets
delivered over the longer of the send phase and the ACK phase, so ACK compression cannot
inflate the rate.  The last sample that was not application-limited (or the highest
app-limited one) is TCP_INFO's ``tcpi_delivery_rate`` (:func:`delivery_rate`,
``tcp_compute_delivery_rate``) with ``tcpi_delivery_rate_app_limited``.

:func:`check_app_limited` (``tcp_rate_check_app_limited``) runs at each ``sendmsg``: with
less than an MSS unsent, nothing below TCP, room in cwnd and no unrepaired loss, the flight
is application-limited up to ``delivered + in_flight`` (``tp->app_limited``).

Units: Linux keeps these stamps in µs (``tcp_mstamp``); ixsim keeps them in the
scheduler's ns and converts the intervals to µs, as Linux's ``tcp_stamp_us_delta``.  A
segment's send time is its EDT departure (``skb_mstamp_ns``, pacing.py), as in Linux.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD
from stack.tcp.const import NS_PER_US, TCPCB_RETRANS, TCPCB_SACKED_ACKED

if TYPE_CHECKING:
    from stack.tcp.cb import TxSeg
    from stack.tcp.sock import TcpSock

USEC_PER_SEC = 1_000_000


class RateSample:
    """``struct rate_sample`` (``include/net/tcp.h``): what one ACK says about the rate.

    ``delivered``/``interval_us`` are -1 for an invalid sample; ``rtt_us`` -1 when the ACK
    gave no RTT; ``prior_in_flight`` is the flight before the ACK (``tcp_ack``).
    """

    __slots__ = (
        "prior_mstamp",
        "prior_delivered",
        "delivered",
        "interval_us",
        "snd_interval_us",
        "rcv_interval_us",
        "rtt_us",
        "losses",
        "acked_sacked",
        "prior_in_flight",
        "is_app_limited",
        "is_retrans",
        "is_ack_delayed",
    )

    def __init__(self, prior_in_flight: int = 0) -> None:
        self.prior_mstamp = 0  # ns; 0: no skb delivered with timing information
        self.prior_delivered = 0
        self.delivered = 0
        self.interval_us = 0
        self.snd_interval_us = 0
        self.rcv_interval_us = 0
        self.rtt_us = -1
        self.losses = 0
        self.acked_sacked = 0
        self.prior_in_flight = prior_in_flight
        self.is_app_limited = False
        self.is_retrans = False
        self.is_ack_delayed = False

    def __repr__(self) -> str:
        return (
            f"<RateSample delivered={self.delivered} interval_us={self.interval_us} "
            f"app_limited={self.is_app_limited} losses={self.losses}>"
        )


def skb_sent(sk: TcpSock, seg: TxSeg, tstamp: int) -> None:
    """``tcp_rate_skb_sent``: snapshot the delivery state in ``seg``, sent at ``tstamp``.

    With nothing outstanding (``packets_out``, not the loss-guessing in_flight) the sample
    interval starts now: every later ACK covers only what the network delivered since.
    """
    if not sk.packets_out:
        sk.first_tx_mstamp = tstamp
        sk.delivered_mstamp = tstamp
    seg.tx_first_tx_mstamp = sk.first_tx_mstamp
    seg.tx_delivered_mstamp = sk.delivered_mstamp
    seg.tx_delivered = sk.delivered
    seg.tx_app_limited = sk.app_limited != 0


def skb_delivered(sk: TcpSock, seg: TxSeg, rs: RateSample) -> None:
    """``tcp_rate_skb_delivered``: ``seg`` was (S)ACKed; keep the newest send's state.

    A SACKed segment is marked off (``delivered_mstamp`` 0) so its later cumulative ACK
    does not count it again.
    """
    if not seg.tx_delivered_mstamp:
        return
    if not rs.prior_delivered or seg.tx_delivered > rs.prior_delivered:
        rs.prior_delivered = seg.tx_delivered
        rs.prior_mstamp = seg.tx_delivered_mstamp
        rs.is_app_limited = seg.tx_app_limited
        rs.is_retrans = bool(seg.sacked & TCPCB_RETRANS)
        sk.first_tx_mstamp = seg.tx_edt  # send time of the most recently (S)ACKed segment
        rs.interval_us = (sk.first_tx_mstamp - seg.tx_first_tx_mstamp) // NS_PER_US
    if seg.sacked & TCPCB_SACKED_ACKED:
        seg.tx_delivered_mstamp = 0


def rate_gen(sk: TcpSock, delivered: int, lost: int, is_sack_reneg: bool, rs: RateSample) -> None:
    """``tcp_rate_gen``: update the connection's delivery state and finish ``rs``."""
    if sk.app_limited and sk.delivered > sk.app_limited:
        sk.app_limited = 0  # the app-limited bubble is ACKed and gone
    now = sk.net.sched.now
    if delivered:
        sk.delivered_mstamp = now
    rs.acked_sacked = delivered
    rs.losses = lost
    if not rs.prior_mstamp or is_sack_reneg:
        rs.delivered = -1
        rs.interval_us = -1
        return
    rs.delivered = sk.delivered - rs.prior_delivered
    snd_us = rs.interval_us  # send phase
    ack_us = (now - rs.prior_mstamp) // NS_PER_US  # ACK phase
    rs.interval_us = max(snd_us, ack_us)
    rs.snd_interval_us = snd_us
    rs.rcv_interval_us = ack_us
    if rs.interval_us < sk.min_rtt_us:  # shorter than the path's RTT: not a real rate
        rs.interval_us = -1
        return
    if (
        not rs.is_app_limited
        or rs.delivered * sk.rate_interval_us >= sk.rate_delivered * rs.interval_us
    ):
        sk.rate_delivered = rs.delivered
        sk.rate_interval_us = rs.interval_us
        sk.rate_app_limited = rs.is_app_limited


def check_app_limited(sk: TcpSock) -> None:
    """``tcp_rate_check_app_limited``: a gap between sends marks the flight app-limited."""
    in_flight = sk.packets_out - (sk.sacked_out + sk.lost_out) + sk.retrans_out  # inlined
    if (
        sk.write_seq - sk.snd_nxt < sk.mss_cache
        and sk.wmem_alloc < SKB_TRUESIZE_OVERHEAD + 1  # SKB_TRUESIZE(1): nothing below
        and in_flight < sk.cwnd
        and sk.lost_out <= sk.retrans_out
    ):
        sk.app_limited = (sk.delivered + in_flight) or 1


def delivery_rate(sk: TcpSock) -> int:
    """``tcp_compute_delivery_rate``: the kept sample in bytes per second (0: none yet)."""
    if sk.rate_delivered and sk.rate_interval_us:
        return sk.rate_delivered * sk.mss_cache * USEC_PER_SEC // sk.rate_interval_us
    return 0
