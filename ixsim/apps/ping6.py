"""ping(8) to an IPv6 address: ICMPv6 echo requests over a ping or raw socket.

Plays iputils ``ping`` given an IPv6 address (``ping -6``, ``ping6_common.c``), as
:class:`ixsim.apps.ping.Ping` does for IPv4: it first asks for an ICMPv6 datagram socket
(``socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)``, ``stack/ipv6/ping.py``) and, when
``net.ipv4.ping_group_range`` refuses it (EACCES, Linux's default), falls back to a raw
ICMPv6 socket (``stack/ipv6/raw.py``), whose checksum the kernel computes.

- Raw socket: the identifier is drawn from the world's RNG (iputils: its pid); ICMPV6_FILTER
  passes only echo replies and the errors ping reports (iputils' ``ICMP6_FILTER_SETPASS``);
  replies are matched by identifier; an error counts when it quotes one of our requests to our
  destination.
- Ping socket: the kernel chooses the identifier and matches replies; errors come from the
  error queue (IPV6_RECVERR).
- Both: the hop limit of a reply is the IPV6_HOPLIMIT control message (IPV6_RECVHOPLIMIT).

Contract, timing and output: :class:`ixsim.apps.ping.Ping`.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from ixsim.apps.ping import Ping, PingResult
from stack.core.units import NS_PER_S
from stack.ipv6.route import route_output6
from stack.socket import EPOLLERR, EPOLLIN, Socket, socket_create
from stack.uapi import (
    AF_INET6,
    ICMPV6_FILTER,
    IPPROTO_ICMPV6,
    IPV6_HOPLIMIT,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    MSG_ERRQUEUE,
    SOCK_DGRAM,
    SOCK_RAW,
    SOL_ICMPV6,
    SOL_IPV6,
)
from stack.wire.icmpv6 import (
    ICMPV6_DEST_UNREACH,
    ICMPV6_ECHO_REPLY,
    ICMPV6_ECHO_REQUEST,
    ICMPV6_PARAMPROB,
    ICMPV6_PKT_TOOBIG,
    ICMPV6_TIME_EXCEED,
    Icmpv6Repr,
)
from stack.wire.ipv6 import ipv6_bytes, ipv6_str

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_SOCK_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err, then the sockaddr_in6
_ERRORS6 = (ICMPV6_DEST_UNREACH, ICMPV6_PKT_TOOBIG, ICMPV6_TIME_EXCEED, ICMPV6_PARAMPROB)
_IPV6_HLEN = 40


def icmp6_filter_pass(*types: int) -> bytes:
    """``ICMP6_FILTER_SETBLOCKALL`` then ``ICMP6_FILTER_SETPASS`` for ``types``."""
    words = [0xFFFFFFFF] * 8
    for t in types:
        words[t >> 5] &= ~(1 << (t & 31)) & 0xFFFFFFFF
    return struct.pack("=8I", *words)


_UNREACH6 = ("No route", "Administratively prohibited", "Beyond scope",
             "Address unreachable", "Port unreachable")  # fmt: skip


def icmp6_error_text(itype: int, code: int, info: int = 0) -> str:
    """What iputils prints for an ICMPv6 error (``print_icmp``, ping6_common.c)."""
    if itype == ICMPV6_DEST_UNREACH:
        text = _UNREACH6[code] if code < len(_UNREACH6) else f"Unknown code {code}"
        return "Destination unreachable: " + text
    if itype == ICMPV6_PKT_TOOBIG:
        return f"Packet too big: mtu={info}"
    if itype == ICMPV6_TIME_EXCEED:
        return "Time exceeded: " + ("Hop limit" if code == 0 else "Defragmentation failure")
    if itype == ICMPV6_PARAMPROB:
        return f"Parameter problem: code {code} at {info}"
    return f"Unknown icmp type: {itype}"


class Ping6(Ping):
    """One IPv6 ping run."""

    def __init__(
        self,
        host: Any,
        dst: str | bytes,
        count: int = 1,
        size: int = 56,
        interval: int = NS_PER_S,
        timeout: int = NS_PER_S,
        ttl: int | None = None,
        tos: int = 0,
    ) -> None:
        super().__init__(host, "0.0.0.0", count, size, interval, timeout, ttl, tos)
        self.daddr = ipv6_bytes(dst) if isinstance(dst, str) else bytes(dst)
        self.result = PingResult(ipv6_str(self.daddr), size)
        self.net.enable_ipv6()

    @staticmethod
    def addr_text(addr: bytes) -> str:
        return ipv6_str(addr)

    def _open(self) -> Socket:
        """iputils' create_socket for IPv6: a ping socket, else (EACCES) a raw one."""
        try:
            sock = socket_create(self.net, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)
            self.dgram = True
            sock.setsockopt(SOL_IPV6, IPV6_RECVERR, 1)
        except OSError as exc:
            if exc.errno != errno.EACCES:
                raise
            sock = socket_create(self.net, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)
            sock.setsockopt(
                SOL_ICMPV6, ICMPV6_FILTER, icmp6_filter_pass(ICMPV6_ECHO_REPLY, *_ERRORS6)
            )
            self.ident = self.sched.rng.getrandbits(16)  # iputils: the pid
        sock.setsockopt(SOL_IPV6, IPV6_RECVHOPLIMIT, 1)
        if self.ttl is not None:
            sock.setsockopt(SOL_IPV6, IPV6_UNICAST_HOPS, self.ttl)
        if self.tos:
            sock.setsockopt(SOL_IPV6, IPV6_TCLASS, self.tos)
        sock.setblocking(False)
        sock.sk.wq.append(self._wakeup)
        return sock

    def start(self) -> Any:
        route_output6(self.net, self.daddr)  # ping's connect(): ENETUNREACH early
        self.sock = self._open()
        self.start_time = self.sched.now
        self.future = self.sched.future()
        self._send()
        return self.future

    def _echo_request(self, seq: int, data: bytes) -> bytes:
        msg = Icmpv6Repr.echo_request(self.ident, seq, data)
        return bytes((ICMPV6_ECHO_REQUEST, 0, 0, 0)) + _U32.pack(msg.un) + msg.data

    def _sockaddr(self) -> tuple[Any, ...]:
        return ipv6_str(self.daddr), 0, 0, 0

    # -- receiving ---------------------------------------------------------------------------------
    def _wakeup(self, sk: Any, events: int) -> None:
        if events & (EPOLLIN | EPOLLERR) and not self._reading and not self.done:
            self._reading = True
            self.sched.call_soon(self._read)

    def _read(self) -> None:
        self._reading = False
        sock = self.sock
        while sock is not None and not self.done:
            try:
                data, addr, _flags, cmsgs = sock.sk.recvmsg_ctl(65536, 0)
            except BlockingIOError:
                return
            except OSError:
                if self.dgram:
                    self._read_errqueue()
                continue
            hops = next(
                (
                    int.from_bytes(v, "little")
                    for lvl, kind, v in cmsgs
                    if lvl == SOL_IPV6 and kind == IPV6_HOPLIMIT
                ),
                0,
            )
            self._icmp6(data, bytes(addr[0]), hops)

    def _read_errqueue(self) -> None:
        sock = self.sock
        assert sock is not None
        while not self.done:
            try:
                quoted, _addr, _flags, cmsgs = sock.sk.recvmsg_ctl(65536, MSG_ERRQUEUE)
            except BlockingIOError:
                return
            for _level, _kind, value in cmsgs:
                _errno, _origin, itype, code, _pad, info, _data = _SOCK_EE.unpack_from(value)
                off = _SOCK_EE.size + 8  # sockaddr_in6: family, port, flowinfo, then addr
                offender = bytes(value[off : off + 16])
                if len(quoted) >= 8:
                    self._error(offender, itype, code, _U16.unpack_from(quoted, 6)[0], info)

    def _icmp6(self, icmp: bytes, src: bytes, hops: int) -> None:
        """ping6_parse_reply: our replies, and (raw socket) errors quoting our requests."""
        if len(icmp) < 8:
            return
        itype = icmp[0]
        if itype == ICMPV6_ECHO_REPLY:
            if self.dgram or _U16.unpack_from(icmp, 4)[0] == self.ident:
                self._reply(src, _U16.unpack_from(icmp, 6)[0], hops, len(icmp))
            return
        if self.dgram or itype not in _ERRORS6 or len(icmp) < 8 + _IPV6_HLEN + 8:
            return
        inner = icmp[8:]
        quoted = inner[_IPV6_HLEN:]
        if (
            inner[6] != IPPROTO_ICMPV6
            or inner[24:40] != self.daddr
            or quoted[0] != ICMPV6_ECHO_REQUEST
            or _U16.unpack_from(quoted, 4)[0] != self.ident
        ):
            return
        self._error(
            src, itype, icmp[1], _U16.unpack_from(quoted, 6)[0], _U32.unpack_from(icmp, 4)[0]
        )

    def _error(self, src: bytes, itype: int, code: int, seq: int, info: int = 0) -> None:
        if seq not in self.sent_at or self.done:
            return
        super()._error(src, itype, code, seq, info)
        self.result.lines[-1] = (
            f"From {self.addr_text(src)} icmp_seq={seq} {icmp6_error_text(itype, code, info)}"
        )
