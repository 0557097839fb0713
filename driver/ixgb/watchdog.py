"""The driver's watchdog timer: link state, carrier, statistics and TX-hang arming.

Mirrors Linux's ``ixgb_watchdog`` (ixgb_main.c).  Spec: docs/hardware.md §2.9.

Runs every 2 s while the interface is up, and at the next timer tick when the interrupt
handler sees LSC or RXSEQ (``adapter.next_tick``).  It checks the link (STATUS.LU and
XPCSS.ALIGN_STATUS, with a link reset when either is missing), forces the reset path on a
bad link, reports carrier changes with Linux's "NIC Link is Up 10 Gbps Full Duplex, Flow
Control: ..." line, folds the hardware counters in, schedules the reset task when the link
is gone with TX work stranded, arms the TX hang check and raises ICS = TXDW so one clean-up
pass runs.  A STATUS that reads all-ones first goes to the removed-device check of
:mod:`driver.ixgb.intr` (a card can vanish while no interrupt is pending).
"""

from __future__ import annotations

from typing import Any

from device.spec import regs as R
from driver.ixgb import hw as hwmod
from driver.ixgb.adapter import FC_NAMES, FULL_DUPLEX, HZ_NS, Adapter, desc_unused
from driver.ixgb.intr import IXGB_FAILED_READ_REG, check_remove
from stack.core import (
    IFF_ALLMULTI,
    IFF_PROMISC,
    netdev_mc_count,
    netif_carrier_off,
    netif_carrier_ok,
    netif_carrier_on,
    netif_stop_queue,
    schedule_work,
)

WATCHDOG_PERIOD_NS = 2 * HZ_NS


def update_stats(adapter: Adapter) -> None:
    """ixgb_update_stats: accumulate the hardware counters (see hw.update_stats)."""
    netdev = adapter.netdev
    hwmod.update_stats(adapter, bool(netdev.flags & IFF_PROMISC),
                       bool(netdev.flags & IFF_ALLMULTI), netdev_mc_count(netdev))


def watchdog(adapter: Adapter, timer: Any = None) -> None:
    """The timer callback (``timer`` is the expiring Timer, unused as in Linux)."""
    netdev = adapter.netdev
    hw = adapter.hw
    txdr = adapter.tx_ring
    if hw.read32(R.STATUS) == IXGB_FAILED_READ_REG and check_remove(adapter):
        return  # the device is gone (igb_watchdog's reads find it as igb_rd32 does)
    hwmod.check_for_link(hw)
    if hwmod.check_for_bad_link(hw):
        netif_stop_queue(netdev)  # force the reset path
    if hw.link_up:
        if not netif_carrier_ok(netdev):
            adapter.log("info", "NIC Link is Up 10 Gbps Full Duplex, Flow Control: "
                        f"{FC_NAMES.get(hw.fc.type, 'None')}")
            adapter.link_speed = 10000
            adapter.link_duplex = FULL_DUPLEX
            netif_carrier_on(netdev)
    elif netif_carrier_ok(netdev):
        adapter.link_speed = 0
        adapter.link_duplex = 0
        adapter.log("info", "NIC Link is Down")
        netif_carrier_off(netdev)
    update_stats(adapter)
    if not netif_carrier_ok(netdev) and desc_unused(txdr) + 1 < txdr.count:
        # The link is gone, the controller stopped DMA, and queued TX work would never
        # complete: reset (outside interrupt context) to flush it.  Reset is imminent.
        schedule_work(adapter.tx_timeout_task)
        return
    adapter.detect_tx_hung = True  # force detection of a hung controller every period
    hw.write32(R.ICS, R.INT_TXDW)  # an interrupt to clean up any stragglers
    adapter.watchdog_timer.mod_timer(adapter.sched.now + WATCHDOG_PERIOD_NS)
