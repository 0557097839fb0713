"""IPv6 reassembly: fragment queues with Linux's limits, overlaps and timeout.

Mirrors Linux's ``net/ipv6/reassembly.c`` (``ipv6_frag_rcv``, ``ip6_frag_queue``,
``ip6_frag_reasm``) on ``net/ipv4/inet_fragment.c``: queues keyed by (source, destination,
identification), a per-namespace memory budget ``net.ipv6.ip6frag_high_thresh`` (4 MiB; a
fragment arriving over it is dropped, Ip6ReasmFails), a timeout of
``net.ipv6.ip6frag_time`` (60 s; the queue goes, Ip6ReasmTimeout and Ip6ReasmFails, and ICMPv6
time exceeded code 1 is sent when the first fragment had arrived).  RFC 5722: any overlap
drops the whole queue (Ip6ReasmFails, reason DUP_FRAG), an exact duplicate included, as
Linux does since 2010.  A fragment whose end passes 65535 gets a parameter problem pointing
at its offset field, a non-last fragment whose length is not a multiple of 8 one pointing at
the payload length (``ipv6_frag_rcv``'s checks).  An atomic fragment (offset 0, no M) is
passed through (RFC 6946).

Contract: ``ipv6_frag_rcv(net, skb, off, prev_nh)`` gets the skb with ``network_header`` at
its IPv6 header, the fragment header at ``off`` and the offset of the next-header byte that
names it; it returns None (queued or dropped) or ``(skb, off, nexthdr)``: the reassembled
packet (the unfragmentable part, the fragment header removed, the payload length fixed) and
where the walk goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import ETH_P_IPV6, Timer, alloc_skb, consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.units import NS_PER_S
from stack.ipv6.icmp import icmp6_send, icmpv6_param_prob
from stack.wire.icmpv6 import ICMPV6_EXC_FRAGTIME, ICMPV6_HDR_FIELD, ICMPV6_TIME_EXCEED
from stack.wire.ipv6 import IPV6_FRAG_HLEN, IPV6_HLEN, IPV6_MAXPLEN, FragRepr

if TYPE_CHECKING:
    from stack.core import SkBuff

_PAYLOAD_LEN = 4
_FRAG_OFF = 2  # offset of the offset field within the fragment header


class FragQueue:
    """One datagram being reassembled (``struct frag_queue``)."""

    __slots__ = (
        "key",
        "frags",
        "len",
        "meat",
        "last_in",
        "first",
        "timer",
        "mem",
        "nexthdr",
        "unfrag",
        "prev_nh",
    )

    def __init__(self, frags: Ip6Frags, key: tuple[bytes, bytes, int], kernel: Any) -> None:
        self.key = key
        self.frags: list[tuple[int, int, bytes]] = []  # (offset, end, data)
        self.len = 0  # total payload length, known from the last fragment
        self.meat = 0
        self.last_in = False
        self.first: SkBuff | None = None  # a copy of fragment 0, for ICMP and the header
        self.mem = 0
        self.nexthdr = 0
        self.unfrag = b""
        self.prev_nh = 0
        self.timer = Timer(kernel, lambda _t: frags.expire(self), "ip6frag")


class Ip6Frags:
    """The namespace's IPv6 reassembly queues (``net.ipv6.frags``)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.queues: dict[tuple[bytes, bytes, int], FragQueue] = {}
        self.mem = 0

    def _kill(self, q: FragQueue) -> None:
        q.timer.del_timer()
        self.queues.pop(q.key, None)
        self.mem -= q.mem
        q.mem = 0
        if q.first is not None:
            consume_skb(q.first)
            q.first = None

    def expire(self, q: FragQueue) -> None:
        """ip6_frag_expire: time exceeded (fragment reassembly) if fragment 0 came."""
        if q.key not in self.queues:
            return
        mib = self.net.mib.ip6
        mib["Ip6ReasmTimeout"] += 1
        mib["Ip6ReasmFails"] += 1
        first = q.first
        q.first = None
        self._kill(q)
        if first is not None:
            icmp6_send(self.net, first, ICMPV6_TIME_EXCEED, ICMPV6_EXC_FRAGTIME)
            kfree_skb(first, SkbDropReason.FRAG_REASM_TIMEOUT)


def ipv6_frag_rcv(net: Any, skb: SkBuff, off: int, prev_nh: int) -> tuple[SkBuff, int, int] | None:
    """One fragment (see the module docstring)."""
    mib = net.mib.ip6
    head = skb.head
    nh = skb.network_header
    if off + IPV6_FRAG_HLEN > skb.tail:
        mib["Ip6InHdrErrors"] += 1
        kfree_skb(skb, SkbDropReason.IPV6_BAD_EXTHDR)
        return None
    fh = FragRepr.parse(head, off)
    data_start = off + IPV6_FRAG_HLEN
    length = skb.tail - data_start
    if fh.offset == 0 and not fh.more:  # atomic fragment
        skb.cb["frag"] = True
        return skb, data_start, fh.nexthdr
    mib["Ip6ReasmReqds"] += 1
    skb.cb["frag"] = True
    end = fh.offset + length
    if end > IPV6_MAXPLEN:
        mib["Ip6InHdrErrors"] += 1
        icmpv6_param_prob(
            net, skb, ICMPV6_HDR_FIELD, off + _FRAG_OFF - nh, SkbDropReason.IPV6_BAD_EXTHDR
        )
        return None
    if fh.more and length & 7:
        mib["Ip6InHdrErrors"] += 1
        icmpv6_param_prob(net, skb, ICMPV6_HDR_FIELD, _PAYLOAD_LEN, SkbDropReason.IPV6_BAD_EXTHDR)
        return None
    frags: Ip6Frags = net.ipv6.frags
    sysctl = net.sysctl
    if frags.mem + skb.truesize > sysctl.ip6frag_high_thresh:
        mib["Ip6ReasmFails"] += 1
        kfree_skb(skb, SkbDropReason.FRAG_REASM_FAILED)
        return None
    key = (bytes(head[nh + 8 : nh + 24]), bytes(head[nh + 24 : nh + 40]), fh.ident)
    q = frags.queues.get(key)
    if q is None:
        q = frags.queues[key] = FragQueue(frags, key, skb.kernel)
        q.timer.mod_timer(net.sched.now + sysctl.ip6frag_time_s * NS_PER_S)
    if not fh.more:
        if (q.last_in and end != q.len) or end < max((e for _o, e, _d in q.frags), default=0):
            return _overlap(net, frags, q, skb)
        q.last_in = True
        q.len = end
    elif q.last_in and end > q.len:
        return _overlap(net, frags, q, skb)
    for o, e, _d in q.frags:
        if fh.offset < e and end > o:
            return _overlap(net, frags, q, skb)
    q.frags.append((fh.offset, end, bytes(head[data_start : skb.tail])))
    q.meat += length
    q.mem += skb.truesize
    frags.mem += skb.truesize
    if fh.offset == 0:
        q.nexthdr = fh.nexthdr
        q.unfrag = bytes(head[nh:off])
        q.prev_nh = prev_nh - nh
        q.first = skb.copy()
    if not (q.last_in and q.first is not None and q.meat == q.len):
        consume_skb(skb)
        return None
    return _reasm(net, frags, q, skb)


def _overlap(net: Any, frags: Ip6Frags, q: FragQueue, skb: SkBuff) -> None:
    net.mib.ip6["Ip6ReasmFails"] += 1
    net.mib.ipext["ReasmOverlaps"] += 1
    frags._kill(q)
    kfree_skb(skb, SkbDropReason.DUP_FRAG)
    return None


def _reasm(net: Any, frags: Ip6Frags, q: FragQueue, last: SkBuff) -> tuple[SkBuff, int, int]:
    """ip6_frag_reasm: one skb of the unfragmentable part and the payload in order."""
    unfrag = bytearray(q.unfrag)
    unfrag[q.prev_nh] = q.nexthdr
    payload = b"".join(d for _o, _e, d in sorted(q.frags))
    plen = len(unfrag) - IPV6_HLEN + len(payload)
    unfrag[_PAYLOAD_LEN] = plen >> 8
    unfrag[_PAYLOAD_LEN + 1] = plen & 0xFF
    skb = alloc_skb(last.kernel, 64 + len(unfrag) + len(payload))
    skb.reserve(64)
    off = skb.put(len(unfrag) + len(payload))
    skb.head[off : off + len(unfrag)] = unfrag
    skb.head[off + len(unfrag) : off + len(unfrag) + len(payload)] = payload
    skb.network_header = off
    skb.transport_header = off + len(unfrag)
    skb.dev = last.dev
    skb.pkt_type = last.pkt_type
    skb.protocol = ETH_P_IPV6
    skb.cb["frag"] = True
    frags._kill(q)
    consume_skb(last)
    net.mib.ip6["Ip6ReasmOKs"] += 1
    return skb, off + len(unfrag), q.nexthdr
