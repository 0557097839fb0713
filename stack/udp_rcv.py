"""UDP receive: datagrams and ICMP errors from IPv4 to their sockets.

Mirrors Linux's ``net/ipv4/udp.c`` receive side: ``__udp4_lib_rcv`` (``udp_rcv``, the
protocol handler in ``net.inet_protos[17]``: length and checksum checks, the socket lookup in
:mod:`stack.udp_table`, ICMP port unreachable when none matches), ``__udp4_lib_mcast_deliver``
(``udp_deliver`` with ``many``: a copy to every matching socket, shared with IPv6) and
``__udp4_lib_err`` (``udp_err``: an ICMP error about a datagram we sent, to ``sk_err`` and,
with IP_RECVERR, the error queue).

Counters (``net.mib.udp``): InErrors for short/bad lengths, InCsumErrors + InErrors for a bad
checksum (0 means none, RFC 768), NoPorts + ICMP port unreachable when no socket matches,
IgnoredMulti for broadcasts nobody wanted.  Deliberate deviation: the checksum is verified
here rather than at copy time.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY
from stack.ipv4.icmp import ICMP_ERR_CONVERT, icmp_send
from stack.ipv4.sockglue import (
    ip_icmp_error,
)
from stack.sock import (
    EPOLLERR,
)
from stack.uapi import (
    IP_PMTUDISC_DONT,
)
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    ICMP_PARAMETERPROB,
    ICMP_PORT_UNREACH,
    ICMP_TIME_EXCEEDED,
)
from stack.wire.layout import U16
from stack.wire.udp import UDP, UDP_HLEN, UdpPacket

if TYPE_CHECKING:
    from stack.core import SkBuff
    from stack.udp_table import UdpTable
    from stack.wire.ipv4 import Ipv4Repr


_HDR = UDP.struct


def udp_rcv(net: Any, skb: SkBuff) -> int:
    """__udp4_lib_rcv: ``skb.data`` at the UDP header (see the module docstring)."""
    mib = net.mib.udp
    head = skb.head
    data = skb.data
    nh = skb.network_header
    src = bytes(head[nh + 12 : nh + 16])
    dst = bytes(head[nh + 16 : nh + 20])
    verify = skb.ip_summed != CHECKSUM_UNNECESSARY and skb.ip_summed != CHECKSUM_PARTIAL
    try:
        UdpPacket.checked(
            memoryview(head)[data : skb.tail], src if verify else None, dst if verify else None
        )
    except BadChecksum:
        mib["InCsumErrors"] += 1
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.UDP_CSUM)
        return 1
    except Malformed:
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    sport, dport, ulen, _ = _HDR.unpack_from(head, data)
    skb.tail = data + ulen
    skb.transport_header = data
    skb.data = data + UDP_HLEN
    if udp_deliver(net, skb, src, sport, dst, dport, bool(skb.cb.get("rt_bcast"))):
        return 0
    icmp_send(net, skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH)
    kfree_skb(skb, SkbDropReason.NO_SOCKET)
    return 1


def udp_deliver(
    net: Any, skb: SkBuff, src: bytes, sport: int, dst: bytes, dport: int, many: bool
) -> bool:
    """Queue a checked datagram (``skb.data`` at its payload) on its socket, or a copy on
    every matching one when ``many`` (broadcast/multicast: ``__udp4_lib_mcast_deliver`` and
    its IPv6 twin); False, with NoPorts counted and ``skb`` still the caller's, when no
    socket wants a unicast one (the caller answers port unreachable in its family)."""
    mib = net.mib.udp
    table: UdpTable = net.udp
    if many:
        socks = table.lookup_all(src, sport, dst, dport, skb.dev)
        if not socks:
            mib["IgnoredMulti"] += 1
            consume_skb(skb)
            return True
        for sk in socks[:-1]:
            sk.queue_rcv(skb.clone())
        socks[-1].queue_rcv(skb)
        return True
    sk = table.lookup(src, sport, dst, dport, skb.dev)
    if sk is None:
        mib["NoPorts"] += 1
        return False
    sk.queue_rcv(skb)
    return True


def udp_err(net: Any, iph: Ipv4Repr, l4: memoryview, itype: int, code: int, info: int) -> None:
    """__udp4_lib_err: an ICMP error about a datagram we sent; tell its socket."""
    sport, dport = U16.unpack_from(l4, 0)[0], U16.unpack_from(l4, 2)[0]
    sk = net.udp.lookup(iph.dst, dport, iph.src, sport, None)
    if sk is None:
        net.mib.icmp["InErrors"] += 1
        return
    harderr = False
    if itype == ICMP_TIME_EXCEEDED:
        err = errno.EHOSTUNREACH
    elif itype == ICMP_PARAMETERPROB:
        err, harderr = errno.EPROTO, True
    elif itype == ICMP_DEST_UNREACH:
        if code == ICMP_FRAG_NEEDED:
            sk.dst = None
            if sk.pmtudisc == IP_PMTUDISC_DONT:
                return
            err, harderr = errno.EMSGSIZE, True
        elif code < len(ICMP_ERR_CONVERT):
            err, harderr = ICMP_ERR_CONVERT[code]
        else:
            err = errno.EHOSTUNREACH
    else:
        return  # source quench, redirect
    if sk.recverr:
        ip_icmp_error(
            sk, err, itype, code, info, net.icmp.err_src, iph.dst, dport, bytes(l4[UDP_HLEN:])
        )
    elif not harderr or sk.daddr is None:
        return
    sk.sk_err = err
    sk.wake(EPOLLERR)
