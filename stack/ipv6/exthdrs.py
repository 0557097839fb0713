"""IPv6 extension headers on receive: hop-by-hop and destination options, routing header.

Mirrors Linux's ``net/ipv6/exthdrs.c``: ``ip6_parse_tlv`` (Pad1/PadN with RFC 8200's limits,
router alert, unknown options by the two high bits of their type: skip, discard, discard
and ICMP parameter problem code 2 even to a multicast destination, or only to a unicast one;
at most 8 non-padding options per header, ``max_{hbh,dst}_opts_number``) and
``ipv6_rthdr_rcv`` (a routing header with segments left is refused with a parameter
problem pointing at its type: type 0 is deprecated by RFC 5095 and no other type is
modelled; with no segments left it is skipped).

Contract: each function gets the skb with its IPv6 header at ``network_header`` and the
offset of the extension header; it returns True when the packet may go on, or False after
it counted Ip6InHdrErrors (bad structure), sent what ICMPv6 requires and dropped the skb
with a declared reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.ipv6.icmp import icmpv6_param_prob
from stack.wire.icmpv6 import ICMPV6_HDR_FIELD, ICMPV6_UNK_OPTION
from stack.wire.ipv6 import (
    IPV6_OPT_ACTION_DISCARD,
    IPV6_OPT_ACTION_ICMP,
    IPV6_OPT_ACTION_SKIP,
    IPV6_TLV_PAD1,
    IPV6_TLV_PADN,
    IPV6_TLV_ROUTERALERT,
    ipv6_addr_is_multicast,
)

if TYPE_CHECKING:
    from stack.core import SkBuff

IP6_DEFAULT_MAX_OPTS_CNT = 8
IPV6_MAX_PADN = 7  # RFC 8200 §4.2: padding longer than 7 bytes is not padding
_RT_TYPE = 2  # offset of the routing type in the routing header


def bad_exthdr(net: Any, skb: SkBuff) -> bool:
    net.mib.ip6["Ip6InHdrErrors"] += 1
    kfree_skb(skb, SkbDropReason.IPV6_BAD_EXTHDR)
    return False


def ip6_parse_tlv(net: Any, skb: SkBuff, off: int, end: int) -> bool:
    """The options of a hop-by-hop or destination options header at ``off``..``end``."""
    head = skb.head
    nh = skb.network_header
    i = off + 2
    padlen = 0
    count = 0
    while i < end:
        opt = head[i]
        if opt == IPV6_TLV_PAD1:
            padlen += 1
            if padlen > IPV6_MAX_PADN:
                return bad_exthdr(net, skb)
            i += 1
            continue
        if i + 2 > end:
            return bad_exthdr(net, skb)
        olen = head[i + 1] + 2
        if i + olen > end:
            return bad_exthdr(net, skb)
        if opt == IPV6_TLV_PADN:
            padlen += olen
            if padlen > IPV6_MAX_PADN or any(head[i + 2 : i + olen]):
                return bad_exthdr(net, skb)
            i += olen
            continue
        padlen = 0
        count += 1
        if count > IP6_DEFAULT_MAX_OPTS_CNT:
            return bad_exthdr(net, skb)
        if opt != IPV6_TLV_ROUTERALERT:
            action = opt >> 6
            if action == IPV6_OPT_ACTION_SKIP:
                pass
            elif action == IPV6_OPT_ACTION_DISCARD:
                kfree_skb(skb, SkbDropReason.UNHANDLED_PROTO)
                return False
            else:
                daddr = bytes(head[nh + 24 : nh + 40])
                if action == IPV6_OPT_ACTION_ICMP or not ipv6_addr_is_multicast(daddr):
                    skb.cb["opt_mcast_icmp"] = action == IPV6_OPT_ACTION_ICMP
                    icmpv6_param_prob(
                        net, skb, ICMPV6_UNK_OPTION, i - nh, SkbDropReason.UNHANDLED_PROTO
                    )
                else:
                    kfree_skb(skb, SkbDropReason.UNHANDLED_PROTO)
                return False
        i += olen
    if padlen > IPV6_MAX_PADN:
        return bad_exthdr(net, skb)
    return True


def ipv6_rthdr_rcv(net: Any, skb: SkBuff, off: int) -> bool:
    """A routing header: skipped with no segments left, refused otherwise (RFC 5095)."""
    head = skb.head
    if head[off + 3] == 0:  # segments left
        return True
    net.mib.ip6["Ip6InHdrErrors"] += 1
    icmpv6_param_prob(
        net,
        skb,
        ICMPV6_HDR_FIELD,
        off + _RT_TYPE - skb.network_header,
        SkbDropReason.IPV6_BAD_EXTHDR,
    )
    return False
