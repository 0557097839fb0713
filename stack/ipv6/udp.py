"""UDP over IPv6 (Linux's ``net/ipv6/udp.c`` and ``datagram.c``): the AF_INET6 datagram
socket, ``udpv6_rcv`` and ``udpv6_err``.

The port table is IPv4's (``net.udp``, one ``udp_table`` as in Linux) and its lookup scores
the families (``stack.udp_table.compute_score``): an IPv6 datagram finds AF_INET6 sockets; an
IPv4 one finds AF_INET sockets and dual-stack AF_INET6 ones (not IPV6_V6ONLY).

:class:`Udp6Sock` (``udpv6_prot``):

- ``bind``/``connect``/``sendto`` take IPv6 addresses; a v4-mapped one goes the IPv4 way
  (``udp_sendmsg``, ``ip4_datagram_connect``; ENETUNREACH, or EINVAL for bind, under
  IPV6_V6ONLY) and the kernel keeps the IPv4 address.  A link-local destination needs a
  scope id (or SO_BINDTODEVICE): ``connect`` binds the socket to it, ``sendto`` uses it for
  that datagram only (``fl6.flowi6_oif``); none is EINVAL.
- Sending: ``ip6_xmit`` with the socket's traffic class and unicast hop limit (multicast
  keeps its default of 1).  The checksum is mandatory over IPv6 (RFC 8200 §8.1): left to
  the NIC (CHECKSUM_PARTIAL, pseudo-header sum seeded) when the device checksums IPv6
  (NETIF_F_HW_CSUM or NETIF_F_IPV6_CSUM) and the datagram fits the path MTU, else computed
  here; a computed 0 goes out as 0xFFFF.  A datagram over the path MTU is fragmented at the
  source (IPV6_PMTUDISC_WANT, the default).
- Receiving: the source as ``(addr, port, flowinfo, scope_id)``, scope_id the arrival
  interface for a link-local source; IPV6_RECVPKTINFO / IPV6_RECVHOPLIMIT /
  IPV6_RECVTCLASS cmsgs (``stack.ipv6.sockglue``).
- ``udpv6_rcv``: a zero checksum is an error over IPv6 (InCsumErrors); no socket gives
  ICMPv6 port unreachable (NoPorts); a multicast datagram goes to every matching socket.

Deviations: the counters of both families are ``net.mib.udp``'s (Linux keeps ``Udp6*`` in
``/proc/net/snmp6``); sendmsg control messages on the IPv6 path (IPV6_PKTINFO, IPV6_HOPLIMIT,
IPV6_TCLASS as cmsgs) are not modelled and fail with EINVAL; flow labels are not sent.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.features import NETIF_F_HW_CSUM, NETIF_F_IPV6_CSUM
from stack.core.skbfree import kfree_skb
from stack.core.skbuff import CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY, alloc_skb
from stack.ipv6.icmp import icmp6_send
from stack.ipv6.output import MAX_HEADER6, Flow6, ip6_xmit
from stack.ipv6.route import route_output6
from stack.ipv6.sockglue import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_PKT_TOOBIG,
    icmpv6_err_convert,
    ip6_bind_check,
    ip6_daddr,
    ip6_datagram_recv_ctl,
    ip6_datagram_scope,
    ip6_saddr,
    ipv6_addr_needs_scope_id,
    ipv6_getsockopt,
    ipv6_setsockopt,
)
from stack.sock import EPOLLERR, SEND_SHUTDOWN, eagain, ip_datagram_connected, oserror
from stack.uapi import AF_INET6, ETH_P_IPV6, IPPROTO_UDP, MSG_ERRQUEUE, MSG_OOB, MSG_TRUNC, SOL_IPV6
from stack.udp import UDP_MAX_PAYLOAD, UdpSock
from stack.udp_rcv import udp_deliver
from stack.wire.checksum import l4_checksum, pseudo_header_sum
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.ipv4 import INADDR_ANY
from stack.wire.ipv6 import ipv6_addr_is_linklocal, ipv6_addr_is_multicast, ipv6_addr_is_v4mapped
from stack.wire.layout import U16
from stack.wire.udp import UDP_HLEN, UdpPacket

if TYPE_CHECKING:
    from stack.core import SkBuff

IPV6_HLEN = 40
ICMPV6_PORT_UNREACH = 4
_UDP_CSUM = 6


def skb_is_v6(skb: SkBuff) -> bool:
    nh = skb.network_header
    return nh >= 0 and skb.head[nh] >> 4 == 6


class Udp6Sock(UdpSock):
    """An AF_INET6 datagram socket (``struct udp6_sock``); see the module docstring."""

    family = AF_INET6

    @property
    def bound_dev(self) -> Any:
        return self.bound_dev_if if self.bound_dev_if is not None else super().bound_dev

    def bind(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """``__inet6_bind``: v4-mapped binds as IPv4, ``::`` is the dual-stack wildcard."""
        addr = bytes(addr)
        if len(addr) == 16 and ipv6_addr_is_v4mapped(addr):
            if self.ipv6only:
                raise oserror(errno.EINVAL)
            super().bind(addr[12:], port)
            return
        if len(addr) == 4 or addr == bytes(16):
            super().bind(INADDR_ANY, port)
            return
        self._check_open()
        if self.num:
            raise oserror(errno.EINVAL, "already bound")
        ip6_bind_check(self, addr, scope_id)
        self.rcv_saddr = addr
        self.saddr = INADDR_ANY if ipv6_addr_is_multicast(addr) else addr
        try:
            self.num = self.net.udp.get_port(self, port)
        except OSError as exc:
            self.rcv_saddr = self.saddr = INADDR_ANY
            if port == 0:
                raise oserror(errno.EADDRINUSE, "no free ephemeral port") from exc
            raise
        self.addr_locked = True
        self.port_locked = port != 0

    def connect(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """``ip6_datagram_connect`` (v4-mapped: ``ip4_datagram_connect``)."""
        addr = bytes(addr)
        if len(addr) == 4 or ipv6_addr_is_v4mapped(addr):
            if self.ipv6only:
                raise oserror(errno.ENETUNREACH)
            super().connect(addr[-4:], port)
            return
        self._check_open()
        if not 0 < port <= 0xFFFF:
            raise oserror(errno.EINVAL, f"bad port {port}")
        if addr == bytes(16):
            addr = bytes(15) + b"\x01"
        oif = ip6_datagram_scope(self, addr, scope_id)
        self._autobind()
        saddr = self.saddr if len(self.saddr) == 16 else None
        rt = route_output6(self.net, addr, saddr, oif)
        ip_datagram_connected(self, rt, addr, port)
        self.dst = rt

    # -- sending -----------------------------------------------------------------------------------
    def sendmsg_ctl(
        self, data: bytes | memoryview, flags: int, addr: tuple[Any, ...] | None, ancdata: list[Any]
    ) -> int:
        if ancdata and not self._v4_path(addr):
            raise oserror(errno.EINVAL, "IPv6 control messages on send are not modelled")
        return super().sendmsg_ctl(data, flags, self._v4_addr(addr), ancdata)

    def _v4_path(self, addr: tuple[Any, ...] | None) -> bool:
        if addr is None:
            return self.daddr is not None and len(self.daddr) == 4
        a = bytes(addr[0])
        return len(a) == 4 or ipv6_addr_is_v4mapped(a)

    def _v4_addr(self, addr: tuple[Any, ...] | None) -> tuple[bytes, int] | None:
        if addr is None:
            return None
        if self.ipv6only:
            raise oserror(errno.ENETUNREACH)
        return bytes(addr[0])[-4:], addr[1]

    def sendmsg(
        self,
        data: bytes | memoryview,
        flags: int = 0,
        addr: tuple[Any, ...] | None = None,
        ipc: Any = None,
    ) -> int:
        """``udpv6_sendmsg`` (module docstring)."""
        if self._v4_path(addr):
            return super().sendmsg(data, flags, self._v4_addr(addr), ipc)
        self._check_open()
        size = len(data)
        if size > UDP_MAX_PAYLOAD:
            raise oserror(errno.EMSGSIZE)
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        err = self.sock_error()
        if err:
            raise oserror(err)
        if self.sk_shutdown & SEND_SHUTDOWN:
            raise oserror(errno.EPIPE)
        net = self.net
        if addr is None:
            if self.daddr is None:
                raise oserror(errno.EDESTADDRREQ)
            daddr, dport, rt, oif = self.daddr, self.dport, self.dst, self.bound_dev
        else:
            daddr, dport = bytes(addr[0]), addr[1]
            if not 0 < dport <= 0xFFFF:
                raise oserror(errno.EINVAL, f"bad port {dport}")
            if daddr == bytes(16):
                daddr = bytes(15) + b"\x01"
            rt = None
            oif = self.bound_dev
            scope_id = addr[3] if len(addr) > 3 else 0
            if ipv6_addr_needs_scope_id(daddr):
                if scope_id:
                    oif = net.kernel.dev_get_by_index(scope_id)
                if oif is None:
                    raise oserror(errno.EINVAL)
        self._autobind()
        saddr = self.saddr if len(self.saddr) == 16 else None
        if rt is None or not net.ipv6.fib.check(rt):
            try:
                rt = route_output6(net, daddr, saddr, oif)
            except OSError as exc:
                if exc.errno == errno.ENETUNREACH:
                    net.mib.ip6["Ip6OutNoRoutes"] += 1
                raise
            if addr is None:
                self.dst = rt
        saddr = saddr or rt.src
        if self.wmem_alloc >= self.sk_sndbuf:
            raise eagain()
        ulen = UDP_HLEN + size
        skb = alloc_skb(net.kernel, MAX_HEADER6 + ulen)
        skb.reserve(MAX_HEADER6 + UDP_HLEN)
        skb.put_data(data)
        off = skb.push(UDP_HLEN)
        head = skb.head
        U16.pack_into(head, off, self.num)
        U16.pack_into(head, off + 2, dport)
        U16.pack_into(head, off + 4, ulen)
        U16.pack_into(head, off + _UDP_CSUM, 0)
        skb.transport_header = off
        if rt.dev.features & (NETIF_F_HW_CSUM | NETIF_F_IPV6_CSUM) and IPV6_HLEN + ulen <= rt.mtu:
            U16.pack_into(head, off + _UDP_CSUM, pseudo_header_sum(saddr, daddr, IPPROTO_UDP, ulen))
            skb.ip_summed = CHECKSUM_PARTIAL
            skb.csum_start = off
            skb.csum_offset = _UDP_CSUM
        else:
            check = l4_checksum(saddr, daddr, IPPROTO_UDP, memoryview(head)[off : off + ulen])
            U16.pack_into(head, off + _UDP_CSUM, check or 0xFFFF)
        skb.sk = self
        skb.priority = self.priority
        skb.mark = self.mark
        skb.destructor = self._wfree
        self.wmem_alloc += skb.truesize
        hop_limit = None if ipv6_addr_is_multicast(daddr) else self.hop_limit
        ret = ip6_xmit(net, skb, Flow6(saddr, daddr, IPPROTO_UDP, self.tclass, hop_limit, oif), rt)
        if ret < 0:
            if ret == -errno.ENOBUFS and not self.recverr:
                net.mib.udp["SndbufErrors"] += 1
                return size
            raise oserror(-ret)
        net.mib.udp["OutDatagrams"] += 1
        return size

    # -- receiving ---------------------------------------------------------------------------------
    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        skb = self.rcvq[0] if self.rcvq and not self.sk_err else None
        data, addr = super().recvmsg(bufsize, flags)
        if skb is not None and addr is not None and skb_is_v6(skb):
            saddr = ip6_saddr(skb)
            scope = skb.dev.ifindex if ipv6_addr_is_linklocal(saddr) and skb.dev else 0
            addr = (saddr, addr[1], 0, scope)
        return data, addr

    def recvmsg_ctl(self, bufsize: int, flags: int) -> tuple[bytes, Any, int, list[Any]]:
        skb = self.rcvq[0] if self.rcvq and not self.sk_err else None
        if flags & MSG_ERRQUEUE or skb is None or not skb_is_v6(skb):
            return super().recvmsg_ctl(bufsize, flags)
        self._check_open()
        cmsgs = ip6_datagram_recv_ctl(self, skb) if self.rxopt else []
        data, addr = self.recvmsg(bufsize, flags | MSG_TRUNC)
        msg_flags = 0
        if len(data) > bufsize:
            msg_flags = MSG_TRUNC
            if not flags & MSG_TRUNC:
                data = data[:bufsize]
        return data, addr, msg_flags, cmsgs

    # -- options -----------------------------------------------------------------------------------
    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == SOL_IPV6:
            ipv6_setsockopt(self, option, value)
            return
        super().setsockopt(level, option, value)

    def getsockopt(self, level: int, option: int) -> Any:
        if level == SOL_IPV6:
            return ipv6_getsockopt(self, option)
        return super().getsockopt(level, option)


def udpv6_rcv(net: Any, skb: SkBuff) -> int:
    """``__udp6_lib_rcv``: ``skb.data`` at the UDP header, the IPv6 header at
    ``network_header`` (see the module docstring)."""
    mib = net.mib.udp
    head = skb.head
    data = skb.data
    src = ip6_saddr(skb)
    dst = ip6_daddr(skb)
    verify = skb.ip_summed != CHECKSUM_UNNECESSARY and skb.ip_summed != CHECKSUM_PARTIAL
    try:
        pkt = UdpPacket.checked(
            memoryview(head)[data : skb.tail], src if verify else None, dst if verify else None
        )
        if not U16.unpack_from(pkt.buf, _UDP_CSUM)[0]:
            raise BadChecksum("udp", "zero checksum over IPv6")  # udp6_csum_zero_error
    except BadChecksum:
        mib["InCsumErrors"] += 1
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.UDP_CSUM)
        return 1
    except Malformed:
        mib["InErrors"] += 1
        kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
        return 1
    sport, dport, ulen = (
        U16.unpack_from(head, data)[0],
        U16.unpack_from(head, data + 2)[0],
        U16.unpack_from(head, data + 4)[0],
    )
    skb.tail = data + ulen
    skb.transport_header = data
    skb.data = data + UDP_HLEN
    skb.protocol = ETH_P_IPV6
    if udp_deliver(net, skb, src, sport, dst, dport, ipv6_addr_is_multicast(dst)):
        return 0
    skb.data = skb.transport_header
    icmp6_send(net, skb, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH)
    kfree_skb(skb, SkbDropReason.NO_SOCKET)
    return 1


def udpv6_err(net: Any, qip: Any, ql4: Any, itype: int, code: int, info: int) -> None:
    """``__udp6_lib_err``: an ICMPv6 error about a datagram we sent."""
    sport, dport = U16.unpack_from(ql4, 0)[0], U16.unpack_from(ql4, 2)[0]
    sk = net.udp.lookup(bytes(qip.daddr), dport, bytes(qip.saddr), sport, None)
    if sk is None:
        net.mib.icmp6["Icmp6InErrors"] += 1
        return
    if itype == ICMPV6_PKT_TOOBIG:
        sk.dst = None  # the next datagram routes again and meets the new PMTU
        return
    converted = icmpv6_err_convert(itype, code)
    if converted is None or not converted[1] or sk.daddr is None:
        return  # udpv6_err: without IPV6_RECVERR only hard errors on a connected socket
    sk.sk_err = converted[0]
    sk.wake(EPOLLERR)
