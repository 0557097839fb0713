"""IPv6 multicast membership: group counts, the NIC's filter, MLDv2 reports.

Mirrors Linux's ``net/ipv6/mcast.c``: ``ipv6_dev_mc_inc`` / ``ipv6_dev_mc_dec`` (a reference
count per group; the first join programs the device's multicast list with the group's
33:33:xx:xx:xx:xx address through ``dev_mc_add``, so the driver's ``ndo_set_rx_mode``
rewrites the NIC's multicast table), ``ipv6_chk_mcast_addr`` and the unsolicited reports of
``mld_ifc_event``: a state-change report (CHANGE_TO_EXCLUDE on join, CHANGE_TO_INCLUDE on
leave) sent at once and repeated ``MLD_QRV`` - 1 times, 1 s apart
(``unsolicited_report_interval``), to ff02::16 with hop limit 1 and a router alert
hop-by-hop option, from the link-local address (or :: while it is tentative, RFC 3810
§5.2.13).  ff02::1 is joined but never reported (RFC 3810 §6).  Not modelled: answering
queries (no querier is emulated), MLDv1 compatibility, source filtering, multicast routing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, Timer, alloc_skb
from stack.core.rxmode import dev_mc_add, dev_mc_del
from stack.core.units import NS_PER_S
from stack.ipv6.icmp import icmp6_out_count
from stack.ipv6.output import MAX_HEADER6, Flow6, ip6_xmit
from stack.uapi import IPPROTO_HOPOPTS, IPPROTO_ICMPV6
from stack.wire.checksum import l4_checksum6
from stack.wire.icmpv6 import (
    ICMPV6_MLD2_REPORT,
    MLD2_CHANGE_TO_EXCLUDE,
    MLD2_CHANGE_TO_INCLUDE,
    MLD2_GREC,
    Icmpv6Repr,
)
from stack.wire.ipv6 import (
    IN6ADDR_ANY,
    IN6ADDR_LINKLOCAL_ALLMLDV2,
    IN6ADDR_LINKLOCAL_ALLNODES,
    IPV6_TLV_PADN,
    IPV6_TLV_ROUTERALERT,
    ipv6_eth_mc_map,
)
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import NetDevice

MLD_QRV = 2  # robustness variable: how many times a state change is reported
MLD_UNSOLICITED_REPORT_NS = 1 * NS_PER_S
# hop-by-hop header: next header ICMPv6, length 0, router alert (MLD: value 0), PadN of 0
MLD_HOPOPTS = bytes((IPPROTO_ICMPV6, 0, IPV6_TLV_ROUTERALERT, 2, 0, 0, IPV6_TLV_PADN, 0))


class McState:
    """One device's groups: users per group and the pending report repeats."""

    def __init__(self, net: Any, dev: NetDevice) -> None:
        self.net = net
        self.dev = dev
        self.groups: dict[bytes, int] = {}
        self.pending: list[tuple[int, bytes]] = []
        self.repeats = 0
        self.timer = Timer(dev.kernel, self._repeat, f"mld {dev.name}")

    def has(self, group: bytes) -> bool:
        """ipv6_chk_mcast_addr."""
        return group in self.groups

    def inc(self, group: bytes) -> None:
        """ipv6_dev_mc_inc."""
        users = self.groups.get(group, 0)
        self.groups[group] = users + 1
        if users:
            return
        dev_mc_add(self.dev, ipv6_eth_mc_map(group))
        self._change(MLD2_CHANGE_TO_EXCLUDE, group)

    def dec(self, group: bytes) -> None:
        """ipv6_dev_mc_dec."""
        users = self.groups.get(group)
        if users is None:
            return
        if users > 1:
            self.groups[group] = users - 1
            return
        del self.groups[group]
        dev_mc_del(self.dev, ipv6_eth_mc_map(group))
        self._change(MLD2_CHANGE_TO_INCLUDE, group)

    def drop_all(self) -> None:
        """ipv6_mc_destroy_dev: the device lost IPv6; its filter entries go, silently."""
        for group in self.groups:
            dev_mc_del(self.dev, ipv6_eth_mc_map(group))
        self.groups.clear()
        self.pending.clear()
        self.timer.del_timer()

    def _change(self, rtype: int, group: bytes) -> None:
        if group == IN6ADDR_LINKLOCAL_ALLNODES or self.dev.flags & IFF_LOOPBACK:
            return
        self.pending = [(t, g) for t, g in self.pending if g != group] + [(rtype, group)]
        self.repeats = MLD_QRV
        self._repeat(self.timer)

    def _repeat(self, _timer: Timer) -> None:
        if not self.pending or not self.repeats:
            return
        mld_send_report(self.net, self.dev, self.pending)
        self.repeats -= 1
        if self.repeats:
            self.timer.mod_timer(self.net.sched.now + MLD_UNSOLICITED_REPORT_NS)
        else:
            self.pending = []


def mld_send_report(net: Any, dev: NetDevice, records: list[tuple[int, bytes]]) -> None:
    """An MLDv2 report with ``records`` [(record type, group)], no sources."""
    saddr = net.ipv6.link_local(dev) or IN6ADDR_ANY
    body = b"".join(MLD2_GREC.struct.pack(rtype, 0, 0, group) for rtype, group in records)
    msg = Icmpv6Repr(ICMPV6_MLD2_REPORT, 0, len(records), body)  # un: reserved, ngrec
    skb = alloc_skb(net.kernel, MAX_HEADER6 + len(MLD_HOPOPTS) + msg.buffer_len())
    skb.reserve(MAX_HEADER6)
    off = skb.put(len(MLD_HOPOPTS) + msg.buffer_len())
    head = skb.head
    head[off : off + len(MLD_HOPOPTS)] = MLD_HOPOPTS
    icmp_off = off + len(MLD_HOPOPTS)
    msg.emit(head, icmp_off)
    U16.pack_into(
        head,
        icmp_off + 2,
        l4_checksum6(
            saddr,
            IN6ADDR_LINKLOCAL_ALLMLDV2,
            IPPROTO_ICMPV6,
            memoryview(head)[icmp_off : icmp_off + msg.buffer_len()],
        ),
    )
    icmp6_out_count(net, ICMPV6_MLD2_REPORT)
    ip6_xmit(
        net, skb, Flow6(saddr, IN6ADDR_LINKLOCAL_ALLMLDV2, IPPROTO_HOPOPTS, hop_limit=1, oif=dev)
    )


__all__ = ["McState", "mld_send_report"]
