"""fq_codel and the qdisc registry: CoDel's control law, fair queueing, ECN marking, tc.

The bottleneck is a dummy driver that takes one frame, stops its queue and wakes it when the
frame would have finished serializing at ``RATE`` — a slow link with real backpressure, so
the qdisc holds the standing queue and CoDel has something to control.
"""

from __future__ import annotations

import errno
import math
import statistics
import struct

import pytest
from helpers.dummy import DummyHost, DummyOps

from fastpath import internet_checksum
from ixsim import World
from ixsim.tc import parse_params, qdisc_show, tc_replace
from stack.core import NETDEV_TX_OK, dev_consume_skb_any, dev_queue_xmit, netif_stop_queue
from stack.core.qdisc import QDISC_OPS, PfifoFast, qdisc_create
from stack.core.skbuff import alloc_skb
from stack.sched.codel import (
    REC_INV_SQRT_SHIFT,
    CodelVars,
    codel_time,
    control_law,
    ms2time,
    newton_step,
)
from stack.sched.ecn import inet_ecn_set_ce
from stack.sched.fq_codel import FqCodel

RATE = 10_000_000  # bits/s of the bottleneck
MS = 1_000_000


class PacedOps(DummyOps):
    """One frame on the wire at a time; the queue wakes when it has left."""

    def ndo_start_xmit(self, skb, dev):
        data = skb.tobytes()
        self.sent.append((data, skb.xmit_more, dev.kernel.sched.now))
        dev_consume_skb_any(skb)
        netif_stop_queue(dev)
        wire_ns = (len(data) + 24) * 8 * 1_000_000_000 // RATE
        dev.kernel.sched.call_later(wire_ns, self._wake, dev)
        return NETDEV_TX_OK

    def _wake(self, dev):
        from stack.core import netif_wake_queue

        netif_wake_queue(dev)


def paced_host() -> DummyHost:
    h = DummyHost()
    h.ops = PacedOps(h)
    h.dev.netdev_ops = h.ops
    h.up()
    return h


def udp_frame(flow: int, seq: int, now: int, tos: int = 0, size: int = 1000) -> bytes:
    """An IPv4/UDP frame of flow ``flow`` (its source port) carrying (seq, send time)."""
    payload = struct.pack("!IQ", seq, now).ljust(size - 28, b"\0")
    udp = struct.pack("!HHHH", 10000 + flow, 9, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(udp), seq & 0xFFFF, 0,
                               64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])))
    struct.pack_into("!H", ip, 10, internet_checksum(bytes(ip)))
    return bytes(6 * [2]) + bytes(6 * [4]) + b"\x08\x00" + bytes(ip) + udp


def offer(h: DummyHost, data: bytes) -> int:
    skb = alloc_skb(h.kernel, len(data) + 64)
    skb.reserve(64)
    skb.put_data(data)
    skb.dev = h.dev
    return dev_queue_xmit(skb)


def run_flows(h: DummyHost, flows: dict[int, int], duration_ns: int, tos: int = 0) -> None:
    """Flow -> interval between its packets (ns), for ``duration_ns`` of virtual time."""
    seqs = dict.fromkeys(flows, 0)

    def send(flow: int) -> None:
        now = h.sched.now
        if now >= duration_ns:
            return
        offer(h, udp_frame(flow, seqs[flow], now, tos))
        seqs[flow] += 1
        h.sched.call_later(flows[flow], send, flow)

    for flow in flows:
        h.sched.call_soon(send, flow)
    h.sched.run_for(duration_ns + 3000 * MS)


def sojourns(h: DummyHost, flow: int, after_ns: int = 0) -> list[int]:
    out = []
    for data, _more, t in h.ops.sent:
        if struct.unpack_from("!H", data, 34)[0] != 10000 + flow:
            continue
        sent_at = struct.unpack_from("!Q", data, 46)[0]
        if sent_at >= after_ns:
            out.append(t - sent_at)
    return out


# -- CoDel's arithmetic, as Linux's ------------------------------------------------------------
def test_control_law_is_interval_over_sqrt_count() -> None:
    v = CodelVars()
    v.count = 1
    v.rec_inv_sqrt = 0xFFFF_FFFF >> REC_INV_SQRT_SHIFT
    interval = ms2time(100)
    for count in range(2, 200):
        v.count = count
        newton_step(v)
        if count >= 10:  # one Newton step per count converges within a few counts
            got = control_law(0, interval, v.rec_inv_sqrt)
            assert got == pytest.approx(interval / math.sqrt(count), rel=0.02), count


def test_codel_time_is_ns_shifted_by_ten_and_wraps() -> None:
    assert codel_time(1024) == 1 and ms2time(100) == 100_000_000 >> 10
    assert codel_time((1 << 42) + 2048) == 2


# -- fq_codel at a bottleneck ---------------------------------------------------------------------
OVERLOAD = 760_000  # ns between 1000-byte packets: 1.09x what the 10 Mbit/s link carries


def test_pfifo_fast_lets_the_queue_stand_fq_codel_controls_it() -> None:
    base = paced_host()
    run_flows(base, {1: OVERLOAD}, 10_000 * MS)
    standing = statistics.median(sojourns(base, 1, after_ns=5000 * MS))
    assert standing > 400 * MS  # pfifo_fast: the queue stands, growing to 1000 packets
    assert base.dev.qdisc.drops > 0  # and overflows

    h = paced_host()
    q = tc_replace(h.dev, "fq_codel")
    run_flows(h, {1: OVERLOAD}, 10_000 * MS)
    controlled = statistics.median(sojourns(h, 1, after_ns=5000 * MS))
    assert 5 * MS < controlled < standing / 10  # CoDel holds it near its target
    assert q.drops > 500 and q.cstats.drop_count == q.drops  # CoDel's drops, not overlimit
    assert q.drop_overlimit == 0 and q.qlen == 0
    offered = len(range(0, 10_000 * MS, OVERLOAD))
    assert len(h.ops.sent) + q.drops == offered


def test_drops_follow_linux_control_law(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first drop comes an interval after the sojourn time went above target; the k-th
    gap is interval x r_k, where r_k is Linux's one-Newton-step-per-count estimate of
    1/sqrt(k) (r_1 = 1, r_k = r(3 - k r^2)/2: 0.5 at k = 2, not 0.707)."""
    h = paced_host()
    times: list[int] = []
    drop = FqCodel._codel_drop

    def record(self: FqCodel, skb: object) -> None:
        times.append(h.sched.now)
        drop(self, skb)

    monkeypatch.setattr(FqCodel, "_codel_drop", record)
    tc_replace(h.dev, "fq_codel")
    run_flows(h, {1: OVERLOAD}, 2000 * MS)
    r, expected = 1.0, [100 * MS]
    for k in range(2, 12):
        r = r * (3 - k * r * r) / 2
        expected.append(100 * MS * r)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)][:len(expected)]
    packet_ns = (1000 + 24) * 8 * 1_000_000_000 // RATE
    for got, want in zip(gaps, expected, strict=True):
        assert abs(got - want) <= 2 * packet_ns, (gaps, expected)


def test_a_sparse_flow_skips_the_fat_flows_queue() -> None:
    h = paced_host()
    tc_replace(h.dev, "fq_codel")
    run_flows(h, {1: OVERLOAD, 2: 50 * MS}, 3000 * MS)
    fat = statistics.median(sojourns(h, 1, after_ns=1000 * MS))
    sparse = sojourns(h, 2, after_ns=1000 * MS)
    assert max(sparse) < 2 * MS < fat  # new_flows are served first (the sparse optimisation)
    assert len(sparse) == len(range(1000 * MS, 3000 * MS, 50 * MS))  # none dropped


def test_ecn_capable_packets_are_marked_not_dropped() -> None:
    h = paced_host()
    q = tc_replace(h.dev, "fq_codel")
    run_flows(h, {1: OVERLOAD}, 3000 * MS, tos=0x02)  # ECT(0)
    assert q.drops == 0 and q.cstats.ecn_mark > 20
    marked = 0
    for data, _more, _t in h.ops.sent:
        ip = data[14:34]
        assert internet_checksum(ip) == 0  # the incremental checksum update is right
        marked += ip[1] & 3 == 3
    assert marked == q.cstats.ecn_mark
    noecn = paced_host()
    q2 = tc_replace(noecn.dev, "fq_codel", ecn=False)
    run_flows(noecn, {1: OVERLOAD}, 3000 * MS, tos=0x02)
    assert q2.cstats.ecn_mark == 0 and q2.drops > 20


def test_set_ce_leaves_not_ect_alone() -> None:
    h = DummyHost()
    for tos, expect, after in ((0x00, False, 0x00), (0x02, True, 0x03), (0x01, True, 0x03),
                               (0x03, True, 0x03), (0xB8, False, 0xB8)):
        skb = alloc_skb(h.kernel, 200)
        skb.put_data(udp_frame(1, 1, 0, tos=tos, size=100))
        assert inet_ecn_set_ce(skb) is expect
        ip = skb.tobytes()[14:34]
        assert ip[1] == after and internet_checksum(ip) == 0


def test_overlimit_drops_from_the_fattest_flow() -> None:
    h = paced_host()
    q = tc_replace(h.dev, "fq_codel", limit=20, drop_batch=64)
    netif_stop_queue(h.dev)
    h.dev._tx[0].stopped = True
    for i in range(30):
        offer(h, udp_frame(1, i, 0))
    for i in range(4):
        offer(h, udp_frame(2, i, 0))
    # the 21st packet found 20 queued: half of flow 1's backlog went, then again
    assert q.drop_overlimit == q.drops and q.drops >= 10
    assert q.flows[q.classify(_skb_of(h, udp_frame(2, 0, 0)))].dropped == 0
    assert q.qlen <= 20


def _skb_of(h: DummyHost, data: bytes):
    skb = alloc_skb(h.kernel, len(data))
    skb.put_data(data)
    return skb


# -- tc and the registry -------------------------------------------------------------------
def test_tc_on_a_host_and_its_display() -> None:
    with World(seed=1) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0)
        assert isinstance(a.tc("eth0"), PfifoFast)
        q = a.tc("eth0", "fq_codel", target=2, interval=50, limit=500)
        assert a.eth0.qdisc is q and q.active
        assert a.ping("10.0.0.2", count=3).received == 3
        lines = qdisc_show(a.eth0)
        assert lines[0] == ("qdisc fq_codel 0: dev eth0 root refcnt 2 limit 500p flows 1024 "
                            "quantum 1514 target 2ms interval 50ms memory_limit 32Mb ecn "
                            "drop_batch 64")
        assert lines[1].startswith(" Sent ") and "(dropped 0," in lines[1]
        assert lines[3].startswith("  maxpacket 98 drop_overlimit 0 new_flow_count ")
        with pytest.raises(OSError) as err:
            a.tc("eth0", "cake")
        assert err.value.errno == errno.ENOENT
        with pytest.raises(OSError) as err:
            a.tc("eth0", "fq_codel", flows=0)
        assert err.value.errno == errno.EINVAL
        with pytest.raises(OSError) as err:
            a.tc("eth0", "fq_codel", bogus=1)
        assert err.value.errno == errno.EINVAL
        with pytest.raises(OSError) as err:
            a.tc("eth9")
        assert err.value.errno == errno.ENODEV


def test_default_qdisc_applies_at_first_activation_only() -> None:
    with World(seed=1) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        with pytest.raises(OSError) as err:
            a.sysctl("net.core.default_qdisc", "cake")
        assert err.value.errno == errno.ENOENT
        a.sysctl("net.core.default_qdisc", "fq_codel")
        assert a.sysctl("net.core.default_qdisc") == "fq_codel"
        assert a.sysctl()["net.core.default_qdisc"] == "fq_codel"
        cable = w.cable(a.eth0, b.eth0)
        assert a.eth0.qdisc.kind == "fq_codel" and b.eth0.qdisc.kind == "pfifo_fast"
        assert a.ping("10.0.0.2", count=2).received == 2
        a.sysctl("net.core.default_qdisc", "pfifo_fast")
        cable.unplug()
        w.run_for("100ms")
        cable.plug()
        w.wait_link(a.eth0)
        assert a.eth0.qdisc.kind == "fq_codel"  # Linux keeps the qdisc a device had


def test_parse_params_reads_tc_words() -> None:
    assert parse_params("fq_codel", ["target", "5ms", "interval", "100ms", "limit", "1000p",
                                     "noecn", "memory_limit", "4Mb"]) == {
        "target": 5.0, "interval": 100.0, "limit": 1000, "ecn": False, "memory_limit": 4 << 20}
    assert parse_params("fq_codel", ["ce_threshold", "500us"]) == {"ce_threshold": 0.5}
    for words in (["target"], ["target", "fast"], ["limit", "lots"]):
        with pytest.raises(OSError) as err:
            parse_params("fq_codel", words)
        assert err.value.errno == errno.EINVAL
    assert set(QDISC_OPS) >= {"pfifo_fast", "fq_codel"}
    h = DummyHost()
    assert isinstance(qdisc_create(h.dev, "fq_codel"), FqCodel)
