"""Linux and the emulated host's IPv4 stack, over the tap: ARP, ping and UDP both ways.

The emulated host ("emu", 10.77.0.2) runs the whole ixsim stack on a real-time world; Linux
(10.77.0.1) is a network namespace.  Skipped, with the reason, where root, /dev/net/tun or
``ip netns`` are missing.
"""

from __future__ import annotations

import socket
import textwrap

import pytest
from helpers.tap import mac_bytes, mac_text, names

from ixsim.netns import LinuxPeer, attach_tap, available
from ixsim.world import World

OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")

LINUX_IP, EMU_IP = "10.77.0.1", "10.77.0.2"


@pytest.fixture
def pair():
    ns, tap = names()
    with LinuxPeer(ns=ns, tap=tap, linux_addr=f"{LINUX_IP}/24",
                   emu_addr=f"{EMU_IP}/24") as peer, World(realtime=True) as world:
        host = world.host("emu", f"{EMU_IP}/24")
        dev = host.interfaces["eth0"]
        attach_tap(world, host, "eth0", peer.tap)
        assert world.run_until(lambda: dev.carrier_ok() and dev.qdisc.active, timeout="3s")
        yield peer, world, host


def test_linux_pings_the_emulated_host(pair):
    peer, world, host = pair
    result = peer.ping(EMU_IP, count=3, world=world)
    assert (result.transmitted, result.received) == (3, 3), result.output
    assert f"64 bytes from {EMU_IP}" in result.output
    assert host.net.mib.icmp["InEchos"] == 3 and host.net.mib.icmp["OutEchoReps"] == 3


def test_the_emulated_host_pings_linux(pair):
    peer, world, host = pair
    result = host.ping(LINUX_IP, count=3, interval=200_000_000)  # ping -i 0.2
    assert (result.transmitted, result.received, result.errors) == (3, 3, 0)
    assert all(reply.ttl == 64 for reply in result.replies)  # Linux's default TTL


def test_neighbour_tables_hold_each_others_mac(pair):
    peer, world, host = pair
    assert peer.ping(EMU_IP, count=1, world=world).received == 1
    emu_mac = host.interfaces["eth0"].dev_addr
    linux = {n.dst: n for n in peer.neigh()}
    assert linux[EMU_IP].lladdr == mac_text(emu_mac)
    assert linux[EMU_IP].state in ("REACHABLE", "STALE", "DELAY")
    entry = host.net.arp.lookup(bytes([10, 77, 0, 1]), host.interfaces["eth0"])
    assert entry is not None and entry.ha == mac_bytes(peer.linux_mac)


def test_udp_from_linux_to_the_emulated_host(pair):
    peer, world, host = pair
    sock = host.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 5000))
    peer.python(textwrap.dedent("""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("10.77.0.1", 40000))
        for i in range(3):
            s.sendto(b"linux-%d" % i + bytes(1000), ("10.77.0.2", 5000))
    """), world=world)
    sock.settimeout(3)
    got = [sock.recvfrom(2048) for _ in range(3)]
    assert got == [(b"linux-%d" % i + bytes(1000), (LINUX_IP, 40000)) for i in range(3)]
    sock.close()


LINUX_UDP_ECHO = textwrap.dedent("""
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.77.0.1", 7))
    s.settimeout(10)
    print("ready", flush=True)
    for _ in range(3):
        data, addr = s.recvfrom(65536)
        print(addr[0], addr[1], len(data), flush=True)
        s.sendto(data[::-1], addr)
""")


def test_udp_from_the_emulated_host_to_linux_and_back(pair):
    peer, world, host = pair
    server = peer.spawn_python(LINUX_UDP_ECHO, bufsize=0)
    assert server.stdout.readline() == b"ready\n"
    sock = host.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 6000))
    sock.settimeout(3)
    for size in (1, 1400, 1472):  # 1472: the largest that fits one 1500-byte frame
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        sock.sendto(payload, (LINUX_IP, 7))
        assert sock.recvfrom(2048) == (payload[::-1], (LINUX_IP, 7))
    result = peer.wait(server, world, timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == [f"{EMU_IP} 6000 {n}" for n in (1, 1400, 1472)]
    sock.close()
