"""The receive path and packet taps: ``netif_receive_skb``, ``dev_add_pack``.

Mirrors the receive half of Linux's ``net/core/dev.c`` (``__netif_receive_skb_core``,
``deliver_skb``, ``dev_queue_xmit_nit``); ``netif_rx`` and its backlog are in ``backlog.py``.

Contract:
- A handler is ``PacketType(type, func, dev=None)``, registered with
  ``kernel.dev_add_pack(pt)``; ``func(skb, dev, pt, orig_dev)`` owns one reference to ``skb``
  and must free it exactly once.  ``type == ETH_P_ALL`` makes a tap.  ``dev`` limits the
  handler to one device.
- ``netif_receive_skb(skb)`` (from a NAPI poll) first gives every tap a reference, then every
  handler of ``skb.protocol``.  With no handler the frame is counted in
  ``dev.stats.rx_nohandler`` (even when a tap saw it; Linux lets a tap hide it) and dropped.
- A frame still carrying an in-band 802.1Q/802.1ad tag is untagged into ``vlan_tci`` first,
  as hardware stripping would have.  There are no VLAN devices: a tag with a non-zero VID makes
  the frame PACKET_OTHERHOST (protocols drop it); VID 0 (priority tag) is just cleared.
- Taps see received frames with ``data`` at the network header and ``mac_header`` set, and
  transmitted frames (a clone per transmission, ``pkt_type == PACKET_OUTGOING``) with
  ``data`` at the MAC header; ``skb.mac_bytes()`` is the whole frame in both directions.
- GRO (``napi_gro_receive``) is in ``gro.py``; it hands what it merged to
  ``netif_receive_skb``, and a protocol's ``PacketOffload`` carries its GRO callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.etherdevice import ETH_P_8021AD, ETH_P_8021Q, VLAN_HLEN, VLAN_VID_MASK
from stack.core.skbfree import kfree_skb
from stack.core.skbuff import PACKET_OTHERHOST, PACKET_OUTGOING, SkBuff

if TYPE_CHECKING:
    from stack.core.gro import GroCb
    from stack.core.netdevice import NetDevice

NET_RX_SUCCESS = 0
NET_RX_DROP = 1

GRO_MERGED = 0
GRO_MERGED_FREE = 1
GRO_HELD = 2
GRO_NORMAL = 3
GRO_CONSUMED = 4

PacketHandler = Callable[[SkBuff, "NetDevice", "PacketType", "NetDevice"], Any]


class PacketType:
    """A protocol receive handler or tap (Linux's ``struct packet_type``)."""

    __slots__ = ("type", "func", "dev", "af_packet_priv", "ignore_outgoing")

    def __init__(self, type: int, func: PacketHandler, dev: NetDevice | None = None,
                 af_packet_priv: Any = None, ignore_outgoing: bool = False) -> None:
        self.type = type
        self.func = func
        self.dev = dev
        self.af_packet_priv = af_packet_priv  # the packet socket: it does not see its own TX
        self.ignore_outgoing = ignore_outgoing

    def __repr__(self) -> str:
        name = getattr(self.func, "__qualname__", "?")
        return f"<PacketType {self.type:#06x} {name}>"


class PacketOffload:
    """A protocol's software GSO and its GRO (Linux's ``struct packet_offload``).

    ``gso_segment(skb, features) -> list[SkBuff]`` gets a GSO skb as queued for transmission
    (``data`` at the MAC header, network/transport headers marked) and returns complete frames;
    the core frees the original.  ``gro_receive(held, skb, cb)`` and ``gro_complete(skb, cb)``
    merge received segments (the contract is in ``gro.py``); None: no GRO for the protocol.
    """

    __slots__ = ("type", "gso_segment", "gro_receive", "gro_complete")

    def __init__(self, type: int,
                 gso_segment: Callable[[SkBuff, int], list[SkBuff]],
                 gro_receive: Callable[[list[GroCb], SkBuff, GroCb], GroCb | None] | None = None,
                 gro_complete: Callable[[SkBuff, GroCb], None] | None = None) -> None:
        self.type = type
        self.gso_segment = gso_segment
        self.gro_receive = gro_receive
        self.gro_complete = gro_complete


def _vlan_untag(skb: SkBuff) -> bool:
    """skb_vlan_untag: move an in-band tag into ``vlan_tci`` and close the gap."""
    data = skb.data
    if skb.tail - data < VLAN_HLEN:
        return False
    head = skb.head
    skb.vlan_hwaccel_put_tag(skb.protocol, (head[data] << 8) | head[data + 1])
    skb.protocol = (head[data + 2] << 8) | head[data + 3]
    skb.data = data + VLAN_HLEN
    mac = skb.mac_header
    if 0 <= mac <= data - 12:  # slide the addresses up over the tag, as Linux does
        head[mac + VLAN_HLEN : mac + VLAN_HLEN + 12] = head[mac : mac + 12]
        skb.mac_header = mac + VLAN_HLEN
    return True


def netif_receive_skb(skb: SkBuff) -> int:
    """Hand a received frame to the taps and its protocol; NET_RX_SUCCESS or NET_RX_DROP."""
    dev = skb.dev
    assert dev is not None, "netif_receive_skb: skb.dev is not set (call eth_type_trans)"
    kernel = skb.kernel
    kernel.softnet.processed += 1
    if not skb.tstamp:
        skb.tstamp = kernel.sched.now
    skb.skb_iif = dev.ifindex
    skb.network_header = skb.data
    if skb.transport_header < 0:
        skb.transport_header = skb.data
    if kernel.tracers:
        kernel.trace("netif_receive_skb", skb=skb)
    if (skb.protocol == ETH_P_8021Q or skb.protocol == ETH_P_8021AD) and not skb.vlan_present:
        if not _vlan_untag(skb):
            dev.stats.rx_length_errors += 1
            kfree_skb(skb, SkbDropReason.PKT_TOO_SMALL)
            return NET_RX_DROP
        skb.network_header = skb.data
    pt_prev: PacketType | None = None
    for pt in kernel.ptype_all:
        if pt.dev is None or pt.dev is dev:
            if pt_prev is not None:
                skb.users += 1
                pt_prev.func(skb, dev, pt_prev, dev)
            pt_prev = pt
    if skb.vlan_present:
        if pt_prev is not None:  # the pending tap sees the tag before VLAN handling (Linux)
            skb.users += 1
            pt_prev.func(skb, dev, pt_prev, dev)
            pt_prev = None
        if skb.vlan_tci & VLAN_VID_MASK:
            skb.pkt_type = PACKET_OTHERHOST  # no VLAN device claims it
        skb.vlan_present = False
    handled = False
    ptype_base = kernel.ptype_base
    proto = skb.protocol
    if proto in ptype_base:  # not .get(): a membership test is no call (once per frame)
        for pt in ptype_base[proto]:
            if pt.dev is None or pt.dev is dev:
                if pt_prev is not None:
                    skb.users += 1
                    pt_prev.func(skb, dev, pt_prev, dev)
                pt_prev = pt
                handled = True
    if not handled:
        dev.stats.rx_nohandler += 1
    if pt_prev is None:
        kfree_skb(skb, SkbDropReason.UNHANDLED_PROTO)
        return NET_RX_DROP
    ret = pt_prev.func(skb, dev, pt_prev, dev)
    if not handled:
        return NET_RX_DROP
    if type(ret) is int:  # the common case, without an isinstance call
        return ret
    return ret if isinstance(ret, int) else NET_RX_SUCCESS


def dev_queue_xmit_nit(skb: SkBuff, dev: NetDevice) -> None:
    """Show a frame about to be transmitted to the taps (one clone shared among them)."""
    kernel = dev.kernel
    clone: SkBuff | None = None
    pt_prev: PacketType | None = None
    for pt in kernel.ptype_all:
        if pt.ignore_outgoing or (pt.dev is not None and pt.dev is not dev):
            continue
        if pt.af_packet_priv is not None and pt.af_packet_priv is skb.sk:
            continue
        if clone is None:
            clone = skb.clone()
            clone.tstamp = kernel.sched.now
            clone.reset_mac_header()
            clone.pkt_type = PACKET_OUTGOING
        if pt_prev is not None:
            clone.users += 1
            pt_prev.func(clone, dev, pt_prev, dev)
        pt_prev = pt
    if pt_prev is not None and clone is not None:
        pt_prev.func(clone, dev, pt_prev, dev)
