"""One-line, tcpdump-like summaries of Ethernet frames, for traces, the shell and pcap listings.

Mirrors what tcpdump's ``print-ether.c``, ``print-arp.c``, ``print-ip.c``, ``print-tcp.c``,
``print-udp.c`` and ``print-icmp.c`` print by default (absolute sequence numbers, as with
``-S``).  ARP and non-IP lines start with the link addresses, as ARP has no others.

Contract: :func:`describe` never raises on any bytes.  It goes through the same ``checked()``
entries as the stack (checksums not verified: offloaded frames carry partial ones), prints
what it could decode and then ``[malformed: <layer>: <reason>]`` where decoding stopped.
Unknown EtherTypes, IP protocols, ICMP types and TCP options print as numbers.
"""

from __future__ import annotations

from stack.wire.arp import ARPOP_REPLY, ARPOP_REQUEST, ArpPacket
from stack.wire.errors import Malformed, Truncated
from stack.wire.ethernet import (
    ETH_HLEN,
    ETH_P_802_3_MIN,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETHERTYPE_NAMES,
    VLAN_PRIO_SHIFT,
    VLAN_VID_MASK,
    ethertype_name,
    mac_str,
)
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMP_EXC_FRAGTIME,
    ICMP_EXC_TTL,
    ICMP_FRAG_NEEDED,
    ICMP_HOST_ANO,
    ICMP_HOST_ISOLATED,
    ICMP_HOST_UNKNOWN,
    ICMP_HOST_UNR_TOS,
    ICMP_HOST_UNREACH,
    ICMP_NET_ANO,
    ICMP_NET_UNKNOWN,
    ICMP_NET_UNR_TOS,
    ICMP_NET_UNREACH,
    ICMP_PARAMETERPROB,
    ICMP_PKT_FILTERED,
    ICMP_PORT_UNREACH,
    ICMP_PREC_CUTOFF,
    ICMP_PREC_VIOLATION,
    ICMP_PROT_UNREACH,
    ICMP_REDIRECT,
    ICMP_SR_FAILED,
    ICMP_TIME_EXCEEDED,
    ICMP_TYPE_NAMES,
    IcmpPacket,
    parse_quoted,
)
from stack.wire.ipv4 import (
    IP_OFFSET,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    Ipv4Packet,
    ip_str,
    ipproto_name,
)
from stack.wire.layout import U16, Buffer
from stack.wire.tcp import (
    ACK,
    TCP_OPTION_NAMES,
    TCPOPT_MSS,
    TCPOPT_SACK,
    TCPOPT_TIMESTAMP,
    TCPOPT_WINDOW,
    URG,
    TcpPacket,
    flags_str,
    parse_options,
)
from stack.wire.udp import UdpPacket

_TAG_TPIDS = (ETH_P_8021Q, ETH_P_8021AD)

# tcpdump's print-icmp.c wording for destination-unreachable codes (port unreachable apart).
_UNREACH = {
    ICMP_NET_UNREACH: "net {dst} unreachable",
    ICMP_HOST_UNREACH: "host {dst} unreachable",
    ICMP_PROT_UNREACH: "{dst} protocol {proto} unreachable",
    ICMP_FRAG_NEEDED: "{dst} unreachable - need to frag (mtu {mtu})",
    ICMP_SR_FAILED: "{dst} unreachable - source route failed",
    ICMP_NET_UNKNOWN: "net {dst} unreachable - unknown",
    ICMP_HOST_UNKNOWN: "host {dst} unreachable - unknown",
    ICMP_HOST_ISOLATED: "{dst} unreachable - source host isolated",
    ICMP_NET_ANO: "net {dst} unreachable - admin prohibited",
    ICMP_HOST_ANO: "host {dst} unreachable - admin prohibited",
    ICMP_NET_UNR_TOS: "net {dst} unreachable - tos prohibited",
    ICMP_HOST_UNR_TOS: "host {dst} unreachable - tos prohibited",
    ICMP_PKT_FILTERED: "host {dst} unreachable - admin prohibited filter",
    ICMP_PREC_VIOLATION: "host {dst} unreachable - host precedence violation",
    ICMP_PREC_CUTOFF: "host {dst} unreachable - precedence cutoff",
}


def describe(frame: Buffer) -> str:
    """One line for an Ethernet frame (no FCS), e.g. ``IP 10.0.0.1 > 10.0.0.2: ICMP ...``."""
    mv = memoryview(bytes(frame))
    if len(mv) < ETH_HLEN:
        return f"[malformed: ethernet: frame of {len(mv)} bytes < {ETH_HLEN}]"
    links = f"{mac_str(mv[6:12])} > {mac_str(mv[0:6])}"
    etype = U16.unpack_from(mv, 12)[0]
    at = ETH_HLEN
    prefix = ""
    while etype in _TAG_TPIDS:
        if len(mv) < at + 4:
            return f"{prefix}{links}, {ethertype_name(etype)}, [malformed: ethernet: " \
                   f"802.1Q tag cut short at {len(mv)} bytes]"
        tci, etype = U16.unpack_from(mv, at)[0], U16.unpack_from(mv, at + 2)[0]
        prefix += (f"vlan {tci & VLAN_VID_MASK}, p {tci >> VLAN_PRIO_SHIFT}, "
                   f"ethertype {ethertype_name(etype)}, ")
        at += 4
    payload = mv[at:]
    if etype == ETH_P_IP:
        return prefix + "IP " + _ipv4(payload)
    if etype == ETH_P_ARP:
        return f"{prefix}{links}, ARP, {_arp(payload)}"
    if etype == ETH_P_IPV6:
        return f"{prefix}IP6, length {len(payload)}"
    if etype < ETH_P_802_3_MIN:
        return f"{prefix}{links}, 802.3, length {etype}"
    name = ETHERTYPE_NAMES.get(etype, "Unknown")
    return f"{prefix}{links}, ethertype {name} (0x{etype:04x}), length {len(mv)}"


def _arp(data: memoryview) -> str:
    try:
        pkt = ArpPacket.checked(data)
    except Malformed as e:
        return f"[malformed: {e}]"
    op = pkt.oper
    if op == ARPOP_REQUEST:
        return f"Request who-has {ip_str(pkt.tpa)} tell {ip_str(pkt.spa)}"
    if op == ARPOP_REPLY:
        return f"Reply {ip_str(pkt.spa)} is-at {mac_str(pkt.sha)}"
    return (f"opcode {op}, sender {ip_str(pkt.spa)} ({mac_str(pkt.sha)}) "
            f"target {ip_str(pkt.tpa)} ({mac_str(pkt.tha)})")


def _ipv4(data: memoryview) -> str:
    note = ""
    try:
        ip = Ipv4Packet.checked(data, verify_checksum=False)
    except Truncated as e:
        ip = Ipv4Packet.checked(data, quoted=True)  # decode what was captured
        note = f" [malformed: {e}]"
    except Malformed as e:
        if len(data) >= 20 and data[0] >> 4 == 4:
            return f"{ip_str(data[12:16])} > {ip_str(data[16:20])}: [malformed: {e}]"
        return f"[malformed: {e}]"
    src, dst, proto = ip_str(ip.src), ip_str(ip.dst), ip.proto
    payload = ip.payload
    frag = ""
    if ip.is_fragment:
        more = "+" if ip.mf else ""
        frag = f" (frag {ip.ident}:{ip.total_len - ip.header_len}@{ip.frag_offset}{more})"
        if ip.frag_off & IP_OFFSET:
            return f"{src} > {dst}: {ipproto_name(proto)}{frag}{note}"
    if proto == IPPROTO_TCP:
        return _tcp(src, dst, payload) + frag + note
    if proto == IPPROTO_UDP:
        return _udp(src, dst, payload) + frag + note
    if proto == IPPROTO_ICMP:
        return f"{src} > {dst}: ICMP {_icmp(payload)}{frag}{note}"
    return f"{src} > {dst}: {ipproto_name(proto)}, length {len(payload)}{frag}{note}"


def _tcp(src: str, dst: str, data: memoryview) -> str:
    try:
        seg = TcpPacket.checked(data)
    except Malformed as e:
        return f"{src} > {dst}: TCP [malformed: {e}]"
    flags = seg.flags
    plen = len(seg.payload)
    seq = f"{seg.seq}:{(seg.seq + plen) & 0xFFFFFFFF}" if plen else f"{seg.seq}"
    out = f"{src}.{seg.src_port} > {dst}.{seg.dst_port}: Flags [{flags_str(flags)}], seq {seq}"
    if flags & ACK:
        out += f", ack {seg.ack}"
    out += f", win {seg.window}"
    if flags & URG:
        out += f", urg {seg.urgent}"
    if seg.header_len > 20:
        try:
            opts = parse_options(seg.options)
        except Malformed as e:
            return f"{out}, [malformed: {e}]"
        out += f", options [{','.join(_tcp_option(kind, body) for kind, body in opts)}]"
    return f"{out}, length {plen}"


def _tcp_option(kind: int, body: bytes) -> str:
    name = TCP_OPTION_NAMES.get(kind)
    if kind == TCPOPT_MSS or kind == TCPOPT_WINDOW:
        return f"{name} {int.from_bytes(body, 'big')}"
    if kind == TCPOPT_TIMESTAMP:
        return f"TS val {int.from_bytes(body[:4], 'big')} ecr {int.from_bytes(body[4:], 'big')}"
    if kind == TCPOPT_SACK:
        blocks = "".join(f"{{{int.from_bytes(body[i:i + 4], 'big')}:"
                         f"{int.from_bytes(body[i + 4:i + 8], 'big')}}}"
                         for i in range(0, len(body), 8))
        return f"sack {len(body) // 8} {blocks}"
    if name is not None:
        return name
    return f"unknown-{kind} 0x{body.hex()}" if body else f"unknown-{kind}"


def _udp(src: str, dst: str, data: memoryview) -> str:
    try:
        dgram = UdpPacket.checked(data)
    except Malformed as e:
        if len(data) >= 4:
            ports = U16.unpack_from(data, 0)[0], U16.unpack_from(data, 2)[0]
            return f"{src}.{ports[0]} > {dst}.{ports[1]}: UDP [malformed: {e}]"
        return f"{src} > {dst}: UDP [malformed: {e}]"
    return (f"{src}.{dgram.src_port} > {dst}.{dgram.dst_port}: UDP, "
            f"length {dgram.length - 8}")


def _icmp(data: memoryview) -> str:
    try:
        msg = IcmpPacket.checked(data, verify_checksum=False)
    except Malformed as e:
        return f"[malformed: {e}]"
    t, code, length = msg.type, msg.code, len(data)
    if t == ICMP_ECHO or t == ICMP_ECHOREPLY:
        return f"{ICMP_TYPE_NAMES[t]}, id {msg.ident}, seq {msg.seq}, length {length}"
    if t == ICMP_DEST_UNREACH:
        return f"{_unreachable(code, msg)}, length {length}"
    if t == ICMP_TIME_EXCEEDED:
        what = {ICMP_EXC_TTL: "time exceeded in-transit",
                ICMP_EXC_FRAGTIME: "ip reassembly time exceeded"}.get(code)
        return f"{what or f'time exceeded, code {code}'}, length {length}"
    if t == ICMP_REDIRECT:
        try:
            quoted = ip_str(parse_quoted(msg.data)[0].dst)
        except Malformed as e:
            return f"redirect [malformed: {e}]"
        return f"redirect {quoted} to host {ip_str(msg.gateway)}, length {length}"
    if t == ICMP_PARAMETERPROB:
        return f"parameter problem - octet {msg.pointer}, length {length}"
    name = ICMP_TYPE_NAMES.get(t)
    if name is not None:
        return f"{name}, length {length}"
    return f"type-#{t}, length {length}"


def _unreachable(code: int, msg: IcmpPacket) -> str:
    try:
        ip, payload = parse_quoted(msg.data)
    except Malformed as e:
        return f"destination unreachable, code {code} [malformed: {e}]"
    dst = ip_str(ip.dst)
    if code == ICMP_PORT_UNREACH:
        proto = ipproto_name(ip.proto).lower()
        if len(payload) >= 4 and ip.proto in (IPPROTO_TCP, IPPROTO_UDP):
            return f"{dst} {proto} port {U16.unpack_from(payload, 2)[0]} unreachable"
        return f"{dst} {proto} port unreachable"
    text = _UNREACH.get(code)
    if text is None:
        return f"{dst} unreachable - code {code}"
    return text.format(dst=dst, proto=ip.proto, mtu=msg.mtu)
