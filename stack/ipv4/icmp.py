"""ICMP for IPv4: receive (echo, errors to sockets, PMTU), error generation, rate limiting.

Mirrors Linux's ``net/ipv4/icmp.c``: ``icmp_rcv`` and its handlers (``icmp_echo``,
``icmp_unreach``, ``icmp_timestamp``, ``ping_rcv`` from ``ping.c``), ``__icmp_send`` with its
refusals (nothing about an ICMP error or an unknown ICMP type, a non-first fragment, a packet to
or from a broadcast/multicast address, a frame not addressed to our MAC), the global token
bucket (``icmp_global_allow``: ``icmp_msgs_per_sec``/``icmp_msgs_burst``) and the per-destination
limit (``icmpv4_xrlim_allow`` + ``inet_peer_xrlim_allow``: ``icmp_ratelimit`` ms, burst of 6),
both only for the types in ``icmp_ratemask`` and never for "fragmentation needed" or loopback.

Contract:
- ``icmp_send(net, skb_in, type, code, info=0)``: an error about ``skb_in`` (its IPv4 header at
  ``skb_in.network_header``); ``info`` is the rest-of-header word (the MTU for
  ICMP_FRAG_NEEDED, ``pointer << 24`` for a parameter problem).  The quote is as much of the
  datagram as fits in 576 bytes (RFC 1812 §4.3.2.3).
- Errors received are matched to sockets through ``net.err_handlers[quoted protocol](net,
  quoted_iph: Ipv4Repr, quoted_l4: memoryview (>= 8 bytes), type, code, info)``;
  ``net.icmp.err_src`` holds the error's sender during the call.  "Fragmentation needed" first
  updates the FIB's PMTU for the quoted destination (Linux does it in each protocol's handler;
  done once here, deliberately).  :data:`ICMP_ERR_CONVERT` is Linux's ``icmp_err_convert``.
- Echo replies are offered to the ping sockets, ``net.ping_table.rcv(skb, ident)``
  (``stack/ping.py``, Linux's ``ping_rcv``); errors about our echo requests reach them
  through IPPROTO_ICMP's error handler, ``ping_err``, like any protocol's.  Every ICMP
  message delivered here was first copied to the IPPROTO_ICMP raw sockets by IP
  (``stack/raw.py``), and errors are also offered to the raw sockets of the quoted protocol
  (``raw_icmp_error``).
- Counters with Linux's names: Icmp InMsgs InErrors InCsumErrors In<type>s OutMsgs OutErrors
  OutRateLimitGlobal OutRateLimitHost Out<type>s; IcmpMsg InType<n>/OutType<n>.
- Deliberate omissions: redirects are counted and ignored, no address-mask replies.

Spec: RFC 792; RFC 1122 §3.2.2; RFC 1191 §4; RFC 1812 §4.3.2.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, PACKET_HOST, alloc_skb, consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY
from stack.core.units import NS_PER_MS, NS_PER_S
from stack.inetpeer import InetPeers
from stack.ipv4.output import MAX_HEADER, ip_send
from stack.ipv4.route import RTN_LOCAL, RTN_UNICAST, Route, route_output
from stack.uapi import IPTOS_TOS_MASK
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMP_ERROR_TYPES,
    ICMP_EXC_FRAGTIME,
    ICMP_FRAG_NEEDED,
    ICMP_PARAMETERPROB,
    ICMP_SOURCE_QUENCH,
    ICMP_TIME_EXCEEDED,
    ICMP_TIMESTAMP,
    ICMP_TIMESTAMPREPLY,
    IcmpPacket,
    IcmpRepr,
    parse_quoted,
)
from stack.wire.ipv4 import (
    INADDR_ANY,
    IPPROTO_ICMP,
    ipv4_is_lbcast,
    ipv4_is_multicast,
    ipv4_is_zeronet,
)
from stack.wire.layout import U16, U32

if TYPE_CHECKING:
    from stack.core import SkBuff

NR_ICMP_TYPES = 18
NR_ICMP_UNREACH = 15
ICMP_ADDRESS = 17
ICMP_ADDRESSREPLY = 18
IPTOS_PREC_INTERNETCONTROL = 0xC0
ICMP_ROOM = 576  # RFC 1812: an error is at most 576 bytes
_ICMP_HLEN = 8

_NAMES = {
    0: "EchoReps", 3: "DestUnreachs", 4: "SrcQuenchs", 5: "Redirects", 8: "Echos",
    11: "TimeExcds", 12: "ParmProbs", 13: "Timestamps", 14: "TimestampReps", 17: "AddrMasks",
    18: "AddrMaskReps",
}  # fmt: skip
MIB_IN = {t: "In" + n for t, n in _NAMES.items()}
MIB_OUT = {t: "Out" + n for t, n in _NAMES.items()}
MSG_IN = tuple(f"InType{t}" for t in range(256))
MSG_OUT = tuple(f"OutType{t}" for t in range(256))

# icmp_err_convert: (errno, fatal) per ICMP_DEST_UNREACH code.
ICMP_ERR_CONVERT = (
    (errno.ENETUNREACH, False), (errno.EHOSTUNREACH, False), (errno.ENOPROTOOPT, True),
    (errno.ECONNREFUSED, True), (errno.EMSGSIZE, False), (errno.EOPNOTSUPP, False),
    (errno.ENETUNREACH, True), (errno.EHOSTDOWN, True), (errno.ENONET, True),
    (errno.ENETUNREACH, True), (errno.EHOSTUNREACH, True), (errno.ENETUNREACH, False),
    (errno.EHOSTUNREACH, False), (errno.EHOSTUNREACH, True), (errno.EHOSTUNREACH, True),
    (errno.EHOSTUNREACH, True),
)  # fmt: skip


class IcmpState:
    """Per-namespace ICMP state (``net.icmp``): the rate limiters."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.credit = net.sysctl.icmp_msgs_burst
        self.stamp = net.sched.now
        self.peers = InetPeers()  # per-destination token buckets
        self.err_src = INADDR_ANY

    def send(self, skb_in: SkBuff, itype: int, code: int, info: int = 0) -> None:
        """icmp_send for the layer below: IP output reaches ICMP through ``net.icmp``."""
        icmp_send(self.net, skb_in, itype, code, info)

    def global_allow(self) -> bool:
        """icmp_global_allow: the namespace-wide token bucket."""
        sysctl = self.net.sysctl
        now = self.net.sched.now
        delta = min(now - self.stamp, NS_PER_S)
        incr = 0
        if delta > NS_PER_S // 50:
            incr = sysctl.icmp_msgs_per_sec * delta // NS_PER_S
            if incr:
                self.stamp = now
        credit = min(self.credit + incr, sysctl.icmp_msgs_burst)
        ok = credit > 0
        if ok:
            credit -= 1
        self.credit = credit
        return ok

    def peer_allow(self, daddr: bytes) -> bool:
        """inet_peer_xrlim_allow: at most one message per icmp_ratelimit, bursts of six."""
        timeout = self.net.sysctl.icmp_ratelimit_ms * NS_PER_MS
        if timeout <= 0:
            return True
        return self.peers.xrlim_allow(daddr, timeout, self.net.sched.now)


def icmp_out_count(net: Any, itype: int) -> None:
    """icmp_out_count: one ICMP message of ``itype`` sent (OutMsgs, Out<type>s, OutType<n>)."""
    mib = net.mib.icmp
    mib["OutMsgs"] += 1
    name = MIB_OUT.get(itype)
    if name is not None:
        mib[name] += 1
    net.mib.icmpmsg[MSG_OUT[itype]] += 1


def _masked(net: Any, itype: int, code: int) -> bool:
    """icmpv4_mask_allow's complement: is this type subject to rate limiting?"""
    if itype > NR_ICMP_TYPES or not (1 << itype) & net.sysctl.icmp_ratemask:
        return False
    return not (itype == ICMP_DEST_UNREACH and code == ICMP_FRAG_NEEDED)


def _icmp_xmit(net: Any, rt: Route, saddr: bytes, daddr: bytes, msg: IcmpRepr,
               tos: int) -> None:
    """icmp_push_reply: one ICMP message to ``daddr`` over ``rt``."""
    skb = alloc_skb(net.kernel, MAX_HEADER + _ICMP_HLEN + len(msg.data))
    skb.reserve(MAX_HEADER)
    off = skb.put(_ICMP_HLEN + len(msg.data))
    msg.emit(skb.head, off)
    skb.transport_header = off
    icmp_out_count(net, msg.type)
    if ip_send(net, skb, saddr, daddr, IPPROTO_ICMP, tos=tos, rt=rt) < 0:
        net.mib.icmp["OutErrors"] += 1


def icmp_send(net: Any, skb_in: SkBuff, itype: int, code: int, info: int = 0) -> None:
    """__icmp_send: an ICMP error about ``skb_in`` to its sender (see the module docstring)."""
    head = skb_in.head
    nh = skb_in.network_header
    tail = skb_in.tail
    if nh < 0 or nh + 20 > tail or skb_in.pkt_type != PACKET_HOST:
        return
    ihl = (head[nh] & 0x0F) << 2
    if head[nh] >> 4 != 4 or ihl < 20 or nh + ihl > tail:
        return
    src = bytes(head[nh + 12 : nh + 16])
    dst = bytes(head[nh + 16 : nh + 20])
    fib = net.fib
    dst_type = fib.addr_type(dst)
    if dst_type not in (RTN_LOCAL, RTN_UNICAST) or skb_in.cb.get("rt_bcast"):
        return  # no replies to broadcast or multicast destinations
    if U16.unpack_from(head, nh + 6)[0] & 0x1FFF:
        return  # only about fragment 0
    if itype in ICMP_ERROR_TYPES and head[nh + 9] == IPPROTO_ICMP:
        if nh + ihl >= tail:
            return
        inner = head[nh + ihl]
        if inner > NR_ICMP_TYPES or inner in ICMP_ERROR_TYPES:
            return  # never an error about an error
    if ipv4_is_zeronet(src) or ipv4_is_lbcast(src) or ipv4_is_multicast(src) \
            or fib.is_broadcast(src):
        return  # RFC 1122 §3.2.2: the source must be a unicast host
    masked = _masked(net, itype, code)
    dev_in = skb_in.dev
    state: IcmpState = net.icmp
    if masked and not (dev_in is not None and dev_in.flags & IFF_LOOPBACK) \
            and not state.global_allow():
        net.mib.icmp["OutRateLimitGlobal"] += 1
        return
    try:
        rt = route_output(net, src, dst if dst_type == RTN_LOCAL else None)
    except OSError:
        return
    if masked and not rt.dev.flags & IFF_LOOPBACK and not state.peer_allow(src):
        net.mib.icmp["OutRateLimitHost"] += 1
        return
    room = min(rt.mtu, ICMP_ROOM) - 20 - _ICMP_HLEN
    quote = bytes(head[nh : nh + min(tail - nh, room)])
    tos = (head[nh + 1] & IPTOS_TOS_MASK) | IPTOS_PREC_INTERNETCONTROL
    _icmp_xmit(net, rt, rt.src, src, IcmpRepr(itype, code, info & 0xFFFFFFFF, quote), tos)


# -- receive ---------------------------------------------------------------------------------------
def icmp_rcv(net: Any, skb: SkBuff) -> int:
    """The IPPROTO_ICMP handler: ``skb.data`` at the ICMP header."""
    mib = net.mib.icmp
    mib["InMsgs"] += 1
    view = memoryview(skb.head)[skb.data : skb.tail]
    verify = skb.ip_summed not in (CHECKSUM_UNNECESSARY, CHECKSUM_PARTIAL)
    try:
        IcmpPacket.checked(view, verify_checksum=verify)
    except BadChecksum:
        mib["InCsumErrors"] += 1
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.ICMP_CSUM)
        return 1
    except Malformed:
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    itype = view[0]
    net.mib.icmpmsg[MSG_IN[itype]] += 1
    name = MIB_IN.get(itype)
    if name is not None:
        mib[name] += 1
    if itype > NR_ICMP_TYPES:
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.UNHANDLED_PROTO)
        return 1
    if skb.cb.get("rt_bcast"):
        if (itype in (ICMP_ECHO, ICMP_TIMESTAMP) and net.sysctl.icmp_echo_ignore_broadcasts) \
                or itype not in (ICMP_ECHO, ICMP_TIMESTAMP, ICMP_ADDRESS, ICMP_ADDRESSREPLY):
            mib["InErrors"] += 1
            kfree_skb(skb, SkbDropReason.INVALID_PROTO)
            return 1
    if itype == ICMP_ECHO:
        _icmp_echo(net, skb, view)
    elif itype == ICMP_ECHOREPLY:
        net.ping_table.rcv(skb, U16.unpack_from(view, 4)[0])  # ping_rcv (stack/ping.py)
    elif itype in (ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB,
                   ICMP_SOURCE_QUENCH):
        return _icmp_unreach(net, skb, view, itype)
    elif itype == ICMP_TIMESTAMP:
        _icmp_timestamp(net, skb, view)
    consume_skb(skb)
    return 0


def _reply_source(net: Any, skb: SkBuff) -> bytes | None:
    """fib_compute_spec_dst: answer from the address asked, or the interface's for broadcasts."""
    dst = bytes(skb.head[skb.network_header + 16 : skb.network_header + 20])
    return dst if net.fib.is_local(dst) else None


def _icmp_reply(net: Any, skb: SkBuff, msg: IcmpRepr) -> None:
    """icmp_reply: answer the sender of ``skb`` (rate limited like any masked type)."""
    nh = skb.network_header
    src = bytes(skb.head[nh + 12 : nh + 16])
    try:
        rt = route_output(net, src, _reply_source(net, skb))
    except OSError:
        return
    if _masked(net, msg.type, msg.code) and not rt.dev.flags & IFF_LOOPBACK \
            and not net.icmp.peer_allow(src):
        net.mib.icmp["OutRateLimitHost"] += 1
        return
    _icmp_xmit(net, rt, rt.src, src, msg, skb.head[nh + 1])


def _icmp_echo(net: Any, skb: SkBuff, view: memoryview) -> None:
    if net.sysctl.icmp_echo_ignore_all:
        return
    _icmp_reply(net, skb, IcmpRepr(ICMP_ECHOREPLY, 0, U32.unpack_from(view, 4)[0],
                                   bytes(view[_ICMP_HLEN:])))


def _icmp_timestamp(net: Any, skb: SkBuff, view: memoryview) -> None:
    """icmp_timestamp: originate copied, receive = transmit = ms since midnight UT."""
    if len(view) < _ICMP_HLEN + 12:
        net.mib.icmp["InErrors"] += 1
        return
    ms = (net.sched.now // NS_PER_MS) % 86_400_000
    body = bytes(view[8:12]) + ms.to_bytes(4, "big") * 2
    _icmp_reply(net, skb, IcmpRepr(ICMP_TIMESTAMPREPLY, 0, U32.unpack_from(view, 4)[0], body))


def _icmp_unreach(net: Any, skb: SkBuff, view: memoryview, itype: int) -> int:
    """icmp_unreach: an error about something we sent; PMTU, then the protocol's handler."""
    mib = net.mib.icmp
    code = view[1]
    info = 0
    try:
        qiph, ql4 = parse_quoted(view[_ICMP_HLEN:])
    except Malformed:
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    if itype == ICMP_DEST_UNREACH:
        if code > NR_ICMP_UNREACH:
            consume_skb(skb)
            return 0
        if code == ICMP_FRAG_NEEDED:
            info = U16.unpack_from(view, 6)[0]
    elif itype == ICMP_PARAMETERPROB:
        info = view[4]
    elif itype == ICMP_TIME_EXCEEDED and code == ICMP_EXC_FRAGTIME:
        consume_skb(skb)
        return 0
    if len(ql4) < 8:
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    if net.fib.is_broadcast(qiph.dst) or ipv4_is_lbcast(qiph.dst):
        consume_skb(skb)  # an error about a broadcast: bogus (icmp_ignore_bogus...)
        return 0
    if itype == ICMP_DEST_UNREACH and code == ICMP_FRAG_NEEDED and net.fib.is_local(qiph.src):
        net.fib.update_pmtu(qiph.dst, info)
    raw = net.raw.socks
    handler = net.err_handlers.get(qiph.proto)
    if raw or handler is not None:
        nh = skb.network_header
        net.icmp.err_src = bytes(skb.head[nh + 12 : nh + 16])  # the offender, for errqueues
        try:
            if raw:  # icmp_socket_deliver: raw_icmp_error, then the protocol's handler
                net.raw.icmp_error(qiph, itype, code, info, view[_ICMP_HLEN:], ql4)
            if handler is not None:
                handler(net, qiph, ql4, itype, code, info)
        finally:
            net.icmp.err_src = INADDR_ANY
    consume_skb(skb)
    return 0

