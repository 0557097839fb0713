"""IPv6 headers and extension headers: views, reprs, construct decoders, address helpers.

Mirrors Linux's ``include/uapi/linux/ipv6.h`` (``struct ipv6hdr``, ``struct ipv6_opt_hdr``,
``struct ipv6_rt_hdr``), ``include/net/ipv6.h`` (``struct frag_hdr``, ``IP6_MF``/``IP6_OFFSET``,
``ipv6_addr_type``) and the checks of ``ip6_rcv_core`` (``net/ipv6/ip6_input.c``), in
smoltcp's ``wire/ipv6.rs`` / ``wire/ipv6ext_header.rs`` shape.

Contract:
- :meth:`Ipv6Packet.checked` validates what ``ip6_rcv_core`` does about the fixed header: at
  least 40 bytes, version 6, payload length within the buffer (:class:`Truncated`; a
  jumbogram's zero payload length is refused: no jumbograms, RFC 2675 is not modelled).  The
  returned view is trimmed to 40 + payload length (link-layer padding dropped).
  ``quoted=True`` accepts a header quoted in an ICMPv6 error, whose payload is cut short.
- :class:`Ipv6Repr` is the fixed header; extension headers are walked by the receive path
  (``stack/ipv6/exthdrs.py``) over the generic :data:`IPV6_OPT_HDR` shape, the routing header
  :data:`IPV6_RT_HDR` and the fragment header :data:`IPV6_FRAG_HDR` (:class:`FragRepr`).
- Addresses are 16-byte ``bytes`` in network order; :func:`ipv6_bytes` / :func:`ipv6_str`
  convert from and to RFC 5952 text, the ``ipv6_addr_*`` predicates classify them.

Spec: RFC 8200 §3, §4; RFC 4291 (addressing); RFC 5952 (text form).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import construct as cs

from stack.uapi import (
    IPPROTO_DSTOPTS,
    IPPROTO_FRAGMENT,
    IPPROTO_HOPOPTS,
    IPPROTO_ROUTING,
)
from stack.wire.errors import Malformed, Truncated
from stack.wire.layout import U16, U32, Buffer, Field, Layout

IPV6 = Layout(
    "ipv6",
    (
        Field(
            "vtf",
            "I",
            "version, traffic class and flow label",
            (("version", 4), ("tclass", 8), ("flow_lbl", 20)),
        ),
        Field("payload_len", "H", "bytes after this header, extension headers included"),
        Field("nexthdr", "B", "first extension header or upper-layer protocol"),
        Field("hop_limit", "B", "hop limit"),
        Field("saddr", "16s", "source address"),
        Field("daddr", "16s", "destination address"),
    ),
)
# Hop-by-hop and destination options headers (and the start of every extension header).
IPV6_OPT_HDR = Layout(
    "ipv6.opt",
    (
        Field("nexthdr", "B", "next header"),
        Field("hdrlen", "B", "length in 8-octet units, not counting the first 8"),
    ),
)
IPV6_RT_HDR = Layout(
    "ipv6.rt",
    (
        Field("nexthdr", "B", "next header"),
        Field("hdrlen", "B", "length in 8-octet units, not counting the first 8"),
        Field("type", "B", "routing type (0 is deprecated, RFC 5095)"),
        Field("segments_left", "B", "route segments still to visit"),
    ),
)
IPV6_FRAG_HDR = Layout(
    "ipv6.frag",
    (
        Field("nexthdr", "B", "next header"),
        Field("reserved", "B", "zero"),
        Field(
            "frag_off",
            "H",
            "offset in 8-octet units and the M flag",
            (("offset", 13), ("res", 2), ("m", 1)),
        ),
        Field("identification", "I", "datagram identification"),
    ),
)

IPV6_HLEN = IPV6.size  # 40
IPV6_FRAG_HLEN = IPV6_FRAG_HDR.size  # 8
IPV6_MIN_MTU = 1280  # RFC 8200 §5
IPV6_MAXPLEN = 0xFFFF
IP6_MF = IPV6_FRAG_HDR.mask("m")  # 0x0001
IP6_OFFSET = 0xFFF8  # the offset in place: bytes, a multiple of 8
IPV6_TCLASS_SHIFT = IPV6.shift("tclass")
IPV6_FLOWLABEL_MASK = IPV6.mask("flow_lbl")
IPV6_VERSION = 6

# Hop-by-hop / destination option types (RFC 8200 §4.2) and the action bits of their type
IPV6_TLV_PAD1 = 0
IPV6_TLV_PADN = 1
IPV6_TLV_ROUTERALERT = 5
IPV6_TLV_JUMBO = 0xC2
IPV6_OPT_ACTION_SKIP = 0  # 00: skip over this option
IPV6_OPT_ACTION_DISCARD = 1  # 01: discard silently
IPV6_OPT_ACTION_ICMP = 2  # 10: discard, ICMP parameter problem even to multicast
IPV6_OPT_ACTION_ICMP_UCAST = 3  # 11: discard, ICMP only to a unicast destination
IPV6_SRCRT_TYPE_0 = 0

# Extension headers the receive path walks (Linux's ipv6_ext_hdr)
IPV6_EXT_HDRS = frozenset({IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS})

_HDR = IPV6.struct
_FRAG = IPV6_FRAG_HDR.struct
_PAYLOAD_LEN = IPV6.offset("payload_len")
_NEXTHDR = IPV6.offset("nexthdr")
_HOP_LIMIT = IPV6.offset("hop_limit")
_SADDR = IPV6.offset("saddr")
_DADDR = IPV6.offset("daddr")
_VERSION_SHIFT = IPV6.shift("version")

IN6ADDR_ANY = bytes(16)
IN6ADDR_LOOPBACK = bytes(15) + b"\x01"
IN6ADDR_LINKLOCAL_ALLNODES = bytes.fromhex("ff020000000000000000000000000001")
IN6ADDR_LINKLOCAL_ALLROUTERS = bytes.fromhex("ff020000000000000000000000000002")
IN6ADDR_LINKLOCAL_ALLMLDV2 = bytes.fromhex("ff020000000000000000000000000016")
SOLICITED_NODE_PREFIX = bytes.fromhex("ff0200000000000000000001ff")  # + low 24 bits


def ipv6_bytes(text: str) -> bytes:
    """``"fd00::1"`` -> 16 bytes.  ``ValueError`` for anything that is not an IPv6 address."""
    try:
        return ipaddress.IPv6Address(text).packed
    except ipaddress.AddressValueError as exc:
        raise ValueError(f"not an IPv6 address: {text!r}") from exc


def ipv6_str(addr: Buffer) -> str:
    """16 bytes -> RFC 5952 text (``"fd00::1"``)."""
    return ipaddress.IPv6Address(bytes(addr)).compressed


def is_ipv6_text(text: str) -> bool:
    """Whether ``text`` reads as an IPv6 address (it has a colon; an IPv4 one never does)."""
    return ":" in text


def ipv6_addr_is_multicast(addr: Buffer) -> bool:
    """ff00::/8."""
    return addr[0] == 0xFF


def ipv6_addr_is_linklocal(addr: Buffer) -> bool:
    """fe80::/10."""
    return addr[0] == 0xFE and addr[1] & 0xC0 == 0x80


def ipv6_addr_any(addr: Buffer) -> bool:
    return addr == IN6ADDR_ANY


def ipv6_addr_loopback(addr: Buffer) -> bool:
    return addr == IN6ADDR_LOOPBACK


def ipv6_addr_is_v4mapped(addr: Buffer) -> bool:
    """::ffff:0:0/96."""
    return addr[:12] == b"\0" * 10 + b"\xff\xff"


def ipv6_mc_scope(addr: Buffer) -> int:
    """The scope nibble of a multicast address (1 interface, 2 link, 5 site, 14 global)."""
    return addr[1] & 0x0F


def addrconf_addr_solict_mult(addr: Buffer) -> bytes:
    """The solicited-node multicast address of ``addr``: ff02::1:ffXX:XXXX (RFC 4291 §2.7.1)."""
    return SOLICITED_NODE_PREFIX + bytes(addr[13:16])


def ipv6_eth_mc_map(addr: Buffer) -> bytes:
    """The Ethernet group address of an IPv6 multicast address: 33:33 + low 32 bits
    (RFC 2464 §7)."""
    return b"\x33\x33" + bytes(addr[12:16])


def ipv6_prefix(addr: Buffer, plen: int) -> bytes:
    """``addr`` with every bit after the first ``plen`` cleared (``ipv6_addr_prefix``)."""
    if plen >= 128:
        return bytes(addr)
    value = int.from_bytes(addr, "big") & ~((1 << (128 - plen)) - 1)
    return value.to_bytes(16, "big")


def ipv6_prefix_equal(a: Buffer, b: Buffer, plen: int) -> bool:
    shift = 128 - plen
    return int.from_bytes(a, "big") >> shift == int.from_bytes(b, "big") >> shift


class Ipv6Packet:
    """View over an IPv6 packet, for parsing and for patching in place (forwarding)."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks; see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer, quoted: bool = False, length: int = -1) -> Ipv6Packet:
        """Validate as ``ip6_rcv_core`` does; return a view trimmed to 40 + payload length.

        Raises :class:`Malformed` (short, version), :class:`Truncated` (payload length beyond
        the buffer).  ``quoted=True``: a header inside an ICMPv6 error, payload cut short.
        ``length``: the packet's whole length when ``buf`` is only its linear part (an skb
        with fragments, from GRO: the payload length is checked against ``skb.len``).
        """
        mv = memoryview(buf)
        n = len(mv)
        if n < IPV6_HLEN:
            raise Malformed("ipv6", f"packet of {n} bytes < {IPV6_HLEN}")
        version = mv[0] >> 4
        if version != IPV6_VERSION:
            raise Malformed("ipv6", f"version {version}")
        if quoted:
            return cls(mv)
        plen = U16.unpack_from(mv, _PAYLOAD_LEN)[0]
        if plen == 0 and mv[_NEXTHDR] == IPPROTO_HOPOPTS:
            raise Malformed("ipv6", "jumbogram (payload length 0) not supported")
        total = IPV6_HLEN + plen
        if length >= 0:
            if total > length:
                raise Truncated("ipv6", f"payload length {plen} > {length - IPV6_HLEN} bytes")
            return cls(mv)
        if total > n:
            raise Truncated("ipv6", f"payload length {plen} > {n - IPV6_HLEN} bytes")
        return cls(mv[:total] if total < n else mv)

    @property
    def version(self) -> int:
        return self.buf[0] >> 4

    @property
    def tclass(self) -> int:
        return (U32.unpack_from(self.buf, 0)[0] >> IPV6_TCLASS_SHIFT) & 0xFF

    @property
    def flow_label(self) -> int:
        return U32.unpack_from(self.buf, 0)[0] & IPV6_FLOWLABEL_MASK

    @property
    def payload_len(self) -> int:
        return U16.unpack_from(self.buf, _PAYLOAD_LEN)[0]

    @payload_len.setter
    def payload_len(self, value: int) -> None:
        U16.pack_into(self.buf, _PAYLOAD_LEN, value)

    @property
    def nexthdr(self) -> int:
        return self.buf[_NEXTHDR]

    @nexthdr.setter
    def nexthdr(self, value: int) -> None:
        self.buf[_NEXTHDR] = value

    @property
    def hop_limit(self) -> int:
        return self.buf[_HOP_LIMIT]

    @hop_limit.setter
    def hop_limit(self, value: int) -> None:
        self.buf[_HOP_LIMIT] = value

    @property
    def saddr(self) -> bytes:
        return bytes(self.buf[_SADDR : _SADDR + 16])

    @saddr.setter
    def saddr(self, addr: Buffer) -> None:
        self.buf[_SADDR : _SADDR + 16] = addr

    @property
    def daddr(self) -> bytes:
        return bytes(self.buf[_DADDR : _DADDR + 16])

    @daddr.setter
    def daddr(self, addr: Buffer) -> None:
        self.buf[_DADDR : _DADDR + 16] = addr

    @property
    def payload(self) -> memoryview:
        return self.buf[IPV6_HLEN : IPV6_HLEN + self.payload_len]


@dataclass(slots=True)
class Ipv6Repr:
    """The fixed IPv6 header; ``payload_len`` counts extension headers and upper layer."""

    saddr: bytes
    daddr: bytes
    nexthdr: int
    payload_len: int
    hop_limit: int = 64
    tclass: int = 0
    flow_label: int = 0

    @classmethod
    def parse(cls, pkt: Ipv6Packet | Buffer) -> Ipv6Repr:
        """Decode a view (or check and decode a buffer); raises :class:`Malformed`."""
        if not isinstance(pkt, Ipv6Packet):
            pkt = Ipv6Packet.checked(pkt)
        vtf, plen, nexthdr, hop_limit, saddr, daddr = _HDR.unpack_from(pkt.buf)
        return cls(
            saddr,
            daddr,
            nexthdr,
            plen,
            hop_limit,
            (vtf >> IPV6_TCLASS_SHIFT) & 0xFF,
            vtf & IPV6_FLOWLABEL_MASK,
        )

    def buffer_len(self) -> int:
        return IPV6_HLEN

    def emit(self, buf: Buffer, offset: int = 0) -> int:
        """Write the header at ``buf[offset:]``; return 40.  ``ValueError`` if unencodable."""
        if not 0 <= self.payload_len <= IPV6_MAXPLEN:
            raise ValueError(f"IPv6 payload length {self.payload_len} > {IPV6_MAXPLEN}")
        vtf = (
            IPV6_VERSION << _VERSION_SHIFT
            | (self.tclass & 0xFF) << IPV6_TCLASS_SHIFT
            | self.flow_label & IPV6_FLOWLABEL_MASK
        )
        _HDR.pack_into(
            buf, offset, vtf, self.payload_len, self.nexthdr, self.hop_limit, self.saddr, self.daddr
        )
        return IPV6_HLEN


def ipv6_optlen(buf: Buffer, offset: int) -> int:
    """The length in bytes of the extension header at ``offset`` (``ipv6_optlen``)."""
    return (buf[offset + 1] + 1) << 3


@dataclass(slots=True)
class FragRepr:
    """A fragment header: ``offset`` in bytes, ``more`` (the M flag), ``ident``."""

    nexthdr: int
    offset: int
    more: bool
    ident: int

    @classmethod
    def parse(cls, buf: Buffer, offset: int = 0) -> FragRepr:
        if len(buf) - offset < IPV6_FRAG_HLEN:
            raise Malformed("ipv6", "fragment header cut short")
        nexthdr, _res, fo, ident = _FRAG.unpack_from(buf, offset)
        return cls(nexthdr, fo & IP6_OFFSET, bool(fo & IP6_MF), ident)

    def buffer_len(self) -> int:
        return IPV6_FRAG_HLEN

    def emit(self, buf: Buffer, offset: int = 0) -> int:
        if self.offset & 7 or self.offset > IP6_OFFSET:
            raise ValueError(f"bad fragment offset {self.offset}")
        _FRAG.pack_into(
            buf, offset, self.nexthdr, 0, self.offset | (IP6_MF if self.more else 0), self.ident
        )
        return IPV6_FRAG_HLEN


def ext_hdrs_construct() -> Any:
    """A construct decoder of the extension-header chain after a fixed header (cold path)."""
    opt = cs.Struct(
        *IPV6_OPT_HDR.construct().subcons,
        "data" / cs.Bytes(cs.this.hdrlen * 8 + 6),
    )
    return opt


IPV6_CONSTRUCT: Any = IPV6.construct()
"""Cold-path decoder of the fixed header; tests check it agrees with the repr."""
IPV6_OPT_CONSTRUCT: Any = ext_hdrs_construct()
"""Hop-by-hop / destination options / routing header with its body (cold path)."""
IPV6_FRAG_CONSTRUCT: Any = IPV6_FRAG_HDR.construct()
