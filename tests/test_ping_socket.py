"""ICMP echo sockets (net/ipv4/ping.c) and ping(8) over them: net.ipv4.ping_group_range, the
kernel's identifier and checksum, replies without the IP header, IP_RECVERR errors, and the
raw-socket fallback of ixsim.apps.ping (behaviour checked against the real kernel)."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ixsim.apps.ping import Ping
from ixsim.world import World
from stack.sock import CURRENT_EGID
from stack.uapi import ICMP_FILTER, IP_RECVERR, IP_RECVTTL, MSG_ERRQUEUE, SOL_RAW
from stack.wire import IcmpPacket, Ipv4Packet

A, B = "10.0.0.1", "10.0.0.2"
EVERYONE = "0 2147483647"


@pytest.fixture
def pair():
    with World(seed=9) as w:
        a = w.host("a", f"{A}/24")
        b = w.host("b", f"{B}/24")
        w.cable(a.eth0, b.eth0, latency="10us")
        yield w, a, b


def ping_sock(host):
    s = host.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s.setblocking(False)
    return s


def echo(seq: int, data: bytes = b"abc", ident: int = 0, checksum: int = 0) -> bytes:
    return struct.pack("!BBHHH", 8, 0, checksum, ident, seq) + data


def test_ping_group_range_gates_the_socket_for_root_too(pair):
    w, a, b = pair
    assert CURRENT_EGID == 0
    assert a.sysctl("net.ipv4.ping_group_range") == (1, 0)  # Linux's default: nobody
    with pytest.raises(PermissionError) as info:
        ping_sock(a)
    assert info.value.errno == errno.EACCES
    a.sysctl("net.ipv4.ping_group_range", "0 0")
    ping_sock(a).close()
    a.sysctl("net.ipv4.ping_group_range", "5 1")  # low > high: back to "nobody"
    assert a.sysctl("net.ipv4.ping_group_range") == (1, 0)
    with pytest.raises(OSError) as info:
        a.sysctl("net.ipv4.ping_group_range", "-1 5")
    assert info.value.errno == errno.EINVAL


def test_the_kernel_writes_identifier_and_checksum_and_delivers_the_reply(pair):
    w, a, b = pair
    a.sysctl("net.ipv4.ping_group_range", EVERYONE)
    spy = b.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    spy.setblocking(False)
    s = ping_sock(a)
    assert s.getsockname() == ("0.0.0.0", 0)
    out = a.net.mib.icmp["OutEchos"]
    assert s.sendto(echo(5, ident=0x7777, checksum=0x1234), (B, 99)) == 11
    assert s.getsockname() == ("0.0.0.0", 1)  # autobound: the first identifier after 0
    assert a.net.mib.icmp["OutEchos"] == out + 1
    w.run_for("10ms")
    wire, _ = spy.recvfrom(100)
    icmp = IcmpPacket.checked(Ipv4Packet.checked(wire).payload)  # checks the checksum
    assert (icmp.type, icmp.ident, icmp.seq, bytes(icmp.data)) == (8, 1, 5, b"abc")
    data, addr = s.recvfrom(100)
    assert addr == (B, 0)
    assert data[0] == 0 and struct.unpack("!HH", data[4:8]) == (1, 5) and data[8:] == b"abc"
    s.sendto(echo(6), (B, 0))
    w.run_for("10ms")
    assert s.recv(100, socket.MSG_PEEK)[:1] == b"\0"
    assert len(s.recv(4)) == 4  # truncated to the buffer
    with pytest.raises(BlockingIOError):
        s.recv(100)


def test_what_a_ping_socket_refuses(pair):
    w, a, b = pair
    a.sysctl("net.ipv4.ping_group_range", EVERYONE)
    s = ping_sock(a)
    for data, code in ((struct.pack("!BBHHH", 0, 0, 0, 0, 1), errno.EINVAL),  # a reply
                       (struct.pack("!BBHHH", 8, 1, 0, 0, 1), errno.EINVAL),  # code 1
                       (b"\x08\x00\x00", errno.EINVAL),  # shorter than a header
                       (bytes(65536), errno.EMSGSIZE)):
        with pytest.raises(OSError) as info:
            s.sendto(data, (B, 0))
        assert info.value.errno == code
    with pytest.raises(OSError) as info:
        s.send(echo(1))
    assert info.value.errno == errno.EDESTADDRREQ
    with pytest.raises(OSError) as info:
        s.setsockopt(SOL_RAW, ICMP_FILTER, 0)
    assert info.value.errno == errno.ENOPROTOOPT
    with pytest.raises(OSError) as info:
        s.recv(10, socket.MSG_OOB)
    assert info.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as info:
        s.sendto(echo(1), ("10.9.0.1", 0))
    assert info.value.errno == errno.ENETUNREACH


def test_identifiers_bind_and_each_socket_gets_its_own_replies(pair):
    w, a, b = pair
    a.sysctl("net.ipv4.ping_group_range", EVERYONE)
    one, two = ping_sock(a), ping_sock(a)
    one.bind(("", 4242))
    two.bind((A, 0))
    assert one.getsockname() == ("0.0.0.0", 4242) and two.getsockname() == (A, 1)
    with pytest.raises(OSError) as info:
        one.bind(("", 7))
    assert info.value.errno == errno.EINVAL  # bound once
    shared = ping_sock(a)
    shared.bind(("", 4242))  # ping sockets have SO_REUSEADDR on (INET_PROTOSW_REUSE)
    shared.close()
    strict = ping_sock(a)
    strict.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    with pytest.raises(OSError) as info:
        strict.bind(("", 4242))
    assert info.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError) as info:
        strict.bind(("10.0.0.99", 0))
    assert info.value.errno == errno.EADDRNOTAVAIL
    one.sendto(echo(1, b"one"), (B, 0))
    two.sendto(echo(2, b"two"), (B, 0))
    w.run_for("10ms")
    assert one.recv(100)[8:] == b"one" and two.recv(100)[8:] == b"two"
    with pytest.raises(BlockingIOError):
        one.recv(100)


def test_icmp_errors_reach_the_socket_with_ip_recverr(pair):
    w, a, b = pair
    a.sysctl("net.ipv4.ping_group_range", EVERYONE)
    quiet, loud = ping_sock(a), ping_sock(a)
    loud.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    quiet.sendto(echo(1), ("10.0.0.9", 0))  # nobody answers ARP: host unreachable
    loud.sendto(echo(2, b"lost"), ("10.0.0.9", 0))
    w.run_for("5s")
    with pytest.raises(BlockingIOError):
        quiet.recv(100)  # unconnected, no IP_RECVERR: a soft error is not reported
    with pytest.raises(OSError) as info:
        loud.recv(100)
    assert info.value.errno == errno.EHOSTUNREACH
    data, addr = loud.recvfrom(100, MSG_ERRQUEUE)
    assert addr == ("10.0.0.9", 0) and data[0] == 8 and struct.unpack("!H", data[6:8]) == (2,)
    with pytest.raises(BlockingIOError):
        loud.recvfrom(100, MSG_ERRQUEUE)


def test_host_ping_falls_back_to_a_raw_socket_and_uses_a_ping_socket_when_allowed(pair):
    w, a, b = pair
    first = Ping(a, B, count=2, interval=10_000_000)
    raw_result = first.run()
    assert not first.dgram and raw_result.received == 2  # EACCES -> raw, as iputils
    a.sysctl("net.ipv4.ping_group_range", EVERYONE)
    second = Ping(a, B, count=2, interval=10_000_000)
    result = second.run()
    assert second.dgram and second.ident == 0  # the kernel chose the identifier
    assert result.received == 2 and [r.ttl for r in result.replies] == [64, 64]  # IP_RECVTTL
    assert result.text().splitlines()[1].startswith(f"64 bytes from {B}: icmp_seq=1 ttl=64 ")
    lost = a.ping("10.0.0.9", count=1, timeout="5s")
    assert lost.lines == ["From 10.0.0.1 icmp_seq=1 Destination Host Unreachable"]
    assert a.net.ping_table.socks == {}  # every ping closed its socket
    assert a.net.raw.socks == {}
    s = ping_sock(a)
    s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    assert s.getsockopt(socket.IPPROTO_IP, IP_RECVTTL) == 1
