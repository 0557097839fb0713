"""Software segmentation of TCP super-segments (GSO) over IPv4 and IPv6, for devices without
TSO (TSO6).

Mirrors Linux's ``inet_gso_segment`` (``net/ipv4/af_inet.c``), ``ipv6_gso_segment``
(``net/ipv6/ip6_offload.c``: an IPv6 header without extension headers; each segment gets its
payload length, IPv6 having no ID and no header checksum) and ``tcp_gso_segment`` /
``tcp4_gso_segment`` / ``tcp6_gso_segment``: the headers are copied in front of every
``gso_size`` bytes of payload; each segment gets its IP total length, an IP ID one higher than
the previous one (unless SKB_GSO_TCP_FIXEDID), a fresh header checksum, a sequence number
advanced by its offset, FIN and PSH only on the last segment and CWR only on the first.

Contract: ``inet_gso_segment(skb, features) -> list[SkBuff]`` is the ETH_P_IP
``PacketOffload`` ``Net`` registers (and the ETH_P_IPV6 one IPv6 registers);
``dev_queue_xmit`` calls it with ``data`` at the MAC header and the network header marked,
and frees the original.  When the original was
CHECKSUM_PARTIAL each segment stays partial (pseudo-header sum for its own length seeded in the
check field, ``csum_start`` at its TCP header), so the core or the device finishes it;
otherwise every segment's checksum is computed here.  Anything but TCP yields no
segments (logged), as Linux returns -EPROTONOSUPPORT.

Page fragments: for a device with NETIF_F_SG and a CHECKSUM_PARTIAL skb (TCP's, under SG),
each segment is its headers plus whatever payload lay in the original's head, then fragments
that share the original's pages (a page reference each), as Linux's ``skb_segment`` builds
them: the payload is not copied.  Otherwise (no SG, a checksum to compute here, or a
``frag_list`` or receive buffers from GRO) the skb is made linear first and every segment
is linear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core import alloc_skb
from stack.core.features import NETIF_F_SG
from stack.core.page import get_page
from stack.core.skbfrag import skb_linearize
from stack.core.skbfree import SkbFrag
from stack.core.skbuff import CHECKSUM_NONE, CHECKSUM_PARTIAL, SKB_GSO_TCP_FIXEDID
from stack.wire.checksum import internet_checksum, l4_checksum, pseudo_header_sum
from stack.wire.ipv4 import IPPROTO_TCP
from stack.wire.layout import U16, U32
from stack.wire.tcp import CWR, FIN, PSH

if TYPE_CHECKING:
    from stack.core import SkBuff

TCP_CHECK_OFFSET = 16


def inet_gso_segment(skb: SkBuff, features: int) -> list[SkBuff]:
    """Split a TCP/IPv4 GSO skb into MSS-sized frames (see the module docstring)."""
    kernel = skb.kernel
    keep_pages = bool(skb.data_len and features & NETIF_F_SG
                      and skb.ip_summed == CHECKSUM_PARTIAL and not skb.has_frag_list()
                      and not skb.shinfo.host_frags)
    if skb.data_len and not keep_pages:
        skb_linearize(skb)
    head = skb.head
    start = skb.data
    nh = skb.network_header if skb.network_header >= start else start
    v6 = nh + 40 <= skb.tail and head[nh] >> 4 == 6
    if not v6 and (nh + 20 > skb.tail or head[nh] >> 4 != 4):
        kernel.log("err", "inet_gso_segment: no IPv4 or IPv6 header")
        return []
    ihl = 40 if v6 else (head[nh] & 0x0F) << 2
    th = nh + ihl
    proto = head[nh + 6] if v6 else head[nh + 9]
    if proto != IPPROTO_TCP or th + 20 > skb.tail:
        kernel.log("err", f"inet_gso_segment: protocol {proto} is not TCP")
        return []
    doff = (head[th + 12] >> 4) << 2
    payload = th + doff
    mss = skb.gso_size
    if doff < 20 or payload > skb.tail or mss <= 0:
        kernel.log("err", "inet_gso_segment: bad TCP header or gso_size")
        return []
    in_head = skb.tail - payload  # payload bytes in the head; the rest is in the fragments
    total_payload = in_head + skb.data_len
    frags = skb.shinfo.frags
    fi = 0  # the fragment where the next segment's fragment payload starts, and its offset
    fpos = 0
    hlen = payload - start
    hdr = bytes(head[start:payload])
    saddr = bytes(head[nh + 8 : nh + 24] if v6 else head[nh + 12 : nh + 16])
    daddr = bytes(head[nh + 24 : nh + 40] if v6 else head[nh + 16 : nh + 20])
    seq0 = U32.unpack_from(head, th + 4)[0]
    flags0 = head[th + 13]
    id0 = U16.unpack_from(head, nh + 4)[0]
    fixedid = skb.gso_type & SKB_GSO_TCP_FIXEDID
    partial = skb.ip_summed == CHECKSUM_PARTIAL
    headroom = start
    nh_off = nh - start
    th_off = th - start
    segs: list[SkBuff] = []
    off = 0
    i = 0
    while off < total_payload or (i == 0 and total_payload == 0):
        n = min(mss, total_payload - off)
        lin = min(n, in_head - off) if off < in_head else 0
        seg = alloc_skb(kernel, headroom + hlen + lin)
        seg.reserve(headroom)
        base = seg.put(hlen + lin)
        sh = seg.head
        sh[base : base + hlen] = hdr
        sh[base + hlen : base + hlen + lin] = head[payload + off : payload + off + lin]
        want = n - lin
        if want:  # the rest shares the original's pages
            sfrags = seg.shinfo.frags
            while want:
                frag = frags[fi]
                take = min(frag.size - fpos, want)
                get_page(frag.page)
                sfrags.append(SkbFrag(frag.page, frag.page_offset + fpos, take))
                want -= take
                fpos += take
                if fpos == frag.size:
                    fi += 1
                    fpos = 0
            seg.data_len = n - lin
            seg.truesize += n - lin
        snh = base + nh_off
        sth = base + th_off
        if v6:  # ipv6_gso_segment: the payload length; no ID, no header checksum
            U16.pack_into(sh, snh + 4, doff + n)
        else:
            U16.pack_into(sh, snh + 2, ihl + doff + n)
            if not fixedid:
                U16.pack_into(sh, snh + 4, (id0 + i) & 0xFFFF)
            U16.pack_into(sh, snh + 10, 0)
            U16.pack_into(sh, snh + 10, internet_checksum(memoryview(sh)[snh : snh + ihl]))
        U32.pack_into(sh, sth + 4, (seq0 + off) & 0xFFFFFFFF)
        flags = flags0
        if off + n < total_payload:
            flags &= ~(FIN | PSH)
        if i:
            flags &= ~CWR
        sh[sth + 13] = flags
        tcp_len = doff + n
        if partial:
            U16.pack_into(sh, sth + TCP_CHECK_OFFSET,
                          pseudo_header_sum(saddr, daddr, IPPROTO_TCP, tcp_len))
            seg.ip_summed = CHECKSUM_PARTIAL
            seg.csum_start = sth
            seg.csum_offset = TCP_CHECK_OFFSET
        else:
            U16.pack_into(sh, sth + TCP_CHECK_OFFSET, 0)
            U16.pack_into(sh, sth + TCP_CHECK_OFFSET, l4_checksum(
                saddr, daddr, IPPROTO_TCP, memoryview(sh)[sth : sth + tcp_len]))
            seg.ip_summed = CHECKSUM_NONE
        seg.dev = skb.dev
        seg.protocol = skb.protocol
        seg.priority = skb.priority
        seg.mark = skb.mark
        seg.queue_mapping = skb.queue_mapping
        seg.tstamp = skb.tstamp
        seg.mac_header = base
        seg.network_header = snh
        seg.transport_header = sth
        segs.append(seg)
        off += n
        i += 1
        if total_payload == 0:
            break
    return segs
