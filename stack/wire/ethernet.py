"""Ethernet II frames with an optional 802.1Q tag: view, repr, construct decoder, MAC helpers.

Mirrors Linux's ``include/uapi/linux/if_ether.h`` (``ETH_*``, ``struct ethhdr``) and
``include/linux/if_vlan.h`` (``struct vlan_ethhdr``, ``VLAN_*`` masks), in smoltcp's
``wire/ethernet.rs`` shape.

Contract:
- :class:`EthernetFrame` is a view over a frame (no FCS); ``checked()`` guarantees the header,
  and the 802.1Q tag when the TPID says there is one, are in the buffer.
- :class:`EthernetRepr` is the reduced header: ``ethertype`` is the *encapsulated* type and
  ``vlan_tci`` is ``None`` for untagged frames.  Only one 802.1Q tag is decoded; an inner tag
  (QinQ) is left as ``ethertype == ETH_P_8021Q`` with the tag at the start of the payload.
- Unknown EtherTypes (and 802.3 length values < 0x0600) are kept as raw ints.

Spec: IEEE 802.3 §3.2; IEEE 802.1Q §9.6 (TCI: PCP 3 bits, DEI 1 bit, VID 12 bits).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import construct as cs

from stack.uapi import (  # noqa: F401 - the ethertypes, for the wire's users
    ETH_P_802_3_MIN,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_LLDP,
)
from stack.wire.errors import Malformed
from stack.wire.layout import U16, Buffer, Field, Layout

ETHERNET = Layout("ethernet", (
    Field("dst", "6s", "destination MAC"),
    Field("src", "6s", "source MAC"),
    Field("ethertype", "H", "EtherType, or the 802.1Q TPID when tagged"),
))
VLAN_TAG = Layout("vlan", (
    Field("tci", "H", "tag control information", (("pcp", 3), ("dei", 1), ("vid", 12))),
    Field("ethertype", "H", "encapsulated EtherType"),
))

ETH_ALEN = 6
ETH_HLEN = ETHERNET.size  # 14
VLAN_HLEN = VLAN_TAG.size  # 4
VLAN_ETH_HLEN = ETH_HLEN + VLAN_HLEN  # 18
ETH_ZLEN = 60  # minimum frame without FCS
ETH_DATA_LEN = 1500
ETH_FRAME_LEN = ETH_HLEN + ETH_DATA_LEN  # 1514
ETH_FCS_LEN = 4


VLAN_PRIO_MASK = VLAN_TAG.mask("pcp")  # 0xe000
VLAN_PRIO_SHIFT = VLAN_TAG.shift("pcp")  # 13
VLAN_CFI_MASK = VLAN_TAG.mask("dei")  # 0x1000
VLAN_VID_MASK = VLAN_TAG.mask("vid")  # 0x0fff

ETHERTYPE_NAMES = {
    ETH_P_IP: "IPv4",
    ETH_P_ARP: "ARP",
    ETH_P_8021Q: "802.1Q",
    ETH_P_IPV6: "IPv6",
    ETH_P_8021AD: "802.1Q-QinQ",
    ETH_P_LLDP: "LLDP",
}

BROADCAST = b"\xff" * ETH_ALEN
ZERO_MAC = b"\x00" * ETH_ALEN

_HDR = ETHERNET.struct
_TAGGED = struct.Struct(ETHERNET.struct.format + VLAN_TAG.struct.format[1:])
_DST = ETHERNET.offset("dst")
_SRC = ETHERNET.offset("src")
_TYPE = ETHERNET.offset("ethertype")
_TCI = ETH_HLEN + VLAN_TAG.offset("tci")
_INNER_TYPE = ETH_HLEN + VLAN_TAG.offset("ethertype")
_HEX = frozenset("0123456789abcdefABCDEF")


def ethertype_name(ethertype: int) -> str:
    """tcpdump's name for an EtherType, or ``0x....`` when unknown."""
    return ETHERTYPE_NAMES.get(ethertype) or f"0x{ethertype:04x}"


def mac_str(mac: Buffer) -> str:
    """``b"\\x02\\0\\0\\0\\0\\x01"`` -> ``"02:00:00:00:00:01"``."""
    return bytes(mac).hex(":")


def mac_bytes(text: str) -> bytes:
    """``"02:00:00:00:00:01"`` (or ``-`` separated) -> 6 bytes; ``ValueError`` otherwise."""
    parts = text.split(":") if ":" in text else text.split("-")
    if len(parts) != ETH_ALEN or not all(0 < len(p) <= 2 and _HEX.issuperset(p) for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def is_multicast(mac: Buffer) -> bool:
    """Group bit set (broadcast included).  Linux's ``is_multicast_ether_addr``."""
    return bool(mac[0] & 1)


def is_broadcast(mac: Buffer) -> bool:
    """All ones.  Linux's ``is_broadcast_ether_addr``."""
    return mac == BROADCAST


def is_unicast(mac: Buffer) -> bool:
    """Group bit clear.  Linux's ``is_unicast_ether_addr``."""
    return not mac[0] & 1


def is_zero(mac: Buffer) -> bool:
    """All zeros.  Linux's ``is_zero_ether_addr``."""
    return mac == ZERO_MAC


def is_valid(mac: Buffer) -> bool:
    """Neither multicast nor zero: usable as a station address (``is_valid_ether_addr``)."""
    return not mac[0] & 1 and mac != ZERO_MAC


def vlan_tci(vid: int, pcp: int = 0, dei: int = 0) -> int:
    """Build a TCI from its parts (IEEE 802.1Q §9.6)."""
    return (pcp << VLAN_PRIO_SHIFT) | (VLAN_CFI_MASK if dei else 0) | (vid & VLAN_VID_MASK)


class EthernetFrame:
    """View over an Ethernet II frame (optionally 802.1Q tagged), for parsing and patching."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks (smoltcp's ``new_unchecked``); see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer) -> EthernetFrame:
        """Wrap ``buf`` after checking the header (and the tag, if tagged) is all there."""
        n = len(buf)
        if n < ETH_HLEN:
            raise Malformed("ethernet", f"frame of {n} bytes < {ETH_HLEN}")
        frame = cls(buf)
        if n < VLAN_ETH_HLEN and U16.unpack_from(frame.buf, _TYPE)[0] == ETH_P_8021Q:
            raise Malformed("ethernet", f"802.1Q frame of {n} bytes < {VLAN_ETH_HLEN}")
        return frame

    @property
    def dst(self) -> bytes:
        return bytes(self.buf[_DST:_DST + ETH_ALEN])

    @dst.setter
    def dst(self, mac: Buffer) -> None:
        self.buf[_DST:_DST + ETH_ALEN] = mac

    @property
    def src(self) -> bytes:
        return bytes(self.buf[_SRC:_SRC + ETH_ALEN])

    @src.setter
    def src(self, mac: Buffer) -> None:
        self.buf[_SRC:_SRC + ETH_ALEN] = mac

    @property
    def ethertype(self) -> int:
        """The raw field at offset 12: the TPID (0x8100) when tagged."""
        return U16.unpack_from(self.buf, _TYPE)[0]

    @ethertype.setter
    def ethertype(self, value: int) -> None:
        U16.pack_into(self.buf, _TYPE, value)

    @property
    def is_tagged(self) -> bool:
        return U16.unpack_from(self.buf, _TYPE)[0] == ETH_P_8021Q

    @property
    def vlan_tci(self) -> int | None:
        """The 802.1Q TCI, or ``None`` when untagged."""
        if U16.unpack_from(self.buf, _TYPE)[0] != ETH_P_8021Q:
            return None
        return U16.unpack_from(self.buf, _TCI)[0]

    @vlan_tci.setter
    def vlan_tci(self, tci: int) -> None:
        if not self.is_tagged:
            raise ValueError("frame has no 802.1Q tag to patch")
        U16.pack_into(self.buf, _TCI, tci)

    @property
    def payload_ethertype(self) -> int:
        """The EtherType of the payload: after the tag when tagged (Linux's skb->protocol)."""
        etype = U16.unpack_from(self.buf, _TYPE)[0]
        if etype == ETH_P_8021Q:
            return U16.unpack_from(self.buf, _INNER_TYPE)[0]
        return etype

    @property
    def header_len(self) -> int:
        return VLAN_ETH_HLEN if self.is_tagged else ETH_HLEN

    @property
    def payload(self) -> memoryview:
        return self.buf[self.header_len:]


@dataclass(slots=True)
class EthernetRepr:
    """The reduced Ethernet header: ``ethertype`` is the payload's type."""

    dst: bytes
    src: bytes
    ethertype: int
    vlan_tci: int | None = None

    @classmethod
    def parse(cls, frame: EthernetFrame | Buffer) -> EthernetRepr:
        """Decode a view (or check and decode a buffer); raises :class:`Malformed`."""
        if not isinstance(frame, EthernetFrame):
            frame = EthernetFrame.checked(frame)
        buf = frame.buf
        dst, src, etype = _HDR.unpack_from(buf)
        if etype == ETH_P_8021Q:
            dst, src, _, tci, etype = _TAGGED.unpack_from(buf)
            return cls(dst, src, etype, tci)
        return cls(dst, src, etype)

    def buffer_len(self) -> int:
        return ETH_HLEN if self.vlan_tci is None else VLAN_ETH_HLEN

    def emit(self, buf: Buffer, offset: int = 0) -> int:
        """Write the header at ``buf[offset:]``; return its length."""
        if self.vlan_tci is None:
            _HDR.pack_into(buf, offset, self.dst, self.src, self.ethertype)
            return ETH_HLEN
        _TAGGED.pack_into(buf, offset, self.dst, self.src, ETH_P_8021Q, self.vlan_tci,
                          self.ethertype)
        return VLAN_ETH_HLEN


ETHERNET_CONSTRUCT: Any = cs.Struct(
    *ETHERNET.construct().subcons,
    "vlan" / cs.If(cs.this.ethertype == ETH_P_8021Q, VLAN_TAG.construct()),
)
"""Cold-path decoder of the header (tag included); tests check it agrees with the repr."""
