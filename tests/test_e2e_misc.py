"""End-to-end over real ixgb NICs, driver and cables, on virtual time: ping RTT against the
cable and the NIC's interrupt moderation, A - R - B routing (TCP across, ICMP time exceeded
for TTL 1), pcaps that tcpdump reads, a BPF-filtered capture, IP fragmentation of a 9000-byte
UDP datagram, jumbo frames, and one host with two NICs cabled to two peers."""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from device.cable import wire_time_ns
from device.spec.timing import DELAY_UNIT_NS
from ixsim import netsim
from ixsim.world import World
from stack.core import dev_get_stats
from stack.core.ethtool_ioctl import ethtool_get_stats
from stack.uapi import IP_RECVERR
from stack.wire import Ipv4Packet

NS_PER_TICK = DELAY_UNIT_NS  # RDTR/TIDV unit, 0.8192 us (docs/hardware.md §1.6)


def rx_delay_ns(dev: Any) -> int:
    """The receive interrupt delay the driver programmed (RDTR; the Linux default is 72)."""
    return int(int(dev.device.regs["RDTR"]) * NS_PER_TICK)


# -- ping ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("latency_ns", [0, 50_000, 1_000_000])
def test_ping_rtt_is_two_latencies_two_frames_and_two_receive_interrupt_delays(latency_ns: int
                                                                              ) -> None:
    with netsim.pair(1, latency=latency_ns) as p:
        a, b = p.a, p.b
        first = a.ping("10.0.0.2", count=1)
        result = a.ping("10.0.0.2", count=4, interval="10ms", size=56)
        big = a.ping("10.0.0.2", count=2, interval="10ms", size=1472)
        regs = a.eth0.device.regs
        assert int(regs["RDTR"]) == 72 and int(regs["TIDV"]) == 32  # ixgb_param.c defaults
        assert int(regs["RDTR"]) == int(b.eth0.device.regs["RDTR"])
    # The request leaves at the TDT doorbell: TIDV only delays the TX-completion interrupt,
    # so it is not on the path.  Each receiver writes the frame back and raises RXT0 RDTR
    # (72 x 0.8192 us = 58.98 us) later; NAPI then hands it to the stack at once.
    # RTT = 2 x latency + 2 x serialization + 2 x RDTR, to the nanosecond.
    rdtr = rx_delay_ns(p.a.eth0)
    for res, payload in ((result, 56), (big, 1472)):
        frame = 14 + 20 + 8 + payload
        wire = int(wire_time_ns(frame, netsim.LINK_BPS))
        floor = 2 * latency_ns + 2 * wire
        expected = floor + 2 * rdtr
        assert res.received == res.transmitted and res.duplicates == 0
        for rtt in res.rtts:
            assert floor < rtt <= floor + 2 * rdtr + 2  # the bound: never more than two delays
            assert abs(rtt - expected) <= 2  # and in fact exactly two (sub-ns carry)
    # the first echo waited for ARP: one more round trip of the same shape
    arp = 14 + 28
    arp_rtt = 2 * latency_ns + 2 * int(wire_time_ns(arp, netsim.LINK_BPS)) + 2 * rdtr
    assert abs(first.rtts[0] - (arp_rtt + result.rtts[0])) <= 4 + 2 * wire


# -- A - R - B ------------------------------------------------------------------------------------
def routed(seed: int = 3) -> tuple[World, Any, Any, Any]:
    """a (10.0.1.1) - r (10.0.1.254 | 10.0.2.254, two ixgb NICs, forwarding) - b (10.0.2.1).

    The cables are ``w.cables[0]`` (a - r) and ``w.cables[1]`` (r - b).
    """
    w = World(seed=seed)
    a = w.host("a", "10.0.1.1/24")
    r = w.host("r", "10.0.1.254/24", "10.0.2.254/24", nics=2)
    b = w.host("b", "10.0.2.1/24")
    w.cable(a.eth0, r.eth0, latency="10us")
    w.cable(r.eth1, b.eth0, latency="10us")
    r.net.sysctl.ip_forward = True
    a.route("0.0.0.0/0", via="10.0.1.254")
    b.route("0.0.0.0/0", via="10.0.2.254")
    netsim.links_up(w, a.eth0, r.eth0, r.eth1, b.eth0)
    return w, a, r, b


def test_tcp_crosses_a_router_with_two_ixgb_nics() -> None:
    w, a, r, b = routed()
    with w:
        seen = b.capture("eth0", "tcp port 5001 and src host 10.0.1.1")
        ping = a.ping("10.0.2.1", count=2, interval="10ms")
        assert ping.received == 2 and {reply.ttl for reply in ping.replies} == {63}
        flow = netsim.transfer(w, a, b, "10.0.2.1", 4 << 20)
        assert flow.intact
        assert flow.counter("sender", "tcp.RetransSegs") == 0
        w.run_for("10ms")  # the last ACK of the close reaches b
        # everything a sent reached b through r and back: r forwards (GRO may merge what
        # arrives and GSO split it again: ForwDatagrams counts what it forwarded as one)
        ar, rb = w.cables
        assert r.net.mib.ip["ForwDatagrams"] > 0 and r.net.mib.ip["InDelivers"] == 0
        assert abs(ar.ab.frames - rb.ab.frames) <= 2  # ARP: a asks r, r asks b
        assert abs(rb.ba.frames - ar.ba.frames) <= 2
        assert rb.ab.frames > (4 << 20) // netsim.MSS
        assert seen.frames and all(Ipv4Packet(f.frame[14:]).ttl == 63 for f in seen.frames)
        # an idle echo crosses four links and waits out four receive interrupt delays
        rdtr = rx_delay_ns(r.eth0)
        frame = int(wire_time_ns(98, netsim.LINK_BPS))
        assert all(abs(rtt - 4 * (10_000 + rdtr + frame)) <= 4 for rtt in ping.rtts[1:])
        # under load frames often arrive while a receive interrupt is already pending
        assert 4 * 10 < flow.sender_info.min_rtt <= 4 * (10 + 59)
        assert not w.faults


def test_ttl_1_gets_icmp_time_exceeded_from_the_router() -> None:
    w, a, r, b = routed()
    with w:
        result = a.ping("10.0.2.1", ttl=1)
        assert result.received == 0 and result.errors == 1
        assert "From 10.0.1.254 icmp_seq=1 Time to live exceeded" in result.text()
        # a UDP socket with IP_TTL 1 (and IP_RECVERR, since time exceeded is a soft error)
        sock = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 1
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        sock.connect(("10.0.2.1", 33434))  # traceroute's first port
        w.run_for("1s")  # past the router's ICMP rate limit (one token per second to a)
        sock.send(b"traceroute probe")
        sock.settimeout(0.1)
        with pytest.raises(OSError) as err:
            sock.recv(100)
        assert err.value.errno == errno.EHOSTUNREACH
        sock.close()
        assert r.net.mib.icmp["OutTimeExcds"] == 2 and r.net.mib.icmpmsg["OutType11"] == 2
        assert r.net.mib.ip["InHdrErrors"] == 2 and r.net.mib.ip["ForwDatagrams"] == 0
        assert a.net.mib.icmp["InTimeExcds"] == 2
        assert b.net.mib.ip["InReceives"] == 0  # nothing reached b
        assert not w.faults


# -- pcap -----------------------------------------------------------------------------------------
def tcpdump(path: Path, *args: str) -> list[str]:
    """``tcpdump -r``'s lines (or tshark's); fails on any error or complaint."""
    tool = shutil.which("tcpdump")
    if tool:
        cmd = [tool, "-nn", "-r", str(path), *args]
    else:
        tool = shutil.which("tshark")
        if not tool:
            pytest.skip("neither tcpdump nor tshark is installed")
        if args:  # tcpdump's options and BPF filters are not tshark's
            pytest.skip("this check needs tcpdump (tshark reads the file, see above)")
        cmd = [tool, "-n", "-r", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    complaints = [line for line in done.stderr.splitlines() if not line.startswith("reading")]
    assert not complaints, complaints
    return done.stdout.splitlines()


def test_pcaps_of_a_two_host_run_read_back_with_every_frame(tmp_path: Path) -> None:
    wire_pcap, host_pcap = tmp_path / "cable.pcap", tmp_path / "a-eth0.pcap"
    with netsim.pair(1, latency="20us", pcap=str(wire_pcap)) as p:
        cap = p.a.capture("eth0", pcap=str(host_pcap))
        assert p.a.ping("10.0.0.2", count=3, interval="1ms").received == 3
        flow = netsim.transfer(p.world, p.a, p.b, "10.0.0.2", 1 << 20)
        p.world.run_for("10ms")  # the closing handshake settles
        cap.stop()
        lanes = p.cable.ab, p.cable.ba
        assert all(lane.in_flight == 0 for lane in lanes)
        delivered = sum(lane.delivered for lane in lanes)
    assert flow.intact
    # The cable's pcap holds exactly the frames both NICs were offered, in time order.
    wire = tcpdump(wire_pcap)
    assert len(wire) == delivered == sum(lane.frames for lane in lanes)
    assert sum(" ICMP echo request" in line for line in wire) == 3
    assert sum(" ICMP echo reply" in line for line in wire) == 3
    assert sum(line.split()[1] == "ARP," for line in wire) == 2
    stamps = [line.split()[0] for line in wire]
    assert stamps == sorted(stamps)
    # frames on the wire carry the checksums the NIC filled in: tcpdump checks them all
    verbose = tcpdump(wire_pcap, "-vv", "tcp")
    assert not [line for line in verbose if "incorrect" in line]
    assert sum("cksum" in line and "(correct)" in line for line in verbose) > 700
    assert len(tcpdump(wire_pcap, "tcp port 5001")) == len(wire) - 8  # all but ARP and ICMP
    # The host capture sees what a's stack sent and received, before TSO splits it.
    host = tcpdump(host_pcap)
    assert len(host) == cap.matched == cap.seen == len(cap.frames)
    outgoing = sum(1 for f in cap.frames if f.direction == "out")
    assert 0 < outgoing < p.cable.ab.frames  # TSO: fewer, larger frames above the driver
    assert max(len(f.frame) for f in cap.frames) > 1514


def test_capture_with_a_bpf_filter_keeps_only_matching_frames(tmp_path: Path) -> None:
    with netsim.pair(1, latency="20us") as p:
        everything = p.b.capture("eth0")
        matching = p.b.capture("eth0", "tcp port 5001", pcap=str(tmp_path / "5001.pcap"))
        p.a.ping("10.0.0.2", count=2, interval="1ms")
        udp = p.a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"not tcp", ("10.0.0.2", 5001))  # port 5001, but UDP: filtered out
        other = netsim.transfer(p.world, p.a, p.b, "10.0.0.2", 256 << 10, port=6001)
        flow = netsim.transfer(p.world, p.a, p.b, "10.0.0.2", 256 << 10, port=5001)
        p.world.run_for("10ms")
        matching.stop()
        everything.stop()
    assert flow.intact and other.intact

    def is_tcp_5001(frame: bytes) -> bool:
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:
            return False
        l4 = 14 + (frame[14] & 0x0F) * 4
        ports = int.from_bytes(frame[l4:l4 + 2], "big"), int.from_bytes(frame[l4 + 2:l4 + 4],
                                                                           "big")
        return 5001 in ports

    expected = [f.frame for f in everything.frames if is_tcp_5001(f.frame)]
    assert [f.frame for f in matching.frames] == expected
    assert matching.matched == len(expected) < matching.seen == everything.seen
    assert len(expected) > 10 and len(everything.frames) > len(expected) + 8
    assert len(tcpdump(tmp_path / "5001.pcap")) == len(expected)


# -- fragmentation and jumbo frames ---------------------------------------------------------------
def test_a_9000_byte_udp_datagram_is_fragmented_and_reassembled_across_nics() -> None:
    with netsim.pair(1, latency="10us") as p:
        rx = p.b.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("0.0.0.0", 4000))
        tx = p.a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        data = bytes(range(251)) * 36  # 9036: any misplaced fragment shows
        data = data[:9000]
        assert p.a.ping("10.0.0.2").received == 1  # ARP resolved: the wire carries IP only
        frames_before = p.cable.ab.frames
        tx.sendto(data, ("10.0.0.2", 4000))
        rx.settimeout(1.0)
        got, peer = rx.recvfrom(65535)
        assert got == data and peer[0] == "10.0.0.1"
        # 9008 bytes of UDP in 1480-byte pieces: 6 full fragments and one of 128
        assert p.cable.ab.frames - frames_before == 7
        assert p.a.net.mib.ip["FragCreates"] == 7 and p.a.net.mib.ip["FragOKs"] == 1
        assert p.b.net.mib.ip["ReasmReqds"] == 7 and p.b.net.mib.ip["ReasmOKs"] == 1
        assert p.b.net.mib.ip["ReasmFails"] == 0 and p.b.net.mib.udp["InDatagrams"] == 1
        assert p.b.kernel.skb_live == 0
        assert not p.world.faults


def test_jumbo_mtu_9000_carries_tcp_in_8948_byte_segments() -> None:
    with netsim.pair(1, latency="50us", mtu=9000) as p:
        assert p.a.eth0.mtu == p.b.eth0.mtu == 9000
        flow = netsim.transfer(p.world, p.a, p.b, "10.0.0.2", 10 << 20)
        p.world.run_for("10ms")
        assert not p.world.faults
        data_frames = p.cable.ab.frames
        stats = ethtool_get_stats(p.b.eth0)  # refreshes the counters from the NIC's registers
    assert flow.intact
    assert flow.sender_info.snd_mss == flow.receiver_info.rcv_mss == 9000 - 52
    assert flow.counter("sender", "tcp.RetransSegs") == 0
    assert data_frames < (10 << 20) // 8948 + 16  # ~1172 data frames instead of ~7240
    assert stats["rx_long_length_errors"] == stats["rx_errors"] == 0
    assert stats["rx_packets"] == data_frames and stats["rx_bytes"] > 10 << 20
    # 8948 of every 9038 bytes of wire time are payload: the steady state nears 9.90 Gbit/s
    assert flow.steady_gbps > 9.5


# -- two NICs on one host -------------------------------------------------------------------------
def test_one_host_with_two_nics_cabled_to_two_peers() -> None:
    with World(seed=2) as w:
        h = w.host("h", "10.0.1.1/24", "10.0.2.1/24", nics=2)
        p1 = w.host("p1", "10.0.1.2/24")
        p2 = w.host("p2", "10.0.2.2/24")
        c1 = w.cable(h.eth0, p1.eth0, latency="10us")
        c2 = w.cable(h.eth1, p2.eth0, latency="30us")
        netsim.links_up(w, h.eth0, h.eth1, p1.eth0, p2.eth0)
        assert h.eth0.dev_addr != h.eth1.dev_addr
        assert h.nics[0].pci_dev is not h.nics[1].pci_dev
        rdtr = rx_delay_ns(h.eth0)
        near, far = h.ping("10.0.1.2"), h.ping("10.0.2.2")
        # ARP then the echo, each a round trip of 2 x latency + 2 x RDTR (+ serialization)
        assert 4 * 10_000 + 4 * rdtr < near.rtts[0] < 4 * 10_000 + 4 * rdtr + 1000
        assert 4 * 30_000 + 4 * rdtr < far.rtts[0] < 4 * 30_000 + 4 * rdtr + 1000
        neigh = h.net.ip_neigh()
        assert "10.0.1.2 dev eth0" in neigh and "10.0.2.2 dev eth1" in neigh
        into_h = netsim.transfer(w, p1, h, "10.0.1.1", 2 << 20, port=5001)
        out_of_h = netsim.transfer(w, h, p2, "10.0.2.2", 2 << 20, port=5002)
        assert into_h.intact and out_of_h.intact
        # each flow used its own NIC and cable, and nothing leaked to the other
        w.run_for("10ms")  # the closing ACKs arrive
        # ethtool -S reads the NIC's statistics registers (ifconfig's counters are refreshed
        # by the driver's 2-second watchdog, as in Linux's ixgb)
        eth0, eth1 = ethtool_get_stats(h.eth0), ethtool_get_stats(h.eth1)
        assert eth0["rx_bytes"] > 2 << 20 > eth0["tx_bytes"]
        assert eth1["tx_bytes"] > 2 << 20 > eth1["rx_bytes"]
        assert c1.ab.frames == eth0["tx_packets"] and c1.ba.frames == eth0["rx_packets"]
        assert c2.ab.frames == eth1["tx_packets"] and c2.ba.frames == eth1["rx_packets"]
        w.run_for("2s")  # the watchdog has copied them to the netdev's counters
        assert dev_get_stats(h.eth0).rx_bytes == ethtool_get_stats(h.eth0)["rx_bytes"]
        assert h.nics[0].pci.irq_delivered > 0 and h.nics[1].pci.irq_delivered > 0
        assert into_h.sender_info.min_rtt > 2 * 10 and out_of_h.sender_info.min_rtt > 2 * 30
        assert not w.faults
