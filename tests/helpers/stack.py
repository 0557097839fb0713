"""The stack-alone rig: hosts (a kernel and its ``Net``) on veth pairs, no NIC model.

``new_host()`` boots one host: ``Kernel`` + ``Net`` (with its loopback), and TCP registered
when asked (``inet_init``'s part).  ``two_hosts()`` cables A (10.0.0.1/24) and B
(10.0.0.2/24) with a veth pair; ``routed()`` builds A - R - B (10.0.1.0/24 and 10.0.2.0/24,
R forwarding); ``veth_hosts()`` is the socket tests' pair (TCP, offloads, 10 Gb/s).  Hosts
with the real NIC and driver come from ``ixsim.World`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpers.units import US, S
from ixsim.sched import Scheduler
from stack.core import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO, Kernel, NetDevice
from stack.net import Net
from stack.socket import AF_INET, SOCK_STREAM, Socket, socket_create
from stack.sysctl import Sysctl
from stack.udp import UdpSock
from stack.veth import veth_pair
from stack.wire import ip_bytes


@dataclass
class Host:
    """One emulated host without a NIC model: kernel, namespace and its veth ends."""

    name: str
    kernel: Kernel
    net: Net
    devs: list[NetDevice] = field(default_factory=list)

    @property
    def dev(self) -> NetDevice:
        return self.devs[0]

    @property
    def sched(self) -> Scheduler:
        return self.kernel.sched

    def udp(self, port: int | None = None, addr: str = "0.0.0.0") -> UdpSock:
        sk = UdpSock(self.net)
        if port is not None:
            sk.bind(ip_bytes(addr), port)
        return sk

    def socket(self, family: int = AF_INET, type: int = SOCK_STREAM) -> Socket:
        """A BSD socket on this host (``ixsim.Host.socket``'s shape, for apps)."""
        return socket_create(self.net, family, type)

    def spawn(self, coro: Any, name: str = "") -> Any:
        return self.sched.spawn(coro, name)


def new_host(sched: Scheduler, name: str, sysctl: Sysctl | None = None) -> Host:
    """Boot one host on ``sched`` (``Net`` brings ICMP, UDP and TCP up: ``stack.af_inet``)."""
    kernel = Kernel(sched, name)
    return Host(name, kernel, Net(kernel, sysctl=sysctl))


def two_hosts(delay: int = 50 * US, features: int = 0, mtu: int = 1500, seed: int = 1,
              rate: int = 0, settle: bool = True
              ) -> tuple[Scheduler, Host, Host]:
    """A (10.0.0.1/24) and B (10.0.0.2/24) on one veth pair; the world settled (1 s: the
    gratuitous ARPs delivered) unless ``settle=False``."""
    sched = Scheduler(seed=seed)
    a, b = new_host(sched, "a"), new_host(sched, "b")
    da, db = veth_pair(a.kernel, b.kernel, delay=delay, features=features, mtu=mtu, rate=rate)
    a.devs.append(da)
    b.devs.append(db)
    a.net.configure(da, "10.0.0.1/24")
    b.net.configure(db, "10.0.0.2/24")
    if settle:
        sched.run_for(S)
    return sched, a, b


def veth_hosts(delay: int = 10 * US, rate: int = 10_000_000_000, features: int | None = None,
               seed: int = 1) -> tuple[Scheduler, Host, Host]:
    """The socket tests' pair: TCP registered, checksum/SG/TSO offloads (unless ``features``
    says otherwise), 10 Gb/s, 10 us one way, not settled."""
    if features is None:
        features = NETIF_F_HW_CSUM | NETIF_F_SG | NETIF_F_TSO
    return two_hosts(delay, features, seed=seed, rate=rate, settle=False)


def routed(delay: int = 50 * US, mtu_ab: int = 1500, mtu_rb: int = 1500, seed: int = 1
           ) -> tuple[Scheduler, Host, Host, Host]:
    """A (10.0.1.1) - R (10.0.1.254 | 10.0.2.254) - B (10.0.2.1), R forwarding."""
    sched = Scheduler(seed=seed)
    a, r, b = new_host(sched, "a"), new_host(sched, "r"), new_host(sched, "b")
    da, ra = veth_pair(a.kernel, r.kernel, delay=delay, mtu=mtu_ab)
    rb, db = veth_pair(r.kernel, b.kernel, delay=delay, mtu=mtu_rb)
    a.devs.append(da)
    r.devs += [ra, rb]
    b.devs.append(db)
    a.net.configure(da, "10.0.1.1/24")
    r.net.configure(ra, "10.0.1.254/24")
    r.net.configure(rb, "10.0.2.254/24")
    b.net.configure(db, "10.0.2.1/24")
    a.net.add_route("default", gateway="10.0.1.254")
    b.net.add_route("default", gateway="10.0.2.254")
    r.net.sysctl.ip_forward = True
    sched.run_for(S)
    return sched, a, r, b
