"""stack/wire: round trips, golden vectors, checksums against a reference, malformed input.

The round-trip helpers (``helpers.wire``, one per protocol) check ``emit``/``buffer_len``/
``parse``, the view's getters and agreement with the ``construct`` decoder;
``test_wire_props.py`` drives the same helpers with hypothesis.  Golden vectors are emitted
into buffers pre-filled with 0xa5 (and, to catch any byte ``emit`` leaves unwritten, also into
one pre-filled with 0x00: both must agree).  Checksums are compared with ``ref_checksum``, a
plain ``struct``-unpack sum independent of ``fastpath``.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
from helpers.wire import (
    FILL,
    MAC1,
    MAC2,
    A,
    B,
    ref_checksum,
    ref_l4,
    roundtrip_arp,
    roundtrip_ethernet,
    roundtrip_icmp,
    roundtrip_ipv4,
    roundtrip_tcp,
    roundtrip_udp,
    zero_field,
)

from stack.wire import (
    ACK,
    ARPOP_REPLY,
    ARPOP_REQUEST,
    CWR,
    ECE,
    ETH_P_ARP,
    ETH_P_IP,
    FIN,
    ICMP_FRAG_NEEDED,
    ICMP_PORT_UNREACH,
    IP_DF,
    IP_MF,
    IP_OFFSET,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    PSH,
    RST,
    SYN,
    URG,
    ArpPacket,
    ArpRepr,
    BadChecksum,
    EthernetFrame,
    EthernetRepr,
    IcmpPacket,
    IcmpRepr,
    Ipv4Packet,
    Ipv4Repr,
    Malformed,
    TcpPacket,
    TcpRepr,
    Truncated,
    UdpPacket,
    UdpRepr,
    describe,
    flags_str,
    int_to_ip,
    ip_bytes,
    ip_str,
    ip_to_int,
    is_broadcast,
    is_multicast,
    is_unicast,
    l4_checksum,
    mac_bytes,
    mac_str,
    parse_options,
    parse_quoted,
    pseudo_header_sum,
    quote_datagram,
    verify_l4,
    vlan_tci,
)
from stack.wire.ethernet import (
    VLAN_CFI_MASK,
    VLAN_PRIO_MASK,
    VLAN_PRIO_SHIFT,
    VLAN_VID_MASK,
)
from stack.wire.icmp import (
    ICMP_ECHOREPLY,
    ICMP_REDIRECT,
)
from stack.wire.ipv4 import IP_CE

# --- golden vectors --------------------------------------------------------------------------

def test_ethernet_golden() -> None:
    rep = EthernetRepr(b"\xff" * 6, MAC1, ETH_P_ARP)
    assert roundtrip_ethernet(rep) == bytes.fromhex("ffffffffffff 020000000001 0806")
    tagged = EthernetRepr(MAC2, MAC1, ETH_P_IP, vlan_tci(5, pcp=5))
    assert roundtrip_ethernet(tagged, b"xyz") == bytes.fromhex(
        "020000000002 020000000001 8100 a005 0800") + b"xyz"
    assert roundtrip_ethernet(EthernetRepr(MAC2, MAC1, 0x1234, 0xFFFF))[12:] == bytes.fromhex(
        "8100ffff1234")


def test_arp_golden() -> None:
    rep = ArpRepr(ARPOP_REQUEST, MAC1, A, bytes(6), B)
    assert roundtrip_arp(rep) == bytes.fromhex(
        "0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002")
    roundtrip_arp(ArpRepr(ARPOP_REPLY, MAC2, B, MAC1, A))
    roundtrip_arp(ArpRepr(0xBEEF, MAC2, B, MAC1, A))  # unknown opcode kept


def test_ipv4_golden_wikipedia_header() -> None:
    # The header-checksum worked example (checksum 0xb861).
    rep = Ipv4Repr(ip_bytes("192.168.0.1"), ip_bytes("192.168.0.199"), IPPROTO_UDP,
                   0x73 - 20, ttl=64, df=True)
    wire = roundtrip_ipv4(rep)
    assert wire[:20] == bytes.fromhex("45000073 00004000 4011b861 c0a80001 c0a800c7")


def test_ipv4_golden_options_and_fragments() -> None:
    rep = Ipv4Repr(A, B, IPPROTO_TCP, 8, ttl=1, ident=0x1234, mf=True, frag_offset=1480,
                   dscp=46, ecn=3, options=b"\x94\x04\x00\x00")  # router alert
    wire = roundtrip_ipv4(rep)
    assert wire[:8] == bytes.fromhex("46 bb 0020 1234 20b9")
    # Options not a multiple of 4 are padded with EOL on emit.
    short = Ipv4Repr(A, B, IPPROTO_TCP, 0, options=b"\x01")
    buf = bytearray([FILL]) * 24
    assert short.emit(buf) == 24 and buf[20:24] == b"\x01\0\0\0"


def test_icmp_golden() -> None:
    rep = IcmpRepr.echo_request(0x1234, 7, b"abcd")
    wire = roundtrip_icmp(rep)
    assert wire == bytes.fromhex("0800") + struct.pack("!H", wire[2] << 8 | wire[3]) + \
        bytes.fromhex("1234 0007") + b"abcd"
    assert wire[2:4] == struct.pack("!H", ref_checksum(zero_field(wire, 2)))
    roundtrip_icmp(IcmpRepr.echo_reply(1, 2, bytes(56)))
    quote = quote_datagram(roundtrip_ipv4(Ipv4Repr(A, B, IPPROTO_UDP, 20)))
    assert len(quote) == 28
    unreach = IcmpRepr.dest_unreachable(ICMP_FRAG_NEEDED, quote, mtu=1400)
    assert roundtrip_icmp(unreach)[:8] == bytes.fromhex("0304") + unreach_csum(unreach) + \
        bytes.fromhex("0000 0578")
    roundtrip_icmp(IcmpRepr.time_exceeded(0, quote))
    roundtrip_icmp(IcmpRepr.parameter_problem(9, quote))
    roundtrip_icmp(IcmpRepr(ICMP_REDIRECT, 1, ip_to_int("10.0.0.9"), quote))
    roundtrip_icmp(IcmpRepr(200, 99, 0xDEADBEEF, b"?"))  # unknown type kept


def unreach_csum(rep: IcmpRepr) -> bytes:
    buf = bytearray(rep.buffer_len())
    rep.emit(buf, 0, False)
    return struct.pack("!H", ref_checksum(bytes(buf)))


def test_udp_golden_and_zero_checksum_sent_as_ones() -> None:
    rep = UdpRepr(5000, 53, 4)
    wire = roundtrip_udp(rep)
    assert wire[:6] == bytes.fromhex("1388 0035 000c")
    # Choose the last payload word so that the computed checksum is 0: it must go out 0xffff.
    probe = bytearray(12)
    struct.pack_into("!HHH", probe, 0, 5000, 53, 12)
    probe[8:10] = b"ab"
    word = ref_l4(A, B, IPPROTO_UDP, bytes(probe))
    payload = b"ab" + struct.pack("!H", word)
    buf = bytearray([FILL]) * 12
    buf[8:] = payload
    rep.emit(buf, 0, A, B)
    assert buf[6:8] == b"\xff\xff"
    assert UdpPacket.checked(buf, A, B).verify_checksum(A, B)


def test_tcp_golden_linux_syn_layout() -> None:
    rep = TcpRepr(34567, 7, 123, 0, SYN, 65535, mss=1460, wscale=7, sack_permitted=True,
                  timestamp=(1, 0))
    wire = roundtrip_tcp(rep)
    body = bytes.fromhex("8707 0007 0000007b 00000000 a002 ffff") + wire[16:18] + \
        bytes.fromhex("0000 020405b4 0402 080a0000000100000000 01 030307")
    assert wire == body
    # Linux's data-segment layout: NOP NOP TS, then NOP NOP SACK.
    rep = TcpRepr(1, 2, 3, 4, ACK, 5, timestamp=(6, 7), sack_blocks=((8, 9), (10, 11)),
                  payload_len=3)
    wire = roundtrip_tcp(rep)
    assert wire[20:44] == bytes.fromhex("0101080a0000000600000007 0101 0512") + \
        bytes.fromhex("00000008 00000009 0000000a 0000000b")[:8]
    # SACK-permitted without timestamps: NOP NOP SACK_PERM; wscale: NOP WS.
    wire = roundtrip_tcp(TcpRepr(1, 2, 3, 0, SYN, 5, mss=536, wscale=0, sack_permitted=True))
    assert wire[20:32] == bytes.fromhex("02040218 01030300 01010402")


def test_tcp_roundtrip_varieties() -> None:
    roundtrip_tcp(TcpRepr(1, 2, 0xFFFFFFFF, 0xFFFFFFFF, 0xFF, 0xFFFF, urgent=0xFFFF))
    roundtrip_tcp(TcpRepr(80, 34567, 1, 2, ACK | PSH, 502, timestamp=(1, 2), payload_len=1000))
    roundtrip_tcp(TcpRepr(1, 2, 3, 4, ACK, 5, sack_blocks=((1, 2), (3, 4), (5, 6), (7, 8))))
    roundtrip_tcp(TcpRepr(1, 2, 3, 4, ACK, 5, fastopen=b"", other_options=((254, b"\xf9\x89"),)))
    roundtrip_tcp(TcpRepr(1, 2, 3, 4, SYN, 5, mss=1460, timestamp=(1, 2), wscale=7,
                          sack_permitted=True, fastopen=bytes(range(8))))
    roundtrip_tcp(TcpRepr(1, 2, 3, 4, SYN, 5, mss=1, other_options=((30, b"abc"),)))


# --- checksums --------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"", b"\x01", b"\xff\xff", b"\x00" * 7, bytes(range(256)) * 3,
                                  b"\xff" * 1501])
def test_checksum_matches_reference(data: bytes) -> None:
    assert l4_checksum(A, B, IPPROTO_TCP, data) == ref_l4(A, B, IPPROTO_TCP, data)
    seg = bytearray(data + b"\0\0" if len(data) % 2 == 0 else data + b"\0\0\0")
    check = l4_checksum(A, B, IPPROTO_UDP, seg)
    seg[-2:] = struct.pack("!H", check)
    assert verify_l4(A, B, IPPROTO_UDP, seg)
    seg[0] ^= 1
    assert not verify_l4(A, B, IPPROTO_UDP, seg)


def test_pseudo_header_sum_is_the_partial_sum() -> None:
    src, dst = ip_bytes("255.255.255.255"), ip_bytes("254.254.254.254")
    partial = pseudo_header_sum(src, dst, 255, 0xFFFF)
    assert 0 <= partial <= 0xFFFF
    assert ~partial & 0xFFFF == ref_checksum(src + dst + b"\0\xff\xff\xff")


# --- views patch in place --------------------------------------------------------------------

def test_ipv4_view_patching_and_decrease_ttl() -> None:
    wire = bytearray(roundtrip_ipv4(Ipv4Repr(A, B, IPPROTO_ICMP, 4, ttl=64, df=True)))
    view = Ipv4Packet.checked(wire)
    for _ in range(63):
        view.decrease_ttl()
        assert view.verify_checksum()
    assert view.ttl == 1
    view.src, view.dst, view.ident = B, A, 99
    assert not view.verify_checksum()
    view.fill_checksum()
    assert Ipv4Repr.parse(bytes(wire)) == Ipv4Repr(B, A, IPPROTO_ICMP, 4, ttl=1, ident=99,
                                                   df=True)
    assert view.frag_off == IP_DF and not view.is_fragment


def test_l4_view_patching() -> None:
    tcp = bytearray(roundtrip_tcp(TcpRepr(1, 2, 3, 4, ACK, 5, payload_len=9)))
    view = TcpPacket.checked(tcp, A, B)
    view.seq, view.ack, view.window, view.flags = 10, 20, 30, FIN | ACK
    view.fill_checksum(A, B)
    assert TcpRepr.parse(TcpPacket.checked(tcp, A, B)) == TcpRepr(1, 2, 10, 20, FIN | ACK, 30,
                                                                   payload_len=9)
    udp = bytearray(roundtrip_udp(UdpRepr(1, 2, 3)))
    uview = UdpPacket.checked(udp)
    uview.dst_port = 7
    uview.fill_checksum(A, B)
    assert UdpPacket.checked(udp, A, B).dst_port == 7
    uview.checksum = 0
    assert uview.verify_checksum(B, A)  # 0 means "no checksum"
    icmp = bytearray(roundtrip_icmp(IcmpRepr.echo_request(1, 2, b"x")))
    iview = IcmpPacket.checked(icmp)
    iview.type, iview.seq = ICMP_ECHOREPLY, 3
    iview.fill_checksum()
    assert IcmpRepr.parse(bytes(icmp)) == IcmpRepr.echo_reply(1, 3, b"x")
    eth = bytearray(roundtrip_ethernet(EthernetRepr(MAC1, MAC2, ETH_P_IP, 5)))
    eview = EthernetFrame.checked(eth)
    eview.vlan_tci, eview.dst = 6, MAC2
    assert EthernetRepr.parse(eth) == EthernetRepr(MAC2, MAC2, ETH_P_IP, 6)
    with pytest.raises(ValueError):
        EthernetFrame(bytearray(14)).vlan_tci = 1
    arp = bytearray(roundtrip_arp(ArpRepr(ARPOP_REQUEST, MAC1, A, bytes(6), B)))
    aview = ArpPacket.checked(arp)
    aview.oper, aview.tha = ARPOP_REPLY, MAC2
    assert ArpRepr.parse(arp) == ArpRepr(ARPOP_REPLY, MAC1, A, MAC2, B)


# --- malformed input: one exception type, precise reasons ------------------------------------

def ipv4_wire(**kw: Any) -> bytearray:
    return bytearray(roundtrip_ipv4(Ipv4Repr(A, B, IPPROTO_UDP, 8, **kw)))


@pytest.mark.parametrize("mutate,exc,reason", [
    (lambda w: w[:19], Malformed, "packet of 19 bytes < 20"),
    (lambda w: bytes([0x65]) + w[1:], Malformed, "version 6"),
    (lambda w: bytes([0x44]) + w[1:], Malformed, "IHL 4 < 5"),
    (lambda w: bytes([0x4F]) + w[1:], Malformed, "header of 60 bytes > packet of 28"),
    (lambda w: w[:8] + b"\x00" + w[9:], BadChecksum, "bad header checksum"),
    (lambda w: w[:24], Truncated, "total length 28 > 24 bytes"),
])
def test_ipv4_malformed(mutate: Any, exc: type[Malformed], reason: str) -> None:
    with pytest.raises(exc) as info:
        Ipv4Packet.checked(bytes(mutate(bytes(ipv4_wire()))))
    assert info.value.layer == "ipv4" and info.value.reason.startswith(reason)


def test_ipv4_total_length_below_header_and_trimming() -> None:
    wire = ipv4_wire()
    view = Ipv4Packet(wire)
    view.total_len = 19
    view.fill_checksum()
    with pytest.raises(Malformed, match="total length 19 < header length 20"):
        Ipv4Packet.checked(wire)
    padded = ipv4_wire() + bytes(18)  # Ethernet padding
    assert len(Ipv4Packet.checked(padded).buf) == 28
    assert Ipv4Packet.checked(ipv4_wire()[:20] + b"\xff" * 8, verify_checksum=False).proto == 17


@pytest.mark.parametrize("cls,buf,reason", [
    (EthernetFrame, bytes(13), "frame of 13 bytes < 14"),
    (EthernetFrame, bytes(12) + b"\x81\x00\x00", "802.1Q frame of 15 bytes < 18"),
    (ArpPacket, bytes(27), "packet of 27 bytes < 28"),
    (ArpPacket, bytes.fromhex("0006 0800 06 04 0001") + bytes(20), "unsupported htype 6"),
    (IcmpPacket, bytes(7), "message of 7 bytes < 8"),
    (UdpPacket, bytes(7), "datagram of 7 bytes < 8"),
    (UdpPacket, bytes.fromhex("0001 0002 0007 0000"), "length field 7 < 8"),
    (TcpPacket, bytes(19), "segment of 19 bytes < 20"),
    (TcpPacket, bytes(12) + b"\x40" + bytes(7), "data offset 4 < 5"),
    (TcpPacket, bytes(12) + b"\x60" + bytes(7), "header of 24 bytes > segment of 20"),
])
def test_checked_malformed(cls: Any, buf: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as info:
        cls.checked(buf)
    assert info.value.reason.startswith(reason)
    assert str(info.value) == f"{info.value.layer}: {info.value.reason}"


def test_l4_bad_checksums_and_truncation() -> None:
    tcp = bytearray(roundtrip_tcp(TcpRepr(1, 2, 3, 4, ACK, 5, payload_len=3)))
    tcp[-1] ^= 0xFF
    with pytest.raises(BadChecksum):
        TcpPacket.checked(tcp, A, B)
    TcpPacket.checked(tcp)  # no addresses: checksum offloaded, not checked
    udp = bytearray(roundtrip_udp(UdpRepr(1, 2, 3)))
    with pytest.raises(Truncated, match="length field 11 > 10 bytes"):
        UdpPacket.checked(udp[:10])
    assert len(UdpPacket.checked(udp + b"pad").payload) == 3
    udp[-1] ^= 0xFF
    with pytest.raises(BadChecksum):
        UdpPacket.checked(udp, A, B)
    icmp = bytearray(roundtrip_icmp(IcmpRepr.echo_request(1, 1)))
    icmp[0] = 0
    with pytest.raises(BadChecksum):
        IcmpPacket.checked(icmp)
    assert IcmpPacket.checked(icmp, verify_checksum=False).type == 0


# --- TCP options -----------------------------------------------------------------------------

@pytest.mark.parametrize("opts,reason", [
    (b"\x02", "option 2 at 0 has no length byte"),
    (b"\x01\x01\x08", "option 8 at 2 has no length byte"),
    (b"\x02\x00\x00\x00", "option 2 at 0 has length 0 < 2"),
    (b"\xfe\x01\x00\x00", "option 254 at 0 has length 1 < 2"),
    (b"\x02\x08\x05\xb4", "option 2 at 0 of length 8 runs past 4"),
    (b"\x01\x1e\x28\x00", "option 30 at 1 of length 40 runs past 4"),
    (b"\x02\x03\x05\x00", "mss option length 3 != 4"),
    (b"\x03\x04\x07\x00", "wscale option length 4 != 3"),
    (b"\x04\x03\x00\x00", "sackOK option length 3 != 2"),
    (b"\x08\x09" + bytes(7) + b"\x00", "TS option length 9 != 10"),
    (b"\x05\x02\x00\x00", "sack option length 2"),
    (b"\x05\x0c" + bytes(10), "sack option length 12"),
])
def test_tcp_options_hostile_lengths(opts: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as info:
        parse_options(opts)
    assert info.value.layer == "tcp" and info.value.reason == reason
    seg = tcp_with_options(opts)
    TcpPacket.checked(seg)  # the fixed header is fine ...
    with pytest.raises(Malformed):
        TcpRepr.parse(seg)  # ... the options are not


def tcp_with_options(opts: bytes) -> bytes:
    opts = opts + bytes(-len(opts) % 4)
    rep = TcpRepr(1, 2, 3, 4, ACK, 5)
    buf = bytearray(20 + len(opts))
    rep.emit(buf)
    buf[12] = (20 + len(opts)) // 4 << 4
    buf[20:] = opts
    return bytes(buf)


def test_tcp_options_unknown_eol_nop() -> None:
    opts = b"\x01\xfd\x04\xab\xcd\x02\x04\x05\xb4\x00\x99\x99"  # junk after EOL is ignored
    assert parse_options(opts) == [(1, b""), (253, b"\xab\xcd"), (2, b"\x05\xb4"), (0, b"")]
    rep = TcpRepr.parse(tcp_with_options(opts))
    assert rep.mss == 1460 and rep.other_options == ((253, b"\xab\xcd"),)
    assert TcpRepr.parse(tcp_with_options(b"\x01\x01\x01\x01")).mss is None
    blocks = tuple((i, i + 1) for i in range(4))
    sack = b"\x05\x22" + b"".join(struct.pack("!II", *b) for b in blocks)
    assert TcpRepr.parse(tcp_with_options(sack)).sack_blocks == blocks


def test_tcp_options_too_long_refused_on_emit() -> None:
    rep = TcpRepr(1, 2, 3, 4, ACK, 5, timestamp=(1, 2), sack_blocks=((1, 2),) * 4)
    with pytest.raises(ValueError):
        rep.emit(bytearray(80))
    rep = TcpRepr(1, 2, 3, 4, ACK, 5, sack_blocks=((1, 2),) * 5)
    with pytest.raises(ValueError):
        rep.emit(bytearray(80))


def test_tcp_flags_and_segment_len() -> None:
    assert (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR) == (1, 2, 4, 8, 16, 32, 64, 128)
    assert [flags_str(f) for f in (SYN, SYN | ACK, PSH | ACK, FIN | ACK, RST, 0)] == [
        "S", "S.", "P.", "F.", "R", "none"]
    assert TcpRepr(1, 2, 3, 4, SYN | FIN, 0, payload_len=5).segment_len == 7


# --- constants come from the tables and match Linux ------------------------------------------

def test_table_constants_match_linux() -> None:
    assert (IP_CE, IP_DF, IP_MF, IP_OFFSET) == (0x8000, 0x4000, 0x2000, 0x1FFF)
    assert (VLAN_PRIO_MASK, VLAN_PRIO_SHIFT, VLAN_CFI_MASK, VLAN_VID_MASK) == (
        0xE000, 13, 0x1000, 0x0FFF)
    assert vlan_tci(4095, pcp=7, dei=1) == 0xFFFF and IP_MF | IP_OFFSET == 0x3FFF


# --- ICMP quoting ----------------------------------------------------------------------------

def test_quote_and_parse_quoted() -> None:
    udp = roundtrip_udp(UdpRepr(5000, 53, 100))
    ip = Ipv4Repr(A, B, IPPROTO_UDP, len(udp), options=b"\x01\x01\x01\x00")
    datagram = bytearray(ip.buffer_len() + len(udp))
    ip.emit(datagram)
    datagram[24:] = udp
    quote = quote_datagram(datagram)
    assert quote == bytes(datagram[:24 + 8])
    assert len(quote_datagram(datagram, max_len=548)) == len(datagram)
    header, payload = parse_quoted(quote)
    assert header == ip and bytes(payload) == udp[:8]
    with pytest.raises(Malformed):
        parse_quoted(quote[:10])


# --- address helpers -------------------------------------------------------------------------

def test_mac_helpers() -> None:
    assert mac_str(MAC1) == "02:00:00:00:00:01"
    assert mac_bytes("02-00-00-00-00-01") == MAC1 == mac_bytes("2:0:0:0:0:1")
    for bad in ("02:00:00:00:00", "02:00:00:00:00:0g", "020:00:00:00:00:01", "", "::::::"):
        with pytest.raises(ValueError):
            mac_bytes(bad)
    assert is_broadcast(b"\xff" * 6) and is_multicast(b"\xff" * 6)
    assert is_multicast(mac_bytes("01:00:5e:00:00:01")) and not is_unicast(b"\x01" + bytes(5))
    assert is_unicast(MAC1) and not is_broadcast(MAC1)


def test_ip_helpers() -> None:
    assert ip_bytes("10.0.0.1") == b"\x0a\0\0\x01" and ip_str(b"\xc0\xa8\x00\xc7") == \
        "192.168.0.199"
    assert ip_to_int("10.0.0.1") == 0x0A000001 == ip_to_int(A)
    assert int_to_ip(0xFFFFFFFF) == b"\xff" * 4
    for bad in ("10.0.0", "10.0.0.256", "10.0.0.01", "a.b.c.d", "10..0.1", "1.2.3.4.5", "1.2.3.٣"):
        with pytest.raises(ValueError):
            ip_bytes(bad)


# --- describe --------------------------------------------------------------------------------

def frame(eth: EthernetRepr, ip: Ipv4Repr | None, l4: Any = None, payload: bytes = b"") -> bytes:
    l4_len = (l4.buffer_len() if l4 is not None else 0) + len(payload)
    if ip is not None:
        ip.payload_len = l4_len
    parts = bytearray(eth.buffer_len() + (ip.buffer_len() if ip else 0) + l4_len)
    at = eth.emit(parts)
    if ip is not None:
        at += ip.emit(parts, at)
    parts[len(parts) - len(payload):] = payload
    if l4 is not None:
        if isinstance(l4, IcmpRepr):
            l4.emit(parts, at)
        else:
            l4.emit(parts, at, A, B)
    return bytes(parts)


def test_describe_brief_examples() -> None:
    arp = bytearray(42)
    EthernetRepr(b"\xff" * 6, MAC1, ETH_P_ARP).emit(arp)
    ArpRepr(ARPOP_REQUEST, MAC1, A, bytes(6), B).emit(arp, 14)
    assert describe(arp) == ("02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, "
                             "Request who-has 10.0.0.2 tell 10.0.0.1")
    eth = EthernetRepr(MAC2, MAC1, ETH_P_IP)
    syn = TcpRepr(34567, 7, 123, 0, SYN, 65535, mss=1460, wscale=7, sack_permitted=True,
                  timestamp=(1, 0))
    assert describe(frame(eth, Ipv4Repr(A, B, IPPROTO_TCP, 0), syn)) == (
        "IP 10.0.0.1.34567 > 10.0.0.2.7: Flags [S], seq 123, win 65535, "
        "options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0")
    ping = IcmpRepr.echo_request(1, 1, bytes(56))
    assert describe(frame(eth, Ipv4Repr(A, B, IPPROTO_ICMP, 0), ping)) == (
        "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 1, length 64")
    tagged = EthernetRepr(MAC2, MAC1, ETH_P_IP, vlan_tci(5))
    assert describe(frame(tagged, Ipv4Repr(A, B, IPPROTO_ICMP, 0), ping)) == (
        "vlan 5, p 0, ethertype IPv4, "
        "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 1, length 64")


def test_describe_more() -> None:
    eth = EthernetRepr(MAC2, MAC1, ETH_P_IP)
    data = TcpRepr(80, 34567, 1000, 2000, PSH | ACK, 502, timestamp=(5, 6))
    assert describe(frame(eth, Ipv4Repr(B, A, IPPROTO_TCP, 0), data, b"x" * 10)) == (
        "IP 10.0.0.2.80 > 10.0.0.1.34567: Flags [P.], seq 1000:1010, ack 2000, win 502, "
        "options [nop,nop,TS val 5 ecr 6], length 10")
    assert describe(frame(eth, Ipv4Repr(A, B, IPPROTO_UDP, 0), UdpRepr(5000, 53, 3), b"abc")) == (
        "IP 10.0.0.1.5000 > 10.0.0.2.53: UDP, length 3")
    quote = quote_datagram(frame(eth, Ipv4Repr(A, B, IPPROTO_UDP, 0), UdpRepr(5000, 53, 0))[14:])
    unreach = IcmpRepr.dest_unreachable(ICMP_PORT_UNREACH, quote)
    assert describe(frame(eth, Ipv4Repr(B, A, IPPROTO_ICMP, 0), unreach)) == (
        "IP 10.0.0.2 > 10.0.0.1: ICMP 10.0.0.2 udp port 53 unreachable, length 36")
    assert describe(frame(eth, Ipv4Repr(A, B, 99, 0), None, b"??")) == (
        "IP 10.0.0.1 > 10.0.0.2: ip-proto-99, length 2")
    frag = Ipv4Repr(A, B, IPPROTO_UDP, 0, ident=7, frag_offset=8)
    assert describe(frame(eth, frag, None, b"12345678")) == (
        "IP 10.0.0.1 > 10.0.0.2: UDP (frag 7:8@8)")
    reply = bytearray(42)
    EthernetRepr(MAC1, MAC2, ETH_P_ARP).emit(reply)
    ArpRepr(ARPOP_REPLY, MAC2, B, MAC1, A).emit(reply, 14)
    assert describe(reply).endswith("ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:02")
    assert describe(frame(EthernetRepr(MAC2, MAC1, 0x88B5), None, None, bytes(46))) == (
        "02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype Unknown (0x88b5), length 60")


def test_describe_malformed() -> None:
    assert describe(b"\x01\x02") == "[malformed: ethernet: frame of 2 bytes < 14]"
    eth = EthernetRepr(MAC2, MAC1, ETH_P_IP)
    syn = frame(eth, Ipv4Repr(A, B, IPPROTO_TCP, 0), TcpRepr(1, 2, 3, 0, SYN, 9, mss=1460))
    broken = bytearray(syn)
    broken[14 + 20 + 21] = 0  # MSS option length 0
    assert describe(broken).endswith(
        "Flags [S], seq 3, win 9, [malformed: tcp: option 2 at 0 has length 0 < 2]")
    assert describe(syn[:14 + 20 + 10]).startswith(
        "IP 10.0.0.1 > 10.0.0.2: TCP [malformed: tcp: segment of 10 bytes < 20]")
    assert describe(syn[:14 + 20 + 10]).endswith(
        "[malformed: ipv4: total length 44 > 30 bytes]")
    assert describe(syn[:20]) == "IP [malformed: ipv4: packet of 6 bytes < 20]"
    assert describe(syn[:30]) == "IP [malformed: ipv4: packet of 16 bytes < 20]"
