"""The per-host network namespace: every IPv4 table and protocol of one host.

Mirrors Linux's ``struct net`` (``include/net/net_namespace.h``) with the per-namespace parts of
``inet_init`` (``net/ipv4/af_inet.c``: the protocols and packet types of ``stack.af_inet``'s
tables, the IPv4 GSO/GRO offload), ``loopback_net_init`` and the netdevice notifiers of
``devinet.c``/``fib_frontend.c``/``arp.c``.

Contract (docs/stack-architecture.md):
- ``Net(kernel)`` creates ``lo`` (127.0.0.1/8, up) unless ``loopback=False``; attributes
  ``kernel``, ``sched``, ``mib``, ``sysctl``, ``devinet``, ``fib``, ``arp`` (the ARP
  neighbour table), ``ipfrag``, ``icmp``, ``inet_protos`` ({proto: rcv(net, skb)}),
  ``err_handlers`` ({proto: err(net, quoted_iph, quoted_l4, type, code, info)}), ``udp``,
  ``tcp`` (each protocol's state, made by ``inet_init``), ``lo``.
- ``net.register_protocol(proto, rcv, err_handler=None)`` (``inet_add_protocol``).
- ``net.attach(dev)``: give a registered net_device IPv4 (its ``in_device``) and install the
  handlers of ``PTYPE_HANDLERS`` (ETH_P_IP, ETH_P_ARP) for it; idempotent.
  ``net.configure(dev, "10.0.0.1/24")`` attaches, opens the device if it is down, and adds
  the address: its local, broadcast and connected (prefix) routes follow, and a gratuitous
  ARP announces it.
- Device events are followed: up installs the routes of its addresses (and announces them),
  down flushes every route through it and its neighbours, an MTU change or carrier change
  invalidates cached routes, unregistration detaches it.
- Listings: ``ip_addr()``, ``ip_route(table)``, ``ip_neigh()``; ``route(daddr)`` resolves an
  output route.  ping(8) is a program on top, ``ixsim.apps.ping``, over the sockets of
  ``stack/ping.py`` and ``stack/raw.py`` (``net.ping_table``, ``net.raw``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stack.af_inet import PTYPE_HANDLERS, inet_init
from stack.core import (
    ETH_P_IP,
    IFF_LOOPBACK,
    IFF_NOARP,
    IFF_UP,
    NETDEV_CHANGE,
    NETDEV_CHANGEADDR,
    NETDEV_CHANGEMTU,
    NETDEV_DOWN,
    NETDEV_UNREGISTER,
    NETDEV_UP,
    PacketOffload,
    PacketType,
    dev_open,
    register_netdevice_notifier,
    unregister_netdevice_notifier,
)
from stack.ipv4.defrag import IpFrags
from stack.ipv4.devinet import Devinet, parse_cidr
from stack.ipv4.gro import inet_gro_complete, inet_gro_receive
from stack.ipv4.gso import inet_gso_segment
from stack.ipv4.icmp import IcmpState
from stack.ipv4.route import RT_TABLE_MAIN, Fib, FibEntry, Route, route_output
from stack.ipv6.af_inet6 import NetnsIpv6, inet6_init
from stack.ipv6.route import Fib6Entry
from stack.loopback import loopback_dev
from stack.mib import Mib
from stack.neigh.arp import arp_send_garp, arp_table
from stack.raw import RawHashinfo
from stack.sysctl import Sysctl
from stack.wire.ipv4 import INADDR_LOOPBACK, ip_bytes
from stack.wire.ipv6 import ipv6_bytes, is_ipv6_text

if TYPE_CHECKING:
    from stack.core import Kernel, NetDevice, SkBuff
    from stack.ping import PingTable
    from stack.tcp import TcpTable
    from stack.udp_table import UdpTable

Rcv = Callable[[Any, "SkBuff"], Any]
ErrHandler = Callable[..., None]


class Net:
    """One host's network namespace (see the module docstring)."""

    def __init__(self, kernel: Kernel, sysctl: Sysctl | None = None,
                 loopback: bool = True) -> None:
        self.kernel = kernel
        self.sched = kernel.sched
        self.mib = Mib()
        self.sysctl = sysctl if sysctl is not None else Sysctl()
        self.inet_protos: dict[int, Rcv] = {}
        self.err_handlers: dict[int, ErrHandler] = {}
        self.ip_idents: dict[int, int] = {}
        self.devinet = Devinet(self)
        self.fib = Fib(self)
        self.arp = arp_table(self)
        self.ipfrag = IpFrags(self)
        self.icmp = IcmpState(self)
        self.raw = RawHashinfo(self)  # raw sockets by protocol (stack.raw)
        self.udp: UdpTable  # these three: inet_init, below
        self.ping_table: PingTable
        self.tcp: TcpTable
        self.lo: NetDevice | None = None
        self.ipv6: NetnsIpv6 | None = None  # stack.ipv6.af_inet6.inet6_init, on first use
        self._offload = PacketOffload(ETH_P_IP, inet_gso_segment, inet_gro_receive,
                                      inet_gro_complete)
        kernel.dev_add_offload(self._offload)
        register_netdevice_notifier(kernel, self._netdev_event)
        if loopback:
            lo = kernel.dev_get_by_name("lo") or loopback_dev(kernel)
            self.lo = lo
            self.attach(lo)
            if not lo.flags & IFF_UP:
                dev_open(lo)
            self.devinet.add(lo, INADDR_LOOPBACK, 8)
        # ICMP, UDP, TCP (stack.af_inet.INET_PROTOS); last, so that TCP's keys are the
        # namespace's first draws from the world's RNG after everything above
        inet_init(self)

    # -- protocols ---------------------------------------------------------------------------------
    def register_protocol(self, proto: int, rcv: Rcv, err_handler: ErrHandler | None = None
                          ) -> None:
        """inet_add_protocol: ``rcv(net, skb)`` gets ``proto``'s packets, ``err_handler`` the
        ICMP errors about what it sent (see ``stack.ipv4.icmp``)."""
        if proto in self.inet_protos:
            raise ValueError(f"IP protocol {proto} is already registered")
        self.inet_protos[proto] = rcv
        if err_handler is not None:
            self.err_handlers[proto] = err_handler

    def unregister_protocol(self, proto: int) -> None:
        self.inet_protos.pop(proto, None)
        self.err_handlers.pop(proto, None)

    # -- devices -----------------------------------------------------------------------------------
    def attach(self, dev: NetDevice) -> None:
        """Give ``dev`` IPv4 and the IP/ARP receive handlers (idempotent)."""
        if self.devinet.in_dev(dev) is not None:
            return
        in_dev = self.devinet.create(dev)
        in_dev.packet_types = [PacketType(ptype, self._ptype_handler(rcv), dev)
                               for ptype, rcv in PTYPE_HANDLERS.items()]
        for pt in in_dev.packet_types:
            self.kernel.dev_add_pack(pt)
        if dev.flags & IFF_UP:
            self.fib.sync_ifaddrs(dev)
        if self.ipv6 is not None:
            self.ipv6.add_dev(dev)
            if dev.flags & IFF_UP:
                self.ipv6.addrconf.dev_up(dev)

    def enable_ipv6(self) -> NetnsIpv6:
        """Load IPv6 (``modprobe ipv6``): see ``stack.ipv6.af_inet6``."""
        return inet6_init(self)

    def _ptype_handler(self, rcv: Callable[[Net, SkBuff, NetDevice], int]
                       ) -> Callable[[SkBuff, NetDevice, PacketType, NetDevice], int]:
        """``rcv(net, skb, dev)`` in the shape ``dev_add_pack`` calls, bound to this namespace."""
        def handler(skb: SkBuff, d: NetDevice, pt: PacketType, orig: NetDevice) -> int:
            return rcv(self, skb, d)

        return handler

    def detach(self, dev: NetDevice) -> None:
        """Take IPv4 away from ``dev``: handlers, addresses, routes, neighbours."""
        in_dev = self.devinet.in_dev(dev)
        if in_dev is None:
            return
        for pt in in_dev.packet_types:
            self.kernel.dev_remove_pack(pt)
        self.devinet.destroy(dev)
        self.fib.flush_dev(dev)
        self.arp.flush_dev(dev)

    def configure(self, dev: NetDevice, cidr: str) -> Any:
        """``ip link set DEV up; ip addr add CIDR dev DEV`` (attaching DEV first)."""
        self.attach(dev)
        if not dev.flags & IFF_UP:
            ret = dev_open(dev)
            if ret:
                raise OSError(-ret, f"{dev.name}: cannot bring the device up")
        if is_ipv6_text(cidr):
            text, _, plen = cidr.partition("/")
            ipv6 = self.enable_ipv6()
            return ipv6.addrconf.add(dev, ipv6_bytes(text), int(plen) if plen else 128)
        local, prefixlen = parse_cidr(cidr)
        return self.devinet.add(dev, local, prefixlen)

    def announce(self, dev: NetDevice, addr: bytes) -> None:
        """Gratuitous ARP for a new address (see ``stack.neigh.arp``)."""
        if dev.flags & IFF_UP and not dev.flags & (IFF_LOOPBACK | IFF_NOARP):
            arp_send_garp(self, dev, addr)

    def _netdev_event(self, event: int, dev: NetDevice) -> None:
        if self.devinet.in_dev(dev) is None:
            return
        if self.ipv6 is not None:
            self._netdev_event6(event, dev)
        if event == NETDEV_UP:
            self.fib.sync_ifaddrs(dev)
            for ifa in self.devinet.addresses(dev):
                self.announce(dev, ifa.local)
        elif event == NETDEV_DOWN:
            self.fib.flush_dev(dev)
            self.arp.flush_dev(dev)
        elif event == NETDEV_CHANGEADDR:
            self.arp.flush_dev(dev)
            for ifa in self.devinet.addresses(dev):
                self.announce(dev, ifa.local)
        elif event in (NETDEV_CHANGEMTU, NETDEV_CHANGE):
            self.fib.invalidate()
        elif event == NETDEV_UNREGISTER:
            self.detach(dev)

    def _netdev_event6(self, event: int, dev: NetDevice) -> None:
        ipv6 = self.ipv6
        assert ipv6 is not None
        if event == NETDEV_UP:
            ipv6.netdev_event("up", dev)
        elif event == NETDEV_DOWN:
            ipv6.netdev_event("down", dev)
        elif event in (NETDEV_CHANGEMTU, NETDEV_CHANGE):
            ipv6.netdev_event("change", dev)
        elif event == NETDEV_UNREGISTER:
            ipv6.netdev_event("unregister", dev)

    def close(self) -> None:
        """Undo what ``Net`` registered with the kernel (offload, notifier, handlers)."""
        for dev in list(self.devinet.in_devices):
            self.detach(dev)
        self.kernel.dev_remove_offload(self._offload)
        if self.ipv6 is not None:
            self.kernel.dev_remove_offload(self.ipv6.offload)
        unregister_netdevice_notifier(self.kernel, self._netdev_event)

    # -- conveniences ------------------------------------------------------------------------------
    def add_route(self, dst: str, gateway: str | None = None, dev: NetDevice | None = None,
                  metric: int = 0, mtu: int = 0, **kw: Any) -> FibEntry | Fib6Entry:
        """``ip route add`` (see ``Fib.add_route``); an IPv6 destination or gateway is
        ``ip -6 route add`` (``stack.ipv6.route.Fib6.add_route``, metric 1024 unless given)."""
        if is_ipv6_text(dst) or (gateway is not None and is_ipv6_text(gateway)):
            fib6 = self.enable_ipv6().fib
            dst6 = "::/0" if dst == "default" else dst
            return fib6.add_route(dst6, gateway, dev, metric or 1024, mtu)
        return self.fib.add_route(dst, gateway=gateway, dev=dev, metric=metric, mtu=mtu, **kw)

    def route(self, daddr: str | bytes, saddr: str | bytes | None = None) -> Route:
        """``ip route get DADDR``."""
        d = ip_bytes(daddr) if isinstance(daddr, str) else daddr
        s = ip_bytes(saddr) if isinstance(saddr, str) else saddr
        return route_output(self, d, s)

    def ip_addr(self) -> str:
        return self.devinet.show()

    def ip_route(self, table: int = RT_TABLE_MAIN) -> str:
        return self.fib.show(table)

    def ip_neigh(self) -> str:
        return self.arp.show()

    def ip6_addr(self) -> str:
        """``ip -6 addr``."""
        return self.ipv6.addrconf.show() if self.ipv6 is not None else ""

    def ip6_route(self) -> str:
        """``ip -6 route``."""
        return self.ipv6.fib.show() if self.ipv6 is not None else ""

    def ip6_neigh(self) -> str:
        """``ip -6 neigh``."""
        return self.ipv6.nd_tbl.show() if self.ipv6 is not None else ""

    def __repr__(self) -> str:
        return f"<Net {self.kernel.hostname} devs={[d.name for d in self.devinet.in_devices]}>"
