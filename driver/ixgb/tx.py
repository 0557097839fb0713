"""Transmit: ndo_start_xmit, the TSO and checksum contexts, mapping, queueing, completion.

Mirrors Linux's ``ixgb_xmit_frame``, ``ixgb_tso``, ``ixgb_tx_csum``, ``ixgb_tx_map``,
``ixgb_tx_queue``, ``ixgb_maybe_stop_tx``, ``ixgb_clean_tx_irq`` and
``ixgb_unmap_and_free_tx_resource`` (ixgb_main.c).  Spec: docs/hardware.md §2.4, §2.5, §2.8.

Contract and the ixsim differences, said out loud:

* An skb's linear part is a Python buffer, so ``tx_map`` copies it into bounce chunks of
  guest memory (at most 16 KiB each, the per-descriptor limit) and maps each to-device with
  ``dma_map_single``.  Its page fragments already live in guest memory: each is mapped where
  it lies with ``skb_frag_dma_map`` (``dma_map_page``), one descriptor per 16 KiB of it, the
  slot marked ``mapped_as_page``, exactly as Linux's ``ixgb_tx_map``.  A bounce chunk of at
  most ``KEEP_CHUNK`` bytes stays with its ring slot after completion and is reused by the
  slot's next packet that fits it (the chunk is ixsim's artifact, not Linux's: recycling it
  saves an allocation and a free per packet); the DMA mapping is still made and undone per
  packet, so the IOMMU sees exactly Linux's ``dma_map_single``/``dma_unmap_single``.  The
  TSO sentinel erratum applies as in Linux: the last buffer (the head's when there are no
  fragments, else the last fragment's) is mapped 4 bytes short, and a 4-byte descriptor
  follows.
  ``clean_tx_irq`` unmaps each slot the way it was mapped (``dma_unmap_page`` or
  ``dma_unmap_single``, and frees a chunk larger than ``KEEP_CHUNK``) and gives the skb
  back; ``clean_tx_ring`` frees every chunk.
* Completed packets are freed with ``dev_consume_skb_any`` (newer drivers' choice; Linux ixgb
  used ``dev_kfree_skb_any``, which counts as a drop); packets thrown away are dropped.
* Doorbell batching: when the qdisc says more packets follow (``skb.xmit_more``) the TDT write
  is left to the last one of the burst; it is always written when the queue is stopped.
* ``time_stamp`` is the scheduler's time in ns (jiffies in Linux); 0 means "not set".
* **Byte Queue Limits**, an extension over Linux's ixgb (which predates BQL; ixgbe, e1000e
  and igb do the same): ``xmit_frame`` reports each queued packet's ``skb.len`` with
  ``netdev_tx_sent_queue`` and ``clean_tx_irq`` the completed packets and bytes with
  ``netdev_tx_completed_queue`` before it considers waking the queue; ``clean_tx_ring``
  resets the count (``netdev_reset_queue``).  When the bytes in flight pass the dynamic
  limit the core stops the qdisc (STACK_XOFF, stack/core/dql.py); the tail is then written
  at once, as for a stopped queue.
"""

from __future__ import annotations

from typing import Any

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import DMA_MAPPING_ERROR, DMA_TO_DEVICE
from driver.ixgb.adapter import DOWN, HZ_NS, Adapter, Buffer, DescRing, desc_unused
from fastpath import csum_partial
from stack.core import (
    CHECKSUM_PARTIAL,
    NETDEV_TX_BUSY,
    NETDEV_TX_OK,
    NETIF_F_ALL_TSO,
    PAGE_SIZE,
    SKB_GSO_TCPV6,
    dev_consume_skb_any,
    dev_kfree_skb_any,
    netdev_tx_completed_queue,
    netdev_tx_sent_queue,
    netif_carrier_ok,
    netif_queue_stopped,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
    skb_frag_dma_map,
)
from stack.uapi import IPPROTO_TCP

TX_FLAGS_CSUM = 0x1
TX_FLAGS_VLAN = 0x2
TX_FLAGS_TSO = 0x4
TX_FLAGS_IPV6 = 0x8  # a TSO context for TCP over IPv6 (ixsim's; Linux's ixgb has no TSO6)

MAX_TXD_PWR = D.MAX_TXD_PWR
MAX_DATA_PER_TXD = D.MAX_DATA_PER_TXD  # 16 KiB
MAX_SKB_FRAGS = 17


def txd_use_count(size: int) -> int:
    """Descriptors a buffer of ``size`` bytes needs (TXD_USE_COUNT)."""
    return (size >> MAX_TXD_PWR) + (1 if size & (MAX_DATA_PER_TXD - 1) else 0)


# Worst case per packet: the head, MAX_SKB_FRAGS page fragments, the context and the TSO
# sentinel (DESC_NEEDED), Linux's formula.  Like Linux's it counts one descriptor per
# fragment (PAGE_SIZE); a 32 KiB fragment takes two and a linear head of up to 64 KiB five,
# which the slack of a stopped queue (DESC_NEEDED free before the next packet) covers as
# long as a packet's descriptors stay within it: ``tx_map`` refuses one that would not.
DESC_NEEDED = txd_use_count(MAX_DATA_PER_TXD) + MAX_SKB_FRAGS * txd_use_count(PAGE_SIZE) + 2

_TX_DESC_PACK = D.TX_DESC.pack_into
_TX_CTX_PACK = D.TX_CTX.pack_into
_EOP_RS = D.TXD_CMD_EOP | D.TXD_CMD_RS
_CSUM_POPTS = D.TXD_POPTS_TXSM | D.TXD_POPTS_IXSM
_ZERO4 = bytes(4)
_DD = D.TXD_STAT_DD
_NO_FRAGS: list[Any] = []
# TX bounce chunks up to this size stay with their slot (a standard frame's size class):
# the ring's worth of them is bounded (count x 2 KiB); larger ones are freed at completion.
KEEP_CHUNK = 2048


# -- ndo_start_xmit ----------------------------------------------------------------------------
def features_check(skb: Any, netdev: Any, features: int) -> int:
    """ndo_features_check: no TSO for an skb whose MSS is below what the device segments
    (``TSO_MIN_MSS``); the core segments it in software instead.  Linux's TCP may send an
    MSS down to 48 (tcp_min_snd_mss); i40e and ice drop GSO below their minimum the same way.
    """
    if skb.gso_size < D.TSO_MIN_MSS:
        return features & ~NETIF_F_ALL_TSO
    return features


def xmit_frame(skb: Any, netdev: Any) -> int:
    """Queue one packet on the TX ring; NETDEV_TX_BUSY when the ring is short of room."""
    adapter: Adapter = netdev.priv
    ring = adapter.tx_ring
    nbytes = skb.tail - skb.data + skb.data_len  # skb.len, without the property call
    if DOWN in adapter.flags or nbytes <= 0:  # adapter.down, inline: once per packet
        dev_kfree_skb_any(skb)
        return NETDEV_TX_OK
    # desc_unused() and the calls below are spelled out inline where they are a test that
    # almost always passes: this runs once per packet.
    ntc = ring.next_to_clean
    ntu = ring.next_to_use
    if ((0 if ntc > ntu else ring.count) + ntc - ntu - 1 < DESC_NEEDED
            and maybe_stop_tx(netdev, ring, DESC_NEEDED)):
        flush_tail(adapter)  # descriptors of an earlier xmit_more burst must not wait
        return NETDEV_TX_BUSY
    tx_flags = 0
    vlan_id = 0
    if skb.vlan_present:
        tx_flags |= TX_FLAGS_VLAN
        vlan_id = skb.vlan_tci
    first = ring.next_to_use
    if skb.gso_size:
        tso_result = tso(adapter, skb)
        if tso_result < 0:
            dev_kfree_skb_any(skb)
            return NETDEV_TX_OK
        tx_flags |= TX_FLAGS_TSO if tso_result == 1 else TX_FLAGS_TSO | TX_FLAGS_IPV6
    elif skb.ip_summed == CHECKSUM_PARTIAL and tx_csum(adapter, skb):
        tx_flags |= TX_FLAGS_CSUM
    more = skb.xmit_more
    count = tx_map(adapter, skb, first)
    if count:
        tx_queue(adapter, count, vlan_id, tx_flags)
        txq = adapter.txq
        netdev_tx_sent_queue(txq, nbytes)
        ntc = ring.next_to_clean
        ntu = ring.next_to_use
        if (0 if ntc > ntu else ring.count) + ntc - ntu - 1 < DESC_NEEDED:
            maybe_stop_tx(netdev, ring, DESC_NEEDED)  # no room for the next one
        if not more or txq.stopped or txq.stack_xoff:
            flush_tail(adapter)
    else:
        dev_kfree_skb_any(skb)
        ring.buffer_info[first].time_stamp = 0
        ring.next_to_use = first
    return NETDEV_TX_OK


def flush_tail(adapter: Adapter) -> None:
    """Write TDT = next_to_use if it moved since the last doorbell."""
    ntu = adapter.tx_ring.next_to_use
    if adapter.tx_tail != ntu:
        adapter.tx_tail = ntu
        adapter.hw.write32(R.TDT, ntu)


def maybe_stop_tx(netdev: Any, ring: DescRing, size: int) -> int:
    """Stop the queue when fewer than ``size`` descriptors are free; -EBUSY if still short.

    The second look after stopping is Linux's guard against a completion that freed room in
    between (a "reprieve": the queue restarts and restart_queue counts it).
    """
    if desc_unused(ring) >= size:
        return 0
    netif_stop_queue(netdev)
    if desc_unused(ring) < size:
        return -16  # -EBUSY
    netif_start_queue(netdev)
    netdev.priv.restart_queue += 1
    return 0


# -- offload contexts --------------------------------------------------------------------------
def tso(adapter: Adapter, skb: Any) -> int:
    """For a GSO skb, prepare the headers and queue a TSO context descriptor; 1 if done
    (2 for IPv6).

    The IP total length and checksum are zeroed and the TCP checksum is seeded with the
    pseudo-header sum *without* the length; the device finishes both per segment.
    TCP over IPv6 (SKB_GSO_TCPV6, NETIF_F_TSO6): the payload length is zeroed, the seed
    sums the IPv6 addresses, and the context leaves CMD.IP clear (IPv6) with no IP checksum
    fields, so the device rewrites each segment's payload length instead of an IPv4 total
    length, ID and header checksum (docs/hardware.md §1.5, §2.5).
    Spec: docs/hardware.md §2.5.
    """
    if not skb.gso_size:
        return 0
    err = skb.cow_head(0)
    if err < 0:
        return err
    head = skb.head
    nh = skb.network_header
    th = skb.transport_header
    l3 = nh - skb.data
    l4 = th - skb.data
    hdr_len = l4 + (head[th + 12] >> 4) * 4
    mss = skb.gso_size
    ring = adapter.tx_ring
    i = ring.next_to_use
    if skb.gso_type & SKB_GSO_TCPV6:
        head[nh + 4 : nh + 6] = b"\0\0"  # ipv6h->payload_len = 0
        # ~csum_ipv6_magic(saddr, daddr, 0, IPPROTO_TCP, 0)
        seed = csum_partial(head[nh + 8 : nh + 40], IPPROTO_TCP)
        head[th + 16] = seed >> 8
        head[th + 17] = seed & 0xFF
        cmd = (D.TXD_TYPE_CONTEXT | D.TXC_CMD_TSE | D.TXC_CMD_TCP | D.TXC_CMD_IDE
               | (skb.len - hdr_len))
        _TX_CTX_PACK(ring.desc, i << 4, l3, 0, 0, l4, l4 + 16, 0, cmd, 0, hdr_len, mss)
        i += 1
        ring.next_to_use = 0 if i == ring.count else i
        return 2
    head[nh + 2 : nh + 4] = b"\0\0"  # iph->tot_len = 0
    head[nh + 10 : nh + 12] = b"\0\0"  # iph->check = 0
    # ~csum_tcpudp_magic(saddr, daddr, 0, IPPROTO_TCP, 0): the folded pseudo-header sum.
    seed = csum_partial(head[nh + 12 : nh + 20], IPPROTO_TCP)
    head[th + 16] = seed >> 8
    head[th + 17] = seed & 0xFF
    cmd = (D.TXD_TYPE_CONTEXT | D.TXC_CMD_TSE | D.TXC_CMD_IP | D.TXC_CMD_TCP | D.TXC_CMD_IDE
           | (skb.len - hdr_len))
    _TX_CTX_PACK(ring.desc, i << 4, l3, l3 + 10, l4 - 1, l4, l4 + 16, 0, cmd, 0, hdr_len, mss)
    i += 1
    ring.next_to_use = 0 if i == ring.count else i
    return 1


def tx_csum(adapter: Adapter, skb: Any) -> bool:
    """For CHECKSUM_PARTIAL, queue a checksum-only context (TCP/UDP at csum_start)."""
    if skb.ip_summed != CHECKSUM_PARTIAL:
        return False
    css = skb.csum_start - skb.data
    cso = css + skb.csum_offset
    ring = adapter.tx_ring
    i = ring.next_to_use
    cmd = D.TXD_TYPE_CONTEXT | D.TXC_CMD_IDE
    _TX_CTX_PACK(ring.desc, i << 4, 0, 0, 0, css, cso, 0, cmd, 0, 0, 0)
    i += 1
    ring.next_to_use = 0 if i == ring.count else i
    return True


# -- mapping and queueing ----------------------------------------------------------------------
def tx_map(adapter: Adapter, skb: Any, first: int) -> int:
    """Map the packet: the head copied into ≤16 KiB guest chunks (``dma_map_single``), each
    page fragment in place (``skb_frag_dma_map``, ≤16 KiB per descriptor); the number of
    data descriptors used.

    With TSO the last buffer is cut 4 bytes short so a 4-byte sentinel descriptor ends the
    packet ("premature descriptor write-backs in TSO mode").  On failure everything mapped so
    far is undone and 0 is returned.  Spec: docs/hardware.md §2.4 step 5; Linux
    ``ixgb_tx_map``.
    """
    ring = adapter.tx_ring
    count_max = ring.count
    buffer_info = ring.buffer_info
    mem = adapter.mem
    mem_view = mem.view  # the CPU's view: the copy into the chunk is one slice assignment
    mem_base = mem.base
    pdev = adapter.pdev
    map_single = pdev.dma_map_single
    src = memoryview(skb.head)
    offset = skb.data
    length = skb.tail - offset
    frags = skb.shinfo.frags if skb.data_len else _NO_FRAGS
    mss = skb.gso_size
    now = adapter.sched.now or 1
    i = ring.next_to_use
    count = 0
    try:
        while length:
            bi = buffer_info[i]
            size = length if length < MAX_DATA_PER_TXD else MAX_DATA_PER_TXD
            if mss and size == length and size > 8 and not frags:
                size -= 4
            buf = bi.buf
            if not buf or bi.buf_size < size:  # no chunk in the slot, or too small
                if buf:
                    bi.buf = 0
                    mem.free(buf)
                buf = mem.alloc(size)
                bi.buf_size = mem.allocation_size(buf) or size
            o = buf - mem_base
            mem_view[o : o + size] = src[offset : offset + size]
            bi.buf = buf  # the chunk stays with its slot, mapped or not
            dma = map_single(buf, size, DMA_TO_DEVICE)
            if dma == DMA_MAPPING_ERROR:  # dma_mapping_error()
                raise MemoryError("dma_map_single failed")
            bi.buf = buf
            bi.length = size
            bi.time_stamp = now
            bi.mapped_as_page = False
            bi.dma = dma
            bi.next_to_watch = 0
            length -= size
            offset += size
            count += 1
            if length:
                i += 1
                if i == count_max:
                    i = 0
        last = len(frags) - 1 if frags else -1
        for f, frag in enumerate(frags):  # mapped where they lie (mapped_as_page)
            length = frag.size
            offset = 0
            while length:
                if count:
                    i += 1
                    if i == count_max:
                        i = 0
                if count + 2 > DESC_NEEDED:  # + the context and the sentinel
                    raise MemoryError("TX packet needs more than DESC_NEEDED descriptors")
                bi = buffer_info[i]
                size = length if length < MAX_DATA_PER_TXD else MAX_DATA_PER_TXD
                if mss and f == last and size == length and size > 8:
                    size -= 4
                dma = skb_frag_dma_map(pdev, frag, offset, size, DMA_TO_DEVICE)
                if dma == DMA_MAPPING_ERROR:  # dma_mapping_error()
                    raise MemoryError("skb_frag_dma_map failed")
                bi.length = size
                bi.time_stamp = now
                bi.mapped_as_page = True
                bi.dma = dma
                bi.next_to_watch = 0
                length -= size
                offset += size
                count += 1
    except MemoryError:  # guest memory exhausted or a map refused: the dma_error path
        adapter.log("err", "TX DMA map failed")
        for _ in range(count):  # the slots before i were mapped; i itself was not
            i = (i - 1) % count_max
            unmap_and_free_tx_resource(adapter, buffer_info[i], consumed=False)
        return 0
    buffer_info[i].skb = skb
    buffer_info[first].next_to_watch = i
    return count


def tx_queue(adapter: Adapter, count: int, vlan_id: int, tx_flags: int) -> None:
    """Fill ``count`` data descriptors; the last gets EOP | RS.  Advances next_to_use.

    The TDT write itself is ``flush_tail``'s (doorbell batching).  Spec: docs/hardware.md §2.4
    step 6.
    """
    ring = adapter.tx_ring
    cmd = adapter.tx_cmd_type
    popts = 0
    if tx_flags & TX_FLAGS_TSO:
        cmd |= D.TXD_CMD_TSE
        # IPv6 has no header checksum: TXSM only (IXSM asks for an IPv4 one)
        popts |= D.TXD_POPTS_TXSM if tx_flags & TX_FLAGS_IPV6 else _CSUM_POPTS
    if tx_flags & TX_FLAGS_CSUM:
        popts |= D.TXD_POPTS_TXSM
    if tx_flags & TX_FLAGS_VLAN:
        cmd |= D.TXD_CMD_VLE
    desc = ring.desc
    buffer_info = ring.buffer_info
    n = ring.count
    i = ring.next_to_use
    for _ in range(count - 1):
        bi = buffer_info[i]
        _TX_DESC_PACK(desc, i << 4, bi.dma, cmd | bi.length, 0, popts, vlan_id)
        i += 1
        if i == n:
            i = 0
    bi = buffer_info[i]
    _TX_DESC_PACK(desc, i << 4, bi.dma, cmd | bi.length | _EOP_RS, 0, popts, vlan_id)
    i += 1
    ring.next_to_use = 0 if i == n else i


def unmap_and_free_tx_resource(adapter: Adapter, bi: Buffer, consumed: bool) -> None:
    """Give one slot's mapping, chunk and skb back (``consumed``: the packet was sent)."""
    if bi.dma:
        if bi.mapped_as_page:
            adapter.pdev.dma_unmap_page(bi.dma, bi.length, DMA_TO_DEVICE)
        else:
            adapter.pdev.dma_unmap_single(bi.dma, bi.length, DMA_TO_DEVICE)
        bi.dma = 0
    if bi.buf:
        adapter.mem.free(bi.buf)
        bi.buf = 0
    if bi.skb is not None:
        if consumed:
            dev_consume_skb_any(bi.skb)
        else:
            dev_kfree_skb_any(bi.skb)
        bi.skb = None
    bi.time_stamp = 0


# -- completion --------------------------------------------------------------------------------
def clean_tx_irq(adapter: Adapter) -> bool:
    """Reclaim every packet whose EOP descriptor has DD; wake the queue; detect a hang.

    Spec: docs/hardware.md §2.8.
    """
    ring = adapter.tx_ring
    netdev = adapter.netdev
    desc = ring.desc
    buffer_info = ring.buffer_info
    n = ring.count
    unmap = adapter.pdev.dma_unmap_single
    free = adapter.mem.free
    i = ring.next_to_clean
    eop = buffer_info[i].next_to_watch
    cleaned = False
    pkts = nbytes = 0
    while desc[(eop << 4) + 12] & _DD:
        cleaned = False
        while not cleaned:
            off = i << 4
            if desc[off + 13] & _CSUM_POPTS:
                adapter.hw_csum_tx_good += 1
            # unmap_and_free_tx_resource(adapter, bi, consumed=True), inlined: per packet.
            bi = buffer_info[i]
            if bi.dma:
                if bi.mapped_as_page:
                    adapter.pdev.dma_unmap_page(bi.dma, bi.length, DMA_TO_DEVICE)
                else:
                    unmap(bi.dma, bi.length, DMA_TO_DEVICE)
                bi.dma = 0
            if bi.buf and bi.buf_size > KEEP_CHUNK:  # a small chunk stays for the next packet
                free(bi.buf)
                bi.buf = 0
            skb = bi.skb
            if skb is not None:
                pkts += 1
                nbytes += skb.tail - skb.data + skb.data_len  # skb.len
                dev_consume_skb_any(skb)  # its destructor runs now, at completion
                bi.skb = None
            bi.time_stamp = 0
            desc[off + 12 : off + 16] = _ZERO4  # status, popts, vlan
            cleaned = i == eop
            i += 1
            if i == n:
                i = 0
        eop = buffer_info[i].next_to_watch
    ring.next_to_clean = i
    if nbytes:
        netdev_tx_completed_queue(adapter.txq, pkts, nbytes)

    if cleaned and netif_carrier_ok(netdev) and desc_unused(ring) >= DESC_NEEDED:
        if netif_queue_stopped(netdev) and not adapter.down:
            netif_wake_queue(netdev)
            adapter.restart_queue += 1

    if adapter.detect_tx_hung:
        adapter.detect_tx_hung = False
        stamp = buffer_info[eop].time_stamp
        now = adapter.sched.now
        if (stamp and now > stamp + HZ_NS
                and not adapter.hw.read32(R.STATUS) & R.STATUS_TXOFF):
            report_tx_hang(adapter, eop, stamp, now)
            netif_stop_queue(netdev)
    return cleaned


def report_tx_hang(adapter: Adapter, eop: int, stamp: int, now: int) -> None:
    """The "Detected Tx Unit Hang" report, with the registers Linux names."""
    ring = adapter.tx_ring
    hw = adapter.hw
    adapter.tx_hang_count += 1
    adapter.log("err", (
        "Detected Tx Unit Hang\n"
        f"  TDH                  <{hw.read32(R.TDH):x}>\n"
        f"  TDT                  <{hw.read32(R.TDT):x}>\n"
        f"  next_to_use          <{ring.next_to_use:x}>\n"
        f"  next_to_clean        <{ring.next_to_clean:x}>\n"
        "buffer_info[next_to_clean]\n"
        f"  time_stamp           <{stamp:x}>\n"
        f"  next_to_watch        <{eop:x}>\n"
        f"  jiffies              <{now:x}>\n"
        f"  next_to_watch.status <{ring.desc[(eop << 4) + 12]:x}>"))
