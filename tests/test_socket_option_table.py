"""Every option ixsim's setsockopt accepts has a test of its effect (the parity rule).

The accepted options are found the way a user would find them, not read from a list that could
drift from the handlers: each (level, optname) in SOL_SOCKET, SOL_IP and SOL_TCP up to 100 is
set on a fresh TCP, UDP and packet socket with a few plausible values; whatever does not fail
with ENOPROTOOPT is accepted.  ``EFFECTS`` names, for each accepted option and socket kind, the
test that shows its effect.  Where Linux itself gives an option no effect on that kind of socket
(SO_DEBUG's flag, SO_BROADCAST on TCP, SO_KEEPALIVE on UDP, ...) the test named is the one that
checks the value reads back as Linux's does.  An option accepted without an entry, or an entry
for an option no longer accepted, fails here.
"""

from __future__ import annotations

import ast
import errno
import socket as pysocket
import struct
from pathlib import Path

import pytest

from ixsim import World
from stack import uapi
from stack.uapi import SOL_IP, SOL_SOCKET, SOL_TCP

TESTS = Path(__file__).resolve().parent
READBACK = "test_socket_option_values.py::test_option_outcomes_match_the_host_kernel"
VALUES = (1, struct.pack("ii", 1, 1), struct.pack("ll", 1, 0), b"eth0", b"reno")
LEVELS = {SOL_SOCKET: "SO_", SOL_IP: "IP_", SOL_TCP: "TCP_"}
EFFECT = "test_socket_option_effects.py::"
LINUX = "test_socket_options_linux.py::"
EDGE = "test_socket_edges.py::"
URGENT = "test_tcp_urgent.py::"
CMSG = "test_socket_cmsg.py::"
PARITY = "test_socket_parity_rest.py::"
PACING = "test_tcp_tsq_pacing.py::"

_SOCKET_COMMON = {
    "SO_DEBUG": READBACK,  # SOCK_DBG: no other effect in Linux
    "SO_RCVBUF": "test_socket_constants.py::test_buffer_sizes_are_set_by_one_handler_for_every_protocol",  # noqa: E501
    "SO_SNDBUF": "test_tcp_output.py::test_send_buffer_fills_then_eagain_then_write_space_wakes",
    "SO_PRIORITY": EFFECT + "test_priority_and_tos_pick_the_pfifo_fast_band",
    "SO_MARK": EFFECT + "test_udp_mark_and_priority_are_on_every_skb",
    "SO_RCVTIMEO": EFFECT + "test_rcvtimeo_fails_a_blocking_recv_with_eagain",
    "SO_SNDTIMEO": EFFECT + "test_sndtimeo_bounds_a_send_into_a_full_buffer",
}
EFFECTS: dict[str, dict[str, str]] = {
    "tcp": {
        **_SOCKET_COMMON,
        "SO_PRIORITY": EFFECT + "test_tcp_priority_reaches_the_qdisc",
        "SO_MARK": EFFECT + "test_tcp_priority_reaches_the_qdisc",
        "SO_SNDTIMEO": EFFECT + "test_sndtimeo_bounds_connect_with_einprogress",
        "SO_REUSEADDR": "test_tcp_handshake.py::test_bind_conflicts_and_reuseaddr",
        "SO_REUSEPORT": EFFECT + "test_reuseport_lets_listeners_share_a_port_and_spreads_connections",  # noqa: E501
        "SO_DONTROUTE": EFFECT + "test_dontroute_reaches_on_link_peers_only",
        "SO_BROADCAST": READBACK,  # TCP never broadcasts
        "SO_KEEPALIVE": "test_tcp_timers.py::test_keepalive_declares_a_dead_peer_after_idle_plus_intvl_times_cnt",  # noqa: E501
        "SO_OOBINLINE": URGENT + "test_oobinline_keeps_the_byte_in_band_and_still_stops_at_the_mark",  # noqa: E501
        "SO_LINGER": LINUX + "test_linger_close_waits_for_the_fin_to_be_acknowledged",
        "SO_RCVLOWAT": LINUX + "test_poll_reports_epollin_only_at_rcvlowat_bytes",
        "SO_BINDTODEVICE": EFFECT + "test_bindtodevice_restricts_a_tcp_listener_to_its_device",
        "IP_TOS": EFFECT + "test_tcp_segments_carry_ip_tos_and_ttl",
        "IP_TTL": EFFECT + "test_tcp_segments_carry_ip_tos_and_ttl",
        "IP_MTU_DISCOVER": PARITY + "test_tcp_ip_mtu_discover_sets_df_and_ip_mtu_needs_a_route",
        "IP_RECVERR": PARITY + "test_tcp_ip_recverr_reports_a_soft_icmp_error_at_once",
        "TCP_NODELAY": "test_tcp_timers.py::test_tcp_nodelay_sends_at_once",
        "TCP_MAXSEG": "test_tcp_output.py::test_user_mss_is_advertised_and_respected",
        "TCP_CORK": "test_tcp_timers.py::test_tcp_cork_holds_until_uncorked_or_about_200_ms",
        "TCP_KEEPIDLE": "test_tcp_timers.py::test_keepalive_answered_keeps_the_connection",
        "TCP_KEEPINTVL": "test_tcp_timers.py::test_keepalive_answered_keeps_the_connection",
        "TCP_KEEPCNT": "test_tcp_timers.py::test_keepalive_answered_keeps_the_connection",
        "TCP_SYNCNT": "test_tcp_handshake.py::test_tcp_syncnt_overrides_syn_retries",
        "TCP_LINGER2": EFFECT + "test_linger2_sets_the_orphaned_fin_wait_2_lifetime",
        "TCP_DEFER_ACCEPT": LINUX + "test_defer_accept_waits_for_data",
        "TCP_WINDOW_CLAMP": EFFECT + "test_window_clamp_bounds_the_window_we_offer",
        "TCP_QUICKACK": EFFECT + "test_quickack_off_delays_the_ack_and_on_sends_it_at_once",
        "TCP_CONGESTION": "test_tcp_loss.py::test_congestion_control_is_pluggable",
        "TCP_USER_TIMEOUT": EFFECT + "test_user_timeout_aborts_with_etimedout",
        "TCP_NOTSENT_LOWAT": EFFECT + "test_notsent_lowat_gates_epollout_on_unsent_bytes",
        "TCP_FASTOPEN": "test_tcp_fastopen.py::"
                        "test_data_in_the_syn_is_delivered_at_accept_before_the_handshake_completes",
        "TCP_FASTOPEN_CONNECT": "test_tcp_fastopen.py::"
                                "test_the_client_caches_the_cookie_then_sends_data_in_the_syn",
        "TCP_FASTOPEN_NO_COOKIE": "test_tcp_fastopen.py::"
                                  "test_client_no_cookie_mode_sends_data_without_an_option",
        "SO_MAX_PACING_RATE": PACING + "test_so_max_pacing_rate_paces_tcp_on_the_wire_with_pfifo_fast",  # noqa: E501
    },
    "udp": {
        **_SOCKET_COMMON,
        "SO_REUSEADDR": "test_udp.py::test_bind_conflicts_reuseaddr_and_foreign_addresses",
        "SO_REUSEPORT": EFFECT + "test_reuseport_spreads_udp_datagrams_by_flow",
        "SO_DONTROUTE": EFFECT + "test_dontroute_reaches_on_link_peers_only",
        "SO_BROADCAST": "test_udp.py::test_broadcast_needs_so_broadcast_and_reaches_everyone_including_us",  # noqa: E501
        "SO_KEEPALIVE": READBACK,  # Linux: no keepalive for UDP
        "SO_OOBINLINE": READBACK,  # no urgent data on UDP
        "SO_LINGER": READBACK,  # a datagram close never lingers
        "SO_RCVLOWAT": READBACK,  # datagram receives ignore it, as in Linux
        "SO_BINDTODEVICE": EFFECT + "test_bindtodevice_routes_udp_out_of_that_device",
        "SO_NO_CHECK": EFFECT + "test_no_check_sends_udp_without_a_checksum",
        "IP_TOS": EFFECT + "test_udp_datagrams_carry_ip_tos_and_ttl",
        "IP_TTL": EFFECT + "test_udp_datagrams_carry_ip_tos_and_ttl",
        "IP_MTU_DISCOVER": "test_ip_frag.py::test_df_gives_emsgsize_and_a_local_frag_needed",
        "IP_RECVERR": CMSG + "test_icmp_port_unreachable_reaches_the_error_queue_as_on_linux",
        "IP_PKTINFO": CMSG + "test_recv_ancillary_data_is_linuxs",
        "IP_RECVTTL": CMSG + "test_recvttl_follows_the_received_header",
        "IP_RECVTOS": CMSG + "test_recv_ancillary_data_is_linuxs",
        "SO_MAX_PACING_RATE": PACING + "test_so_max_pacing_rate_paces_datagrams_under_fq",
    },
    "packet": {
        **_SOCKET_COMMON,
        "SO_PRIORITY": EFFECT + "test_packet_socket_priority_mark_and_detach_filter",
        "SO_MARK": EFFECT + "test_packet_socket_priority_mark_and_detach_filter",
        "SO_ATTACH_FILTER": "test_packet_socket.py::test_packet_socket_sees_both_directions_and_filters_with_bpf",  # noqa: E501
        "SO_DETACH_FILTER": EFFECT + "test_packet_socket_priority_mark_and_detach_filter",
        # flags sk_setsockopt keeps for any socket and AF_PACKET never reads, as in Linux
        "SO_REUSEADDR": READBACK,
        "SO_REUSEPORT": READBACK,
        "SO_DONTROUTE": READBACK,
        "SO_BROADCAST": READBACK,
        "SO_KEEPALIVE": READBACK,
        "SO_OOBINLINE": READBACK,
        "SO_LINGER": READBACK,
        "SO_RCVLOWAT": READBACK,
        "SO_BINDTODEVICE": READBACK,
        "SO_MAX_PACING_RATE": PACING + "test_so_max_pacing_rate_paces_datagrams_under_fq",
    },
}


def _name(level: int, opt: int) -> str:
    prefix = LEVELS[level]
    for name in uapi.__all__:
        if (name.startswith(prefix) and getattr(uapi, name) == opt and "PMTUDISC" not in name
                and not name.startswith("SO_EE_")):  # sock_extended_err origins, not options
            return name
    return f"{prefix}{opt}"  # accepted but unnamed: fails below


def _make(host, kind: str):
    if kind == "tcp":
        return host.socket(pysocket.AF_INET, pysocket.SOCK_STREAM)
    if kind == "udp":
        return host.socket(pysocket.AF_INET, pysocket.SOCK_DGRAM)
    return host.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, pysocket.htons(3))


def accepted(host, kind: str) -> set[str]:
    found = set()
    for level in LEVELS:
        for opt in range(100):
            for value in VALUES:
                sock = _make(host, kind)
                try:
                    sock.setsockopt(level, opt, value)
                except OSError as exc:
                    if exc.errno == errno.ENOPROTOOPT:
                        break
                    found.add(_name(level, opt))  # known, this value refused (EINVAL, ...)
                    break
                except TypeError:
                    continue  # CPython-level refusal of this value's type: try another
                except ValueError:  # a filter program that does not verify: a known option
                    found.add(_name(level, opt))
                    break
                else:
                    found.add(_name(level, opt))
                    break
                finally:
                    sock.close()
    return found


def _test_functions() -> set[str]:
    names = set()
    for path in TESTS.glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(f"{path.name}::{node.name}")
    return names


@pytest.fixture(scope="module")
def host():
    w = World(seed=1)
    h = w.host("a", "10.0.0.1/24")
    yield h
    w.close()


@pytest.mark.parametrize("kind", sorted(EFFECTS))
def test_every_accepted_option_has_an_effect_test(host, kind):
    found = accepted(host, kind)
    registered = set(EFFECTS[kind])
    assert found - registered == set(), f"accepted on {kind} without an effect test"
    assert registered - found == set(), f"registered for {kind} but refused"


def test_every_registered_effect_test_exists():
    tests = _test_functions()
    missing = {t for table in EFFECTS.values() for t in table.values() if t not in tests}
    assert not missing
