"""Raw IPv6 sockets: ``socket(AF_INET6, SOCK_RAW, proto)`` (Linux's ``net/ipv6/raw.c``).

The socket is IPv4's :class:`stack.raw.RawSock` (receive queue, buffers, poll, SIOCINQ /
SIOCOUTQ, close) with the IPv6 rules of ``rawv6_prot``; its table is ``net.ipv6.raw``
(``raw_v6_hashinfo``), apart from IPv4's.

Receive (``raw6_local_deliver``, called by ``ip6_input_finish`` before the protocol's
handler): every socket of the packet's upper-layer protocol whose connected peer is the
source (or none), whose device is the arrival one (or none) and whose bound address is the
destination (or none; a multicast destination matches) gets a copy.  Unlike IPv4 the copy
starts at the upper-layer header: no IPv6 header, no extension headers.  An IPPROTO_ICMPV6
socket drops the types its ICMPV6_FILTER blocks (``icmpv6_filter``: bit ``type`` of the
32-byte ``struct icmp6_filter`` set blocks it; a message shorter than 4 bytes is blocked).  A
socket with a checksum (``rawv6_rcv_skb``: IPV6_CHECKSUM set, always for ICMPv6) drops a
packet whose payload does not sum to zero with the IPv6 pseudo-header (``sk_drops``).  When
no protocol handles the packet but a raw socket took it, no parameter problem is sent.
``recvfrom`` gives ``(payload, (source, 0, 0, scope_id))``; IPV6_RECVPKTINFO /
RECVHOPLIMIT / RECVTCLASS add their cmsgs (``ip6_datagram_recv_ctl``).

Send (``rawv6_sendmsg``): the port of the destination is the protocol: 0 or the socket's (any
for an IPPROTO_RAW socket), else EINVAL.  ``::`` means ``::1``.  A link-local destination
takes its scope id (or the socket's device).  With a checksum the kernel writes it at the
offset (``rawv6_push_pending_frames``: EINVAL when the payload is too short to hold it; a
UDP checksum of 0 goes out as 0xFFFF); the packet goes through ``ip6_xmit`` with IPV6_TCLASS
and IPV6_UNICAST_HOPS, fragmented above the path MTU.  ICMPv6 sent this way counts in the
Icmp6Out counters (``__ip6_make_skb``).  With IPV6_HDRINCL (always on for IPPROTO_RAW) the
data is the whole packet, sent as it is (``rawv6_send_hdrinc``): longer than the device MTU
is EMSGSIZE, shorter than an IPv6 header EINVAL.

Options (``rawv6_setsockopt``/``rawv6_getsockopt``):
- IPV6_CHECKSUM at SOL_RAW, or at SOL_IPV6 except on ICMPv6 sockets (RFC 3542: EINVAL):
  an even offset, or -1 for none (odd: EINVAL).  It reads back the offset or -1; ICMPv6
  sockets start with 2 (``rawv6_init_sk``).  Any other SOL_RAW option is ENOPROTOOPT.
- ICMPV6_FILTER at SOL_ICMPV6: up to 32 bytes copied (a shorter value replaces the front);
  EOPNOTSUPP on a socket of another protocol.  Read back as the 32 bytes (as many as asked).
- IPV6_HDRINCL; IPV6_RECVERR (errors queued with SO_EE_ORIGIN_ICMP6 and the sender's
  ``sockaddr_in6``, read with MSG_ERRQUEUE); the rest of SOL_IPV6 as every AF_INET6
  socket (``stack.ipv6.sockglue``); SOL_IP and other levels are ENOPROTOOPT.

Errors (``raw6_icmp_error``/``rawv6_err``): an ICMPv6 error quoting a packet of the socket's
protocol reaches the sockets whose address pair matches the quoted one: queued under
IPV6_RECVERR, and pending (``sk_err``) then or when the socket is connected and the error is
fatal (``icmpv6_err_convert``).

Deviations: a v4-mapped address is EINVAL for ``connect`` and ``sendto`` (Linux goes the
IPv4 way for ``connect``); no IPV6_MTU_DISCOVER, so Packet Too Big is never a hard error;
no sticky options or send cmsgs (EINVAL).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import alloc_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_UNNECESSARY
from stack.ipv4.sockglue import Cmsg, ip_icmp_error, ip_recv_error
from stack.ipv6.icmp import icmp6_out_count
from stack.ipv6.output import MAX_HEADER6, Flow6, ip6_finish_output2, ip6_xmit
from stack.ipv6.route import Route6, route_output6
from stack.ipv6.sockglue import (
    icmpv6_err_convert,
    ip6_bind_check,
    ip6_datagram_recv_ctl,
    ip6_datagram_scope,
    ipv6_addr_needs_scope_id,
    ipv6_getsockopt,
    ipv6_setsockopt,
)
from stack.raw import RawHashinfo, RawSock
from stack.sock import EPOLLERR, ip_datagram_connected, oserror, recv_ip_datagram
from stack.uapi import (
    AF_INET6,
    ETH_P_IPV6,
    ICMPV6_FILTER,
    IPPROTO_ICMPV6,
    IPPROTO_RAW,
    IPPROTO_UDP,
    IPV6_CHECKSUM,
    IPV6_HDRINCL,
    IPV6_RECVERR,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_TRUNC,
    SO_EE_ORIGIN_ICMP6,
    SOL_ICMPV6,
    SOL_IPV6,
    SOL_RAW,
    SOL_SOCKET,
)
from stack.wire.checksum import l4_checksum6, verify_l4_6
from stack.wire.icmpv6 import ICMPV6_PKT_TOOBIG
from stack.wire.ipv4 import INADDR_ANY
from stack.wire.ipv6 import IPV6_HLEN, ipv6_addr_is_multicast, ipv6_addr_is_v4mapped, ipv6_str
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

ICMP6_FILTER_LEN = 32  # struct icmp6_filter: eight u32 words
ICMPV6_FILTER_HDRLEN = 4  # icmpv6_filter reads the type from the first 4 bytes
_IPV6_MAX_PAYLOAD = 0xFFFF
_LOOPBACK6 = bytes(15) + b"\x01"


class RawV6Hashinfo(RawHashinfo):
    """``raw_v6_hashinfo`` of one namespace (``net.ipv6.raw``)."""

    def local_deliver(self, skb: SkBuff, proto: int) -> bool:
        """raw6_local_deliver: ``skb.transport_header`` at the upper-layer header; a copy
        from there to every matching socket; True if any matched (filtered or not)."""
        socks = self.socks.get(proto)
        if not socks:
            return False
        head = skb.head
        nh = skb.network_header
        saddr = bytes(head[nh + 8 : nh + 24])
        daddr = bytes(head[nh + 24 : nh + 40])
        th = skb.transport_header
        hit = False
        for sk in socks:
            if not sk.match(saddr, daddr, skb.dev):
                continue
            hit = True
            if proto == IPPROTO_ICMPV6 and sk.icmp6_filtered(skb):
                continue
            copy = skb.copy()
            copy.data = th
            sk.rcv_skb(copy)
        return hit

    def icmp_error6(
        self,
        nexthdr: int,
        qip: Any,
        ql4: memoryview,
        quoted: memoryview,
        itype: int,
        code: int,
        info: int,
        offender: bytes,
    ) -> None:
        """raw6_icmp_error: an ICMPv6 error about a packet of protocol ``nexthdr`` (the
        upper layer after its extension headers), to the sockets matching its addresses."""
        for sk in list(self.socks.get(nexthdr, ())):
            if sk.match(bytes(qip.daddr), bytes(qip.saddr), None):
                sk.err6(itype, code, info, bytes(qip.daddr), quoted, ql4, offender)


class RawV6Sock(RawSock):
    """One raw IPv6 socket (``struct raw6_sock``); ``num`` is its protocol."""

    family = AF_INET6

    def __init__(self, net: Any, protocol: int) -> None:
        super().__init__(net, protocol)
        self.checksum = protocol == IPPROTO_ICMPV6  # rawv6_init_sk
        self.offset = 2 if self.checksum else 0
        self.icmp6_filter = bytearray(ICMP6_FILTER_LEN)
        self.recverr6 = False  # np->recverr: IPV6_RECVERR

    def hashinfo(self) -> RawHashinfo:
        return self.net.ipv6.raw

    @property
    def bound_dev(self) -> NetDevice | None:
        return self.bound_dev_if if self.bound_dev_if is not None else super().bound_dev

    # -- matching (__raw_v6_lookup) ---------------------------------------------------------------
    def match(self, saddr: bytes, daddr: bytes, dev: NetDevice | None) -> bool:
        if self.daddr is not None and self.daddr != saddr:
            return False
        bound = self.bound_dev
        if bound is not None and dev is not None and bound is not dev:
            return False
        if self.rcv_saddr != INADDR_ANY:
            return self.rcv_saddr == daddr or ipv6_addr_is_multicast(daddr)
        return True

    def icmp6_filtered(self, skb: SkBuff) -> bool:
        """icmpv6_filter: a set bit blocks its type; a runt is blocked."""
        th = skb.transport_header
        if skb.tail - th < ICMPV6_FILTER_HDRLEN:
            return True
        itype = skb.head[th]
        word = int.from_bytes(self.icmp6_filter[(itype >> 5) * 4 : (itype >> 5) * 4 + 4], "little")
        return bool(word >> (itype & 31) & 1)

    def rcv_skb(self, skb: SkBuff) -> None:
        """rawv6_rcv / rawv6_rcv_skb: the checksum, then the receive queue."""
        if self.checksum and skb.ip_summed != CHECKSUM_UNNECESSARY:
            head = skb.head
            nh = skb.network_header
            if not verify_l4_6(
                head[nh + 8 : nh + 24],
                head[nh + 24 : nh + 40],
                self.num,
                memoryview(head)[skb.data : skb.tail],
            ):
                self.drops += 1
                kfree_skb(skb, SkbDropReason.SKB_CSUM)
                return
        self.queue_rcv(skb)

    # -- binding and connecting ---------------------------------------------------------------
    def bind(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """rawv6_bind: a local or multicast address (v4-mapped: EADDRNOTAVAIL)."""
        self._check_open()
        addr = bytes(addr)
        if len(addr) == 16 and ipv6_addr_is_v4mapped(addr):
            raise oserror(errno.EADDRNOTAVAIL, "raw sockets are IPv6 only")
        if len(addr) == 4 or addr == bytes(16):
            self.rcv_saddr = self.saddr = INADDR_ANY
            return
        ip6_bind_check(self, addr, scope_id)
        self.rcv_saddr = addr
        self.saddr = INADDR_ANY if ipv6_addr_is_multicast(addr) else addr

    def _dest(self, addr: bytes, scope_id: int) -> tuple[bytes, Any]:
        if len(addr) != 16 or ipv6_addr_is_v4mapped(addr):
            raise oserror(errno.EINVAL, "a raw IPv6 socket takes IPv6 destinations")
        if addr == bytes(16):
            addr = _LOOPBACK6  # ":: means loopback (BSD'ism)"
        oif = self.bound_dev
        if ipv6_addr_needs_scope_id(addr) and scope_id:
            oif = self.net.kernel.dev_get_by_index(scope_id)
            if oif is None:
                raise oserror(errno.EINVAL)
        return addr, oif

    def _route6(self, daddr: bytes, oif: Any) -> Route6:
        saddr = self.saddr if len(self.saddr) == 16 else None
        try:
            return route_output6(self.net, daddr, saddr, oif)
        except OSError as exc:
            if exc.errno == errno.ENETUNREACH:
                self.net.mib.ip6["Ip6OutNoRoutes"] += 1
            raise

    def connect(self, addr: bytes, port: int, flowinfo: int = 0, scope_id: int = 0) -> None:
        """ip6_datagram_connect_v6_only: routes, fixes the source, receives only from the
        peer; a link-local peer binds the socket to its interface."""
        self._check_open()
        addr = bytes(addr)
        if len(addr) == 16 and not ipv6_addr_is_v4mapped(addr) and addr != bytes(16):
            ip6_datagram_scope(self, addr, scope_id)
        daddr, oif = self._dest(addr, scope_id)
        rt = self._route6(daddr, oif)
        ip_datagram_connected(self, rt, daddr, port)

    # -- sending ------------------------------------------------------------------------------
    def sendmsg(
        self, data: bytes | memoryview, flags: int = 0, addr: tuple[Any, ...] | None = None
    ) -> int:
        """rawv6_sendmsg (see the module docstring)."""
        self._check_open()
        size = len(data)
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if addr is not None:
            proto = addr[1]
            if not proto:
                proto = self.num
            elif proto != self.num and self.num != IPPROTO_RAW:
                raise oserror(errno.EINVAL, "the port of a raw destination is its protocol")
            if proto > 255:
                raise oserror(errno.EINVAL)
            daddr, oif = self._dest(bytes(addr[0]), addr[3] if len(addr) > 3 else 0)
        elif self.daddr is not None:
            proto, daddr, oif = self.num, self.daddr, self.bound_dev
        else:
            raise oserror(errno.EDESTADDRREQ)
        if ipv6_addr_needs_scope_id(daddr) and oif is None:
            raise oserror(errno.EINVAL, "a link-local destination needs a scope id")
        rt = self._route6(daddr, oif)
        if self.hdrincl:
            return self._send_hdrinc6(bytes(data), rt)
        if size > _IPV6_MAX_PAYLOAD:
            raise oserror(errno.EMSGSIZE)
        net = self.net
        saddr = self.saddr if len(self.saddr) == 16 else rt.src
        skb = alloc_skb(net.kernel, MAX_HEADER6 + size)
        skb.reserve(MAX_HEADER6)
        off = skb.put_data(data)
        head = skb.head
        if self.checksum:  # rawv6_push_pending_frames
            if self.offset >= size - 1:
                kfree_skb(skb, SkbDropReason.NOT_SPECIFIED)
                raise oserror(errno.EINVAL, "the checksum offset is beyond the data")
            U16.pack_into(head, off + self.offset, 0)
            csum = l4_checksum6(saddr, daddr, proto, memoryview(head)[off : off + size])
            if csum == 0 and proto == IPPROTO_UDP:
                csum = 0xFFFF  # CSUM_MANGLED_0
            U16.pack_into(head, off + self.offset, csum)
        skb.transport_header = off
        skb.sk = self
        skb.priority = self.priority
        skb.mark = self.mark
        skb.destructor = self._wfree
        self.wmem_alloc += skb.truesize
        if proto == IPPROTO_ICMPV6 and size:
            icmp6_out_count(net, head[off])
        hop_limit = None if ipv6_addr_is_multicast(daddr) else self.hop_limit
        ret = ip6_xmit(net, skb, Flow6(saddr, daddr, proto, self.tclass, hop_limit, oif), rt)
        if ret < 0 and not (ret == -errno.ENOBUFS and not self.recverr6):
            raise oserror(-ret)
        return size

    def _send_hdrinc6(self, data: bytes, rt: Route6) -> int:
        """rawv6_send_hdrinc: the user's packet as it is."""
        length = len(data)
        if length > rt.dev_mtu:
            raise oserror(errno.EMSGSIZE)
        if length < IPV6_HLEN:
            raise oserror(errno.EINVAL)
        net = self.net
        skb = alloc_skb(net.kernel, MAX_HEADER6 + length)
        skb.reserve(MAX_HEADER6)
        off = skb.put_data(data)
        skb.network_header = skb.transport_header = off
        skb.protocol = ETH_P_IPV6
        skb.sk = self
        skb.priority = self.priority
        skb.mark = self.mark
        skb.destructor = self._wfree
        self.wmem_alloc += skb.truesize
        net.mib.ip6["Ip6OutRequests"] += 1
        ret = ip6_finish_output2(net, skb, rt)
        if ret < 0 and not (ret == -errno.ENOBUFS and not self.recverr6):
            raise oserror(-ret)
        return length

    # -- receiving ----------------------------------------------------------------------------
    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        """rawv6_recvmsg: the payload, from ``(source, 0, 0, scope_id)``."""
        self._check_open()
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if flags & MSG_ERRQUEUE:
            data, addr, _flags, _cmsgs = ip_recv_error(self, bufsize, flags)
            return data, addr
        return recv_ip_datagram(self, bufsize, flags)

    def recvmsg_ctl(self, bufsize: int, flags: int) -> tuple[bytes, Any, int, list[Cmsg]]:
        """recvmsg(2): MSG_ERRQUEUE reads the error queue (``ipv6_recv_error``); the rest
        carries the IPV6_RECV* cmsgs."""
        self._check_open()
        if flags & MSG_ERRQUEUE:
            return ip_recv_error(self, bufsize, flags)
        skb = self.rcvq[0] if self.rcvq and not self.sk_err else None
        cmsgs = ip6_datagram_recv_ctl(self, skb) if skb is not None and self.rxopt else []
        data, addr = self.recvmsg(bufsize, flags | MSG_TRUNC)
        if len(data) <= bufsize:
            return data, addr, 0, cmsgs
        return (data if flags & MSG_TRUNC else data[:bufsize]), addr, MSG_TRUNC, cmsgs

    def ioctl(self, cmd: int) -> int:
        return super().ioctl(cmd)  # rawv6_ioctl: SIOCINQ from the transport header, as here

    # -- ICMPv6 errors (rawv6_err) ------------------------------------------------------------
    def err6(
        self,
        itype: int,
        code: int,
        info: int,
        daddr: bytes,
        quoted: memoryview,
        l4: memoryview,
        offender: bytes,
    ) -> None:
        if not self.recverr6 and self.daddr is None:
            return
        converted = icmpv6_err_convert(itype, code)
        error, harderr = converted if converted is not None else (errno.EPROTO, False)
        if itype == ICMPV6_PKT_TOOBIG:
            harderr = False  # np->pmtudisc == IPV6_PMTUDISC_DO: not modelled
        if self.recverr6:
            payload = bytes(quoted) if self.hdrincl else bytes(l4)
            ip_icmp_error(
                self, error, itype, code, info, offender, daddr, 0, payload, SO_EE_ORIGIN_ICMP6
            )
        if self.recverr6 or harderr:
            self.sk_err = error
            self.wake(EPOLLERR)

    # -- options ------------------------------------------------------------------------------
    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == SOL_SOCKET:
            super().setsockopt(level, option, value)
            return
        if level == SOL_ICMPV6:
            if self.num != IPPROTO_ICMPV6:
                raise oserror(errno.EOPNOTSUPP)
            if option != ICMPV6_FILTER:
                raise oserror(errno.ENOPROTOOPT)
            raw = (
                value
                if isinstance(value, bytes | bytearray)
                else int(value).to_bytes(4, "little", signed=int(value) < 0)
            )
            raw = bytes(raw[:ICMP6_FILTER_LEN])
            self.icmp6_filter[: len(raw)] = raw  # rawv6_seticmpfilter copies optlen bytes
            return
        if level == SOL_RAW or (level == SOL_IPV6 and option == IPV6_CHECKSUM):
            if option != IPV6_CHECKSUM:
                raise oserror(errno.ENOPROTOOPT)
            if self.num == IPPROTO_ICMPV6 and level == SOL_IPV6:
                raise oserror(errno.EINVAL, "RFC 3542: not on ICMPv6 sockets at IPPROTO_IPV6")
            v = _int(value)
            if v > 0 and v & 1:
                raise oserror(errno.EINVAL)
            self.checksum = v >= 0
            if v >= 0:
                self.offset = v
            return
        if level != SOL_IPV6:
            raise oserror(errno.ENOPROTOOPT)
        if option == IPV6_HDRINCL:
            self.hdrincl = bool(_int(value))
        elif option == IPV6_RECVERR:
            self.recverr6 = bool(_int(value))
            if not self.recverr6:
                self.sk_error_queue.clear()
        else:
            ipv6_setsockopt(self, option, _int(value))

    def getsockopt(self, level: int, option: int) -> Any:
        if level == SOL_SOCKET:
            return super().getsockopt(level, option)
        if level == SOL_ICMPV6:
            if self.num != IPPROTO_ICMPV6:
                raise oserror(errno.EOPNOTSUPP)
            if option != ICMPV6_FILTER:
                raise oserror(errno.ENOPROTOOPT)
            return bytes(self.icmp6_filter)
        if level == SOL_RAW or (level == SOL_IPV6 and option == IPV6_CHECKSUM):
            if option != IPV6_CHECKSUM:
                raise oserror(errno.ENOPROTOOPT)
            return self.offset if self.checksum else -1
        if level != SOL_IPV6:
            raise oserror(errno.ENOPROTOOPT)
        if option == IPV6_HDRINCL:
            return int(self.hdrincl)
        if option == IPV6_RECVERR:
            return int(self.recverr6)
        return ipv6_getsockopt(self, option)

    def __repr__(self) -> str:
        addr = ipv6_str(self.rcv_saddr) if len(self.rcv_saddr) == 16 else "::"
        return f"<RawV6Sock proto={self.num} {addr} rcvq={len(self.rcvq)}>"


def _int(value: Any) -> int:
    if isinstance(value, bytes | bytearray):
        return int.from_bytes(bytes(value[:4]).ljust(4, b"\0"), "little", signed=True)
    return int(value)


__all__ = ["ICMP6_FILTER_LEN", "RawV6Hashinfo", "RawV6Sock"]
