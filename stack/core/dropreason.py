"""Why an skb was dropped: Linux's ``enum skb_drop_reason`` (include/net/dropreason-core.h).

Contract: every ``kfree_skb(skb, reason)`` names a member of :class:`SkbDropReason`; a
misspelt reason is an ``AttributeError`` where it is written, not a new bucket in
``kernel.drop_reasons``.  Members are ``StrEnum``s whose value is the name without Linux's
``SKB_DROP_REASON_`` prefix, so a count reads and compares as the plain string
(``kernel.drop_reasons["NO_SOCKET"]``) and ``perf``/``dropwatch`` output can be matched by
name.  Only reasons this stack really uses are declared.  The last group has no Linux
counterpart (Linux drops those packets with ``NOT_SPECIFIED`` or does not drop them); they are
kept apart so a reader does not look for them in the kernel.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class SkbDropReason(StrEnum):
    NOT_SPECIFIED = "NOT_SPECIFIED"
    NO_SOCKET = "NO_SOCKET"
    SOCKET_CLOSE = "SOCKET_CLOSE"
    PKT_TOO_SMALL = "PKT_TOO_SMALL"
    TCP_CSUM = "TCP_CSUM"
    UDP_CSUM = "UDP_CSUM"
    OTHERHOST = "OTHERHOST"
    IP_CSUM = "IP_CSUM"
    IP_INHDR = "IP_INHDR"
    IP_NOPROTO = "IP_NOPROTO"
    SOCKET_RCVBUFF = "SOCKET_RCVBUFF"
    PROTO_MEM = "PROTO_MEM"
    TCP_FLAGS = "TCP_FLAGS"
    TCP_ZEROWINDOW = "TCP_ZEROWINDOW"
    TCP_OLD_DATA = "TCP_OLD_DATA"
    TCP_OVERWINDOW = "TCP_OVERWINDOW"
    TCP_OFOMERGE = "TCP_OFOMERGE"
    TCP_RFC7323_PAWS = "TCP_RFC7323_PAWS"
    TCP_INVALID_SEQUENCE = "TCP_INVALID_SEQUENCE"
    TCP_INVALID_ACK_SEQUENCE = "TCP_INVALID_ACK_SEQUENCE"
    TCP_RESET = "TCP_RESET"
    TCP_INVALID_SYN = "TCP_INVALID_SYN"
    TCP_CLOSE = "TCP_CLOSE"
    TCP_LISTEN_OVERFLOW = "TCP_LISTEN_OVERFLOW"
    TCP_REQQFULLDROP = "TCP_REQQFULLDROP"
    IP_OUTNOROUTES = "IP_OUTNOROUTES"
    NEIGH_CREATEFAIL = "NEIGH_CREATEFAIL"
    NEIGH_FAILED = "NEIGH_FAILED"
    NEIGH_QUEUEFULL = "NEIGH_QUEUEFULL"
    NEIGH_DEAD = "NEIGH_DEAD"
    QDISC_DROP = "QDISC_DROP"
    CPU_BACKLOG = "CPU_BACKLOG"
    UNHANDLED_PROTO = "UNHANDLED_PROTO"
    SKB_GSO_SEG = "SKB_GSO_SEG"
    DEV_READY = "DEV_READY"
    ICMP_CSUM = "ICMP_CSUM"
    INVALID_PROTO = "INVALID_PROTO"
    IP_INADDRERRORS = "IP_INADDRERRORS"
    IP_INNOROUTES = "IP_INNOROUTES"
    IP_INVALID_SOURCE = "IP_INVALID_SOURCE"
    IP_INVALID_DEST = "IP_INVALID_DEST"
    PKT_TOO_BIG = "PKT_TOO_BIG"
    DUP_FRAG = "DUP_FRAG"
    FRAG_REASM_TIMEOUT = "FRAG_REASM_TIMEOUT"
    FRAG_TOO_FAR = "FRAG_TOO_FAR"
    QUEUE_PURGE = "QUEUE_PURGE"
    IPV6DISABLED = "IPV6DISABLED"
    SKB_CSUM = "SKB_CSUM"  # a raw IPv6 socket's checksum failed (rawv6_rcv_skb)
    IPV6_BAD_EXTHDR = "IPV6_BAD_EXTHDR"
    IPV6_NDISC_FRAG = "IPV6_NDISC_FRAG"
    IPV6_NDISC_HOP_LIMIT = "IPV6_NDISC_HOP_LIMIT"
    IPV6_NDISC_BAD_CODE = "IPV6_NDISC_BAD_CODE"
    IPV6_NDISC_BAD_OPTIONS = "IPV6_NDISC_BAD_OPTIONS"
    IPV6_NDISC_NS_OTHERHOST = "IPV6_NDISC_NS_OTHERHOST"
    # ixsim's own, no Linux reason
    TCP_HDR = "TCP_HDR"
    TCP_ACK_INVALID = "TCP_ACK_INVALID"
    TCP_OLD_SYN = "TCP_OLD_SYN"
    FRAG_REASM_FAILED = "FRAG_REASM_FAILED"
    IP_SRR = "IP_SRR"
    IP_MULTICAST_NOT_MEMBER = "IP_MULTICAST_NOT_MEMBER"
    ARP_MALFORMED = "ARP_MALFORMED"
    ARP_BOGUS = "ARP_BOGUS"
    ARP_UNSUPPORTED_OP = "ARP_UNSUPPORTED_OP"
