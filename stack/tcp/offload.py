"""GRO for TCP: which segments of a flow may become one, and the merged segment's header.

Mirrors Linux's ``tcp4_gro_receive``/``tcp4_gro_complete`` (``net/ipv4/tcp_offload.c``) and
``tcp_gro_receive``/``tcp_gro_complete`` (the rules themselves).  Registered with IPv4 as
``tcp4_offload`` when this module is imported (Linux's ``tcpv4_offload_init``); the IPv4 and
generic halves are ``stack/ipv4/gro.py`` and ``stack/core/gro.py``.

The rules, Linux's:
- Only a segment whose checksum the NIC verified (CHECKSUM_UNNECESSARY) is considered; any
  other is flushed, and TCP checks it as usual.
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
)
from stack.ipv4.gro import NetOffload, inet_add_offload
from stack.wire.checksum import pseudo_header_sum
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


def tcp4_gro_receive(held: list[GroCb], skb: SkBuff, cb: GroCb) -> GroCb | None:
    """``tcp4_gro_receive`` and ``tcp_gro_receive`` in one (a call less per frame): the
    checksum must be verified already, then the TCP rules (see the module docstring)."""
    if (not cb.flush and skb.ip_summed != CHECKSUM_UNNECESSARY) or skb.data_len:
        cb.flush = 1  # nonlinear: linear segments only (see the module docstring)
        return None
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
    cb.tp_key = key = (ports, ack_seq, word & _SAME_WORD_MASK,
                       head[th + 20 : th + thlen] if thlen > 20 else b"")
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
        if (p.flush or p.flush_id or word & _TCP_FLAG_CWR or p.tp_key != key
                or not length or length > mss or p.tp_next != seq
                or not skb_gro_receive(p, skb, cb)):
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


def tcp4_gro_complete(skb: SkBuff, cb: GroCb) -> None:
    """``tcp4_gro_complete`` + ``tcp_gro_complete``: a super-segment, checksum left partial."""
    head = skb.head
    nh = skb.network_header
    th = skb.transport_header
    _U16.pack_into(head, th + _CHECK, pseudo_header_sum(
        head[nh + 12 : nh + 16], head[nh + 16 : nh + 20], IPPROTO_TCP,
        skb.tail + skb.data_len - th))
    skb.csum_start = th
    skb.csum_offset = _CHECK
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.gso_segs = cb.count
    skb.gso_type |= SKB_GSO_TCPV4
    if head[th + 13] & CWR:
        skb.gso_type |= SKB_GSO_TCP_ECN


tcp4_offload = NetOffload(tcp4_gro_receive, tcp4_gro_complete)
inet_add_offload(tcp4_offload, IPPROTO_TCP)
