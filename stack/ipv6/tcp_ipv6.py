"""TCP over IPv6 (Linux's ``net/ipv6/tcp_ipv6.c``): the AF_INET6 stream socket, ``tcp_v6_rcv``
and ``tcp_v6_err``.

One TCP serves both families (``stack.tcp``): the hashes, the state machine, the timers and
the output path are shared, and ``stack.tcp.hashtables.TcpTable`` sends a segment with 16-byte
addresses through ``ip6_xmit`` (traffic class and hop limit from the socket) and routes it with
``route_output6``.  What this module adds is what ``tcp_ipv6.c`` adds:

- :class:`Tcp6Sock` (``tcpv6_prot``): ``bind`` and ``connect`` with IPv6 addresses, scope ids
  and v4-mapped addresses.  A v4-mapped peer makes the connection an IPv4 one (Linux's
  ``ipv6_mapped`` ops: ``tcp_v4_connect``) whose kernel addresses are 4 bytes; the socket
  layer shows them as ``::ffff:a.b.c.d``.  With IPV6_V6ONLY such a connect is ENETUNREACH and
  such a bind EINVAL.  A link-local address needs a scope: the ``scope_id`` of the address
  binds the socket to that interface (``sk_bound_dev_if``); without one, and without
  SO_BINDTODEVICE, bind and connect are EINVAL, as Linux.
- The MSS of an IPv6 connection is the path MTU less 60 (``net_header_len`` 40), at least
  1220 advertised (``ip6_default_advmss``).
- ``tcp_v6_rcv``: the addresses from the IPv6 header, then ``stack.tcp.table.tcp_rcv``; the
  checksum is verified over the IPv6 pseudo-header (RFC 8200 §8.1).
- ``tcp_v6_err``: ICMPv6 errors quoting our segments; Packet Too Big lowers the MSS
  (``tcp_v6_mtu_reduced``), unreachable/time exceeded/parameter problem set the error as
  ``icmpv6_err_convert`` says.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core.skbfrag import skb_linearize
from stack.ipv4.route import RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST
from stack.ipv6.sockglue import (
    ICMPV6_PKT_TOOBIG,
    icmpv6_err_convert,
    ip6_bind_check,
    ip6_datagram_scope,
    ipv6_getsockopt,
    ipv6_setsockopt,
)
from stack.sock import SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK, oserror
from stack.tcp import ops
from stack.tcp.close import tcp_done
from stack.tcp.minisocks import RequestSock
from stack.tcp.sock import TcpSock
from stack.tcp.state import CLOSED, LISTEN, SYN_RECEIVED, SYN_SENT, TIME_WAIT
from stack.tcp.table import _L4, _mtu_reduced, _unwrap, tcp_rcv
from stack.uapi import AF_INET6, SOL_IPV6
from stack.wire.ipv4 import INADDR_ANY
from stack.wire.ipv6 import IPV6, ipv6_addr_is_multicast, ipv6_addr_is_v4mapped

if TYPE_CHECKING:
    from stack.core import SkBuff

_SADDR = IPV6.offset("saddr")
_DADDR = IPV6.offset("daddr")
IPV6_MIN_MTU = 1280


def v4_mapped(addr: bytes) -> bytes:
    """The IPv4 address of ``::ffff:a.b.c.d`` (the kernel form of a v4-mapped address)."""
    return addr[12:] if ipv6_addr_is_v4mapped(addr) else addr


class Tcp6Sock(TcpSock):
    """An AF_INET6 stream socket (``struct tcp6_sock``); see the module docstring."""

    family = AF_INET6

    def bind(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """``inet6_bind`` / ``__inet6_bind``."""
        if self.state != CLOSED or self.bound:
            raise oserror(errno.EINVAL)
        net = self.net
        addr = bytes(addr)
        if addr == bytes(16):
            addr = INADDR_ANY  # the wildcard of both families (stack.sock.inet_rcv_saddr_conflict)
        if len(addr) == 16 and ipv6_addr_is_v4mapped(addr):
            if self.ipv6only:
                raise oserror(errno.EINVAL)
            addr = addr[12:]
            if (
                addr != INADDR_ANY
                and not net.sysctl.ip_nonlocal_bind
                and (net.fib.addr_type(addr) not in (RTN_LOCAL, RTN_MULTICAST, RTN_BROADCAST))
            ):
                raise oserror(errno.EADDRNOTAVAIL)
        elif len(addr) == 16:
            ip6_bind_check(self, addr, scope_id)
        self.table.bind(self, addr, port)
        if addr != INADDR_ANY:
            self.userlocks |= SOCK_BINDADDR_LOCK
        if port:
            self.userlocks |= SOCK_BINDPORT_LOCK

    def connect(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """``tcp_v6_connect``: a v4-mapped peer goes the IPv4 way (``tcp_v4_connect``)."""
        addr = bytes(addr)
        if self.state == CLOSED and self.rport == 0:
            if len(addr) == 16 and ipv6_addr_is_v4mapped(addr):
                if self.ipv6only:
                    raise oserror(errno.ENETUNREACH)
                if len(self.laddr) == 16:
                    raise oserror(errno.EAFNOSUPPORT)
                addr = addr[12:]
            elif len(addr) == 16:
                if addr == bytes(16):
                    addr = bytes(15) + b"\x01"  # connect to :: means ::1 (tcp_v6_connect)
                if ipv6_addr_is_multicast(addr):
                    raise oserror(errno.ENETUNREACH)
                if len(self.laddr) == 4 and self.laddr != INADDR_ANY:
                    raise oserror(errno.EAFNOSUPPORT)  # bound to a v4-mapped address
                ip6_datagram_scope(self, addr, scope_id)
        ops.connect(self, addr, port)

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == SOL_IPV6:
            ipv6_setsockopt(self, option, value)
            return
        super().setsockopt(level, option, value)

    def getsockopt(self, level: int, option: int) -> Any:
        if level == SOL_IPV6:
            return ipv6_getsockopt(self, option)
        return super().getsockopt(level, option)


def tcp_v6_rcv(net: Any, skb: SkBuff) -> int:
    """A TCP segment from ``ip6_input``: ``skb.data`` at the TCP header (``tcp_v6_rcv``)."""
    if skb.data_len:
        skb_linearize(skb)
    head = skb.head
    nh = skb.network_header
    return tcp_rcv(
        net,
        skb,
        bytes(head[nh + _SADDR : nh + _SADDR + 16]),
        bytes(head[nh + _DADDR : nh + _DADDR + 16]),
    )


def tcp_v6_err(net: Any, qip: Any, ql4: Any, itype: int, code: int, info: int) -> None:
    """An ICMPv6 error quoting one of our segments (``tcp_v6_err``)."""
    if len(ql4) < 8:
        return
    sport, dport, seq = _L4.unpack_from(ql4, 0)
    sk = net.tcp.ehash.get((bytes(qip.saddr), sport, bytes(qip.daddr), dport))
    if sk is None:
        net.mib.icmp6["Icmp6InErrors"] += 1
        return
    if isinstance(sk, RequestSock) or sk.state in (TIME_WAIT, LISTEN):
        return
    if itype == ICMPV6_PKT_TOOBIG:
        _mtu_reduced(sk, max(info, IPV6_MIN_MTU))  # tcp_v6_mtu_reduced
        return
    if not sk.snd_una <= _unwrap(sk.snd_una, seq) <= sk.snd_nxt:
        net.mib.tcpext["OutOfWindowIcmps"] += 1
        return
    converted = icmpv6_err_convert(itype, code)
    if converted is None:
        return
    err = converted[0]
    if sk.state in (SYN_SENT, SYN_RECEIVED):
        sk.sk_err = err
        tcp_done(sk)
        sk.wake()
    elif sk.recverr:
        sk.sk_err = err
        sk.wake()
    else:
        sk.sk_err_soft = err
