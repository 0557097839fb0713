"""ICMP for IPv4: view, repr, construct decoder, and the quoted datagram of error messages.

Mirrors Linux's ``include/uapi/linux/icmp.h`` (``struct icmphdr`` with its ``un`` union,
``ICMP_*`` types and codes) and the quoting rule of ``icmp_send``
(``net/ipv4/icmp.c``), in smoltcp's ``wire/icmpv4.rs`` shape.

Contract:
- :class:`IcmpRepr` keeps ``type``, ``code``, the 4-byte rest-of-header ``un`` as one int and
  the body ``data``; ``ident``/``seq``/``mtu``/``gateway``/``pointer`` read ``un`` as the type
  says, and the constructors (``echo_request``, ``dest_unreachable``, ``time_exceeded``, ...)
  build it.  Unknown types and codes are kept as raw ints.
- Error messages carry the offending datagram's IP header plus at least 8 bytes of its
  payload (RFC 792); :func:`quote_datagram` cuts that quote and :func:`parse_quoted` reads it
  back (the quoted payload may be shorter than its header's total length).
- ``emit`` fills the checksum (over the whole message) unless told not to.

Spec: RFC 792; RFC 1191 §4 (next-hop MTU in "fragmentation needed"); RFC 1812 §4.3.2.3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import construct as cs

from fastpath import internet_checksum
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.ipv4 import IPV4_HLEN, Ipv4Packet, Ipv4Repr
from stack.wire.layout import U16, U32, Buffer, Field, Layout

ICMP = Layout("icmp", (
    Field("type", "B", "message type (ICMP_*)"),
    Field("code", "B", "subtype"),
    Field("checksum", "H", "checksum of the whole message"),
    Field("un", "I", "rest of header, read as one of the layouts below"),
))
# The ``un`` union of ``struct icmphdr``, offsets relative to the start of ``un``.
ICMP_ECHO_UN = Layout("icmp.echo", (
    Field("ident", "H", "identifier"),
    Field("seq", "H", "sequence number"),
))
ICMP_FRAG_UN = Layout("icmp.frag", (
    Field("unused", "H", "zero"),
    Field("mtu", "H", "next-hop MTU (RFC 1191), for code ICMP_FRAG_NEEDED"),
))
ICMP_REDIRECT_UN = Layout("icmp.redirect", (
    Field("gateway", "4s", "gateway address"),
))
ICMP_PARAM_UN = Layout("icmp.param", (
    Field("pointer", "B", "octet of the quoted header in error"),
    Field("unused", "3s", "zero"),
))

ICMP_HLEN = ICMP.size  # 8
ICMP_QUOTE_PAYLOAD = 8  # RFC 792: "the internet header plus the first 64 bits"
ICMP_QUOTE_MAX = 576 - IPV4_HLEN - ICMP_HLEN  # Linux's icmp_send room (RFC 1812 §4.3.2.3)

ICMP_ECHOREPLY = 0
ICMP_DEST_UNREACH = 3
ICMP_SOURCE_QUENCH = 4
ICMP_REDIRECT = 5
ICMP_ECHO = 8
ICMP_TIME_EXCEEDED = 11
ICMP_PARAMETERPROB = 12
ICMP_TIMESTAMP = 13
ICMP_TIMESTAMPREPLY = 14
ICMP_INFO_REQUEST = 15
ICMP_INFO_REPLY = 16
ICMP_ADDRESS = 17
ICMP_ADDRESSREPLY = 18

# Codes for ICMP_DEST_UNREACH.
ICMP_NET_UNREACH = 0
ICMP_HOST_UNREACH = 1
ICMP_PROT_UNREACH = 2
ICMP_PORT_UNREACH = 3
ICMP_FRAG_NEEDED = 4
ICMP_SR_FAILED = 5
ICMP_NET_UNKNOWN = 6
ICMP_HOST_UNKNOWN = 7
ICMP_HOST_ISOLATED = 8
ICMP_NET_ANO = 9
ICMP_HOST_ANO = 10
ICMP_NET_UNR_TOS = 11
ICMP_HOST_UNR_TOS = 12
ICMP_PKT_FILTERED = 13
ICMP_PREC_VIOLATION = 14
ICMP_PREC_CUTOFF = 15
# Codes for ICMP_REDIRECT.
ICMP_REDIR_NET = 0
ICMP_REDIR_HOST = 1
ICMP_REDIR_NETTOS = 2
ICMP_REDIR_HOSTTOS = 3
# Codes for ICMP_TIME_EXCEEDED.
ICMP_EXC_TTL = 0
ICMP_EXC_FRAGTIME = 1

ICMP_TYPE_NAMES = {
    ICMP_ECHOREPLY: "echo reply",
    ICMP_DEST_UNREACH: "destination unreachable",
    ICMP_SOURCE_QUENCH: "source quench",
    ICMP_REDIRECT: "redirect",
    ICMP_ECHO: "echo request",
    ICMP_TIME_EXCEEDED: "time exceeded",
    ICMP_PARAMETERPROB: "parameter problem",
    ICMP_TIMESTAMP: "time stamp request",
    ICMP_TIMESTAMPREPLY: "time stamp reply",
    ICMP_INFO_REQUEST: "information request",
    ICMP_INFO_REPLY: "information reply",
    ICMP_ADDRESS: "address mask request",
    ICMP_ADDRESSREPLY: "address mask reply",
}

# Error messages: the body is a quoted datagram (Linux's icmp_is_err, IPv4 part).
ICMP_ERROR_TYPES = frozenset({
    ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB,
})

_HDR = ICMP.struct
_UN = ICMP.offset("un")
_CHECKSUM = ICMP.offset("checksum")
_IDENT = _UN + ICMP_ECHO_UN.offset("ident")
_SEQ = _UN + ICMP_ECHO_UN.offset("seq")
_MTU = _UN + ICMP_FRAG_UN.offset("mtu")
_GATEWAY = _UN + ICMP_REDIRECT_UN.offset("gateway")
_POINTER = _UN + ICMP_PARAM_UN.offset("pointer")


def icmp_type_name(icmp_type: int) -> str:
    """tcpdump's words for a type, or ``type N`` when unknown."""
    return ICMP_TYPE_NAMES.get(icmp_type) or f"type {icmp_type}"


class IcmpPacket:
    """View over an ICMP message (the IPv4 payload)."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks; see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer, verify_checksum: bool = True) -> IcmpPacket:
        """Check the header is there and (optionally) the checksum; ``Malformed`` otherwise."""
        mv = memoryview(buf)
        if len(mv) < ICMP_HLEN:
            raise Malformed("icmp", f"message of {len(mv)} bytes < {ICMP_HLEN}")
        if verify_checksum and internet_checksum(mv) != 0:
            raise BadChecksum("icmp", f"bad checksum 0x{U16.unpack_from(mv, _CHECKSUM)[0]:04x}")
        return cls(mv)

    @property
    def type(self) -> int:
        return self.buf[0]

    @type.setter
    def type(self, value: int) -> None:
        self.buf[0] = value

    @property
    def code(self) -> int:
        return self.buf[1]

    @code.setter
    def code(self, value: int) -> None:
        self.buf[1] = value

    @property
    def checksum(self) -> int:
        return U16.unpack_from(self.buf, _CHECKSUM)[0]

    @checksum.setter
    def checksum(self, value: int) -> None:
        U16.pack_into(self.buf, _CHECKSUM, value)

    @property
    def un(self) -> int:
        return U32.unpack_from(self.buf, _UN)[0]

    @un.setter
    def un(self, value: int) -> None:
        U32.pack_into(self.buf, _UN, value)

    @property
    def ident(self) -> int:
        return U16.unpack_from(self.buf, _IDENT)[0]

    @ident.setter
    def ident(self, value: int) -> None:
        U16.pack_into(self.buf, _IDENT, value)

    @property
    def seq(self) -> int:
        return U16.unpack_from(self.buf, _SEQ)[0]

    @seq.setter
    def seq(self, value: int) -> None:
        U16.pack_into(self.buf, _SEQ, value)

    @property
    def mtu(self) -> int:
        return U16.unpack_from(self.buf, _MTU)[0]

    @property
    def gateway(self) -> bytes:
        return bytes(self.buf[_GATEWAY:_GATEWAY + 4])

    @property
    def pointer(self) -> int:
        return self.buf[_POINTER]

    @property
    def data(self) -> memoryview:
        return self.buf[ICMP_HLEN:]

    def verify_checksum(self) -> bool:
        return internet_checksum(self.buf) == 0

    def fill_checksum(self) -> None:
        U16.pack_into(self.buf, _CHECKSUM, 0)
        U16.pack_into(self.buf, _CHECKSUM, internet_checksum(self.buf))


@dataclass(slots=True)
class IcmpRepr:
    """An ICMP message: type, code, the rest-of-header word ``un`` and the body."""

    type: int
    code: int = 0
    un: int = 0
    data: bytes = b""

    @classmethod
    def echo_request(cls, ident: int, seq: int, data: bytes = b"") -> IcmpRepr:
        return cls(ICMP_ECHO, 0, ident << 16 | seq, data)

    @classmethod
    def echo_reply(cls, ident: int, seq: int, data: bytes = b"") -> IcmpRepr:
        return cls(ICMP_ECHOREPLY, 0, ident << 16 | seq, data)

    @classmethod
    def dest_unreachable(cls, code: int, quote: bytes, mtu: int = 0) -> IcmpRepr:
        """``quote`` from :func:`quote_datagram`; ``mtu`` for ``ICMP_FRAG_NEEDED``."""
        return cls(ICMP_DEST_UNREACH, code, mtu & 0xFFFF, quote)

    @classmethod
    def time_exceeded(cls, code: int, quote: bytes) -> IcmpRepr:
        return cls(ICMP_TIME_EXCEEDED, code, 0, quote)

    @classmethod
    def parameter_problem(cls, pointer: int, quote: bytes) -> IcmpRepr:
        return cls(ICMP_PARAMETERPROB, 0, pointer << 24, quote)

    @property
    def ident(self) -> int:
        return self.un >> 16

    @property
    def seq(self) -> int:
        return self.un & 0xFFFF

    @property
    def mtu(self) -> int:
        return self.un & 0xFFFF

    @property
    def gateway(self) -> bytes:
        return self.un.to_bytes(4, "big")

    @property
    def pointer(self) -> int:
        return self.un >> 24

    @property
    def is_error(self) -> bool:
        return self.type in ICMP_ERROR_TYPES

    @classmethod
    def parse(cls, pkt: IcmpPacket | Buffer) -> IcmpRepr:
        """Decode a view (or check and decode a buffer); raises :class:`Malformed`."""
        if not isinstance(pkt, IcmpPacket):
            pkt = IcmpPacket.checked(pkt)
        buf = pkt.buf
        icmp_type, code, _, un = _HDR.unpack_from(buf)
        return cls(icmp_type, code, un, bytes(buf[ICMP_HLEN:]))

    def buffer_len(self) -> int:
        return ICMP_HLEN + len(self.data)

    def emit(self, buf: Buffer, offset: int = 0, checksum: bool = True) -> int:
        """Write header and body at ``buf[offset:]``; return the message length."""
        end = offset + ICMP_HLEN + len(self.data)
        _HDR.pack_into(buf, offset, self.type, self.code, 0, self.un)
        buf[offset + ICMP_HLEN:end] = self.data
        if checksum:
            U16.pack_into(buf, offset + _CHECKSUM,
                          internet_checksum(memoryview(buf)[offset:end]))
        return end - offset


def quote_datagram(ip_packet: Buffer, max_len: int | None = None) -> bytes:
    """The part of an offending datagram an ICMP error carries.

    By default its IP header plus 8 payload bytes (RFC 792); ``max_len`` quotes up to that
    many bytes instead (Linux quotes up to ``ICMP_QUOTE_MAX``, RFC 1812 §4.3.2.3).
    """
    if max_len is None:
        ihl = (ip_packet[0] & 0x0F) << 2 if len(ip_packet) else 0
        max_len = max(ihl, IPV4_HLEN) + ICMP_QUOTE_PAYLOAD
    return bytes(ip_packet[:max_len])


def parse_quoted(data: Buffer) -> tuple[Ipv4Repr, memoryview]:
    """The quoted datagram of an error message: its IP header and the payload bytes quoted.

    The payload may be shorter than the header's total length; the caller checks it holds
    what it needs (8 bytes: the ports and, for TCP, the sequence number).
    """
    pkt = Ipv4Packet.checked(data, quoted=True)
    return Ipv4Repr.parse(pkt), pkt.payload


ICMP_CONSTRUCT: Any = cs.Struct(
    *ICMP.construct().subcons[:-1],
    "un" / cs.Switch(cs.this.type, {
        ICMP_ECHO: ICMP_ECHO_UN.construct(),
        ICMP_ECHOREPLY: ICMP_ECHO_UN.construct(),
        ICMP_DEST_UNREACH: ICMP_FRAG_UN.construct(),
        ICMP_REDIRECT: ICMP_REDIRECT_UN.construct(),
        ICMP_PARAMETERPROB: ICMP_PARAM_UN.construct(),
    }, default=cs.Int32ub),
    "data" / cs.GreedyBytes,
)
"""Cold-path decoder; tests check it agrees with the repr."""
