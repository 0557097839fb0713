"""TCP and UDP over IPv6 between two emulated hosts on the ixgb NIC (issue 15, item 4).

Each test is a two-host world (``w.host("a", "10.0.0.1/24", "fd00::1/64")``, a cable) and
asserts what the peer, the wire or the counters show: bytes and their sha256, 4-tuple
addresses as CPython gives them, the MSS from the IPv6 path MTU, checksums on frames the
NIC finished (CHECKSUM_PARTIAL through the context descriptor), dual-stack listeners.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import socket
import struct
import subprocess

import pytest
from helpers.ipv6 import A6 as RA6
from helpers.ipv6 import B6 as RB6
from helpers.ipv6 import inject6, ipv6_packet, two_hosts6

from ixsim import World
from ixsim.apps.bulk import bulk_receive, bulk_send, stream_bytes
from ixsim.shell.hostview import ifaces_lines, neigh_lines, routes_lines, sockets_lines
from stack.core.features import NETIF_F_HW_CSUM, NETIF_F_TSO, NETIF_F_TSO6
from stack.socket import socket_create
from stack.wire.checksum import l4_checksum
from stack.wire.ipv6 import ipv6_bytes

A6, B6 = "fd00::1", "fd00::2"


@pytest.fixture
def world():
    with World(seed=11) as w:
        a = w.host("a", "10.0.0.1/24", f"{A6}/64")
        b = w.host("b", "10.0.0.2/24", f"{B6}/64")
        frames: list[bytes] = []
        cable = w.cable(a.eth0, b.eth0)
        w.run_for("3s")  # DAD done: the addresses are usable
        yield w, a, b, cable, frames


def run(w, *tasks):
    assert w.sched.run_until(lambda: all(t.done() for t in tasks), timeout="100s")
    assert not w.sched.unhandled, w.sched.unhandled
    return [t.result() for t in tasks]


def test_tcp_4mib_each_way_sha256_intact(world):
    w, a, b, _, _ = world
    n = 4 * 1024 * 1024
    rx_b = w.spawn(bulk_receive(b, 5001, family=socket.AF_INET6))
    tx_a = w.spawn(bulk_send(a, (B6, 5001), n, seed=1))
    rx_a = w.spawn(bulk_receive(a, 5002, family=socket.AF_INET6))
    tx_b = w.spawn(bulk_send(b, (A6, 5002), n, seed=2))
    got_b, sent_a, got_a, sent_b = run(w, rx_b, tx_a, rx_a, tx_b)
    for got, sent, seed in ((got_b, sent_a, 1), (got_a, sent_b, 2)):
        assert got.bytes == sent.bytes == n
        assert got.sha256 == sent.sha256 == hashlib.sha256(stream_bytes(n, seed=seed)).hexdigest()
    # TSO6: the sender's IPv6 layer sent super-segments, the wire carried MSS-sized ones
    assert a.net.mib.ip6["Ip6OutRequests"] < n // 1428 <= b.net.mib.tcp["InSegs"]
    assert a.net.mib.tcp["InCsumErrors"] == b.net.mib.tcp["InCsumErrors"] == 0


def test_tcp_addresses_mss_and_nic_checksums(world):
    w, a, b, cable, _ = world
    srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.bind(("::", 7))
    srv.listen()
    assert srv.getsockname() == ("::", 7, 0, 0)
    c = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c.connect((B6, 7))
    conn, peer = srv.accept()
    assert peer == (A6, c.getsockname()[1], 0, 0)
    assert c.getpeername() == (B6, 7, 0, 0)
    assert conn.getsockname() == (B6, 7, 0, 0)
    # MSS from the IPv6 path MTU: 1500 - 40 - 20, less the 12 bytes of timestamp option
    assert c.sk.advmss == conn.sk.advmss == 1428 and c.sk.mss_cache == 1428
    info = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    assert info == 1428
    # the ixgb NIC checksums IPv6 segments (NETIF_F_HW_CSUM through the context descriptor's
    # TUCSS/TUCSO) and segments them (NETIF_F_TSO6: CMD.IP clear), never with IPv4's TSO
    assert c.sk.features & NETIF_F_HW_CSUM and c.sk.features & NETIF_F_TSO6
    assert not c.sk.features & NETIF_F_TSO
    segs = b.net.mib.tcp["InSegs"]
    c.sendall(b"q" * 50000)
    assert conn.recv(50000, socket.MSG_WAITALL) == b"q" * 50000
    assert b.net.mib.tcp["InCsumErrors"] == 0 and b.net.mib.tcp["InSegs"] - segs >= 36
    assert a.net.mib.tcp["OutSegs"] >= 36


def test_dual_stack_listener_accepts_ipv4_as_v4_mapped(world):
    w, a, b, _, _ = world
    srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    assert srv.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
    srv.bind(("::", 8080))
    srv.listen()
    c4 = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c4.connect(("10.0.0.2", 8080))
    conn, peer = srv.accept()
    assert peer == ("::ffff:10.0.0.1", c4.getsockname()[1], 0, 0)
    assert conn.getsockname() == ("::ffff:10.0.0.2", 8080, 0, 0)
    c4.sendall(b"over v4")
    assert conn.recv(100) == b"over v4"
    # an AF_INET6 client reaches an IPv4 server through a v4-mapped address
    srv4 = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv4.bind(("0.0.0.0", 9090))
    srv4.listen()
    c6 = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c6.connect(("::ffff:10.0.0.2", 9090))
    conn4, peer4 = srv4.accept()
    assert peer4 == ("10.0.0.1", c6.getsockname()[1])
    assert c6.getpeername() == ("::ffff:10.0.0.2", 9090, 0, 0)


def test_v6only_listener_refuses_ipv4(world):
    w, a, b, _, _ = world
    srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    srv.bind(("::", 8080))
    srv.listen()
    c4 = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(ConnectionRefusedError):
        c4.connect(("10.0.0.2", 8080))
    # ...and leaves the IPv4 port free for an AF_INET socket, as Linux
    srv4 = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv4.bind(("0.0.0.0", 8080))
    # a dual-stack :: on a port an AF_INET wildcard holds is EADDRINUSE
    s2 = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s3 = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    s3.bind(("0.0.0.0", 8181))
    with pytest.raises(OSError) as exc:
        s2.bind(("::", 8181))
    assert exc.value.errno == errno.EADDRINUSE
    # v6only on a mapped address, and after bind
    with pytest.raises(OSError) as exc:
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    assert exc.value.errno == errno.EINVAL
    c6 = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    with pytest.raises(OSError) as exc:
        c6.connect(("::ffff:10.0.0.2", 8080))
    assert exc.value.errno == errno.ENETUNREACH


def test_link_local_needs_a_scope_id(world):
    w, a, b, _, _ = world
    ll_b = b.net.ipv6.link_local(b.net.kernel.dev_get_by_name("eth0"))
    assert ll_b is not None
    text = socket.inet_ntop(socket.AF_INET6, ll_b)
    c = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with pytest.raises(OSError) as exc:
        c.connect((text, 7))
    assert exc.value.errno == errno.EINVAL
    s = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with pytest.raises(OSError) as exc:
        s.bind((text, 7))
    assert exc.value.errno == errno.EINVAL
    idx_b = b.net.kernel.dev_get_by_name("eth0").ifindex
    s.bind((text, 7, 0, idx_b))
    assert s.getsockname() == (text, 7, 0, idx_b)
    s.listen()
    idx_a = a.net.kernel.dev_get_by_name("eth0").ifindex
    c.connect((text + "%eth0", 7))
    conn, peer = s.accept()
    assert c.getpeername() == (text, 7, 0, idx_a)
    assert peer[0].startswith("fe80::") and peer[3] == idx_b
    c.sendall(b"link-local")
    assert conn.recv(100) == b"link-local"


def test_udp_datagrams_both_families_and_fragmented(world):
    w, a, b, _, _ = world
    u = b.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::", 9))
    ua = a.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    ua.sendto(b"x" * 100, (B6, 9))
    data, addr = u.recvfrom(200)
    assert data == b"x" * 100 and addr == (A6, ua.getsockname()[1], 0, 0)
    big = bytes(range(256)) * 12  # 3072 bytes: fragmented at the source (MTU 1500)
    ua.sendto(big, (B6, 9))
    assert u.recvfrom(5000)[0] == big
    assert a.net.mib.ip6["Ip6FragCreates"] == 3 and b.net.mib.ip6["Ip6ReasmOKs"] == 1
    # an AF_INET client reaches the dual-stack socket; the source reads ::ffff:
    u4 = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u4.sendto(b"v4", ("10.0.0.2", 9))
    data, addr = u.recvfrom(100)
    assert data == b"v4" and addr == ("::ffff:10.0.0.1", u4.getsockname()[1], 0, 0)
    # connected, and the reply comes back
    ua.connect((B6, 9))
    u.sendto(b"back", (A6, ua.getsockname()[1]))
    assert ua.recv(10) == b"back"
    # a closed port answers with ICMPv6 port unreachable: ECONNREFUSED on a connected socket
    dead = a.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    dead.connect((B6, 4444))
    dead.send(b"anyone?")
    w.run_for("10ms")
    with pytest.raises(ConnectionRefusedError):
        dead.recv(10)
    assert b.net.mib.udp["NoPorts"] == 1


def test_ipv6_socket_options(world):
    w, a, b, cable, _ = world
    u = b.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::", 99))
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    s = a.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 64
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 7)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0xB8)
    assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 7
    assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS) == 0xB8
    s.sendto(b"opts", (B6, 99))
    data, anc, flags, addr = u.recvmsg(100, 256)
    assert data == b"opts"
    ifindex = b.net.kernel.dev_get_by_name("eth0").ifindex
    assert anc == [
        (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, ipv6_bytes(B6) + struct.pack("=I", ifindex)),
        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("=i", 7)),
        (socket.IPPROTO_IPV6, socket.IPV6_TCLASS, struct.pack("=i", 0xB8)),
    ]
    for bad in (256, -2):
        with pytest.raises(OSError) as exc:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, bad)
        assert exc.value.errno == errno.EINVAL
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, -1)
    assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS) == 64
    # not modelled: ENOPROTOOPT (parity rule); an AF_INET socket has no IPv6 options
    with pytest.raises(OSError) as exc:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, b"\0" * 20)
    assert exc.value.errno == errno.ENOPROTOOPT
    t4 = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(OSError) as exc:
        t4.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    assert exc.value.errno == errno.ENOPROTOOPT
    # TCP carries the socket's hop limit and traffic class in its IPv6 headers
    srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.bind(("::", 80))
    srv.listen()
    t = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 9)
    t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x20)
    t.connect((B6, 80))
    srv.accept()
    assert t.sk.hop_limit == 9 and t.sk.tclass == 0x20


def test_udp_checksum_zero_over_ipv6_is_an_error():
    sched, a, b = two_hosts6()
    u = socket_create(b.net, socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind(("::", 53))
    udp = struct.pack("!HHHH", 1000, 53, 12, 0) + b"zero"
    inject6(b.dev, ipv6_packet(RA6, RB6, 17, udp))
    sched.run_for(1000)
    assert b.net.mib.udp["InCsumErrors"] == 1
    udp_ok = bytearray(struct.pack("!HHHH", 1000, 53, 12, 0) + b"good")
    struct.pack_into("!H", udp_ok, 6, l4_checksum(RA6, RB6, 17, bytes(udp_ok)))
    inject6(b.dev, ipv6_packet(RA6, RB6, 17, bytes(udp_ok)))
    sched.run_for(1000)
    u.setblocking(False)
    assert u.recvfrom(10) == (b"good", ("fd00::1", 1000, 0, 0))


def test_pcap_of_ipv6_traffic_decodes_in_tshark(tmp_path):
    """TCP (NIC checksums and TSO6), UDP (fragmented too), ICMPv6 (ND, MLD, echo) on the
    cable: tshark, checking TCP/UDP/ICMPv6 checksums, finds nothing malformed and no
    error-severity expert item."""
    if not shutil.which("tshark"):
        pytest.skip("tshark is not installed (apt-get install tshark)")
    path = tmp_path / "v6.pcap"
    with World(seed=5) as w:
        a = w.host("a", "10.0.0.1/24", f"{A6}/64")
        b = w.host("b", "10.0.0.2/24", f"{B6}/64")
        w.cable(a.eth0, b.eth0, pcap=str(path))
        w.run_for("3s")
        assert a.ping(B6).received == 1
        srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.bind(("::", 80))
        srv.listen()
        c = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
        c.connect((B6, 80))
        conn, _ = srv.accept()
        c.sendall(bytes(range(256)) * 200)
        assert len(conn.recv(51200, socket.MSG_WAITALL)) == 51200
        c.close()
        conn.close()
        u = b.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u.bind(("::", 7001))
        ua = a.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        ua.sendto(b"d" * 40, (B6, 7001))
        ua.sendto(b"f" * 4000, (B6, 7001))
        ua.sendto(b"closed", (B6, 7002))
        w.run_for("100ms")
    base = [
        "tshark",
        "-n",
        "-r",
        str(path),
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "icmpv6.checksum:TRUE",
    ]
    bad = subprocess.run(
        base + ["-Y", "_ws.malformed || _ws.expert.severity == error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if "icmpv6.checksum" in bad.stderr:  # an older tshark without that preference
        base = base[:-2]
        bad = subprocess.run(
            base + ["-Y", "_ws.malformed || _ws.expert.severity == error"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert bad.returncode == 0, bad.stderr
    assert bad.stdout == ""
    cols = subprocess.run(base, capture_output=True, text=True, timeout=120, check=True).stdout
    assert "Neighbor Solicitation" in cols and "Echo (ping) request" in cols
    assert "Destination Unreachable" in cols and "ICMPv6" in cols
    assert cols.count(" TCP ") > 36  # 51200 bytes in 1428-byte segments, and the ACKs
    assert cols.count(" UDP ") == 3  # the 4000-byte datagram reassembled in its last fragment
    assert "IPv6 fragment" in cols or "Fragmented IP protocol" in cols


def test_shell_views_show_ipv6_as_ip_6_and_ss_do(world):
    w, a, b, _, _ = world
    srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.bind(("::", 80))
    srv.listen()
    c = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c.connect((B6, 80))
    conn, _ = srv.accept()
    ifaces = "\n".join(ifaces_lines(b))
    assert "    inet 10.0.0.2/24" in ifaces or "inet 10.0.0.2" in ifaces
    assert "    inet6 fd00::2/64 scope global" in ifaces
    assert "scope link" in ifaces and "valid_lft forever preferred_lft forever" in ifaces
    routes = "\n".join(routes_lines(b))
    assert "b: fd00::/64 dev eth0" in routes and "10.0.0.0/24" in routes
    neigh = "\n".join(neigh_lines(b))
    assert "fd00::1 dev eth0 lladdr" in neigh
    socks = "\n".join(sockets_lines(b))
    assert "[::]:80" in socks and f"[{B6}]:80" in socks and f"[{A6}]:" in socks
