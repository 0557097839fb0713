"""The Internet checksum the long way (RFC 1071), independent of anything in ixsim.

Device, driver and wire tests compare what the NIC, ``fastpath`` or ``stack.wire`` computed
with this: unpack every 16-bit word with ``struct``, add, fold.
"""

from __future__ import annotations

import struct


def ones_sum(data: bytes) -> int:
    """RFC 1071 one's-complement sum of big-endian 16-bit words, folded, not complemented."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def ref_checksum(data: bytes) -> int:
    """RFC 1071 the long way: unpack every 16-bit word, add, fold, complement."""
    return ~ones_sum(data) & 0xFFFF
