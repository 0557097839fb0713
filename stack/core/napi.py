"""NAPI: interrupt-mitigated receive polling, and the NET_RX softirq that drives it.

Mirrors Linux's ``napi_struct`` API in ``include/linux/netdevice.h`` and ``net/core/dev.c``
(``netif_napi_add``, ``napi_schedule_prep``, ``__napi_schedule``, ``napi_complete_done``,
``napi_enable``/``napi_disable``, ``net_rx_action``) and ``struct softnet_data``.

Contract, as a driver sees it:
- ``netif_napi_add(dev, napi, poll, weight=64)``; the instance starts *disabled* (owned by
  nobody, schedule_prep fails) until ``napi_enable``.  ``poll(napi, budget) -> work_done``.
- The hard-IRQ handler masks the device's interrupts only when ``napi_schedule_prep`` says it
  won ownership, then calls ``__napi_schedule`` -- spelled ``napi_schedule_prepped`` inside a
  class body, where Python would mangle the double underscore -- which raises NET_RX: the poll
  runs later, as its own event, never inside the handler.  An interrupt while the instance
  is already scheduled sets MISSED, and ``napi_complete_done`` then schedules it again
  instead of completing (so the driver does not re-enable interrupts and lose the event).
- A poll that did less than its budget calls ``napi_complete_done(napi, work_done)`` and, if
  that returns True, re-enables interrupts.  Completing first passes up every skb GRO held
  (``napi_gro_flush``).  A poll that used its whole weight must not complete: the core still
  owns the instance, flushes what GRO held and polls it again.

NET_RX (``net_rx_action``): one event polls the instances on the list round-robin, each with
its weight, until the list is empty, ``netdev_budget`` (300) packets are spent or
``netdev_budget_ns`` (2 ms) passed.  As in Linux 4.x+, the window is checked after each poll:
every run polls at least once, running out counts a ``time_squeeze`` (even when that poll
emptied the list) and left-over work re-raises NET_RX as a new event.  Full-weight
instances go to the tail of the same list (the pre-3.19 order); newer kernels only repoll
in the next softirq pass, which ``__do_softirq`` starts at once, so the order of polls is the
same.  Virtual time does not pass inside one event, so the
time limit only bites when something charges CPU time to the clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.gro import GroCb, napi_gro_flush
from stack.core.skbfree import kfree_skb
from stack.core.skbqueue import SkBuffHead
from stack.core.skbuff import SkBuff
from stack.core.softirq import NET_RX_SOFTIRQ

if TYPE_CHECKING:
    from stack.core.kernel import Kernel
    from stack.core.netdevice import NetDevice

NAPI_POLL_WEIGHT = 64

PollFn = Callable[["NapiStruct", int], int]


class NapiStruct:
    """One NAPI context (Linux's ``struct napi_struct``)."""

    __slots__ = (
        "dev", "kernel", "poll", "weight", "sched", "missed", "disabled", "listed",
        "polls", "work", "name", "gro_list",
    )  # fmt: skip

    def __init__(self, name: str = "") -> None:
        self.dev: NetDevice | None = None
        self.kernel: Kernel | None = None
        self.poll: PollFn | None = None
        self.weight = NAPI_POLL_WEIGHT
        self.sched = True  # NAPI_STATE_SCHED: set while scheduled, and while disabled
        self.missed = False  # NAPI_STATE_MISSED
        self.disabled = True  # napi_disable()d (Linux: SCHED + NPSVC held by the disabler)
        self.listed = False  # on the softnet poll_list
        self.polls = 0  # how many times poll() ran
        self.work = 0  # packets those polls reported
        self.name = name
        self.gro_list: list[GroCb] = []  # held GRO flows, oldest first (stack/core/gro.py)

    def __repr__(self) -> str:
        state = "disabled" if self.disabled else ("scheduled" if self.sched else "idle")
        return f"<NapiStruct {self.name} {state} weight={self.weight} polls={self.polls}>"


class SoftnetData:
    """Per-CPU receive/transmit state and counters (Linux's ``struct softnet_data``)."""

    def __init__(self) -> None:
        self.poll_list: deque[NapiStruct] = deque()
        self.output_queue: deque[Any] = deque()  # qdiscs scheduled by __netif_schedule
        self.completion_queue: list[tuple[SkBuff, SkbDropReason]] = []  # dev_kfree_skb_irq
        self.input_pkt_queue = SkBuffHead()  # netif_rx backlog
        self.backlog: NapiStruct | None = None
        self.processed = 0  # packets through netif_receive_skb
        self.dropped = 0  # netif_rx backlog overflows
        self.time_squeeze = 0  # NET_RX ran out of budget or time with work left
        self.polls = 0  # NAPI polls run

    def stat(self) -> dict[str, int]:
        """The ``/proc/net/softnet_stat`` columns we keep."""
        return {
            "processed": self.processed,
            "dropped": self.dropped,
            "time_squeeze": self.time_squeeze,
            "polls": self.polls,
        }


def netif_napi_add(
    dev: NetDevice, napi: NapiStruct, poll: PollFn, weight: int = NAPI_POLL_WEIGHT
) -> NapiStruct:
    """Attach ``napi`` to ``dev`` with its poll function; it stays disabled until enabled."""
    kernel = dev.kernel
    if weight > NAPI_POLL_WEIGHT:
        kernel.log("err", f"netif_napi_add() called with weight {weight}")
    napi.dev = dev
    napi.kernel = kernel
    napi.poll = poll
    napi.weight = weight
    napi.sched = True
    napi.disabled = True
    napi.missed = False
    if not napi.name:
        napi.name = f"{dev.name} napi{len(dev.napi_list)}"
    dev.napi_list.append(napi)
    return napi


def netif_napi_del(napi: NapiStruct) -> None:
    napi_disable(napi)
    held, napi.gro_list = napi.gro_list, []
    for cb in held:  # flush_gro_hash
        kfree_skb(cb.skb, SkbDropReason.NOT_SPECIFIED)
    if napi.dev is not None and napi in napi.dev.napi_list:
        napi.dev.napi_list.remove(napi)


def napi_enable(napi: NapiStruct) -> None:
    napi.disabled = False
    napi.missed = False
    napi.sched = False


def napi_disable(napi: NapiStruct) -> None:
    """Stop the instance: take it off the poll list and hold it so nothing schedules it.

    Linux sleeps until a running poll finishes; nothing runs concurrently here, so an
    instance waiting on the poll list is simply removed.
    """
    if napi.listed and napi.kernel is not None:
        napi.kernel.softnet.poll_list.remove(napi)
        napi.listed = False
    napi.disabled = True
    napi.sched = True
    napi.missed = False


def napi_schedule_prep(napi: NapiStruct) -> bool:
    """Try to take ownership for a poll; False if disabled or already scheduled (MISSED)."""
    if napi.disabled:
        return False
    if napi.sched:
        napi.missed = True
        return False
    napi.sched = True
    return True


def __napi_schedule(napi: NapiStruct) -> None:
    """Put an instance we own on the poll list and raise NET_RX (never polls inline)."""
    kernel = napi.kernel
    assert kernel is not None, "napi used before netif_napi_add"
    if not napi.listed:
        napi.listed = True
        kernel.softnet.poll_list.append(napi)
    kernel.softirqs.raise_softirq(NET_RX_SOFTIRQ)


# Python mangles ``__napi_schedule`` written inside a class body (a driver's IRQ handler is
# usually a method), so drivers call it by this name.
napi_schedule_prepped = __napi_schedule


def napi_schedule(napi: NapiStruct) -> bool:
    if napi_schedule_prep(napi):
        __napi_schedule(napi)
        return True
    return False


napi_schedule_irqoff = napi_schedule


def napi_complete_done(napi: NapiStruct, work_done: int) -> bool:
    """End a poll that did less than its budget; True if the driver may re-enable IRQs.

    False when an interrupt came in during the poll (MISSED): the instance is scheduled
    again instead.  Completing after using the whole weight is a driver bug (the core owns
    the instance then): it is logged and refused.
    """
    kernel = napi.kernel
    assert kernel is not None, "napi used before netif_napi_add"
    if work_done >= napi.weight > 0:
        kernel.log("warning", f"{napi.name}: napi_complete_done({work_done}) with weight "
                   f"{napi.weight}: a poll that used its budget must not complete")
        return False
    if napi.disabled or not napi.sched:
        return False
    if napi.gro_list:
        napi_gro_flush(napi)
    if napi.missed:
        napi.missed = False
        __napi_schedule(napi)
        return False
    napi.sched = False
    return True


def napi_complete(napi: NapiStruct) -> bool:
    return napi_complete_done(napi, 0)


def net_rx_action(kernel: Kernel) -> None:
    """The NET_RX softirq: poll scheduled NAPI instances within the budget."""
    sd = kernel.softnet
    poll_list = sd.poll_list
    sched = kernel.sched
    budget = kernel.netdev_budget
    time_limit = sched.now + kernel.netdev_budget_ns
    tracing = bool(kernel.tracers)
    while poll_list:
        napi = poll_list.popleft()
        napi.listed = False
        if napi.disabled or not napi.sched:
            continue
        weight = napi.weight
        poll = napi.poll
        assert poll is not None
        work = poll(napi, weight)
        napi.polls += 1
        napi.work += work
        sd.polls += 1
        if tracing:
            kernel.trace("napi_poll", napi=napi.name, work=work, budget=weight)
        if work > weight:
            kernel.log("err", f"{napi.name}: poll returned {work} > weight {weight}")
        budget -= work
        if work >= weight and napi.gro_list:
            napi_gro_flush(napi)
        if work >= weight and napi.sched and not napi.disabled and not napi.listed:
            napi.listed = True
            poll_list.append(napi)
        # The window is checked after each poll, as Linux does: every run polls at least once
        # (a budget of 0 or 1 still makes progress), and running out counts a squeeze.
        if budget <= 0 or sched.now >= time_limit:
            sd.time_squeeze += 1
            if poll_list:
                kernel.softirqs.raise_softirq(NET_RX_SOFTIRQ)
            return
