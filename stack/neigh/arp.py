"""ARP: address resolution for IPv4 over Ethernet, as the neighbour table's protocol.

Mirrors Linux's ``net/ipv4/arp.c``: ``arp_constructor`` (NOARP entries for loopback, broadcast
and multicast keys), ``arp_solicit`` (broadcast requests while INCOMPLETE, unicast probes to
the cached address in PROBE, the source address taken from the waiting packet when it is
ours), ``arp_error_report`` (ICMP host unreachable for what waited in vain), ``arp_rcv`` /
``arp_process`` (RFC 826: reply to requests for any local address, learn the requester as
STALE, a unicast reply makes REACHABLE, broadcast replies and requests only STALE, the first
reply wins for ``locktime`` = 1 s) and ``arp_send``.

Contract: ``arp_rcv(net, skb, dev)`` is the ETH_P_ARP packet handler ``Net.attach`` installs;
``arp_send_garp(net, dev, addr)`` announces an address (``Net`` sends one when an address is
added to a device that is up, or when it comes up: Linux does this only with ``arp_notify``,
deliberately on here).  Unsolicited replies and gratuitous ARP never create entries
(``arp_accept`` = 0, ``net.sysctl.arp_accept`` to change it); they refresh existing
ones.  Counters in ``net.mib.arp``: the ``ip -s ntable`` statistics of the table plus the
message counts InRequests, InReplies, OutRequests, OutReplies and InErrors (malformed or not
Ethernet/IPv4, which Linux drops without counting).  Senders with a multicast or zero MAC are
dropped too (Linux would learn them).

Spec: RFC 826; RFC 5227 §3 (announcements); RFC 1122 §2.3.2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import (
    ETH_HLEN,
    ETH_P_ARP,
    IFF_LOOPBACK,
    IFF_NOARP,
    NET_SKB_PAD,
    PACKET_HOST,
    PACKET_LOOPBACK,
    PACKET_OTHERHOST,
    alloc_skb,
    consume_skb,
    dev_queue_xmit,
    eth_header,
    kfree_skb,
)
from stack.core.dropreason import SkbDropReason
from stack.ipv4.icmp import icmp_send
from stack.neigh.neighbour import (
    APP_PROBES,
    LOCKTIME_NS,
    NEIGH_UPDATE_F_OVERRIDE,
    NUD_NOARP,
    NUD_REACHABLE,
    NUD_STALE,
    Neighbour,
    NeighTable,
)
from stack.wire.arp import ARP_HLEN, ARPOP_REPLY, ARPOP_REQUEST, ArpPacket, ArpRepr
from stack.wire.errors import Malformed
from stack.wire.icmp import ICMP_DEST_UNREACH, ICMP_HOST_UNREACH
from stack.wire.ipv4 import (
    INADDR_ANY,
    INADDR_BROADCAST,
    ipv4_is_loopback,
    ipv4_is_multicast,
)

if TYPE_CHECKING:
    from stack.core import NetDevice, PacketType, SkBuff

ZERO_MAC = bytes(6)
RT_SCOPE_LINK = 253


def ip_eth_mc_map(addr: bytes) -> bytes:
    """The Ethernet group address of an IPv4 multicast address (RFC 1112 §6.4)."""
    return bytes((0x01, 0x00, 0x5E, addr[1] & 0x7F, addr[2], addr[3]))


class ArpOps:
    """The neighbour table's protocol hooks for ARP."""

    def constructor(self, tbl: NeighTable, n: Neighbour) -> None:
        """arp_constructor: entries that need no resolution are NOARP from birth."""
        dev = n.dev
        key = n.key
        if dev.flags & (IFF_NOARP | IFF_LOOPBACK):
            n.ha = dev.dev_addr
        elif key == INADDR_BROADCAST or tbl.net.fib.is_broadcast(key, dev):
            n.ha = dev.broadcast
        elif ipv4_is_multicast(key):
            n.ha = ip_eth_mc_map(key)
        else:
            return
        tbl._set_state(n, NUD_NOARP)

    def solicit(self, tbl: NeighTable, n: Neighbour, skb: SkBuff | None) -> None:
        """arp_solicit: a broadcast request, or a unicast probe while the old address holds."""
        net = tbl.net
        dev = n.dev
        saddr = None
        if skb is not None:
            nh = skb.network_header if skb.network_header >= 0 else skb.data
            src = bytes(skb.head[nh + 12 : nh + 16])
            if src in net.fib.local_addrs:
                saddr = src
        if saddr is None:
            saddr = net.devinet.select_addr(dev, n.key, RT_SCOPE_LINK) or INADDR_ANY
        probes = n.probes - net.sysctl.neigh_ucast_solicit
        dst_hw: bytes | None
        if probes < 0:
            dst_hw = n.ha
        else:
            if probes - APP_PROBES < 0:
                return  # an application probe (app_solicit): nothing to do here
            dst_hw = None
        arp_send(net, ARPOP_REQUEST, n.key, dev, saddr, dst_hw, dev.dev_addr, None)

    def error_report(self, tbl: NeighTable, n: Neighbour, skb: SkBuff) -> None:
        """arp_error_report -> ipv4_link_failure: host unreachable to the packet's sender."""
        icmp_send(tbl.net, skb, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH)


def arp_table(net: Any) -> NeighTable:
    """``arp_tbl`` for one namespace; its statistics are ``net.mib.arp``."""
    return NeighTable(net, ArpOps(), net.mib.arp)


def arp_send(net: Any, op: int, dest_ip: bytes, dev: NetDevice, src_ip: bytes,
             dest_hw: bytes | None, src_hw: bytes, target_hw: bytes | None) -> None:
    """arp_send: build an ARP message and queue it on ``dev`` (broadcast when no dest_hw)."""
    if dev.flags & IFF_NOARP:
        return
    skb = alloc_skb(dev.kernel, NET_SKB_PAD + ETH_HLEN + ARP_HLEN)
    skb.reserve(NET_SKB_PAD + ETH_HLEN)
    off = skb.put(ARP_HLEN)
    ArpRepr(op, src_hw, src_ip, target_hw or ZERO_MAC, dest_ip).emit(skb.head, off)
    skb.network_header = off
    skb.protocol = ETH_P_ARP
    skb.dev = dev
    eth_header(skb, dev, ETH_P_ARP, dest_hw or dev.broadcast, src_hw)
    net.mib.arp["OutRequests" if op == ARPOP_REQUEST else "OutReplies"] += 1
    dev_queue_xmit(skb)


def arp_send_garp(net: Any, dev: NetDevice, addr: bytes) -> None:
    """A gratuitous ARP request announcing ``addr`` (RFC 5227 §3: sender = target)."""
    if dev.flags & (IFF_NOARP | IFF_LOOPBACK):
        return
    arp_send(net, ARPOP_REQUEST, addr, dev, addr, None, dev.dev_addr, None)


def arp_rcv(net: Any, skb: SkBuff, dev: NetDevice, pt: PacketType | None = None,
            orig_dev: NetDevice | None = None) -> int:
    """The ETH_P_ARP handler: validate once, then arp_process."""
    if dev.flags & IFF_NOARP or skb.pkt_type in (PACKET_OTHERHOST, PACKET_LOOPBACK):
        # Linux consumes these silently; a reason is kept here
        kfree_skb(skb, SkbDropReason.OTHERHOST)
        return 1
    try:
        arp = ArpRepr.parse(ArpPacket.checked(memoryview(skb.head)[skb.data : skb.tail]))
    except Malformed:
        net.mib.arp["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.ARP_MALFORMED)
        return 1
    return arp_process(net, skb, dev, arp)


def arp_process(net: Any, skb: SkBuff, dev: NetDevice, arp: ArpRepr) -> int:
    """arp_process: answer requests for our addresses and learn from what we hear."""
    mib = net.mib.arp
    op, sip, tip, sha = arp.oper, arp.spa, arp.tpa, arp.sha
    if op == ARPOP_REQUEST:
        mib["InRequests"] += 1
    elif op == ARPOP_REPLY:
        mib["InReplies"] += 1
    else:
        kfree_skb(skb, SkbDropReason.ARP_UNSUPPORTED_OP)
        return 1
    if ipv4_is_multicast(tip) or ipv4_is_loopback(tip) or ipv4_is_multicast(sip) \
            or ipv4_is_loopback(sip) or sip == INADDR_BROADCAST or sha[0] & 1 or sha == ZERO_MAC:
        kfree_skb(skb, SkbDropReason.ARP_BOGUS)
        return 1
    fib = net.fib
    tbl = net.arp
    if sip == INADDR_ANY:  # RFC 5227 probe (duplicate address detection): answer, learn nothing
        if op == ARPOP_REQUEST and tip in fib.local_addrs:
            arp_send(net, ARPOP_REPLY, sip, dev, tip, sha, dev.dev_addr, sha)
        consume_skb(skb)
        return 0
    if op == ARPOP_REQUEST and tip in fib.local_addrs:
        mib["rcv_probes_ucast" if skb.pkt_type == PACKET_HOST else "rcv_probes_mcast"] += 1
        n = tbl.create(sip, dev)  # neigh_event_ns
        if n is not None:
            tbl.update(n, sha, NUD_STALE, NEIGH_UPDATE_F_OVERRIDE)
        arp_send(net, ARPOP_REPLY, sip, dev, tip, sha, dev.dev_addr, sha)
        consume_skb(skb)
        return 0
    n = tbl.lookup(sip, dev)
    accept = net.sysctl.arp_accept
    is_garp = False
    if n is not None or accept:
        is_garp = tip == sip and (op == ARPOP_REQUEST or arp.tha == sha) \
            and not fib.is_broadcast(sip, dev)
        if n is None and (op == ARPOP_REPLY or is_garp):
            n = tbl.create(sip, dev)
    if n is not None:
        override = net.sched.now > n.updated + LOCKTIME_NS or is_garp
        state = NUD_REACHABLE
        if op != ARPOP_REPLY or skb.pkt_type != PACKET_HOST:
            state = NUD_STALE
        tbl.update(n, sha, state, NEIGH_UPDATE_F_OVERRIDE if override else 0)
    consume_skb(skb)
    return 0
