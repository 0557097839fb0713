"""Neighbor Discovery: NS/NA/RS/RA/redirect on the shared neighbour core.

Mirrors Linux's ``net/ipv6/ndisc.c``: ``ndisc_constructor`` (NOARP entries for multicast keys
and loopback), ``ndisc_solicit`` (multicast NS to the solicited-node group while INCOMPLETE,
unicast NS in PROBE), ``ndisc_error_report`` (address unreachable for what waited in vain),
``ndisc_rcv`` with its checks (hop limit 255, code 0, no fragments, well-formed options),
``ndisc_recv_ns`` / ``ndisc_recv_na`` (DAD conflicts reported to addrconf, neighbour updates
with Linux's flags), ``ndisc_router_discovery`` (hop limit, default router, prefixes, MTU),
``ndisc_redirect_rcv`` and the senders ``ndisc_send_ns`` / ``ndisc_send_na`` /
``ndisc_send_rs`` / ``ndisc_send_redirect`` (a forwarding router's redirects, see there);
router advertisements are sent by ``stack/ipv6/radvd.py``.

Contract: the ND table is ``net.ipv6.nd_tbl`` (``stack.neigh.NeighTable`` with
:class:`NdiscOps`, statistics ``net.mib.ndisc``), keyed by 16-byte addresses and sharing the
NUD state machine, timers and ``neigh_*`` sysctls with ARP (deliberate: Linux has separate
``net.ipv6.neigh.default.*`` copies with the same defaults).  Every message leaves with hop
limit 255.  Drops carry Linux's reasons: IPV6_NDISC_FRAG, IPV6_NDISC_HOP_LIMIT,
IPV6_NDISC_BAD_CODE, IPV6_NDISC_BAD_OPTIONS, IPV6_NDISC_NS_OTHERHOST.  Router
advertisements are taken when ``accept_ra`` is on and the interface does not forward (or
``accept_ra`` is 2); reachable time and retransmission timer fields are not applied (the
neighbour parameters are namespace-wide here).  Redirects are accepted from the current
first-hop router only and become a /128 route (proto redirect) expiring with the PMTU timeout.

Spec: RFC 4861 §4, §6.3.4, §7.1, §7.2, §8; RFC 4862 §5.4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, IFF_NOARP, consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.units import NS_PER_S
from stack.ipv6.icmp import icmp6_send, icmp6_xmit
from stack.ipv6.output import Flow6
from stack.ipv6.route import IP6_RT_PRIO_USER, RTPROT_RA, RTPROT_REDIRECT, route_output6
from stack.neigh.neighbour import (
    NEIGH_UPDATE_F_OVERRIDE,
    NEIGH_UPDATE_F_WEAK_OVERRIDE,
    NUD_NOARP,
    NUD_REACHABLE,
    NUD_STALE,
    NUD_VALID,
    Neighbour,
    NeighTable,
)
from stack.uapi import IPPROTO_ICMPV6
from stack.wire.errors import Malformed
from stack.wire.icmpv6 import (
    ICMPV6_ADDR_UNREACH,
    ICMPV6_DEST_UNREACH,
    ND_NA_OVERRIDE,
    ND_NA_ROUTER,
    ND_NA_SOLICITED,
    ND_NS_LEN,
    ND_OPT_MTU,
    ND_OPT_MTU_BODY,
    ND_OPT_PREFIX_INFO,
    ND_OPT_REDIRECT_HDR,
    ND_OPT_SOURCE_LL_ADDR,
    ND_OPT_TARGET_LL_ADDR,
    ND_RA_LEN,
    ND_REDIRECT_LEN,
    NDISC_NEIGHBOUR_ADVERTISEMENT,
    NDISC_NEIGHBOUR_SOLICITATION,
    NDISC_REDIRECT,
    NDISC_ROUTER_ADVERTISEMENT,
    NDISC_ROUTER_SOLICITATION,
    RA_BODY,
    Icmpv6Repr,
    PrefixInfo,
    nd_opt_lladdr,
    nd_options,
)
from stack.wire.ipv6 import (
    IN6ADDR_ANY,
    IN6ADDR_LINKLOCAL_ALLNODES,
    IN6ADDR_LINKLOCAL_ALLROUTERS,
    IPV6_HLEN,
    IPV6_MIN_MTU,
    addrconf_addr_solict_mult,
    ipv6_addr_is_linklocal,
    ipv6_addr_is_multicast,
    ipv6_eth_mc_map,
    ipv6_str,
)

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

NDISC_HOP_LIMIT = 255
REDIRECT_EXPIRES_NS = 600 * NS_PER_S
_RA_BODY = RA_BODY.struct


class NdiscOps:
    """The neighbour table's protocol hooks for IPv6 (``nd_tbl``'s ops and constructor)."""

    def constructor(self, tbl: NeighTable, n: Neighbour) -> None:
        """ndisc_constructor: multicast and loopback entries need no resolution."""
        dev = n.dev
        if dev.flags & (IFF_NOARP | IFF_LOOPBACK):
            n.ha = dev.dev_addr
        elif ipv6_addr_is_multicast(n.key):
            n.ha = ipv6_eth_mc_map(n.key)
        else:
            return
        tbl._set_state(n, NUD_NOARP)

    def solicit(self, tbl: NeighTable, n: Neighbour, skb: SkBuff | None) -> None:
        """ndisc_solicit: unicast NS while the old address is probed, else multicast."""
        net = tbl.net
        saddr = None
        if skb is not None:
            nh = skb.network_header if skb.network_header >= 0 else skb.data
            src = bytes(skb.head[nh + 8 : nh + 24])
            if net.ipv6.fib.is_local(src):
                saddr = src
        probes = n.probes - net.sysctl.neigh_ucast_solicit
        if probes < 0:
            ndisc_send_ns(net, n.dev, n.key, n.key, saddr)
        else:
            ndisc_send_ns(net, n.dev, n.key, addrconf_addr_solict_mult(n.key), saddr)

    def error_report(self, tbl: NeighTable, n: Neighbour, skb: SkBuff) -> None:
        """ndisc_error_report: address unreachable to the packet's sender."""
        icmp6_send(tbl.net, skb, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH)


def nd_table(net: Any) -> NeighTable:
    return NeighTable(net, NdiscOps(), net.mib.ndisc)


# -- sending ---------------------------------------------------------------------------------
def _send(net: Any, dev: NetDevice, saddr: bytes | None, daddr: bytes, msg: Icmpv6Repr) -> None:
    icmp6_xmit(net, msg, Flow6(saddr, daddr, IPPROTO_ICMPV6, hop_limit=NDISC_HOP_LIMIT, oif=dev))


def ndisc_send_ns(
    net: Any, dev: NetDevice, target: bytes, daddr: bytes, saddr: bytes | None, dad: bool = False
) -> None:
    """ndisc_send_ns: ``dad=True`` sends from :: without a source link-layer option."""
    if dad:
        saddr = IN6ADDR_ANY
    elif saddr is None:
        saddr = net.ipv6.link_local(dev) or net.ipv6.saddr_for(dev, daddr)
        if saddr is None:
            return
    body = target + (
        b"" if saddr == IN6ADDR_ANY else nd_opt_lladdr(ND_OPT_SOURCE_LL_ADDR, dev.dev_addr)
    )
    _send(net, dev, saddr, daddr, Icmpv6Repr(NDISC_NEIGHBOUR_SOLICITATION, 0, 0, body))


def ndisc_send_na(
    net: Any,
    dev: NetDevice,
    daddr: bytes,
    target: bytes,
    router: bool,
    solicited: bool,
    override: bool,
) -> None:
    """ndisc_send_na: from the target itself, with our link-layer address."""
    flags = (
        (ND_NA_ROUTER if router else 0)
        | (ND_NA_SOLICITED if solicited else 0)
        | (ND_NA_OVERRIDE if override else 0)
    )
    body = target + nd_opt_lladdr(ND_OPT_TARGET_LL_ADDR, dev.dev_addr)
    _send(net, dev, target, daddr, Icmpv6Repr(NDISC_NEIGHBOUR_ADVERTISEMENT, 0, flags, body))


def ndisc_send_rs(net: Any, dev: NetDevice) -> None:
    """ndisc_send_rs: to all-routers, with our link-layer address when we have a source."""
    saddr = net.ipv6.link_local(dev) or IN6ADDR_ANY
    body = b"" if saddr == IN6ADDR_ANY else nd_opt_lladdr(ND_OPT_SOURCE_LL_ADDR, dev.dev_addr)
    _send(
        net,
        dev,
        saddr,
        IN6ADDR_LINKLOCAL_ALLROUTERS,
        Icmpv6Repr(NDISC_ROUTER_SOLICITATION, 0, 0, body),
    )


def ndisc_send_redirect(net: Any, skb: SkBuff, target: bytes) -> None:
    """ndisc_send_redirect: ``ip6_forward`` is sending ``skb`` back out of the interface it
    came in on; tell its source that ``target`` (the next hop, or the destination itself when
    it is on-link) is the better first hop (RFC 4861 §8.2).

    Refused as Linux refuses: no usable link-local address on the interface, a target that is
    neither the destination nor link-local unicast, a source that is not a neighbour (reached
    through a gateway), and more than one a second per source (``inet_peer_xrlim_allow``,
    bursts of 6).  The message leaves from our link-local address with hop limit 255 and
    carries the target's link-layer address when the neighbour entry is valid, then as much
    of the packet as fits in 1280 bytes (the redirected header option, 8-byte aligned).
    """
    dev = skb.dev
    ipv6 = net.ipv6
    saddr_ll = ipv6.link_local(dev)
    if saddr_ll is None:
        return  # "Redirect: no link-local address"
    nh = skb.network_header
    head = skb.head
    src = bytes(head[nh + 8 : nh + 24])
    dest = bytes(head[nh + 24 : nh + 40])
    if target != dest and not ipv6_addr_is_linklocal(target):
        return  # "Redirect: target address is not link-local unicast"
    try:
        rt = route_output6(net, src, saddr_ll, dev)
    except OSError:
        return
    if rt.gateway is not None:
        return  # "Redirect: destination is not a neighbour"
    if not ipv6.icmp.peer_allow(src, NS_PER_S):
        return
    opts = b""
    n = ipv6.nd_tbl.lookup(target, dev)
    if n is not None and n.nud_state & NUD_VALID:
        opts = nd_opt_lladdr(ND_OPT_TARGET_LL_ADDR, n.ha)
    room = IPV6_MIN_MTU - IPV6_HLEN - ND_REDIRECT_LEN - len(opts)
    rd_len = min(room, skb.tail + skb.data_len - nh + 8) & ~7
    if rd_len > 8:  # ndisc_fill_redirect_hdr_option
        pkt = skb.tobytes()[nh - skb.data :] if skb.data_len else bytes(head[nh : skb.tail])
        quoted = pkt[: rd_len - 8].ljust(rd_len - 8, b"\0")
        opts += bytes((ND_OPT_REDIRECT_HDR, rd_len >> 3)) + bytes(6) + quoted
    _send(net, dev, saddr_ll, src, Icmpv6Repr(NDISC_REDIRECT, 0, 0, target + dest + opts))


# -- receiving -------------------------------------------------------------------------------
def _drop(skb: SkBuff, reason: SkbDropReason) -> int:
    kfree_skb(skb, reason)
    return 1


def ndisc_rcv(net: Any, skb: SkBuff, view: memoryview) -> int:
    """ndisc_rcv: the checks every ND message passes, then its handler."""
    nh = skb.network_header
    if skb.cb.get("frag"):
        return _drop(skb, SkbDropReason.IPV6_NDISC_FRAG)
    if skb.head[nh + 7] != NDISC_HOP_LIMIT:
        return _drop(skb, SkbDropReason.IPV6_NDISC_HOP_LIMIT)
    if view[1] != 0:
        return _drop(skb, SkbDropReason.IPV6_NDISC_BAD_CODE)
    saddr = bytes(skb.head[nh + 8 : nh + 24])
    daddr = bytes(skb.head[nh + 24 : nh + 40])
    itype = view[0]
    dev = skb.dev
    idev = net.ipv6.idev(dev)
    if idev is None:
        return _drop(skb, SkbDropReason.IPV6DISABLED)
    try:
        if itype == NDISC_NEIGHBOUR_SOLICITATION:
            reason = _recv_ns(net, idev, saddr, daddr, view)
        elif itype == NDISC_NEIGHBOUR_ADVERTISEMENT:
            reason = _recv_na(net, idev, saddr, daddr, view)
        elif itype == NDISC_ROUTER_SOLICITATION:
            reason = _recv_rs(net, idev, saddr, view)
        elif itype == NDISC_ROUTER_ADVERTISEMENT:
            reason = _router_discovery(net, idev, saddr, view)
        else:
            reason = _redirect_rcv(net, idev, saddr, view)
    except Malformed:
        reason = SkbDropReason.IPV6_NDISC_BAD_OPTIONS
    if reason is not None:
        return _drop(skb, reason)
    consume_skb(skb)
    return 0


def _lladdr(opts: list[tuple[int, memoryview]], want: int, dev: NetDevice) -> bytes | None:
    for otype, opt in opts:
        if otype == want:
            if len(opt) < 2 + dev.addr_len:
                raise Malformed("ndisc", "short link-layer address option")
            return bytes(opt[2 : 2 + dev.addr_len])
    return None


def _recv_ns(
    net: Any, idev: Any, saddr: bytes, daddr: bytes, view: memoryview
) -> SkbDropReason | None:
    """ndisc_recv_ns: answer for our addresses; a probe for a tentative one is a conflict."""
    if len(view) < ND_NS_LEN:
        return SkbDropReason.PKT_TOO_SMALL
    target = bytes(view[8:24])
    if ipv6_addr_is_multicast(target):
        return SkbDropReason.IPV6_NDISC_BAD_OPTIONS
    opts = nd_options(view[ND_NS_LEN:])
    dev = idev.dev
    lladdr = _lladdr(opts, ND_OPT_SOURCE_LL_ADDR, dev)
    dad = saddr == IN6ADDR_ANY
    if dad and (daddr != addrconf_addr_solict_mult(target) or lladdr is not None):
        return SkbDropReason.IPV6_NDISC_BAD_OPTIONS  # RFC 4861 §7.1.1
    ifa = idev.get(target)
    if ifa is None:
        return SkbDropReason.IPV6_NDISC_NS_OTHERHOST
    if ifa.tentative:
        if dad:
            net.ipv6.addrconf.dad_failure(ifa, None)  # someone else probes the same address
        return None
    router = bool(idev.cnf.forwarding)
    if dad:
        ndisc_send_na(net, dev, IN6ADDR_LINKLOCAL_ALLNODES, target, router, False, True)
        return None
    tbl = net.ipv6.nd_tbl
    n = tbl.create(saddr, dev)  # neigh_event_ns
    if n is not None and lladdr is not None:
        tbl.update(n, lladdr, NUD_STALE, NEIGH_UPDATE_F_WEAK_OVERRIDE | NEIGH_UPDATE_F_OVERRIDE)
    ndisc_send_na(net, dev, saddr, target, router, True, True)
    return None


def _recv_na(
    net: Any, idev: Any, saddr: bytes, daddr: bytes, view: memoryview
) -> SkbDropReason | None:
    """ndisc_recv_na: DAD conflicts, then the neighbour entry of the target."""
    if len(view) < ND_NS_LEN:
        return SkbDropReason.PKT_TOO_SMALL
    flags = int.from_bytes(view[4:8], "big")
    target = bytes(view[8:24])
    if ipv6_addr_is_multicast(target) or (
        ipv6_addr_is_multicast(daddr) and flags & ND_NA_SOLICITED
    ):
        return SkbDropReason.IPV6_NDISC_BAD_OPTIONS
    dev = idev.dev
    lladdr = _lladdr(nd_options(view[ND_NS_LEN:]), ND_OPT_TARGET_LL_ADDR, dev)
    ifa = idev.get(target)
    if ifa is not None:
        if ifa.tentative:
            net.ipv6.addrconf.dad_failure(ifa, lladdr)
        return None  # "NA: someone advertises our address" otherwise: ignored
    tbl = net.ipv6.nd_tbl
    n = tbl.lookup(target, dev)
    if n is None:
        return None
    new = NUD_REACHABLE if flags & ND_NA_SOLICITED else NUD_STALE
    update = NEIGH_UPDATE_F_WEAK_OVERRIDE | (
        NEIGH_UPDATE_F_OVERRIDE if flags & ND_NA_OVERRIDE else 0
    )
    tbl.update(n, lladdr, new, update)
    return None


def _recv_rs(net: Any, idev: Any, saddr: bytes, view: memoryview) -> SkbDropReason | None:
    """ndisc_recv_rs: learn the host (STALE) and let a running radvd answer."""
    if not idev.cnf.forwarding:
        return None  # hosts ignore solicitations (RFC 4861 §6.2.6)
    dev = idev.dev
    lladdr = _lladdr(nd_options(view[8:]), ND_OPT_SOURCE_LL_ADDR, dev)
    if saddr != IN6ADDR_ANY and lladdr is not None:
        tbl = net.ipv6.nd_tbl
        n = tbl.create(saddr, dev)
        if n is not None:
            tbl.update(n, lladdr, NUD_STALE, NEIGH_UPDATE_F_WEAK_OVERRIDE | NEIGH_UPDATE_F_OVERRIDE)
    if idev.radvd is not None:
        idev.radvd.solicited()
    return None


def _router_discovery(net: Any, idev: Any, saddr: bytes, view: memoryview) -> SkbDropReason | None:
    """ndisc_router_discovery: hop limit, default router, prefixes, MTU."""
    if not ipv6_addr_is_linklocal(saddr):
        return SkbDropReason.IPV6_NDISC_BAD_OPTIONS  # RFC 4861 §6.1.2
    if len(view) < ND_RA_LEN:
        return SkbDropReason.PKT_TOO_SMALL
    cnf = idev.cnf
    if not cnf.accept_ra or (cnf.forwarding and cnf.accept_ra < 2):
        return None
    opts = nd_options(view[ND_RA_LEN:])
    dev = idev.dev
    ipv6 = net.ipv6
    cur_hop_limit = view[4]
    lifetime = int.from_bytes(view[6:8], "big")
    if cur_hop_limit:
        cnf.hop_limit = cur_hop_limit
    now = net.sched.now
    fib = ipv6.fib
    dflt = fib.find(IN6ADDR_ANY, 0, dev, saddr)
    if lifetime == 0 and dflt is not None:
        fib.remove(dflt)
    elif lifetime:
        if dflt is None:
            fib.add_route(
                "::/0",
                saddr,
                dev,
                IP6_RT_PRIO_USER,
                proto=RTPROT_RA,
                expires=now + lifetime * NS_PER_S,
            )
        else:
            dflt.expires = now + lifetime * NS_PER_S
            fib.invalidate()
        ipv6.schedule_verify()
    lladdr = _lladdr(opts, ND_OPT_SOURCE_LL_ADDR, dev)
    if lladdr is not None:
        tbl = ipv6.nd_tbl
        n = tbl.create(saddr, dev)
        if n is not None:
            tbl.update(n, lladdr, NUD_STALE, NEIGH_UPDATE_F_WEAK_OVERRIDE | NEIGH_UPDATE_F_OVERRIDE)
    for otype, opt in opts:
        if otype == ND_OPT_PREFIX_INFO:
            ipv6.addrconf.prefix_rcv(idev, PrefixInfo.parse(opt))
        elif otype == ND_OPT_MTU:
            if len(opt) < 8:
                raise Malformed("ndisc", "short MTU option")
            mtu = ND_OPT_MTU_BODY.struct.unpack_from(opt, 2)[1]
            if 1280 <= mtu <= dev.mtu and mtu != cnf.mtu:
                cnf.mtu = mtu
                fib.invalidate()
    return None


def _redirect_rcv(net: Any, idev: Any, saddr: bytes, view: memoryview) -> SkbDropReason | None:
    """ndisc_redirect_rcv: from our first-hop router for the destination only."""
    if len(view) < ND_REDIRECT_LEN:
        return SkbDropReason.PKT_TOO_SMALL
    if not ipv6_addr_is_linklocal(saddr) or idev.cnf.forwarding:
        return None
    target = bytes(view[8:24])
    dest = bytes(view[24:40])
    if ipv6_addr_is_multicast(dest) or not (target == dest or ipv6_addr_is_linklocal(target)):
        return SkbDropReason.IPV6_NDISC_BAD_OPTIONS
    opts = nd_options(view[ND_REDIRECT_LEN:])
    ipv6 = net.ipv6
    cur = ipv6.fib.lookup(dest)
    if cur is None or cur.gateway != saddr or cur.dev is not idev.dev:
        return None
    dev = idev.dev
    old = ipv6.fib.find(dest, 128, dev, None if target == dest else target)
    if old is None:
        ipv6.fib.add_route(
            (dest, 128),
            None if target == dest else target,
            dev,
            proto=RTPROT_REDIRECT,
            expires=net.sched.now + REDIRECT_EXPIRES_NS,
        )
    lladdr = _lladdr(opts, ND_OPT_TARGET_LL_ADDR, dev)
    if lladdr is not None:
        tbl = ipv6.nd_tbl
        n = tbl.create(target, dev)
        if n is not None:
            tbl.update(n, lladdr, NUD_STALE, NEIGH_UPDATE_F_WEAK_OVERRIDE | NEIGH_UPDATE_F_OVERRIDE)
    net.kernel.log(6, f"IPv6: redirect to {ipv6_str(dest)} via {ipv6_str(target)}")
    return None


def ra_message(
    dev: NetDevice, hop_limit: int, lifetime_s: int, prefixes: list[PrefixInfo], mtu: int = 0
) -> Icmpv6Repr:
    """A router advertisement (what radvd builds): SLLAO, MTU and prefix options."""
    body = bytearray(_RA_BODY.pack(0, 0))
    body += nd_opt_lladdr(ND_OPT_SOURCE_LL_ADDR, dev.dev_addr)
    if mtu:
        body += bytes((ND_OPT_MTU, 1)) + ND_OPT_MTU_BODY.struct.pack(0, mtu)
    for p in prefixes:
        body += p.emit()
    return Icmpv6Repr(
        NDISC_ROUTER_ADVERTISEMENT, 0, hop_limit << 24 | (lifetime_s & 0xFFFF), bytes(body)
    )


def ndisc_send_ra(net: Any, dev: NetDevice, daddr: bytes, msg: Icmpv6Repr) -> None:
    saddr = net.ipv6.link_local(dev)
    if saddr is not None:
        _send(net, dev, saddr, daddr, msg)


__all__ = [
    "NDISC_REDIRECT",
    "NdiscOps",
    "nd_table",
    "ndisc_rcv",
    "ndisc_send_na",
    "ndisc_send_ns",
    "ndisc_send_ra",
    "ndisc_send_rs",
    "ra_message",
]
