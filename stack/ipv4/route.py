"""IPv4 routing: the FIB (local and main tables, longest-prefix match), output routes, PMTU.

Mirrors Linux's ``net/ipv4/fib_frontend.c`` (``fib_add_ifaddr``: local, broadcast and prefix
routes per address; ``inet_addr_type``), ``fib_trie.c`` (longest-prefix match, lowest metric
first), ``fib_semantics.c`` (``fib_check_nh``: a gateway must be on-link) and ``route.c``
(``ip_route_output_key``: source selection, local destinations through ``lo``, limited
broadcast, PMTU exceptions with ``ip_rt_min_pmtu`` = 552 and ``ip_rt_mtu_expires`` = 600 s).

Contract:
- ``net.fib.add_route("10.1.0.0/16", gateway="10.0.0.254", metric=100, mtu=1400)``;
  ``"default"`` is 0.0.0.0/0; ``type`` may be RTN_UNREACHABLE / RTN_PROHIBIT / RTN_BLACKHOLE.
  Errors are ``OSError`` (EEXIST, ESRCH, ENETUNREACH for a gateway that is not on-link, ENODEV,
  ENETDOWN, EINVAL).  The routes of an address (proto kernel) follow ``sync_ifaddrs``; every
  route through a device that goes down is flushed, as Linux's ``fib_disable_ip`` does.
- ``route_output(net, daddr, saddr=None, oif=None) -> Route`` or ``OSError`` (ENETUNREACH,
  EHOSTUNREACH, EACCES, EINVAL).  A :class:`Route` has ``dev``, ``gateway`` (None when the
  destination is on-link), ``nexthop``, ``src``, ``mtu`` (path MTU: device, route metric and
  learned PMTU), ``dev_mtu`` (what forwarding uses, ``ip_forward_use_pmtu`` = 0), ``type``
  (RTN_UNICAST, RTN_LOCAL via ``lo``, RTN_BROADCAST) and ``genid``; a socket may keep one while
  ``net.fib.check(rt)`` holds (``dst_check``).  Results for (daddr, no saddr, no oif) are cached
  until the FIB, an address, a device or a PMTU changes.
- ``net.fib.update_pmtu(daddr, mtu)`` records a path MTU learned from ICMP "fragmentation
  needed" (RFC 1191); ``show()`` renders ``ip route show [table local]``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, IFF_UP
from stack.ipv4.devinet import (
    RT_SCOPE_HOST,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    SCOPE_NAMES,
    inet_make_mask,
    parse_cidr,
)
from stack.sock import oserror
from stack.uapi import IPTOS_TOS_MASK
from stack.wire.ipv4 import (
    INADDR_ANY,
    INADDR_LOOPBACK,
    int_to_ip,
    ip_bytes,
    ip_str,
    ip_to_int,
    ipv4_is_lbcast,
    ipv4_is_multicast,
    ipv4_is_zeronet,
)

if TYPE_CHECKING:
    from stack.core import NetDevice
    from stack.neigh.neighbour import Neighbour

RTN_UNSPEC = 0
RTN_UNICAST = 1
RTN_LOCAL = 2
RTN_BROADCAST = 3
RTN_MULTICAST = 5
RTN_BLACKHOLE = 6
RTN_UNREACHABLE = 7
RTN_PROHIBIT = 8
RTN_NAMES = {
    RTN_UNICAST: "unicast", RTN_LOCAL: "local", RTN_BROADCAST: "broadcast",
    RTN_MULTICAST: "multicast", RTN_BLACKHOLE: "blackhole", RTN_UNREACHABLE: "unreachable",
    RTN_PROHIBIT: "prohibit",
}  # fmt: skip
_REJECT = {RTN_UNREACHABLE: errno.EHOSTUNREACH, RTN_PROHIBIT: errno.EACCES,
           RTN_BLACKHOLE: errno.EINVAL}

RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
RTPROT_KERNEL = 2
RTPROT_BOOT = 3
RTPROT_STATIC = 4
PROTO_NAMES = {RTPROT_KERNEL: "kernel", RTPROT_BOOT: "boot", RTPROT_STATIC: "static"}

IP_RT_MIN_PMTU = 552
IP_RT_MTU_EXPIRES_NS = 600 * 1_000_000_000
IP_MAX_MTU = 0xFFFF
_CACHE_MAX = 4096
_MASKS = [inet_make_mask(p) for p in range(33)]


@dataclass(slots=True, eq=False)
class FibEntry:
    """One route (``fib_alias`` + ``fib_info`` with a single nexthop)."""

    table: int
    type: int
    dst: bytes
    plen: int
    dev: NetDevice | None
    gateway: bytes | None = None
    prefsrc: bytes | None = None
    metric: int = 0
    mtu: int = 0
    scope: int = RT_SCOPE_UNIVERSE
    proto: int = RTPROT_BOOT
    key: int = 0

    def text(self) -> str:
        """One ``ip route show`` line."""
        dst = "default" if self.plen == 0 else (
            ip_str(self.dst) if self.plen == 32 else f"{ip_str(self.dst)}/{self.plen}")
        parts = [dst] if self.type == RTN_UNICAST else [RTN_NAMES.get(self.type, "?"), dst]
        if self.gateway is not None:
            parts.append(f"via {ip_str(self.gateway)}")
        if self.dev is not None:
            parts.append(f"dev {self.dev.name}")
        if self.proto != RTPROT_BOOT:
            parts.append(f"proto {PROTO_NAMES.get(self.proto, self.proto)}")
        if self.scope != RT_SCOPE_UNIVERSE:
            parts.append(f"scope {SCOPE_NAMES.get(self.scope, self.scope)}")
        if self.prefsrc is not None:
            parts.append(f"src {ip_str(self.prefsrc)}")
        if self.metric:
            parts.append(f"metric {self.metric}")
        if self.mtu:
            parts.append(f"mtu {self.mtu}")
        return " ".join(parts)


class FibTable:
    """One routing table: prefix length -> {masked key -> entries by metric}."""

    __slots__ = ("id", "by_len", "lens")

    def __init__(self, table_id: int) -> None:
        self.id = table_id
        self.by_len: dict[int, dict[int, list[FibEntry]]] = {}
        self.lens: list[int] = []  # present prefix lengths, longest first

    def insert(self, e: FibEntry) -> None:
        bucket = self.by_len.get(e.plen)
        if bucket is None:
            bucket = self.by_len[e.plen] = {}
            self.lens = sorted(self.by_len, reverse=True)
        entries = bucket.setdefault(e.key, [])
        for o in entries:
            if o.metric == e.metric:
                raise oserror(errno.EEXIST, f"route {e.text()} exists")
        entries.append(e)
        entries.sort(key=lambda x: x.metric)

    def remove(self, e: FibEntry) -> None:
        bucket = self.by_len.get(e.plen)
        entries = bucket.get(e.key) if bucket else None
        if not entries or e not in entries:
            return
        entries.remove(e)
        if not entries:
            del bucket[e.key]  # type: ignore[index]
            if not bucket:
                del self.by_len[e.plen]
                self.lens = sorted(self.by_len, reverse=True)

    def lookup(self, addr: int) -> FibEntry | None:
        by_len = self.by_len
        for plen in self.lens:
            entries = by_len[plen].get(addr & _MASKS[plen])
            if entries:
                return entries[0]
        return None

    def entries(self) -> list[FibEntry]:
        out = [e for bucket in self.by_len.values() for es in bucket.values() for e in es]
        out.sort(key=lambda e: (e.key, e.plen, e.metric))
        return out


class Route:
    """A resolved output route (Linux's ``struct rtable``)."""

    __slots__ = ("type", "dev", "gateway", "daddr", "src", "mtu", "dev_mtu", "entry", "genid",
                 "expires", "neigh")

    def __init__(self, type: int, dev: NetDevice, gateway: bytes | None, daddr: bytes,
                 src: bytes, mtu: int, dev_mtu: int, entry: FibEntry | None, genid: int,
                 expires: int = 0) -> None:
        self.type = type
        self.dev = dev
        self.gateway = gateway
        self.daddr = daddr
        self.src = src
        self.mtu = mtu
        self.dev_mtu = dev_mtu
        self.entry = entry
        self.genid = genid
        self.expires = expires
        self.neigh: Neighbour | None = None

    @property
    def nexthop(self) -> bytes:
        return self.gateway if self.gateway is not None else self.daddr

    @property
    def prefsrc(self) -> bytes | None:
        """The route's preferred source (``ip route ... src``), if it has one."""
        return self.entry.prefsrc if self.entry is not None else None

    @property
    def is_local(self) -> bool:
        return self.type == RTN_LOCAL

    @property
    def is_broadcast(self) -> bool:
        return self.type == RTN_BROADCAST

    def __repr__(self) -> str:
        via = f" via {ip_str(self.gateway)}" if self.gateway else ""
        return (f"<Route {RTN_NAMES.get(self.type)} {ip_str(self.daddr)}{via} dev "
                f"{self.dev.name} src {ip_str(self.src)} mtu {self.mtu}>")


def _dst_arg(dst: str | tuple[bytes, int]) -> tuple[bytes, int]:
    if isinstance(dst, tuple):
        return bytes(dst[0]), dst[1]
    if dst == "default":
        return INADDR_ANY, 0
    return parse_cidr(dst)


def _addr_arg(addr: str | bytes | None) -> bytes | None:
    if addr is None or isinstance(addr, bytes):
        return addr
    return ip_bytes(addr)


class Fib:
    """The namespace's routing tables (``net.fib``)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.main = FibTable(RT_TABLE_MAIN)
        self.local = FibTable(RT_TABLE_LOCAL)
        self.local_addrs: dict[bytes, FibEntry] = {}  # /32 local routes: our addresses
        self.bcast_addrs: dict[bytes, FibEntry] = {}  # broadcast routes
        self.genid = 0
        self.out_cache: dict[bytes, Route] = {}
        self.pmtu: dict[bytes, tuple[int, int]] = {}  # daddr -> (mtu, expires): fnhe

    def table(self, table_id: int) -> FibTable:
        if table_id == RT_TABLE_MAIN:
            return self.main
        if table_id == RT_TABLE_LOCAL:
            return self.local
        raise oserror(errno.EINVAL, f"no routing table {table_id}")

    def invalidate(self) -> None:
        """rt_cache_flush: cached routes (and sockets' ``dst_check``) go stale."""
        self.genid += 1
        self.out_cache.clear()

    def check(self, rt: Route) -> bool:
        """dst_check: is a route a socket kept still current?"""
        return rt.genid == self.genid and (not rt.expires or rt.expires > self.net.sched.now)

    # -- changes ---------------------------------------------------------------------------------
    def _insert(self, e: FibEntry) -> FibEntry:
        e.key = ip_to_int(e.dst)
        self.table(e.table).insert(e)
        if e.table == RT_TABLE_LOCAL and e.plen == 32:
            if e.type == RTN_LOCAL:
                self.local_addrs.setdefault(e.dst, e)
            elif e.type == RTN_BROADCAST:
                self.bcast_addrs.setdefault(e.dst, e)
        self.invalidate()
        return e

    def _remove(self, e: FibEntry) -> None:
        self.table(e.table).remove(e)
        for index, rtype in ((self.local_addrs, RTN_LOCAL), (self.bcast_addrs, RTN_BROADCAST)):
            if index.get(e.dst) is e:
                del index[e.dst]
                for other in self.local.by_len.get(32, {}).get(e.key, []):
                    if other.type == rtype:  # another device holds the same address
                        index[e.dst] = other
                        break
        self.invalidate()

    def add_route(self, dst: str | tuple[bytes, int], gateway: str | bytes | None = None,
                  dev: NetDevice | None = None, metric: int = 0,
                  prefsrc: str | bytes | None = None, mtu: int = 0, type: int = RTN_UNICAST,
                  table: int = RT_TABLE_MAIN, proto: int = RTPROT_BOOT) -> FibEntry:
        """``ip route add DST [via GW] [dev DEV] [metric N] [src S] [mtu M]``."""
        daddr, plen = _dst_arg(dst)
        gw = _addr_arg(gateway)
        src = _addr_arg(prefsrc)
        if ip_to_int(daddr) & ~_MASKS[plen] & 0xFFFFFFFF:
            raise oserror(errno.EINVAL, f"invalid prefix for prefix length: {ip_str(daddr)}/{plen}")
        if dev is not None and self.net.devinet.in_dev(dev) is None:
            raise oserror(errno.ENODEV, f"{dev.name} is not attached to this Net")
        if src is not None and src not in self.local_addrs:
            raise oserror(errno.EINVAL, f"invalid prefsrc {ip_str(src)}")
        scope = RT_SCOPE_UNIVERSE
        if type == RTN_UNICAST:
            if gw is not None:
                if gw in self.local_addrs:
                    raise oserror(errno.EINVAL, f"gateway {ip_str(gw)} is a local address")
                onlink = self.main.lookup(ip_to_int(gw))
                if onlink is None or onlink.gateway is not None or onlink.type != RTN_UNICAST \
                        or (dev is not None and onlink.dev is not dev):
                    raise oserror(errno.ENETUNREACH, f"gateway {ip_str(gw)} is not on-link")
                dev = onlink.dev
            else:
                if dev is None:
                    raise oserror(errno.ENODEV, "a route without a gateway needs a device")
                scope = RT_SCOPE_LINK
            assert dev is not None
            if not dev.flags & IFF_UP:
                raise oserror(errno.ENETDOWN, f"nexthop device {dev.name} is not up")
        elif type == RTN_LOCAL:
            scope = RT_SCOPE_HOST
        elif type == RTN_BROADCAST:
            scope = RT_SCOPE_LINK
        elif type not in _REJECT:
            raise oserror(errno.EINVAL, f"unsupported route type {type}")
        if mtu and not 68 <= mtu <= IP_MAX_MTU:
            raise oserror(errno.EINVAL, f"bad route mtu {mtu}")
        return self._insert(FibEntry(table, type, daddr, plen, dev, gw, src, metric, mtu, scope,
                                     proto))

    def del_route(self, dst: str | tuple[bytes, int], gateway: str | bytes | None = None,
                  dev: NetDevice | None = None, metric: int | None = None,
                  table: int = RT_TABLE_MAIN) -> None:
        """``ip route del``: the first route that matches every given field; ESRCH if none."""
        daddr, plen = _dst_arg(dst)
        gw = _addr_arg(gateway)
        for e in self.table(table).entries():
            if e.dst == daddr and e.plen == plen and (gw is None or e.gateway == gw) and (
                    dev is None or e.dev is dev) and (metric is None or e.metric == metric):
                self._remove(e)
                return
        raise oserror(errno.ESRCH, f"no such route {ip_str(daddr)}/{plen}")

    def sync_ifaddrs(self, dev: NetDevice) -> None:
        """Rebuild ``dev``'s kernel routes from its addresses (fib_add_ifaddr/fib_del_ifaddr)."""
        for tbl in (self.local, self.main):
            for e in tbl.entries():
                if e.dev is dev and e.proto == RTPROT_KERNEL:
                    self._remove(e)
        if not dev.flags & IFF_UP:
            self.invalidate()
            return
        loopback = bool(dev.flags & IFF_LOOPBACK)
        for ifa in self.net.devinet.addresses(dev):
            kernel = {"dev": dev, "prefsrc": ifa.local, "proto": RTPROT_KERNEL}
            self._add_once(FibEntry(RT_TABLE_LOCAL, RTN_LOCAL, ifa.local, 32,
                                    scope=RT_SCOPE_HOST, **kernel))
            if ifa.secondary:
                continue
            if ifa.prefixlen < 32:
                net = int_to_ip(ifa.net_int)
                if loopback:
                    self._add_once(FibEntry(RT_TABLE_LOCAL, RTN_LOCAL, net, ifa.prefixlen,
                                            scope=RT_SCOPE_HOST, **kernel))
                else:
                    self._add_once(FibEntry(RT_TABLE_MAIN, RTN_UNICAST, net, ifa.prefixlen,
                                            scope=RT_SCOPE_LINK, **kernel))
            if ifa.broadcast is not None:
                self._add_once(FibEntry(RT_TABLE_LOCAL, RTN_BROADCAST, ifa.broadcast, 32,
                                        scope=RT_SCOPE_LINK, **kernel))
        self.invalidate()

    def _add_once(self, e: FibEntry) -> None:
        key = ip_to_int(e.dst)
        tbl = self.table(e.table)
        for o in tbl.by_len.get(e.plen, {}).get(key, []):
            if o.type == e.type and o.dev is e.dev and o.metric == e.metric:
                return
        try:
            self._insert(e)
        except OSError:
            pass  # the same prefix with the same metric on another device: first one wins

    def flush_dev(self, dev: NetDevice) -> None:
        """fib_disable_ip: every route through ``dev`` goes (device down or unregistered)."""
        for tbl in (self.local, self.main):
            for e in tbl.entries():
                if e.dev is dev:
                    self._remove(e)
        self.invalidate()

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, daddr: bytes) -> FibEntry | None:
        """fib_lookup with the default rules: the local table, then main."""
        e = self.local_addrs.get(daddr) or self.bcast_addrs.get(daddr)
        if e is not None:
            return e
        key = ip_to_int(daddr)
        return self.local.lookup(key) or self.main.lookup(key)

    def is_local(self, addr: bytes) -> bool:
        if addr in self.local_addrs:
            return True
        e = self.local.lookup(ip_to_int(addr))
        return e is not None and e.type == RTN_LOCAL

    def is_broadcast(self, addr: bytes, dev: NetDevice | None = None) -> bool:
        e = self.bcast_addrs.get(addr)
        return e is not None and (dev is None or e.dev is dev)

    def addr_type(self, addr: bytes) -> int:
        """inet_addr_type: RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST or RTN_UNICAST."""
        if ipv4_is_zeronet(addr) or ipv4_is_lbcast(addr):
            return RTN_BROADCAST
        if ipv4_is_multicast(addr):
            return RTN_MULTICAST
        if self.is_local(addr):
            return RTN_LOCAL
        if addr in self.bcast_addrs:
            return RTN_BROADCAST
        return RTN_UNICAST

    # -- path MTU ----------------------------------------------------------------------------------
    def update_pmtu(self, daddr: bytes, mtu: int) -> bool:
        """__ip_rt_update_pmtu: remember a smaller path MTU towards ``daddr`` for 600 s."""
        try:
            rt = route_output(self.net, daddr)
        except OSError:
            return False
        if rt.type != RTN_UNICAST or mtu >= rt.mtu:
            return False
        if mtu < IP_RT_MIN_PMTU:
            mtu = min(rt.mtu, IP_RT_MIN_PMTU)
        self.pmtu[daddr] = (mtu, self.net.sched.now + IP_RT_MTU_EXPIRES_NS)
        self.invalidate()
        return True

    def path_mtu(self, daddr: bytes) -> int | None:
        """The learned PMTU towards ``daddr`` if still valid."""
        entry = self.pmtu.get(daddr)
        if entry is None:
            return None
        if entry[1] <= self.net.sched.now:
            del self.pmtu[daddr]
            return None
        return entry[0]

    # -- listing -----------------------------------------------------------------------------------
    def show(self, table: int = RT_TABLE_MAIN) -> str:
        """``ip route show [table local]``."""
        return "".join(e.text() + "\n" for e in self.table(table).entries())


def route_output(net: Any, daddr: bytes, saddr: bytes | None = None,
                 oif: NetDevice | None = None) -> Route:
    """ip_route_output_key: the route for a locally generated packet to ``daddr``."""
    fib: Fib = net.fib
    if saddr is None and oif is None:
        rt = fib.out_cache.get(daddr)
        if rt is not None and (not rt.expires or rt.expires > net.sched.now):
            return rt
        rt = _route_output_slow(net, fib, daddr, None, None)
        if len(fib.out_cache) >= _CACHE_MAX:
            fib.out_cache.clear()
        fib.out_cache[daddr] = rt
        return rt
    return _route_output_slow(net, fib, daddr, saddr, oif)


def _route_output_slow(net: Any, fib: Fib, daddr: bytes, saddr: bytes | None,
                       oif: NetDevice | None) -> Route:
    if saddr == INADDR_ANY:
        saddr = None
    if saddr is not None:
        if ipv4_is_multicast(saddr) or ipv4_is_lbcast(saddr) or ipv4_is_zeronet(saddr) \
                or not fib.is_local(saddr):
            raise oserror(errno.EINVAL, f"source {ip_str(saddr)} is not a local address")
    lo = net.lo
    if daddr == INADDR_ANY:
        daddr = saddr or INADDR_LOOPBACK
    if ipv4_is_lbcast(daddr):
        dev = oif if oif is not None else (
            net.devinet.dev_find(saddr) if saddr is not None else None)
        if dev is not None:
            src = saddr or net.devinet.select_addr(dev, None, RT_SCOPE_LINK) or INADDR_ANY
            return Route(RTN_BROADCAST, dev, None, daddr, src, dev.mtu, dev.mtu, None,
                         fib.genid)
    e = fib.lookup(daddr)
    if oif is not None and (e is None or (e.type == RTN_UNICAST and e.dev is not oif)):
        # "Apparently, routing tables are wrong. Assume that the destination is on link."
        src = saddr or net.devinet.select_addr(oif, daddr, RT_SCOPE_LINK) or INADDR_ANY
        return Route(RTN_UNICAST, oif, None, daddr, src, oif.mtu, oif.mtu, None, fib.genid)
    if e is None:
        raise oserror(errno.ENETUNREACH, f"no route to {ip_str(daddr)}")
    rtype = e.type
    if rtype in _REJECT:
        raise oserror(_REJECT[rtype], f"route to {ip_str(daddr)} is {RTN_NAMES[rtype]}")
    if rtype == RTN_LOCAL:
        if lo is None:
            raise oserror(errno.ENETUNREACH, "local destination but no loopback device")
        src = saddr or e.prefsrc or daddr
        return Route(RTN_LOCAL, lo, None, daddr, src, lo.mtu, lo.mtu, e, fib.genid)
    dev = e.dev
    assert dev is not None
    if ipv4_is_lbcast(daddr):
        rtype = RTN_BROADCAST
    gateway = e.gateway if rtype == RTN_UNICAST else None
    src = saddr or e.prefsrc or net.devinet.select_addr(
        dev, gateway or daddr, RT_SCOPE_LINK) or INADDR_ANY
    dev_mtu = min(dev.mtu, e.mtu) if e.mtu else dev.mtu
    mtu = dev_mtu
    expires = 0
    if rtype == RTN_UNICAST:
        pmtu = fib.path_mtu(daddr)
        if pmtu is not None and pmtu < mtu:
            mtu = pmtu
            expires = fib.pmtu[daddr][1]
    return Route(rtype, dev, gateway, daddr, src, min(mtu, IP_MAX_MTU),
                 min(dev_mtu, IP_MAX_MTU), e, fib.genid, expires)


def dst_confirm_neigh(net: Any, rt: Route) -> None:
    """Confirm the neighbour a route leads to (TCP calls this on forward progress)."""
    n = rt.neigh
    if n is None or n.dead:
        n = net.arp.lookup(rt.nexthop, rt.dev)
    net.arp.confirm(n)


# ip_tos2prio (net/ipv4/route.c): the TOS field's four bits -> TC_PRIO_*, with ECN_OR_COST
# entries equal to their neighbours (BESTEFFORT 0, BULK 2, INTERACTIVE_BULK 4, INTERACTIVE 6)
IP_TOS2PRIO = (0, 0, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4)


def rt_tos2priority(tos: int) -> int:
    """``rt_tos2priority`` (include/net/route.h): the ``sk_priority`` an IP_TOS value implies,
    which pfifo_fast turns into a band (``stack.core.qdisc.PRIO2BAND``)."""
    return IP_TOS2PRIO[(tos & IPTOS_TOS_MASK) >> 1]
