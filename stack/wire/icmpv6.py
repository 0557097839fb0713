"""ICMPv6 with Neighbor Discovery and MLDv2: views, reprs, ND options, construct decoders.

Mirrors Linux's ``include/uapi/linux/icmpv6.h`` (``struct icmp6hdr`` and its ``icmp6_dataun``
union, ``ICMPV6_*`` types and codes), ``include/net/ndisc.h`` (``struct nd_msg``,
``struct ra_msg``, ``struct rs_msg``, ``struct nd_opt_hdr``, ``ND_OPT_*``), ``include/net/mld.h``
(``struct mld2_report``, ``struct mld2_grec``) and ``include/uapi/linux/icmpv6.h``'s
``struct prefix_info``.

Contract:
- :class:`Icmpv6Packet` ``checked(buf, saddr, daddr)`` needs the 4-byte type/code/checksum and
  verifies the checksum over the IPv6 pseudo-header when the addresses are given (RFC 4443
  §2.3: mandatory, unlike IPv4's ICMP).  :class:`Icmpv6Repr` keeps ``type``, ``code``, the
  4-byte ``un`` word and the body; ``emit`` fills the checksum given the addresses.
- Neighbor Discovery bodies (after ``un``): NS/NA a 16-byte target then options; RS only
  options; RA ``reachable_time``/``retrans_timer`` then options; redirect target and
  destination then options.  :func:`nd_options` splits options into ``(type, body)`` pairs and
  raises :class:`Malformed` on a zero length or an option running past the end (RFC 4861
  §4.6: "nodes MUST silently discard an ND packet that contains an option with length zero").
- Unknown types, codes and option types stay raw ints.

Spec: RFC 4443; RFC 4861 §4; RFC 4862; RFC 3810 §5.2 (MLDv2 reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import construct as cs

from stack.uapi import IPPROTO_ICMPV6
from stack.wire.checksum import l4_checksum6, verify_l4_6
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.layout import U16, U32, Buffer, Field, Layout

ICMPV6 = Layout(
    "icmpv6",
    (
        Field("type", "B", "message type (ICMPV6_*, NDISC_*)"),
        Field("code", "B", "subtype"),
        Field("checksum", "H", "checksum with the IPv6 pseudo-header"),
        Field("un", "I", "rest of header: echo id/seq, MTU, pointer, ND flags, RA fields"),
    ),
)
ICMPV6_ECHO_UN = Layout(
    "icmpv6.echo",
    (
        Field("identifier", "H", "identifier"),
        Field("sequence", "H", "sequence number"),
    ),
)
RA_UN = Layout(
    "icmpv6.ra",
    (
        Field("hop_limit", "B", "cur hop limit for the link, 0: unspecified"),
        Field(
            "flags",
            "B",
            "M (managed), O (other config)",
            (("managed", 1), ("other", 1), ("_res", 6)),
        ),
        Field("router_lifetime", "H", "seconds as a default router, 0: not one"),
    ),
)
RA_BODY = Layout(
    "icmpv6.ra.body",
    (
        Field("reachable_time", "I", "ms, 0: unspecified"),
        Field("retrans_timer", "I", "ms, 0: unspecified"),
    ),
)
ND_OPT_HDR = Layout(
    "nd.opt",
    (
        Field("type", "B", "option type (ND_OPT_*)"),
        Field("len", "B", "length in 8-octet units, header included"),
    ),
)
ND_OPT_PREFIX = Layout(
    "nd.opt.prefix",
    (
        Field("type", "B", "3"),
        Field("len", "B", "4"),
        Field("prefix_len", "B", "prefix length in bits"),
        Field(
            "flags",
            "B",
            "L (on-link), A (autonomous)",
            (("onlink", 1), ("autoconf", 1), ("_res", 6)),
        ),
        Field("valid", "I", "valid lifetime, s (0xffffffff: infinity)"),
        Field("preferred", "I", "preferred lifetime, s"),
        Field("reserved2", "I", "zero"),
        Field("prefix", "16s", "the prefix"),
    ),
)
ND_OPT_MTU_BODY = Layout(
    "nd.opt.mtu",
    (
        Field("reserved", "H", "zero"),
        Field("mtu", "I", "link MTU"),
    ),
)
MLD2_REPORT = Layout(
    "mld2.report",
    (
        Field("type", "B", "143"),
        Field("code", "B", "0"),
        Field("checksum", "H", "checksum"),
        Field("reserved", "H", "zero"),
        Field("ngrec", "H", "number of group records"),
    ),
)
MLD2_GREC = Layout(
    "mld2.grec",
    (
        Field("type", "B", "record type (MLD2_*)"),
        Field("auxwords", "B", "auxiliary data length, 32-bit words"),
        Field("nsrcs", "H", "number of sources"),
        Field("mca", "16s", "multicast address"),
    ),
)

ICMPV6_HLEN = ICMPV6.size  # 8
ND_NS_LEN = ICMPV6_HLEN + 16  # nd_msg: header + target
ND_RA_LEN = ICMPV6_HLEN + RA_BODY.size  # 16
ND_REDIRECT_LEN = ICMPV6_HLEN + 32
ND_OPT_PREFIX_LEN = ND_OPT_PREFIX.size  # 32

ICMPV6_DEST_UNREACH = 1
ICMPV6_PKT_TOOBIG = 2
ICMPV6_TIME_EXCEED = 3
ICMPV6_PARAMPROB = 4
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
ICMPV6_MGM_QUERY = 130
ICMPV6_MGM_REPORT = 131
ICMPV6_MGM_REDUCTION = 132
NDISC_ROUTER_SOLICITATION = 133
NDISC_ROUTER_ADVERTISEMENT = 134
NDISC_NEIGHBOUR_SOLICITATION = 135
NDISC_NEIGHBOUR_ADVERTISEMENT = 136
NDISC_REDIRECT = 137
ICMPV6_MLD2_REPORT = 143

# Codes for ICMPV6_DEST_UNREACH
ICMPV6_NOROUTE = 0
ICMPV6_ADM_PROHIBITED = 1
ICMPV6_NOT_NEIGHBOUR = 2
ICMPV6_ADDR_UNREACH = 3
ICMPV6_PORT_UNREACH = 4
# Codes for ICMPV6_TIME_EXCEED
ICMPV6_EXC_HOPLIMIT = 0
ICMPV6_EXC_FRAGTIME = 1
# Codes for ICMPV6_PARAMPROB
ICMPV6_HDR_FIELD = 0
ICMPV6_UNK_NEXTHDR = 1
ICMPV6_UNK_OPTION = 2
ICMPV6_HDR_INCOMP = 3

# Neighbor advertisement flags, in ``un`` (RFC 4861 §4.4)
ND_NA_ROUTER = 0x80000000
ND_NA_SOLICITED = 0x40000000
ND_NA_OVERRIDE = 0x20000000
ND_RA_FLAG_MANAGED = RA_UN.mask("managed")
ND_RA_FLAG_OTHER = RA_UN.mask("other")
ND_PREFIX_ONLINK = ND_OPT_PREFIX.mask("onlink")
ND_PREFIX_AUTOCONF = ND_OPT_PREFIX.mask("autoconf")

ND_OPT_SOURCE_LL_ADDR = 1
ND_OPT_TARGET_LL_ADDR = 2
ND_OPT_PREFIX_INFO = 3
ND_OPT_REDIRECT_HDR = 4
ND_OPT_MTU = 5

MLD2_MODE_IS_INCLUDE = 1
MLD2_MODE_IS_EXCLUDE = 2
MLD2_CHANGE_TO_INCLUDE = 3
MLD2_CHANGE_TO_EXCLUDE = 4

ICMPV6_TYPE_NAMES = {
    ICMPV6_DEST_UNREACH: "destination unreachable", ICMPV6_PKT_TOOBIG: "packet too big",
    ICMPV6_TIME_EXCEED: "time exceeded", ICMPV6_PARAMPROB: "parameter problem",
    ICMPV6_ECHO_REQUEST: "echo request", ICMPV6_ECHO_REPLY: "echo reply",
    ICMPV6_MGM_QUERY: "multicast listener query", ICMPV6_MGM_REPORT: "multicast listener report",
    ICMPV6_MGM_REDUCTION: "multicast listener done",
    NDISC_ROUTER_SOLICITATION: "router solicitation",
    NDISC_ROUTER_ADVERTISEMENT: "router advertisement",
    NDISC_NEIGHBOUR_SOLICITATION: "neighbor solicitation",
    NDISC_NEIGHBOUR_ADVERTISEMENT: "neighbor advertisement", NDISC_REDIRECT: "redirect",
    ICMPV6_MLD2_REPORT: "multicast listener report v2",
}  # fmt: skip

_HDR = ICMPV6.struct
_CHECKSUM = ICMPV6.offset("checksum")
_UN = ICMPV6.offset("un")
_PREFIX = ND_OPT_PREFIX.struct
_RA_BODY = RA_BODY.struct


def icmpv6_is_err(itype: int) -> bool:
    """Error messages have types 0..127 (RFC 4443 §2.1; Linux's ``icmpv6_is_err``)."""
    return itype < 128


def icmpv6_type_name(itype: int) -> str:
    return ICMPV6_TYPE_NAMES.get(itype) or f"type {itype}"


class Icmpv6Packet:
    """View over an ICMPv6 message (the upper-layer payload of an IPv6 packet)."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        self.buf = memoryview(buf)

    @classmethod
    def checked(
        cls, buf: Buffer, saddr: Buffer | None = None, daddr: Buffer | None = None
    ) -> Icmpv6Packet:
        """Check the header is there and, given the addresses, the checksum."""
        mv = memoryview(buf)
        if len(mv) < 4:
            raise Malformed("icmpv6", f"message of {len(mv)} bytes < 4")
        if (
            saddr is not None
            and daddr is not None
            and not verify_l4_6(saddr, daddr, IPPROTO_ICMPV6, mv)
        ):
            raise BadChecksum("icmpv6", f"bad checksum 0x{U16.unpack_from(mv, _CHECKSUM)[0]:04x}")
        return cls(mv)

    @property
    def type(self) -> int:
        return self.buf[0]

    @property
    def code(self) -> int:
        return self.buf[1]

    @property
    def checksum(self) -> int:
        return U16.unpack_from(self.buf, _CHECKSUM)[0]

    @property
    def un(self) -> int:
        return U32.unpack_from(self.buf, _UN)[0] if len(self.buf) >= ICMPV6_HLEN else 0

    @property
    def data(self) -> memoryview:
        return self.buf[ICMPV6_HLEN:]

    def fill_checksum(self, saddr: Buffer, daddr: Buffer) -> None:
        U16.pack_into(self.buf, _CHECKSUM, 0)
        U16.pack_into(self.buf, _CHECKSUM, l4_checksum6(saddr, daddr, IPPROTO_ICMPV6, self.buf))


@dataclass(slots=True)
class Icmpv6Repr:
    """An ICMPv6 message: type, code, the 4-byte ``un`` word and the body after it."""

    type: int
    code: int = 0
    un: int = 0
    data: bytes = b""

    @classmethod
    def echo_request(cls, ident: int, seq: int, data: bytes = b"") -> Icmpv6Repr:
        return cls(ICMPV6_ECHO_REQUEST, 0, ident << 16 | seq, data)

    @classmethod
    def echo_reply(cls, ident: int, seq: int, data: bytes = b"") -> Icmpv6Repr:
        return cls(ICMPV6_ECHO_REPLY, 0, ident << 16 | seq, data)

    @property
    def ident(self) -> int:
        return self.un >> 16

    @property
    def seq(self) -> int:
        return self.un & 0xFFFF

    @property
    def mtu(self) -> int:
        """The MTU of a packet too big (all 32 bits of ``un``)."""
        return self.un

    @property
    def pointer(self) -> int:
        """The offset of the offending octet of a parameter problem."""
        return self.un

    @property
    def is_error(self) -> bool:
        return icmpv6_is_err(self.type)

    @classmethod
    def parse(cls, pkt: Icmpv6Packet | Buffer) -> Icmpv6Repr:
        """Decode a view (or check and decode a buffer, no checksum check)."""
        if not isinstance(pkt, Icmpv6Packet):
            pkt = Icmpv6Packet.checked(pkt)
        buf = pkt.buf
        if len(buf) < ICMPV6_HLEN:
            raise Malformed("icmpv6", f"message of {len(buf)} bytes < {ICMPV6_HLEN}")
        itype, code, _check, un = _HDR.unpack_from(buf)
        return cls(itype, code, un, bytes(buf[ICMPV6_HLEN:]))

    def buffer_len(self) -> int:
        return ICMPV6_HLEN + len(self.data)

    def emit(
        self, buf: Buffer, offset: int = 0, saddr: Buffer | None = None, daddr: Buffer | None = None
    ) -> int:
        """Write the message at ``buf[offset:]``; the checksum when the addresses are given."""
        end = offset + ICMPV6_HLEN + len(self.data)
        _HDR.pack_into(buf, offset, self.type, self.code, 0, self.un & 0xFFFFFFFF)
        buf[offset + ICMPV6_HLEN : end] = self.data
        if saddr is not None and daddr is not None:
            U16.pack_into(
                buf,
                offset + _CHECKSUM,
                l4_checksum6(saddr, daddr, IPPROTO_ICMPV6, memoryview(buf)[offset:end]),
            )
        return end - offset


# -- Neighbor Discovery options ----------------------------------------------------------------
def nd_options(buf: Buffer) -> list[tuple[int, memoryview]]:
    """``ndisc_parse_options``: ``[(type, option bytes with its 2-byte header)]``."""
    mv = memoryview(buf)
    out: list[tuple[int, memoryview]] = []
    i = 0
    n = len(mv)
    while i < n:
        if n - i < 2:
            raise Malformed("ndisc", "option header cut short")
        olen = mv[i + 1] << 3
        if olen == 0:
            raise Malformed("ndisc", f"option {mv[i]} of length zero")
        if i + olen > n:
            raise Malformed("ndisc", f"option {mv[i]} runs past the message")
        out.append((mv[i], mv[i : i + olen]))
        i += olen
    return out


def nd_opt_lladdr(opt_type: int, lladdr: bytes) -> bytes:
    """A source/target link-layer address option, padded to 8-octet units."""
    size = (2 + len(lladdr) + 7) & ~7
    return bytes((opt_type, size >> 3)) + lladdr + bytes(size - 2 - len(lladdr))


def nd_opt_mtu(mtu: int) -> bytes:
    return bytes((ND_OPT_MTU, 1)) + ND_OPT_MTU_BODY.struct.pack(0, mtu)


@dataclass(slots=True)
class PrefixInfo:
    """The prefix information option (``struct prefix_info``)."""

    prefix: bytes
    prefix_len: int
    onlink: bool = True
    autoconf: bool = True
    valid: int = 2592000  # radvd's AdvValidLifetime default, 30 days
    preferred: int = 604800  # AdvPreferredLifetime, 7 days

    @classmethod
    def parse(cls, opt: Buffer) -> PrefixInfo:
        if len(opt) < ND_OPT_PREFIX_LEN:
            raise Malformed("ndisc", f"prefix option of {len(opt)} bytes")
        _t, _l, plen, flags, valid, preferred, _r, prefix = _PREFIX.unpack_from(opt)
        return cls(
            prefix,
            plen,
            bool(flags & ND_PREFIX_ONLINK),
            bool(flags & ND_PREFIX_AUTOCONF),
            valid,
            preferred,
        )

    def emit(self) -> bytes:
        flags = (ND_PREFIX_ONLINK if self.onlink else 0) | (
            ND_PREFIX_AUTOCONF if self.autoconf else 0
        )
        return _PREFIX.pack(
            ND_OPT_PREFIX_INFO,
            ND_OPT_PREFIX_LEN >> 3,
            self.prefix_len,
            flags,
            self.valid,
            self.preferred,
            0,
            self.prefix,
        )


def ra_body(reachable_ms: int, retrans_ms: int) -> bytes:
    return _RA_BODY.pack(reachable_ms, retrans_ms)


def mld2_report(records: list[tuple[int, bytes]]) -> bytes:
    """An MLDv2 report body after the 4-byte type/code/checksum: ``[(record type, group)]``
    with no sources (RFC 3810 §5.2)."""
    out = bytearray(U16.pack(0) + U16.pack(len(records)))
    grec = MLD2_GREC.struct
    for rtype, group in records:
        out += grec.pack(rtype, 0, 0, group)
    return bytes(out)


ICMPV6_CONSTRUCT: Any = cs.Struct(
    *ICMPV6.construct().subcons[:-1],
    "un"
    / cs.Switch(
        cs.this.type,
        {
            ICMPV6_ECHO_REQUEST: ICMPV6_ECHO_UN.construct(),
            ICMPV6_ECHO_REPLY: ICMPV6_ECHO_UN.construct(),
            NDISC_ROUTER_ADVERTISEMENT: RA_UN.construct(),
        },
        default=cs.Int32ub,
    ),
    "data" / cs.GreedyBytes,
)
"""Cold-path decoder; tests check it agrees with the repr."""
ND_OPT_PREFIX_CONSTRUCT: Any = ND_OPT_PREFIX.construct()
MLD2_GREC_CONSTRUCT: Any = MLD2_GREC.construct()
