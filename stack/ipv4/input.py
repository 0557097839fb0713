"""IPv4 receive: validation, the input route decision and local delivery to the protocols.

Mirrors Linux's ``net/ipv4/ip_input.c`` (``ip_rcv``/``ip_rcv_core``: the checks in their order
and their MIB counters; ``ip_rcv_options``; ``ip_local_deliver`` with ``ip_defrag``;
``ip_protocol_deliver_rcu``) and the decisions of ``ip_route_input_slow``
(``net/ipv4/route.c``): martian sources and destinations, limited and subnet broadcast, local
addresses (weak host model: any of ours on any interface), forwarding or ``ip_error``.

Contract: ``ip_rcv(net, skb, dev)`` is the ETH_P_IP handler (``Net.attach``), ``skb.data`` at
the IPv4 header.  Validation is ``Ipv4Packet.checked`` once: InHdrErrors (short, version, IHL,
total length < header), InCsumErrors + InHdrErrors (header checksum), InTruncatedPkts (total
length beyond the frame); InCsumErrors and InTruncatedPkts live in ``net.mib.ipext`` (IpExt), as
in Linux.  Link-layer padding is trimmed.  Options are walked for well-formedness only (a bad
one: InHdrErrors + ICMP parameter problem); source-routed packets are dropped
(``accept_source_route`` = 0); the rest are skipped.  A packet for us is reassembled if it is a
fragment, then handed to ``net.inet_protos[proto](net, skb)`` with ``skb.data`` at the L4
header (``skb.network_header`` still at the IPv4 header) and counted in InDelivers; without a
handler: InUnknownProtos and ICMP protocol unreachable, unless a raw socket took a copy
(``net.raw.local_deliver``, Linux's ``raw_local_deliver``, which runs first for every packet
delivered here when raw sockets exist).  Broadcast deliveries carry
``skb.cb["rt_bcast"] = True`` (Linux's RTCF_BROADCAST) for UDP and ICMP.  A packet for someone
else goes to ``ip_forward`` when ``ip_forward`` is on, else counts InAddrErrors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import (
    IFF_LOOPBACK,
    NET_RX_DROP,
    NET_RX_SUCCESS,
    PACKET_LOOPBACK,
    PACKET_OTHERHOST,
    consume_skb,
    kfree_skb,
    skb_share_check,
)
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_COMPLETE, CHECKSUM_NONE
from stack.ipv4.defrag import ip_defrag
from stack.ipv4.forward import ip_forward
from stack.ipv4.icmp import icmp_send
from stack.wire.errors import BadChecksum, Malformed, Truncated
from stack.wire.icmp import ICMP_DEST_UNREACH, ICMP_PARAMETERPROB, ICMP_PROT_UNREACH
from stack.wire.ipv4 import (
    INADDR_ANY,
    INADDR_BROADCAST,
    IP_MF,
    IP_OFFSET,
    IPV4,
    Ipv4Packet,
)

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

IPOPT_END = 0
IPOPT_NOOP = 1
IPOPT_LSRR = 131
IPOPT_SSRR = 137
_SRR = -1
_HDR = IPV4.struct
_FRAG_MASK = IP_MF | IP_OFFSET


def _options_check(head: bytearray, nh: int, hl: int) -> int:
    """ip_options_compile, structure only: 0 fine, >0 offset of a bad option, -1 source route."""
    i = nh + 20
    end = nh + hl
    while i < end:
        opt = head[i]
        if opt == IPOPT_END:
            break
        if opt == IPOPT_NOOP:
            i += 1
            continue
        if i + 1 >= end:
            return i - nh
        olen = head[i + 1]
        if olen < 2 or i + olen > end:
            return i - nh
        if opt == IPOPT_LSRR or opt == IPOPT_SSRR:
            return _SRR
        i += olen
    return 0


# IpExt's count of received packets by ECN codepoint (ip_rcv_core: IPSTATS_MIB_NOECTPKTS + the
# two low bits of the TOS byte, per GRO segment), counted before the header checksum is checked
_ECN_MIB = ("InNoECTPkts", "InECT1Pkts", "InECT0Pkts", "InCEPkts")


def ip_rcv(net: Any, skb: SkBuff, dev: NetDevice) -> int:
    """Receive one IPv4 packet (see the module docstring)."""
    if skb.pkt_type == PACKET_OTHERHOST:
        kfree_skb(skb, SkbDropReason.OTHERHOST)
        return NET_RX_DROP
    mib = net.mib.ip
    mib["InReceives"] += 1
    if skb.users > 1:
        skb = skb_share_check(skb)
    data = skb.data
    head = skb.head
    try:
        # against skb.len: GRO's merged segments may follow the head (fragments, frag_list)
        Ipv4Packet.checked(memoryview(head)[data : skb.tail], length=skb.tail - data + skb.data_len)
    except Truncated:
        net.mib.ipext["InTruncatedPkts"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return NET_RX_DROP
    except BadChecksum:
        net.mib.ipext[_ECN_MIB[head[data + 1] & 3]] += skb.gso_segs or 1
        net.mib.ipext["InCsumErrors"] += 1
        mib["InHdrErrors"] += 1
        kfree_skb(skb, SkbDropReason.IP_CSUM)
        return NET_RX_DROP
    except Malformed:
        mib["InHdrErrors"] += 1
        kfree_skb(skb, SkbDropReason.IP_INHDR)
        return NET_RX_DROP
    vi, tos, total, _ident, frag_off, ttl, proto, _check, src, dst = _HDR.unpack_from(head, data)
    net.mib.ipext[_ECN_MIB[tos & 3]] += skb.gso_segs or 1
    if skb.tail - data + skb.data_len > total:  # pskb_trim_rcsum
        if skb.data_len:
            skb.trim(total)
        else:
            skb.tail = data + total
        if skb.ip_summed == CHECKSUM_COMPLETE:
            skb.ip_summed = CHECKSUM_NONE
    hl = (vi & 0x0F) << 2
    skb.network_header = data
    skb.transport_header = data + hl
    if hl > 20:
        bad = _options_check(head, data, hl)
        if bad:
            if bad == _SRR:
                kfree_skb(skb, SkbDropReason.IP_SRR)
                return NET_RX_DROP
            mib["InHdrErrors"] += 1
            icmp_send(net, skb, ICMP_PARAMETERPROB, 0, bad << 24)
            kfree_skb(skb, SkbDropReason.IP_INHDR)
            return NET_RX_DROP
    fib = net.fib
    if dst in fib.local_addrs and dst[0] != 127 and not dev.flags & IFF_LOOPBACK:
        if src in fib.local_addrs or src[0] & 0xF0 == 0xE0 or src[0] == 127 \
                or src == INADDR_BROADCAST or src[0] == 0:
            kfree_skb(skb, SkbDropReason.IP_INVALID_SOURCE)  # martian source (fib_validate_source)
            return NET_RX_DROP
        return ip_local_deliver(net, skb, frag_off, False)
    if skb.pkt_type == PACKET_LOOPBACK:
        return ip_local_deliver(net, skb, frag_off, True)  # our own broadcast, looped back
    if dev.flags & IFF_LOOPBACK:  # what we sent ourselves (its output route said so)
        if dst in fib.bcast_addrs or dst == INADDR_BROADCAST:
            return ip_local_deliver(net, skb, frag_off, True)
        if fib.is_local(dst):
            return ip_local_deliver(net, skb, frag_off, False)
        kfree_skb(skb, SkbDropReason.IP_INVALID_DEST)
        return NET_RX_DROP
    return _route_input_slow(net, skb, dev, src, dst, ttl, frag_off)


def _route_input_slow(net: Any, skb: SkBuff, dev: NetDevice, src: bytes, dst: bytes, ttl: int,
                      frag_off: int) -> int:
    """ip_route_input_slow's decisions for what is not plainly one of our addresses."""
    fib = net.fib
    if src[0] & 0xF0 == 0xE0 or src == INADDR_BROADCAST:
        kfree_skb(skb, SkbDropReason.IP_INVALID_SOURCE)
        return NET_RX_DROP
    if dst == INADDR_BROADCAST or (src == INADDR_ANY and dst == INADDR_ANY):
        return ip_local_deliver(net, skb, frag_off, True)
    if src[0] == 0 or (src[0] == 127 and dst[0] != 127) or src in fib.local_addrs:
        kfree_skb(skb, SkbDropReason.IP_INVALID_SOURCE)
        return NET_RX_DROP
    if dst[0] == 0 or dst[0] == 127:
        kfree_skb(skb, SkbDropReason.IP_INVALID_DEST)
        return NET_RX_DROP
    if dst in fib.bcast_addrs:
        return ip_local_deliver(net, skb, frag_off, True)
    if dst[0] & 0xF0 == 0xE0:
        kfree_skb(skb, SkbDropReason.IP_MULTICAST_NOT_MEMBER)  # no multicast memberships or routing
        return NET_RX_DROP
    if not net.sysctl.ip_forward:
        net.mib.ip["InAddrErrors"] += 1
        kfree_skb(skb, SkbDropReason.IP_INADDRERRORS)
        return NET_RX_DROP
    return ip_forward(net, skb, dev, ttl, frag_off)


def ip_local_deliver(net: Any, skb: SkBuff, frag_off: int, bcast: bool) -> int:
    """Reassemble if needed, then hand the L4 payload to its protocol."""
    if bcast:
        skb.cb["rt_bcast"] = True
    if frag_off & _FRAG_MASK:
        whole = ip_defrag(net, skb)
        if whole is None:
            return NET_RX_SUCCESS
        skb = whole
    head = skb.head
    nh = skb.network_header
    proto = head[nh + 9]
    skb.data = skb.transport_header = nh + ((head[nh] & 0x0F) << 2)
    raw = net.raw.socks and net.raw.local_deliver(skb, proto)  # raw_local_deliver (raw.py)
    handler = net.inet_protos.get(proto)
    if handler is None:
        if raw:  # a raw socket took it: no "protocol unreachable"
            net.mib.ip["InDelivers"] += 1
            consume_skb(skb)
            return NET_RX_SUCCESS
        net.mib.ip["InUnknownProtos"] += 1
        icmp_send(net, skb, ICMP_DEST_UNREACH, ICMP_PROT_UNREACH)
        kfree_skb(skb, SkbDropReason.IP_NOPROTO)
        return NET_RX_DROP
    net.mib.ip["InDelivers"] += 1
    handler(net, skb)
    return NET_RX_SUCCESS
