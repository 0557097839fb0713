"""UDP headers: view, repr, construct decoder.

Mirrors Linux's ``include/uapi/linux/udp.h`` (``struct udphdr``) and the checks of
``__udp4_lib_rcv`` (``net/ipv4/udp.c``), in smoltcp's ``wire/udp.rs`` shape.

Contract:
- :meth:`UdpPacket.checked` needs the 8-byte header, a length field >= 8 and <= the buffer,
  and returns a view trimmed to that length.  Given the IP addresses it verifies the checksum,
  unless the field is 0 ("no checksum", RFC 768).
- :class:`UdpRepr` holds the ports and ``payload_len``.  ``emit`` writes the header; given
  the addresses it also fills the checksum over the header and the ``payload_len`` bytes the
  caller already placed after it, sending a computed 0 as 0xFFFF.  Without addresses the field
  is 0: no checksum, or a NIC that inserts it.

Spec: RFC 768; RFC 1122 §4.1.3.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stack.wire.checksum import l4_checksum, verify_l4
from stack.wire.errors import BadChecksum, Malformed, Truncated
from stack.wire.ipv4 import IPPROTO_UDP
from stack.wire.layout import U16, Buffer, Field, Layout

UDP = Layout("udp", (
    Field("src_port", "H", "source port"),
    Field("dst_port", "H", "destination port"),
    Field("length", "H", "header + payload bytes"),
    Field("checksum", "H", "checksum with the pseudo-header; 0 = none"),
))

UDP_HLEN = UDP.size  # 8
CSUM_MANGLED_0 = 0xFFFF  # a computed 0 is sent as all ones (Linux's CSUM_MANGLED_0)

_HDR = UDP.struct
_SRC_PORT = UDP.offset("src_port")
_DST_PORT = UDP.offset("dst_port")
_LENGTH = UDP.offset("length")
_CHECKSUM = UDP.offset("checksum")


class UdpPacket:
    """View over a UDP datagram (the IPv4 payload)."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks; see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer, src_ip: Buffer | None = None,
                dst_ip: Buffer | None = None) -> UdpPacket:
        """Validate lengths (and the checksum, given the addresses); view trimmed to length."""
        mv = memoryview(buf)
        n = len(mv)
        if n < UDP_HLEN:
            raise Malformed("udp", f"datagram of {n} bytes < {UDP_HLEN}")
        length = U16.unpack_from(mv, _LENGTH)[0]
        if length < UDP_HLEN:
            raise Malformed("udp", f"length field {length} < {UDP_HLEN}")
        if length > n:
            raise Truncated("udp", f"length field {length} > {n} bytes")
        if length < n:
            mv = mv[:length]
        if (src_ip is not None and dst_ip is not None and U16.unpack_from(mv, _CHECKSUM)[0]
                and not verify_l4(src_ip, dst_ip, IPPROTO_UDP, mv)):
            raise BadChecksum("udp", f"bad checksum 0x{U16.unpack_from(mv, _CHECKSUM)[0]:04x}")
        return cls(mv)

    @property
    def src_port(self) -> int:
        return U16.unpack_from(self.buf, _SRC_PORT)[0]

    @src_port.setter
    def src_port(self, value: int) -> None:
        U16.pack_into(self.buf, _SRC_PORT, value)

    @property
    def dst_port(self) -> int:
        return U16.unpack_from(self.buf, _DST_PORT)[0]

    @dst_port.setter
    def dst_port(self, value: int) -> None:
        U16.pack_into(self.buf, _DST_PORT, value)

    @property
    def length(self) -> int:
        return U16.unpack_from(self.buf, _LENGTH)[0]

    @length.setter
    def length(self, value: int) -> None:
        U16.pack_into(self.buf, _LENGTH, value)

    @property
    def checksum(self) -> int:
        return U16.unpack_from(self.buf, _CHECKSUM)[0]

    @checksum.setter
    def checksum(self, value: int) -> None:
        U16.pack_into(self.buf, _CHECKSUM, value)

    @property
    def payload(self) -> memoryview:
        return self.buf[UDP_HLEN:self.length]

    def verify_checksum(self, src_ip: Buffer, dst_ip: Buffer) -> bool:
        """True when the checksum verifies or is 0 (none)."""
        if not U16.unpack_from(self.buf, _CHECKSUM)[0]:
            return True
        return verify_l4(src_ip, dst_ip, IPPROTO_UDP, self.buf[:self.length])

    def fill_checksum(self, src_ip: Buffer, dst_ip: Buffer) -> None:
        U16.pack_into(self.buf, _CHECKSUM, 0)
        check = l4_checksum(src_ip, dst_ip, IPPROTO_UDP, self.buf[:self.length])
        U16.pack_into(self.buf, _CHECKSUM, check or CSUM_MANGLED_0)


@dataclass(slots=True)
class UdpRepr:
    """The reduced UDP header; ``payload_len`` is the length field minus 8."""

    src_port: int
    dst_port: int
    payload_len: int = 0

    @classmethod
    def parse(cls, pkt: UdpPacket | Buffer) -> UdpRepr:
        """Decode a view (or check and decode a buffer, no checksum); raises ``Malformed``."""
        if not isinstance(pkt, UdpPacket):
            pkt = UdpPacket.checked(pkt)
        src_port, dst_port, length, _ = _HDR.unpack_from(pkt.buf)
        return cls(src_port, dst_port, length - UDP_HLEN)

    def buffer_len(self) -> int:
        """Header length (8); the payload is the caller's."""
        return UDP_HLEN

    def emit(self, buf: Buffer, offset: int = 0, src_ip: Buffer | None = None,
             dst_ip: Buffer | None = None) -> int:
        """Write the header at ``buf[offset:]``; return 8.

        With ``src_ip`` and ``dst_ip``, the payload must already follow the header: the
        checksum covers it.  Without them the checksum field is 0.
        """
        length = UDP_HLEN + self.payload_len
        if length > 0xFFFF:
            raise ValueError(f"UDP length {length} > 65535")
        _HDR.pack_into(buf, offset, self.src_port, self.dst_port, length, 0)
        if src_ip is not None and dst_ip is not None:
            check = l4_checksum(src_ip, dst_ip, IPPROTO_UDP,
                                memoryview(buf)[offset:offset + length])
            U16.pack_into(buf, offset + _CHECKSUM, check or CSUM_MANGLED_0)
        return UDP_HLEN


UDP_CONSTRUCT: Any = UDP.construct()
"""Cold-path decoder; tests check it agrees with the repr."""
