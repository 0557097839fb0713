"""IPPROTO_IPV6 socket options and ancillary data (Linux's ``net/ipv6/ipv6_sockglue.c``,
``datagram.c``'s ``ip6_datagram_recv_ctl``).

Every AF_INET6 socket (TCP, UDP) keeps ``struct ipv6_pinfo``'s fields on its :class:`Sock`
(``ipv6only``, ``hop_limit``, ``tclass``, ``rxopt``); this module is the one handler of the
options that set them, for every protocol:

- IPV6_V6ONLY: only while the socket has no local port (``inet_num``), else EINVAL.
- IPV6_UNICAST_HOPS: -1 (the route's hop limit) or 1..255, else EINVAL; reads back the
  route's default (``net.ipv6.conf.all.hop_limit``) while unset.
- IPV6_TCLASS: -1 (0) or 0..255, else EINVAL; the traffic class of every packet sent.
- IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS: ``np->rxopt`` bits; a UDP socket's
  ``recvmsg`` then carries IPV6_PKTINFO (``struct in6_pktinfo``: address, ifindex),
  IPV6_HOPLIMIT and IPV6_TCLASS (ints), in that order, as ``ip6_datagram_recv_ctl`` emits them.

Any other IPPROTO_IPV6 option is ENOPROTOOPT (not modelled: multicast options, IPV6_MTU,
IPV6_RECVERR, sticky extension headers, ...), the parity rule.
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from stack.sock import oserror
from stack.uapi import (
    IPV6_HOPLIMIT,
    IPV6_PKTINFO,
    IPV6_RECVHOPLIMIT,
    IPV6_RECVPKTINFO,
    IPV6_RECVTCLASS,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    SOL_IPV6,
)
from stack.wire.ipv6 import IPV6, ipv6_addr_is_linklocal, ipv6_addr_is_multicast

if TYPE_CHECKING:
    from stack.core import SkBuff

# np->rxopt bits (struct ipv6_pinfo's rxopt.bits), in ip6_datagram_recv_ctl's order
RXOPT_PKTINFO = 1
RXOPT_HOPLIMIT = 2
RXOPT_TCLASS = 4
_RXOPTS = {
    IPV6_RECVPKTINFO: RXOPT_PKTINFO,
    IPV6_RECVHOPLIMIT: RXOPT_HOPLIMIT,
    IPV6_RECVTCLASS: RXOPT_TCLASS,
}
IN6_PKTINFO = struct.Struct("=16sI")  # struct in6_pktinfo: ipi6_addr, ipi6_ifindex
_INT = struct.Struct("=i")
_SADDR = IPV6.offset("saddr")
_DADDR = IPV6.offset("daddr")
_HOP_LIMIT = IPV6.offset("hop_limit")


def _is_bound(sk: Any) -> bool:
    return bool(getattr(sk, "num", 0) or getattr(sk, "lport", 0))


def ipv6_setsockopt(sk: Any, option: int, value: Any) -> None:
    """``do_ipv6_setsockopt`` for the options above."""
    val = int(value)
    if option == IPV6_V6ONLY:
        if _is_bound(sk):
            raise oserror(errno.EINVAL)
        sk.ipv6only = bool(val)
    elif option == IPV6_UNICAST_HOPS:
        if val > 255 or val < -1:
            raise oserror(errno.EINVAL)
        sk.hop_limit = None if val == -1 else val
    elif option == IPV6_TCLASS:
        if val > 255 or val < -1:
            raise oserror(errno.EINVAL)
        sk.tclass = 0 if val == -1 else val
    elif option in _RXOPTS:
        bit = _RXOPTS[option]
        sk.rxopt = sk.rxopt | bit if val else sk.rxopt & ~bit
    else:
        raise oserror(errno.ENOPROTOOPT)


def ipv6_getsockopt(sk: Any, option: int) -> int:
    """``do_ipv6_getsockopt`` for the options above."""
    if option == IPV6_V6ONLY:
        return int(sk.ipv6only)
    if option == IPV6_UNICAST_HOPS:
        if sk.hop_limit is not None:
            return sk.hop_limit
        return sk.net.sysctl.ipv6_conf_all.hop_limit
    if option == IPV6_TCLASS:
        return sk.tclass
    if option in _RXOPTS:
        return int(bool(sk.rxopt & _RXOPTS[option]))
    raise oserror(errno.ENOPROTOOPT)


def ip6_datagram_scope(sk: Any, addr: bytes, scope_id: int, bind: bool = False) -> Any:
    """The interface a link-local (or link-scope multicast) ``addr`` is meant on: the
    ``scope_id`` binds the socket to it (``sk_bound_dev_if``), as ``__inet6_bind`` and
    ``ip6_datagram_connect``/``tcp_v6_connect`` do; EINVAL when it names another interface
    than the socket's, or when no interface is known.  Other addresses: the socket's device."""
    if not ipv6_addr_needs_scope_id(addr):
        return sk.bound_dev_if
    net = sk.net
    if scope_id:
        dev = net.kernel.dev_get_by_index(scope_id)
        if dev is None:
            raise oserror(errno.ENODEV if bind else errno.EINVAL)
        if sk.bound_dev_if is not None and sk.bound_dev_if is not dev:
            raise oserror(errno.EINVAL)
        sk.bound_dev_if = dev
    if sk.bound_dev_if is None:
        raise oserror(errno.EINVAL)
    return sk.bound_dev_if


def ip6_bind_check(sk: Any, addr: bytes, scope_id: int) -> None:
    """``__inet6_bind``'s address rules for a 16-byte address (not v4-mapped)."""
    if addr == bytes(16):
        return
    net = sk.net
    dev = ip6_datagram_scope(sk, addr, scope_id, bind=True)
    if ipv6_addr_is_multicast(addr):
        return
    ipv6 = net.ipv6
    local = ipv6.fib.is_local(addr)
    if dev is not None:
        idev = ipv6.idev(dev)
        local = idev is not None and any(ifa.addr == addr for ifa in idev.addrs)
    if not local and not net.sysctl.ip_nonlocal_bind:
        raise oserror(errno.EADDRNOTAVAIL)


def ipv6_addr_needs_scope_id(addr: bytes) -> bool:
    """``__ipv6_addr_needs_scope_id``: link-local unicast, and interface/link-local
    multicast."""
    if ipv6_addr_is_linklocal(addr):
        return True
    return addr[0] == 0xFF and addr[1] & 0x0F in (1, 2)


# icmpv6_err_convert's tab_unreach[] (net/ipv6/icmp.c): code -> (errno, fatal)
ICMPV6_UNREACH_ERR = (
    (errno.ENETUNREACH, False),  # NOROUTE
    (errno.EACCES, True),  # ADM_PROHIBITED
    (errno.EHOSTUNREACH, False),  # NOT_NEIGHBOUR (beyond scope)
    (errno.EHOSTUNREACH, False),  # ADDR_UNREACH
    (errno.ECONNREFUSED, True),  # PORT_UNREACH
    (errno.EACCES, True),  # POLICY_FAIL
    (errno.EACCES, True),  # REJECT_ROUTE
)
ICMPV6_DEST_UNREACH = 1
ICMPV6_PKT_TOOBIG = 2
ICMPV6_TIME_EXCEED = 3
ICMPV6_PARAMPROB = 4


def icmpv6_err_convert(itype: int, code: int) -> tuple[int, bool] | None:
    """``icmpv6_err_convert``: the errno and whether it is fatal; None for other types."""
    if itype == ICMPV6_DEST_UNREACH:
        return ICMPV6_UNREACH_ERR[code] if code < len(ICMPV6_UNREACH_ERR) else None
    if itype == ICMPV6_PKT_TOOBIG:
        return errno.EMSGSIZE, False
    if itype == ICMPV6_PARAMPROB:
        return errno.EPROTO, True
    if itype == ICMPV6_TIME_EXCEED:
        return errno.EHOSTUNREACH, False
    return None


def ip6_datagram_recv_ctl(sk: Any, skb: SkBuff) -> list[tuple[int, int, bytes]]:
    """The cmsgs ``np->rxopt`` asks for about ``skb`` (its IPv6 header at network_header)."""
    head = skb.head
    nh = skb.network_header
    out: list[tuple[int, int, bytes]] = []
    rxopt = sk.rxopt
    if rxopt & RXOPT_PKTINFO:
        dev = skb.dev
        out.append(
            (
                SOL_IPV6,
                IPV6_PKTINFO,
                IN6_PKTINFO.pack(
                    bytes(head[nh + _DADDR : nh + _DADDR + 16]),
                    dev.ifindex if dev is not None else 0,
                ),
            )
        )
    if rxopt & RXOPT_HOPLIMIT:
        out.append((SOL_IPV6, IPV6_HOPLIMIT, _INT.pack(head[nh + _HOP_LIMIT])))
    if rxopt & RXOPT_TCLASS:
        tclass = ((head[nh] & 0x0F) << 4) | (head[nh + 1] >> 4)
        out.append((SOL_IPV6, IPV6_TCLASS, _INT.pack(tclass)))
    return out


def ip6_saddr(skb: SkBuff) -> bytes:
    nh = skb.network_header
    return bytes(skb.head[nh + _SADDR : nh + _SADDR + 16])


def ip6_daddr(skb: SkBuff) -> bytes:
    nh = skb.network_header
    return bytes(skb.head[nh + _DADDR : nh + _DADDR + 16])
