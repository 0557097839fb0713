"""ARP for Ethernet and IPv4: view, repr, construct decoder.

Mirrors Linux's ``include/uapi/linux/if_arp.h`` (``struct arphdr`` followed by the Ethernet/IPv4
address block of ``struct arpeth``, ``ARPHRD_ETHER``, ``ARPOP_*``) in smoltcp's
``wire/arp.rs`` shape.

Contract: :meth:`ArpPacket.checked` accepts only what the repr can hold, hardware type
Ethernet (1) with 6-byte addresses and protocol IPv4 (0x0800) with 4-byte addresses, and
raises :class:`Malformed` otherwise (Linux's ``arp_rcv`` drops those too).  Unknown opcodes
decode to the raw int.  A buffer longer than 28 bytes (Ethernet padding) is accepted.

Spec: RFC 826.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.uapi import ARPHRD_ETHER, ETH_P_IP
from stack.wire.errors import Malformed
from stack.wire.layout import U16, Buffer, Field, Layout

ARP = Layout("arp", (
    Field("htype", "H", "hardware type (ARPHRD_*)"),
    Field("ptype", "H", "protocol type (an EtherType)"),
    Field("hlen", "B", "hardware address length"),
    Field("plen", "B", "protocol address length"),
    Field("oper", "H", "opcode (ARPOP_*)"),
    Field("sha", "6s", "sender hardware address"),
    Field("spa", "4s", "sender protocol address"),
    Field("tha", "6s", "target hardware address"),
    Field("tpa", "4s", "target protocol address"),
))

ARP_HLEN = ARP.size  # 28
ARP_PTYPE_IP = ETH_P_IP

ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ARPOP_RREQUEST = 3
ARPOP_RREPLY = 4

ARPOP_NAMES = {
    ARPOP_REQUEST: "Request",
    ARPOP_REPLY: "Reply",
    ARPOP_RREQUEST: "Reverse Request",
    ARPOP_RREPLY: "Reverse Reply",
}

_HDR = ARP.struct
_HTYPE = ARP.offset("htype")
_PTYPE = ARP.offset("ptype")
_OPER = ARP.offset("oper")
_SHA = ARP.offset("sha")
_SPA = ARP.offset("spa")
_THA = ARP.offset("tha")
_TPA = ARP.offset("tpa")
_ETHER_IP = (ARPHRD_ETHER, ARP_PTYPE_IP, 6, 4)


class ArpPacket:
    """View over an Ethernet/IPv4 ARP packet."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks; see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer) -> ArpPacket:
        """Wrap ``buf`` after checking its length and that it is Ethernet/IPv4 ARP."""
        n = len(buf)
        if n < ARP_HLEN:
            raise Malformed("arp", f"packet of {n} bytes < {ARP_HLEN}")
        pkt = cls(buf)
        fields = _HDR.unpack_from(pkt.buf)[:4]
        if fields != _ETHER_IP:
            htype, ptype, hlen, plen = fields
            raise Malformed("arp", f"unsupported htype {htype} ptype 0x{ptype:04x} "
                                   f"hlen {hlen} plen {plen}")
        return pkt

    @property
    def htype(self) -> int:
        return U16.unpack_from(self.buf, _HTYPE)[0]

    @property
    def ptype(self) -> int:
        return U16.unpack_from(self.buf, _PTYPE)[0]

    @property
    def oper(self) -> int:
        return U16.unpack_from(self.buf, _OPER)[0]

    @oper.setter
    def oper(self, value: int) -> None:
        U16.pack_into(self.buf, _OPER, value)

    @property
    def sha(self) -> bytes:
        return bytes(self.buf[_SHA:_SHA + 6])

    @sha.setter
    def sha(self, mac: Buffer) -> None:
        self.buf[_SHA:_SHA + 6] = mac

    @property
    def spa(self) -> bytes:
        return bytes(self.buf[_SPA:_SPA + 4])

    @spa.setter
    def spa(self, ip: Buffer) -> None:
        self.buf[_SPA:_SPA + 4] = ip

    @property
    def tha(self) -> bytes:
        return bytes(self.buf[_THA:_THA + 6])

    @tha.setter
    def tha(self, mac: Buffer) -> None:
        self.buf[_THA:_THA + 6] = mac

    @property
    def tpa(self) -> bytes:
        return bytes(self.buf[_TPA:_TPA + 4])

    @tpa.setter
    def tpa(self, ip: Buffer) -> None:
        self.buf[_TPA:_TPA + 4] = ip


@dataclass(slots=True)
class ArpRepr:
    """An Ethernet/IPv4 ARP message (RFC 826 field names)."""

    oper: int
    sha: bytes
    spa: bytes
    tha: bytes
    tpa: bytes

    @classmethod
    def parse(cls, pkt: ArpPacket | Buffer) -> ArpRepr:
        """Decode a view (or check and decode a buffer); raises :class:`Malformed`."""
        if not isinstance(pkt, ArpPacket):
            pkt = ArpPacket.checked(pkt)
        _, _, _, _, oper, sha, spa, tha, tpa = _HDR.unpack_from(pkt.buf)
        return cls(oper, sha, spa, tha, tpa)

    def buffer_len(self) -> int:
        return ARP_HLEN

    def emit(self, buf: Buffer, offset: int = 0) -> int:
        """Write the packet at ``buf[offset:]``; return its length (28)."""
        _HDR.pack_into(buf, offset, ARPHRD_ETHER, ARP_PTYPE_IP, 6, 4, self.oper,
                       self.sha, self.spa, self.tha, self.tpa)
        return ARP_HLEN


ARP_CONSTRUCT: Any = ARP.construct()
"""Cold-path decoder; tests check it agrees with the repr."""
