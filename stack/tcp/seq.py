"""Sequence-number arithmetic: 32-bit wire values and the engine's unwrapped ones.

Linux compares 32-bit sequence numbers with ``before()``/``after()`` (``include/net/tcp.h``),
a signed 32-bit difference.  The engine keeps every sequence number of a connection as an
*unwrapped* Python int instead (``snd_una``, ``rcv_nxt``, queue edges): plain ``<`` works,
SACK and queue arithmetic need no modular care, and a number becomes a wire value only where
a header is written (``& SEQ_MASK``).  An incoming 32-bit value is unwrapped against a nearby
reference (``rcv_nxt`` for SEG.SEQ, ``snd_una`` for SEG.ACK), which is exact for anything
within 2**31 of it - the same assumption ``before()`` makes.

32-bit helpers remain for values that stay on the wire's clock: timestamps (PAWS) and the
ISN comparisons of TIME-WAIT.
"""

from __future__ import annotations

SEQ_MASK = 0xFFFFFFFF
SEQ_HALF = 1 << 31
SEQ_FULL = 1 << 32


def unwrap(ref: int, wire: int) -> int:
    """The unwrapped number nearest to ``ref`` whose low 32 bits are ``wire``."""
    delta = (wire - ref) & SEQ_MASK
    if delta >= SEQ_HALF:
        delta -= SEQ_FULL
    return ref + delta


def s32(value: int) -> int:
    """``(s32)value``: the signed 32-bit reading of a difference."""
    value &= SEQ_MASK
    return value - SEQ_FULL if value >= SEQ_HALF else value


def before(a: int, b: int) -> bool:
    """32-bit ``before(a, b)``: a comes strictly before b on the sequence circle."""
    return s32(a - b) < 0


def after(a: int, b: int) -> bool:
    return s32(b - a) < 0


def between(seq: int, low: int, high: int) -> bool:
    """32-bit ``between()``: low <= seq <= high on the circle."""
    return ((high - low) & SEQ_MASK) >= ((seq - low) & SEQ_MASK)
