"""GRO for IPv4: which received packets may be merged, and the merged packet's header.

Mirrors Linux's ``inet_gro_receive`` and ``inet_gro_complete`` (``net/ipv4/af_inet.c``) with
the ``inet_offloads[]`` table and ``inet_add_offload`` (``net/ipv4/protocol.c``).  The generic
part is ``stack/core/gro.py``; the transport's rules register here, as ``tcp4_offload`` does
from ``stack/tcp/offload.py``.

Contract:
- ``inet_gro_receive(held, skb, cb)`` is the ETH_P_IP ``PacketOffload.gro_receive``
  (``Net`` registers it).  Only a plain IPv4 header can be merged: version 4, IHL 5, not a
  fragment (DF allowed), a good header checksum, a total length equal to the frame's (no
  link padding), a protocol with a ``gro_receive`` in :data:`inet_offloads`.  Anything else
  is flushed (delivered as it came).  A held packet of the same addresses and protocol stays
  a candidate; one whose TTL, TOS or DF differ is flushed; one whose IP ID does not follow
  (``id + count``) is flushed by the transport, unless DF is set and the ID is the same
  (Linux's "atomic" datagrams, whose ID may be fixed).
- ``inet_gro_complete(skb, cb)`` gives the merged packet its total length and header
  checksum (incrementally, as Linux's ``csum_replace2``), then calls the transport's.
- :data:`inet_offloads` is one table for every host, like Linux's global ``inet_offloads[]``:
  the protocol code is the same on every host; ``{proto: NetOffload}``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastpath import csum_replace2
from stack.wire.ipv4 import IP_DF

if TYPE_CHECKING:
    from stack.core import GroCb, SkBuff

_WORDS = struct.Struct("!10H")  # the header as the ten words its checksum sums: version/IHL
# and TOS, total length, ID, fragment offset, TTL and protocol, checksum, saddr, daddr
_U16 = struct.Struct("!H")
_IPV4_HLEN = 20


class NetOffload:
    """A transport protocol's GRO callbacks (Linux's ``struct net_offload``)."""

    __slots__ = ("gro_receive", "gro_complete")

    def __init__(self, gro_receive: Callable[[list[GroCb], SkBuff, GroCb], GroCb | None],
                 gro_complete: Callable[[SkBuff, GroCb], None]) -> None:
        self.gro_receive = gro_receive
        self.gro_complete = gro_complete


inet_offloads: dict[int, NetOffload] = {}


def inet_add_offload(offload: NetOffload, proto: int) -> None:
    """Register ``proto``'s GRO callbacks (``inet_add_offload``); the last one wins."""
    inet_offloads[proto] = offload


def inet_gro_receive(held: list[GroCb], skb: SkBuff, cb: GroCb) -> GroCb | None:
    """The IPv4 rules of GRO (see the module docstring); the held entry to flush, if any."""
    head = skb.head
    nh = skb.data + cb.data_offset
    if skb.tail - nh < _IPV4_HLEN:
        cb.flush = 1
        return None
    words = _WORDS.unpack_from(head, nh)
    vihl_tos, tot_len, ident, frag_off, ttl_proto, _check, s_hi, s_lo, d_hi, d_lo = words
    proto = ttl_proto & 0xFF
    ops = inet_offloads.get(proto)
    if ops is None or vihl_tos >> 8 != 0x45 or frag_off & ~IP_DF:
        cb.flush = 1  # options, a fragment, a protocol GRO does not know
        return None
    total = sum(words)  # ip_fast_csum, from the words at hand
    total = (total & 0xFFFF) + (total >> 16)
    if (total & 0xFFFF) + (total >> 16) != 0xFFFF:
        cb.flush = 1  # a bad header checksum: ip_rcv counts it
        return None
    cb.proto = proto
    if tot_len != skb.tail - nh:
        cb.flush = 1  # padded or truncated: let ip_rcv judge it
    df = frag_off & IP_DF
    # The flow (addresses, protocol), then what must match too (TTL, TOS, DF).
    cb.net_key = key = (s_hi, s_lo, d_hi, d_lo, proto, ttl_proto, vihl_tos, df)
    cb.net_id = ident
    for p in held:
        if not p.same_flow:
            continue
        pkey = p.net_key
        if pkey != key:
            if pkey[:5] != key[:5]:
                p.same_flow = False
                continue
            p.flush = 1  # all fields must match but the length, the ID and the checksum
        pid = p.net_id
        flush_id = ((pid + p.count) & 0xFFFF) ^ ident
        if flush_id and df and ident == pid:
            flush_id = 0  # DF and a fixed ID: an atomic datagram's ID means nothing
        p.flush_id = flush_id
    skb.network_header = nh
    cb.data_offset += _IPV4_HLEN
    skb.transport_header = nh + _IPV4_HLEN
    return ops.gro_receive(held, skb, cb)


def inet_gro_complete(skb: SkBuff, cb: GroCb) -> None:
    """Total length and header checksum of a merged packet, then the transport's part."""
    head = skb.head
    nh = skb.network_header
    old = _U16.unpack_from(head, nh + 2)[0]
    new = skb.tail + skb.data_len - nh  # the fragments and the frag_list count
    _U16.pack_into(head, nh + 2, new)
    _U16.pack_into(head, nh + 10, csum_replace2(_U16.unpack_from(head, nh + 10)[0], old, new))
    ops = inet_offloads.get(head[nh + 9])
    if ops is not None:
        ops.gro_complete(skb, cb)
