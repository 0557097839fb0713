"""ping(8) to an IPv6 address: ICMPv6 echo requests, the same statistics as IPv4's ping.

Plays iputils ``ping`` given an IPv6 address (``ping -6``).  Until ICMPv6 ping sockets exist
(``socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6)``, item 4 of issue 15) it stands where the
socket would: it sends through ``stack.ipv6.icmp.icmp6_xmit`` and hears echo replies and the
errors quoting its requests through ``net.ipv6.pingers[ident]``, the kernel's ping-socket
lookup by identifier.  The identifier is drawn from the world's RNG; the hop limit of a reply
is read from its IPv6 header.  Contract, timing and output: :class:`ixsim.apps.ping.Ping`.
"""

from __future__ import annotations

from typing import Any

from ixsim.apps.ping import Ping, PingResult
from stack.core.units import NS_PER_S
from stack.ipv6.icmp import icmp6_xmit
from stack.ipv6.output import Flow6
from stack.ipv6.route import route_output6
from stack.uapi import IPPROTO_ICMPV6
from stack.wire.icmpv6 import Icmpv6Repr
from stack.wire.ipv6 import ipv6_bytes, ipv6_str


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
        self.ipv6 = self.net.enable_ipv6()

    @staticmethod
    def addr_text(addr: bytes) -> str:
        return ipv6_str(addr)

    def start(self) -> Any:
        route_output6(self.net, self.daddr)  # connect(): ENETUNREACH early
        self.ident = self.sched.rng.getrandbits(16)
        while self.ident in self.ipv6.pingers:
            self.ident = (self.ident + 1) & 0xFFFF
        self.ipv6.pingers[self.ident] = self._event
        self.start_time = self.sched.now
        self.future = self.sched.future()
        self._send()
        return self.future

    def _event(self, kind: Any, src: bytes, seq: int, hop_limit: int, info: int) -> None:
        if kind == "reply":
            self._reply(src, seq, hop_limit, info)
        else:
            itype, code = kind
            self._error(src, itype, code, seq, info)

    def _send(self) -> None:
        self._handle = None
        if self.done:
            return
        self.seq += 1
        seq = self.seq
        now = self.sched.now
        data = self._payload
        if self.size >= 8:
            data = now.to_bytes(8, "big") + data[8:]
        self.sent_at[seq & 0xFFFF] = now
        self.result.transmitted += 1
        rc = icmp6_xmit(
            self.net,
            Icmpv6Repr.echo_request(self.ident, seq & 0xFFFF, data),
            Flow6(None, self.daddr, IPPROTO_ICMPV6, self.tos, self.ttl),
        )
        if rc < 0:
            self.result.errors += 1
            self.answered.add(seq & 0xFFFF)
            self.result.lines.append(f"ping: sendmsg: error {-rc}")
        if seq < self.count:
            self._handle = self.sched.call_later(self.interval, self._send)
        else:
            self._handle = self.sched.call_later(self.timeout, self._finish)
        self._check_done()

    def _finish(self) -> None:
        if not self.done:
            self.ipv6.pingers.pop(self.ident, None)
        super()._finish()
