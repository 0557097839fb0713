"""The driver's life cycle and netdev ops: probe, open/close, up/down/reset, rings, filters.

Mirrors Linux's ``ixgb_main.c`` outside the data path (``ixgb_probe``, ``ixgb_remove``,
``ixgb_sw_init``, ``ixgb_open``/``ixgb_close``, ``ixgb_up``/``ixgb_down``/``ixgb_reset``,
``ixgb_setup_*_resources``, ``ixgb_configure_tx``/``ixgb_setup_rctl``/``ixgb_configure_rx``,
``ixgb_clean_*_ring``, ``ixgb_set_multi``, ``ixgb_change_mtu``, ``ixgb_set_mac``, the VLAN
ops, ``ixgb_fix_features``/``ixgb_set_features``, ``ixgb_tx_timeout``, the PCI error handlers
``ixgb_io_error_detected``/``ixgb_io_slot_reset``/``ixgb_io_resume``).  Spec: docs/hardware.md
§2.1-§2.3, §2.10-§2.12.

MSI as Linux: ``up`` tries ``pci_enable_msi`` only when STATUS.PCIX_MODE says the bus runs in
PCI-X mode (``w.host(..., msi=True)`` puts the NIC in such a slot), falls back to the shared
INTx line when it fails, and ``down`` frees the IRQ and disables MSI; the same ``intr``
handler serves both.  Differences, said out loud: there is no I/O BAR and no DMA mask to
negotiate; ``have_msi`` is cleared when MSI is disabled (Linux leaves it set, harmlessly);
a failed probe raises :class:`ProbeError` (Linux returns -EIO) after undoing everything it
did.
"""

from __future__ import annotations

import errno
from typing import Any

from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import (
    DMA_FROM_DEVICE,
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
from driver.ixgb import ee, hw, param
from driver.ixgb.adapter import (
    DOWN,
    ENET_FCS_LENGTH,
    ENET_HEADER_SIZE,
    ETH_MIN_MTU,
    HZ_NS,
    MAC_82597,
    MAX_ENET_FRAME_SIZE_WITHOUT_FCS,
    MAX_JUMBO_FRAME_SIZE,
    MAX_NUM_MULTICAST_ADDRESSES,
    REMOVED,
    RXBUFFER_2048,
    RXBUFFER_4096,
    RXBUFFER_8192,
    RXBUFFER_16384,
    Adapter,
    Buffer,
    Hw,
    desc_unused,
    next_tick,
)
from driver.ixgb.intr import clean, intr, irq_disable, irq_enable
from driver.ixgb.rx import alloc_rx_buffers
from driver.ixgb.tx import features_check, unmap_and_free_tx_resource, xmit_frame
from driver.ixgb.watchdog import watchdog
from stack.core import (
    ETH_HLEN,
    IFF_ALLMULTI,
    IFF_PROMISC,
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
    napi_disable,
    napi_enable,
    netdev_mc_count,
    netdev_reset_queue,
    netif_carrier_off,
    netif_carrier_on,
    netif_device_attach,
    netif_device_detach,
    netif_napi_add,
    netif_napi_del,
    netif_running,
    netif_start_queue,
    netif_stop_queue,
    netif_wake_queue,
    register_netdev,
    schedule_work,
    unregister_netdev,
)

DRIVER_STRING = "Intel(R) PRO/10GbE Network Driver"
SUPPORTED_DEVICES = (IXGB_DEVICE_ID_82597EX, IXGB_DEVICE_ID_82597EX_CX4, IXGB_DEVICE_ID_82597EX_LR,
                     IXGB_DEVICE_ID_82597EX_SR)
WATCHDOG_TIMEO_NS = 5 * HZ_NS
FULL_DUPLEX = 2
DEFAULT_MSG_ENABLE = 0x7  # NETIF_MSG_DRV | NETIF_MSG_PROBE | NETIF_MSG_LINK
PAGE_SIZE = 4096


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


# -- rings -------------------------------------------------------------------------------------
def _setup_ring(adapter: Adapter, ring: Any) -> int:
    ring.buffer_info = [Buffer() for _ in range(ring.count)]
    ring.size = (ring.count * 16 + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)  # round up to 4 KiB
    try:
        ring.dma = adapter.pdev.dma_alloc_coherent(ring.size)
    except MemoryError:
        ring.buffer_info = []
        return -errno.ENOMEM
    ring.desc = adapter.mem.slice(ring.dma, ring.size)
    ring.next_to_use = 0
    ring.next_to_clean = 0
    return 0


def setup_tx_resources(adapter: Adapter) -> int:
    return _setup_ring(adapter, adapter.tx_ring)


def setup_rx_resources(adapter: Adapter) -> int:
    return _setup_ring(adapter, adapter.rx_ring)


def _free_ring(adapter: Adapter, ring: Any) -> None:
    ring.buffer_info = []
    ring.desc = None
    if ring.dma:
        adapter.pdev.dma_free_coherent(ring.dma)
        ring.dma = 0


def free_tx_resources(adapter: Adapter) -> None:
    clean_tx_ring(adapter)
    _free_ring(adapter, adapter.tx_ring)


def free_rx_resources(adapter: Adapter) -> None:
    clean_rx_ring(adapter)
    _free_ring(adapter, adapter.rx_ring)


def configure_tx(adapter: Adapter) -> None:
    """Ring base and length, TDH = TDT = 0, TIDV, TCTL; TXDCTL deliberately untouched."""
    h = adapter.hw
    ring = adapter.tx_ring
    h.write32(R.TDBAL, ring.dma & 0xFFFFFFFF)
    h.write32(R.TDBAH, ring.dma >> 32)
    h.write32(R.TDLEN, ring.count * 16)
    h.write32(R.TDH, 0)
    h.write32(R.TDT, 0)
    adapter.tx_tail = 0
    h.write32(R.TIDV, adapter.tx_int_delay)
    h.write32(R.TCTL, R.TCTL_TCE | R.TCTL_TXEN | R.TCTL_TPDE)
    adapter.tx_cmd_type = D.TXD_TYPE_DATA | (D.TXD_CMD_IDE if adapter.tx_int_delay_enable
                                             else 0)


def setup_rctl(adapter: Adapter) -> None:
    """Broadcasts, RDMTS 1/2, RXEN, CFF, the MO type, strip CRC, BSIZE from rx_buffer_len."""
    h = adapter.hw
    rctl = h.read32(R.RCTL) & ~R.RCTL_MO_MASK
    rctl |= (R.RCTL_BAM | R.RCTL_RDMTS_1_2 | R.RCTL_RXEN | R.RCTL_CFF
             | h.mc_filter_type << R.RCTL_MO_SHIFT | R.RCTL_SECRC)
    n = adapter.rx_buffer_len
    if n <= RXBUFFER_2048:
        rctl |= R.RCTL_BSIZE_2048
    elif n <= RXBUFFER_4096:
        rctl |= R.RCTL_BSIZE_4096
    elif n <= RXBUFFER_8192:
        rctl |= R.RCTL_BSIZE_8192
    elif n <= RXBUFFER_16384:
        rctl |= R.RCTL_BSIZE_16384
    h.write32(R.RCTL, rctl)


def configure_rx(adapter: Adapter) -> None:
    """RX off while the ring is set up; RDTR, base, length, RDH = RDT = 0, RXDCTL = 0
    (erratum: WTHRESH > 0 corrupts lengths), TCP/UDP checksum offload, RX back on."""
    h = adapter.hw
    ring = adapter.rx_ring
    rctl = h.read32(R.RCTL)
    h.write32(R.RCTL, rctl & ~R.RCTL_RXEN)
    h.write32(R.RDTR, adapter.rx_int_delay)
    h.write32(R.RDBAL, ring.dma & 0xFFFFFFFF)
    h.write32(R.RDBAH, ring.dma >> 32)
    h.write32(R.RDLEN, ring.count * 16)
    h.write32(R.RDH, 0)
    h.write32(R.RDT, 0)
    h.write32(R.RXDCTL, 0)
    if adapter.rx_csum:
        h.write32(R.RXCSUM, h.read32(R.RXCSUM) | R.RXCSUM_TUOFL)
    h.write32(R.RCTL, rctl)


def clean_tx_ring(adapter: Adapter) -> None:
    """Free every TX buffer and skb (dropped), zero the ring, TDH = TDT = 0."""
    ring = adapter.tx_ring
    for bi in ring.buffer_info:
        unmap_and_free_tx_resource(adapter, bi, consumed=False)
    ring.buffer_info = [Buffer() for _ in range(ring.count)] if ring.buffer_info else []
    if ring.desc is not None:
        ring.desc[:] = bytes(ring.size)
    ring.next_to_use = 0
    ring.next_to_clean = 0
    netdev_reset_queue(adapter.netdev)  # BQL: nothing is in flight any more
    adapter.hw.write32(R.TDH, 0)
    adapter.hw.write32(R.TDT, 0)
    adapter.tx_tail = 0


def clean_rx_ring(adapter: Adapter) -> None:
    """Unmap and free every RX buffer, zero the ring, RDH = RDT = 0."""
    ring = adapter.rx_ring
    unmap = adapter.pdev.dma_unmap_single
    mem = adapter.mem
    for bi in ring.buffer_info:
        if bi.dma:
            unmap(bi.dma, bi.length, DMA_FROM_DEVICE)
            bi.dma = 0
        if bi.buf:
            mem.free(bi.buf)
            bi.buf = 0
    ring.buffer_info = [Buffer() for _ in range(ring.count)] if ring.buffer_info else []
    if ring.desc is not None:
        ring.desc[:] = bytes(ring.size)
    ring.next_to_clean = 0
    ring.next_to_use = 0
    adapter.hw.write32(R.RDH, 0)
    adapter.hw.write32(R.RDT, 0)


# -- filters, addresses, MTU -------------------------------------------------------------------
def set_multi(netdev: NetDevice) -> None:
    """ndo_set_rx_mode: promiscuous / all-multi / multicast list, VLAN filter and stripping.

    Spec: docs/hardware.md §2.11.
    """
    adapter: Adapter = netdev.priv
    h = adapter.hw
    rctl = h.read32(R.RCTL)
    if netdev.flags & IFF_PROMISC:
        rctl |= R.RCTL_UPE | R.RCTL_MPE
        rctl &= ~(R.RCTL_CFIEN | R.RCTL_VFE)  # VLAN filtering off
    else:
        if netdev.flags & IFF_ALLMULTI:
            rctl |= R.RCTL_MPE
            rctl &= ~R.RCTL_UPE
        else:
            rctl &= ~(R.RCTL_UPE | R.RCTL_MPE)
        rctl |= R.RCTL_VFE
        rctl &= ~R.RCTL_CFIEN
    if netdev_mc_count(netdev) > MAX_NUM_MULTICAST_ADDRESSES:
        h.write32(R.RCTL, rctl | R.RCTL_MPE)
    else:
        h.write32(R.RCTL, rctl)
        hw.mc_addr_list_update(h, list(netdev.mc))
    if netdev.features & NETIF_F_HW_VLAN_CTAG_RX:
        vlan_strip_enable(adapter)
    else:
        vlan_strip_disable(adapter)


def set_mac(netdev: NetDevice, addr: bytes) -> int:
    """ndo_set_mac_address: validate, store, and program RAR0 at once."""
    if not is_valid_ether_addr(addr):
        return -errno.EADDRNOTAVAIL
    eth_hw_addr_set(netdev, addr)
    hw.rar_set(netdev.priv.hw, addr, 0)
    return 0


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


def vlan_strip_enable(adapter: Adapter) -> None:
    h = adapter.hw
    h.write32(R.CTRL0, h.read32(R.CTRL0) | R.CTRL0_VME)


def vlan_strip_disable(adapter: Adapter) -> None:
    h = adapter.hw
    h.write32(R.CTRL0, h.read32(R.CTRL0) & ~R.CTRL0_VME)


def vlan_rx_add_vid(netdev: NetDevice, proto: int, vid: int) -> int:
    """Set the VID's bit in the VLAN filter table (read-modify-write).  Spec: §2.12."""
    adapter: Adapter = netdev.priv
    reg = R.VFTA + 4 * ((vid >> 5) & 0x7F)
    h = adapter.hw
    h.write32(reg, h.read32(reg) | 1 << (vid & 0x1F))
    adapter.active_vlans.add(vid)
    return 0


def vlan_rx_kill_vid(netdev: NetDevice, proto: int, vid: int) -> int:
    adapter: Adapter = netdev.priv
    reg = R.VFTA + 4 * ((vid >> 5) & 0x7F)
    h = adapter.hw
    h.write32(reg, h.read32(reg) & ~(1 << (vid & 0x1F)))
    adapter.active_vlans.discard(vid)
    return 0


def restore_vlan(adapter: Adapter) -> None:
    """Replay the active VIDs into VFTA after a reset cleared it."""
    for vid in sorted(adapter.active_vlans):
        vlan_rx_add_vid(adapter.netdev, 0x8100, vid)


def fix_features(netdev: NetDevice, features: int) -> int:
    """TX VLAN insertion does not work per hardware design when RX stripping is off."""
    if not features & NETIF_F_HW_VLAN_CTAG_RX:
        features &= ~NETIF_F_HW_VLAN_CTAG_TX
    return features


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
