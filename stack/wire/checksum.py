"""Internet checksums for the wire formats: the IPv4 and IPv6 pseudo-headers and L4 sums.

Mirrors Linux's ``include/net/checksum.h`` / ``include/net/ip.h`` (``csum_tcpudp_nofold``,
``csum_tcpudp_magic``, ``tcp_v4_check``) as a thin layer over :mod:`fastpath`, which does the
per-byte work (RFC 1071).  Partial sums are unfolded-to-16-bit, uncomplemented ints, as
``csum_partial`` returns; the value stored in a header is ``csum_fold``'s complement.

Contract: ``l4_checksum`` sums the segment as it is, so the caller zeroes the checksum field
first (the views' ``fill_checksum`` do).  ``verify_l4`` sums the segment *with* its checksum
field and is true when the total folds to zero.  Addresses are 4-byte (IPv4) or 16-byte
(IPv6) network-order bytes.
A checksum-offload transmit stores ``pseudo_header_sum(...)`` itself in the field (Linux's
``CHECKSUM_PARTIAL``: ``th->check = ~tcp_v4_check(len, saddr, daddr, 0)``).

Spec: RFC 1071; RFC 768 and RFC 9293 §3.1 (pseudo-header); RFC 1624 (incremental update).
"""

from __future__ import annotations

from fastpath import csum_fold, csum_partial, csum_replace2, internet_checksum
from stack.wire.layout import Buffer

__all__ = [
    "csum_fold",
    "csum_partial",
    "csum_replace2",
    "internet_checksum",
    "l4_checksum",
    "pseudo_header_sum",
    "pseudo_header_sum6",
    "verify_l4",
]


def pseudo_header_sum(src_ip: Buffer, dst_ip: Buffer, proto: int, length: int) -> int:
    """Partial sum (0..0xFFFF, not complemented) of the IPv4 pseudo-header.

    The pseudo-header is src, dst, a zero byte, the protocol and the L4 length
    (RFC 9293 §3.1); Linux's ``csum_tcpudp_nofold`` folded to 16 bits.  Given 16-byte
    addresses it is the IPv6 pseudo-header's sum (:func:`pseudo_header_sum6`): the same
    words, the 32-bit upper-layer length summing as the 16-bit one below 64 KiB (RFC 8200
    §8.1), so TCP and UDP checksum either family through this one function.
    """
    if len(src_ip) == 16:
        return pseudo_header_sum6(src_ip, dst_ip, proto, length)
    s = int.from_bytes(src_ip, "big")
    d = int.from_bytes(dst_ip, "big")
    total = (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF) + proto + length
    total = (total & 0xFFFF) + (total >> 16)
    return (total & 0xFFFF) + (total >> 16)


def l4_checksum(src_ip: Buffer, dst_ip: Buffer, proto: int, segment: Buffer) -> int:
    """The value to store in a TCP/UDP checksum field for ``segment`` (its field zeroed)."""
    return internet_checksum(segment, pseudo_header_sum(src_ip, dst_ip, proto, len(segment)))


def verify_l4(src_ip: Buffer, dst_ip: Buffer, proto: int, segment: Buffer) -> bool:
    """True when ``segment``, checksum field included, sums to zero with its pseudo-header."""
    partial = csum_partial(segment, pseudo_header_sum(src_ip, dst_ip, proto, len(segment)))
    return csum_fold(partial) == 0


def pseudo_header_sum6(src_ip: Buffer, dst_ip: Buffer, nexthdr: int, length: int) -> int:
    """Partial sum (0..0xFFFF, not complemented) of the IPv6 pseudo-header.

    Source, destination, the 32-bit upper-layer length and the next header (RFC 8200 §8.1);
    Linux's ``csum_ipv6_magic`` before its final fold and complement.  A 16-byte address
    sums as its eight 16-bit words: the 128-bit integer folded 16 bits at a time.
    """
    total = int.from_bytes(src_ip, "big") + int.from_bytes(dst_ip, "big") + length + nexthdr
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def l4_checksum6(src_ip: Buffer, dst_ip: Buffer, nexthdr: int, segment: Buffer) -> int:
    """The value to store in an ICMPv6/UDP/TCP checksum field over IPv6 (field zeroed)."""
    return internet_checksum(segment, pseudo_header_sum6(src_ip, dst_ip, nexthdr, len(segment)))


def verify_l4_6(src_ip: Buffer, dst_ip: Buffer, nexthdr: int, segment: Buffer) -> bool:
    """True when ``segment``, checksum included, sums to zero with its IPv6 pseudo-header."""
    partial = csum_partial(segment, pseudo_header_sum6(src_ip, dst_ip, nexthdr, len(segment)))
    return csum_fold(partial) == 0
