"""A virtual Ethernet pair: what one end transmits the other receives, after a delay.

Mirrors Linux's ``drivers/net/veth.c`` (two net_devices, ``veth_xmit`` forwarding to the peer
through ``netif_rx``), with a cable's properties added so multi-host tests need no NIC model:
a propagation ``delay``, an optional ``rate`` (bits/s: frames are serialized back to back)
and an ``impair`` hook.  The two ends may live on different hosts (kernels) sharing one
scheduler.

Contract:
- ``veth_pair(kernel_a, kernel_b=None, delay=0, rate=0, features=0, mtu=1500, up=True)``
  returns the two registered (and, with ``up``, opened) devices, named ``veth0``, ``veth1``...
  per host, with MACs from ``sched.rng`` unless ``macs`` are given.
- Delivery: ``ndo_start_xmit`` copies the frame and frees the skb; the peer receives it as an
  event at ``now + serialization + delay (+ impair's extra delay)``, allocates an skb,
  ``eth_type_trans`` and ``netif_rx`` (so the stack runs from NET_RX, another event).  Frames
  longer than the receiver's MTU + 18 are dropped as ``rx_length_errors``; a receiver that is
  down counts ``rx_dropped``.
- ``features`` may offer NETIF_F_HW_CSUM / NETIF_F_IP_CSUM, NETIF_F_SG, NETIF_F_TSO and
  NETIF_F_RXCSUM.  Offloads are then done "in hardware" by this device, in software: a
  CHECKSUM_PARTIAL checksum is completed at transmit, a GSO skb is segmented at transmit
  (``stack.ipv4.gso``), and with RXCSUM received TCP/UDP checksums are verified and good ones
  marked CHECKSUM_UNNECESSARY.  So the frames "on the wire" are always complete, whichever
  side did the work.  (Linux's veth passes partial checksums and GSO skbs through instead.)
- ``impair(frame: bytes) -> int | None``, set on an end's ``priv.impair``, sees every frame
  that end transmits: None drops it (counted in ``priv.impaired``), an int adds that many ns
  of delay (reordering).  ``priv.tx_frames`` counts frames put on the wire.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from stack.core import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    ETH_HLEN,
    IFF_UP,
    NETDEV_TX_OK,
    NETIF_F_RXCSUM,
    VLAN_HLEN,
    Kernel,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_etherdev,
    consume_skb,
    dev_open,
    eth_hw_addr_random,
    eth_hw_addr_set,
    eth_mac_addr,
    eth_type_trans,
    netdev_alloc_skb,
    netif_rx,
    netif_start_queue,
    register_netdev,
    skb_checksum_help,
)
from stack.core.units import NS_PER_S
from stack.ipv4.gso import inet_gso_segment
from stack.wire.checksum import verify_l4
from stack.wire.ipv4 import IP_MF, IP_OFFSET, IPPROTO_TCP, IPPROTO_UDP
from stack.wire.layout import U16

Impair = Callable[[bytes], int | None]


class VethPriv:
    """One end's private state: its peer, the cable's properties, counters."""

    __slots__ = ("dev", "peer", "delay", "rate", "impair", "busy_until", "tx_frames",
                 "impaired", "sched")

    def __init__(self, dev: NetDevice, delay: int, rate: int) -> None:
        self.dev = dev
        self.peer: NetDevice | None = None
        self.delay = delay
        self.rate = rate
        self.impair: Impair | None = None
        self.busy_until = 0
        self.tx_frames = 0
        self.impaired = 0
        self.sched = dev.kernel.sched

    @property
    def trace_name(self) -> str:
        return f"{self.dev.kernel.hostname} {self.dev.name}"

    def transmit(self, frame: bytes) -> None:
        """Put one complete frame on the cable towards the peer."""
        peer = self.peer
        assert peer is not None
        now = self.sched.now
        extra = 0
        if self.impair is not None:
            verdict = self.impair(frame)
            if verdict is None:
                self.impaired += 1
                return
            extra = verdict
        if self.rate:
            start = max(now, self.busy_until)
            self.busy_until = start + len(frame) * 8 * NS_PER_S // self.rate
            arrival = self.busy_until + self.delay + extra
        else:
            arrival = now + self.delay + extra
        self.tx_frames += 1
        self.sched.call_at(arrival, peer.priv.receive, frame)

    def receive(self, frame: bytes) -> None:
        """The frame arrives at this end (an event of the cable)."""
        dev = self.dev
        stats = dev.stats
        if not dev.flags & IFF_UP:
            stats.rx_dropped += 1
            return
        if len(frame) > dev.mtu + ETH_HLEN + VLAN_HLEN or len(frame) < ETH_HLEN:
            stats.rx_length_errors += 1
            stats.rx_errors += 1
            return
        skb = netdev_alloc_skb(dev, len(frame))
        skb.put_data(frame)
        if dev.features & NETIF_F_RXCSUM and _l4_csum_ok(frame):
            skb.ip_summed = CHECKSUM_UNNECESSARY
        eth_type_trans(skb, dev)
        stats.rx_packets += 1
        stats.rx_bytes += len(frame)
        netif_rx(skb)


def _l4_csum_ok(frame: bytes) -> bool:
    """The "hardware" receive checksum check: an unfragmented IPv4 TCP/UDP frame that sums."""
    if len(frame) < ETH_HLEN + 20 or frame[12:14] != b"\x08\x00":
        return False
    ip = ETH_HLEN
    vi = frame[ip]
    ihl = (vi & 0x0F) << 2
    if vi >> 4 != 4 or ihl < 20 or len(frame) < ip + ihl:
        return False
    proto = frame[ip + 9]
    total = U16.unpack_from(frame, ip + 2)[0]
    if proto not in (IPPROTO_TCP, IPPROTO_UDP) or U16.unpack_from(frame, ip + 6)[0] & (
            IP_MF | IP_OFFSET) or total < ihl + 8 or ip + total > len(frame):
        return False
    segment = memoryview(frame)[ip + ihl : ip + total]
    if proto == IPPROTO_UDP and U16.unpack_from(segment, 6)[0] == 0:
        return False
    return verify_l4(frame[ip + 12 : ip + 16], frame[ip + 16 : ip + 20], proto, segment)


class VethOps(NetDeviceOps):
    """``veth_netdev_ops``."""

    def ndo_open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0

    def ndo_stop(self, dev: NetDevice) -> int:
        return 0

    def ndo_change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        dev.mtu = new_mtu
        return 0

    def ndo_set_mac_address(self, dev: NetDevice, addr: bytes) -> int:
        return eth_mac_addr(dev, addr)

    def ndo_start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """veth_xmit, with the offloads done here (see the module docstring)."""
        priv: VethPriv = dev.priv
        stats = dev.stats
        frames = inet_gso_segment(skb, dev.features) if skb.gso_size else [skb]
        for frame in frames:
            if frame.ip_summed == CHECKSUM_PARTIAL:
                skb_checksum_help(frame)
            data = frame.tobytes()
            stats.tx_packets += 1
            stats.tx_bytes += len(data)
            priv.transmit(data)
            if frame is not skb:
                consume_skb(frame)
        consume_skb(skb)
        return NETDEV_TX_OK


def veth_pair(kernel_a: Kernel, kernel_b: Kernel | None = None, delay: int = 0, rate: int = 0,
              features: int = 0, mtu: int = 1500, up: bool = True,
              names: tuple[str, str] = ("veth%d", "veth%d"),
              macs: tuple[bytes | None, bytes | None] = (None, None)
              ) -> tuple[NetDevice, NetDevice]:
    """Create two connected veth devices (see the module docstring)."""
    kernel_b = kernel_b if kernel_b is not None else kernel_a
    if kernel_a.sched is not kernel_b.sched:
        raise ValueError("both ends of a veth pair must share one scheduler")
    devs = []
    for kernel, name, mac in zip((kernel_a, kernel_b), names, macs, strict=True):
        dev = alloc_etherdev(kernel, priv_factory=lambda d: VethPriv(d, delay, rate))
        dev.name = name
        dev.netdev_ops = VethOps()
        dev.driver_name = "veth"
        if mac is None:
            eth_hw_addr_random(dev)
        else:
            eth_hw_addr_set(dev, mac)
        dev.mtu = mtu
        dev.max_mtu = 0xFFFF
        dev.features = features
        dev.hw_features = features
        ret = register_netdev(dev)
        if ret:
            raise OSError(-ret, f"{name}: register_netdev failed")
        devs.append(dev)
    a, b = devs
    a.priv.peer = b
    b.priv.peer = a
    if up:
        for dev in devs:
            ret = dev_open(dev)
            if ret:
                raise OSError(-ret, f"{dev.name}: dev_open: {errno.errorcode.get(-ret, ret)}")
    return a, b
