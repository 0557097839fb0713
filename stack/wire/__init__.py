"""Every wire format the stack speaks, declared once: Ethernet/802.1Q, ARP, IPv4, ICMP, UDP, TCP.

The counterpart of smoltcp's ``src/wire`` and Linux's ``include/uapi/linux/{if_ether,if_arp,
ip,icmp,udp,tcp}.h``.  Each protocol module declares its header as one
:class:`~stack.wire.layout.Layout` table and builds from it a *view* (``XxxPacket``: typed
getters/setters over a ``memoryview``, ``checked(buf)`` the one validating entry), a *repr*
(``XxxRepr``: ``parse``/``emit``/``buffer_len``) and a ``construct`` decoder (``XXX_CONSTRUCT``,
tests and debugger only).  Bad input raises :class:`Malformed` (or its subclasses
:class:`BadChecksum`, :class:`Truncated`), nothing else; unknown numbers stay ints.

Protocol logic lives elsewhere in ``stack/``; this package does no I/O and keeps no state.
"""

from stack.wire.arp import (
    ARP_HLEN,
    ARPHRD_ETHER,
    ARPOP_REPLY,
    ARPOP_REQUEST,
    ArpPacket,
    ArpRepr,
)
from stack.wire.checksum import (
    csum_fold,
    csum_partial,
    csum_replace2,
    internet_checksum,
    l4_checksum,
    pseudo_header_sum,
    verify_l4,
)
from stack.wire.describe import describe
from stack.wire.errors import BadChecksum, Malformed, Truncated
from stack.wire.ethernet import (
    BROADCAST,
    ETH_ALEN,
    ETH_DATA_LEN,
    ETH_FRAME_LEN,
    ETH_HLEN,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_ZLEN,
    VLAN_ETH_HLEN,
    VLAN_HLEN,
    EthernetFrame,
    EthernetRepr,
    is_broadcast,
    is_multicast,
    is_unicast,
    is_valid,
    is_zero,
    mac_bytes,
    mac_str,
    vlan_tci,
)
from stack.wire.icmp import (
    ICMP_DEST_UNREACH,
    ICMP_ECHO,
    ICMP_ECHOREPLY,
    ICMP_FRAG_NEEDED,
    ICMP_HLEN,
    ICMP_PARAMETERPROB,
    ICMP_PORT_UNREACH,
    ICMP_PROT_UNREACH,
    ICMP_TIME_EXCEEDED,
    IcmpPacket,
    IcmpRepr,
    parse_quoted,
    quote_datagram,
)
from stack.wire.ipv4 import (
    INADDR_ANY,
    INADDR_BROADCAST,
    IP_DF,
    IP_MF,
    IP_OFFSET,
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV4_HLEN,
    Ipv4Packet,
    Ipv4Repr,
    int_to_ip,
    ip_bytes,
    ip_str,
    ip_to_int,
)
from stack.wire.layout import Buffer, Field, Layout
from stack.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    MAX_TCP_OPTION_SPACE,
    PSH,
    RST,
    SYN,
    TCP_HLEN,
    URG,
    TcpPacket,
    TcpRepr,
    flags_str,
    parse_options,
)
from stack.wire.udp import UDP_HLEN, UdpPacket, UdpRepr

__all__ = [
    "ACK", "ARPHRD_ETHER", "ARPOP_REPLY", "ARPOP_REQUEST", "ARP_HLEN", "BROADCAST", "CWR", "ECE",
    "ETH_ALEN", "ETH_DATA_LEN", "ETH_FRAME_LEN", "ETH_HLEN", "ETH_P_8021Q", "ETH_P_ARP",
    "ETH_P_IP", "ETH_P_IPV6", "ETH_ZLEN", "FIN", "ICMP_DEST_UNREACH", "ICMP_ECHO",
    "ICMP_ECHOREPLY", "ICMP_FRAG_NEEDED", "ICMP_HLEN", "ICMP_PARAMETERPROB", "ICMP_PORT_UNREACH",
    "ICMP_PROT_UNREACH", "ICMP_TIME_EXCEEDED", "INADDR_ANY", "INADDR_BROADCAST", "IPPROTO_ICMP",
    "IPPROTO_TCP", "IPPROTO_UDP", "IPV4_HLEN", "IP_DF", "IP_MF", "IP_OFFSET",
    "MAX_TCP_OPTION_SPACE", "PSH", "RST", "SYN", "TCP_HLEN", "UDP_HLEN", "URG", "VLAN_ETH_HLEN",
    "VLAN_HLEN", "ArpPacket", "ArpRepr", "BadChecksum", "Buffer", "EthernetFrame",
    "EthernetRepr", "Field", "IcmpPacket", "IcmpRepr", "Ipv4Packet", "Ipv4Repr", "Layout",
    "Malformed", "TcpPacket", "TcpRepr", "Truncated", "UdpPacket", "UdpRepr", "csum_fold",
    "csum_partial", "csum_replace2", "describe", "flags_str", "int_to_ip", "internet_checksum",
    "ip_bytes", "ip_str", "ip_to_int", "is_broadcast", "is_multicast", "is_unicast", "is_valid",
    "is_zero", "l4_checksum", "mac_bytes", "mac_str", "parse_options", "parse_quoted",
    "pseudo_header_sum", "quote_datagram", "verify_l4", "vlan_tci",
]
