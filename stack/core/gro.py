"""Generic receive offload: the segments of one flow in one NAPI poll become one skb.

Mirrors Linux's ``net/core/gro.c`` (``napi_gro_receive``, ``dev_gro_receive``,
``gro_list_prepare``, ``skb_gro_receive``, ``napi_gro_complete``, ``napi_gro_flush``) and
``NAPI_GRO_CB`` (``include/net/gro.h``).  The protocol rules live with the protocols:
``inet_gro_receive`` (stack/ipv4/gro.py), ``ipv6_gro_receive`` (stack/ipv6/gro.py) and
``tcp_gro_receive`` (stack/tcp/offload.py).

Contract:
- A driver's poll calls ``napi_gro_receive(napi, skb)`` where it would call
  ``netif_receive_skb`` (``eth_type_trans`` done: ``data`` at the network header).  With
  NETIF_F_GRO off on the device, or no ``gro_receive`` for ``skb.protocol`` among
  ``kernel.offloads``, the skb goes straight to ``netif_receive_skb``.
- ``PacketOffload.gro_receive(held, skb, cb) -> GroCb | None`` looks for ``skb``'s flow among
  ``held`` (the :class:`GroCb` of every held skb, oldest first, ``same_flow`` already set from
  the link layer), and either merges it into one of them with :func:`skb_gro_receive` (which
  sets ``cb.same_flow``) or sets ``cb.flush`` (deliver it now) or neither (hold it).  It
  returns the held entry that must be delivered now, if any.  Each layer adds its header
  length to ``cb.data_offset`` (Linux's ``skb_gro_pull``).
- A held skb is the first segment of its flow (linear: the ixgb RX path hands up linear
  skbs).  A merged segment's payload joins it as Linux's ``skb_gro_receive`` does for a
  ``head_frag`` skb: the received buffer itself becomes a page fragment of the last skb of
  the chain (the held one, then its last ``frag_list`` member), no byte copied and the skb
  freed with its head stolen (NAPI_GRO_FREE_STOLEN_HEAD); when that skb's fragments are
  full (MAX_SKB_FRAGS) or the segment is shared, the segment itself, pulled to its payload,
  is chained on the held skb's ``frag_list`` and becomes the new last.  ``count`` says how
  many segments it holds and ``gso_size`` is its first segment's payload length.
  ``PacketOffload.gro_complete(skb, cb)`` fixes the headers of a skb that holds more than one
  segment (lengths, checksums, ``gso_segs``) before it goes up.
- Nothing stays held past its poll: ``napi_complete_done`` and ``net_rx_action`` (when a poll
  used its whole weight) call :func:`napi_gro_flush`.  Linux keeps packets younger than a
  jiffy across a repoll; no time passes inside a poll here, so ixsim flushes them all.
- A segment merged as a fragment is consumed (its bytes now live in the page); at most
  ``MAX_GRO_SKBS`` flows are held per NAPI instance (one list: Linux's 8 hash buckets of 8
  are not needed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.dev import GRO_HELD, GRO_MERGED, GRO_MERGED_FREE, GRO_NORMAL, netif_receive_skb
from stack.core.etherdevice import ETH_HLEN
from stack.core.features import NETIF_F_GRO
from stack.core.page import page_of_head
from stack.core.skbfree import MAX_SKB_FRAGS, SkbFrag, consume_skb

if TYPE_CHECKING:
    from stack.core.dev import PacketOffload
    from stack.core.napi import NapiStruct
    from stack.core.skbuff import SkBuff

MAX_GRO_SKBS = 8
# NAPI_GRO_CB(skb)->free: what becomes of a merged skb.
NAPI_GRO_FREE = 1  # its bytes were copied: free it
NAPI_GRO_FREE_STOLEN_HEAD = 2  # its head is a page fragment of the held skb now
GRO_MAX_SIZE = 65536  # GRO_LEGACY_MAX_SIZE: the IPv4 total length must fit 16 bits


class GroCb:
    """What GRO knows about one skb (Linux's ``NAPI_GRO_CB(skb)``)."""

    __slots__ = ("skb", "data_offset", "count", "flush", "flush_id", "same_flow", "proto",
                 "mac", "net_key", "net_id", "tp_key", "tp_next", "last", "free")

    def __init__(self, skb: SkBuff) -> None:
        self.skb = skb
        self.data_offset = 0  # skb_gro_offset: the next header, from skb.data
        self.count = 1  # segments this skb holds
        self.flush = 0  # non-zero: deliver (this skb, or this held flow) now
        self.flush_id = 0  # the IP ID did not follow: kept for the transport layer
        self.same_flow = False  # held: may be our flow; new: was merged
        self.proto = 0  # the IP protocol, once the network layer saw it
        # What each layer compares, read once from this skb's headers: a held skb's are
        # compared with the next segment's in one tuple comparison (Linux re-reads the held
        # headers; in Python the reading is the cost).
        self.mac = b""  # the link-layer header
        self.net_key: tuple = ()  # the network layer's fields that must match
        self.net_id = 0  # the IP ID
        self.tp_key: tuple = ()  # the transport layer's fields that must match
        self.tp_next = 0  # the transport's next expected sequence number
        self.last: SkBuff = skb  # held: the chain's last skb (itself or a frag_list member)
        self.free = 0  # merged: NAPI_GRO_FREE_STOLEN_HEAD, or 0 when chained on a frag_list

    def gro_len(self) -> int:
        """skb_gro_len: payload bytes past the headers GRO has parsed."""
        skb = self.skb
        return skb.tail - skb.data - self.data_offset

    def __repr__(self) -> str:
        return f"<GroCb count={self.count} flush={self.flush} same_flow={self.same_flow}>"


def napi_gro_receive(napi: NapiStruct, skb: SkBuff) -> int:
    """Merge ``skb`` into a held skb of its flow, hold it, or pass it up now.

    Returns GRO_MERGED_FREE, GRO_HELD or GRO_NORMAL, as Linux's ``napi_gro_receive``.
    """
    if skb.dev.features & NETIF_F_GRO:
        offloads = skb.kernel.offloads
        proto = skb.protocol
        if proto in offloads:  # not .get(): a membership test is no call (once per frame)
            po = offloads[proto]
            if po.gro_receive is not None:
                return dev_gro_receive(napi, skb, po)
    netif_receive_skb(skb)
    return GRO_NORMAL


def _mac_of(skb: SkBuff) -> bytes:
    mac = skb.mac_header
    return bytes(skb.head[mac : mac + ETH_HLEN]) if mac >= 0 else b""


def gro_list_prepare(held: list[GroCb], skb: SkBuff) -> None:
    """Mark the held skbs that could be ``skb``'s flow by device, VLAN tag and MAC header."""
    dev = skb.dev
    machdr = _mac_of(skb)
    vlan = skb.vlan_present
    tci = skb.vlan_tci if vlan else 0
    for p in held:
        q = p.skb
        p.same_flow = (q.dev is dev and p.mac == machdr and q.vlan_present == vlan
                       and (not vlan or q.vlan_tci == tci))


def dev_gro_receive(napi: NapiStruct, skb: SkBuff, po: PacketOffload) -> int:
    held = napi.gro_list
    if held:
        gro_list_prepare(held, skb)
    cb = GroCb(skb)
    pp = po.gro_receive(held, skb, cb)
    if pp is not None:
        held.remove(pp)
        napi_gro_complete(pp)
    if cb.same_flow:
        if cb.free:
            consume_skb(skb)  # its head lives on as the held skb's page fragment
            return GRO_MERGED_FREE
        return GRO_MERGED  # chained on the held skb's frag_list
    if cb.flush:
        netif_receive_skb(skb)
        return GRO_NORMAL
    if len(held) >= MAX_GRO_SKBS:
        napi_gro_complete(held.pop(0))  # gro_flush_oldest
    skb.gso_size = cb.gro_len()
    cb.mac = _mac_of(skb)
    held.append(cb)
    return GRO_HELD


def skb_gro_receive(p: GroCb, skb: SkBuff, cb: GroCb) -> bool:
    """Add ``skb``'s payload to the held ``p``; False (nothing done) when it cannot be.

    It cannot when the result would reach GRO_MAX_SIZE, when ``skb`` is to be flushed, or
    when another skb shares ``p``'s bytes (Linux's -E2BIG cases, plus sharing).  The payload
    goes in as a page fragment over ``skb``'s own buffer, or ``skb`` is chained on the
    ``frag_list`` (see the module docstring).
    """
    held = p.skb
    start = skb.data + cb.data_offset
    n = skb.tail - start
    if held.len + n >= GRO_MAX_SIZE or cb.flush or held.shinfo.dataref != 1:
        return False
    lp = p.last
    if (len(lp.shinfo.frags) < MAX_SKB_FRAGS and skb.users == 1
            and skb.shinfo.dataref == 1 and not skb.data_len):
        lp.shinfo.frags.append(SkbFrag(page_of_head(skb.kernel, skb.head), start, n))
        lp.shinfo.host_frags = held.shinfo.host_frags = True
        delta_truesize = skb.end  # the buffer moves; the skb itself is freed
        cb.free = NAPI_GRO_FREE_STOLEN_HEAD
    else:  # merge: the segment itself, pulled to its payload, joins the frag_list
        skb.destructor = None
        skb.sk = None
        skb.data = start
        chained = held.shinfo.frag_list
        if chained is None:
            chained = held.shinfo.frag_list = []
        chained.append(skb)
        delta_truesize = skb.truesize
        lp = p.last = skb
        cb.free = 0
    if lp is not held:
        if cb.free:
            lp.data_len += n
            lp.truesize += delta_truesize
    held.data_len += n
    held.truesize += delta_truesize
    p.count += 1
    cb.same_flow = True
    return True


def napi_gro_complete(cb: GroCb) -> None:
    """Finish a held skb's headers (if it merged anything) and pass it up."""
    skb = cb.skb
    if cb.count > 1:
        po = skb.kernel.offloads.get(skb.protocol)
        if po is not None and po.gro_complete is not None:
            po.gro_complete(skb, cb)
    else:
        skb.gso_size = 0
    netif_receive_skb(skb)


def napi_gro_flush(napi: NapiStruct) -> None:
    """Pass every held skb up, oldest first (``napi_gro_flush(napi, false)``)."""
    held = napi.gro_list
    if held:
        napi.gro_list = []
        for cb in held:
            napi_gro_complete(cb)
