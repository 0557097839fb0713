"""Pages for skb fragments: :class:`Page`, ``alloc_pages``, ``get_page``/``put_page`` and the
per-socket :class:`PageFrag` allocator.

Mirrors the parts of Linux's ``include/linux/mm.h`` (``alloc_pages``, ``get_page``,
``put_page``, ``page_address``) and ``net/core/sock.c`` (``skb_page_frag_refill``) that the
networking code uses.

Contract:
- A page is where an skb fragment's bytes live.  When the kernel has guest memory
  (``kernel.mem``, the host's RAM, set by ``ixsim.host``), ``alloc_pages`` takes the page
  from it: ``addr`` is its guest physical address and ``buf`` a writable view of its bytes,
  so a driver can ``dma_map_page`` a fragment in place and the device reads it from there.
  Without guest memory (a bare kernel in a stack test) the page is a private buffer and
  ``addr`` is 0: nothing can DMA from it.
- ``order`` makes a compound page of ``PAGE_SIZE << order`` bytes (Linux's
  ``SKB_FRAG_PAGE_ORDER`` is 3: 32 KiB, so one fragment may need more than one 16 KiB
  descriptor).
- ``refcount`` starts at 1; the last ``put_page`` frees the memory.  ``kernel.pages_live``
  counts pages alive, so a test can check that none leaked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stack.core.kernel import Kernel

PAGE_SIZE = 4096
SKB_FRAG_PAGE_ORDER = 3  # get_order(32768): what sk_page_frag refills with


class GuestRam(Protocol):
    """What the kernel needs of guest memory (device.spec.bus's ``GuestRam``, by shape)."""

    def alloc(self, size: int) -> int: ...
    def free(self, addr: int) -> None: ...
    def slice(self, addr: int, length: int) -> memoryview: ...


class Page:
    """A (compound) page: ``addr`` in guest memory (0 if none), ``buf`` its bytes."""

    __slots__ = ("kernel", "addr", "buf", "order", "refcount")

    def __init__(self, kernel: Kernel, addr: int, buf: memoryview, order: int) -> None:
        self.kernel = kernel
        self.addr = addr
        self.buf = buf
        self.order = order
        self.refcount = 1

    @property
    def size(self) -> int:
        return PAGE_SIZE << self.order

    def __repr__(self) -> str:
        return f"<Page {self.addr:#x} order={self.order} refcount={self.refcount}>"


def alloc_pages(kernel: Kernel, order: int = 0) -> Page:
    """alloc_pages: ``PAGE_SIZE << order`` bytes, from guest memory when the kernel has it.

    Raises ``MemoryError`` when guest memory is exhausted (Linux returns NULL).
    """
    size = PAGE_SIZE << order
    mem = kernel.mem
    if mem is not None:
        addr = mem.alloc(size)  # size-class allocation: page-aligned for a page or more
        buf = mem.slice(addr, size)
    else:
        addr = 0
        buf = memoryview(bytearray(size))
    kernel.pages_live += 1
    return Page(kernel, addr, buf, order)


def page_of_head(kernel: Kernel, head: bytearray) -> Page:
    """The page under an skb's head buffer, for a merge that steals the head (Linux's
    ``virt_to_head_page(skb->head)`` of a ``head_frag`` skb in ``skb_gro_receive``).

    ixsim's receive heads are private buffers, not guest memory: ``addr`` is 0 (nothing DMAs
    from it) and the reference taken here is the only one; the last ``put_page`` lets the
    buffer go.
    """
    kernel.pages_live += 1
    return Page(kernel, 0, memoryview(head), 0)


def alloc_page(kernel: Kernel) -> Page:
    return alloc_pages(kernel, 0)


def get_page(page: Page) -> None:
    page.refcount += 1


def put_page(page: Page) -> None:
    """Drop one reference; the last one gives the memory back."""
    refs = page.refcount - 1
    if refs < 0:
        raise RuntimeError(f"put_page: {page!r} already freed")
    page.refcount = refs
    if not refs:
        kernel = page.kernel
        kernel.pages_live -= 1
        if page.addr:
            mem = kernel.mem
            assert mem is not None
            mem.free(page.addr)


class PageFrag:
    """A socket's current page and the offset of its free part (Linux's ``page_frag``).

    ``refill(kernel, need)`` is ``skb_page_frag_refill``: keep the page while ``need`` bytes
    still fit after ``offset`` (or reuse it from the start when nobody else holds it),
    otherwise drop our reference and take a fresh ``SKB_FRAG_PAGE_ORDER`` page.
    """

    __slots__ = ("page", "offset")

    def __init__(self) -> None:
        self.page: Page | None = None
        self.offset = 0

    def refill(self, kernel: Kernel, need: int) -> bool:
        page = self.page
        if page is not None:
            if page.refcount == 1:
                self.offset = 0
                return True
            if self.offset + need <= page.size:
                return True
            put_page(page)
            self.page = None
        try:
            self.page = alloc_pages(kernel, SKB_FRAG_PAGE_ORDER)
        except MemoryError:  # no high-order page: fall back to one page, as Linux does
            try:
                self.page = alloc_pages(kernel, 0)
            except MemoryError:
                return False
        self.offset = 0
        return True

    def release(self) -> None:
        """sk_destruct's put_page of the socket's page."""
        if self.page is not None:
            put_page(self.page)
            self.page = None
