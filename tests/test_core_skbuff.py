"""skb geometry, clone/copy semantics, freeing and the leak counter, and SkBuffHead queues."""

from __future__ import annotations

import struct

import pytest

from fastpath import internet_checksum
from stack.core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    NET_IP_ALIGN,
    NET_SKB_PAD,
    SkbPanic,
    SkBuffHead,
    alloc_etherdev,
    alloc_skb,
    consume_skb,
    dev_kfree_skb_any,
    dev_kfree_skb_irq,
    kfree_skb,
    netdev_alloc_skb,
    netdev_alloc_skb_ip_align,
    skb_checksum_help,
    skb_get,
    skb_header_release,
    skb_share_check,
    skb_unshare,
)


def test_pointer_arithmetic(kernel):
    skb = alloc_skb(kernel, 128)
    assert (skb.data, skb.tail, skb.end, skb.len) == (0, 0, 128, 0)
    skb.reserve(32)
    assert skb.headroom() == 32 and skb.tailroom() == 96 and len(skb) == 0
    off = skb.put(10)
    assert off == 32 and skb.len == 10 and skb.tail == 42
    skb.head[off : off + 10] = b"0123456789"
    hdr = skb.push(4)
    assert hdr == 28 and skb.data == 28 and skb.len == 14 and skb.headroom() == 28
    struct.pack_into("!I", skb.head, hdr, 0xDEADBEEF)
    assert skb.tobytes() == b"\xde\xad\xbe\xef0123456789"
    assert bytes(skb) == skb.tobytes() and bytes(skb.view()) == skb.tobytes()
    assert skb.pull(4) == 32 and skb.tobytes() == b"0123456789"
    assert skb.pull(11) is None and skb.len == 10  # too short: unchanged
    assert skb.may_pull(10) and not skb.may_pull(11)
    skb.trim(3)
    assert skb.tobytes() == b"012" and skb.tailroom() == 128 - 35
    skb.trim(50)  # longer: nothing happens
    assert skb.len == 3
    skb.put_data(b"abc")
    skb.put_zero(2)
    assert skb.tobytes() == b"012abc\0\0"
    kfree_skb(skb)


def test_view_is_zero_copy_and_writable(kernel):
    skb = alloc_skb(kernel, 16)
    skb.put_data(b"hello")
    skb.view()[0:1] = b"J"
    assert skb.tobytes() == b"Jello"
    consume_skb(skb)


def test_over_and_under_runs_panic(kernel):
    skb = alloc_skb(kernel, 16)
    skb.reserve(4)
    with pytest.raises(SkbPanic, match="skb_over_panic"):
        skb.put(13)
    with pytest.raises(SkbPanic, match="skb_under_panic"):
        skb.push(5)
    with pytest.raises(SkbPanic):
        skb.reserve(13)
    assert (skb.data, skb.tail) == (4, 4)
    consume_skb(skb)


def test_header_marks(kernel):
    skb = alloc_skb(kernel, 64)
    skb.reserve(2)
    skb.put(40)
    assert not skb.mac_header_was_set() and not skb.transport_header_was_set()
    skb.reset_mac_header()
    skb.set_network_header(14)
    skb.set_transport_header(34)
    assert (skb.mac_header, skb.network_header, skb.transport_header) == (2, 16, 36)
    assert skb.network_offset() == 14 and skb.transport_offset() == 34 and skb.mac_len() == 14
    skb.pull(14)
    skb.reset_network_header()
    assert skb.network_offset() == 0
    consume_skb(skb)


def test_a_released_header_lets_the_clone_edit_its_headers_without_a_copy(kernel):
    """TCP's queued skb gives up its headroom (skb_header_release): a driver's cow_head on
    the transmitted clone copies nothing, unless a third reference (a tap) shares the bytes."""
    orig = alloc_skb(kernel, 128)
    orig.reserve(64)
    orig.put_data(b"segment data")
    skb_header_release(orig)
    clone = orig.clone()
    clone.push(20)
    assert clone.cloned() and not clone.header_cloned()
    assert clone.cow_head(0) == 0 and clone.head is orig.head  # no copy
    clone.view()[0:20] = bytes(range(20))  # headers below the original's data
    assert orig.tobytes() == b"segment data"
    tap = clone.clone()
    assert clone.header_cloned()  # the tap may read the headers: now cow_head copies
    clone.cow_head(0)
    assert clone.head is not orig.head and not clone.header_cloned()
    for skb in (tap, clone):
        consume_skb(skb)
    assert orig.shinfo.dataref == 1 and orig.shinfo.nohdr == 1
    consume_skb(orig)
    assert orig.shinfo.dataref == 0 and orig.shinfo.nohdr == 0 and kernel.skb_live == 0


def test_netdev_alloc_skb_headroom(kernel):
    dev = alloc_etherdev(kernel)
    skb = netdev_alloc_skb(dev, 1518)
    assert skb.headroom() == NET_SKB_PAD and skb.tailroom() == 1518 and skb.dev is dev
    aligned = netdev_alloc_skb_ip_align(dev, 1518)
    assert aligned.headroom() == NET_SKB_PAD + NET_IP_ALIGN and aligned.tailroom() == 1518
    dev_kfree_skb_any(skb)
    dev_kfree_skb_any(aligned)


def test_clone_shares_bytes_copy_does_not(kernel):
    skb = alloc_skb(kernel, 64)
    skb.reserve(16)
    skb.put_data(b"payload")
    skb.protocol = 0x0800
    skb.cb["seq"] = 7
    skb.sk = object()
    clone = skb.clone()
    assert clone.head is skb.head and skb.cloned() and clone.cloned()
    assert (clone.data, clone.tail, clone.protocol, clone.cb) == (16, 23, 0x0800, {"seq": 7})
    assert clone.sk is None and clone.destructor is None  # as Linux's __skb_clone
    clone.cb["seq"] = 8  # each skb has its own control block
    assert skb.cb["seq"] == 7
    clone.view()[0:1] = b"P"  # shared bytes: the original sees it
    assert skb.tobytes() == b"Payload"
    clone.pull(3)  # pointers are not shared
    assert skb.len == 7 and clone.len == 4
    copy = skb.copy()
    assert copy.head is not skb.head and not copy.cloned() and copy.headroom() == 16
    copy.view()[0:1] = b"X"
    assert skb.tobytes() == b"Payload" and copy.tobytes() == b"Xayload"
    assert kernel.skb_live == 3
    consume_skb(clone)
    assert not skb.cloned()  # dataref back to 1
    consume_skb(copy)
    consume_skb(skb)


def test_cow_head_unshares_a_clone_before_header_edits(kernel):
    skb = alloc_skb(kernel, 64)
    skb.reserve(20)
    skb.put_data(b"data")
    clone = skb.clone()
    clone.push(4)
    assert clone.cow_head(40) == 0
    assert clone.head is not skb.head and not clone.cloned() and not skb.cloned()
    assert clone.headroom() >= 40 and clone.tobytes()[4:] == b"data"
    clone.view()[4:5] = b"D"
    assert skb.tobytes() == b"data"
    consume_skb(clone)
    consume_skb(skb)


def test_expand_head_moves_every_offset(kernel):
    skb = alloc_skb(kernel, 32)
    skb.reserve(4)
    skb.put_data(b"abcdef")
    skb.reset_mac_header()
    skb.partial_csum_set(2, 1)
    skb.expand_head(60, 8)
    assert skb.headroom() == 64 and skb.tailroom() == 32 - 10 + 8
    assert skb.mac_header == 64 and skb.csum_start == 66 and skb.tobytes() == b"abcdef"
    consume_skb(skb)


def test_leak_counter_drops_and_double_free(kernel):
    assert kernel.skb_live == 0
    a, b = alloc_skb(kernel, 10), alloc_skb(kernel, 10)
    assert kernel.skb_live == 2 and kernel.skb_allocs == 2
    kfree_skb(a, "TEST_REASON")
    consume_skb(b)
    assert kernel.skb_live == 0 and kernel.skb_drops == 1
    assert kernel.drop_reasons == {"TEST_REASON": 1}
    with pytest.raises(SkbPanic, match="already freed"):
        consume_skb(b)


def test_users_refcount_and_destructor(kernel):
    freed = []
    skb = alloc_skb(kernel, 10)
    skb.destructor = freed.append
    skb_get(skb)
    assert skb.shared()
    kfree_skb(skb)  # drops one reference only: no drop counted, nothing freed
    assert kernel.skb_live == 1 and kernel.skb_drops == 0 and freed == []
    consume_skb(skb)
    assert freed == [skb] and kernel.skb_live == 0


def test_share_check_and_unshare(kernel):
    skb = alloc_skb(kernel, 10)
    skb.put_data(b"x")
    skb_get(skb)
    mine = skb_share_check(skb)  # another owner holds it: we get a clone
    assert mine is not skb and skb.users == 1 and mine.cloned()
    private = skb_unshare(mine)
    assert private is not mine and not skb.cloned() and private.tobytes() == b"x"
    consume_skb(private)
    consume_skb(skb)


def test_dev_kfree_skb_irq_is_deferred_to_net_tx(kernel):
    skb = alloc_skb(kernel, 10)
    dev_kfree_skb_irq(skb)
    assert kernel.skb_live == 1  # freed by NET_TX, not here
    kernel.sched.run_for(0)
    assert kernel.skb_live == 0


def test_checksum_help_matches_the_reference_checksum(kernel):
    payload = bytes(range(37))
    skb = alloc_skb(kernel, 128)
    skb.reserve(14)
    start = skb.put(8 + len(payload))
    seed = 0x1234  # what the stack stores there: the pseudo-header sum
    struct.pack_into("!HHHH", skb.head, start, 1000, 2000, 8 + len(payload), seed)
    skb.head[start + 8 : start + 8 + len(payload)] = payload
    skb.partial_csum_set(0, 6)
    assert skb.ip_summed == CHECKSUM_PARTIAL
    skb_checksum_help(skb)
    assert skb.ip_summed == CHECKSUM_NONE
    # a correct checksum makes the region plus the pseudo-header sum verify to zero
    region = bytes(skb.head[start : skb.tail])
    assert internet_checksum(region, seed) == 0
    expected = internet_checksum(region[:6] + struct.pack("!H", seed) + region[8:])
    assert struct.unpack_from("!H", skb.head, start + 6)[0] == expected
    consume_skb(skb)


def test_queue_operations(kernel):
    q = SkBuffHead()
    a, b, c, d = (alloc_skb(kernel, 1) for _ in range(4))
    assert q.dequeue() is None and q.peek() is None and q.qlen == 0 and q.empty()
    q.queue_tail(b)
    q.queue_head(a)
    q.append(d)  # like list.append: at the tail
    q.append(b, c)  # Linux's skb_append: insert after b
    assert list(q) == [a, b, c, d] and q.qlen == 4 and len(q) == 4
    assert q.peek() is a and q.peek_tail() is d
    q.unlink(c)
    assert list(q) == [a, b, d]
    with pytest.raises(ValueError):
        q.unlink(c)
    assert q.dequeue_tail() is d and q.dequeue() is a
    other = SkBuffHead()
    other.queue_tail(c)
    other.queue_tail(d)
    q.splice_tail_init(other)
    assert list(q) == [b, c, d] and other.qlen == 0
    q.purge()
    assert q.qlen == 0 and kernel.skb_drops == 3
    consume_skb(a)
