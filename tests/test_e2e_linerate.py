"""Line-rate transmission, the TX FIFO, 802.3x PAUSE and Byte Queue Limits, end to end.

The device alone (qtest style) for the TX timing, two ixgb hosts (``DriverPair``) for what
the driver and the core do under backpressure.  docs/hardware.md §1.10; stack/core/dql.py.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from helpers.driver import DriverPair
from helpers.qtest import make_rig

from device.cable import wire_time_ns
from device.pcap import PcapWriter
from device.spec import desc as D
from device.spec import regs as R
from device.spec.mac import TX_FIFO_BYTES
from stack.core import bql_show, bql_store, netdev_get_tx_queue, netif_queue_stopped

EOP, RS = D.TXD_CMD_EOP, D.TXD_CMD_RS
RATE = 10_000_000_000
FULL = 1514


def test_1000_back_to_back_full_frames_take_their_wire_time_and_dd_follows_the_wire():
    rig = make_rig()
    rig.setup_tx(count=1024)
    rig.rd(R.ICR)
    frame = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + bytes(FULL - 14)
    buf = rig.buffer(frame)
    for i in range(1000):
        rig.tx_desc(i, buf, FULL, EOP | RS)
    per_frame = wire_time_ns(FULL, RATE)
    assert per_frame == pytest.approx(1230.4)  # 1538 byte times
    t0 = rig.sched.now
    rig.wr(R.TDT, 1000)
    # Half way: exactly the frames whose last bit has left are done (TDH catches up on
    # read); no descriptor beyond them has DD.
    rig.sched.run_until_time(t0 + int(500 * per_frame))
    assert rig.rd(R.TDH) == 500
    assert rig.tx_status(499) == D.TXD_STAT_DD or rig.nic.tx.state()["on_wire"] > 0
    assert all(rig.tx_status(i) == 0 for i in range(500, 1000))
    assert rig.nic.tx.fifo_peak <= TX_FIFO_BYTES + FULL  # bounded FIFO, fetched as it frees
    rig.sched.run_until(lambda: rig.rd(R.TDH) == 1000, timeout="10ms")
    assert rig.sched.now - t0 >= 1000 * per_frame
    assert rig.sched.now - t0 == int(1000 * per_frame)  # back to back, no drift
    assert all(rig.tx_status(i) == D.TXD_STAT_DD for i in range(1000))
    rig.run()
    assert len(rig.wire) == 1000
    # The cable never queued behind the NIC: the lane's serializer ended with the last frame.
    lane = rig.cable.ab if rig.cable.a is rig.nic.port else rig.cable.ba
    assert lane.busy_until == t0 + int(1000 * per_frame)


def test_ring_fills_driver_stops_and_the_qdisc_holds_the_backlog():
    w = DriverPair(params_a={"TxDescriptors": 64})
    txq = netdev_get_tx_queue(w.a.netdev, 0)
    bql_store(txq, "limit_min", 1 << 24)  # let the ring, not BQL, be the bound here
    frames = [w.frame(w.a, FULL, seq=i) for i in range(400)]
    for f in frames:
        w.send(w.a, f)
    q = w.a.netdev.qdisc
    assert netif_queue_stopped(w.a.netdev) and q.qlen > 300
    t0 = w.sched.now
    w.run("2ms")
    assert w.b.frames() == frames
    assert q.qlen == 0 and not netif_queue_stopped(w.a.netdev)
    # The last frame cannot have left before 400 wire times.
    assert w.a.nic.tx.wire_free - t0 >= 400 * (FULL + 24) * 8 // 10  # 400 x 1230.4 ns


def test_bql_limit_grows_when_starved_and_bounds_the_bytes_in_flight():
    w = DriverPair()
    txq = netdev_get_tx_queue(w.a.netdev, 0)
    dql = txq.dql
    assert bql_show(txq) == {"hold_time": 1000, "inflight": 0, "limit": 0,
                             "limit_max": dql.max_limit, "limit_min": 0}
    peak = 0
    over = []

    def watch(kind, off, value, old):
        nonlocal peak
        if kind == "w" and off == R.TDT:
            peak = max(peak, dql.inflight)
            # STACK_XOFF is set once a packet takes inflight past the limit: at most one
            # packet (plus the xmit_more burst it closed) above it.
            if dql.inflight > dql.limit + FULL:
                over.append((dql.inflight, dql.limit))

    w.a.nic.trace_mmio.append(watch)
    for burst in range(20):
        for i in range(100):
            w.send(w.a, w.frame(w.a, FULL, seq=burst * 100 + i))
        w.run("200us")
    w.run("1ms")
    assert len(w.b.rx) == 2000
    grown = dql.limit
    assert grown > 3 * FULL  # starved completions grew it from 0
    assert over == [] and peak <= grown + 2 * FULL
    assert dql.inflight == 0 and not txq.stack_xoff
    # A ceiling is obeyed at once, and BQL then holds inflight under it.
    bql_store(txq, "limit_max", 4 * FULL)
    assert bql_show(txq)["limit"] == 4 * FULL
    for i in range(200):
        w.send(w.a, w.frame(w.a, FULL, seq=i))
    seen = []
    w.a.nic.trace_mmio.append(
        lambda kind, off, value, old: seen.append(dql.inflight) if off == R.TDT else None)
    w.run("3ms")  # four frames per TX interrupt: the cap starves the wire, as it should
    assert len(w.b.rx) == 2200 and max(seen) <= 5 * FULL
    with pytest.raises(PermissionError):
        bql_store(txq, "limit", 1)


def test_bql_limit_shrinks_when_the_queue_is_never_starved():
    """A limit set well above need, with the queue busy: the slack is taken off after the
    hold time (dql_completed's second branch)."""
    w = DriverPair()
    txq = netdev_get_tx_queue(w.a.netdev, 0)
    bql_store(txq, "limit_min", 0)
    bql_store(txq, "hold_time", 1)  # ms
    dql = txq.dql
    dql.limit = 400_000  # far more than a 256-descriptor ring needs between completions
    dql.adj_limit = dql.limit + dql.num_completed
    for burst in range(6):  # 500 at a time: tx_queue_len is 1000
        for i in range(500):
            w.send(w.a, w.frame(w.a, FULL, seq=burst * 500 + i))
        w.run("600us")
    w.run("2ms")
    assert len(w.b.rx) == 3000
    assert dql.limit < 400_000


def _pcap_of_both_ports(w, path):
    writer = PcapWriter(str(path))

    def record(direction, now, frame):
        if direction == "rx":
            writer.write(now, frame)

    w.a.nic.port.trace_frame.append(record)
    w.b.nic.port.trace_frame.append(record)
    return writer


def test_a_starved_receiver_sends_xoff_the_sender_pauses_and_xon_resumes_it(tmp_path):
    w = DriverPair()
    a, b = w.a, w.b
    # b: the driver's default flow control (TX pause: FCRTH/FCRTL/XONE, PAP = 0xFFFF).
    assert b.peek(R.CTRL0) & R.CTRL0_TPE and b.peek(R.FCRTH) and b.peek(R.PAP) == 0xFFFF
    # a honours PAUSE (rx pause on, as ethtool -A eth0 rx on would set).
    a.nic.mmio_write(R.CTRL0, a.nic.peek(R.CTRL0) | R.CTRL0_RPE)
    writer = _pcap_of_both_ports(w, tmp_path / "pause.pcap")
    sent = []
    a.nic.port.trace_frame.append(
        lambda d, now, f: sent.append(now) if d == "tx" and f[12:14] == b"\x88\xb5" else None)
    # Starve b: no interrupt, so no NAPI poll and no RDT refill.
    b.nic.mmio_write(R.IMC, 0xFFFFFFFF)
    for i in range(900):  # 512 fill the ring of b, ~130 more its FIFO up to FCRTH
        w.send(a, w.frame(a, FULL, seq=i))
    w.run("1ms")
    assert b.nic.peek(R.STAT_OFFSET["XOFFTXC"]) == 1 and a.nic.peek(R.STATUS) & R.STATUS_TXOFF
    assert a.nic.peek(R.STAT_OFFSET["XOFFRXC"]) == 1
    t_resume = w.sched.now
    b.nic.mmio_write(R.IMS, R.INT_RXT0 | R.INT_RXDMT0 | R.INT_TXDW | R.INT_LSC)
    w.run("5ms")
    writer.close()
    assert len(b.rx) == 900  # nothing lost: the FIFO held what the ring could not
    assert b.nic.peek(R.STAT_OFFSET["MPC"]) == 0
    assert b.nic.peek(R.STAT_OFFSET["XONTXC"]) == 1 and a.nic.peek(R.STAT_OFFSET["XONRXC"]) == 1
    assert not a.nic.peek(R.STATUS) & R.STATUS_TXOFF
    # The sender's TX timing shows the gap: nothing started between the XOFF (within the
    # commit horizon) and the XON after b was refilled.
    gaps = [(t2 - t1, t1) for t1, t2 in zip(sent, sent[1:], strict=False)]
    gap, at = max(gaps)
    assert at < t_resume and gap >= t_resume - at - 20_000 and gap > 100_000
    # PAUSE frames never reach a host: a received no data frame at all.
    assert a.rx == []
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    pcap = str(tmp_path / "pause.pcap")
    out = subprocess.run(["tshark", "-r", pcap, "-Y", "macc", "-T", "fields",
                          "-e", "macc.opcode", "-e", "macc.pause_time"],
                         capture_output=True, text=True, check=True)
    rows = [tuple(line.split("\t")) for line in out.stdout.strip().splitlines()]
    assert rows == [("0x0001", "65535"), ("0x0001", "0")]  # XOFF from b, then XON
    bad = subprocess.run(["tshark", "-r", pcap, "-Y", "_ws.malformed || _ws.expert.severity "
                          ">= warning"], capture_output=True, text=True, check=True)
    assert bad.stdout.strip() == ""
