"""ICMPv6: receive (echo, errors, Packet Too Big -> PMTU), error generation, rate limiting.

Mirrors Linux's ``net/ipv6/icmp.c``: ``icmpv6_rcv`` (checksum over the pseudo-header, the
per-type MIB, ND and MLD handed on), ``icmpv6_echo_reply``, ``icmpv6_notify`` (errors to the
quoted protocol's ``err_handler``), ``icmp6_send`` with its refusals (no error about an
ICMPv6 error, none to an unspecified or multicast source, none about a packet to a multicast
destination unless Packet Too Big or an unrecognised option whose type asked for one) and
``icmpv6_xrlim_allow``: the per-destination token bucket of ``net.ipv6.icmp.ratelimit`` ms
(bursts of 6, the timeout shortened for wider routes: ``tmo >> ((128 - plen) >> 5)``),
never for Packet Too Big (``icmpv6_mask_allow``: Linux's ratemask ``0-1,3-127``) nor for
loopback, and the global bucket shared with IPv4 (``icmp_global_allow``).

Contract:
- ``icmp6_send(net, skb_in, type, code, info)``: an error about ``skb_in`` (its IPv6 header at
  ``skb_in.network_header``); ``info`` is the MTU (Packet Too Big) or the pointer (parameter
  problem).  The quote is as much of the packet as fits in 1280 bytes (RFC 4443 §2.4 (c)).
- Echo replies go to the ping sockets (``net.ping_table.rcv``, ``stack/ipv6/ping.py``).
  Errors are delivered to ``net.ipv6.err_handlers[quoted nexthdr](net, quoted_ip6: Ipv6Repr,
  quoted_l4, type, code, info)`` (ICMPv6's own, ``icmpv6_err``, hands errors about echo
  requests to the ping sockets), the sender in ``net.ipv6.icmp.err_src``, then to the raw
  sockets of the quoted protocol (``raw6_icmp_error``).
- Counters (``net.mib.icmp6``): Icmp6InMsgs, Icmp6InErrors, Icmp6InCsumErrors,
  Icmp6In<type>, Icmp6InType<n> and the Out twins, Icmp6OutErrors, Icmp6OutRateLimitHost.

Spec: RFC 4443 §2.4, §3, §4; RFC 8201 (PMTU discovery).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, alloc_skb, consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_UNNECESSARY
from stack.core.units import NS_PER_MS
from stack.inetpeer import InetPeers
from stack.ipv4.route import RTN_LOCAL
from stack.ipv6.output import MAX_HEADER6, Flow6, ip6_xmit
from stack.ipv6.route import route_output6
from stack.uapi import IPPROTO_ICMPV6
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_HLEN,
    ICMPV6_MGM_QUERY,
    ICMPV6_MGM_REDUCTION,
    ICMPV6_MGM_REPORT,
    ICMPV6_MLD2_REPORT,
    ICMPV6_PARAMPROB,
    ICMPV6_PKT_TOOBIG,
    ICMPV6_TIME_EXCEED,
    ICMPV6_UNK_OPTION,
    NDISC_NEIGHBOUR_ADVERTISEMENT,
    NDISC_NEIGHBOUR_SOLICITATION,
    NDISC_REDIRECT,
    NDISC_ROUTER_ADVERTISEMENT,
    NDISC_ROUTER_SOLICITATION,
    Icmpv6Packet,
    Icmpv6Repr,
    icmpv6_is_err,
)
from stack.wire.ipv6 import (
    IN6ADDR_ANY,
    IPV6_HLEN,
    IPV6_MIN_MTU,
    Ipv6Packet,
    Ipv6Repr,
    ipv6_addr_is_multicast,
)
from stack.wire.layout import U16, U32

if TYPE_CHECKING:
    from stack.core import SkBuff

_NAMES = {
    ICMPV6_DEST_UNREACH: "DestUnreachs", ICMPV6_PKT_TOOBIG: "PktTooBigs",
    ICMPV6_TIME_EXCEED: "TimeExcds", ICMPV6_PARAMPROB: "ParmProblems",
    ICMPV6_ECHO_REQUEST: "Echos", ICMPV6_ECHO_REPLY: "EchoReplies",
    ICMPV6_MGM_QUERY: "GroupMembQueries", ICMPV6_MGM_REPORT: "GroupMembResponses",
    ICMPV6_MGM_REDUCTION: "GroupMembReductions", NDISC_ROUTER_SOLICITATION: "RouterSolicits",
    NDISC_ROUTER_ADVERTISEMENT: "RouterAdvertisements",
    NDISC_NEIGHBOUR_SOLICITATION: "NeighborSolicits",
    NDISC_NEIGHBOUR_ADVERTISEMENT: "NeighborAdvertisements", NDISC_REDIRECT: "Redirects",
    ICMPV6_MLD2_REPORT: "MLDv2Reports",
}  # fmt: skip
MIB_IN = {t: "Icmp6In" + n for t, n in _NAMES.items()}
MIB_OUT = {t: "Icmp6Out" + n for t, n in _NAMES.items()}
MSG_IN = tuple(f"Icmp6InType{t}" for t in range(256))
MSG_OUT = tuple(f"Icmp6OutType{t}" for t in range(256))
ICMPV6_ROOM = IPV6_MIN_MTU - IPV6_HLEN - ICMPV6_HLEN  # 1232 bytes of quote at most
ND_TYPES = frozenset(
    {
        NDISC_ROUTER_SOLICITATION,
        NDISC_ROUTER_ADVERTISEMENT,
        NDISC_NEIGHBOUR_SOLICITATION,
        NDISC_NEIGHBOUR_ADVERTISEMENT,
        NDISC_REDIRECT,
    }
)


class Icmp6State:
    """Per-namespace ICMPv6 state (``net.ipv6.icmp``): the per-destination rate limiter."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.peers = InetPeers()  # per-destination token buckets
        self.err_src = IN6ADDR_ANY  # the sender of the ICMPv6 error being handled

    def xrlim_allow(self, daddr: bytes, plen: int) -> bool:
        """icmpv6_xrlim_allow + inet_peer_xrlim_allow."""
        timeout = self.net.sysctl.icmpv6_ratelimit_ms * NS_PER_MS
        if timeout <= 0:
            return True
        timeout >>= (128 - plen) >> 5
        return self.peer_allow(daddr, timeout)

    def peer_allow(self, addr: bytes, timeout: int) -> bool:
        """inet_peer_xrlim_allow: ``addr``'s token bucket (one per address, shared by ICMPv6
        errors and ND redirects as Linux's ``inet_peer`` is), ``timeout`` ns a token, bursts
        of XRLIM_BURST_FACTOR."""
        return self.peers.xrlim_allow(addr, timeout, self.net.sched.now)


def icmp6_out_count(net: Any, itype: int) -> None:
    mib = net.mib.icmp6
    mib["Icmp6OutMsgs"] += 1
    name = MIB_OUT.get(itype)
    if name is not None:
        mib[name] += 1
    mib[MSG_OUT[itype]] += 1


def icmp6_xmit(net: Any, msg: Icmpv6Repr, flow: Flow6) -> int:
    """One ICMPv6 message: checksum over the pseudo-header, then ``ip6_xmit``."""
    try:
        rt = route_output6(net, flow.daddr, flow.saddr, flow.oif)
    except OSError as exc:
        net.mib.icmp6["Icmp6OutErrors"] += 1
        return -(exc.errno or 1)
    saddr = flow.saddr or rt.src
    skb = alloc_skb(net.kernel, MAX_HEADER6 + ICMPV6_HLEN + len(msg.data))
    skb.reserve(MAX_HEADER6)
    off = skb.put(ICMPV6_HLEN + len(msg.data))
    msg.emit(skb.head, off, saddr, flow.daddr)
    skb.transport_header = off
    icmp6_out_count(net, msg.type)
    rc = ip6_xmit(net, skb, flow._replace(saddr=saddr), rt)
    if rc < 0:
        net.mib.icmp6["Icmp6OutErrors"] += 1
    return rc


def _is_icmp_error(skb: SkBuff) -> bool:
    """Is ``skb`` itself an ICMPv6 error (``is_ineligible``)?  Its upper layer was found by
    the receive path's extension-header walk (``skb.cb["nexthdr"]``)."""
    if skb.cb.get("nexthdr") != IPPROTO_ICMPV6:
        return False
    th = skb.transport_header
    return th < 0 or th >= skb.tail or icmpv6_is_err(skb.head[th])


def icmp6_send(net: Any, skb_in: SkBuff, itype: int, code: int, info: int = 0) -> None:
    """icmp6_send: an ICMPv6 error about ``skb_in`` to its source (module docstring)."""
    head = skb_in.head
    nh = skb_in.network_header
    if nh < 0 or nh + IPV6_HLEN > skb_in.tail:
        return
    saddr = bytes(head[nh + 8 : nh + 24])
    daddr = bytes(head[nh + 24 : nh + 40])
    ipv6 = net.ipv6
    if ipv6_addr_is_multicast(daddr) and not (
        itype == ICMPV6_PKT_TOOBIG
        or (
            itype == ICMPV6_PARAMPROB
            and code == ICMPV6_UNK_OPTION
            and skb_in.cb.get("opt_mcast_icmp")
        )
    ):
        return
    if saddr == IN6ADDR_ANY or ipv6_addr_is_multicast(saddr):
        return
    if _is_icmp_error(skb_in):
        return
    src = daddr if ipv6.fib.is_local(daddr) else None
    oif = skb_in.dev if skb_in.dev is not None and not skb_in.dev.flags & IFF_LOOPBACK else None
    try:
        rt = route_output6(net, saddr, src, oif)
    except OSError:
        return
    if itype != ICMPV6_PKT_TOOBIG and rt.type != RTN_LOCAL:
        if not net.icmp.global_allow():
            return
        plen = rt.entry.plen if rt.entry is not None else 128
        if not ipv6.icmp.xrlim_allow(saddr, plen):
            net.mib.icmp6["Icmp6OutRateLimitHost"] += 1
            return
    quote = bytes(head[nh : nh + min(skb_in.tail - nh, ICMPV6_ROOM)])
    icmp6_xmit(
        net,
        Icmpv6Repr(itype, code, info & 0xFFFFFFFF, quote),
        Flow6(src or rt.src, saddr, IPPROTO_ICMPV6, oif=rt.dev),
    )


def icmpv6_param_prob(net: Any, skb: SkBuff, code: int, pointer: int, reason: SkbDropReason) -> int:
    """icmpv6_param_prob_reason: the error, then the packet dropped with ``reason``."""
    icmp6_send(net, skb, ICMPV6_PARAMPROB, code, pointer)
    kfree_skb(skb, reason)
    return 1


# -- receive -------------------------------------------------------------------------------
def icmpv6_rcv(net: Any, skb: SkBuff) -> int:
    """The IPPROTO_ICMPV6 handler: ``skb.data`` at the ICMPv6 header."""
    mib = net.mib.icmp6
    mib["Icmp6InMsgs"] += 1
    nh = skb.network_header
    head = skb.head
    saddr = bytes(head[nh + 8 : nh + 24])
    daddr = bytes(head[nh + 24 : nh + 40])
    view = memoryview(head)[skb.data : skb.tail]
    verify = skb.ip_summed != CHECKSUM_UNNECESSARY
    try:
        Icmpv6Packet.checked(view, saddr if verify else None, daddr if verify else None)
        if len(view) < ICMPV6_HLEN:
            raise Malformed("icmpv6", "message shorter than 8 bytes")
    except BadChecksum:
        mib["Icmp6InCsumErrors"] += 1
        mib["Icmp6InErrors"] += 1
        kfree_skb(skb, SkbDropReason.ICMP_CSUM)
        return 1
    except Malformed:
        mib["Icmp6InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    itype = view[0]
    mib[MSG_IN[itype]] += 1
    name = MIB_IN.get(itype)
    if name is not None:
        mib[name] += 1
    if itype == ICMPV6_ECHO_REQUEST:
        _echo_reply(net, skb, view, saddr, daddr)
    elif itype == ICMPV6_ECHO_REPLY:
        net.ping_table.rcv(skb, U16.unpack_from(view, 4)[0])  # ping_rcv (stack/ipv6/ping.py)
    elif itype in ND_TYPES:
        return net.ipv6.ndisc_rcv(net, skb, view)
    elif icmpv6_is_err(itype):
        return _icmpv6_notify(net, skb, view, itype, saddr)
    consume_skb(skb)  # MLD queries and reports: counted (no multicast routing, no snooping)
    return 0


def _echo_reply(net: Any, skb: SkBuff, view: memoryview, saddr: bytes, daddr: bytes) -> None:
    """icmpv6_echo_reply: same identifier, sequence and data, back to the sender."""
    if saddr == IN6ADDR_ANY or ipv6_addr_is_multicast(saddr):
        return
    src = None if ipv6_addr_is_multicast(daddr) else daddr
    oif = skb.dev if skb.dev is not None and not skb.dev.flags & IFF_LOOPBACK else None
    tclass = (U32.unpack_from(skb.head, skb.network_header)[0] >> 20) & 0xFF
    icmp6_xmit(
        net,
        Icmpv6Repr(ICMPV6_ECHO_REPLY, 0, U32.unpack_from(view, 4)[0], bytes(view[ICMPV6_HLEN:])),
        Flow6(src, saddr, IPPROTO_ICMPV6, tclass, oif=oif),
    )


def _icmpv6_notify(net: Any, skb: SkBuff, view: memoryview, itype: int, offender: bytes) -> int:
    """An error about something we sent: PMTU first, then ping(8) and the protocol."""
    mib = net.mib.icmp6
    code = view[1]
    info = U32.unpack_from(view, 4)[0]
    try:
        inner = Ipv6Packet.checked(view[ICMPV6_HLEN:], quoted=True)
        qip = Ipv6Repr.parse(inner)
    except Malformed:
        mib["Icmp6InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    ipv6 = net.ipv6
    if itype == ICMPV6_PKT_TOOBIG and ipv6.fib.is_local(qip.saddr):
        ipv6.fib.update_pmtu(qip.daddr, info)
    ql4 = view[ICMPV6_HLEN + IPV6_HLEN :]
    nexthdr, ql4 = ipv6.skip_exthdr(qip.nexthdr, ql4)
    ipv6.icmp.err_src = offender
    handler = ipv6.err_handlers.get(nexthdr)
    if handler is not None and len(ql4) >= 8:
        handler(net, qip, ql4, itype, code, info)
    if ipv6.raw.socks:  # raw6_icmp_error
        ipv6.raw.icmp_error6(nexthdr, qip, ql4, view[ICMPV6_HLEN:], itype, code, info, offender)
    consume_skb(skb)
    return 0
