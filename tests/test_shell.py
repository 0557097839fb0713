"""``ixsim shell`` views, driven in script mode and checked against what the device holds."""

from __future__ import annotations

import io
import re

import pytest

from device.pcap import read_pcap
from device.spec import regs as R
from ixsim.shell import Shell, build_world
from ixsim.shell.target import resolve_nic


class Dbg:
    """One world and one shell over it; ``run`` returns (exit status, stdout, stderr)."""

    def __init__(self, scenario: str = "b2b", after: str = "10ms") -> None:
        self.world = build_world(scenario, seed=1, after=after)
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.shell = Shell(self.world, stdout=self.out, stderr=self.err)

    def run(self, *commands: str) -> tuple[int, str, str]:
        start_out, start_err = self.out.tell(), self.err.tell()
        rc = self.shell.run_script(commands)
        return rc, self.out.getvalue()[start_out:], self.err.getvalue()[start_err:]

    def ok(self, *commands: str) -> str:
        rc, out, err = self.run(*commands)
        assert rc == 0 and not err, err
        return out

    def peek(self, host: str, reg: str) -> int:
        return resolve_nic(self.world, host).nic.peek(R.lookup(reg).offset)

    def close(self) -> None:
        self.shell.session.close()
        self.world.close()


@pytest.fixture
def dbg():
    d = Dbg()
    yield d
    d.close()


def test_regs_detail_values_are_the_device_values(dbg):
    out = dbg.ok("regs a STATUS TDT RDT IMS RCTL")
    for name in ("STATUS", "TDT", "RDT", "IMS", "RCTL"):
        m = re.search(rf"^a eth0 {name} @0x[0-9a-f]+ = 0x([0-9a-f]{{8}})", out, re.M)
        assert m, name
        assert int(m.group(1), 16) == dbg.peek("a", name)
    assert re.search(r"^\s+LU\s+\[1\]\s+1\s+link up$", out, re.M)


def test_regs_dump_is_in_ethtool_order_with_device_values(dbg):
    out = dbg.ok("regs b")
    rows = re.findall(r"^  ([A-Z0-9]+)\s+0x([0-9a-f]{5})\s+0x([0-9a-f]{8})", out, re.M)
    assert [name for name, _o, _v in rows] == list(R.ETHTOOL_DUMP_ORDER)
    for name, offset, value in rows:
        assert int(offset, 16) == R.BY_NAME[name].offset
        assert int(value, 16) == dbg.peek("b", name), name


def test_regs_globs_and_offsets(dbg):
    out = dbg.ok("regs a RAL0 0x620 'RAH1*'")
    assert "a eth0 RAL0 " in out and "a eth0 TDT " in out and "a eth0 RAH1 " in out
    assert "a eth0 RAH10 " in out and "RAH2 " not in out


def test_regs_peek_keeps_icr_and_counters_but_read_clears_them(dbg):
    dbg.ok("send a eth0 count=3", "run 1ms")
    gprc = dbg.peek("b", "GPRCL")
    assert gprc >= 3  # the driver has not read the counters yet (its watchdog runs at 2 s)
    dbg.ok("write b IMC 0xffffffff", "write b ICS 0x1")  # a cause nobody takes
    assert dbg.peek("b", "ICR") & R.INT_TXDW
    out = dbg.ok("regs b ICR GPRCL", "regs b")
    assert "b eth0 ICR @0x00080 = 0x00000001" in out
    assert f"b eth0 GPRCL @0x02008 = 0x{gprc:08x}" in out
    assert dbg.peek("b", "ICR") & R.INT_TXDW and dbg.peek("b", "GPRCL") == gprc

    out = dbg.ok("read b ICR")
    assert "b eth0 ICR -> 0x00000001 [TXDW]  (real MMIO read: ICR is now clear" in out
    assert dbg.peek("b", "ICR") == 0
    out = dbg.ok("read b GPRCL")
    assert "low half: no side effect" in out and dbg.peek("b", "GPRCL") == gprc
    out = dbg.ok("read b GPRCH")
    assert "the counter is now clear" in out and dbg.peek("b", "GPRCL") == 0


def test_write_is_a_real_mmio_write_and_faults_are_shown(dbg):
    out = dbg.ok("write a RDTR 0x10")
    assert "a eth0 RDTR <- 0x00000010 (real MMIO write; was 0x00000048, now 0x00000010" in out
    assert dbg.peek("a", "RDTR") == 0x10
    out = dbg.ok("write a TDT 0x400")
    assert "FAULT [0.010000000] a:nic0: TDT=0x400: TDT beyond the ring" in out
    assert "TDT=0x400" in dbg.ok("faults")


def test_ring_markers_and_ownership_follow_the_registers(dbg):
    first = dbg.peek("a", "TDT")  # whatever the boot sent before
    # BQL would hold the second frame in the qdisc (the stalled unit completes nothing).
    dbg.ok("bql a limit_min 10000", "inject a tx-stall", "send a eth0 count=2")
    head, tail = dbg.peek("a", "TDH"), dbg.peek("a", "TDT")
    assert (head, tail) == (first, first + 2)
    adapter = resolve_nic(dbg.world, "a").adapter
    out = dbg.ok(f"ring a tx {first}:{first + 3}")
    assert (f"HEAD=TDH={head} TAIL=TDT={tail} NTU=next_to_use={adapter.tx_ring.next_to_use} "
            f"NTC=next_to_clean={adapter.tx_ring.next_to_clean}; hardware owns 2") in out
    rows = {int(i) - first: (owner, markers.split()) for i, owner, markers in re.findall(
        r"^  (\d+)\s+(HW|SW)\s+((?:(?:HEAD|TAIL|NTU|NTC) )*)", out, re.M)}
    assert rows[0] == ("HW", ["HEAD", "NTC"])
    assert rows[1] == ("HW", [])
    assert rows[2] == ("SW", ["TAIL", "NTU"])
    assert rows[3] == ("SW", [])
    assert "data addr=0x" in out and "len=60 cmd=EOP|RS" in out


def test_ring_rx_default_view_folds_quiet_slots(dbg):
    out = dbg.ok("ring b rx")
    head, tail = dbg.peek("b", "RDH"), dbg.peek("b", "RDT")
    assert f"HEAD=RDH={head} TAIL=RDT={tail}" in out
    assert re.search(r"^  \d+\.\.\d+\s+HW\s+\d+ quiet slots", out, re.M)
    assert len(out.splitlines()) < 20


def test_mem_and_dma_show_the_tx_ring(dbg):
    base = dbg.peek("a", "TDBAL") | dbg.peek("a", "TDBAH") << 32
    out = dbg.ok(f"mem a {base:#x} 16", "dma a")
    raw = bytes(dbg.world.hosts["a"].machine.mem.read(base, 16))
    assert f"0x{base:08x}  " + " ".join(f"{b:02x}" for b in raw[:8]) in out
    assert re.search(rf"^  0x{base:x}\s+4096\s+bidi\s+1\s+eth0 TX descriptor ring$", out, re.M)
    assert re.search(r"\d+ x eth0 RX buffer \[0\.\.\d+\]", out)


def test_eeprom_decodes_with_symbols_and_checksum(dbg):
    out = dbg.ok("eeprom b")
    assert re.search(r"0x00-0x02\s+mac\s+@0x00\+6\s+02:00:00:00:02:00", out)
    assert "checksum: good (words sum to 0xbaba)" in out
    out = dbg.ok("inject b eeprom-corruption", "eeprom b")
    assert "EEPROM word 0x3e 0x0000 -> 0xffff; checksum now BAD" in out
    assert "checksum: BAD" in out and "probe would refuse it" in out


def test_stats_are_the_drivers_ethtool_stats(dbg):
    dbg.ok("send a eth0 count=5 len=100", "run 1ms")
    netdev = resolve_nic(dbg.world, "b").netdev
    out = dbg.ok("stats b")
    names = netdev.ethtool_ops.get_strings(netdev, 1)
    found = dict(re.findall(r"^  ([a-z_]+)\s+(\d+)$", out, re.M))
    assert list(found) == names
    assert int(found["rx_packets"]) >= 5 and int(found["rx_bytes"]) >= 5 * 104


def test_hosts_ifaces_timers_dmesg(dbg):
    out = dbg.ok("hosts", "ifaces a", "timers", "dmesg a 2")
    assert re.search(r"^a\s+1\s+eth0 UP\s+eth0 10\.0\.0\.1/24", out, re.M)
    assert "link/ether 02:00:00:00:01:00 brd ff:ff:ff:ff:ff:ff" in out
    assert "<UP,BROADCAST,RUNNING,MULTICAST,LOWER_UP> mtu 1500 state UP" in out
    assert re.search(r"^a\s+kernel timer\s+eth0 ixgb_watchdog\s+2\.004000 s", out, re.M)
    assert "NIC Link is Up 10 Gbps Full Duplex" in out


def test_nic_timers_are_listed(dbg):
    dbg.ok("send a eth0", "step")
    out = dbg.ok("timers a")
    assert re.search(r"^a\s+device eth0\s+TIDV: TX interrupt delay \(TXDW\)", out, re.M)


def test_help_lists_every_command_with_a_summary_and_usage(dbg):
    out = dbg.ok("help")
    names = re.findall(r"^  (\S+)\s+\S", out, re.M)
    assert {"regs", "read", "write", "ring", "mem", "dma", "eeprom", "stats", "faults",
            "hosts", "ifaces", "routes", "neigh", "sockets", "timers", "trace", "break",
            "delete", "breakpoints", "step", "run", "continue", "ping", "send", "tcp",
            "udp", "link", "cable", "inject", "pcap"} <= set(names)
    for name in names:
        text = dbg.ok(f"help {name}")
        assert "usage:" in text, name


def test_link_down_and_up(dbg):
    out = dbg.ok("link a down")
    assert "unplugged: link down on both ends" in out
    assert not dbg.peek("a", "STATUS") & R.STATUS_LU and not dbg.peek("b", "STATUS") & R.STATUS_LU
    dbg.ok("link b up")
    assert dbg.peek("a", "STATUS") & R.STATUS_LU


def test_cable_impairment_and_pcap(dbg, tmp_path):
    path = tmp_path / "ab.pcap"
    out = dbg.ok(f"pcap start {path}", "send a eth0 count=3", "run 1ms", "cable 0 loss 1",
                 "send a eth0 count=2", "run 1ms", "cable", "pcap stop")
    assert "cable 0: loss set to 1 (both directions)" in out
    assert re.search(r"^0: .* Loss\(p=1\.0\); frames 5\+0, delivered 3\+0, lost 2$", out, re.M) \
        or "lost 2" in out
    assert f"wrote 3 frames to {path}" in out
    assert len(read_pcap(str(path))) == 3


def test_send_hex_and_spec(dbg):
    frame = "ffffffffffff" + "020000000100" + "88b5" + "00" * 46
    out = dbg.ok(f"send a eth0 {frame}", "send a eth0 dst=02:00:00:00:02:00 type=0x88b6 len=80")
    assert "ethertype Unknown (0x88b5), length 60" in out
    assert "02:00:00:00:01:00 > 02:00:00:00:02:00" in out


def test_stack_commands_work_or_say_they_are_not_attached(dbg):
    a = dbg.world.hosts["a"]
    for command in ("ping a b", "routes a", "neigh a", "sockets a", "tcp a b 1000",
                    "udp a b 1000"):
        rc, out, err = dbg.run(command)
        if getattr(a, "net", None) is None:
            assert rc == 2
            assert err == "error: not available yet: the IPv4 stack is not attached to " \
                          "this host\n"
        elif command.startswith("tcp") and a.net.tcp is None:
            assert err == "error: not available yet: TCP is not attached to this host's " \
                          "stack (net.tcp)\n"
        else:
            assert rc == 0, (command, err)
    if getattr(a, "ping", None) is not None:
        assert "received 1" in dbg.ok("ping a b") or "received" in dbg.ok("ping a b")


def test_cli_c_mode_prints_what_the_device_holds(capsys):
    from ixsim.cli import main

    assert main(["shell", "--seed", "3", "-c", "regs a RDT RDH RCTL; regs b IMS"]) == 0
    out = capsys.readouterr().out
    world = build_world("b2b", seed=3)  # the same world, deterministically
    for host, name in (("a", "RDT"), ("a", "RDH"), ("a", "RCTL"), ("b", "IMS")):
        value = resolve_nic(world, host).nic.peek(R.lookup(name).offset)
        assert f"{host} eth0 {name} @0x{R.lookup(name).offset:05x} = 0x{value:08x}" in out
    world.close()


def test_sysctl_reads_sets_and_lists_by_linux_name(dbg):
    out = dbg.ok("sysctl a net.ipv4.tcp_sack=0 net.core.netdev_budget")
    assert out.splitlines()[1:] == ["net.ipv4.tcp_sack = 0", "net.core.netdev_budget = 300"]
    assert dbg.world.hosts["a"].net.sysctl.tcp_sack is False
    listing = dbg.ok("sysctl b").splitlines()[1:]  # after the echoed command
    assert "net.ipv4.tcp_rmem = 4096\t131072\t6291456" in listing
    assert "net.core.netdev_budget = 300" in listing and listing == sorted(listing)
    rc, out, err = dbg.run("sysctl a net.ipv4.tcp_mtu_probing=1")
    assert rc != 0 and err.strip().endswith("No such file or directory")
    rc, out, err = dbg.run("sysctl a net.ipv4.tcp_sack=maybe")
    assert rc != 0 and "Invalid argument" in err and len(err.strip().splitlines()) == 1


def test_tc_shows_and_replaces_qdiscs(dbg):
    out = dbg.ok("tc a eth0").splitlines()[1:]
    assert out[0] == ("qdisc pfifo_fast 0: dev eth0 root refcnt 2 bands 3 priomap "
                      "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1")
    assert out[1].startswith(" Sent ") and out[2].startswith(" backlog ")
    out = dbg.ok("tc a eth0 fq_codel target 2ms interval 40ms noecn").splitlines()[1:]
    assert out[0] == ("qdisc fq_codel 0: dev eth0 root refcnt 2 limit 10240p flows 1024 "
                      "quantum 1514 target 2ms interval 40ms memory_limit 32Mb drop_batch 64")
    assert dbg.world.hosts["a"].eth0.qdisc.kind == "fq_codel"
    rc, _out, err = dbg.run("tc a eth0 cake")
    assert rc != 0 and "unknown" in err and len(err.strip().splitlines()) == 1
    rc, _out, err = dbg.run("tc a eth0 fq_codel target soon")
    assert rc != 0 and "not a time" in err


def test_bql_shows_and_sets_byte_queue_limits(dbg):
    out = dbg.ok("bql a").splitlines()[1:]
    assert out[0].endswith("tx-0 byte_queue_limits")
    assert [line.split()[0] for line in out[1:]] == ["hold_time", "inflight", "limit",
                                                     "limit_max", "limit_min"]
    assert out[1].split()[1] == "1000"  # ms, HZ
    out = dbg.ok("bql a limit_max 30000 limit_min 3000").splitlines()[1:]
    values = dict(line.split() for line in out[1:])
    assert values["limit_max"] == "30000" and values["limit_min"] == "3000"
    assert 3000 <= int(values["limit"]) <= 30000
    rc, _out, err = dbg.run("bql a limit 5")
    assert rc != 0 and "read-only" in err
    rc, _out, err = dbg.run("bql a burst 5")
    assert rc != 0 and "unknown attribute" in err


def test_ping_takes_an_ipv6_address_and_uses_icmpv6():
    from ixsim import World

    with World(seed=5) as w:
        a = w.host("a", "10.0.0.1/24", "fd00::1/64")
        b = w.host("b", "10.0.0.2/24", "fd00::2/64")
        w.cable(a.eth0, b.eth0)
        w.run_for("3s")  # DAD is over
        before = b.net.mib.icmp6["Icmp6InEchos"]
        out, err = io.StringIO(), io.StringIO()
        shell = Shell(w, stdout=out, stderr=err)
        assert shell.run_script(["ping a fd00::2 2"]) == 0, err.getvalue()
        assert "2 received" in out.getvalue(), out.getvalue()
        assert b.net.mib.icmp6["Icmp6InEchos"] - before == 2
        shell.session.close()
