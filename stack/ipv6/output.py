"""IPv6 output: the header from a flow, route, fragment at the source, neighbour, transmit.

Mirrors Linux's ``net/ipv6/ip6_output.c`` (``ip6_xmit``, ``ip6_output`` /
``ip6_finish_output`` / ``ip6_finish_output2``, ``ip6_fragment``), ``output_core.c``
(``ipv6_select_ident``) and ``ndisc.c``'s ``ndisc_mc_map`` for multicast destinations.

Contract:
- The upper layer builds an skb with :data:`MAX_HEADER6` headroom and ``data`` at its header,
  then calls ``ip6_xmit(net, skb, Flow6(saddr, daddr, proto, tclass, hop_limit, oif))`` —
  the shape TCP and UDP over IPv6 will use.  ``hop_limit=None`` takes the device's
  ``net.ipv6.conf.DEV.hop_limit`` (1 for multicast: ``IPV6_MULTICAST_HOPS``' default).
  Returns 0 or a negative errno (``-ENETUNREACH`` without a route, ``-EMSGSIZE`` for a
  ``dontfrag`` packet over the path MTU, ``-ENOBUFS`` when the qdisc dropped it); the skb is
  consumed in every case.
- Only the source fragments (RFC 8200 §4.5, §5): a packet over the path MTU is cut into
  fragments of ``(mtu - 48) & ~7`` payload bytes behind a fragment header whose
  identification comes from a per-namespace counter seeded from the world's RNG; a router
  never fragments (``ip6_forward`` sends Packet Too Big instead).
- Multicast destinations map to 33:33:xx:xx:xx:xx without neighbour resolution; unicast
  next hops go through the ND table ``net.ipv6.nd_tbl`` (``stack/neigh`` shared with ARP).
- Counters (``net.mib.ip6``): Ip6OutRequests, Ip6OutNoRoutes, Ip6OutTransmits,
  Ip6OutMcastPkts, Ip6FragOKs, Ip6FragFails, Ip6FragCreates, Ip6OutDiscards.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, NamedTuple

from stack.core import (
    ETH_P_IPV6,
    alloc_skb,
    consume_skb,
    dev_queue_xmit,
    eth_header,
    kfree_skb,
)
from stack.core.dropreason import SkbDropReason
from stack.core.qdisc import NET_XMIT_DROP
from stack.core.skbfrag import skb_linearize
from stack.core.skbuff import CHECKSUM_PARTIAL, skb_checksum_help
from stack.ipv4.route import RTN_MULTICAST
from stack.ipv6.route import Route6, route_output6
from stack.uapi import IPPROTO_FRAGMENT
from stack.wire.ipv6 import (
    IP6_MF,
    IPV6,
    IPV6_FRAG_HDR,
    IPV6_FRAG_HLEN,
    IPV6_HLEN,
    IPV6_TCLASS_SHIFT,
    ipv6_addr_is_multicast,
    ipv6_eth_mc_map,
)

if TYPE_CHECKING:
    from stack.core import SkBuff

MAX_HEADER6 = 128  # link header + IPv6 header + a fragment header, with room to spare
_HDR = IPV6.struct
_FRAG = IPV6_FRAG_HDR.struct
_NEXTHDR = IPV6.offset("nexthdr")
_PAYLOAD_LEN = IPV6.offset("payload_len")


class Flow6(NamedTuple):
    """What an upper layer says about one packet (Linux's ``struct flowi6`` + ``ipcm6``)."""

    saddr: bytes | None
    daddr: bytes
    proto: int
    tclass: int = 0
    hop_limit: int | None = None
    oif: Any = None  # the device a link-local or multicast destination is reached on
    dontfrag: bool = False


def ip6_dst_hoplimit(net: Any, rt: Route6) -> int:
    """The hop limit of a packet on ``rt`` that did not choose one (``ip6_dst_hoplimit``)."""
    if rt.type == RTN_MULTICAST:
        return 1
    idev = net.ipv6.idev(rt.dev)
    return idev.cnf.hop_limit if idev is not None else net.sysctl.ipv6_conf_all.hop_limit


def ip6_xmit(net: Any, skb: SkBuff, flow: Flow6, rt: Route6 | None = None) -> int:
    """Push the IPv6 header in front of the upper-layer data and send the packet."""
    mib = net.mib.ip6
    if rt is None or not net.ipv6.fib.check(rt):
        try:
            rt = route_output6(net, flow.daddr, flow.saddr, flow.oif)
        except OSError as exc:
            mib["Ip6OutNoRoutes"] += 1
            kfree_skb(skb, SkbDropReason.IP_OUTNOROUTES)
            return -(exc.errno or errno.ENETUNREACH)
    if skb.transport_header < 0:
        skb.transport_header = skb.data
    plen = skb.tail - skb.data + skb.data_len
    if plen > 0xFFFF:
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return -errno.EMSGSIZE
    off = skb.push(IPV6_HLEN)
    hop_limit = flow.hop_limit if flow.hop_limit is not None else ip6_dst_hoplimit(net, rt)
    _HDR.pack_into(
        skb.head,
        off,
        6 << 28 | (flow.tclass & 0xFF) << IPV6_TCLASS_SHIFT,
        plen,
        flow.proto,
        hop_limit,
        flow.saddr or rt.src,
        flow.daddr,
    )
    skb.network_header = off
    skb.protocol = ETH_P_IPV6
    mib["Ip6OutRequests"] += 1
    if plen + IPV6_HLEN > rt.mtu and not skb.gso_size:
        if flow.dontfrag:
            kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
            return -errno.EMSGSIZE
        return ip6_fragment(net, skb, rt, rt.mtu)
    return ip6_finish_output2(net, skb, rt)


def ipv6_select_ident(net: Any) -> int:
    """The next fragment identification (``ipv6_select_ident``: random start, then +1)."""
    ipv6 = net.ipv6
    if ipv6.frag_ident < 0:
        ipv6.frag_ident = net.sched.rng.getrandbits(32)
    ipv6.frag_ident = (ipv6.frag_ident + 1) & 0xFFFFFFFF
    return ipv6.frag_ident


def ip6_fragment(net: Any, skb: SkBuff, rt: Route6, mtu: int) -> int:
    """ip6_fragment: cut a packet built here (``data`` at its IPv6 header, no extension
    headers of its own) into fragments that fit ``mtu``.  Spec: RFC 8200 §4.5."""
    mib = net.mib.ip6
    if skb.data_len:
        skb_linearize(skb)
    if skb.ip_summed == CHECKSUM_PARTIAL:
        skb_checksum_help(skb)
    chunk = (mtu - IPV6_HLEN - IPV6_FRAG_HLEN) & ~7
    if chunk < 8:
        mib["Ip6FragFails"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return -errno.EMSGSIZE
    head = skb.head
    nh = skb.data
    hdr = bytearray(head[nh : nh + IPV6_HLEN])
    nexthdr = hdr[_NEXTHDR]
    hdr[_NEXTHDR] = IPPROTO_FRAGMENT
    ident = ipv6_select_ident(net)
    left = skb.tail - nh - IPV6_HLEN
    ptr = nh + IPV6_HLEN
    offset = 0
    rc = 0
    while left > 0:
        length = min(left, chunk)
        frag = alloc_skb(skb.kernel, MAX_HEADER6 + IPV6_HLEN + IPV6_FRAG_HLEN + length)
        frag.reserve(MAX_HEADER6)
        off = frag.put(IPV6_HLEN + IPV6_FRAG_HLEN + length)
        fh = frag.head
        fh[off : off + IPV6_HLEN] = hdr
        fh[off + _PAYLOAD_LEN] = (IPV6_FRAG_HLEN + length) >> 8
        fh[off + _PAYLOAD_LEN + 1] = (IPV6_FRAG_HLEN + length) & 0xFF
        _FRAG.pack_into(
            fh, off + IPV6_HLEN, nexthdr, 0, offset | (IP6_MF if left > length else 0), ident
        )
        start = off + IPV6_HLEN + IPV6_FRAG_HLEN
        fh[start : start + length] = head[ptr : ptr + length]
        frag.network_header = off
        frag.transport_header = start
        frag.protocol = ETH_P_IPV6
        frag.priority = skb.priority
        frag.mark = skb.mark
        mib["Ip6FragCreates"] += 1
        result = ip6_finish_output2(net, frag, rt)
        if result and not rc:
            rc = result
        ptr += length
        offset += length
        left -= length
    mib["Ip6FragOKs"] += 1
    consume_skb(skb)
    return rc


def ip6_finish_output2(net: Any, skb: SkBuff, rt: Route6) -> int:
    """Multicast straight to its group MAC; unicast through the neighbour entry."""
    mib = net.mib.ip6
    mib["Ip6OutTransmits"] += 1
    dev = rt.dev
    skb.dev = dev
    skb.protocol = ETH_P_IPV6
    nh = skb.network_header if skb.network_header >= 0 else skb.data
    daddr = bytes(skb.head[nh + 24 : nh + 40])
    if ipv6_addr_is_multicast(daddr):
        mib["Ip6OutMcastPkts"] += 1
        need = dev.hard_header_len + dev.needed_headroom
        if skb.data < need:
            skb.expand_head(need - skb.data + 16, 0)
        eth_header(skb, dev, ETH_P_IPV6, ipv6_eth_mc_map(daddr))
        return -errno.ENOBUFS if dev_queue_xmit(skb) == NET_XMIT_DROP else 0
    n = rt.neigh
    tbl = net.ipv6.nd_tbl
    if n is None or n.dead:
        n = tbl.create(rt.nexthop, dev)
        if n is None:
            kfree_skb(skb, SkbDropReason.NEIGH_CREATEFAIL)
            return -errno.ENOBUFS
        rt.neigh = n
    rc = tbl.output(n, skb)
    return -errno.ENOBUFS if rc == NET_XMIT_DROP else 0
