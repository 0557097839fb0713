"""CUBIC's slow-start exit (HyStart, Linux 6.x ``tcp_cubic.c``) and the cwnd-limited gate
every ``cong_avoid`` asks (``tcp_is_cwnd_limited``), driven by a scripted peer that ACKs each
MSS at a chosen time."""

from __future__ import annotations

from collections import deque

from helpers.tcp import Peer, established
from helpers.units import MS, US

from stack.core.features import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO
from stack.tcp.cong import is_cwnd_limited
from stack.tcp.const import TCP_INFINITE_SSTHRESH
from stack.tcp.cubic import CUBE_FACTOR, cubic_root
from stack.tcp.state import CaState
from stack.wire.tcp import ACK

TSO = NETIF_F_TSO | NETIF_F_HW_CSUM | NETIF_F_SG
MSS = 1448


def _slow_start(spacing: int, rtt: int = MS, until_cwnd: int = 300) -> tuple[Peer, object]:
    """Send a long stream; the peer ACKs every MSS ``rtt`` after it left, and no sooner than
    ``spacing`` after its previous ACK (0: the ACKs of a flight arrive together)."""
    p = Peer(features=TSO)
    sk = established(p)
    p.net.sysctl.tcp_wmem = (4096, 16 << 20, 16 << 20)  # the stream is never app-limited
    sk.sk_sndbuf = 16 << 20
    sk.sendmsg(b"s" * (8 << 20))
    pending: deque[tuple[int, int]] = deque()  # (end of an MSS, when it may be ACKed)
    last = 0
    for _ in range(5000):
        for seg in p.drain():
            for off in range(MSS, len(seg.data) + MSS, MSS):
                pending.append((seg.seq + min(off, len(seg.data)), seg.time + rtt))
        if not pending or sk.ssthresh != TCP_INFINITE_SSTHRESH or sk.cwnd >= until_cwnd:
            break
        end, due = pending.popleft()
        last = max(due, last + spacing)
        p.send(ACK, ack=end, at=last)
    return p, sk


def test_an_ack_train_longer_than_half_the_min_rtt_ends_slow_start() -> None:
    """ACKs 50 us apart for longer than (delay_min + hystart_ack_delay) / 2 (unpaced): the
    ACK train detector sets ssthresh = cwnd (TCPHystartTrainDetect); the delay detector, which
    needs the RTT 4 ms up, does not fire."""
    p, sk = _slow_start(50 * US)
    mib = p.net.mib.tcpext
    assert mib["TCPHystartTrainDetect"] == 1 and mib["TCPHystartDelayDetect"] == 0
    assert sk.ssthresh == mib["TCPHystartTrainCwnd"]
    assert 16 <= sk.ssthresh < 100  # hystart_low_window; a 1 ms train is ~20-40 ACKs here
    assert sk.ca.found and 1000 <= sk.ca.delay_min < 1100


def test_flights_acked_in_bursts_over_2ms_apart_are_no_train() -> None:
    """A 5 ms path whose flights are each ACKed at one instant: the bursts are more than
    ``hystart_ack_delta_us`` (2 ms) apart and no burst lasts, so no train; the RTT does not
    grow either: HyStart stays quiet and cwnd keeps doubling (ssthresh infinite) past 300."""
    p, sk = _slow_start(0, rtt=5 * MS)
    mib = p.net.mib.tcpext
    assert sk.cwnd >= 300 and sk.ssthresh == TCP_INFINITE_SSTHRESH
    assert mib["TCPHystartTrainDetect"] == 0 and mib["TCPHystartDelayDetect"] == 0


def test_cwnd_limited_flag_wins_over_the_slow_start_doubling_rule() -> None:
    """Linux 6.0+ ``tcp_is_cwnd_limited``: a window that hit cwnd counts as cwnd-limited even
    when cwnd is already twice the largest flight; otherwise slow start grows only while cwnd
    is below twice ``max_packets_out``, and congestion avoidance not at all."""
    p = Peer(features=TSO)
    sk = established(p)
    sk.cwnd, sk.ssthresh, sk.max_packets_out = 40, TCP_INFINITE_SSTHRESH, 10
    sk.is_cwnd_limited = True
    assert is_cwnd_limited(sk)
    sk.is_cwnd_limited = False
    assert not is_cwnd_limited(sk)
    sk.max_packets_out = 21
    assert is_cwnd_limited(sk)
    sk.ssthresh = 30  # congestion avoidance: only the flag counts
    assert not is_cwnd_limited(sk)


def test_a_loss_timeout_forgets_delay_min_and_rearms_hystart() -> None:
    """``bictcp_reset`` on TCP_CA_Loss clears delay_min and ``found`` (Linux 6.x), so slow
    start after an RTO can leave early again."""
    p, sk = _slow_start(50 * US)
    assert sk.ca.found and sk.ca.delay_min
    sk.ca.set_state(sk, CaState.LOSS)
    assert not sk.ca.found and sk.ca.delay_min == 0 and sk.ca.end_seq == sk.snd_nxt


def test_cubic_root_is_linux_table_and_newton_step_not_the_exact_root() -> None:
    # Worked by hand from tcp_cubic.c: 2^40 / 410 = 2681735677 has 32 bits, b = 9, the top
    # bits 19 give v[19] = 168, x = 178 << 9 >> 6 = 1424, then 2x + a / (x (x - 1)) = 4171
    # and 4171 * 341 >> 10 = 1388 (the exact root is 1389.3).  Below 64 the table alone.
    assert CUBE_FACTOR == 2681735677
    assert cubic_root(CUBE_FACTOR) == 1388
    assert [cubic_root(a) for a in (0, 1, 8, 27, 63)] == [0, 1, 2, 3, 4]


def test_the_cubic_clock_counts_delay_min_as_a_whole_jiffy() -> None:
    # bictcp_update: t = (now - epoch_start) + usecs_to_jiffies(delay_min), which rounds a
    # 200 us delay_min up to 1 ms.  From W_max = cwnd = 100 (K = 0) the curve first rises
    # by a segment at t = 1390/1024 s: 1357 ms into the epoch that is reached only with
    # the extra jiffy (target 101, cnt 100), without it t = 1389 (target 100, cnt 100 x cwnd).
    p = Peer()
    sk = established(p)
    p.expect_none(2000 * MS)  # let the clock pass the epoch's start
    ca = sk.ca
    sk.cwnd = sk.ssthresh = 100
    ca.delay_min, ca.last_max_cwnd, ca.last_cwnd, ca.k, ca.origin_point = 200, 100, 0, 0, 100
    ca.epoch_start = sk.now() // MS - 1357
    ca.update(sk, 100, 1)
    assert ca.k == 0 and ca.origin_point == 100 and ca.cnt == 100
