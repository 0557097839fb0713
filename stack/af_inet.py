"""The IPv4 family's registration tables and its start-up (Linux's ``net/ipv4/af_inet.c``).

Three tables at the edge, as Linux's ``inet_init`` fills them, and nothing else decides who
handles what:

- ``INET_PROTOS``: IP protocol number -> :class:`NetProtocol` (``inet_add_protocol``): the
  receive handler IP delivers to, the handler for ICMP errors about what the protocol sent,
  and the protocol's per-namespace state (``pernet_operations``: ``net.udp``, ``net.tcp``).
- ``PTYPE_HANDLERS``: ethertype -> receive function (``dev_add_pack``: ``ip_rcv``, ``arp_rcv``),
  which ``Net.attach`` installs on every device given IPv4.
- ``INETSW``: socket type -> ``[(protocol, Sock class)]`` (``inetsw_array``), the first entry
  being the default for ``proto=0``; ``socket(AF_INET, ...)`` looks here (``inet_create``).
  An entry of protocol IPPROTO_IP is a wildcard (SOCK_RAW's): it takes any protocol and is
  made with it, ``create(net, proto)``.

``inet_init(net)`` runs once per namespace, from ``Net()``: every protocol of the table is up
from boot (TCP answers a SYN to a closed port with a RST).  IPv6 would be ``af_inet6.py``
beside this module with its own tables (``inet6_protos``, ``ETH_P_IPV6``, ``inetsw6``) and an
``inet6_init`` that ``Net`` runs after this one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stack.ipv4.icmp import icmp_rcv
from stack.ipv4.input import ip_rcv
from stack.neigh.arp import arp_rcv
from stack.ping import PingSock, ping_err, ping_init
from stack.raw import RawSock
from stack.sock import Sock
from stack.tcp import TcpSock, tcp_init, tcp_v4_err, tcp_v4_rcv
from stack.uapi import (
    ETH_P_ARP,
    ETH_P_IP,
    IPPROTO_ICMP,
    IPPROTO_IP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
)
from stack.udp import UdpSock
from stack.udp_rcv import udp_err, udp_rcv
from stack.udp_table import udp_init

Rcv = Callable[[Any, Any], Any]
ErrHandler = Callable[..., None]


@dataclass(frozen=True, slots=True)
class NetProtocol:
    """``struct net_protocol`` with its pernet init: what IP knows of one protocol."""

    handler: Rcv  # handler(net, skb), skb.data at the protocol's header
    err_handler: ErrHandler | None = None  # err(net, quoted_iph, quoted_l4, type, code, info)
    init: Callable[[Any], Any] | None = None  # init(net): the namespace's state for it


INET_PROTOS: dict[int, NetProtocol] = {
    # net.icmp is IP's own (Net makes it); ping_init makes net.ping_table, the ping sockets
    IPPROTO_ICMP: NetProtocol(icmp_rcv, ping_err, ping_init),
    IPPROTO_UDP: NetProtocol(udp_rcv, udp_err, udp_init),
    IPPROTO_TCP: NetProtocol(tcp_v4_rcv, tcp_v4_err, tcp_init),
}

# dev_add_pack: rcv(net, skb, dev)
PTYPE_HANDLERS: dict[int, Callable[[Any, Any, Any], int]] = {
    ETH_P_IP: ip_rcv,
    ETH_P_ARP: arp_rcv,
}

INETSW: dict[int, list[tuple[int, Callable[..., Sock]]]] = {
    SOCK_STREAM: [(IPPROTO_TCP, TcpSock)],
    SOCK_DGRAM: [(IPPROTO_UDP, UdpSock), (IPPROTO_ICMP, PingSock)],
    SOCK_RAW: [(IPPROTO_IP, RawSock)],  # the wildcard: RawSock(net, proto), any proto
}


def inet_init(net: Any) -> None:
    """Bring every protocol of ``INET_PROTOS`` up in ``net``: its state, then its handlers."""
    for proto, prot in INET_PROTOS.items():
        if prot.init is not None:
            prot.init(net)
        net.register_protocol(proto, prot.handler, prot.err_handler)
