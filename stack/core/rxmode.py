"""Receive mode: promiscuity, all-multicast, the multicast list, the VLAN filter, user flags.

Mirrors Linux's ``dev_set_promiscuity``/``dev_set_allmulti``/``dev_change_flags``
(``net/core/dev.c``), ``dev_mc_add``/``dev_mc_del`` (``net/core/dev_addr_lists.c``) and
``vlan_vid_add``/``vlan_vid_del`` (``net/8021q/vlan_core.c``).

Contract: every setter is reference counted (two users of promiscuous mode need two -1 calls
to leave it) and returns 0 or a negative errno.  When the resulting receive mode changes on a
device that is up, the driver hears of it through ``ndo_set_rx_mode`` and reads ``dev.flags``
(IFF_PROMISC, IFF_ALLMULTI) and ``dev.mc`` (addresses in the order added); VLAN IDs reach it
through ``ndo_vlan_rx_add_vid``/``ndo_vlan_rx_kill_vid`` when NETIF_F_HW_VLAN_CTAG_FILTER is on.
"""

from __future__ import annotations

import errno

from stack.core.etherdevice import ETH_ALEN, is_multicast_ether_addr
from stack.core.features import NETIF_F_HW_VLAN_CTAG_FILTER
from stack.core.netdevice import (
    IFF_ALLMULTI,
    IFF_PROMISC,
    IFF_UP,
    NetDevice,
    dev_close,
    dev_open,
    dev_set_rx_mode,
    netdev_info,
)


def dev_change_flags(dev: NetDevice, flags: int) -> int:
    """Set the user-visible flags (IFF_UP, IFF_PROMISC, IFF_ALLMULTI) as ``ip link`` does."""
    for bit, setter in ((IFF_PROMISC, dev_set_promiscuity), (IFF_ALLMULTI, dev_set_allmulti)):
        if (flags ^ dev.gflags) & bit:
            dev.gflags ^= bit
            ret = setter(dev, 1 if flags & bit else -1)
            if ret:
                return ret
    if (flags ^ dev.flags) & IFF_UP:
        return dev_open(dev) if flags & IFF_UP else dev_close(dev)
    return 0



def _counted_flag(dev: NetDevice, attr: str, bit: int, inc: int) -> bool | None:
    """Adjust a reference-counted flag; None on underflow, else whether the flag flipped."""
    count = getattr(dev, attr) + inc
    if count < 0:
        return None
    setattr(dev, attr, count)
    old = dev.flags
    dev.flags = (old | bit) if count else (old & ~bit)
    return dev.flags != old


def dev_set_promiscuity(dev: NetDevice, inc: int) -> int:
    """Count a promiscuous-mode user in (+1) or out (-1); the driver hears of changes."""
    flipped = _counted_flag(dev, "promiscuity", IFF_PROMISC, inc)
    if flipped is None:
        return -errno.EOVERFLOW
    if flipped:
        on = bool(dev.flags & IFF_PROMISC)
        netdev_info(dev, f"{'entered' if on else 'left'} promiscuous mode")
        dev_set_rx_mode(dev)
    return 0


def dev_set_allmulti(dev: NetDevice, inc: int) -> int:
    flipped = _counted_flag(dev, "allmulti", IFF_ALLMULTI, inc)
    if flipped is None:
        return -errno.EOVERFLOW
    if flipped:
        dev_set_rx_mode(dev)
    return 0


def dev_mc_add(dev: NetDevice, addr: bytes) -> int:
    """Join a multicast address (reference counted); the driver reprograms its filter."""
    addr = bytes(addr)
    if len(addr) != ETH_ALEN or not is_multicast_ether_addr(addr):
        return -errno.EINVAL
    users = dev.mc.get(addr, 0)
    dev.mc[addr] = users + 1
    if not users:
        dev_set_rx_mode(dev)
    return 0


def dev_mc_del(dev: NetDevice, addr: bytes) -> int:
    addr = bytes(addr)
    users = dev.mc.get(addr)
    if users is None:
        return -errno.ENOENT
    if users > 1:
        dev.mc[addr] = users - 1
        return 0
    del dev.mc[addr]
    dev_set_rx_mode(dev)
    return 0


def netdev_mc_count(dev: NetDevice) -> int:
    return len(dev.mc)


def vlan_vid_add(dev: NetDevice, proto: int, vid: int) -> int:
    """Let ``vid`` through the device's VLAN filter (ndo_vlan_rx_add_vid), counted."""
    users = dev.vlan_vids.get(vid, 0)
    if not users and dev.features & NETIF_F_HW_VLAN_CTAG_FILTER:
        add = dev.netdev_ops.ndo_vlan_rx_add_vid
        ret = add(dev, proto, vid) if add is not None else 0
        if ret:
            return ret
    dev.vlan_vids[vid] = users + 1
    return 0


def vlan_vid_del(dev: NetDevice, proto: int, vid: int) -> int:
    users = dev.vlan_vids.get(vid)
    if users is None:
        return -errno.ENOENT
    if users > 1:
        dev.vlan_vids[vid] = users - 1
        return 0
    del dev.vlan_vids[vid]
    kill = dev.netdev_ops.ndo_vlan_rx_kill_vid
    if dev.features & NETIF_F_HW_VLAN_CTAG_FILTER and kill is not None:
        return kill(dev, proto, vid)
    return 0
