"""SNMP/MIB counters with Linux's names (``/proc/net/snmp`` and ``/proc/net/netstat``).

Mirrors ``include/uapi/linux/snmp.h`` and the name tables of ``net/ipv4/proc.c``.  Contract:
each group is a plain dict of ints prefilled with its declared names (``COUNTERS``), so
``net.mib.tcp["ActiveOpens"] += 1`` stays one dict operation on the hot path and a misspelt
or undeclared name raises ``KeyError`` where it is bumped (or read), instead of growing a
new counter nobody looks at.  ``Ip``, ``Icmp``, ``Tcp`` and ``Udp`` declare Linux's whole
``/proc/net/snmp`` rows (less the constants ``Forwarding``, ``DefaultTTL``, ``RtoAlgorithm``,
``RtoMin``, ``RtoMax``, ``MaxConn``); ``IcmpMsg`` every ``InType<N>``/``OutType<N>``;
``TcpExt`` and ``IpExt`` the ``/proc/net/netstat`` names this stack counts.  ``arp`` is the
ARP table's ``ip -s ntable`` statistics (Linux's ``struct ndt_stats`` names) plus the ARP
message counts.  ``ip6`` and ``icmp6`` are ``/proc/net/snmp6`` with its full names
(``Ip6InReceives``, ``Icmp6OutEchoReplies``, ``Icmp6InType135``); ``ndisc`` is the IPv6
neighbour table's ``ip -s ntable`` statistics.
"""

from __future__ import annotations

GROUPS = ("ip", "icmp", "icmpmsg", "udp", "tcp", "tcpext", "ipext", "arp", "ip6", "icmp6",
          "ndisc")

_ICMP6_TYPES = ("DestUnreachs", "PktTooBigs", "TimeExcds", "ParmProblems", "Echos",
                "EchoReplies", "GroupMembQueries", "GroupMembResponses", "GroupMembReductions",
                "RouterSolicits", "RouterAdvertisements", "NeighborSolicits",
                "NeighborAdvertisements", "Redirects", "MLDv2Reports")
_NDT_STATS = ("allocs", "destroys", "lookups", "hits", "res_failed", "rcv_probes_mcast",
              "rcv_probes_ucast", "forced_gc_runs", "unres_discards", "table_fulls")

_ICMP_TYPES = ("DestUnreachs", "TimeExcds", "ParmProbs", "SrcQuenchs", "Redirects", "Echos",
               "EchoReps", "Timestamps", "TimestampReps", "AddrMasks", "AddrMaskReps")

COUNTERS: dict[str, tuple[str, ...]] = {
    "ip": (
        "InReceives", "InHdrErrors", "InAddrErrors", "ForwDatagrams", "InUnknownProtos",
        "InDiscards", "InDelivers", "OutRequests", "OutDiscards", "OutNoRoutes",
        "ReasmTimeout", "ReasmReqds", "ReasmOKs", "ReasmFails", "FragOKs", "FragFails",
        "FragCreates", "OutTransmits",
    ),
    "icmp": (
        "InMsgs", "InErrors", "InCsumErrors", *("In" + t for t in _ICMP_TYPES),
        "OutMsgs", "OutErrors", "OutRateLimitGlobal", "OutRateLimitHost",
        *("Out" + t for t in _ICMP_TYPES),
    ),
    "icmpmsg": (*(f"InType{t}" for t in range(256)), *(f"OutType{t}" for t in range(256))),
    "udp": (
        "InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors", "SndbufErrors",
        "InCsumErrors", "IgnoredMulti", "MemErrors",
    ),
    "tcp": (
        "ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab", "InSegs",
        "OutSegs", "RetransSegs", "InErrs", "OutRsts", "InCsumErrors",
    ),
    "tcpext": (
        "EmbryonicRsts", "PruneCalled", "RcvPruned", "OfoPruned", "OutOfWindowIcmps", "TW",
        "TWRecycled", "PAWSActive", "PAWSEstab", "DelayedACKs", "DelayedACKLost",
        "ListenOverflows", "ListenDrops", "TCPHPHits", "TCPPureAcks", "TCPHPAcks",
        "TCPRenoRecovery", "TCPSackRecovery", "TCPSACKReneging", "TCPFullUndo",
        "TCPPartialUndo", "TCPDSACKUndo", "TCPLossUndo", "TCPLostRetransmit",
        "TCPRenoFailures", "TCPSackFailures", "TCPLossFailures", "TCPFastRetrans",
        "TCPSlowStartRetrans", "TCPTimeouts", "TCPRenoRecoveryFail", "TCPSackRecoveryFail",
        "TCPRcvQDrop", "TCPDSACKOldSent", "TCPDSACKOfoSent", "TCPDSACKRecv",
        "TCPAbortOnData", "TCPAbortOnClose", "TCPAbortOnTimeout", "TCPAbortOnLinger",
        "TCPSACKDiscard", "TCPDSACKIgnoredOld", "TCPSpuriousRTOs", "TCPDeferAcceptDrop",
        "TCPSYNChallenge",
        "TCPChallengeACK", "TCPOFOQueue", "TCPOFODrop", "TCPOFOMerge", "TCPSynRetrans",
        "TCPOrigDataSent", "TCPHystartTrainDetect", "TCPHystartTrainCwnd",
        "TCPHystartDelayDetect", "TCPHystartDelayCwnd",
        "TCPACKSkippedSynRecv", "TCPACKSkippedSeq",
        "TCPACKSkippedTimeWait", "TCPACKSkippedChallenge", "TCPWinProbe", "TCPKeepAlive",
        "TCPReqQFullDrop", "TCPWantZeroWindowAdv", "TCPToZeroWindowAdv",
        "TCPFromZeroWindowAdv", "TCPZeroWindowDrop", "TCPAutoCorking",
        "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "TCPReqQFullDoCookies",
        "TCPFastOpenActive", "TCPFastOpenActiveFail", "TCPFastOpenPassive",
        "TCPFastOpenPassiveFail", "TCPFastOpenListenOverflow", "TCPFastOpenCookieReqd",
        "TCPLossProbes", "TCPLossProbeRecovery", "TCPSACKReorder", "TCPTSReorder",
        "TCPDSACKOfoRecv", "TCPDSACKRecvSegs", "TCPDSACKIgnoredDubious",
    ),
    "ipext": (
        "InNoRoutes", "InTruncatedPkts", "InCsumErrors", "ReasmOverlaps", "InNoECTPkts",
        "InECT1Pkts", "InECT0Pkts", "InCEPkts",
    ),
    "arp": (
        *_NDT_STATS, "InRequests", "InReplies", "OutRequests", "OutReplies", "InErrors",
    ),
    "ip6": (
        "Ip6InReceives", "Ip6InHdrErrors", "Ip6InTooBigErrors", "Ip6InNoRoutes",
        "Ip6InAddrErrors", "Ip6InUnknownProtos", "Ip6InTruncatedPkts", "Ip6InDiscards",
        "Ip6InDelivers", "Ip6OutForwDatagrams", "Ip6OutRequests", "Ip6OutDiscards",
        "Ip6OutNoRoutes", "Ip6ReasmTimeout", "Ip6ReasmReqds", "Ip6ReasmOKs", "Ip6ReasmFails",
        "Ip6FragOKs", "Ip6FragFails", "Ip6FragCreates", "Ip6InMcastPkts", "Ip6OutMcastPkts",
        "Ip6OutTransmits",
    ),
    "icmp6": (
        "Icmp6InMsgs", "Icmp6InErrors", "Icmp6OutMsgs", "Icmp6OutErrors", "Icmp6InCsumErrors",
        "Icmp6OutRateLimitHost", *("Icmp6In" + t for t in _ICMP6_TYPES),
        *("Icmp6Out" + t for t in _ICMP6_TYPES),
        *(f"Icmp6InType{t}" for t in range(256)), *(f"Icmp6OutType{t}" for t in range(256)),
    ),
    "ndisc": _NDT_STATS,
}  # fmt: skip


class Mib:
    __slots__ = GROUPS

    def __init__(self) -> None:
        self.ip: dict[str, int] = dict.fromkeys(COUNTERS["ip"], 0)
        self.icmp: dict[str, int] = dict.fromkeys(COUNTERS["icmp"], 0)
        self.icmpmsg: dict[str, int] = dict.fromkeys(COUNTERS["icmpmsg"], 0)
        self.udp: dict[str, int] = dict.fromkeys(COUNTERS["udp"], 0)
        self.tcp: dict[str, int] = dict.fromkeys(COUNTERS["tcp"], 0)
        self.tcpext: dict[str, int] = dict.fromkeys(COUNTERS["tcpext"], 0)
        self.ipext: dict[str, int] = dict.fromkeys(COUNTERS["ipext"], 0)
        self.arp: dict[str, int] = dict.fromkeys(COUNTERS["arp"], 0)
        self.ip6: dict[str, int] = dict.fromkeys(COUNTERS["ip6"], 0)
        self.icmp6: dict[str, int] = dict.fromkeys(COUNTERS["icmp6"], 0)
        self.ndisc: dict[str, int] = dict.fromkeys(COUNTERS["ndisc"], 0)

    def group(self, name: str) -> dict[str, int]:
        return getattr(self, name.lower())

    def snapshot(self) -> dict[str, dict[str, int]]:
        """All non-zero counters, by group, as plain dicts (for the shell and ``--json``)."""
        return {g: {k: v for k, v in sorted(getattr(self, g).items()) if v} for g in GROUPS}
