"""Queues of skbs: :class:`SkBuffHead`, Linux's ``struct sk_buff_head``.

The ``skb_queue_*``/``__skb_queue_*``/``skb_peek``/``skb_unlink``/``skb_queue_splice_tail_init``
/``skb_queue_purge`` helpers of ``include/linux/skbuff.h`` and ``net/core/skbuff.c``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from stack.core.dropreason import SkbDropReason
from stack.core.skbfree import kfree_skb

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff


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
