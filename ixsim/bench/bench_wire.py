"""Micro-benchmark of the wire formats: µs per checked+parse and per emit, for each header.

Not a test (no timed assertions): run ``python -m ixsim.bench.bench_wire`` and read the figures.
The target is about 1 µs per header parse or build on the hot path (docs/design.md, Performance);
the ``construct`` decoder is timed alongside to show why it stays on the cold path.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable

from stack.wire import (
    ACK,
    ARPOP_REQUEST,
    ETH_P_IP,
    IPPROTO_TCP,
    PSH,
    SYN,
    ArpPacket,
    ArpRepr,
    EthernetFrame,
    EthernetRepr,
    IcmpPacket,
    IcmpRepr,
    Ipv4Packet,
    Ipv4Repr,
    TcpPacket,
    TcpRepr,
    UdpPacket,
    UdpRepr,
    describe,
    ip_bytes,
    mac_bytes,
)
from stack.wire.ethernet import ETHERNET_CONSTRUCT
from stack.wire.ipv4 import IPV4_CONSTRUCT
from stack.wire.tcp import TCP_CONSTRUCT

SRC = ip_bytes("10.0.0.1")
DST = ip_bytes("10.0.0.2")
MAC1 = mac_bytes("02:00:00:00:00:01")
MAC2 = mac_bytes("02:00:00:00:00:02")


def per_call_us(fn: Callable[[], object], number: int = 20000) -> float:
    """Best of five runs, in µs per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def built(rep: object, size: int, *args: object) -> bytes:
    buf = bytearray(size)
    rep.emit(buf, 0, *args)  # type: ignore[attr-defined]
    return bytes(buf)


def main() -> None:
    out = bytearray(2048)
    eth = EthernetRepr(MAC2, MAC1, ETH_P_IP)
    eth_vlan = EthernetRepr(MAC2, MAC1, ETH_P_IP, 5)
    arp = ArpRepr(ARPOP_REQUEST, MAC1, SRC, bytes(6), DST)
    ip = Ipv4Repr(SRC, DST, IPPROTO_TCP, 1460, df=True)
    icmp = IcmpRepr.echo_request(1, 1, bytes(56))
    udp = UdpRepr(5000, 53, 0)
    tcp_data = TcpRepr(34567, 80, 1000, 2000, ACK | PSH, 502, timestamp=(1, 2))
    tcp_syn = TcpRepr(
        34567, 80, 1000, 0, SYN, 65535, mss=1460, wscale=7, sack_permitted=True, timestamp=(1, 0)
    )
    tcp_plain = TcpRepr(34567, 80, 1000, 2000, ACK, 502)

    eth_b = built(eth, 14)
    eth_vlan_b = built(eth_vlan, 18)
    arp_b = built(arp, 28)
    ip_b = built(ip, 20) + bytes(1460)
    icmp_b = built(icmp, 64)
    udp_b = built(udp, 8, SRC, DST)
    tcp_data_b = built(tcp_data, 32)
    tcp_syn_b = built(tcp_syn, 40)
    tcp_plain_b = built(tcp_plain, 20)
    tcp_1460 = TcpRepr(34567, 80, 1000, 2000, ACK | PSH, 502, timestamp=(1, 2), payload_len=1460)
    seg_1460 = bytearray(tcp_data_b + bytes(1460))
    tcp_1460.emit(seg_1460, 0, SRC, DST)
    frame = built(eth, 14) + built(Ipv4Repr(SRC, DST, IPPROTO_TCP, 40), 20) + tcp_syn_b

    rows: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "ethernet",
            lambda: EthernetRepr.parse(EthernetFrame.checked(eth_b)),
            lambda: eth.emit(out),
        ),
        (
            "ethernet+vlan",
            lambda: EthernetRepr.parse(EthernetFrame.checked(eth_vlan_b)),
            lambda: eth_vlan.emit(out),
        ),
        ("arp", lambda: ArpRepr.parse(ArpPacket.checked(arp_b)), lambda: arp.emit(out)),
        ("ipv4 (csum)", lambda: Ipv4Repr.parse(Ipv4Packet.checked(ip_b)), lambda: ip.emit(out)),
        (
            "ipv4 (no csum)",
            lambda: Ipv4Repr.parse(Ipv4Packet.checked(ip_b, False)),
            lambda: ip.emit(out, 0, False),
        ),
        (
            "icmp echo 64B",
            lambda: IcmpRepr.parse(IcmpPacket.checked(icmp_b)),
            lambda: icmp.emit(out),
        ),
        ("udp", lambda: UdpRepr.parse(UdpPacket.checked(udp_b)), lambda: udp.emit(out)),
        (
            "tcp bare",
            lambda: TcpRepr.parse(TcpPacket.checked(tcp_plain_b)),
            lambda: tcp_plain.emit(out),
        ),
        (
            "tcp ts",
            lambda: TcpRepr.parse(TcpPacket.checked(tcp_data_b)),
            lambda: tcp_data.emit(out),
        ),
        (
            "tcp syn options",
            lambda: TcpRepr.parse(TcpPacket.checked(tcp_syn_b)),
            lambda: tcp_syn.emit(out),
        ),
        (
            "tcp 1460B + csum",
            lambda: TcpRepr.parse(TcpPacket.checked(seg_1460, SRC, DST)),
            lambda: tcp_1460.emit(seg_1460, 0, SRC, DST),
        ),
    ]
    print(f"{'header':<18}{'parse µs':>10}{'emit µs':>10}")
    for name, parse, emit in rows:
        print(f"{name:<18}{per_call_us(parse):>10.2f}{per_call_us(emit):>10.2f}")
    print()
    print(f"{'construct decoder':<18}{'parse µs':>10}")
    for name, con, data in (
        ("ethernet", ETHERNET_CONSTRUCT, eth_b),
        ("ipv4", IPV4_CONSTRUCT, ip_b[:20]),
        ("tcp syn options", TCP_CONSTRUCT, tcp_syn_b),
    ):
        print(f"{name:<18}{per_call_us(lambda c=con, d=data: c.parse(d), 2000):>10.2f}")
    print()
    print(f"describe(SYN frame): {per_call_us(lambda: describe(frame), 5000):.2f} µs")


if __name__ == "__main__":
    main()
