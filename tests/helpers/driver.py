"""The driver tests' rig: two ixgb hosts from ``ixsim.World``, back to back, no IP stack.

``DriverPair()`` asks the world for hosts a and b with ``stack=False`` (the netdev core and
the ixgb driver only: nothing answers, routes or aggregates the test's frames) and
``up=False``, joins them with ``World.cable``, then opens both interfaces and runs 10 ms (the
watchdog's first run reports link up).  Frames go out through ``dev_queue_xmit`` as raw
Ethernet and are caught by an ETH_P_ALL packet tap on the receiving kernel.  The assembly
is the world's; this module only adds what a driver test observes and sends.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from driver import ixgb
from driver.ixgb.adapter import Adapter
from ixsim.host import Host
from ixsim.world import World
from stack.core.dev import PacketType
from stack.core.etherdevice import ETH_P_ALL
from stack.core.netdevice import dev_open
from stack.core.qdisc import dev_queue_xmit
from stack.core.skbuff import PACKET_OUTGOING, SkBuff, alloc_skb, consume_skb

MAC_A = bytes.fromhex("020000000100")  # ixsim.host.host_mac(0, 0): the world's first host
MAC_B = bytes.fromhex("020000000200")  # host_mac(1, 0)
ETH_P_EXPERIMENTAL = 0x88B5  # IEEE 802 local experimental ethertype: no handler claims it


@dataclass
class Received:
    frame: bytes  # from the MAC header to the end, as the driver passed it up
    vlan_tci: int | None  # the tag the hardware stripped, if any
    ip_summed: int


class NicHost:
    """A world host as a driver test sees it: its one NIC, its netdev, what it received."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.name = host.name
        self.machine = host.machine
        self.kernel = host.kernel
        self.slot = host.nics[0]
        self.netdev = host.interfaces["eth0"]
        self.rx: list[Received] = []
        self.taps_on = True
        self.kernel.dev_add_pack(PacketType(ETH_P_ALL, self._tap, dev=self.netdev))

    def _tap(self, skb: SkBuff, dev: Any, pt: Any, orig: Any) -> int:
        if self.taps_on and skb.pkt_type != PACKET_OUTGOING:
            # stack.core's netif_receive_skb clears vlan_present before it runs the last
            # tap (Linux delivers a pending tap before VLAN handling); vlan_tci survives.
            tci = skb.vlan_tci if skb.vlan_present or skb.vlan_tci else None
            self.rx.append(Received(skb.mac_bytes(), tci, skb.ip_summed))
        consume_skb(skb)
        return 0

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


class DriverPair:
    """Hosts a and b of one ``ixsim.World``, their cable, drivers probed (and opened)."""

    def __init__(self, seed: int = 1, open_devices: bool = True, latency_ns: int = 0,
                 params_a: dict[str, Any] | None = None,
                 params_b: dict[str, Any] | None = None) -> None:
        self.world = World(seed=seed)
        self.sched = self.world.sched
        self.a = self._host("a", params_a)
        self.b = self._host("b", params_b)
        self.cable = self.world.cable(self.a.netdev, self.b.netdev, latency=latency_ns,
                                      wait=False)
        if open_devices:
            assert dev_open(self.a.netdev) == 0
            assert dev_open(self.b.netdev) == 0
            self.run("10ms")  # the watchdog's first run reports link up
            assert self.a.netdev.carrier_ok() and self.b.netdev.carrier_ok()

    def _host(self, name: str, params: dict[str, Any] | None) -> NicHost:
        host = self.world.host(name, stack=False, up=False, driver_params=params or {})
        assert host.probe_errors == [], host.probe_errors
        return NicHost(host)

    def run(self, duration: int | str) -> None:
        self.world.run_for(duration)

    @property
    def hosts(self) -> tuple[NicHost, NicHost]:
        return (self.a, self.b)

    def peer(self, host: NicHost) -> NicHost:
        return self.b if host is self.a else self.a

    @staticmethod
    def skb(host: NicHost, frame: bytes, headroom: int = 64) -> SkBuff:
        skb = alloc_skb(host.kernel, len(frame) + headroom)
        skb.reserve(headroom)
        skb.put_data(frame)
        skb.dev = host.netdev
        return skb

    def send(self, host: NicHost, frame: bytes, **attrs: Any) -> int:
        """dev_queue_xmit one raw frame (skb attributes such as vlan_tci may be given)."""
        skb = self.skb(host, frame)
        for name, value in attrs.items():
            setattr(skb, name, value)
        return dev_queue_xmit(skb)

    def frame(self, src: NicHost, size: int, seq: int = 0, dst: bytes | None = None) -> bytes:
        """A raw frame of ``size`` bytes to the peer (or ``dst``) with a numbered payload."""
        dst = dst if dst is not None else self.peer(src).netdev.dev_addr
        head = dst + src.netdev.dev_addr + struct.pack("!HI", ETH_P_EXPERIMENTAL, seq)
        body = bytes((seq + i) & 0xFF for i in range(size - len(head)))
        return head + body

    def assert_clean(self) -> None:
        """No unexpected device fault on either machine."""
        for host in self.hosts:
            assert host.faults() == [], host.faults()


def tx_mappings(host: NicHost) -> int:
    """Live DMA mappings to-device (TX bounce chunks) on a host."""
    return sum(refs for _s, _l, direction, refs in host.machine.dma.mappings() if direction == 1)
