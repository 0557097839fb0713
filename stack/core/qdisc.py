"""The transmit path: ``dev_queue_xmit``, the pfifo_fast qdisc, NET_TX and the TX watchdog.

Mirrors Linux's ``net/sched/sch_generic.c`` (``pfifo_fast``, ``__qdisc_run``,
``sch_direct_xmit``, ``dev_requeue_skb``, ``dev_activate``/``dev_deactivate``,
``dev_watchdog``) and the transmit half of ``net/core/dev.c`` (``__dev_queue_xmit``,
``validate_xmit_skb``, ``__netif_schedule``, ``net_tx_action``).

Contract, as a driver sees it:
- ``ndo_start_xmit(skb, dev)`` returns NETDEV_TX_OK (the driver now owns the skb) or
  NETDEV_TX_BUSY (it does not; it should have stopped its queue).  A BUSY skb is requeued at
  the head and the qdisc stops; ``netif_wake_queue`` schedules NET_TX, which resumes it as an
  event of its own.  (A driver that answers BUSY with its queue awake gets it stopped for it,
  with a warning: retrying at once would spin forever in virtual time.)
- ``skb.xmit_more`` is True when another packet follows in the same run, so the driver may
  defer its tail (doorbell) write.  It must still write it when ``xmit_more`` is False *or*
  when it stops its queue.
- A run sends at most ``dev_tx_weight`` (64) packets, then hands the rest to NET_TX.
- The qdisc is active only while the device is up with carrier (Linux's noop_qdisc
  otherwise): packets sent meanwhile are dropped and counted in ``qdisc.drops``; losing
  carrier flushes the queue.
- Skbs the device cannot take as they are (GSO without TSO, CHECKSUM_PARTIAL without csum
  offload, a VLAN tag without tag insertion) are fixed in software before they are queued;
  Linux does it after dequeue, which only matters if features change while packets wait.
- TX watchdog: while carrier is on and a queue has been stopped, ``ndo_tx_timeout(dev, q)``
  runs once ``watchdog_timeo`` (5 s) has passed since the queue's ``trans_start``, then every
  ``watchdog_timeo`` while it stays stuck.  Linux polls every 5 s; here the timer is only armed
  while a queue is stopped, so an idle host leaves no event pending (the deadlock detector can
  still see an empty queue) and timeouts fire exactly on the deadline.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING

from stack.core.dev import dev_queue_xmit_nit
from stack.core.dropreason import SkbDropReason
from stack.core.ethtool import netdev_drivername
from stack.core.features import (
    NETIF_F_CSUM_MASK,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NETIF_F_TSO_ECN,
)
from stack.core.skbfrag import skb_linearize, skb_needs_linearize
from stack.core.skbfree import consume_skb, kfree_skb
from stack.core.skbuff import (
    CHECKSUM_PARTIAL,
    SKB_GSO_TCP_ECN,
    SKB_GSO_TCPV4,
    SKB_GSO_TCPV6,
    SkBuff,
    skb_checksum_help,
)
from stack.core.softirq import NET_TX_SOFTIRQ

if TYPE_CHECKING:
    from stack.core.kernel import Kernel
    from stack.core.netdevice import NetDevice

NETDEV_TX_OK = 0x00
NETDEV_TX_BUSY = 0x10

NET_XMIT_SUCCESS = 0x00
NET_XMIT_DROP = 0x01
NET_XMIT_CN = 0x02

TC_PRIO_MAX = 15
PRIO2BAND = (1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)  # pfifo_fast's prio2band


class Qdisc:
    """What every queueing discipline shares (``struct Qdisc``): the requeue slot, the
    ``tc -s qdisc`` counters and the run state.  A discipline supplies ``enqueue`` (which must
    drop while ``active`` is False, as Linux's noop_qdisc does), ``dequeue``, ``reset_queue``
    and, for ``tc``, ``params()`` and ``xstats()``; it registers with :func:`register_qdisc`.
    """

    kind = ""

    __slots__ = (
        "dev", "requeued", "qlen", "backlog", "packets", "bytes", "drops", "requeues",
        "overlimits", "active", "scheduled", "running", "busy_warned", "pinned",
    )  # fmt: skip

    def __init__(self, dev: NetDevice) -> None:
        self.dev = dev
        self.requeued: deque[SkBuff] = deque()  # Linux's q->gso_skb: retried first
        self.qlen = 0
        self.backlog = 0  # bytes queued
        self.packets = 0  # sent
        self.bytes = 0
        self.drops = 0
        self.requeues = 0
        self.overlimits = 0
        self.active = False  # attached (dev_activate) rather than noop
        self.scheduled = False  # __QDISC_STATE_SCHED: on the NET_TX output_queue
        self.running = False  # inside qdisc_run
        self.busy_warned = False
        # Attached once, or put there by tc: net.core.default_qdisc no longer replaces it
        # (Linux applies the default only to a device's first activation).
        self.pinned = False

    def enqueue(self, skb: SkBuff) -> int:
        raise NotImplementedError

    def dequeue(self) -> SkBuff | None:
        raise NotImplementedError

    def reset_queue(self) -> None:
        raise NotImplementedError

    def requeue(self, skb: SkBuff) -> None:
        self.requeued.appendleft(skb)
        self.qlen += 1
        self.backlog += skb.tail - skb.data
        self.requeues += 1

    def reset(self) -> None:
        """Drop everything queued (qdisc_reset)."""
        while self.requeued:
            kfree_skb(self.requeued.popleft(), SkbDropReason.QDISC_DROP)
        self.reset_queue()
        self.qlen = 0
        self.backlog = 0

    def drop_inactive(self, skb: SkBuff) -> int:
        """A packet offered while the qdisc is detached (noop_qdisc): dropped."""
        self.drops += 1
        kfree_skb(skb, SkbDropReason.QDISC_DROP)
        return NET_XMIT_CN

    def params(self) -> dict[str, object]:
        """The parameters ``tc qdisc show`` prints, by tc's names."""
        return {}

    def xstats(self) -> dict[str, int]:
        """Discipline-specific statistics (``tc -s`` prints them after the common ones)."""
        return {}

    def stats(self) -> dict[str, int]:
        """``tc -s qdisc`` figures."""
        return {
            "sent_bytes": self.bytes, "sent_packets": self.packets, "dropped": self.drops,
            "overlimits": self.overlimits, "requeues": self.requeues,
            "backlog": self.backlog, "qlen": self.qlen,
        }  # fmt: skip

    def __repr__(self) -> str:
        state = "active" if self.active else "noop"
        return (f"<{type(self).__name__} {self.dev.name} {state} qlen={self.qlen} "
                f"drops={self.drops}>")


class PfifoFast(Qdisc):
    """The default qdisc: three FIFO bands by ``skb.priority``, ``dev.tx_queue_len`` deep.

    ``tx_queue_len == 0`` (a virtual device such as loopback, Linux's noqueue) sets no limit:
    every packet goes straight on to the driver in the same run.
    """

    kind = "pfifo_fast"

    __slots__ = ("bands",)

    def __init__(self, dev: NetDevice) -> None:
        super().__init__(dev)
        self.bands: tuple[deque[SkBuff], ...] = (deque(), deque(), deque())

    def enqueue(self, skb: SkBuff) -> int:
        if not self.active:
            return self.drop_inactive(skb)
        limit = self.dev.tx_queue_len
        if limit and self.qlen >= limit:  # 0: a queueless device (loopback), no limit
            self.drops += 1
            self.overlimits += 1
            kfree_skb(skb, SkbDropReason.QDISC_DROP)
            return NET_XMIT_DROP
        self.bands[PRIO2BAND[skb.priority & TC_PRIO_MAX]].append(skb)
        self.qlen += 1
        self.backlog += skb.tail - skb.data
        return NET_XMIT_SUCCESS

    def dequeue(self) -> SkBuff | None:
        for band in self.bands:
            if band:
                skb = band.popleft()
                self.qlen -= 1
                self.backlog -= skb.tail - skb.data
                return skb
        return None

    def reset_queue(self) -> None:
        for band in self.bands:
            while band:
                kfree_skb(band.popleft(), SkbDropReason.QDISC_DROP)

    def params(self) -> dict[str, object]:
        return {"bands": 3, "priomap": " ".join(map(str, PRIO2BAND))}


# -- the disciplines tc knows (register_qdisc) ---------------------------------------------------
QDISC_OPS: dict[str, type[Qdisc]] = {}


def register_qdisc(ops: type[Qdisc]) -> type[Qdisc]:
    """Make a discipline available to ``tc`` and ``net.core.default_qdisc`` by its kind."""
    if ops.kind in QDISC_OPS and QDISC_OPS[ops.kind] is not ops:
        raise ValueError(f"qdisc {ops.kind!r} is registered already")
    QDISC_OPS[ops.kind] = ops
    return ops


register_qdisc(PfifoFast)


def qdisc_create(dev: NetDevice, kind: str, **params: object) -> Qdisc:
    """A new discipline of ``kind`` for ``dev`` (``tc qdisc add``): ENOENT for a kind no
    one registered, as Linux's qdisc_lookup_ops; EINVAL for a parameter it does not take."""
    ops = QDISC_OPS.get(kind)
    if ops is None:
        raise OSError(errno.ENOENT, f"Error: Specified qdisc kind is unknown: {kind!r} "
                      f"(known: {', '.join(sorted(QDISC_OPS))})")
    try:
        return ops(dev, **params)  # type: ignore[arg-type]
    except TypeError as exc:
        raise OSError(errno.EINVAL, f"qdisc {kind}: {exc}") from None


def qdisc_graft(dev: NetDevice, new: Qdisc) -> Qdisc | None:
    """Make ``new`` the device's root qdisc (``tc qdisc replace dev D root ...``): the old
    one's queue is dropped (qdisc_reset, as qdisc_destroy does), the new one attached if the
    device is up with carrier."""
    old = dev.qdisc
    new.pinned = True
    if old is not None:
        new.active = old.active
        old.active = False
        old.reset()
        if old.scheduled:  # leave it on the output queue: net_tx_action skips inactive ones
            old.scheduled = False
    dev.qdisc = new
    if new.active:
        __netif_schedule(new)
    return old


# -- entry ------------------------------------------------------------------------------------
def validate_xmit_skb(skb: SkBuff, dev: NetDevice) -> list[SkBuff] | None:
    """Make ``skb`` something ``dev`` can send; the frames to queue, or None if dropped."""
    features = dev.features
    if skb.gso_size and dev.netdev_ops.ndo_features_check is not None:
        features = dev.netdev_ops.ndo_features_check(skb, dev, features)  # netif_skb_features
    if skb.vlan_present and not features & NETIF_F_HW_VLAN_CTAG_TX:
        _vlan_insert_inband(skb)
    segs = [skb]
    if skb.gso_size:
        need = _GSO_NEEDS[skb.gso_type & _GSO_MASK]
        if not need or (features & need) != need:
            segs = skb_gso_segment(skb, features)
            if segs is None:
                return None
    if segs[0] is skb and skb.data_len and skb_needs_linearize(skb, features):
        skb_linearize(skb)  # fragments for a device without SG, a frag_list without FRAGLIST
    if not features & NETIF_F_CSUM_MASK:
        for seg in segs:
            if seg.ip_summed == CHECKSUM_PARTIAL:
                skb_checksum_help(seg)
    return segs


def _vlan_insert_inband(skb: SkBuff) -> None:
    """__vlan_hwaccel_push_inside: write the tag into the frame after the MAC addresses."""
    if skb.data < 4:
        skb.expand_head(64, 0)
    elif skb.cloned():
        skb.cow_head(4)
    off = skb.push(4)
    head = skb.head
    head[off : off + 12] = head[off + 4 : off + 16]
    proto, tci = skb.vlan_proto or 0x8100, skb.vlan_tci
    head[off + 12 : off + 16] = bytes((proto >> 8, proto & 0xFF, tci >> 8, tci & 0xFF))
    skb.mac_header = off
    skb.vlan_present = False


def skb_gso_segment(skb: SkBuff, features: int) -> list[SkBuff] | None:
    """Segment in software through the protocol's registered offload; None if it has none."""
    kernel = skb.kernel
    offload = kernel.offloads.get(skb.protocol)
    if offload is None:
        if skb.dev is not None:
            skb.dev.stats.tx_dropped += 1
        kernel.log("err", f"skb_gso_segment: no offload for protocol {skb.protocol:#06x}")
        kfree_skb(skb, SkbDropReason.SKB_GSO_SEG)
        return None
    segs = offload.gso_segment(skb, features)
    consume_skb(skb)
    return segs


# The TSO features each GSO type needs (validate_xmit_skb's ``need``, skb_gso_ok), by its TCP
# bits: a super-segment with CWR (SKB_GSO_TCP_ECN) also needs NETIF_F_TSO_ECN, a device that
# clears CWR after the first segment; without it the stack segments in software (gso.py does).
_GSO_MASK = SKB_GSO_TCPV4 | SKB_GSO_TCPV6 | SKB_GSO_TCP_ECN
_GSO_NEEDS = {
    bits: (
        (NETIF_F_TSO if bits & SKB_GSO_TCPV4 else 0)
        | (NETIF_F_TSO6 if bits & SKB_GSO_TCPV6 else 0)
        | (NETIF_F_TSO_ECN if bits & SKB_GSO_TCP_ECN and bits != SKB_GSO_TCP_ECN else 0)
    )
    for bits in range(_GSO_MASK + 1)
    if not bits & ~_GSO_MASK
}


def dev_queue_xmit(skb: SkBuff) -> int:
    """Queue a frame (``data`` at its MAC header) on ``skb.dev`` and run the qdisc.

    Returns NET_XMIT_SUCCESS, NET_XMIT_DROP (queue full) or NET_XMIT_CN (device down, no
    carrier).  The skb belongs to the core from here on, whatever the result.
    """
    dev = skb.dev
    assert dev is not None, "dev_queue_xmit: skb.dev is not set"
    skb.mac_header = skb.data
    q = dev.qdisc
    if q is None or not q.active:
        if q is not None:
            q.drops += 1
        kfree_skb(skb, SkbDropReason.DEV_READY)
        return NET_XMIT_CN
    features = dev.features
    slow = (skb.vlan_present or (skb.ip_summed == CHECKSUM_PARTIAL
                                 and not features & NETIF_F_CSUM_MASK)
            or (skb.data_len and skb_needs_linearize(skb, features)))
    if skb.gso_size and not slow:
        need = _GSO_NEEDS[skb.gso_type & _GSO_MASK]
        check = dev.netdev_ops.ndo_features_check
        if check is not None:
            features = check(skb, dev, features)
        slow = not need or features & need != need
    if not slow:
        rc = q.enqueue(skb)  # the device takes it as it is (validate_xmit_skb has no work)
    else:
        segs = validate_xmit_skb(skb, dev)
        if segs is None:
            return NET_XMIT_DROP
        rc = NET_XMIT_SUCCESS
        for seg in segs:
            if seg.dev is None:
                seg.dev = dev
            rc = q.enqueue(seg) or rc
    txq = dev._tx[0]
    if not (q.running or txq.stopped or txq.stack_xoff):  # else qdisc_run would do nothing
        qdisc_run(q)
    return rc


def qdisc_run(q: Qdisc) -> None:
    """Feed the driver until the queue is empty, the driver stops it, or the quota is spent."""
    if q.running or not q.active:
        return
    dev = q.dev
    txq = dev._tx[0]
    kernel = dev.kernel
    xmit = dev.netdev_ops.ndo_start_xmit
    if xmit is None:
        raise RuntimeError(f"{dev.name}: netdev_ops has no ndo_start_xmit")
    quota = kernel.dev_tx_weight
    q.running = True
    try:
        while not (txq.stopped or txq.stack_xoff):  # netif_xmit_frozen_or_stopped
            if q.requeued:
                skb = q.requeued.popleft()
                q.qlen -= 1
                q.backlog -= skb.tail - skb.data
                fresh = False  # the taps saw it on its first attempt
            else:
                dequeued = q.dequeue()
                if dequeued is None:
                    break
                skb = dequeued
                fresh = True
            quota -= 1
            skb.xmit_more = quota > 0 and q.qlen > 0
            length = skb.tail - skb.data
            if fresh and kernel.ptype_all:
                dev_queue_xmit_nit(skb, dev)
            rc = xmit(skb, dev)
            if kernel.tracers:
                kernel.trace("net_dev_xmit", skb=skb, rc=rc)
            if rc == NETDEV_TX_BUSY:
                skb.xmit_more = False
                q.requeue(skb)
                if not txq.stopped:
                    if not q.busy_warned:
                        q.busy_warned = True
                        kernel.log("warning", f"{dev.name}: driver returned NETDEV_TX_BUSY "
                                   "with its queue awake; stopping the queue for it")
                    txq.stopped = True
                    dev_watchdog_up(dev)
                break
            txq.trans_start = kernel.sched.now
            q.packets += 1
            q.bytes += length
            if quota <= 0:
                if q.qlen:
                    __netif_schedule(q)
                break
    finally:
        q.running = False


def __netif_schedule(q: Qdisc) -> None:
    """Run ``q`` from NET_TX soon (as its own event), unless it is already scheduled."""
    if q.scheduled:
        return
    q.scheduled = True
    kernel = q.dev.kernel
    kernel.softnet.output_queue.append(q)
    kernel.softirqs.raise_softirq(NET_TX_SOFTIRQ)


def net_tx_action(kernel: Kernel) -> None:
    """The NET_TX softirq: free deferred skbs, then run the qdiscs that were scheduled."""
    sd = kernel.softnet
    if sd.completion_queue:
        done, sd.completion_queue = sd.completion_queue, []
        for skb, reason in done:
            kfree_skb(skb, reason)
    if sd.output_queue:
        queue, sd.output_queue = sd.output_queue, deque()
        for q in queue:
            q.scheduled = False
            qdisc_run(q)


# -- activation -------------------------------------------------------------------------------
def dev_activate(dev: NetDevice) -> None:
    """Attach the qdisc of a device that is up; waits for carrier, as Linux does."""
    q = dev.qdisc
    if q is None or not dev.carrier_ok():
        return
    if not q.active:
        default = dev.kernel.default_qdisc
        if not q.pinned and q.kind != default and dev.tx_queue_len:
            # attach_default_qdiscs: a queueless device (tx_queue_len 0) keeps its own
            q = dev.qdisc = qdisc_create(dev, default)
        q.pinned = True
        q.active = True
    dev_watchdog_up(dev)


def dev_deactivate(dev: NetDevice) -> None:
    """Detach the qdisc (down, or carrier lost): queued packets are dropped."""
    q = dev.qdisc
    if q is not None:
        q.active = False
        q.reset()
    dev_watchdog_down(dev)


# -- TX watchdog ------------------------------------------------------------------------------
def _watchdog_live(dev: NetDevice) -> bool:
    q = dev.qdisc
    return (
        q is not None and q.active and dev.present and dev.running and dev.carrier_ok()
        and dev.watchdog_timeo > 0 and dev.netdev_ops.ndo_tx_timeout is not None
    )


def dev_watchdog_up(dev: NetDevice) -> None:
    """Arm the watchdog for the oldest stopped queue, if it is not armed already."""
    timer = dev.watchdog_timer
    if timer.pending() or not _watchdog_live(dev):
        return
    stopped = [txq.trans_start for txq in dev._tx if txq.stopped]
    if stopped:
        timer.mod_timer(min(stopped) + dev.watchdog_timeo)


def dev_watchdog_down(dev: NetDevice) -> None:
    dev.watchdog_timer.del_timer()


def dev_watchdog(dev: NetDevice) -> None:
    """The watchdog timer: call ndo_tx_timeout for a queue stuck longer than watchdog_timeo."""
    if not _watchdog_live(dev):
        return
    kernel = dev.kernel
    now = kernel.sched.now
    timeo = dev.watchdog_timeo
    oldest = now
    any_stopped = False
    for i, txq in enumerate(dev._tx):
        if not txq.stopped:
            continue
        any_stopped = True
        if now - txq.trans_start >= timeo:
            txq.trans_timeout += 1
            if kernel.tracers:
                kernel.trace("net_dev_xmit_timeout", dev=dev.name, queue=i)
            kernel.log("crit", f"NETDEV WATCHDOG: {dev.name} ({netdev_drivername(dev)}): "
                       f"transmit queue {i} timed out")
            tx_timeout = dev.netdev_ops.ndo_tx_timeout
            assert tx_timeout is not None
            tx_timeout(dev, i)
            oldest = now
            break
        oldest = min(oldest, txq.trans_start)
    if any_stopped and any(txq.stopped for txq in dev._tx):
        dev.watchdog_timer.mod_timer(oldest + timeo)
