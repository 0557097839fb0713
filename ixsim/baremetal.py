"""Bare metal: two NICs driven by nothing but register and descriptor writes.

What a driver developer sees before any driver exists: program a TX ring on one NIC and an
RX ring on the other, write frames into guest memory, ring TDT, and watch the device fetch the
descriptors, put frames on the cable, DMA them into the peer's buffers, write back DD and raise
interrupt causes.  ``ixsim demo --bare`` prints this; it is also a reference for the minimal
register sequence (docs/hardware.md §2.3) without the Linux driver's layers around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE, DMA_TO_DEVICE
from ixsim.host import Host
from ixsim.regview import RegisterFile
from ixsim.world import World

RING = 64
BUF = 2048


@dataclass
class BareResult:
    frames_sent: int = 0
    frames_received: int = 0
    bytes_received: int = 0
    sha256_match: bool = False
    interrupts_causes: dict[str, int] = field(default_factory=dict)
    virtual_ns: int = 0
    faults: int = 0
    counters: dict[str, dict[str, int]] = field(default_factory=dict)


class BareNic:
    """The minimum a driver must do to move frames, written as plain MMIO."""

    def __init__(self, host: Host) -> None:
        self.slot = host.nics[0]
        self.pci = self.slot.pci_dev
        self.mmio = self.pci.iomap(0)
        self.mem = self.pci.mem
        self.pci.enable_device()
        self.pci.set_master()
        self.mmio.read32(R.ICR)  # drop the power-on causes
        self.tx_ring = self.rx_ring = 0
        self.tx_next = 0
        self.rx_next = 0
        self.rx_bufs: list[int] = []

    def up_tx(self) -> None:
        w = self.mmio.write32
        self.tx_ring = self.pci.dma_alloc_coherent(RING * D.DESC_SIZE)
        w(R.TDBAL, self.tx_ring & 0xFFFFFFFF)
        w(R.TDBAH, self.tx_ring >> 32)
        w(R.TDLEN, RING * D.DESC_SIZE)
        w(R.TDH, 0)
        w(R.TDT, 0)
        w(R.TCTL, R.TCTL_TCE | R.TCTL_TXEN | R.TCTL_TPDE)

    def up_rx(self) -> None:
        w = self.mmio.write32
        self.rx_ring = self.pci.dma_alloc_coherent(RING * D.DESC_SIZE)
        for i in range(RING):
            buf = self.mem.alloc(BUF)
            self.pci.dma_map_single(buf, BUF, DMA_FROM_DEVICE)
            self.rx_bufs.append(buf)
            self.mem.write(self.rx_ring + i * D.DESC_SIZE, D.RX_DESC.pack(buf, 0, 0, 0, 0, 0))
        w(R.RDBAL, self.rx_ring & 0xFFFFFFFF)
        w(R.RDBAH, self.rx_ring >> 32)
        w(R.RDLEN, RING * D.DESC_SIZE)
        w(R.RDH, 0)
        w(R.RCTL, R.RCTL_RXEN | R.RCTL_BAM | R.RCTL_SECRC | R.RCTL_BSIZE_2048)
        w(R.RDT, RING - 1)  # hardware owns [RDH, RDT): one slot stays with software
        w(R.IMS, R.INT_RXT0 | R.INT_TXDW | R.INT_LSC)

    def xmit(self, frame: bytes) -> None:
        buf = self.mem.alloc(len(frame))
        self.mem.write(buf, frame)
        self.pci.dma_map_single(buf, len(frame), DMA_TO_DEVICE)
        cmd = D.TXD_TYPE_DATA | D.TXD_CMD_EOP | D.TXD_CMD_RS | len(frame)
        self.mem.write(self.tx_ring + self.tx_next * D.DESC_SIZE,
                       D.TX_DESC.pack(buf, cmd, 0, 0, 0))
        self.tx_next = (self.tx_next + 1) % RING
        self.mmio.write32(R.TDT, self.tx_next)

    def reap_rx(self, sink: Callable[[bytes], None]) -> int:
        """Take every frame whose descriptor has DD, hand the slots back with RDT."""
        n = 0
        for _ in range(RING):
            raw = self.mem.read(self.rx_ring + self.rx_next * D.DESC_SIZE, D.DESC_SIZE)
            addr, length, _r, status, _errors, _special = D.RX_DESC.unpack(raw)
            if not status & D.RXD_STAT_DD:
                break
            sink(self.mem.read(addr, length))
            self.mem.write(self.rx_ring + self.rx_next * D.DESC_SIZE,
                           D.RX_DESC.pack(addr, 0, 0, 0, 0, 0))
            self.mmio.write32(R.RDT, self.rx_next)
            self.rx_next = (self.rx_next + 1) % RING
            n += 1
        return n


def make_frame(dst: bytes, src: bytes, seq: int, size: int) -> bytes:
    """An Ethernet frame with the local-experimental EtherType 0x88B5 and a counting payload."""
    header = dst + src + b"\x88\xb5" + seq.to_bytes(4, "big")
    body = bytes((seq + i) & 0xFF for i in range(size - len(header)))
    return header + body


def run_bare(frames: int = 32, size: int = 1514, seed: int = 1,
             log: Callable[[str], None] | None = None) -> BareResult:
    """Send ``frames`` frames a -> b by hand and report what the hardware did."""
    say = log or (lambda text: None)
    result = BareResult()
    with World(seed=seed) as w:
        a = w.host("a", driver=False)
        b = w.host("b", driver=False)
        w.cable(a.nics[0].port, b.nics[0].port, latency="1us")
        na, nb = BareNic(a), BareNic(b)
        say(f"link up: a {RegisterFile(a.nics[0].nic, a.nics[0].pci)['STATUS']!r}")
        na.up_tx()
        nb.up_rx()
        say(f"a: TX ring at 0x{na.tx_ring:x} ({RING} descriptors); "
            f"b: RX ring at 0x{nb.rx_ring:x}, {RING - 1} buffers posted")
        mac_a, mac_b = (
            b"".join(h.nics[0].nic.eeprom.words[i].to_bytes(2, "little") for i in range(3))
            for h in (a, b)
        )
        sent = hashlib.sha256()
        got = hashlib.sha256()
        received: list[bytes] = []

        def sink(frame: bytes) -> None:
            received.append(frame)
            got.update(frame)

        def on_wire(frame: bytes, ndesc: int) -> None:
            if not received and ndesc and not getattr(on_wire, "said", False):
                on_wire.said = True  # type: ignore[attr-defined]
                say(f"t={w.now:>8} ns  a: fetched {ndesc} descriptor(s), "
                    f"frame of {len(frame)} B on the wire")

        a.nics[0].nic.tx.trace_tx_frame.append(on_wire)
        causes: dict[str, int] = {}
        for seq in range(frames):
            frame = make_frame(mac_b, mac_a, seq, size)
            sent.update(frame)
            na.xmit(frame)
            if seq == 0:
                say(f"t={w.now:>8} ns  a: TDT <- {na.tx_next} (doorbell; the fetch is an event)")
            w.run_for("3us")
            icr = b.nics[0].pci.mmio_read(R.ICR)
            for name, value, _m in R.decode(R.BY_NAME["ICR"], icr):
                if value:
                    causes[name] = causes.get(name, 0) + 1
            if nb.reap_rx(sink) and seq == 0:
                status = nb.rx_next - 1
                say(f"t={w.now:>8} ns  b: descriptor {status} DD|EOP, {len(received[0])} B "
                    f"DMA'd; ICR had {R.describe_bits(R.BY_NAME['ICR'], icr)}")
        w.run_for("100us")
        nb.reap_rx(sink)
        result.frames_sent = frames
        result.frames_received = len(received)
        result.bytes_received = sum(len(f) for f in received)
        result.sha256_match = sent.digest() == got.digest()
        result.interrupts_causes = causes
        result.virtual_ns = w.now
        result.faults = len(w.faults)
        for host, name in ((a, "a"), (b, "b")):
            regs = RegisterFile(host.nics[0].nic, host.nics[0].pci)
            result.counters[name] = {
                stat: int(regs[stat]) for stat in ("GPTCL", "GOTCL", "GPRCL", "GORCL", "RNBC")
            }
    return result
