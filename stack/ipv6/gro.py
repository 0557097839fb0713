"""GRO for IPv6: which received packets may be merged, and the merged packet's header.

Mirrors Linux's ``ipv6_gro_receive`` and ``ipv6_gro_complete`` (``net/ipv6/ip6_offload.c``)
with the ``inet6_offloads[]`` table and ``inet6_add_offload`` (``net/ipv6/protocol.c``).  The
generic part is ``stack/core/gro.py``; TCP's rules are the ones IPv4 uses
(``stack/tcp/offload.py`` registers ``tcp6_offload`` here, as ``tcpv6_offload_init`` does).

Contract:
- ``ipv6_gro_receive(held, skb, cb)`` is the ETH_P_IPV6 ``PacketOffload.gro_receive``
  (``stack.ipv6.af_inet6`` registers it when IPv6 loads, with the software GSO of
  ``stack/ipv4/gso.py``, which segments TCP over either family).  The fixed header must be
  there, version 6, and its next header a protocol with a ``gro_receive`` in
  :data:`inet6_offloads`; else the packet is flushed (delivered as it came).  A payload
  length other than the frame's (link padding, a jumbogram) flushes it too.
- A held packet is the same flow when version and flow label (``first_word & 0xF00FFFFF``),
  addresses and next header match; one whose traffic class or hop limit differ is flushed
  (Linux: "flush if Traffic Class fields are different").  IPv6 has no IP ID: the
  transport's ``flush_id`` stays 0 (Linux's ``is_atomic``).
- ``ipv6_gro_complete(skb, cb)`` gives the merged packet its payload length, then calls the
  transport's ``gro_complete``.
- :data:`inet6_offloads` is one table for every host, like Linux's global one.

Deviation: a packet with extension headers is flushed, not merged (Linux pulls hop-by-hop,
destination options and routing headers, ``ipv6_gro_pull_exthdrs``, and compares them).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from stack.ipv4.gro import NetOffload

if TYPE_CHECKING:
    from stack.core import GroCb, SkBuff

_IPV6_HLEN = 40
_FIRST = struct.Struct("!IHBB")  # version/tclass/flow label, payload_len, nexthdr, hop_limit
_U16 = struct.Struct("!H")
_VER_FLOW = 0xF00FFFFF  # version and flow label: what must match for the same flow
_TCLASS = 0x0FF00000

inet6_offloads: dict[int, NetOffload] = {}


def inet6_add_offload(offload: NetOffload, proto: int) -> None:
    """Register ``proto``'s GRO callbacks over IPv6 (``inet6_add_offload``)."""
    inet6_offloads[proto] = offload


def ipv6_gro_receive(held: list[GroCb], skb: SkBuff, cb: GroCb) -> GroCb | None:
    """The IPv6 rules of GRO (see the module docstring); the held entry to flush, if any."""
    head = skb.head
    nh = skb.data + cb.data_offset
    if skb.tail - nh < _IPV6_HLEN:
        cb.flush = 1
        return None
    word, plen, nexthdr, hop_limit = _FIRST.unpack_from(head, nh)
    ops = inet6_offloads.get(nexthdr)
    if ops is None or word >> 28 != 6:
        cb.flush = 1  # an extension header, a protocol GRO does not know, not IPv6
        return None
    cb.proto = nexthdr
    if plen != skb.tail - nh - _IPV6_HLEN:
        cb.flush = 1  # padded, truncated or a jumbogram: let ipv6_rcv judge it
    addrs = bytes(head[nh + 8 : nh + 40])
    cb.net_key = key = (word & _VER_FLOW, addrs, nexthdr, word & _TCLASS, hop_limit)
    for p in held:
        if not p.same_flow:
            continue
        pkey = p.net_key
        if pkey != key:
            if pkey[:3] != key[:3]:
                p.same_flow = False
                continue
            p.flush = 1  # the traffic class or the hop limit differ
        p.flush_id = 0
    skb.network_header = nh
    cb.data_offset += _IPV6_HLEN
    skb.transport_header = nh + _IPV6_HLEN
    return ops.gro_receive(held, skb, cb)


def ipv6_gro_complete(skb: SkBuff, cb: GroCb) -> None:
    """The merged packet's payload length, then the transport's part."""
    head = skb.head
    nh = skb.network_header
    _U16.pack_into(head, nh + 4, skb.tail + skb.data_len - nh - _IPV6_HLEN)
    ops = inet6_offloads.get(head[nh + 6])
    if ops is not None:
        ops.gro_complete(skb, cb)


__all__ = ["inet6_add_offload", "inet6_offloads", "ipv6_gro_complete", "ipv6_gro_receive"]
