"""The syntax tree of a tcpdump filter expression, as :func:`stack.bpf.parse.parse` builds it.

The nodes libpcap's ``grammar.y`` hands to ``gencode.c`` (its ``struct qual``/``struct arth``
and the ``gen_*`` primitives): boolean structure (:class:`And`, :class:`Or`, :class:`Not`),
the primitives with their link-layer payload offset already resolved, and the arithmetic of
relations (:class:`Num`, :class:`Len`, :class:`Load`, :class:`Bin`, :class:`Neg`).
:mod:`stack.bpf.compiler` turns it into classic BPF.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class And:
    left: Node
    right: Node


@dataclass(slots=True)
class Or:
    left: Node
    right: Node


@dataclass(slots=True)
class Not:
    expr: Node


@dataclass(slots=True)
class EtherType:
    """``ip``, ``ip6``, ``arp``, ``rarp``, ``ether proto N``: the type at ``link - 2``."""
    types: tuple[int, ...]
    link: int


@dataclass(slots=True)
class IpProto:
    """``tcp``, ``udp``, ``icmp``..., ``ip proto N``, ``ip6 proto N``, ``proto N``."""
    proto: int
    v4: bool
    v6: bool
    link: int


@dataclass(slots=True)
class HostNet:
    """``[ip|arp|rarp] [dir] host|net``: IPv4 addresses, and ARP/RARP sender/target."""
    addr: int
    mask: int
    dir: str
    ip: bool
    arp_types: tuple[int, ...]
    link: int


@dataclass(slots=True)
class HostNet6:
    """``[ip6] [dir] host|net`` with an IPv6 address (``gen_host6``): ``addr``/``mask``
    as 128-bit integers."""
    addr: int
    mask: int
    dir: str
    link: int


@dataclass(slots=True)
class EtherAddr:
    mac: bytes
    dir: str


@dataclass(slots=True)
class EtherBroadcast:
    pass


@dataclass(slots=True)
class EtherMulticast:
    pass


@dataclass(slots=True)
class IpMulticast:
    link: int


@dataclass(slots=True)
class Port:
    """``[tcp|udp|sctp] [dir] port N`` and ``portrange lo-hi``."""
    lo: int
    hi: int
    dir: str
    protos: tuple[int, ...]
    link: int


@dataclass(slots=True)
class Vlan:
    vid: int | None
    link: int


@dataclass(slots=True)
class Num:
    value: int


@dataclass(slots=True)
class Len:
    pass


@dataclass(slots=True)
class Load:
    """``proto[index : size]``."""
    proto: str
    index: Arith
    size: int
    link: int


@dataclass(slots=True)
class Bin:
    op: str
    left: Arith
    right: Arith


@dataclass(slots=True)
class Neg:
    expr: Arith


@dataclass(slots=True)
class Relation:
    op: str
    left: Arith
    right: Arith


Arith = Num | Len | Load | Bin | Neg
Node = (And | Or | Not | EtherType | IpProto | HostNet | HostNet6 | EtherAddr | EtherBroadcast
        | EtherMulticast | IpMulticast | Port | Vlan | Relation)
