"""The neighbour table: NUD state machine, resolution queue and timers, protocol-neutral.

Mirrors Linux's ``net/core/neighbour.c`` (``__neigh_event_send``, ``neigh_update``,
``neigh_timer_handler``, ``neigh_probe``, ``neigh_invalidate``, ``neigh_resolve_output`` /
``neigh_connected_output``) and ``include/net/neighbour.h`` (``NUD_*``).  ARP plugs in as the
table's ``ops`` (``stack/neigh/arp.py``: constructor, solicit, error_report).

Contract:
- ``tbl.lookup(key, dev)`` / ``tbl.create(key, dev)`` (``__neigh_lookup``); keys are 4-byte
  addresses (ARP) or 16-byte ones (ND, ``stack/ipv6/ndisc.py``).
  ``tbl.output(n, skb)`` takes an skb with ``data`` at the network header and
  ``skb.protocol`` set: a connected entry (REACHABLE, PERMANENT, NOARP) gets its link header
  and goes to ``dev_queue_xmit`` at once; otherwise the skb is sent with the cached address
  (STALE -> DELAY, DELAY/PROBE) or queued while the address is resolved (INCOMPLETE, at most
  ``neigh_unres_qlen`` skbs, the oldest dropped and counted in ``unres_discards``).
- Timers (virtual ns, from ``net.sysctl``): ``reachable_time`` drawn from ``sched.rng`` in
  [0.5, 1.5) x ``neigh_base_reachable_ms`` (re-drawn every 300 s, as neigh_periodic_work
  does), ``neigh_delay_first_probe_ms`` in DELAY, ``neigh_retrans_ms`` between probes,
  ``neigh_mcast_solicit`` broadcast probes while INCOMPLETE and ``neigh_ucast_solicit``
  unicast probes in PROBE.  Running out of probes makes the entry FAILED: its queued skbs are
  dropped (reason NEIGH_FAILED) after ``ops.error_report`` (ICMP host unreachable to their
  sender), and ``res_failed`` is counted.
- ``tbl.update(n, lladdr, new_state, flags)`` is ``neigh_update`` (what ARP calls on receive);
  ``tbl.confirm(n)`` is ``neigh_confirm`` (upper-layer proof of reachability, TCP on ACK
  progress); ``tbl.add_static`` / ``tbl.delete`` are ``ip neigh add ... nud permanent`` / ``del``.
- Every state change goes through ``_set_state`` (one setter, checked against a table of legal
  transitions) and is reported to the callbacks in ``tbl.watchers`` as
  ``fn(time_ns, neigh, old, new)``.  Table statistics use the ``ip -s ntable`` names, in
  ``net.mib.arp`` for ARP.
- Garbage collection is Linux's forced GC only: when the table reaches ``gc_thresh3`` (1024)
  entries, FAILED and NOARP entries and those not updated for 5 s go (``forced_gc_runs``);
  when nothing can go, ``create`` returns None (``table_fulls``) and the packet is dropped.
  Deliberate deviations: no periodic GC (Linux skips it under ``gc_thresh1`` = 128 entries
  anyway), the unresolved queue is bounded in packets (``unres_qlen``) rather than bytes, and
  there is no hardware-header cache.
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from stack.core import Timer, dev_queue_xmit, eth_header, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.units import NS_PER_MS
from stack.wire.ethernet import mac_str
from stack.wire.ipv4 import ip_str
from stack.wire.ipv6 import ipv6_str

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

NUD_NONE = 0x00
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

NUD_IN_TIMER = NUD_INCOMPLETE | NUD_REACHABLE | NUD_DELAY | NUD_PROBE
NUD_VALID = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY
NUD_CONNECTED = NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE

NUD_NAMES = {
    NUD_NONE: "NONE", NUD_INCOMPLETE: "INCOMPLETE", NUD_REACHABLE: "REACHABLE",
    NUD_STALE: "STALE", NUD_DELAY: "DELAY", NUD_PROBE: "PROBE", NUD_FAILED: "FAILED",
    NUD_NOARP: "NOARP", NUD_PERMANENT: "PERMANENT",
}  # fmt: skip

# neigh_update() flags (include/net/neighbour.h)
NEIGH_UPDATE_F_OVERRIDE = 0x1
NEIGH_UPDATE_F_WEAK_OVERRIDE = 0x2
NEIGH_UPDATE_F_ADMIN = 0x80000000

LOCKTIME_NS = 1_000 * NS_PER_MS  # neigh/default/locktime: first reply wins for 1 s
APP_PROBES = 0
MCAST_REPROBES = 0
REACHABLE_REDRAW_NS = 300 * 1_000 * NS_PER_MS  # neigh_periodic_work re-draws every 300 s
MIN_TIMER_NS = 10 * NS_PER_MS  # HZ/100
GC_THRESH3 = 1024
GC_FRESH_NS = 5_000 * NS_PER_MS  # neigh_forced_gc keeps entries updated in the last 5 s

# The legal NUD transitions (old -> set of new), as neigh_update / neigh_timer_handler /
# __neigh_event_send make them.  PERMANENT and NOARP entries only change by administration;
# NONE (an administrative reset) may follow anything.
_ANY_DYNAMIC = NUD_REACHABLE | NUD_STALE | NUD_PERMANENT | NUD_NOARP
LEGAL: dict[int, int] = {
    NUD_NONE: _ANY_DYNAMIC | NUD_INCOMPLETE | NUD_FAILED,
    NUD_INCOMPLETE: _ANY_DYNAMIC | NUD_FAILED,
    NUD_REACHABLE: _ANY_DYNAMIC | NUD_DELAY | NUD_FAILED,
    NUD_STALE: _ANY_DYNAMIC | NUD_DELAY | NUD_FAILED,
    NUD_DELAY: _ANY_DYNAMIC | NUD_PROBE | NUD_FAILED,
    NUD_PROBE: _ANY_DYNAMIC | NUD_FAILED,
    NUD_FAILED: _ANY_DYNAMIC | NUD_INCOMPLETE,
    NUD_PERMANENT: _ANY_DYNAMIC | NUD_FAILED,
    NUD_NOARP: NUD_NOARP | NUD_PERMANENT,
}

Watcher = Callable[[int, "Neighbour", int, int], None]


def key_str(key: bytes) -> str:
    """A table key as text: 4 bytes an IPv4 address (ARP), 16 an IPv6 one (ND)."""
    return ip_str(key) if len(key) == 4 else ipv6_str(key)


class NeighOps(Protocol):
    """What a resolution protocol supplies (Linux's ``neigh_ops`` + ``tbl->constructor``)."""

    def constructor(self, tbl: NeighTable, n: Neighbour) -> None: ...
    def solicit(self, tbl: NeighTable, n: Neighbour, skb: SkBuff | None) -> None: ...
    def error_report(self, tbl: NeighTable, n: Neighbour, skb: SkBuff) -> None: ...


class Neighbour:
    """One entry (Linux's ``struct neighbour``)."""

    __slots__ = (
        "tbl", "key", "dev", "ha", "nud_state", "updated", "used", "confirmed", "probes",
        "arp_queue", "timer", "dead",
    )  # fmt: skip

    def __init__(self, tbl: NeighTable, key: bytes, dev: NetDevice) -> None:
        now = tbl.sched.now
        self.tbl = tbl
        self.key = key
        self.dev = dev
        self.ha = bytes(dev.addr_len)
        self.nud_state = NUD_NONE
        self.updated = now
        self.used = now
        self.confirmed = now - 2 * tbl.base_reachable_ns()
        self.probes = 0
        self.arp_queue: deque[SkBuff] = deque()
        self.timer = Timer(dev.kernel, self._timer_expired, f"neigh {key_str(key)} {dev.name}")
        self.dead = False

    @property
    def state_name(self) -> str:
        return NUD_NAMES.get(self.nud_state, f"{self.nud_state:#x}")

    def _timer_expired(self, _timer: Timer) -> None:
        self.tbl.timer_handler(self)

    def __repr__(self) -> str:
        return f"<Neighbour {key_str(self.key)} dev {self.dev.name} {self.state_name}>"


class NeighTable:
    """A neighbour table (Linux's ``struct neigh_table``): one per protocol per namespace."""

    def __init__(self, net: Any, ops: NeighOps, stats: dict[str, int]) -> None:
        self.net = net
        self.sched = net.sched
        self.ops = ops
        self.stats = stats  # ndtstats names (ip -s ntable): allocs, res_failed, ...
        self.hash: dict[NetDevice, dict[bytes, Neighbour]] = {}
        self.count = 0
        self.watchers: list[Watcher] = []
        self._reachable_base = -1
        self._reachable_drawn = 0
        self._reachable_time = 0

    # -- parameters (live from net.sysctl) ----------------------------------------------------
    def base_reachable_ns(self) -> int:
        return self.net.sysctl.neigh_base_reachable_ms * NS_PER_MS

    @property
    def reachable_time(self) -> int:
        """ns; random in [base/2, 3*base/2) (neigh_rand_reach_time), re-drawn every 300 s."""
        base = self.net.sysctl.neigh_base_reachable_ms
        now = self.sched.now
        if base != self._reachable_base or now - self._reachable_drawn >= REACHABLE_REDRAW_NS:
            self._reachable_base = base
            self._reachable_drawn = now
            drawn = (self.sched.rng.randrange(base) if base > 0 else 0) + (base >> 1)
            self._reachable_time = drawn * NS_PER_MS
        return self._reachable_time

    def delay_probe_ns(self) -> int:
        return self.net.sysctl.neigh_delay_first_probe_ms * NS_PER_MS

    def retrans_ns(self) -> int:
        return max(self.net.sysctl.neigh_retrans_ms * NS_PER_MS, MIN_TIMER_NS)

    def max_probes(self, n: Neighbour) -> int:
        sysctl = self.net.sysctl
        probes = sysctl.neigh_ucast_solicit + APP_PROBES
        if n.nud_state & NUD_PROBE:
            return probes + MCAST_REPROBES
        return probes + sysctl.neigh_mcast_solicit

    # -- lookup and creation --------------------------------------------------------------------
    def lookup(self, key: bytes, dev: NetDevice) -> Neighbour | None:
        stats = self.stats
        stats["lookups"] += 1
        n = self.hash.get(dev, {}).get(key)
        if n is not None:
            stats["hits"] += 1
        return n

    def create(self, key: bytes, dev: NetDevice) -> Neighbour | None:
        """__neigh_lookup(..., creat=1): the entry, made (and constructed) if missing; None
        when the table is full and the forced GC could not make room."""
        bucket = self.hash.get(dev)
        if bucket is None:
            bucket = self.hash[dev] = {}
        n = bucket.get(key)
        if n is not None:
            return n
        if self.count >= GC_THRESH3 and not self.forced_gc():
            self.stats["table_fulls"] += 1  # "neighbour table overflow!"
            return None
        n = Neighbour(self, bytes(key), dev)
        self.ops.constructor(self, n)
        bucket[n.key] = n
        self.count += 1
        self.stats["allocs"] += 1
        return n

    def forced_gc(self) -> int:
        """neigh_forced_gc: drop FAILED, NOARP and stale-for-5-s entries; how many went."""
        self.stats["forced_gc_runs"] += 1
        cutoff = self.sched.now - GC_FRESH_NS
        removed = 0
        for dev, bucket in list(self.hash.items()):
            for key, n in list(bucket.items()):
                state = n.nud_state
                if state & NUD_PERMANENT or n.arp_queue or n.timer.pending():
                    continue  # in use (Linux: the timer holds a reference)
                if state & (NUD_FAILED | NUD_NOARP) or n.updated < cutoff:
                    del bucket[key]
                    self._destroy(n)
                    removed += 1
            if not bucket:
                del self.hash[dev]
        return removed

    def entries(self, dev: NetDevice | None = None) -> list[Neighbour]:
        devs = [dev] if dev is not None else list(self.hash)
        out = [n for d in devs for n in self.hash.get(d, {}).values()]
        out.sort(key=lambda n: (n.dev.ifindex, int.from_bytes(n.key, "big")))
        return out

    # -- the one setter ----------------------------------------------------------------------------
    def _set_state(self, n: Neighbour, new: int) -> None:
        old = n.nud_state
        if old == new:
            return
        if new != NUD_NONE and not LEGAL.get(old, 0) & new:
            raise AssertionError(f"illegal NUD transition {NUD_NAMES.get(old)} -> "
                                 f"{NUD_NAMES.get(new)} for {n!r}")
        n.nud_state = new
        if self.watchers:
            now = self.sched.now
            for fn in list(self.watchers):
                fn(now, n, old, new)

    def _add_timer(self, n: Neighbour, when: int) -> None:
        n.timer.mod_timer(when)

    # -- output ------------------------------------------------------------------------------------
    def output(self, n: Neighbour, skb: SkBuff) -> int:
        """neigh_output: transmit ``skb`` (data at the network header) to the neighbour.

        Returns a NET_XMIT_* code; 0 when the skb was queued for resolution.
        """
        if n.nud_state & NUD_CONNECTED:
            return self._xmit(n, skb)
        if self.event_send(n, skb):
            return 0
        return self._xmit(n, skb)

    def _xmit(self, n: Neighbour, skb: SkBuff) -> int:
        dev = n.dev
        need = dev.hard_header_len + dev.needed_headroom
        if skb.data < need:
            skb.expand_head(need - skb.data + 16, 0)
        # A clone may write its link header into the shared headroom (Linux's nohdr rule:
        # the original of a clone never reads below its own data).
        skb.dev = dev
        eth_header(skb, dev, skb.protocol, n.ha)
        return dev_queue_xmit(skb)

    def event_send(self, n: Neighbour, skb: SkBuff | None) -> bool:
        """neigh_event_send: True when ``skb`` was taken (queued or dropped), False: send it."""
        now = self.sched.now
        n.used = now
        state = n.nud_state
        if state & (NUD_CONNECTED | NUD_DELAY | NUD_PROBE):
            return False
        if n.dead:
            if skb is not None:
                kfree_skb(skb, SkbDropReason.NEIGH_DEAD)
            return True
        immediate_probe = False
        if not state & (NUD_STALE | NUD_INCOMPLETE):
            sysctl = self.net.sysctl
            if sysctl.neigh_mcast_solicit + APP_PROBES:
                n.probes = sysctl.neigh_ucast_solicit
                n.timer.del_timer()
                self._set_state(n, NUD_INCOMPLETE)
                n.updated = now
                immediate_probe = True
                self._add_timer(n, now + self.retrans_ns())
            else:
                self._set_state(n, NUD_FAILED)
                n.updated = now
                if skb is not None:
                    kfree_skb(skb, SkbDropReason.NEIGH_FAILED)
                return True
        elif state & NUD_STALE:
            n.timer.del_timer()
            self._set_state(n, NUD_DELAY)
            n.updated = now
            self._add_timer(n, now + self.delay_probe_ns())
            return False
        if n.nud_state == NUD_INCOMPLETE and skb is not None:
            queue = n.arp_queue
            limit = self.net.sysctl.neigh_unres_qlen
            while queue and len(queue) >= limit:
                kfree_skb(queue.popleft(), SkbDropReason.NEIGH_QUEUEFULL)
                self.stats["unres_discards"] += 1
            if limit > 0:
                queue.append(skb)
            else:
                kfree_skb(skb, SkbDropReason.NEIGH_QUEUEFULL)
                self.stats["unres_discards"] += 1
        if immediate_probe:
            self._probe(n)
        return True

    def _probe(self, n: Neighbour) -> None:
        """neigh_probe: solicit (with the newest queued skb for the source address), count."""
        skb = n.arp_queue[-1] if n.arp_queue else None
        self.ops.solicit(self, n, skb)
        n.probes += 1

    # -- timers ------------------------------------------------------------------------------------
    def timer_handler(self, n: Neighbour) -> None:
        """neigh_timer_handler: REACHABLE ages, DELAY decides, INCOMPLETE/PROBE re-probe."""
        now = self.sched.now
        state = n.nud_state
        if not state & NUD_IN_TIMER or n.dead:
            return
        if state & NUD_REACHABLE:
            reachable = self.reachable_time
            if now <= n.confirmed + reachable:
                nxt = n.confirmed + reachable
            elif now <= n.used + self.delay_probe_ns():
                self._set_state(n, NUD_DELAY)
                n.updated = now
                nxt = now + self.delay_probe_ns()
            else:
                self._set_state(n, NUD_STALE)
                n.updated = now
                return
        elif state & NUD_DELAY:
            if now <= n.confirmed + self.delay_probe_ns():
                self._set_state(n, NUD_REACHABLE)
                n.updated = now
                nxt = n.confirmed + self.reachable_time
            else:
                self._set_state(n, NUD_PROBE)
                n.updated = now
                n.probes = 0
                nxt = now + self.retrans_ns()
        else:
            nxt = now + self.retrans_ns()
        if n.nud_state & (NUD_INCOMPLETE | NUD_PROBE) and n.probes >= self.max_probes(n):
            self._set_state(n, NUD_FAILED)
            n.updated = now
            self._invalidate(n)
            return
        if n.nud_state & NUD_IN_TIMER:
            self._add_timer(n, max(nxt, now + MIN_TIMER_NS))
        if n.nud_state & (NUD_INCOMPLETE | NUD_PROBE):
            self._probe(n)

    def _invalidate(self, n: Neighbour) -> None:
        """neigh_invalidate: report and drop everything that waited for this address."""
        self.stats["res_failed"] += 1
        queue = n.arp_queue
        while queue and n.nud_state == NUD_FAILED:
            skb = queue.popleft()
            self.ops.error_report(self, n, skb)
            kfree_skb(skb, SkbDropReason.NEIGH_FAILED)
        queue.clear()

    # -- updates from the protocol and from upper layers ------------------------------------------
    def update(self, n: Neighbour, lladdr: bytes | None, new: int, flags: int = 0) -> None:
        """neigh_update: a new state (and maybe a new link-layer address) for ``n``."""
        now = self.sched.now
        old = n.nud_state
        if n.dead:
            return
        if not flags & NEIGH_UPDATE_F_ADMIN and old & (NUD_NOARP | NUD_PERMANENT):
            return
        if not new & NUD_VALID:
            n.timer.del_timer()
            self._set_state(n, new)
            if old & (NUD_INCOMPLETE | NUD_PROBE) and new & NUD_FAILED:
                self._invalidate(n)
            return
        if lladdr is None:
            if not old & NUD_VALID:
                return
            lladdr = n.ha
        if new & NUD_CONNECTED:
            n.confirmed = now
        if old & NUD_VALID:
            if lladdr != n.ha and not flags & NEIGH_UPDATE_F_OVERRIDE:
                if flags & NEIGH_UPDATE_F_WEAK_OVERRIDE and old & NUD_CONNECTED:
                    lladdr = n.ha
                    new = NUD_STALE
                else:
                    return
            elif lladdr == n.ha and new == NUD_STALE and not flags & NEIGH_UPDATE_F_ADMIN:
                new = old
        if new != old:
            n.timer.del_timer()
            if new & NUD_PROBE:
                n.probes = 0
            if new & NUD_IN_TIMER:
                self._add_timer(n, now + (self.reachable_time if new & NUD_REACHABLE else 0))
            self._set_state(n, new)
            n.updated = now
        if lladdr != n.ha:
            n.ha = bytes(lladdr)
            n.updated = now
            if not new & NUD_CONNECTED:
                n.confirmed = now - 2 * self.base_reachable_ns()
        if new == old:
            return
        if not old & NUD_VALID:
            queue = n.arp_queue
            while queue and n.nud_state & NUD_VALID:
                self.output(n, queue.popleft())
            queue.clear()

    def confirm(self, n: Neighbour | None) -> None:
        """neigh_confirm: an upper layer saw the neighbour answer (TCP ACK progress)."""
        if n is not None:
            n.confirmed = self.sched.now

    def add_static(self, key: bytes, dev: NetDevice, lladdr: bytes,
                   state: int = NUD_PERMANENT) -> Neighbour:
        """``ip neigh replace KEY lladdr LLADDR dev DEV nud permanent`` (or another state)."""
        n = self.create(key, dev)
        if n is None:
            raise OSError(errno.ENOBUFS, "neighbour table overflow")
        self.update(n, lladdr, state, NEIGH_UPDATE_F_OVERRIDE | NEIGH_UPDATE_F_ADMIN)
        return n

    def delete(self, key: bytes, dev: NetDevice) -> bool:
        """``ip neigh del``: the entry goes (queued skbs dropped); False if there was none."""
        bucket = self.hash.get(dev)
        n = bucket.pop(key, None) if bucket else None
        if n is None:
            return False
        self._destroy(n)
        return True

    def flush_dev(self, dev: NetDevice) -> None:
        """neigh_ifdown: the device went down, changed address or went away."""
        bucket = self.hash.pop(dev, None)
        for n in (bucket or {}).values():
            self._destroy(n)

    def _destroy(self, n: Neighbour) -> None:
        self.count -= 1
        n.timer.del_timer()
        n.dead = True
        while n.arp_queue:
            kfree_skb(n.arp_queue.popleft(), SkbDropReason.NEIGH_DEAD)
        self.stats["destroys"] += 1

    # -- listing -----------------------------------------------------------------------------------
    def show(self, dev: NetDevice | None = None, all_states: bool = False) -> str:
        """``ip neigh show``: one line per entry (NOARP entries only with ``all_states``)."""
        lines = []
        for n in self.entries(dev):
            if n.nud_state & NUD_NOARP and not all_states:
                continue
            text = f"{key_str(n.key)} dev {n.dev.name}"
            if n.nud_state & NUD_VALID:
                text += f" lladdr {mac_str(n.ha)}"
            lines.append(f"{text} {n.state_name}")
        return "".join(line + "\n" for line in lines)
