"""ARP and the neighbour state machine, on virtual time between two hosts on a veth pair."""

from __future__ import annotations

import pytest
from helpers.frames import Tap, arp_body, ether, inject
from helpers.stack import two_hosts
from helpers.units import MS, US, S

from ixsim.apps.ping import ping
from stack.core import ETH_P_ARP, dev_close
from stack.neigh import (
    NEIGH_UPDATE_F_OVERRIDE,
    NUD_DELAY,
    NUD_FAILED,
    NUD_INCOMPLETE,
    NUD_NAMES,
    NUD_NOARP,
    NUD_NONE,
    NUD_PERMANENT,
    NUD_PROBE,
    NUD_REACHABLE,
    NUD_STALE,
)
from stack.wire import ARPOP_REPLY, ARPOP_REQUEST, ArpRepr, ip_bytes, mac_str

D = 50 * US  # the link's one-way delay
MIN = 10 * MS  # the neighbour timer's minimum step (HZ/100)
B_IP = ip_bytes("10.0.0.2")
A_IP = ip_bytes("10.0.0.1")
BCAST = b"\xff" * 6


def arp_frames(tap: Tap, sent: bool = True) -> list[tuple[int, bytes, ArpRepr]]:
    frames = tap.sent(ETH_P_ARP) if sent else tap.received(ETH_P_ARP)
    return [(t, f[:6], ArpRepr.parse(f[14:])) for t, f in frames]


def watch(host) -> list[tuple[int, str, str, str]]:
    log: list[tuple[int, str, str, str]] = []
    host.net.arp.watchers.append(
        lambda t, n, old, new: log.append((t, n.key.hex(), NUD_NAMES[old], NUD_NAMES[new])))
    return log


def send(sock, data: bytes = b"x", port: int = 9) -> None:
    sock.sendmsg(data, addr=(B_IP, port))


def test_resolution_request_reply_and_learning():
    sched, a, b = two_hosts(delay=D)
    tap = Tap(a.kernel)
    rx = b.udp(9)
    tx = a.udp()
    garps = a.net.mib.arp["OutRequests"]  # the gratuitous ARP of configure()
    t0 = sched.now
    send(tx, b"hello")
    n = a.net.arp.lookup(B_IP, a.dev)
    assert n is not None and n.nud_state == NUD_INCOMPLETE and len(n.arp_queue) == 1
    sched.run_for(10 * MS)
    (t, dst, req), = arp_frames(tap)
    assert (t, dst) == (t0, BCAST)
    assert (req.oper, req.spa, req.tpa, req.tha, req.sha) == (
        ARPOP_REQUEST, A_IP, B_IP, bytes(6), a.dev.dev_addr)
    (tr, reply_dst, reply), = arp_frames(tap, sent=False)
    assert tr == t0 + 2 * D and reply_dst == a.dev.dev_addr
    assert (reply.oper, reply.spa, reply.sha, reply.tpa) == (
        ARPOP_REPLY, B_IP, b.dev.dev_addr, A_IP)
    assert n.nud_state == NUD_REACHABLE and n.ha == b.dev.dev_addr and not n.arp_queue
    assert rx.recvmsg(100)[0] == b"hello"
    # B learnt A from the request, as STALE (a request does not prove reachability)
    nb = b.net.arp.lookup(A_IP, b.dev)
    assert nb is not None and nb.nud_state == NUD_STALE and nb.ha == a.dev.dev_addr
    assert a.net.ip_neigh() == f"10.0.0.2 dev veth0 lladdr {mac_str(b.dev.dev_addr)} REACHABLE\n"
    assert b.net.ip_neigh() == f"10.0.0.1 dev veth0 lladdr {mac_str(a.dev.dev_addr)} STALE\n"
    assert garps == 1
    assert a.net.mib.arp["OutRequests"] == 2 and a.net.mib.arp["InReplies"] == 1
    assert b.net.mib.arp["InRequests"] >= 1 and b.net.mib.arp["OutReplies"] == 1


def test_every_nud_transition_on_virtual_time():
    sched, a, b = two_hosts(delay=D)
    a.net.sysctl.neigh_base_reachable_ms = 2000  # reachable_time in [1 s, 3 s) < 5 s
    log = watch(a)
    tap = Tap(a.kernel)
    rx = b.udp(9)
    tx = a.udp()
    key = B_IP.hex()

    t0 = sched.now
    send(tx)  # NONE -> INCOMPLETE, broadcast request, reply: REACHABLE
    sched.run_for(10 * MS)
    r = a.net.arp.reachable_time
    assert 1 * S <= r < 3 * S
    c = t0 + 2 * D
    # REACHABLE expires while the entry was used less than 5 s ago: DELAY, then PROBE
    sched.run_for(c + r + MIN + 5 * S + 1 * MS - sched.now)
    p = c + r + MIN + 5 * S + 2 * D
    n = a.net.arp.lookup(B_IP, a.dev)
    assert n.nud_state == NUD_REACHABLE
    probe_t, probe_dst, probe = arp_frames(tap)[1]
    assert probe_t == c + r + MIN + 5 * S and probe_dst == b.dev.dev_addr  # a unicast probe
    assert probe.oper == ARPOP_REQUEST and probe.tpa == B_IP
    # unused: REACHABLE -> STALE
    sched.run_for(p + r + MIN - sched.now + 1)
    assert n.nud_state == NUD_STALE
    # STALE -> DELAY on use; an upper-layer confirmation makes it REACHABLE again
    t3 = p + r + MIN + 1 * S
    sched.run_for(t3 - sched.now)
    send(tx)
    sched.run_for(1 * S)
    a.net.arp.confirm(n)
    sched.run_for(t3 + 5 * S + MIN - sched.now)
    assert n.nud_state == NUD_STALE
    # the peer vanishes: DELAY -> PROBE, three unicast probes one second apart, FAILED
    a.dev.priv.impair = lambda frame: None
    t4 = t3 + 6 * S
    sched.run_for(t4 - sched.now)
    send(tx)
    sched.run_for(9 * S)
    probes = [(t, dst) for t, dst, arp in arp_frames(tap) if t >= t4]
    assert probes == [(t4 + k * S, b.dev.dev_addr) for k in (5, 6, 7)]
    assert n.nud_state == NUD_FAILED
    # FAILED -> INCOMPLETE on use: three broadcasts, FAILED again, the packet is reported
    t5 = sched.now
    send(tx)
    sched.run_for(4 * S)
    broadcasts = [(t, dst) for t, dst, arp in arp_frames(tap) if t >= t5]
    assert broadcasts == [(t5 + k * S, BCAST) for k in (0, 1, 2)]
    assert [e for e in log if e[1] == key] == [
        (t0, key, "NONE", "INCOMPLETE"),
        (c, key, "INCOMPLETE", "REACHABLE"),
        (c + r + MIN, key, "REACHABLE", "DELAY"),
        (c + r + MIN + 5 * S, key, "DELAY", "PROBE"),
        (p, key, "PROBE", "REACHABLE"),
        (p + r + MIN, key, "REACHABLE", "STALE"),
        (t3, key, "STALE", "DELAY"),
        (t3 + 5 * S, key, "DELAY", "REACHABLE"),
        (t3 + 5 * S + MIN, key, "REACHABLE", "STALE"),
        (t4, key, "STALE", "DELAY"),
        (t4 + 5 * S, key, "DELAY", "PROBE"),
        (t4 + 8 * S, key, "PROBE", "FAILED"),
        (t5, key, "FAILED", "INCOMPLETE"),
        (t5 + 3 * S, key, "INCOMPLETE", "FAILED"),
    ]
    assert (t5 + 3 * S, A_IP.hex(), "NONE", "NOARP") in log  # the ICMP went through lo
    assert a.net.mib.arp["res_failed"] == 2
    # the datagram that waited in vain came back as ICMP host unreachable, from ourselves
    assert a.net.mib.icmp["OutDestUnreachs"] == 1 and a.net.mib.icmp["InDestUnreachs"] == 1
    assert a.net.mib.icmpmsg["InType3"] == 1
    assert a.kernel.drop_reasons["NEIGH_FAILED"] == 1
    assert a.net.ip_neigh() == "10.0.0.2 dev veth0 FAILED\n"
    assert len(rx.rcvq) == 2 and b.kernel.skb_live == 2  # what B received, unread
    rx.close()
    assert a.kernel.skb_live == 0 and b.kernel.skb_live == 0


def test_reachable_time_is_drawn_from_the_world_rng_in_half_to_one_and_a_half_base():
    draws = set()
    for seed in range(20):
        _sched, a, _b = two_hosts(seed=seed)
        r = a.net.arp.reachable_time
        assert 15 * S <= r < 45 * S
        assert a.net.arp.reachable_time == r  # stable until re-drawn
        draws.add(r)
    assert len(draws) > 10
    _s1, a1, _ = two_hosts(seed=4)
    _s2, a2, _ = two_hosts(seed=4)
    assert a1.net.arp.reachable_time == a2.net.arp.reachable_time


def test_failed_resolution_reports_host_unreachable_to_the_local_pinger():
    sched, a, _b = two_hosts()
    result = ping(a.net, "10.0.0.3", count=1, timeout=5 * S)
    assert result.transmitted == 1 and result.received == 0 and result.errors == 1
    err, = result.icmp_errors
    assert (err.src, err.text) == (A_IP, "Destination Host Unreachable")
    assert "From 10.0.0.1 icmp_seq=1 Destination Host Unreachable" in result.text()
    assert "1 packets transmitted, 0 received, +1 errors, 100% packet loss" in result.text()
    assert result.time == 3 * S  # three broadcast probes, one second apart


def test_unresolved_queue_is_bounded_and_overflow_counted():
    sched, a, _b = two_hosts()
    a.net.sysctl.neigh_unres_qlen = 3
    tx = a.udp()
    for i in range(5):
        tx.sendmsg(bytes([i]), addr=(ip_bytes("10.0.0.3"), 9))
    n = a.net.arp.lookup(ip_bytes("10.0.0.3"), a.dev)
    assert [skb.tobytes()[-1] for skb in n.arp_queue] == [2, 3, 4]  # the oldest went first
    assert a.net.mib.arp["unres_discards"] == 2
    assert a.kernel.drop_reasons["NEIGH_QUEUEFULL"] == 2
    sched.run_for(4 * S)
    assert a.net.mib.icmp["InDestUnreachs"] == 3
    assert a.kernel.skb_live == 0


def test_permanent_entries_are_not_resolved_and_never_expire():
    sched, a, b = two_hosts()
    tap = Tap(a.kernel)
    a.net.arp.add_static(B_IP, a.dev, b.dev.dev_addr, NUD_PERMANENT)
    rx = b.udp(9)
    send(a.udp(), b"static")
    sched.run_for(100 * S)
    assert arp_frames(tap) == []
    assert rx.recvmsg(100)[0] == b"static"
    n = a.net.arp.lookup(B_IP, a.dev)
    assert n.nud_state == NUD_PERMANENT and not n.timer.pending()
    # ARP traffic does not change a permanent entry
    a.net.arp.update(n, b"\x02\0\0\0\0\x77", NUD_REACHABLE, NEIGH_UPDATE_F_OVERRIDE)
    assert n.ha == b.dev.dev_addr and n.nud_state == NUD_PERMANENT
    assert a.net.ip_neigh() == f"10.0.0.2 dev veth0 lladdr {mac_str(b.dev.dev_addr)} PERMANENT\n"
    assert a.net.arp.delete(B_IP, a.dev) and a.net.ip_neigh() == ""


def test_noarp_entries_for_loopback_and_broadcast():
    sched, a, _b = two_hosts()
    lo_n = a.net.arp.create(ip_bytes("127.0.0.1"), a.net.lo)
    assert lo_n.nud_state == NUD_NOARP and lo_n.ha == bytes(6)
    bc = a.net.arp.create(ip_bytes("10.0.0.255"), a.dev)
    assert bc.nud_state == NUD_NOARP and bc.ha == BCAST
    limited = a.net.arp.create(ip_bytes("255.255.255.255"), a.dev)
    assert limited.nud_state == NUD_NOARP
    mc = a.net.arp.create(ip_bytes("224.1.2.3"), a.dev)
    assert mc.nud_state == NUD_NOARP and mc.ha == bytes.fromhex("01005e010203")
    assert a.net.ip_neigh() == ""  # NOARP entries are not listed by default
    assert "127.0.0.1 dev lo lladdr 00:00:00:00:00:00 NOARP" in a.net.arp.show(all_states=True)


def test_gratuitous_arp_on_address_add_and_it_only_refreshes_known_entries():
    sched, a, b = two_hosts()
    tap = Tap(b.kernel)
    a.net.devinet.add(a.dev, ip_bytes("10.0.0.11"), 24)
    sched.run_for(1 * MS)
    (_t, dst, garp), = arp_frames(tap, sent=False)
    assert dst == BCAST and garp.oper == ARPOP_REQUEST
    assert garp.spa == garp.tpa == ip_bytes("10.0.0.11")
    assert b.net.arp.lookup(ip_bytes("10.0.0.11"), b.dev) is None  # arp_accept = 0
    # a known neighbour announcing a new MAC is updated (override), as STALE
    nb = b.net.arp.add_static(A_IP, b.dev, a.dev.dev_addr, NUD_REACHABLE)
    sched.run_for(2 * S)
    new_mac = b"\x02\0\0\0\0\x42"
    inject(b.dev, ether(BCAST, new_mac, ETH_P_ARP, arp_body(ARPOP_REQUEST, new_mac, A_IP, A_IP)))
    assert nb.ha == new_mac and nb.nud_state == NUD_STALE


def test_learning_rules_unsolicited_broadcast_reply_and_locktime():
    sched, a, b = two_hosts()
    mac1, mac2 = b"\x02\0\0\0\0\x01", b"\x02\0\0\0\0\x02"
    peer = ip_bytes("10.0.0.9")
    # an unsolicited reply creates nothing (arp_accept = 0)
    inject(a.dev, ether(a.dev.dev_addr, mac1, ETH_P_ARP, arp_body(ARPOP_REPLY, mac1, peer, A_IP)))
    assert a.net.arp.lookup(peer, a.dev) is None
    # a request for a foreign address is not answered
    tap = Tap(a.kernel)
    inject(a.dev, ether(BCAST, mac1, ETH_P_ARP, arp_body(ARPOP_REQUEST, mac1, peer,
                                                     ip_bytes("10.0.0.77"))))
    sched.run_for(1 * MS)
    assert arp_frames(tap) == []
    # our own resolution: the first reply wins for a second, a broadcast reply is only STALE
    # (and the packet that waited is sent at once, which makes it DELAY)
    a.udp().sendmsg(b"x", addr=(peer, 9))
    n = a.net.arp.lookup(peer, a.dev)
    inject(a.dev, ether(BCAST, mac1, ETH_P_ARP, arp_body(ARPOP_REPLY, mac1, peer, A_IP)))
    assert n.nud_state == NUD_DELAY and n.ha == mac1
    inject(a.dev, ether(a.dev.dev_addr, mac2, ETH_P_ARP, arp_body(ARPOP_REPLY, mac2, peer, A_IP)))
    assert n.ha == mac1  # within locktime: ignored
    sched.run_for(2 * S)
    inject(a.dev, ether(a.dev.dev_addr, mac2, ETH_P_ARP, arp_body(ARPOP_REPLY, mac2, peer, A_IP)))
    assert n.ha == mac2 and n.nud_state == NUD_REACHABLE
    assert a.kernel.skb_live == 0


def test_probe_with_zero_sender_is_answered_without_learning():
    sched, a, _b = two_hosts()
    tap = Tap(a.kernel)
    mac = b"\x02\0\0\0\0\x05"
    inject(a.dev, ether(BCAST, mac, ETH_P_ARP, arp_body(ARPOP_REQUEST, mac, bytes(4), A_IP)))
    sched.run_for(1 * MS)
    (_t, dst, reply), = arp_frames(tap)
    assert dst == mac and reply.oper == ARPOP_REPLY and reply.tpa == bytes(4)
    assert a.net.arp.entries(a.dev) == []


def test_bogus_and_malformed_arp_is_dropped_and_counted():
    sched, a, _b = two_hosts()
    mac = b"\x02\0\0\0\0\x05"
    inject(a.dev, ether(BCAST, mac, ETH_P_ARP, b"\x00\x01\x08\x00\x06"))  # short
    bad_hw = bytearray(arp_body(ARPOP_REQUEST, mac, ip_bytes("10.0.0.5"), A_IP))
    bad_hw[4] = 8
    inject(a.dev, ether(BCAST, mac, ETH_P_ARP, bytes(bad_hw)))
    assert a.net.mib.arp["InErrors"] == 2
    inject(a.dev, ether(BCAST, mac, ETH_P_ARP, arp_body(7, mac, ip_bytes("10.0.0.5"), A_IP)))
    inject(a.dev, ether(BCAST, mac, ETH_P_ARP, arp_body(ARPOP_REQUEST, BCAST,
                                                    ip_bytes("10.0.0.5"), A_IP)))
    inject(a.dev, ether(BCAST, mac, ETH_P_ARP, arp_body(ARPOP_REQUEST, mac,
                                                    ip_bytes("224.0.0.1"), A_IP)))
    assert a.net.arp.entries(a.dev) == []
    assert a.kernel.drop_reasons["ARP_BOGUS"] == 2
    assert a.kernel.drop_reasons["ARP_UNSUPPORTED_OP"] == 1
    assert a.kernel.skb_live == 0


def test_device_down_flushes_neighbours_and_illegal_transitions_are_refused():
    sched, a, b = two_hosts()
    send(a.udp())
    sched.run_for(10 * MS)
    n = a.net.arp.lookup(B_IP, a.dev)
    assert n.nud_state == NUD_REACHABLE
    with pytest.raises(AssertionError, match="illegal NUD transition"):
        a.net.arp._set_state(n, NUD_PROBE)
    dev_close(a.dev)
    assert a.net.arp.entries(a.dev) == [] and n.dead and not n.timer.pending()
    assert a.net.ip_route() == ""  # its routes went too
    assert NUD_NAMES[NUD_NONE] == "NONE" and NUD_NAMES[NUD_DELAY] == "DELAY"


def test_forced_gc_bounds_the_table():
    sched, a, _b = two_hosts()
    tbl = a.net.arp
    made = [tbl.create(bytes((10, 1, i >> 8, i & 0xFF)), a.dev) for i in range(1100)]
    assert made.count(None) == 76 and tbl.count == 1024  # all fresh: nothing to collect
    assert a.net.mib.arp["table_fulls"] == 76 and a.net.mib.arp["forced_gc_runs"] == 76
    tx = a.udp()
    tx.sendmsg(b"x", addr=(ip_bytes("10.0.0.77"), 9))  # dropped, the table is full
    assert a.kernel.drop_reasons["NEIGH_CREATEFAIL"] == 1
    sched.run_for(6 * S)
    assert tbl.create(ip_bytes("10.2.0.1"), a.dev) is not None  # stale ones were collected
    assert tbl.count == 1
