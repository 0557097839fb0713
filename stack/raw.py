"""Raw IPv4 sockets: ``socket(AF_INET, SOCK_RAW, proto)`` (Linux's ``net/ipv4/raw.c``).

Receive (``raw_local_deliver``/``raw_v4_input``/``raw_rcv``): every raw socket of the packet's
IP protocol gets its own copy of each datagram delivered locally (after reassembly), IP header
included, before the protocol's own handler runs; the handler runs as well.  A socket matches
when its bound address (``bind``) is the packet's destination or unset, its connected peer
(``connect``) is the packet's source or unset, and its SO_BINDTODEVICE device is the arrival
device or unset.  When no protocol handles the packet but a raw socket took it, IP sends no
"protocol unreachable" (``ip_protocol_deliver_rcu``).  For IPPROTO_ICMP sockets,
``setsockopt(SOL_RAW, ICMP_FILTER, mask)`` drops ICMP types below 32 whose bit is set
(``raw_icmp_filter``); it is EOPNOTSUPP on other raw sockets.  A full receive buffer drops the
copy (``sk_drops``).  ``recvfrom`` gives ``(datagram with its IP header, (source, 0))``.

Send (``raw_sendmsg``): the port of the destination is ignored.  Without IP_HDRINCL the data is
the IP payload; IP builds the header with the socket's protocol, IP_TTL, IP_TOS and DF as
IP_MTU_DISCOVER says (as UDP), fragmenting above the path MTU.  With IP_HDRINCL (always on for
IPPROTO_RAW) the data is a whole datagram: shorter than 20 bytes or than its IHL is EINVAL,
longer than the device MTU is EMSGSIZE, and a header of at least 20 bytes gets Linux's fix-ups
(``raw_send_hdrinc``): a zero source becomes the route's, ``tot_len`` is the length sent, a
zero ID is chosen (``ip_select_ident``) unless DF is set, and the header checksum is computed.
The route is the one to the ``sendto`` address.  ICMP sent through a raw socket counts in the
Icmp Out* counters (``icmp_out_count``).  SO_BROADCAST gates broadcasts (EACCES).

Errors: an ICMP error about a datagram of the socket's protocol reaches matching raw sockets
(``raw_icmp_error``/``raw_err``) as a pending ``sk_err`` when IP_RECVERR is on, or when the
socket is connected and the error is hard.  The ICMP error packet itself is, like any ICMP
packet, copied to the IPPROTO_ICMP raw sockets: that is what ping(8) over a raw socket reads.

Creating a raw socket needs CAP_NET_RAW (EPERM without); ixsim runs as root
(``stack.sock.CAP_NET_RAW``).  IPPROTO_RAW sockets are hashed under protocol 255 as on Linux,
so they receive only datagrams of protocol 255: in practice nothing.  Protocol 0 is
EPROTONOSUPPORT (``inet_create``).

With IP_RECVERR the error is also queued on the socket's error queue (``raw_err`` ->
``ip_icmp_error``), read with ``recvmsg(..., MSG_ERRQUEUE)`` as UDP's is
(``stack.ipv4.sockglue``): the quoted datagram from its transport header (from its IP header
under IP_HDRINCL), from ``(quoted destination, 0)``, with the ``sock_extended_err`` and the
ICMP sender; turning IP_RECVERR off purges the queue.

Deviations: IP options given with IP_HDRINCL are
sent as they are; no IP_PKTINFO/IP_RECVTTL ancillary data.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING, Any

from stack.core import ETH_P_IP, alloc_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.ipv4.icmp import ICMP_ERR_CONVERT, icmp_out_count
from stack.ipv4.output import MAX_HEADER, ip_output, ip_select_ident, ip_send
from stack.ipv4.route import RTN_BROADCAST, RTN_LOCAL, RTN_MULTICAST, Route, route_output
from stack.ipv4.sockglue import (
    Cmsg,
    SockExtendedErr,
    ip_getsockopt_common,
    ip_icmp_error,
    ip_recv_error,
    sk_getsockopt_common,
)
from stack.sock import (
    CAP_NET_RAW,
    EPOLLERR,
    EPOLLIN,
    EPOLLOUT,
    EPOLLRDNORM,
    EPOLLWRNORM,
    Sock,
    eagain,
    inet_dgram_shutdown,
    ip_datagram_connected,
    oserror,
    recv_ip_datagram,
)
from stack.uapi import (
    ICMP_FILTER,
    IP_HDRINCL,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_PROBE,
    IP_PMTUDISC_WANT,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    IPPROTO_ICMP,
    IPPROTO_RAW,
    MSG_ERRQUEUE,
    MSG_OOB,
    SIOCINQ,
    SIOCOUTQ,
    SO_BINDTODEVICE,
    SO_BROADCAST,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOCK_RAW,
    SOL_IP,
    SOL_RAW,
    SOL_SOCKET,
)
from stack.wire.checksum import internet_checksum
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    ICMP_PARAMETERPROB,
    ICMP_SOURCE_QUENCH,
)
from stack.wire.ipv4 import INADDR_ANY, IP_DF, ip_str
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff
    from stack.wire.ipv4 import Ipv4Repr

IP_MAX_LEN = 0xFFFF
_IPV4_HLEN = 20
_ICMP_HLEN = 8


class RawHashinfo:
    """``raw_v4_hashinfo`` of one namespace (``net.raw``): protocol -> its raw sockets."""

    __slots__ = ("net", "socks")

    def __init__(self, net: Any) -> None:
        self.net = net
        self.socks: dict[int, list[RawSock]] = {}  # empty when nobody has a raw socket

    def hash(self, sk: RawSock) -> None:
        self.socks.setdefault(sk.num, []).append(sk)

    def unhash(self, sk: RawSock) -> None:
        socks = self.socks.get(sk.num)
        if socks is not None and sk in socks:
            socks.remove(sk)
            if not socks:
                del self.socks[sk.num]

    def local_deliver(self, skb: SkBuff, proto: int) -> bool:
        """raw_local_deliver: a copy to every matching socket; True if any took one."""
        socks = self.socks.get(proto)
        if not socks:
            return False
        head = skb.head
        nh = skb.network_header
        saddr = bytes(head[nh + 12 : nh + 16])
        daddr = bytes(head[nh + 16 : nh + 20])
        icmp_type = -1
        if proto == IPPROTO_ICMP:
            icmp_type = head[skb.transport_header] if skb.transport_header < skb.tail else 256
        hit = False
        for sk in socks:
            if not sk.match(saddr, daddr, skb.dev):
                continue
            hit = True
            if icmp_type >= 0 and sk.icmp_filtered(icmp_type):
                continue
            copy = skb.copy()
            copy.data = copy.network_header
            sk.queue_rcv(copy)
        return hit

    def icmp_error(self, iph: Ipv4Repr, itype: int, code: int, info: int,
                   quoted: memoryview, l4: memoryview) -> None:
        """raw_icmp_error: an ICMP error about a datagram of ``iph.proto``, to its raw sockets
        (matched with the quoted header: its destination is the socket's peer); ``quoted``
        is the quoted datagram from its IP header, ``l4`` from its transport header."""
        for sk in self.socks.get(iph.proto, ()):
            if sk.match(iph.dst, iph.src, None):
                sk.err(itype, code, info, iph, quoted, l4)


def _int_value(value: Any) -> int:
    if isinstance(value, bytes):
        return int.from_bytes(value[:4].ljust(4, b"\0"), "little", signed=True)
    return int(value)


class RawSock(Sock):
    """One raw socket (``struct raw_sock``); ``num`` is its IP protocol (``inet_num``)."""

    type = SOCK_RAW

    def __init__(self, net: Any, protocol: int) -> None:
        if not CAP_NET_RAW:
            raise oserror(errno.EPERM)
        if not 0 < protocol <= IPPROTO_RAW:
            raise oserror(errno.EPROTONOSUPPORT)
        super().__init__(net)
        self.protocol = protocol
        self.num = protocol
        self.hdrincl = protocol == IPPROTO_RAW
        self.rcv_saddr = INADDR_ANY
        self.saddr = INADDR_ANY
        self.daddr: bytes | None = None
        self.dport = 0
        self.icmp_filter = 0  # ICMP_FILTER: bit n set drops ICMP type n
        self.rcvq: deque[SkBuff] = deque()
        self.sk_error_queue: deque[SockExtendedErr] = deque()  # IP_RECVERR's ICMP errors
        self.rmem_alloc = 0
        self.wmem_alloc = 0  # sk_wmem_alloc: truesize of sent skbs not yet freed (SIOCOUTQ)
        self.drops = 0
        self.ttl: int | None = None
        self.tos = 0
        self.pmtudisc = IP_PMTUDISC_WANT
        self.recverr = False
        self.options[(SOL_SOCKET, SO_REUSEADDR)] = 1  # INET_PROTOSW_REUSE
        self.hashinfo().hash(self)  # inet_create hashes a raw socket at once

    def hashinfo(self) -> RawHashinfo:
        """The family's table (``sk->sk_prot->h.raw_hash``): ``raw_v4_hashinfo`` here."""
        return self.net.raw

    # -- matching (raw_v4_match) -------------------------------------------------------------
    @property
    def bound_dev(self) -> NetDevice | None:
        name = self.options.get((SOL_SOCKET, SO_BINDTODEVICE))
        return self.net.kernel.dev_get_by_name(name) if name else None

    def match(self, saddr: bytes, daddr: bytes, dev: NetDevice | None) -> bool:
        if self.daddr is not None and self.daddr != saddr:
            return False
        if self.rcv_saddr != INADDR_ANY and self.rcv_saddr != daddr:
            return False
        if dev is not None and self.options.get((SOL_SOCKET, SO_BINDTODEVICE)):
            return self.bound_dev is dev
        return True

    def icmp_filtered(self, icmp_type: int) -> bool:
        """raw_icmp_filter: types below 32 whose bit is set are dropped; a runt too."""
        if icmp_type > 255:
            return True
        return icmp_type < 32 and bool(self.icmp_filter >> icmp_type & 1)

    # -- binding and connecting --------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise oserror(errno.EBADF)

    def bind(self, addr: bytes, port: int) -> None:
        """raw_bind: a local, broadcast or multicast address (the port is ignored)."""
        self._check_open()
        addr = bytes(addr)
        kind = self.net.fib.addr_type(addr) if addr != INADDR_ANY else RTN_LOCAL
        if kind not in (RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST):
            raise oserror(errno.EADDRNOTAVAIL, f"{ip_str(addr)} is not a local address")
        self.rcv_saddr = addr
        self.saddr = addr if kind == RTN_LOCAL else INADDR_ANY

    def connect(self, addr: bytes, port: int) -> None:
        """ip4_datagram_connect: routes, fixes the source; receives only from the peer."""
        self._check_open()
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        rt = route_output(self.net, bytes(addr), saddr, self.bound_dev)
        if rt.type == RTN_BROADCAST and not self.options.get((SOL_SOCKET, SO_BROADCAST)):
            raise oserror(errno.EACCES, "broadcast needs SO_BROADCAST")
        ip_datagram_connected(self, rt, rt.daddr, port)

    def getsockname(self) -> tuple[bytes, int]:
        return self.rcv_saddr, self.num  # inet_getname: the port field holds the protocol

    def getpeername(self) -> tuple[bytes, int]:
        if self.daddr is None or not self.dport:
            raise oserror(errno.ENOTCONN)
        return self.daddr, self.dport

    # -- sending -----------------------------------------------------------------------------
    def _route(self, daddr: bytes) -> Route:
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        try:
            rt = route_output(self.net, daddr, saddr, self.bound_dev)
        except OSError as exc:
            if exc.errno == errno.ENETUNREACH:
                self.net.mib.ip["OutNoRoutes"] += 1
            raise
        if rt.type == RTN_BROADCAST and not self.options.get((SOL_SOCKET, SO_BROADCAST)):
            raise oserror(errno.EACCES, "broadcast needs SO_BROADCAST")
        return rt

    def sendmsg(self, data: bytes | memoryview, flags: int = 0,
                addr: tuple[bytes, int] | None = None) -> int:
        """raw_sendmsg (see the module docstring)."""
        self._check_open()
        size = len(data)
        if size > IP_MAX_LEN:
            raise oserror(errno.EMSGSIZE)
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if addr is not None:
            daddr = bytes(addr[0])
        elif self.daddr is not None:
            daddr = self.daddr
        else:
            raise oserror(errno.EDESTADDRREQ)
        if self.hdrincl:
            return self._send_hdrinc(bytes(data), daddr)
        rt = self._route(daddr)
        net = self.net
        pmtudisc = self.pmtudisc
        mtu = rt.dev_mtu if pmtudisc == IP_PMTUDISC_PROBE else rt.mtu
        total = _IPV4_HLEN + size
        if pmtudisc >= IP_PMTUDISC_DO:
            if total > mtu:
                raise oserror(errno.EMSGSIZE, f"datagram of {total} bytes > MTU {mtu}")
            df = True
        else:
            df = pmtudisc == IP_PMTUDISC_WANT and total <= mtu
        skb = alloc_skb(net.kernel, MAX_HEADER + size)
        skb.reserve(MAX_HEADER)
        skb.put_data(data)
        skb.transport_header = skb.data
        skb.sk = self
        skb.destructor = self._wfree  # skb_set_owner_w
        self.wmem_alloc += skb.truesize
        if self.num == IPPROTO_ICMP and size:
            icmp_out_count(net, skb.head[skb.data])
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        ret = ip_send(net, skb, saddr, daddr, self.num, tos=self.tos, ttl=self.ttl, df=df,
                      rt=rt)
        if ret < 0 and ret != -errno.ENOBUFS:
            raise oserror(-ret)
        return size

    def _send_hdrinc(self, data: bytes, daddr: bytes) -> int:
        """raw_send_hdrinc: the user's datagram with Linux's fix-ups."""
        length = len(data)
        if length < _IPV4_HLEN:
            raise oserror(errno.EINVAL)
        ihl = (data[0] & 0x0F) << 2
        if ihl > length:
            raise oserror(errno.EINVAL)
        rt = self._route(daddr)
        if length > rt.dev_mtu:
            raise oserror(errno.EMSGSIZE)
        net = self.net
        skb = alloc_skb(net.kernel, MAX_HEADER + length)
        skb.reserve(MAX_HEADER)
        off = skb.put_data(data)
        head = skb.head
        skb.network_header = off
        if ihl >= _IPV4_HLEN:
            if head[off + 12 : off + 16] == INADDR_ANY:
                head[off + 12 : off + 16] = rt.src
            U16.pack_into(head, off + 2, length)
            if not U16.unpack_from(head, off + 4)[0] and not U16.unpack_from(head, off + 6)[0] \
                    & IP_DF:
                ident = ip_select_ident(net, bytes(head[off + 12 : off + 16]),
                                        bytes(head[off + 16 : off + 20]), head[off + 9])
                U16.pack_into(head, off + 4, ident)
            U16.pack_into(head, off + 10, 0)
            U16.pack_into(head, off + 10, internet_checksum(memoryview(head)[off : off + ihl]))
            skb.transport_header = off + ihl
            if head[off + 9] == IPPROTO_ICMP and length >= ihl + _ICMP_HLEN:
                icmp_out_count(net, head[off + ihl])
        skb.protocol = ETH_P_IP
        skb.sk = self
        skb.destructor = self._wfree  # skb_set_owner_w
        self.wmem_alloc += skb.truesize
        net.mib.ip["OutRequests"] += 1
        ret = ip_output(net, skb, rt)
        if ret < 0 and ret != -errno.ENOBUFS:
            raise oserror(-ret)
        return length

    # -- receiving ---------------------------------------------------------------------------
    def queue_rcv(self, skb: SkBuff) -> None:
        """raw_rcv_skb -> sock_queue_rcv_skb: ``skb.data`` at the IP header."""
        if self.rmem_alloc >= self.sk_rcvbuf or self.closed:
            self.drops += 1
            kfree_skb(skb, SkbDropReason.SOCKET_RCVBUFF)
            return
        self.rmem_alloc += skb.truesize
        self.rcvq.append(skb)
        if self.wq:
            self.wake(EPOLLIN | EPOLLRDNORM)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[bytes, int] | None]:
        """raw_recvmsg: the datagram with its IP header, from ``(source, 0)``."""
        self._check_open()
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if flags & MSG_ERRQUEUE:
            raise eagain()  # no error queue (see the module docstring)
        return recv_ip_datagram(self, bufsize, flags)

    def _wfree(self, skb: SkBuff) -> None:
        """sock_wfree: a sent skb was freed."""
        self.wmem_alloc = max(self.wmem_alloc - skb.truesize, 0)

    def ioctl(self, cmd: int) -> int:
        """``raw_ioctl``: SIOCINQ the length of the next datagram with its IP header (0 for
        none), SIOCOUTQ the sent bytes not yet freed (``sk_wmem_alloc_get``); ENOTTY else."""
        if cmd == SIOCINQ:
            if not self.rcvq:
                return 0
            skb = self.rcvq[0]
            return skb.tail - skb.data
        if cmd == SIOCOUTQ:
            return self.wmem_alloc
        raise oserror(errno.ENOTTY)

    def recvmsg_ctl(self, bufsize: int, flags: int
                    ) -> tuple[bytes, tuple[bytes, int] | None, int, list[Cmsg]]:
        """MSG_ERRQUEUE reads the error queue (``raw_recvmsg`` -> ``ip_recv_error``, never
        blocking); everything else is the base's."""
        self._check_open()
        if flags & MSG_ERRQUEUE:
            return ip_recv_error(self, bufsize, flags)
        return super().recvmsg_ctl(bufsize, flags)

    def poll(self) -> int:
        mask = EPOLLOUT | EPOLLWRNORM
        if self.sk_err or self.sk_error_queue:
            mask |= EPOLLERR
        if self.rcvq:
            mask |= EPOLLIN | EPOLLRDNORM
        return mask

    # -- ICMP errors (raw_err) ---------------------------------------------------------------
    def err(self, itype: int, code: int, info: int, iph: Ipv4Repr, quoted: memoryview,
            l4: memoryview) -> None:
        """raw_err: with IP_RECVERR the error is queued (``ip_icmp_error``: the quoted data
        from its transport header, or from its IP header under IP_HDRINCL, the quoted
        destination, port 0) and made pending; without it only a hard error on a connected
        socket is."""
        if not self.recverr and self.daddr is None:
            return
        harderr = False
        if itype == ICMP_SOURCE_QUENCH:
            return
        if itype == ICMP_PARAMETERPROB:
            error, harderr = errno.EPROTO, True
        elif itype == ICMP_DEST_UNREACH and code == ICMP_FRAG_NEEDED:
            error, harderr = errno.EMSGSIZE, self.pmtudisc != IP_PMTUDISC_DONT
        elif itype == ICMP_DEST_UNREACH and code < len(ICMP_ERR_CONVERT):
            error, harderr = ICMP_ERR_CONVERT[code]
        else:
            error = errno.EHOSTUNREACH  # ICMP_TIME_EXCEEDED and the rest
        if self.recverr:
            payload = bytes(quoted) if self.hdrincl else bytes(l4)
            ip_icmp_error(self, error, itype, code, info, self.net.icmp.err_src, iph.dst, 0,
                          payload)
        if self.recverr or harderr:
            self.sk_err = error
            self.wake(EPOLLERR)

    # -- options -----------------------------------------------------------------------------
    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == SOL_SOCKET:
            if option == SO_RCVBUF:
                self.set_rcvbuf(_int_value(value))
            elif option == SO_SNDBUF:
                self.set_sndbuf(_int_value(value))
            else:
                raise oserror(errno.ENOPROTOOPT)
            return
        if level == SOL_RAW:
            if option != ICMP_FILTER:
                raise oserror(errno.ENOPROTOOPT)
            if self.num != IPPROTO_ICMP:
                raise oserror(errno.EOPNOTSUPP)
            if isinstance(value, bytes):  # raw_seticmpfilter copies at most 4 bytes
                value = int.from_bytes(value[:4].ljust(4, b"\0"), "little")
            self.icmp_filter = int(value) & 0xFFFFFFFF
            return
        if level != SOL_IP:
            raise oserror(errno.ENOPROTOOPT)
        v = _int_value(value)
        if option == IP_HDRINCL:
            self.hdrincl = bool(v)
        elif option == IP_TTL:
            if v != -1 and not 1 <= v <= 255:
                raise oserror(errno.EINVAL)
            self.ttl = None if v == -1 else v
        elif option == IP_TOS:
            self.tos = v & 0xFF
        elif option == IP_MTU_DISCOVER:
            if not 0 <= v <= 5:
                raise oserror(errno.EINVAL)
            self.pmtudisc = v
        elif option == IP_RECVERR:
            self.recverr = bool(v)
            if not v:
                self.sk_error_queue.clear()  # Linux purges the queue (skb_queue_purge)
                self.rmem_alloc = sum(skb.truesize for skb in self.rcvq)
        else:
            raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        if level == SOL_SOCKET:
            value = sk_getsockopt_common(self, option)
            if value is None:
                raise oserror(errno.ENOPROTOOPT)
            return value
        if level == SOL_RAW:
            if option != ICMP_FILTER:
                raise oserror(errno.ENOPROTOOPT)
            if self.num != IPPROTO_ICMP:
                raise oserror(errno.EOPNOTSUPP)
            mask = self.icmp_filter  # as an int, as getsockopt's 4 bytes read
            return mask - (1 << 32) if mask >> 31 else mask
        if level != SOL_IP:
            raise oserror(errno.EOPNOTSUPP)  # ip_getsockopt: not SOL_IP
        if option == IP_HDRINCL:
            return int(self.hdrincl)
        value = ip_getsockopt_common(self, option)
        if value is None:
            raise oserror(errno.ENOPROTOOPT)
        return value

    def shutdown(self, how: int) -> None:
        inet_dgram_shutdown(self, how)

    def close(self) -> None:
        if self.closed:
            return
        self.hashinfo().unhash(self)
        while self.rcvq:
            kfree_skb(self.rcvq.popleft(), SkbDropReason.SOCKET_CLOSE)
        self.sk_error_queue.clear()
        self.rmem_alloc = 0
        super().close()

    def __repr__(self) -> str:
        return f"<RawSock proto={self.num} {ip_str(self.rcv_saddr)} rcvq={len(self.rcvq)}>"


__all__ = ["RawHashinfo", "RawSock"]
