"""The driver's TX hooks: stopping and waking the TX queue, and Byte Queue Limits.

Mirrors Linux's ``include/linux/netdevice.h`` helpers over ``struct netdev_queue``:
``netif_start_queue``/``netif_stop_queue``/``netif_wake_queue`` (waking schedules the qdisc,
``__netif_schedule``), ``netif_xmit_stopped``, ``netif_trans_update``, and BQL's
``netdev_tx_sent_queue``/``netdev_tx_completed_queue``/``netdev_tx_reset_queue`` over
``lib/dynamic_queue_limits.c`` (``dql.py``), with the ``byte_queue_limits`` sysfs attributes
(``net/core/net-sysfs.c``).  :class:`~stack.core.netdevice.NetDevice` and its
:class:`~stack.core.netdevice.NetdevQueue` are in ``netdevice.py``, which re-exports these.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.core.dql import DQL_MAX_LIMIT, DQL_MAX_OBJECT
from stack.core.qdisc import __netif_schedule, dev_watchdog_up

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice, NetdevQueue


# -- TX queue control -------------------------------------------------------------------------
def netif_start_queue(dev: NetDevice) -> None:
    """Allow transmission (at open); does not kick the qdisc."""
    dev._tx[0].stopped = False


def netif_stop_queue(dev: NetDevice) -> None:
    """The driver is full: the qdisc stops calling ndo_start_xmit until the queue is woken."""
    txq = dev._tx[0]
    if not txq.stopped:
        txq.stopped = True
        dev_watchdog_up(dev)


def netif_wake_queue(dev: NetDevice) -> None:
    """Allow transmission again and schedule the qdisc (NET_TX) to send what waited."""
    txq = dev._tx[0]
    if txq.stopped:
        txq.stopped = False
        if dev.qdisc is not None:
            __netif_schedule(dev.qdisc)


def netdev_get_tx_queue(dev: NetDevice, index: int) -> NetdevQueue:
    """TX queue ``index`` (``stopped``, ``trans_start``, ``trans_timeout``)."""
    return dev._tx[index]


def netif_queue_stopped(dev: NetDevice) -> bool:
    return dev._tx[0].stopped


def netif_xmit_stopped(txq: NetdevQueue) -> bool:
    """Stopped by the driver or by BQL (``QUEUE_STATE_ANY_XOFF``): the qdisc must wait."""
    return txq.stopped or txq.stack_xoff


# -- Byte Queue Limits (include/linux/netdevice.h) --------------------------------------------
def netdev_tx_sent_queue(txq: NetdevQueue, nbytes: int) -> None:
    """The driver handed ``nbytes`` to the hardware; stop the queue (STACK_XOFF) when that
    takes it over its byte limit.  Linux's ``netdev_tx_sent_queue``."""
    dql = txq.dql
    # dql.queued(nbytes), inline: this runs once per packet.
    if nbytes > DQL_MAX_OBJECT:
        raise ValueError(f"dql_queued: {nbytes} bytes exceed DQL_MAX_OBJECT")
    dql.last_obj_cnt = nbytes
    queued = dql.num_queued = dql.num_queued + nbytes
    if dql.adj_limit - queued < 0:
        txq.stack_xoff = True  # a completion always follows: the watchdog is not armed


def netdev_tx_completed_queue(txq: NetdevQueue, pkts: int, nbytes: int) -> None:
    """The hardware finished ``pkts`` packets of ``nbytes``: adapt the limit, and restart the
    qdisc if BQL had stopped it and there is room again.  Linux's
    ``netdev_tx_completed_queue``; ``netif_schedule_queue`` is ``__netif_schedule``."""
    if not nbytes:
        return
    dql = txq.dql
    dql.completed(nbytes)
    if dql.adj_limit - dql.num_queued < 0:
        return
    if txq.stack_xoff:
        txq.stack_xoff = False
        dev = txq.dev
        if dev.qdisc is not None and not txq.stopped:
            __netif_schedule(dev.qdisc)


def netdev_tx_reset_queue(txq: NetdevQueue) -> None:
    """Forget what was in flight (the ring was cleaned): ``netdev_tx_reset_queue``."""
    txq.stack_xoff = False
    txq.dql.reset()


def netdev_sent_queue(dev: NetDevice, nbytes: int) -> None:
    netdev_tx_sent_queue(dev._tx[0], nbytes)


def netdev_completed_queue(dev: NetDevice, pkts: int, nbytes: int) -> None:
    netdev_tx_completed_queue(dev._tx[0], pkts, nbytes)


def netdev_reset_queue(dev: NetDevice) -> None:
    netdev_tx_reset_queue(dev._tx[0])


# The attributes of /sys/class/net/DEV/queues/tx-N/byte_queue_limits/ (net-sysfs.c): name ->
# (writable, unit).  hold_time is shown and set in milliseconds, like sysfs.
BQL_ATTRS = ("hold_time", "inflight", "limit", "limit_max", "limit_min")


def bql_show(txq: NetdevQueue) -> dict[str, int]:
    """The byte_queue_limits directory of one TX queue, as sysfs shows it."""
    dql = txq.dql
    return {
        "hold_time": dql.slack_hold_time // 1_000_000,
        "inflight": dql.inflight,
        "limit": dql.limit,
        "limit_max": dql.max_limit,
        "limit_min": dql.min_limit,
    }


def bql_store(txq: NetdevQueue, name: str, value: int) -> None:
    """Write one byte_queue_limits attribute: ``limit_max``, ``limit_min`` (bytes, at most
    DQL_MAX_LIMIT, else EINVAL) or ``hold_time`` (ms).  ``limit`` and ``inflight`` are
    read-only (EACCES as a write to a 0444 sysfs file).  Linux's ``bql_set_limit_max`` and
    friends: setting a bound also clamps the current limit into it."""
    if name not in BQL_ATTRS:
        raise FileNotFoundError(errno.ENOENT, f"no byte_queue_limits attribute {name!r}")
    if name in ("limit", "inflight"):
        raise PermissionError(errno.EACCES, f"byte_queue_limits/{name} is read-only")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise OSError(errno.EINVAL, f"byte_queue_limits/{name}: {value!r}")
    dql = txq.dql
    if name == "hold_time":
        dql.slack_hold_time = value * 1_000_000
        return
    if value > DQL_MAX_LIMIT:
        raise OSError(errno.EINVAL, f"byte_queue_limits/{name}: {value} > {DQL_MAX_LIMIT}")
    if name == "limit_max":
        dql.max_limit = value
    else:
        dql.min_limit = value
    dql.limit = min(max(dql.limit, dql.min_limit), dql.max_limit)
    dql.adj_limit = dql.limit + dql.num_completed


netif_tx_start_all_queues = netif_start_queue
netif_tx_stop_all_queues = netif_stop_queue
netif_tx_wake_all_queues = netif_wake_queue
netif_tx_disable = netif_stop_queue


def netif_trans_update(dev: NetDevice) -> None:
    """Refresh ``trans_start`` (a driver that is busy but not stuck holds off the watchdog)."""
    dev._tx[0].trans_start = dev.kernel.sched.now
