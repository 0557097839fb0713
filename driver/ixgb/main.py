"""The driver's probe and remove, its PCI error handlers and its ``net_device_ops`` table.

Mirrors Linux's ``ixgb_main.c`` entry points: ``ixgb_probe``, ``ixgb_remove``,
``ixgb_sw_init``, the PCI error handlers ``ixgb_io_error_detected``/``ixgb_io_slot_reset``/
``ixgb_io_resume``, and ``ixgb_netdev_ops``.  Linux keeps the whole life cycle in that one
file; ixsim splits it by concept, as it does the data path (``tx``/``rx``/``intr``/
``watchdog``): bringing the interface up and down is :mod:`driver.ixgb.updown`, the rings
:mod:`driver.ixgb.ring`, receive filters, MAC address and VLANs :mod:`driver.ixgb.rxfilter`.
Spec: docs/hardware.md §2.1, §2.2.

Differences, said out loud: there is no I/O BAR and no DMA mask to negotiate; a failed probe
raises :class:`ProbeError` (Linux returns -EIO) after undoing everything it did.
"""

from __future__ import annotations

import errno
from typing import Any

from device.spec.bus import (
    PCI_ERS_RESULT_DISCONNECT,
    PCI_ERS_RESULT_NEED_RESET,
    PCI_ERS_RESULT_RECOVERED,
    PciDevice,
    PciErrorHandlers,
    pci_channel_io_perm_failure,
)
from device.spec.eeprom import EEPROM_INIT_CTRL1
from device.spec.ids import (
    IXGB_DEVICE_ID_82597EX,
    IXGB_DEVICE_ID_82597EX_CX4,
    IXGB_DEVICE_ID_82597EX_LR,
    IXGB_DEVICE_ID_82597EX_SR,
)
from driver.ixgb import ee, param
from driver.ixgb.adapter import (
    DOWN,
    ENET_FCS_LENGTH,
    ENET_HEADER_SIZE,
    ETH_MIN_MTU,
    HZ_NS,
    MAC_82597,
    MAX_JUMBO_FRAME_SIZE,
    Adapter,
    Hw,
    next_tick,
)
from driver.ixgb.intr import clean
from driver.ixgb.rxfilter import (
    fix_features,
    set_mac,
    set_multi,
    vlan_rx_add_vid,
    vlan_rx_kill_vid,
)
from driver.ixgb.tx import features_check, xmit_frame
from driver.ixgb.updown import (
    change_mtu,
    close,
    down,
    open_,
    removed_task,
    reset,
    set_features,
    tx_timeout,
    tx_timeout_task,
    up,
)
from driver.ixgb.watchdog import watchdog
from stack.core import (
    ETH_HLEN,
    NETIF_F_HIGHDMA,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_FILTER,
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    NETIF_F_TSO6,
    NapiStruct,
    NetDevice,
    NetDeviceOps,
    Timer,
    Work,
    alloc_etherdev,
    cancel_work_sync,
    eth_hw_addr_set,
    free_netdev,
    is_valid_ether_addr,
    netif_carrier_off,
    netif_device_attach,
    netif_device_detach,
    netif_napi_add,
    netif_napi_del,
    netif_running,
    netif_stop_queue,
    register_netdev,
    unregister_netdev,
)

DRIVER_STRING = "Intel(R) PRO/10GbE Network Driver"
SUPPORTED_DEVICES = (IXGB_DEVICE_ID_82597EX, IXGB_DEVICE_ID_82597EX_CX4, IXGB_DEVICE_ID_82597EX_LR,
                     IXGB_DEVICE_ID_82597EX_SR)
WATCHDOG_TIMEO_NS = 5 * HZ_NS
DEFAULT_MSG_ENABLE = 0x7  # NETIF_MSG_DRV | NETIF_MSG_PROBE | NETIF_MSG_LINK


class ProbeError(OSError):
    """probe failed; the message is the kernel log line (``ixgb <pci>: <reason>``)."""


# -- probe and remove --------------------------------------------------------------------------
def probe(
    kernel: Any, pdev: PciDevice, params: dict[str, Any], ethtool_ops: Any
) -> NetDevice:
    """Bring up one 82597EX: PCI, BAR0, EEPROM, MAC, registration, reset.

    Spec: docs/hardware.md §2.1.  Raises ProbeError (and leaves nothing behind: no net_device,
    no IRQ, no DMA mapping, the PCI device disabled) on a bad EEPROM or MAC address.
    """
    param.validate_params(params)
    pdev.enable_device()
    pdev.set_master()
    netdev = alloc_etherdev(kernel)
    adapter = Adapter(kernel, netdev, pdev, Hw(pdev.iomap(0)))
    netdev.priv = adapter
    netdev.parent = pdev
    pdev.set_drvdata(netdev)
    netdev.driver_name = "ixgb"
    netdev.irq = pdev.irq
    debug = params.get("debug", -1)
    adapter.msg_enable = DEFAULT_MSG_ENABLE if not 0 <= debug < 32 else (1 << debug) - 1
    netdev.netdev_ops = NETDEV_OPS
    netdev.ethtool_ops = ethtool_ops
    netdev.watchdog_timeo = WATCHDOG_TIMEO_NS
    adapter.napi = NapiStruct()
    netif_napi_add(netdev, adapter.napi, clean, 64)
    netdev.name = pdev.name  # until register_netdev names it eth%d, as Linux does

    def fail(reason: str) -> ProbeError:
        message = f"ixgb {pdev.name}: {reason}"
        kernel.log("err", message)
        netif_napi_del(adapter.napi)
        free_netdev(netdev)
        pdev.disable_device()
        return ProbeError(errno.EIO, message)

    sw_init(adapter)
    # NETIF_F_TSO6: the context descriptor's CMD.IP clear is IPv6 TSO (docs/hardware.md §2.5);
    # Linux's ixgb leaves it out, ixsim's driver offers it (a stated deviation)
    netdev.hw_features = (NETIF_F_SG | NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_HW_CSUM
                          | NETIF_F_HW_VLAN_CTAG_TX | NETIF_F_HW_VLAN_CTAG_RX)
    netdev.features = netdev.hw_features | NETIF_F_HW_VLAN_CTAG_FILTER
    netdev.hw_features |= NETIF_F_RXCSUM
    # Linux leaves RXCSUM out of features, so ethtool showed rx-checksumming off while XsumRX
    # had it on; ixsim starts it on and clears it below when XsumRX=0.
    netdev.features |= NETIF_F_RXCSUM | NETIF_F_HIGHDMA
    netdev.vlan_features |= NETIF_F_HIGHDMA
    netdev.min_mtu = ETH_MIN_MTU
    netdev.max_mtu = MAX_JUMBO_FRAME_SIZE - ETH_HLEN  # 16114

    # The EEPROM must be good before anything resets the part.
    h = adapter.hw
    if not ee.validate_eeprom_checksum(h):
        raise fail("The EEPROM Checksum Is Not Valid")
    if not ee.check_and_get_eeprom_data(h):
        # Linux reports this as "Invalid MAC Address" (the MAC reads back as zeros);
        # ixsim names the real cause.
        raise fail(f"The EEPROM Signature Is Not Valid (word 0x{EEPROM_INIT_CTRL1:02X} = "
                   f"0x{h.eeprom[EEPROM_INIT_CTRL1]:04x}, bits 15:14 must be 01b)")
    eth_hw_addr_set(netdev, ee.get_ee_mac_addr(h))
    if not is_valid_ether_addr(netdev.dev_addr):
        raise fail(f"Invalid MAC Address {netdev.dev_addr.hex(':')}")
    adapter.part_num = ee.get_ee_pba_number(h)
    adapter.watchdog_timer = Timer(kernel, lambda t: watchdog(adapter, t),
                                   f"ixgb {pdev.name} watchdog")
    adapter.tx_timeout_task = Work(kernel, lambda w: tx_timeout_task(adapter, w),
                                   f"ixgb {pdev.name} tx_timeout_task")
    adapter.remove_task = Work(kernel, lambda w: removed_task(adapter, w),
                               f"ixgb {pdev.name} remove_task")
    netdev.name = "eth%d"
    err = register_netdev(netdev)
    if err:
        raise fail(f"register_netdev failed ({err})")
    adapter.watchdog_timer.name = f"{netdev.name} ixgb_watchdog"
    netif_carrier_off(netdev)  # carrier off reporting matters to ethtool even before open
    adapter.log("info", "Intel(R) PRO/10GbE Network Connection")
    param.check_options(adapter, params)
    if not adapter.rx_csum:
        netdev.features &= ~NETIF_F_RXCSUM
        netdev.wanted_features &= ~NETIF_F_RXCSUM
    reset(adapter)
    return netdev


def remove(netdev: NetDevice) -> None:
    """Undo probe: the device is closed (if open), unregistered and disabled."""
    adapter: Adapter = netdev.priv
    cancel_work_sync(adapter.tx_timeout_task)
    cancel_work_sync(adapter.remove_task)
    unregister_netdev(netdev)
    adapter.watchdog_timer.del_timer()
    free_netdev(netdev)
    adapter.pdev.disable_device()


def sw_init(adapter: Adapter) -> None:
    """The adapter's software state from PCI config space and the MTU."""
    h = adapter.hw
    pdev = adapter.pdev
    h.vendor_id = pdev.vendor
    h.device_id = pdev.device
    h.subsystem_vendor_id = pdev.subsystem_vendor
    h.subsystem_id = pdev.subsystem_device
    h.revision_id = pdev.revision
    h.max_frame_size = adapter.netdev.mtu + ENET_HEADER_SIZE + ENET_FCS_LENGTH
    adapter.rx_buffer_len = h.max_frame_size + 8  # + 8 for errata
    if h.device_id in SUPPORTED_DEVICES:
        h.mac_type = MAC_82597
    else:
        adapter.log("err", "unsupported device id")
    h.fc.send_xon = True
    adapter.flags.add(DOWN)


# -- PCI error recovery (called by the PCI core, device/pcierr.py) ------------------------------
def io_error_detected(pdev: PciDevice, state: int) -> int:
    """A bus error froze the channel: detach, bring the interface down (its MMIO reads
    all-ones now), disable the device and ask for a slot reset."""
    netdev: NetDevice = pdev.get_drvdata()
    adapter: Adapter = netdev.priv
    netif_device_detach(netdev)
    if state == pci_channel_io_perm_failure:
        return PCI_ERS_RESULT_DISCONNECT
    if netif_running(netdev):
        down(adapter, True)
    pdev.disable_device()
    return PCI_ERS_RESULT_NEED_RESET


def io_slot_reset(pdev: PciDevice) -> int:
    """After the slot reset: the first half of probe (enable, master, reset, EEPROM, MAC)."""
    netdev: NetDevice = pdev.get_drvdata()
    adapter: Adapter = netdev.priv
    pdev.enable_device()
    pdev.set_master()
    netif_carrier_off(netdev)
    netif_stop_queue(netdev)
    reset(adapter)
    h = adapter.hw
    if not ee.validate_eeprom_checksum(h):
        adapter.log("err", "After reset, the EEPROM checksum is not valid")
        return PCI_ERS_RESULT_DISCONNECT
    addr = ee.get_ee_mac_addr(h)
    eth_hw_addr_set(netdev, addr)
    netdev.perm_addr = bytes(addr)
    if not is_valid_ether_addr(netdev.perm_addr):
        adapter.log("err", "After reset, invalid MAC address")
        return PCI_ERS_RESULT_DISCONNECT
    return PCI_ERS_RESULT_RECOVERED


def io_resume(pdev: PciDevice) -> None:
    """Normal operation again: the second half of probe (up if it was running, attach)."""
    netdev: NetDevice = pdev.get_drvdata()
    adapter: Adapter = netdev.priv
    pdev.set_master()
    if netif_running(netdev) and up(adapter):
        adapter.log("err", "can't bring device back up after reset")
        return
    netif_device_attach(netdev)
    adapter.watchdog_timer.mod_timer(next_tick(adapter.sched.now))


ERR_HANDLER = PciErrorHandlers(error_detected=io_error_detected, slot_reset=io_slot_reset,
                               resume=io_resume)


class IxgbNetdevOps(NetDeviceOps):
    """The ``net_device_ops`` table (Linux's ``ixgb_netdev_ops``)."""

    ndo_open = staticmethod(open_)
    ndo_stop = staticmethod(close)
    ndo_start_xmit = staticmethod(xmit_frame)
    ndo_set_rx_mode = staticmethod(set_multi)
    ndo_set_mac_address = staticmethod(set_mac)
    ndo_change_mtu = staticmethod(change_mtu)
    ndo_tx_timeout = staticmethod(tx_timeout)
    ndo_vlan_rx_add_vid = staticmethod(vlan_rx_add_vid)
    ndo_vlan_rx_kill_vid = staticmethod(vlan_rx_kill_vid)
    ndo_fix_features = staticmethod(fix_features)
    ndo_set_features = staticmethod(set_features)
    ndo_features_check = staticmethod(features_check)


NETDEV_OPS = IxgbNetdevOps()
