"""Raw IPv4 sockets (net/ipv4/raw.c): a copy of every datagram of the protocol with its IP
header, alongside the protocol's handler; sending with and without IP_HDRINCL; ICMP_FILTER;
bind/connect filtering; the errors Linux gives (checked against the real kernel)."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ixsim.world import World
from stack.uapi import ICMP_FILTER, IP_HDRINCL, IPPROTO_RAW, SOL_RAW
from stack.wire import IcmpRepr, Ipv4Packet, ip_bytes
from stack.wire.checksum import internet_checksum

A, B = "10.0.0.1", "10.0.0.2"


@pytest.fixture
def pair():
    with World(seed=7) as w:
        a = w.host("a", f"{A}/24")
        b = w.host("b", f"{B}/24")
        w.cable(a.eth0, b.eth0, latency="10us")
        assert a.ping(B).received == 1  # ARP resolved both ways
        yield w, a, b


def raw(host, proto: int = socket.IPPROTO_ICMP):
    s = host.socket(socket.AF_INET, socket.SOCK_RAW, proto)
    s.setblocking(False)
    return s


def drain(s) -> list[tuple[bytes, tuple[str, int]]]:
    got = []
    while True:
        try:
            got.append(s.recvfrom(65536))
        except BlockingIOError:
            return got


def echo(ident: int, seq: int, data: bytes = b"raw!") -> bytes:
    msg = IcmpRepr.echo_request(ident, seq, data)
    buf = bytearray(msg.buffer_len())
    msg.emit(buf)
    return bytes(buf)


def ip_header(src: str, dst: str, proto: int, payload: bytes, ident: int = 0, df: bool = False,
              tot_len: int | None = None, check: int = 0xDEAD) -> bytes:
    total = 20 + len(payload) if tot_len is None else tot_len
    src_b = bytes(4) if src == "0.0.0.0" else ip_bytes(src)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 0x4000 if df else 0, 64,
                       proto, check, src_b, ip_bytes(dst)) + payload


def test_raw_icmp_socket_gets_a_copy_with_the_ip_header_and_icmp_still_answers(pair):
    w, a, b = pair
    sniff = raw(b)
    assert sniff.getsockname() == ("0.0.0.0", socket.IPPROTO_ICMP)  # the port is the proto
    assert a.ping(B, count=2, interval="10ms").received == 2  # the kernel still replies
    got = drain(sniff)
    assert [d[20] for d, _ in got] == [8, 8]  # b's copies: the two echo requests
    for data, addr in got:
        ip = Ipv4Packet.checked(data)
        assert (ip.src, ip.dst, ip.proto, ip.total_len) == (ip_bytes(A), ip_bytes(B), 1, len(data))
        assert addr == (A, 0)
    sniff.close()


def test_sendto_builds_the_ip_header_and_the_reply_comes_back_to_the_raw_socket(pair):
    w, a, b = pair
    s = raw(a)
    out_echos = a.net.mib.icmp["OutEchos"]
    assert s.sendto(echo(0x4242, 1), (B, 9999)) == 12  # the port is ignored
    w.run_for("1ms")
    assert a.net.mib.icmp["OutEchos"] == out_echos + 1  # icmp_out_count
    (data, addr), = drain(s)
    ip = Ipv4Packet.checked(data)
    assert addr == (B, 0) and (ip.src, ip.ttl, ip.proto) == (ip_bytes(B), 64, 1)
    assert data[20] == 0 and data[24:28] == b"\x42\x42\0\1" and data[28:] == b"raw!"
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 3)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
    sniff = raw(b)
    s.sendto(echo(0x4242, 2), (B, 0))
    w.run_for("1ms")
    (data, _), = drain(sniff)
    assert (data[8], data[1]) == (3, 0x10)  # IP_TTL and IP_TOS on the header IP built
    with pytest.raises(OSError) as info:
        s.send(echo(1, 1))
    assert info.value.errno == errno.EDESTADDRREQ
    with pytest.raises(OSError) as info:
        s.sendto(bytes(65536), (B, 0))
    assert info.value.errno == errno.EMSGSIZE
    with pytest.raises(OSError) as info:
        s.recv(100, socket.MSG_OOB)
    assert info.value.errno == errno.EOPNOTSUPP


def test_icmp_filter_drops_the_types_whose_bit_is_set(pair):
    w, a, b = pair
    s = raw(a)
    s.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", ~(1 << 0) & 0xFFFFFFFF))
    assert s.getsockopt(SOL_RAW, ICMP_FILTER) == ~1  # an int, as Python reads 4 bytes
    assert s.getsockopt(SOL_RAW, ICMP_FILTER, 4) == struct.pack("=I", 0xFFFFFFFE)
    assert a.ping(B, count=1).received == 1
    assert [d[20] for d, _ in drain(s)] == [0]  # only the echo reply passed
    s.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", 1 << 0))
    assert a.ping(B, count=1).received == 1
    assert drain(s) == []  # replies filtered now; the requests never reach a's raw socket
    u = raw(a, socket.IPPROTO_UDP)
    with pytest.raises(OSError) as info:
        u.setsockopt(SOL_RAW, ICMP_FILTER, 0)
    assert info.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as info:
        s.setsockopt(SOL_RAW, 2, 0)
    assert info.value.errno == errno.ENOPROTOOPT


def test_ip_hdrincl_sends_the_users_header_with_linuxs_fixups(pair):
    w, a, b = pair
    tx = raw(a, IPPROTO_RAW)
    assert tx.getsockopt(socket.IPPROTO_IP, IP_HDRINCL) == 1  # IPPROTO_RAW implies it
    rx = raw(b, 253)
    tx.sendto(ip_header("0.0.0.0", B, 253, b"hello", tot_len=999), (B, 0))
    w.run_for("1ms")
    (data, addr), = drain(rx)
    ip = Ipv4Packet.checked(data)  # the header checksum was computed (checked() verifies it)
    assert addr == (A, 0) and ip.src == ip_bytes(A)  # zero source -> the route's
    assert ip.total_len == 25 and data[20:] == b"hello"
    assert ip.ident != 0  # a zero ID without DF is chosen
    tx.sendto(ip_header(A, B, 253, b"df", df=True), (B, 0))
    w.run_for("1ms")
    (data, _), = drain(rx)
    assert Ipv4Packet.checked(data).ident == 0  # with DF a zero ID stays zero
    # b has no protocol 253 but its raw socket took the datagram: no protocol unreachable
    assert b.net.mib.ip["InUnknownProtos"] == 0 and b.net.mib.icmp["OutDestUnreachs"] == 0
    rx.close()
    tx.sendto(ip_header(A, B, 253, b"nobody"), (B, 0))
    w.run_for("1ms")
    assert b.net.mib.ip["InUnknownProtos"] == 1 and b.net.mib.icmp["OutDestUnreachs"] == 1
    for bad, code in ((b"\x45" * 10, errno.EINVAL), (b"\x4f" + bytes(21), errno.EINVAL),
                      (ip_header(A, B, 253, bytes(9000)), errno.EMSGSIZE)):
        with pytest.raises(OSError) as info:
            tx.sendto(bad, (B, 0))
        assert info.value.errno == code
    icmp_tx = raw(a)  # IP_HDRINCL on an ICMP raw socket: the data must be a whole datagram
    icmp_tx.setsockopt(socket.IPPROTO_IP, IP_HDRINCL, 1)
    with pytest.raises(OSError) as info:
        icmp_tx.sendto(echo(1, 1), (B, 0))
    assert info.value.errno == errno.EINVAL
    payload = echo(7, 7)
    icmp_tx.sendto(ip_header(A, B, 1, payload), (B, 0))
    w.run_for("1ms")
    assert [d[20] for d, _ in drain(icmp_tx)] == [0]  # b answered the hand-made request
    assert internet_checksum(payload) == 0


def test_bind_and_connect_filter_what_a_raw_socket_receives(pair):
    w, a, b = pair
    mine = raw(b)
    mine.bind((B, 0))
    loop = raw(b)
    loop.bind(("127.0.0.1", 0))
    peer = raw(b)
    peer.connect((A, 0))
    stranger = raw(b)
    stranger.connect(("10.0.0.77", 0))
    with pytest.raises(OSError) as info:
        peer.getpeername()  # connected with port 0: inet_getname says ENOTCONN
    assert info.value.errno == errno.ENOTCONN
    with pytest.raises(OSError) as info:
        raw(b).bind(("10.9.9.9", 0))
    assert info.value.errno == errno.EADDRNOTAVAIL
    assert a.ping(B).received == 1
    assert len(drain(mine)) == 1 and len(drain(peer)) == 1
    assert drain(loop) == [] and drain(stranger) == []


def test_raw_udp_socket_sees_datagrams_and_udp_still_delivers(pair):
    w, a, b = pair
    spy = raw(b, socket.IPPROTO_UDP)
    srv = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("", 5000))
    srv.setblocking(False)
    cli = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    cli.sendto(b"datagram", (B, 5000))
    w.run_for("1ms")
    assert srv.recvfrom(100)[0] == b"datagram"
    (data, _), = drain(spy)
    assert data[9] == socket.IPPROTO_UDP and data[28:] == b"datagram"


def test_raw_socket_creation_errors_and_buffers(pair):
    w, a, b = pair
    with pytest.raises(OSError) as info:
        a.socket(socket.AF_INET, socket.SOCK_RAW, 0)
    assert info.value.errno == errno.EPROTONOSUPPORT
    s = raw(b)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the minimum
    assert a.ping(B, count=5, interval="1us", timeout="10ms").received == 5
    assert 0 < len(drain(s)) < 5 and s.sk.drops > 0  # a full buffer drops copies
    s.close()
    w.run_for("10ms")
    assert b.kernel.skb_live == 0  # the queued copies were freed
