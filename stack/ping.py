"""ICMP echo sockets: ``socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`` (Linux's ``net/ipv4/ping.c``).

The unprivileged ping socket.  Creating one is allowed only when the caller's group is within
``net.ipv4.ping_group_range`` (``ping_init_sock``; EACCES otherwise, for root too).  Linux's
default range is ``1 0``: nobody.  ixsim runs as root (gid 0, ``stack.sock.CURRENT_EGID``), so
with the default range a ping socket is EACCES and ping(8) falls back to a raw socket, as
iputils does.

The identifier is the socket's "port" (``inet_num``): ``bind((addr, ident))`` chooses it
(EADDRINUSE when another socket holds it and either lacks SO_REUSEADDR, which ping sockets have
on by default: ``INET_PROTOSW_REUSE``); ``bind`` with 0, ``connect`` or the first ``sendto``
takes the next free one after the namespace's rover (``ping_get_port``: 1, 2, ...).  ``bind``
takes only a local address (EADDRNOTAVAIL for a foreign, broadcast or multicast one) and only
once (EINVAL).

Send (``ping_v4_sendmsg``): the data is an ICMP echo request, header included: shorter than 8
bytes, another type than echo (8) or extended echo (42), or a code other than 0 is EINVAL.  The
kernel writes the identifier and the checksum; the sequence number and the payload are the
user's.  IP_TTL, IP_TOS, IP_MTU_DISCOVER (DF as UDP), SO_BROADCAST (EACCES) apply; the message
counts in the Icmp Out* counters.

Receive (``ping_rcv``, from ``icmp_rcv``): an echo reply whose identifier is a socket's (and
whose destination is its bound address, if any) is queued to it; ``recvfrom`` gives the ICMP
header and payload without the IP header, from ``(source, 0)``.  Errors (``ping_err``): an
ICMP error quoting one of our echo requests sets ``sk_err`` when IP_RECVERR is on (and queues
the error on the error queue) or when the socket is connected and the error is hard;
``recvmsg(..., MSG_ERRQUEUE)`` returns the quoted echo request from ``(its destination, 0)``,
and :meth:`PingSock.recv_error` also gives the ``sock_extended_err`` (:class:`SockExtendedErr`)
that Linux passes as the IP_RECVERR control message.

Control messages: the BSD layer's ``recvmsg`` does not carry them yet; the kernel side is
:meth:`PingSock.recvmsg_cmsg` (IP_TTL with IP_RECVTTL on; IP_RECVERR's ``sock_extended_err``
and offender with MSG_ERRQUEUE), which ping(8) (``ixsim/apps/ping.py``) reads.

Deviations: no IP_PKTINFO; identifiers are per namespace (Linux
shares one table and one rover between namespaces).
"""

from __future__ import annotations

import errno
import struct
import sys
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from stack.core import alloc_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.ipv4.icmp import ICMP_ERR_CONVERT, icmp_out_count
from stack.ipv4.output import MAX_HEADER, ip_send
from stack.ipv4.route import RTN_BROADCAST, RTN_LOCAL, Route, route_output
from stack.ipv4.sockglue import ip_getsockopt_common, sk_getsockopt_common
from stack.sock import (
    CURRENT_EGID,
    CURRENT_GROUPS,
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
    AF_INET,
    AF_INET6,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_PROBE,
    IP_PMTUDISC_WANT,
    IP_RECVERR,
    IP_RECVTTL,
    IP_TOS,
    IP_TTL,
    IPPROTO_ICMP,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_TRUNC,
    SO_BINDTODEVICE,
    SO_BROADCAST,
    SO_EE_ORIGIN_ICMP,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOCK_DGRAM,
    SOL_IP,
    SOL_SOCKET,
)
from stack.wire.checksum import internet_checksum
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_FRAG_NEEDED,
    ICMP_PARAMETERPROB,
    ICMP_REDIRECT,
    ICMP_SOURCE_QUENCH,
)
from stack.wire.ipv4 import INADDR_ANY, ip_str
from stack.wire.layout import U16

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff
    from stack.wire.ipv4 import Ipv4Repr

ICMP_HLEN = 8
ICMP_EXT_ECHO = 42
_SOCK_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
_SOCKADDR_IN = struct.Struct("=H2s4s8x")  # struct sockaddr_in: the offender
_MAX_LEN = 0xFFFF


class SockExtendedErr(NamedTuple):
    """``struct sock_extended_err`` with its offender (``SO_EE_OFFENDER``): one queued error."""

    ee_errno: int
    ee_origin: int
    ee_type: int
    ee_code: int
    ee_info: int
    offender: bytes  # who sent the ICMP error


class PingTable:
    """The namespace's ping sockets by identifier (``ping_table``) and its rover."""

    __slots__ = ("socks", "rover")

    def __init__(self) -> None:
        self.socks: dict[int, list[PingSock]] = {}
        self.rover = 0

    def get_port(self, sk: PingSock, ident: int) -> int:
        """ping_get_port: ``ident`` (0: the next free one after the rover) or EADDRINUSE."""
        socks = self.socks
        if ident == 0:
            result = self.rover
            for _ in range(1 << 16):
                result = (result + 1) & 0xFFFF
                if result and result not in socks:
                    break
            else:
                raise oserror(errno.EADDRINUSE)
            ident = self.rover = result
        else:
            for sk2 in socks.get(ident, ()):
                if sk2 is not sk and not (sk2.reuse and sk.reuse):
                    raise oserror(errno.EADDRINUSE)
        socks.setdefault(ident, []).append(sk)
        return ident

    def unhash(self, sk: PingSock) -> None:
        socks = self.socks.get(sk.num)
        if socks is not None and sk in socks:
            socks.remove(sk)
            if not socks:
                del self.socks[sk.num]

    def rcv(self, skb: SkBuff, ident: int) -> None:
        """ping_rcv (``icmp_rcv`` calls it for an echo reply, ``skb.data`` at the ICMP
        header): a clone to the socket of ``ident``, if there is one."""
        head = skb.head
        nh = skb.network_header
        if head[nh] >> 4 == 6:  # pingv6: icmpv6_rcv hands echo replies here too
            daddr = bytes(head[nh + 24 : nh + 40])
        else:
            daddr = bytes(head[nh + 16 : nh + 20])
        sk = self.lookup(ident, daddr, skb.dev)
        if sk is not None:
            sk.queue_rcv(skb.clone())

    def lookup(self, ident: int, daddr: bytes, dev: NetDevice | None) -> PingSock | None:
        """ping_lookup: the first socket of ``ident`` of the packet's family (a 4-byte
        ``daddr``: AF_INET, 16 bytes: AF_INET6; Linux shares one table between them) bound to
        ``daddr`` (or to any) and to the arrival device (or to none)."""
        family = AF_INET6 if len(daddr) == 16 else AF_INET
        for sk in self.socks.get(ident, ()):
            if sk.family != family:
                continue
            if sk.rcv_saddr != INADDR_ANY and sk.rcv_saddr != daddr:
                continue
            bound = sk.bound_dev
            if bound is not None and dev is not None and bound is not dev:
                continue
            return sk
        return None


def ping_group_allowed(net: Any) -> bool:
    """ping_init_sock's test: the caller's group, or one of its groups, is in the range."""
    low, high = net.sysctl.ping_group_range
    return any(low <= gid <= high for gid in (CURRENT_EGID, *CURRENT_GROUPS))


def _int_value(value: Any) -> int:
    if isinstance(value, bytes):
        return int.from_bytes(value[:4].ljust(4, b"\0"), "little", signed=True)
    return int(value)


class PingSock(Sock):
    """One ICMP echo socket (see the module docstring); ``num`` is its identifier."""

    type = SOCK_DGRAM
    protocol = IPPROTO_ICMP

    def __init__(self, net: Any) -> None:
        if not ping_group_allowed(net):
            raise oserror(errno.EACCES, "net.ipv4.ping_group_range excludes the caller")
        super().__init__(net)
        self.num = 0
        self.rcv_saddr = INADDR_ANY
        self.saddr = INADDR_ANY
        self.daddr: bytes | None = None
        self.dport = 0
        self.dst: Route | None = None
        self.rcvq: deque[SkBuff] = deque()
        self.errq: deque[tuple[bytes, bytes, SockExtendedErr]] = deque()
        self.rmem_alloc = 0
        self.drops = 0
        self.ttl: int | None = None
        self.tos = 0
        self.pmtudisc = IP_PMTUDISC_WANT
        self.recverr = False
        self.recvttl = False
        self.options[(SOL_SOCKET, SO_REUSEADDR)] = 1  # INET_PROTOSW_REUSE

    @property
    def reuse(self) -> bool:
        return bool(self.options.get((SOL_SOCKET, SO_REUSEADDR)))

    @property
    def bound_dev(self) -> NetDevice | None:
        name = self.options.get((SOL_SOCKET, SO_BINDTODEVICE))
        return self.net.kernel.dev_get_by_name(name) if name else None

    def _check_open(self) -> None:
        if self.closed:
            raise oserror(errno.EBADF)

    # -- binding and connecting --------------------------------------------------------------
    def bind(self, addr: bytes, port: int) -> None:
        """ping_bind: a local address (or any), the identifier ``port`` (0: the next free)."""
        self._check_open()
        addr = bytes(addr)
        if addr != INADDR_ANY and self.net.fib.addr_type(addr) != RTN_LOCAL:
            raise oserror(errno.EADDRNOTAVAIL, f"{ip_str(addr)} is not a local address")
        if self.num:
            raise oserror(errno.EINVAL, "already bound")
        self.num = self.net.ping_table.get_port(self, port)
        self.rcv_saddr = self.saddr = addr
        self.daddr = None
        self.dport = 0

    def _autobind(self) -> None:
        if not self.num:
            self.num = self.net.ping_table.get_port(self, 0)

    def connect(self, addr: bytes, port: int) -> None:
        """inet_dgram_connect: autobind, then ip4_datagram_connect."""
        self._check_open()
        self._autobind()
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        rt = route_output(self.net, bytes(addr), saddr, self.bound_dev)
        if rt.type == RTN_BROADCAST and not self.options.get((SOL_SOCKET, SO_BROADCAST)):
            raise oserror(errno.EACCES, "broadcast needs SO_BROADCAST")
        ip_datagram_connected(self, rt, rt.daddr, port)
        self.dst = rt

    def getsockname(self) -> tuple[bytes, int]:
        return self.rcv_saddr, self.num

    def getpeername(self) -> tuple[bytes, int]:
        if self.daddr is None or not self.dport:
            raise oserror(errno.ENOTCONN)  # inet_getname: no peer port, not connected
        return self.daddr, self.dport

    # -- sending -----------------------------------------------------------------------------
    def sendmsg(self, data: bytes | memoryview, flags: int = 0,
                addr: tuple[bytes, int] | None = None) -> int:
        """ping_v4_sendmsg (see the module docstring)."""
        self._check_open()
        size = len(data)
        if size > _MAX_LEN:
            raise oserror(errno.EMSGSIZE)
        if size < ICMP_HLEN:
            raise oserror(errno.EINVAL, "an ICMP header is 8 bytes")
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        itype, code = data[0], data[1]
        if itype not in (ICMP_ECHO, ICMP_EXT_ECHO) or code != 0:
            raise oserror(errno.EINVAL, "a ping socket sends echo requests only")
        if addr is not None:
            daddr = bytes(addr[0])
        elif self.daddr is not None:
            daddr = self.daddr
        else:
            raise oserror(errno.EDESTADDRREQ)
        self._autobind()  # inet_send_prepare
        net = self.net
        rt = self.dst if addr is None else None
        if rt is None or not net.fib.check(rt):
            saddr = self.saddr if self.saddr != INADDR_ANY else None
            try:
                rt = route_output(net, daddr, saddr, self.bound_dev)
            except OSError as exc:
                if exc.errno == errno.ENETUNREACH:
                    net.mib.ip["OutNoRoutes"] += 1
                raise
        if rt.type == RTN_BROADCAST and not self.options.get((SOL_SOCKET, SO_BROADCAST)):
            raise oserror(errno.EACCES, "broadcast needs SO_BROADCAST")
        pmtudisc = self.pmtudisc
        mtu = rt.dev_mtu if pmtudisc == IP_PMTUDISC_PROBE else rt.mtu
        total = 20 + size
        if pmtudisc >= IP_PMTUDISC_DO:
            if total > mtu:
                raise oserror(errno.EMSGSIZE, f"datagram of {total} bytes > MTU {mtu}")
            df = True
        else:
            df = pmtudisc == IP_PMTUDISC_WANT and total <= mtu
        skb = alloc_skb(net.kernel, MAX_HEADER + size)
        skb.reserve(MAX_HEADER)
        off = skb.put_data(data)
        head = skb.head
        U16.pack_into(head, off + 2, 0)
        U16.pack_into(head, off + 4, self.num)
        U16.pack_into(head, off + 2, internet_checksum(memoryview(head)[off : off + size]))
        skb.transport_header = off
        skb.sk = self
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        ret = ip_send(net, skb, saddr, daddr, IPPROTO_ICMP, tos=self.tos, ttl=self.ttl, df=df,
                      rt=rt)
        if ret < 0:
            raise oserror(-ret)
        icmp_out_count(net, itype)
        return size

    # -- receiving ---------------------------------------------------------------------------
    def queue_rcv(self, skb: SkBuff) -> None:
        """ping_queue_rcv_skb -> sock_queue_rcv_skb: ``skb.data`` at the ICMP header."""
        if self.rmem_alloc >= self.sk_rcvbuf or self.closed:
            self.drops += 1
            kfree_skb(skb, SkbDropReason.SOCKET_RCVBUFF)
            return
        self.rmem_alloc += skb.truesize
        self.rcvq.append(skb)
        if self.wq:
            self.wake(EPOLLIN | EPOLLRDNORM)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[bytes, int] | None]:
        """ping_recvmsg: the ICMP message without its IP header, from ``(source, 0)``."""
        self._check_open()
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        if flags & MSG_ERRQUEUE:
            data, addr, _ee = self.recv_error(bufsize)
            return data, addr
        return recv_ip_datagram(self, bufsize, flags)

    def recvmsg_cmsg(self, bufsize: int, flags: int = 0
                     ) -> tuple[bytes, list[tuple[int, int, bytes]], tuple[bytes, int] | None]:
        """recvmsg with its control messages (``ip_cmsg_recv``, ``ip_recv_error``):
        ``(data, [(level, type, bytes)], address)``; IP_TTL when IP_RECVTTL is on, and with
        MSG_ERRQUEUE the IP_RECVERR message (``sock_extended_err`` + the offender's
        ``sockaddr_in``)."""
        if flags & MSG_ERRQUEUE:
            data, addr, ee = self.recv_error(bufsize)
            offender = _SOCKADDR_IN.pack(AF_INET, b"\0\0", ee.offender)
            err = _SOCK_EE.pack(ee.ee_errno, ee.ee_origin, ee.ee_type, ee.ee_code, 0,
                                ee.ee_info, 0)
            return data, [(SOL_IP, IP_RECVERR, err + offender)], addr
        ttl = -1
        if self.recvttl and self.rcvq:
            skb = self.rcvq[0]
            ttl = skb.head[skb.network_header + 8]
        data, addr = self.recvmsg(bufsize, flags)
        cmsgs = [(SOL_IP, IP_TTL, ttl.to_bytes(4, sys.byteorder))] if ttl >= 0 else []
        return data, cmsgs, addr

    def recvmsg_ctl(self, bufsize: int, flags: int
                    ) -> tuple[bytes, tuple[bytes, int] | None, int, list[tuple[int, int, bytes]]]:
        """The socket layer's recvmsg (:meth:`stack.sock.Sock.recvmsg_ctl`): ``(data, addr,
        msg_flags, cmsgs)``, MSG_ERRQUEUE and MSG_TRUNC in the flags as ``ping_recvmsg``
        sets them."""
        if flags & MSG_ERRQUEUE:
            data, cmsgs, addr = self.recvmsg_cmsg(bufsize, flags)
            return data, addr, MSG_ERRQUEUE, cmsgs
        data, cmsgs, addr = self.recvmsg_cmsg(bufsize, flags | MSG_TRUNC)
        if len(data) <= bufsize:
            return data, addr, 0, cmsgs
        return (data if flags & MSG_TRUNC else data[:bufsize]), addr, MSG_TRUNC, cmsgs

    def recv_error(self, bufsize: int) -> tuple[bytes, tuple[bytes, int], SockExtendedErr]:
        """ip_recv_error: the oldest queued error: the quoted echo request (up to
        ``bufsize`` bytes), its destination and the extended error; EAGAIN when none."""
        self._check_open()
        if not self.errq:
            raise eagain()
        payload, daddr, ee = self.errq.popleft()
        return payload[: max(bufsize, 0)], (daddr, 0), ee

    def poll(self) -> int:
        mask = EPOLLOUT | EPOLLWRNORM
        if self.sk_err or self.errq:
            mask |= EPOLLERR
        if self.rcvq:
            mask |= EPOLLIN | EPOLLRDNORM
        return mask

    # -- ICMP errors (ping_err) --------------------------------------------------------------
    def err(self, iph: Ipv4Repr, quoted: bytes, offender: bytes, itype: int, code: int,
            info: int) -> None:
        harderr = False
        if itype == ICMP_SOURCE_QUENCH or itype == ICMP_REDIRECT:
            error = errno.EREMOTEIO  # "not a real error but ping wants to see it"
        elif itype == ICMP_PARAMETERPROB:
            error, harderr = errno.EPROTO, True
        elif itype == ICMP_DEST_UNREACH and code == ICMP_FRAG_NEEDED:
            if self.pmtudisc == IP_PMTUDISC_DONT:
                return
            error, harderr = errno.EMSGSIZE, True
        elif itype == ICMP_DEST_UNREACH and code < len(ICMP_ERR_CONVERT):
            error, harderr = ICMP_ERR_CONVERT[code]
        else:
            error = errno.EHOSTUNREACH  # ICMP_TIME_EXCEEDED and the rest
        if not self.recverr:
            if not harderr or self.daddr is None:
                return
        else:  # ip_icmp_error
            ee = SockExtendedErr(error, SO_EE_ORIGIN_ICMP, itype, code, info, offender)
            self.errq.append((quoted, iph.dst, ee))
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
        if level != SOL_IP:
            raise oserror(errno.ENOPROTOOPT)
        v = _int_value(value)
        if option == IP_TTL:
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
                self.errq.clear()
        elif option == IP_RECVTTL:
            self.recvttl = bool(v)
        else:
            raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        if level == SOL_SOCKET:
            value = sk_getsockopt_common(self, option)
            if value is None:
                raise oserror(errno.ENOPROTOOPT)
            return value
        if level != SOL_IP:
            raise oserror(errno.EOPNOTSUPP)  # ip_getsockopt: not SOL_IP
        value = ip_getsockopt_common(self, option)
        if value is not None:
            return value
        if option == IP_RECVTTL:
            return int(self.recvttl)
        raise oserror(errno.ENOPROTOOPT)

    def shutdown(self, how: int) -> None:
        inet_dgram_shutdown(self, how)

    def close(self) -> None:
        if self.closed:
            return
        if self.num:
            self.net.ping_table.unhash(self)
        while self.rcvq:
            kfree_skb(self.rcvq.popleft(), SkbDropReason.SOCKET_CLOSE)
        self.errq.clear()
        self.rmem_alloc = 0
        self.dst = None
        super().close()

    def __repr__(self) -> str:
        return f"<PingSock id={self.num} {ip_str(self.rcv_saddr)} rcvq={len(self.rcvq)}>"


# -- the ICMP layer's hooks ------------------------------------------------------------------------
def ping_init(net: Any) -> PingTable:
    """The namespace's ping table (``net.ping_table``); ``icmp_rcv`` offers it echo replies."""
    net.ping_table = PingTable()
    return net.ping_table


def ping_err(net: Any, iph: Ipv4Repr, l4: memoryview, itype: int, code: int,
             info: int) -> None:
    """ping_err, IPPROTO_ICMP's error handler (``icmp_err``): an ICMP error quoting one of
    our echo requests, to its socket."""
    if len(l4) < ICMP_HLEN or l4[0] not in (ICMP_ECHO, ICMP_EXT_ECHO) or l4[1] != 0:
        return
    sk = net.ping_table.lookup(U16.unpack_from(l4, 4)[0], iph.src, None)
    if sk is not None:
        sk.err(iph, bytes(l4), net.icmp.err_src, itype, code, info)


__all__ = ["PingSock", "PingTable", "SockExtendedErr", "ping_err", "ping_group_allowed",
           "ping_init"]
