"""Bringing the interface up and down: open/close, up/down/reset, and what cycles them.

Mirrors Linux's ``ixgb_open``/``ixgb_close``, ``ixgb_up``/``ixgb_down``/``ixgb_reset``, and
the operations that reprogram the part through a down/up cycle or a reset: ``ixgb_change_mtu``,
``ixgb_set_features``, ``ixgb_set_speed_duplex``, ``ixgb_tx_timeout`` with its task, and the
removed-device task (``ixgb_main.c``; the last as ixgbe's service task).  Spec:
docs/hardware.md §2.2, §2.3, §2.10.

MSI as Linux: ``up`` tries ``pci_enable_msi`` only when STATUS.PCIX_MODE says the bus runs in
PCI-X mode (``w.host(..., msi=True)`` puts the NIC in such a slot), falls back to the shared
INTx line when it fails, and ``down`` frees the IRQ and disables MSI; the same ``intr``
handler serves both.  ``have_msi`` is cleared when MSI is disabled (Linux leaves it set,
harmlessly).
"""

from __future__ import annotations

import errno
from typing import Any

from device.spec import regs as R
from driver.ixgb import hw
from driver.ixgb.adapter import (
    DOWN,
    ENET_FCS_LENGTH,
    ENET_HEADER_SIZE,
    FULL_DUPLEX,
    MAX_ENET_FRAME_SIZE_WITHOUT_FCS,
    REMOVED,
    Adapter,
    Hw,
    desc_unused,
    next_tick,
)
from driver.ixgb.intr import intr, irq_disable, irq_enable
from driver.ixgb.ring import (
    clean_rx_ring,
    clean_tx_ring,
    configure_rx,
    configure_tx,
    free_rx_resources,
    free_tx_resources,
    setup_rctl,
    setup_rx_resources,
    setup_tx_resources,
)
from driver.ixgb.rx import alloc_rx_buffers
from driver.ixgb.rxfilter import restore_vlan, set_multi
from stack.core import (
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_RXCSUM,
    NetDevice,
    napi_disable,
    napi_enable,
    netif_carrier_off,
    netif_carrier_on,
    netif_device_detach,
    netif_running,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
    schedule_work,
)


# -- open and close ----------------------------------------------------------------------------
def open_(netdev: NetDevice) -> int:
    """ndo_open: rings, then ixgb_up."""
    adapter: Adapter = netdev.priv
    err = setup_tx_resources(adapter)
    if err:
        reset(adapter)
        return err
    netif_carrier_off(netdev)
    err = setup_rx_resources(adapter)
    if err:
        free_tx_resources(adapter)
        reset(adapter)
        return err
    err = up(adapter)
    if err:
        free_rx_resources(adapter)
        free_tx_resources(adapter)
        reset(adapter)
        return err
    netif_start_queue(netdev)
    return 0


def close(netdev: NetDevice) -> int:
    """ndo_stop: ixgb_down, then free the rings.  Never fails."""
    adapter: Adapter = netdev.priv
    down(adapter, True)
    free_tx_resources(adapter)
    free_rx_resources(adapter)
    return 0


def up(adapter: Adapter) -> int:
    """Program the hardware after a reset and start it.  Spec: docs/hardware.md §2.3."""
    netdev = adapter.netdev
    h = adapter.hw
    max_frame = netdev.mtu + ENET_HEADER_SIZE + ENET_FCS_LENGTH
    hw.rar_set(h, netdev.dev_addr, 0)
    set_multi(netdev)
    restore_vlan(adapter)
    configure_tx(adapter)
    setup_rctl(adapter)
    configure_rx(adapter)
    alloc_rx_buffers(adapter, desc_unused(adapter.rx_ring))
    h.write32(R.IMC, 0xFFFFFFFF)  # interrupts off: get the hardware into a known state
    pdev = adapter.pdev
    if h.read32(R.STATUS) & R.STATUS_PCIX_MODE:  # only enable MSI if the bus is in PCI-X mode
        adapter.have_msi = pdev.enable_msi() == 0  # else: the regular interrupt below
    try:
        pdev.request_irq(lambda irq: intr(adapter, irq), netdev.name)
    except RuntimeError as exc:
        if adapter.have_msi:
            pdev.disable_msi()
            adapter.have_msi = False
        adapter.log("err", f"Unable to allocate interrupt Error: {exc}")
        return -errno.EBUSY
    adapter.irq_requested = True
    if h.max_frame_size != max_frame or h.max_frame_size != h.read32(R.MFS) >> R.MFS_SHIFT:
        h.max_frame_size = max_frame
        h.write32(R.MFS, max_frame << R.MFS_SHIFT)
        _enable_jumbo_if_needed(h)
    adapter.flags.discard(DOWN)
    napi_enable(adapter.napi)
    irq_enable(adapter)
    netif_wake_queue(netdev)
    adapter.watchdog_timer.mod_timer(next_tick(adapter.sched.now))
    return 0


def _enable_jumbo_if_needed(h: Hw) -> None:
    if h.max_frame_size > MAX_ENET_FRAME_SIZE_WITHOUT_FCS + ENET_FCS_LENGTH:
        ctrl0 = h.read32(R.CTRL0)
        if not ctrl0 & R.CTRL0_JFE:
            h.write32(R.CTRL0, ctrl0 | R.CTRL0_JFE)


def down(adapter: Adapter, kill_watchdog: bool) -> None:
    """Stop everything and reset the part; free every buffer.  Spec: docs/hardware.md §2.10."""
    netdev = adapter.netdev
    adapter.flags.add(DOWN)  # keeps the interrupt handler from re-arming the watchdog
    netif_carrier_off(netdev)
    napi_disable(adapter.napi)
    irq_disable(adapter)  # a NAPI poll that completed may have re-enabled interrupts
    if adapter.irq_requested:
        adapter.pdev.free_irq()
        adapter.irq_requested = False
    if adapter.have_msi:
        adapter.pdev.disable_msi()
        adapter.have_msi = False
    if kill_watchdog:
        adapter.watchdog_timer.del_timer()
    adapter.link_speed = 0
    adapter.link_duplex = 0
    netif_stop_queue(netdev)
    reset(adapter)
    clean_tx_ring(adapter)
    clean_rx_ring(adapter)


def reset(adapter: Adapter) -> None:
    """adapter_stop + init_hw, then the frame size (and JFE) again.  Spec: §2.2.  Nothing
    once the device is gone (``ixgbe_reset``'s ``ixgbe_removed`` check)."""
    if REMOVED in adapter.flags:
        return
    h = adapter.hw
    hw.adapter_stop(h)
    if not hw.init_hw(h):
        adapter.log("err", "ixgb_init_hw failed")
    h.write32(R.MFS, h.max_frame_size << R.MFS_SHIFT)
    _enable_jumbo_if_needed(h)


def change_mtu(netdev: NetDevice, new_mtu: int) -> int:
    """ndo_change_mtu: down, new rx_buffer_len (max frame + 8), up.  Spec: §2.10."""
    adapter: Adapter = netdev.priv
    max_frame = new_mtu + ENET_HEADER_SIZE + ENET_FCS_LENGTH
    running = netif_running(netdev)
    if running:
        down(adapter, True)
    adapter.rx_buffer_len = max_frame + 8  # + 8 for errata
    netdev.mtu = new_mtu
    if running:
        return up(adapter)
    return 0


def set_features(netdev: NetDevice, features: int) -> int:
    """Only RXCSUM and VLAN stripping need the hardware reprogrammed (down/up or reset)."""
    adapter: Adapter = netdev.priv
    changed = features ^ netdev.features
    if not changed & (NETIF_F_RXCSUM | NETIF_F_HW_VLAN_CTAG_RX):
        return 0
    adapter.rx_csum = bool(features & NETIF_F_RXCSUM)
    # The core stores ``features`` only after we return, but set_multi (run by up) decides
    # VLAN stripping from them: ixsim lets it see the new set (Linux's up saw the old one).
    old = netdev.features
    netdev.features = features
    try:
        if netif_running(netdev):
            down(adapter, True)
            up(adapter)
            set_speed_duplex(netdev)
        else:
            reset(adapter)
    finally:
        netdev.features = old
    return 0


def set_speed_duplex(netdev: NetDevice) -> None:
    """Be optimistic about the link after a reconfiguration, since it was up before."""
    adapter: Adapter = netdev.priv
    adapter.link_speed = 10000
    adapter.link_duplex = FULL_DUPLEX
    netif_carrier_on(netdev)
    netif_wake_queue(netdev)


# -- TX timeout --------------------------------------------------------------------------------
def tx_timeout(netdev: NetDevice, txqueue: int) -> None:
    """ndo_tx_timeout: reset outside interrupt context, from the workqueue."""
    schedule_work(netdev.priv.tx_timeout_task)


def tx_timeout_task(adapter: Adapter, work: Any = None) -> None:
    adapter.tx_timeout_count += 1
    down(adapter, True)
    up(adapter)


def removed_task(adapter: Adapter, work: Any = None) -> None:
    """The device is gone (intr.remove_adapter): detach and bring the interface down, as
    ixgbe's service task does when ``ixgbe_removed``; ``down`` frees the IRQ, and its
    register accesses go nowhere.  The PCI core's remove (pciehp) may follow."""
    netdev = adapter.netdev
    netif_device_detach(netdev)
    netif_carrier_off(netdev)
    if netif_running(netdev) and not adapter.down:
        down(adapter, True)
    adapter.watchdog_timer.del_timer()
