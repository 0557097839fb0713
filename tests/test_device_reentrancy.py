"""A tracepoint subscriber (or the debugger) that resets the device mid-pass (issue 19 item 8).

Reported: CTRL0.RST from an ``rx_frame`` subscriber while frames waited in the packet buffer
raised IndexError out of the RX drain; from ``tx_frame`` during a TSO burst, segments still
went on the wire after the reset and DD was written back into the ring.  Now each engine
checks its generation counter after every step that runs subscribers and abandons the pass:
the reset takes effect where it was made, nothing of the old pass follows it.
"""

from __future__ import annotations

from helpers.qtest import make_rig
from test_tx_bounded import queue_tso, rig_with_ring

from device.spec import desc as D
from device.spec import regs as R
from device.trace import subscribe

BCAST = b"\xff" * 6


def frame(n: int, seq: int) -> bytes:
    return BCAST + bytes(6) + b"\x88\xb5" + seq.to_bytes(2, "big") + bytes(n - 16)


def rx_rig_with_waiting_frames(waiting: int = 5):
    rig = make_rig()
    rig.rd(R.ICR)
    rig.setup_rx(count=8, fill=0)  # no descriptor posted: frames wait in the packet buffer
    for k in range(waiting):
        rig.inject(frame(100, k))
    rig.run()
    assert rig.nic.rx.state()["fifo_frames"] == waiting
    return rig


DD_EOP = D.RXD_STAT_DD | D.RXD_STAT_EOP


def rx_statuses(rig) -> list[int]:
    """DD|EOP of each RX descriptor's status (0 where nothing was written back)."""
    return [rig.rx_desc(i)[3] & DD_EOP for i in range(8)]


def test_reset_from_rx_frame_while_frames_wait_in_the_packet_buffer():
    rig = rx_rig_with_waiting_frames()
    seen: list[int] = []

    def on_frame(data: bytes, index: int) -> None:
        seen.append(index)
        if len(seen) == 2:
            rig.wr(R.CTRL0, R.CTRL0_RST)

    subscribe(rig.nic.rx, "rx_frame", on_frame)
    rig.wr(R.RDT, 7)  # post 7: the drain places waiting frames, the 2nd one resets
    rig.run()
    assert seen == [0, 1]
    assert rx_statuses(rig)[:2] == [DD_EOP] * 2
    assert rx_statuses(rig)[2:] == [0] * 6  # nothing written after the reset
    state = rig.nic.rx.state()
    assert state["fifo_frames"] == 0 and state["fifo_bytes"] == 0 and state["delivered"] == 0
    assert rig.nic.peek(R.RDH) == 0 and rig.nic.peek(R.RCTL) == 0
    assert rig.faults.count == 0
    # The device works again once the driver sets it up.
    rig.setup_rx(count=8)
    rig.inject(frame(200, 9))
    rig.run()
    assert rig.rx_desc(0)[1] == 200 and rig.faults.count == 0


def test_reset_from_the_dma_tracepoint_while_placing_a_frame():
    rig = rx_rig_with_waiting_frames(3)
    reads: list[str] = []

    def on_dma(direction: str, addr: int, length: int, what: str, ok: bool) -> None:
        reads.append(what)
        if what == "RX desc 1" and direction == "R":
            rig.wr(R.CTRL0, R.CTRL0_RST)

    subscribe(rig.slot.pci, "dma", on_dma)
    rig.wr(R.RDT, 7)
    rig.run()
    # Frame 0 fully placed; the reset came at descriptor 1's fetch: no buffer write, no
    # write-back, no RDH move after it.
    assert reads == ["RX desc 0", "RX buffer 0", "RX desc 0", "RX desc 1"]
    assert rx_statuses(rig) == [DD_EOP] + [0] * 7
    assert rig.nic.peek(R.RDH) == 0 and rig.nic.rx.state()["fifo_frames"] == 0
    assert rig.faults.count == 0


def tx_statuses(rig, n: int) -> list[int]:
    return [rig.tx_status(i) for i in range(n)]


def test_reset_from_tx_frame_during_a_tso_burst():
    rig = rig_with_ring(64)
    tdt = queue_tso(rig, 2, 5000, 500)  # 2 packets of 10 segments each
    seen: list[int] = []

    def on_frame(data: bytes, ndesc: int) -> None:
        seen.append(len(data))
        if len(seen) == 3:
            rig.wr(R.CTRL0, R.CTRL0_RST)

    subscribe(rig.nic.tx, "tx_frame", on_frame)
    rig.wr(R.TDT, tdt)
    rig.run("1ms")
    assert len(seen) == 3 and len(rig.wire) == 3  # the third was on the wire; no more
    assert rig.nic.tx.state()["on_wire"] == 0 and rig.nic.tx.fifo_used == 0
    assert tx_statuses(rig, tdt) == [0] * tdt  # no DD written back after the reset
    assert rig.nic.peek(R.TDH) == 0 and rig.nic.peek(R.TCTL) == 0
    assert rig.faults.count == 0
    # Set up again (a fresh ring): only what the driver now queues goes out.
    rig.setup_tx(count=64)
    rig.tx_desc(0, rig.buffer(frame(80, 1)), 80, D.TXD_CMD_EOP | D.TXD_CMD_RS)
    rig.wr(R.TDT, 1)
    rig.run("1ms")
    assert rig.wire[3:] == [frame(80, 1)] and rig.tx_status(0) == D.TXD_STAT_DD
    assert rig.faults.count == 0


def test_reset_from_the_dma_tracepoint_during_the_descriptor_walk():
    rig = rig_with_ring(64)
    tdt = queue_tso(rig, 4, 5000, 500)
    buffer_reads = []

    def on_dma(direction: str, addr: int, length: int, what: str, ok: bool) -> None:
        if what.startswith("TXD"):
            buffer_reads.append(what)
            if len(buffer_reads) == 2:
                rig.wr(R.CTRL0, R.CTRL0_RST)

    subscribe(rig.slot.pci, "dma", on_dma)
    rig.wr(R.TDT, tdt)
    rig.run("1ms")
    # The reset came while TXD[3] (the second packet) was read: the first packet's frames
    # were lost with the FIFO, the second was never finished, no fault was made up from the
    # context the reset cleared.
    assert buffer_reads == ["TXD[1]", "TXD[3]"]
    assert rig.wire == [] and rig.faults.count == 0
    assert rig.nic.tx.state()["fifo_frames"] == 0 and rig.nic.tx.in_progress == 0
    assert rig.nic.peek(R.TDH) == 0 and tx_statuses(rig, tdt) == [0] * tdt
