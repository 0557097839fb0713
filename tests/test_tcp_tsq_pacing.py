"""TCP Small Queues, autocork, pacing and SO_MAX_PACING_RATE, seen on two hosts.

What is asserted is observable: ``sk.wmem_alloc`` and the qdisc backlog while the device
queue is stopped, frames and their times on the wire (a tap on TCP's transmit hook, the
``net_dev_xmit`` tracepoint at the driver), TCP_INFO and MIB counters.
"""

from __future__ import annotations

import socket
import statistics
import struct

import pytest

from ixsim import World
from ixsim.apps.bulk import bulk_receive, bulk_send
from ixsim.netsim import measure_point
from stack.core.netdevice import netif_stop_queue, netif_wake_queue
from stack.sock import PACING_RATE_UNLIMITED, SK_PACING_FQ, SK_PACING_NEEDED, SK_PACING_NONE
from stack.tcp.tsq import TSQ_THROTTLED
from stack.uapi import SO_MAX_PACING_RATE
from stack.wire.tcp import TcpRepr

MIB = 1 << 20
BUFS = "4096 131072 33554432"  # netsim's long-fat-network buffers: the window is not the limit


def _pair(w: World, qdisc: str | None = None, latency: str = "50us", rmem: str = BUFS):
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    for h in (a, b):
        h.sysctl("net.ipv4.tcp_wmem", BUFS)
        h.sysctl("net.ipv4.tcp_rmem", rmem)
    w.cable(a.eth0, b.eth0, latency=latency)
    if qdisc:
        a.tc("eth0", qdisc)
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", 7))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(("10.0.0.2", 7))
    conn, _ = srv.accept()
    c.setblocking(False)
    conn.setblocking(False)
    return a, b, c, conn


def _pump(w: World, c, conn, data: bytes, step: str = "50us", limit: int = 200_000) -> bytes:
    """Write ``data`` as fast as the socket takes it and read everything on the other side."""
    sent, got = 0, bytearray()
    for _ in range(limit):
        if sent < len(data):
            try:
                sent += c.send(data[sent : sent + MIB])
            except BlockingIOError:
                pass
        w.run_for(step)
        try:
            while chunk := conn.recv(MIB):
                got += chunk
        except BlockingIOError:
            pass
        if len(got) == len(data):
            return bytes(got)
    raise AssertionError(f"transfer stalled at {len(got)} of {len(data)} bytes")


def _drain(w: World, conn, n: int, step: str = "50us") -> bytes:
    """Run the world and read until ``n`` bytes have arrived."""
    got = bytearray()
    for _ in range(200_000):
        w.run_for(step)
        try:
            while chunk := conn.recv(MIB):
                got += chunk
        except BlockingIOError:
            pass
        if len(got) >= n:
            return bytes(got)
    raise AssertionError(f"transfer stalled at {len(got)} of {n} bytes")


def _wire(host) -> list[tuple[int, TcpRepr]]:
    """Every TCP segment ``host`` sends, with the virtual time it left TCP."""
    seen: list[tuple[int, TcpRepr]] = []
    table = host.net.tcp
    orig = table.transmit

    def tap(skb, saddr, daddr):
        seen.append((host.net.sched.now, TcpRepr.parse(skb.tobytes())))
        return orig(skb, saddr, daddr)

    table.transmit = tap
    return seen


def _xmit_times(host, proto: int) -> list[tuple[int, int]]:
    """(time, IP payload bytes) of each frame of ``proto`` the driver takes (net_dev_xmit)."""
    out: list[tuple[int, int]] = []
    kernel = host.net.kernel

    def tracer(now: int, name: str, fields: dict) -> None:
        if name == "net_dev_xmit" and fields["rc"] == 0:
            skb = fields["skb"]
            if skb.head[skb.data + 14 + 9] == proto:
                out.append((now, skb.len - 14))

    kernel.tracers.append(tracer)
    return out


def test_tsq_bounds_what_waits_below_tcp_and_completions_resume_the_send() -> None:
    with World(seed=3) as w:
        # The receiver starts with its whole 32 MiB buffer (tcp_rmem[1]): autotuning grows it
        # with what the application reads per RTT, and this test stops reading, so the window
        # would otherwise become the limit TSQ is to be shown to be.
        a, _b, c, conn = _pair(w, rmem="4096 33554432 33554432")
        # Reno has no HyStart: slow start goes on, and cwnd grows well beyond what TSQ lets
        # through (CUBIC's ACK train would stop it at a few hundred segments on this path).
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno")
        data = bytes(range(256)) * (48 * MIB // 256)
        _pump(w, c, conn, data[: 8 * MIB])
        sk = c.sk
        dev = a.net.kernel.dev_get_by_name("eth0")
        w.run_for("2ms")  # idle: every completion is in
        assert sk.wmem_alloc == 0
        netif_stop_queue(dev)
        n = c.send(data[8 * MIB : 24 * MIB])  # as much as the send buffer takes
        assert n > 8 * MIB
        w.run_for("5ms")  # ACKs of what left before the stop keep opening cwnd
        q = dev.qdisc
        limit = min(
            max(2 * 65_536, sk.sk_pacing_rate >> sk.sk_pacing_shift),
            a.net.sysctl.tcp_limit_output_bytes,
        )
        biggest = max(seg.skb.truesize for seg in sk.rtx)
        assert sk.sk_pacing_status == SK_PACING_NONE and sk.cwnd * 1448 > limit
        queued = sum(skb.truesize for band in q.bands for skb in band)
        assert limit // 2 < queued <= sk.wmem_alloc  # the qdisc backs up ...
        assert sk.wmem_alloc <= limit + biggest  # ... but only by what TSQ allows
        assert sk.tsq_flags & TSQ_THROTTLED and sk.write_queue  # the rest waits in TCP
        tasklet = a.net.tcp.tsq.tasklet
        ran = tasklet.count
        netif_wake_queue(dev)
        got = _drain(w, conn, n)  # nothing more is written: completions resume the send
        assert tasklet.count > ran  # tcp_wfree -> TSQ tasklet -> tcp_write_xmit
        assert got == data[8 * MIB : 8 * MIB + n]


def test_tcp_limit_output_bytes_lowers_the_bound() -> None:
    with World(seed=3) as w:
        a, _b, c, conn = _pair(w)
        a.sysctl("net.ipv4.tcp_limit_output_bytes", 256 * 1024)
        _pump(w, c, conn, bytes(8 * MIB))
        dev = a.net.kernel.dev_get_by_name("eth0")
        w.run_for("2ms")
        netif_stop_queue(dev)
        c.send(bytes(16 * MIB))
        w.run_for("5ms")
        sk = c.sk
        assert 256 * 1024 < sk.wmem_alloc <= 256 * 1024 + 2 * 66_000
        q = dev.qdisc
        assert sum(skb.truesize for band in q.bands for skb in band) <= sk.wmem_alloc


@pytest.mark.parametrize("corking", [1, 0])
def test_autocork_coalesces_small_writes_while_the_device_is_busy(corking: int) -> None:
    with World(seed=4) as w:
        a, _b, c, conn = _pair(w)
        a.sysctl("net.ipv4.tcp_autocorking", corking)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _pump(w, c, conn, bytes(4 * MIB))  # a cwnd that takes the head in one go
        w.run_for("2ms")
        wire = _wire(a)
        mib = a.net.mib.tcpext
        before = mib["TCPAutoCorking"]
        head = bytes(60_000)
        c.send(head)  # one TSO skb, in the device until its completion
        for i in range(50):
            c.send(bytes([i]) * 100)  # no event runs between these writes
        got = _drain(w, conn, 65_000)
        assert c.sk.cwnd * 1448 > 120_000
        assert got == head + b"".join(bytes([i]) * 100 for i in range(50))
        frames = [th for _t, th in wire if th.payload_len]
        if corking:
            assert mib["TCPAutoCorking"] > before
            assert len(frames) <= 3  # the head, then the 50 writes in one or two segments
        else:
            assert mib["TCPAutoCorking"] == before
            assert len(frames) == 51  # TCP_NODELAY: each write is a segment of its own


def _paced_rate(wire: list[tuple[int, TcpRepr]], skip: int = 10) -> float:
    data = [(t, th.payload_len) for t, th in wire if th.payload_len]
    first = data[skip][0]
    last = data[-1][0]
    sent = sum(n for _t, n in data[skip:-1])
    return sent * 1e9 / (last - first)


def test_so_max_pacing_rate_paces_tcp_on_the_wire_with_pfifo_fast() -> None:
    rate = 12_500_000  # 100 Mbit/s
    with World(seed=5) as w:
        a, _b, c, conn = _pair(w)
        c.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, rate)
        sk = c.sk
        assert sk.sk_pacing_status == SK_PACING_NEEDED and sk.sk_pacing_rate == rate
        wire = _wire(a)
        start = w.sched.now
        _pump(w, c, conn, bytes(2 * MIB), step="200us")
        elapsed = w.sched.now - start
        measured = _paced_rate(wire)
        assert 0.9 * rate < measured < 1.05 * rate
        assert elapsed > 0.85 * 2 * MIB * 1e9 / rate  # unpaced, 2 MiB take ~2 ms here
        data = [(t, th.payload_len) for t, th in wire if th.payload_len][20:80]
        # each skb leaves len/rate after the one before it (tcp_update_skb_after_send)
        ratios = [
            (t2 - t1) * rate / (n1 * 1e9)
            for (t1, n1), (t2, _n2) in zip(data, data[1:], strict=False)
        ]
        assert 0.95 < statistics.median(ratios) < 1.05
        info = c.sk.info()
        assert info.max_pacing_rate == rate and info.pacing_rate == rate


def test_fq_takes_over_pacing_from_tcp() -> None:
    rate = 12_500_000
    with World(seed=5) as w:
        a, _b, c, conn = _pair(w, "fq")
        c.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, rate)
        xmit = _xmit_times(a, 6)
        _pump(w, c, conn, bytes(2 * MIB), step="200us")
        sk = c.sk
        assert sk.sk_pacing_status == SK_PACING_FQ  # fq saw the socket: TCP stops pacing
        assert not sk.pacing_timer.pending()
        data = [(t, n) for t, n in xmit if n > 100]
        first, last = data[10][0], data[-1][0]
        measured = sum(n for _t, n in data[10:-1]) * 1e9 / (last - first)
        assert 0.9 * rate < measured < 1.1 * rate
        x = a.tc("eth0").xstats()
        assert x["throttled"] > 10 and x["flows"] >= 1


@pytest.mark.parametrize("kind", ["udp", "packet"])
def test_so_max_pacing_rate_paces_datagrams_under_fq(kind: str) -> None:
    rate = 1_000_000  # 8 Mbit/s: fq paces in quantum-sized bursts at this rate
    with World(seed=6) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="50us")
        q = a.tc("eth0", "fq")
        a.ping("10.0.0.2")  # resolve b's address first
        xmit = _xmit_times(a, 17)
        payload = bytes(1000)
        if kind == "udp":
            s = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("10.0.0.2", 9))
            send = s.send
        else:
            s = a.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind(("eth0", 0))
            frame = _udp_frame(a, b, payload)
            send = lambda _p: s.send(frame)  # noqa: E731
        s.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, struct.pack("=Q", rate))
        assert s.getsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, 8) == struct.pack("=Q", rate)
        for _ in range(60):
            send(payload)
        w.run_for("200ms")
        assert len(xmit) == 60
        span = xmit[-1][0] - xmit[0][0]
        paced = sum(n for _t, n in xmit) - q.initial_quantum  # the first 10 MTU are credit
        assert 0.8 * paced * 1e9 / rate < span < 1.2 * paced * 1e9 / rate + 5_000_000


def _udp_frame(a, b, payload: bytes) -> bytes:
    """An Ethernet/IPv4/UDP frame from a to b (checksums 0: b only has to receive it)."""
    src = a.net.kernel.dev_get_by_name("eth0").dev_addr
    dst = b.net.kernel.dev_get_by_name("eth0").dev_addr
    udp = struct.pack("!HHHH", 4000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0,
        64,
        17,
        0,
        socket.inet_aton("10.0.0.1"),
        socket.inet_aton("10.0.0.2"),
    )
    return bytes(dst) + bytes(src) + b"\x08\x00" + ip + udp


def test_fq_isolates_flows_and_enforces_flow_limit() -> None:
    with World(seed=7) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="50us")
        q = a.tc("eth0", "fq", pacing=False)
        a.ping("10.0.0.2")
        dev = a.net.kernel.dev_get_by_name("eth0")
        bulk = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bulk.connect(("10.0.0.2", 9))
        thin = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        thin.connect(("10.0.0.2", 10))
        xmit = _xmit_times(a, 17)
        flows = q.xstats()["flows"]  # ARP and ping made flows of their own
        netif_stop_queue(dev)
        for _ in range(300):
            bulk.send(bytes(1400))
        for i in range(5):
            thin.send(bytes([i]) * 100)
        x = q.xstats()
        assert x["flows_plimit"] == 200 and q.qlen == 105 and q.drops == 200
        assert x["flows"] - flows == 2
        netif_wake_queue(dev)
        w.run_for("5ms")
        sizes = [n for _t, n in xmit]
        assert len(sizes) == 105
        thin_at = [i for i, n in enumerate(sizes) if n == 128]
        assert len(thin_at) == 5 and max(thin_at) < 20  # not behind the bulk flow's 100


def test_tcp_info_pacing_and_delivery_fields_are_filled() -> None:
    with World(seed=8) as w:
        _a, _b, c, conn = _pair(w)
        _pump(w, c, conn, bytes(8 * MIB))
        w.run_for("1ms")  # the last ACKs
        i = c.sk.info()
        assert i.max_pacing_rate == PACING_RATE_UNLIMITED
        line = 1.25e9  # 10 Gbit/s in bytes/s
        assert 0.5 * line < i.pacing_rate < 20 * line
        expected = i.snd_cwnd * i.snd_mss * 1e6 / i.rtt * 1.2
        assert 0.9 * expected < i.pacing_rate < 2.1 * expected
        assert 0.1 * line < i.delivery_rate < 1.1 * line
        assert i.delivered >= 8 * MIB // i.snd_mss
        raw = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 248)
        assert struct.unpack_from("<QQ", raw, 104) == (i.pacing_rate, i.max_pacing_rate)


def _bulk_with_ping(qdisc: str):
    """Ping a -> b while a bulk transfer a -> b runs (its receiver reading all along)."""
    with World(seed=9) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        for h in (a, b):
            h.sysctl("net.ipv4.tcp_wmem", BUFS)
            h.sysctl("net.ipv4.tcp_rmem", BUFS)
        w.cable(a.eth0, b.eth0, latency="50us")
        a.tc("eth0", qdisc)
        b.spawn(bulk_receive(b, 5001))
        a.spawn(bulk_send(a, ("10.0.0.2", 5001), 1 << 30, seed=3))
        w.run_for("20ms")  # slow start is over; the queues are what they will be
        sk = next(s for s in a.net.tcp.ehash.values() if getattr(s, "rport", 0) == 5001)
        cwnd_before = sk.cwnd
        result = a.ping("10.0.0.2", count=20, interval="0.5ms")
        return result, sk, cwnd_before


# Issue 13's targets that Linux 6.x itself does not meet with cubic on pfifo_fast at 10 Gbit/s
# (docs/queues.md "What TSQ leaves below TCP").  TCP Small Queues lets sk_pacing_rate >>
# sk_pacing_shift (10: ~1 ms) stay below TCP, and the pacing rate is tcp_pacing_ca_ratio
# (120 %) of cwnd * mss / srtt.  cwnd grows while a flight reaches it (tcp_is_cwnd_limited), so
# it stops where cwnd * mss = C * srtt; there the TSQ limit is 1.2 * C / 1024 ~ 1.46 MB, about
# 1.17 ms of the link, all of it in one FIFO ahead of a ping: srtt ~ 0.22 + 1.17 ms, cwnd
# ~ C * srtt ~ 1,250 segments.  Measured after HyStart's ACK train, the 6.x cwnd-limited gate
# and partial-ACK RTT samples: ping median 1.37 ms (pfifo_fast; fq_codel 0.26, fq 0.24),
# netsim loss 0: 9.41 Gbit/s, srtt 1,413 us = 6.5x the idle 218 us, cwnd 1,280 (ssthresh 286).
TSQ_1MS = pytest.mark.xfail(strict=True, reason="unreachable for Linux 6.x itself: TSQ keeps "
                            "~1.2 ms of the link (pacing_rate >> 10) in pfifo_fast; measured "
                            "ping 1.37 ms, srtt 1,413 us (6.5x idle), cwnd 1,237-1,280")


@pytest.mark.parametrize(
    "qdisc",
    [
        pytest.param("pfifo_fast", marks=TSQ_1MS),
        "fq_codel",
        "fq",
    ],
)
def test_ping_during_a_bulk_transfer_stays_below_a_millisecond(qdisc: str) -> None:
    result, sk, _cwnd = _bulk_with_ping(qdisc)
    assert result.received == 20
    assert statistics.median(result.rtts) < 1_000_000
    assert sk.bytes_acked > 10 * MIB  # the transfer was running


@TSQ_1MS
def test_cwnd_stays_bounded_when_not_cwnd_limited() -> None:
    """tcp_is_cwnd_limited: once TSQ, not cwnd, holds the flow back, cwnd stops growing."""
    _result, sk, cwnd_before = _bulk_with_ping("pfifo_fast")
    bdp = 10e9 / 8 * 120e-6 / 1448  # ~100 us of RTT plus moderation at 10 Gbit/s
    assert sk.cwnd < 8 * bdp and sk.cwnd <= cwnd_before * 1.1


@TSQ_1MS
def test_netsim_at_loss_0_keeps_line_rate_with_a_short_queue() -> None:
    """Issue 13's netsim target: 9.3+ Gbit/s, srtt within 1.5x the idle ping RTT, cwnd that
    stops growing on a ~215-segment path (it ended at 10,712 segments before)."""
    point = measure_point(0.0, 100_000, 256 << 20)
    info = point.flow.sender_info
    with World(seed=1) as w:
        a = w.host("a", "10.0.0.1/24")
        w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, w.hosts["b"].eth0, latency="50us")
        idle = statistics.median(a.ping("10.0.0.2", count=5, interval="1ms").rtts) / 1000
    assert point.goodput_gbps >= 9.3
    assert info.rtt <= 1.5 * idle
    assert info.snd_cwnd < 4 * 215


def test_what_tsq_leaves_below_tcp_is_a_millisecond_of_the_pacing_rate() -> None:
    """Why the pfifo_fast targets above are out of Linux's reach: after slow start (ended by
    HyStart's ACK train) what waits below TCP is bounded by sk_pacing_rate >> 10 (plus the
    skb being sent), the rate is 120 % of cwnd * mss / srtt, and a ping through the same
    FIFO waits about that queue's wire time on top of the idle RTT."""
    result, sk, _cwnd = _bulk_with_ping("pfifo_fast")
    mib = sk.net.mib.tcpext
    assert mib["TCPHystartTrainDetect"] == 1 and sk.ssthresh < 500
    limit = sk.sk_pacing_rate >> sk.sk_pacing_shift
    assert sk.sk_pacing_shift == 10 and 1 << 20 < limit < 4 << 20
    assert sk.wmem_alloc <= limit + 2 * (64 << 10)
    expected = sk.mss_cache * max(sk.cwnd, sk.packets_out) * 1.2e6 / (sk.srtt_us >> 3)
    assert 0.95 < sk.sk_pacing_rate / expected < 1.05
    line = 10e9 / 8
    queue_ns = sk.wmem_alloc / line * 1e9
    assert 0.7 < (statistics.median(result.rtts) - 218_000) / queue_ns < 1.3
