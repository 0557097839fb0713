"""CoDel, the controlled-delay AQM (RFC 8289), as Linux implements it for fq_codel.

Mirrors ``include/net/codel.h`` and ``include/net/codel_impl.h`` down to the arithmetic, so
that the same arrivals give the same drops and marks as Linux: time is ``codel_time_t``, the
nanosecond clock shifted right by ``CODEL_SHIFT`` (10, so a unit is 1.024 µs) and compared
modulo 2**32; the control law ``t + interval / sqrt(count)`` uses the reciprocal square root
kept in 16 bits and refined by one Newton step per count (``codel_Newton_step``), scaled with
``reciprocal_scale``.  The state machine is ``codel_dequeue``: a packet whose sojourn time has
stayed above ``target`` for ``interval`` (and the queue holds more than one MTU) starts the
dropping state; while dropping, the next drop comes at the control law's time; ECN-capable
packets are marked CE instead of dropped when ``ecn`` is on; ``ce_threshold`` marks packets
whose sojourn exceeds it regardless of state.

The queue the algorithm works on is the caller's: ``dequeue`` returns the next packet with
its enqueue time, ``drop`` disposes of one, ``set_ce`` marks one (False for a Not-ECT packet).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CODEL_SHIFT = 10
MASK32 = 0xFFFF_FFFF
REC_INV_SQRT_BITS = 16
REC_INV_SQRT_SHIFT = 32 - REC_INV_SQRT_BITS
CODEL_DISABLED_THRESHOLD = 0x7FFF_FFFF  # INT_MAX: ce_threshold off
NS_PER_MS = 1_000_000


def codel_time(ns: int) -> int:
    """``codel_get_time``: the clock in 1.024 µs units, modulo 2**32."""
    return (ns >> CODEL_SHIFT) & MASK32


def ms2time(ms: float) -> int:
    """``MS2TIME``."""
    return int(ms * NS_PER_MS) >> CODEL_SHIFT


def us2time(us: float) -> int:
    """``US2TIME``."""
    return int(us * 1000) >> CODEL_SHIFT


def time_after(a: int, b: int) -> bool:
    """``codel_time_after``: a > b modulo 2**32."""
    return 0 < ((a - b) & MASK32) < 0x8000_0000


def time_after_eq(a: int, b: int) -> bool:
    return ((a - b) & MASK32) < 0x8000_0000


def time_before(a: int, b: int) -> bool:
    return time_after(b, a)


class CodelParams:
    """``struct codel_params``: target, interval, ce_threshold in codel time; mtu in bytes."""

    __slots__ = ("target", "interval", "ce_threshold", "mtu", "ecn")

    def __init__(self, mtu: int, target: int = ms2time(5), interval: int = ms2time(100),
                 ce_threshold: int = CODEL_DISABLED_THRESHOLD, ecn: bool = False) -> None:
        self.target = target
        self.interval = interval
        self.ce_threshold = ce_threshold
        self.mtu = mtu
        self.ecn = ecn


class CodelVars:
    """``struct codel_vars``: one queue's state (zeroed, as codel_vars_init)."""

    __slots__ = ("count", "lastcount", "dropping", "rec_inv_sqrt", "first_above_time",
                 "drop_next", "ldelay")

    def __init__(self) -> None:
        self.count = 0
        self.lastcount = 0
        self.dropping = False
        self.rec_inv_sqrt = 0
        self.first_above_time = 0
        self.drop_next = 0
        self.ldelay = 0


class CodelStats:
    """``struct codel_stats``."""

    __slots__ = ("maxpacket", "drop_count", "drop_len", "ecn_mark", "ce_mark")

    def __init__(self) -> None:
        self.maxpacket = 0
        self.drop_count = 0
        self.drop_len = 0
        self.ecn_mark = 0
        self.ce_mark = 0


def newton_step(v: CodelVars) -> None:
    """``codel_Newton_step``: rec_inv_sqrt towards 1/sqrt(count), in 16-bit fixed point."""
    invsqrt = (v.rec_inv_sqrt << REC_INV_SQRT_SHIFT) & MASK32
    invsqrt2 = (invsqrt * invsqrt) >> 32
    val = ((3 << 32) - v.count * invsqrt2) & 0xFFFF_FFFF_FFFF_FFFF
    val >>= 2
    val = ((val * invsqrt) & 0xFFFF_FFFF_FFFF_FFFF) >> (32 - 2 + 1)
    v.rec_inv_sqrt = (val >> REC_INV_SQRT_SHIFT) & 0xFFFF


def control_law(t: int, interval: int, rec_inv_sqrt: int) -> int:
    """``codel_control_law``: ``t + interval / sqrt(count)``."""
    return (t + ((interval * ((rec_inv_sqrt << REC_INV_SQRT_SHIFT) & MASK32)) >> 32)) & MASK32


Dequeue = Callable[[], "tuple[Any, int] | None"]  # (skb, enqueue time in ns) or None


def should_drop(item: tuple[Any, int] | None, v: CodelVars, p: CodelParams, st: CodelStats,
                backlog: int, now: int, length: Callable[[Any], int]) -> bool:
    """``codel_should_drop``: has the sojourn time stayed above target for an interval?"""
    if item is None:
        v.first_above_time = 0
        return False
    skb, enqueued_ns = item
    v.ldelay = (now - codel_time(enqueued_ns)) & MASK32
    size = length(skb)
    if size > st.maxpacket:
        st.maxpacket = size
    if time_before(v.ldelay, p.target) or backlog <= p.mtu:
        v.first_above_time = 0  # went below: stay below for at least an interval
        return False
    if v.first_above_time == 0:
        v.first_above_time = (now + p.interval) & MASK32
        return False
    return time_after(now, v.first_above_time)


def codel_dequeue(now_ns: int, v: CodelVars, p: CodelParams, st: CodelStats,
                  dequeue: Dequeue, drop: Callable[[Any], None],
                  set_ce: Callable[[Any], bool], backlog: Callable[[], int],
                  length: Callable[[Any], int]) -> Any:
    """``codel_dequeue``: the next packet to send, after whatever drops CoDel decides."""
    item = dequeue()
    if item is None:
        v.dropping = False
        return None
    now = codel_time(now_ns)
    drop_it = should_drop(item, v, p, st, backlog(), now, length)
    skb = item[0]
    if v.dropping:
        if not drop_it:
            v.dropping = False  # sojourn time below target: leave the dropping state
        elif time_after_eq(now, v.drop_next):
            while v.dropping and time_after_eq(now, v.drop_next):
                v.count = (v.count + 1) & MASK32
                newton_step(v)
                if p.ecn and set_ce(skb):
                    st.ecn_mark += 1
                    v.drop_next = control_law(v.drop_next, p.interval, v.rec_inv_sqrt)
                    return _ce_threshold(skb, v, p, st, set_ce)
                st.drop_len += length(skb)
                drop(skb)
                st.drop_count += 1
                item = dequeue()
                skb = item[0] if item is not None else None
                if not should_drop(item, v, p, st, backlog(), now, length):
                    v.dropping = False
                else:
                    v.drop_next = control_law(v.drop_next, p.interval, v.rec_inv_sqrt)
    elif drop_it:
        if p.ecn and set_ce(skb):
            st.ecn_mark += 1
        else:
            st.drop_len += length(skb)
            drop(skb)
            st.drop_count += 1
            item = dequeue()
            skb = item[0] if item is not None else None
            should_drop(item, v, p, st, backlog(), now, length)
        v.dropping = True
        # close to the last dropping cycle: start from the drop rate that controlled it
        delta = (v.count - v.lastcount) & MASK32
        if delta > 1 and time_before((now - v.drop_next) & MASK32, 16 * p.interval):
            v.count = delta
            newton_step(v)
        else:
            v.count = 1
            v.rec_inv_sqrt = MASK32 >> REC_INV_SQRT_SHIFT
        v.lastcount = v.count
        v.drop_next = control_law(now, p.interval, v.rec_inv_sqrt)
    if skb is None:
        return None
    return _ce_threshold(skb, v, p, st, set_ce)


def _ce_threshold(skb: Any, v: CodelVars, p: CodelParams, st: CodelStats,
                  set_ce: Callable[[Any], bool]) -> Any:
    """The ``end:`` of codel_dequeue: mark CE above ``ce_threshold`` (off by default)."""
    if p.ce_threshold != CODEL_DISABLED_THRESHOLD and time_after(v.ldelay, p.ce_threshold) \
            and set_ce(skb):
        st.ce_mark += 1
    return skb
