"""Ethernet device helpers: ``eth_type_trans``, MAC address predicates, ``eth_header``.

Mirrors Linux's ``include/linux/etherdevice.h``, ``net/ethernet/eth.c`` and the constants of
``include/uapi/linux/if_ether.h`` the core needs (``stack.wire.ethernet`` declares the same
numbers for the wire formats; the core does not import it).

Contract: ``eth_type_trans(skb, dev)`` is called by a driver on a received frame whose data
starts at the destination MAC.  It sets ``skb.dev``, marks the MAC header, pulls the 14-byte
header, classifies ``pkt_type`` by destination (HOST, BROADCAST, MULTICAST, OTHERHOST) and
returns the protocol, which it also stores in ``skb.protocol``.  ``ether_setup`` and
``alloc_etherdev`` live with the net_device in ``netdevice.py``.  802.3 length frames come back
as ETH_P_802_3 (raw IPX, first payload word 0xFFFF) or ETH_P_802_2 (LLC), as in Linux.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from stack.core.skbfree import SkbPanic
from stack.core.skbuff import PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST, SkBuff
from stack.uapi import (  # noqa: F401 - stack.core re-exports them to drivers
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    ETH_P_802_2,
    ETH_P_802_3,
    ETH_P_802_3_MIN,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ALL,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_LLDP,
    ETH_P_LOOP,
    ETH_P_PAUSE,
)

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice

ETH_ALEN = 6
ETH_HLEN = 14
ETH_ZLEN = 60
ETH_DATA_LEN = 1500
ETH_FRAME_LEN = 1514
ETH_FCS_LEN = 4
ETH_MIN_MTU = 68
ETH_MAX_MTU = 0xFFFF
VLAN_HLEN = 4
VLAN_ETH_HLEN = 18
VLAN_VID_MASK = 0x0FFF
VLAN_N_VID = 4096

# dev->addr_assign_type
NET_ADDR_PERM = 0
NET_ADDR_RANDOM = 1
NET_ADDR_STOLEN = 2
NET_ADDR_SET = 3

BROADCAST_ADDR = b"\xff" * ETH_ALEN
ZERO_ADDR = bytes(ETH_ALEN)

Addr = bytes | bytearray | memoryview


def is_zero_ether_addr(addr: Addr) -> bool:
    return bytes(addr) == ZERO_ADDR


def is_multicast_ether_addr(addr: Addr) -> bool:
    return bool(addr[0] & 0x01)


def is_local_ether_addr(addr: Addr) -> bool:
    return bool(addr[0] & 0x02)


def is_broadcast_ether_addr(addr: Addr) -> bool:
    return bytes(addr) == BROADCAST_ADDR


def is_unicast_ether_addr(addr: Addr) -> bool:
    return not addr[0] & 0x01


def is_valid_ether_addr(addr: Addr) -> bool:
    """Six bytes, not multicast (which includes broadcast) and not all zeros."""
    return len(addr) == ETH_ALEN and not addr[0] & 0x01 and bytes(addr) != ZERO_ADDR


def ether_addr_equal(a: Addr, b: Addr) -> bool:
    return bytes(a) == bytes(b)


def eth_random_addr(rng: Any) -> bytes:
    """A random locally administered unicast address, from the world's seeded RNG."""
    addr = bytearray(rng.getrandbits(48).to_bytes(ETH_ALEN, "big"))
    addr[0] = (addr[0] & 0xFE) | 0x02
    return bytes(addr)


def format_mac(addr: Addr) -> str:
    """``aa:bb:cc:dd:ee:ff`` (printk's %pM)."""
    return ":".join(f"{b:02x}" for b in bytes(addr))


def eth_hw_addr_set(dev: NetDevice, addr: Addr) -> None:
    """Set ``dev.dev_addr`` (the only way drivers should write it, as in Linux)."""
    if len(addr) != ETH_ALEN:
        raise ValueError(f"{dev.name}: MAC address must be 6 bytes, got {len(addr)}")
    dev.dev_addr = bytes(addr)


def eth_hw_addr_random(dev: NetDevice) -> None:
    eth_hw_addr_set(dev, eth_random_addr(dev.kernel.sched.rng))
    dev.addr_assign_type = NET_ADDR_RANDOM


def eth_mac_addr(dev: NetDevice, addr: Addr) -> int:
    """The generic ndo_set_mac_address: validate and store; 0 or -EADDRNOTAVAIL."""
    if not is_valid_ether_addr(addr):
        return -errno.EADDRNOTAVAIL
    eth_hw_addr_set(dev, addr)
    return 0


def eth_validate_addr(dev: NetDevice) -> int:
    """The generic ndo_validate_addr, run by dev_open: 0 or -EADDRNOTAVAIL."""
    return 0 if is_valid_ether_addr(dev.dev_addr) else -errno.EADDRNOTAVAIL


def eth_type_trans(skb: SkBuff, dev: NetDevice) -> int:
    """Classify a received frame and strip its Ethernet header; return its protocol."""
    skb.dev = dev
    mac = skb.data
    if skb.tail - mac < ETH_HLEN:
        raise SkbPanic(f"eth_type_trans: {skb.tail - mac}-byte frame is shorter than a header")
    skb.mac_header = mac
    skb.data = mac + ETH_HLEN
    head = skb.head
    if head[mac] & 1:
        if head[mac : mac + 6] == BROADCAST_ADDR:
            skb.pkt_type = PACKET_BROADCAST
        else:
            skb.pkt_type = PACKET_MULTICAST
    elif head[mac : mac + 6] != dev.dev_addr:
        skb.pkt_type = PACKET_OTHERHOST
    proto = (head[mac + 12] << 8) | head[mac + 13]
    if proto < ETH_P_802_3_MIN:
        # 802.3 frame: a length, not a type. Raw Novell IPX starts with 0xFFFF.
        data = mac + ETH_HLEN
        raw = skb.tail - data >= 2 and head[data] == 0xFF and head[data + 1] == 0xFF
        proto = ETH_P_802_3 if raw else ETH_P_802_2
    skb.protocol = proto
    return proto


def eth_header(skb: SkBuff, dev: NetDevice, proto: int, daddr: Addr, saddr: Addr | None = None
               ) -> int:
    """Push an Ethernet header (header_ops->create); returns ETH_HLEN."""
    off = skb.push(ETH_HLEN)
    head = skb.head
    head[off : off + 6] = daddr
    head[off + 6 : off + 12] = saddr if saddr is not None else dev.dev_addr
    head[off + 12] = proto >> 8
    head[off + 13] = proto & 0xFF
    skb.mac_header = off
    return ETH_HLEN


def eth_skb_pad(skb: SkBuff) -> int:
    """Pad a frame to ETH_ZLEN with zeros (for hardware that does not); 0 on success."""
    short = ETH_ZLEN - (skb.tail - skb.data)
    if short > 0:
        if skb.end - skb.tail < short:
            skb.expand_head(0, short)
        skb.put_zero(short)
    return 0
