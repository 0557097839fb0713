"""One doorbell never makes the TX engine do unbounded work (issue 19 item 2).

Reported on an older main: TSO with MSS 1 on 16 packets produced 4,193,440 frames in one
zero-time event, and a ring of 16 KiB packets queued 1 GiB on the cable in one event.  Now
an engine event fetches while the TX FIFO (256 KiB) has room and resumes as it drains, a TSO
context with an MSS below ``TSO_MIN_MSS`` (88, Linux's TCP_MIN_MSS) is a device fault, and the
cable never holds more than the FIFO handed to it.  The ixgb driver segments an skb with a
smaller MSS (legal for Linux's TCP down to 48) in software instead (ndo_features_check).
"""

from __future__ import annotations

import struct
import time

from helpers.checksum import ones_sum
from helpers.driver import DriverPair
from helpers.qtest import make_rig

from device.ixgb.offload import MAX_TSO_PACKET
from device.spec import desc as D
from device.spec import regs as R
from device.spec.mac import TX_FIFO_BYTES
from stack.core import CHECKSUM_PARTIAL, SKB_GSO_TCPV4
from stack.core.dev import PacketOffload
from stack.core.qdisc import dev_queue_xmit
from stack.ipv4.gso import inet_gso_segment

EOP, RS, TSE = D.TXD_CMD_EOP, D.TXD_CMD_RS, D.TXD_CMD_TSE
IXSM, TXSM = D.TXD_POPTS_IXSM, D.TXD_POPTS_TXSM
DST = bytes.fromhex("020000000002")
SRC = bytes.fromhex("020000000001")
IP_A, IP_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
HDR_LEN = 54
# Frames one TSO super-packet can make at the minimum MSS: the most one fetch can add on
# top of a full FIFO (the FIFO check is made at packet boundaries).
MAX_SEGS = -(-(MAX_TSO_PACKET - HDR_LEN) // D.TSO_MIN_MSS)


def rig_with_ring(count: int):
    rig = make_rig()
    rig.setup_tx(count=count)
    rig.rd(R.ICR)
    return rig


def tso_packet(payload_len: int) -> bytes:
    """Ethernet/IPv4/TCP as Linux's ixgb_tso leaves it: lengths and IP checksum zeroed, the
    TCP checksum seeded with the pseudo-header sum without the length."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 1, 0x4000, 64, 6, 0, IP_A, IP_B)
    seed = ones_sum(IP_A + IP_B + b"\x00\x06")
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 7, 5 << 4, 0x10, 65535, seed, 0)
    return DST + SRC + b"\x08\x00" + ip + tcp + bytes(i & 0xFF for i in range(payload_len))


def queue_tso(rig, npackets: int, payload_len: int, mss: int) -> int:
    """``npackets`` context + data pairs of one TSO packet each; the TDT to write."""
    packet = tso_packet(payload_len)
    buf = rig.buffer(packet)
    i = 0
    for _ in range(npackets):
        rig.tx_ctx(
            i,
            ipcss=14,
            ipcso=24,
            ipcse=33,
            tucss=34,
            tucso=50,
            tucse=0,
            paylen=payload_len,
            cmd=D.TXC_CMD_TSE | D.TXC_CMD_IP | D.TXC_CMD_TCP,
            hdr_len=HDR_LEN,
            mss=mss,
        )
        rig.tx_desc(i + 1, buf, len(packet), EOP | RS | TSE, popts=IXSM | TXSM)
        i += 2
    return i


def step_all(rig, budget: int = 100_000) -> tuple[int, int, int, int]:
    """Run every event; (events, most frames put on the port by one event, peak frames on
    the cable lane, peak TX FIFO bytes)."""
    lane = rig.cable.lanes()[0]
    events = most = peak_lane = 0
    while rig.sched.peek() is not None and events < budget:
        before = rig.nic.tx.frames
        rig.sched.step()
        events += 1
        most = max(most, rig.nic.tx.frames - before)
        peak_lane = max(peak_lane, lane.in_flight)
    assert rig.sched.peek() is None, "the TX engine kept generating events"
    return events, most, peak_lane, rig.nic.tx.fifo_peak


def test_tso_mss_below_the_minimum_is_a_fault_and_makes_no_frames():
    rig = rig_with_ring(64)
    tdt = queue_tso(rig, 16, 60_000, mss=1)
    rig.wr(R.TDT, tdt)
    t0 = time.perf_counter()
    step_all(rig)
    assert time.perf_counter() - t0 < 5  # was 12.3 s and 1 GB for 4,193,440 frames
    assert rig.wire == [] and rig.nic.tx.frames == 0
    assert rig.faults.count == 16
    fault = rig.faults.faults[0]
    assert fault.register == "TXD[1]" and fault.value == 1
    assert "MSS 1 is below the minimum 88" in fault.message
    stat = rig.nic.peek(R.STAT_OFFSET["TSCTFC"])
    assert stat == 16 and rig.nic.peek(R.TDH) == tdt  # every packet consumed and written back
    # MSS 87 is refused, 88 accepted.
    for mss, faults in ((87, 1), (88, 0)):
        rig = rig_with_ring(8)
        rig.wr(R.TDT, queue_tso(rig, 1, 880, mss))
        step_all(rig)
        assert rig.faults.count == faults and len(rig.wire) == (0 if faults else 10)


def test_tso_at_the_minimum_mss_is_bounded_per_event():
    """16 super-packets of 256 KiB at MSS 88: ~47,600 frames, never more than a FIFO plus one
    packet's worth per event, and the cable holds no more than the FIFO handed it."""
    rig = rig_with_ring(64)
    payload = MAX_TSO_PACKET - HDR_LEN
    rig.wr(R.TDT, queue_tso(rig, 16, payload, D.TSO_MIN_MSS))
    t0 = time.perf_counter()
    events, most, peak_lane, fifo_peak = step_all(rig)
    wall = time.perf_counter() - t0
    assert rig.faults.count == 0 and rig.nic.tx.frames == 16 * MAX_SEGS
    max_frame = HDR_LEN + D.TSO_MIN_MSS
    fifo_frames = TX_FIFO_BYTES // max_frame + 1
    assert most <= fifo_frames + MAX_SEGS
    assert peak_lane <= fifo_frames + MAX_SEGS
    assert fifo_peak <= TX_FIFO_BYTES + MAX_SEGS * max_frame
    assert events >= 16  # the work is spread over events as the FIFO drains
    assert wall < 60


def test_a_ring_of_16k_packets_is_fetched_as_the_fifo_drains():
    """The reported case, scaled: 4,095 descriptors of 16 KiB packets (64 MiB) behind one
    doorbell.  Each event fetches at most a FIFO's worth; the cable never holds more."""
    count = 4096
    rig = rig_with_ring(count)
    frame = DST + SRC + b"\x88\xb5" + bytes(16 * 1024 - 14)
    buf = rig.buffer(frame)
    for i in range(count - 1):
        rig.tx_desc(i, buf, len(frame), EOP | RS)
    rig.wr(R.TDT, count - 1)
    events, most, peak_lane, fifo_peak = step_all(rig)
    per_fifo = TX_FIFO_BYTES // len(frame) + 1
    assert rig.nic.tx.frames == count - 1 and rig.faults.count == 0
    assert most <= per_fifo and peak_lane <= per_fifo
    assert fifo_peak <= TX_FIFO_BYTES + len(frame)
    assert rig.nic.peek(R.TDH) == count - 1


def test_driver_segments_an_mss_below_the_device_minimum_in_software():
    """Linux's TCP may send an MSS of 48 (tcp_min_snd_mss): the driver's ndo_features_check
    takes TSO away for such an skb, the core segments it, the device sees plain frames."""
    w = DriverPair()
    w.a.kernel.offloads[0x0800] = PacketOffload(0x0800, inet_gso_segment)
    mss, total = 60, 1000
    ip = bytearray(
        struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + total, 7, 0x4000, 64, 6, 0, IP_A, IP_B)
    )
    struct.pack_into("!H", ip, 10, ~ones_sum(bytes(ip)) & 0xFFFF)
    tcp = struct.pack(
        "!HHIIBBHHH",
        40000,
        5001,
        1000,
        77,
        5 << 4,
        0x18,
        65535,
        ones_sum(IP_A + IP_B + struct.pack("!BBH", 0, 6, 20 + total)),
        0,
    )
    body = bytes((i * 7) & 0xFF for i in range(total))
    head = w.b.netdev.dev_addr + w.a.netdev.dev_addr + b"\x08\x00" + bytes(ip) + tcp + body
    skb = w.skb(w.a, head)
    skb.protocol = 0x0800
    skb.network_header = skb.data + 14
    skb.transport_header = skb.data + 34
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data + 34
    skb.csum_offset = 16
    skb.gso_size = mss
    skb.gso_type = SKB_GSO_TCPV4
    assert dev_queue_xmit(skb) == 0
    w.run("1ms")
    frames = w.b.frames()
    assert len(frames) == -(-total // mss)
    assert all(len(f) - 54 <= mss for f in frames)
    assert b"".join(f[54:] for f in frames) == body
    assert w.a.nic.peek(R.STAT_OFFSET["TSCTC"]) == 0  # the device did no TSO
    w.assert_clean()
