"""The loopback device ``lo``: every frame sent is received back, one softirq later.

Mirrors Linux's ``drivers/net/loopback.c`` (``loopback_setup``, ``loopback_xmit``): the skb is
orphaned (its socket's send-buffer charge released), its timestamp cleared, classified with
``eth_type_trans`` and queued with ``netif_rx``, so the receive side runs from NET_RX as an
event of its own, never inside the sender's call.  Frames keep their ``ip_summed``: a
CHECKSUM_PARTIAL skb arrives partial and receivers treat it as verified, as Linux's
``skb_csum_unnecessary`` does, and GSO skbs arrive whole (lo offers TSO, an MTU of 65536).

Contract: ``loopback_dev(kernel) -> NetDevice`` allocates, registers (first of the host's
devices, so ifindex 1 when created first) and opens ``lo``; ``Net`` does this and gives it
127.0.0.1/8.  Deliberate deviation: Linux's lo has no queue (``noqueue``); here it keeps the
core's pfifo_fast with a 1000-packet queue.
"""

from __future__ import annotations

import errno

from stack.core import (
    ETH_ALEN,
    ETH_HLEN,
    IFF_LOOPBACK,
    NET_RX_SUCCESS,
    NETDEV_TX_OK,
    NETIF_F_HIGHDMA,
    NETIF_F_HW_CSUM,
    NETIF_F_LOOPBACK,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    Kernel,
    NetDevice,
    NetDeviceOps,
    SkBuff,
    alloc_netdev,
    dev_open,
    eth_type_trans,
    netif_rx,
    netif_start_queue,
    register_netdev,
)
from stack.uapi import ARPHRD_LOOPBACK

LOOPBACK_MTU = 65536
LOOPBACK_FEATURES = (NETIF_F_SG | NETIF_F_HW_CSUM | NETIF_F_TSO | NETIF_F_RXCSUM
                     | NETIF_F_HIGHDMA | NETIF_F_LOOPBACK)


class LoopbackOps(NetDeviceOps):
    """``loopback_ops``."""

    def ndo_open(self, dev: NetDevice) -> int:
        netif_start_queue(dev)
        return 0

    def ndo_validate_addr(self, dev: NetDevice) -> int:
        return 0  # lo's address is all zeros, and that is fine

    def ndo_change_mtu(self, dev: NetDevice, new_mtu: int) -> int:
        dev.mtu = new_mtu
        return 0

    def ndo_start_xmit(self, skb: SkBuff, dev: NetDevice) -> int:
        """loopback_xmit."""
        destructor = skb.destructor
        if destructor is not None:  # skb_orphan
            skb.destructor = None
            destructor(skb)
        skb.sk = None
        skb.tstamp = 0
        length = skb.tail - skb.data
        eth_type_trans(skb, dev)
        if netif_rx(skb) == NET_RX_SUCCESS:
            stats = dev.stats
            stats.tx_packets += 1
            stats.tx_bytes += length
            stats.rx_packets += 1
            stats.rx_bytes += length
        return NETDEV_TX_OK


def loopback_setup(dev: NetDevice) -> None:
    """loopback_setup: no ARP, zero addresses, a 64 KiB MTU, checksum and TSO offloads."""
    dev.type = ARPHRD_LOOPBACK
    dev.mtu = LOOPBACK_MTU
    dev.min_mtu = 0
    dev.max_mtu = 0
    dev.hard_header_len = dev.min_header_len = ETH_HLEN
    dev.addr_len = ETH_ALEN
    dev.dev_addr = bytes(ETH_ALEN)
    dev.perm_addr = bytes(ETH_ALEN)
    dev.broadcast = bytes(ETH_ALEN)
    dev.flags = IFF_LOOPBACK
    dev.tx_queue_len = 1000
    dev.features = LOOPBACK_FEATURES
    dev.hw_features = 0


def loopback_dev(kernel: Kernel) -> NetDevice:
    """Create, register and open ``lo`` on ``kernel``."""
    dev = alloc_netdev(kernel, "lo", loopback_setup)
    dev.netdev_ops = LoopbackOps()
    dev.driver_name = "loopback"
    ret = register_netdev(dev)
    if ret:
        raise OSError(-ret, f"lo: register_netdev: {errno.errorcode.get(-ret, ret)}")
    ret = dev_open(dev)
    if ret:
        raise OSError(-ret, f"lo: dev_open: {errno.errorcode.get(-ret, ret)}")
    return dev
