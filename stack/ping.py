"""A ping engine: ICMP echo requests on virtual time and ping(8)'s statistics.

Plays the part of iputils ``ping`` over a Linux ping socket (``net/ipv4/ping.c``: the socket is
found by the echo identifier, ``ping_rcv`` gets the replies, ``ping_err`` the ICMP errors
about our requests).  It is what ``Host.ping`` runs.

Contract: ``Ping(net, dst, count=1, size=56, interval=1 s, timeout=1 s, ttl=None)`` (times in
ns).  ``start()`` sends the first request at once and one every ``interval`` after it, and
returns a future (``sched.future()``) a task may await; ``run()`` runs the world until the ping
is over and returns the :class:`PingResult`; ``ping(net, dst, ...)`` is both in one call.  The
ping is over when every request got a reply or an error, or ``timeout`` after the last one was
sent.  RTTs are measured on the world's clock (``sched.now``), in ns.  ``PingResult.text()``
renders what ping(8) prints; a route failure at the start raises ``OSError`` as ping's
``connect: Network is unreachable`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from stack.core import alloc_skb
from stack.core.units import NS_PER_S, NS_PER_US
from stack.ipv4.output import MAX_HEADER, ip_send
from stack.ipv4.route import route_output
from stack.sock import oserror
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_FRAG_NEEDED,
    ICMP_PARAMETERPROB,
    ICMP_SOURCE_QUENCH,
    ICMP_TIME_EXCEEDED,
    IcmpRepr,
)
from stack.wire.ipv4 import IPPROTO_ICMP, ip_bytes, ip_str

ICMP_HDR = 8
IP_HDR = 20

_UNREACH_TEXT = (
    "Destination Net Unreachable", "Destination Host Unreachable",
    "Destination Protocol Unreachable", "Destination Port Unreachable",
    "Frag needed and DF set", "Source Route Failed", "Destination Net Unknown",
    "Destination Host Unknown", "Source Host Isolated", "Destination Net Prohibited",
    "Destination Host Prohibited", "Destination Net Unreachable for Type of Service",
    "Destination Host Unreachable for Type of Service", "Packet filtered",
    "Precedence Violation", "Precedence Cutoff",
)  # fmt: skip


def icmp_error_text(itype: int, code: int, info: int = 0) -> str:
    """What iputils prints for an ICMP error (``pr_icmph``)."""
    if itype == ICMP_DEST_UNREACH:
        if code == ICMP_FRAG_NEEDED:
            return f"Frag needed and DF set (mtu = {info})"
        if code < len(_UNREACH_TEXT):
            return _UNREACH_TEXT[code]
        return f"Dest Unreachable, Bad Code: {code}"
    if itype == ICMP_TIME_EXCEEDED:
        return "Time to live exceeded" if code == 0 else "Frag reassembly time exceeded"
    if itype == ICMP_PARAMETERPROB:
        return f"Parameter problem: pointer = {info}"
    if itype == ICMP_SOURCE_QUENCH:
        return "Source Quench"
    return f"Bad ICMP type: {itype}"


def _ms(us: int) -> str:
    return f"{us // 1000}.{us % 1000:03d}"


def _rtt_text(ns: int) -> str:
    """iputils' precision: 3 decimals under 1 ms ... none from 100 ms."""
    us = ns // NS_PER_US
    if us >= 100_000 - 50:
        return f"{(us + 500) // 1000}"
    if us >= 10_000 - 5:
        return f"{(us + 50) // 1000}.{((us + 50) % 1000) // 100}"
    if us >= 1000:
        return f"{(us + 5) // 1000}.{((us + 5) % 1000) // 10:02d}"
    return f"{us // 1000}.{us % 1000:03d}"


@dataclass(slots=True)
class PingReply:
    seq: int
    src: bytes
    ttl: int
    size: int
    rtt: int  # ns


@dataclass(slots=True)
class PingError:
    seq: int
    src: bytes
    type: int
    code: int
    info: int = 0

    @property
    def text(self) -> str:
        return icmp_error_text(self.type, self.code, self.info)


@dataclass(slots=True)
class PingResult:
    """What ping(8) reports at the end."""

    dst: str
    size: int
    transmitted: int = 0
    received: int = 0
    duplicates: int = 0
    errors: int = 0
    time: int = 0  # ns from the first request to the end
    replies: list[PingReply] = field(default_factory=list)
    icmp_errors: list[PingError] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def rtts(self) -> list[int]:
        return [r.rtt for r in self.replies]

    @property
    def loss(self) -> float:
        """Packet loss in percent."""
        if not self.transmitted:
            return 0.0
        return (self.transmitted - self.received) * 100.0 / self.transmitted

    @property
    def rtt_min(self) -> int:
        return min(self.rtts) if self.replies else 0

    @property
    def rtt_max(self) -> int:
        return max(self.rtts) if self.replies else 0

    @property
    def rtt_avg(self) -> int:
        return sum(self.rtts) // len(self.replies) if self.replies else 0

    @property
    def rtt_mdev(self) -> int:
        """sqrt(mean(rtt^2) - mean(rtt)^2), in ns."""
        if not self.replies:
            return 0
        n = len(self.replies)
        mean = sum(self.rtts) / n
        var = sum(r * r for r in self.rtts) / n - mean * mean
        return int(math.sqrt(max(var, 0.0)))

    def text(self) -> str:
        """The whole ping(8) output."""
        out = [f"PING {self.dst} ({self.dst}) {self.size}({self.size + IP_HDR + ICMP_HDR}) "
               "bytes of data."]
        out += self.lines
        out.append("")
        out.append(f"--- {self.dst} ping statistics ---")
        stats = f"{self.transmitted} packets transmitted, {self.received} received"
        if self.duplicates:
            stats += f", +{self.duplicates} duplicates"
        if self.errors:
            stats += f", +{self.errors} errors"
        stats += f", {self.loss:g}% packet loss, time {(self.time + 500_000) // 1_000_000}ms"
        out.append(stats)
        if self.replies:
            us = [v // NS_PER_US for v in (self.rtt_min, self.rtt_avg, self.rtt_max,
                                            self.rtt_mdev)]
            out.append("rtt min/avg/max/mdev = " + "/".join(_ms(v) for v in us) + " ms")
        return "\n".join(out) + "\n"


class Ping:
    """One ping run (see the module docstring)."""

    def __init__(self, net: Any, dst: str | bytes, count: int = 1, size: int = 56,
                 interval: int = NS_PER_S, timeout: int = NS_PER_S, ttl: int | None = None,
                 tos: int = 0) -> None:
        if count < 1 or not 0 <= size <= 65507 or interval <= 0 or timeout < 0:
            raise ValueError("ping: bad count, size, interval or timeout")
        self.net = net
        self.sched = net.sched
        self.daddr = ip_bytes(dst) if isinstance(dst, str) else bytes(dst)
        self.count = count
        self.size = size
        self.interval = interval
        self.timeout = timeout
        self.ttl = ttl
        self.tos = tos
        self.ident = 0
        self.seq = 0  # last sequence number sent
        self.sent_at: dict[int, int] = {}
        self.answered: set[int] = set()
        self.result = PingResult(ip_str(self.daddr), size)
        self.start_time = 0
        self.done = False
        self.future: Any = None
        self._handle: Any = None
        self._payload = bytes(i & 0xFF for i in range(size))

    @property
    def trace_name(self) -> str:
        return f"{self.net.kernel.hostname} ping {self.result.dst}"

    def start(self) -> Any:
        """Register the identifier and send the first request; a future for the result."""
        route_output(self.net, self.daddr)  # connect(): fails early when there is no route
        socks = self.net.icmp.ping_socks
        rng = self.sched.rng
        ident = rng.getrandbits(16)
        while ident in socks:
            ident = rng.getrandbits(16)
        self.ident = ident
        socks[ident] = self
        self.start_time = self.sched.now
        self.future = self.sched.future()
        self._send()
        return self.future

    def run(self) -> PingResult:
        """Start (unless started) and run the world until the ping is over."""
        if self.future is None:
            self.start()
        self.sched.run_until(lambda: self.done, what=f"ping {self.result.dst}")
        return self.result

    # -- sending -----------------------------------------------------------------------------------
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
        msg = IcmpRepr.echo_request(self.ident, seq & 0xFFFF, data)
        net = self.net
        skb = alloc_skb(net.kernel, MAX_HEADER + msg.buffer_len())
        skb.reserve(MAX_HEADER)
        off = skb.put(msg.buffer_len())
        msg.emit(skb.head, off)
        skb.transport_header = off
        mib = net.mib.icmp
        mib["OutMsgs"] += 1
        mib["OutEchos"] += 1
        net.mib.icmpmsg["OutType8"] += 1
        self.sent_at[seq & 0xFFFF] = now
        self.result.transmitted += 1
        try:
            mtu = route_output(net, self.daddr).mtu
        except OSError:
            mtu = 0
        ret = ip_send(net, skb, None, self.daddr, IPPROTO_ICMP, tos=self.tos, ttl=self.ttl,
                      df=self.size + IP_HDR + ICMP_HDR <= mtu)
        if ret < 0:
            self.result.errors += 1
            self.answered.add(seq & 0xFFFF)
            self.result.lines.append(f"ping: sendmsg: {oserror(-ret).strerror}")
        if seq < self.count:
            self._handle = self.sched.call_later(self.interval, self._send)
        else:
            self._handle = self.sched.call_later(self.timeout, self._finish)
        self._check_done()

    # -- the ping socket's receive side ------------------------------------------------------------
    def ping_rcv(self, src: bytes, seq: int, ttl: int, data: bytes) -> None:
        sent = self.sent_at.get(seq)
        if sent is None or self.done:
            return
        result = self.result
        if seq in self.answered:
            result.duplicates += 1
            return
        self.answered.add(seq)
        rtt = self.sched.now - sent
        result.received += 1
        result.replies.append(PingReply(seq, src, ttl, len(data) + ICMP_HDR, rtt))
        result.lines.append(f"{len(data) + ICMP_HDR} bytes from {ip_str(src)}: icmp_seq={seq} "
                            f"ttl={ttl} time={_rtt_text(rtt)} ms")
        self._check_done()

    def ping_err(self, src: bytes, itype: int, code: int, seq: int, info: int = 0) -> None:
        if seq not in self.sent_at or self.done:
            return
        err = PingError(seq, src, itype, code, info)
        result = self.result
        result.errors += 1
        result.icmp_errors.append(err)
        result.lines.append(f"From {ip_str(src)} icmp_seq={seq} {err.text}")
        self.answered.add(seq)
        self._check_done()

    # -- the end -----------------------------------------------------------------------------------
    def _check_done(self) -> None:
        if self.seq >= self.count and len(self.answered) >= self.count:
            self._finish()

    def _finish(self) -> None:
        if self.done:
            return
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.done = True
        self.result.time = self.sched.now - self.start_time
        socks = self.net.icmp.ping_socks
        if socks.get(self.ident) is self:
            del socks[self.ident]
        if self.future is not None:
            self.future.set_result(self.result)

    def cancel(self) -> None:
        """Stop early (Ctrl-C): the statistics so far."""
        self._finish()


def ping(net: Any, dst: str | bytes, count: int = 1, size: int = 56, interval: int = NS_PER_S,
         timeout: int = NS_PER_S, ttl: int | None = None, tos: int = 0) -> PingResult:
    """Ping ``dst`` ``count`` times, running the world; the statistics (see :class:`Ping`)."""
    return Ping(net, dst, count, size, interval, timeout, ttl, tos).run()


__all__ = ["Ping", "PingError", "PingReply", "PingResult", "icmp_error_text", "ping"]
