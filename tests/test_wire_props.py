"""stack/wire under hypothesis: round trips of random reprs, hostile bytes into every entry.

Properties:
- every repr the strategies can build survives the round-trip helpers of ``helpers.wire``
  (emit into pre-filled buffers, parse, view getters, ``construct`` agreement, checksums
  against the reference sum);
- any bytes given to any ``checked()`` (and to ``Repr.parse`` after it) either decode or raise
  ``Malformed``, never anything else; the same for TCP options with hostile lengths;
- ``describe()`` returns a string for any bytes, random or mutated from valid frames.

Examples are derandomized, so runs are reproducible.
"""

from __future__ import annotations

import struct
from typing import Any

from helpers.wire import (
    ref_checksum,
    ref_l4,
    roundtrip_arp,
    roundtrip_ethernet,
    roundtrip_icmp,
    roundtrip_ipv4,
    roundtrip_tcp,
    roundtrip_udp,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stack.wire import (
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    ArpPacket,
    ArpRepr,
    EthernetFrame,
    EthernetRepr,
    IcmpPacket,
    IcmpRepr,
    Ipv4Packet,
    Ipv4Repr,
    Malformed,
    TcpPacket,
    TcpRepr,
    UdpPacket,
    UdpRepr,
    describe,
    internet_checksum,
    ip_bytes,
    ip_str,
    l4_checksum,
    mac_bytes,
    mac_str,
    parse_options,
    parse_quoted,
)

PROPS = settings(max_examples=150, derandomize=True, deadline=None)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
macs = st.binary(min_size=6, max_size=6)
addrs = st.binary(min_size=4, max_size=4)

ethernet_reprs = st.builds(EthernetRepr, macs, macs, u16.filter(lambda t: t != ETH_P_8021Q),
                           st.none() | u16)
arp_reprs = st.builds(ArpRepr, u16, macs, addrs, macs, addrs)
ipv4_reprs = st.builds(
    Ipv4Repr, addrs, addrs, u8, st.integers(0, 64), ttl=u8, ident=u16, df=st.booleans(),
    mf=st.booleans(), frag_offset=st.integers(0, 0x1FFF).map(lambda o: o * 8),
    dscp=st.integers(0, 63), ecn=st.integers(0, 3),
    options=st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)))
icmp_reprs = st.builds(IcmpRepr, u8, u8, u32, st.binary(max_size=64))
udp_reprs = st.builds(UdpRepr, u16, u16, st.integers(0, 64))
_UNKNOWN_KINDS = st.integers(6, 254).filter(lambda k: k not in (8, 34))
tcp_reprs = st.builds(
    TcpRepr, u16, u16, u32, u32, u8, u16, urgent=u16, mss=st.none() | u16,
    wscale=st.none() | u8, sack_permitted=st.booleans(),
    sack_blocks=st.lists(st.tuples(u32, u32), max_size=4).map(tuple),
    timestamp=st.none() | st.tuples(u32, u32),
    other_options=st.lists(st.tuples(_UNKNOWN_KINDS, st.binary(max_size=6)),
                           max_size=2).map(tuple),
    payload_len=st.integers(0, 40),
    fastopen=st.none() | st.binary(max_size=4).map(lambda b: b * 2))


@PROPS
@given(ethernet_reprs, st.binary(max_size=8))
def test_ethernet_roundtrip(rep: EthernetRepr, payload: bytes) -> None:
    roundtrip_ethernet(rep, payload)


@PROPS
@given(arp_reprs)
def test_arp_roundtrip(rep: ArpRepr) -> None:
    roundtrip_arp(rep)


@PROPS
@given(ipv4_reprs)
def test_ipv4_roundtrip(rep: Ipv4Repr) -> None:
    roundtrip_ipv4(rep)


@PROPS
@given(icmp_reprs)
def test_icmp_roundtrip(rep: IcmpRepr) -> None:
    roundtrip_icmp(rep)


@PROPS
@given(udp_reprs, addrs, addrs)
def test_udp_roundtrip(rep: UdpRepr, src: bytes, dst: bytes) -> None:
    roundtrip_udp(rep, src, dst)


@PROPS
@given(tcp_reprs, addrs, addrs)
def test_tcp_roundtrip(rep: TcpRepr, src: bytes, dst: bytes) -> None:
    assume(rep.options_len() <= 40)
    roundtrip_tcp(rep, src, dst)


@PROPS
@given(ipv4_reprs.filter(lambda r: r.ttl > 0))
def test_ipv4_decrease_ttl_keeps_checksum_valid(rep: Ipv4Repr) -> None:
    wire = bytearray(roundtrip_ipv4(rep))
    assert Ipv4Packet.checked(wire).decrease_ttl() == rep.ttl - 1
    assert Ipv4Packet.checked(wire).ttl == rep.ttl - 1


# --- hostile bytes: decode or Malformed, nothing else -----------------------------------------

def parse_or_malformed(fn: Any, *args: Any, **kw: Any) -> Any:
    try:
        return fn(*args, **kw)
    except Malformed as e:
        assert e.layer and e.reason
        return None


@PROPS
@given(st.binary(max_size=120), addrs, addrs, st.booleans())
def test_random_bytes_into_every_checked(data: bytes, src: bytes, dst: bytes,
                                         flag: bool) -> None:
    for view_cls, repr_cls, kwargs in (
        (EthernetFrame, EthernetRepr, {}),
        (ArpPacket, ArpRepr, {}),
        (Ipv4Packet, Ipv4Repr, {"verify_checksum": flag}),
        (Ipv4Packet, Ipv4Repr, {"quoted": True}),
        (IcmpPacket, IcmpRepr, {"verify_checksum": flag}),
        (UdpPacket, UdpRepr, {"src_ip": src, "dst_ip": dst} if flag else {}),
        (TcpPacket, TcpRepr, {"src_ip": src, "dst_ip": dst} if flag else {}),
    ):
        view = parse_or_malformed(view_cls.checked, data, **kwargs)
        if view is not None:
            parse_or_malformed(repr_cls.parse, view)
        parse_or_malformed(repr_cls.parse, data)
    parse_or_malformed(parse_quoted, data)


@PROPS
@given(st.binary(max_size=40), st.binary(max_size=20))
def test_random_tcp_options(options: bytes, payload: bytes) -> None:
    """Behind a valid fixed header, options either decode in both parsers or fail in both."""
    options += bytes(-len(options) % 4)
    seg = bytearray(20)
    TcpRepr(1, 2, 3, 4, 0x10, 5).emit(seg)
    seg[12] = (20 + len(options)) // 4 << 4
    seg += options + payload
    split = parse_or_malformed(parse_options, options)
    rep = parse_or_malformed(TcpRepr.parse, TcpPacket.checked(seg))
    assert (split is None) == (rep is None)
    if rep is not None:
        assert rep.payload_len == len(payload)


_option = st.one_of(
    st.sampled_from([b"\x00", b"\x01"]),
    st.tuples(st.sampled_from([2, 3, 4, 5, 8, 30, 254]), u8, st.binary(max_size=12)).map(
        lambda t: bytes((t[0], t[1])) + t[2]),
    st.sampled_from([b"\x02", b"\x08", b"\xfe"]),  # kind with its length byte cut off
)


@PROPS
@given(st.lists(_option, max_size=6).map(b"".join))
def test_tcp_options_with_hostile_lengths(opts: bytes) -> None:
    """Options assembled with arbitrary length bytes: parsed back exactly, or Malformed."""
    split = parse_or_malformed(parse_options, opts)
    if split is None:
        return
    rebuilt = b"".join(bytes((k,)) if k <= 1 else bytes((k, 2 + len(b))) + b for k, b in split)
    assert opts.startswith(rebuilt)
    assert rebuilt == opts or split[-1][0] == 0  # only an EOL may end the walk early


# --- describe never raises --------------------------------------------------------------------

@PROPS
@given(st.binary(max_size=200))
def test_describe_random_bytes(data: bytes) -> None:
    assert isinstance(describe(data), str)


def _frame(etype: int, l3: bytes) -> bytes:
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01" + struct.pack("!H", etype) + l3


@PROPS
@given(st.sampled_from([IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, 47]), st.integers(5, 15),
       st.binary(max_size=100), st.integers(0, 200), u16, st.booleans())
def test_describe_ipv4_with_random_body(proto: int, ihl: int, body: bytes, total: int,
                                        frag: int, tagged: bool) -> None:
    """A plausible IPv4 header in front of random bytes reaches the L4 printers."""
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, total, 1, frag & 0xE000
                                if frag & 1 else 0, 64, proto, 0, b"\n\0\0\x01", b"\n\0\0\x02"))
    l3 = bytes(hdr) + body
    frame = _frame(ETH_P_IP, l3)
    if tagged:
        frame = frame[:12] + struct.pack("!HH", ETH_P_8021Q, 5) + frame[12:]
    assert isinstance(describe(frame), str)


@PROPS
@given(st.one_of(ipv4_reprs, tcp_reprs, udp_reprs, icmp_reprs, arp_reprs),
       st.lists(st.tuples(st.integers(0, 200), u8), max_size=4), st.integers(0, 200))
def test_describe_mutated_valid_frames(rep: Any, flips: list[tuple[int, int]],
                                       cut: int) -> None:
    """Valid frames with bytes flipped and tails cut still describe without raising."""
    if isinstance(rep, TcpRepr):
        assume(rep.options_len() <= 40)
    if isinstance(rep, ArpRepr):
        l3 = bytearray(28)
        rep.emit(l3)
        frame = bytearray(_frame(ETH_P_ARP, bytes(l3)))
    else:
        proto = {TcpRepr: IPPROTO_TCP, UdpRepr: IPPROTO_UDP, IcmpRepr: IPPROTO_ICMP}.get(
            type(rep), 0)
        l4 = b""
        if isinstance(rep, Ipv4Repr):
            ip = rep
            l4 = bytes(rep.payload_len)
        else:
            buf = bytearray(rep.buffer_len() + getattr(rep, "payload_len", 0))
            rep.emit(buf, 0)
            l4 = bytes(buf)
            ip = Ipv4Repr(b"\n\0\0\x01", b"\n\0\0\x02", proto, len(l4))
        l3 = bytearray(ip.buffer_len())
        ip.emit(l3)
        frame = bytearray(_frame(ETH_P_IP, bytes(l3) + l4))
    assert isinstance(describe(frame), str)
    for at, value in flips:
        if at < len(frame):
            frame[at] = value
    assert isinstance(describe(frame), str)
    assert isinstance(describe(frame[:cut]), str)


# --- checksums and helpers against the references ---------------------------------------------

@PROPS
@given(st.binary(max_size=300), addrs, addrs, u8)
def test_checksums_match_reference(data: bytes, src: bytes, dst: bytes, proto: int) -> None:
    assert internet_checksum(data) == ref_checksum(data)
    assert l4_checksum(src, dst, proto, data) == ref_l4(src, dst, proto, data)


@PROPS
@given(macs, addrs)
def test_address_text_roundtrip(mac: bytes, addr: bytes) -> None:
    assert mac_bytes(mac_str(mac)) == mac
    assert ip_bytes(ip_str(addr)) == addr
