"""BBR v1 congestion control (Bottleneck Bandwidth and RTT), as Linux's ``net/ipv4/tcp_bbr.c``.

On each ACK BBR updates a model of the path from the rate sample (rate.py): the bottleneck
bandwidth is the windowed max of delivery rates over 10 packet-timed round trips (minmax.py),
the propagation delay the min RTT over 10 s.  It then sets ``sk_pacing_rate = pacing_gain x
bw`` (1 % below, ``bbr_pacing_margin_percent``) and ``cwnd = cwnd_gain x BDP`` plus a
quantization budget of three TSO bursts.  It does not react to loss as such, except for
packet conservation during the first round of recovery and the long-term ("policer")
bandwidth estimate after two lossy intervals of consistent throughput.

States: STARTUP (gain 2/ln 2 = 2.885, doubling the rate each round) until the bandwidth grew
less than 25 % in 3 non-app-limited rounds; DRAIN (1/2.885) until the flight fits one BDP;
PROBE_BW cycling ``pacing_gain`` through 5/4, 3/4 and six phases of 1, starting at a random
phase other than 3/4 (the world's seeded RNG); PROBE_RTT when the min RTT is 10 s old: cwnd
4 packets for max(200 ms, one round), then back to PROBE_BW (or STARTUP if the pipe was never
filled).

Contract: BBR is a ``has_cong_control`` algorithm (cong.py): the engine hands it every
ACK's rate sample and lets it own cwnd and ``sk_pacing_rate``.  At ``init`` it asks for
pacing (``sk_pacing_status`` NONE -> NEEDED), so TCP paces internally unless the fq qdisc
takes the socket over (pacing.py).  Integer fixed point as Linux: bandwidth in packets/µs
<< 24 (``BW_SCALE``), gains << 8 (``BBR_SCALE``).  ``get_info`` returns Linux's
``struct tcp_bbr_info`` fields (INET_DIAG_BBRINFO); TCP_CC_INFO is not modelled (no
``stack.uapi`` number), so getsockopt fails with ENOPROTOOPT as for any unknown option.
Deviation: Linux's ``tcp_set_ca_state`` calls ``set_state`` even for a Loss -> Loss repeat
(a backed-off RTO); ixsim's calls it on changes only, so a repeated RTO does not reset the
full-bandwidth estimate again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.sock import SK_PACING_NEEDED, SK_PACING_NONE
from stack.tcp.cong import CA_EVENT_TX_START, CongestionOps, register
from stack.tcp.const import (
    GSO_MAX_SIZE,
    MAX_TCP_HEADER,
    NS_PER_MS,
    NS_PER_US,
    TCP_INFINITE_SSTHRESH,
    TCP_INIT_CWND,
)
from stack.tcp.minmax import Minmax
from stack.tcp.rate import RateSample
from stack.tcp.state import CaState

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

BW_SCALE = 24  # bandwidth in packets/µs << 24 (~715 bps per unit)
BW_UNIT = 1 << BW_SCALE
BBR_SCALE = 8  # gains in 1/256
BBR_UNIT = 1 << BBR_SCALE
USEC_PER_SEC = 1_000_000
U32_MAX = 0xFFFFFFFF

BBR_STARTUP, BBR_DRAIN, BBR_PROBE_BW, BBR_PROBE_RTT = range(4)
MODE_NAMES = ("STARTUP", "DRAIN", "PROBE_BW", "PROBE_RTT")

CYCLE_LEN = 8  # phases in a pacing gain cycle
BBR_BW_RTTS = CYCLE_LEN + 2  # window of the max-bandwidth filter, in rounds
BBR_MIN_RTT_WIN_SEC = 10
BBR_PROBE_RTT_MODE_MS = 200
BBR_MIN_TSO_RATE = 1_200_000  # bits/s below which TSO bursts are 1 segment
BBR_PACING_MARGIN_PERCENT = 1
BBR_HIGH_GAIN = BBR_UNIT * 2885 // 1000 + 1  # 2/ln(2)
BBR_DRAIN_GAIN = BBR_UNIT * 1000 // 2885
BBR_CWND_GAIN = BBR_UNIT * 2
BBR_PACING_GAIN = (BBR_UNIT * 5 // 4, BBR_UNIT * 3 // 4) + (BBR_UNIT,) * 6
BBR_CYCLE_RAND = 7
BBR_CWND_MIN_TARGET = 4
BBR_FULL_BW_THRESH = BBR_UNIT * 5 // 4
BBR_FULL_BW_CNT = 3
BBR_LT_INTVL_MIN_RTTS = 4
BBR_LT_LOSS_THRESH = 50  # lost/delivered > 20 % (50/256): lossy, maybe policed
BBR_LT_BW_RATIO = BBR_UNIT // 8
BBR_LT_BW_DIFF = 4000 // 8  # bytes/s: 4 kbit/s
BBR_LT_BW_MAX_RTTS = 48
BBR_EXTRA_ACKED_GAIN = BBR_UNIT
BBR_EXTRA_ACKED_WIN_RTTS = 5
BBR_ACK_EPOCH_ACKED_RESET_THRESH = 1 << 20
BBR_EXTRA_ACKED_MAX_US = 100 * 1000
GSO_LIMIT = GSO_MAX_SIZE - 1 - MAX_TCP_HEADER


def _jiffies(sk: TcpSock) -> int:
    """``tcp_jiffies32`` (HZ = 1000: milliseconds, as ``stack.core.units``)."""
    return sk.net.sched.now // NS_PER_MS


def _us(sk: TcpSock) -> int:
    return sk.net.sched.now // NS_PER_US


@register
class Bbr(CongestionOps):
    """``tcp_bbr_cong_ops``; the attributes are ``struct bbr``."""

    name = "bbr"
    has_cong_control = True

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Every field at zero (``icsk_ca_priv`` is memset when the CC is (re)initialised)."""
        self.min_rtt_us = U32_MAX
        self.min_rtt_stamp = 0
        self.probe_rtt_done_stamp = 0
        self.bw = Minmax()
        self.rtt_cnt = 0
        self.next_rtt_delivered = 0
        self.cycle_mstamp = 0  # µs
        self.mode = BBR_STARTUP
        self.prev_ca_state = CaState.OPEN
        self.packet_conservation = False
        self.round_start = False
        self.idle_restart = False
        self.probe_rtt_round_done = False
        self.lt_is_sampling = False
        self.lt_rtt_cnt = 0
        self.lt_use_bw = False
        self.lt_bw = 0
        self.lt_last_delivered = 0
        self.lt_last_stamp = 0  # ms
        self.lt_last_lost = 0
        self.pacing_gain = BBR_HIGH_GAIN
        self.cwnd_gain = BBR_HIGH_GAIN
        self.full_bw_reached = False
        self.full_bw_cnt = 0
        self.cycle_idx = 0
        self.has_seen_rtt = False
        self.prior_cwnd = 0
        self.full_bw = 0
        self.ack_epoch_mstamp = 0  # µs
        self.extra_acked = [0, 0]
        self.ack_epoch_acked = 0
        self.extra_acked_win_rtts = 0
        self.extra_acked_win_idx = 0

    # -- the model's readings ---------------------------------------------------------------
    def max_bw(self) -> int:
        return self.bw.get()

    def bw_est(self) -> int:
        """``bbr_bw``: the long-term rate while policed, else the windowed max."""
        return self.lt_bw if self.lt_use_bw else self.bw.get()

    def rate_bytes_per_sec(self, sk: TcpSock, rate: int, gain: int) -> int:
        """``bbr_rate_bytes_per_sec``: a BW_SCALE rate times a gain, 1 % below, in bytes/s."""
        rate *= sk.mss_cache
        rate *= gain
        rate >>= BBR_SCALE
        rate *= USEC_PER_SEC // 100 * (100 - BBR_PACING_MARGIN_PERCENT)
        return rate >> BW_SCALE

    def bw_to_pacing_rate(self, sk: TcpSock, bw: int, gain: int) -> int:
        return min(self.rate_bytes_per_sec(sk, bw, gain), sk.sk_max_pacing_rate)

    def init_pacing_rate_from_rtt(self, sk: TcpSock) -> None:
        """``bbr_init_pacing_rate_from_rtt``: high_gain x cwnd / RTT (1 ms before a sample)."""
        if sk.srtt_us:
            rtt_us = max(sk.srtt_us >> 3, 1)
            self.has_seen_rtt = True
        else:
            rtt_us = 1000
        bw = sk.cwnd * BW_UNIT // rtt_us
        sk.sk_pacing_rate = self.bw_to_pacing_rate(sk, bw, BBR_HIGH_GAIN)

    def set_pacing_rate(self, sk: TcpSock, bw: int, gain: int) -> None:
        """``bbr_set_pacing_rate``: never slow down before the pipe was filled."""
        rate = self.bw_to_pacing_rate(sk, bw, gain)
        if not self.has_seen_rtt and sk.srtt_us:
            self.init_pacing_rate_from_rtt(sk)
        if self.full_bw_reached or rate > sk.sk_pacing_rate:
            sk.sk_pacing_rate = rate

    def min_tso_segs(self, sk: TcpSock) -> int:
        """``bbr_min_tso_segs``: 1 segment bursts below 1.2 Mbit/s, else 2."""
        return 1 if sk.sk_pacing_rate < (BBR_MIN_TSO_RATE >> 3) else 2

    def tso_segs_goal(self, sk: TcpSock) -> int:
        """``bbr_tso_segs_goal``: about ``sk_pacing_shift`` (1 ms) of the rate, at most 127."""
        nbytes = min(sk.sk_pacing_rate >> sk.sk_pacing_shift, GSO_LIMIT)
        segs = max(nbytes // sk.mss_cache, self.min_tso_segs(sk))
        return min(segs, 0x7F)

    def save_cwnd(self, sk: TcpSock) -> None:
        """``bbr_save_cwnd``: the last known good cwnd, to restore after recovery/PROBE_RTT."""
        if self.prev_ca_state < CaState.RECOVERY and self.mode != BBR_PROBE_RTT:
            self.prior_cwnd = sk.cwnd
        else:
            self.prior_cwnd = max(self.prior_cwnd, sk.cwnd)

    def bdp(self, bw: int, gain: int) -> int:
        """``bbr_bdp``: ceil(bw x min_rtt x gain) in packets (TCP_INIT_CWND before an RTT)."""
        if self.min_rtt_us == U32_MAX:
            return TCP_INIT_CWND
        w = bw * self.min_rtt_us
        return (((w * gain) >> BBR_SCALE) + BW_UNIT - 1) // BW_UNIT

    def quantization_budget(self, sk: TcpSock, cwnd: int) -> int:
        """``bbr_quantization_budget``: room for 3 TSO bursts, even, +2 in the probing phase."""
        cwnd += 3 * self.tso_segs_goal(sk)
        cwnd = (cwnd + 1) & ~1
        if self.mode == BBR_PROBE_BW and self.cycle_idx == 0:
            cwnd += 2
        return cwnd

    def inflight(self, sk: TcpSock, bw: int, gain: int) -> int:
        return self.quantization_budget(sk, self.bdp(bw, gain))

    def packets_in_net_at_edt(self, sk: TcpSock, inflight_now: int) -> int:
        """``bbr_packets_in_net_at_edt``: the flight left when the next paced skb departs."""
        now = sk.net.sched.now
        edt = max(sk.tcp_wstamp_ns, now)
        interval_us = (edt - now) // NS_PER_US
        interval_delivered = self.bw_est() * interval_us >> BW_SCALE
        inflight_at_edt = inflight_now
        if self.pacing_gain > BBR_UNIT:
            inflight_at_edt += self.tso_segs_goal(sk)
        if interval_delivered >= inflight_at_edt:
            return 0
        return inflight_at_edt - interval_delivered

    def ack_aggregation_cwnd(self) -> int:
        """``bbr_ack_aggregation_cwnd``: extra cwnd for ACK aggregation, once the pipe is full."""
        if BBR_EXTRA_ACKED_GAIN and self.full_bw_reached:
            max_aggr_cwnd = self.bw_est() * BBR_EXTRA_ACKED_MAX_US // BW_UNIT
            aggr_cwnd = (BBR_EXTRA_ACKED_GAIN * max(self.extra_acked)) >> BBR_SCALE
            return min(aggr_cwnd, max_aggr_cwnd)
        return 0

    # -- cwnd ---------------------------------------------------------------------------------
    def set_cwnd_to_recover_or_restore(
        self, sk: TcpSock, rs: RateSample, acked: int
    ) -> tuple[bool, int]:
        """``bbr_set_cwnd_to_recover_or_restore``: packet conservation in the first round of
        recovery, the saved cwnd back when it ends."""
        prev_state = self.prev_ca_state
        state = sk.ca_state
        cwnd = sk.cwnd
        if rs.losses > 0:
            cwnd = max(cwnd - rs.losses, 1)
        if state == CaState.RECOVERY and prev_state != CaState.RECOVERY:
            self.packet_conservation = True
            self.next_rtt_delivered = sk.delivered  # start a round now
            cwnd = sk.packets_in_flight() + acked
        elif prev_state >= CaState.RECOVERY and state < CaState.RECOVERY:
            cwnd = max(cwnd, self.prior_cwnd)
            self.packet_conservation = False
        self.prev_ca_state = state
        if self.packet_conservation:
            return True, max(cwnd, sk.packets_in_flight() + acked)
        return False, cwnd

    def set_cwnd(self, sk: TcpSock, rs: RateSample, acked: int, bw: int, gain: int) -> None:
        """``bbr_set_cwnd``: slow-start toward the target cwnd, or snap down to it."""
        cwnd = sk.cwnd
        if acked:
            conserving, cwnd = self.set_cwnd_to_recover_or_restore(sk, rs, acked)
            if not conserving:
                target = self.bdp(bw, gain)
                target += self.ack_aggregation_cwnd()
                target = self.quantization_budget(sk, target)
                if self.full_bw_reached:
                    cwnd = min(cwnd + acked, target)
                elif cwnd < target or sk.delivered < TCP_INIT_CWND:
                    cwnd = cwnd + acked
                cwnd = max(cwnd, BBR_CWND_MIN_TARGET)
        sk.cwnd = min(cwnd, sk.cwnd_clamp)
        if self.mode == BBR_PROBE_RTT:
            sk.cwnd = min(sk.cwnd, BBR_CWND_MIN_TARGET)

    # -- PROBE_BW gain cycling ---------------------------------------------------------------
    def is_next_cycle_phase(self, sk: TcpSock, rs: RateSample) -> bool:
        """``bbr_is_next_cycle_phase``."""
        is_full_length = sk.delivered_mstamp // NS_PER_US - self.cycle_mstamp > self.min_rtt_us
        if self.pacing_gain == BBR_UNIT:
            return is_full_length
        inflight = self.packets_in_net_at_edt(sk, rs.prior_in_flight)
        bw = self.max_bw()
        if self.pacing_gain > BBR_UNIT:
            return is_full_length and (
                rs.losses > 0 or inflight >= self.inflight(sk, bw, self.pacing_gain)
            )
        return is_full_length or inflight <= self.inflight(sk, bw, BBR_UNIT)

    def advance_cycle_phase(self, sk: TcpSock) -> None:
        self.cycle_idx = (self.cycle_idx + 1) & (CYCLE_LEN - 1)
        self.cycle_mstamp = sk.delivered_mstamp // NS_PER_US

    def update_cycle_phase(self, sk: TcpSock, rs: RateSample) -> None:
        if self.mode == BBR_PROBE_BW and self.is_next_cycle_phase(sk, rs):
            self.advance_cycle_phase(sk)

    def reset_startup_mode(self) -> None:
        self.mode = BBR_STARTUP

    def reset_probe_bw_mode(self, sk: TcpSock) -> None:
        """``bbr_reset_probe_bw_mode``: a random phase, never the 3/4 one next."""
        self.mode = BBR_PROBE_BW
        self.cycle_idx = CYCLE_LEN - 1 - sk.net.sched.rng.randrange(BBR_CYCLE_RAND)
        self.advance_cycle_phase(sk)

    def reset_mode(self, sk: TcpSock) -> None:
        if not self.full_bw_reached:
            self.reset_startup_mode()
        else:
            self.reset_probe_bw_mode(sk)

    # -- long-term (policer) bandwidth ------------------------------------------------------
    def reset_lt_bw_sampling_interval(self, sk: TcpSock) -> None:
        self.lt_last_stamp = sk.delivered_mstamp // NS_PER_MS
        self.lt_last_delivered = sk.delivered
        self.lt_last_lost = sk.lost
        self.lt_rtt_cnt = 0

    def reset_lt_bw_sampling(self, sk: TcpSock) -> None:
        self.lt_bw = 0
        self.lt_use_bw = False
        self.lt_is_sampling = False
        self.reset_lt_bw_sampling_interval(sk)

    def lt_bw_interval_done(self, sk: TcpSock, bw: int) -> None:
        """``bbr_lt_bw_interval_done``: two consistent lossy intervals mean a policer."""
        if self.lt_bw:
            diff = abs(bw - self.lt_bw)
            if (
                diff * BBR_UNIT <= BBR_LT_BW_RATIO * self.lt_bw
                or self.rate_bytes_per_sec(sk, diff, BBR_UNIT) <= BBR_LT_BW_DIFF
            ):
                self.lt_bw = (bw + self.lt_bw) >> 1
                self.lt_use_bw = True
                self.pacing_gain = BBR_UNIT
                self.lt_rtt_cnt = 0
                return
        self.lt_bw = bw
        self.reset_lt_bw_sampling_interval(sk)

    def lt_bw_sampling(self, sk: TcpSock, rs: RateSample) -> None:
        """``bbr_lt_bw_sampling``: sample from the first loss over 4..16 rounds."""
        if self.lt_use_bw:
            if self.mode == BBR_PROBE_BW and self.round_start:
                self.lt_rtt_cnt += 1
                if self.lt_rtt_cnt >= BBR_LT_BW_MAX_RTTS:
                    self.reset_lt_bw_sampling(sk)
                    self.reset_probe_bw_mode(sk)
            return
        if not self.lt_is_sampling:
            if not rs.losses:
                return
            self.reset_lt_bw_sampling_interval(sk)
            self.lt_is_sampling = True
        if rs.is_app_limited:
            self.reset_lt_bw_sampling(sk)
            return
        if self.round_start:
            self.lt_rtt_cnt += 1
        if self.lt_rtt_cnt < BBR_LT_INTVL_MIN_RTTS:
            return
        if self.lt_rtt_cnt > 4 * BBR_LT_INTVL_MIN_RTTS:
            self.reset_lt_bw_sampling(sk)
            return
        if not rs.losses:
            return
        lost = sk.lost - self.lt_last_lost
        delivered = sk.delivered - self.lt_last_delivered
        if not delivered or (lost << BBR_SCALE) < BBR_LT_LOSS_THRESH * delivered:
            return
        t = sk.delivered_mstamp // NS_PER_MS - self.lt_last_stamp
        if t < 1:
            return
        if t >= U32_MAX // 1000:
            self.reset_lt_bw_sampling(sk)
            return
        t *= 1000
        self.lt_bw_interval_done(sk, delivered * BW_UNIT // t)

    # -- the model ------------------------------------------------------------------------------
    def update_bw(self, sk: TcpSock, rs: RateSample) -> None:
        """``bbr_update_bw``: count rounds, feed the max filter (app-limited samples only when
        they beat it)."""
        self.round_start = False
        if rs.delivered < 0 or rs.interval_us <= 0:
            return
        if rs.prior_delivered >= self.next_rtt_delivered:
            self.next_rtt_delivered = sk.delivered
            self.rtt_cnt += 1
            self.round_start = True
            self.packet_conservation = False
        self.lt_bw_sampling(sk, rs)
        bw = rs.delivered * BW_UNIT // rs.interval_us
        if not rs.is_app_limited or bw >= self.max_bw():
            self.bw.running_max(BBR_BW_RTTS, self.rtt_cnt, bw)

    def update_ack_aggregation(self, sk: TcpSock, rs: RateSample) -> None:
        """``bbr_update_ack_aggregation``: the max excess ACKed beyond bw x interval."""
        if (
            not BBR_EXTRA_ACKED_GAIN
            or rs.acked_sacked <= 0
            or rs.delivered < 0
            or rs.interval_us <= 0
        ):
            return
        if self.round_start:
            self.extra_acked_win_rtts = min(0x1F, self.extra_acked_win_rtts + 1)
            if self.extra_acked_win_rtts >= BBR_EXTRA_ACKED_WIN_RTTS:
                self.extra_acked_win_rtts = 0
                self.extra_acked_win_idx ^= 1
                self.extra_acked[self.extra_acked_win_idx] = 0
        delivered_us = sk.delivered_mstamp // NS_PER_US
        epoch_us = delivered_us - self.ack_epoch_mstamp
        expected_acked = self.bw_est() * epoch_us // BW_UNIT
        if (
            self.ack_epoch_acked <= expected_acked
            or self.ack_epoch_acked + rs.acked_sacked >= BBR_ACK_EPOCH_ACKED_RESET_THRESH
        ):
            self.ack_epoch_acked = 0
            self.ack_epoch_mstamp = delivered_us
            expected_acked = 0
        self.ack_epoch_acked = min(0xFFFFF, self.ack_epoch_acked + rs.acked_sacked)
        extra_acked = min(self.ack_epoch_acked - expected_acked, sk.cwnd)
        if extra_acked > self.extra_acked[self.extra_acked_win_idx]:
            self.extra_acked[self.extra_acked_win_idx] = extra_acked

    def check_full_bw_reached(self, rs: RateSample) -> None:
        """``bbr_check_full_bw_reached``: 3 rounds without 25 % growth fill the pipe."""
        if self.full_bw_reached or not self.round_start or rs.is_app_limited:
            return
        bw_thresh = self.full_bw * BBR_FULL_BW_THRESH >> BBR_SCALE
        if self.max_bw() >= bw_thresh:
            self.full_bw = self.max_bw()
            self.full_bw_cnt = 0
            return
        self.full_bw_cnt += 1
        self.full_bw_reached = self.full_bw_cnt >= BBR_FULL_BW_CNT

    def check_drain(self, sk: TcpSock) -> None:
        """``bbr_check_drain``: STARTUP -> DRAIN -> PROBE_BW once the queue is gone."""
        if self.mode == BBR_STARTUP and self.full_bw_reached:
            self.mode = BBR_DRAIN
            sk.ssthresh = self.inflight(sk, self.max_bw(), BBR_UNIT)
        if self.mode == BBR_DRAIN and self.packets_in_net_at_edt(
            sk, sk.packets_in_flight()
        ) <= self.inflight(sk, self.max_bw(), BBR_UNIT):
            self.reset_probe_bw_mode(sk)

    def check_probe_rtt_done(self, sk: TcpSock) -> None:
        if not (self.probe_rtt_done_stamp and _jiffies(sk) > self.probe_rtt_done_stamp):
            return
        self.min_rtt_stamp = _jiffies(sk)  # wait a while until PROBE_RTT
        sk.cwnd = max(sk.cwnd, self.prior_cwnd)
        self.reset_mode(sk)

    def update_min_rtt(self, sk: TcpSock, rs: RateSample) -> None:
        """``bbr_update_min_rtt``: the 10 s min RTT filter and PROBE_RTT."""
        now = _jiffies(sk)
        filter_expired = now > self.min_rtt_stamp + BBR_MIN_RTT_WIN_SEC * 1000
        if rs.rtt_us >= 0 and (
            rs.rtt_us <= self.min_rtt_us or (filter_expired and not rs.is_ack_delayed)
        ):
            self.min_rtt_us = rs.rtt_us
            self.min_rtt_stamp = now
        if (
            BBR_PROBE_RTT_MODE_MS > 0
            and filter_expired
            and not self.idle_restart
            and self.mode != BBR_PROBE_RTT
        ):
            self.mode = BBR_PROBE_RTT
            self.save_cwnd(sk)
            self.probe_rtt_done_stamp = 0
        if self.mode == BBR_PROBE_RTT:
            # ignore low rate samples during this mode
            sk.app_limited = (sk.delivered + sk.packets_in_flight()) or 1
            if not self.probe_rtt_done_stamp and sk.packets_in_flight() <= BBR_CWND_MIN_TARGET:
                self.probe_rtt_done_stamp = now + BBR_PROBE_RTT_MODE_MS
                self.probe_rtt_round_done = False
                self.next_rtt_delivered = sk.delivered
            elif self.probe_rtt_done_stamp:
                if self.round_start:
                    self.probe_rtt_round_done = True
                if self.probe_rtt_round_done:
                    self.check_probe_rtt_done(sk)
        if rs.delivered > 0:
            self.idle_restart = False

    def update_gains(self) -> None:
        mode = self.mode
        if mode == BBR_STARTUP:
            self.pacing_gain = self.cwnd_gain = BBR_HIGH_GAIN
        elif mode == BBR_DRAIN:
            self.pacing_gain = BBR_DRAIN_GAIN
            self.cwnd_gain = BBR_HIGH_GAIN
        elif mode == BBR_PROBE_BW:
            self.pacing_gain = BBR_UNIT if self.lt_use_bw else BBR_PACING_GAIN[self.cycle_idx]
            self.cwnd_gain = BBR_CWND_GAIN
        else:
            self.pacing_gain = self.cwnd_gain = BBR_UNIT

    def update_model(self, sk: TcpSock, rs: RateSample) -> None:
        self.update_bw(sk, rs)
        self.update_ack_aggregation(sk, rs)
        self.update_cycle_phase(sk, rs)
        self.check_full_bw_reached(rs)
        self.check_drain(sk)
        self.update_min_rtt(sk, rs)
        self.update_gains()

    # -- tcp_congestion_ops ------------------------------------------------------------------
    def cong_control(self, sk: TcpSock, ack: int, flag: int, rs: RateSample) -> None:
        """``bbr_main``."""
        self.update_model(sk, rs)
        bw = self.bw_est()
        self.set_pacing_rate(sk, bw, self.pacing_gain)
        self.set_cwnd(sk, rs, rs.acked_sacked, bw, self.cwnd_gain)

    def init(self, sk: TcpSock) -> None:
        """``bbr_init``: STARTUP, pacing at high_gain x cwnd / RTT, pacing requested."""
        self.clear()
        sk.ssthresh = TCP_INFINITE_SSTHRESH
        self.min_rtt_us = sk.min_rtt_us or U32_MAX  # tcp_min_rtt: ~0U before a sample
        self.min_rtt_stamp = _jiffies(sk)
        self.init_pacing_rate_from_rtt(sk)
        self.reset_lt_bw_sampling(sk)
        self.ack_epoch_mstamp = _us(sk)
        if sk.sk_pacing_status == SK_PACING_NONE:
            sk.sk_pacing_status = SK_PACING_NEEDED

    def sndbuf_expand(self, sk: TcpSock) -> int:
        """3 x cwnd: BBR may slow-start even during recovery."""
        return 3

    def undo_cwnd(self, sk: TcpSock) -> int:
        """A spurious slow-down: reset full-pipe detection, keep cwnd."""
        self.full_bw = 0
        self.full_bw_cnt = 0
        self.reset_lt_bw_sampling(sk)
        return sk.cwnd

    def ssthresh(self, sk: TcpSock) -> int:
        """Entering loss recovery: save cwnd for its end; ssthresh unchanged."""
        self.save_cwnd(sk)
        return sk.ssthresh

    def cwnd_event(self, sk: TcpSock, event: int) -> None:
        """``bbr_cwnd_event``: restarting from idle, app-limited: pace at the estimated bw."""
        if event == CA_EVENT_TX_START and sk.app_limited:
            self.idle_restart = True
            self.ack_epoch_mstamp = _us(sk)
            self.ack_epoch_acked = 0
            if self.mode == BBR_PROBE_BW:
                self.set_pacing_rate(sk, self.bw_est(), BBR_UNIT)
            elif self.mode == BBR_PROBE_RTT:
                self.check_probe_rtt_done(sk)

    def set_state(self, sk: TcpSock, new_state: int) -> None:
        """``bbr_set_state``: an RTO ends a round and counts as a loss for the policer."""
        if new_state == CaState.LOSS:
            self.prev_ca_state = CaState.LOSS
            self.full_bw = 0
            self.round_start = True
            rs = RateSample()
            rs.losses = 1
            self.lt_bw_sampling(sk, rs)

    def get_info(self, sk: TcpSock) -> dict[str, int]:
        """``bbr_get_info``: ``struct tcp_bbr_info`` (INET_DIAG_BBRINFO)."""
        bw = self.bw_est() * sk.mss_cache * USEC_PER_SEC >> BW_SCALE
        return {
            "bbr_bw_lo": bw & U32_MAX,
            "bbr_bw_hi": bw >> 32,
            "bbr_min_rtt": self.min_rtt_us & U32_MAX,
            "bbr_pacing_gain": self.pacing_gain,
            "bbr_cwnd_gain": self.cwnd_gain,
        }
