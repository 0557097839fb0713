"""One emulated host's kernel: the state every netdev-core module hangs off.

Plays the part of Linux's globals and per-CPU data for one host (one CPU): ``printk`` and its
ring buffer (``dmesg``), tracepoints, the registered net_devices (``dev_base``), the protocol
handler tables (``ptype_base``/``ptype_all``, net/core/dev.c), the softirq table
(kernel/softirq.c), ``softnet_data``, pending timers, the system workqueue, the sysctls of
``net.core`` (``netdev_budget``, ``netdev_budget_usecs``, ``netdev_max_backlog``,
``dev_weight``) and a leak counter for skbs.

Contract: ``Kernel(sched, hostname)``; ``sched`` is the world's scheduler (``now``, ``rng``,
``call_at``/``call_later``/``call_soon``); nothing here reads a clock of its own.
``kernel.log(level, msg)`` appends ``LogRecord(time_ns, level, msg)`` to ``kernel.dmesg``;
``level`` is a printk level name (``"err"``, ``"warning"``, ``"info"``, ...) or number 0..7.
Tracepoints are the names in :data:`TRACEPOINTS`; ``kernel.tracers`` are callables
``fn(time_ns, event, fields)`` and hot paths only build the fields when a tracer is attached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from stack.core.dropreason import SkbDropReason
from stack.core.etherdevice import ETH_P_ALL
from stack.core.napi import SoftnetData, net_rx_action
from stack.core.qdisc import net_tx_action
from stack.core.softirq import NET_RX_SOFTIRQ, NET_TX_SOFTIRQ, Softirqs
from stack.core.workqueue import Workqueue

if TYPE_CHECKING:
    from stack.core.dev import PacketOffload, PacketType
    from stack.core.netdevice import NetDevice
    from stack.core.page import GuestRam
    from stack.core.timer import Timer
    from stack.core.workqueue import Work

LOGLEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
KERN_EMERG, KERN_ALERT, KERN_CRIT, KERN_ERR = "emerg", "alert", "crit", "err"
KERN_WARNING, KERN_NOTICE, KERN_INFO, KERN_DEBUG = "warning", "notice", "info", "debug"
_LEVEL_ALIASES = {"warn": "warning", "error": "err", "critical": "crit"}

# Every tracepoint, declared once (QEMU's trace-events): name -> the fields it carries.
TRACEPOINTS: dict[str, tuple[str, ...]] = {
    "printk": ("level", "msg"),
    "kfree_skb": ("skb", "reason"),
    "consume_skb": ("skb",),
    "netif_receive_skb": ("skb",),
    "net_dev_xmit": ("skb", "rc"),
    "net_dev_xmit_timeout": ("dev", "queue"),
    "napi_poll": ("napi", "work", "budget"),
    "softirq_entry": ("vec",),
    "timer_expire": ("name",),
    "workqueue_execute": ("name",),
    "carrier": ("dev", "on"),
    "operstate": ("dev", "old", "new"),
}


class SchedulerLike(Protocol):
    now: int
    rng: Any

    def call_at(self, when: int, fn: Callable[..., Any], *args: Any) -> Any: ...
    def call_later(self, delay: int, fn: Callable[..., Any], *args: Any) -> Any: ...
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> Any: ...


class LogRecord(NamedTuple):
    time_ns: int
    level: str
    msg: str


class Kernel:
    """One host's kernel state (see the module docstring)."""

    def __init__(self, sched: SchedulerLike, hostname: str = "localhost") -> None:
        self.sched = sched
        self.hostname = hostname
        # printk and tracepoints
        self.dmesg: list[LogRecord] = []
        # register_console: each console is called with every record below console_loglevel
        # (netconsole, stack/netconsole.py); console_busy keeps a console's own printk from
        # re-entering it (Linux's console_lock: the line stays in dmesg only).
        self.consoles: list[Callable[[LogRecord], None]] = []
        self.console_loglevel = 7  # CONSOLE_LOGLEVEL_DEFAULT: debug (7) stays off consoles
        self.console_busy = False
        self.tracers: list[Callable[[int, str, dict[str, Any]], None]] = []
        # skb accounting
        self.skb_live = 0
        self.pages_live = 0  # skb fragment pages alive (stack/core/page.py)
        # Guest RAM the pages for skb fragments come from (the host's; None: private pages)
        self.mem: GuestRam | None = None
        self.skb_allocs = 0
        self.skb_drops = 0
        self.drop_reasons: dict[SkbDropReason, int] = {}
        # net_devices, in registration order
        self.netdevs: dict[str, NetDevice] = {}
        self.ifindex_next = 1
        self.netdev_notifiers: list[Callable[[int, NetDevice], None]] = []
        self.linkwatch_events: dict[NetDevice, None] = {}
        self.linkwatch_work: Work | None = None
        # protocol handlers and offloads
        self.ptype_all: list[PacketType] = []
        self.ptype_base: dict[int, list[PacketType]] = {}
        self.offloads: dict[int, PacketOffload] = {}
        # net.core sysctls
        self.netdev_budget = 300
        self.netdev_budget_ns = 2_000_000
        self.netdev_max_backlog = 1000
        self.dev_weight = 64
        self.dev_tx_weight = 64
        self.default_qdisc = "pfifo_fast"  # net.core.default_qdisc
        # contexts
        self.softnet = SoftnetData()
        self.softirqs = Softirqs(sched, hostname)
        self.softirqs.open_softirq(NET_TX_SOFTIRQ, lambda: net_tx_action(self))
        self.softirqs.open_softirq(NET_RX_SOFTIRQ, lambda: net_rx_action(self))
        for vec in self.softirqs.vectors:
            if vec is not None:
                vec.on_entry = self._softirq_entry
        self.pending_timers: dict[Timer, None] = {}
        self.system_wq = Workqueue(self, "events")

    # -- printk and tracepoints ----------------------------------------------------------
    def log(self, level: str | int, msg: str) -> None:
        """printk: record ``msg`` at ``level`` in ``dmesg`` with the current time."""
        if isinstance(level, int):
            level = LOGLEVELS[level]
        else:
            level = _LEVEL_ALIASES.get(level, level)
            if level not in LOGLEVELS:
                raise ValueError(f"unknown log level {level!r}; use one of {LOGLEVELS}")
        record = LogRecord(self.sched.now, level, msg)
        self.dmesg.append(record)
        if self.tracers:
            self.trace("printk", level=level, msg=msg)
        if self.consoles and not self.console_busy \
                and LOGLEVELS.index(level) < self.console_loglevel:
            self.console_busy = True
            try:
                for console in list(self.consoles):
                    console(record)
            finally:
                self.console_busy = False

    def dmesg_text(self) -> str:
        """``dmesg`` as text: ``[    1.234567] message`` lines."""
        return "".join(f"[{t / 1e9:12.6f}] {msg}\n" for t, _level, msg in self.dmesg)

    def trace(self, event: str, **fields: Any) -> None:
        if event not in TRACEPOINTS:
            raise KeyError(f"undeclared tracepoint {event!r}")
        now = self.sched.now
        for tracer in self.tracers:
            tracer(now, event, fields)

    def _softirq_entry(self, name: str) -> None:
        if self.tracers:
            self.trace("softirq_entry", vec=name)

    # -- softirqs, timers, work ----------------------------------------------------------
    def raise_softirq(self, nr: int) -> None:
        self.softirqs.raise_softirq(nr)

    def timers(self) -> list[tuple[str, int]]:
        """Pending kernel timers as (name, expires_ns), soonest first (for the debugger)."""
        return sorted(((t.name, t.expires) for t in self.pending_timers), key=lambda e: e[1])

    def works(self) -> list[str]:
        """Names of pending items on the system workqueue."""
        return [w.name for w in self.system_wq.pending]

    def schedule_work(self, work: Work) -> bool:
        return self.system_wq.queue_work(work)

    # -- protocol handlers ---------------------------------------------------------------
    def dev_add_pack(self, pt: PacketType) -> None:
        """Register a receive handler: ETH_P_ALL taps see every frame, in and out."""
        if pt.type == ETH_P_ALL:
            self.ptype_all.append(pt)
        else:
            self.ptype_base.setdefault(pt.type, []).append(pt)

    def dev_remove_pack(self, pt: PacketType) -> None:
        handlers = self.ptype_all if pt.type == ETH_P_ALL else self.ptype_base.get(pt.type, [])
        if pt in handlers:
            handlers.remove(pt)

    def dev_add_offload(self, po: PacketOffload) -> None:
        """Register a protocol's software segmentation (used when a device lacks TSO)."""
        self.offloads[po.type] = po

    def dev_remove_offload(self, po: PacketOffload) -> None:
        if self.offloads.get(po.type) is po:
            del self.offloads[po.type]

    # -- device lookup -------------------------------------------------------------------
    def dev_get_by_name(self, name: str) -> NetDevice | None:
        return self.netdevs.get(name)

    def dev_get_by_index(self, ifindex: int) -> NetDevice | None:
        for dev in self.netdevs.values():
            if dev.ifindex == ifindex:
                return dev
        return None

    def __repr__(self) -> str:
        return f"<Kernel {self.hostname} devs={list(self.netdevs)} skb_live={self.skb_live}>"
