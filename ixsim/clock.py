"""Time for the world: integer nanoseconds, durations, the event handle, deadlock.

The vocabulary ``ixsim/sched.py`` (the event loop) and ``ixsim/realtime.py`` (its wall-clock
half) share.
"""

from __future__ import annotations

import math
import select
from collections.abc import Callable
from typing import Any

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000

_FOREVER = 1 << 62  # a deadline no run reaches (virtual ns: 146 years)
MAX_DURATION_NS = _FOREVER  # the longest duration parse_duration gives
MAX_RATE_BPS = 1 << 62  # the largest rate parse_rate gives (bits/s)

# Real time (see "Real time" in the Scheduler docstring for the why of each number).
SPIN_NS = 200_000  # waits shorter than this are busy-polled, never slept
POLL_INTERVAL_NS = 50_000  # fds are polled at least this often while events run back to back
RECHECK_NS = NS_PER_MS  # run_until re-checks its condition at least this often when idle
_FD_SETSIZE = 1024  # select()'s limit on fd numbers (Linux glibc)
_POLLER = getattr(select, "epoll", None)  # epoll on Linux; select.poll elsewhere
_RATE_UNITS = {"g": 1_000_000_000, "m": 1_000_000, "k": 1_000}
_UNITS = {"ns": 1, "us": NS_PER_US, "µs": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S}


class DurationTooLong(ValueError):
    """A duration over ``MAX_DURATION_NS`` (or infinite): a caller with a tighter bound says
    its own."""


def parse_duration(value: int | float | str) -> int:
    """Turn ``"50us"``, ``"1.5ms"``, ``"2s"`` or an int (nanoseconds) into nanoseconds.

    A float without a unit is seconds, as in ``time.sleep``; an int is nanoseconds, the
    scheduler's own unit.  Durations are finite and at most ``MAX_DURATION_NS`` (2**62 ns,
    146 years: the scheduler's horizon).  Raises ``ValueError`` naming the bad text.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        return _duration_ns(value, value)
    if isinstance(value, float):
        return _duration_ns(value * NS_PER_S, value)
    text = value.strip().lower()
    for unit in ("ns", "us", "µs", "ms", "s"):
        if text.endswith(unit):
            number = text[: -len(unit)].strip()
            try:
                amount = float(number)
            except ValueError:
                break
            return _duration_ns(amount * _UNITS[unit], value)
    raise ValueError(f"not a duration: {value!r} (use e.g. 50us, 1.5ms, 2s)")


def _duration_ns(ns: int | float, value: object) -> int:
    if ns != ns or ns < 0:  # NaN, or negative (-0.0 is zero)
        raise ValueError(f"not a duration: {value!r} (a time from 0 up)")
    if math.isinf(ns) or ns > MAX_DURATION_NS:
        raise DurationTooLong(f"duration {value!r} is longer than 2**62 ns (146 years)")
    return round(ns)


def parse_rate(value: int | str) -> int:
    """``"10G"``, ``"100M"``, ``"10Gbit"`` or an int (bits/s) -> bits per second, positive,
    finite and at most ``MAX_RATE_BPS``."""
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"rate must be positive: {value}")
        bps: float = value
    else:
        text = value.strip().lower().removesuffix("bps").removesuffix("bit").removesuffix("b")
        scale = _RATE_UNITS.get(text[-1:], 1) if text else 1
        number = text[:-1] if text[-1:] in _RATE_UNITS else text
        try:
            bps = float(number) * scale
        except ValueError:
            raise ValueError(f"not a rate: {value!r} (use e.g. 10G, 100M)") from None
        if bps != bps:
            raise ValueError(f"not a rate: {value!r} (use e.g. 10G, 100M)")
    if bps > MAX_RATE_BPS:
        raise ValueError(f"rate {value!r} is over 2**62 bit/s")
    rate = int(bps)
    if rate <= 0:
        raise ValueError(f"rate must be positive: {value!r}")
    return rate


def format_ns(ns: int) -> str:
    """Render a time for people: ``1.234567 s`` style with the unit that fits."""
    if ns >= NS_PER_S:
        return f"{ns / NS_PER_S:.6f} s"
    if ns >= NS_PER_MS:
        return f"{ns / NS_PER_MS:.3f} ms"
    if ns >= NS_PER_US:
        return f"{ns / NS_PER_US:.3f} us"
    return f"{ns} ns"


class Deadlock(RuntimeError):
    """No pending event can ever make the awaited condition true."""


class Handle:
    """One scheduled call; ``cancel()`` makes the loop skip it."""

    __slots__ = ("when", "seq", "fn", "args", "cancelled")

    def __init__(self, when: int, seq: int, fn: Callable[..., Any], args: tuple) -> None:
        self.when = when
        self.seq = seq
        self.fn = fn
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Handle) -> bool:
        if self.when != other.when:
            return self.when < other.when
        return self.seq < other.seq

    @property
    def name(self) -> str:
        fn = self.fn
        owner = getattr(fn, "__self__", None)
        qual = getattr(fn, "__qualname__", repr(fn))
        label = getattr(owner, "trace_name", None) if owner is not None else None
        return f"{label} {qual}" if label else qual

    def __repr__(self) -> str:
        state = " cancelled" if self.cancelled else ""
        return f"<Handle t={self.when} #{self.seq} {self.name}{state}>"
