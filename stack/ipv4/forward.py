"""IPv4 forwarding: a packet for someone else, when ``net.sysctl.ip_forward`` is on.

Mirrors Linux's ``net/ipv4/ip_forward.c`` (``ip_forward``, ``ip_exceeds_mtu``,
``ip_forward_finish``) and ``ip_error`` (``net/ipv4/route.c``), which answers packets that have
no route.

Contract: ``ip_forward(net, skb, dev, ttl, frag_off)`` with ``skb.data`` at the IPv4 header.
TTL <= 1: InHdrErrors and ICMP time exceeded (code 0).  No route: InNoRoutes (IpExt) and ICMP
net unreachable (host unreachable / packet filtered for ``unreachable`` / ``prohibit``
routes).  DF set and longer than the outgoing device's MTU: FragFails and ICMP fragmentation
needed with that MTU (RFC 1191); a GRO super-segment is judged by its segments' size, as
``ip_exceeds_mtu`` does, and leaves as the GSO packet it is.  Otherwise the headers are made
private (the skb may be shared with a packet tap), the TTL is decremented with an incremental
checksum update (``ip_decrease_ttl``, RFC 1624), ForwDatagrams is counted and ``ip_output``
fragments as needed.  Deliberate omission: no ICMP redirects.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import NET_RX_DROP, NET_RX_SUCCESS, PACKET_HOST, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_COMPLETE, CHECKSUM_NONE
from stack.ipv4.icmp import icmp_send
from stack.ipv4.output import ip_output
from stack.ipv4.route import RTN_UNICAST, route_output
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_EXC_TTL,
    ICMP_FRAG_NEEDED,
    ICMP_HOST_UNREACH,
    ICMP_NET_UNREACH,
    ICMP_PKT_FILTERED,
    ICMP_TIME_EXCEEDED,
)
from stack.wire.ipv4 import IP_DF, Ipv4Packet

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

_IP_ERROR_CODES = {
    errno.EHOSTUNREACH: ICMP_HOST_UNREACH,
    errno.ENETUNREACH: ICMP_NET_UNREACH,
    errno.EACCES: ICMP_PKT_FILTERED,
}


def ip_error(net: Any, skb: SkBuff, err: int) -> int:
    """ip_error (forwarding on): count and answer a packet that cannot be routed."""
    code = _IP_ERROR_CODES.get(err)
    if err == errno.ENETUNREACH:
        net.mib.ipext["InNoRoutes"] += 1
    if code is not None:
        icmp_send(net, skb, ICMP_DEST_UNREACH, code)
    kfree_skb(skb, SkbDropReason.IP_INNOROUTES)
    return NET_RX_DROP


def ip_exceeds_mtu(skb: SkBuff, nh: int, mtu: int, frag_off: int) -> bool:
    """DF and too long for ``mtu``; a GRO super-segment fits if each of its segments does."""
    if skb.tail + skb.data_len - nh <= mtu or not frag_off & IP_DF:
        return False
    if skb.gso_size:  # skb_gso_validate_network_len: the headers plus one segment
        th = skb.transport_header
        hdr = th - nh + ((skb.head[th + 12] >> 4) << 2)
        return hdr + skb.gso_size > mtu
    return True


def ip_forward(net: Any, skb: SkBuff, dev: NetDevice, ttl: int, frag_off: int) -> int:
    """Forward one packet (see the module docstring)."""
    mib = net.mib.ip
    if skb.pkt_type != PACKET_HOST:
        kfree_skb(skb, SkbDropReason.OTHERHOST)
        return NET_RX_DROP
    if ttl <= 1:
        mib["InHdrErrors"] += 1
        icmp_send(net, skb, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL)
        kfree_skb(skb, SkbDropReason.IP_INHDR)
        return NET_RX_DROP
    nh = skb.data
    try:
        rt = route_output(net, bytes(skb.head[nh + 16 : nh + 20]))
    except OSError as exc:
        return ip_error(net, skb, exc.errno or errno.ENETUNREACH)
    if rt.type != RTN_UNICAST:
        kfree_skb(skb, SkbDropReason.IP_INVALID_DEST)
        return NET_RX_DROP
    mtu = rt.dev_mtu
    if ip_exceeds_mtu(skb, nh, mtu, frag_off):
        mib["FragFails"] += 1
        icmp_send(net, skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, mtu)
        kfree_skb(skb, SkbDropReason.PKT_TOO_BIG)
        return NET_RX_DROP
    out = rt.dev
    if skb.cloned() or skb.data < out.hard_header_len + out.needed_headroom:
        skb.cow_head(out.hard_header_len + out.needed_headroom)
        nh = skb.data
    if skb.ip_summed == CHECKSUM_COMPLETE:
        skb.ip_summed = CHECKSUM_NONE
    Ipv4Packet(memoryview(skb.head)[nh : nh + 20]).decrease_ttl()
    mib["ForwDatagrams"] += 1
    ip_output(net, skb, rt, forwarding=True)
    return NET_RX_SUCCESS
