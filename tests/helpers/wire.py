"""Round trips for stack/wire, one helper per protocol, shared by ``test_wire.py`` and
``test_wire_props.py`` (hypothesis).

Each helper checks ``emit``/``buffer_len``/``parse``, the view's getters and agreement with the
``construct`` decoder.  Headers are emitted into buffers pre-filled with 0xa5 and with 0x00
(both must agree: no byte left unwritten).  Checksums are compared with
``helpers.checksum.ref_checksum``, a plain ``struct``-unpack sum independent of ``fastpath``.
"""

from __future__ import annotations

import struct
from typing import Any

from helpers.checksum import ref_checksum
from stack.wire import (
    ACK,
    CWR,
    ECE,
    ETH_P_8021Q,
    ETH_P_IP,
    FIN,
    ICMP_DEST_UNREACH,
    IPPROTO_TCP,
    IPPROTO_UDP,
    PSH,
    RST,
    SYN,
    URG,
    ArpPacket,
    ArpRepr,
    EthernetFrame,
    EthernetRepr,
    IcmpPacket,
    IcmpRepr,
    Ipv4Packet,
    Ipv4Repr,
    TcpPacket,
    TcpRepr,
    UdpPacket,
    UdpRepr,
    ip_bytes,
    mac_bytes,
)
from stack.wire.arp import ARP_CONSTRUCT
from stack.wire.ethernet import (
    ETHERNET_CONSTRUCT,
    VLAN_PRIO_SHIFT,
)
from stack.wire.icmp import (
    ICMP_CONSTRUCT,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMP_PARAMETERPROB,
    ICMP_REDIRECT,
)
from stack.wire.ipv4 import IPV4_CONSTRUCT
from stack.wire.tcp import (
    TCP_CONSTRUCT,
    TCPOPT_FASTOPEN,
    TCPOPT_MSS,
    TCPOPT_SACK,
    TCPOPT_SACK_PERM,
    TCPOPT_TIMESTAMP,
    TCPOPT_WINDOW,
)
from stack.wire.udp import UDP_CONSTRUCT

A = ip_bytes("10.0.0.1")
B = ip_bytes("10.0.0.2")
MAC1 = mac_bytes("02:00:00:00:00:01")
MAC2 = mac_bytes("02:00:00:00:00:02")
OFFSET = 3  # emit at a non-zero offset: offsets must be honoured
FILL = 0xA5


# --- reference implementations, deliberately naive --------------------------------------------

def ref_l4(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    pseudo = src + dst + bytes((0, proto)) + struct.pack("!H", len(segment))
    return ref_checksum(pseudo + segment)


def zero_field(data: bytes, at: int) -> bytes:
    return data[:at] + b"\0\0" + data[at + 2:]


# --- emit into pre-filled buffers ------------------------------------------------------------

def emit_filled(rep: Any, *args: Any, payload: bytes = b"") -> bytes:
    """Emit ``rep`` at OFFSET after ``payload`` is placed behind it, into buffers pre-filled
    with 0xa5 and 0x00; both must give the same bytes (no byte left unwritten) and nothing
    outside the header may change.  Returns header + payload."""
    n = rep.buffer_len()
    outs = []
    for fill in (FILL, 0):
        buf = bytearray([fill]) * (OFFSET + n + len(payload) + 7)
        buf[OFFSET + n:OFFSET + n + len(payload)] = payload
        assert rep.emit(buf, OFFSET, *args) == n
        assert buf[:OFFSET] == bytes([fill]) * OFFSET
        assert buf[OFFSET + n + len(payload):] == bytes([fill]) * 7
        assert buf[OFFSET + n:OFFSET + n + len(payload)] == payload
        outs.append(bytes(buf[OFFSET:OFFSET + n + len(payload)]))
    assert outs[0] == outs[1], "emit left bytes unwritten"
    return outs[0]


# --- one round-trip helper per protocol ------------------------------------------------------

def roundtrip_ethernet(rep: EthernetRepr, payload: bytes = b"") -> bytes:
    wire = emit_filled(rep, payload=payload)
    view = EthernetFrame.checked(wire)
    assert EthernetRepr.parse(view) == rep
    assert EthernetRepr.parse(wire) == rep
    assert (view.dst, view.src, view.payload_ethertype, view.vlan_tci) == (
        rep.dst, rep.src, rep.ethertype, rep.vlan_tci)
    assert view.header_len == rep.buffer_len()
    assert bytes(view.payload) == payload
    c = ETHERNET_CONSTRUCT.parse(wire)
    assert (c.dst, c.src) == (rep.dst, rep.src)
    if rep.vlan_tci is None:
        assert c.ethertype == rep.ethertype and c.vlan is None
    else:
        tag = c.vlan
        assert c.ethertype == ETH_P_8021Q and tag.ethertype == rep.ethertype
        tci = tag.tci.pcp << VLAN_PRIO_SHIFT | tag.tci.dei << 12 | tag.tci.vid
        assert tci == rep.vlan_tci
    return wire


def roundtrip_arp(rep: ArpRepr) -> bytes:
    wire = emit_filled(rep)
    view = ArpPacket.checked(wire)
    assert ArpRepr.parse(view) == rep
    assert ArpRepr.parse(wire) == rep
    assert (view.oper, view.sha, view.spa, view.tha, view.tpa) == (
        rep.oper, rep.sha, rep.spa, rep.tha, rep.tpa)
    c = ARP_CONSTRUCT.parse(wire)
    assert (c.htype, c.ptype, c.hlen, c.plen) == (1, ETH_P_IP, 6, 4)
    assert (c.oper, c.sha, c.spa, c.tha, c.tpa) == (rep.oper, rep.sha, rep.spa, rep.tha, rep.tpa)
    return wire


def roundtrip_ipv4(rep: Ipv4Repr) -> bytes:
    """``rep.options`` must be a multiple of 4 bytes (parse returns them padded)."""
    payload = bytes(range(256))[:rep.payload_len].ljust(rep.payload_len, b"p")
    wire = emit_filled(rep, payload=payload)
    hl = rep.buffer_len()
    header = wire[:hl]
    assert struct.unpack_from("!H", header, 10)[0] == ref_checksum(zero_field(header, 10))
    view = Ipv4Packet.checked(wire)
    assert Ipv4Repr.parse(view) == rep
    assert Ipv4Repr.parse(wire) == rep
    assert (view.src, view.dst, view.proto, view.ttl, view.ident) == (
        rep.src, rep.dst, rep.proto, rep.ttl, rep.ident)
    assert (view.df, view.mf, view.frag_offset, view.dscp, view.ecn) == (
        rep.df, rep.mf, rep.frag_offset, rep.dscp, rep.ecn)
    assert (view.version, view.header_len, view.total_len) == (4, hl, hl + rep.payload_len)
    assert view.options == rep.options and bytes(view.payload) == payload
    assert view.verify_checksum()
    c = IPV4_CONSTRUCT.parse(wire)
    assert (c.ver_ihl.version, c.ver_ihl.ihl * 4, c.total_len) == (4, hl, len(wire))
    assert (c.tos.dscp, c.tos.ecn, c.ident, c.ttl, c.proto) == (
        rep.dscp, rep.ecn, rep.ident, rep.ttl, rep.proto)
    f = c.frag_off
    assert (f.reserved, bool(f.df), bool(f.mf), f.offset * 8) == (
        0, rep.df, rep.mf, rep.frag_offset)
    assert (c.src, c.dst, c.options) == (rep.src, rep.dst, rep.options)
    assert c.checksum == view.checksum
    # Without the checksum: same bytes with the field left zero.
    nocsum = bytearray(len(header))
    rep.emit(nocsum, 0, False)
    assert bytes(nocsum) == zero_field(header, 10)
    return wire


def roundtrip_icmp(rep: IcmpRepr) -> bytes:
    wire = emit_filled(rep)
    assert struct.unpack_from("!H", wire, 2)[0] == ref_checksum(zero_field(wire, 2))
    view = IcmpPacket.checked(wire)
    assert IcmpRepr.parse(view) == rep
    assert IcmpRepr.parse(wire) == rep
    assert (view.type, view.code, view.un, bytes(view.data)) == (
        rep.type, rep.code, rep.un, rep.data)
    assert (view.ident, view.seq, view.mtu, view.gateway, view.pointer) == (
        rep.ident, rep.seq, rep.mtu, rep.gateway, rep.pointer)
    c = ICMP_CONSTRUCT.parse(wire)
    assert (c.type, c.code, c.checksum, c.data) == (rep.type, rep.code, view.checksum, rep.data)
    if rep.type in (ICMP_ECHO, ICMP_ECHOREPLY):
        assert (c.un.ident, c.un.seq) == (rep.ident, rep.seq)
    elif rep.type == ICMP_DEST_UNREACH:
        assert (c.un.unused, c.un.mtu) == (rep.un >> 16, rep.mtu)
    elif rep.type == ICMP_REDIRECT:
        assert c.un.gateway == rep.gateway
    elif rep.type == ICMP_PARAMETERPROB:
        assert c.un.pointer == rep.pointer
    else:
        assert c.un == rep.un
    return wire


def roundtrip_udp(rep: UdpRepr, src: bytes = A, dst: bytes = B) -> bytes:
    payload = bytes(range(256))[:rep.payload_len].ljust(rep.payload_len, b"u")
    wire = emit_filled(rep, src, dst, payload=payload)
    expect = ref_l4(src, dst, IPPROTO_UDP, zero_field(wire, 6)) or 0xFFFF
    assert struct.unpack_from("!H", wire, 6)[0] == expect
    view = UdpPacket.checked(wire, src, dst)
    assert UdpRepr.parse(view) == rep
    assert UdpRepr.parse(wire) == rep
    assert (view.src_port, view.dst_port, view.length, bytes(view.payload)) == (
        rep.src_port, rep.dst_port, 8 + rep.payload_len, payload)
    assert view.verify_checksum(src, dst)
    c = UDP_CONSTRUCT.parse(wire)
    assert (c.src_port, c.dst_port, c.length, c.checksum) == (
        rep.src_port, rep.dst_port, len(wire), expect)
    # Without addresses: no checksum (0).
    assert emit_filled(rep, payload=payload) == zero_field(wire, 6)
    return wire


def roundtrip_tcp(rep: TcpRepr, src: bytes = A, dst: bytes = B) -> bytes:
    payload = bytes(range(256))[:rep.payload_len].ljust(rep.payload_len, b"t")
    wire = emit_filled(rep, src, dst, payload=payload)
    hl = rep.buffer_len()
    assert struct.unpack_from("!H", wire, 16)[0] == ref_l4(src, dst, IPPROTO_TCP,
                                                           zero_field(wire, 16))
    view = TcpPacket.checked(wire, src, dst)
    assert TcpRepr.parse(view) == rep
    assert TcpRepr.parse(wire) == rep
    assert (view.src_port, view.dst_port, view.seq, view.ack, view.flags) == (
        rep.src_port, rep.dst_port, rep.seq, rep.ack, rep.flags)
    assert (view.window, view.urgent, view.header_len) == (rep.window, rep.urgent, hl)
    assert bytes(view.payload) == payload and view.verify_checksum(src, dst)
    c = TCP_CONSTRUCT.parse(wire)
    assert (c.src_port, c.dst_port, c.seq, c.ack, c.window, c.urgent) == (
        rep.src_port, rep.dst_port, rep.seq, rep.ack, rep.window, rep.urgent)
    assert (c.doff_res.doff * 4, c.doff_res.reserved, c.checksum) == (hl, 0, view.checksum)
    bits = c.flags
    flags = sum(bit for bit, name in ((FIN, "fin"), (SYN, "syn"), (RST, "rst"), (PSH, "psh"),
                                      (ACK, "ack"), (URG, "urg"), (ECE, "ece"), (CWR, "cwr"))
                if bits[name])
    assert flags == rep.flags
    assert construct_tcp_options(c.options) == (
        rep.mss, rep.wscale, rep.sack_permitted, rep.sack_blocks, rep.timestamp,
        rep.other_options, rep.fastopen)
    # Without addresses: checksum left zero.
    assert emit_filled(rep, payload=payload) == zero_field(wire, 16)
    return wire


def construct_tcp_options(opts: Any) -> tuple[Any, ...]:
    """Reduce the construct decoder's option list to the repr's option fields."""
    mss = wscale = timestamp = None
    sack_perm = False
    blocks: tuple[tuple[int, int], ...] = ()
    other = []
    fastopen = None
    for o in opts:
        if o.kind == 0:
            break
        if o.kind == TCPOPT_MSS:
            mss = o.body
        elif o.kind == TCPOPT_WINDOW:
            wscale = o.body
        elif o.kind == TCPOPT_SACK_PERM:
            sack_perm = True
        elif o.kind == TCPOPT_TIMESTAMP:
            timestamp = (o.body.tsval, o.body.tsecr)
        elif o.kind == TCPOPT_SACK:
            blocks = tuple((b.left, b.right) for b in o.body)
        elif o.kind == TCPOPT_FASTOPEN:
            fastopen = o.body
        elif o.kind != 1:
            other.append((o.kind, o.body))
    return mss, wscale, sack_perm, blocks, timestamp, tuple(other), fastopen
