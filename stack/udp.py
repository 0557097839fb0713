"""UDP (RFC 768): the kernel side of datagram sockets (``struct udp_sock``).

Mirrors Linux's ``net/ipv4/udp.c`` socket side (``udp_sendmsg`` with ``ip_make_skb``'s DF and
checksum-offload choices, ``__udp_enqueue_schedule_skb``, ``udp_recvmsg``), ``net/ipv4/datagram.c``
(``ip4_datagram_connect``) and ``datagram_poll``.  The port table and its lookup are
:mod:`stack.udp_table`; the protocol handlers (``udp_rcv``, ``udp_err``) :mod:`stack.udp_rcv`.

Contract (docs/stack-architecture.md, :class:`stack.sock.Sock`):
- ``UdpSock(net)``: ``bind(addr, port)`` (EADDRINUSE unless both sockets set SO_REUSEADDR,
  EADDRNOTAVAIL for a foreign address, EINVAL when bound; port 0 picks an ephemeral port from
  ``sched.rng`` within ``ip_local_port_range``), ``connect(addr, port)`` (routes, fixes the
  source address, EACCES for a broadcast without SO_BROADCAST), ``disconnect()``,
  ``sendmsg(data, flags, addr)`` -> bytes sent (MSG_OOB: EOPNOTSUPP), ``recvmsg(bufsize,
  flags) -> (data, (addr, port))`` (MSG_PEEK; MSG_TRUNC: ``data`` has the datagram's real
  length, zero bytes past ``bufsize``), ``poll()``, ``shutdown``, ``close``,
  ``setsockopt``/``getsockopt`` (SOL_SOCKET: SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF,
  SO_SNDBUF, SO_NO_CHECK, SO_ERROR; SOL_IP: IP_TTL, IP_TOS, IP_MTU_DISCOVER, IP_RECVERR,
  IP_MTU, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS).  A pending error (``sk_err``, e.g. ECONNREFUSED
  after an ICMP port unreachable on a connected socket) is raised by the next sendmsg or
  recvmsg, once.
- ``recvmsg_ctl(bufsize, flags)`` -> ``(data, addr, msg_flags, cmsgs)`` and
  ``sendmsg_ctl(data, flags, addr, ancdata)``: recvmsg(2)/sendmsg(2) with ancillary data
  (stack/ipv4/sockglue.py): IP_PKTINFO/IP_RECVTTL/IP_RECVTOS cmsgs on receive; IP_PKTINFO
  (source address, output device), IP_TTL, IP_TOS on send.
- IP_RECVERR (``__udp4_lib_err`` -> ``ip_icmp_error``): every ICMP error about a datagram
  this socket sent, connected or not, is queued on ``sk_error_queue`` with its
  ``sock_extended_err`` and read with ``recvmsg(..., MSG_ERRQUEUE)``; it also sets
  ``sk_err``.  EPOLLERR while the queue is not empty (``datagram_poll``).
- ``IP_MTU_DISCOVER``: WANT (default) sets DF on datagrams that fit the path MTU and fragments
  the others; DO and PROBE set DF always and fail with EMSGSIZE above the MTU; DONT never sets
  DF.  The checksum is left to the device (CHECKSUM_PARTIAL) when it offers NETIF_F_HW_CSUM or
  NETIF_F_IP_CSUM and the datagram is not fragmented; otherwise it is computed here.
- Counters: RcvbufErrors + InErrors when the receiver's queue (skb truesize) exceeds
  ``sk_rcvbuf``; InDatagrams counts datagrams read by recvmsg, OutDatagrams datagrams sent,
  SndbufErrors datagrams the qdisc dropped (the receive path's are in :mod:`stack.udp_rcv`).
- SO_REUSEPORT: sockets that all set it share a port; each datagram goes to the member of the
  group its flow hashes to (:mod:`stack.udp_table`, ``stack.sock_reuseport``).
- Deliberate deviations: the checksum is verified on receive rather than at copy time, no
  UDP-Lite, no GSO.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING, Any

from stack.core import NETIF_F_HW_CSUM, NETIF_F_IP_CSUM, alloc_skb, consume_skb, kfree_skb
from stack.core.dropreason import SkbDropReason
from stack.core.skbuff import CHECKSUM_PARTIAL
from stack.ipv4.output import MAX_HEADER, ip_send
from stack.ipv4.route import (
    RTN_BROADCAST,
    RTN_LOCAL,
    RTN_MULTICAST,
    Route,
    route_output,
    rt_tos2priority,
)
from stack.ipv4.sockglue import (
    IP_CMSG_PKTINFO,
    IP_CMSG_TOS,
    IP_CMSG_TTL,
    Cmsg,
    IpcmCookie,
    ip_cmsg_recv,
    ip_cmsg_send,
    ip_getsockopt_common,
    ip_recv_error,
    sk_getsockopt_common,
)
from stack.sock import (
    EPOLLERR,
    EPOLLHUP,
    EPOLLIN,
    EPOLLOUT,
    EPOLLRDHUP,
    EPOLLRDNORM,
    EPOLLWRNORM,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    Sock,
    eagain,
    inet_dgram_shutdown,
    ip_datagram_connected,
    oserror,
)
from stack.uapi import (
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_PKTINFO,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_PROBE,
    IP_PMTUDISC_WANT,
    IP_RECVERR,
    IP_RECVTOS,
    IP_RECVTTL,
    IP_TOS,
    IP_TTL,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    SIOCINQ,
    SIOCOUTQ,
    SO_BINDTODEVICE,
    SO_BROADCAST,
    SO_DONTROUTE,
    SO_NO_CHECK,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SO_TYPE,
    SOCK_DGRAM,
    SOL_IP,
    SOL_SOCKET,
    SOL_UDP,
)
from stack.wire.checksum import l4_checksum, pseudo_header_sum
from stack.wire.ipv4 import INADDR_ANY, IPPROTO_UDP, ip_str
from stack.wire.layout import U16
from stack.wire.udp import UDP, UDP_HLEN

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff
    from stack.ipv4.sockglue import SockExtendedErr

SHUTDOWN_MASK = RCV_SHUTDOWN | SEND_SHUTDOWN
UDP_MAX_PAYLOAD = 0xFFFF - 20 - UDP_HLEN  # 65507
_HDR = UDP.struct
_IP_UDP_HLEN = 20 + UDP_HLEN
# the SOL_IP options that ask recvmsg for ancillary data (do_ip_setsockopt -> inet->cmsg_flags)
_CMSG_OPTIONS = {IP_PKTINFO: IP_CMSG_PKTINFO, IP_RECVTTL: IP_CMSG_TTL, IP_RECVTOS: IP_CMSG_TOS}
# SOL_SOCKET options the Sock takes itself (also when called directly, below the socket layer)
_UDP_SOCKET_OPTS = frozenset({SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF, SO_SNDBUF, SO_NO_CHECK,
                              SO_BINDTODEVICE})


def _int_value(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return int.from_bytes(raw[:4], "little", signed=True) if len(raw) >= 4 else (
            raw[0] if raw else 0)
    return int(value)


class UdpSock(Sock):
    """One UDP socket (``struct udp_sock``); see the module docstring."""

    type = SOCK_DGRAM
    protocol = IPPROTO_UDP

    def __init__(self, net: Any) -> None:
        super().__init__(net)
        self.num = 0  # inet_num: the local port, 0 while unbound
        self.rcv_saddr = INADDR_ANY  # inet_rcv_saddr: the address we receive on
        self.saddr = INADDR_ANY  # inet_saddr: the source we send from
        self.daddr: bytes | None = None
        self.dport = 0
        self.rcvq: deque[SkBuff] = deque()
        self.rmem_alloc = 0
        self.wmem_alloc = 0
        self.drops = 0
        self.dst: Route | None = None
        self.pmtudisc = IP_PMTUDISC_WANT
        self.ttl: int | None = None
        self.tos = 0
        self.recverr = False
        self.sk_error_queue: deque[SockExtendedErr] = deque()  # IP_RECVERR's ICMP errors
        self.cmsg_flags = 0  # IP_CMSG_*: the ancillary data recvmsg hands out
        self.no_check_tx = False
        self.addr_locked = False  # SOCK_BINDADDR_LOCK
        self.port_locked = False  # SOCK_BINDPORT_LOCK

    # -- options the socket layer keeps for us -----------------------------------------------------
    @property
    def reuse(self) -> bool:
        return bool(self.options.get((SOL_SOCKET, SO_REUSEADDR)))

    @property
    def broadcast(self) -> bool:
        return bool(self.options.get((SOL_SOCKET, SO_BROADCAST)))

    @property
    def bound_dev(self) -> NetDevice | None:
        name = self.options.get((SOL_SOCKET, SO_BINDTODEVICE))
        return self.net.kernel.dev_get_by_name(name) if name else None

    def _check_open(self) -> None:
        if self.closed:
            raise oserror(errno.EBADF)

    # -- binding and connecting --------------------------------------------------------------------
    def bind(self, addr: bytes, port: int) -> None:
        self._check_open()
        if self.num:
            raise oserror(errno.EINVAL, "already bound")
        if not 0 <= port <= 0xFFFF:
            raise oserror(errno.EINVAL, f"bad port {port}")
        addr = bytes(addr)
        kind = self.net.fib.addr_type(addr) if addr != INADDR_ANY else RTN_LOCAL
        if kind not in (RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST) \
                and not self.net.sysctl.ip_nonlocal_bind:
            raise oserror(errno.EADDRNOTAVAIL, f"{ip_str(addr)} is not a local address")
        self.rcv_saddr = addr
        self.saddr = INADDR_ANY if kind != RTN_LOCAL else addr
        try:
            self.num = self.net.udp.get_port(self, port)
        except OSError as exc:
            self.rcv_saddr = self.saddr = INADDR_ANY
            if port == 0:
                raise oserror(errno.EADDRINUSE, "no free ephemeral port") from exc
            raise
        self.addr_locked = addr != INADDR_ANY
        self.port_locked = port != 0

    def _autobind(self) -> None:
        if not self.num:
            self.num = self.net.udp.get_port(self, 0)

    def connect(self, addr: bytes, port: int) -> None:
        """ip4_datagram_connect (after inet_autobind)."""
        self._check_open()
        if not 0 < port <= 0xFFFF:
            raise oserror(errno.EINVAL, f"bad port {port}")
        self._autobind()
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        rt = route_output(self.net, bytes(addr), saddr, self.bound_dev)
        if rt.type == RTN_BROADCAST and not self.broadcast:
            raise oserror(errno.EACCES, "broadcast needs SO_BROADCAST")
        ip_datagram_connected(self, rt, rt.daddr, port)
        self.dst = rt

    def disconnect(self) -> None:
        """__udp_disconnect (connect with AF_UNSPEC)."""
        self.daddr = None
        self.dport = 0
        self.dst = None
        if not self.addr_locked:
            self.saddr = self.rcv_saddr = INADDR_ANY
        if not self.port_locked and self.num:
            self.net.udp.unhash(self)
            self.num = 0

    def getsockname(self) -> tuple[bytes, int]:
        return (self.rcv_saddr if self.rcv_saddr != INADDR_ANY else self.saddr), self.num

    def getpeername(self) -> tuple[bytes, int]:
        if self.daddr is None:
            raise oserror(errno.ENOTCONN)
        return self.daddr, self.dport

    # -- sending -----------------------------------------------------------------------------------
    def sendmsg_ctl(self, data: bytes | memoryview, flags: int,
                    addr: tuple[bytes, int] | None, ancdata: list[Cmsg]) -> int:
        """sendmsg with control messages (``ip_cmsg_send``: IP_PKTINFO, IP_TTL, IP_TOS)."""
        self._check_open()
        return self.sendmsg(data, flags, addr, ip_cmsg_send(self.net, ancdata))

    def sendmsg(self, data: bytes | memoryview, flags: int = 0,
                addr: tuple[bytes, int] | None = None, ipc: IpcmCookie | None = None) -> int:
        self._check_open()
        size = len(data)
        if size > UDP_MAX_PAYLOAD:  # udp_sendmsg's first two checks, in its order
            raise oserror(errno.EMSGSIZE)
        if flags & MSG_OOB:
            raise oserror(errno.EOPNOTSUPP)
        err = self.sock_error()
        if err:
            raise oserror(err)
        if self.sk_shutdown & SEND_SHUTDOWN:
            raise oserror(errno.EPIPE)
        net = self.net
        connected = addr is None
        if connected:
            if self.daddr is None:
                raise oserror(errno.EDESTADDRREQ)
            daddr, dport = self.daddr, self.dport
        else:
            assert addr is not None
            daddr, dport = bytes(addr[0]), addr[1]
            if not 0 < dport <= 0xFFFF:
                raise oserror(errno.EINVAL, f"bad port {dport}")
        self._autobind()
        oif = self.bound_dev
        ttl, tos = self.ttl, self.tos
        saddr = self.saddr if self.saddr != INADDR_ANY else None
        if ipc is not None:  # control messages: this datagram's own route (connected = 0)
            connected = False
            oif = ipc.oif or oif
            if ipc.addr is not None and ipc.addr != INADDR_ANY:
                saddr = ipc.addr
            ttl = ipc.ttl if ipc.ttl is not None else ttl
            tos = ipc.tos if ipc.tos is not None else tos
        rt = self.dst if connected else None
        if rt is None or not net.fib.check(rt):
            try:
                rt = route_output(net, daddr, saddr, oif)
            except OSError as exc:
                if exc.errno == errno.ENETUNREACH:
                    net.mib.ip["OutNoRoutes"] += 1
                raise
            if connected:
                self.dst = rt
        if rt.type == RTN_BROADCAST and not self.broadcast:
            raise oserror(errno.EACCES, "broadcast needs SO_BROADCAST")
        if rt.gateway is not None and self.options.get((SOL_SOCKET, SO_DONTROUTE)):
            raise oserror(errno.ENETUNREACH)  # SO_DONTROUTE: on-link destinations only
        saddr = saddr or rt.src
        pmtudisc = self.pmtudisc
        mtu = rt.dev_mtu if pmtudisc == IP_PMTUDISC_PROBE else rt.mtu
        total = _IP_UDP_HLEN + size
        if pmtudisc >= IP_PMTUDISC_DO:
            if total > mtu:
                raise oserror(errno.EMSGSIZE, f"datagram of {total} bytes > MTU {mtu}")
            df = True
        else:
            df = pmtudisc == IP_PMTUDISC_WANT and total <= mtu
        if self.wmem_alloc >= self.sk_sndbuf:
            raise eagain()
        skb = alloc_skb(net.kernel, MAX_HEADER + UDP_HLEN + size)
        skb.reserve(MAX_HEADER + UDP_HLEN)
        skb.put_data(data)
        off = skb.push(UDP_HLEN)
        ulen = UDP_HLEN + size
        head = skb.head
        _HDR.pack_into(head, off, self.num, dport, ulen, 0)
        skb.transport_header = off
        if not self.no_check_tx:
            if rt.dev.features & (NETIF_F_HW_CSUM | NETIF_F_IP_CSUM) and total <= mtu:
                U16.pack_into(head, off + 6, pseudo_header_sum(saddr, daddr, IPPROTO_UDP, ulen))
                skb.ip_summed = CHECKSUM_PARTIAL
                skb.csum_start = off
                skb.csum_offset = 6
            else:
                check = l4_checksum(saddr, daddr, IPPROTO_UDP, memoryview(head)[off:off + ulen])
                U16.pack_into(head, off + 6, check or 0xFFFF)
        skb.sk = self
        skb.priority = self.priority
        skb.mark = self.mark
        skb.destructor = self._wfree
        self.wmem_alloc += skb.truesize
        ret = ip_send(net, skb, saddr, daddr, IPPROTO_UDP, tos=tos, ttl=ttl, df=df,
                      rt=rt)
        if ret < 0:
            if ret == -errno.ENOBUFS and not self.recverr:
                net.mib.udp["SndbufErrors"] += 1
                return size
            raise oserror(-ret)
        net.mib.udp["OutDatagrams"] += 1
        return size

    def _wfree(self, skb: SkBuff) -> None:
        """sock_wfree: a sent skb was freed; wake writers once half the buffer is free."""
        self.wmem_alloc = max(self.wmem_alloc - skb.truesize, 0)
        if self.wq and (self.wmem_alloc << 1) < self.sk_sndbuf:
            self.wake(EPOLLOUT | EPOLLWRNORM)

    # -- receiving ---------------------------------------------------------------------------------
    def queue_rcv(self, skb: SkBuff) -> None:
        """__udp_enqueue_schedule_skb: queue a datagram (``data`` at its payload) or drop it."""
        if self.rmem_alloc > self.sk_rcvbuf or self.closed:
            self.drops += 1
            mib = self.net.mib.udp
            mib["RcvbufErrors"] += 1
            mib["InErrors"] += 1
            kfree_skb(skb, SkbDropReason.SOCKET_RCVBUFF)
            return
        self.rmem_alloc += skb.truesize
        self.rcvq.append(skb)
        if self.wq:
            self.wake(EPOLLIN | EPOLLRDNORM)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[bytes, int] | None]:
        self._check_open()
        err = self.sock_error()
        if err:
            raise oserror(err)
        queue = self.rcvq
        if not queue:
            if self.sk_shutdown & RCV_SHUTDOWN:
                return b"", None
            raise eagain()
        skb = queue[0]
        head = skb.head
        data = bytes(head[skb.data : min(skb.tail, skb.data + max(bufsize, 0))])
        if flags & MSG_TRUNC:  # the datagram's real length; what did not fit is not copied
            data = data.ljust(skb.tail - skb.data, b"\0")
        nh = skb.network_header
        addr = (bytes(head[nh + 12 : nh + 16]), U16.unpack_from(head, skb.transport_header)[0])
        if not flags & MSG_PEEK:
            queue.popleft()
            self.rmem_alloc -= skb.truesize
            consume_skb(skb)
            self.net.mib.udp["InDatagrams"] += 1
        return data, addr

    def recvmsg_ctl(self, bufsize: int, flags: int
                    ) -> tuple[bytes, tuple[bytes, int] | None, int, list[Cmsg]]:
        """udp_recvmsg as ``recvmsg(2)`` sees it: -> ``(data, addr, msg_flags, cmsgs)``.

        MSG_ERRQUEUE reads the error queue (``ip_recv_error``, never blocking); otherwise
        msg_flags has MSG_TRUNC when the datagram was longer than ``bufsize`` and the cmsgs
        are those IP_PKTINFO/IP_RECVTTL/IP_RECVTOS asked for (``ip_cmsg_recv``).
        """
        self._check_open()
        if flags & MSG_ERRQUEUE:
            return ip_recv_error(self, bufsize, flags)
        cmsgs: list[Cmsg] = []
        if self.cmsg_flags and self.rcvq and not self.sk_err:
            cmsgs = ip_cmsg_recv(self.net, self.cmsg_flags, self.rcvq[0])
        data, addr = self.recvmsg(bufsize, flags | MSG_TRUNC)
        msg_flags = 0
        if len(data) > bufsize:
            msg_flags = MSG_TRUNC
            if not flags & MSG_TRUNC:
                data = data[:bufsize]
        if addr is None:  # end of input after shutdown: no datagram, no ancillary data
            cmsgs = []
        return data, addr, msg_flags, cmsgs

    def poll(self) -> int:
        """datagram_poll: EPOLLERR for a pending error or a non-empty error queue."""
        mask = 0
        if self.sk_err or self.sk_error_queue:
            mask |= EPOLLERR
        shutdown = self.sk_shutdown
        if shutdown & RCV_SHUTDOWN:
            mask |= EPOLLRDHUP | EPOLLIN | EPOLLRDNORM
        if shutdown == SHUTDOWN_MASK:
            mask |= EPOLLHUP
        if self.rcvq:
            mask |= EPOLLIN | EPOLLRDNORM
        if (self.wmem_alloc << 1) < self.sk_sndbuf:
            mask |= EPOLLOUT | EPOLLWRNORM
        return mask

    def ioctl(self, cmd: int) -> int:
        """``udp_ioctl``: SIOCINQ (FIONREAD) the payload length of the next datagram, 0 for
        none (``first_packet_length``: not the whole queue, so a zero-length datagram reads 0
        too), SIOCOUTQ the sent bytes not yet freed (``sk_wmem_alloc_get``); ENOTTY else."""
        if cmd == SIOCINQ:
            if not self.rcvq:
                return 0
            skb = self.rcvq[0]
            return skb.tail - skb.data
        if cmd == SIOCOUTQ:
            return self.wmem_alloc
        raise oserror(errno.ENOTTY)

    def shutdown(self, how: int) -> None:
        inet_dgram_shutdown(self, how)

    def close(self) -> None:
        if self.closed:
            return
        if self.num:
            self.net.udp.unhash(self)
        while self.rcvq:
            kfree_skb(self.rcvq.popleft(), SkbDropReason.SOCKET_CLOSE)
        self.sk_error_queue.clear()
        self.rmem_alloc = 0
        self.dst = None
        super().close()

    # -- options -----------------------------------------------------------------------------------
    def write_space(self) -> None:
        """SO_SNDBUF changed: writers waiting for room look again (``sock_def_write_space``)."""
        self.wake()

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        if level == SOL_SOCKET:
            if option not in _UDP_SOCKET_OPTS:  # the rest is the socket layer's, or unknown
                raise oserror(errno.ENOPROTOOPT)
            self.options[(level, option)] = value
            if option == SO_RCVBUF:
                self.set_rcvbuf(_int_value(value))
            elif option == SO_SNDBUF:
                self.set_sndbuf(_int_value(value))
            elif option == SO_NO_CHECK:
                self.no_check_tx = bool(_int_value(value))
            return
        if level != SOL_IP:
            raise oserror(errno.ENOPROTOOPT)
        v = _int_value(value)
        if option == IP_TTL:
            if v != -1 and not 1 <= v <= 255:
                raise oserror(errno.EINVAL)
            self.ttl = None if v == -1 else v
        elif option == IP_TOS:
            if v & 0xFF != self.tos:  # __ip_sock_set_tos
                self.tos = v & 0xFF
                self.priority = rt_tos2priority(self.tos)
        elif option == IP_MTU_DISCOVER:
            if not 0 <= v <= 5:
                raise oserror(errno.EINVAL)
            self.pmtudisc = v
        elif option == IP_RECVERR:
            self.recverr = bool(v)
            if not v:
                self.sk_error_queue.clear()  # Linux purges the queue (skb_queue_purge)
                self.rmem_alloc = sum(skb.truesize for skb in self.rcvq)
        elif option in _CMSG_OPTIONS:
            bit = _CMSG_OPTIONS[option]
            self.cmsg_flags = self.cmsg_flags | bit if v else self.cmsg_flags & ~bit
        else:
            raise oserror(errno.ENOPROTOOPT)

    def getsockopt(self, level: int, option: int) -> Any:
        if level == SOL_SOCKET:
            if option == SO_TYPE:
                return SOCK_DGRAM
            value = sk_getsockopt_common(self, option)
            if value is not None:
                return value
            if option not in _UDP_SOCKET_OPTS:
                raise oserror(errno.ENOPROTOOPT)  # sk_getsockopt: an option it lacks
            return self.options.get((level, option), 0)
        if level == SOL_UDP:
            raise oserror(errno.ENOPROTOOPT)  # udp_lib_getsockopt: no UDP option modelled
        if level != SOL_IP:
            raise oserror(errno.EOPNOTSUPP)  # udp_getsockopt -> ip_getsockopt: not SOL_IP
        value = ip_getsockopt_common(self, option)
        if value is not None:
            return value
        if option in _CMSG_OPTIONS:
            return int(bool(self.cmsg_flags & _CMSG_OPTIONS[option]))
        if option == IP_MTU:
            if self.daddr is None:
                raise oserror(errno.ENOTCONN)
            return route_output(self.net, self.daddr).mtu
        raise oserror(errno.ENOPROTOOPT)

    def __repr__(self) -> str:
        peer = f" -> {ip_str(self.daddr)}:{self.dport}" if self.daddr is not None else ""
        return f"<UdpSock {ip_str(self.rcv_saddr)}:{self.num}{peer} rcvq={len(self.rcvq)}>"
