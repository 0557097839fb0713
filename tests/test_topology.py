"""Topology files (``World.load``, ``ixsim.topology``): the examples build and carry traffic,
every option reaches the world, and every mistake names the file, the line and the key."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from helpers.tap import names

from device.backends.tap import TUN_PATH
from ixsim import World
from ixsim.cli import main
from ixsim.topology import TopologyError, parse
from stack.core import IF_OPER_UP

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "topologies"


def write(tmp_path: Path, text: str, name: str = "net.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def load_error(tmp_path: Path, text: str, **kw) -> TopologyError:
    path = write(tmp_path, text)
    with pytest.raises(TopologyError) as info:
        World.load(path, **kw).close()
    return info.value


def mac(host) -> bytes:
    return bytes(host.eth0.dev_addr)


# -- the examples ---------------------------------------------------------------------------
def test_two_hosts_example_pings_and_takes_the_files_seed():
    with World.load(EXAMPLES / "two-hosts.toml") as w:
        assert w.seed == 1
        a, b = w.hosts["a"], w.hosts["b"]
        assert a.eth0.operstate == IF_OPER_UP and b.eth0.operstate == IF_OPER_UP
        result = a.ping("10.0.0.2", count=3)
        assert result.received == 3
        assert min(result.rtts) >= 100_000  # 50 us each way on the cable
    with World.load(EXAMPLES / "two-hosts.toml", seed=9) as w:
        assert w.seed == 9


def test_router_example_forwards_between_subnets():
    with World.load(EXAMPLES / "router.toml") as w:
        a, r, b = w.hosts["a"], w.hosts["r"], w.hosts["b"]
        assert len(r.nics) == 2 and r.net.sysctl.ip_forward
        assert a.ping("10.0.1.1", count=2).received == 2
        assert r.net.mib.ip["ForwDatagrams"] >= 4  # requests and replies crossed r
        assert r.net.mib.ip["InDelivers"] == 0
        assert b.ping("10.0.0.1").received == 1
        assert [c.rate_bps for c in w.cables] == [10_000_000_000, 1_000_000_000]
        assert [c.latency_ns for c in w.cables] == [20_000, 20_000]


def test_router6_example_forwards_ipv6_and_ipv4():
    with World.load(EXAMPLES / "router6.toml") as w:
        a, r, b = w.hosts["a"], w.hosts["r"], w.hosts["b"]
        assert r.net.sysctl.ipv6_conf_all.forwarding == 1
        w.run_for("3s")  # DAD: the addresses become usable
        res = a.ping("fd01::1", count=2)
        assert res.received == 2 and res.replies[0].ttl == 63  # one hop through r
        assert r.net.mib.ip6["Ip6OutForwDatagrams"] >= 4
        assert b.ping("fd00::1").received == 1
        assert a.ping("10.0.1.1").received == 1
        assert "default via fd00::fe dev eth0 metric 1024" in a.net.ip6_route()


def test_switch4_example_every_pair_talks_and_the_switch_learns():
    with World.load(EXAMPLES / "switch4.toml") as w:
        hosts = [w.hosts[n] for n in "abcd"]
        for i, src in enumerate(hosts):
            for j in range(4):
                if i != j:
                    assert src.ping(f"10.0.0.{j + 1}").received == 1, (i, j)
        sw = w.switches["sw0"]
        fdb = sw.fdb()
        for index, host in enumerate(hosts):
            entry = fdb.lookup(mac(host))
            assert entry is not None and entry.port == index, (host, fdb)


def test_vlans_example_keeps_the_two_vlans_apart():
    with World.load(EXAMPLES / "vlans.toml") as w:
        a, b, c, d = (w.hosts[n] for n in "abcd")
        assert a.ping("10.0.0.2").received == 1
        assert c.ping("10.0.0.4").received == 1
        assert a.ping("10.0.0.3", timeout="200ms").received == 0
        assert d.ping("10.0.0.1", timeout="200ms").received == 0
        sw = w.switches["sw0"]
        assert sw.vlan_filtering
        assert sw.port(4).trunk == [10, 20]
        # c never heard a's ARP request: the broadcast stayed in VLAN 10.
        assert c.net.arp.lookup(bytes([10, 0, 0, 1]), c.eth0) is None
        assert b.net.arp.lookup(bytes([10, 0, 0, 1]), b.eth0) is not None


def test_every_example_parses():
    found = sorted(p.name for p in EXAMPLES.glob("*.toml"))
    assert found == ["router.toml", "router6.toml", "switch4.toml", "two-hosts.toml",
                     "vlans.toml"]


# -- options reach the world ----------------------------------------------------------------
def test_host_options_mtu_sysctls_driver_and_routes(tmp_path):
    path = write(tmp_path, """
        [hosts.a]
        addresses = ["10.0.0.1/24"]
        mtu = 9000
        driver = "driver.ixgb"
        driver_params = { RxDescriptors = 256 }
        routes = [{ dst = "192.168.0.0/16", via = "10.0.0.2", metric = 5 },
                  { dst = "172.16.0.0/12", dev = "eth0" }]
        [hosts.a.sysctls]
        "net.ipv4.tcp_sack" = 0
        net.ipv4.tcp_rmem = "4096 65536 1048576"
        net.core.somaxconn = 128

        [hosts.b]
        addresses = { eth0 = ["10.0.0.2/24", "10.0.0.3/24"] }
        mtu = 9000

        [hosts.c]
        driver = false

        [[cables]]
        ends = ["a.eth0", "b.eth0"]
    """)
    with World.load(path) as w:
        a, b, c = w.hosts["a"], w.hosts["b"], w.hosts["c"]
        assert a.eth0.mtu == 9000 and b.eth0.mtu == 9000
        assert a.net.sysctl.tcp_sack is False
        assert a.net.sysctl.tcp_rmem == (4096, 65536, 1048576)
        assert a.net.sysctl.somaxconn == 128
        assert a.eth0.priv.rx_ring.count == 256
        assert a.net.route("192.168.1.1").gateway == bytes([10, 0, 0, 2])
        assert a.net.route("172.16.0.9").gateway in (None, bytes(4))
        assert [cidr for _, cidr in b.addresses] == ["10.0.0.2/24", "10.0.0.3/24"]
        assert a.ping("10.0.0.3").received == 1
        assert a.ping("10.0.0.2", size=8000).received == 1  # jumbo frames both ways
        assert c.interfaces == {} and len(c.nics) == 1 and c.driver is None


def test_nics_are_inferred_from_the_names_used(tmp_path):
    path = write(tmp_path, """
        [hosts.r]
        [hosts.x]
        [[cables]]
        ends = ["r.eth2", "x.eth0"]
    """)
    with World.load(path) as w:
        assert len(w.hosts["r"].nics) == 3 and len(w.hosts["x"].nics) == 1
        assert w.hosts["r"].eth2.operstate == IF_OPER_UP


def test_cable_impairments_and_pcap(tmp_path):
    path = write(tmp_path, """
        [world]
        seed = 4
        [hosts.a]
        addresses = ["10.0.0.1/24"]
        [hosts.b]
        addresses = ["10.0.0.2/24"]
        [[cables]]
        ends = ["a.eth0", "b.eth0"]
        latency = "1ms"
        rate = "100M"
        loss = 0.2
        pcap = "ab.pcap"
    """)
    with World.load(path) as w:
        result = w.hosts["a"].ping("10.0.0.2", count=20, interval="100ms", timeout="500ms")
        assert 0 < result.received < 20
        assert min(result.rtts) >= 2_000_000
        dropped = sum(lane.dropped_loss for lane in w.cables[0].lanes())
        assert dropped > 0
    pcap = tmp_path / "ab.pcap"  # relative to the topology file
    assert pcap.exists() and pcap.stat().st_size > 24 + 10 * (16 + 60)


def test_switch_port_vlans_trunk_and_hub(tmp_path):
    path = write(tmp_path, """
        [hosts.a]
        addresses = ["10.0.0.1/24"]
        [hosts.b]
        addresses = ["10.0.0.2/24"]
        [hosts.c]
        addresses = ["10.0.0.3/24"]
        [switches.core]
        ports = 3
        vlan_filtering = true
        ageing = "10s"
        port.0.vlan = 7
        port.1 = { trunk = [7], vlan = 9 }
        [switches.edge]
        ports = 2
        vlan_filtering = true
        port.0 = { trunk = [7] }
        port.1.vlan = 7
        [hubs.h]
        [[cables]]
        ends = ["a.eth0", "core.port0"]
        [[cables]]
        ends = ["core.port1", "edge.port0"]
        [[cables]]
        ends = ["edge.port1", "h.port0"]
        [[cables]]
        ends = ["h.port3", "b.eth0"]
        [[cables]]
        ends = ["c.eth0", "core.port2"]
    """)
    with World.load(path) as w:
        core, edge, hub = w.switches["core"], w.switches["edge"], w.hubs["h"]
        assert core.ageing_ns == 10_000_000_000 and len(hub.ports) == 4
        assert w.hosts["a"].ping("10.0.0.2").received == 1  # VLAN 7 tagged across the trunk
        assert w.hosts["a"].ping("10.0.0.3", timeout="100ms").received == 0  # c in VLAN 1
        assert hub.counters()["rx_packets"] > 0
        assert edge.fdb().lookup(mac(w.hosts["a"]), 7).port == 0


def test_load_rolls_back_on_error(tmp_path):
    err = load_error(tmp_path, """
        [hosts.a]
        addresses = ["10.0.0.1/24"]
        routes = [{ dst = "0.0.0.0/0", via = "10.9.9.9" }]
    """)
    assert str(err).startswith(f"{tmp_path / 'net.toml'}:3: hosts.a.routes[0]: ")
    assert "not on-link" in str(err) or "unreachable" in str(err)


# -- errors: file, line, key ----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("""
     [hosts.a]
     adresses = ["10.0.0.1/24"]
     """, "net.toml:2: hosts.a.adresses: unknown key (did you mean 'addresses'?)"),
    ("""
     [hosts.a]
     addresses = ["10.0.0.1/24", "fd00::1"]
     """, "net.toml:2: hosts.a.addresses[1]: fd00::1: give the prefix length, e.g. fd00::1/64"),
    ("""
     [hosts.a]
     addresses = ["fd00::g/64"]
     """, "net.toml:2: hosts.a.addresses[0]: not an IPv4 or IPv6 address/prefix"),
    ("""
     [hosts.a]
     [[cables]]
     ends = ["a.eth0", "b.eth0"]
     """, "net.toml:3: cables[0].ends: 'b.eth0': no host, switch or hub named 'b'"),
    ("""
     [hosts.a]
     [hosts.b]
     [[cables]]
     ends = ["a.eth0", "b.eth0"]
     [[cables]]
     ends = ["a.eth0", "b.eth1"]
     """, "net.toml:6: cables[1].ends: a.eth0 is already plugged in (cables[0].ends)"),
    ("""
     [hosts.a]
     nics = 1
     [hosts.b]
     [[cables]]
     ends = ["a.eth1", "b.eth0"]
     """, "net.toml:5: cables[0].ends: host a has 1 NIC(s) (eth0..eth0); eth1 needs nics = 2"),
    ("""
     [switches.sw0]
     ports = 2
     [hosts.a]
     [[cables]]
     ends = ["a.eth0", "sw0.port2"]
     """, "net.toml:5: cables[0].ends: 'sw0.port2': switch sw0 has ports port0..port1"),
    ("""
     [hosts.a]
     [hosts.b]

     [[cables]]
     ends = ["a.eth0", "b.eth0"]
     duplicate = 0.1
     """, "net.toml:6: cables[0].duplicate: unknown key (did you mean 'dup'?)"),
    ("""
     [hosts.a]
     [hosts.b]
     [[cables]]
     ends = ["a.eth0", "b.eth0"]
     latency = "5 parsecs"
     """, "net.toml:5: cables[0].latency: not a duration: '5 parsecs'"),
    ("""
     [hosts.a]
     [hosts.b]
     [[cables]]
     ends = ["a.eth0", "b.eth0"]
     loss = 5
     """, "net.toml:5: cables[0].loss: 5 is not a probability"),
    ("""
     [hosts.a]
     nics = "two"
     """, "net.toml:2: hosts.a.nics: expected an integer, got a string"),
    ("""
     [hosts.a]
     addresses = ["10.0.0.1/24"]
     routes = [
       { dst = "0.0.0.0/0", vai = "10.0.0.254" },
     ]
     """, "net.toml:4: hosts.a.routes[0].vai: unknown key (did you mean 'via'?)"),
    ("""
     [hosts.a]
     addresses = ["10.0.0.1/24"]
     routes = [
       { dst = "::/0", via = "10.0.0.254" },
     ]
     """, "net.toml:4: hosts.a.routes[0].via: 10.0.0.254: an IPv4 gateway for an IPv6 "
          "destination (::/0)"),
    ("""
     [hosts.a]
     [hosts.a.sysctls]
     net.ipv4.tcp_sak = 0
     """, "net.toml:3: hosts.a.sysctls.net.ipv4.tcp_sak: unknown sysctl 'net.ipv4.tcp_sak' "
          "(did you mean 'net.ipv4.tcp_sack'?)"),
    ("""
     [hosts.a]
     sysctls = { "net.ipv4.ip_forward" = 2 }
     """, "net.toml:2: hosts.a.sysctls.\"net.ipv4.ip_forward\": expected 0, 1, true or false"),
    ("""
     [switches.sw0]
     ports = 4
     [switches.sw0.port.2]
     vlan = 10
     """, "net.toml:3: switches.sw0.port.2: VLANs on switch sw0 need vlan_filtering = true"),
    ("""
     [switches.sw0]
     vlan_filtering = true
     port.1.vlan = 5000
     """, "net.toml:3: switches.sw0.port.1.vlan: 5000 is out of range (1..4094)"),
    ("""
     [hosts.a]
     [switches.a]
     """, "net.toml:2: switches.a: the name 'a' is taken already"),
    ("""
     [host.a]
     """, "net.toml:1: host: unknown key (did you mean 'hosts'?)"),
    ("""
     [hosts.a]
     nics = = 2
     """, "net.toml:2: not valid TOML: "),
    ("""
     [hosts.a]
     addresses = ["10.0.0.1/24"
     """, "net.toml:2: not valid TOML: Unclosed array"),
    ("""
     [hosts.a]
     driver = "driver.nosuch"
     """, "net.toml:2: hosts.a.driver: driver 'driver.nosuch': no such module"),
    ("""
     [hosts.a]
     driver = "os"
     """, "net.toml:2: hosts.a.driver: driver 'os' is not a driver: it lacks match, probe"),
    ("""
     [hosts.a]
     mtu = 20000
     """, "net.toml:2: hosts.a.mtu: eth0 refused MTU 20000"),
    ("""
     [hosts.a]
     stack = false
     addresses = ["10.0.0.1/24"]
     """, "net.toml:3: hosts.a.addresses: this host has no IP stack (stack = false)"),
    ("""
     [hosts.a]
     [[taps]]
     end = "a.eth0"
     ifname = "ixt0"
     """, "net.toml:2: taps[0]: a tap needs a real-time world"),
])
def test_errors_name_file_line_and_key(tmp_path, text, expected):
    realtime = False if "taps" in text else None
    err = load_error(tmp_path, text, realtime=realtime)
    message = str(err).replace(str(tmp_path) + os.sep, "")
    assert message.startswith(expected), message
    assert "\n" not in message


def test_error_attributes_and_parse_without_a_file():
    with pytest.raises(TopologyError) as info:
        parse("[hosts.a]\nnics = 0\n", "inline.toml")
    err = info.value
    assert (err.file, err.line, err.key) == ("inline.toml", 2, "hosts.a.nics")
    assert isinstance(err, ValueError)


def test_missing_file_is_a_topology_error(tmp_path):
    with pytest.raises(TopologyError, match=r"nope\.toml: cannot read: No such file"):
        World.load(tmp_path / "nope.toml")


def test_bad_tap_name_is_reported_at_its_table(tmp_path):
    err = load_error(tmp_path, """
        [hosts.a]
        [[taps]]
        end = "a.eth0"
        ifname = "bad/name"
    """, realtime=True)
    assert str(err).replace(str(tmp_path) + os.sep, "").startswith(
        "net.toml:2: taps[0]: not an interface name")


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists(TUN_PATH)
                    or shutil.which("ip") is None,
                    reason="a tap needs root, /dev/net/tun and ip(8)")
def test_tap_is_created_and_removed_with_the_world(tmp_path):
    _, ifname = names()
    path = write(tmp_path, f"""
        [hosts.a]
        addresses = ["10.78.0.2/24"]
        [[taps]]
        end = "a.eth0"
        ifname = "{ifname}"
        mtu = 1400
    """)
    w = World.load(path)
    try:
        assert w.sched.realtime
        shown = subprocess.run(["ip", "-o", "link", "show", ifname], capture_output=True,
                               text=True)
        assert shown.returncode == 0 and "mtu 1400" in shown.stdout
        assert w.hosts["a"].eth0.port.medium is not None
    finally:
        w.close()
    gone = subprocess.run(["ip", "link", "show", ifname], capture_output=True)
    assert gone.returncode != 0


# -- the command line -----------------------------------------------------------------------
def test_shell_and_stats_take_a_topology(capsys):
    topo = str(EXAMPLES / "switch4.toml")
    assert main(["shell", "--topology", topo, "-c", "ping a 10.0.0.4"]) == 0
    assert "1 received" in capsys.readouterr().out
    assert main(["stats", "--topology", str(EXAMPLES / "router.toml"), "--host", "r:eth1"]) == 0
    out = capsys.readouterr().out
    assert "r eth1 statistics" in out and "rx_packets" in out


def test_cli_topology_errors_are_one_line(tmp_path, capsys):
    bad = write(tmp_path, "[hosts.a]\nadresses = []\n")
    for verb in ("regs", "ring", "stats", "shell"):
        argv = [verb, "--topology", str(bad)] + (["-c", "regs a"] if verb == "shell" else [])
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith(f"ixsim: error: {bad}:2: hosts.a.adresses: unknown key"), err
    assert main(["regs", "--topology", str(bad), "--scenario", "b2b"]) == 2
    assert "not both" in capsys.readouterr().err


# -- the documentation's examples -----------------------------------------------------------
def _toml_block(doc: Path, after: str) -> str:
    section = doc.read_text().split(after, 1)[1]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


def test_readme_topology_example_runs(tmp_path, monkeypatch):
    text = _toml_block(ROOT / "README.md", "### Topology files")
    (tmp_path / "net.toml").write_text(text)
    monkeypatch.chdir(tmp_path)
    with World.load("net.toml", seed=7) as w:
        assert w.seed == 7
        assert w.hosts["a"].ping("10.0.0.2").received == 1
        assert w.hosts["a"].net.sysctl.tcp_sack is False


def test_docs_layout_example_is_valid_and_builds(tmp_path):
    text = _toml_block(ROOT / "docs" / "topology.md", "## Layout")
    topo = parse(text, "layout.toml", tmp_path)
    assert sorted(topo.hosts) == ["r"] and sorted(topo.bridges) == ["h0", "sw0"]
    assert len(topo.taps) == 1 and topo.realtime is None
    without_taps = text.split("[[taps]]", 1)[0]
    path = write(tmp_path, without_taps)
    with World.load(path) as w:
        r = w.hosts["r"]
        assert r.eth0.mtu == 9000 and r.net.sysctl.ip_forward
        assert [c for _, c in r.addresses] == ["10.0.0.254/24", "fd00::fe/64",
                                               "10.0.1.254/24", "10.0.2.254/24"]
        assert "default via fd00::1 dev eth0" in r.net.ip6_route()
        assert w.switches["sw0"].port(7).trunk == [10, 20]
    assert (tmp_path / "r-sw0.pcap").exists()
