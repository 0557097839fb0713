"""Socket buffers: :class:`SkBuff`, its clones and copies, and allocating it.

Mirrors ``struct sk_buff`` (``include/linux/skbuff.h``) with ``skb_clone``, ``skb_copy``,
``__pskb_copy``, ``pskb_expand_head``, ``skb_cow_head``, the ``*alloc_skb`` allocators,
``skb_share_check``/``skb_unshare`` (``net/core/skbuff.c``) and ``skb_checksum_help``
(``net/core/dev.c``).  The rest of the skb API lives beside it, one concept per module, and is
re-exported here: the data-area operations (``stack/core/skbdata.py``, the base class
:class:`SkbDataArea`), ``skb_shared_info`` and freeing (``stack/core/skbfree.py``), queues
(``stack/core/skbqueue.py``) and page fragments (``stack/core/skbfrag.py``).

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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastpath import csum_fold, csum_partial
from stack.core.page import get_page
from stack.core.skbdata import SkbDataArea
from stack.core.skbfree import (  # noqa: F401 - re-exported: the skb API's one import point
    MAX_SKB_FRAGS,
    SkbFrag,
    SkbPanic,
    SkbSharedInfo,
    consume_skb,
    dev_consume_skb_any,
    dev_kfree_skb,
    dev_kfree_skb_any,
    dev_kfree_skb_irq,
    kfree_skb,
    napi_consume_skb,
    skb_get,
    skb_header_release,
)
from stack.core.skbqueue import SkBuffHead  # noqa: F401 - re-exported
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


class SkBuff(SkbDataArea):
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
