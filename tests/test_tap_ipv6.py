"""Linux and the emulated host over IPv6 on the tap (issue 15, item 6): ND and DAD with Linux's
own, ping both ways, TCP 50 MB each way with Linux as client and as server (sha256 intact),
UDP, and an emulated router whose radvd gives Linux an autoconfigured address.

The emulated host ("emu": 10.77.0.2/24 and fd77::2/64) runs the whole ixsim stack on a
real-time world; Linux (fd77::1/64) is a network namespace with IPv6 on.  Skipped, with the
reason, where root, /dev/net/tun or ``ip netns`` are missing.
"""

from __future__ import annotations

import hashlib
import json
import socket
import textwrap
import time

import pytest
from helpers.tap import mac_bytes, mac_text, names
from test_tap_tcp import BLOCK, CHUNK, STREAM_PY, _block, expected_sha, nstat

from ixsim.apps import bulk_receive
from ixsim.netns import LinuxPeer, attach_tap, available
from ixsim.world import World
from stack.wire.ipv6 import ipv6_bytes

OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")

LINUX6, EMU6 = "fd77::1", "fd77::2"
MB = 1_000_000
BIG = 50 * MB  # the figure, each way


def linux_addrs(peer: LinuxPeer) -> list[dict]:
    out = peer.run("ip", "-j", "-6", "addr", "show", "dev", peer.ifname, check=True).stdout
    return [a for link in json.loads(out) for a in link.get("addr_info", [])]


@pytest.fixture
def pair():
    ns, tap = names()
    with (
        LinuxPeer(
            ns=ns, tap=tap, linux_addr="10.77.0.1/24", emu_addr="10.77.0.2/24", ipv6=True
        ) as peer,
        World(realtime=True) as world,
    ):
        peer.run("ip", "addr", "add", f"{LINUX6}/64", "dev", peer.ifname, check=True)
        host = world.host("emu", "10.77.0.2/24", f"{EMU6}/64")
        dev = host.interfaces["eth0"]
        attach_tap(world, host, "eth0", peer.tap)
        assert world.run_until(lambda: dev.carrier_ok() and dev.qdisc.active, timeout="3s")

        def settled() -> bool:  # both DADs over: Linux's address and ours are usable
            ours = host.net.ipv6.devs[dev].addrs
            return all(a.usable for a in ours) and not any(
                a.get("tentative") for a in linux_addrs(peer)
            )

        deadline = time.monotonic() + 10
        while not settled():
            assert time.monotonic() < deadline, linux_addrs(peer)
            world.run_for("100ms")
        yield peer, world, host


def test_linux_pings_the_emulated_host_over_ipv6_and_is_pinged(pair):
    peer, world, host = pair
    result = peer.ping(EMU6, count=3, world=world)
    assert (result.transmitted, result.received) == (3, 3), result.output
    assert host.net.mib.icmp6["Icmp6InEchos"] == 3
    assert host.net.mib.icmp6["Icmp6OutEchoReplies"] == 3
    ours = host.ping(LINUX6, count=3, interval=200_000_000)
    assert (ours.transmitted, ours.received) == (3, 3)


def test_neighbour_discovery_and_dad_with_linux(pair):
    peer, world, host = pair
    assert peer.ping(EMU6, count=1, world=world).received == 1
    dev = host.interfaces["eth0"]
    linux = {n.dst: n for n in peer.neigh()}
    assert linux[EMU6].lladdr == mac_text(dev.dev_addr)
    assert linux[EMU6].state in ("REACHABLE", "STALE", "DELAY")
    entry = host.net.ipv6.nd_tbl.lookup(ipv6_bytes(LINUX6), dev)
    assert entry is not None and entry.ha == mac_bytes(peer.linux_mac)
    # Linux's DAD saw no conflict with ours, and ours none with Linux's
    assert not any(a.get("dadfailed") for a in linux_addrs(peer))
    assert all(a.usable for a in host.net.ipv6.devs[dev].addrs)
    # a duplicate: Linux adding the emulated host's address fails its DAD against our NA
    peer.run("ip", "addr", "add", f"{EMU6}/64", "dev", peer.ifname, check=False)
    deadline = time.monotonic() + 5
    dup = []
    while time.monotonic() < deadline and not dup:
        world.run_for("100ms")
        dup = [a for a in linux_addrs(peer) if a["local"] == EMU6 and a.get("dadfailed")]
    assert dup, linux_addrs(peer)


LINUX_CLIENT6 = STREAM_PY + textwrap.dedent("""
    ip, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.create_connection((ip, 9), timeout=120)
    peer = list(s.getpeername()[:2])
    t0 = time.perf_counter()
    sent, sha = send_stream(s, n, seed)
    back = recv_all(s)
    report(what="discard", sent=sent, sha=sha, back=back[0], secs=time.perf_counter() - t0,
           peer=peer)
""")

LINUX_SERVER6 = STREAM_PY + textwrap.dedent("""
    ip, port, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lst = socket.socket(socket.AF_INET6)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((ip, port))
    lst.listen(1)
    print("ready", flush=True)
    s, addr = lst.accept()
    s.settimeout(120)
    t0 = time.perf_counter()
    got, got_sha = recv_all(s)
    t1 = time.perf_counter()
    sent, sha = send_stream(s, n, seed + 1)
    rest = recv_all(s)
    report(what="server", peer=list(addr[:2]), got=got, got_sha=got_sha, in_secs=t1 - t0,
           sent=sent, sha=sha, rest=rest[0],
           mss=s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
""")


def test_tcp_50mb_linux_client_to_the_emulated_host_over_ipv6(pair):
    peer, world, host = pair
    before = nstat(peer, "TcpInCsumErrors", "TcpRetransSegs")
    sink = host.spawn(bulk_receive(host, 9, bufsize=CHUNK * 4, family=socket.AF_INET6))
    world.run_for("1ms")
    result = peer.python(LINUX_CLIENT6, EMU6, BIG, 5, world=world, timeout=240)
    assert world.run_until(sink.done, timeout="5s")
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert rows, result.stderr
    linux, got = rows[0], sink.result()
    want = expected_sha(BIG, 5)
    assert (linux["sent"], linux["sha"], linux["peer"]) == (BIG, want, [EMU6, 9])
    assert (got.bytes, got.sha256) == (BIG, want)
    after = nstat(peer, "TcpInCsumErrors", "TcpRetransSegs")
    assert after["TcpInCsumErrors"] == before["TcpInCsumErrors"]
    assert host.net.mib.tcp["InCsumErrors"] == host.net.mib.tcp["InErrs"] == 0
    print(f"\nLinux -> emulated over IPv6: {BIG * 8 / linux['secs'] / 1e6:.0f} Mbit/s")


def test_tcp_50mb_emulated_client_both_ways_with_a_linux_server_over_ipv6(pair):
    peer, world, host = pair
    seed, port = 9, 5001
    server = peer.spawn_python(LINUX_SERVER6, LINUX6, port, BIG, seed, bufsize=0)
    assert server.stdout.readline() == b"ready\n"
    sock = host.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.settimeout(120)
    sock.connect((LINUX6, port))
    assert sock.getpeername() == (LINUX6, port, 0, 0)
    source = memoryview(_block(seed))
    digest = hashlib.sha256()
    sent = 0
    while sent < BIG:
        offset = sent % BLOCK
        piece = source[offset : offset + min(CHUNK, BIG - sent)]
        sock.sendall(piece)
        digest.update(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)
    back, got = hashlib.sha256(), 0
    buf = bytearray(CHUNK * 4)
    view = memoryview(buf)
    while n := sock.recv_into(buf):
        back.update(view[:n])
        got += n
    mss = sock.sk.mss_cache
    sock.close()
    result = peer.wait(server, world, timeout=30)
    assert result.returncode == 0, result.stderr
    linux = json.loads([line for line in result.stdout.splitlines() if line.startswith("{")][0])
    assert (sent, digest.hexdigest()) == (BIG, expected_sha(BIG, seed))
    assert (linux["got"], linux["got_sha"]) == (BIG, expected_sha(BIG, seed))
    assert (got, back.hexdigest()) == (BIG, expected_sha(BIG, seed + 1))
    assert linux["peer"][0] == EMU6 and linux["rest"] == 0
    # both stacks size segments from the IPv6 MTU: 1500 - 40 - 20 - 12 (timestamps)
    assert mss == 1428 and linux["mss"] == 1428


def test_udp_both_ways_over_ipv6(pair):
    peer, world, host = pair
    sock = host.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.bind(("::", 5000))
    peer.python(
        textwrap.dedent(f"""
        import socket
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("{LINUX6}", 40000))
        for i in range(3):
            s.sendto(b"linux-%d" % i + bytes(3000), ("{EMU6}", 5000))
    """),
        world=world,
    )
    sock.settimeout(3)
    got = [sock.recvfrom(4096) for _ in range(3)]  # 3000 bytes: fragmented by Linux
    assert got == [(b"linux-%d" % i + bytes(3000), (LINUX6, 40000, 0, 0)) for i in range(3)]
    assert host.net.mib.ip6["Ip6ReasmOKs"] == 3


def test_emulated_router_autoconfigures_linux_with_radvd(pair):
    peer, world, host = pair
    peer.run("sysctl", "-qw", f"net.ipv6.conf.{peer.ifname}.accept_ra=2", check=True)
    host.radvd("eth0", "2001:db8:77::/64")
    deadline = time.monotonic() + 15
    slaac = []
    while time.monotonic() < deadline and not slaac:
        world.run_for("200ms")
        slaac = [
            a
            for a in linux_addrs(peer)
            if a["local"].startswith("2001:db8:77:") and not a.get("tentative")
        ]
    assert slaac, linux_addrs(peer)
    # the EUI-64 interface identifier from Linux's MAC, and a default route via our router
    assert slaac[0]["prefixlen"] == 64 and slaac[0].get("dynamic")
    routes = peer.run("ip", "-6", "route", "show", "default", check=True).stdout
    assert "via fe80::" in routes and peer.ifname in routes
