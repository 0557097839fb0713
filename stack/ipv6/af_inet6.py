"""The IPv6 family's registration and its per-namespace state (Linux's ``af_inet6.c``).

``inet6_init(net)`` is what loading Linux's ``ipv6`` module does to one namespace: the
per-namespace state ``net.ipv6`` (:class:`NetnsIpv6`, Linux's ``struct netns_ipv6``: FIB,
ND table, reassembly queues, ICMPv6 rate limiter, the devices' ``inet6_dev``), the upper-layer
protocols of :data:`INET6_PROTOS` (``inet6_add_protocol``: ICMPv6, TCP, UDP) and the
ETH_P_IPV6 packet type of :data:`PTYPE6_HANDLERS` on every attached device,
after which every device that is up gets its link-local address (``addrconf_notify``).

Deliberate deviation: ixsim loads "the ipv6 module" on first use (a host's first IPv6
address, ``radvd`` or ``Net.enable_ipv6()``) rather than at boot, so a world without IPv6
sends exactly the frames it sent before IPv6 existed (no DAD, RS or MLD chatter, no draws from
the world's RNG).  Once loaded, IPv6 runs on every interface, as on Linux.  Creating an
AF_INET6 socket loads it too (``socket(AF_INET6, ...)`` through :data:`INETSW6`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stack.core import IFF_UP, PacketType, Timer
from stack.ipv6.addrconf import Addrconf, Inet6Dev
from stack.ipv6.icmp import Icmp6State, icmpv6_rcv
from stack.ipv6.input import ipv6_rcv
from stack.ipv6.ndisc import nd_table, ndisc_rcv
from stack.ipv6.reasm import Ip6Frags
from stack.ipv6.route import Fib6, ipv6_dev_get_saddr
from stack.ipv6.tcp_ipv6 import Tcp6Sock, tcp_v6_err, tcp_v6_rcv
from stack.ipv6.udp import Udp6Sock, udpv6_err, udpv6_rcv
from stack.sock import Sock
from stack.uapi import (
    ETH_P_IPV6,
    IPPROTO_DSTOPTS,
    IPPROTO_FRAGMENT,
    IPPROTO_HOPOPTS,
    IPPROTO_ICMPV6,
    IPPROTO_ROUTING,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_STREAM,
)
from stack.wire.ipv6 import ipv6_addr_is_linklocal

if TYPE_CHECKING:
    from stack.core import NetDevice, SkBuff

Rcv = Callable[[Any, "SkBuff"], Any]

INET6_PROTOS: dict[int, tuple[Rcv, Callable[..., None] | None]] = {
    IPPROTO_ICMPV6: (icmpv6_rcv, None),
    IPPROTO_TCP: (tcp_v6_rcv, tcp_v6_err),  # tcpv6_protocol
    IPPROTO_UDP: (udpv6_rcv, udpv6_err),  # udpv6_protocol
}
# inetsw6: socket type -> [(protocol, Sock class)], the first the default for proto 0
# (``inet6_create``).  SOCK_RAW and ICMPv6 ping sockets are not modelled yet.
INETSW6: dict[int, list[tuple[int, Callable[..., Sock]]]] = {
    SOCK_STREAM: [(IPPROTO_TCP, Tcp6Sock)],
    SOCK_DGRAM: [(IPPROTO_UDP, Udp6Sock)],
}
PTYPE6_HANDLERS: dict[int, Callable[[Any, Any, Any], int]] = {
    ETH_P_IPV6: ipv6_rcv,
}


class NetnsIpv6:
    """``net.ipv6``: every IPv6 table of one namespace."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.devs: dict[NetDevice, Inet6Dev] = {}
        self.fib = Fib6(net)
        self.nd_tbl = nd_table(net)
        self.frags = Ip6Frags(net)
        self.icmp = Icmp6State(net)
        self.addrconf = Addrconf(net)
        self.protos: dict[int, Rcv] = {}
        self.err_handlers: dict[int, Callable[..., None]] = {}
        self.pingers: dict[int, Callable[..., None]] = {}  # ICMPv6 echo ident -> ping(8)
        self.frag_ident = -1
        self.ndisc_rcv = ndisc_rcv
        self.verify_timer = Timer(net.kernel, self._verify, "addrconf_verify")

    def idev(self, dev: NetDevice | None) -> Inet6Dev | None:
        return self.devs.get(dev) if dev is not None else None

    def add_dev(self, dev: NetDevice) -> Inet6Dev:
        """ipv6_add_dev: the device's inet6_dev, its devconf copy, its packet handler."""
        idev = self.devs.get(dev)
        if idev is not None:
            return idev
        sysctl = self.net.sysctl
        cnf = replace(sysctl.ipv6_conf_default, mtu=max(dev.mtu, 1280))
        sysctl.ipv6_conf_dev[dev.name] = cnf
        idev = self.devs[dev] = Inet6Dev(self.net, dev, cnf)
        kernel = self.net.kernel
        for ptype, rcv in PTYPE6_HANDLERS.items():
            pt = PacketType(ptype, self.net._ptype_handler(rcv), dev)
            idev.packet_types.append(pt)
            kernel.dev_add_pack(pt)
        return idev

    def del_dev(self, dev: NetDevice) -> None:
        idev = self.devs.get(dev)
        if idev is None:
            return
        self.addrconf.dev_down(dev)
        for ifa in list(idev.addrs):
            self.addrconf.delete(ifa)
        for pt in idev.packet_types:
            self.net.kernel.dev_remove_pack(pt)
        del self.devs[dev]
        self.net.sysctl.ipv6_conf_dev.pop(dev.name, None)

    def register_protocol(
        self, proto: int, rcv: Rcv, err_handler: Callable[..., None] | None = None
    ) -> None:
        """inet6_add_protocol."""
        if proto in self.protos:
            raise ValueError(f"IPv6 protocol {proto} is already registered")
        self.protos[proto] = rcv
        if err_handler is not None:
            self.err_handlers[proto] = err_handler

    def link_local(self, dev: NetDevice) -> bytes | None:
        """A usable link-local address of ``dev`` (``ipv6_get_lladdr``)."""
        idev = self.devs.get(dev)
        for ifa in idev.addrs if idev is not None else ():
            if ifa.usable and ipv6_addr_is_linklocal(ifa.addr):
                return ifa.addr
        return None

    def saddr_for(self, dev: NetDevice, daddr: bytes) -> bytes | None:
        return ipv6_dev_get_saddr(self.net, dev, daddr)

    def skip_exthdr(self, nexthdr: int, buf: memoryview) -> tuple[int, memoryview]:
        """ipv6_skip_exthdr over a quoted packet: the upper layer and its bytes."""
        while nexthdr in (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT):
            if len(buf) < 8:
                return nexthdr, buf[len(buf) :]
            size = 8 if nexthdr == IPPROTO_FRAGMENT else (buf[1] + 1) << 3
            nexthdr = buf[0]
            buf = buf[size:]
        return nexthdr, buf

    def schedule_verify(self) -> None:
        """Arm addrconf_verify (and the RA routes' expiry) at the next lifetime deadline."""
        nxt = self.addrconf.verify()
        for e in self.fib.entries():
            if e.expires and (not nxt or e.expires < nxt):
                nxt = e.expires
        if nxt:
            self.verify_timer.mod_timer(nxt)

    def _verify(self, _timer: Timer) -> None:
        self.fib.expire()
        self.schedule_verify()

    def netdev_event(self, event: str, dev: NetDevice) -> None:
        """addrconf_notify for the events ``Net`` forwards."""
        if event == "up":
            self.addrconf.dev_up(dev)
        elif event == "down":
            self.addrconf.dev_down(dev)
        elif event == "change":
            self.fib.invalidate()
        elif event == "unregister":
            self.del_dev(dev)


def inet6_init(net: Any) -> NetnsIpv6:
    """Load IPv6 into ``net`` (see the module docstring); idempotent."""
    if net.ipv6 is not None:
        return net.ipv6
    ipv6 = net.ipv6 = NetnsIpv6(net)
    for proto, (rcv, err) in INET6_PROTOS.items():
        ipv6.register_protocol(proto, rcv, err)
    devs = ([net.lo] if net.lo is not None else []) + [
        d for d in net.devinet.in_devices if d is not net.lo
    ]
    for dev in devs:
        ipv6.add_dev(dev)
        if dev.flags & IFF_UP:
            ipv6.addrconf.dev_up(dev)
    return ipv6
