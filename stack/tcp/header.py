"""The TCP header of a segment a socket sends: its options and how it is written.

Mirrors the header half of Linux's ``net/ipv4/tcp_output.c``: ``tcp_syn_options``,
``tcp_established_options``, ``tcp_options_write`` and the header write of
``__tcp_transmit_skb`` (checksum left to the device with the pseudo-header sum seeded, or
computed here).  ``output.py`` decides what to send and calls these.

Contract: :func:`write_header` pushes the header a :class:`TcpRepr` describes in front of the
skb's payload; :func:`write_established` is the common case written without a ``TcpRepr``: an
established segment with no SACK blocks to report, from a socket whose device offloads the
checksum.  Its header (timestamp option included when negotiated) is one precompiled
``struct`` pack with the TSval of ``now``; the bytes are those ``TcpRepr.emit`` writes (a test
compares them).  Both leave ``skb.transport_header`` at the header.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from stack.core.features import NETIF_F_CSUM_MASK
from stack.core.skbuff import CHECKSUM_PARTIAL
from stack.tcp.const import NS_PER_MS
from stack.tcp.seq import SEQ_MASK
from stack.wire.checksum import pseudo_header_sum
from stack.wire.ipv4 import IPPROTO_TCP

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff
    from stack.tcp.sock import TcpSock
    from stack.wire.tcp import TcpRepr

CSUM_OFFSET = 16  # offsetof(struct tcphdr, check)
# An established segment's header, alone and with NOP NOP TS (tcp_options_write's layout).
_HDR_PLAIN = struct.Struct("!HHIIBBHHH")
_HDR_TS = struct.Struct("!HHIIBBHHHBBBBII")
_PLAIN_HLEN = _HDR_PLAIN.size  # 20
_TS_HLEN = _HDR_TS.size  # 32
_DOFF_PLAIN = (_PLAIN_HLEN >> 2) << 4
_DOFF_TS = (_TS_HLEN >> 2) << 4
_NOP, _TSOPT, _TSOLEN = 1, 8, 10  # TCPOPT_NOP, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP


def syn_options(sk: TcpSock, th: TcpRepr) -> None:
    """Options of our SYN (``tcp_syn_options``): MSS, timestamps, wscale, SACK-permitted, and
    the Fast Open cookie (or cookie request) while a Fast Open is in progress."""
    sysctl = sk.net.sysctl
    th.mss = sk.advmss
    if sysctl.tcp_timestamps:
        th.timestamp = (sk.ts_now(), sk.ts_recent)
    if sysctl.tcp_window_scaling:
        th.wscale = sk.rcv_wscale
    th.sack_permitted = bool(sysctl.tcp_sack)
    fo = sk.fastopen
    if fo.req is not None and fo.req.cookie is not None:  # a Fast Open cookie or request
        th.fastopen = fo.req.cookie
        fo.syn_fastopen = True


def established_options(sk: TcpSock, th: TcpRepr) -> None:
    """Timestamps and SACK blocks, D-SACK first (``tcp_established_options``)."""
    if sk.tstamp_ok:
        th.timestamp = (sk.ts_now(), sk.ts_recent)
    if sk.sack_ok and (sk.num_sacks or sk.dsack is not None):
        room = 3 if sk.tstamp_ok else 4
        blocks = []
        if sk.dsack is not None:
            s, e = sk.dsack
            blocks.append((s & SEQ_MASK, e & SEQ_MASK))
            sk.dsack = None
        for s, e in sk.selective_acks[:room - len(blocks)]:
            blocks.append((s & SEQ_MASK, e & SEQ_MASK))
        th.sack_blocks = tuple(blocks)


def write_header(sk: TcpSock, skb: SkBuff, th: TcpRepr) -> None:
    """Emit ``th`` in front of ``skb``'s payload; checksum it, or seed it for the device."""
    saddr, daddr = sk.laddr, sk.raddr
    hl = th.buffer_len()
    th.payload_len = skb.tail - skb.data + skb.data_len
    off = skb.push(hl)
    if sk.features & NETIF_F_CSUM_MASK:
        th.emit(skb.head, off)
        length = skb.tail - off + skb.data_len
        csum = pseudo_header_sum(saddr, daddr, IPPROTO_TCP, length)
        skb.head[off + CSUM_OFFSET] = csum >> 8
        skb.head[off + CSUM_OFFSET + 1] = csum & 0xFF
        skb.partial_csum_set(0, CSUM_OFFSET)
    else:
        th.emit(skb.head, off, saddr, daddr)
    skb.transport_header = off


def write_established(sk: TcpSock, skb: SkBuff, seq: int, flags: int, window: int,
                      now: int) -> None:
    """The common header in one pack, checksum seeded (see the module docstring)."""
    head = skb.head
    if sk.tstamp_ok:
        off = skb.push(_TS_HLEN)
        _HDR_TS.pack_into(head, off, sk.lport, sk.rport, seq & SEQ_MASK, sk.rcv_nxt & SEQ_MASK,
                          _DOFF_TS, flags, window, pseudo_sum(sk, skb.tail - off + skb.data_len), 0,
                          _NOP, _NOP, _TSOPT, _TSOLEN, (now // NS_PER_MS + sk.ts_off) & SEQ_MASK,
                          sk.ts_recent)
    else:
        off = skb.push(_PLAIN_HLEN)
        _HDR_PLAIN.pack_into(head, off, sk.lport, sk.rport, seq & SEQ_MASK,
                             sk.rcv_nxt & SEQ_MASK, _DOFF_PLAIN, flags, window,
                             pseudo_sum(sk, skb.tail - off + skb.data_len), 0)
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.transport_header = off
    skb.csum_offset = CSUM_OFFSET


def pseudo_sum(sk: TcpSock, length: int) -> int:
    """``pseudo_header_sum(laddr, raddr, TCP, length)``, the addresses' part kept per socket."""
    cached = sk.pseudo_base
    if cached is None or cached[0] is not sk.laddr or cached[1] is not sk.raddr:
        base = pseudo_header_sum(sk.laddr, sk.raddr, IPPROTO_TCP, 0)
        cached = sk.pseudo_base = (sk.laddr, sk.raddr, base)
    total = cached[2] + length
    total = (total & 0xFFFF) + (total >> 16)
    return (total & 0xFFFF) + (total >> 16)
