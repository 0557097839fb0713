"""The per-CPU backlog: ``netif_rx`` for drivers without NAPI, drained by a NAPI of its own.

Mirrors the backlog half of Linux's ``net/core/dev.c`` (``netif_rx``, ``enqueue_to_backlog``,
``process_backlog``): a frame handed over from any context (a hard-IRQ handler, a virtual
device's xmit) waits on ``softnet_data.input_pkt_queue``; the backlog NAPI, scheduled like
any other instance, feeds it to ``netif_receive_skb`` from NET_RX, so the stack always runs as
its own event.

Contract: ``netif_rx(skb)`` owns ``skb`` and returns NET_RX_SUCCESS, or NET_RX_DROP after
freeing it (``CPU_BACKLOG``) when ``netdev_max_backlog`` frames already wait; a drop counts
in ``softnet.dropped`` and the device's ``rx_dropped``.  The backlog polls with
``dev_weight``.

Its own module because it sits above both ``napi.py`` (it is a NAPI instance) and ``dev.py``
(it calls ``netif_receive_skb``), which GRO, below NAPI, also calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.dev import NET_RX_DROP, NET_RX_SUCCESS, netif_receive_skb
from stack.core.dropreason import SkbDropReason
from stack.core.napi import NapiStruct, napi_complete_done, napi_schedule
from stack.core.skbfree import kfree_skb
from stack.core.skbuff import SkBuff

if TYPE_CHECKING:
    from stack.core.kernel import Kernel


def _backlog_napi(kernel: Kernel) -> NapiStruct:
    sd = kernel.softnet
    napi = sd.backlog
    if napi is None:
        napi = NapiStruct("backlog")
        napi.kernel = kernel
        napi.poll = process_backlog
        napi.weight = kernel.dev_weight
        napi.disabled = False
        napi.sched = False
        sd.backlog = napi
    return napi


def netif_rx(skb: SkBuff) -> int:
    """Queue a frame from a non-NAPI driver on the backlog; NET_RX_SUCCESS or NET_RX_DROP.

    Safe from a hard-IRQ handler: the frame is processed later, by NET_RX.
    """
    kernel = skb.kernel
    sd = kernel.softnet
    if len(sd.input_pkt_queue) >= kernel.netdev_max_backlog:
        sd.dropped += 1
        if skb.dev is not None:
            skb.dev.stats.rx_dropped += 1
        kfree_skb(skb, SkbDropReason.CPU_BACKLOG)
        return NET_RX_DROP
    sd.input_pkt_queue.queue_tail(skb)
    napi_schedule(_backlog_napi(kernel))
    return NET_RX_SUCCESS


def process_backlog(napi: NapiStruct, quota: int) -> int:
    """The backlog's poll: feed queued netif_rx frames to netif_receive_skb."""
    assert napi.kernel is not None
    queue = napi.kernel.softnet.input_pkt_queue
    work = 0
    while work < quota:
        skb = queue.dequeue()
        if skb is None:
            break
        netif_receive_skb(skb)
        work += 1
    if work < quota:
        napi_complete_done(napi, work)
    return work
