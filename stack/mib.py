"""SNMP/MIB counters with Linux's names (``/proc/net/snmp`` and ``/proc/net/netstat``).

Each group is a plain dict of ints (``net.mib.tcp["ActiveOpens"] += 1``): cheap on the hot
path, printable by the shell, comparable in tests.  Unknown names start at 0 on first use.
"""

from __future__ import annotations

from collections import defaultdict

GROUPS = ("ip", "icmp", "icmpmsg", "udp", "tcp", "tcpext", "ipext", "arp")


class Mib:
    def __init__(self) -> None:
        self.ip: defaultdict[str, int] = defaultdict(int)
        self.icmp: defaultdict[str, int] = defaultdict(int)
        self.icmpmsg: defaultdict[str, int] = defaultdict(int)
        self.udp: defaultdict[str, int] = defaultdict(int)
        self.tcp: defaultdict[str, int] = defaultdict(int)
        self.tcpext: defaultdict[str, int] = defaultdict(int)
        self.ipext: defaultdict[str, int] = defaultdict(int)
        self.arp: defaultdict[str, int] = defaultdict(int)

    def group(self, name: str) -> defaultdict[str, int]:
        return getattr(self, name.lower())

    def snapshot(self) -> dict[str, dict[str, int]]:
        """All non-zero counters, by group, as plain dicts (for the shell and ``--json``)."""
        return {g: {k: v for k, v in sorted(getattr(self, g).items()) if v} for g in GROUPS}
