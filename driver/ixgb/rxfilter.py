"""Receive filters and the MAC address: multicast/promiscuous, RAR0, the VLAN filter table.

Mirrors Linux's ``ixgb_set_multi`` (``ndo_set_rx_mode``), ``ixgb_set_mac``,
``ixgb_vlan_strip_enable``/``_disable``, ``ixgb_vlan_rx_add_vid``/``_kill_vid``,
``ixgb_restore_vlan`` and ``ixgb_fix_features`` (``ixgb_main.c``).  Spec: docs/hardware.md
§2.11, §2.12.
"""

from __future__ import annotations

import errno

from device.spec import regs as R
from driver.ixgb import hw
from driver.ixgb.adapter import (
    MAX_NUM_MULTICAST_ADDRESSES,
    Adapter,
)
from stack.core import (
    IFF_ALLMULTI,
    IFF_PROMISC,
    NETIF_F_HW_VLAN_CTAG_RX,
    NETIF_F_HW_VLAN_CTAG_TX,
    NetDevice,
    eth_hw_addr_set,
    is_valid_ether_addr,
    netdev_mc_count,
)


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
