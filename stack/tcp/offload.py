"""GRO for TCP: which segments of a flow may become one, and the merged segment's header.

Mirrors Linux's ``tcp_gro_receive``/``tcp_gro_complete`` (the rules themselves, one
implementation for both families), ``tcp4_gro_receive``/``tcp4_gro_complete``
(``net/ipv4/tcp_offload.c``) and ``tcp6_gro_receive``/``tcp6_gro_complete``
(``net/ipv6/tcpv6_offload.c``), which differ only in the pseudo-header and the GSO type.
Registered with IPv4 as ``tcp4_offload`` and with IPv6 as ``tcp6_offload`` when this module is
imported (Linux's ``tcpv4_offload_init``/``tcpv6_offload_init``); the network and generic
halves are ``stack/ipv4/gro.py``, ``stack/ipv6/gro.py`` and ``stack/core/gro.py``.

The rules, Linux's:
- The checksum is checked first (``skb_gro_checksum_validate``): a segment the NIC verified
  (CHECKSUM_UNNECESSARY) is taken as it is; any other is verified here, in software, over the
  family's pseudo-header (ixgb checks TCP over IPv4 only, so this is the IPv6 path) and marked
  CHECKSUM_UNNECESSARY when good (``__skb_incr_checksum_unnecessary``); a bad one is flushed,
  and TCP counts it as usual.
- A segment with page fragments (none come from ixgb's RX path, which hands up linear skbs)
  is flushed, not merged (deviation: Linux moves its fragments over); a linear one joins the
  held skb as a page fragment or on its ``frag_list`` (``stack/core/gro.py``).
- A held segment is the same flow when the ports match too (IP matched the addresses).  A new
  segment is merged when it continues the held one exactly (its sequence number is the held
  one's plus the payload so far), carries data, is not longer than the held one's first
  segment (``gso_size``, the MSS the sender used), has the same ACK number, the same data
  offset, window and flags except PSH and FIN (so only ACK, optionally PSH), no CWR, and the
  very same option bytes (timestamps included: segments of one TSO burst share them), and the
  IP layer found nothing to object to (TTL, TOS, DF, the IP ID sequence).
- A held flow is delivered at once when a segment cannot be merged into it (the new one may
  start a new held flow), and right after a merge when the merged segment was short (less
  than ``gso_size``: the end of a burst) or carried PSH, URG, RST, SYN or FIN.  A segment with
  no payload (a pure ACK) is never held.
- The completed super-segment carries PSH/FIN if any part did, ``gso_size`` = the first
  segment's payload and ``gso_segs`` = the count, and is CHECKSUM_PARTIAL with the
  pseudo-header sum in its check field, as Linux leaves it (forwarding can re-segment it;
  TCP takes CHECKSUM_PARTIAL as verified).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from stack.core.gro import skb_gro_receive
from stack.core.skbuff import (
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
)
from stack.ipv4.gro import NetOffload, inet_add_offload
from stack.ipv6.gro import inet6_add_offload
from stack.wire.checksum import pseudo_header_sum, verify_l4
from stack.wire.ipv4 import IPPROTO_TCP
from stack.wire.tcp import CWR, FIN, PSH, RST, SYN, URG

if TYPE_CHECKING:
    from stack.core import GroCb, SkBuff

# The first four 32-bit words of the header: ports, seq, ack_seq and tcp_flag_word (data
# offset, reserved bits, flags, window), compared as Linux compares them.
_TH = struct.Struct("!IIII")
_U16 = struct.Struct("!H")
_FLAG_SHIFT = 16
_TCP_FLAG_CWR = CWR << _FLAG_SHIFT
_TCP_FLAG_FIN = FIN << _FLAG_SHIFT
_TCP_FLAG_PSH = PSH << _FLAG_SHIFT
_SAME_WORD_MASK = ~(_TCP_FLAG_CWR | _TCP_FLAG_FIN | _TCP_FLAG_PSH)
_FINAL_FLAGS = (URG | PSH | RST | SYN | FIN) << _FLAG_SHIFT
_CHECK = 16  # offsetof(struct tcphdr, check)
_SEQ_MASK = 0xFFFFFFFF


def _csum_ok(skb: SkBuff, cb: GroCb, v6: bool) -> bool:
    """``skb_gro_checksum_validate``: verified by the NIC, or now (then marked so) over the
    IPv4 or IPv6 pseudo-header."""
    if cb.flush or skb.ip_summed == CHECKSUM_UNNECESSARY:
        return True
    head = skb.head
    nh = skb.network_header
    if v6:
        saddr, daddr = head[nh + 8 : nh + 24], head[nh + 24 : nh + 40]
    else:
        saddr, daddr = head[nh + 12 : nh + 16], head[nh + 16 : nh + 20]
    th = skb.data + cb.data_offset
    if not verify_l4(saddr, daddr, IPPROTO_TCP, memoryview(head)[th : skb.tail]):
        return False
    skb.ip_summed = CHECKSUM_UNNECESSARY
    return True


def tcp4_gro_receive(held: list[GroCb], skb: SkBuff, cb: GroCb) -> GroCb | None:
    """``tcp4_gro_receive``: the checksum over the IPv4 pseudo-header, then the TCP rules.

    _csum_ok's first test (flushing already, or the NIC verified it) is repeated here so the
    common case costs no call: once per received segment (issue 18)."""
    if skb.data_len or (
        not cb.flush and skb.ip_summed != CHECKSUM_UNNECESSARY and not _csum_ok(skb, cb, False)
    ):
        cb.flush = 1  # nonlinear (see the module docstring), or a bad checksum
        return None
    return tcp_gro_receive(held, skb, cb)


def tcp6_gro_receive(held: list[GroCb], skb: SkBuff, cb: GroCb) -> GroCb | None:
    """``tcp6_gro_receive``: the checksum over the IPv6 pseudo-header, then the TCP rules."""
    if skb.data_len or not _csum_ok(skb, cb, True):
        cb.flush = 1
        return None
    return tcp_gro_receive(held, skb, cb)


def tcp_gro_receive(held: list[GroCb], skb: SkBuff, cb: GroCb) -> GroCb | None:
    """``tcp_gro_receive``: the TCP rules (see the module docstring), for both families."""
    head = skb.head
    th = skb.data + cb.data_offset
    room = skb.tail - th
    if room < 20:
        cb.flush = 1
        return None
    ports, seq, ack_seq, word = _TH.unpack_from(head, th)
    thlen = (word >> 28) << 2
    if thlen < 20 or thlen > room:
        cb.flush = 1
        return None
    cb.data_offset += thlen
    length = room - thlen
    # Everything that must be equal, in one tuple: ports, ACK, the flag word but for CWR, FIN
    # and PSH (so the data offset, the other flags and the window), the option bytes.
    cb.tp_key = key = (
        ports,
        ack_seq,
        word & _SAME_WORD_MASK,
        head[th + 20 : th + thlen] if thlen > 20 else b"",
    )
    cb.tp_next = (seq + length) & _SEQ_MASK
    p = None
    for q in held:
        if q.same_flow:
            if q.tp_key[0] == ports:
                p = q
                break
            q.same_flow = False
    mss = 1
    if p is not None:
        pskb = p.skb
        mss = pskb.gso_size
        if (
            p.flush
            or p.flush_id
            or word & _TCP_FLAG_CWR
            or p.tp_key != key
            or not length
            or length > mss
            or p.tp_next != seq
            or not skb_gro_receive(p, skb, cb)
        ):
            mss = 1
        else:
            p.tp_next = cb.tp_next
            pskb.head[pskb.transport_header + 13] |= (word >> _FLAG_SHIFT) & (FIN | PSH)
    flush = length < mss or word & _FINAL_FLAGS
    if flush:
        cb.flush = 1
    if p is not None and (flush or not cb.same_flow):
        return p
    return None


def tcp_gro_complete(skb: SkBuff, cb: GroCb, saddr: bytes, daddr: bytes, gso_type: int) -> None:
    """``tcp_gro_complete`` with the family's pseudo-header sum: a super-segment, checksum
    left partial."""
    head = skb.head
    th = skb.transport_header
    _U16.pack_into(
        head,
        th + _CHECK,
        pseudo_header_sum(saddr, daddr, IPPROTO_TCP, skb.tail + skb.data_len - th),
    )
    skb.csum_start = th
    skb.csum_offset = _CHECK
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.gso_segs = cb.count
    skb.gso_type |= gso_type
    if head[th + 13] & CWR:
        skb.gso_type |= SKB_GSO_TCP_ECN


def tcp4_gro_complete(skb: SkBuff, cb: GroCb) -> None:
    """``tcp4_gro_complete``: over the IPv4 addresses, SKB_GSO_TCPV4."""
    head = skb.head
    nh = skb.network_header
    tcp_gro_complete(skb, cb, head[nh + 12 : nh + 16], head[nh + 16 : nh + 20], SKB_GSO_TCPV4)


def tcp6_gro_complete(skb: SkBuff, cb: GroCb) -> None:
    """``tcp6_gro_complete``: over the IPv6 addresses, SKB_GSO_TCPV6."""
    head = skb.head
    nh = skb.network_header
    tcp_gro_complete(skb, cb, head[nh + 8 : nh + 24], head[nh + 24 : nh + 40], SKB_GSO_TCPV6)


tcp4_offload = NetOffload(tcp4_gro_receive, tcp4_gro_complete)
inet_add_offload(tcp4_offload, IPPROTO_TCP)
tcp6_offload = NetOffload(tcp6_gro_receive, tcp6_gro_complete)
inet6_add_offload(tcp6_offload, IPPROTO_TCP)
