"""IPv4 reassembly: fragments for local delivery queued until their datagram is whole.

Mirrors Linux's ``net/ipv4/ip_fragment.c`` + ``net/ipv4/inet_fragment.c`` (``ip_defrag``,
``ip_frag_queue``, ``inet_frag_queue_insert``, ``ip_frag_reasm``, ``ip_expire``).  Output
fragmentation (``ip_fragment``) is in ``output.py``, as Linux keeps it in ``ip_output.c``.

Contract:
- ``ip_defrag(net, skb)``: a fragment for local delivery (``data`` at its IPv4 header); returns
  the reassembled datagram as a new skb once complete, else None (the fragment is kept or
  dropped).  Queues are keyed by (src, dst, id, protocol) and expire ``ipfrag_time_s`` (30 s)
  after their first fragment: ReasmFails + ReasmTimeout, and an ICMP time exceeded (code 1,
  "fragment reassembly time exceeded") when the first fragment had arrived.  Exact or contained
  duplicates are dropped and the queue kept; a partial overlap discards the whole datagram
  (ReasmOverlaps in IpExt + ReasmFails, RFC 5722's rule that Linux applies to IPv4 since 4.19),
  as do inconsistent ends and datagrams over 65535 bytes.  While fragment memory (the skbs'
  truesize) exceeds ``ipfrag_high_thresh`` every new fragment is dropped with ReasmFails, as
  ``inet_frag_find`` refuses to work above it.  ReasmReqds counts fragments, ReasmOKs datagrams.
- ``IpFrags(net)`` is the namespace's reassembly state (``net.ipfrag``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import NET_SKB_PAD, Timer, alloc_skb, consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_NONE
from stack.core.units import NS_PER_S
from stack.ipv4.icmp import icmp_send
from stack.wire.checksum import internet_checksum
from stack.wire.icmp import ICMP_EXC_FRAGTIME, ICMP_TIME_EXCEEDED
from stack.wire.ipv4 import IP_MF, IP_OFFSET
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import SkBuff

_ERROR = -1


class FragQueue:
    """One datagram being reassembled (Linux's ``struct ipq``)."""

    __slots__ = ("key", "frags", "len", "meat", "first_in", "last_in", "timer", "mem", "dead")

    def __init__(self, frags: IpFrags, key: tuple[bytes, bytes, int, int]) -> None:
        self.key = key
        self.frags: list[tuple[int, int, SkBuff]] = []  # (offset, end, skb) by offset
        self.len = 0
        self.meat = 0
        self.first_in = False
        self.last_in = False
        self.mem = 0
        self.dead = False
        self.timer = Timer(frags.net.kernel, lambda _t: frags.expire(self), "ip_expire")


class IpFrags:
    """The namespace's reassembly queues and their memory (``net.ipfrag``, ``fqdir``)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.queues: dict[tuple[bytes, bytes, int, int], FragQueue] = {}
        self.mem = 0

    def kill(self, q: FragQueue, reason: SkbDropReason | None) -> None:
        """inet_frag_kill + free: the queue goes; its skbs are dropped (reason) or consumed."""
        if q.dead:
            return
        q.dead = True
        q.timer.del_timer()
        self.queues.pop(q.key, None)
        self.mem -= q.mem
        for _, _, skb in q.frags:
            if reason is None:
                consume_skb(skb)
            else:
                kfree_skb(skb, reason)
        q.frags = []

    def expire(self, q: FragQueue) -> None:
        """ip_expire: the datagram did not complete within ipfrag_time."""
        if q.dead:
            return
        mib = self.net.mib.ip
        mib["ReasmFails"] += 1
        mib["ReasmTimeout"] += 1
        if q.first_in and q.frags and q.frags[0][0] == 0:
            icmp_send(self.net, q.frags[0][2], ICMP_TIME_EXCEEDED, ICMP_EXC_FRAGTIME)
        self.kill(q, SkbDropReason.FRAG_REASM_TIMEOUT)


def _insert(q: FragQueue, offset: int, end: int, skb: SkBuff) -> int:
    """inet_frag_queue_insert: 0 inserted, 1 duplicate (covered by one run), -1 overlap."""
    frags = q.frags
    if not frags or frags[-1][1] <= offset:
        frags.append((offset, end, skb))
        return 0
    hits = [i for i, (o, e, _) in enumerate(frags) if o < end and offset < e]
    if not hits:
        pos = 0
        while pos < len(frags) and frags[pos][0] < offset:
            pos += 1
        frags.insert(pos, (offset, end, skb))
        return 0
    first, last = hits[0], hits[-1]
    contiguous = all(frags[i][1] == frags[i + 1][0] for i in range(first, last))
    if contiguous and frags[first][0] <= offset and end <= frags[last][1]:
        return 1
    return _ERROR


def ip_defrag(net: Any, skb: SkBuff) -> SkBuff | None:
    """Queue one fragment; the whole datagram once it is complete (see the module docstring)."""
    mib = net.mib.ip
    mib["ReasmReqds"] += 1
    frags: IpFrags = net.ipfrag
    sysctl = net.sysctl
    if frags.mem > sysctl.ipfrag_high_thresh:
        mib["ReasmFails"] += 1
        kfree_skb(skb, SkbDropReason.FRAG_TOO_FAR)
        return None
    head = skb.head
    nh = skb.network_header
    ihl = (head[nh] & 0x0F) << 2
    total = U16.unpack_from(head, nh + 2)[0]
    fo = U16.unpack_from(head, nh + 6)[0]
    key = (bytes(head[nh + 12 : nh + 16]), bytes(head[nh + 16 : nh + 20]),
           U16.unpack_from(head, nh + 4)[0], head[nh + 9])
    q = frags.queues.get(key)
    if q is None:
        q = FragQueue(frags, key)
        frags.queues[key] = q
        q.timer.mod_timer(net.sched.now + sysctl.ipfrag_time_s * NS_PER_S)
    offset = (fo & IP_OFFSET) << 3
    end = offset + total - ihl
    bad = False
    if not fo & IP_MF:
        if end < q.len or (q.last_in and end != q.len):
            bad = True
        else:
            q.last_in = True
            q.len = end
    else:
        end &= ~7
        if end > q.len:
            if q.last_in:
                bad = True
            else:
                q.len = end
    if bad or end == offset:
        mib["ReasmFails"] += 1
        frags.kill(q, SkbDropReason.FRAG_REASM_FAILED)
        kfree_skb(skb, SkbDropReason.FRAG_REASM_FAILED)
        return None
    skb.trim(nh + ihl + (end - offset) - skb.data)
    res = _insert(q, offset, end, skb)
    if res == 1:
        kfree_skb(skb, SkbDropReason.DUP_FRAG)
        return None
    if res == _ERROR:
        net.mib.ipext["ReasmOverlaps"] += 1
        mib["ReasmFails"] += 1
        frags.kill(q, SkbDropReason.FRAG_REASM_FAILED)
        kfree_skb(skb, SkbDropReason.FRAG_REASM_FAILED)
        return None
    if offset == 0:
        q.first_in = True
    q.meat += end - offset
    q.mem += skb.truesize
    frags.mem += skb.truesize
    if q.first_in and q.last_in and q.meat == q.len:
        return _reasm(net, frags, q)
    return None


def _reasm(net: Any, frags: IpFrags, q: FragQueue) -> SkBuff | None:
    """ip_frag_reasm: one new skb with the first fragment's header and every payload."""
    first = q.frags[0][2]
    fh = first.head
    fnh = first.network_header
    ihl = (fh[fnh] & 0x0F) << 2
    total = ihl + q.len
    mib = net.mib.ip
    if total > 0xFFFF:
        mib["ReasmFails"] += 1
        frags.kill(q, SkbDropReason.PKT_TOO_BIG)
        return None
    skb = alloc_skb(first.kernel, NET_SKB_PAD + total)
    skb.reserve(NET_SKB_PAD)
    off = skb.put(total)
    h = skb.head
    h[off : off + ihl] = fh[fnh : fnh + ihl]
    for offset, end, frag in q.frags:
        src = frag.network_header + ((frag.head[frag.network_header] & 0x0F) << 2)
        h[off + ihl + offset : off + ihl + end] = frag.head[src : src + end - offset]
    U16.pack_into(h, off + 2, total)
    U16.pack_into(h, off + 6, 0)
    U16.pack_into(h, off + 10, 0)
    U16.pack_into(h, off + 10, internet_checksum(memoryview(h)[off : off + ihl]))
    skb.network_header = off
    skb.transport_header = off + ihl
    skb.dev = first.dev
    skb.protocol = first.protocol
    skb.pkt_type = first.pkt_type
    skb.skb_iif = first.skb_iif
    skb.tstamp = first.tstamp
    skb.mac_header = -1
    if first._cb:
        skb.cb = dict(first._cb)
    skb.ip_summed = CHECKSUM_NONE
    frags.kill(q, None)
    mib["ReasmOKs"] += 1
    return skb
