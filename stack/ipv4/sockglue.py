"""IPv4 ancillary data and the socket error queue (Linux's ``net/ipv4/ip_sockglue.c``).

The kernel half of ``recvmsg``/``sendmsg`` control messages for IPPROTO_IP; the user half
(``CMSG_SPACE`` framing, MSG_CTRUNC) is :mod:`stack.socket.cmsg`.

- ``ip_cmsg_recv(net, sk, skb)``: the cmsgs a datagram carries to a socket that asked for them,
  in Linux's order (``ip_cmsg_recv_offset`` walks ``inet->cmsg_flags`` low bit first):
  IP_PKTINFO (``struct in_pktinfo``: ``ipi_ifindex``, ``ipi_spec_dst`` from
  ``fib_compute_spec_dst``, ``ipi_addr`` the header's destination), IP_TTL (a 4-byte int),
  IP_TOS (one byte).
- ``ip_cmsg_send(net, ancdata)`` -> :class:`IpcmCookie`: IP_PKTINFO (``ipi_ifindex`` chooses
  the output device, ``ipi_spec_dst`` the source address), IP_TTL (int 1..255), IP_TOS (int
  or byte 0..255); any other SOL_IP type is EINVAL, a wrong length EINVAL, SOL_SOCKET types
  EINVAL (``__sock_cmsg_send`` knows only SO_MARK/SO_TIMESTAMPING/SCM_TXTIME, none modelled),
  other levels are skipped, as Linux skips them.
- The error queue (``sk_error_queue``): ``ip_icmp_error`` queues an ICMP error about a datagram
  the socket sent (IP_RECVERR on) as a :class:`SockExtendedErr` (``struct sock_extended_err``
  + the offender, i.e. the ICMP sender, + the quoted payload + the original destination);
  ``ip_recv_error`` hands the oldest one out as ``recvmsg(..., MSG_ERRQUEUE)`` does:
  the payload, the original destination as the address, one SOL_IP/IP_RECVERR cmsg, msg_flags
  with MSG_ERRQUEUE (and MSG_TRUNC when the payload did not fit), EAGAIN when empty, never
  blocking; ``sk_err`` then takes the next queued error's errno, or 0
  (``sock_dequeue_err_skb``).  Entries are charged to the receive buffer as their skbs are
  (``sock_queue_err_skb``: dropped when ``rmem_alloc + truesize >= sk_rcvbuf``).
- Deviation: local errors (``ip_local_error``, SO_EE_ORIGIN_LOCAL: EMSGSIZE under
  IP_PMTUDISC_DO with IP_RECVERR) are raised by ``sendmsg`` only, not also queued.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD
from stack.sock import eagain, oserror
from stack.uapi import (
    AF_INET,
    AF_INET6,
    IP_MTU_DISCOVER,
    IP_PKTINFO,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    IPV6_RECVERR,
    MSG_ERRQUEUE,
    MSG_TRUNC,
    SO_EE_ORIGIN_ICMP,
    SO_EE_ORIGIN_ICMP6,
    SO_ERROR,
    SO_RCVBUF,
    SO_SNDBUF,
    SOL_IP,
    SOL_IPV6,
    SOL_SOCKET,
)

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

Cmsg = tuple[int, int, bytes]  # (cmsg_level, cmsg_type, data), as CPython's recvmsg gives them

# inet->cmsg_flags (include/net/inet_sock.h), the order ip_cmsg_recv_offset emits them in
IP_CMSG_PKTINFO = 1 << 0
IP_CMSG_TTL = 1 << 1
IP_CMSG_TOS = 1 << 2

_INT = struct.Struct("=i")
IN_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo
SOCK_EXTENDED_ERR = struct.Struct("=IBBBBII")  # struct sock_extended_err
SOCKADDR_IN = struct.Struct("=H2s4s8x")  # struct sockaddr_in: family, port (network), addr
SOCKADDR_IN6 = struct.Struct("=H2sI16sI")  # struct sockaddr_in6
_PORT = struct.Struct("!H")


def sockaddr_in_bytes(addr: bytes | None, port: int = 0) -> bytes:
    """``struct sockaddr_in`` (the offender after a sock_extended_err; AF_UNSPEC when none)."""
    if addr is None:
        return bytes(SOCKADDR_IN.size)
    if len(addr) == 16:  # an ICMPv6 error's sender (ipv6_recv_error: struct sockaddr_in6)
        return SOCKADDR_IN6.pack(AF_INET6, _PORT.pack(port), 0, addr, 0)
    return SOCKADDR_IN.pack(AF_INET, _PORT.pack(port), addr)


class SockExtendedErr:
    """One error-queue entry (``SKB_EXT_ERR(skb)``: ``struct sock_exterr_skb``)."""

    __slots__ = ("ee_errno", "ee_origin", "ee_type", "ee_code", "ee_info", "ee_data",
                 "offender", "addr", "port", "payload", "truesize")

    def __init__(self, ee_errno: int, ee_origin: int, ee_type: int, ee_code: int,
                 ee_info: int, offender: bytes | None, addr: bytes, port: int,
                 payload: bytes) -> None:
        self.ee_errno = ee_errno
        self.ee_origin = ee_origin
        self.ee_type = ee_type
        self.ee_code = ee_code
        self.ee_info = ee_info
        self.ee_data = 0
        self.offender = offender
        self.addr = addr
        self.port = port
        self.payload = payload
        self.truesize = len(payload) + SKB_TRUESIZE_OVERHEAD

    def errhdr(self) -> bytes:
        """The IP_RECVERR cmsg data: ``sock_extended_err`` then the offender's sockaddr_in."""
        return SOCK_EXTENDED_ERR.pack(self.ee_errno, self.ee_origin, self.ee_type,
                                      self.ee_code, 0, self.ee_info, self.ee_data) + \
            sockaddr_in_bytes(self.offender)

    def __repr__(self) -> str:
        return (f"<SockExtendedErr errno={self.ee_errno} origin={self.ee_origin} "
                f"type={self.ee_type} code={self.ee_code} info={self.ee_info}>")


def ip_icmp_error(sk: Any, err: int, itype: int, code: int, info: int, offender: bytes,
                  addr: bytes, port: int, payload: bytes, origin: int = SO_EE_ORIGIN_ICMP,
                  ) -> None:
    """``ip_icmp_error`` + ``sock_queue_err_skb``: queue an ICMP error when IP_RECVERR is on
    (``ipv6_icmp_error`` with ``origin`` SO_EE_ORIGIN_ICMP6, the caller checking
    IPV6_RECVERR)."""
    if not sk.recverr and origin == SO_EE_ORIGIN_ICMP:
        return
    entry = SockExtendedErr(err, origin, itype, code, info, offender, addr, port, payload)
    if sk.rmem_alloc + entry.truesize >= sk.sk_rcvbuf:
        return  # -ENOMEM: the error is lost, as Linux loses it
    sk.rmem_alloc += entry.truesize
    sk.sk_error_queue.append(entry)


def ip_recv_error(sk: Any, bufsize: int,
                  flags: int) -> tuple[bytes, tuple[bytes, int] | None, int, list[Cmsg]]:
    """``ip_recv_error`` (``ipv6_recv_error`` for an ICMPv6 entry): -> ``(payload, (addr,
    port), msg_flags, [IP_RECVERR cmsg])``."""
    queue = sk.sk_error_queue
    if not queue:
        raise eagain()
    entry = queue.popleft()
    sk.rmem_alloc = max(sk.rmem_alloc - entry.truesize, 0)
    msg_flags = MSG_ERRQUEUE
    payload = entry.payload
    if len(payload) > bufsize:
        msg_flags |= MSG_TRUNC
        payload = payload[:max(bufsize, 0)]
    # sock_dequeue_err_skb: sk_err follows the queue
    sk.sk_err = queue[0].ee_errno if queue else 0
    if queue:
        sk.wake()
    if entry.ee_origin == SO_EE_ORIGIN_ICMP6:  # ipv6_recv_error: IPV6_RECVERR, sockaddr_in6
        return payload, (entry.addr, entry.port, 0, 0), msg_flags, [
            (SOL_IPV6, IPV6_RECVERR, entry.errhdr())]
    return payload, (entry.addr, entry.port), msg_flags, [(SOL_IP, IP_RECVERR, entry.errhdr())]


def ip_cmsg_recv(net: Any, cmsg_flags: int, skb: SkBuff) -> list[Cmsg]:
    """``ip_cmsg_recv_offset``: the cmsgs for ``skb`` (its IPv4 header at network_header)."""
    head = skb.head
    nh = skb.network_header
    out: list[Cmsg] = []
    if cmsg_flags & IP_CMSG_PKTINFO:
        daddr = bytes(head[nh + 16 : nh + 20])
        dev = skb.dev
        out.append((SOL_IP, IP_PKTINFO, IN_PKTINFO.pack(
            dev.ifindex if dev is not None else 0, spec_dst(net, dev, daddr), daddr)))
    if cmsg_flags & IP_CMSG_TTL:
        out.append((SOL_IP, IP_TTL, _INT.pack(head[nh + 8])))
    if cmsg_flags & IP_CMSG_TOS:
        out.append((SOL_IP, IP_TOS, bytes((head[nh + 1],))))
    return out


def spec_dst(net: Any, dev: NetDevice | None, daddr: bytes) -> bytes:
    """``fib_compute_spec_dst``: the local address a reply should come from - the
    destination itself when it is ours, else the receiving device's address."""
    if net.fib.is_local(daddr):
        return daddr
    return net.devinet.select_addr(dev, None, 0xFF) or bytes(4)


class IpcmCookie:
    """``struct ipcm_cookie``: what sendmsg's control messages ask of this one datagram."""

    __slots__ = ("oif", "addr", "ttl", "tos")

    def __init__(self) -> None:
        self.oif: NetDevice | None = None
        self.addr: bytes | None = None  # ipi_spec_dst: the source address
        self.ttl: int | None = None
        self.tos: int | None = None


def _cmsg_int(data: bytes) -> int:
    if len(data) != _INT.size:
        raise oserror(errno.EINVAL, "this control message takes a 4-byte int")
    return _INT.unpack(data)[0]


def ip_cmsg_send(net: Any, ancdata: Iterable[Cmsg]) -> IpcmCookie:
    """``ip_cmsg_send``: parse sendmsg's control messages for an IPv4 datagram."""
    ipc = IpcmCookie()
    for level, ctype, data in ancdata:
        if level == SOL_SOCKET:
            raise oserror(errno.EINVAL, f"SOL_SOCKET control message {ctype} not supported")
        if level != SOL_IP:
            continue
        if ctype == IP_PKTINFO:
            if len(data) != IN_PKTINFO.size:
                raise oserror(errno.EINVAL, "IP_PKTINFO takes a struct in_pktinfo (12 bytes)")
            ifindex, spec, _ = IN_PKTINFO.unpack(data)
            if ifindex:
                dev = net.kernel.dev_get_by_index(ifindex)
                if dev is None:
                    raise oserror(errno.ENODEV, f"no device with ifindex {ifindex}")
                ipc.oif = dev
            ipc.addr = spec
        elif ctype == IP_TTL:
            ttl = _cmsg_int(data)
            if not 1 <= ttl <= 255:
                raise oserror(errno.EINVAL, f"IP_TTL {ttl}")
            ipc.ttl = ttl
        elif ctype == IP_TOS:
            tos = _cmsg_int(data) if len(data) != 1 else data[0]
            if not 0 <= tos <= 255:
                raise oserror(errno.EINVAL, f"IP_TOS {tos}")
            ipc.tos = tos
        else:
            raise oserror(errno.EINVAL, f"IPPROTO_IP control message {ctype} not supported")
    return ipc


def sk_getsockopt_common(sk: Any, option: int) -> int | None:
    """The SOL_SOCKET options every datagram-style socket answers alike (``sk_getsockopt``):
    SO_ERROR (read and cleared), SO_RCVBUF, SO_SNDBUF; None for the caller to go on."""
    if option == SO_ERROR:
        return sk.sock_error()
    if option == SO_RCVBUF:
        return sk.sk_rcvbuf
    if option == SO_SNDBUF:
        return sk.sk_sndbuf
    return None


def ip_getsockopt_common(sk: Any, option: int) -> int | None:
    """The SOL_IP options ``do_ip_getsockopt`` answers from ``inet_sock`` for every socket
    type (IP_TTL: the socket's or ``ip_default_ttl``; IP_TOS, IP_MTU_DISCOVER, IP_RECVERR);
    None for the caller's own options."""
    if option == IP_TTL:
        return sk.net.sysctl.ip_default_ttl if sk.ttl is None else sk.ttl
    if option == IP_TOS:
        return sk.tos
    if option == IP_MTU_DISCOVER:
        return sk.pmtudisc
    if option == IP_RECVERR:
        return int(sk.recverr)
    return None
