"""IPv4 output: build the header, route, fragment if needed, resolve the neighbour, transmit.

Mirrors Linux's ``net/ipv4/ip_output.c`` (``__ip_queue_xmit``, ``ip_local_out``,
``ip_output``/``ip_finish_output``, ``ip_fragment``/``ip_do_fragment`` with
``ip_options_fragment``, ``ip_finish_output2``, ``ip_mc_finish_output`` for the local copy of
broadcasts) and ``net/ipv4/route.c``'s ``ip_idents_reserve``.  Reassembly is in ``defrag.py``.

Contract (docs/stack-architecture.md):
- The L4 builds an skb with at least :data:`MAX_HEADER` bytes of headroom and ``data`` at its
  header (``transport_header`` marked), and sets ``ip_summed``/``csum_start``/``csum_offset``
  itself when it wants checksum offload; IP never touches them (except to finish a partial
  checksum in software before fragmenting).  GSO skbs (``gso_size``) are passed through whole;
  ``dev_queue_xmit`` segments them (``stack/ipv4/gso.py``) for a device without TSO.
- ``ip_queue_xmit(net, skb, saddr, daddr, proto, tos=0, ttl=None, df=True)`` (TCP) and
  ``ip_send(net, skb, saddr, daddr, proto, tos=0, ttl=None, df=False)`` (datagrams) return 0
  or a negative errno: ``-EHOSTUNREACH`` (ip_queue_xmit) / ``-ENETUNREACH`` (ip_send) without a
  route, ``-EMSGSIZE`` for a DF packet over the path MTU (an ICMP "fragmentation needed" is then
  also sent to ourselves, as ip_fragment does), ``-ENOBUFS`` when the qdisc dropped it.  The skb
  is consumed in every case.  ``rt=`` passes a route the caller already holds (a connected
  socket's), ``ident=`` an IP ID (else ``ip_idents`` picks one per destination).
- Counters: OutRequests (local datagrams), OutTransmits (every packet handed to the neighbour
  layer: fragments, forwarded packets), OutNoRoutes, FragOKs, FragFails, FragCreates.
- The layers around IP are reached through the namespace, not imported: the neighbour table
  as ``net.arp`` and ICMP (whose messages are sent through this module) as ``net.icmp``.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import (
    ETH_P_IP,
    IFF_LOOPBACK,
    PACKET_LOOPBACK,
    alloc_skb,
    consume_skb,
    kfree_skb,
    netif_rx,
)
from stack.core.dropreason import SkbDropReason
from stack.core.qdisc import NET_XMIT_DROP
from stack.core.skbfrag import skb_linearize
from stack.core.skbuff import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    skb_checksum_help,
)
from stack.ipv4.route import RTN_BROADCAST, Route, route_output
from stack.wire.checksum import internet_checksum
from stack.wire.icmp import ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED
from stack.wire.ipv4 import IP_DF, IP_MF, IP_OFFSET, IPV4, ipv4_is_lbcast
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import SkBuff

MAX_HEADER = 128  # headroom an L4 reserves: link header + IPv4 header with options, aligned
IP_IDENTS_SZ = 2048
_HDR = IPV4.struct
_CHECKSUM = IPV4.offset("checksum")
_IPV4_HLEN = IPV4.size
IPOPT_COPY = 0x80
IPOPT_END = 0
IPOPT_NOOP = 1


# The hash of ip_select_ident depends on nothing but its inputs: computed once per triple
# (bounded: a scan of many destinations only refills it).
_SLOTS: dict[tuple[bytes, bytes, int], int] = {}
_SLOTS_MAX = 4096


def ip_select_ident(net: Any, saddr: bytes, daddr: bytes, proto: int, segs: int = 1) -> int:
    """ip_idents_reserve: the next IP ID of one of 2048 per-destination-hash counters.

    The counters start at a value drawn from ``sched.rng`` (Linux seeds them randomly too); a
    GSO skb reserves one ID per segment.
    """
    key = (saddr, daddr, proto)
    slot = _SLOTS.get(key)
    if slot is None:
        h = ((int.from_bytes(daddr, "big") * 0x9E3779B1) ^ int.from_bytes(saddr, "big")
             ^ (proto * 0x85EBCA6B)) & 0xFFFFFFFF
        slot = (h ^ (h >> 16)) & (IP_IDENTS_SZ - 1)
        if len(_SLOTS) >= _SLOTS_MAX:
            _SLOTS.clear()
        _SLOTS[key] = slot
    idents = net.ip_idents
    cur = idents.get(slot)
    if cur is None:
        cur = net.sched.rng.getrandbits(16)
    idents[slot] = (cur + segs) & 0xFFFF
    return cur


def _route(net: Any, daddr: bytes, saddr: bytes | None) -> Route:
    """The cached route by destination; the slow path only when the source picks the device."""
    if saddr is not None and ipv4_is_lbcast(daddr):
        return route_output(net, daddr, saddr)
    return route_output(net, daddr)


def ip_queue_xmit(net: Any, skb: SkBuff, saddr: bytes | None, daddr: bytes, proto: int,
                  tos: int = 0, ttl: int | None = None, df: bool = True,
                  rt: Route | None = None, ident: int | None = None) -> int:
    """__ip_queue_xmit: send a TCP segment (or super-segment); 0 or a negative errno."""
    if rt is None or not net.fib.check(rt):
        try:
            rt = _route(net, daddr, saddr)
        except OSError:
            net.mib.ip["OutNoRoutes"] += 1
            kfree_skb(skb, SkbDropReason.IP_OUTNOROUTES)
            return -errno.EHOSTUNREACH
    return ip_build_and_send(net, skb, rt, saddr, daddr, proto, tos, ttl, df, ident)


def ip_send(net: Any, skb: SkBuff, saddr: bytes | None, daddr: bytes, proto: int,
            tos: int = 0, ttl: int | None = None, df: bool = False, rt: Route | None = None,
            ident: int | None = None) -> int:
    """Send a datagram (UDP, ICMP); 0 or a negative errno (ip_push_pending_frames' role)."""
    if rt is None or not net.fib.check(rt):
        try:
            rt = _route(net, daddr, saddr)
        except OSError as exc:
            if exc.errno == errno.ENETUNREACH:
                net.mib.ip["OutNoRoutes"] += 1
            kfree_skb(skb, SkbDropReason.IP_OUTNOROUTES)
            return -(exc.errno or errno.ENETUNREACH)
    return ip_build_and_send(net, skb, rt, saddr, daddr, proto, tos, ttl, df, ident)


def ip_build_and_send(net: Any, skb: SkBuff, rt: Route, saddr: bytes | None, daddr: bytes,
                      proto: int, tos: int, ttl: int | None, df: bool,
                      ident: int | None) -> int:
    """Push the IPv4 header in front of the L4 data and hand the packet to ip_local_out."""
    src = saddr or rt.src
    if skb.transport_header < 0:
        skb.transport_header = skb.data
    off = skb.push(_IPV4_HLEN)
    total = skb.tail - off + skb.data_len  # the page fragments count (TCP's under SG)
    if total > 0xFFFF:
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return -errno.EMSGSIZE
    if ident is None:
        ident = ip_select_ident(net, src, daddr, proto, skb.gso_segs or 1)
    head = skb.head
    _HDR.pack_into(head, off, 0x45, tos & 0xFF, total, ident & 0xFFFF, IP_DF if df else 0,
                   net.sysctl.ip_default_ttl if ttl is None else ttl, proto, 0, src, daddr)
    U16.pack_into(head, off + _CHECKSUM,
                  internet_checksum(memoryview(head)[off : off + _IPV4_HLEN]))
    skb.network_header = off
    skb.protocol = ETH_P_IP
    net.mib.ip["OutRequests"] += 1
    return ip_output(net, skb, rt)


def ip_output(net: Any, skb: SkBuff, rt: Route, forwarding: bool = False) -> int:
    """ip_output/ip_finish_output: fragment what exceeds the MTU, then transmit."""
    mtu = rt.dev_mtu if forwarding else rt.mtu
    if skb.tail - skb.data + skb.data_len > mtu and not skb.gso_size:
        return ip_fragment(net, skb, rt, mtu)
    return ip_finish_output2(net, skb, rt)


def _options_fragment(hdr: bytearray, ihl: int) -> None:
    """ip_options_fragment: replace every option not marked "copied" with NOPs, in place."""
    i = 20
    while i < ihl:
        opt = hdr[i]
        if opt == IPOPT_END:
            break
        if opt == IPOPT_NOOP:
            i += 1
            continue
        olen = hdr[i + 1] if i + 1 < ihl else 0
        if olen < 2 or i + olen > ihl:
            break
        if not opt & IPOPT_COPY:
            hdr[i : i + olen] = bytes([IPOPT_NOOP]) * olen
        i += olen


def ip_fragment(net: Any, skb: SkBuff, rt: Route, mtu: int) -> int:
    """ip_do_fragment: split an oversized packet into fragments that fit ``mtu``.

    ``skb.data`` at the IPv4 header.  With DF set: FragFails, an ICMP "fragmentation needed"
    carrying ``mtu`` to the sender (ourselves for local traffic), the skb dropped,
    ``-EMSGSIZE``.  Otherwise fragments of ``(mtu - ihl) & ~7`` payload bytes go to
    ``ip_finish_output2``, options not marked "copied" becoming NOPs after the first
    (``ip_options_fragment``); FragCreates per fragment, FragOKs per datagram.
    """
    mib = net.mib.ip
    head = skb.head
    nh = skb.data
    ihl = (head[nh] & 0x0F) << 2
    fo = U16.unpack_from(head, nh + 6)[0]
    if fo & IP_DF:
        mib["FragFails"] += 1
        net.icmp.send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu)
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return -errno.EMSGSIZE
    if skb.data_len:  # the fragmenter slices the head: make it hold everything
        skb_linearize(skb)
        head = skb.head
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb_checksum_help(skb)
    chunk = (mtu - ihl) & ~7
    if chunk < 8:
        mib["FragFails"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return -errno.EMSGSIZE
    hdr = bytearray(head[nh : nh + ihl])
    left = skb.tail - nh - ihl
    ptr = nh + ihl
    offset = (fo & IP_OFFSET) << 3
    more = fo & IP_MF
    kernel = skb.kernel
    rc = 0
    while left > 0:
        length = min(left, chunk)
        frag = alloc_skb(kernel, MAX_HEADER + ihl + length)
        frag.reserve(MAX_HEADER)
        off = frag.put(ihl + length)
        fh = frag.head
        fh[off : off + ihl] = hdr
        fh[off + ihl : off + ihl + length] = head[ptr : ptr + length]
        flags = IP_MF if (left > length or more) else 0
        U16.pack_into(fh, off + 2, ihl + length)
        U16.pack_into(fh, off + 6, flags | (offset >> 3))
        U16.pack_into(fh, off + 10, 0)
        U16.pack_into(fh, off + 10, internet_checksum(memoryview(fh)[off : off + ihl]))
        frag.network_header = off
        frag.transport_header = off + ihl
        frag.protocol = skb.protocol
        frag.priority = skb.priority
        frag.mark = skb.mark
        frag.tstamp = skb.tstamp
        mib["FragCreates"] += 1
        result = ip_finish_output2(net, frag, rt)
        if result and not rc:
            rc = result
        if offset == (fo & IP_OFFSET) << 3 and ihl > 20:
            _options_fragment(hdr, ihl)
        ptr += length
        offset += length
        left -= length
    mib["FragOKs"] += 1
    consume_skb(skb)
    return rc


def ip_finish_output2(net: Any, skb: SkBuff, rt: Route) -> int:
    """Find (or make) the neighbour of the next hop and let it transmit; 0 or -ENOBUFS."""
    net.mib.ip["OutTransmits"] += 1
    dev = rt.dev
    skb.dev = dev
    skb.protocol = ETH_P_IP
    if rt.type == RTN_BROADCAST and not dev.flags & IFF_LOOPBACK:
        _loopback_copy(skb)
    n = rt.neigh
    if n is None or n.dead:
        n = rt.neigh = net.arp.create(rt.nexthop, dev)
        if n is None:
            kfree_skb(skb, SkbDropReason.NEIGH_CREATEFAIL)
            return -errno.ENOBUFS
    rc = net.arp.output(n, skb)
    return -errno.ENOBUFS if rc == NET_XMIT_DROP else 0


def _loopback_copy(skb: SkBuff) -> None:
    """dev_loopback_xmit: our own broadcasts are delivered to us too (PACKET_LOOPBACK)."""
    copy = skb.copy()
    copy.reset_mac_header()
    copy.pkt_type = PACKET_LOOPBACK
    copy.sk = None
    if copy.ip_summed == CHECKSUM_NONE:
        copy.ip_summed = CHECKSUM_UNNECESSARY
    netif_rx(copy)
