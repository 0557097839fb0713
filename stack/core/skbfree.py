"""What clones of an skb share, and how an skb is freed.

The reference-counting half of Linux's skbuff: ``struct skb_shared_info`` (the data refcount
``dataref`` and the page fragments, ``include/linux/skbuff.h``), ``skb_get`` and
``__skb_header_release``, and the freeing paths of ``net/core/skbuff.c`` (``kfree_skb_reason``,
``consume_skb``, ``skb_release_data``) with the ``dev_kfree_skb*`` family
(``include/linux/netdevice.h``, ``dev_kfree_skb_irq_reason`` in ``net/core/dev.c``).
:class:`~stack.core.skbuff.SkBuff` itself is in ``stack/core/skbuff.py``, whose docstring
states the ownership contract; every name here is re-exported there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.dropreason import SkbDropReason
from stack.core.page import Page, put_page
from stack.core.softirq import NET_TX_SOFTIRQ

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff


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
