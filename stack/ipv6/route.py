"""IPv6 routing: the FIB (longest-prefix match), output routes, source selection, PMTU.

Mirrors Linux's ``net/ipv6/route.c`` (``ip6_route_output``, ``ip6_route_add`` with
``fib6_config``, ``rt6_update_pmtu`` into route exceptions, ``ip6_dst_hoplimit``,
``rt6_add_dflt_router`` for RA default routes, ``addrconf_prefix_route``), ``ip6_fib.c``
(longest prefix first, lowest metric first) and ``addrconf.c``'s source address selection
(``ipv6_dev_get_saddr``, RFC 6724 rules 1, 2, 3 and 8: same address, scope, avoid
deprecated, longest matching prefix).

Contract:
- ``net.ipv6.fib.add_route("::/0", gateway="fd00::fe", dev=None, metric=1024)``; a gateway
  must be on-link (a connected route covers it) or link-local with ``dev``; errors are
  ``OSError`` (EEXIST, ESRCH, ENETUNREACH, ENODEV, EINVAL) as ``ip -6 route add`` reports.
  Kernel routes (proto kernel) follow addresses: the prefix route of each address, fe80::/64
  and the multicast route ff00::/8 on every IPv6 device, our addresses as local routes.
  Routes learned from router advertisements (proto ra) carry an ``expires`` deadline on
  virtual time and are removed when it passes.
- ``route_output6(net, daddr, saddr=None, oif=None) -> Route6`` or ``OSError``
  (ENETUNREACH; EADDRNOTAVAIL for a source that is not ours).  A :class:`Route6` has
  ``dev``, ``gateway``, ``nexthop``, ``src``, ``mtu`` (device, devconf ``mtu``, route metric
  and learned PMTU), ``dev_mtu`` (what forwarding uses), ``type`` (RTN_UNICAST, RTN_LOCAL via
  ``lo``, RTN_MULTICAST) and ``genid`` (``fib.check(rt)`` as ``dst_check``).
- ``fib.update_pmtu(daddr, mtu)`` records a Packet Too Big's MTU for 600 s
  (``ip6_rt_mtu_expires``), never below 1280 (RFC 8200 §5).  ``show()`` renders
  ``ip -6 route show``.
- Deviation: one table (no ``table local`` listing; local routes are kept apart), no ECMP,
  no route preference (RFC 4191), no policy table beyond the rules above.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, IFF_UP
from stack.core.units import NS_PER_S
from stack.ipv4.route import (
    PROTO_NAMES,
    RTN_LOCAL,
    RTN_MULTICAST,
    RTN_UNICAST,
    RTPROT_BOOT,
    RTPROT_KERNEL,
    Route,
)
from stack.sock import oserror
from stack.wire.ipv6 import (
    IN6ADDR_ANY,
    IN6ADDR_LOOPBACK,
    IPV6_MIN_MTU,
    ipv6_addr_is_linklocal,
    ipv6_addr_is_multicast,
    ipv6_bytes,
    ipv6_mc_scope,
    ipv6_prefix,
    ipv6_str,
)

if TYPE_CHECKING:
    from stack.core import NetDevice

RTPROT_REDIRECT = 1  # a route an ND redirect made (rtnetlink.h)
RTPROT_RA = 9
PROTO6_NAMES = {**PROTO_NAMES, RTPROT_REDIRECT: "redirect", RTPROT_RA: "ra"}
IP6_RT_PRIO_USER = 1024  # ip -6 route add's default metric
IP6_RT_PRIO_ADDRCONF = 256  # connected and autoconfigured prefix routes
IP6_RT_MTU_EXPIRES_NS = 600 * NS_PER_S
IPV6_MAX_MTU = 0xFFFF + 40
LINKLOCAL_PREFIX = ipv6_bytes("fe80::")
MULTICAST_PREFIX = ipv6_bytes("ff00::")
IPV6_ADDR_SCOPE_LINKLOCAL = 0x02
IPV6_ADDR_SCOPE_GLOBAL = 0x0E
_CACHE_MAX = 4096


def ipv6_addr_scope(addr: bytes) -> int:
    """The RFC 4291 scope of an address: link for fe80::/10 and ::1, global otherwise; a
    multicast address carries its own."""
    if ipv6_addr_is_multicast(addr):
        return ipv6_mc_scope(addr)
    if ipv6_addr_is_linklocal(addr) or addr == IN6ADDR_LOOPBACK:
        return IPV6_ADDR_SCOPE_LINKLOCAL
    return IPV6_ADDR_SCOPE_GLOBAL


def _common_prefix(a: bytes, b: bytes) -> int:
    return 128 - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


def _key(addr: bytes, plen: int) -> int:
    return int.from_bytes(addr, "big") >> (128 - plen) if plen else 0


@dataclass(slots=True, eq=False)
class Fib6Entry:
    """One route (``fib6_info`` with a single nexthop)."""

    type: int
    dst: bytes
    plen: int
    dev: NetDevice | None
    gateway: bytes | None = None
    metric: int = IP6_RT_PRIO_USER
    mtu: int = 0
    proto: int = RTPROT_BOOT
    expires: int = 0  # virtual ns; 0: never

    def text(self, now: int = 0) -> str:
        """One ``ip -6 route show`` line."""
        dst = "default" if self.plen == 0 else ipv6_str(self.dst)
        if 0 < self.plen < 128:  # iproute2 prints a host route without its /128
            dst += f"/{self.plen}"
        parts = [dst] if self.type in (RTN_UNICAST, RTN_LOCAL) else ["multicast", dst]
        if self.type == RTN_LOCAL:
            parts.insert(0, "local")
        if self.gateway is not None:
            parts.append(f"via {ipv6_str(self.gateway)}")
        if self.dev is not None:
            parts.append(f"dev {self.dev.name}")
        if self.proto != RTPROT_BOOT:
            parts.append(f"proto {PROTO6_NAMES.get(self.proto, self.proto)}")
        parts.append(f"metric {self.metric}")
        if self.expires:
            parts.append(f"expires {max(0, (self.expires - now) // NS_PER_S)}sec")
        if self.mtu:
            parts.append(f"mtu {self.mtu}")
        parts.append("pref medium")
        return " ".join(parts)


class Route6(Route):
    """A resolved output route (Linux's ``struct rt6_info``): the same dst fields as IPv4's
    ``Route`` (both embed ``struct dst_entry``), its ``entry`` a :class:`Fib6Entry`, which has
    no preferred source."""

    __slots__ = ()

    @property
    def prefsrc(self) -> bytes | None:
        return None

    def __repr__(self) -> str:
        via = f" via {ipv6_str(self.gateway)}" if self.gateway else ""
        return (
            f"<Route6 {ipv6_str(self.daddr)}{via} dev {self.dev.name} "
            f"src {ipv6_str(self.src)} mtu {self.mtu}>"
        )


def parse_prefix6(dst: str) -> tuple[bytes, int]:
    """``"fd00::/64"``, ``"::/0"``, ``"default"`` or a bare address (/128)."""
    if dst == "default":
        return IN6ADDR_ANY, 0
    text, _, plen = dst.partition("/")
    length = int(plen) if plen else 128
    if not 0 <= length <= 128:
        raise oserror(errno.EINVAL, f"bad prefix length in {dst!r}")
    return ipv6_bytes(text), length


class Fib6:
    """The namespace's IPv6 routes (``net.ipv6.fib``)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.by_len: dict[int, dict[int, list[Fib6Entry]]] = {}
        self.lens: list[int] = []
        self.local: dict[bytes, Fib6Entry] = {}  # our addresses (proto kernel, type local)
        self.genid = 0
        self.out_cache: dict[bytes, Route6] = {}
        self.pmtu: dict[bytes, tuple[int, int]] = {}  # daddr -> (mtu, expires): exceptions

    def invalidate(self) -> None:
        self.genid += 1
        self.out_cache.clear()

    def check(self, rt: Route6) -> bool:
        return rt.genid == self.genid and (not rt.expires or rt.expires > self.net.sched.now)

    # -- changes ---------------------------------------------------------------------------
    def insert(self, e: Fib6Entry) -> Fib6Entry:
        if e.type == RTN_LOCAL:
            self.local[e.dst] = e
            self.invalidate()
            return e
        bucket = self.by_len.get(e.plen)
        if bucket is None:
            bucket = self.by_len[e.plen] = {}
            self.lens = sorted(self.by_len, reverse=True)
        entries = bucket.setdefault(_key(e.dst, e.plen), [])
        for o in entries:
            if o.metric == e.metric and o.dev is e.dev and o.gateway == e.gateway:
                raise oserror(errno.EEXIST, f"route {e.text()} exists")
        entries.append(e)
        entries.sort(key=lambda x: x.metric)
        self.invalidate()
        return e

    def remove(self, e: Fib6Entry) -> None:
        if e.type == RTN_LOCAL:
            if self.local.get(e.dst) is e:
                del self.local[e.dst]
            self.invalidate()
            return
        bucket = self.by_len.get(e.plen)
        key = _key(e.dst, e.plen)
        entries = bucket.get(key) if bucket else None
        if entries and e in entries:
            entries.remove(e)
            if not entries:
                del bucket[key]  # type: ignore[index]
                if not bucket:
                    del self.by_len[e.plen]
                    self.lens = sorted(self.by_len, reverse=True)
        self.invalidate()

    def add_route(
        self,
        dst: str | tuple[bytes, int],
        gateway: str | bytes | None = None,
        dev: NetDevice | None = None,
        metric: int = IP6_RT_PRIO_USER,
        mtu: int = 0,
        proto: int = RTPROT_BOOT,
        expires: int = 0,
    ) -> Fib6Entry:
        """``ip -6 route add DST [via GW] [dev DEV] [metric N] [mtu M]``."""
        daddr, plen = parse_prefix6(dst) if isinstance(dst, str) else dst
        if ipv6_prefix(daddr, plen) != daddr:
            raise oserror(
                errno.EINVAL, f"invalid prefix for prefix length: {ipv6_str(daddr)}/{plen}"
            )
        gw = ipv6_bytes(gateway) if isinstance(gateway, str) else gateway
        if gw is not None:
            if gw in self.local:
                raise oserror(errno.EINVAL, f"gateway {ipv6_str(gw)} is a local address")
            if ipv6_addr_is_linklocal(gw):
                if dev is None:
                    raise oserror(errno.EINVAL, "a link-local gateway needs a device")
            else:
                onlink = self.lookup(gw)
                if (
                    onlink is None
                    or onlink.gateway is not None
                    or onlink.type != RTN_UNICAST
                    or (dev is not None and onlink.dev is not dev)
                ):
                    raise oserror(errno.ENETUNREACH, f"gateway {ipv6_str(gw)} is not on-link")
                dev = onlink.dev
        if dev is None:
            raise oserror(errno.ENODEV, "a route without a gateway needs a device")
        if self.net.ipv6.idev(dev) is None:
            raise oserror(errno.ENODEV, f"{dev.name} has no IPv6")
        if not dev.flags & IFF_UP:
            raise oserror(errno.ENETDOWN, f"nexthop device {dev.name} is not up")
        if mtu and not IPV6_MIN_MTU <= mtu <= IPV6_MAX_MTU:
            raise oserror(errno.EINVAL, f"bad route mtu {mtu}")
        return self.insert(
            Fib6Entry(RTN_UNICAST, daddr, plen, dev, gw, metric, mtu, proto, expires)
        )

    def del_route(
        self,
        dst: str | tuple[bytes, int],
        gateway: bytes | None = None,
        dev: NetDevice | None = None,
    ) -> None:
        daddr, plen = parse_prefix6(dst) if isinstance(dst, str) else dst
        for e in self.entries():
            if (
                e.dst == daddr
                and e.plen == plen
                and (gateway is None or e.gateway == gateway)
                and (dev is None or e.dev is dev)
            ):
                self.remove(e)
                return
        raise oserror(errno.ESRCH, f"no such route {ipv6_str(daddr)}/{plen}")

    def find(
        self, daddr: bytes, plen: int, dev: NetDevice | None, gateway: bytes | None = None
    ) -> Fib6Entry | None:
        for e in self.by_len.get(plen, {}).get(_key(daddr, plen), []):
            if e.dev is dev and e.gateway == gateway:
                return e
        return None

    def flush_dev(self, dev: NetDevice) -> None:
        for e in self.entries() + list(self.local.values()):
            if e.dev is dev:
                self.remove(e)
        self.invalidate()

    def expire(self) -> None:
        """Routes whose ``expires`` deadline passed go (``fib6_run_gc``)."""
        now = self.net.sched.now
        for e in self.entries():
            if e.expires and e.expires <= now:
                self.remove(e)

    # -- lookups -----------------------------------------------------------------------------
    def lookup(self, daddr: bytes, dev: NetDevice | None = None) -> Fib6Entry | None:
        """fib6_lookup: longest prefix, lowest metric; ``dev`` restricts to one device."""
        addr = int.from_bytes(daddr, "big")
        now = self.net.sched.now
        by_len = self.by_len
        for plen in self.lens:
            for e in by_len[plen].get(addr >> (128 - plen) if plen else 0, ()):
                if (dev is None or e.dev is dev) and not (e.expires and e.expires <= now):
                    return e
        return None

    def is_local(self, addr: bytes) -> bool:
        return addr in self.local

    def entries(self) -> list[Fib6Entry]:
        out = [e for b in self.by_len.values() for es in b.values() for e in es]
        out.sort(
            key=lambda e: (
                e.dst == MULTICAST_PREFIX,
                e.plen == 0,
                int.from_bytes(e.dst, "big"),
                e.plen,
                e.metric,
            )
        )
        return out

    # -- path MTU --------------------------------------------------------------------------------
    def update_pmtu(self, daddr: bytes, mtu: int) -> bool:
        """rt6_update_pmtu: a smaller path MTU towards ``daddr`` for 600 s, >= 1280."""
        try:
            rt = route_output6(self.net, daddr)
        except OSError:
            return False
        mtu = max(mtu, IPV6_MIN_MTU)
        if rt.type != RTN_UNICAST or mtu >= rt.mtu:
            return False
        self.pmtu[daddr] = (mtu, self.net.sched.now + IP6_RT_MTU_EXPIRES_NS)
        self.invalidate()
        return True

    def path_mtu(self, daddr: bytes) -> int | None:
        entry = self.pmtu.get(daddr)
        if entry is None:
            return None
        if entry[1] <= self.net.sched.now:
            del self.pmtu[daddr]
            return None
        return entry[0]

    def show(self) -> str:
        """``ip -6 route show``."""
        now = self.net.sched.now
        return "".join(
            e.text(now) + "\n"
            for e in self.entries()
            if e.dst != MULTICAST_PREFIX and not (e.expires and e.expires <= now)
        )


def ipv6_dev_get_saddr(net: Any, dev: NetDevice | None, daddr: bytes) -> bytes | None:
    """The source for ``daddr`` out of ``dev`` (RFC 6724 rules 1, 2, 3, 8), or None."""
    ipv6 = net.ipv6
    scope = ipv6_addr_scope(daddr)
    best: tuple[int, ...] | None = None
    chosen = None
    devs = [dev] if dev is not None else list(ipv6.devs)
    for candidate_dev in devs:
        idev = ipv6.idev(candidate_dev)
        if idev is None:
            continue
        for ifa in idev.addrs:
            if not ifa.usable:
                continue
            if ifa.addr == daddr:
                return ifa.addr
            s = ipv6_addr_scope(ifa.addr)
            rank = (s == scope, s > scope, not ifa.deprecated, _common_prefix(ifa.addr, daddr))
            if best is None or rank > best:
                best, chosen = rank, ifa.addr
    return chosen


def route_output6(
    net: Any, daddr: bytes, saddr: bytes | None = None, oif: NetDevice | None = None
) -> Route6:
    """ip6_route_output: the route for a locally generated packet to ``daddr``."""
    fib: Fib6 = net.ipv6.fib
    if saddr is None and oif is None:
        rt = fib.out_cache.get(daddr)
        if rt is not None and fib.check(rt):
            return rt
        rt = _route_output_slow(net, fib, daddr, None, None)
        if len(fib.out_cache) >= _CACHE_MAX:
            fib.out_cache.clear()
        fib.out_cache[daddr] = rt
        return rt
    return _route_output_slow(net, fib, daddr, saddr, oif)


def _route_output_slow(
    net: Any, fib: Fib6, daddr: bytes, saddr: bytes | None, oif: NetDevice | None
) -> Route6:
    if saddr == IN6ADDR_ANY:
        saddr = None
    if saddr is not None and saddr not in fib.local:
        raise oserror(errno.EADDRNOTAVAIL, f"source {ipv6_str(saddr)} is not a local address")
    local = fib.local.get(daddr)
    if local is not None or daddr == IN6ADDR_LOOPBACK:
        lo = net.lo
        if lo is None:
            raise oserror(errno.ENETUNREACH, "local destination but no loopback device")
        return Route6(RTN_LOCAL, lo, None, daddr, saddr or daddr, lo.mtu, lo.mtu, local, fib.genid)
    e = fib.lookup(daddr, oif)
    if (
        e is None
        and oif is not None
        and (ipv6_addr_is_multicast(daddr) or ipv6_addr_is_linklocal(daddr))
    ):
        e = None  # on-link by scope: the given device
        dev = oif
    elif e is None:
        raise oserror(errno.ENETUNREACH, f"no route to {ipv6_str(daddr)}")
    else:
        dev = e.dev
    assert dev is not None
    idev = net.ipv6.idev(dev)
    if idev is None or idev.cnf.disable_ipv6:
        raise oserror(errno.ENETUNREACH, f"{dev.name} has no IPv6")
    rtype = RTN_MULTICAST if ipv6_addr_is_multicast(daddr) else RTN_UNICAST
    gateway = e.gateway if e is not None and rtype == RTN_UNICAST else None
    src = (
        saddr
        or ipv6_dev_get_saddr(net, dev, daddr)
        or ipv6_dev_get_saddr(net, None, daddr)
        or IN6ADDR_ANY
    )
    dev_mtu = min(dev.mtu, idev.cnf.mtu)
    if e is not None and e.mtu:
        dev_mtu = min(dev_mtu, e.mtu)
    mtu = dev_mtu
    expires = e.expires if e is not None else 0
    if rtype == RTN_UNICAST:
        pmtu = fib.path_mtu(daddr)
        if pmtu is not None and pmtu < mtu:
            mtu = pmtu
            expires = min(expires, fib.pmtu[daddr][1]) if expires else fib.pmtu[daddr][1]
    return Route6(rtype, dev, gateway, daddr, src, mtu, dev_mtu, e, fib.genid, expires)


def kernel_routes_up(net: Any, dev: NetDevice) -> None:
    """addrconf_add_dev / addrconf_add_mroute: fe80::/64 and ff00::/8 on an IPv6 device."""
    fib: Fib6 = net.ipv6.fib
    if dev.flags & IFF_LOOPBACK:
        return
    for prefix, plen, rtype in (
        (LINKLOCAL_PREFIX, 64, RTN_UNICAST),
        (MULTICAST_PREFIX, 8, RTN_MULTICAST),
    ):
        if fib.find(prefix, plen, dev) is None:
            fib.insert(
                Fib6Entry(rtype, prefix, plen, dev, None, IP6_RT_PRIO_ADDRCONF, proto=RTPROT_KERNEL)
            )
