"""Shared harness of the IPv4 tests: hosts on veth pairs, frame builders, a packet tap.

``two_hosts()`` cables A (10.0.0.1/24) and B (10.0.0.2/24) with a veth pair; ``routed()``
builds A - R - B (10.0.1.0/24 and 10.0.2.0/24, R forwarding).  Frames are built with the wire
reprs and injected the way a driver's NAPI poll delivers them (``eth_type_trans`` +
``netif_receive_skb``).  The other ``test_ip_*``, ``test_arp``, ``test_udp`` and ``test_icmp``
files import it; its own tests cover the veth pair and the loopback device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ixsim.sched import Scheduler
from stack.core import (
    ETH_P_ALL,
    ETH_P_IP,
    PACKET_OUTGOING,
    Kernel,
    NetDevice,
    PacketType,
    SkBuff,
    consume_skb,
    eth_type_trans,
    netdev_alloc_skb,
    netif_receive_skb,
)
from stack.net import Net
from stack.udp import UdpSock
from stack.veth import veth_pair
from stack.wire import (
    EthernetRepr,
    IcmpRepr,
    Ipv4Repr,
    UdpRepr,
    ip_bytes,
)

US = 1_000
MS = 1_000_000
S = 1_000_000_000

LINUX_IP_MIB = {
    "Forwarding", "DefaultTTL", "InReceives", "InHdrErrors", "InAddrErrors", "ForwDatagrams",
    "InUnknownProtos", "InDiscards", "InDelivers", "OutRequests", "OutDiscards", "OutNoRoutes",
    "ReasmTimeout", "ReasmReqds", "ReasmOKs", "ReasmFails", "FragOKs", "FragFails",
    "FragCreates", "OutTransmits",
}
LINUX_IPEXT_MIB = {
    "InNoRoutes", "InTruncatedPkts", "InMcastPkts", "OutMcastPkts", "InBcastPkts",
    "OutBcastPkts", "InOctets", "OutOctets", "InMcastOctets", "OutMcastOctets", "InBcastOctets",
    "OutBcastOctets", "InCsumErrors", "InNoECTPkts", "InECT1Pkts", "InECT0Pkts", "InCEPkts",
    "ReasmOverlaps",
}
LINUX_ICMP_MIB = {
    "InMsgs", "InErrors", "InCsumErrors", "InDestUnreachs", "InTimeExcds", "InParmProbs",
    "InSrcQuenchs", "InRedirects", "InEchos", "InEchoReps", "InTimestamps", "InTimestampReps",
    "InAddrMasks", "InAddrMaskReps", "OutMsgs", "OutErrors", "OutRateLimitGlobal",
    "OutRateLimitHost", "OutDestUnreachs", "OutTimeExcds", "OutParmProbs", "OutSrcQuenchs",
    "OutRedirects", "OutEchos", "OutEchoReps", "OutTimestamps", "OutTimestampReps",
    "OutAddrMasks", "OutAddrMaskReps",
}
LINUX_UDP_MIB = {
    "InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors", "SndbufErrors",
    "InCsumErrors", "IgnoredMulti", "MemErrors",
}


def assert_linux_mib_names(net: Net) -> None:
    """Every counter the stack touched has a name Linux's /proc/net/{snmp,netstat} uses."""
    assert set(net.mib.ip) <= LINUX_IP_MIB, set(net.mib.ip) - LINUX_IP_MIB
    assert set(net.mib.ipext) <= LINUX_IPEXT_MIB, set(net.mib.ipext) - LINUX_IPEXT_MIB
    assert set(net.mib.icmp) <= LINUX_ICMP_MIB, set(net.mib.icmp) - LINUX_ICMP_MIB
    assert set(net.mib.udp) <= LINUX_UDP_MIB, set(net.mib.udp) - LINUX_UDP_MIB
    for name in net.mib.icmpmsg:
        assert name.startswith(("InType", "OutType")) and name[-1].isdigit(), name


@dataclass
class Host:
    """One emulated host: kernel, namespace and its veth ends."""

    name: str
    kernel: Kernel
    net: Net
    devs: list[NetDevice] = field(default_factory=list)

    @property
    def dev(self) -> NetDevice:
        return self.devs[0]

    def udp(self, port: int | None = None, addr: str = "0.0.0.0") -> UdpSock:
        sk = UdpSock(self.net)
        if port is not None:
            sk.bind(ip_bytes(addr), port)
        return sk


class Tap:
    """An ETH_P_ALL packet tap on one kernel: (time, device, outgoing, frame bytes)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.frames: list[tuple[int, str, bool, bytes]] = []
        self.pt = PacketType(ETH_P_ALL, self._rcv)
        kernel.dev_add_pack(self.pt)

    def _rcv(self, skb: SkBuff, dev: NetDevice, pt: PacketType, orig: NetDevice) -> int:
        self.frames.append((self.kernel.sched.now, dev.name, skb.pkt_type == PACKET_OUTGOING,
                            skb.mac_bytes()))
        consume_skb(skb)
        return 0

    def sent(self, ethertype: int | None = None) -> list[tuple[int, bytes]]:
        return [(t, f) for t, _d, out, f in self.frames
                if out and (ethertype is None or int.from_bytes(f[12:14], "big") == ethertype)]

    def received(self, ethertype: int | None = None) -> list[tuple[int, bytes]]:
        return [(t, f) for t, _d, out, f in self.frames
                if not out and (ethertype is None or int.from_bytes(f[12:14], "big") == ethertype)]

    def close(self) -> None:
        self.kernel.dev_remove_pack(self.pt)


def new_host(sched: Scheduler, name: str) -> Host:
    kernel = Kernel(sched, name)
    return Host(name, kernel, Net(kernel))


def two_hosts(delay: int = 50 * US, features: int = 0, mtu: int = 1500, seed: int = 1,
              rate: int = 0) -> tuple[Scheduler, Host, Host]:
    """A (10.0.0.1/24) and B (10.0.0.2/24) on one veth pair; the world settled."""
    sched = Scheduler(seed=seed)
    a, b = new_host(sched, "a"), new_host(sched, "b")
    da, db = veth_pair(a.kernel, b.kernel, delay=delay, features=features, mtu=mtu, rate=rate)
    a.devs.append(da)
    b.devs.append(db)
    a.net.configure(da, "10.0.0.1/24")
    b.net.configure(db, "10.0.0.2/24")
    sched.run_for(S)  # gratuitous ARPs delivered
    return sched, a, b


def routed(delay: int = 50 * US, mtu_ab: int = 1500, mtu_rb: int = 1500, seed: int = 1
           ) -> tuple[Scheduler, Host, Host, Host]:
    """A (10.0.1.1) - R (10.0.1.254 | 10.0.2.254) - B (10.0.2.1), R forwarding."""
    sched = Scheduler(seed=seed)
    a, r, b = new_host(sched, "a"), new_host(sched, "r"), new_host(sched, "b")
    da, ra = veth_pair(a.kernel, r.kernel, delay=delay, mtu=mtu_ab)
    rb, db = veth_pair(r.kernel, b.kernel, delay=delay, mtu=mtu_rb)
    a.devs.append(da)
    r.devs += [ra, rb]
    b.devs.append(db)
    a.net.configure(da, "10.0.1.1/24")
    r.net.configure(ra, "10.0.1.254/24")
    r.net.configure(rb, "10.0.2.254/24")
    b.net.configure(db, "10.0.2.1/24")
    a.net.add_route("default", gateway="10.0.1.254")
    b.net.add_route("default", gateway="10.0.2.254")
    r.net.sysctl.ip_forward = True
    sched.run_for(S)
    return sched, a, r, b


# -- frames ---------------------------------------------------------------------------------------
def ipv4_packet(src: str, dst: str, proto: int, payload: bytes, ttl: int = 64, ident: int = 1,
                df: bool = False, mf: bool = False, frag_offset: int = 0,
                options: bytes = b"") -> bytes:
    rep = Ipv4Repr(ip_bytes(src), ip_bytes(dst), proto, len(payload), ttl, ident, df, mf,
                   frag_offset, options=options)
    buf = bytearray(rep.buffer_len() + len(payload))
    hl = rep.emit(buf)
    buf[hl:] = payload
    return bytes(buf)


def udp_datagram(src: str, dst: str, sport: int, dport: int, data: bytes,
                 checksum: bool = True) -> bytes:
    buf = bytearray(8 + len(data))
    buf[8:] = data
    rep = UdpRepr(sport, dport, len(data))
    if checksum:
        rep.emit(buf, 0, ip_bytes(src), ip_bytes(dst))
    else:
        rep.emit(buf, 0)
    return bytes(buf)


def icmp_message(msg: IcmpRepr) -> bytes:
    buf = bytearray(msg.buffer_len())
    msg.emit(buf)
    return bytes(buf)


def ether(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    buf = bytearray(14 + len(payload))
    EthernetRepr(dst, src, ethertype).emit(buf)
    buf[14:] = payload
    return bytes(buf)


def inject(dev: NetDevice, frame: bytes) -> int:
    """Deliver a frame to ``dev``'s stack as a driver's poll does."""
    skb = netdev_alloc_skb(dev, len(frame))
    skb.put_data(frame)
    eth_type_trans(skb, dev)
    return netif_receive_skb(skb)


def inject_ip(dev: NetDevice, packet: bytes, src_mac: bytes = b"\x02\0\0\0\0\x99") -> int:
    return inject(dev, ether(dev.dev_addr, src_mac, ETH_P_IP, packet))


def settle(sched: Scheduler, duration: int = 0) -> None:
    sched.run_for(duration)


# -- the harness's own devices -------------------------------------------------------------------
def test_veth_delivers_after_the_delay_through_a_softirq():
    sched = Scheduler(seed=3)
    ka, kb = Kernel(sched, "a"), Kernel(sched, "b")
    a, b = veth_pair(ka, kb, delay=7 * US)
    seen: list[tuple[int, bytes]] = []

    def rcv(skb: SkBuff, dev: NetDevice, pt: PacketType, orig: NetDevice) -> int:
        seen.append((sched.now, skb.tobytes()))
        consume_skb(skb)
        return 0

    kb.dev_add_pack(PacketType(0x88B5, rcv))
    from stack.core import alloc_skb, dev_queue_xmit
    skb = alloc_skb(ka, 128)
    skb.reserve(64)
    skb.put_data(b"hello")
    skb.dev = a
    from stack.core import eth_header
    eth_header(skb, a, 0x88B5, b.dev_addr)
    dev_queue_xmit(skb)
    assert seen == []
    sched.run_for(7 * US - 1)
    assert seen == []
    sched.run_for(1)
    assert seen == [(7 * US, b"hello")]
    assert a.stats.tx_packets == 1 and b.stats.rx_packets == 1
    assert ka.skb_live == 0 and kb.skb_live == 0


def test_veth_rate_serializes_frames_and_impair_drops_or_delays():
    sched, a, b = two_hosts(delay=10 * US, rate=1_000_000_000)
    got = []
    sk = b.udp(9)
    tap = Tap(b.kernel)

    def impair(frame: bytes) -> int | None:
        if frame[12:14] == b"\x08\x00" and frame[-1] == 2:
            return None  # lose the third datagram
        return 5 * US if frame[12:14] == b"\x08\x00" and frame[-1] == 0 else 0

    a.dev.priv.impair = impair
    tx = a.udp()
    for i in range(4):
        tx.sendmsg(bytes([i]) * 100, addr=(ip_bytes("10.0.0.2"), 9))
    sched.run_for(10 * MS)
    while True:
        try:
            got.append(sk.recvmsg(2000)[0][0])
        except BlockingIOError:
            break
    assert got == [1, 3, 0]  # the first was held back 5 us, the third lost
    assert a.dev.priv.impaired == 1
    times = [t for t, _f in tap.received(ETH_P_IP)]
    frame_ns = (14 + 20 + 8 + 100) * 8  # 142 bytes at 1 Gb/s
    assert times[1] - times[0] == frame_ns  # back to back on the wire


def test_veth_drops_frames_over_the_receivers_mtu():
    sched, a, b = two_hosts(mtu=1500)
    b.dev.mtu = 1000
    tx = a.udp()
    tx.sendmsg(b"x" * 1200, addr=(ip_bytes("10.0.0.2"), 9))
    sched.run_for(10 * MS)
    assert b.dev.stats.rx_length_errors == 1
    assert b.net.mib.ip["InReceives"] == 0


def test_loopback_is_up_with_127_0_0_1_and_delivers_in_a_later_event():
    sched = Scheduler(seed=1)
    host = new_host(sched, "h")
    lo = host.net.lo
    assert lo is not None and lo.name == "lo" and lo.ifindex == 1
    assert "inet 127.0.0.1/8" in host.net.ip_addr()
    rx = host.udp(5000, "127.0.0.1")
    tx = host.udp()
    tx.sendmsg(b"ping", addr=(ip_bytes("127.0.0.1"), 5000))
    assert not rx.rcvq  # not inline: the receive side runs from NET_RX
    sched.run_for(0)
    assert rx.recvmsg(100)[0] == b"ping"
    assert lo.stats.rx_packets == 1 and lo.stats.tx_packets == 1
    assert host.kernel.skb_live == 0
