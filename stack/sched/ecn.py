"""Setting Congestion Experienced on a queued packet: ``INET_ECN_set_ce`` of
``include/net/inet_ecn.h`` (RFC 3168 §5), for the AQMs of this package.

A packet is marked only if its transport declared itself ECN-capable (ECT(0) or ECT(1) in the
two low bits of the IPv4 TOS byte); the header checksum is patched incrementally as
``IP_ECN_set_ce`` does (RFC 1624).  Not-ECT packets and non-IPv4 frames are left alone and
the caller drops instead.
"""

from __future__ import annotations

import struct

from stack.core.skbuff import SkBuff
from stack.uapi import ETH_P_8021Q, ETH_P_IP, INET_ECN_MASK

INET_ECN_NOT_ECT = 0
INET_ECN_ECT_1 = 1
INET_ECN_ECT_0 = 2
INET_ECN_CE = 3

_U16 = struct.Struct("!H")


def inet_ecn_set_ce(skb: SkBuff) -> bool:
    """Mark CE on an ECT IPv4 packet whose ``data`` is at its Ethernet header; False when
    the packet cannot carry the mark (the AQM then drops it)."""
    buf = skb.head
    off = skb.data + 12
    proto = _U16.unpack_from(buf, off)[0]
    off += 2
    if proto == ETH_P_8021Q:
        proto = _U16.unpack_from(buf, off + 2)[0]
        off += 4
    if proto != ETH_P_IP or skb.tail - off < 20:
        return False
    tos = buf[off + 1]
    ecn = tos & INET_ECN_MASK
    if ecn == INET_ECN_NOT_ECT:
        return False
    if ecn == INET_ECN_CE:
        return True
    # the TOS byte is the low half of the first 16-bit word: add the change to the
    # one's-complement checksum (RFC 1624 eqn. 3), as IP_ECN_set_ce does
    old_word = _U16.unpack_from(buf, off)[0]
    new_word = old_word | INET_ECN_CE
    buf[off + 1] = tos | INET_ECN_CE
    check = _U16.unpack_from(buf, off + 10)[0]
    total = (~check & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    _U16.pack_into(buf, off + 10, ~total & 0xFFFF)
    return True
