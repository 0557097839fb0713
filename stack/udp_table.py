"""The namespace's UDP socket table: port binding and the receive lookup.

Mirrors Linux's ``udp_table`` in ``net/ipv4/udp.c``: ``udp_lib_get_port`` /
``udp_lib_lport_inuse`` (EADDRINUSE unless both sockets set SO_REUSEADDR or SO_REUSEPORT, an
ephemeral port from ``sched.rng`` within ``ip_local_port_range``), ``__udp4_lib_lookup`` with
``compute_score`` (the most specific socket wins; an SO_REUSEPORT group shares a port and the
flow's hash picks the member, :mod:`stack.sock_reuseport`) and ``udp_init``.  IPv6 shares the
table (``udp6_lib_lookup``): :func:`compute_score` keeps the families apart.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.sock import (
    inet_rcv_saddr_conflict,
    oserror,
)
from stack.sock_reuseport import ehashfn, reuseport_select_sock
from stack.uapi import (
    AF_INET,
    AF_INET6,
)
from stack.wire.ipv4 import INADDR_ANY, ip_str

if TYPE_CHECKING:
    from stack.core import NetDevice
    from stack.udp import UdpSock


class UdpTable:
    """The namespace's bound UDP sockets by local port (``net.udp``, Linux's ``udp_table``)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.ports: dict[int, list[UdpSock]] = {}

    def _conflict(self, sk: UdpSock, port: int) -> bool:
        """udp_lib_lport_inuse."""
        for other in self.ports.get(port, ()):
            if other is sk or (other.reuse and sk.reuse) or (other.reuseport and sk.reuseport):
                continue
            if (
                other.bound_dev is not None
                and sk.bound_dev is not None
                and other.bound_dev is not sk.bound_dev
            ):
                continue
            if inet_rcv_saddr_conflict(sk, sk.rcv_saddr, other, other.rcv_saddr):
                return True
        return False

    def get_port(self, sk: UdpSock, port: int) -> int:
        """udp_lib_get_port: hash ``sk`` on ``port`` (0: an ephemeral one); errno on failure."""
        if port == 0:
            low, high = self.net.sysctl.ip_local_port_range
            remaining = high - low + 1
            first = self.net.sched.rng.randrange(remaining)
            for i in range(remaining):
                candidate = low + (first + i) % remaining
                if not self._conflict(sk, candidate):
                    port = candidate
                    break
            else:
                raise oserror(errno.EAGAIN, "no free ephemeral UDP port")
        elif self._conflict(sk, port):
            raise oserror(errno.EADDRINUSE, f"UDP port {port}")
        self.ports.setdefault(port, []).append(sk)
        return port

    def unhash(self, sk: UdpSock) -> None:
        socks = self.ports.get(sk.num)
        if socks and sk in socks:
            socks.remove(sk)
            if not socks:
                del self.ports[sk.num]

    def lookup(
        self, saddr: bytes, sport: int, daddr: bytes, dport: int, dev: NetDevice | None
    ) -> UdpSock | None:
        """__udp4_lib_lookup: the best-scoring socket for a datagram saddr:sport -> daddr:dport."""
        socks = self.ports.get(dport)
        if not socks:
            return None
        if len(socks) == 1:
            sk = socks[0]
            return sk if compute_score(sk, saddr, sport, daddr, dev) >= 0 else None
        best, best_score = None, -1
        for sk in socks:
            score = compute_score(sk, saddr, sport, daddr, dev)
            if score > best_score:
                best, best_score = sk, score
        if best is not None and best.reuseport and best.daddr is None:
            # an SO_REUSEPORT group: the flow's hash picks the member (stack.sock_reuseport)
            group = [
                sk
                for sk in socks
                if sk.reuseport
                and sk.daddr is None
                and compute_score(sk, saddr, sport, daddr, dev) == best_score
            ]
            if len(group) > 1:
                return reuseport_select_sock(group, ehashfn(daddr, dport, saddr, sport))
        return best

    def lookup_all(
        self, saddr: bytes, sport: int, daddr: bytes, dport: int, dev: NetDevice | None
    ) -> list[UdpSock]:
        return [
            sk
            for sk in self.ports.get(dport, ())
            if compute_score(sk, saddr, sport, daddr, dev) >= 0
        ]

    def sockets(self) -> list[UdpSock]:
        return [sk for port in sorted(self.ports) for sk in self.ports[port]]

    def show(self) -> str:
        """``ss -uan``-style listing: state, queues, local and peer addresses."""
        lines = ["State  Recv-Q Send-Q Local Address:Port Peer Address:Port\n"]
        for sk in self.sockets():
            peer = f"{ip_str(sk.daddr)}:{sk.dport}" if sk.daddr is not None else "*:*"
            state = "ESTAB" if sk.daddr is not None else "UNCONN"
            local = ip_str(sk.rcv_saddr) if sk.rcv_saddr != INADDR_ANY else "0.0.0.0"
            lines.append(f"{state} {sk.rmem_alloc} {sk.wmem_alloc} {local}:{sk.num} {peer}\n")
        return "".join(lines)


def udp_init(net: Any) -> UdpTable:
    """The namespace's UDP state, ``net.udp`` (``udp_init`` / ``udp_table``); see stack.af_inet."""
    net.udp = UdpTable(net)
    return net.udp


def compute_score(
    sk: UdpSock, saddr: bytes, sport: int, daddr: bytes, dev: NetDevice | None
) -> int:
    """compute_score: -1 when ``sk`` does not match, more points for more specific matches.

    Families (``udp6_lib_lookup`` shares the table): an IPv6 datagram (16-byte addresses)
    finds AF_INET6 sockets only; an IPv4 one finds AF_INET sockets and, unless IPV6_V6ONLY,
    AF_INET6 ones, the AF_INET socket scoring higher (Linux: 2 against 1)."""
    if len(daddr) == 16:
        if sk.family != AF_INET6:
            return -1
        score = 1
    elif sk.family == AF_INET:
        score = 1
    elif sk.ipv6only:
        return -1
    else:
        score = 0
    if sk.rcv_saddr != INADDR_ANY:
        if sk.rcv_saddr != daddr:
            return -1
        score += 4
    if sk.daddr is not None:
        if sk.daddr != saddr:
            return -1
        score += 4
    if sk.dport:
        if sk.dport != sport:
            return -1
        score += 4
    if sk.bound_dev is not None:
        if sk.bound_dev is not dev and dev is not None:
            return -1
        score += 4
    return score
