"""fq: per-flow fair queueing with pacing, the qdisc TCP's pacing was designed around.

Mirrors Linux's ``net/sched/sch_fq.c`` (before 6.7's priority bands).  Packets are queued
per flow: a connected socket is a flow of its own (Linux hashes the socket pointer), packets
of no socket, of a listener or TIME-WAIT socket and of an unconnected datagram socket are
flows by a hash of their header (``skb_get_hash & orphan_mask``, 1024), and packets of
priority TC_PRIO_CONTROL go to the unpaced ``internal`` flow, served first.  A deficit round
robin with ``quantum`` bytes (2 MTU) serves new flows before old ones; a new flow starts with
``initial_quantum`` (10 MTU) of credit, and one idle longer than ``refill_delay`` (40 ms)
gets at least a quantum back.  A flow holds at most ``flow_limit`` (100) packets and the qdisc
``limit`` (10000); beyond them the packet is dropped (``flows_plimit`` counts the former).

Pacing: a packet leaves no earlier than its time to send - its ``skb.tstamp`` when the sender
set one (TCP's EDT departure time; more than ``horizon``, 10 s, ahead it is dropped, or
capped without ``horizon_drop``), else its arrival - nor earlier than the flow's
``time_next_packet``, which a packet without a departure time advances by ``max(len,
quantum) / rate`` once the flow's credit is spent (every packet below
``low_rate_threshold``), ``rate`` being ``min(sk_pacing_rate, maxrate)``.  A flow whose head
may not leave yet is *throttled*: parked, by time, until ``fq_check_throttled`` returns it
to the old flows; a watchdog timer (``qdisc_watchdog``) reschedules the qdisc then.  Every
socket fq sees has its ``sk_pacing_status`` set to FQ (when ``pacing`` is on), so TCP
stops pacing itself and leaves it to the qdisc.

Flows idle for 3 s (``FQ_GC_AGE``) are garbage-collected, up to 8 at a time, when there are
at least twice ``buckets`` flows of which more than half are idle (``fq_gc``).

Deliberate deviations, said out loud: flows live in one table rather than ``buckets``
red-black trees, so the garbage collector scans that table (oldest first) instead of one
tree; the header hash is fq_codel's CRC-32 (:func:`stack.sched.fq_codel.flow_hash`), not
Linux's boot-keyed jhash; packet length is ``skb.len`` (no GSO header accounting); a socket
reused for a new connection keeps its flow (Linux compares ``sk_hash``).
"""

from __future__ import annotations

import heapq
from collections import deque
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.qdisc import NET_XMIT_DROP, NET_XMIT_SUCCESS, TC_PRIO_MAX, Qdisc, register_qdisc
from stack.core.qdisc import __netif_schedule as netif_schedule
from stack.core.skbfree import kfree_skb
from stack.core.skbuff import SkBuff
from stack.core.timer import Timer
from stack.core.units import NS_PER_MS, NS_PER_S
from stack.sched.fq_codel import flow_hash
from stack.sock import PACING_RATE_UNLIMITED, SK_PACING_FQ

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice

TC_PRIO_CONTROL = 7
FQ_GC_AGE = 3 * NS_PER_S
FQ_GC_MAX = 8
_DETACHED, _NEW, _OLD, _THROTTLED = 0, 1, 2, 3
_CLOSED_STATES = ("LISTEN", "TIME_WAIT", "CLOSED")


class FqFlow:
    """``struct fq_flow``: a FIFO sorted by time to send, its credit and pacing state."""

    __slots__ = ("key", "queue", "credit", "qlen", "time_next_packet", "age", "where")

    def __init__(self, key: Any, credit: int, now: int) -> None:
        self.key = key
        self.queue: deque[tuple[int, SkBuff]] = deque()  # (time_to_send, skb)
        self.credit = credit
        self.qlen = 0
        self.time_next_packet = 0
        self.age = now  # when it went idle (detached)
        self.where = _DETACHED


def _flow_key(skb: SkBuff, orphan_mask: int) -> Any:
    """``fq_classify``'s choice of flow: the socket, or a header hash for orphans."""
    sk = skb.sk
    if sk is not None:
        state = getattr(sk, "state", None)
        name = getattr(state, "name", None)
        if name is None and getattr(sk, "daddr", 1) is not None:
            return sk  # a connected socket that is not TCP (UDP after connect)
        if name is not None and name not in _CLOSED_STATES:
            return sk
    return ("hash", flow_hash(skb) & orphan_mask)


@register_qdisc
class Fq(Qdisc):
    """The fq discipline (see the module docstring); parameters by tc's names."""

    kind = "fq"

    __slots__ = (
        "flows", "internal", "new_flows", "old_flows", "delayed", "delay_seq", "limit",
        "flow_limit", "quantum", "initial_quantum", "flow_max_rate", "low_rate_threshold",
        "refill_delay", "orphan_mask", "buckets", "horizon", "horizon_drop", "rate_enable",
        "inactive_flows", "throttled_flows", "watchdog", "stat_gc_flows",
        "stat_internal_packets", "stat_throttled", "stat_flows_plimit", "stat_pkts_too_long",
        "stat_horizon_drops", "stat_horizon_caps", "time_next_delayed_flow",
    )  # fmt: skip

    def __init__(
        self,
        dev: NetDevice,
        *,
        limit: int = 10000,
        flow_limit: int = 100,
        quantum: int | None = None,
        initial_quantum: int | None = None,
        maxrate: int | None = None,
        low_rate_threshold: int = 550_000 // 8,
        refill_delay: float = 40.0,
        orphan_mask: int = 1023,
        buckets: int = 1024,
        horizon: float = 10_000.0,
        horizon_drop: bool = True,
        pacing: bool = True,
    ) -> None:
        """Rates in bytes per second (``maxrate`` None: unlimited), times in ms."""
        super().__init__(dev)
        mtu = dev.mtu + dev.hard_header_len  # psched_mtu
        quantum = 2 * mtu if quantum is None else quantum
        initial_quantum = 10 * mtu if initial_quantum is None else initial_quantum
        for name, value, low in (
            ("limit", limit, 1),
            ("flow_limit", flow_limit, 1),
            ("quantum", quantum, 1),
            ("initial_quantum", initial_quantum, 0),
            ("low_rate_threshold", low_rate_threshold, 0),
            ("orphan_mask", orphan_mask, 0),
            ("buckets", buckets, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
        if buckets & (buckets - 1):
            raise TypeError(f"buckets must be a power of 2, got {buckets}")
        if maxrate is not None and (
            isinstance(maxrate, bool) or not isinstance(maxrate, int) or maxrate < 0
        ):
            raise TypeError(f"maxrate must be an int >= 0 (bytes/s), got {maxrate!r}")
        for name, ms in (("refill_delay", refill_delay), ("horizon", horizon)):
            if isinstance(ms, bool) or not isinstance(ms, int | float) or ms < 0:
                raise TypeError(f"{name} must be a number of ms >= 0, got {ms!r}")
        now = dev.kernel.sched.now
        self.flows: dict[Any, FqFlow] = {}
        self.internal = FqFlow("internal", 0, now)
        self.new_flows: deque[FqFlow] = deque()
        self.old_flows: deque[FqFlow] = deque()
        self.delayed: list[tuple[int, int, FqFlow]] = []  # heap by time_next_packet
        self.delay_seq = 0
        self.limit = limit
        self.flow_limit = flow_limit
        self.quantum = quantum
        self.initial_quantum = initial_quantum
        self.flow_max_rate = PACING_RATE_UNLIMITED if maxrate is None else maxrate
        self.low_rate_threshold = low_rate_threshold
        self.refill_delay = int(refill_delay * NS_PER_MS)
        self.orphan_mask = orphan_mask
        self.buckets = buckets
        self.horizon = int(horizon * NS_PER_MS)
        self.horizon_drop = bool(horizon_drop)
        self.rate_enable = bool(pacing)
        self.inactive_flows = 0
        self.throttled_flows = 0
        self.time_next_delayed_flow = PACING_RATE_UNLIMITED
        self.watchdog = Timer(dev.kernel, self._watchdog, f"{dev.name} fq watchdog")
        self.stat_gc_flows = 0
        self.stat_internal_packets = 0
        self.stat_throttled = 0
        self.stat_flows_plimit = 0
        self.stat_pkts_too_long = 0
        self.stat_horizon_drops = 0
        self.stat_horizon_caps = 0

    # -- enqueue --------------------------------------------------------------------------
    def classify(self, skb: SkBuff, now: int) -> FqFlow:
        """``fq_classify``: the internal flow, a socket's flow or an orphan hash's."""
        if skb.priority & TC_PRIO_MAX == TC_PRIO_CONTROL:
            return self.internal
        key = _flow_key(skb, self.orphan_mask)
        flow = self.flows.get(key)
        if flow is not None:
            return flow
        if len(self.flows) >= 2 * self.buckets and self.inactive_flows > len(self.flows) // 2:
            self.gc(now)
        flow = self.flows[key] = FqFlow(key, self.initial_quantum, now)
        self.inactive_flows += 1
        sk = skb.sk
        if self.rate_enable and key is sk and hasattr(sk, "sk_pacing_status"):
            sk.sk_pacing_status = SK_PACING_FQ
        return flow

    def gc(self, now: int) -> None:
        """``fq_gc``: forget up to FQ_GC_MAX flows idle for FQ_GC_AGE."""
        stale = [
            key for key, f in self.flows.items() if f.where == _DETACHED and now - f.age > FQ_GC_AGE
        ][:FQ_GC_MAX]
        for key in stale:
            del self.flows[key]
        self.inactive_flows -= len(stale)
        self.stat_gc_flows += len(stale)

    def enqueue(self, skb: SkBuff) -> int:
        if not self.active:
            return self.drop_inactive(skb)
        if self.qlen >= self.limit:
            return self._drop(skb)
        now = self.dev.kernel.sched.now
        tstamp = skb.tstamp
        if not tstamp:
            time_to_send = now
        else:
            if tstamp > now + self.horizon:  # fq_packet_beyond_horizon
                if self.horizon_drop:
                    self.stat_horizon_drops += 1
                    return self._drop(skb)
                self.stat_horizon_caps += 1
                tstamp = skb.tstamp = now + self.horizon
            time_to_send = tstamp
        flow = self.classify(skb, now)
        if flow is not self.internal:
            if flow.qlen >= self.flow_limit:
                self.stat_flows_plimit += 1
                return self._drop(skb)
            if flow.where == _DETACHED:
                flow.where = _NEW
                self.new_flows.append(flow)
                if now > flow.age + self.refill_delay:
                    flow.credit = max(flow.credit, self.quantum)
                self.inactive_flows -= 1
        else:
            self.stat_internal_packets += 1
        flow.qlen += 1
        queue = flow.queue
        if not queue or queue[-1][0] <= time_to_send:
            queue.append((time_to_send, skb))
        else:  # an earlier departure than the tail's (flow_queue_add's rb-tree insert)
            items = sorted((*queue, (time_to_send, skb)), key=lambda item: item[0])
            queue.clear()
            queue.extend(items)
        self.qlen += 1
        self.backlog += skb.len
        return NET_XMIT_SUCCESS

    def _drop(self, skb: SkBuff) -> int:
        self.drops += 1
        kfree_skb(skb, SkbDropReason.QDISC_DROP)
        return NET_XMIT_DROP

    # -- dequeue --------------------------------------------------------------------------
    def check_throttled(self, now: int) -> None:
        """``fq_check_throttled``: flows whose time has come rejoin the old flows."""
        delayed = self.delayed
        while delayed and delayed[0][0] <= now:
            _t, _seq, flow = heapq.heappop(delayed)
            self.throttled_flows -= 1
            flow.where = _OLD
            self.old_flows.append(flow)
        self.time_next_delayed_flow = delayed[0][0] if delayed else PACING_RATE_UNLIMITED

    def _throttle(self, flow: FqFlow) -> None:
        """``fq_flow_set_throttled``."""
        flow.where = _THROTTLED
        self.delay_seq += 1
        heapq.heappush(self.delayed, (flow.time_next_packet, self.delay_seq, flow))
        self.throttled_flows += 1
        self.stat_throttled += 1
        self.time_next_delayed_flow = min(self.time_next_delayed_flow, flow.time_next_packet)

    def _take(self, flow: FqFlow) -> SkBuff:
        skb = flow.queue.popleft()[1]
        flow.qlen -= 1
        self.qlen -= 1
        self.backlog -= skb.len
        return skb

    def dequeue(self) -> SkBuff | None:
        if not self.qlen:
            return None
        if self.internal.queue:
            return self._take(self.internal)
        now = self.dev.kernel.sched.now
        self.check_throttled(now)
        while True:
            head = self.new_flows
            if not head:
                head = self.old_flows
                if not head:
                    if self.delayed:  # qdisc_watchdog_schedule_range_ns
                        self.watchdog.mod_timer(self.time_next_delayed_flow)
                    return None
            flow = head[0]
            if flow.credit <= 0:
                flow.credit += self.quantum
                head.popleft()
                flow.where = _OLD
                self.old_flows.append(flow)
                continue
            if flow.queue:
                time_next = max(flow.queue[0][0], flow.time_next_packet)
                if now < time_next:
                    head.popleft()
                    flow.time_next_packet = time_next
                    self._throttle(flow)
                    continue
                skb = self._take(flow)
                break
            head.popleft()
            if head is self.new_flows:  # force a pass through old_flows: no starvation
                flow.where = _OLD
                self.old_flows.append(flow)
            else:
                flow.where = _DETACHED
                flow.age = now
                self.inactive_flows += 1
        plen = skb.len
        flow.credit -= plen
        if not self.rate_enable:
            return skb
        rate = self.flow_max_rate
        if not skb.tstamp:
            sk = skb.sk
            if sk is not None and hasattr(sk, "sk_pacing_rate"):
                rate = min(sk.sk_pacing_rate, rate)
            if rate <= self.low_rate_threshold:
                flow.credit = 0
            else:
                plen = max(plen, self.quantum)
                if flow.credit > 0:
                    return skb
        if rate != PACING_RATE_UNLIMITED:
            length = plen * NS_PER_S // rate if rate else NS_PER_S
            if length > NS_PER_S:  # the rate may change later: at most a second
                length = NS_PER_S
                self.stat_pkts_too_long += 1
            if flow.time_next_packet:  # account for a late dequeue
                length -= min(length // 2, now - flow.time_next_packet)
            flow.time_next_packet = now + length
        return skb

    def _watchdog(self, _timer: Timer) -> None:
        """``qdisc_watchdog``: a throttled flow may send now; run the qdisc again."""
        if self.active and self.qlen:
            netif_schedule(self)

    def reset_queue(self) -> None:
        for flow in (*self.flows.values(), self.internal):
            while flow.queue:
                kfree_skb(flow.queue.popleft()[1], SkbDropReason.QDISC_DROP)
            flow.qlen = 0
        self.flows.clear()
        self.new_flows.clear()
        self.old_flows.clear()
        self.delayed.clear()
        self.inactive_flows = self.throttled_flows = 0
        self.time_next_delayed_flow = PACING_RATE_UNLIMITED
        self.watchdog.del_timer()

    # -- tc -------------------------------------------------------------------------------
    def params(self) -> dict[str, object]:
        out: dict[str, object] = {
            "limit": f"{self.limit}p",
            "flow_limit": f"{self.flow_limit}p",
            "buckets": self.buckets,
            "orphan_mask": self.orphan_mask,
            "quantum": f"{self.quantum}b",
            "initial_quantum": f"{self.initial_quantum}b",
            "low_rate_threshold": _fmt_rate(self.low_rate_threshold),
        }
        if self.flow_max_rate != PACING_RATE_UNLIMITED:
            out["maxrate"] = _fmt_rate(self.flow_max_rate)
        if not self.rate_enable:
            out["nopacing"] = True
        out["refill_delay"] = f"{self.refill_delay / NS_PER_MS:g}ms"
        out["horizon"] = f"{self.horizon / NS_PER_S:g}s"
        out["horizon_drop" if self.horizon_drop else "horizon_cap"] = True
        return out

    def xstats(self) -> dict[str, int]:
        """``struct tc_fq_qd_stats``, by its field names."""
        return {
            "flows": len(self.flows),
            "inactive_flows": self.inactive_flows,
            "throttled_flows": self.throttled_flows,
            "gc_flows": self.stat_gc_flows,
            "highprio_packets": self.stat_internal_packets,
            "throttled": self.stat_throttled,
            "flows_plimit": self.stat_flows_plimit,
            "pkts_too_long": self.stat_pkts_too_long,
            "horizon_drops": self.stat_horizon_drops,
            "horizon_caps": self.stat_horizon_caps,
        }


def _fmt_rate(bytes_per_s: int) -> str:
    """tc's sprint_rate of a rate in bytes/s: bits per second with a unit."""
    bits = bytes_per_s * 8
    for unit, scale in (("Gbit", 10**9), ("Mbit", 10**6), ("Kbit", 10**3)):
        if bits >= scale:
            return f"{bits / scale:g}{unit}"
    return f"{bits}bit"
