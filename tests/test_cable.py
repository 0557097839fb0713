"""Ports, cables and impairment stages on virtual time (device/port.py, cable.py, impair.py)."""

from __future__ import annotations

import io
import random

import pytest

from device.cable import Cable, wire_time_ns
from device.impair import CeMark, Corrupt, Delay, Duplicate, Loss, PcapTap, Reorder
from device.pcap import PcapWriter, read_pcap
from device.port import Port
from ixsim.sched import Scheduler
from stack.wire import Ipv4Repr

GBIT10 = 10_000_000_000


def frame(seq: int, size: int = 60) -> bytes:
    """A frame whose bytes 14..17 carry a sequence number, padded to ``size``."""
    head = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5"
    body = seq.to_bytes(4, "big")
    return (head + body).ljust(size, bytes([seq & 0xFF]))


def seq_of(data: bytes) -> int:
    return int.from_bytes(data[14:18], "big")


class Recorder:
    """A stand-in MAC: records (time, frame) on receive and every link change."""

    def __init__(self, sched: Scheduler, port: Port) -> None:
        self.sched = sched
        self.frames: list[tuple[int, bytes]] = []
        self.links: list[bool] = []
        port.attach(self.on_receive, self.links.append)

    def on_receive(self, data: bytes) -> None:
        self.frames.append((self.sched.now, data))


def pair(seed: int = 1, **kwargs):
    sched = Scheduler(seed=seed)
    a, b = Port(sched, "a"), Port(sched, "b")
    ra, rb = Recorder(sched, a), Recorder(sched, b)
    cable = Cable(sched, a, b, **kwargs)
    return sched, a, b, ra, rb, cable


# -- ports ----------------------------------------------------------------------------------


def test_port_without_medium_drops_and_counts():
    sched = Scheduler()
    port = Port(sched, "p")
    assert not port.link_up
    port.transmit(frame(1))
    assert port.tx_dropped_link_down == 1 and port.tx_frames == 0
    with pytest.raises(RuntimeError):
        port.set_link(True)


def test_cable_brings_link_up_and_counts():
    sched, a, b, ra, rb, cable = pair()
    assert a.link_up and b.link_up
    assert ra.links == [True] and rb.links == [True]
    a.transmit(frame(1, 100))
    sched.run_for(10_000)
    assert (a.tx_frames, a.tx_bytes, b.rx_frames, b.rx_bytes) == (1, 100, 1, 100)
    assert cable.ab.stats()["delivered"] == 1 and cable.ba.stats()["frames"] == 0


def test_port_cannot_take_two_media():
    sched, a, b, *_ = pair()
    c = Port(sched, "c")
    with pytest.raises(RuntimeError):
        Cable(sched, c, a)
    assert c.medium is None  # the half-made cable let go of c


def test_delivery_is_a_scheduled_event_never_a_direct_call():
    sched, a, b, ra, rb, cable = pair(latency_ns=0)
    a.transmit(frame(1))
    assert rb.frames == []  # not delivered inside transmit
    handle = sched.peek()
    assert handle is not None and "a->b" in handle.name
    sched.step()
    assert len(rb.frames) == 1


def test_ping_pong_from_receive_handler_does_not_recurse():
    sched, a, b, ra, rb, cable = pair(latency_ns=100)
    echo_count = 0

    def echo(data: bytes) -> None:
        nonlocal echo_count
        echo_count += 1
        if echo_count < 2000:
            b.transmit(data)

    b.attach(echo, lambda up: None)
    a.attach(lambda data: a.transmit(data), lambda up: None)
    a.transmit(frame(1))
    sched.run_for(1_000_000_000)
    assert echo_count == 2000


def test_taps_see_tx_and_rx_with_times():
    sched, a, b, ra, rb, cable = pair(latency_ns=1000)
    seen: list[tuple[str, str, int, bytes]] = []
    a.trace_frame.append(lambda d, t, f: seen.append(("a", d, t, f)))
    b.trace_frame.append(lambda d, t, f: seen.append(("b", d, t, f)))
    sched.run_for(500)
    data = frame(7, 1514)
    a.transmit(data)
    sched.run_for(10_000)
    assert seen == [("a", "tx", 500, data), ("b", "rx", 500 + 1230 + 1000, data)]


# -- serialization timing --------------------------------------------------------------------


def test_one_full_frame_timing_is_exact():
    assert wire_time_ns(1514, GBIT10) == pytest.approx(1230.4)
    sched, a, b, ra, rb, cable = pair(latency_ns=5000)
    a.transmit(frame(0, 1514))
    assert cable.ab.busy_until == 1230  # 1230.4 ns, remainder carried
    sched.run_for(1_000_000)
    assert [t for t, _ in rb.frames] == [1230 + 5000]


def test_back_to_back_frames_queue_and_never_drift():
    sched, a, b, ra, rb, cable = pair(latency_ns=2000)
    n = 1000
    for i in range(n):
        a.transmit(frame(i, 1514))
    sched.run_for(10_000_000)
    times = [t for t, _ in rb.frames]
    # exact: frame k (1-based) ends at floor(k * 1230.4) ns
    assert times == [(k * 12304) // 10 + 2000 for k in range(1, n + 1)]
    assert times[-1] == 1_230_400 + 2000
    assert [seq_of(f) for _, f in rb.frames] == list(range(n))


def test_idle_line_starts_at_now_and_drops_carry():
    sched, a, b, ra, rb, cable = pair()
    a.transmit(frame(0, 1514))  # ends at 1230 (+0.4 carried)
    sched.run_for(5000)
    a.transmit(frame(1, 1514))  # line idle: starts at 5000
    sched.run_for(5000)
    assert [t for t, _ in rb.frames] == [1230, 6230]


def test_min_frames_and_other_rates():
    # 60-byte frame + 24 = 84 bytes = 672 bits: 67.2 ns at 10G, 672 ns at 1G, 6720 at 100M
    for rate, each in ((GBIT10, 67.2), (1_000_000_000, 672), (100_000_000, 6720)):
        sched, a, b, ra, rb, cable = pair(rate_bps=rate)
        for i in range(10):
            a.transmit(frame(i))
        sched.run_for(1_000_000)
        assert [t for t, _ in rb.frames] == [int(k * each + 1e-9) for k in range(1, 11)]


def test_directions_are_independent_full_duplex():
    sched, a, b, ra, rb, cable = pair(latency_ns=100)
    a.transmit(frame(1, 1514))
    b.transmit(frame(2, 1514))
    sched.run_for(10_000)
    assert [t for t, _ in rb.frames] == [1330]
    assert [t for t, _ in ra.frames] == [1330]


def test_mixed_sizes_are_never_reordered():
    sched, a, b, ra, rb, cable = pair(latency_ns=777)
    rng = random.Random(5)
    for i in range(3000):
        a.transmit(frame(i, rng.randrange(60, 9000)))
        if rng.random() < 0.1:
            sched.run_for(rng.randrange(0, 20_000))
    sched.run_for(100_000_000)
    assert [seq_of(f) for _, f in rb.frames] == list(range(3000))
    times = [t for t, _ in rb.frames]
    assert all(x < y for x, y in zip(times, times[1:], strict=False))


# -- impairments -----------------------------------------------------------------------------


def run_impaired(seed: int, stages, n: int = 10_000, size: int = 200, gap: int = 0):
    sched, a, b, ra, rb, cable = pair(seed=seed, latency_ns=1000, stages=stages)
    for i in range(n):
        a.transmit(frame(i, size))
        if gap:
            sched.run_for(gap)
    sched.run_for(1_000_000_000)
    return rb.frames, cable


def test_loss_within_bounds_and_reproducible():
    delivered, cable = run_impaired(3, [Loss(0.1)])
    lost = cable.ab.dropped_loss
    assert 850 <= lost <= 1150  # binomial(10000, 0.1): sd 30, +-5 sd
    assert len(delivered) == 10_000 - lost
    seqs = [seq_of(f) for _, f in delivered]
    assert seqs == sorted(seqs)
    again, _ = run_impaired(3, [Loss(0.1)])
    assert again == delivered
    other, _ = run_impaired(4, [Loss(0.1)])
    assert other != delivered


def test_duplicate_within_bounds():
    delivered, cable = run_impaired(3, [Duplicate(0.05)])
    dup = cable.ab.duplicated
    assert 390 <= dup <= 610  # sd ~22
    assert len(delivered) == 10_000 + dup
    seqs = [seq_of(f) for _, f in delivered]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10_000


def test_corrupt_flips_exactly_one_bit_after_header():
    stage = Corrupt(0.2, keep_header=True)
    delivered, cable = run_impaired(3, [stage])
    sent = {i: frame(i, 200) for i in range(10_000)}
    assert len(delivered) == 10_000
    damaged = 0
    for index, (_, data) in enumerate(delivered):
        original = sent[index]
        if data != original:
            damaged += 1
            diff = [(i, x ^ y) for i, (x, y) in enumerate(zip(data, original, strict=True))]
            diff = [(i, d) for i, d in diff if d]
            assert len(diff) == 1 and diff[0][0] >= 14 and bin(diff[0][1]).count("1") == 1
    assert damaged == cable.ab.corrupted
    assert 1800 <= damaged <= 2200  # sd 40


def test_corrupt_without_keep_header_can_hit_header():
    delivered, cable = run_impaired(3, [Corrupt(1.0)], n=2000, size=60)
    hit_header = sum(1 for i, (_, d) in enumerate(delivered) if d[:14] != frame(i)[:14])
    assert 300 <= hit_header <= 640  # 14/60 of 2000 = 467


def test_reorder_holds_frames_back_and_later_frames_pass():
    delivered, cable = run_impaired(3, [Reorder(0.05, 50_000)], gap=1000)
    held = cable.ab.reordered
    assert 390 <= held <= 610
    seqs = [seq_of(f) for _, f in delivered]
    assert sorted(seqs) == list(range(10_000))  # nothing lost, nothing doubled
    assert seqs != list(range(10_000))
    overtaken = sum(1 for x, y in zip(seqs, seqs[1:], strict=False) if x > y)
    assert overtaken > 0.8 * held


def test_delay_with_jitter_keeps_order_unless_asked():
    delivered, cable = run_impaired(3, [Delay(10_000, 5_000)], n=2000, gap=500)
    seqs = [seq_of(f) for _, f in delivered]
    assert seqs == list(range(2000))
    # 200-byte frames take 179.2 ns; the line is idle between them
    extra = [t - (i * 500 + 179 + 1000) for i, (t, _) in enumerate(delivered)]
    assert min(extra) >= 10_000 and max(extra) <= 15_000
    jumbled, _ = run_impaired(3, [Delay(10_000, 5_000, reorder=True)], n=2000, gap=500)
    assert [seq_of(f) for _, f in jumbled] != list(range(2000))


def test_all_stages_byte_for_byte_reproducible():
    def stages():
        return [
            Loss(0.02),
            Duplicate(0.02),
            Reorder(0.02, 20_000),
            Corrupt(0.02),
            Delay(1000, 3000),
        ]

    first, _ = run_impaired(11, stages(), n=3000, gap=300)
    second, _ = run_impaired(11, stages(), n=3000, gap=300)
    assert first == second
    third, _ = run_impaired(12, stages(), n=3000, gap=300)
    assert third != first


def test_explicit_rng_overrides_world_rng():
    first, _ = run_impaired(1, [Loss(0.3, random.Random(99))], n=1000)
    second, _ = run_impaired(2, [Loss(0.3, random.Random(99))], n=1000)
    assert first == second


def test_reverse_direction_gets_independent_forked_stages():
    sched, a, b, ra, rb, cable = pair(stages=[Delay(10_000)])
    assert cable.ab.stages[0] is not cable.ba.stages[0]
    b.transmit(frame(1, 9000))  # b->a: 7219 ns on the wire, leaves Delay at 17219
    a.transmit(frame(2))  # a->b: 67 ns; a shared Delay would hold it until 17219
    sched.run_for(1_000_000)
    assert [t for t, _ in ra.frames] == [7219 + 10_000]
    assert [t for t, _ in rb.frames] == [67 + 10_000]


def test_pcap_tap_stage_records_virtual_times():
    buf = io.BytesIO()
    writer = PcapWriter(buf, nanosecond=True)
    sched, a, b, ra, rb, cable = pair(latency_ns=3000, stages=[Loss(0.5), PcapTap(writer)])
    for i in range(100):
        a.transmit(frame(i, 1514))
    sched.run_for(10_000_000)
    writer.flush()
    buf.seek(0)
    assert read_pcap(buf) == rb.frames  # a tap placed last records exactly what arrives
    assert cable.ab.stats()["dropped_loss"] == 100 - len(rb.frames)


# -- link control ----------------------------------------------------------------------------


def test_unplug_loses_in_flight_frames_and_plug_restores():
    sched, a, b, ra, rb, cable = pair(latency_ns=10_000)
    for i in range(5):
        a.transmit(frame(i, 1514))
    b.transmit(frame(100))
    sched.run_for(11_000)  # first a->b frame (11230) still in flight; b->a arrived at 10067
    cable.unplug()
    assert not a.link_up and not b.link_up
    assert ra.links == [True, False] and rb.links == [True, False]
    assert cable.ab.dropped_link == 5 and cable.ab.in_flight == 0
    assert cable.ba.dropped_link == 0 and len(ra.frames) == 1
    a.transmit(frame(9))
    assert a.tx_dropped_link_down == 1
    sched.run_for(1_000_000)
    assert rb.frames == []  # stale events fire but deliver nothing
    cable.unplug()  # idempotent: no second callback
    assert ra.links == [True, False]
    cable.plug()
    assert ra.links == [True, False, True] and rb.links == [True, False, True]
    start = sched.now
    a.transmit(frame(10, 1514))
    sched.run_for(1_000_000)
    assert [(t - start, seq_of(f)) for t, f in rb.frames] == [(1230 + 10_000, 10)]


def test_detach_frees_ports_for_another_cable():
    sched, a, b, ra, rb, cable = pair()
    cable.detach()
    assert a.medium is None and not a.link_up and ra.links == [True, False]
    c = Port(sched, "c")
    Cable(sched, a, c)
    assert a.link_up and ra.links == [True, False, True]


# -- the debugger's knob ---------------------------------------------------------------------


def test_set_impairment_adds_updates_and_removes():
    sched, a, b, ra, rb, cable = pair()
    cable.set_impairment("loss", 1.0)
    for i in range(10):
        a.transmit(frame(i))
    sched.run_for(100_000)
    assert rb.frames == [] and cable.ab.dropped_loss == 10
    cable.set_impairment("loss", 0.0)
    a.transmit(frame(10))
    sched.run_for(100_000)
    assert len(rb.frames) == 1
    cable.set_impairment("loss", None)
    assert cable.ab.stages == [] and cable.ab.dropped_loss == 10  # counts survive removal
    cable.set_impairment("dup", 1.0, direction="ba")
    b.transmit(frame(11))
    a.transmit(frame(12))
    sched.run_for(100_000)
    assert len(ra.frames) == 2 and len(rb.frames) == 2 and cable.ba.duplicated == 1
    with pytest.raises(ValueError):
        cable.set_impairment("reorder", 0.1)  # a new reorder needs its delay
    with pytest.raises(ValueError):
        cable.set_impairment("loss", 1.5)
    with pytest.raises(ValueError):
        cable.set_impairment("jam", 1)


def test_set_impairment_lowering_delay_keeps_order_and_goes_before_trailing_tap():
    buf = io.BytesIO()
    writer = PcapWriter(buf, nanosecond=True)
    sched, a, b, ra, rb, cable = pair(stages=[PcapTap(writer)])
    cable.set_impairment("delay", (100_000, 0))
    assert isinstance(cable.ab.stages[0], Delay) and isinstance(cable.ab.stages[1], PcapTap)
    a.transmit(frame(0))
    cable.set_impairment("delay", 0)
    a.transmit(frame(1))
    sched.run_for(1_000_000)
    assert [seq_of(f) for _, f in rb.frames] == [0, 1]
    cable.set_impairment("corrupt", 0.5)
    cable.set_impairment("reorder", (0.1, 5000))
    cable.set_impairment("reorder", 0.2)
    reorder = next(s for s in cable.ab.stages if isinstance(s, Reorder))
    assert (reorder.p, reorder.delay_ns) == (0.2, 5000)


def test_bad_parameters_are_refused():
    sched = Scheduler()
    with pytest.raises(ValueError):
        Cable(sched, Port(sched, "x"), Port(sched, "y"), rate_bps=0)
    with pytest.raises(ValueError):
        Cable(sched, Port(sched, "x"), Port(sched, "y"), latency_ns=-1)
    with pytest.raises(ValueError):
        Delay(-5)
    with pytest.raises(ValueError):
        Reorder(0.1, 1.5)  # type: ignore[arg-type]


def ip_frame(ecn: int, vlan: bool = False) -> bytes:
    """An Ethernet frame with an IPv4/UDP header whose TOS byte has DSCP 0x28 and ``ecn``."""
    ip = Ipv4Repr(bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), 17, 8, dscp=10, ecn=ecn)
    hdr = bytearray(ip.buffer_len())
    ip.emit(hdr, 0)
    tag = b"\x81\x00\x00\x05" if vlan else b""
    return b"\x02" * 6 + b"\x04" * 6 + tag + b"\x08\x00" + bytes(hdr) + bytes(8)


def test_ce_marks_only_ect_ipv4_packets_and_keeps_the_checksum_valid():
    sched, a, b, ra, rb, cable = pair(stages=[CeMark(1.0, rng=random.Random(1))])
    sent = [ip_frame(0), ip_frame(1), ip_frame(2), ip_frame(3), ip_frame(2, vlan=True),
            frame(7)]
    for f in sent:
        a.transmit(f)
    sched.run_for(1_000_000)
    got = [f for _, f in rb.frames]
    assert got[0] == sent[0] and got[3] == sent[3] and got[5] == sent[5]  # untouched
    for f, off in ((got[1], 14), (got[2], 14), (got[4], 18)):
        ip = Ipv4Repr.parse(f[off:off + 28])  # parse checks the header checksum
        assert (ip.ecn, ip.dscp) == (3, 10)
    assert cable.ab.ce_marked == 3 and cable.ab.stats()["ce_marked"] == 3


def test_ce_probability_and_set_impairment():
    sched, a, b, ra, rb, cable = pair()
    cable.set_impairment("ce", 0.25)
    assert isinstance(cable.ab.stages[0], CeMark)
    for _ in range(2000):
        a.transmit(ip_frame(2))
    sched.run_for(10_000_000)
    assert 400 < cable.ab.ce_marked < 600
    assert sum(f[15] & 3 == 3 for _, f in rb.frames) == cable.ab.ce_marked
    cable.set_impairment("ce", None)
    assert cable.ab.stages == [] and cable.ab.ce_marked == cable.ab.stats()["ce_marked"]
