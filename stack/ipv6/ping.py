"""ICMPv6 echo sockets: ``socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)`` (Linux's
``net/ipv6/ping.c`` over ``net/ipv4/ping.c``'s common code).

The socket is IPv4's :class:`stack.ping.PingSock` with ``pingv6_prot``'s IPv6 rules.  Creating
one is gated by the same ``net.ipv4.ping_group_range`` (``ping_init_sock``; EACCES by default,
root included).  Identifiers live in the one ping table IPv4 uses (``net.ping_table``, Linux's
``ping_table``): an IPv4 and an IPv6 socket may not share an identifier unless both have
SO_REUSEADDR (on by default), and ``ping_lookup`` matches the packet's family.

- ``bind``: ``::`` or a local unicast address (``ping_check_bind_addr``: multicast EINVAL, a
  link-local one needs a scope id, EINVAL, and binds the socket to that interface; a foreign
  one EADDRNOTAVAIL), and the identifier as the port.
- Send (``ping_v6_sendmsg``): an ICMPv6 echo request (type 128, code 0, at least 8 bytes, else
  EINVAL; a v4-mapped destination EINVAL); the kernel writes the identifier and the checksum
  over the IPv6 pseudo-header; IPV6_UNICAST_HOPS and IPV6_TCLASS apply; Icmp6Out counted.
- Receive (``icmpv6_rcv`` -> ``ping_rcv``): echo replies to the socket of their identifier;
  ``recvfrom`` gives the ICMPv6 message from ``(source, 0, 0, scope_id)``, with the
  IPV6_RECVHOPLIMIT / RECVPKTINFO / RECVTCLASS cmsgs (``ip6_datagram_recv_common_ctl``).
- Errors (``icmpv6_err`` -> ``ping_err``): an ICMPv6 error quoting one of our requests sets
  ``sk_err`` when IPV6_RECVERR is on (and queues it: ``recvmsg(..., MSG_ERRQUEUE)`` gives the
  quoted request, an IPV6_RECVERR cmsg with ``sock_extended_err`` of origin
  SO_EE_ORIGIN_ICMP6 and the sender's ``sockaddr_in6``), or when connected and the error is
  fatal (``icmpv6_err_convert``).

Deviations: ``connect`` to a v4-mapped address is EINVAL (Linux connects the IPv4 way and then
fails to send); IPv4 options at SOL_IP are IPv4's (accepted, no effect on IPv6 packets, as on
Linux) except IP_RECVERR/IP_RECVTTL, which do nothing here.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import alloc_skb
from stack.ipv4.sockglue import Cmsg, SockExtendedErr, ip_icmp_error, ip_recv_error
from stack.ipv6.icmp import icmp6_out_count
from stack.ipv6.output import MAX_HEADER6, Flow6, ip6_xmit
from stack.ipv6.route import route_output6
from stack.ipv6.sockglue import (
    icmpv6_err_convert,
    ip6_bind_check,
    ip6_datagram_recv_ctl,
    ip6_datagram_scope,
    ipv6_addr_needs_scope_id,
    ipv6_getsockopt,
    ipv6_setsockopt,
)
from stack.ping import ICMP_HLEN, PingSock
from stack.sock import EPOLLERR, ip_datagram_connected, oserror, recv_ip_datagram
from stack.uapi import (
    AF_INET6,
    IPPROTO_ICMPV6,
    IPV6_RECVERR,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_TRUNC,
    SO_EE_ORIGIN_ICMP6,
    SOL_IPV6,
)
from stack.wire.checksum import l4_checksum6
from stack.wire.icmpv6 import ICMPV6_ECHO_REQUEST
from stack.wire.ipv4 import INADDR_ANY
from stack.wire.ipv6 import ipv6_addr_is_multicast, ipv6_addr_is_v4mapped, ipv6_str
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import NetDevice

_MAX_LEN = 0xFFFF
_LOOPBACK6 = bytes(15) + b"\x01"


class PingV6Sock(PingSock):
    """One ICMPv6 echo socket (see the module docstring); ``num`` is its identifier."""

    family = AF_INET6
    protocol = IPPROTO_ICMPV6

    def __init__(self, net: Any) -> None:
        super().__init__(net)
        self.sk_error_queue: Any = self.errq  # ip_recv_error's queue (SockExtendedErr)
        self.recverr6 = False  # np->recverr: IPV6_RECVERR

    @property
    def bound_dev(self) -> NetDevice | None:
        return self.bound_dev_if if self.bound_dev_if is not None else super().bound_dev

    # -- binding and connecting ---------------------------------------------------------------
    def bind(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """ping_bind -> ping_check_bind_addr (module docstring)."""
        self._check_open()
        addr = bytes(addr)
        if len(addr) == 4 or addr == bytes(16):
            addr = INADDR_ANY
        elif ipv6_addr_is_multicast(addr):
            raise oserror(errno.EINVAL, "a ping socket binds to a unicast address")
        elif ipv6_addr_needs_scope_id(addr) and not scope_id:
            raise oserror(errno.EINVAL, "a link-local address needs a scope id")
        else:
            ip6_bind_check(self, addr, scope_id)
        if self.num:
            raise oserror(errno.EINVAL, "already bound")
        self.num = self.net.ping_table.get_port(self, port)
        self.rcv_saddr = self.saddr = addr
        self.daddr = None
        self.dport = 0

    def _dest(self, addr: bytes, scope_id: int) -> tuple[bytes, Any]:
        if len(addr) != 16 or ipv6_addr_is_v4mapped(addr):
            raise oserror(errno.EINVAL, "an ICMPv6 ping socket takes IPv6 destinations")
        if addr == bytes(16):
            addr = _LOOPBACK6
        oif = self.bound_dev
        if ipv6_addr_needs_scope_id(addr):
            if scope_id:
                oif = self.net.kernel.dev_get_by_index(scope_id)
            if oif is None:
                raise oserror(errno.EINVAL, "a link-local destination needs a scope id")
        return addr, oif

    def connect(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """inet_dgram_connect: autobind, then ip6_datagram_connect."""
        self._check_open()
        addr = bytes(addr)
        daddr, oif = self._dest(addr, scope_id)
        if ipv6_addr_needs_scope_id(daddr):
            oif = ip6_datagram_scope(self, daddr, scope_id)
        self._autobind()
        saddr = self.saddr if len(self.saddr) == 16 else None
        rt = route_output6(self.net, daddr, saddr, oif)
        ip_datagram_connected(self, rt, daddr, port)
        self.dst = rt

    # -- sending ------------------------------------------------------------------------------
    def sendmsg(
        self, data: bytes | memoryview, flags: int = 0, addr: tuple[Any, ...] | None = None
    ) -> int:
        """ping_v6_sendmsg (see the module docstring)."""
        self._check_open()
        size = len(data)
        if size > _MAX_LEN:
            raise oserror(errno.EMSGSIZE)
        if size < ICMP_HLEN:
            raise oserror(errno.EINVAL, "an ICMPv6 header is 8 bytes")
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if data[0] != ICMPV6_ECHO_REQUEST or data[1] != 0:
            raise oserror(errno.EINVAL, "a ping socket sends echo requests only")
        if addr is not None:
            daddr, oif = self._dest(bytes(addr[0]), addr[3] if len(addr) > 3 else 0)
            rt = None
        elif self.daddr is not None:
            daddr, oif, rt = self.daddr, self.bound_dev, self.dst
        else:
            raise oserror(errno.EDESTADDRREQ)
        self._autobind()
        net = self.net
        saddr = self.saddr if len(self.saddr) == 16 else None
        if rt is None or not net.ipv6.fib.check(rt):
            try:
                rt = route_output6(net, daddr, saddr, oif)
            except OSError as exc:
                if exc.errno == errno.ENETUNREACH:
                    net.mib.ip6["Ip6OutNoRoutes"] += 1
                raise
        saddr = saddr or rt.src
        skb = alloc_skb(net.kernel, MAX_HEADER6 + size)
        skb.reserve(MAX_HEADER6)
        off = skb.put_data(data)
        head = skb.head
        U16.pack_into(head, off + 2, 0)
        U16.pack_into(head, off + 4, self.num)
        U16.pack_into(
            head,
            off + 2,
            l4_checksum6(saddr, daddr, IPPROTO_ICMPV6, memoryview(head)[off : off + size]),
        )
        skb.transport_header = off
        skb.sk = self
        skb.priority = self.priority
        skb.mark = self.mark
        hop_limit = None if ipv6_addr_is_multicast(daddr) else self.hop_limit
        icmp6_out_count(net, ICMPV6_ECHO_REQUEST)
        ret = ip6_xmit(
            net, skb, Flow6(saddr, daddr, IPPROTO_ICMPV6, self.tclass, hop_limit, oif), rt
        )
        if ret < 0:
            raise oserror(-ret)
        return size

    # -- receiving ----------------------------------------------------------------------------
    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """ping_recvmsg: the ICMPv6 message, from ``(source, 0, 0, scope_id)``."""
        self._check_open()
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if flags & MSG_ERRQUEUE:
            data, addr, _flags, _cmsgs = ip_recv_error(self, bufsize, flags)
            return data, addr
        return recv_ip_datagram(self, bufsize, flags)

    def recvmsg_ctl(self, bufsize: int, flags: int) -> tuple[bytes, Any, int, list[Cmsg]]:
        """recvmsg(2): MSG_ERRQUEUE reads the error queue (``ipv6_recv_error``); replies carry
        the IPV6_RECV* cmsgs."""
        self._check_open()
        if flags & MSG_ERRQUEUE:
            return ip_recv_error(self, bufsize, flags)
        skb = self.rcvq[0] if self.rcvq and not self.sk_err else None
        cmsgs = ip6_datagram_recv_ctl(self, skb) if skb is not None and self.rxopt else []
        data, addr = self.recvmsg(bufsize, flags | MSG_TRUNC)
        if len(data) <= bufsize:
            return data, addr, 0, cmsgs
        return (data if flags & MSG_TRUNC else data[:bufsize]), addr, MSG_TRUNC, cmsgs

    def recvmsg_cmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, list[Cmsg], Any]:
        data, addr, _flags, cmsgs = self.recvmsg_ctl(bufsize, flags)
        return data, cmsgs, addr

    # -- ICMPv6 errors (ping_err for AF_INET6) --------------------------------------------------
    def err6(
        self, itype: int, code: int, info: int, daddr: bytes, quoted: bytes, offender: bytes
    ) -> None:
        converted = icmpv6_err_convert(itype, code)
        error, harderr = converted if converted is not None else (errno.EPROTO, False)
        if not self.recverr6:
            if not harderr or self.daddr is None:
                return
        else:  # ipv6_icmp_error
            ip_icmp_error(
                self, error, itype, code, info, offender, daddr, 0, quoted, SO_EE_ORIGIN_ICMP6
            )
        self.sk_err = error
        self.wake(EPOLLERR)

    # -- options ------------------------------------------------------------------------------
    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level != SOL_IPV6:
            super().setsockopt(level, option, value)
            return
        v = (
            int.from_bytes(bytes(value[:4]).ljust(4, b"\0"), "little", signed=True)
            if isinstance(value, bytes | bytearray)
            else int(value)
        )
        if option == IPV6_RECVERR:
            self.recverr6 = bool(v)
            if not v:
                self.errq.clear()
            return
        ipv6_setsockopt(self, option, v)

    def getsockopt(self, level: int, option: int) -> Any:
        if level != SOL_IPV6:
            return super().getsockopt(level, option)
        if option == IPV6_RECVERR:
            return int(self.recverr6)
        return ipv6_getsockopt(self, option)

    def __repr__(self) -> str:
        addr = ipv6_str(self.rcv_saddr) if len(self.rcv_saddr) == 16 else "::"
        return f"<PingV6Sock id={self.num} {addr} rcvq={len(self.rcvq)}>"


def icmpv6_err(net: Any, qip: Any, ql4: memoryview, itype: int, code: int, info: int) -> None:
    """IPPROTO_ICMPV6's error handler (``icmpv6_err``): an error quoting one of our echo
    requests goes to its ping socket (``ping_err``); the sender is ``net.ipv6.icmp.err_src``."""
    if len(ql4) < ICMP_HLEN or ql4[0] != ICMPV6_ECHO_REQUEST or ql4[1] != 0:
        return
    sk = net.ping_table.lookup(U16.unpack_from(ql4, 4)[0], bytes(qip.saddr), None)
    if sk is not None:
        sk.err6(itype, code, info, bytes(qip.daddr), bytes(ql4), net.ipv6.icmp.err_src)


__all__ = ["PingV6Sock", "SockExtendedErr", "icmpv6_err"]
