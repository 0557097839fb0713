"""Page fragments of an skb: filling them, reading across them, splitting and linearizing.

Mirrors the fragment half of Linux's ``net/core/skbuff.c`` (``skb_fill_page_desc``,
``skb_add_rx_frag``, ``skb_copy_bits``, ``skb_split``, ``__pskb_trim_head`` from
``tcp_output.c``, ``__skb_linearize``) and ``skb_needs_linearize`` (``net/core/dev.c``).  The
skb itself, its ``shinfo.frags`` / ``frag_list`` and the methods that keep them consistent
(``pull_tail``, ``trim``, the copies) are in ``stack/core/skbuff.py``; see its docstring for
the layout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stack.core.features import NETIF_F_FRAGLIST, NETIF_F_SG
from stack.core.page import Page, get_page, put_page
from stack.core.skbfree import MAX_SKB_FRAGS, SkbFrag, SkbPanic

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff


def skb_fill_page_desc(skb: SkBuff, i: int, page: Page, off: int, size: int) -> None:
    """Set fragment ``i`` (the next one) to ``size`` bytes of ``page`` at ``off``.

    The fragment takes over the caller's reference to ``page``.  Like Linux's, it does not
    touch ``len``/``data_len``/``truesize``: :func:`skb_add_rx_frag` does both.
    """
    frags = skb.shinfo.frags
    if i != len(frags) or i >= MAX_SKB_FRAGS:
        raise SkbPanic(f"skb_fill_page_desc: fragment {i} of {len(frags)} "
                       f"(MAX_SKB_FRAGS {MAX_SKB_FRAGS})")
    if off < 0 or size <= 0 or off + size > page.size:
        raise SkbPanic(f"skb_fill_page_desc: {size} bytes at {off} outside a "
                       f"{page.size}-byte page")
    frags.append(SkbFrag(page, off, size))


def skb_add_rx_frag(skb: SkBuff, i: int, page: Page, off: int, size: int,
                    truesize: int) -> None:
    """Append a fragment and account for it in ``len``, ``data_len`` and ``truesize``."""
    skb_fill_page_desc(skb, i, page, off, size)
    skb.data_len += size
    skb.truesize += truesize


def skb_frag_address(frag: SkbFrag) -> memoryview:
    """skb_frag_address: the fragment's bytes, writable."""
    off = frag.page_offset
    return frag.page.buf[off : off + frag.size]


def skb_frag_dma_map(pdev: Any, frag: SkbFrag, offset: int, size: int, direction: int) -> int:
    """skb_frag_dma_map: map ``size`` bytes of ``frag`` from ``offset`` for the device.

    ``pdev`` is the driver's PCI function (``device.spec.bus.PciDevice``); the page must be in
    guest memory (``page.addr``), as every page of a kernel with RAM is.
    """
    page = frag.page
    if not page.addr:
        raise SkbPanic(f"skb_frag_dma_map: {page!r} is not in guest memory")
    return int(pdev.dma_map_page(page.addr, frag.page_offset + offset, size, direction))


def skb_linearize(skb: SkBuff) -> int:
    """__skb_linearize: pull every fragment's bytes into the head; 0 (Linux: -ENOMEM on
    failure, which a Python bytearray does not have)."""
    if skb.data_len:
        skb.pull_tail(skb.data_len)
    return 0


__skb_linearize = skb_linearize


def skb_copy_bits(skb: SkBuff, offset: int, length: int) -> bytes:
    """skb_copy_bits: ``length`` bytes from ``offset`` (relative to ``data``), across the
    head and the fragments.  Raises :class:`SkbPanic` beyond the end (Linux: -EFAULT)."""
    if offset < 0 or length < 0 or offset + length > skb.len:
        raise SkbPanic(f"skb_copy_bits: {length} bytes at {offset} of a {skb.len}-byte skb")
    headlen = skb.tail - skb.data
    out = bytearray()
    if offset < headlen:
        n = min(length, headlen - offset)
        out += skb.head[skb.data + offset : skb.data + offset + n]
        offset += n
        length -= n
    pos = headlen
    for frag in skb.shinfo.frags:
        if not length:
            break
        end = pos + frag.size
        if offset < end:
            start = frag.page_offset + offset - pos
            n = min(length, end - offset)
            out += frag.page.buf[start : start + n]
            offset += n
            length -= n
        pos = end
    for lst in skb.shinfo.frag_list or ():
        if not length:
            break
        end = pos + lst.len
        if offset < end:
            n = min(length, end - offset)
            out += skb_copy_bits(lst, offset - pos, n)
            offset += n
            length -= n
        pos = end
    return bytes(out)


def skb_needs_linearize(skb: SkBuff, features: int) -> bool:
    """skb_needs_linearize: page fragments for a device without NETIF_F_SG, or chained skbs
    for one without NETIF_F_FRAGLIST; also fragments no device can DMA (``host_frags``)."""
    shinfo = skb.shinfo
    return bool(skb.data_len) and (
        shinfo.host_frags
        or (shinfo.frag_list is not None and not features & NETIF_F_FRAGLIST)
        or (bool(shinfo.frags) and not features & NETIF_F_SG))


def skb_split(skb: SkBuff, skb1: SkBuff, length: int) -> None:
    """skb_split: move everything after the first ``length`` bytes of ``skb`` to ``skb1``.

    ``skb1`` is empty, with room for what follows the head when ``length`` falls inside it.
    Fragments move without copying; one that straddles ``length`` is shared by both skbs
    (each holds a page reference, as Linux's ``skb_frag_ref``).  TCP's ``tcp_fragment``
    and ``tso_fragment`` split queued skbs this way.  ``truesize`` moves with the bytes.
    """
    headlen = skb.tail - skb.data
    frags = skb.shinfo.frags
    if skb.shinfo.frag_list is not None:
        raise SkbPanic("skb_split: an skb with a frag_list (TCP's transmit queue has none)")
    if frags and skb.shinfo.dataref > 1:
        raise SkbPanic("skb_split: the fragments are shared with a clone (skb_unclone first)")
    if length < 0 or length > skb.len:
        raise SkbPanic(f"skb_split: at {length} of a {skb.len}-byte skb")
    moved = skb.len - length
    if length < headlen:
        # skb_split_inside_header: copy the head's tail, hand over every fragment
        skb1.put_data(memoryview(skb.head)[skb.data + length : skb.tail])
        skb1.shinfo.frags.extend(frags)
        frags.clear()
        skb1.data_len = skb.data_len
        skb.data_len = 0
        skb.tail = skb.data + length
    else:
        # skb_split_no_header: the fragment list is cut at ``length``
        pos = headlen
        keep: list[SkbFrag] = []
        give = skb1.shinfo.frags
        for frag in frags:
            end = pos + frag.size
            if end <= length:
                keep.append(frag)
            elif pos >= length:
                give.append(frag)
            else:  # straddles: both halves reference the page
                get_page(frag.page)
                cut = length - pos
                give.append(SkbFrag(frag.page, frag.page_offset + cut, frag.size - cut))
                frag.size = cut
                keep.append(frag)
            pos = end
        skb.shinfo.frags = keep
        skb1.data_len = skb.data_len - (length - headlen)
        skb.data_len = length - headlen
    skb.truesize -= moved
    skb1.truesize += moved


def pskb_trim_head(skb: SkBuff, length: int) -> None:
    """__pskb_trim_head (tcp_output.c): drop the first ``length`` bytes, the head's first and
    then whole or partial fragments, without pulling fragment bytes into the head.

    The caller has uncloned the skb when its fragments are shared (``skb_unclone``).
    """
    headlen = skb.tail - skb.data
    eat = min(length, headlen)
    skb.data += eat
    eat = length - eat
    if not eat:
        return
    frags = skb.shinfo.frags
    if skb.shinfo.dataref > 1:
        raise SkbPanic("pskb_trim_head: the fragments are shared with a clone")
    if skb.shinfo.frag_list is not None:
        raise SkbPanic("pskb_trim_head: an skb with a frag_list (TCP's transmit queue has none)")
    keep = 0
    for i, frag in enumerate(frags):
        if eat >= frag.size:
            eat -= frag.size
            put_page(frag.page)
            skb.data_len -= frag.size
            continue
        frag.page_offset += eat
        frag.size -= eat
        skb.data_len -= eat
        keep = i
        break
    else:
        keep = len(frags)
    del frags[:keep]
