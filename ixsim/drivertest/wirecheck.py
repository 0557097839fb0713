"""Independent checks of captured wire bytes: IPv4, TCP and UDP checksums, recomputed here.

The kit must not trust the code it is testing, so nothing below calls the stack's or
fastpath's checksum code: RFC 1071's one's-complement sum is written out again over the
bytes the far port received.  A header or segment verifies when the sum over it (with its
checksum field in place, plus the pseudo-header for TCP/UDP, RFC 793 §3.1 / RFC 768) folds
to 0xFFFF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
IPPROTO_TCP = 6
IPPROTO_UDP = 17


def ones_sum(data: bytes) -> int:
    """RFC 1071: the folded 16-bit one's-complement sum of ``data`` (odd length padded)."""
    if len(data) & 1:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@dataclass(slots=True)
class Segment:
    """An IPv4 TCP or UDP packet as it was on the wire, with its checksums judged."""

    proto: int
    ip_ok: bool
    l4_ok: bool
    l4_csum: int
    ip_id: int
    seq: int  # TCP only
    payload: bytes
    total_length: int


def parse(frame: bytes) -> Segment | None:
    """The IPv4 TCP/UDP packet in ``frame`` (None for anything else), checksums verified."""
    off = 12
    ethertype = int.from_bytes(frame[off : off + 2], "big")
    if ethertype == ETH_P_8021Q:
        off += 4
        ethertype = int.from_bytes(frame[off : off + 2], "big")
    if ethertype != ETH_P_IP:
        return None
    ip = frame[off + 2 :]
    ihl = (ip[0] & 0x0F) * 4
    total = int.from_bytes(ip[2:4], "big")
    proto = ip[9]
    if proto not in (IPPROTO_TCP, IPPROTO_UDP) or total > len(ip):
        return None
    ip_ok = ones_sum(bytes(ip[:ihl])) == 0xFFFF
    l4 = bytes(ip[ihl:total])
    pseudo = bytes(ip[12:20]) + struct.pack("!BBH", 0, proto, len(l4))
    if proto == IPPROTO_TCP:
        csum = int.from_bytes(l4[16:18], "big")
        seq = int.from_bytes(l4[4:8], "big")
        payload = l4[(l4[12] >> 4) * 4 :]
    else:
        csum = int.from_bytes(l4[6:8], "big")
        seq = 0
        payload = l4[8:]
    l4_ok = ones_sum(pseudo + l4) == 0xFFFF and not (proto == IPPROTO_UDP and csum == 0)
    return Segment(proto, ip_ok, l4_ok, csum, int.from_bytes(ip[4:6], "big"), seq, payload,
                   total)
