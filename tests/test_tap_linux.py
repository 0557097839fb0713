"""The Linux kernel as the peer: an emulated host's NIC on a tap inside a network namespace.

Device level: frames cross between the real Linux stack and the emulated NIC + ixgb driver,
with no emulated IP stack involved (frames are caught by an ETH_P_ALL tap on the emulated
kernel and sent with ``dev_queue_xmit``).  Skipped, with the reason, where root,
/dev/net/tun or ``ip netns`` are missing.
"""

from __future__ import annotations

import logging
import subprocess
import textwrap
from typing import Any

import pytest
from helpers.tap import mac_bytes, mac_text, names

from device.backends.tap import TapMedium
from device.spec import regs as R
from driver import ixgb
from driver.ixgb.watchdog import update_stats
from ixsim.netns import LinuxPeer, Unavailable, attach_tap, available, netns_exists
from ixsim.world import World
from stack.core.dev import PacketType
from stack.core.etherdevice import ETH_P_ALL
from stack.core.qdisc import dev_queue_xmit
from stack.core.skbuff import PACKET_OUTGOING, alloc_skb, consume_skb
from stack.wire.arp import ARPOP_REPLY, ARPOP_REQUEST, ArpRepr
from stack.wire.ethernet import BROADCAST, ETH_P_ARP, EthernetRepr

OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")

ETH_P_EXPERIMENTAL = 0x88B5


class Rig:
    """A namespace with Linux at 10.77.0.1, a real-time world with host "emu" on the tap."""

    def __init__(self, mtu: int = 1500) -> None:
        ns, tap = names()
        self.peer = LinuxPeer(ns=ns, tap=tap, linux_addr="10.77.0.1/24",
                              emu_addr="10.77.0.2/24", mtu=mtu).setup()
        self.world = World(realtime=True)
        self.host = self.world.host("emu", "10.77.0.2/24")
        self.dev = self.host.interfaces["eth0"]
        self.port = attach_tap(self.world, self.host, "eth0", self.peer.tap)
        self.rx: list[bytes] = []

        def capture(skb: Any, dev: Any, pt: Any, orig: Any) -> int:
            if skb.pkt_type != PACKET_OUTGOING:
                self.rx.append(skb.mac_bytes())
            consume_skb(skb)
            return 0

        self.host.kernel.dev_add_pack(PacketType(ETH_P_ALL, capture, dev=self.dev))
        assert self.run_until(self.ready), "no carrier"

    def ready(self) -> bool:
        """Carrier, and the qdisc attached by the link watch that follows it."""
        return self.dev.carrier_ok() and self.dev.qdisc.active

    @property
    def emu_mac(self) -> bytes:
        return self.dev.dev_addr

    @property
    def linux_mac(self) -> bytes:
        return mac_bytes(self.peer.linux_mac)

    def send(self, frame: bytes) -> int:
        skb = alloc_skb(self.host.kernel, len(frame) + 64)
        skb.reserve(64)
        skb.put_data(frame)
        skb.dev = self.dev
        return dev_queue_xmit(skb)

    def run_until(self, predicate: Any, timeout: str = "3s") -> bool:
        return self.world.run_until(predicate, timeout=timeout)

    def close(self) -> None:
        self.world.close()
        self.peer.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def arp_frame(oper: int, src_mac: bytes, dst_mac: bytes, spa: str, tpa: str,
              tha: bytes = bytes(6)) -> bytes:
    buf = bytearray(60)
    off = EthernetRepr(dst_mac, src_mac, ETH_P_ARP).emit(buf)
    ArpRepr(oper, src_mac, bytes(map(int, spa.split("."))), tha,
            bytes(map(int, tpa.split(".")))).emit(buf, off)
    return bytes(buf)


def arps(frames: list[bytes]) -> list[ArpRepr]:
    return [ArpRepr.parse(memoryview(f)[14:]) for f in frames
            if EthernetRepr.parse(f).ethertype == ETH_P_ARP]


UDP_SENDER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(int(sys.argv[2])):
        s.sendto(b"ixsim-%03d" % i * 10, (sys.argv[1], 9))
""")


# -- Linux -> emulated NIC ---------------------------------------------------------------------
def test_udp_from_linux_arrives_at_the_emulated_nic_and_its_driver(rig):
    rig.peer.add_neigh("10.77.0.2", mac_text(rig.emu_mac))  # no emulated ARP yet
    rig.peer.python(UDP_SENDER, "10.77.0.2", 5, world=rig.world)
    assert rig.run_until(lambda: len(rig.rx) >= 5)
    udp = [f for f in rig.rx if f[12:14] == b"\x08\x00"]
    assert len(udp) == 5
    for i, f in enumerate(udp):
        assert f[:6] == rig.emu_mac and f[6:12] == rig.linux_mac
        assert f[26:34] == bytes([10, 77, 0, 1, 10, 77, 0, 2])  # IPv4 src, dst
        assert f[42:] == b"ixsim-%03d" % i * 10  # the UDP payload, as Linux sent it
    assert rig.peer.tap.rx_frames >= 5 and rig.port.rx_frames == rig.peer.tap.rx_frames
    update_stats(ixgb.adapter_of(rig.dev))  # the watchdog's 2 s statistics pass, now
    assert rig.dev.stats.rx_packets == rig.port.rx_frames
    assert rig.dev.stats.rx_errors == 0


def test_linux_arp_broadcasts_reach_the_nic_padded_to_60_bytes(rig):
    rig.peer.python(UDP_SENDER, "10.77.0.2", 1, world=rig.world)  # Linux must ask who-has
    assert rig.run_until(lambda: arps(rig.rx))
    frame = rig.rx[0]
    assert frame[:6] == BROADCAST and len(frame) == 60
    req = arps(rig.rx)[0]
    assert (req.oper, req.sha, req.spa, req.tpa) == (
        ARPOP_REQUEST, rig.linux_mac, bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2]))
    assert rig.host.nics[0].nic.peek(R.RUC) == 0  # not taken for a runt


# -- emulated NIC -> Linux ---------------------------------------------------------------------
def test_linux_answers_an_arp_request_the_emulated_host_sends(rig):
    request = arp_frame(ARPOP_REQUEST, rig.emu_mac, BROADCAST, "10.77.0.2", "10.77.0.1")
    assert rig.send(request) == 0
    assert rig.run_until(lambda: any(a.oper == ARPOP_REPLY for a in arps(rig.rx)))
    reply = next(a for a in arps(rig.rx) if a.oper == ARPOP_REPLY)
    assert (reply.sha, reply.spa, reply.tha, reply.tpa) == (
        rig.linux_mac, bytes([10, 77, 0, 1]), rig.emu_mac, bytes([10, 77, 0, 2]))
    assert rig.peer.tap.tx_frames == 1 and rig.port.tx_frames == 1
    # Linux learnt the emulated host from the request.
    assert ("10.77.0.2", mac_text(rig.emu_mac)) in [(n.dst, n.lladdr) for n in rig.peer.neigh()]


SNIFFER = textwrap.dedent("""
    import socket, sys
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
    s.bind((sys.argv[1], 0))
    s.settimeout(5)
    print("ready", flush=True)
    for _ in range(int(sys.argv[2])):
        print(s.recv(65536).hex(), flush=True)
""")


def test_frames_reach_linux_byte_exact_as_the_device_put_them(rig):
    sniffer = rig.peer.spawn_python(SNIFFER, rig.peer.ifname, 4, bufsize=0)
    assert sniffer.stdout.readline() == b"ready\n"
    sent = []
    for i, size in enumerate((60, 61, 777, 1514)):
        head = rig.linux_mac + rig.emu_mac + ETH_P_EXPERIMENTAL.to_bytes(2, "big")
        frame = (head + i.to_bytes(4, "big")).ljust(size, bytes([i + 0x41]))
        sent.append(frame)
        assert rig.send(frame) == 0
    result = rig.peer.wait(sniffer, rig.world, timeout=10)
    assert result.returncode == 0, result.stderr
    assert [bytes.fromhex(line) for line in result.stdout.split()] == sent
    assert rig.peer.tap.tx_bytes == sum(map(len, sent))


# -- link, MTU ---------------------------------------------------------------------------------
def test_link_follows_the_tap_up_and_down_and_close(rig):
    nic = rig.host.nics[0].nic
    assert rig.port.link_up and nic.peek(R.STATUS) & R.STATUS_LU
    rig.peer.set_link(False)
    assert rig.run_until(lambda: not rig.dev.carrier_ok())  # poll -> LSC -> watchdog
    assert not rig.port.link_up and not nic.peek(R.STATUS) & R.STATUS_LU
    rig.peer.set_link(True)
    assert rig.run_until(rig.ready)
    assert rig.port.link_up
    rig.peer.tap.close()
    assert not rig.port.link_up
    assert rig.run_until(lambda: not rig.dev.carrier_ok())


def test_frames_above_the_tap_mtu_are_dropped_counted_and_logged_once(rig, caplog):
    rig.peer.set_mtu(1000)
    assert rig.run_until(lambda: rig.peer.tap.mtu == 1000)
    before = rig.peer.link()["stats64"]["rx"]["packets"]
    head = rig.linux_mac + rig.emu_mac + ETH_P_EXPERIMENTAL.to_bytes(2, "big")
    with caplog.at_level(logging.WARNING, logger="ixsim.tap"):
        for size in (1514, 1015, 1500, 1014):
            rig.send(head.ljust(size, b"\0"))
        rig.world.run_for("50ms")
    assert rig.peer.tap.dropped_too_big == 3
    assert rig.peer.tap.tx_frames == 1
    assert len([r for r in caplog.records if "dropping frames longer" in r.message]) == 1
    assert rig.peer.link()["stats64"]["rx"]["packets"] == before + 1


def test_netem_impairs_what_linux_sends(rig):
    try:
        rig.peer.netem(delay="20ms")
    except Unavailable as exc:
        pytest.skip(str(exc))
    assert "netem" in rig.peer.run("tc", "qdisc", "show", "dev", rig.peer.ifname).stdout
    rig.peer.netem()
    assert "netem" not in rig.peer.run("tc", "qdisc", "show", "dev", rig.peer.ifname).stdout


# -- building and tearing down -----------------------------------------------------------------
def link_exists(ifname: str, ns: str | None = None) -> bool:
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["link", "show", "dev", ifname]
    return subprocess.run(cmd, capture_output=True).returncode == 0


def test_teardown_removes_namespace_and_tap_even_when_the_body_raises():
    ns, tap = names()
    with pytest.raises(RuntimeError, match="the test failed"), LinuxPeer(ns=ns, tap=tap) as peer:
        assert netns_exists(ns) and link_exists(tap, ns) and peer.linux_mac
        assert peer.tap.created and peer.tap.fd >= 0
        sleeper = peer.popen("sleep", "30")
        raise RuntimeError("the test failed")
    assert not netns_exists(ns)
    assert not link_exists(tap)
    assert sleeper.poll() is not None and peer.tap.closed


def test_a_namespace_that_exists_is_refused_unless_asked_and_then_kept():
    ns, tap = names()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with pytest.raises(RuntimeError, match="exists already"):
            LinuxPeer(ns=ns, tap=tap).setup()
        assert not link_exists(tap)
        with LinuxPeer(ns=ns, tap=tap, existing_ns_ok=True) as peer:
            assert link_exists(tap, ns) and not peer.created_ns
        assert netns_exists(ns) and not link_exists(tap, ns)
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def test_a_persistent_tap_is_attached_to_and_left_in_place():
    _ns, tap = names()
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    try:
        medium = TapMedium(tap).open()
        assert not medium.created and medium.fd >= 0
        medium.close()
        assert link_exists(tap)
    finally:
        subprocess.run(["ip", "link", "del", "dev", tap])


def test_a_tap_opened_inside_a_namespace_follows_its_link_there():
    ns, tap = names()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with World(realtime=True) as w, TapMedium(tap, netns=ns, mtu=1400) as medium:
            assert link_exists(tap, ns) and not link_exists(tap) and medium.created
            host = w.host("emu")
            port = attach_tap(w, host, "eth0", medium)
            assert not port.link_up  # the Linux end is down
            subprocess.run(["ip", "-n", ns, "link", "set", tap, "up"], check=True)
            assert w.run_until(lambda: port.link_up, timeout="2s")
            assert medium.mtu == 1400
        assert not link_exists(tap, ns)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
