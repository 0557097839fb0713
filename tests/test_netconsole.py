"""netconsole (stack/netconsole.py): Linux's parameter syntax, every printk line as a UDP
datagram received on another host's socket, including while the TX queue is stopped."""

from __future__ import annotations

import errno
import socket

import pytest

from ixsim import World
from stack.core import netif_stop_queue, netif_wake_queue
from stack.core.netpoll import BROADCAST_MAC, TX_RETRY_NS, Netpoll
from stack.netconsole import init_netconsole, netpoll_parse_options
from stack.wire.ipv4 import ip_bytes


def _world(config: str = "@/eth0,6666@10.0.0.2/"):
    w = World(seed=8)
    b = w.host("b", "10.0.0.2/24")
    sock = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 6666))
    sock.settimeout(0.5)
    a = w.host("a", "10.0.0.1/24", netconsole=config)
    w.cable(a.eth0, b.eth0)
    return w, a, b, sock


def _lines(sock, n: int) -> list[tuple[str, tuple[str, int]]]:
    out = []
    for _ in range(n):
        data, peer = sock.recvfrom(2000)
        out.append((data.decode(), peer))
    return out


# -- the parameter syntax (netpoll_parse_options) -----------------------------------------
@pytest.mark.parametrize("config, want", [
    ("@/,@10.0.0.2/", (6665, b"", "eth0", 6666, "10.0.0.2", BROADCAST_MAC)),
    ("@/eth0,6666@10.0.0.2/", (6665, b"", "eth0", 6666, "10.0.0.2", BROADCAST_MAC)),
    ("4444@10.0.0.1/eth1,9353@10.0.0.2/12:34:56:78:9a:bc",
     (4444, ip_bytes("10.0.0.1"), "eth1", 9353, "10.0.0.2", bytes.fromhex("123456789abc"))),
    ("@10.0.0.1/,514@192.168.1.1/", (6665, ip_bytes("10.0.0.1"), "eth0", 514, "192.168.1.1",
                                      BROADCAST_MAC)),
])
def test_parse_options_as_linux(config, want):
    np = Netpoll("netconsole")
    netpoll_parse_options(np, config)
    got = (np.local_port, np.local_ip, np.dev_name, np.remote_port, np.remote_ip,
           np.remote_mac)
    assert got == (*want[:4], ip_bytes(want[4]), want[5])


@pytest.mark.parametrize("config", [
    "", "6665", "x@/eth0,6666@10.0.0.2/", "@/eth0,6666@10.0.0.2", "@/eth0,70000@10.0.0.2/",
    "@/eth0,6666@10.0.0.2/zz:34:56:78:9a:bc", "@/eth0,6666@10.0.0/", "@10.0.0.1", "@/eth0",
])
def test_parse_failures_are_einval(config):
    with pytest.raises(OSError) as exc:
        netpoll_parse_options(Netpoll("netconsole"), config)
    assert exc.value.errno == errno.EINVAL
    assert "couldn't parse config at" in str(exc.value)


# -- end to end --------------------------------------------------------------------------------
def test_every_log_line_arrives_as_a_udp_datagram():
    w, a, _b, sock = _world()
    log = [r.msg for r in a.kernel.dmesg]
    assert "netconsole: network logging started" in log
    assert "netconsole: remote ethernet address ff:ff:ff:ff:ff:ff" in log
    assert "netconsole: local IPv4 10.0.0.1" in log
    first = _lines(sock, 1)[0]
    assert first == ("[    0.000000] netconsole: network logging started\n", ("10.0.0.1", 6665))
    a.kernel.log("err", "something broke")
    a.kernel.log("debug", "too quiet for the console")
    a.kernel.log("info", "x" * 2500)
    got = []
    while True:
        try:
            got.append(sock.recvfrom(2000)[0].decode())
        except TimeoutError:
            break
    assert any(line.endswith("] something broke\n") for line in got)
    assert not any("too quiet" in line for line in got)
    long = [line for line in got if "x" * 100 in line]
    assert [len(part) for part in long] == [1000, 1000, len("[    0.000000] ") + 2501 - 2000]
    # Every line in dmesg below debug after "network logging started" was sent, in order.
    start = next(i for i, r in enumerate(a.kernel.dmesg) if "logging started" in r.msg)
    sent = [r for r in a.kernel.dmesg[start:] if r.level != "debug"]
    assert a.netconsole.targets[0].sent == len(sent) + 2  # the long line took three
    w.close()


def test_lines_arrive_while_the_tx_queue_is_stopped():
    w, a, _b, sock = _world()
    while True:
        try:
            sock.recvfrom(2000)
        except TimeoutError:
            break
    npinfo = a.eth0.npinfo
    netif_stop_queue(a.eth0)
    a.kernel.log("warning", "queued one")
    a.kernel.log("warning", "queued two")
    w.run_for("50ms")
    assert len(npinfo.txq) == 2 and npinfo.requeued >= 1
    with pytest.raises(TimeoutError):
        sock.recvfrom(2000)  # nothing while stopped (the socket waits 0.5 s of world time)
    netif_wake_queue(a.eth0)
    lines = [text for text, _ in _lines(sock, 2)]
    assert lines[0].endswith("queued one\n") and lines[1].endswith("queued two\n")
    assert not npinfo.txq
    assert TX_RETRY_NS == 100_000_000
    w.close()


def test_setup_errors_are_linux_errnos():
    w = World(seed=9)
    h = w.host("h")  # no address
    with pytest.raises(OSError) as exc:
        init_netconsole(h.net, "@/eth0,6666@10.0.0.2/")
    assert exc.value.errno == errno.EDESTADDRREQ
    assert "netconsole: no IP address for eth0, aborting" in [r.msg for r in h.kernel.dmesg]
    with pytest.raises(OSError) as exc:
        init_netconsole(h.net, "@/eth9,6666@10.0.0.2/")
    assert exc.value.errno == errno.ENODEV
    for unsupported in ("+@/eth0,6666@10.0.0.2/", "r@/eth0,6666@10.0.0.2/"):
        with pytest.raises(OSError) as exc:
            init_netconsole(h.net, unsupported)
        assert exc.value.errno == errno.EINVAL
    assert not h.kernel.consoles  # nothing left registered
    w.close()


def test_a_down_device_is_forced_up_and_two_targets():
    w = World(seed=10)
    b = w.host("b", "10.0.0.2/24")
    c = w.host("c", "10.0.0.3/24", nics=1)
    sock_b = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock_b.bind(("0.0.0.0", 6666))
    sock_b.settimeout(0.5)
    sock_c = c.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock_c.bind(("0.0.0.0", 514))
    sock_c.settimeout(0.5)
    # No address on a (the source IP is given) and eth0 left down: netpoll forces it up.
    a = w.host("a", up=False,
                netconsole=f"@10.0.0.1/eth0,6666@10.0.0.2/{b.eth0.dev_addr.hex(':')};"
                           f"@10.0.0.1/eth0,514@10.0.0.3/{c.eth0.dev_addr.hex(':')}")
    assert a.eth0.running
    assert "netconsole: device eth0 not up yet, forcing it" in [r.msg for r in a.kernel.dmesg]
    sw = w.switch("sw", ports=3)
    for i, h in enumerate((a, b, c)):
        w.cable(h.eth0, sw.port(i))
    a.kernel.log("info", "to both")
    for sock in (sock_b, sock_c):
        got = []
        while True:
            try:
                got.append(sock.recvfrom(2000)[0])
            except TimeoutError:
                break
        assert any(line.endswith(b"] to both\n") for line in got)
    w.close()


def test_unregistering_the_device_stops_the_target():
    w, a, _b, _sock = _world()
    target = a.netconsole.targets[0]
    a.device_del("eth0")
    assert not target.enabled and target.np.dev is None
    assert ("netconsole: network logging stopped on interface eth0 as it unregistered"
            in [r.msg for r in a.kernel.dmesg])
    sent = target.sent
    a.kernel.log("info", "nobody hears this")
    assert target.sent == sent
    w.close()
