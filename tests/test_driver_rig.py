"""The two-host rig the driver tests share, and the rig's own sanity tests.

Two machines, each with one 82597EX (``Machine.add_ixgb``) and its own ``stack.core`` kernel,
joined by a ``Cable``; the ixgb driver is probed on each PCI function and opened.  Frames go
out through ``dev_queue_xmit`` as raw Ethernet and are caught by an ETH_P_ALL packet tap on
the receiving kernel: no IP stack is involved.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from device.cable import Cable
from device.machine import Machine, NicSlot
from device.spec import regs as R
from driver import ixgb
from driver.ixgb.adapter import Adapter
from firmware import default_words
from ixsim.sched import Scheduler
from stack.core.dev import PacketType
from stack.core.etherdevice import ETH_P_ALL
from stack.core.kernel import Kernel
from stack.core.netdevice import NetDevice, dev_open
from stack.core.qdisc import dev_queue_xmit
from stack.core.skbuff import PACKET_OUTGOING, SkBuff, alloc_skb, consume_skb

MAC_A = bytes.fromhex("020000000100")
MAC_B = bytes.fromhex("020000000200")
ETH_P_EXPERIMENTAL = 0x88B5  # IEEE 802 local experimental ethertype: no handler claims it

@dataclass
class Received:
    frame: bytes  # from the MAC header to the end, as the driver passed it up
    vlan_tci: int | None  # the tag the hardware stripped, if any
    ip_summed: int


@dataclass(eq=False)
class Host:
    name: str
    machine: Machine
    slot: NicSlot
    kernel: Kernel
    netdev: NetDevice
    rx: list[Received] = field(default_factory=list)
    taps_on: bool = True

    @property
    def adapter(self) -> Adapter:
        return ixgb.adapter_of(self.netdev)

    @property
    def nic(self) -> Any:
        return self.slot.nic

    def peek(self, reg: int) -> int:
        """A register without side effects (never clears ICR or counters)."""
        return self.slot.nic.peek(reg)

    def frames(self) -> list[bytes]:
        return [r.frame for r in self.rx]

    def faults(self) -> list[str]:
        """Every device fault recorded on this host's machine (a correct driver has none)."""
        return [str(f) for f in self.machine.faults]


class World:
    """Scheduler, two hosts a and b, the cable between them; drivers probed (and opened)."""

    def __init__(self, seed: int = 1, open_devices: bool = True, latency_ns: int = 0,
                 params_a: dict[str, Any] | None = None,
                 params_b: dict[str, Any] | None = None) -> None:
        self.sched = Scheduler(seed=seed)
        self.a = self._host("a", MAC_A, params_a or {})
        self.b = self._host("b", MAC_B, params_b or {})
        self.cable = Cable(self.sched, self.a.slot.port, self.b.slot.port, latency_ns=latency_ns)
        if open_devices:
            assert dev_open(self.a.netdev) == 0
            assert dev_open(self.b.netdev) == 0
            self.run("10ms")  # the watchdog's first run reports link up
            assert self.a.netdev.carrier_ok() and self.b.netdev.carrier_ok()

    def _host(self, name: str, mac: bytes, params: dict[str, Any]) -> Host:
        machine = Machine(self.sched, name)
        slot = machine.add_ixgb(default_words(mac))
        kernel = Kernel(self.sched, name)
        netdev = ixgb.probe(kernel, slot.pci_dev, **params)
        host = Host(name, machine, slot, kernel, netdev)

        def tap(skb: SkBuff, dev: Any, pt: Any, orig: Any) -> int:
            if host.taps_on and skb.pkt_type != PACKET_OUTGOING:
                # stack.core's netif_receive_skb clears vlan_present before it runs the last
                # tap (Linux delivers a pending tap before VLAN handling); vlan_tci survives.
                tci = skb.vlan_tci if skb.vlan_present or skb.vlan_tci else None
                host.rx.append(Received(skb.mac_bytes(), tci, skb.ip_summed))
            consume_skb(skb)
            return 0

        kernel.dev_add_pack(PacketType(ETH_P_ALL, tap, dev=netdev))
        return host

    def run(self, duration: int | str) -> None:
        self.sched.run_for(duration)

    @property
    def hosts(self) -> tuple[Host, Host]:
        return (self.a, self.b)

    def peer(self, host: Host) -> Host:
        return self.b if host is self.a else self.a

    @staticmethod
    def skb(host: Host, frame: bytes, headroom: int = 64) -> SkBuff:
        skb = alloc_skb(host.kernel, len(frame) + headroom)
        skb.reserve(headroom)
        skb.put_data(frame)
        skb.dev = host.netdev
        return skb

    def send(self, host: Host, frame: bytes, **attrs: Any) -> int:
        """dev_queue_xmit one raw frame (skb attributes such as vlan_tci may be given)."""
        skb = self.skb(host, frame)
        for name, value in attrs.items():
            setattr(skb, name, value)
        return dev_queue_xmit(skb)

    def frame(self, src: Host, size: int, seq: int = 0, dst: bytes | None = None) -> bytes:
        """A raw frame of ``size`` bytes to the peer (or ``dst``) with a numbered payload."""
        dst = dst if dst is not None else self.peer(src).netdev.dev_addr
        head = dst + src.netdev.dev_addr + struct.pack("!HI", ETH_P_EXPERIMENTAL, seq)
        body = bytes((seq + i) & 0xFF for i in range(size - len(head)))
        return head + body

    def assert_clean(self) -> None:
        """No unexpected device fault on either machine."""
        for host in self.hosts:
            assert host.faults() == [], host.faults()


def tx_mappings(host: Host) -> int:
    """Live DMA mappings to-device (TX bounce chunks) on a host."""
    return sum(refs for _s, _l, direction, refs in host.machine.dma.mappings() if direction == 1)


# -- the rig's own sanity --------------------------------------------------------------------
def test_rig_brings_two_hosts_up_with_link():
    w = World()
    for host in w.hosts:
        assert host.netdev.name == "eth0"
        assert host.peek(R.STATUS) & R.STATUS_LU
        assert any("NIC Link is Up 10 Gbps Full Duplex, Flow Control: TX" in r.msg
                   for r in host.kernel.dmesg)
    w.assert_clean()


def test_rig_one_frame_each_way():
    w = World()
    fa = w.frame(w.a, 100, 1)
    fb = w.frame(w.b, 100, 2)
    assert w.send(w.a, fa) == 0 and w.send(w.b, fb) == 0
    w.run("1ms")
    assert w.b.frames() == [fa] and w.a.frames() == [fb]
    w.assert_clean()
