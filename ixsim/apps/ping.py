"""ping(8): ICMP echo requests over a ping or raw socket, on virtual time, and the statistics.

Plays iputils ``ping`` (``ping_common.c``, ``ping.c``) against ixsim's BSD sockets, as a
process on the host: it first asks for an ICMP datagram socket (``socket(AF_INET,
SOCK_DGRAM, IPPROTO_ICMP)``, ``stack/ping.py``) and, when ``net.ipv4.ping_group_range``
refuses it (EACCES, Linux's default ``1 0``), falls back to a raw socket (``SOCK_RAW``,
``stack/raw.py``; ixsim runs as root, which has CAP_NET_RAW), exactly as iputils does.

- Raw socket: the identifier is drawn from the world's RNG (iputils uses its pid); the ICMP
  filter lets only echo replies and errors through (iputils' ``ICMP_FILTER``); replies are
  matched by identifier, their TTL read from the IP header; an ICMP error counts when it
  quotes one of our echo requests to our destination.
- Ping socket: the kernel chooses the identifier and matches replies; the TTL comes from the
  IP_RECVTTL control message and errors from the error queue (IP_RECVERR).

Contract: ``Ping(host_or_net, dst, count=1, size=56, interval=1 s, timeout=1 s, ttl=None,
tos=0)`` (times in ns).  ``start()`` sends the first request at once and one every
``interval`` after it, and returns a future (``sched.future()``) a task may await; ``run()``
runs the world until the ping is over and returns the :class:`PingResult`; ``ping(...)`` is
both in one call.  The ping is over when every request got a reply or an error, or
``timeout`` after the last one was sent.  RTTs are measured on the world's clock
(``sched.now``), in ns.  ``PingResult.text()`` renders what ping(8) prints; a route failure
at the start raises ``OSError`` as ping's ``connect: Network is unreachable`` does; a send
that fails prints ``ping: sendmsg: <error>`` and counts as an error.
"""

from __future__ import annotations

import errno
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from stack.core.units import NS_PER_S, NS_PER_US
from stack.socket import (
    AF_INET,
    EPOLLERR,
    EPOLLIN,
    ICMP_FILTER,
    IP_RECVERR,
    IP_RECVTTL,
    IP_TOS,
    IP_TTL,
    IPPROTO_ICMP,
    MSG_ERRQUEUE,
    SOCK_DGRAM,
    SOCK_RAW,
    SOL_IP,
    SOL_RAW,
    Socket,
    socket_create,
)
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMP_FRAG_NEEDED,
    ICMP_PARAMETERPROB,
    ICMP_REDIRECT,
    ICMP_SOURCE_QUENCH,
    ICMP_TIME_EXCEEDED,
    IcmpRepr,
)
from stack.wire.ipv4 import ip_bytes, ip_str

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


# iputils' ICMP_FILTER: everything but echo replies and the errors ping reports is dropped.
_FILTER = ~((1 << ICMP_SOURCE_QUENCH) | (1 << ICMP_DEST_UNREACH) | (1 << ICMP_TIME_EXCEEDED)
            | (1 << ICMP_PARAMETERPROB) | (1 << ICMP_REDIRECT) | (1 << ICMP_ECHOREPLY)) & 0xFFFFFFFF
_ERRORS = (ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB)
_U16 = struct.Struct("!H")
_SOCK_EE = struct.Struct("=IBBBBII")  # struct sock_extended_err, then the offender


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

    def __init__(self, host: Any, dst: str | bytes, count: int = 1, size: int = 56,
                 interval: int = NS_PER_S, timeout: int = NS_PER_S, ttl: int | None = None,
                 tos: int = 0) -> None:
        if count < 1 or not 0 <= size <= 65507 or interval <= 0 or timeout < 0:
            raise ValueError("ping: bad count, size, interval or timeout")
        self.net = getattr(host, "net", host)
        self.sched = self.net.sched
        self.daddr = ip_bytes(dst) if isinstance(dst, str) else bytes(dst)
        self.count = count
        self.size = size
        self.interval = interval
        self.timeout = timeout
        self.ttl = ttl
        self.tos = tos
        self.sock: Socket | None = None
        self.dgram = False  # a ping socket (else a raw one)
        self.ident = 0
        self.seq = 0  # last sequence number sent
        self.sent_at: dict[int, int] = {}
        self.answered: set[int] = set()
        self.result = PingResult(ip_str(self.daddr), size)
        self.start_time = 0
        self.done = False
        self.future: Any = None
        self._handle: Any = None
        self._reading = False
        self._payload = bytes(i & 0xFF for i in range(size))

    @property
    def trace_name(self) -> str:
        return f"{self.net.kernel.hostname} ping {self.result.dst}"

    @staticmethod
    def addr_text(addr: bytes) -> str:
        return ip_str(addr)

    def _open(self) -> Socket:
        """iputils' create_socket: a ping socket, else (EACCES) a raw one."""
        try:
            sock = socket_create(self.net, AF_INET, SOCK_DGRAM, IPPROTO_ICMP)
            self.dgram = True
            sock.setsockopt(SOL_IP, IP_RECVERR, 1)
            sock.setsockopt(SOL_IP, IP_RECVTTL, 1)
        except OSError as exc:
            if exc.errno != errno.EACCES:
                raise
            sock = socket_create(self.net, AF_INET, SOCK_RAW, IPPROTO_ICMP)
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", _FILTER))
            self.ident = self.sched.rng.getrandbits(16)  # iputils: the pid
        if self.ttl is not None:
            sock.setsockopt(SOL_IP, IP_TTL, self.ttl)
        if self.tos:
            sock.setsockopt(SOL_IP, IP_TOS, self.tos)
        sock.setblocking(False)
        sock.sk.wq.append(self._wakeup)
        return sock

    def start(self) -> Any:
        """Open the socket and send the first request; a future for the result."""
        self.net.route(self.daddr)  # ping's connect(): fails early when there is no route
        self.sock = self._open()
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
        if self.done or self.sock is None:
            return
        self.seq += 1
        seq = self.seq
        now = self.sched.now
        data = self._payload
        if self.size >= 8:
            data = now.to_bytes(8, "big") + data[8:]
        packet = self._echo_request(seq & 0xFFFF, data)
        self.sent_at[seq & 0xFFFF] = now
        self.result.transmitted += 1
        try:
            self.sock.sendto(packet, self._sockaddr())
        except OSError as exc:
            self.result.errors += 1
            self.answered.add(seq & 0xFFFF)
            self.result.lines.append(f"ping: sendmsg: {exc.strerror}")
        if seq < self.count:
            self._handle = self.sched.call_later(self.interval, self._send)
        else:
            self._handle = self.sched.call_later(self.timeout, self._finish)
        self._check_done()

    def _echo_request(self, seq: int, data: bytes) -> bytes:
        """The echo request as ping writes it (the kernel sets the id on a ping socket)."""
        msg = IcmpRepr.echo_request(self.ident, seq, data)
        packet = bytearray(msg.buffer_len())
        msg.emit(packet)
        return bytes(packet)

    def _sockaddr(self) -> tuple[Any, ...]:
        return ip_str(self.daddr), 0

    # -- receiving ---------------------------------------------------------------------------------
    def _wakeup(self, sk: Any, events: int) -> None:
        """The socket became readable: read in process context, as ping's poll loop does."""
        if events & (EPOLLIN | EPOLLERR) and not self._reading and not self.done:
            self._reading = True
            self.sched.call_soon(self._read)

    def _read(self) -> None:
        self._reading = False
        sock = self.sock
        while sock is not None and not self.done:
            try:
                if self.dgram:
                    data, cmsgs, addr = sock.sk.recvmsg_cmsg(65536)
                    ttl = next((int.from_bytes(v, "little") for lvl, kind, v in cmsgs
                                if lvl == SOL_IP and kind == IP_TTL), 0)
                    self._dgram_reply(data, addr[0], ttl)
                else:
                    data, _addr = sock.recvfrom(65536)
                    self._raw_packet(data)
            except BlockingIOError:
                return
            except OSError:
                if self.dgram:  # the error was queued too: read the queue (IP_RECVERR)
                    self._read_errqueue()

    def _read_errqueue(self) -> None:
        sock = self.sock
        assert sock is not None
        while not self.done:
            try:
                quoted, cmsgs, _addr = sock.sk.recvmsg_cmsg(65536, MSG_ERRQUEUE)
            except BlockingIOError:
                return
            for _level, _kind, value in cmsgs:
                _errno, _origin, itype, code, _pad, info, _data = _SOCK_EE.unpack_from(value)
                offender = bytes(value[_SOCK_EE.size + 4 : _SOCK_EE.size + 8])
                if len(quoted) >= 8:
                    self._error(offender, itype, code, _U16.unpack_from(quoted, 6)[0], info)

    def _dgram_reply(self, icmp: bytes, src: bytes, ttl: int) -> None:
        if len(icmp) >= 8 and icmp[0] == ICMP_ECHOREPLY:
            self._reply(src, _U16.unpack_from(icmp, 6)[0], ttl, len(icmp))

    def _raw_packet(self, packet: bytes) -> None:
        """ping4_parse_reply on a raw socket: our replies, and errors about our requests."""
        ihl = (packet[0] & 0x0F) << 2
        icmp = packet[ihl:]
        if len(icmp) < 8:
            return
        itype = icmp[0]
        src = packet[12:16]
        if itype == ICMP_ECHOREPLY:
            if _U16.unpack_from(icmp, 4)[0] == self.ident:
                self._reply(src, _U16.unpack_from(icmp, 6)[0], packet[8], len(icmp))
            return
        if itype not in _ERRORS or len(icmp) < 8 + 20 + 8:
            return
        qihl = (icmp[8] & 0x0F) << 2
        quoted = icmp[8 + qihl :]
        if icmp[8 + 9] != IPPROTO_ICMP or icmp[8 + 16 : 8 + 20] != self.daddr \
                or len(quoted) < 8 or quoted[0] != ICMP_ECHO \
                or _U16.unpack_from(quoted, 4)[0] != self.ident:
            return
        info = 0
        if itype == ICMP_DEST_UNREACH and icmp[1] == ICMP_FRAG_NEEDED:
            info = _U16.unpack_from(icmp, 6)[0]
        elif itype == ICMP_PARAMETERPROB:
            info = icmp[4]
        self._error(src, itype, icmp[1], _U16.unpack_from(quoted, 6)[0], info)

    def _reply(self, src: bytes, seq: int, ttl: int, size: int) -> None:
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
        result.replies.append(PingReply(seq, src, ttl, size, rtt))
        result.lines.append(f"{size} bytes from {self.addr_text(src)}: icmp_seq={seq} "
                            f"ttl={ttl} time={_rtt_text(rtt)} ms")
        self._check_done()

    def _error(self, src: bytes, itype: int, code: int, seq: int, info: int = 0) -> None:
        if seq not in self.sent_at or self.done:
            return
        err = PingError(seq, src, itype, code, info)
        result = self.result
        result.errors += 1
        result.icmp_errors.append(err)
        result.lines.append(f"From {self.addr_text(src)} icmp_seq={seq} {err.text}")
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
        if self.sock is not None:
            self.sock.close()
        if self.future is not None:
            self.future.set_result(self.result)

    def cancel(self) -> None:
        """Stop early (Ctrl-C): the statistics so far."""
        self._finish()


def ping(host: Any, dst: str | bytes, count: int = 1, size: int = 56, interval: int = NS_PER_S,
         timeout: int = NS_PER_S, ttl: int | None = None, tos: int = 0) -> PingResult:
    """Ping ``dst`` ``count`` times, running the world; the statistics (see :class:`Ping`)."""
    return Ping(host, dst, count, size, interval, timeout, ttl, tos).run()


__all__ = ["Ping", "PingError", "PingReply", "PingResult", "icmp_error_text", "ping"]
