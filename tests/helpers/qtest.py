"""qtest-style harness: the NIC model alone, driven by register and descriptor writes.

No driver: the test plays the driver, writing rings into guest memory with the helpers here,
ringing doorbells and stepping virtual time, then checking DMA results, write-back, interrupt
causes and counters - QEMU's tests/qtest/e1000e-test.c in spirit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from device.cable import Cable
from device.machine import Machine, NicSlot
from device.port import Port
from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_FROM_DEVICE, DMA_TO_DEVICE
from firmware import default_words
from ixsim.sched import Scheduler


@dataclass
class Rig:
    """One NIC under test, its machine, and a peer port that records what reached the wire."""

    sched: Scheduler
    machine: Machine
    slot: NicSlot
    wire: list[bytes] = field(default_factory=list)
    peer: Port | None = None
    cable: Cable | None = None
    tx_ring: int = 0
    rx_ring: int = 0
    tx_count: int = 0
    rx_count: int = 0

    @property
    def nic(self):
        return self.slot.nic

    @property
    def mem(self):
        return self.machine.mem

    @property
    def faults(self):
        return self.machine.faults

    def rd(self, reg: int) -> int:
        return self.slot.pci.mmio_read(reg)

    def wr(self, reg: int, value: int) -> None:
        self.slot.pci.mmio_write(reg, value)

    def run(self, duration="1ms") -> None:
        self.sched.run_for(duration)

    # -- guest memory helpers ------------------------------------------------------------
    def buffer(self, data: bytes | int, direction: int = DMA_TO_DEVICE) -> int:
        """Allocate guest memory (with data, or N zero bytes) and map it for DMA."""
        size = data if isinstance(data, int) else len(data)
        addr = self.mem.alloc(max(size, 1))
        if not isinstance(data, int):
            self.mem.write(addr, data)
        self.slot.pci_dev.dma_map_single(addr, size, direction)
        return addr

    # -- TX ------------------------------------------------------------------------------
    def setup_tx(self, count: int = 64, tidv: int = 0) -> None:
        self.tx_count = count
        self.tx_ring = self.slot.pci_dev.dma_alloc_coherent(count * D.DESC_SIZE)
        self.wr(R.TDBAL, self.tx_ring & 0xFFFFFFFF)
        self.wr(R.TDBAH, self.tx_ring >> 32)
        self.wr(R.TDLEN, count * D.DESC_SIZE)
        self.wr(R.TDH, 0)
        self.wr(R.TDT, 0)
        self.wr(R.TIDV, tidv)
        self.wr(R.TCTL, R.TCTL_TCE | R.TCTL_TXEN | R.TCTL_TPDE)

    def tx_desc(self, index: int, addr: int, length: int, cmd: int, popts: int = 0,
                vlan: int = 0) -> None:
        raw = D.TX_DESC.pack(addr, D.TXD_TYPE_DATA | cmd | length, 0, popts, vlan)
        self.mem.write(self.tx_ring + index * D.DESC_SIZE, raw)

    def tx_ctx(self, index: int, *, ipcss=0, ipcso=0, ipcse=0, tucss=0, tucso=0, tucse=0,
               paylen=0, cmd=0, hdr_len=0, mss=0) -> None:
        raw = D.TX_CTX.pack(ipcss, ipcso, ipcse, tucss, tucso, tucse,
                            D.TXD_TYPE_CONTEXT | cmd | paylen, 0, hdr_len, mss)
        self.mem.write(self.tx_ring + index * D.DESC_SIZE, raw)

    def tx_status(self, index: int) -> int:
        return self.mem.read(self.tx_ring + index * D.DESC_SIZE + D.TX_STATUS_OFFSET, 1)[0]

    # -- RX ------------------------------------------------------------------------------
    def setup_rx(self, count: int = 64, bufsize: int = 2048, rctl_extra: int = 0,
                 rdtr: int = 0, fill: int | None = None) -> list[int]:
        """Program the RX ring with ``fill`` posted buffers (default count-1); return them."""
        self.rx_count = count
        self.rx_ring = self.slot.pci_dev.dma_alloc_coherent(count * D.DESC_SIZE)
        bufs = []
        for i in range(count):
            addr = self.buffer(bufsize, DMA_FROM_DEVICE)
            bufs.append(addr)
            self.mem.write(self.rx_ring + i * D.DESC_SIZE, D.RX_DESC.pack(addr, 0, 0, 0, 0, 0))
        self.wr(R.RDTR, rdtr)
        self.wr(R.RDBAL, self.rx_ring & 0xFFFFFFFF)
        self.wr(R.RDBAH, self.rx_ring >> 32)
        self.wr(R.RDLEN, count * D.DESC_SIZE)
        self.wr(R.RDH, 0)
        bsize = {2048: R.RCTL_BSIZE_2048, 4096: R.RCTL_BSIZE_4096,
                 8192: R.RCTL_BSIZE_8192, 16384: R.RCTL_BSIZE_16384}[bufsize]
        self.wr(R.RCTL, R.RCTL_RXEN | R.RCTL_BAM | R.RCTL_SECRC | bsize | rctl_extra)
        self.wr(R.RDT, (count - 1) if fill is None else fill)
        return bufs

    def rx_desc(self, index: int) -> tuple[int, int, int, int, int, int]:
        """(addr, length, reserved, status, errors, special) of RX descriptor ``index``."""
        return D.RX_DESC.unpack(self.mem.read(self.rx_ring + index * D.DESC_SIZE, 16))

    def inject(self, frame: bytes) -> None:
        """Put a frame on the wire towards the NIC (through the cable, as an event)."""
        assert self.peer is not None
        self.peer.transmit(frame)


def make_rig(seed: int = 1, strict: bool = False, latency_ns: int = 0) -> Rig:
    """A machine with one ixgb, memory and bus mastering enabled, cabled to a recording peer."""
    sched = Scheduler(seed)
    machine = Machine(sched, "dut", strict=strict)
    slot = machine.add_ixgb(default_words())
    slot.pci_dev.enable_device()
    slot.pci_dev.set_master()
    rig = Rig(sched, machine, slot)
    peer = Port(sched, "peer")
    peer.attach(rig.wire.append, lambda up: None)
    rig.peer = peer
    rig.cable = Cable(sched, slot.port, peer, latency_ns=latency_ns)
    return rig
