"""IPv6 receive and forwarding: header checks, the route decision, the extension-header walk.

Mirrors Linux's ``net/ipv6/ip6_input.c`` (``ipv6_rcv`` / ``ip6_rcv_core``: IPv6 disabled on
the device, the fixed header, a multicast or loopback source from the wire, the payload length;
hop-by-hop options first; ``ip6_input_finish`` / ``ip6_protocol_deliver_rcu``: destination
options, routing header, fragment header, then the upper-layer protocol or a parameter
problem "unrecognized next header") and ``ip6_output.c``'s ``ip6_forward`` (hop limit, scope,
route, Packet Too Big: a router never fragments).

Contract: ``ipv6_rcv(net, skb, dev)`` is the ETH_P_IPV6 handler, ``skb.data`` at the IPv6
header.  Counters in ``net.mib.ip6``: Ip6InReceives, Ip6InHdrErrors, Ip6InTruncatedPkts,
Ip6InAddrErrors, Ip6InDiscards, Ip6InNoRoutes, Ip6InTooBigErrors, Ip6InUnknownProtos,
Ip6InDelivers, Ip6InMcastPkts, Ip6OutForwDatagrams.  Delivery is to our usable addresses
(any interface: the weak host model) and to the groups joined on the arriving device.  A
packet for someone else is forwarded when ``net.ipv6.conf.DEV.forwarding`` is set on the
arriving device.  The upper layer gets ``skb.data`` at its header, ``network_header`` at the
IPv6 header and ``skb.cb["nexthdr"]`` its protocol number.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import (
    NET_RX_DROP,
    NET_RX_SUCCESS,
    PACKET_HOST,
    PACKET_OTHERHOST,
    consume_skb,
    kfree_skb,
    skb_share_check,
)
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_COMPLETE, CHECKSUM_NONE
from stack.core.units import NS_PER_S
from stack.ipv6.exthdrs import bad_exthdr, ip6_parse_tlv, ipv6_rthdr_rcv
from stack.ipv6.icmp import icmp6_send, icmpv6_param_prob
from stack.ipv6.ndisc import ndisc_send_redirect
from stack.ipv6.output import ip6_finish_output2
from stack.ipv6.reasm import ipv6_frag_rcv
from stack.ipv6.route import route_output6
from stack.uapi import (
    IPPROTO_DSTOPTS,
    IPPROTO_FRAGMENT,
    IPPROTO_HOPOPTS,
    IPPROTO_NONE,
    IPPROTO_ROUTING,
)
from stack.wire.errors import Malformed, Truncated
from stack.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_EXC_HOPLIMIT,
    ICMPV6_NOROUTE,
    ICMPV6_NOT_NEIGHBOUR,
    ICMPV6_PKT_TOOBIG,
    ICMPV6_TIME_EXCEED,
    ICMPV6_UNK_NEXTHDR,
)
from stack.wire.ipv6 import (
    IN6ADDR_LOOPBACK,
    IPV6_HLEN,
    Ipv6Packet,
    ipv6_addr_is_linklocal,
    ipv6_addr_is_multicast,
    ipv6_mc_scope,
)

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

_NEXTHDR = 6  # offset of the next-header byte in the fixed header


def ipv6_rcv(net: Any, skb: SkBuff, dev: NetDevice) -> int:
    """Receive one IPv6 packet (see the module docstring)."""
    if skb.pkt_type == PACKET_OTHERHOST:
        kfree_skb(skb, SkbDropReason.OTHERHOST)
        return NET_RX_DROP
    mib = net.mib.ip6
    mib["Ip6InReceives"] += 1
    idev = net.ipv6.idev(dev)
    if idev is None or idev.cnf.disable_ipv6:
        mib["Ip6InDiscards"] += 1
        kfree_skb(skb, SkbDropReason.IPV6DISABLED)
        return NET_RX_DROP
    if skb.users > 1:
        skb = skb_share_check(skb)
    data = skb.data
    head = skb.head
    try:
        # against skb.len: GRO's merged segments may follow the head (fragments, frag_list)
        Ipv6Packet.checked(memoryview(head)[data : skb.tail], length=skb.tail - data + skb.data_len)
    except Truncated:
        mib["Ip6InTruncatedPkts"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return NET_RX_DROP
    except Malformed:
        mib["Ip6InHdrErrors"] += 1
        kfree_skb(skb, SkbDropReason.IP_INHDR)
        return NET_RX_DROP
    saddr = bytes(head[data + 8 : data + 24])
    daddr = bytes(head[data + 24 : data + 40])
    loopback = net.lo is not None and dev is net.lo
    if ipv6_addr_is_multicast(saddr) or (
        not loopback
        and (
            saddr == IN6ADDR_LOOPBACK
            or daddr == IN6ADDR_LOOPBACK
            or (ipv6_addr_is_multicast(daddr) and ipv6_mc_scope(daddr) == 1)
        )
    ):
        mib["Ip6InAddrErrors" if daddr == IN6ADDR_LOOPBACK else "Ip6InHdrErrors"] += 1
        kfree_skb(
            skb,
            SkbDropReason.IP_INVALID_SOURCE
            if ipv6_addr_is_multicast(saddr) or saddr == IN6ADDR_LOOPBACK
            else SkbDropReason.IP_INVALID_DEST,
        )
        return NET_RX_DROP
    total = IPV6_HLEN + (head[data + 4] << 8 | head[data + 5])
    if skb.tail - data + skb.data_len > total:  # pskb_trim_rcsum
        if skb.data_len:
            skb.trim(total)
        else:
            skb.tail = data + total
        if skb.ip_summed == CHECKSUM_COMPLETE:
            skb.ip_summed = CHECKSUM_NONE
    skb.network_header = data
    skb.transport_header = data + IPV6_HLEN
    nexthdr = head[data + _NEXTHDR]
    off = data + IPV6_HLEN
    prev_nh = data + _NEXTHDR
    if nexthdr == IPPROTO_HOPOPTS:  # ipv6_parse_hopopts, before any routing decision
        if off + 8 > skb.tail or off + ((head[off + 1] + 1) << 3) > skb.tail:
            bad_exthdr(net, skb)
            return NET_RX_DROP
        end = off + ((head[off + 1] + 1) << 3)
        if not ip6_parse_tlv(net, skb, off, end):
            return NET_RX_DROP
        prev_nh = off
        nexthdr = head[off]
        off = end
    ipv6 = net.ipv6
    if ipv6.fib.is_local(daddr):
        return ip6_input(net, skb, off, nexthdr, prev_nh)
    if ipv6_addr_is_multicast(daddr):
        mib["Ip6InMcastPkts"] += 1
        if idev.mc.has(daddr) or loopback:
            return ip6_input(net, skb, off, nexthdr, prev_nh)
        kfree_skb(skb, SkbDropReason.IP_MULTICAST_NOT_MEMBER)
        return NET_RX_DROP
    if idev.cnf.forwarding and skb.pkt_type == PACKET_HOST:
        return ip6_forward(net, skb, dev)
    mib["Ip6InAddrErrors"] += 1
    kfree_skb(skb, SkbDropReason.IP_INADDRERRORS)
    return NET_RX_DROP


def ip6_input(net: Any, skb: SkBuff, off: int, nexthdr: int, prev_nh: int) -> int:
    """ip6_input_finish: walk the extension headers, then deliver to the upper layer."""
    mib = net.mib.ip6
    ipv6 = net.ipv6
    while True:
        head = skb.head
        if nexthdr in (IPPROTO_DSTOPTS, IPPROTO_ROUTING):
            if off + 8 > skb.tail or off + ((head[off + 1] + 1) << 3) > skb.tail:
                bad_exthdr(net, skb)
                return NET_RX_DROP
            end = off + ((head[off + 1] + 1) << 3)
            ok = (
                ip6_parse_tlv(net, skb, off, end)
                if nexthdr == IPPROTO_DSTOPTS
                else ipv6_rthdr_rcv(net, skb, off)
            )
            if not ok:
                return NET_RX_DROP
            prev_nh = off
            nexthdr = head[off]
            off = end
            continue
        if nexthdr == IPPROTO_FRAGMENT:
            result = ipv6_frag_rcv(net, skb, off, prev_nh)
            if result is None:
                return NET_RX_SUCCESS
            skb, off, nexthdr = result
            prev_nh = -1
            continue
        if nexthdr == IPPROTO_HOPOPTS:  # only allowed first
            mib["Ip6InUnknownProtos"] += 1
            icmpv6_param_prob(
                net,
                skb,
                ICMPV6_UNK_NEXTHDR,
                max(prev_nh, skb.network_header + _NEXTHDR) - skb.network_header,
                SkbDropReason.IPV6_BAD_EXTHDR,
            )
            return NET_RX_DROP
        break
    if nexthdr == IPPROTO_NONE:
        mib["Ip6InDelivers"] += 1
        consume_skb(skb)
        return NET_RX_SUCCESS
    skb.transport_header = off
    raw = bool(ipv6.raw.socks) and ipv6.raw.local_deliver(skb, nexthdr)  # raw6_local_deliver
    handler = ipv6.protos.get(nexthdr)
    if handler is None:
        if raw:
            mib["Ip6InDelivers"] += 1
            consume_skb(skb)
            return NET_RX_SUCCESS
        mib["Ip6InUnknownProtos"] += 1
        pointer = prev_nh - skb.network_header if prev_nh >= 0 else _NEXTHDR
        icmpv6_param_prob(net, skb, ICMPV6_UNK_NEXTHDR, pointer, SkbDropReason.IP_NOPROTO)
        return NET_RX_DROP
    skb.data = skb.transport_header = off
    skb.cb["nexthdr"] = nexthdr
    mib["Ip6InDelivers"] += 1
    handler(net, skb)
    return NET_RX_SUCCESS


def ip6_forward(net: Any, skb: SkBuff, dev: NetDevice) -> int:
    """ip6_forward: hop limit, scope, route, size; then out with the hop limit less one."""
    mib = net.mib.ip6
    nh = skb.network_header
    head = skb.head
    saddr = bytes(head[nh + 8 : nh + 24])
    daddr = bytes(head[nh + 24 : nh + 40])
    if head[nh + 7] <= 1:
        icmp6_send(net, skb, ICMPV6_TIME_EXCEED, ICMPV6_EXC_HOPLIMIT)
        mib["Ip6InHdrErrors"] += 1
        kfree_skb(skb, SkbDropReason.IP_INHDR)
        return NET_RX_DROP
    if ipv6_addr_is_linklocal(saddr) or ipv6_addr_is_linklocal(daddr):
        icmp6_send(net, skb, ICMPV6_DEST_UNREACH, ICMPV6_NOT_NEIGHBOUR)
        mib["Ip6InDiscards"] += 1
        kfree_skb(skb, SkbDropReason.IP_INADDRERRORS)
        return NET_RX_DROP
    try:
        rt = route_output6(net, daddr)
    except OSError:
        mib["Ip6InNoRoutes"] += 1
        icmp6_send(net, skb, ICMPV6_DEST_UNREACH, ICMPV6_NOROUTE)
        kfree_skb(skb, SkbDropReason.IP_INNOROUTES)
        return NET_RX_DROP
    if rt.dev is dev:
        # in and out the same interface: a redirect to the source (per destination at most
        # one a second here, per source in ndisc_send_redirect), and forward it all the same
        target = rt.gateway if rt.gateway is not None else daddr
        if net.ipv6.icmp.peer_allow(daddr, NS_PER_S):
            ndisc_send_redirect(net, skb, target)
    size = skb.tail - nh + skb.data_len
    if size > rt.dev_mtu:
        icmp6_send(net, skb, ICMPV6_PKT_TOOBIG, 0, rt.dev_mtu)
        mib["Ip6InTooBigErrors"] += 1
        mib["Ip6FragFails"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return NET_RX_DROP
    out = rt.dev
    if skb.cloned() or skb.data < out.hard_header_len + out.needed_headroom:
        skb.cow_head(out.hard_header_len + out.needed_headroom)
        head = skb.head
        nh = skb.network_header
    head[nh + 7] -= 1
    mib["Ip6OutForwDatagrams"] += 1
    skb.data = nh
    ip6_finish_output2(net, skb, rt)
    return NET_RX_SUCCESS
