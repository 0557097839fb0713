"""``tc qdisc``: choosing and showing a device's queueing discipline, as iproute2 prints it.

The kernel side is ``stack.core.qdisc`` (the registry, ``qdisc_create``/``qdisc_graft``) and
``stack.sched`` (the disciplines); this module is the tool: :func:`tc_replace` is ``tc qdisc
replace dev IFACE root KIND [PARAMS]``, :func:`qdisc_show` is ``tc -s qdisc show dev IFACE``
in iproute2's layout, and :func:`parse_params` reads tc-style ``key value`` words for the
shell (``target 5ms``, ``limit 1000``, ``noecn``).
"""

from __future__ import annotations

import errno
from typing import Any

import stack.sched  # noqa: F401  # registers the disciplines beyond pfifo_fast
from stack.core.qdisc import QDISC_OPS, Qdisc, qdisc_create, qdisc_graft


def tc_replace(dev: Any, kind: str, **params: Any) -> Qdisc:
    """Make a new ``kind`` discipline the device's root qdisc; ENOENT for an unknown kind,
    EINVAL for a bad parameter (its queue is dropped, as Linux's qdisc_graft does)."""
    q = qdisc_create(dev, kind, **params)
    qdisc_graft(dev, q)
    return q


def qdisc_show(dev: Any, stats: bool = True) -> list[str]:
    """``tc [-s] qdisc show dev DEV``: one qdisc line, then the statistics lines."""
    q: Qdisc | None = dev.qdisc
    if q is None:
        return [f"qdisc noqueue 0: dev {dev.name} root refcnt 2"]
    words = []
    for key, value in q.params().items():
        words.append(key if value is True else f"{key} {value}")
    lines = [f"qdisc {q.kind} 0: dev {dev.name} root refcnt 2 " + " ".join(words)]
    if stats:
        s = q.stats()
        lines.append(f" Sent {s['sent_bytes']} bytes {s['sent_packets']} pkt (dropped "
                     f"{s['dropped']}, overlimits {s['overlimits']} requeues {s['requeues']})")
        lines.append(f" backlog {s['backlog']}b {s['qlen']}p requeues {s['requeues']}")
        x = q.xstats()
        if x and q.kind == "fq":  # iproute2's q_fq.c fq_print_xstats
            lines.append(f"  flows {x['flows']} (inactive {x['inactive_flows']} throttled "
                         f"{x['throttled_flows']})")
            lines.append(f"  gc {x['gc_flows']} highprio {x['highprio_packets']} throttled "
                         f"{x['throttled']} flows_plimit {x['flows_plimit']}"
                         + "".join(f" {k} {x[k]}" for k in ("pkts_too_long", "horizon_drops",
                                                            "horizon_caps") if x[k]))
        elif x:
            first = ("maxpacket", "drop_overlimit", "new_flow_count", "ecn_mark")
            lines.append("  " + " ".join(f"{k} {x[k]}" for k in first if k in x))
            rest = [k for k in ("drop_overmemory", "ce_mark") if x.get(k)]
            rest += ["new_flows_len", "old_flows_len"]
            lines.append("  " + " ".join(f"{k} {x[k]}" for k in rest if k in x))
    return lines


_TIME_KEYS = {"target", "interval", "ce_threshold", "refill_delay", "horizon"}
_RATE_KEYS = {"maxrate", "low_rate_threshold"}  # fq's: in bits/s on tc's line, bytes/s here
_FLAGS = {"ecn": ("ecn", True), "noecn": ("ecn", False), "pacing": ("pacing", True),
          "nopacing": ("pacing", False), "horizon_drop": ("horizon_drop", True),
          "horizon_cap": ("horizon_drop", False)}


def parse_params(kind: str, words: list[str]) -> dict[str, Any]:
    """tc's ``key value`` words for ``kind``: times as ``5ms``/``500us`` (ms as a float),
    counts as ints, ``ecn``/``noecn`` flags; EINVAL for anything else."""
    if kind not in QDISC_OPS:
        raise OSError(errno.ENOENT, f"Error: Specified qdisc kind is unknown: {kind!r}")
    out: dict[str, Any] = {}
    it = iter(words)
    for word in it:
        if word in _FLAGS:
            key, flag = _FLAGS[word]
            out[key] = flag
            continue
        value = next(it, None)
        if value is None:
            raise OSError(errno.EINVAL, f"tc: {word} needs a value")
        key = word.replace("-", "_")
        if key in _TIME_KEYS:
            out[key] = _ms(value)
        elif key == "memory_limit":
            out[key] = _size(value)
        elif key in _RATE_KEYS:
            out[key] = _rate(value)
        else:
            try:
                out[key] = int(value.removesuffix("p").removesuffix("b"))
            except ValueError:
                raise OSError(errno.EINVAL, f"tc: {word} {value}: not a number") from None
    return out


def _rate(text: str) -> int:
    """tc's get_rate: ``100mbit``, ``1gbit``, ``500kbit``, ``8000bit`` (bits/s), or ``bps``
    units (bytes/s); returned in bytes per second, as the kernel keeps it."""
    lower = text.lower()
    for suffix, scale in (("gbit", 10**9 / 8), ("mbit", 10**6 / 8), ("kbit", 10**3 / 8),
                          ("bit", 1 / 8), ("gbps", 10**9), ("mbps", 10**6), ("kbps", 10**3),
                          ("bps", 1)):
        if lower.endswith(suffix):
            try:
                return int(float(lower[:-len(suffix)]) * scale)
            except ValueError:
                break
    raise OSError(errno.EINVAL, f"tc: {text!r}: not a rate (use e.g. 100mbit)")


def _ms(text: str) -> float:
    for suffix, scale in (("ms", 1.0), ("us", 1e-3), ("s", 1000.0)):
        if text.endswith(suffix):
            try:
                return float(text[:-len(suffix)]) * scale
            except ValueError:
                break
    raise OSError(errno.EINVAL, f"tc: {text!r}: not a time (use e.g. 5ms, 500us)")


def _size(text: str) -> int:
    units = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "b": 1}
    lower = text.lower()
    for suffix, scale in units.items():
        if lower.endswith(suffix):
            try:
                return int(float(lower[:-len(suffix)]) * scale)
            except ValueError:
                break
    try:
        return int(text)
    except ValueError:
        raise OSError(errno.EINVAL, f"tc: {text!r}: not a size (use e.g. 32Mb)") from None
