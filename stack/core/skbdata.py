"""The skb data area: its geometry, growing and shrinking it, reading it, header marks.

Linux's ``include/linux/skbuff.h`` inline helpers (``skb_headlen``, ``skb_headroom``,
``skb_reserve``, ``skb_put``, ``skb_push``, ``skb_pull``, ``pskb_may_pull``,
``skb_reset_*_header``/``skb_set_*_header``) with ``__pskb_pull_tail`` and ``___pskb_trim``
from ``net/core/skbuff.c``.  They are the methods of :class:`SkbDataArea`, the base class of
:class:`~stack.core.skbuff.SkBuff` (``stack/core/skbuff.py``), which owns the fields they
work on (``head``, ``data``, ``tail``, ``end``, ``data_len``, ``shinfo`` and the header
offsets) and the clone/copy side; its docstring states the layout.
"""

from __future__ import annotations

from stack.core.page import put_page
from stack.core.skbfree import SkbPanic, consume_skb


class SkbDataArea:
    """Operations on an skb's bytes (``SkBuff`` inherits them; it declares the slots)."""

    __slots__ = ()

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
