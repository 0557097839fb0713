"""fq_codel: fair queueing with CoDel per flow, the default qdisc of current distributions.

Mirrors Linux's ``net/sched/sch_fq_codel.c``: packets are hashed by flow into ``flows``
(1024) queues; a deficit round robin with ``quantum`` bytes (the device's MTU + link header)
serves new flows before old ones (the sparse-flow optimisation), and each flow runs its own
CoDel (:mod:`stack.sched.codel`, target 5 ms, interval 100 ms, ECN marking on by default).
Above ``limit`` packets (10240) or ``memory_limit`` bytes of truesize (32 MiB) the enqueue
drops up to ``drop_batch`` (64) packets from the head of the fattest flow
(``fq_codel_drop``), counted in ``drop_overlimit`` (and ``drop_overmemory``); if the new
packet's own flow was the fattest, the enqueue returns NET_XMIT_CN as Linux's does.

Deliberate deviations, said out loud: the flow hash is CRC-32 of the IPv4 5-tuple (ports for
TCP/UDP/SCTP unless fragmented) rather than Linux's jhash with a boot-time random key, so a
seed gives the same flow-to-queue mapping every run; packet length is the skb's length
without the GSO header accounting of ``qdisc_pkt_len_init``; no classifiers (tc filters)
can override the hash.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from typing import TYPE_CHECKING

from stack.core.dropreason import SkbDropReason
from stack.core.qdisc import NET_XMIT_CN, NET_XMIT_SUCCESS, Qdisc, register_qdisc
from stack.core.skbfree import kfree_skb
from stack.core.skbuff import SkBuff
from stack.sched.codel import (
    CODEL_DISABLED_THRESHOLD,
    CodelParams,
    CodelStats,
    CodelVars,
    codel_dequeue,
    us2time,
)
from stack.sched.ecn import inet_ecn_set_ce
from stack.uapi import ETH_P_8021Q, ETH_P_IP

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice

_PORTS_PROTOS = (6, 17, 132, 136)  # TCP, UDP, SCTP, UDP-Lite: the dissector reads ports
_U16 = struct.Struct("!H")


class Flow:
    """``struct fq_codel_flow``: a FIFO of (skb, enqueue time), its deficit and CoDel."""

    __slots__ = ("queue", "deficit", "cvars", "dropped", "index", "listed")

    def __init__(self, index: int) -> None:
        self.queue: deque[tuple[SkBuff, int]] = deque()
        self.deficit = 0
        self.cvars = CodelVars()
        self.dropped = 0
        self.index = index
        self.listed = False  # on new_flows or old_flows (its flowchain is not empty)


def flow_hash(skb: SkBuff) -> int:
    """The flow's 32-bit hash: CRC-32 over protocol, addresses and ports (module docstring)."""
    buf = skb.head
    off = skb.data + 12
    proto = _U16.unpack_from(buf, off)[0]
    off += 2
    if proto == ETH_P_8021Q:
        proto = _U16.unpack_from(buf, off + 2)[0]
        off += 4
    if proto != ETH_P_IP or skb.tail - off < 20:
        return zlib.crc32(_U16.pack(proto))
    ihl = (buf[off] & 0x0F) * 4
    l4 = buf[off + 9]
    key = bytes(buf[off + 9:off + 10]) + bytes(buf[off + 12:off + 20])
    frag = _U16.unpack_from(buf, off + 6)[0] & 0x3FFF
    if l4 in _PORTS_PROTOS and not frag and skb.tail - off >= ihl + 4:
        key += bytes(buf[off + ihl:off + ihl + 4])
    return zlib.crc32(key)


@register_qdisc
class FqCodel(Qdisc):
    """The fq_codel discipline (see the module docstring); parameters by tc's names."""

    kind = "fq_codel"

    __slots__ = ("flows", "flows_cnt", "new_flows", "old_flows", "backlogs", "limit",
                 "memory_limit", "memory_usage", "quantum", "drop_batch_size", "cparams",
                 "cstats", "drop_overlimit", "drop_overmemory", "new_flow_count")

    def __init__(self, dev: NetDevice, *, limit: int = 10240, flows: int = 1024,
                 quantum: int | None = None, target: float = 5.0, interval: float = 100.0,
                 ecn: bool = True, ce_threshold: float | None = None,
                 memory_limit: int = 32 << 20, drop_batch: int = 64) -> None:
        """``target``, ``interval`` and ``ce_threshold`` in milliseconds (tc's defaults)."""
        super().__init__(dev)
        for name, value, low in (("limit", limit, 1), ("flows", flows, 1),
                                 ("memory_limit", memory_limit, 1),
                                 ("drop_batch", drop_batch, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TypeError(f"{name} must be an int >= {low}, got {value!r}")
        if flows > 65536:
            raise TypeError(f"flows must be at most 65536, got {flows}")
        for name, ms in (("target", target), ("interval", interval)):
            if isinstance(ms, bool) or not isinstance(ms, int | float) or ms <= 0:
                raise TypeError(f"{name} must be a positive number of ms, got {ms!r}")
        mtu = dev.mtu + dev.hard_header_len  # psched_mtu
        self.quantum = mtu if quantum is None else quantum
        if isinstance(self.quantum, bool) or not isinstance(self.quantum, int) \
                or self.quantum < 256:
            raise TypeError(f"quantum must be an int >= 256, got {quantum!r}")
        self.flows_cnt = flows
        self.flows = [Flow(i) for i in range(flows)]
        self.new_flows: deque[Flow] = deque()
        self.old_flows: deque[Flow] = deque()
        self.backlogs = [0] * flows
        self.limit = limit
        self.memory_limit = memory_limit
        self.memory_usage = 0
        self.drop_batch_size = drop_batch
        threshold = CODEL_DISABLED_THRESHOLD if ce_threshold is None \
            else us2time(ce_threshold * 1000)
        self.cparams = CodelParams(mtu, us2time(target * 1000), us2time(interval * 1000),
                                   threshold, bool(ecn))
        self.cstats = CodelStats()
        self.drop_overlimit = 0
        self.drop_overmemory = 0
        self.new_flow_count = 0

    # -- enqueue --------------------------------------------------------------------------
    def classify(self, skb: SkBuff) -> int:
        """``fq_codel_classify`` without filters: ``reciprocal_scale(hash, flows)``."""
        return (flow_hash(skb) * self.flows_cnt) >> 32

    def enqueue(self, skb: SkBuff) -> int:
        if not self.active:
            return self.drop_inactive(skb)
        idx = self.classify(skb)
        flow = self.flows[idx]
        size = skb.len
        flow.queue.append((skb, self.dev.kernel.sched.now))
        self.backlogs[idx] += size
        self.backlog += size
        if not flow.listed:
            flow.listed = True
            self.new_flows.append(flow)
            self.new_flow_count += 1
            flow.deficit = self.quantum
        self.memory_usage += skb.truesize
        memory_limited = self.memory_usage > self.memory_limit
        self.qlen += 1
        if self.qlen <= self.limit and not memory_limited:
            return NET_XMIT_SUCCESS
        prev_qlen = self.qlen
        fattest = self.drop(self.drop_batch_size)
        dropped = prev_qlen - self.qlen
        self.drop_overlimit += dropped
        if memory_limited:
            self.drop_overmemory += dropped
        # our own flow was the fattest: tell the caller it lost packets (NET_XMIT_CN)
        return NET_XMIT_CN if fattest == idx else NET_XMIT_SUCCESS

    def drop(self, max_packets: int) -> int:
        """``fq_codel_drop``: from the fattest flow's head, until half its backlog is gone
        or ``max_packets``; returns that flow's index."""
        idx = max(range(self.flows_cnt), key=self.backlogs.__getitem__)
        flow = self.flows[idx]
        threshold = self.backlogs[idx] >> 1
        length = mem = count = 0
        while True:
            skb, _t = flow.queue.popleft()
            length += skb.len
            mem += skb.truesize
            kfree_skb(skb, SkbDropReason.QDISC_DROP)
            count += 1
            if count >= max_packets or length >= threshold or not flow.queue:
                break
        flow.dropped += count
        self.backlogs[idx] -= length
        self.memory_usage -= mem
        self.drops += count
        self.backlog -= length
        self.qlen -= count
        return idx

    # -- dequeue --------------------------------------------------------------------------
    def dequeue(self) -> SkBuff | None:
        now = self.dev.kernel.sched.now
        while True:
            head = self.new_flows
            if not head:
                head = self.old_flows
                if not head:
                    return None
            flow = head[0]
            if flow.deficit <= 0:
                flow.deficit += self.quantum
                head.popleft()
                self.old_flows.append(flow)
                continue
            skb = codel_dequeue(now, flow.cvars, self.cparams, self.cstats,
                                lambda f=flow: self._dequeue_head(f), self._codel_drop,
                                inet_ecn_set_ce, lambda: self.backlog, _length)
            if skb is None:
                head.popleft()
                if head is self.new_flows and self.old_flows:
                    self.old_flows.append(flow)  # a pass through old_flows: no starvation
                else:
                    flow.listed = False
                continue
            flow.deficit -= skb.len
            return skb

    def _dequeue_head(self, flow: Flow) -> tuple[SkBuff, int] | None:
        """fq_codel's ``dequeue_func``: the flow's head, taken off every count."""
        if not flow.queue:
            return None
        item = flow.queue.popleft()
        skb = item[0]
        size = skb.len
        self.backlogs[flow.index] -= size
        self.memory_usage -= skb.truesize
        self.qlen -= 1
        self.backlog -= size
        return item

    def _codel_drop(self, skb: SkBuff) -> None:
        """``drop_func``: CoDel's drop, counted as a qdisc drop."""
        self.drops += 1
        kfree_skb(skb, SkbDropReason.QDISC_DROP)

    def reset_queue(self) -> None:
        for flow in self.flows:
            while flow.queue:
                kfree_skb(flow.queue.popleft()[0], SkbDropReason.QDISC_DROP)
            flow.deficit = 0
            flow.cvars = CodelVars()
            flow.listed = False
        self.new_flows.clear()
        self.old_flows.clear()
        self.backlogs = [0] * self.flows_cnt
        self.memory_usage = 0

    # -- tc -------------------------------------------------------------------------------
    def params(self) -> dict[str, object]:
        p = self.cparams
        out: dict[str, object] = {
            "limit": f"{self.limit}p", "flows": self.flows_cnt, "quantum": self.quantum,
            "target": _fmt_time(p.target), "interval": _fmt_time(p.interval),
            "memory_limit": _fmt_bytes(self.memory_limit),
        }
        if p.ce_threshold != CODEL_DISABLED_THRESHOLD:
            out["ce_threshold"] = _fmt_time(p.ce_threshold)
        if p.ecn:
            out["ecn"] = True
        out["drop_batch"] = self.drop_batch_size
        return out

    def xstats(self) -> dict[str, int]:
        return {
            "maxpacket": self.cstats.maxpacket, "drop_overlimit": self.drop_overlimit,
            "new_flow_count": self.new_flow_count, "ecn_mark": self.cstats.ecn_mark,
            "drop_overmemory": self.drop_overmemory, "ce_mark": self.cstats.ce_mark,
            "new_flows_len": len(self.new_flows), "old_flows_len": len(self.old_flows),
        }


def _length(skb: SkBuff) -> int:
    return skb.len


def _fmt_time(codel_units: int) -> str:
    """tc's print_time of the value the kernel dumps (codel_time_to_us): ms to 0.1 ms."""
    us = (codel_units << 10) // 1000
    return f"{round(us / 1000, 1):g}ms" if us >= 1000 else f"{us}us"


def _fmt_bytes(n: int) -> str:
    """tc's sprint_size: 32Mb for 32 MiB."""
    for unit, scale in (("Mb", 1 << 20), ("Kb", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return f"{n}b"

