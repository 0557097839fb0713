"""Neighbour resolution: the NUD state machine (``neighbour.py``) and ARP (``arp.py``).

Mirrors Linux's ``net/core/neighbour.c`` and ``net/ipv4/arp.c``; see each module's contract.
"""

from stack.neigh.arp import ArpOps, arp_rcv, arp_send, arp_send_garp, arp_table, ip_eth_mc_map
from stack.neigh.neighbour import (
    NEIGH_UPDATE_F_ADMIN,
    NEIGH_UPDATE_F_OVERRIDE,
    NEIGH_UPDATE_F_WEAK_OVERRIDE,
    NUD_CONNECTED,
    NUD_DELAY,
    NUD_FAILED,
    NUD_IN_TIMER,
    NUD_INCOMPLETE,
    NUD_NAMES,
    NUD_NOARP,
    NUD_NONE,
    NUD_PERMANENT,
    NUD_PROBE,
    NUD_REACHABLE,
    NUD_STALE,
    NUD_VALID,
    Neighbour,
    NeighTable,
)

__all__ = [
    "ArpOps", "NEIGH_UPDATE_F_ADMIN", "NEIGH_UPDATE_F_OVERRIDE", "NEIGH_UPDATE_F_WEAK_OVERRIDE",
    "NUD_CONNECTED", "NUD_DELAY", "NUD_FAILED", "NUD_INCOMPLETE", "NUD_IN_TIMER", "NUD_NAMES",
    "NUD_NOARP", "NUD_NONE", "NUD_PERMANENT", "NUD_PROBE", "NUD_REACHABLE", "NUD_STALE",
    "NUD_VALID", "NeighTable", "Neighbour", "arp_rcv", "arp_send", "arp_send_garp", "arp_table",
    "ip_eth_mc_map",
]  # fmt: skip
