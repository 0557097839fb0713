"""Netdev feature bits (``dev.features``, ``hw_features``) and their ethtool names.

Mirrors Linux's ``include/linux/netdev_features.h`` and the ``netdev_features_strings`` table
(``net/ethtool/common.c``) that ``ethtool -k`` prints.  The bit positions are ours; the names
are Linux's.
"""

from __future__ import annotations

NETIF_F_SG = 1 << 0  # scatter/gather I/O
NETIF_F_IP_CSUM = 1 << 1  # TCP/UDP over IPv4 checksum offload
NETIF_F_HW_CSUM = 1 << 3  # any checksum at csum_start/csum_offset
NETIF_F_IPV6_CSUM = 1 << 4
NETIF_F_HIGHDMA = 1 << 5
NETIF_F_FRAGLIST = 1 << 6
NETIF_F_HW_VLAN_CTAG_TX = 1 << 7  # insert the 802.1Q tag from skb.vlan_tci
NETIF_F_HW_VLAN_CTAG_RX = 1 << 8  # strip the tag into skb.vlan_tci
NETIF_F_HW_VLAN_CTAG_FILTER = 1 << 9  # receive only the VIDs added with ndo_vlan_rx_add_vid
NETIF_F_VLAN_CHALLENGED = 1 << 10
NETIF_F_GSO = 1 << 11  # software segmentation when the device lacks TSO
NETIF_F_LLTX = 1 << 12
NETIF_F_GRO = 1 << 14
NETIF_F_LRO = 1 << 15
NETIF_F_TSO = 1 << 16
NETIF_F_TSO_ECN = 1 << 18
NETIF_F_TSO6 = 1 << 20
NETIF_F_RXCSUM = 1 << 32  # the device verifies receive checksums
NETIF_F_LOOPBACK = 1 << 33
NETIF_F_RXFCS = 1 << 34
NETIF_F_RXALL = 1 << 35

NETIF_F_CSUM_MASK = NETIF_F_IP_CSUM | NETIF_F_IPV6_CSUM | NETIF_F_HW_CSUM
NETIF_F_ALL_TSO = NETIF_F_TSO | NETIF_F_TSO6 | NETIF_F_TSO_ECN
NETIF_F_SOFT_FEATURES = NETIF_F_GSO | NETIF_F_GRO

NETDEV_FEATURE_NAMES: dict[int, str] = {
    NETIF_F_SG: "tx-scatter-gather",
    NETIF_F_IP_CSUM: "tx-checksum-ipv4",
    NETIF_F_HW_CSUM: "tx-checksum-ip-generic",
    NETIF_F_IPV6_CSUM: "tx-checksum-ipv6",
    NETIF_F_HIGHDMA: "highdma",
    NETIF_F_FRAGLIST: "tx-scatter-gather-fraglist",
    NETIF_F_HW_VLAN_CTAG_TX: "tx-vlan-hw-insert",
    NETIF_F_HW_VLAN_CTAG_RX: "rx-vlan-hw-parse",
    NETIF_F_HW_VLAN_CTAG_FILTER: "rx-vlan-filter",
    NETIF_F_VLAN_CHALLENGED: "vlan-challenged",
    NETIF_F_GSO: "tx-generic-segmentation",
    NETIF_F_LLTX: "tx-lockless",
    NETIF_F_GRO: "rx-gro",
    NETIF_F_LRO: "large-receive-offload",
    NETIF_F_TSO: "tx-tcp-segmentation",
    NETIF_F_TSO_ECN: "tx-tcp-ecn-segmentation",
    NETIF_F_TSO6: "tx-tcp6-segmentation",
    NETIF_F_RXCSUM: "rx-checksum",
    NETIF_F_LOOPBACK: "loopback",
    NETIF_F_RXFCS: "rx-fcs",
    NETIF_F_RXALL: "rx-all",
}


def netdev_features_names(features: int) -> list[str]:
    """The ethtool names of the bits set in ``features``, in bit order."""
    return [name for bit, name in sorted(NETDEV_FEATURE_NAMES.items()) if features & bit]


# ``ethtool -k``/``-K``'s legacy names: (short name, the name ``ethtool -k`` prints, the bits).
# The masks are Linux's ethtool_get_feature_mask (net/ethtool/ioctl.c) for the old
# ETHTOOL_[GS]{SG,TSO,TXCSUM,RXCSUM,GSO,GRO} ioctls, and ethtool's off_flag_def table for
# the rest (utils: ethtool/common.c).
ETHTOOL_FEATURE_GROUPS: tuple[tuple[str, str, int], ...] = (
    ("rx", "rx-checksumming", NETIF_F_RXCSUM),
    ("tx", "tx-checksumming", NETIF_F_CSUM_MASK),
    ("sg", "scatter-gather", NETIF_F_SG | NETIF_F_FRAGLIST),
    ("tso", "tcp-segmentation-offload", NETIF_F_ALL_TSO),
    ("gso", "generic-segmentation-offload", NETIF_F_GSO),
    ("gro", "generic-receive-offload", NETIF_F_GRO),
    ("lro", "large-receive-offload", NETIF_F_LRO),
    ("rxvlan", "rx-vlan-offload", NETIF_F_HW_VLAN_CTAG_RX),
    ("txvlan", "tx-vlan-offload", NETIF_F_HW_VLAN_CTAG_TX),
)


def netdev_feature_mask(name: str) -> int | None:
    """The bits an ``ethtool -K`` name stands for: a short or long group name, or one
    feature's own name (``tx-scatter-gather``); None for a name ethtool does not know."""
    for short, long, mask in ETHTOOL_FEATURE_GROUPS:
        if name == short or name == long:
            return mask
    for bit, feature in NETDEV_FEATURE_NAMES.items():
        if name == feature:
            return bit
    return None
