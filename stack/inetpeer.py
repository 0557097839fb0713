"""Per-destination state for rate limiting ICMP errors (Linux's ``net/ipv4/inetpeer.c``).

``InetPeers.xrlim_allow(addr, timeout, now)`` is ``inet_peer_xrlim_allow``: a token bucket per
peer address, one token per ``timeout`` ns, at most XRLIM_BURST_FACTOR tokens banked.  ICMP
(IPv4), ICMPv6 and ND redirects each keep one table, keyed by 4- or 16-byte addresses.

Deviation: Linux keeps peers in a tree with a GC by age; here the table is dropped whole
when it holds ``PEERS_MAX`` addresses (every peer starts again with a full bucket).
"""

from __future__ import annotations

from stack.core.units import NS_PER_S

XRLIM_BURST_FACTOR = 6
PEERS_MAX = 4096


class InetPeers:
    """The peers of one protocol's rate limiter: address -> [tokens, last] (ns)."""

    __slots__ = ("peers",)

    def __init__(self) -> None:
        self.peers: dict[bytes, list[int]] = {}

    def __len__(self) -> int:
        return len(self.peers)

    def xrlim_allow(self, addr: bytes, timeout: int, now: int) -> bool:
        """inet_peer_xrlim_allow: may one more message go to ``addr`` now?"""
        peers = self.peers
        peer = peers.get(addr)
        if peer is None:
            if len(peers) >= PEERS_MAX:
                peers.clear()
            peer = peers[addr] = [0, now - 60 * NS_PER_S]
        token = min(peer[0] + now - peer[1], XRLIM_BURST_FACTOR * timeout)
        peer[1] = now
        ok = token >= timeout
        if ok:
            token -= timeout
        peer[0] = token
        return ok
