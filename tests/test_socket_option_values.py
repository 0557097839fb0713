"""Option values, lengths and read-backs as Linux gives them, with this host's kernel as the
reference where it runs Linux (issue 12 item 3 and its edges).

Each case is a list of ``setsockopt`` steps and a query; the outcome (the value read, or the
errno or exception type a step raised) must be the real kernel's for the same steps on a
socket of the same type.  Cases whose answer depends on the kernel's configuration (HZ, the
``*mem_max`` sysctls) are checked against Linux's rule in tests of their own below.
"""

from __future__ import annotations

import errno
import socket as pysocket
import struct
import sys

import pytest

from ixsim import World
from stack.uapi import (
    ICMPV6_FILTER,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPPROTO_TCP,
    IPV6_CHECKSUM,
    IPV6_HDRINCL,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    IPV6_RECVPKTINFO,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    SO_BINDTODEVICE,
    SO_BROADCAST,
    SO_DEBUG,
    SO_DONTROUTE,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_MARK,
    SO_MAX_PACING_RATE,
    SO_OOBINLINE,
    SO_PRIORITY,
    SO_RCVBUF,
    SO_RCVTIMEO,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_SNDBUF,
    SO_SNDLOWAT,
    SO_SNDTIMEO,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_ICMPV6,
    SOL_IPV6,
    SOL_RAW,
    SOL_SOCKET,
    TCP_CORK,
    TCP_LINGER2,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
    TCP_QUICKACK,
    TCP_USER_TIMEOUT,
    TCP_WINDOW_CLAMP,
)

TV = struct.Struct("ll")
T, U = SOCK_STREAM, SOCK_DGRAM

# (id, socket type, steps, query): a query is (level, opt) or (level, opt, buflen)
CASES = [
    ("sndlowat set", T, [(SOL_SOCKET, SO_SNDLOWAT, 5)], (SOL_SOCKET, SO_SNDLOWAT)),
    ("sndlowat read", T, [], (SOL_SOCKET, SO_SNDLOWAT)),
    ("sndlowat udp", U, [(SOL_SOCKET, SO_SNDLOWAT, 5)], (SOL_SOCKET, SO_SNDLOWAT)),
    *[(f"bool {opt} reads 1", T, [(SOL_SOCKET, opt, 9)], (SOL_SOCKET, opt))
      for opt in (SO_KEEPALIVE, SO_REUSEADDR, SO_REUSEPORT, SO_OOBINLINE, SO_BROADCAST,
                  SO_DONTROUTE, SO_DEBUG)],
    ("bool udp broadcast", U, [(SOL_SOCKET, SO_BROADCAST, 7)], (SOL_SOCKET, SO_BROADCAST)),
    ("nodelay reads 1", T, [(IPPROTO_TCP, TCP_NODELAY, 9)], (IPPROTO_TCP, TCP_NODELAY)),
    ("cork reads 1", T, [(IPPROTO_TCP, TCP_CORK, 9)], (IPPROTO_TCP, TCP_CORK)),
    ("quickack reads 1", T, [(IPPROTO_TCP, TCP_QUICKACK, 5)], (IPPROTO_TCP, TCP_QUICKACK)),
    ("quickack default", T, [], (IPPROTO_TCP, TCP_QUICKACK)),
    ("quickack 0", T, [(IPPROTO_TCP, TCP_QUICKACK, 0)], (IPPROTO_TCP, TCP_QUICKACK)),
    ("priority", T, [(SOL_SOCKET, SO_PRIORITY, 7)], (SOL_SOCKET, SO_PRIORITY)),
    ("priority -1", T, [(SOL_SOCKET, SO_PRIORITY, -1)], (SOL_SOCKET, SO_PRIORITY)),
    ("mark", T, [(SOL_SOCKET, SO_MARK, 7)], (SOL_SOCKET, SO_MARK)),
    ("mark -1", U, [(SOL_SOCKET, SO_MARK, -1)], (SOL_SOCKET, SO_MARK)),
    ("max pacing default", T, [], (SOL_SOCKET, SO_MAX_PACING_RATE)),
    ("max pacing default u64", U, [], (SOL_SOCKET, SO_MAX_PACING_RATE, 8)),
    ("max pacing int", T, [(SOL_SOCKET, SO_MAX_PACING_RATE, 1_250_000)],
     (SOL_SOCKET, SO_MAX_PACING_RATE, 8)),
    ("max pacing int read as int", T, [(SOL_SOCKET, SO_MAX_PACING_RATE, 1_250_000)],
     (SOL_SOCKET, SO_MAX_PACING_RATE)),
    ("max pacing -1", U, [(SOL_SOCKET, SO_MAX_PACING_RATE, -1)],
     (SOL_SOCKET, SO_MAX_PACING_RATE, 8)),
    ("max pacing -2", T, [(SOL_SOCKET, SO_MAX_PACING_RATE, -2)],
     (SOL_SOCKET, SO_MAX_PACING_RATE, 8)),
    ("max pacing u64", T, [(SOL_SOCKET, SO_MAX_PACING_RATE, struct.pack("=Q", 5 << 32))],
     (SOL_SOCKET, SO_MAX_PACING_RATE, 8)),
    ("max pacing u64 read as int", T,
     [(SOL_SOCKET, SO_MAX_PACING_RATE, struct.pack("=Q", 5 << 32))],
     (SOL_SOCKET, SO_MAX_PACING_RATE)),
    ("max pacing u64 read in 4 bytes", U,
     [(SOL_SOCKET, SO_MAX_PACING_RATE, struct.pack("=Q", 5 << 32))],
     (SOL_SOCKET, SO_MAX_PACING_RATE, 4)),
    ("max pacing 2 bytes", T, [(SOL_SOCKET, SO_MAX_PACING_RATE, b"ab")],
     (SOL_SOCKET, SO_MAX_PACING_RATE)),
    ("tcp tos 0x10", T, [(IPPROTO_IP, IP_TOS, 0x10)], (IPPROTO_IP, IP_TOS)),
    ("tcp tos sets priority", T, [(IPPROTO_IP, IP_TOS, 0x10)], (SOL_SOCKET, SO_PRIORITY)),
    ("tcp tos keeps ecn", T, [(IPPROTO_IP, IP_TOS, 0xFF)], (IPPROTO_IP, IP_TOS)),
    ("tcp tos ff priority", T, [(IPPROTO_IP, IP_TOS, 0xFF)], (SOL_SOCKET, SO_PRIORITY)),
    ("udp tos ff", U, [(IPPROTO_IP, IP_TOS, 0xFF)], (IPPROTO_IP, IP_TOS)),
    ("udp tos priority", U, [(IPPROTO_IP, IP_TOS, 0x08)], (SOL_SOCKET, SO_PRIORITY)),
    ("same tos keeps priority", U, [(SOL_SOCKET, SO_PRIORITY, 3), (IPPROTO_IP, IP_TOS, 0)],
     (SOL_SOCKET, SO_PRIORITY)),
    ("tos after priority", T, [(SOL_SOCKET, SO_PRIORITY, 3), (IPPROTO_IP, IP_TOS, 0x10)],
     (SOL_SOCKET, SO_PRIORITY)),
    ("tcp ttl default", T, [], (IPPROTO_IP, IP_TTL)),
    ("tcp ttl 9", T, [(IPPROTO_IP, IP_TTL, 9)], (IPPROTO_IP, IP_TTL)),
    ("tcp ttl 0", T, [(IPPROTO_IP, IP_TTL, 0)], (IPPROTO_IP, IP_TTL)),
    ("tcp ttl 256", T, [(IPPROTO_IP, IP_TTL, 256)], (IPPROTO_IP, IP_TTL)),
    ("tcp ttl -1", T, [(IPPROTO_IP, IP_TTL, 9), (IPPROTO_IP, IP_TTL, -1)], (IPPROTO_IP, IP_TTL)),
    ("ttl one byte", T, [(IPPROTO_IP, IP_TTL, b"\x07")], (IPPROTO_IP, IP_TTL)),
    ("tos one byte", U, [(IPPROTO_IP, IP_TOS, b"\x08")], (IPPROTO_IP, IP_TOS)),
    ("window clamp 100", T, [(IPPROTO_TCP, TCP_WINDOW_CLAMP, 100)],
     (IPPROTO_TCP, TCP_WINDOW_CLAMP)),
    ("window clamp -5", T, [(IPPROTO_TCP, TCP_WINDOW_CLAMP, -5)],
     (IPPROTO_TCP, TCP_WINDOW_CLAMP)),
    ("window clamp 0 closed", T, [(IPPROTO_TCP, TCP_WINDOW_CLAMP, 5000),
                                  (IPPROTO_TCP, TCP_WINDOW_CLAMP, 0)],
     (IPPROTO_TCP, TCP_WINDOW_CLAMP)),
    ("window clamp default", T, [], (IPPROTO_TCP, TCP_WINDOW_CLAMP)),
    ("notsent lowat default", T, [], (IPPROTO_TCP, TCP_NOTSENT_LOWAT)),
    ("notsent lowat 100", T, [(IPPROTO_TCP, TCP_NOTSENT_LOWAT, 100)],
     (IPPROTO_TCP, TCP_NOTSENT_LOWAT)),
    ("notsent lowat -1", T, [(IPPROTO_TCP, TCP_NOTSENT_LOWAT, -1)],
     (IPPROTO_TCP, TCP_NOTSENT_LOWAT)),
    ("linger2 default", T, [], (IPPROTO_TCP, TCP_LINGER2)),
    ("linger2 0", T, [(IPPROTO_TCP, TCP_LINGER2, 0)], (IPPROTO_TCP, TCP_LINGER2)),
    ("linger2 5", T, [(IPPROTO_TCP, TCP_LINGER2, 5)], (IPPROTO_TCP, TCP_LINGER2)),
    ("linger2 -5", T, [(IPPROTO_TCP, TCP_LINGER2, -5)], (IPPROTO_TCP, TCP_LINGER2)),
    ("linger2 capped", T, [(IPPROTO_TCP, TCP_LINGER2, 1000)], (IPPROTO_TCP, TCP_LINGER2)),
    ("user timeout", T, [(IPPROTO_TCP, TCP_USER_TIMEOUT, 5)], (IPPROTO_TCP, TCP_USER_TIMEOUT)),
    ("user timeout -1", T, [(IPPROTO_TCP, TCP_USER_TIMEOUT, -1)],
     (IPPROTO_TCP, TCP_USER_TIMEOUT)),
    # lengths and types (the kernel checks optlen; CPython checks the Python type)
    ("int option, 1 byte", T, [(SOL_SOCKET, SO_KEEPALIVE, b"\x01")], (SOL_SOCKET, SO_KEEPALIVE)),
    ("int option, empty", T, [(SOL_SOCKET, SO_KEEPALIVE, b"")], (SOL_SOCKET, SO_KEEPALIVE)),
    ("int option, 8 bytes", T, [(SOL_SOCKET, SO_KEEPALIVE, b"\x01" + bytes(7))],
     (SOL_SOCKET, SO_KEEPALIVE)),
    ("tcp option, 1 byte", T, [(IPPROTO_TCP, TCP_NODELAY, b"\x01")], (IPPROTO_TCP, TCP_NODELAY)),
    ("linger, 4 bytes", T, [(SOL_SOCKET, SO_LINGER, b"\x01\0\0\0")], (SOL_SOCKET, SO_LINGER, 8)),
    ("linger, 12 bytes", T, [(SOL_SOCKET, SO_LINGER, struct.pack("iii", 1, 5, 0))],
     (SOL_SOCKET, SO_LINGER, 8)),
    ("linger tuple", T, [(SOL_SOCKET, SO_LINGER, (1, 2))], (SOL_SOCKET, SO_LINGER, 8)),
    ("int too big", T, [(SOL_SOCKET, SO_KEEPALIVE, 1 << 40)], (SOL_SOCKET, SO_KEEPALIVE)),
    ("str for an int", T, [(SOL_SOCKET, SO_KEEPALIVE, "1")], (SOL_SOCKET, SO_KEEPALIVE)),
    ("rcvtimeo default", T, [], (SOL_SOCKET, SO_RCVTIMEO, 16)),
    ("rcvtimeo 1.5s", T, [(SOL_SOCKET, SO_RCVTIMEO, TV.pack(1, 500000))],
     (SOL_SOCKET, SO_RCVTIMEO, 16)),
    ("rcvtimeo as int", T, [(SOL_SOCKET, SO_RCVTIMEO, TV.pack(3, 0))], (SOL_SOCKET, SO_RCVTIMEO)),
    ("sndtimeo 2s", U, [(SOL_SOCKET, SO_SNDTIMEO, TV.pack(2, 0))],
     (SOL_SOCKET, SO_SNDTIMEO, 16)),
    ("rcvtimeo usec too big", T, [(SOL_SOCKET, SO_RCVTIMEO, TV.pack(1, 5000000))],
     (SOL_SOCKET, SO_RCVTIMEO, 16)),
    ("rcvtimeo 8 bytes", T, [(SOL_SOCKET, SO_RCVTIMEO, bytes(8))],
     (SOL_SOCKET, SO_RCVTIMEO, 16)),
    ("rcvtimeo int", T, [(SOL_SOCKET, SO_RCVTIMEO, 1)], (SOL_SOCKET, SO_RCVTIMEO, 16)),
    ("rcvtimeo negative", T, [(SOL_SOCKET, SO_RCVTIMEO, TV.pack(5, 0)),
                              (SOL_SOCKET, SO_RCVTIMEO, TV.pack(-1, 0))],
     (SOL_SOCKET, SO_RCVTIMEO, 16)),
    ("bindtodevice unknown", T, [(SOL_SOCKET, SO_BINDTODEVICE, b"nosuch0")],
     (SOL_SOCKET, SO_BINDTODEVICE, 16)),
    ("bindtodevice lo", U, [(SOL_SOCKET, SO_BINDTODEVICE, b"lo")],
     (SOL_SOCKET, SO_BINDTODEVICE, 16)),
    ("bindtodevice unbind", T, [(SOL_SOCKET, SO_BINDTODEVICE, b"lo"),
                                (SOL_SOCKET, SO_BINDTODEVICE, b"")],
     (SOL_SOCKET, SO_BINDTODEVICE, 16)),
]


def outcome(sock, steps, query):
    """What a user sees: the query's value, or the first step's failure."""
    for level, opt, value in steps:
        try:
            sock.setsockopt(level, opt, value)
        except OSError as exc:
            return ("errno", exc.errno)
        except (TypeError, OverflowError) as exc:
            return ("raises", type(exc).__name__)
    try:
        return ("value", sock.getsockopt(*query))
    except OSError as exc:
        return ("get errno", exc.errno)


@pytest.fixture(scope="module")
def host():
    w = World(seed=1)
    h = w.host("a", "10.0.0.1/24")
    yield h
    w.close()


@pytest.mark.skipif(sys.platform != "linux", reason="the host's Linux is the reference")
@pytest.mark.parametrize("type_, steps, query", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_option_outcomes_match_the_host_kernel(host, type_, steps, query):
    with pysocket.socket(pysocket.AF_INET, type_) as real:
        expected = outcome(real, steps, query)
    emu = host.socket(pysocket.AF_INET, type_)
    try:
        assert outcome(emu, steps, query) == expected
    finally:
        emu.close()


# AF_INET6 (issue 15): (id, type, protocol, steps, query), against the kernel's AF_INET6 sockets
RAW, ICMP6, UDP_P, EXP = pysocket.SOCK_RAW, 58, 17, 253
FILTER_PASS_129 = struct.pack("=8I", *([0xFFFFFFFF] * 4 + [0xFFFFFFFD] + [0xFFFFFFFF] * 3))
CASES6 = [
    ("raw icmp6 checksum default", RAW, ICMP6, [], (SOL_IPV6, IPV6_CHECKSUM)),
    ("raw icmp6 checksum at SOL_RAW", RAW, ICMP6, [], (SOL_RAW, IPV6_CHECKSUM)),
    ("raw icmp6 checksum set ipv6 level", RAW, ICMP6, [(SOL_IPV6, IPV6_CHECKSUM, 4)],
     (SOL_IPV6, IPV6_CHECKSUM)),
    ("raw icmp6 checksum set raw level", RAW, ICMP6, [(SOL_RAW, IPV6_CHECKSUM, 4)],
     (SOL_IPV6, IPV6_CHECKSUM)),
    ("raw icmp6 checksum odd", RAW, ICMP6, [(SOL_RAW, IPV6_CHECKSUM, 3)],
     (SOL_RAW, IPV6_CHECKSUM)),
    ("raw icmp6 checksum off", RAW, ICMP6, [(SOL_RAW, IPV6_CHECKSUM, -1)],
     (SOL_RAW, IPV6_CHECKSUM)),
    ("raw udp checksum default", RAW, UDP_P, [], (SOL_IPV6, IPV6_CHECKSUM)),
    ("raw exp checksum 6", RAW, EXP, [(SOL_IPV6, IPV6_CHECKSUM, 6)], (SOL_RAW, IPV6_CHECKSUM)),
    ("raw exp checksum -5", RAW, EXP, [(SOL_IPV6, IPV6_CHECKSUM, -5)], (SOL_RAW, IPV6_CHECKSUM)),
    ("icmp6 filter default", RAW, ICMP6, [], (SOL_ICMPV6, ICMPV6_FILTER, 32)),
    ("icmp6 filter as int", RAW, ICMP6, [], (SOL_ICMPV6, ICMPV6_FILTER)),
    ("icmp6 filter set", RAW, ICMP6, [(SOL_ICMPV6, ICMPV6_FILTER, FILTER_PASS_129)],
     (SOL_ICMPV6, ICMPV6_FILTER, 32)),
    ("icmp6 filter short", RAW, ICMP6, [(SOL_ICMPV6, ICMPV6_FILTER, b"\xff" * 4)],
     (SOL_ICMPV6, ICMPV6_FILTER, 32)),
    ("icmp6 filter read 8", RAW, ICMP6, [(SOL_ICMPV6, ICMPV6_FILTER, FILTER_PASS_129)],
     (SOL_ICMPV6, ICMPV6_FILTER, 8)),
    ("icmp6 filter other proto", RAW, UDP_P, [(SOL_ICMPV6, ICMPV6_FILTER, bytes(32))],
     (SOL_ICMPV6, ICMPV6_FILTER, 32)),
    ("icmp6 filter get other proto", RAW, EXP, [], (SOL_ICMPV6, ICMPV6_FILTER, 32)),
    ("icmp6 other option", RAW, ICMP6, [(SOL_ICMPV6, 2, 0)], (SOL_ICMPV6, ICMPV6_FILTER, 32)),
    ("sol_raw icmp_filter", RAW, ICMP6, [(SOL_RAW, 1, 0)], (SOL_RAW, IPV6_CHECKSUM)),
    ("raw sol_ip", RAW, ICMP6, [(IPPROTO_IP, IP_TTL, 5)], (SOL_RAW, IPV6_CHECKSUM)),
    ("raw get sol_ip", RAW, ICMP6, [], (IPPROTO_IP, IP_TTL)),
    ("hdrincl default", RAW, EXP, [], (SOL_IPV6, IPV6_HDRINCL)),
    ("hdrincl ipproto_raw", RAW, 255, [], (SOL_IPV6, IPV6_HDRINCL)),
    ("hdrincl set", RAW, EXP, [(SOL_IPV6, IPV6_HDRINCL, 1)], (SOL_IPV6, IPV6_HDRINCL)),
    ("recverr raw", RAW, ICMP6, [(SOL_IPV6, IPV6_RECVERR, 1)], (SOL_IPV6, IPV6_RECVERR)),
    ("recverr raw default", RAW, ICMP6, [], (SOL_IPV6, IPV6_RECVERR)),
    ("raw unicast hops", RAW, ICMP6, [(SOL_IPV6, IPV6_UNICAST_HOPS, 7)],
     (SOL_IPV6, IPV6_UNICAST_HOPS)),
    ("raw unicast hops 256", RAW, ICMP6, [(SOL_IPV6, IPV6_UNICAST_HOPS, 256)],
     (SOL_IPV6, IPV6_UNICAST_HOPS)),
    ("raw tclass", RAW, ICMP6, [(SOL_IPV6, IPV6_TCLASS, 0x28)], (SOL_IPV6, IPV6_TCLASS)),
    ("raw recvhoplimit", RAW, ICMP6, [(SOL_IPV6, IPV6_RECVHOPLIMIT, 3)],
     (SOL_IPV6, IPV6_RECVHOPLIMIT)),
    ("udp6 v6only", U, 0, [(SOL_IPV6, IPV6_V6ONLY, 1)], (SOL_IPV6, IPV6_V6ONLY)),
    ("udp6 tclass -1", U, 0, [(SOL_IPV6, IPV6_TCLASS, -1)], (SOL_IPV6, IPV6_TCLASS)),
    ("udp6 checksum", U, 0, [], (SOL_IPV6, IPV6_CHECKSUM)),
    ("tcp6 unicast hops -1", T, 0, [(SOL_IPV6, IPV6_UNICAST_HOPS, -1)],
     (SOL_IPV6, IPV6_UNICAST_HOPS)),
    ("tcp6 recvpktinfo", T, 0, [(SOL_IPV6, IPV6_RECVPKTINFO, 1)], (SOL_IPV6, IPV6_RECVPKTINFO)),
]


@pytest.mark.skipif(sys.platform != "linux", reason="the host's Linux is the reference")
@pytest.mark.parametrize("type_, proto, steps, query", [c[1:] for c in CASES6],
                         ids=[c[0] for c in CASES6])
def test_ipv6_option_outcomes_match_the_host_kernel(host, type_, proto, steps, query):
    try:
        real = pysocket.socket(pysocket.AF_INET6, type_, proto)
    except OSError as exc:
        pytest.skip(f"the host kernel refuses the socket: {exc}")
    with real:
        expected = outcome(real, steps, query)
    emu = host.socket(pysocket.AF_INET6, type_, proto)
    try:
        assert outcome(emu, steps, query) == expected
    finally:
        emu.close()


# -- rules whose numbers depend on the kernel's configuration --------------------------------------
def test_negative_buffer_sizes_are_the_maximum(host):
    sysctl = host.net.sysctl
    for type_ in (T, U):
        s = host.socket(pysocket.AF_INET, type_)
        s.setsockopt(SOL_SOCKET, SO_SNDBUF, -1)
        s.setsockopt(SOL_SOCKET, SO_RCVBUF, -5)
        assert s.getsockopt(SOL_SOCKET, SO_SNDBUF) == 2 * sysctl.wmem_max
        assert s.getsockopt(SOL_SOCKET, SO_RCVBUF) == 2 * sysctl.rmem_max
        s.close()


def test_timeouts_round_up_to_whole_jiffies(host):
    s = host.socket()
    s.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(0, 1))  # HZ=1000: one jiffy is 1 ms
    assert TV.unpack(s.getsockopt(SOL_SOCKET, SO_RCVTIMEO, 16)) == (0, 1000)
    s.setsockopt(SOL_SOCKET, SO_SNDTIMEO, TV.pack(2, 1500))
    assert TV.unpack(s.getsockopt(SOL_SOCKET, SO_SNDTIMEO, 16)) == (2, 2000)


def test_settimeout_takes_numbers_only_as_cpython(host):
    s = host.socket()
    with pytest.raises(TypeError):
        s.settimeout("1")
    with pytest.raises(ValueError):
        s.settimeout(-1)
    s.settimeout(2)
    assert s.gettimeout() == 2.0
    with pysocket.socket() as real, pytest.raises(TypeError):
        real.settimeout("1")


def test_bindtodevice_names_a_device_of_this_host(host):
    s = host.socket(pysocket.AF_INET, U)
    with pytest.raises(OSError) as exc:
        s.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, b"eth9")
    assert exc.value.errno == errno.ENODEV
    s.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, b"eth0")
    assert s.getsockopt(SOL_SOCKET, SO_BINDTODEVICE, 16) == b"eth0\0"
