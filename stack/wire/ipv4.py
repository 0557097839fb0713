"""IPv4 headers: view, repr, construct decoder, address helpers.

Mirrors Linux's ``include/uapi/linux/ip.h`` (``struct iphdr``), ``include/net/ip.h``
(``IP_DF``/``IP_MF``/``IP_OFFSET``, ``ip_decrease_ttl``) and the checks of ``ip_rcv_core``
(``net/ipv4/ip_input.c``), in smoltcp's ``wire/ipv4.rs`` shape.

Contract:
- :meth:`Ipv4Packet.checked` validates what ``ip_rcv_core`` does, in its order: at least 20
  bytes, version 4, IHL >= 5, the header in the buffer, the header checksum (optional: skip it
  when the NIC verified it), total length <= buffer (:class:`Truncated`) and >= header length.
  The returned view is trimmed to the total length (link-layer padding dropped).
  ``quoted=True`` accepts a header quoted in an ICMP error, whose payload is cut short.
- :class:`Ipv4Repr` is the reduced header.  Options are kept as raw bytes (padded with EOL to
  a multiple of 4 on emit); the reserved "evil" bit (``IP_CE``) is dropped.  ``frag_offset``
  is in bytes.  ``emit`` fills the header checksum unless told the NIC will.
- Addresses are 4-byte ``bytes`` in network order; helpers convert to and from text and int.

Spec: RFC 791 §3.1; RFC 2474 and RFC 3168 (DSCP, ECN); RFC 1071 (checksum).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import construct as cs

from fastpath import csum_replace2, internet_checksum
from stack import uapi
from stack.uapi import (
    IPPROTO_AH,
    IPPROTO_ESP,
    IPPROTO_GRE,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_IGMP,
    IPPROTO_IPV6,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
)
from stack.wire.errors import BadChecksum, Malformed, Truncated
from stack.wire.layout import U16, Buffer, Field, Layout

IPV4 = Layout("ipv4", (
    Field("ver_ihl", "B", "version and header length in 32-bit words",
          (("version", 4), ("ihl", 4))),
    Field("tos", "B", "DS field and ECN", (("dscp", 6), ("ecn", 2))),
    Field("total_len", "H", "header + payload bytes"),
    Field("ident", "H", "identification, for reassembly"),
    Field("frag_off", "H", "flags and fragment offset in 8-byte units",
          (("reserved", 1), ("df", 1), ("mf", 1), ("offset", 13))),
    Field("ttl", "B", "time to live"),
    Field("proto", "B", "payload protocol (IPPROTO_*)"),
    Field("checksum", "H", "header checksum"),
    Field("src", "4s", "source address"),
    Field("dst", "4s", "destination address"),
))

IPV4_HLEN = IPV4.size  # 20
IPV4_MAX_HLEN = 60
IPV4_MAX_OPTLEN = IPV4_MAX_HLEN - IPV4_HLEN  # 40
IP_MAX_TOTAL_LEN = 0xFFFF
IPVERSION = 4

IP_CE = IPV4.mask("reserved")  # 0x8000, "congestion" in Linux; RFC 791 reserved
IP_DF = IPV4.mask("df")  # 0x4000
IP_MF = IPV4.mask("mf")  # 0x2000
IP_OFFSET = IPV4.mask("offset")  # 0x1fff

IPTOS_ECN_MASK = IPV4.mask("ecn")  # 3
IPTOS_ECN_NOT_ECT = 0
IPTOS_ECN_ECT1 = 1
IPTOS_ECN_ECT0 = 2
IPTOS_ECN_CE = 3

IPPROTO_NAMES = {
    IPPROTO_ICMP: "ICMP",
    IPPROTO_IGMP: "IGMP",
    IPPROTO_TCP: "TCP",
    IPPROTO_UDP: "UDP",
    IPPROTO_IPV6: "IPv6",
    IPPROTO_GRE: "GRE",
    IPPROTO_ESP: "ESP",
    IPPROTO_AH: "AH",
    IPPROTO_ICMPV6: "ICMPv6",
    IPPROTO_SCTP: "SCTP",
}

# the ABI's addresses in the form packets and routes carry them: 4 bytes, network order
INADDR_ANY = uapi.INADDR_ANY.to_bytes(4, "big")
INADDR_BROADCAST = uapi.INADDR_BROADCAST.to_bytes(4, "big")
INADDR_LOOPBACK = uapi.INADDR_LOOPBACK.to_bytes(4, "big")

_HDR = IPV4.struct
_VER_IHL = IPV4.offset("ver_ihl")
_TOS = IPV4.offset("tos")
_TOTAL_LEN = IPV4.offset("total_len")
_IDENT = IPV4.offset("ident")
_FRAG_OFF = IPV4.offset("frag_off")
_TTL = IPV4.offset("ttl")
_PROTO = IPV4.offset("proto")
_CHECKSUM = IPV4.offset("checksum")
_SRC = IPV4.offset("src")
_DST = IPV4.offset("dst")
_IHL_MASK = IPV4.mask("ihl")
_VERSION_SHIFT = IPV4.shift("version")
_DSCP_SHIFT = IPV4.shift("dscp")
_OFFSET_SHIFT = 3  # frag_off counts 8-byte units
_DIGITS = frozenset("0123456789")


def ipproto_name(proto: int) -> str:
    """IANA keyword for an IP protocol number, or ``ip-proto-N`` (tcpdump) when unknown."""
    return IPPROTO_NAMES.get(proto) or f"ip-proto-{proto}"


def ip_bytes(text: str) -> bytes:
    """``"10.0.0.1"`` -> ``b"\\n\\0\\0\\x01"``.  Strict dotted quad (no leading zeros)."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"not an IPv4 address: {text!r}")
    out = bytearray(4)
    for i, p in enumerate(parts):
        if not p or len(p) > 3 or not _DIGITS.issuperset(p) or (p[0] == "0" and len(p) > 1):
            raise ValueError(f"not an IPv4 address: {text!r}")
        v = int(p)
        if v > 255:
            raise ValueError(f"not an IPv4 address: {text!r}")
        out[i] = v
    return bytes(out)


def ip_str(addr: Buffer) -> str:
    """4 bytes -> ``"10.0.0.1"``; 16 bytes (an IPv6 socket's, in shared listings) -> RFC 5952
    text, as ``inet_ntop`` prints it."""
    if len(addr) == 16:
        return ipv6_ntop(bytes(addr))
    a, b, c, d = addr
    return f"{a}.{b}.{c}.{d}"


def ipv6_ntop(addr: bytes) -> str:
    """``inet_ntop(AF_INET6)``: RFC 5952, a v4-mapped address with its dotted quad."""
    if addr[:12] == _V4MAPPED:
        return "::ffff:" + ip_str(addr[12:])
    return ipaddress.IPv6Address(addr).compressed


_V4MAPPED = bytes(10) + b"\xff\xff"


def ip_to_int(addr: Buffer | str) -> int:
    """An address (bytes or dotted text) as a host integer, for masks and comparisons."""
    if isinstance(addr, str):
        addr = ip_bytes(addr)
    return int.from_bytes(addr, "big")


def int_to_ip(value: int) -> bytes:
    """A host integer (0 .. 2**32-1) as 4 network-order bytes."""
    return value.to_bytes(4, "big")


def ipv4_is_multicast(addr: Buffer) -> bool:
    """224.0.0.0/4 (Linux's ``ipv4_is_multicast``)."""
    return addr[0] & 0xF0 == 0xE0


def ipv4_is_loopback(addr: Buffer) -> bool:
    """127.0.0.0/8."""
    return addr[0] == 127


def ipv4_is_lbcast(addr: Buffer) -> bool:
    """255.255.255.255, the limited broadcast."""
    return addr == INADDR_BROADCAST


def ipv4_is_zeronet(addr: Buffer) -> bool:
    """0.0.0.0/8."""
    return addr[0] == 0


class Ipv4Packet:
    """View over an IPv4 packet, for parsing and for patching in place (e.g. forwarding)."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks; see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer, verify_checksum: bool = True,
                quoted: bool = False, length: int = -1) -> Ipv4Packet:
        """Validate as ``ip_rcv_core`` does; return a view trimmed to the total length.

        Raises :class:`Malformed` (:class:`BadChecksum`, :class:`Truncated` for the
        checksum and short-buffer cases).  ``quoted=True``: a header inside an ICMP error,
        no checksum check and the payload may be shorter than the total length says.
        ``length``: the packet's whole length when ``buf`` is only its linear part (an skb
        with fragments: the total length is checked against ``skb.len``, as Linux does).
        """
        mv = memoryview(buf)
        n = len(mv)
        if n < IPV4_HLEN:
            raise Malformed("ipv4", f"packet of {n} bytes < {IPV4_HLEN}")
        vi = mv[_VER_IHL]
        if vi >> _VERSION_SHIFT != IPVERSION:
            raise Malformed("ipv4", f"version {vi >> _VERSION_SHIFT}")
        hl = (vi & _IHL_MASK) << 2
        if hl < IPV4_HLEN:
            raise Malformed("ipv4", f"IHL {hl >> 2} < 5")
        if hl > n:
            raise Malformed("ipv4", f"header of {hl} bytes > packet of {n}")
        if verify_checksum and not quoted and internet_checksum(mv[:hl]) != 0:
            raise BadChecksum("ipv4", "bad header checksum "
                                      f"0x{U16.unpack_from(mv, _CHECKSUM)[0]:04x}")
        total = U16.unpack_from(mv, _TOTAL_LEN)[0]
        if total < hl:
            raise Malformed("ipv4", f"total length {total} < header length {hl}")
        if quoted:
            return cls(mv)
        if length >= 0:
            if total > length:
                raise Truncated("ipv4", f"total length {total} > {length} bytes")
            return cls(mv)
        if total > n:
            raise Truncated("ipv4", f"total length {total} > {n} bytes")
        return cls(mv[:total] if total < n else mv)

    @property
    def version(self) -> int:
        return self.buf[_VER_IHL] >> _VERSION_SHIFT

    @property
    def header_len(self) -> int:
        """IHL in bytes."""
        return (self.buf[_VER_IHL] & _IHL_MASK) << 2

    @property
    def tos(self) -> int:
        return self.buf[_TOS]

    @tos.setter
    def tos(self, value: int) -> None:
        self.buf[_TOS] = value

    @property
    def dscp(self) -> int:
        return self.buf[_TOS] >> _DSCP_SHIFT

    @property
    def ecn(self) -> int:
        return self.buf[_TOS] & IPTOS_ECN_MASK

    @property
    def total_len(self) -> int:
        return U16.unpack_from(self.buf, _TOTAL_LEN)[0]

    @total_len.setter
    def total_len(self, value: int) -> None:
        U16.pack_into(self.buf, _TOTAL_LEN, value)

    @property
    def ident(self) -> int:
        return U16.unpack_from(self.buf, _IDENT)[0]

    @ident.setter
    def ident(self, value: int) -> None:
        U16.pack_into(self.buf, _IDENT, value)

    @property
    def frag_off(self) -> int:
        """The raw flags + offset word (Linux's ``iph->frag_off``, host order)."""
        return U16.unpack_from(self.buf, _FRAG_OFF)[0]

    @frag_off.setter
    def frag_off(self, value: int) -> None:
        U16.pack_into(self.buf, _FRAG_OFF, value)

    @property
    def df(self) -> bool:
        return bool(U16.unpack_from(self.buf, _FRAG_OFF)[0] & IP_DF)

    @property
    def mf(self) -> bool:
        return bool(U16.unpack_from(self.buf, _FRAG_OFF)[0] & IP_MF)

    @property
    def frag_offset(self) -> int:
        """Fragment offset in bytes."""
        return (U16.unpack_from(self.buf, _FRAG_OFF)[0] & IP_OFFSET) << _OFFSET_SHIFT

    @property
    def is_fragment(self) -> bool:
        """MF set or offset non-zero (Linux's ``ip_is_fragment``)."""
        return bool(U16.unpack_from(self.buf, _FRAG_OFF)[0] & (IP_MF | IP_OFFSET))

    @property
    def ttl(self) -> int:
        return self.buf[_TTL]

    @ttl.setter
    def ttl(self, value: int) -> None:
        self.buf[_TTL] = value

    @property
    def proto(self) -> int:
        return self.buf[_PROTO]

    @proto.setter
    def proto(self, value: int) -> None:
        self.buf[_PROTO] = value

    @property
    def checksum(self) -> int:
        return U16.unpack_from(self.buf, _CHECKSUM)[0]

    @checksum.setter
    def checksum(self, value: int) -> None:
        U16.pack_into(self.buf, _CHECKSUM, value)

    @property
    def src(self) -> bytes:
        return bytes(self.buf[_SRC:_SRC + 4])

    @src.setter
    def src(self, addr: Buffer) -> None:
        self.buf[_SRC:_SRC + 4] = addr

    @property
    def dst(self) -> bytes:
        return bytes(self.buf[_DST:_DST + 4])

    @dst.setter
    def dst(self, addr: Buffer) -> None:
        self.buf[_DST:_DST + 4] = addr

    @property
    def options(self) -> bytes:
        return bytes(self.buf[IPV4_HLEN:self.header_len])

    @property
    def payload(self) -> memoryview:
        """The bytes after the header, up to the total length (or the buffer end)."""
        return self.buf[self.header_len:self.total_len]

    def verify_checksum(self) -> bool:
        return internet_checksum(self.buf[:self.header_len]) == 0

    def fill_checksum(self) -> None:
        """Recompute the header checksum (Linux's ``ip_send_check``)."""
        U16.pack_into(self.buf, _CHECKSUM, 0)
        U16.pack_into(self.buf, _CHECKSUM, internet_checksum(self.buf[:self.header_len]))

    def decrease_ttl(self) -> int:
        """TTL - 1 with an incremental checksum update (``ip_decrease_ttl``); new TTL.

        The caller drops packets whose TTL is already <= 1 first (``ip_forward``).
        """
        buf = self.buf
        old = U16.unpack_from(buf, _TTL)[0]  # the TTL/protocol word
        buf[_TTL] -= 1
        check = csum_replace2(U16.unpack_from(buf, _CHECKSUM)[0], old, old - 0x100)
        U16.pack_into(buf, _CHECKSUM, check)
        return buf[_TTL]


@dataclass(slots=True)
class Ipv4Repr:
    """The reduced IPv4 header.  ``payload_len`` is total length minus header length."""

    src: bytes
    dst: bytes
    proto: int
    payload_len: int
    ttl: int = 64
    ident: int = 0
    df: bool = False
    mf: bool = False
    frag_offset: int = 0
    dscp: int = 0
    ecn: int = 0
    options: bytes = b""

    @classmethod
    def parse(cls, pkt: Ipv4Packet | Buffer) -> Ipv4Repr:
        """Decode a view (or check and decode a buffer); raises :class:`Malformed`."""
        if not isinstance(pkt, Ipv4Packet):
            pkt = Ipv4Packet.checked(pkt)
        buf = pkt.buf
        vi, tos, total, ident, fo, ttl, proto, _, src, dst = _HDR.unpack_from(buf)
        hl = (vi & _IHL_MASK) << 2
        return cls(src, dst, proto, total - hl, ttl, ident, bool(fo & IP_DF), bool(fo & IP_MF),
                   (fo & IP_OFFSET) << _OFFSET_SHIFT, tos >> _DSCP_SHIFT, tos & IPTOS_ECN_MASK,
                   bytes(buf[IPV4_HLEN:hl]) if hl > IPV4_HLEN else b"")

    def buffer_len(self) -> int:
        """Header length (options padded); the payload is the caller's."""
        return IPV4_HLEN + ((len(self.options) + 3) & ~3)

    def emit(self, buf: Buffer, offset: int = 0, checksum: bool = True) -> int:
        """Write the header at ``buf[offset:]``; return its length.

        ``checksum=False`` leaves the field zero for a NIC that inserts it (IXSM/IPCSO).
        Raises ``ValueError`` for a header that cannot be encoded.
        """
        hl = IPV4_HLEN
        opts = self.options
        if opts:
            olen = (len(opts) + 3) & ~3
            if olen > IPV4_MAX_OPTLEN:
                raise ValueError(f"{len(opts)} bytes of IPv4 options > {IPV4_MAX_OPTLEN}")
            start = offset + IPV4_HLEN
            buf[start:start + len(opts)] = opts
            if olen != len(opts):
                buf[start + len(opts):start + olen] = bytes(olen - len(opts))
            hl += olen
        total = hl + self.payload_len
        fo = self.frag_offset
        if total > IP_MAX_TOTAL_LEN or fo & 7 or fo >> 16:
            raise ValueError(f"bad IPv4 total length {total} or fragment offset {fo}")
        _HDR.pack_into(buf, offset, 0x40 | hl >> 2, self.dscp << _DSCP_SHIFT | self.ecn, total,
                       self.ident,
                       (IP_DF if self.df else 0) | (IP_MF if self.mf else 0) | fo >> _OFFSET_SHIFT,
                       self.ttl, self.proto, 0, self.src, self.dst)
        if checksum:
            U16.pack_into(buf, offset + _CHECKSUM,
                          internet_checksum(memoryview(buf)[offset:offset + hl]))
        return hl


IPV4_CONSTRUCT: Any = cs.Struct(
    *IPV4.construct().subcons,
    "options" / cs.Bytes(cs.this.ver_ihl.ihl * 4 - IPV4_HLEN),
)
"""Cold-path decoder of the header with its options; tests check it agrees with the repr."""
