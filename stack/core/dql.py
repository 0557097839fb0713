"""Dynamic queue limits: how many bytes a TX queue may have in flight in the device.

Mirrors Linux's ``lib/dynamic_queue_limits.c`` (``dql_queued``, ``dql_avail``,
``dql_completed``, ``dql_reset``, ``dql_init``), the engine of Byte Queue Limits
(``netdev_tx_sent_queue`` / ``netdev_tx_completed_queue`` in ``stack/core/netdevice.py``).
The limit is the number of bytes the driver may hand to the hardware before the queue is
stopped (``__QUEUE_STATE_STACK_XOFF``); each completion batch adapts it:

* **starved** (the queue was over its limit and the hardware has emptied it, or was over
  its limit in the previous interval and everything queued then has completed): the limit
  grows by what was queued and completed since the last completion, plus the previous
  over-limit;
* **busy the whole interval**: the *slack* (what stayed queued beyond what the interval
  needed: the limit plus the previous over-limit less twice what completed, or the part of
  the last enqueue above the previous over-limit) is measured, and the lowest slack seen
  over ``slack_hold_time`` is taken off the limit;
* the limit stays within ``[min_limit, max_limit]``.

Counters are Python ints that never wrap, so Linux's modular comparisons (``POSDIFF``,
``AFTER_EQ`` on 32-bit counters) are plain ones here; the results are the same.  Time is
the kernel's clock in ns (jiffies in Linux); the hold time defaults to one second (``HZ``,
``netdev_queue_init``).  Linux 6.x's stall detector (``stall_thrs``) is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable

UINT_MAX = 0xFFFF_FFFF
DQL_MAX_OBJECT = UINT_MAX // 16
DQL_MAX_LIMIT = UINT_MAX // 2 - DQL_MAX_OBJECT
DQL_HOLD_TIME_NS = 1_000_000_000  # HZ: netdev_queue_init's dql_init(&q->dql, HZ)


class Dql:
    """One queue's ``struct dql``; ``clock`` returns the time in ns."""

    __slots__ = (
        "clock",
        "num_queued",
        "adj_limit",
        "last_obj_cnt",
        "limit",
        "num_completed",
        "prev_ovlimit",
        "prev_num_queued",
        "prev_last_obj_cnt",
        "lowest_slack",
        "slack_start_time",
        "max_limit",
        "min_limit",
        "slack_hold_time",
    )

    def __init__(self, clock: Callable[[], int], hold_time_ns: int = DQL_HOLD_TIME_NS) -> None:
        """``dql_init``: no bounds but DQL_MAX_LIMIT, then ``reset``."""
        self.clock = clock
        self.max_limit = DQL_MAX_LIMIT
        self.min_limit = 0
        self.slack_hold_time = hold_time_ns
        self.reset()

    def reset(self) -> None:
        """``dql_reset``: forget every count; the limit restarts at ``min_limit``."""
        self.limit = self.min_limit
        self.num_queued = 0
        self.num_completed = 0
        self.last_obj_cnt = 0
        self.prev_num_queued = 0
        self.prev_last_obj_cnt = 0
        self.prev_ovlimit = 0
        self.lowest_slack = UINT_MAX
        self.slack_start_time = self.clock()
        self.adj_limit = self.limit + self.num_completed

    @property
    def inflight(self) -> int:
        """Bytes queued to the device and not completed (sysfs ``inflight``)."""
        return self.num_queued - self.num_completed

    def queued(self, count: int) -> None:
        """``dql_queued``: ``count`` bytes were handed to the device."""
        if count > DQL_MAX_OBJECT:
            raise ValueError(f"dql_queued: {count} bytes exceed DQL_MAX_OBJECT")
        self.last_obj_cnt = count
        self.num_queued += count

    def avail(self) -> int:
        """``dql_avail``: bytes that may still be queued (negative: over the limit)."""
        return self.adj_limit - self.num_queued

    def completed(self, count: int) -> None:
        """``dql_completed``: the device finished ``count`` bytes; adapt the limit."""
        num_queued = self.num_queued
        if count > num_queued - self.num_completed:
            raise ValueError(
                f"dql_completed: {count} bytes but only {num_queued - self.num_completed} in flight"
            )
        completed = self.num_completed + count
        limit = self.limit
        ovlimit = max(num_queued - self.num_completed - limit, 0)
        inprogress = num_queued - completed
        prev_inprogress = self.prev_num_queued - self.num_completed
        all_prev_completed = completed >= self.prev_num_queued

        if (ovlimit and not inprogress) or (self.prev_ovlimit and all_prev_completed):
            # Starved: grow by what was sent and completed in the interval, plus the
            # previous over-limit.
            limit += max(completed - self.prev_num_queued, 0) + self.prev_ovlimit
            self.slack_start_time = self.clock()
            self.lowest_slack = UINT_MAX
        elif inprogress and prev_inprogress and not all_prev_completed:
            # Busy the whole interval: shrink by the lowest slack seen over the hold time.
            slack = max(limit + self.prev_ovlimit - 2 * (completed - self.num_completed), 0)
            slack_last_objs = (
                max(self.prev_last_obj_cnt - self.prev_ovlimit, 0) if self.prev_ovlimit else 0
            )
            slack = max(slack, slack_last_objs)
            if slack < self.lowest_slack:
                self.lowest_slack = slack
            now = self.clock()
            if now > self.slack_start_time + self.slack_hold_time:
                limit = max(limit - self.lowest_slack, 0)
                self.slack_start_time = now
                self.lowest_slack = UINT_MAX

        limit = min(max(limit, self.min_limit), self.max_limit)
        if limit != self.limit:
            self.limit = limit
            ovlimit = 0
        self.adj_limit = limit + completed
        self.prev_ovlimit = ovlimit
        self.prev_last_obj_cnt = self.last_obj_cnt
        self.num_completed = completed
        self.prev_num_queued = num_queued
