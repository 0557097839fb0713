"""Offload checks: TX and RX checksums, TSO, VLAN insertion, stripping and filtering.

Each function is one check of :data:`ixsim.drivertest.CHECKS`; a driver that does not
advertise the offload (``netdev.features``) is skipped with the feature named.  What the
device put on the wire is judged at b's port by :mod:`.wirecheck`, never by the stack's code.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from typing import Any

from ixsim.drivertest.context import Context, require
from ixsim.drivertest.rig import CheckFailed, Rig, Skip
from ixsim.drivertest.wirecheck import IPPROTO_TCP, IPPROTO_UDP, ones_sum, parse
from stack.core import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    vlan_vid_add,
    vlan_vid_del,
)
from stack.core.features import (
    NETIF_F_CSUM_MASK,
    NETIF_F_HW_VLAN_CTAG_FILTER,
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_RXCSUM,
    NETIF_F_TSO,
)

UDP_SIZES = (1, 17, 100, 512, 1000, 1472)


def _xmit_log(rig: Rig) -> list[tuple[int, int, int]]:
    """(ip_summed, gso_size, length) of every skb the stack hands a's driver."""
    log: list[tuple[int, int, int]] = []
    dev = rig.dev

    def tracer(now: int, event: str, fields: dict[str, Any]) -> None:
        if event == "net_dev_xmit":
            skb = fields["skb"]
            if skb.dev is dev:
                log.append((skb.ip_summed, skb.gso_size, skb.len))

    rig.a.kernel.tracers.append(tracer)
    return log


def tx_checksum(ctx: Context) -> str:
    """UDP and TCP checksums the device filled in verify at the far port."""
    rig = ctx.rig()
    if not rig.dev.features & NETIF_F_CSUM_MASK:
        raise Skip("driver does not advertise NETIF_F_HW_CSUM or NETIF_F_IP_CSUM")
    log = _xmit_log(rig)
    rx = rig.b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 7000))
    tx = rig.a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for n in UDP_SIZES:
        tx.sendto(bytes(range(256)) * (n // 256) + bytes(n % 256), ("10.0.0.2", 7000))
        rx.recvfrom(2048)
    st = rig.tcp_stream(rig.a, rig.b, "10.0.0.2", 20_000, 5003)
    rig.run_until(lambda: st.done, "5s", "a 20 kB TCP transfer")
    segs = [s for s in map(parse, rig.wire_at_b) if s is not None]
    udp = [s for s in segs if s.proto == IPPROTO_UDP]
    tcp = [s for s in segs if s.proto == IPPROTO_TCP]
    bad = [s for s in segs if not (s.ip_ok and s.l4_ok)]
    partial = sum(1 for ip_summed, _gso, _n in log if ip_summed == CHECKSUM_PARTIAL)
    if bad:
        s = bad[0]
        raise CheckFailed(f"{len(bad)} of {len(segs)} packets with a wrong checksum at the far "
                          f"port, e.g. {'TCP' if s.proto == IPPROTO_TCP else 'UDP'} "
                          f"0x{s.l4_csum:04x} (IP header {'ok' if s.ip_ok else 'bad'})")
    if len(udp) < len(UDP_SIZES) or not partial:
        raise CheckFailed(f"{len(udp)} UDP packets seen; {partial} skbs reached the driver "
                          "as CHECKSUM_PARTIAL: the offload was not exercised")
    return (f"{len(udp)} UDP + {len(tcp)} TCP packets verified at the far port; "
            f"{partial} of {len(log)} skbs left to the device (CHECKSUM_PARTIAL)")


def _udp_frame(rig: Rig, payload: bytes, good: bool) -> bytes:
    """A UDP/IPv4 frame from b to a, checksums computed here (or the UDP one spoiled)."""
    src, dst = bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1])
    udp_len = 8 + len(payload)
    udp = struct.pack("!HHHH", 7001, 7001, udp_len, 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, IPPROTO_UDP, udp_len)
    csum = 0xFFFF - ones_sum(pseudo + udp) or 0xFFFF
    if not good:
        csum ^= 0x5A5A
    udp = udp[:6] + csum.to_bytes(2, "big") + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 1, 0, 64, IPPROTO_UDP, 0, src, dst)
    ip = ip[:10] + (0xFFFF - ones_sum(ip)).to_bytes(2, "big") + ip[12:]
    return rig.dev.dev_addr + rig.peer.dev_addr + b"\x08\x00" + ip + udp


def rx_checksum(ctx: Context) -> str:
    """Good UDP is CHECKSUM_UNNECESSARY; a bad or device-flagged one is left to the stack."""
    rig = ctx.rig()
    require(rig.dev, NETIF_F_RXCSUM)
    sock = rig.a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 7001))
    good = [_udp_frame(rig, bytes([i]) * (10 + 50 * i), True) for i in range(10)]
    for f in good:
        rig.send(rig.peer, f)
    rig.run("1ms")
    marks = [r.ip_summed for r in rig.rx_at_a]
    if len(marks) != len(good) or any(m != CHECKSUM_UNNECESSARY for m in marks):
        raise CheckFailed(f"{marks.count(CHECKSUM_UNNECESSARY)} of {len(good)} good UDP "
                          f"datagrams marked CHECKSUM_UNNECESSARY ({len(marks)} received)")
    rig.clear()
    errors = rig.a.net.mib.udp["InCsumErrors"]
    rig.send(rig.peer, _udp_frame(rig, b"corrupted", False))
    rig.run("1ms")
    rig.a.nics[0].nic.inject.bad_checksum = 1  # the device reports TCPE on a good one
    rig.send(rig.peer, _udp_frame(rig, b"flagged", True))
    rig.run("1ms")
    marks = [r.ip_summed for r in rig.rx_at_a]
    if len(marks) != 2 or CHECKSUM_UNNECESSARY in marks:
        raise CheckFailed(f"a corrupted and a device-flagged datagram came up as {marks} "
                          "(must not be CHECKSUM_UNNECESSARY)")
    got = []
    sock.setblocking(False)
    try:
        while True:
            got.append(sock.recv(2048))
    except BlockingIOError:
        pass
    dropped = rig.a.net.mib.udp["InCsumErrors"] - errors
    if got[-1:] != [b"flagged"] or dropped != 1:
        raise CheckFailed(f"the stack got {got[-1:]} and counted {dropped} InCsumErrors "
                          "(expected the flagged datagram delivered, the corrupted dropped)")
    return ("10/10 good UDP CHECKSUM_UNNECESSARY; corrupted and device-flagged ones left to "
            "the stack (1 InCsumErrors, the flagged one delivered)")


def tso(ctx: Context) -> str:
    """A 256 KiB TCP write leaves as MSS-sized segments, checksums valid, stream byte-exact."""
    rig = ctx.rig()
    require(rig.dev, NETIF_F_TSO)
    log = _xmit_log(rig)
    n = 256 << 10
    st = rig.tcp_stream(rig.a, rig.b, "10.0.0.2", n, 5004)
    rig.run_until(lambda: st.done, "10s", "a 256 KiB TCP transfer")
    segs = [s for s in map(parse, rig.wire_at_b) if s is not None and s.proto == IPPROTO_TCP]
    data = [s for s in segs if s.payload]
    bad = [s for s in segs if not (s.ip_ok and s.l4_ok)]
    mtu = rig.dev.mtu
    big = [s for s in segs if s.total_length > mtu]
    gso = [length for _ip_summed, gso_size, length in log if gso_size]
    if bad or big:
        raise CheckFailed(f"{len(bad)} segments with a bad checksum, {len(big)} larger than "
                          f"the MTU, of {len(segs)} at the far port")
    if not gso:
        raise CheckFailed("no GSO skb reached the driver: TSO was not exercised")
    isn = min(s.seq for s in data)
    stream = bytearray(n)
    for s in data:
        off = (s.seq - isn) % (1 << 32)
        stream[off : off + len(s.payload)] = s.payload
    if hashlib.sha256(bytes(stream)).digest() != st.sha_sent:
        raise CheckFailed("the segments at the far port do not reassemble to the bytes sent")
    return (f"{len(gso)} TSO skbs (up to {max(gso):,} bytes) became {len(data)} segments of "
            f"<= {max(len(s.payload) for s in data)} bytes; IP and TCP checksums valid; "
            f"stream byte-exact")


def _tag(frame: bytes, tci: int) -> bytes:
    return frame[:12] + struct.pack("!HH", 0x8100, tci) + frame[12:]


def vlan_insert(ctx: Context) -> str:
    """skb.vlan_tci goes on the wire as an 802.1Q tag the device inserted."""
    rig = ctx.rig(stack=False)
    require(rig.dev, NETIF_F_HW_VLAN_CTAG_TX)
    sent = []
    for i, size in enumerate((60, 200, 1514)):
        tci = (i << 13) | (100 + i)
        frame = rig.frame(rig.dev, rig.peer.dev_addr, size, i)
        rig.send(rig.dev, frame, vlan_tci=tci)
        sent.append(_tag(frame, tci))
    rig.run("1ms")
    if rig.wire_at_b != sent:
        got = [f[12:16].hex() for f in rig.wire_at_b]
        raise CheckFailed(f"tags at the far port {got}, expected "
                          f"{[f[12:16].hex() for f in sent]}")
    return "3 frames with skb.vlan_tci left tagged (PCP and VID exact), payload byte-exact"


def vlan_strip(ctx: Context) -> str:
    """A tagged frame comes up untagged with its tag in skb.vlan_tci."""
    rig = ctx.rig(stack=False)
    require(rig.dev, NETIF_F_HW_VLAN_CTAG_RX)
    vlan_vid_add(rig.dev, 0x8100, 100)
    frames = [rig.frame(rig.peer, rig.dev.dev_addr, 100, i) for i in range(3)]
    for f in frames:
        rig.send(rig.peer, _tag(f, (3 << 13) | 100))
    rig.run("1ms")
    got = [(r.frame, r.vlan_tci) for r in rig.rx_at_a]
    if got != [(f, (3 << 13) | 100) for f in frames]:
        raise CheckFailed(f"received {[(len(f), t) for f, t in got]}: expected 3 untagged "
                          f"frames with vlan_tci 0x{(3 << 13) | 100:04x}")
    return "3 tagged frames came up untagged, skb.vlan_tci 0x6064"


def vlan_filter(ctx: Context) -> str:
    """Only VIDs added with ndo_vlan_rx_add_vid pass; a removed VID is dropped again."""
    rig = ctx.rig(stack=False)
    require(rig.dev, NETIF_F_HW_VLAN_CTAG_FILTER)

    def passes(vid: int, seq: int) -> bool:
        rig.clear()
        rig.send(rig.peer, _tag(rig.frame(rig.peer, rig.dev.dev_addr, 100, seq), vid))
        rig.run("200us")
        return len(rig.rx_at_a) == 1

    vlan_vid_add(rig.dev, 0x8100, 10)
    seen = [passes(10, 1), passes(20, 2)]
    vlan_vid_del(rig.dev, 0x8100, 10)
    seen.append(passes(10, 3))
    if seen != [True, False, False]:
        raise CheckFailed(f"VID 10 added / VID 20 never added / VID 10 removed: received "
                          f"{seen}, expected [True, False, False]")
    return "VID 10 added: received; VID 20: dropped; VID 10 removed: dropped"
