"""BBR v1, delivery-rate samples and TCP_INFO's chronographs, seen on two hosts.

Bottlenecks are a rate-limited cable (``rate=``); what is asserted is observable: TCP_INFO
(delivery_rate, pacing_rate, busy/rwnd_limited/sndbuf_limited), the BBR state the socket's
congestion control reports (``ss -i``'s bbr fields), goodput measured by ``ixsim netsim``.
"""

from __future__ import annotations

import errno
import socket

import pytest

from ixsim import World
from ixsim.clock import parse_duration
from ixsim.netsim import measure_point
from stack.sock import SK_PACING_NEEDED, SK_PACING_NONE
from stack.tcp.bbr import (
    BBR_DRAIN,
    BBR_HIGH_GAIN,
    BBR_PROBE_BW,
    BBR_PROBE_RTT,
    BBR_STARTUP,
    BBR_UNIT,
    MODE_NAMES,
)
from stack.tcp.cong import available
from stack.tcp.minmax import Minmax

MIB = 1 << 20
BUFS = "4096 131072 33554432"
MSS = 1448


def _pair(
    w: World,
    rate: str,
    latency: str,
    cc: str | None = None,
    *,
    bufs: str = BUFS,
    router: bool = False,
):
    """a and b joined by a cable of ``rate`` (a link negotiated down: the queue is a's own,
    under TSQ), or with ``router``, through a switch whose port to b runs at ``rate`` (the
    queue is the switch's, in the network), each leg with half of ``latency``."""
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    for h in (a, b):
        h.sysctl("net.ipv4.tcp_wmem", bufs)
        h.sysctl("net.ipv4.tcp_rmem", BUFS)
    if router:
        sw = w.switch("sw", 2)
        half = parse_duration(latency) // 2
        w.cable(a.eth0, sw.port(0), latency=half)
        w.cable(sw.port(1), b.eth0, latency=half, rate=rate)
    else:
        w.cable(a.eth0, b.eth0, latency=latency, rate=rate)
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", 7))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    if cc:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
    c.connect(("10.0.0.2", 7))
    conn, _ = srv.accept()
    c.setblocking(False)
    conn.setblocking(False)
    return a, b, c, conn


def _bulk(
    w: World, c, conn, duration_ms: int, step: str = "1ms", each=None, read: bool = True
) -> int:
    """Keep the sender's buffer full for ``duration_ms``; the receiver reads all along.
    ``each(ms)`` runs after every step.  Returns the bytes received."""
    chunk = bytes(MIB)
    got = 0
    for ms in range(duration_ms):
        try:
            c.send(chunk)
        except BlockingIOError:
            pass
        w.run_for(step)
        if read:
            try:
                while data := conn.recv(MIB):
                    got += len(data)
            except BlockingIOError:
                pass
        if each is not None:
            each(ms)
    return got


def _goodput_bps(rate_bps: float) -> float:
    """TCP payload bytes/s a cable of ``rate_bps`` carries in 1448-byte segments (1514-byte
    frames + 24 bytes of preamble, FCS and inter-frame gap, TCP timestamps in 66 of them)."""
    return rate_bps / 8 * MSS / (1514 + 24)


def test_bbr_is_registered_selectable_and_requests_pacing() -> None:
    assert "bbr" in available()
    with World(seed=1) as w:
        a, _b, c, _conn = _pair(w, "10G", "50us", "bbr")
        assert c.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0") == b"bbr"
        assert c.sk.ca.name == "bbr" and c.sk.sk_pacing_status == SK_PACING_NEEDED
        assert c.sk.ssthresh == 0x7FFFFFFF  # bbr_init: TCP_INFINITE_SSTHRESH
        # the namespace default: new sockets get it, as net.ipv4.tcp_congestion_control=bbr
        a.sysctl("net.ipv4.tcp_congestion_control", "bbr")
        s = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\0") == b"bbr"
        # cubic paces only on request: a cubic socket stays SK_PACING_NONE
        plain = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"cubic")
        assert plain.sk.sk_pacing_status == SK_PACING_NONE
        assert a.sysctl("net.ipv4.tcp_available_congestion_control") == "reno cubic bbr"
        with pytest.raises(OSError) as exc:  # 0444 in Linux
            a.sysctl("net.ipv4.tcp_available_congestion_control", "bbr")
        assert exc.value.errno == errno.EACCES
        # ss -i shows the INET_DIAG_BBRINFO fields
        assert "bbr:(bw:" in c.sk.ss() and "pacing_gain:2.88672,cwnd_gain:2.88672)" in c.sk.ss()
        # TCP_CC_INFO is not modelled: ENOPROTOOPT, as any option Linux does not know
        with pytest.raises(OSError) as exc:
            c.getsockopt(socket.IPPROTO_TCP, 26, 64)  # TCP_CC_INFO
        assert exc.value.errno == errno.ENOPROTOOPT


def test_delivery_rate_follows_a_rate_limited_cable() -> None:
    """tcp_rate.c's sample, as TCP_INFO's delivery_rate, is the bottleneck rate (±10 %)."""
    with World(seed=2) as w:
        _a, _b, c, conn = _pair(w, "200M", "1ms")
        # a small write first: the flight is app-limited, and TCP_INFO says so
        c.send(bytes(100))
        w.run_for("10ms")
        i = c.sk.info()
        # one MSS over about one RTT (2 ms): rates count packets x mss_cache, as Linux
        assert i.delivery_rate_app_limited == 1 and 0 < i.delivery_rate < MSS * 1000
        raw = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 248)
        assert raw[7] & 1  # tcpi_delivery_rate_app_limited:1
        samples: list[int] = []

        def sample(ms: int) -> None:
            if ms >= 150:  # past slow start: the link is full
                samples.append(c.sk.info().delivery_rate)

        _bulk(w, c, conn, 400, each=sample)
        expected = _goodput_bps(200e6)
        # each sample is one ACK's (TSO bursts and stretched ACKs make single ones noisy, as
        # on Linux); their median is the bottleneck's rate
        median = sorted(samples)[len(samples) // 2]
        assert 0.9 * expected < median < 1.1 * expected
        assert c.sk.info().delivery_rate_app_limited == 0
        raw = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 248)
        assert not raw[7] & 1


def test_chrono_busy_and_rwnd_limited_times() -> None:
    """busy_time counts the time data was queued; rwnd_limited the part the peer's window
    stalled (a receiver that stops reading)."""
    with World(seed=3) as w:
        _a, _b, c, conn = _pair(w, "1G", "1ms")
        assert c.sk.info().busy_time == 0
        _bulk(w, c, conn, 100)
        i = c.sk.info()
        assert 95_000 <= i.busy_time <= 101_000 and i.rwnd_limited < 5_000
        _bulk(w, c, conn, 300, read=False)  # the receive buffer fills: window-limited
        i2 = c.sk.info()
        assert i2.rwnd_limited > 150_000
        assert i2.busy_time - i.busy_time >= 299_000
        assert "busy:" in c.sk.ss() and "rwnd_limited:" in c.sk.ss()


def test_chrono_sndbuf_limited_with_a_small_send_buffer() -> None:
    with World(seed=4) as w:
        _a, _b, c, conn = _pair(w, "1G", "5ms")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        _bulk(w, c, conn, 300)
        i = c.sk.info()
        assert i.sndbuf_limited > 0.5 * i.busy_time
        assert i.rwnd_limited < 0.1 * i.busy_time


def test_bbr_far_above_cubic_at_one_percent_loss() -> None:
    """At 1 % loss and 10 ms RTT CUBIC is held near the Mathis bound; BBR, which does not
    treat loss as congestion, keeps most of the link (as on Linux)."""
    bbr = measure_point(0.01, 10_000_000, 8 * MIB, seed=1, cc="bbr")
    cubic = measure_point(0.01, 10_000_000, 2 * MIB, seed=1, cc="cubic")
    assert cubic.goodput_gbps < 0.05
    assert bbr.goodput_gbps > 20 * cubic.goodput_gbps
    assert bbr.goodput_gbps > 0.3


def test_bbr_paces_at_the_bottleneck_and_cycles_its_states() -> None:
    """A bulk flow over a 50 Mbit/s bottleneck with a 10 ms RTT: STARTUP -> DRAIN ->
    PROBE_BW within a second, its bandwidth estimate and pacing rate at the bottleneck, and
    PROBE_RTT once the min RTT is 10 s old (the queue BBR keeps hides the true one)."""
    with World(seed=5) as w:
        _a, _b, c, conn = _pair(w, "50M", "5ms", "bbr", router=True)
        ca = c.sk.ca
        assert ca.mode == BBR_STARTUP and ca.pacing_gain == BBR_HIGH_GAIN
        modes: list[tuple[int, int]] = [(0, ca.mode)]
        gains: set[int] = set()
        rates: list[int] = []

        update_gains = ca.update_gains

        def each_ack() -> None:  # every mode bbr_main leaves behind, however short
            update_gains()
            if ca.mode != modes[-1][1]:
                modes.append((w.now // 1_000_000, ca.mode))

        ca.update_gains = each_ack

        def watch(ms: int) -> None:
            if ca.mode == BBR_PROBE_BW:
                gains.add(ca.pacing_gain)
                if ca.pacing_gain == BBR_UNIT and 2000 <= ms < 9000:
                    rates.append(c.sk.sk_pacing_rate)

        _bulk(w, c, conn, 11_500, each=watch)
        order = [m for _ms, m in modes]
        assert order[:3] == [BBR_STARTUP, BBR_DRAIN, BBR_PROBE_BW], [MODE_NAMES[m] for m in order]
        assert modes[2][0] < 1000  # PROBE_BW within the first second
        assert BBR_PROBE_RTT in order
        probe_rtt_at = next(ms for ms, m in modes if m == BBR_PROBE_RTT)
        assert 9_500 <= probe_rtt_at <= 11_500
        after = order[order.index(BBR_PROBE_RTT) + 1 :]
        assert after and after[0] == BBR_PROBE_BW  # the pipe was full: back to PROBE_BW
        assert gains == {BBR_UNIT * 5 // 4, BBR_UNIT * 3 // 4, BBR_UNIT}
        bottleneck = _goodput_bps(50e6)
        info = ca.get_info(c.sk)
        bw = info["bbr_bw_lo"] | info["bbr_bw_hi"] << 32
        assert 0.9 * bottleneck < bw < 1.1 * bottleneck
        rates.sort()
        median = rates[len(rates) // 2]
        assert 0.9 * bottleneck < median < 1.1 * bottleneck  # 0.99 x bw in cruising phases
        # the two-way propagation delay, plus up to a few data frames' serialization at
        # 50 Mbit/s (246 us each): PROBE_RTT re-measured it with data, not the handshake
        assert 10_000 <= info["bbr_min_rtt"] <= 11_000


def test_bbr_probe_rtt_cuts_the_flight_to_four_packets() -> None:
    with World(seed=6) as w:
        _a, _b, c, conn = _pair(w, "50M", "5ms", "bbr", router=True)
        ca = c.sk.ca
        seen: list[int] = []

        def watch(ms: int) -> None:
            if ca.mode == BBR_PROBE_RTT:
                seen.append(c.sk.cwnd)

        _bulk(w, c, conn, 10_600, each=watch)
        assert seen and min(seen) == 4 and max(seen[5:]) == 4
        assert 200 <= len(seen) <= 260  # max(200 ms, one round) at 4 packets


def test_minmax_running_max_forgets_after_its_window() -> None:
    m = Minmax()
    m.reset(0, 0)
    assert m.running_max(10, 1, 100) == 100
    assert m.running_max(10, 2, 50) == 100
    assert m.running_max(10, 5, 70) == 100
    assert m.running_max(10, 12, 60) == 70  # 100 (t=1) left the 10-round window
    assert m.running_max(10, 30, 10) == 10  # nothing left in the window: reset
