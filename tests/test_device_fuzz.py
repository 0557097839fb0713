"""A seeded fuzz campaign against the NIC model alone (issue 19: items 2, 3 and 8).

Each iteration is one machine, driven qtest-style by a seeded random program: MMIO writes to
the TX/RX registers (legal values, hostile ones, ring bases outside guest RAM, unaligned and
unknown offsets, CTRL0.RST), TX descriptors (plain packets, TSO with any MSS, random bytes),
RX descriptors, DMA mappings inside and outside guest RAM, frames from the wire, and
tracepoint subscribers that reset the device or disable a unit in the middle of a pass.  The
scheduler is stepped one event at a time, and every event is checked:

* no Python exception escapes an event (faults are recorded, never raised: strict is off);
* the work of one event is bounded: frames handed to the port by one event, frames held by
  the cable and bytes in the TX FIFO stay below a FIFO plus one TSO packet at the minimum MSS;
* every DMA the bus refused is a recorded fault;
* guest RAM that was never mapped for DMA (guard pages and the top MiB of RAM, where a wrapped
  address would land) is untouched at the end;
* after the program, a reset and a fresh setup move one frame each way (no engine corrupted).

The budget is fixed (``ITERATIONS`` programs of ``OPS`` operations, a few seconds); set
``IXSIM_FUZZ_ITERATIONS`` for a longer campaign.  A failure names the seed, which replays.
Run against the code before issue 19's fixes it fails on items 2 (frames per event, wall time),
3 (an exception out of an event; RAM outside any mapping written) and 8 (IndexError out of
the RX drain).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

from helpers.qtest import make_rig

from device.ixgb.offload import MAX_TSO_PACKET
from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE, DMA_MAPPING_ERROR, DMA_TO_DEVICE
from device.spec.mac import TX_FIFO_BYTES
from device.trace import subscribe

ITERATIONS = int(os.environ.get("IXSIM_FUZZ_ITERATIONS", "100"))
OPS = 80
EVENTS_PER_RUN = 400
GUARD = 0x5A
HDR_LEN = 54
MIN_FRAME = 14
# The most one event may do: fill the FIFO with minimum frames, plus one TSO super-packet
# at the minimum MSS (the FIFO check is made at packet boundaries).
MAX_SEGS = -(-MAX_TSO_PACKET // D.TSO_MIN_MSS)
FRAMES_PER_EVENT = TX_FIFO_BYTES // MIN_FRAME + 1 + MAX_SEGS
FIFO_BYTES_MAX = TX_FIFO_BYTES + MAX_TSO_PACKET + MAX_SEGS * HDR_LEN + 16 * 1024
SECONDS_PER_EVENT = 2.0

TX_REGS = (R.TCTL, R.TDBAL, R.TDBAH, R.TDLEN, R.TDH, R.TDT, R.TIDV)
RX_REGS = (R.RCTL, R.RDBAL, R.RDBAH, R.RDLEN, R.RDH, R.RDT, R.RDTR)
BCAST = b"\xff" * 6


class Program:
    """One machine and the random program that drives it."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.rig = rig = make_rig(seed=seed)
        rig.rd(R.ICR)
        mem = rig.mem
        self.base, self.end = mem.base, mem.base + mem.size
        # The top MiB of RAM is never allocated in a run this short: a bus address below the
        # RAM base that wraps lands there.  Guard pages are allocated and never mapped.
        self.top = self.end - (1 << 20)
        mem.write(self.top, bytes([GUARD]) * (1 << 20))
        self.guards = [mem.alloc(4096) for _ in range(3)]
        for g in self.guards:
            mem.write(g, bytes([GUARD]) * 4096)
        self.tx_count = self.rng.choice((16, 32, 64))
        rig.setup_tx(count=self.tx_count, tidv=self.rng.choice((0, 0, 8)))
        rig.setup_rx(count=self.rng.choice((8, 16, 32)), bufsize=self.rng.choice((2048, 16384)))
        self.tdt = 0
        self.refused = 0
        self.watching = self.rng.random() < 0.5  # half the programs take the traced DMA path
        if self.watching:
            subscribe(rig.slot.pci, "dma", self._on_dma)
        self.tso_packet = self._tso_packet(self.rng.randrange(100, 60_000))
        self.tso_buf = rig.buffer(self.tso_packet)
        self.plain = [
            rig.buffer(BCAST + bytes(6) + b"\x88\xb5" + bytes(n - 14))
            for n in (60, 1514, 9000, 16384)
        ]

    # -- checks --------------------------------------------------------------------------
    def _on_dma(self, direction: str, addr: int, length: int, what: str, ok: bool) -> None:
        if not ok:
            self.refused += 1

    def fail(self, what: str) -> str:
        return f"seed {self.seed}: {what}"

    def step(self, budget: int) -> None:
        """Run up to ``budget`` events, one at a time, checking each."""
        rig = self.rig
        sched = rig.sched
        tx = rig.nic.tx
        lane = rig.cable.lanes()[0]
        for _ in range(budget):
            if sched.peek() is None:
                return
            frames = tx.frames
            t0 = time.perf_counter()
            try:
                sched.step()
            except Exception as err:  # noqa: BLE001 - any escape is the finding
                raise AssertionError(
                    self.fail(f"{type(err).__name__} out of an event: {err}")
                ) from err
            wall = time.perf_counter() - t0
            assert wall < SECONDS_PER_EVENT, self.fail(f"one event took {wall:.1f} s")
            n = tx.frames - frames
            assert n <= FRAMES_PER_EVENT, self.fail(f"one event put {n} frames on the port")
            assert lane.in_flight <= FRAMES_PER_EVENT, self.fail(
                f"the cable holds {lane.in_flight} frames"
            )
            assert tx.fifo_used <= FIFO_BYTES_MAX, self.fail(f"TX FIFO {tx.fifo_used} bytes")

    def check_memory_and_faults(self) -> None:
        mem = self.rig.mem
        assert mem.read(self.top, 1 << 20) == bytes([GUARD]) * (1 << 20), self.fail(
            "the top MiB of RAM (never mapped) was written by the device"
        )
        for g in self.guards:
            assert mem.read(g, 4096) == bytes([GUARD]) * 4096, self.fail(
                f"guard page 0x{g:x} (never mapped) was written"
            )
        assert self.refused <= self.rig.faults.count, self.fail(
            f"{self.refused} refused DMAs but {self.rig.faults.count} faults"
        )

    # -- operations ----------------------------------------------------------------------
    def _tso_packet(self, payload: int) -> bytes:
        ip = bytes((0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2))
        tcp = bytes((0x9C, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 7, 0x50, 0x10, 0xFF, 0xFF, 0, 0, 0, 0))
        return BCAST + bytes(6) + b"\x08\x00" + ip + tcp + bytes(payload)

    def address(self, length: int) -> int:
        """A buffer address: mostly good, sometimes unmapped, outside RAM or nonsense."""
        rng = self.rng
        kind = rng.random()
        if kind < 0.55:
            return rng.choice(self.plain)
        if kind < 0.65:
            return rng.choice(self.guards)  # allocated, never mapped
        if kind < 0.75:
            addr = rng.choice((0x1000, self.base - length, self.base - 8))
        elif kind < 0.85:
            addr = rng.choice((self.end - 16, self.end, self.end + 4096))
        elif kind < 0.9:
            addr = rng.randrange(1 << 64)
        else:
            return 0
        if rng.random() < 0.7:  # a driver that ignored dma_mapping_error() uses it anyway
            direction = rng.choice((DMA_TO_DEVICE, DMA_FROM_DEVICE))
            dma = self.rig.slot.pci_dev.dma_map_single(addr, length, direction)
            assert dma in (addr, DMA_MAPPING_ERROR)
        return addr

    def op_tx_packet(self) -> None:
        rng = self.rng
        length = rng.choice((60, 64, 1514, 9000, 16384, rng.randrange(0, 20_000)))
        cmd = D.TXD_CMD_EOP | D.TXD_CMD_RS if rng.random() < 0.9 else rng.randrange(256) << 24
        self.rig.tx_desc(self.tdt, self.address(length), length, cmd & ~D.TXD_CMD_TSE)
        self.tdt = (self.tdt + 1) % self.tx_count
        if rng.random() < 0.5:  # as a driver does after queueing
            self.rig.wr(R.TDT, self.tdt)

    def op_tso(self) -> None:
        rng = self.rng
        mss = rng.choice((1, 2, 8, 40, 87, 88, 500, 1448, 9000, rng.randrange(0, 1 << 16)))
        length = len(self.tso_packet)
        paylen = length - HDR_LEN if rng.random() < 0.9 else rng.randrange(1 << 20)
        cmd = D.TXC_CMD_TSE | D.TXC_CMD_IP | D.TXC_CMD_TCP
        rig = self.rig
        rig.tx_ctx(
            self.tdt,
            ipcss=14,
            ipcso=24,
            ipcse=33,
            tucss=34,
            tucso=50,
            tucse=0,
            paylen=paylen & 0xFFFFF,
            cmd=cmd,
            hdr_len=HDR_LEN,
            mss=mss,
        )
        self.tdt = (self.tdt + 1) % self.tx_count
        rig.tx_desc(
            self.tdt,
            self.tso_buf,
            length,
            D.TXD_CMD_EOP | D.TXD_CMD_RS | D.TXD_CMD_TSE,
            popts=D.TXD_POPTS_IXSM | D.TXD_POPTS_TXSM,
        )
        self.tdt = (self.tdt + 1) % self.tx_count
        if rng.random() < 0.5:
            rig.wr(R.TDT, self.tdt)

    def op_raw_desc(self) -> None:
        rig = self.rig
        ring, count = (
            (rig.tx_ring, self.tx_count) if self.rng.random() < 0.5 else (rig.rx_ring, rig.rx_count)
        )
        rig.mem.write(ring + 16 * self.rng.randrange(count), self.rng.randbytes(16))

    def op_doorbell(self) -> None:
        rig = self.rig
        if self.rng.random() < 0.8:
            rig.wr(R.TDT, self.tdt)
        else:
            rig.wr(R.TDT, self.rng.randrange(self.tx_count + 8))

    def op_rx_post(self) -> None:
        rig = self.rig
        rng = self.rng
        for _ in range(rng.randrange(1, 6)):
            i = rng.randrange(rig.rx_count)
            if rng.random() < 0.6:
                addr = rig.buffer(16384, DMA_FROM_DEVICE)
            else:
                addr = self.address(16384)
            rig.mem.write(rig.rx_ring + 16 * i, D.RX_DESC.pack(addr, 0, 0, 0, 0, 0))
        rig.wr(R.RDT, rng.randrange(rig.rx_count + 4))

    def op_mmio(self) -> None:
        rng = self.rng
        rig = self.rig
        kind = rng.random()
        if kind < 0.45:
            reg = rng.choice(TX_REGS + RX_REGS)
            if reg in (R.TDBAL, R.RDBAL) and rng.random() < 0.5:
                value = rng.choice((0x1000, self.end - 64, self.top, rng.randrange(1 << 32)))
            elif reg in (R.TDBAH, R.RDBAH):
                value = rng.choice((0, 0, 1, rng.randrange(1 << 32)))
            elif reg in (R.TCTL, R.RCTL) and rng.random() < 0.7:
                value = rng.choice(
                    (
                        0,
                        R.TCTL_TXEN | R.TCTL_TPDE,
                        R.RCTL_RXEN | R.RCTL_BAM,
                        R.RCTL_RXEN | R.RCTL_BAM | R.RCTL_SECRC,
                    )
                )
            else:
                value = rng.choice((0, 1, 128, 4096, 0x10000, rng.randrange(1 << 32)))
            rig.wr(reg, value)
        elif kind < 0.55:
            rig.wr(R.CTRL0, rng.choice((R.CTRL0_RST, R.CTRL0_VME, R.CTRL0_RPE, 0)))
        elif kind < 0.65:
            rig.wr(rng.randrange(R.BAR0_SIZE), rng.randrange(1 << 32))  # anywhere in BAR0
        elif kind < 0.8:
            rig.rd(rng.choice((R.ICR, R.TDH, R.RDH, R.STATUS, rng.randrange(R.BAR0_SIZE))))
        else:
            self.resetup()

    def resetup(self) -> None:
        """What a driver does after a reset: both rings again, fresh."""
        rig = self.rig
        rig.setup_tx(count=self.tx_count)
        rig.setup_rx(count=rig.rx_count, bufsize=16384)
        self.tdt = 0

    def op_frame(self) -> None:
        rng = self.rng
        n = rng.choice((14, 60, 64, 1514, 1518, 9000, rng.randrange(14, 16_000)))
        for _ in range(rng.randrange(1, 9)):
            dst = BCAST if rng.random() < 0.8 else rng.randbytes(6)
            self.rig.inject(dst + bytes(6) + b"\x88\xb5" + rng.randbytes(n - 14))

    def op_hook(self) -> None:
        """A subscriber that resets the device (or disables a unit) at its Nth call."""
        rng = self.rng
        rig = self.rig
        owner, name = rng.choice(
            (
                (rig.nic.rx, "rx_frame"),
                (rig.nic.tx, "tx_frame"),
                (rig.slot.pci, "dma"),
                (rig.faults, "fault"),
                (rig.slot.port, "frame"),
            )
        )
        at = rng.randrange(1, 20)
        action = rng.choice(
            ((R.CTRL0, R.CTRL0_RST), (R.CTRL0, R.CTRL0_RST), (R.TCTL, 0), (R.RCTL, 0))
        )
        calls = [0]
        unsubscribe: list[Any] = []

        def hook(*_fields: Any) -> None:
            calls[0] += 1
            if calls[0] == at:
                unsubscribe[0]()
                rig.wr(*action)

        unsubscribe.append(subscribe(owner, name, hook))

    def op_run(self) -> None:
        self.step(self.rng.randrange(1, EVENTS_PER_RUN))

    OPS_TABLE = (
        (op_tx_packet, 20),
        (op_tso, 8),
        (op_raw_desc, 5),
        (op_doorbell, 12),
        (op_rx_post, 8),
        (op_mmio, 10),
        (op_frame, 15),
        (op_hook, 5),
        (op_run, 17),
    )

    def run(self) -> None:
        ops = [fn for fn, _w in self.OPS_TABLE]
        weights = [w for _fn, w in self.OPS_TABLE]
        for _ in range(OPS):
            fn = self.rng.choices(ops, weights)[0]
            try:
                fn(self)
            except AssertionError:
                raise
            except Exception as err:  # noqa: BLE001 - an MMIO write must not raise either
                raise AssertionError(
                    self.fail(f"{fn.__name__}: {type(err).__name__}: {err}")
                ) from err
        self.step(20_000)
        assert self.rig.sched.peek() is None or self.rig.nic.tx.enabled(), self.fail(
            "events still pending with the TX unit off"
        )
        self.check_memory_and_faults()
        self.recover()

    def recover(self) -> None:
        """Reset, set up again, and move one frame each way: the engines are intact."""
        rig = self.rig
        rig.wr(R.CTRL0, R.CTRL0_RST)
        for lst in (
            rig.nic.rx.trace_rx_frame,
            rig.nic.tx.trace_tx_frame,
            rig.slot.pci.trace_dma,
            rig.faults.trace_fault,
            rig.slot.port.trace_frame,
        ):
            lst.clear()
        self.resetup()
        faults = rig.faults.count
        out = BCAST + bytes(6) + b"\x88\xb5" + b"recover" + bytes(60)
        rig.tx_desc(0, rig.buffer(out), len(out), D.TXD_CMD_EOP | D.TXD_CMD_RS)
        rig.wr(R.TDT, 1)
        sent = len(rig.wire)
        rig.inject(out)
        self.step(10_000)
        assert rig.wire[sent:][-1:] == [out], self.fail("no frame out after a fresh setup")
        assert rig.rx_desc(0)[1] == len(out), self.fail("no frame in after a fresh setup")
        assert rig.faults.count == faults, self.fail(
            f"faults after a fresh setup: {[str(f) for f in rig.faults][faults:]}"
        )


def test_device_fuzz_campaign():
    t0 = time.perf_counter()
    for seed in range(ITERATIONS):
        Program(seed).run()
    assert time.perf_counter() - t0 < 120  # a few seconds; a generous cap for a loaded CI
