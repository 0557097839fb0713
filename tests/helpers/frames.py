"""Frames for the stack tests: builders from the wire reprs, injection, a packet tap.

Frames are built with ``stack.wire``'s reprs and injected the way a driver's NAPI poll
delivers them (``eth_type_trans`` + ``netif_receive_skb``); ``Tap`` is an ETH_P_ALL packet
tap recording both directions.
"""

from __future__ import annotations

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
from stack.wire import ArpRepr, EthernetRepr, IcmpRepr, Ipv4Repr, UdpRepr, ip_bytes


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


def arp_body(op: int, sha: bytes, spa: bytes, tpa: bytes, tha: bytes = bytes(6)) -> bytes:
    """An ARP message body (``ArpRepr``), for ``ether(..., ETH_P_ARP, ...)``."""
    buf = bytearray(28)
    ArpRepr(op, sha, spa, tha, tpa).emit(buf)
    return bytes(buf)


def fragments(ident: int, pieces: list[tuple[int, bytes, bool]]) -> list[bytes]:
    """UDP-protocol IPv4 fragments 10.0.0.1 -> 10.0.0.2 of one datagram: (offset, data, MF)."""
    return [ipv4_packet("10.0.0.1", "10.0.0.2", 17, data, ident=ident, mf=mf, frag_offset=off)
            for off, data, mf in pieces]
