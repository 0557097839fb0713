"""Socket buffers: :class:`SkBuff`, their allocation and freeing, and :class:`SkBuffHead` queues.

Mirrors Linux's ``include/linux/skbuff.h`` and ``net/core/skbuff.c``.

Contract:
- An skb is a linear head plus optional page fragments. ``head`` is a ``bytearray``; ``data``,
  ``tail`` and ``end`` are int offsets into it, and so are the
  ``mac_header``/``network_header``/``transport_header`` marks (Linux keeps those as offsets
  from ``head`` too; ``-1`` means "not set").  So ``skb.data`` is the headroom and
  ``skb.head[skb.data:skb.tail]`` is the linear part (``skb_headlen``).
- Page fragments (``skb.shinfo.frags``, at most MAX_SKB_FRAGS :class:`SkbFrag` of
  ``(page, page_offset, size)``) follow the linear part; ``data_len`` is their total and
  ``len`` counts both, as in Linux.  A :class:`Page` (``stack/core/page.py``) lives in the
  host's guest memory when the kernel has one, so a driver maps a fragment where it lies
  (``skb_frag_dma_map``) instead of copying it.  Clones share the fragments with the
  ``shinfo``; the pages are put when the last reference goes.  Code that reads the packet
  through ``head`` sees only the linear part: what needs all of it calls ``skb_linearize``
  (``validate_xmit_skb`` does, for a device without NETIF_F_SG), ``skb_copy_bits``,
  ``tobytes`` or ``pskb_may_pull``.
- ``shinfo.frag_list`` (None, or a list of skbs: Linux chains them through ``skb->next``)
  follows the fragments: GRO chains the segments it cannot fit into page fragments there
  (``skb_gro_receive``).  Their lengths count in ``data_len``; ``pull_tail``, ``trim``,
  ``skb_copy_bits``, ``frags_bytes`` and the copies walk them, the last reference to the
  ``shinfo`` frees them, and ``validate_xmit_skb`` linearizes such an skb for a device without
  NETIF_F_FRAGLIST (:func:`skb_needs_linearize`).  TCP's transmit-side splitters
  (``skb_split``, ``pskb_trim_head``) never see one and refuse it.
- ``put``/``push`` return the offset in ``head`` of the area they added, ready for
  ``struct.pack_into(fmt, skb.head, off, ...)``; ``put_data`` copies bytes in.  ``pull``
  returns the new ``data`` offset, or None (and changes nothing) when the skb is shorter.
  Running off either end raises :class:`SkbPanic` (Linux's ``skb_over_panic``/``under``).
- ``clone()`` shares ``head`` (and its :class:`SkbSharedInfo` reference count, ``dataref``);
  ``cloned()`` says whether writing the shared bytes would be seen by another skb, and
  ``cow_head()`` gives this skb a private copy first, unless every other reference released
  the header area (``skb_header_release``, as TCP does for what it queues).  ``copy()``
  copies the bytes.
- Ownership: an skb starts with ``users == 1``; every owner gives its reference back exactly
  once, with :func:`kfree_skb` (a drop, counted with a reason) or :func:`consume_skb` (normal
  end of life).  ``kernel.skb_live`` counts skbs alive, so a test ends with it back at 0.
  Freeing an skb that is already free raises :class:`SkbPanic`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fastpath import csum_fold, csum_partial
from stack.core.dropreason import SkbDropReason
from stack.core.page import Page, get_page, put_page
from stack.core.softirq import NET_TX_SOFTIRQ
from stack.uapi import (  # noqa: F401 - skb->pkt_type takes the ABI's sll_pkttype values
    PACKET_BROADCAST,
    PACKET_HOST,
    PACKET_LOOPBACK,
    PACKET_MULTICAST,
    PACKET_OTHERHOST,
    PACKET_OUTGOING,
)

if TYPE_CHECKING:
    from stack.core.kernel import Kernel
    from stack.core.napi import NapiStruct
    from stack.core.netdevice import NetDevice

NET_SKB_PAD = 64  # headroom netdev_alloc_skb leaves (max(32, L1_CACHE_BYTES) on x86-64)
NET_IP_ALIGN = 2  # the generic value: 14-byte Ethernet header + 2 puts the IP header 4-aligned
# SKB_TRUESIZE(): sizeof(struct sk_buff) + sizeof(struct skb_shared_info), cache aligned.
SKB_TRUESIZE_OVERHEAD = 576


# skb->ip_summed
CHECKSUM_NONE = 0
CHECKSUM_UNNECESSARY = 1
CHECKSUM_COMPLETE = 2
CHECKSUM_PARTIAL = 3

# skb_shinfo(skb)->gso_type
SKB_GSO_TCPV4 = 1 << 0
SKB_GSO_DODGY = 1 << 1
SKB_GSO_TCP_ECN = 1 << 2
SKB_GSO_TCP_FIXEDID = 1 << 3
SKB_GSO_TCPV6 = 1 << 4
SKB_GSO_UDP_L4 = 1 << 16

CSUM_MANGLED_0 = 0xFFFF


class SkbPanic(RuntimeError):
    """An skb was used against its rules (over/underrun, double free): Linux would BUG()."""


MAX_SKB_FRAGS = 17  # CONFIG_MAX_SKB_FRAGS's default


class SkbFrag:
    """One page fragment of an skb (Linux's ``skb_frag_t``, a ``bio_vec``).

    The fragment holds one reference to ``page``, given back by ``put_page`` when the
    ``shinfo`` holding it is released.
    """

    __slots__ = ("page", "page_offset", "size")

    def __init__(self, page: Page, page_offset: int, size: int) -> None:
        self.page = page
        self.page_offset = page_offset
        self.size = size

    def __repr__(self) -> str:
        return f"<SkbFrag page={self.page.addr:#x} off={self.page_offset} size={self.size}>"


class SkbSharedInfo:
    """What clones share with each other (Linux's ``skb_shared_info``): the data refcount
    and the page fragments.

    ``nohdr`` counts the references that promised not to touch the header area (Linux keeps
    them in ``dataref``'s upper half, ``SKB_DATAREF_SHIFT``): see :func:`skb_header_release`.
    ``frags`` is ``nr_frags`` long.
    """

    __slots__ = ("dataref", "nohdr", "frags", "frag_list", "host_frags")

    def __init__(self) -> None:
        self.dataref = 1
        self.nohdr = 0
        self.frags: list[SkbFrag] = []
        self.frag_list: list[SkBuff] | None = None  # skb_has_frag_list when not None
        # Some fragment lies outside guest memory (GRO's stolen receive heads): no device can
        # DMA it, so the core linearizes before a driver sees it (deviation: Linux's receive
        # buffers are DMA-able pages).
        self.host_frags = False

    def release_frags(self) -> None:
        """skb_release_data's page half: put every fragment's page reference."""
        for frag in self.frags:
            put_page(frag.page)
        self.frags = []

    def release_frag_list(self) -> None:
        """skb_drop_fraglist: give back the reference held on every chained skb."""
        chained = self.frag_list
        if chained is not None:
            self.frag_list = None
            for skb in chained:
                consume_skb(skb)

    def clone_frag_list(self, other: SkbSharedInfo) -> None:
        """skb_clone_fraglist: share ``other``'s chained skbs, one more reference each."""
        chained = other.frag_list
        if chained is not None:
            for skb in chained:
                skb.users += 1
            self.frag_list = list(chained)


class SkBuff:
    """One packet buffer with its metadata (Linux's ``struct sk_buff``)."""

    __slots__ = (
        "kernel", "head", "data", "tail", "end", "data_len", "shinfo", "users", "truesize",
        "nohdr",
        "dev", "sk", "destructor", "_cb", "tstamp", "skb_iif",
        "protocol", "pkt_type", "priority", "mark", "queue_mapping", "xmit_more",
        "ip_summed", "csum", "csum_start", "csum_offset",
        "gso_size", "gso_segs", "gso_type",
        "vlan_present", "vlan_proto", "vlan_tci",
        "mac_header", "network_header", "transport_header",
    )  # fmt: skip

    def __init__(self, kernel: Kernel, head: bytearray, shinfo: SkbSharedInfo | None = None,
                 end: int = -1):
        # ``end``: len(head) when the caller knows it (the allocators do; saves a call per skb).
        self.kernel = kernel
        self.head = head
        self.data = 0
        self.tail = 0
        self.end = end if end >= 0 else len(head)
        self.data_len = 0  # bytes in page fragments (0: a linear skb)
        self.shinfo = shinfo if shinfo is not None else SkbSharedInfo()
        self.users = 1
        self.nohdr = False  # this reference holds only the payload (skb_header_release)
        self.truesize = self.end + SKB_TRUESIZE_OVERHEAD
        self.dev: NetDevice | None = None
        self.sk: Any = None
        self.destructor: Callable[[SkBuff], None] | None = None
        self._cb: dict[str, Any] | None = None  # the control block, made on first use
        self.tstamp = 0
        self.skb_iif = 0
        self.protocol = 0
        self.pkt_type = PACKET_HOST
        self.priority = 0
        self.mark = 0
        self.queue_mapping = 0
        self.xmit_more = False
        self.ip_summed = CHECKSUM_NONE
        self.csum = 0
        self.csum_start = 0
        self.csum_offset = 0
        self.gso_size = 0
        self.gso_segs = 0
        self.gso_type = 0
        self.vlan_present = False
        self.vlan_proto = 0
        self.vlan_tci = 0
        self.mac_header = -1
        self.network_header = -1
        self.transport_header = -1
        kernel.skb_live += 1
        kernel.skb_allocs += 1

    @property
    def cb(self) -> dict[str, Any]:
        """The control block (Linux's ``skb->cb``): a dict, allocated when first used, since
        most skbs never carry one."""
        cb = self._cb
        if cb is None:
            cb = self._cb = {}
        return cb

    @cb.setter
    def cb(self, value: dict[str, Any]) -> None:
        self._cb = value

    # -- geometry -------------------------------------------------------------------------
    @property
    def len(self) -> int:
        return self.tail - self.data + self.data_len

    def __len__(self) -> int:
        return self.tail - self.data + self.data_len

    def headlen(self) -> int:
        """skb_headlen: the linear part's length."""
        return self.tail - self.data

    def is_nonlinear(self) -> bool:
        return self.data_len != 0

    def headroom(self) -> int:
        return self.data

    def tailroom(self) -> int:
        return self.end - self.tail

    def reserve(self, n: int) -> None:
        """Make headroom in an empty skb (skb_reserve)."""
        if self.tail + n > self.end:
            raise SkbPanic(f"skb_reserve: {n} bytes past end {self.end}")
        self.data += n
        self.tail += n

    def put(self, n: int) -> int:
        """Extend the data at the tail by ``n`` bytes; return their offset in ``head``."""
        tail = self.tail
        if tail + n > self.end:
            raise SkbPanic(f"skb_over_panic: put {n} at tail {tail}, end {self.end}")
        self.tail = tail + n
        return tail

    def put_data(self, data: bytes | bytearray | memoryview) -> int:
        """skb_put_data: append a copy of ``data``; return its offset in ``head``."""
        n = len(data)
        off = self.tail
        if off + n > self.end:
            raise SkbPanic(f"skb_over_panic: put {n} at tail {off}, end {self.end}")
        self.tail = off + n
        self.head[off : off + n] = data
        return off

    def put_zero(self, n: int) -> int:
        off = self.put(n)
        self.head[off : off + n] = bytes(n)
        return off

    def push(self, n: int) -> int:
        """Extend the data at the front by ``n`` bytes (a header); return the new data offset."""
        data = self.data - n
        if data < 0:
            raise SkbPanic(f"skb_under_panic: push {n} with headroom {self.data}")
        self.data = data
        return data

    def pull(self, n: int) -> int | None:
        """Remove ``n`` bytes from the front; the new data offset, or None if too short.

        On a nonlinear skb the bytes wanted beyond the head are pulled out of the fragments
        first (pskb_pull).
        """
        if n > self.tail - self.data:
            if not self.data_len or n > self.len:
                return None
            self.pull_tail(n - (self.tail - self.data))
        self.data += n
        return self.data

    def may_pull(self, n: int) -> bool:
        """pskb_may_pull: are ``n`` bytes there to read at ``data``?  Pulls them into the
        head from the fragments when they are there but not linear (__pskb_pull_tail)."""
        if n <= self.tail - self.data:
            return True
        if not self.data_len or n > self.len:
            return False
        self.pull_tail(n - (self.tail - self.data))
        return True

    def pull_tail(self, delta: int) -> None:
        """__pskb_pull_tail: move ``delta`` bytes from the front of the fragments into the
        head, growing it when the tailroom is short; emptied fragments are put."""
        if delta > self.data_len:
            raise SkbPanic(f"__pskb_pull_tail: {delta} bytes of {self.data_len} in frags")
        if self.tail + delta > self.end or self.shinfo.dataref > 1:
            self.expand_head(0, max(delta - (self.end - self.tail), 0) + 128)
        head = self.head
        frags = self.shinfo.frags
        tail = self.tail
        left = delta
        while left and frags:
            frag = frags[0]
            n = frag.size if frag.size < left else left
            off = frag.page_offset
            head[tail : tail + n] = frag.page.buf[off : off + n]
            tail += n
            left -= n
            if n == frag.size:
                put_page(frag.page)
                del frags[0]
            else:
                frag.page_offset += n
                frag.size -= n
        if left:  # the rest comes from the chained skbs (__pskb_pull_tail's second pass)
            chained = self.shinfo.frag_list
            assert chained is not None
            while left:
                lst = chained[0]
                n = lst.len if lst.len < left else left
                head[tail : tail + n] = lst.tobytes()[:n]
                tail += n
                left -= n
                if n == lst.len:
                    del chained[0]
                    consume_skb(lst)
                else:
                    if lst.users > 1:  # skb_shared: pull a clone, not what others hold
                        chained[0] = lst.clone()
                        consume_skb(lst)
                        lst = chained[0]
                    lst.pull(n)
            if not chained:
                self.shinfo.frag_list = None
        self.tail = tail
        self.data_len -= delta

    def trim(self, length: int) -> None:
        """Cut the data down to ``length`` bytes (skb_trim / pskb_trim); longer lengths
        change nothing.  Fragments beyond ``length`` are put, the one it ends in is cut."""
        if not self.data_len:
            if self.tail - self.data > length:
                self.tail = self.data + length
            return
        if length >= self.len:
            return
        if self.shinfo.dataref > 1:  # the fragments are shared: edit a private list
            self.expand_head(0, 0)
        headlen = self.tail - self.data
        shinfo = self.shinfo
        frags = shinfo.frags
        if length <= headlen:
            self.tail = self.data + length
            shinfo.release_frags()
            shinfo.release_frag_list()
            self.data_len = 0
            return
        offset = headlen
        keep = 0
        for frag in frags:
            if offset >= length:
                break
            if offset + frag.size > length:
                frag.size = length - offset
            offset += frag.size
            keep += 1
        for frag in frags[keep:]:
            put_page(frag.page)
        del frags[keep:]
        chained = shinfo.frag_list
        if chained is not None:  # ___pskb_trim's frag_list walk
            keep = 0
            for i, lst in enumerate(chained):
                if offset >= length:
                    break
                if offset + lst.len > length:
                    if lst.users > 1:  # skb_shared: trim a clone, not what others hold
                        chained[i] = lst.clone()
                        consume_skb(lst)
                        lst = chained[i]
                    lst.trim(length - offset)
                offset += lst.len
                keep += 1
            for lst in chained[keep:]:
                consume_skb(lst)
            del chained[keep:]
            if not chained:
                shinfo.frag_list = None
        self.data_len = length - headlen

    # -- access -----------------------------------------------------------------------------
    def view(self) -> memoryview:
        """A writable zero-copy view of the packet bytes (data..tail)."""
        return memoryview(self.head)[self.data : self.tail]

    def tobytes(self) -> bytes:
        """The whole packet, the fragments' bytes included."""
        if self.data_len:
            return self.head[self.data : self.tail] + self.frags_bytes()
        return memoryview(self.head)[self.data : self.tail].tobytes()

    __bytes__ = tobytes

    def frags_bytes(self) -> bytes:
        """The nonlinear part's bytes, in order: the fragments, then the chained skbs."""
        shinfo = self.shinfo
        parts = [f.page.buf[f.page_offset : f.page_offset + f.size] for f in shinfo.frags]
        if shinfo.frag_list is not None:
            parts.extend(lst.tobytes() for lst in shinfo.frag_list)
        return b"".join(parts)

    def has_frag_list(self) -> bool:
        """skb_has_frag_list."""
        return self.shinfo.frag_list is not None

    def mac_bytes(self) -> bytes:
        """The frame from its MAC header to the tail (what a packet tap records)."""
        start = self.mac_header if 0 <= self.mac_header <= self.data else self.data
        if self.data_len:
            return self.head[start : self.tail] + self.frags_bytes()
        return memoryview(self.head)[start : self.tail].tobytes()

    # -- header marks -----------------------------------------------------------------------
    def reset_mac_header(self) -> None:
        self.mac_header = self.data

    def reset_network_header(self) -> None:
        self.network_header = self.data

    def reset_transport_header(self) -> None:
        self.transport_header = self.data

    def set_mac_header(self, offset: int) -> None:
        """Mark the MAC header at ``data + offset`` (skb_set_mac_header)."""
        self.mac_header = self.data + offset

    def set_network_header(self, offset: int) -> None:
        self.network_header = self.data + offset

    def set_transport_header(self, offset: int) -> None:
        self.transport_header = self.data + offset

    def mac_header_was_set(self) -> bool:
        return self.mac_header >= 0

    def transport_header_was_set(self) -> bool:
        return self.transport_header >= 0

    def network_offset(self) -> int:
        return self.network_header - self.data

    def transport_offset(self) -> int:
        return self.transport_header - self.data

    def mac_len(self) -> int:
        return self.network_header - self.mac_header

    # -- offload metadata -------------------------------------------------------------------
    def partial_csum_set(self, start: int, off: int) -> None:
        """skb_partial_csum_set: checksum from ``data + start``, stored at ``+ off`` beyond."""
        self.ip_summed = CHECKSUM_PARTIAL
        self.csum_start = self.data + start
        self.csum_offset = off

    def is_gso(self) -> bool:
        return self.gso_size != 0

    def vlan_hwaccel_put_tag(self, proto: int, tci: int) -> None:
        """__vlan_hwaccel_put_tag: record a tag the hardware stripped (or is to insert)."""
        self.vlan_present = True
        self.vlan_proto = proto
        self.vlan_tci = tci

    def vlan_hwaccel_clear_tag(self) -> None:
        self.vlan_present = False

    # -- sharing ----------------------------------------------------------------------------
    def cloned(self) -> bool:
        """skb_cloned: another skb shares these bytes."""
        return self.shinfo.dataref > 1

    def header_cloned(self) -> bool:
        """skb_header_cloned: another skb that may use the header area shares these bytes.

        A reference released with :func:`skb_header_release` (TCP's queued original) does not
        count: writing headers into a clone's headroom cannot disturb it.
        """
        shinfo = self.shinfo
        return shinfo.dataref > 1 and shinfo.dataref - shinfo.nohdr != 1

    def shared(self) -> bool:
        """skb_shared: more than one owner holds this very skb."""
        return self.users > 1

    def _copy_header(self, n: SkBuff) -> None:
        """__copy_skb_header: metadata a clone or a copy inherits (not sk/destructor)."""
        n.dev = self.dev
        n._cb = dict(self._cb) if self._cb else None
        n.tstamp = self.tstamp
        n.skb_iif = self.skb_iif
        n.protocol = self.protocol
        n.pkt_type = self.pkt_type
        n.priority = self.priority
        n.mark = self.mark
        n.queue_mapping = self.queue_mapping
        n.ip_summed = self.ip_summed
        n.csum = self.csum
        n.csum_start = self.csum_start
        n.csum_offset = self.csum_offset
        n.gso_size = self.gso_size
        n.gso_segs = self.gso_segs
        n.gso_type = self.gso_type
        n.vlan_present = self.vlan_present
        n.vlan_proto = self.vlan_proto
        n.vlan_tci = self.vlan_tci
        n.mac_header = self.mac_header
        n.network_header = self.network_header
        n.transport_header = self.transport_header
        n.data = self.data
        n.tail = self.tail
        n.data_len = self.data_len

    def clone(self) -> SkBuff:
        """skb_clone: a new skb over the same bytes (``dataref`` goes up)."""
        shinfo = self.shinfo
        shinfo.dataref += 1
        n = SkBuff(self.kernel, self.head, shinfo, self.end)
        n.truesize = self.truesize
        self._copy_header(n)
        return n

    def copy(self) -> SkBuff:
        """skb_copy: a new skb with its own copy of the whole buffer, headroom included.

        As in Linux the copy is linear: the fragments' bytes follow the head's.
        """
        if self.data_len:
            n = SkBuff(self.kernel, self.head[: self.tail] + self.frags_bytes())
            self._copy_header(n)
            n.tail = self.tail + self.data_len
            n.data_len = 0
            return n
        n = SkBuff(self.kernel, bytearray(self.head))
        self._copy_header(n)
        return n

    def pskb_copy(self) -> SkBuff:
        """__pskb_copy: a private copy of the head; the page fragments are shared (each gets a
        page reference), not copied.  TCP sends one when a clone of the segment is still in
        flight (``__tcp_transmit_skb``)."""
        n = SkBuff(self.kernel, bytearray(self.head))
        self._copy_header(n)
        if self.data_len:
            frags = n.shinfo.frags
            for frag in self.shinfo.frags:
                get_page(frag.page)
                frags.append(SkbFrag(frag.page, frag.page_offset, frag.size))
            n.shinfo.clone_frag_list(self.shinfo)
        return n

    def expand_head(self, nhead: int, ntail: int) -> None:
        """pskb_expand_head: a private, larger buffer (``nhead`` more headroom, ``ntail`` tail).

        Every offset moves by ``nhead``; other skbs that shared the old bytes keep them.
        """
        old = self.head
        new = bytearray(nhead + self.end + ntail)
        new[nhead : nhead + self.end] = memoryview(old)[: self.end]
        old_shinfo = self.shinfo
        old_shinfo.dataref -= 1
        if self.nohdr:
            old_shinfo.nohdr -= 1
            self.nohdr = False
        self.shinfo = SkbSharedInfo()
        if old_shinfo.frags:  # the new shinfo takes its own page references (skb_frag_ref)
            for frag in old_shinfo.frags:
                get_page(frag.page)
                self.shinfo.frags.append(SkbFrag(frag.page, frag.page_offset, frag.size))
            if not old_shinfo.dataref:
                old_shinfo.release_frags()
        if old_shinfo.frag_list is not None:
            self.shinfo.clone_frag_list(old_shinfo)
            if not old_shinfo.dataref:
                old_shinfo.release_frag_list()
        self.head = new
        self.data += nhead
        self.tail += nhead
        self.end = len(new)
        self.truesize += nhead + ntail
        for name in ("mac_header", "network_header", "transport_header"):
            if getattr(self, name) >= 0:
                setattr(self, name, getattr(self, name) + nhead)
        if self.ip_summed == CHECKSUM_PARTIAL:
            self.csum_start += nhead

    def cow_head(self, headroom: int) -> int:
        """skb_cow_head: make the headers writable and ensure ``headroom``; 0 on success.

        A driver that edits headers in place (TSO: IP total length, checksum seeds) calls this
        first, because the stack keeps the original of a clone for retransmission; an original
        that released its header (TCP's, :func:`skb_header_release`) needs no copy.
        """
        delta = max(headroom - self.data, 0)
        if delta or self.header_cloned():
            self.expand_head(-(-delta // NET_SKB_PAD) * NET_SKB_PAD, 0)
        return 0

    def __repr__(self) -> str:
        dev = self.dev.name if self.dev is not None else "-"
        return (
            f"<SkBuff len={self.len} data_len={self.data_len} proto={self.protocol:#06x} dev={dev} "
            f"headroom={self.data} tailroom={self.end - self.tail} users={self.users}>"
        )


# -- allocation -------------------------------------------------------------------------------
def alloc_skb(kernel: Kernel, size: int) -> SkBuff:
    """An empty skb with room for ``size`` bytes and no headroom."""
    return SkBuff(kernel, bytearray(size), None, size)


def netdev_alloc_skb(dev: NetDevice, size: int) -> SkBuff:
    """An RX skb for ``dev``: ``size`` bytes of room after NET_SKB_PAD of headroom."""
    size += NET_SKB_PAD
    skb = SkBuff(dev.kernel, bytearray(size), None, size)
    skb.data = skb.tail = NET_SKB_PAD
    skb.dev = dev
    return skb


def netdev_alloc_skb_ip_align(dev: NetDevice, size: int) -> SkBuff:
    size += NET_SKB_PAD + NET_IP_ALIGN
    skb = SkBuff(dev.kernel, bytearray(size), None, size)
    skb.data = skb.tail = NET_SKB_PAD + NET_IP_ALIGN
    skb.dev = dev
    return skb


def napi_alloc_skb(napi: NapiStruct, size: int) -> SkBuff:
    assert napi.dev is not None
    return netdev_alloc_skb_ip_align(napi.dev, size)


def skb_header_release(skb: SkBuff) -> None:
    """__skb_header_release: this reference will never touch the bytes below ``data``.

    TCP calls it on every skb it queues: the clones it transmits push their headers into the
    shared headroom and a driver may edit them there (``cow_head``) without copying the
    segment.  Cleared when the skb gets private bytes (``expand_head``) or is freed.
    """
    if not skb.nohdr:
        skb.nohdr = True
        skb.shinfo.nohdr += 1


def skb_get(skb: SkBuff) -> SkBuff:
    """Take one more reference to ``skb`` (its owner must free it once more)."""
    skb.users += 1
    return skb


# -- freeing ----------------------------------------------------------------------------------
def _unref(skb: SkBuff, what: str) -> bool:
    """Drop one reference; True when it was the last one and the skb must be released."""
    users = skb.users
    if users == 1:
        skb.users = 0
        return True
    if users <= 0:
        raise SkbPanic(f"{what}: skb already freed: {skb!r}")
    skb.users = users - 1
    return False


def _release(skb: SkBuff) -> None:
    destructor = skb.destructor
    if destructor is not None:
        skb.destructor = None
        destructor(skb)
    shinfo = skb.shinfo
    shinfo.dataref -= 1
    if skb.nohdr:
        shinfo.nohdr -= 1
    if not shinfo.dataref:
        if shinfo.frags:
            shinfo.release_frags()
        if shinfo.frag_list is not None:
            shinfo.release_frag_list()
    skb.kernel.skb_live -= 1


def kfree_skb(skb: SkBuff, reason: SkbDropReason = SkbDropReason.NOT_SPECIFIED) -> None:
    """Drop ``skb``: free it because something went wrong (counted per ``reason``)."""
    if skb.users != 1 and not _unref(skb, "kfree_skb"):
        return
    skb.users = 0
    kernel = skb.kernel
    kernel.skb_drops += 1
    reasons = kernel.drop_reasons
    reasons[reason] = reasons.get(reason, 0) + 1
    if kernel.tracers:
        kernel.trace("kfree_skb", skb=skb, reason=reason)
    _release(skb)


def consume_skb(skb: SkBuff) -> None:
    """Free ``skb`` at the normal end of its life (delivered, transmitted)."""
    if skb.users != 1 and not _unref(skb, "consume_skb"):
        return
    skb.users = 0  # the last reference (_unref's common case, inlined: this runs per frame)
    kernel = skb.kernel
    if kernel.tracers:
        kernel.trace("consume_skb", skb=skb)
    if skb.destructor is not None or skb.nohdr or skb.data_len:
        _release(skb)
    else:
        skb.shinfo.dataref -= 1
        kernel.skb_live -= 1


dev_kfree_skb = consume_skb  # Linux: #define dev_kfree_skb(a) consume_skb(a)

# Free from any context; as in Linux this counts as a drop (``NOT_SPECIFIED``).  TX completion
# of a packet that was sent is better reported with dev_consume_skb_any (or
# napi_consume_skb), as newer drivers do.  Aliases, not wrappers: they run once per frame.
dev_kfree_skb_any = kfree_skb
dev_consume_skb_any = consume_skb


def napi_consume_skb(skb: SkBuff, budget: int) -> None:
    consume_skb(skb)


def dev_kfree_skb_irq(skb: SkBuff) -> None:
    """Free from hard-IRQ context: deferred to NET_TX (its ``completion_queue``)."""
    kernel = skb.kernel
    kernel.softnet.completion_queue.append((skb, SkbDropReason.NOT_SPECIFIED))
    kernel.raise_softirq(NET_TX_SOFTIRQ)


def skb_share_check(skb: SkBuff) -> SkBuff:
    """A handler that will modify a shared skb takes its own clone (and drops its ref)."""
    if skb.users > 1:
        n = skb.clone()
        consume_skb(skb)
        return n
    return skb


def skb_unshare(skb: SkBuff) -> SkBuff:
    """Give a cloned skb private bytes (skb_unshare)."""
    if skb.cloned():
        n = skb.copy()
        consume_skb(skb)
        return n
    return skb


def skb_checksum_help(skb: SkBuff) -> int:
    """Finish a CHECKSUM_PARTIAL checksum in software, for a device without csum offload.

    The stack seeded the field with the pseudo-header sum; the sum from ``csum_start`` to the
    tail is folded in and stored at ``csum_start + csum_offset``.  Returns 0.
    """
    if skb.ip_summed != CHECKSUM_PARTIAL:
        return 0
    if skb.data_len:  # Linux sums the fragments with skb_checksum; we make them linear
        skb.pull_tail(skb.data_len)
    start = skb.csum_start
    where = start + skb.csum_offset
    head = skb.head
    if start < skb.data or where + 2 > skb.tail:
        raise SkbPanic(f"skb_checksum_help: csum_start {start} offset {skb.csum_offset} "
                       f"outside data {skb.data}..{skb.tail}")
    value = csum_fold(csum_partial(memoryview(head)[start : skb.tail])) or CSUM_MANGLED_0
    head[where] = value >> 8
    head[where + 1] = value & 0xFF
    skb.ip_summed = CHECKSUM_NONE
    return 0


# -- queues -----------------------------------------------------------------------------------
class SkBuffHead:
    """A queue of skbs (Linux's ``sk_buff_head``), deque-backed; ``qlen`` is its length."""

    __slots__ = ("_q",)

    def __init__(self) -> None:
        self._q: deque[SkBuff] = deque()

    @property
    def qlen(self) -> int:
        return len(self._q)

    def __len__(self) -> int:
        return len(self._q)

    def __iter__(self) -> Iterator[SkBuff]:
        return iter(self._q)

    def empty(self) -> bool:
        return not self._q

    def queue_head(self, skb: SkBuff) -> None:
        self._q.appendleft(skb)

    def queue_tail(self, skb: SkBuff) -> None:
        self._q.append(skb)

    def dequeue(self) -> SkBuff | None:
        return self._q.popleft() if self._q else None

    def dequeue_tail(self) -> SkBuff | None:
        return self._q.pop() if self._q else None

    def peek(self) -> SkBuff | None:
        return self._q[0] if self._q else None

    def peek_tail(self) -> SkBuff | None:
        return self._q[-1] if self._q else None

    def append(self, old: SkBuff, new: SkBuff | None = None) -> None:
        """``append(skb)`` queues at the tail, as ``list.append`` does; ``append(old, new)``
        is Linux's skb_append: insert ``new`` right after ``old``."""
        if new is None:
            self._q.append(old)
        else:
            self._q.insert(self._index(old) + 1, new)

    def insert_before(self, old: SkBuff, new: SkBuff) -> None:
        self._q.insert(self._index(old), new)

    def unlink(self, skb: SkBuff) -> None:
        del self._q[self._index(skb)]

    def _index(self, skb: SkBuff) -> int:
        for i, queued in enumerate(self._q):
            if queued is skb:
                return i
        raise ValueError(f"{skb!r} is not on this queue")

    def splice_tail_init(self, other: SkBuffHead) -> None:
        """Move every skb of ``other`` to our tail, leaving ``other`` empty."""
        self._q.extend(other._q)
        other._q.clear()

    def purge(self, reason: SkbDropReason = SkbDropReason.QUEUE_PURGE) -> None:
        """Free every queued skb (skb_queue_purge: counted as drops)."""
        q = self._q
        while q:
            kfree_skb(q.popleft(), reason)

    def __repr__(self) -> str:
        return f"<SkBuffHead qlen={len(self._q)}>"
