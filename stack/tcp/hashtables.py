"""TCP's socket hashes and ports: ehash/bhash/lhash, bind and connect port selection, ISNs.

Mirrors Linux's ``net/ipv4/inet_hashtables.c`` (``ehash``/``bhash``/``lhash``,
``__inet_hash_connect`` with RFC 6056's ``table_perturb``, ``__inet_check_established``,
``__inet_lookup_listener``), ``inet_connection_sock.c`` (``inet_csk_get_port``,
``inet_csk_bind_conflict``), ``tcp_twsk_unique`` (``tcp_ipv4.c``) and ``net/core/secure_seq.c``
(ISN and timestamp offsets from a keyed hash plus a clock, RFC 6528), with the hooks to IP
(``transmit``, ``route``, ``sk_setup_caps``) and the RFC 5961 challenge-ACK limit.
:class:`TcpTable` is ``net.tcp``; the IP-facing entry points that create and use it
(``tcp_init``, ``tcp_v4_rcv``, ``tcp_v4_err``) are in ``table.py``, whose docstring states
the contract and which re-exports it.
"""

from __future__ import annotations

import errno
import hashlib
from typing import TYPE_CHECKING, Any

from stack.core.features import (
    NETIF_F_CSUM_MASK,
    NETIF_F_HW_CSUM,
    NETIF_F_IPV6_CSUM,
    NETIF_F_TSO,
    NETIF_F_TSO6,
)
from stack.ipv4.output import ip_queue_xmit
from stack.ipv4.route import route_output
from stack.ipv6.output import Flow6, ip6_xmit
from stack.ipv6.route import Route6, route_output6
from stack.sock import SOCK_BINDPORT_LOCK, inet_rcv_saddr_conflict, oserror
from stack.sock_reuseport import ehashfn, reuseport_select_sock
from stack.tcp import timewait
from stack.tcp.const import NS_PER_S
from stack.tcp.minisocks import RequestSock
from stack.tcp.seq import SEQ_MASK
from stack.tcp.state import LISTEN, TIME_WAIT
from stack.tcp.tsq_tasklet import TsqTasklet
from stack.uapi import AF_INET, AF_INET6, IP_PMTUDISC_DO, IP_PMTUDISC_WANT
from stack.wire.ipv4 import INADDR_ANY, IPPROTO_TCP, ipv4_is_loopback

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff
    from stack.tcp.sock import TcpSock

Key = tuple[bytes, int, bytes, int]

# CONFIG_INET_TABLE_PERTURB_ORDER's default (16): table_perturb's buckets (RFC 6056 §3.3.4's
# TABLE_LENGTH; Linux uses 65,536 rather than the RFC's 10, since attacks on 10 were shown).
INET_TABLE_PERTURB_SIZE = 1 << 16


class TcpTable:
    """TCP's per-``Net`` state (Linux's ``tcp_hashinfo`` plus ``net->ipv4`` TCP fields)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.ehash: dict[Key, Any] = {}  # connected, SYN-SENT, TIME-WAIT socks and requests
        self.bhash: dict[int, list[TcpSock]] = {}  # bound ports
        self.lhash: dict[int, list[TcpSock]] = {}  # listeners by port
        rng = net.sched.rng
        self._seq_key = rng.getrandbits(128).to_bytes(16, "big")
        self._ts_key = rng.getrandbits(128).to_bytes(16, "big")
        # table_perturb (RFC 6056 algorithm 4), materialised lazily from a seeded key: see
        # _perturb; the one draw keeps the RNG stream where it was before the table existed.
        self._perturb_key = rng.getrandbits(32).to_bytes(4, "big")
        self._perturb: dict[int, int] = {}
        self._perturb_draws = 0
        self.connect_probes = 0  # ports examined by hash_connect (a debugging/test counter)
        # drawn from the RNG at first use (syncookies.py, fastopen.py), as net_get_random_once
        self.syncookie_secret: tuple[bytes, bytes] | None = None
        self.fastopen_key: bytes | None = None
        self.fastopen_cache: dict[tuple[bytes, bytes], Any] = {}  # tcp_metrics' TFO part
        self.challenge_second = -1
        self.challenge_count = 0
        self.transmit = self._ip_transmit
        self.tsq = TsqTasklet(net.kernel)  # the TSQ tasklet (one CPU per host)
        self.route = self._ip_route

    # -- the IP hooks ----------------------------------------------------------------------------
    def _ip_transmit(self, skb: SkBuff, saddr: bytes, daddr: bytes) -> Any:
        sk = skb.sk
        if len(daddr) == 16:
            return self._ip6_transmit(skb, sk, saddr, daddr)
        if sk is None:
            return ip_queue_xmit(self.net, skb, saddr, daddr, IPPROTO_TCP)
        skb.priority = sk.priority  # __ip_queue_xmit: SO_PRIORITY / IP_TOS, SO_MARK
        skb.mark = sk.mark
        pmtudisc = sk.pmtudisc  # ip_dont_fragment: DF under IP_PMTUDISC_DO and _WANT
        return ip_queue_xmit(
            self.net,
            skb,
            saddr,
            daddr,
            IPPROTO_TCP,
            sk.tos,
            sk.ttl,
            pmtudisc == IP_PMTUDISC_WANT or pmtudisc == IP_PMTUDISC_DO,
            rt=sk.route,
        )

    def _ip6_transmit(self, skb: SkBuff, sk: Any, saddr: bytes, daddr: bytes) -> Any:
        """``inet6_csk_xmit``: the socket's traffic class and hop limit, its cached route."""
        if sk is None:
            return ip6_xmit(self.net, skb, Flow6(saddr, daddr, IPPROTO_TCP))
        skb.priority = sk.priority
        skb.mark = sk.mark
        rt = sk.route if isinstance(sk.route, Route6) else None
        return ip6_xmit(
            self.net,
            skb,
            Flow6(saddr, daddr, IPPROTO_TCP, sk.tclass, sk.hop_limit, sk.bound_dev_if),
            rt,
        )

    def route_caps(self, route: Any, daddr: bytes) -> int:
        """``sk_setup_caps``: the offloads a connection may use on ``route``'s device.

        IPv4 keeps the device's features.  IPv6 needs a checksum offload that covers it
        (NETIF_F_HW_CSUM or NETIF_F_IPV6_CSUM) and NETIF_F_TSO6, never IPv4's NETIF_F_TSO
        (the ixgb driver offers NETIF_F_HW_CSUM and both TSOs, docs/hardware.md §2.5); on a
        device without TSO6 TCP cuts IPv6 segments to one MSS itself.
        """
        dev = getattr(route, "dev", None)
        if dev is None:
            return 0
        features = dev.features
        if len(daddr) == 16:
            features &= ~NETIF_F_TSO
            if not features & (NETIF_F_HW_CSUM | NETIF_F_IPV6_CSUM):
                features &= ~(NETIF_F_CSUM_MASK | NETIF_F_TSO6)
        return features

    def _ip_route(self, daddr: bytes, saddr: bytes | None = None, oif: Any = None) -> Any:
        if len(daddr) == 16:
            return route_output6(self.net, daddr, saddr, oif)
        rt = route_output(self.net, daddr, saddr, oif)
        if rt is None:
            raise oserror(errno.ENETUNREACH)
        return rt

    # -- secrets (RFC 6528, secure_tcp_seq / secure_tcp_ts_off) ---------------------------------
    def secure_seq(self, laddr: bytes, lport: int, raddr: bytes, rport: int) -> int:
        """ISN = keyed hash of the 4-tuple + a 64 ns clock (RFC 6528 §3)."""
        h = hashlib.blake2b(
            laddr + raddr + lport.to_bytes(2, "big") + rport.to_bytes(2, "big"),
            key=self._seq_key,
            digest_size=4,
        ).digest()
        return (int.from_bytes(h, "big") + (self.net.sched.now >> 6)) & SEQ_MASK

    def ts_offset(self, laddr: bytes, raddr: bytes) -> int:
        """Per-pair TSval offset (RFC 7323 §7.1), so timestamps leak no uptime."""
        h = hashlib.blake2b(laddr + raddr, key=self._ts_key, digest_size=4).digest()
        return int.from_bytes(h, "big")

    def challenge_ack_allowed(self) -> bool:
        """Host-wide RFC 5961 §7 limit (``tcp_challenge_ack_limit``; Linux's default: none)."""
        limit = self.net.sysctl.tcp_challenge_ack_limit
        if limit >= 0x7FFFFFFF:
            return True
        second = self.net.sched.now // NS_PER_S
        if second != self.challenge_second:
            self.challenge_second = second
            self.challenge_count = limit
        if self.challenge_count > 0:
            self.challenge_count -= 1
            return True
        return False

    # -- ports -------------------------------------------------------------------------------------
    def _conflict(self, sk: TcpSock, addr: bytes, port: int) -> bool:
        """``inet_csk_bind_conflict``: another socket holds this address and port.

        SO_REUSEADDR on both sides lets a port be shared unless the other one listens;
        SO_REUSEPORT on both lets it be shared even by listeners (one user owns every socket
        here); sockets bound to different devices never conflict (``inet_bind_conflict``).
        """
        for sk2 in self.bhash.get(port, ()):
            if sk2 is sk:
                continue
            if not inet_rcv_saddr_conflict(sk, addr, sk2, sk2.laddr):
                continue
            if (
                sk.bound_dev_if is not None
                and sk2.bound_dev_if is not None
                and sk.bound_dev_if is not sk2.bound_dev_if
            ):
                continue
            if sk.reuseaddr and sk2.reuseaddr and sk2.state != LISTEN:
                continue
            if sk.reuseport and sk2.reuseport:
                continue
            return True
        return False

    def bind(self, sk: TcpSock, addr: bytes, port: int) -> None:
        """Give ``sk`` a local address and port (``inet_bind`` + ``inet_csk_get_port``).

        Port 0 is ``inet_csk_find_open_port``'s search: a random offset made odd, so bind()
        takes the ports of the other parity than :meth:`hash_connect` prefers ("to not
        pollute connect() users"), then the even ones."""
        if port == 0:
            low, high = self.net.sysctl.ip_local_port_range
            high += 1
            remaining = high - low
            if remaining > 1:
                remaining &= ~1
            offset = (self.net.sched.rng.getrandbits(16) % max(remaining, 1)) | 1
            for _parity in range(2):
                cand = low + offset
                for _ in range(0, remaining, 2):
                    if cand >= high:
                        cand -= remaining
                    if cand not in self.bhash or not self._conflict(sk, addr, cand):
                        port = cand
                        break
                    cand += 2
                if port:
                    break
                offset -= 1
            else:
                raise oserror(errno.EADDRINUSE)
        elif self._conflict(sk, addr, port):
            raise oserror(errno.EADDRINUSE)
        sk.laddr = addr
        sk.lport = port
        sk.bound = True
        sk.explicit_port = True
        self.bhash.setdefault(port, []).append(sk)

    def put_port(self, sk: TcpSock) -> None:
        """Release the port (``inet_put_port``)."""
        if not sk.bound:
            return
        socks = self.bhash.get(sk.lport)
        if socks is not None and sk in socks:
            socks.remove(sk)
            if not socks:
                del self.bhash[sk.lport]
        sk.bound = False

    def listen_start(self, sk: TcpSock) -> None:
        if self._conflict(sk, sk.laddr, sk.lport):
            raise oserror(errno.EADDRINUSE)
        self.lhash.setdefault(sk.lport, []).append(sk)

    def twsk_unique(self, sk: TcpSock, tw: TcpSock) -> bool:
        """May a new connection take this TIME-WAIT 4-tuple?  (``tcp_twsk_unique``)"""
        reuse = self.net.sysctl.tcp_tw_reuse
        if reuse == 2 and not (ipv4_is_loopback(tw.raddr) or ipv4_is_loopback(tw.laddr)):
            reuse = 0
        if not (tw.ts_recent_stamp and reuse):
            return False
        if self.net.sched.now // NS_PER_S <= tw.ts_recent_stamp // NS_PER_S:
            return False  # at least one second after the last timestamp (time_after32)
        sk.write_seq = (tw.snd_nxt + 65535 + 2) & SEQ_MASK or 1
        sk.ts_recent = tw.ts_recent
        sk.ts_recent_stamp = tw.ts_recent_stamp
        return True

    def _check_established(self, sk: TcpSock, key: Key) -> bool:
        other = self.ehash.get(key)
        if other is None:
            return True
        if isinstance(other, RequestSock) or other.state != TIME_WAIT:
            return False
        if not self.twsk_unique(sk, other):
            return False
        self.net.mib.tcpext["TWRecycled"] += 1
        timewait.kill_timewait(other)
        return True

    def hash_connect(self, sk: TcpSock) -> None:
        """Pick a source port whose 4-tuple is free and hash ``sk`` (``__inet_hash_connect``).

        RFC 6056 §3.3.4 algorithm 4 (double-hash), as Linux 6.x: the search starts at
        ``table_perturb[hash & mask] + hash >> 32`` (even ports first, then odd), and a
        success advances that bucket by the ports walked + 2 (at least a random 0..7 ports),
        so repeated connects to one peer do not walk past every port still in TIME-WAIT
        again: ``connect_probes`` stays O(1) per connect amortised.
        """
        if sk.bound:
            key = (sk.laddr, sk.lport, sk.raddr, sk.rport)
            if not self._check_established(sk, key):
                raise oserror(errno.EADDRNOTAVAIL)
            self.ehash[key] = sk
            return
        low, high = self.net.sysctl.ip_local_port_range
        high += 1  # [32768, 60999] -> [32768, 61000[
        remaining = high - low
        if remaining > 1:
            remaining &= ~1
        port_offset = self._port_offset(sk)
        index = port_offset & (INET_TABLE_PERTURB_SIZE - 1)
        perturb = self._perturb_get(index)
        # the first pass tries ports of low's parity (even); bind() prefers the other one
        offset = ((perturb + (port_offset >> 32)) % remaining) & ~1
        for _parity in range(2):
            port = low + offset
            for i in range(0, remaining, 2):
                if port >= high:
                    port -= remaining
                self.connect_probes += 1
                if self._connect_port_free(sk, port):
                    # advance the bucket past what this search walked (at least a random
                    # 0..7 ports' worth), so the next connect to the same peer starts there
                    i = max(i, self._perturb_random8() * 2)
                    self._perturb[index] = (perturb + i + 2) & 0xFFFFFFFF
                    return
                port += 2
            offset += 1
            if remaining <= 1:
                break
        raise oserror(errno.EADDRNOTAVAIL)

    def _connect_port_free(self, sk: TcpSock, port: int) -> bool:
        """One probe of ``__inet_hash_connect``: a port bound by bind() or a listener is
        skipped; one only connect() uses is free if the 4-tuple is (``check_established``,
        a TIME-WAIT recycled per ``tcp_twsk_unique``).  On success ``sk`` is hashed."""
        users = self.bhash.get(port)
        if users and any(u.explicit_port or u.state == LISTEN for u in users):
            return False
        key = (sk.laddr, port, sk.raddr, sk.rport)
        if users and not self._check_established(sk, key):
            return False
        sk.lport = port
        sk.bound = True
        self.bhash.setdefault(port, []).append(sk)
        self.ehash[key] = sk
        return True

    def _port_offset(self, sk: TcpSock) -> int:
        """``inet_sk_port_offset`` (``secure_ipv4_port_ephemeral``): a keyed 64-bit hash of
        (saddr, daddr, dport); the low bits index table_perturb, the high 32 add to it."""
        h = hashlib.blake2b(
            sk.laddr + sk.raddr + sk.rport.to_bytes(2, "big"), key=self._seq_key, digest_size=8
        ).digest()
        return int.from_bytes(h, "big")

    def _perturb_get(self, index: int) -> int:
        """``table_perturb[index]``.  Linux fills the table with random words at first use
        (``get_random_sleepable_once``); ixsim derives each word from a seeded key the first
        time it is read, which is the same table without 65,536 draws per namespace."""
        value = self._perturb.get(index)
        if value is None:
            h = hashlib.blake2b(
                index.to_bytes(4, "big"), key=self._perturb_key, digest_size=4
            ).digest()
            value = self._perturb[index] = int.from_bytes(h, "big")
        return value

    def _perturb_random8(self) -> int:
        """``get_random_u32_below(8)`` for the perturb step, from the seeded key's stream
        (not ``sched.rng``: a connect() must not shift the draws of cable impairments)."""
        self._perturb_draws += 1
        h = hashlib.blake2b(
            self._perturb_draws.to_bytes(8, "big"), key=self._perturb_key, digest_size=1
        ).digest()
        return h[0] & 7

    def hash_child(self, child: TcpSock, listener: TcpSock) -> None:
        self.ehash[(child.laddr, child.lport, child.raddr, child.rport)] = child
        child.bound = True
        self.bhash.setdefault(child.lport, []).append(child)

    def unhash(self, sk: TcpSock) -> None:
        """Remove ``sk`` from lookups when it reaches CLOSED (``inet_unhash``)."""
        key = (sk.laddr, sk.lport, sk.raddr, sk.rport)
        if self.ehash.get(key) is sk:
            del self.ehash[key]
        listeners = self.lhash.get(sk.lport)
        if listeners is not None and sk in listeners:
            listeners.remove(sk)
            if not listeners:
                del self.lhash[sk.lport]
        if not sk.userlocks & SOCK_BINDPORT_LOCK:
            self.put_port(sk)

    def lookup_listener(
        self, daddr: bytes, dport: int, dev: Any = None, saddr: bytes = INADDR_ANY, sport: int = 0
    ) -> TcpSock | None:
        """``__inet_lookup_listener``: an exact address beats INADDR_ANY; a listener bound to
        a device (SO_BINDTODEVICE) hears only segments that arrived on it; a listener of an
        SO_REUSEPORT group stands for the group, whose member for this flow is picked by the
        hash of the 4-tuple (``lookup_reuseport``, ``stack.sock_reuseport``)."""
        best = None
        best_score = 0
        v6 = len(daddr) == 16
        for sk in self.lhash.get(dport, ()):
            if sk.bound_dev_if is not None and dev is not None and sk.bound_dev_if is not dev:
                continue
            if sk.laddr == daddr:
                best = sk
                break
            if sk.laddr != INADDR_ANY:
                continue
            # the wildcard (compute_score): an AF_INET6 socket hears IPv6, and IPv4 unless
            # IPV6_V6ONLY; for IPv4 an AF_INET socket is preferred over a dual-stack one
            if v6:
                score = 2 if sk.family == AF_INET6 else 0
            elif sk.family == AF_INET:
                score = 2
            else:
                score = 0 if sk.ipv6only else 1
            if score > best_score:
                best, best_score = sk, score
        if best is not None and best.reuseport:
            group = [
                sk
                for sk in self.lhash[dport]
                if sk.reuseport
                and sk.laddr == best.laddr
                and sk.bound_dev_if is best.bound_dev_if
                and sk.family == best.family
            ]
            if len(group) > 1:
                return reuseport_select_sock(group, ehashfn(daddr, dport, saddr, sport))
        return best

    def sockets(self) -> list[Any]:
        """Every socket and request, for ``ss``: listeners first, then the rest."""
        out: list[Any] = [sk for socks in self.lhash.values() for sk in socks]
        out.extend(self.ehash.values())
        return out
