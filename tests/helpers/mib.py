"""The counter names Linux prints in /proc/net/{snmp,netstat}, to check the stack's against.

A counter the stack bumps under a name Linux does not use would never line up with ``nstat``
or ``netstat -s`` output: every test that exercises a protocol ends with the check here.
"""

from __future__ import annotations

from typing import Any

LINUX_IP_MIB = {
    "Forwarding", "DefaultTTL", "InReceives", "InHdrErrors", "InAddrErrors", "ForwDatagrams",
    "InUnknownProtos", "InDiscards", "InDelivers", "OutRequests", "OutDiscards", "OutNoRoutes",
    "ReasmTimeout", "ReasmReqds", "ReasmOKs", "ReasmFails", "FragOKs", "FragFails",
    "FragCreates", "OutTransmits",
}
LINUX_IPEXT_MIB = {
    "InNoRoutes", "InTruncatedPkts", "InMcastPkts", "OutMcastPkts", "InBcastPkts",
    "OutBcastPkts", "InOctets", "OutOctets", "InMcastOctets", "OutMcastOctets", "InBcastOctets",
    "OutBcastOctets", "InCsumErrors", "InNoECTPkts", "InECT1Pkts", "InECT0Pkts", "InCEPkts",
    "ReasmOverlaps",
}
LINUX_ICMP_MIB = {
    "InMsgs", "InErrors", "InCsumErrors", "InDestUnreachs", "InTimeExcds", "InParmProbs",
    "InSrcQuenchs", "InRedirects", "InEchos", "InEchoReps", "InTimestamps", "InTimestampReps",
    "InAddrMasks", "InAddrMaskReps", "OutMsgs", "OutErrors", "OutRateLimitGlobal",
    "OutRateLimitHost", "OutDestUnreachs", "OutTimeExcds", "OutParmProbs", "OutSrcQuenchs",
    "OutRedirects", "OutEchos", "OutEchoReps", "OutTimestamps", "OutTimestampReps",
    "OutAddrMasks", "OutAddrMaskReps",
}
LINUX_UDP_MIB = {
    "InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors", "SndbufErrors",
    "InCsumErrors", "IgnoredMulti", "MemErrors",
}


def assert_linux_mib_names(net: Any) -> None:
    """Every counter the stack touched has a name Linux's /proc/net/{snmp,netstat} uses."""
    assert set(net.mib.ip) <= LINUX_IP_MIB, set(net.mib.ip) - LINUX_IP_MIB
    assert set(net.mib.ipext) <= LINUX_IPEXT_MIB, set(net.mib.ipext) - LINUX_IPEXT_MIB
    assert set(net.mib.icmp) <= LINUX_ICMP_MIB, set(net.mib.icmp) - LINUX_ICMP_MIB
    assert set(net.mib.udp) <= LINUX_UDP_MIB, set(net.mib.udp) - LINUX_UDP_MIB
    for name in net.mib.icmpmsg:
        assert name.startswith(("InType", "OutType")) and name[-1].isdigit(), name



LINUX_TCP_MIB = {
    "RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens", "PassiveOpens",
    "AttemptFails", "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "InErrs",
    "OutRsts", "InCsumErrors",
}
LINUX_TCPEXT_MIB = {
    "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "EmbryonicRsts", "PruneCalled",
    "RcvPruned", "OfoPruned", "OutOfWindowIcmps", "LockDroppedIcmps", "ArpFilter", "TW",
    "TWRecycled", "TWKilled", "PAWSActive", "PAWSEstab", "DelayedACKs", "DelayedACKLocked",
    "DelayedACKLost", "ListenOverflows", "ListenDrops", "TCPHPHits", "TCPPureAcks",
    "TCPHPAcks", "TCPRenoRecovery", "TCPSackRecovery", "TCPSACKReneging", "TCPSACKReorder",
    "TCPRenoReorder", "TCPTSReorder", "TCPFullUndo", "TCPPartialUndo", "TCPDSACKUndo",
    "TCPLossUndo", "TCPLostRetransmit", "TCPRenoFailures", "TCPSackFailures", "TCPLossFailures",
    "TCPFastRetrans", "TCPSlowStartRetrans", "TCPTimeouts", "TCPLossProbes",
    "TCPLossProbeRecovery", "TCPRenoRecoveryFail", "TCPSackRecoveryFail", "TCPRcvCollapsed",
    "TCPDSACKOldSent", "TCPDSACKOfoSent", "TCPDSACKRecv", "TCPDSACKOfoRecv", "TCPAbortOnData",
    "TCPAbortOnClose", "TCPAbortOnMemory", "TCPAbortOnTimeout", "TCPAbortOnLinger",
    "TCPAbortFailed", "TCPMemoryPressures", "TCPMemoryPressuresChrono", "TCPSACKDiscard",
    "TCPDSACKIgnoredOld", "TCPDSACKIgnoredNoUndo", "TCPSpuriousRTOs", "TCPMD5NotFound",
    "TCPMD5Unexpected", "TCPMD5Failure", "TCPSackShifted", "TCPSackMerged",
    "TCPSackShiftFallback", "TCPBacklogDrop", "PFMemallocDrop", "TCPMinTTLDrop",
    "TCPDeferAcceptDrop", "IPReversePathFilter", "TCPTimeWaitOverflow", "TCPReqQFullDoCookies",
    "TCPReqQFullDrop", "TCPRetransFail", "TCPRcvCoalesce", "TCPOFOQueue", "TCPOFODrop",
    "TCPOFOMerge", "TCPChallengeACK", "TCPSYNChallenge", "TCPFastOpenActive",
    "TCPFastOpenActiveFail", "TCPFastOpenPassive", "TCPFastOpenPassiveFail",
    "TCPFastOpenListenOverflow", "TCPFastOpenCookieReqd", "TCPFastOpenBlackhole",
    "TCPSpuriousRtxHostQueues", "BusyPollRxPackets", "TCPAutoCorking", "TCPFromZeroWindowAdv",
    "TCPToZeroWindowAdv", "TCPWantZeroWindowAdv", "TCPSynRetrans", "TCPOrigDataSent",
    "TCPHystartTrainDetect", "TCPHystartTrainCwnd", "TCPHystartDelayDetect",
    "TCPHystartDelayCwnd", "TCPACKSkippedSynRecv", "TCPACKSkippedPAWS", "TCPACKSkippedSeq",
    "TCPACKSkippedFinWait2", "TCPACKSkippedTimeWait", "TCPACKSkippedChallenge", "TCPWinProbe",
    "TCPKeepAlive", "TCPMTUPFail", "TCPMTUPSuccess", "TCPDelivered", "TCPDeliveredCE",
    "TCPAckCompressed", "TCPZeroWindowDrop", "TCPRcvQDrop", "TCPWqueueTooBig",
    "TCPFastOpenPassiveAltKey", "TcpTimeoutRehash", "TcpDuplicateDataRehash", "TCPDSACKRecvSegs",
    "TCPDSACKIgnoredDubious", "TCPMigrateReqSuccess", "TCPMigrateReqFailure",
}


def assert_linux_tcp_mib_names(net: Any) -> None:
    """Every counter TCP touched has the name Linux's /proc/net/{snmp,netstat} prints."""
    assert set(net.mib.tcp) <= LINUX_TCP_MIB, set(net.mib.tcp) - LINUX_TCP_MIB
    assert set(net.mib.tcpext) <= LINUX_TCPEXT_MIB, set(net.mib.tcpext) - LINUX_TCPEXT_MIB
