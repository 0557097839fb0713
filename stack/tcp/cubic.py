"""CUBIC congestion control, Linux's default (RFC 9438).

Mirrors Linux's ``net/ipv4/tcp_cubic.c`` (BIC-TCP lineage): the cubic window
``W(t) = C (t - K)^3 + W_max`` with C = 0.4 (``bic_scale`` 41/1024 x 10) and
beta = 717/1024 ~ 0.7, fast convergence, the Reno-friendly region (RFC 9438 §4.3), and HyStart
(``hystart_detect`` = both detectors, Linux's default) to leave slow start early: the ACK
train (a round's ACKs keep arriving, no more than ``hystart_ack_delta_us`` apart, for longer
than half of ``delay_min`` plus an allowance for TSO/GRO, ``hystart_ack_delay``; the whole of
it when something paces the socket) and the delay increase (a round's minimum RTT above
``delay_min`` by ``delay_min / 8`` clamped to 4..16 ms).  On a short path the ACK train is
what ends slow start: the delay detector needs 4 ms of queue.  Time is the scheduler's, in
ms (Linux's jiffies at HZ=1000); the target is computed one ``delay_min`` ahead as Linux does.

The cube root is Linux's (``cubic_root``: a 64-entry table of the top bits, then one
Newton-Raphson step, in 32-bit arithmetic), not an exact one: at windows of a few segments
``K`` to within one unit of 2^-10 s decides whether the target is above cwnd at all.

As in Linux, ``bictcp_update`` recomputes ``cnt`` only when cwnd changed or HZ/32 (31 ms)
passed; on a path whose RTT is far below 31 ms a window that reached ``W_max`` grows by
one segment per 100 x cwnd ACKed until then, and the Reno-friendly estimate is not
consulted either (netdev's 2024 "tcp_cubic: fix to run bictcp_update() at least once per
RTT" series addressed this; it is not in mainline, so it is not modelled).

Spec: RFC 9438 §4.2-§4.8; HyStart (Ha & Rhee 2011).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.units import HZ, NS_PER_MS, NS_PER_US
from stack.sock import SK_PACING_NONE
from stack.tcp.cong import (
    CA_EVENT_TX_START,
    CongestionOps,
    cong_avoid_ai,
    is_cwnd_limited,
    register,
    reno_undo_cwnd,
    slow_start,
)
from stack.tcp.pacing import SK_GSO_MAX_SIZE
from stack.tcp.state import CaState

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

BICTCP_BETA_SCALE = 1024
BICTCP_HZ = 10  # time in units of 2^-10 s
BETA = 717  # 717/1024 ~ 0.7 (RFC 9438 §4.6 beta_cubic)
BIC_SCALE = 41  # C = 41*10/1024 ~ 0.4 (RFC 9438 §4.2)
FAST_CONVERGENCE = True
TCP_FRIENDLINESS = True
HYSTART = True
HYSTART_LOW_WINDOW = 16
HYSTART_ACK_DELTA_US = 2000  # hystart_ack_delta_us: the most between two ACKs of a train
USEC_PER_MSEC = 1000
HYSTART_MIN_SAMPLES = 8
HYSTART_DELAY_MIN_US = 4000
HYSTART_DELAY_MAX_US = 16000

BETA_SCALE = 8 * (BICTCP_BETA_SCALE + BETA) // 3 // (BICTCP_BETA_SCALE - BETA)
CUBE_RTT_SCALE = BIC_SCALE * 10
CUBE_FACTOR = (1 << (10 + 3 * BICTCP_HZ)) // (BIC_SCALE * 10)


# cbrt(x << 18) - 1 for the top six bits x of the argument (Linux's cubic_root table)
# fmt: off
CBRT_TABLE = (
    0, 54, 54, 54, 118, 118, 118, 118, 123, 129, 134, 138, 143, 147, 151, 156,
    157, 161, 164, 168, 170, 173, 176, 179, 181, 185, 187, 190, 192, 194, 197, 199,
    200, 202, 204, 206, 209, 211, 213, 215, 217, 219, 221, 222, 224, 225, 227, 229,
    231, 232, 234, 236, 237, 239, 240, 242, 244, 245, 246, 248, 250, 251, 252, 254,
)
# fmt: on
U32 = 0xFFFFFFFF


def cubic_root(a: int) -> int:
    """Approximate integer cube root as Linux's ``cubic_root`` computes it: the table gives
    the root of the top six bits, one Newton-Raphson step refines it (average error 0.2 %)."""
    bits = a.bit_length()  # fls64
    if bits < 7:
        return (CBRT_TABLE[a] + 35) >> 6
    b = ((bits * 84) >> 8) - 1
    x = (((CBRT_TABLE[a >> (b * 3)] + 10) << b) & U32) >> 6
    x = (2 * x + ((a // (x * (x - 1))) & U32)) & U32
    return ((x * 341) & U32) >> 10


@register
class Cubic(CongestionOps):
    name = "cubic"

    def __init__(self) -> None:
        self.reset()
        self.round_start = 0
        self.last_ack = 0
        self.end_seq = 0
        self.curr_rtt = 0
        self.sample_cnt = 0

    def reset(self) -> None:
        """``bictcp_reset``: forget the epoch, ``delay_min`` and HyStart's verdict."""
        self.delay_min = 0
        self.found = False
        self.cnt = 0
        self.last_max_cwnd = 0
        self.last_cwnd = 0
        self.last_time = 0
        self.origin_point = 0
        self.k = 0
        self.epoch_start = 0
        self.ack_cnt = 0
        self.tcp_cwnd = 0

    def hystart_reset(self, sk: TcpSock) -> None:
        """``bictcp_hystart_reset``: a new round starts now and ends at ``snd_nxt``."""
        self.round_start = self.last_ack = sk.now() // NS_PER_US
        self.end_seq = sk.snd_nxt
        self.curr_rtt = 0xFFFFFFFF
        self.sample_cnt = 0

    def init(self, sk: TcpSock) -> None:
        self.reset()
        if HYSTART:
            self.hystart_reset(sk)

    @staticmethod
    def _jiffies(sk: TcpSock) -> int:
        return sk.now() // NS_PER_MS or 1  # 0 means "no epoch", as in Linux

    def update(self, sk: TcpSock, cwnd: int, acked: int) -> None:
        """``bictcp_update``: compute ``cnt``, the ACKs per +1 segment of cwnd."""
        now = self._jiffies(sk)
        self.ack_cnt += acked
        if self.last_cwnd == cwnd and now - self.last_time <= HZ // 32:
            return
        if not (self.epoch_start and now == self.last_time):
            self.last_cwnd = cwnd
            self.last_time = now
            if self.epoch_start == 0:
                self.epoch_start = now
                self.ack_cnt = acked
                self.tcp_cwnd = cwnd
                if self.last_max_cwnd <= cwnd:
                    self.k = 0
                    self.origin_point = cwnd
                else:
                    self.k = cubic_root(CUBE_FACTOR * (self.last_max_cwnd - cwnd))
                    self.origin_point = self.last_max_cwnd
            t = now - self.epoch_start + -(-self.delay_min // USEC_PER_MSEC)  # usecs_to_jiffies
            t = (t << BICTCP_HZ) // HZ
            offs = self.k - t if t < self.k else t - self.k
            delta = (CUBE_RTT_SCALE * offs * offs * offs) >> (10 + 3 * BICTCP_HZ)
            target = self.origin_point - delta if t < self.k else self.origin_point + delta
            self.cnt = cwnd // (target - cwnd) if target > cwnd else 100 * cwnd
            if self.last_max_cwnd == 0 and self.cnt > 20:
                self.cnt = 20  # 5% per RTT while the capacity is unknown
        if TCP_FRIENDLINESS:  # RFC 9438 §4.3: never slower than Reno would be
            delta = (cwnd * BETA_SCALE) >> 3
            if delta and self.ack_cnt > delta:
                grow = (self.ack_cnt - 1) // delta  # Linux's loop leaves 0 < ack_cnt <= delta
                self.ack_cnt -= grow * delta
                self.tcp_cwnd += grow
            if self.tcp_cwnd > cwnd:
                max_cnt = cwnd // (self.tcp_cwnd - cwnd)
                self.cnt = min(self.cnt, max_cnt)
        self.cnt = max(self.cnt, 2)

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        if not is_cwnd_limited(sk):
            return
        if sk.cwnd < sk.ssthresh:
            acked = slow_start(sk, acked)
            if not acked:
                return
        self.update(sk, sk.cwnd, acked)
        cong_avoid_ai(sk, self.cnt, acked)

    def ssthresh(self, sk: TcpSock) -> int:
        """``cubictcp_recalc_ssthresh``: W_max with fast convergence, cwnd * beta."""
        self.epoch_start = 0
        cwnd = sk.cwnd
        if cwnd < self.last_max_cwnd and FAST_CONVERGENCE:
            self.last_max_cwnd = cwnd * (BICTCP_BETA_SCALE + BETA) // (2 * BICTCP_BETA_SCALE)
        else:
            self.last_max_cwnd = cwnd
        return max(cwnd * BETA // BICTCP_BETA_SCALE, 2)

    def set_state(self, sk: TcpSock, new_state: int) -> None:
        if new_state == CaState.LOSS:
            self.reset()
            self.hystart_reset(sk)

    def cwnd_event(self, sk: TcpSock, event: int) -> None:
        if event == CA_EVENT_TX_START and self.epoch_start:
            # Idle for a while: shift the epoch so the curve does not jump (Linux 4.6+).
            now = self._jiffies(sk)
            delta = now - sk.lsndtime // NS_PER_MS
            if delta > 0:
                self.epoch_start = min(self.epoch_start + delta, now)

    def pkts_acked(self, sk: TcpSock, acked: int, rtt_us: int) -> None:
        if rtt_us < 0:
            return
        if self.epoch_start and self._jiffies(sk) - self.epoch_start < HZ:
            return  # discard delay samples right after a reduction
        delay = rtt_us or 1
        if self.delay_min == 0 or self.delay_min > delay:
            self.delay_min = delay
        if not self.found and HYSTART and sk.cwnd < sk.ssthresh and sk.cwnd >= HYSTART_LOW_WINDOW:
            self.hystart_update(sk, delay)

    def hystart_update(self, sk: TcpSock, delay: int) -> None:
        """``hystart_update``: leave slow start (ssthresh = cwnd) on an ACK train longer than
        its threshold or on a round whose minimum RTT grew by an eighth (4..16 ms)."""
        if sk.snd_una > self.end_seq:
            self.hystart_reset(sk)
        now = sk.now() // NS_PER_US
        if now - self.last_ack <= HYSTART_ACK_DELTA_US:
            self.last_ack = now
            threshold = self.delay_min + hystart_ack_delay(sk)
            if sk.sk_pacing_status == SK_PACING_NONE:
                threshold >>= 1  # pacing may have spread the round over up to RTT/2
            if now - self.round_start > threshold:
                self.found = True
                sk.net.mib.tcpext["TCPHystartTrainDetect"] += 1
                sk.net.mib.tcpext["TCPHystartTrainCwnd"] += sk.cwnd
                sk.ssthresh = sk.cwnd
        self.curr_rtt = min(self.curr_rtt, delay)
        if self.sample_cnt < HYSTART_MIN_SAMPLES:
            self.sample_cnt += 1
            return
        thresh = min(max(self.delay_min >> 3, HYSTART_DELAY_MIN_US), HYSTART_DELAY_MAX_US)
        if self.curr_rtt > self.delay_min + thresh:
            self.found = True
            sk.net.mib.tcpext["TCPHystartDelayDetect"] += 1
            sk.net.mib.tcpext["TCPHystartDelayCwnd"] += sk.cwnd
            sk.ssthresh = sk.cwnd

    def undo_cwnd(self, sk: TcpSock) -> int:
        return reno_undo_cwnd(sk)


def hystart_ack_delay(sk: TcpSock) -> int:
    """``hystart_ack_delay``: the ACK train's allowance for TSO/GRO aggregation, µs: four
    ``sk_gso_max_size`` super-segments at ``sk_pacing_rate`` (which is doubled in slow start),
    at most 1 ms; 0 before there is a rate."""
    rate = sk.sk_pacing_rate
    if not rate:
        return 0
    return min(USEC_PER_MSEC, SK_GSO_MAX_SIZE * 4 * 1_000_000 // rate)
