"""Switches and hubs (device/bridge.py) through World.switch / World.hub.

Two rigs: emulated hosts with the full stack on switch ports (ping, ARP flooding, learning,
VLAN isolation, pcaps), and bare ports the test drives frame by frame (tags, PCP, reserved
addresses, invalid sources, the loop guard's count).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from device.bridge import DEFAULT_AGEING_NS, Family, FdbEntry, LoopGuard, parse_mac
from device.faults import DeviceFaultError
from device.pcap import read_pcap
from device.port import Port
from ixsim import World

BCAST = b"\xff" * 6


def mac(n: int) -> bytes:
    return bytes((2, 0, 0, 0, 0x10, n))


def eth(dst: bytes, src: bytes, ethertype: int = 0x88B5, body: bytes = b"x") -> bytes:
    return (dst + src + ethertype.to_bytes(2, "big") + body).ljust(60, b"\0")


def tag(frame: bytes, vid: int, pcp: int = 0) -> bytes:
    tci = pcp << 13 | vid
    return frame[:12] + b"\x81\x00" + tci.to_bytes(2, "big") + frame[12:]


def vid_of(frame: bytes) -> int | None:
    if frame[12:14] != b"\x81\x00":
        return None
    return int.from_bytes(frame[14:16], "big") & 0xFFF


class Nic:
    """A stand-in MAC on a bare Port: sends what the test says, records what arrives."""

    def __init__(self, w: World, name: str) -> None:
        self.port = Port(w.sched, name)
        self.got: list[bytes] = []
        self.port.attach(self.got.append, lambda up: None)

    def send(self, frame: bytes) -> None:
        self.port.transmit(frame)


def bare(w: World, sw, count: int) -> list[Nic]:
    nics = [Nic(w, f"n{i}") for i in range(count)]
    for i, nic in enumerate(nics):
        w.cable(nic, sw.port(i))
    return nics


def tx_watch(sp) -> list[bytes]:
    """Every frame the switch sends out of port ``sp`` (its PHY's 'tx' tracepoint)."""
    seen: list[bytes] = []
    sp.port.trace_frame.append(lambda direction, now, frame: direction == "tx"
                               and seen.append(frame))
    return seen


@pytest.fixture
def three():
    with World(seed=3) as w:
        sw = w.switch("sw0", ports=8)
        hosts = [w.host(n, f"10.0.0.{i + 1}/24") for i, n in enumerate("abc")]
        for i, h in enumerate(hosts):
            w.cable(h.eth0, sw.port(i), latency="1us")
        yield w, sw, hosts


# -- learning, flooding, forwarding ------------------------------------------------------------
def test_three_hosts_ping_each_other_and_the_fdb_learns(three):
    w, sw, (a, b, c) = three
    to_c = tx_watch(sw.port(2))
    assert a.ping("10.0.0.2").received == 1
    # The ARP request was flooded (c saw it); the reply and the ICMP were unicast, not to c.
    assert [f[:6] for f in to_c] == [BCAST]
    table = sw.fdb()
    assert [(e.mac, e.dev, e.port) for e in table] == [
        ("02:00:00:00:01:00", "port0", 0), ("02:00:00:00:02:00", "port1", 1)]
    assert str(table).splitlines() == ["02:00:00:00:01:00 dev port0 master sw0",
                                       "02:00:00:00:02:00 dev port1 master sw0"]
    to_c.clear()
    assert a.ping("10.0.0.2", count=3).received == 3
    assert to_c == []  # learned: a third host's port sees no unicast between a and b
    assert b.ping("10.0.0.3").received == 1
    assert c.ping("10.0.0.1").received == 1
    assert len(sw.fdb()) == 3
    counters = sw.counters()
    assert counters["learned"] == 3 and counters["flooded"] >= 2
    assert counters["forwarded"] > 0
    assert sw.port(2).counters()["tx_packets"] == sw.port(2).port.tx_frames > 0
    assert sum(sw.port(i).counters()["rx_packets"] for i in range(3)) == counters["rx_packets"]
    assert w.faults == []


def test_fdb_ages_out_after_300_virtual_seconds(three):
    w, sw, (a, b, _c) = three
    assert a.ping("10.0.0.2").received == 1
    w.run_for("10s")  # b confirms its ARP entry for a with a unicast probe at ~5 s
    first = min(e.updated_ns for e in sw.fdb())
    last = max(e.updated_ns for e in sw.fdb())
    assert [label for _h, label in sw.pending_events()] == ["sw0 FDB ageing sweep"]
    w.run_for(first + DEFAULT_AGEING_NS - 1 - w.now)
    assert len(sw.fdb()) == 2
    w.run_for(2)
    assert len(sw.fdb()) == 1  # the first one aged out exactly 300 s after its last frame
    w.run_for(last + DEFAULT_AGEING_NS - w.now)
    assert len(sw.fdb()) == 0
    assert sw.counters()["aged"] == 2
    assert sw.pending_events() == []
    # Forgotten: the next unicast is flooded again until the reply teaches the switch.
    assert a.ping("10.0.0.2").received == 1
    assert len(sw.fdb()) == 2


def test_ageing_is_configurable_and_zero_disables_learning():
    with World() as w:
        sw = w.switch("sw0", ports=3, ageing="10ms")
        n = bare(w, sw, 3)
        n[0].send(eth(mac(2), mac(1)))
        w.run_for("1us")
        assert sw.fdb().lookup(mac(1)).port == 0
        w.run_for("10ms")
        assert sw.fdb() == []
        hub_like = w.switch("sw1", ports=3, ageing=0)
        m = [Nic(w, f"m{i}") for i in range(3)]
        for i, nic in enumerate(m):
            w.cable(nic, hub_like.port(i))
        m[1].send(eth(mac(1), mac(2)))
        m[0].send(eth(mac(2), mac(1)))
        w.run_for("1us")
        assert hub_like.fdb() == [] and len(m[2].got) == 2  # both flooded


def test_static_entries_moves_and_flush():
    with World() as w:
        sw = w.switch("sw0", ports=4)
        n = bare(w, sw, 4)
        sw.fdb_add("02:00:00:00:10:09", 3)
        n[0].send(eth(mac(9), mac(1)))
        w.run_for("1us")
        assert [len(x.got) for x in n] == [0, 0, 0, 1]
        entry = sw.fdb().lookup("02:00:00:00:10:09")
        assert entry.static and str(entry) == "02:00:00:00:10:09 dev port3 master sw0 static"
        n[1].send(eth(mac(2), mac(1)))  # mac(1) moves from port 0 to port 1
        w.run_for("1us")
        assert sw.fdb().lookup(mac(1)).port == 1 and sw.counters()["moved"] == 1
        n[1].send(eth(mac(1), mac(5)))  # back out of the port it came in on: discarded
        w.run_for("1us")
        assert sw.port(1).counters()["same_port"] == 1
        assert sw.fdb_flush() == 2
        assert [str(e) for e in sw.fdb()] == ["02:00:00:00:10:09 dev port3 master sw0 static"]
        sw.fdb_del("02:00:00:00:10:09")
        assert sw.fdb() == []
        with pytest.raises(KeyError, match="no fdb entry"):
            sw.fdb_del("02:00:00:00:10:09")


def test_reserved_group_addresses_and_invalid_sources_are_not_forwarded():
    with World() as w:
        sw = w.switch("sw0", ports=3)
        n = bare(w, sw, 3)
        n[0].send(eth(b"\x01\x80\xc2\x00\x00\x0e", mac(1), 0x88CC))  # LLDP
        n[0].send(eth(b"\x01\x80\xc2\x00\x00\x00", mac(1), 0x0026))  # STP BPDU: flooded
        n[0].send(eth(BCAST, b"\x01\x00\x5e\x00\x00\x01"))  # multicast source
        n[0].send(eth(BCAST, bytes(6)))  # zero source
        n[0].send(eth(b"\x01\x00\x5e\x00\x00\x05", mac(1)))  # multicast: flooded
        w.run_for("1us")
        assert [f[:6] for f in n[1].got] == [b"\x01\x80\xc2\x00\x00\x00",
                                             b"\x01\x00\x5e\x00\x00\x05"]
        assert n[1].got == n[2].got and n[0].got == []
        c = sw.port(0).counters()
        assert c["rx_link_local"] == 1 and c["rx_invalid"] == 2 and c["rx_packets"] == 5


# -- VLANs ---------------------------------------------------------------------------------
def test_vlan_isolation_between_access_ports():
    with World(seed=5) as w:
        sw = w.switch("sw0", ports=8, vlan_filtering=True)
        a, b, c = (w.host(n, f"10.0.0.{i + 1}/24") for i, n in enumerate("abc"))
        w.cable(a.eth0, sw.port(0, vlan=10))
        w.cable(b.eth0, sw.port(1, vlan=10))
        w.cable(c.eth0, sw.port(2, vlan=20))
        to_c = tx_watch(sw.port(2))
        assert a.ping("10.0.0.2").received == 1
        assert a.ping("10.0.0.3", timeout="1s").received == 0
        assert c.ping("10.0.0.1", timeout="1s").received == 0
        assert to_c == []  # not even a's ARP broadcasts reached VLAN 20
        assert {(e.mac, e.vlan) for e in sw.fdb()} == {
            ("02:00:00:00:01:00", 10), ("02:00:00:00:02:00", 10), ("02:00:00:00:03:00", 20)}
        assert "02:00:00:00:01:00 dev port0 vlan 10 master sw0" in str(sw.fdb()).splitlines()
        assert sw.port(2).pvid == 20 and sw.port(2).vlans == {20: True}
        assert "port2    20 PVID Egress Untagged" in sw.vlan_show().splitlines()


def test_trunk_between_two_switches_carries_both_vlans_tagged(tmp_path):
    pcap = tmp_path / "trunk.pcap"
    with World(seed=6) as w:
        s1 = w.switch("s1", ports=4, vlan_filtering=True)
        s2 = w.switch("s2", ports=4, vlan_filtering=True)
        a, c, b, d = (w.host(n, f"10.0.0.{i + 1}/24") for i, n in enumerate("acbd"))
        w.cable(a.eth0, s1.port(0, vlan=10), pcap=str(tmp_path / "a.pcap"))
        w.cable(c.eth0, s1.port(1, vlan=20))
        w.cable(b.eth0, s2.port(0, vlan=10))
        w.cable(d.eth0, s2.port(1, vlan=20))
        w.cable(s1.port(3, trunk=[10, 20]), s2.port(3, trunk=[10, 20]), latency="5us",
                pcap=str(pcap))
        assert s1.port(3).trunk == [10, 20] and s1.port(3).pvid is None
        assert a.ping("10.0.0.3").received == 1  # a -> b over VLAN 10
        assert c.ping("10.0.0.4").received == 1  # c -> d over VLAN 20
        assert a.ping("10.0.0.4", timeout="1s").received == 0  # a (10) cannot reach d (20)
        assert {e.vlan for e in s2.fdb() if e.port == 3} == {10, 20}
    frames = [f for _t, f in read_pcap(str(pcap))]
    assert frames and all(vid_of(f) in (10, 20) for f in frames)
    assert {vid_of(f) for f in frames} == {10, 20}
    assert s1.port(0).counters()["tx_packets"] > 0
    host_side = [f for _t, f in read_pcap(str(tmp_path / "a.pcap"))]
    assert host_side and all(vid_of(f) is None for f in host_side)  # access ports: untagged


def test_tags_pcp_and_ingress_rules_on_bare_ports():
    with World() as w:
        sw = w.switch("sw0", ports=4, vlan_filtering=True)
        n = bare(w, sw, 4)
        sw.port(0, vlan=10)
        sw.port(1, trunk=[10, 20])
        sw.port(2, vlan=20, trunk=[10])  # native VLAN 20, tagged 10
        # port 3 keeps the default: untagged VLAN 1.
        n[1].send(tag(eth(BCAST, mac(2)), 10, pcp=5))
        w.run_for("1us")
        assert n[0].got == [eth(BCAST, mac(2))]  # untagged on the access port
        assert n[2].got == [tag(eth(BCAST, mac(2)), 10, pcp=5)]  # same tag, PCP kept
        assert n[3].got == []
        n[0].send(eth(BCAST, mac(1)))
        w.run_for("1us")
        assert n[1].got == [tag(eth(BCAST, mac(1)), 10)]
        n[1].send(eth(BCAST, mac(2)))  # untagged on a trunk without native VLAN: dropped
        n[1].send(tag(eth(BCAST, mac(2)), 30))  # not a member of 30: dropped
        n[3].send(tag(eth(BCAST, mac(4)), 10))  # port 3 is not in VLAN 10
        w.run_for("1us")
        assert sw.port(1).counters()["rx_vlan_filtered"] == 2
        assert sw.port(3).counters()["rx_vlan_filtered"] == 1
        n[2].send(tag(eth(BCAST, mac(3)), 0, pcp=3))  # priority-tagged: the PVID (20)
        w.run_for("1us")
        assert n[1].got[-1] == tag(eth(BCAST, mac(3)), 20, pcp=3)
        assert sw.fdb().lookup(mac(3)).vlan == 20
        assert sw.counters()["rx_vlan_filtered"] == 3


def test_vlan_configuration_errors():
    with World() as w:
        plain = w.switch("sw0", ports=2)
        with pytest.raises(ValueError, match="vlan_filtering=True"):
            plain.port(0, vlan=10)
        sw = w.switch("sw1", ports=2, vlan_filtering=True)
        for bad in (0, 4095, "10", True):
            with pytest.raises(ValueError, match="VLAN ID"):
                sw.port(0, vlan=bad)
        with pytest.raises(ValueError, match="both"):
            sw.port(0, vlan=10, trunk=[10, 20])
        with pytest.raises(ValueError, match="at least one"):
            sw.port(0, trunk=[])
        with pytest.raises(ValueError, match="ports 0 to 1"):
            sw.port(2)


# -- link ------------------------------------------------------------------------------------
def test_port_link_follows_its_cable_and_flooding_skips_down_ports(three):
    w, sw, (a, b, c) = three
    assert a.ping("10.0.0.3").received == 1
    assert sw.fdb().lookup("02:00:00:00:03:00").port == 2
    cable_c = w.cables[2]
    cable_c.unplug()
    assert not sw.port(2).link_up
    assert sw.fdb().lookup("02:00:00:00:03:00") is None  # flushed with the port's link
    before = sw.port(2).counters()
    assert a.ping("10.0.0.2").received == 1
    assert a.ping("10.0.0.3", timeout="1s").received == 0
    after = sw.port(2).counters()
    # Floods skipped the port; nothing was offered to a PHY without link.
    assert after["tx_packets"] == before["tx_packets"]
    assert after["tx_dropped_link_down"] == 0
    # A static entry sends a known unicast at the down port: its PHY counts the drop.
    sw.fdb_add("02:00:00:00:03:00", 2)
    assert a.ping("10.0.0.3", timeout="1s").received == 0
    assert sw.port(2).counters()["tx_dropped_link_down"] >= 1
    sw.fdb_del("02:00:00:00:03:00")
    cable_c.plug()
    w.wait_link(c.eth0)
    assert sw.port(2).link_up
    assert a.ping("10.0.0.3").received == 1


# -- hub ---------------------------------------------------------------------------------------
def test_hub_repeats_every_frame_to_every_other_port():
    with World(seed=2) as w:
        hub = w.hub("h0", ports=4)
        a, b, c = (w.host(n, f"10.0.0.{i + 1}/24") for i, n in enumerate("abc"))
        for i, h in enumerate((a, b, c)):
            w.cable(h.eth0, hub.port(i))
        to_c = tx_watch(hub.port(2))
        assert a.ping("10.0.0.2", count=2).received == 2
        # c saw the ARP exchange and both echo requests and replies: everything.
        unicast = [f for f in to_c if not f[0] & 1]
        assert len(unicast) >= 5
        assert hub.port(3).counters()["tx_packets"] == 0  # nothing cabled there
        counters = hub.counters()
        assert counters["repeated"] == counters["rx_packets"]
        assert counters["tx_packets"] == 2 * counters["rx_packets"]
        with pytest.raises(ValueError, match="hub h0 has ports 0 to 3"):
            hub.port(4)


# -- the loop guard ------------------------------------------------------------------------------
def test_loop_guard_stops_a_two_switch_loop():
    with World(seed=4) as w:
        s1 = w.switch("s1", ports=4)
        s2 = w.switch("s2", ports=4)
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, s1.port(0))
        w.cable(b.eth0, s2.port(0))
        w.cable(s1.port(1), s2.port(1))
        w.cable(s1.port(2), s2.port(2))  # the loop
        a.ping("10.0.0.2", timeout="100ms")
        w.run_for("1s")
        assert all(lane.in_flight == 0 for cable in w.cables for lane in cable.lanes())
        dropped = s1.counters()["loop_dropped"] + s2.counters()["loop_dropped"]
        assert dropped > 0
        assert w.loop_guard.dropped == dropped
        reports = [f for f in w.faults if f.register == "loop"]
        assert reports and "forwarding loop" in reports[0].message
        assert "no STP" in reports[0].message
        assert len(reports) <= 2  # once per switch, the rest counted
        # Each looping copy crossed at most max_hops bridges before it died: the work is
        # bounded by what the hosts sent (b answered every looping copy of a's ARP request).
        sent = a.eth0.port.tx_frames + b.eth0.port.tx_frames
        forwarded = sum(s.counters()["flooded"] + s.counters()["forwarded"] for s in (s1, s2))
        assert sent < forwarded <= sent * 2 * w.loop_guard.max_hops


def test_loop_guard_counts_exactly_on_a_bare_loop():
    with World() as w:
        w.loop_guard.max_hops = 4
        s1 = w.switch("s1", ports=3)
        s2 = w.switch("s2", ports=3)
        n = Nic(w, "n")
        w.cable(n, s1.port(0))
        w.cable(s1.port(1), s2.port(1))
        w.cable(s1.port(2), s2.port(2))
        n.send(eth(BCAST, mac(1)))
        w.run_for("1ms")
        # Two copies circle, one each way; each dies at its 5th bridge: 2 drops.
        assert w.loop_guard.dropped == 2
        assert s1.counters()["loop_dropped"] + s2.counters()["loop_dropped"] == 2
        assert len(n.got) == 2  # s1 sent each copy back to n once, at hop 3
        assert s1.counters()["flooded"] + s2.counters()["flooded"] == 1 + 2 * 3


def test_loop_guard_in_strict_mode_raises():
    with World(strict=True) as w:
        h = w.hub("h0", ports=3)
        n = Nic(w, "n")
        w.cable(n, h.port(0))
        w.cable(h.port(1), h.port(2))  # a hub cabled to itself
        n.send(eth(BCAST, mac(1)))
        with pytest.raises(DeviceFaultError, match="forwarding loop"):
            w.run_for("1ms")


def test_loop_guard_records():
    with World() as w:
        guard = LoopGuard(w.sched, max_hops=3, max_copies=3, period_ns=1000)
        frames = [bytes([i]) * 60 for i in range(4)]
        fam = Family()
        assert guard.onward(frames[0], 5, fam)
        w.run_for(1000)
        assert guard.onward(frames[1], 1, fam)  # a new generation
        assert guard.onward(frames[2], 2, fam)
        assert not guard.onward(frames[3], 2, fam)  # the family's fourth copy: refused
        assert fam.copies == 4
        assert guard.peek(frames[0]) == 5 and guard.peek(frames[2]) == 2
        w.run_for(1000)
        assert guard.onward(frames[3], 3, Family())
        assert guard.peek(frames[0]) == 0  # lost on a cable: forgotten after two periods
        assert guard.peek(bytes(bytearray(frames[3]))) == 0  # an equal frame is another one
        assert guard.take(frames[3])[0] == 3
        assert guard.take(frames[3]) == (0, None) and len(guard) == 2
        assert guard.take(frames[1]) == (1, fam)
        for bad in ({"max_hops": 0}, {"max_copies": True}):
            with pytest.raises(ValueError):
                LoopGuard(w.sched, **bad)


def test_loop_guard_stops_a_multiplying_storm():
    with World() as w:
        s1, s2 = w.switch("s1", ports=5), w.switch("s2", ports=5)
        n = Nic(w, "n")
        w.cable(n, s1.port(0))
        for i in (1, 2, 3, 4):  # four parallel cables: each flood triples the copies
            w.cable(s1.port(i), s2.port(i))
        n.send(eth(BCAST, mac(1)))
        w.run_for("10ms")
        assert all(lane.in_flight == 0 for cable in w.cables for lane in cable.lanes())
        between = sum(s.port(i).counters()["tx_packets"] for s in (s1, s2) for i in (1, 2, 3, 4))
        assert between == w.loop_guard.max_copies == 1024
        assert w.loop_guard.dropped > 0
        assert w.faults and {f.device for f in w.faults} <= {"s1", "s2"}
        assert any("1024 copies" in f.message for f in w.faults)


def test_loop_guard_keeps_only_frames_between_bridges(three):
    w, sw, (a, b, _c) = three
    assert a.ping("10.0.0.2", count=3).received == 3
    assert len(w.loop_guard) == 0  # host to host through one switch: nothing to remember
    with World(seed=1) as w2:
        s1, s2 = w2.switch("s1", ports=2), w2.switch("s2", ports=2)
        x, y = w2.host("x", "10.0.0.1/24"), w2.host("y", "10.0.0.2/24")
        w2.cable(x.eth0, s1.port(0))
        w2.cable(s1.port(1), s2.port(1), latency="20us")
        w2.cable(s2.port(0), y.eth0)
        assert s1.port(1).to_bridge and not s1.port(0).to_bridge
        assert x.ping("10.0.0.2", count=3).received == 3
        assert len(w2.loop_guard) == 0  # each was forgotten when it left the bridges
        assert w2.loop_guard.dropped == 0


# -- determinism and errors ------------------------------------------------------------------
def _run(path) -> bytes:
    with World(seed=11) as w:
        sw = w.switch("sw0", ports=4)
        a, b, c = (w.host(n, f"10.0.0.{i + 1}/24") for i, n in enumerate("abc"))
        w.cable(a.eth0, sw.port(0), pcap=str(path), loss=0.1, jitter="3us", delay="2us")
        w.cable(b.eth0, sw.port(1))
        w.cable(c.eth0, sw.port(2))
        a.ping("10.0.0.2", count=5, timeout="2s")
        c.ping("10.0.0.1", count=5, timeout="2s")
    return path.read_bytes()


def test_same_seed_same_pcap_bytes(tmp_path):
    first = _run(tmp_path / "one.pcap")
    assert len(first) > 24 + 10 * 60
    assert _run(tmp_path / "two.pcap") == first


def test_building_errors():
    with World() as w:
        sw = w.switch("sw0", ports=2)
        with pytest.raises(ValueError, match="exists already"):
            w.hub("sw0")
        with pytest.raises(ValueError, match="exists already"):
            w.host("sw0")
        with pytest.raises(ValueError, match="ports must be an int from 1 to 1024"):
            w.switch("sw1", ports=0)
        with pytest.raises(ValueError, match="ports must be"):
            w.hub("h1", ports="4")
        with pytest.raises(ValueError, match="ageing"):
            w.switch("sw2", ageing=-1)
        with pytest.raises(TypeError, match=r"pass one of its ports, sw0.port\(i\)"):
            w.cable(sw, sw.port(1))
        w.cable(sw.port(0), sw.port(1), wait=False)
        with pytest.raises(RuntimeError, match="already connected"):
            w.cable(Port(w.sched, "x"), sw.port(0))
        with pytest.raises(ValueError, match="not a MAC"):
            sw.fdb_add("02:00:00", 0)
        with pytest.raises(ValueError, match="no VLAN filtering"):
            sw.fdb_add("02:00:00:00:00:01", 0, vlan=5)
        assert set(w.switches) == {"sw0"} and w.hubs == {}
        assert parse_mac("02-00-00-00-00-0a") == b"\x02\0\0\0\0\x0a"
        assert isinstance(FdbEntry("m", "port0", 0, None, False, "sw0", 0), tuple)


def test_readme_switch_example_runs(capsys):
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("### Switches", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["02:00:00:00:01:00 dev port0 master sw0",
                       "02:00:00:00:02:00 dev port1 master sw0", "1"]
