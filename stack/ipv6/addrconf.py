"""IPv6 addresses: per-device state, link-local from EUI-64, DAD, SLAAC, lifetimes.

Mirrors Linux's ``net/ipv6/addrconf.c``: ``ipv6_add_dev`` (an ``inet6_dev`` with its copy of
``net.ipv6.conf.default``, joined to ff02::1, and ff02::2 when forwarding),
``addrconf_dev_config`` / ``ipv6_generate_eui64`` (fe80::/64 + the modified EUI-64 of the MAC,
RFC 4291 appendix A) when the link comes up, ``ipv6_add_addr`` / ``inet6_addr_add`` (static
addresses with their prefix route, metric 256), Duplicate Address Detection
(``addrconf_dad_start`` / ``addrconf_dad_work`` / ``addrconf_dad_completed`` /
``addrconf_dad_failure``: the address is TENTATIVE, joined to its solicited-node group,
``dad_transmits`` NS from :: are sent ``RetransTimer`` apart after a random delay of up to
1 s (``rtr_solicit_delay``), and it becomes usable one RetransTimer after the last; a NA for
it or another node's DAD NS makes it DADFAILED), router solicitations after the link-local
address is usable (3, 4 s apart, while no RA came), ``addrconf_prefix_rcv`` (SLAAC, RFC 4862
§5.5.3 with the two-hour rule) and ``addrconf_verify`` (preferred lifetime -> DEPRECATED,
valid lifetime -> removed, on virtual time).

Contract: ``net.ipv6.addrconf`` is :class:`Addrconf`; ``add(dev, addr, plen)`` is
``ip -6 addr add``; ``show()`` renders ``ip -6 addr``.  An address is *usable* (a source, a
local destination) once DAD is over.  The RetransTimer is ``neigh_retrans_ms``.
Not modelled: temporary addresses (RFC 8981), optimistic DAD, stable-privacy addresses
(RFC 7217), enhanced DAD nonces, ``accept_dad`` > 1 (disabling IPv6 on a link-local
conflict).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, IFF_NOARP, IFF_UP, Timer
from stack.core.units import NS_PER_MS, NS_PER_S
from stack.ipv4.route import RTN_LOCAL, RTN_UNICAST, RTPROT_KERNEL
from stack.ipv6.mcast import McState
from stack.ipv6.ndisc import ndisc_send_ns, ndisc_send_rs
from stack.ipv6.route import (
    IP6_RT_PRIO_ADDRCONF,
    RTPROT_RA,
    Fib6Entry,
    kernel_routes_up,
)
from stack.sock import oserror
from stack.sysctl import Ipv6Devconf
from stack.wire.ethernet import mac_str
from stack.wire.icmpv6 import PrefixInfo
from stack.wire.ipv6 import (
    IN6ADDR_LINKLOCAL_ALLNODES,
    IN6ADDR_LINKLOCAL_ALLROUTERS,
    IN6ADDR_LOOPBACK,
    addrconf_addr_solict_mult,
    ipv6_addr_is_linklocal,
    ipv6_addr_is_multicast,
    ipv6_bytes,
    ipv6_prefix,
    ipv6_str,
)

if TYPE_CHECKING:
    from stack.core import NetDevice

IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_DEPRECATED = 0x20
IFA_F_TENTATIVE = 0x40
IFA_F_PERMANENT = 0x80
INFINITY_LIFE_TIME = 0xFFFFFFFF
MIN_VALID_LIFETIME_S = 2 * 3600  # RFC 4862 §5.5.3 (e)
RTR_SOLICIT_DELAY_NS = 1 * NS_PER_S
RTR_SOLICIT_INTERVAL_NS = 4 * NS_PER_S
RTR_SOLICITS = 3
LINKLOCAL_PREFIX = ipv6_bytes("fe80::")


def eui64(mac: bytes) -> bytes:
    """The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A)."""
    return bytes((mac[0] ^ 0x02, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]))


class Inet6IfAddr:
    """One address (``struct inet6_ifaddr``)."""

    __slots__ = (
        "idev",
        "addr",
        "plen",
        "flags",
        "valid_lft",
        "prefered_lft",
        "tstamp",
        "dad_probes",
        "timer",
        "autoconf",
    )

    def __init__(
        self,
        idev: Inet6Dev,
        addr: bytes,
        plen: int,
        flags: int,
        valid: int,
        preferred: int,
        now: int,
        autoconf: bool,
    ) -> None:
        self.idev = idev
        self.addr = addr
        self.plen = plen
        self.flags = flags
        self.valid_lft = valid
        self.prefered_lft = preferred
        self.tstamp = now
        self.dad_probes = 0
        self.timer = Timer(idev.dev.kernel, self._dad_work, f"dad {ipv6_str(addr)} {idev.dev.name}")
        self.autoconf = autoconf

    @property
    def tentative(self) -> bool:
        return bool(self.flags & IFA_F_TENTATIVE)

    @property
    def usable(self) -> bool:
        return not self.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)

    @property
    def deprecated(self) -> bool:
        return bool(self.flags & IFA_F_DEPRECATED)

    def deadline(self, lifetime: int) -> int:
        """Virtual ns at which ``lifetime`` (s) runs out, 0 for infinity."""
        return 0 if lifetime == INFINITY_LIFE_TIME else self.tstamp + lifetime * NS_PER_S

    def _dad_work(self, _timer: Timer) -> None:
        self.idev.net.ipv6.addrconf.dad_work(self)


class Inet6Dev:
    """A device's IPv6 state (``struct inet6_dev``)."""

    def __init__(self, net: Any, dev: NetDevice, cnf: Ipv6Devconf) -> None:
        self.net = net
        self.dev = dev
        self.cnf = cnf
        self.addrs: list[Inet6IfAddr] = []
        self.mc = McState(net, dev)
        self.rs_probes = 0
        self.rs_timer = Timer(dev.kernel, self._rs_timer, f"rs {dev.name}")
        self.ra_seen = False
        self.radvd: Any = None  # a running stack.ipv6.radvd.Radvd
        self.packet_types: list[Any] = []

    def get(self, addr: bytes) -> Inet6IfAddr | None:
        for ifa in self.addrs:
            if ifa.addr == addr:
                return ifa
        return None

    def _rs_timer(self, _timer: Timer) -> None:
        """addrconf_rs_timer: solicit again until an RA came or RTR_SOLICITS were sent."""
        if (
            self.ra_seen
            or self.rs_probes >= RTR_SOLICITS
            or self.cnf.forwarding
            or not self.dev.flags & IFF_UP
        ):
            return
        ndisc_send_rs(self.net, self.dev)
        self.rs_probes += 1
        if self.rs_probes < RTR_SOLICITS:
            self.rs_timer.mod_timer(self.net.sched.now + RTR_SOLICIT_INTERVAL_NS)


class Addrconf:
    """The namespace's address configuration (``net.ipv6.addrconf``)."""

    def __init__(self, net: Any) -> None:
        self.net = net

    # -- static addresses --------------------------------------------------------------------
    def add(
        self,
        dev: NetDevice,
        addr: bytes,
        plen: int,
        flags: int = IFA_F_PERMANENT,
        valid: int = INFINITY_LIFE_TIME,
        preferred: int = INFINITY_LIFE_TIME,
        autoconf: bool = False,
    ) -> Inet6IfAddr:
        """ipv6_add_addr + addrconf_prefix_route + addrconf_dad_start."""
        ipv6 = self.net.ipv6
        idev = ipv6.idev(dev) or ipv6.add_dev(dev)
        if idev.cnf.disable_ipv6:
            raise oserror(errno.EACCES, f"IPv6 is disabled on {dev.name}")
        if ipv6_addr_is_multicast(addr) or addr == bytes(16) or not 0 < plen <= 128:
            raise oserror(errno.EINVAL, f"bad IPv6 address {ipv6_str(addr)}/{plen}")
        if idev.get(addr) is not None:
            raise oserror(errno.EEXIST, f"{ipv6_str(addr)} exists on {dev.name}")
        ifa = Inet6IfAddr(
            idev,
            addr,
            plen,
            flags | IFA_F_TENTATIVE,
            valid,
            preferred,
            self.net.sched.now,
            autoconf,
        )
        idev.addrs.append(ifa)
        if plen < 128 and not dev.flags & IFF_LOOPBACK and not autoconf:
            self._prefix_route(dev, ipv6_prefix(addr, plen), plen, RTPROT_KERNEL, 0)
        if dev.flags & IFF_UP:
            self.dad_start(ifa)
        return ifa

    def delete(self, ifa: Inet6IfAddr) -> None:
        """ipv6_del_addr: the address, its local route, its solicited-node membership."""
        idev = ifa.idev
        if ifa not in idev.addrs:
            return
        idev.addrs.remove(ifa)
        ifa.timer.del_timer()
        fib = self.net.ipv6.fib
        local = fib.local.get(ifa.addr)
        if local is not None and local.dev is idev.dev:
            fib.remove(local)
        idev.mc.dec(addrconf_addr_solict_mult(ifa.addr))
        if not ifa.autoconf and not any(
            o.plen == ifa.plen and ipv6_prefix(o.addr, o.plen) == ipv6_prefix(ifa.addr, ifa.plen)
            for o in idev.addrs
        ):
            e = fib.find(ipv6_prefix(ifa.addr, ifa.plen), ifa.plen, idev.dev)
            if e is not None and e.proto == RTPROT_KERNEL:
                fib.remove(e)

    def _prefix_route(
        self, dev: NetDevice, prefix: bytes, plen: int, proto: int, expires: int
    ) -> Fib6Entry:
        fib = self.net.ipv6.fib
        e = fib.find(prefix, plen, dev)
        if e is None:
            e = fib.insert(
                Fib6Entry(
                    RTN_UNICAST,
                    prefix,
                    plen,
                    dev,
                    None,
                    IP6_RT_PRIO_ADDRCONF,
                    proto=proto,
                    expires=expires,
                )
            )
        elif e.proto == RTPROT_RA:
            e.expires = expires
            fib.invalidate()
        return e

    # -- link up / down ---------------------------------------------------------------------
    def dev_up(self, dev: NetDevice) -> None:
        """addrconf_notify(NETDEV_UP): link-local address, kernel routes, DAD of the rest."""
        ipv6 = self.net.ipv6
        idev = ipv6.idev(dev) or ipv6.add_dev(dev)
        if idev.cnf.disable_ipv6:
            return
        if dev.flags & IFF_LOOPBACK:
            if idev.get(IN6ADDR_LOOPBACK) is None:
                self.add(dev, IN6ADDR_LOOPBACK, 128)
            return
        kernel_routes_up(self.net, dev)
        idev.mc.inc(IN6ADDR_LINKLOCAL_ALLNODES)
        if idev.cnf.forwarding:
            idev.mc.inc(IN6ADDR_LINKLOCAL_ALLROUTERS)
        for ifa in idev.addrs:
            if ifa.plen < 128 and not ifa.autoconf:
                self._prefix_route(dev, ipv6_prefix(ifa.addr, ifa.plen), ifa.plen, RTPROT_KERNEL, 0)
            ifa.flags |= IFA_F_TENTATIVE
            self.dad_start(ifa)
        if dev.addr_len == 6 and not any(ipv6_addr_is_linklocal(a.addr) for a in idev.addrs):
            self.add(dev, LINKLOCAL_PREFIX[:8] + eui64(dev.dev_addr), 64)

    def dev_down(self, dev: NetDevice) -> None:
        """addrconf_ifdown: dynamic addresses go, static ones stay (tentative again)."""
        ipv6 = self.net.ipv6
        idev = ipv6.idev(dev)
        if idev is None:
            return
        for ifa in list(idev.addrs):
            ifa.timer.del_timer()
            if ifa.autoconf or ipv6_addr_is_linklocal(ifa.addr):
                self.delete(ifa)
            else:
                ifa.flags |= IFA_F_TENTATIVE
        idev.rs_timer.del_timer()
        idev.rs_probes = 0
        idev.ra_seen = False
        idev.mc.drop_all()
        ipv6.fib.flush_dev(dev)
        ipv6.nd_tbl.flush_dev(dev)

    # -- duplicate address detection ----------------------------------------------------------
    def dad_start(self, ifa: Inet6IfAddr) -> None:
        """addrconf_dad_start: join the solicited-node group, first probe after a delay."""
        idev = ifa.idev
        dev = idev.dev
        idev.mc.inc(addrconf_addr_solict_mult(ifa.addr))
        if (
            dev.flags & (IFF_LOOPBACK | IFF_NOARP)
            or ifa.flags & IFA_F_NODAD
            or idev.cnf.dad_transmits <= 0
        ):
            self.dad_completed(ifa)
            return
        ifa.dad_probes = idev.cnf.dad_transmits
        delay = self.net.sched.rng.randrange(RTR_SOLICIT_DELAY_NS)
        ifa.timer.mod_timer(self.net.sched.now + delay)

    def dad_work(self, ifa: Inet6IfAddr) -> None:
        """addrconf_dad_work: one more NS from ::, or done after the last RetransTimer."""
        if not ifa.tentative or ifa.flags & IFA_F_DADFAILED or ifa not in ifa.idev.addrs:
            return
        if ifa.dad_probes == 0:
            self.dad_completed(ifa)
            return
        ifa.dad_probes -= 1
        ifa.timer.mod_timer(
            self.net.sched.now + max(self.net.sysctl.neigh_retrans_ms, 10) * NS_PER_MS
        )
        dev = ifa.idev.dev
        ndisc_send_ns(self.net, dev, ifa.addr, addrconf_addr_solict_mult(ifa.addr), None, dad=True)

    def dad_completed(self, ifa: Inet6IfAddr) -> None:
        """addrconf_dad_completed: usable; its local route; router solicitation."""
        ifa.flags &= ~IFA_F_TENTATIVE
        ifa.timer.del_timer()
        idev = ifa.idev
        fib = self.net.ipv6.fib
        fib.insert(Fib6Entry(RTN_LOCAL, ifa.addr, 128, idev.dev, proto=RTPROT_KERNEL, metric=0))
        if (
            ipv6_addr_is_linklocal(ifa.addr)
            and not idev.cnf.forwarding
            and idev.cnf.accept_ra
            and not idev.dev.flags & IFF_LOOPBACK
            and not idev.ra_seen
        ):
            idev.rs_probes = 0
            idev.rs_timer.mod_timer(self.net.sched.now)
        self.net.ipv6.schedule_verify()

    def dad_failure(self, ifa: Inet6IfAddr, lladdr: bytes | None) -> None:
        """addrconf_dad_failure: the address is someone else's."""
        ifa.flags |= IFA_F_DADFAILED
        ifa.timer.del_timer()
        by = f" used by {mac_str(lladdr)}" if lladdr else ""
        self.net.kernel.log(
            3,
            f"IPv6: {ifa.idev.dev.name}: IPv6 duplicate address {ipv6_str(ifa.addr)}{by} detected!",
        )

    # -- SLAAC --------------------------------------------------------------------------------
    def prefix_rcv(self, idev: Inet6Dev, pinfo: PrefixInfo) -> None:
        """addrconf_prefix_rcv: on-link route and autoconfigured address from one prefix."""
        prefix = ipv6_prefix(pinfo.prefix, pinfo.prefix_len)
        if (
            ipv6_addr_is_linklocal(prefix)
            or ipv6_addr_is_multicast(prefix)
            or pinfo.preferred > pinfo.valid
            or not 0 < pinfo.prefix_len <= 128
        ):
            return
        dev = idev.dev
        now = self.net.sched.now
        ipv6 = self.net.ipv6
        if pinfo.onlink:
            e = ipv6.fib.find(prefix, pinfo.prefix_len, dev)
            if pinfo.valid == 0:
                if e is not None and e.proto == RTPROT_RA:
                    ipv6.fib.remove(e)
            else:
                expires = 0 if pinfo.valid == INFINITY_LIFE_TIME else now + pinfo.valid * NS_PER_S
                if e is None or e.proto == RTPROT_RA:
                    self._prefix_route(dev, prefix, pinfo.prefix_len, RTPROT_RA, expires)
        if pinfo.autoconf and idev.cnf.autoconf and pinfo.prefix_len == 64 and dev.addr_len == 6:
            addr = prefix[:8] + eui64(dev.dev_addr)
            ifa = idev.get(addr)
            if ifa is None:
                if pinfo.valid:
                    self.add(dev, addr, 64, 0, pinfo.valid, pinfo.preferred, autoconf=True)
            elif ifa.autoconf:
                self._update_lifetimes(ifa, pinfo.valid, pinfo.preferred, now)
        ipv6.schedule_verify()

    def _update_lifetimes(self, ifa: Inet6IfAddr, valid: int, preferred: int, now: int) -> None:
        """RFC 4862 §5.5.3 (e): the two-hour rule against a forged short lifetime."""
        remaining = (
            (ifa.deadline(ifa.valid_lft) - now) // NS_PER_S
            if ifa.valid_lft != INFINITY_LIFE_TIME
            else INFINITY_LIFE_TIME
        )
        if valid > MIN_VALID_LIFETIME_S or valid > remaining:
            new_valid = valid
        elif remaining <= MIN_VALID_LIFETIME_S:
            new_valid = remaining
        else:
            new_valid = MIN_VALID_LIFETIME_S
        ifa.tstamp = now
        ifa.valid_lft = new_valid
        ifa.prefered_lft = min(preferred, new_valid)
        ifa.flags &= ~IFA_F_DEPRECATED

    def verify(self) -> int:
        """addrconf_verify: deprecate, expire; the next deadline (0: none)."""
        now = self.net.sched.now
        nxt = 0
        for idev in list(self.net.ipv6.devs.values()):
            for ifa in list(idev.addrs):
                if ifa.flags & IFA_F_PERMANENT:
                    continue
                valid = ifa.deadline(ifa.valid_lft)
                preferred = ifa.deadline(ifa.prefered_lft)
                if valid and valid <= now:
                    self.delete(ifa)
                    continue
                if preferred and preferred <= now:
                    ifa.flags |= IFA_F_DEPRECATED
                for t in (valid, preferred if not ifa.deprecated else 0):
                    if t and (not nxt or t < nxt):
                        nxt = t
        return nxt

    # -- listing -----------------------------------------------------------------------------
    def show(self) -> str:
        """``ip -6 addr``."""
        lines = []
        for idev in self.net.ipv6.devs.values():
            if not idev.addrs:
                continue
            dev = idev.dev
            lines.append(f"{dev.ifindex}: {dev.name}: mtu {idev.cnf.mtu}")
            lines.extend(self.addr_lines(dev))
        return "".join(line + "\n" for line in lines)

    def addr_lines(self, dev: NetDevice) -> list[str]:
        """One device's ``inet6`` lines as ``ip -6 addr`` prints them (the shell's
        ``ifaces`` too)."""
        idev = self.net.ipv6.devs.get(dev)
        if idev is None:
            return []
        now = self.net.sched.now
        lines = []
        for ifa in idev.addrs:
            scope = (
                "link"
                if ipv6_addr_is_linklocal(ifa.addr)
                else ("host" if ifa.addr == IN6ADDR_LOOPBACK else "global")
            )
            flags = [
                name
                for bit, name in (
                    (IFA_F_TENTATIVE, "tentative"),
                    (IFA_F_DADFAILED, "dadfailed"),
                    (IFA_F_DEPRECATED, "deprecated"),
                )
                if ifa.flags & bit
            ]
            dyn = "" if ifa.flags & IFA_F_PERMANENT else " dynamic"
            lines.append(
                f"    inet6 {ipv6_str(ifa.addr)}/{ifa.plen} scope {scope}{dyn}"
                + "".join(" " + f for f in flags)
            )
            lines.append(
                f"       valid_lft {_lft(ifa, ifa.valid_lft, now)} "
                f"preferred_lft {_lft(ifa, ifa.prefered_lft, now)}"
            )
        return lines


def _lft(ifa: Inet6IfAddr, lft: int, now: int) -> str:
    if lft == INFINITY_LIFE_TIME:
        return "forever"
    return f"{max(0, (ifa.deadline(lft) - now) // NS_PER_S)}sec"
