"""Carrier and link watch: ``netif_carrier_on/off`` and what follows a link change.

Mirrors Linux's ``net/core/link_watch.c`` and the carrier calls of ``net/sched/sch_generic.c``
(``netif_carrier_on``, ``netif_carrier_off``), plus ``netif_device_detach``/``attach``.

Contract: a driver calls ``netif_carrier_on/off`` from any context (its watchdog, its
link-status interrupt).  The state changes at once (``netif_carrier_ok``), and one link-watch
event per host, run from the system workqueue as its own event, then: recomputes
``operstate`` and IFF_RUNNING / IFF_LOWER_UP (``rfc2863_policy``), logs
``eth0: link watch: carrier on, operstate UP``, attaches (carrier on) or flushes (carrier off)
the qdisc of a device that is up, and notifies ``NETDEV_CHANGE``.  Linux delays carrier-off
events by up to a second to batch them; here both directions are handled at once.
"""

from __future__ import annotations

from stack.core.netdevice import (
    IFF_UP,
    NETDEV_CHANGE,
    NETREG_REGISTERED,
    NETREG_UNREGISTERED,
    NetDevice,
    call_netdevice_notifiers,
    rfc2863_policy,
)
from stack.core.qdisc import dev_activate, dev_deactivate, dev_watchdog_up
from stack.core.txqueue import netif_wake_queue
from stack.core.workqueue import Work, cancel_work_sync, schedule_work


def netif_carrier_on(dev: NetDevice) -> None:
    """The link is up: record it, and let the link-watch event do the rest."""
    if dev._carrier:
        return
    dev._carrier = True
    if dev.reg_state == NETREG_UNREGISTERED:
        return
    dev.carrier_up_count += 1
    _linkwatch_fire_event(dev)
    if dev.running:
        dev_watchdog_up(dev)


def netif_carrier_off(dev: NetDevice) -> None:
    if not dev._carrier:
        return
    dev._carrier = False
    if dev.reg_state == NETREG_UNREGISTERED:
        return
    dev.carrier_down_count += 1
    _linkwatch_fire_event(dev)


def _linkwatch_fire_event(dev: NetDevice) -> None:
    kernel = dev.kernel
    if kernel.tracers:
        kernel.trace("carrier", dev=dev.name, on=dev._carrier)
    if dev.reg_state != NETREG_REGISTERED:
        return
    kernel.linkwatch_events[dev] = None
    if kernel.linkwatch_work is None:
        kernel.linkwatch_work = Work(kernel, _linkwatch_event, "linkwatch_event")
    schedule_work(kernel.linkwatch_work)


def _linkwatch_event(work: Work) -> None:
    kernel = work.kernel
    events, kernel.linkwatch_events = kernel.linkwatch_events, {}
    for dev in events:
        if dev.reg_state != NETREG_REGISTERED:
            continue
        rfc2863_policy(dev)
        carrier = "on" if dev._carrier else "off"
        kernel.log("info", f"{dev.name}: link watch: carrier {carrier}, "
                   f"operstate {dev.operstate_name}")
        if dev.flags & IFF_UP:
            if dev._carrier:
                dev_activate(dev)
            else:
                dev_deactivate(dev)
            call_netdevice_notifiers(NETDEV_CHANGE, dev)


def linkwatch_sync_dev(dev: NetDevice) -> None:
    """Run pending link-watch work now if ``dev`` has an event (linkwatch_sync_dev)."""
    kernel = dev.kernel
    if dev in kernel.linkwatch_events and kernel.linkwatch_work is not None:
        cancel_work_sync(kernel.linkwatch_work)
        _linkwatch_event(kernel.linkwatch_work)


def netif_device_detach(dev: NetDevice) -> None:
    """The hardware went away (suspend, PCI error): stop transmitting."""
    if dev.present:
        dev.present = False
        if dev.running:
            for txq in dev._tx:
                txq.stopped = True
        rfc2863_policy(dev)


def netif_device_attach(dev: NetDevice) -> None:
    if not dev.present:
        dev.present = True
        rfc2863_policy(dev)
        if dev.running:
            netif_wake_queue(dev)
            dev_watchdog_up(dev)
