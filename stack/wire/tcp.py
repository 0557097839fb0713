"""TCP headers and options: view, repr, option parser, construct decoder.

Mirrors Linux's ``include/uapi/linux/tcp.h`` (``struct tcphdr``), ``include/net/tcp.h``
(``TCPOPT_*``, ``TCPOLEN_*``, ``TCPHDR_*`` flags, ``MAX_TCP_OPTION_SPACE``), the option walk of
``tcp_parse_options`` and the option layout of ``tcp_options_write``
(``net/ipv4/tcp_input.c``, ``tcp_output.c``), in smoltcp's ``wire/tcp.rs`` shape.

Contract:
- Flags are plain ints (``FIN SYN RST PSH ACK URG ECE CWR``); :func:`flags_str` prints them
  as tcpdump does.  Sequence and acknowledgment numbers are raw 32-bit ints; ``window`` is the
  raw 16-bit field (unscaled).  The four reserved bits (AccECN's AE among them) are dropped.
- :meth:`TcpPacket.checked` validates the data offset against the buffer and, given the IP
  addresses, the checksum.  Options are validated by :func:`parse_options` and
  :meth:`TcpRepr.parse`, which raise :class:`Malformed` for hostile lengths (0, 1, past the
  end) and for known options of the wrong size.  This is stricter than Linux, which stops
  reading options at the first bad one and keeps the segment (deliberate: smoltcp's choice).
  Options of unknown kinds are kept as raw ``(kind, body)`` pairs.
- :class:`TcpRepr` ``emit`` writes the options in Linux's order (MSS, SACK-permitted+TS or
  NOP NOP TS, NOP wscale, NOP NOP SACK-permitted, NOP NOP SACK), then the unknown ones, padded
  with EOL to a multiple of 4; given the IP addresses it fills the checksum over the header
  and the ``payload_len`` bytes the caller already placed after it.

Spec: RFC 9293 §3.1-3.2; RFC 7323 (window scale, timestamps); RFC 2018 (SACK);
RFC 3168 §6.1 (ECE, CWR).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, NamedTuple

import construct as cs

from stack.wire.checksum import l4_checksum, verify_l4
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.ipv4 import IPPROTO_TCP
from stack.wire.layout import U16, U32, Buffer, Field, Layout

TCP = Layout("tcp", (
    Field("src_port", "H", "source port"),
    Field("dst_port", "H", "destination port"),
    Field("seq", "I", "sequence number"),
    Field("ack", "I", "acknowledgment number"),
    Field("doff_res", "B", "data offset in 32-bit words, reserved bits",
          (("doff", 4), ("reserved", 4))),
    Field("flags", "B", "control bits",
          (("cwr", 1), ("ece", 1), ("urg", 1), ("ack", 1),
           ("psh", 1), ("rst", 1), ("syn", 1), ("fin", 1))),
    Field("window", "H", "receive window (scaled by the peer's window scale)"),
    Field("checksum", "H", "checksum with the pseudo-header"),
    Field("urgent", "H", "urgent pointer"),
))

FIN = TCP.mask("fin")  # 0x01
SYN = TCP.mask("syn")  # 0x02
RST = TCP.mask("rst")  # 0x04
PSH = TCP.mask("psh")  # 0x08
ACK = TCP.mask("ack")  # 0x10
URG = TCP.mask("urg")  # 0x20
ECE = TCP.mask("ece")  # 0x40
CWR = TCP.mask("cwr")  # 0x80

TCP_HLEN = TCP.size  # 20
TCP_MAX_HLEN = 60
MAX_TCP_OPTION_SPACE = TCP_MAX_HLEN - TCP_HLEN  # 40
TCP_MAX_SACKS = 4

TCPOPT_EOL = 0
TCPOPT_NOP = 1
TCPOPT_MSS = 2
TCPOPT_WINDOW = 3
TCPOPT_SACK_PERM = 4
TCPOPT_SACK = 5
TCPOPT_TIMESTAMP = 8
TCPOPT_MD5SIG = 19
TCPOPT_FASTOPEN = 34
TCPOPT_EXP = 254


class TcpOption(NamedTuple):
    """A TCP option kind: tcpdump's name, its total length (0: variable), its body's code."""

    kind: int
    name: str
    length: int
    body: str


TCP_OPTIONS = (
    TcpOption(TCPOPT_EOL, "eol", 1, ""),
    TcpOption(TCPOPT_NOP, "nop", 1, ""),
    TcpOption(TCPOPT_MSS, "mss", 4, "H"),
    TcpOption(TCPOPT_WINDOW, "wscale", 3, "B"),
    TcpOption(TCPOPT_SACK_PERM, "sackOK", 2, ""),
    TcpOption(TCPOPT_SACK, "sack", 0, "II"),  # 1 to 4 (left, right) blocks
    TcpOption(TCPOPT_TIMESTAMP, "TS", 10, "II"),
)
TCP_OPTION_NAMES = {o.kind: o.name for o in TCP_OPTIONS}
_OPT = {o.kind: o for o in TCP_OPTIONS}

TCPOLEN_MSS = _OPT[TCPOPT_MSS].length  # 4
TCPOLEN_WINDOW = _OPT[TCPOPT_WINDOW].length  # 3
TCPOLEN_SACK_PERM = _OPT[TCPOPT_SACK_PERM].length  # 2
TCPOLEN_TIMESTAMP = _OPT[TCPOPT_TIMESTAMP].length  # 10
TCPOLEN_SACK_BASE = 2
TCPOLEN_SACK_PERBLOCK = struct.calcsize("!" + _OPT[TCPOPT_SACK].body)  # 8

_FLAG_CHARS = ((FIN, "F"), (SYN, "S"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"),
               (ECE, "E"), (CWR, "W"))  # tcpdump's order and letters

_HDR = TCP.struct
_SRC_PORT = TCP.offset("src_port")
_DST_PORT = TCP.offset("dst_port")
_SEQ = TCP.offset("seq")
_ACK = TCP.offset("ack")
_DOFF = TCP.offset("doff_res")
_FLAGS = TCP.offset("flags")
_WINDOW = TCP.offset("window")
_CHECKSUM = TCP.offset("checksum")
_URGENT = TCP.offset("urgent")
_DOFF_SHIFT = TCP.shift("doff")

_MSS = struct.Struct("!BB" + _OPT[TCPOPT_MSS].body)
_WS = struct.Struct("!BBB" + _OPT[TCPOPT_WINDOW].body)  # NOP, kind, len, shift
_SACKPERM_TS = struct.Struct("!BBBB" + _OPT[TCPOPT_TIMESTAMP].body)
_NOP_NOP_TS = _SACKPERM_TS  # NOP, NOP, kind, len, tsval, tsecr: same shape
_NOP_NOP_SACKPERM = struct.Struct("!BBBB")
_TS_BODY = struct.Struct("!" + _OPT[TCPOPT_TIMESTAMP].body)
_SACK_BLOCK = struct.Struct("!" + _OPT[TCPOPT_SACK].body)
_NOP_NOP_TS_PREFIX = bytes((TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP))
_NOP_NOP_TS_LEN = 2 + TCPOLEN_TIMESTAMP  # 12


TCPOLEN_FASTOPEN_BASE = 2


def _fastopen_len(cookie: bytes) -> int:
    """Bytes the Fast Open option takes: kind, length, cookie, and NOP NOP when the option's
    length is 2 modulo 4 (``tcp_options_write``)."""
    length = TCPOLEN_FASTOPEN_BASE + len(cookie)
    return length + 2 if length & 3 == 2 else length


def flags_str(flags: int) -> str:
    """tcpdump's flag letters: ``S``, ``S.``, ``P.``, ``F.``, ``R``; ``none`` for 0."""
    return "".join(c for bit, c in _FLAG_CHARS if flags & bit) or "none"


def _option_len(data: Buffer, i: int, n: int) -> int:
    """Total length of the option at ``data[i]``, checked; raises ``Malformed``."""
    kind = data[i]
    if kind <= TCPOPT_NOP:
        return 1
    if i + 1 >= n:
        raise Malformed("tcp", f"option {kind} at {i} has no length byte")
    length = data[i + 1]
    if length < 2:
        raise Malformed("tcp", f"option {kind} at {i} has length {length} < 2")
    if i + length > n:
        raise Malformed("tcp", f"option {kind} at {i} of length {length} runs past {n}")
    spec = _OPT.get(kind)
    if spec is not None:
        if spec.length:
            if length != spec.length:
                raise Malformed("tcp", f"{spec.name} option length {length} != {spec.length}")
        elif (length - TCPOLEN_SACK_BASE) % TCPOLEN_SACK_PERBLOCK or length == 2:
            raise Malformed("tcp", f"sack option length {length}")
    return length


def parse_options(data: Buffer) -> list[tuple[int, bytes]]:
    """Split an options area into ``(kind, body)`` in wire order, EOL included, then stop.

    Raises :class:`Malformed` on hostile lengths; unknown kinds are returned as they are.
    """
    out: list[tuple[int, bytes]] = []
    n = len(data)
    i = 0
    while i < n:
        kind = data[i]
        length = _option_len(data, i, n)
        out.append((kind, bytes(data[i + 2:i + length])))
        if kind == TCPOPT_EOL:
            break
        i += length
    return out


class TcpPacket:
    """View over a TCP segment (the IPv4 payload)."""

    __slots__ = ("buf",)

    def __init__(self, buf: Buffer) -> None:
        """Wrap ``buf`` without checks; see :meth:`checked`."""
        self.buf = memoryview(buf)

    @classmethod
    def checked(cls, buf: Buffer, src_ip: Buffer | None = None,
                dst_ip: Buffer | None = None) -> TcpPacket:
        """Validate the header length (and the checksum, given the IP addresses)."""
        mv = memoryview(buf)
        n = len(mv)
        if n < TCP_HLEN:
            raise Malformed("tcp", f"segment of {n} bytes < {TCP_HLEN}")
        hl = (mv[_DOFF] >> _DOFF_SHIFT) << 2
        if hl < TCP_HLEN:
            raise Malformed("tcp", f"data offset {hl >> 2} < 5")
        if hl > n:
            raise Malformed("tcp", f"header of {hl} bytes > segment of {n}")
        if src_ip is not None and dst_ip is not None and not verify_l4(
                src_ip, dst_ip, IPPROTO_TCP, mv):
            raise BadChecksum("tcp", f"bad checksum 0x{U16.unpack_from(mv, _CHECKSUM)[0]:04x}")
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
    def seq(self) -> int:
        return U32.unpack_from(self.buf, _SEQ)[0]

    @seq.setter
    def seq(self, value: int) -> None:
        U32.pack_into(self.buf, _SEQ, value)

    @property
    def ack(self) -> int:
        return U32.unpack_from(self.buf, _ACK)[0]

    @ack.setter
    def ack(self, value: int) -> None:
        U32.pack_into(self.buf, _ACK, value)

    @property
    def header_len(self) -> int:
        """Data offset in bytes."""
        return (self.buf[_DOFF] >> _DOFF_SHIFT) << 2

    @property
    def flags(self) -> int:
        return self.buf[_FLAGS]

    @flags.setter
    def flags(self, value: int) -> None:
        self.buf[_FLAGS] = value

    @property
    def window(self) -> int:
        return U16.unpack_from(self.buf, _WINDOW)[0]

    @window.setter
    def window(self, value: int) -> None:
        U16.pack_into(self.buf, _WINDOW, value)

    @property
    def checksum(self) -> int:
        return U16.unpack_from(self.buf, _CHECKSUM)[0]

    @checksum.setter
    def checksum(self, value: int) -> None:
        U16.pack_into(self.buf, _CHECKSUM, value)

    @property
    def urgent(self) -> int:
        return U16.unpack_from(self.buf, _URGENT)[0]

    @urgent.setter
    def urgent(self, value: int) -> None:
        U16.pack_into(self.buf, _URGENT, value)

    @property
    def options(self) -> memoryview:
        return self.buf[TCP_HLEN:self.header_len]

    @property
    def payload(self) -> memoryview:
        return self.buf[self.header_len:]

    def verify_checksum(self, src_ip: Buffer, dst_ip: Buffer) -> bool:
        return verify_l4(src_ip, dst_ip, IPPROTO_TCP, self.buf)

    def fill_checksum(self, src_ip: Buffer, dst_ip: Buffer) -> None:
        """Checksum over the whole view (header + payload)."""
        U16.pack_into(self.buf, _CHECKSUM, 0)
        U16.pack_into(self.buf, _CHECKSUM, l4_checksum(src_ip, dst_ip, IPPROTO_TCP, self.buf))


@dataclass(slots=True)
class TcpRepr:
    """The reduced TCP header with decoded options; ``payload_len`` bytes follow it."""

    src_port: int
    dst_port: int
    seq: int
    ack: int
    flags: int
    window: int
    urgent: int = 0
    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    sack_blocks: tuple[tuple[int, int], ...] = ()
    timestamp: tuple[int, int] | None = None  # (TSval, TSecr)
    other_options: tuple[tuple[int, bytes], ...] = ()  # unknown kinds, raw (kind, body)
    payload_len: int = 0
    fastopen: bytes | None = None  # RFC 7413 option body: b"" requests a cookie

    @property
    def segment_len(self) -> int:
        """SEG.LEN: payload plus one for SYN and one for FIN (RFC 9293 §3.4)."""
        return self.payload_len + bool(self.flags & SYN) + bool(self.flags & FIN)

    @classmethod
    def parse(cls, pkt: TcpPacket | Buffer) -> TcpRepr:
        """Decode a view (or check and decode a buffer, no checksum) with its options.

        Raises :class:`Malformed` for hostile option lengths.
        """
        if not isinstance(pkt, TcpPacket):
            pkt = TcpPacket.checked(pkt)
        buf = pkt.buf
        sport, dport, seq, ack, doff, flags, window, _, urgent = _HDR.unpack_from(buf)
        hl = (doff >> _DOFF_SHIFT) << 2
        rep = cls(sport, dport, seq, ack, flags, window, urgent, payload_len=len(buf) - hl)
        if hl == TCP_HLEN:
            return rep
        if hl == TCP_HLEN + _NOP_NOP_TS_LEN and buf[TCP_HLEN:TCP_HLEN + 4] == _NOP_NOP_TS_PREFIX:
            rep.timestamp = _TS_BODY.unpack_from(buf, TCP_HLEN + 4)  # Linux's fast path
            return rep
        _decode_options(rep, buf[TCP_HLEN:hl])
        return rep

    def options_len(self) -> int:
        """Bytes of options ``emit`` writes, before padding."""
        n = TCPOLEN_MSS if self.mss is not None else 0
        if self.timestamp is not None:
            n += _NOP_NOP_TS_LEN
        elif self.sack_permitted:
            n += 4
        if self.wscale is not None:
            n += 1 + TCPOLEN_WINDOW
        if self.sack_blocks:
            n += 2 + TCPOLEN_SACK_BASE + TCPOLEN_SACK_PERBLOCK * len(self.sack_blocks)
        if self.fastopen is not None:
            n += _fastopen_len(self.fastopen)
        for _, body in self.other_options:
            n += 2 + len(body)
        return n

    def buffer_len(self) -> int:
        """Header length, options padded; the payload is the caller's."""
        return TCP_HLEN + ((self.options_len() + 3) & ~3)

    def emit(self, buf: Buffer, offset: int = 0, src_ip: Buffer | None = None,
             dst_ip: Buffer | None = None) -> int:
        """Write header and options at ``buf[offset:]``; return the header length.

        With ``src_ip`` and ``dst_ip`` the checksum covers the header and the
        ``payload_len`` bytes already after it; without them the field is 0 (a NIC, or the
        caller, fills it).  Raises ``ValueError`` when the options exceed 40 bytes.
        """
        if (self.mss is None and self.wscale is None and not self.sack_permitted
                and not self.sack_blocks and not self.other_options and self.fastopen is None):
            if self.timestamp is None:
                hl = TCP_HLEN
            else:
                tsval, tsecr = self.timestamp
                _NOP_NOP_TS.pack_into(buf, offset + TCP_HLEN, TCPOPT_NOP, TCPOPT_NOP,
                                      TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP, tsval, tsecr)
                hl = TCP_HLEN + _NOP_NOP_TS_LEN
        else:
            hl = TCP_HLEN + self._emit_options(buf, offset + TCP_HLEN)
        _HDR.pack_into(buf, offset, self.src_port, self.dst_port, self.seq, self.ack,
                       (hl >> 2) << _DOFF_SHIFT, self.flags, self.window, 0, self.urgent)
        if src_ip is not None and dst_ip is not None:
            end = offset + hl + self.payload_len
            U16.pack_into(buf, offset + _CHECKSUM,
                          l4_checksum(src_ip, dst_ip, IPPROTO_TCP, memoryview(buf)[offset:end]))
        return hl

    def _emit_options(self, buf: Buffer, at: int) -> int:
        """Write the options in Linux's order at ``buf[at:]``; return the padded length."""
        olen = self.options_len()
        padded = (olen + 3) & ~3
        if padded > MAX_TCP_OPTION_SPACE:
            raise ValueError(f"{olen} bytes of TCP options > {MAX_TCP_OPTION_SPACE}")
        i = at
        if self.mss is not None:
            _MSS.pack_into(buf, i, TCPOPT_MSS, TCPOLEN_MSS, self.mss)
            i += TCPOLEN_MSS
        if self.timestamp is not None:
            first, second = ((TCPOPT_SACK_PERM, TCPOLEN_SACK_PERM) if self.sack_permitted
                             else (TCPOPT_NOP, TCPOPT_NOP))
            _SACKPERM_TS.pack_into(buf, i, first, second, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP,
                                   *self.timestamp)
            i += _NOP_NOP_TS_LEN
        if self.wscale is not None:
            _WS.pack_into(buf, i, TCPOPT_NOP, TCPOPT_WINDOW, TCPOLEN_WINDOW, self.wscale)
            i += 1 + TCPOLEN_WINDOW
        if self.sack_permitted and self.timestamp is None:
            _NOP_NOP_SACKPERM.pack_into(buf, i, TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM,
                                        TCPOLEN_SACK_PERM)
            i += 4
        if self.sack_blocks:
            if len(self.sack_blocks) > TCP_MAX_SACKS:
                raise ValueError(f"{len(self.sack_blocks)} SACK blocks > {TCP_MAX_SACKS}")
            length = TCPOLEN_SACK_BASE + TCPOLEN_SACK_PERBLOCK * len(self.sack_blocks)
            _NOP_NOP_SACKPERM.pack_into(buf, i, TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK, length)
            i += 4
            for left, right in self.sack_blocks:
                _SACK_BLOCK.pack_into(buf, i, left, right)
                i += TCPOLEN_SACK_PERBLOCK
        if self.fastopen is not None:
            cookie = self.fastopen
            length = TCPOLEN_FASTOPEN_BASE + len(cookie)
            buf[i] = TCPOPT_FASTOPEN
            buf[i + 1] = length
            buf[i + 2:i + length] = cookie
            i += length
            if length & 3 == 2:  # tcp_options_write pads the option itself with NOP NOP
                buf[i] = buf[i + 1] = TCPOPT_NOP
                i += 2
        for kind, body in self.other_options:
            buf[i] = kind
            buf[i + 1] = 2 + len(body)
            buf[i + 2:i + 2 + len(body)] = body
            i += 2 + len(body)
        end = at + padded
        if i < end:
            buf[i:end] = bytes(end - i)  # EOL, then zeros (RFC 9293 §3.2)
        return padded


def _decode_options(rep: TcpRepr, opts: memoryview) -> None:
    """Fill ``rep``'s option fields from an options area (``tcp_parse_options``)."""
    n = len(opts)
    i = 0
    other: list[tuple[int, bytes]] = []
    while i < n:
        kind = opts[i]
        if kind == TCPOPT_EOL:
            break
        length = _option_len(opts, i, n)
        if kind == TCPOPT_TIMESTAMP:
            rep.timestamp = _TS_BODY.unpack_from(opts, i + 2)
        elif kind == TCPOPT_MSS:
            rep.mss = U16.unpack_from(opts, i + 2)[0]
        elif kind == TCPOPT_WINDOW:
            rep.wscale = opts[i + 2]
        elif kind == TCPOPT_SACK_PERM:
            rep.sack_permitted = True
        elif kind == TCPOPT_SACK:
            rep.sack_blocks = tuple(_SACK_BLOCK.iter_unpack(opts[i + 2:i + length]))
        elif kind == TCPOPT_FASTOPEN:
            rep.fastopen = bytes(opts[i + 2:i + length])
        elif kind != TCPOPT_NOP:
            other.append((kind, bytes(opts[i + 2:i + length])))
        i += length
    if other:
        rep.other_options = tuple(other)


_OPTION_CONSTRUCT = cs.Struct(
    "kind" / cs.Int8ub,
    "length" / cs.If(cs.this.kind > TCPOPT_NOP, cs.Int8ub),
    "body" / cs.If(cs.this.kind > TCPOPT_NOP, cs.Switch(cs.this.kind, {
        TCPOPT_MSS: cs.Int16ub,
        TCPOPT_WINDOW: cs.Int8ub,
        TCPOPT_SACK_PERM: cs.Pass,
        TCPOPT_TIMESTAMP: cs.Struct("tsval" / cs.Int32ub, "tsecr" / cs.Int32ub),
        TCPOPT_SACK: cs.Array((cs.this.length - TCPOLEN_SACK_BASE) // TCPOLEN_SACK_PERBLOCK,
                              cs.Struct("left" / cs.Int32ub, "right" / cs.Int32ub)),
    }, default=cs.Bytes(cs.this.length - 2))),
)
TCP_CONSTRUCT: Any = cs.Struct(
    *TCP.construct().subcons,
    "options" / cs.FixedSized(cs.this.doff_res.doff * 4 - TCP_HLEN,
                              cs.GreedyRange(_OPTION_CONSTRUCT)),
)
"""Cold-path decoder with options as a list (each EOL/padding byte is an ``eol`` entry)."""
