"""``sk_pacing_rate`` and what it paces: departure times, internal pacing, TSO sizes.

Mirrors Linux 6.x: ``tcp_update_pacing_rate`` (``net/ipv4/tcp_input.c``), and from
``net/ipv4/tcp_output.c`` the departure-time bookkeeping of ``__tcp_transmit_skb`` and
``tcp_update_skb_after_send`` (EDT: each data skb leaves no earlier than ``tcp_wstamp_ns``,
which advances by ``len / sk_pacing_rate``), ``tcp_pacing_check`` (the internal pacing
timer, Linux's hrtimer ``pacing_timer`` whose expiry ``tcp_pace_kick`` runs the TSQ handler)
and ``tcp_tso_autosize`` (a super-segment carries about ``sk_pacing_rate >>
sk_pacing_shift`` bytes: ~1 ms of the rate).

Contract:
- :func:`update_pacing_rate` runs after every acceptable ACK (``tcp_cong_control``):
  ``sk_pacing_rate = mss * max(cwnd, packets_out) / srtt`` times ``tcp_pacing_ss_ratio``
  (200 %) while ``cwnd < ssthresh / 2``, else ``tcp_pacing_ca_ratio`` (120 %), capped by
  ``sk_max_pacing_rate`` (SO_MAX_PACING_RATE).  Before the first RTT sample the division is
  skipped, as Linux skips it.
- Who paces is ``sk_pacing_status`` (``stack.sock``): NONE (the default with cubic: nobody,
  the rate still sizes TSQ and TSO), NEEDED (SO_MAX_PACING_RATE set a finite cap: TCP's own
  timer holds ``tcp_write_xmit`` until ``tcp_wstamp_ns``) or FQ (the fq qdisc saw the socket
  and releases each skb at its ``skb.tstamp``).  Linux turns internal pacing on only for
  NEEDED (BBR asks for it at init, bbr.py): with cubic and pfifo_fast/fq_codel and no
  SO_MAX_PACING_RATE, a 6.x kernel does not pace, and neither does ixsim.
- The first 10 data segments are never paced ("Original sch_fq does not pace first 10 MSS").
- Pure ACKs carry no departure time (``skb.tstamp`` 0): fq sends them at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.units import NS_PER_S
from stack.sock import PACING_RATE_UNLIMITED, SK_PACING_NEEDED, SK_PACING_NONE
from stack.tcp.const import GSO_MAX_SIZE, MAX_TCP_HEADER

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

USEC_PER_SEC = 1_000_000
# tcp_tso_autosize's knobs at Linux's defaults (sysctls ixsim does not declare)
TCP_MIN_TSO_SEGS = 2  # net.ipv4.tcp_min_tso_segs
TCP_TSO_RTT_LOG = 9  # net.ipv4.tcp_tso_rtt_log: 512 us
SK_GSO_MAX_SIZE = GSO_MAX_SIZE - (MAX_TCP_HEADER + 1)  # sk_setup_caps
UNPACED_SEGS = 10  # tcp_update_skb_after_send: the first 10 MSS go unpaced


def update_pacing_rate(sk: TcpSock) -> None:
    """``tcp_update_pacing_rate`` (see the module docstring)."""
    sysctl = sk.net.sysctl
    rate = sk.mss_cache * ((USEC_PER_SEC // 100) << 3)
    if sk.cwnd < sk.ssthresh // 2:
        rate *= sysctl.tcp_pacing_ss_ratio
    else:
        rate *= sysctl.tcp_pacing_ca_ratio
    # max()/min() as comparisons: once per ACK (issue 18)
    rate *= sk.cwnd if sk.cwnd > sk.packets_out else sk.packets_out
    if sk.srtt_us:
        rate //= sk.srtt_us
    if rate > sk.sk_max_pacing_rate:
        rate = sk.sk_max_pacing_rate
    sk.sk_pacing_rate = rate if rate < PACING_RATE_UNLIMITED else PACING_RATE_UNLIMITED


def update_skb_after_send(sk: TcpSock, length: int, prior_wstamp: int) -> None:
    """``tcp_update_skb_after_send``: the next data skb departs ``length / rate`` later, less
    up to half of that for time already lost to a late send ("OS jitter" credit)."""
    if sk.sk_pacing_status == SK_PACING_NONE:
        return
    rate = sk.sk_pacing_rate
    if rate != PACING_RATE_UNLIMITED and rate and sk.data_segs_out >= UNPACED_SEGS:
        len_ns = length * NS_PER_S // rate
        credit = sk.tcp_wstamp_ns - prior_wstamp
        len_ns -= min(len_ns // 2, credit)
        sk.tcp_wstamp_ns += len_ns


def pacing_check(sk: TcpSock) -> bool:
    """``tcp_pacing_check``: True when internal pacing holds the next skb; arms the timer."""
    if sk.sk_pacing_status != SK_PACING_NEEDED:
        return False
    wstamp = sk.tcp_wstamp_ns
    if wstamp <= sk.net.sched.now:
        return False
    timer = sk.pacing_timer
    if not timer.pending():
        timer.mod_timer(wstamp)
    return True


def tso_autosize(sk: TcpSock, mss_now: int) -> int:
    """``tcp_tso_autosize``: segments per skb for ~1 ms of ``sk_pacing_rate``, more on short
    paths (``gso_max_size >> (min_rtt >> tcp_tso_rtt_log)``), at least ``tcp_min_tso_segs``
    (or the congestion control's ``min_tso_segs``: ``tcp_tso_segs``)."""
    size = sk.sk_pacing_rate >> sk.sk_pacing_shift
    r = sk.min_rtt_us >> TCP_TSO_RTT_LOG
    if r < 32:
        size += SK_GSO_MAX_SIZE >> r
    if size > SK_GSO_MAX_SIZE:
        size = SK_GSO_MAX_SIZE
    segs = size // mss_now
    floor = sk.ca.min_tso_segs(sk) or TCP_MIN_TSO_SEGS
    return segs if segs > floor else floor  # max() as a comparison: once per write_xmit
