"""skb page fragments: the frag API, page references, skb_split, linearize, pull, trim, copy.

stack/core/skbuff.py and stack/core/page.py (Linux's skb_fill_page_desc, skb_add_rx_frag,
skb_split, __skb_linearize, __pskb_pull_tail, pskb_trim, skb_copy_bits), on a bare kernel
(private pages) and on a kernel with guest RAM (pages at guest addresses).
"""

from __future__ import annotations

import pytest

from device.memory import GuestMemory
from fastpath import csum_fold, csum_partial
from stack.core import (
    CHECKSUM_PARTIAL,
    MAX_SKB_FRAGS,
    PAGE_SIZE,
    Kernel,
    PageFrag,
    SkbPanic,
    alloc_page,
    alloc_pages,
    alloc_skb,
    consume_skb,
    get_page,
    kfree_skb,
    put_page,
    skb_add_rx_frag,
    skb_checksum_help,
    skb_copy_bits,
    skb_fill_page_desc,
    skb_frag_address,
    skb_linearize,
    skb_split,
)
from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD


def frag_skb(kernel: Kernel, head: bytes, pieces: list[bytes], headroom: int = 64):
    """An skb with ``head`` linear and one page fragment per piece (at offset 100)."""
    skb = alloc_skb(kernel, headroom + len(head) + 32)
    skb.reserve(headroom)
    skb.put_data(head)
    pages = []
    for i, piece in enumerate(pieces):
        page = alloc_pages(kernel, 3 if len(piece) > PAGE_SIZE - 100 else 0)
        page.buf[100 : 100 + len(piece)] = piece
        skb_add_rx_frag(skb, i, page, 100, len(piece), page.size)
        pages.append(page)
    return skb, pages


def payload(n: int, seed: int = 0) -> bytes:
    return bytes((seed + i * 7) & 0xFF for i in range(n))


@pytest.fixture
def guest_kernel(kernel: Kernel):
    mem = GuestMemory(4 << 20)
    kernel.mem = mem
    yield kernel
    assert kernel.pages_live == 0, "a test leaked pages"
    assert mem.live_allocations == 0
    mem.close()


def test_len_counts_head_and_fragments(kernel: Kernel) -> None:
    head, a, b = payload(54), payload(1000, 1), payload(3000, 2)
    skb, pages = frag_skb(kernel, head, [a, b])
    assert (skb.len, len(skb), skb.headlen(), skb.data_len) == (4054, 4054, 54, 4000)
    assert len(skb.shinfo.frags) == 2 and skb.is_nonlinear()
    assert skb.tobytes() == head + a + b
    assert bytes(skb_frag_address(skb.shinfo.frags[1])) == b
    assert skb_copy_bits(skb, 50, 1010) == (head + a + b)[50:1060]
    with pytest.raises(SkbPanic):
        skb_copy_bits(skb, 4000, 55)
    consume_skb(skb)
    assert kernel.pages_live == 0 and all(p.refcount == 0 for p in pages)


def test_pages_come_from_guest_memory_when_the_kernel_has_some(guest_kernel: Kernel) -> None:
    mem = guest_kernel.mem
    page = alloc_page(guest_kernel)
    assert page.addr % PAGE_SIZE == 0 and mem.in_ram(page.addr, PAGE_SIZE)
    page.buf[0:4] = b"abcd"
    assert mem.read(page.addr, 4) == b"abcd"  # the bytes are where a device would read them
    big = alloc_pages(guest_kernel, 3)
    assert big.size == 32768 and mem.allocation_size(big.addr) == 32768
    put_page(page)
    put_page(big)
    assert guest_kernel.pages_live == 0 and mem.live_allocations == 0


def test_clones_share_fragments_and_the_last_reference_puts_the_pages(kernel: Kernel) -> None:
    skb, pages = frag_skb(kernel, payload(40), [payload(500)])
    clone = skb.clone()
    assert clone.len == skb.len and clone.shinfo is skb.shinfo
    consume_skb(skb)
    assert pages[0].refcount == 1 and kernel.pages_live == 1
    kfree_skb(clone)
    assert pages[0].refcount == 0 and kernel.pages_live == 0


def test_fill_page_desc_checks_index_bounds_and_max_frags(kernel: Kernel) -> None:
    skb = alloc_skb(kernel, 64)
    page = alloc_page(kernel)
    with pytest.raises(SkbPanic):
        skb_fill_page_desc(skb, 1, page, 0, 10)  # not the next index
    with pytest.raises(SkbPanic):
        skb_fill_page_desc(skb, 0, page, 4000, 200)  # past the page
    for i in range(MAX_SKB_FRAGS):
        if i:
            get_page(page)
        skb_add_rx_frag(skb, i, page, i * 10, 10, 0)
    get_page(page)
    with pytest.raises(SkbPanic):
        skb_fill_page_desc(skb, MAX_SKB_FRAGS, page, 0, 10)
    put_page(page)
    assert skb.data_len == 10 * MAX_SKB_FRAGS
    consume_skb(skb)
    assert kernel.pages_live == 0


def test_linearize_pulls_every_fragment_into_the_head(kernel: Kernel) -> None:
    head, a, b = payload(66), payload(5000, 3), payload(20, 4)
    skb, pages = frag_skb(kernel, head, [a, b])
    skb.mac_header = skb.data
    skb_linearize(skb)
    assert skb.data_len == 0 and skb.shinfo.frags == [] and skb.headlen() == len(head + a + b)
    assert bytes(skb.view()) == head + a + b and skb.mac_header == skb.data
    assert kernel.pages_live == 0
    consume_skb(skb)


def test_linearize_of_a_clone_leaves_the_other_skb_its_fragments(kernel: Kernel) -> None:
    skb, pages = frag_skb(kernel, payload(30), [payload(300, 5)])
    clone = skb.clone()
    skb_linearize(clone)
    assert clone.data_len == 0 and clone.tobytes() == skb.tobytes()
    assert skb.data_len == 300 and len(skb.shinfo.frags) == 1 and pages[0].refcount == 1
    consume_skb(clone)
    consume_skb(skb)
    assert kernel.pages_live == 0


def test_may_pull_and_pull_reach_into_the_fragments(kernel: Kernel) -> None:
    head, a = payload(14), payload(200, 6)
    skb, _ = frag_skb(kernel, head, [a])
    assert skb.may_pull(14) and skb.data_len == 200  # linear already: nothing moves
    assert skb.may_pull(54) and skb.headlen() == 54 and skb.data_len == 160
    assert bytes(skb.view()) == (head + a)[:54]
    assert not skb.may_pull(215)
    assert skb.pull(100) is not None and skb.tobytes() == (head + a)[100:]
    assert skb.pull(200) is None
    consume_skb(skb)
    assert kernel.pages_live == 0


def test_trim_cuts_fragments_and_puts_the_dropped_pages(kernel: Kernel) -> None:
    head, a, b = payload(20), payload(100, 7), payload(100, 8)
    skb, pages = frag_skb(kernel, head, [a, b])
    skb.trim(170)
    assert skb.len == 170 and len(skb.shinfo.frags) == 2 and pages[1].refcount == 1
    skb.trim(120)
    assert skb.len == 120 and len(skb.shinfo.frags) == 1 and pages[1].refcount == 0
    assert skb.tobytes() == (head + a)[:120]
    skb.trim(10)
    assert skb.len == 10 and skb.data_len == 0 and pages[0].refcount == 0
    consume_skb(skb)


def test_copy_is_linear(kernel: Kernel) -> None:
    skb, _ = frag_skb(kernel, payload(40), [payload(700, 9)])
    n = skb.copy()
    assert n.data_len == 0 and n.tobytes() == skb.tobytes() and n.headroom() == skb.headroom()
    consume_skb(n)
    consume_skb(skb)
    assert kernel.pages_live == 0


def test_split_inside_the_head_moves_every_fragment(kernel: Kernel) -> None:
    head, a = payload(100), payload(1000, 10)
    skb, pages = frag_skb(kernel, head, [a])
    skb1 = alloc_skb(kernel, 200)
    skb_split(skb, skb1, 60)
    assert skb.tobytes() == head[:60] and skb.data_len == 0 and skb.shinfo.frags == []
    assert skb1.tobytes() == head[60:] + a and skb1.data_len == 1000
    assert pages[0].refcount == 1  # moved, not copied or referenced twice
    consume_skb(skb)
    consume_skb(skb1)
    assert kernel.pages_live == 0


def test_split_in_the_fragments_shares_the_straddling_page(kernel: Kernel) -> None:
    head, a, b, c = payload(54), payload(1000, 11), payload(1000, 12), payload(500, 13)
    skb, pages = frag_skb(kernel, head, [a, b, c])
    whole = skb.tobytes()
    truesize = skb.truesize + 0
    skb1 = alloc_skb(kernel, 0)
    skb_split(skb, skb1, 54 + 1000 + 300)  # inside b
    assert skb.tobytes() == whole[:1354] and skb1.tobytes() == whole[1354:]
    assert [f.size for f in skb.shinfo.frags] == [1000, 300]
    assert [f.size for f in skb1.shinfo.frags] == [700, 500]
    assert skb1.headlen() == 0 and pages[1].refcount == 2 and pages[0].refcount == 1
    assert skb.truesize == truesize - 1200 and skb1.truesize == SKB_TRUESIZE_OVERHEAD + 1200
    consume_skb(skb)
    assert pages[1].refcount == 1 and kernel.pages_live == 2
    consume_skb(skb1)
    assert kernel.pages_live == 0


def test_split_refuses_a_clone(kernel: Kernel) -> None:
    skb, _ = frag_skb(kernel, payload(20), [payload(100)])
    clone = skb.clone()
    with pytest.raises(SkbPanic):
        skb_split(skb, alloc_skb(kernel, 0), 50)
    consume_skb(clone)
    consume_skb(skb)
    assert kernel.skb_live == 1  # the empty skb1 of the refused split
    kernel.skb_live = 0


def test_checksum_help_covers_the_fragments(kernel: Kernel) -> None:
    head, a = payload(40), payload(333, 14)
    skb, _ = frag_skb(kernel, head, [a])
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.csum_start = skb.data + 20
    skb.csum_offset = 16
    whole = bytearray(head + a)
    whole[36:38] = b"\0\0"
    skb.head[skb.data + 36 : skb.data + 38] = b"\0\0"
    skb_checksum_help(skb)
    want = csum_fold(csum_partial(bytes(whole[20:]))) or 0xFFFF
    assert skb.data_len == 0 and skb.head[skb.data + 36] << 8 | skb.head[skb.data + 37] == want
    consume_skb(skb)


def test_page_frag_refill_keeps_the_page_until_it_is_full(guest_kernel: Kernel) -> None:
    pf = PageFrag()
    assert pf.refill(guest_kernel, 1000)
    page = pf.page
    assert page is not None and page.size == 32768
    get_page(page)  # an skb fragment took a reference
    pf.offset = 32000
    assert pf.refill(guest_kernel, 500) and pf.page is page  # still fits
    assert pf.refill(guest_kernel, 1000) and pf.page is not page  # a fresh page
    assert page.refcount == 1
    put_page(page)
    pf.release()
