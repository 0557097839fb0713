"""Pure-Python twins of the per-byte work (RFC 1071 Internet checksum).

The C core (issue 8) must give identical results; these are the reference and the fallback
when no compiler was available at install time.  ``int.from_bytes`` folding is ~25x faster
than a byte loop in CPython: the whole buffer becomes one big int, and end-around carry
folding is done on it in a few big-int operations.
"""

from __future__ import annotations


def csum_partial(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """One's-complement 16-bit sum of ``data`` (big-endian words) plus ``initial``, unfolded
    to 16 bits but not complemented.  Odd lengths are padded with a zero byte (RFC 1071)."""
    n = len(data)
    if n & 1:
        data = bytes(data) + b"\0"
        n += 1
    if n == 0:
        total = initial
    else:
        big = int.from_bytes(data, "big")
        # Fold the big integer 16 bits at a time in O(log n) big-int steps: summing the
        # words of a number is the number mod 0xFFFF (with 0xFFFF for non-zero multiples).
        total = big % 0xFFFF
        if total == 0 and big:
            total = 0xFFFF
        total += initial
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def csum_fold(total: int) -> int:
    """Fold a 32-bit partial sum to 16 bits and complement it (Linux's csum_fold)."""
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The value to store in a checksum field: ~(sum of words), with 0 kept as 0."""
    return csum_fold(csum_partial(data, initial))


def csum_replace2(check: int, old: int, new: int) -> int:
    """Incrementally update a stored checksum when one 16-bit word changes (RFC 1624 eqn 3)."""
    total = (~check & 0xFFFF) + (~old & 0xFFFF) + new
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
