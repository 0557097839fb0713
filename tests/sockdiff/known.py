"""The scenarios that differ from Linux on today's tree: the measured difference and the part
building the behaviour (issue 12 items 2-5), or "not owned" for differences nobody is building.

``tests/test_socket_differential.py`` makes each a strict xfail, so a scenario that starts to
match fails until its entry here is removed; ``python -m tests.sockdiff`` marks them in its
table.
"""

from __future__ import annotations

ITEM2 = "issue 12 item 2 (urgent data)"
ITEM3 = "issue 12 item 3 (options and edges)"
ITEM4 = "issue 12 item 4 (stdlib surface, errqueue)"
ITEM5 = "issue 12 item 5 (raw and ping sockets)"
UNOWNED = "not owned by a part (reported to the lead)"

KNOWN: dict[str, str] = {
    # S1: urgent data
    # S2: options and edges
    # S3: stdlib surface, errqueue, cmsg
    # S4: raw and ping sockets
    "ping_socket_echo": f"{ITEM5}: no net.ipv4.ping_group_range, ICMP datagram sockets "
                        "EPROTONOSUPPORT (S4)",
    # nobody's
    "getsockopt_buflen_zero_is_int": f"{UNOWNED}: getsockopt(level, opt, 0) gives b''; "
                                     "CPython treats buflen 0 as no buflen and returns the int",
    "unknown_option_numbers": f"{UNOWNED}: UDP accepts and stores an unknown SOL_SOCKET "
                              "option (999 reads 1); getsockopt at an unknown level is "
                              "ENOPROTOOPT where Linux says EOPNOTSUPP",
    "ip_mtu_discover_and_mtu": f"{UNOWNED}: IP_MTU_DISCOVER and IP_MTU on a TCP socket "
                               "ENOPROTOOPT; Linux 1 (IP_PMTUDISC_WANT), ENOTCONN / 1500",
    "ip_multicast_defaults": f"{UNOWNED}: IP_MULTICAST_TTL/LOOP ENOPROTOOPT; Linux 1 and 1",
    "tcp_defer_accept_and_fastopen": f"{UNOWNED}: TCP_FASTOPEN ENOPROTOOPT; Linux stores "
                                     "the queue length",
}
