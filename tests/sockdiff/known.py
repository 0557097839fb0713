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
    "udp_reuseport_both": f"{ITEM3}: SO_REUSEPORT second UDP bind EADDRINUSE, Linux binds (S2)",
    "bind_reuseport_both_listen": f"{ITEM3}: SO_REUSEPORT second TCP bind EADDRINUSE (S2)",
    "bool_options_read_one": f"{ITEM3}: SO_KEEPALIVE/SO_REUSEADDR/SO_OOBINLINE/SO_BROADCAST/"
                             "SO_DONTROUTE read back 5 (the value written), SO_REUSEPORT "
                             "True; Linux reads 1 (S2)",
    "bool_options_udp": f"{ITEM3}: bool options read back -3, Linux 1 (S2)",
    "sndbuf_doubling_and_clamping": f"{ITEM3}: SO_SNDBUF -1 gives 4608, Linux clamps the "
                                    "unsigned value to wmem_max: 2*wmem_max (S2)",
    "rcvbuf_doubling_and_clamping": f"{ITEM3}: SO_RCVBUF -1 gives 2304, Linux 2*rmem_max (S2)",
    "sndlowat_refused": f"{ITEM3}: SO_SNDLOWAT reads 0 and is accepted; Linux reads 1 and "
                        "refuses with ENOPROTOOPT (S2)",
    "so_priority_roundtrip": f"{ITEM3}: SO_PRIORITY ENOPROTOOPT, Linux stores it (S2)",
    "so_rcvtimeo_sndtimeo": f"{ITEM3}: SO_RCVTIMEO/SO_SNDTIMEO ENOPROTOOPT (S2)",
    "invalid_option_lengths": f"{ITEM3}: 1- and 2-byte SO_KEEPALIVE/SO_RCVBUF/TCP_NODELAY "
                              "accepted (Linux EINVAL); IP_TTL/IP_TOS refused on TCP (S2)",
    "getsockopt_buffer_lengths": f"{ITEM3}: IP_TTL on a TCP socket ENOPROTOOPT (S2)",
    "ip_ttl_tcp": f"{ITEM3}: IP_TTL on TCP ENOPROTOOPT, Linux 64 and its range checks (S2)",
    "ip_tos_tcp": f"{ITEM3}: IP_TOS on TCP ENOPROTOOPT, Linux keeps the ECN bits (S2)",
    "tcp_linger2_roundtrip": f"{ITEM3}: TCP_LINGER2 500 reads 500, Linux clamps to "
                             "tcp_fin_timeout's maximum 120 (S2)",
    "tcp_window_clamp_roundtrip": f"{ITEM3}: TCP_WINDOW_CLAMP 0 on a connected socket "
                                  "accepted, Linux EINVAL (S2)",
    "tcp_notsent_lowat_roundtrip": f"{ITEM3}: TCP_NOTSENT_LOWAT ENOPROTOOPT (S2)",
    "connect_again_after_refused": f"{ITEM3}: connect after ECONNREFUSED gives ECONNABORTED "
                                   "(and for ever after); Linux tries again (S2)",
    "connect_twice_eisconn": f"{ITEM3}: connect on a connected socket returns, Linux "
                             "EISCONN (S2)",
    "bind_foreign_address_eaddrnotavail": f"{ITEM3}: bind to the peer's address succeeds, to "
                                          "an unknown one EINVAL; Linux EADDRNOTAVAIL (S2)",
    "peer_close_then_send_epipe": f"{ITEM3}: SO_ERROR reads 32 (EPIPE) after the send that "
                                  "reported it; Linux 0 (sock_error consumed it) (S2)",
    "tcp_info_states_active_close": f"{ITEM3}: tcpi_state TIME_WAIT for a socket whose "
                                    "connection ended; Linux CLOSE (tcp_time_wait -> "
                                    "tcp_done) (S2)",
    "so_bindtodevice_names": f"{ITEM3}: SO_BINDTODEVICE: unknown name EINVAL (Linux ENODEV), "
                             "'lo' and '' refused with EINVAL, unbound reads b'\\0' for "
                             "Linux's b'' (S2)",
    "so_mark_roundtrip": f"{ITEM3}: SO_MARK ENOPROTOOPT, Linux stores it (S2)",
    "listener_closed_with_queued_connection": f"{ITEM3}: connect_ex on a socket reset after "
                                              "it was established gives ECONNABORTED; Linux "
                                              "EISCONN (the socket stays SS_CONNECTED) (S2)",
    "connect_refused_then_names": f"{ITEM3}: after a refused connect getsockname keeps "
                                  "10.0.0.1; Linux clears the source address to 0.0.0.0 "
                                  "(S2)",
    "so_rcvtimeo_blocking_recv": f"{ITEM3}: SO_RCVTIMEO ENOPROTOOPT, so the blocking recv "
                                 "waits for ever; Linux raises EAGAIN after 50 ms (S2)",
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
