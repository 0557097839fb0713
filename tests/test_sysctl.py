"""Every sysctl is a typed field with an effect: one probe per knob, and no knob without one.

``PROBES`` maps each ``Sysctl`` field to a changed value and a probe: a function that builds
the smallest rig reading the knob, with the knob set, and returns what a user could observe
(segments, counters, timer deadlines, buffer sizes on virtual time).  The probe must see a
difference between Linux's default and the changed value.  A field added to ``Sysctl``
without a probe fails ``test_every_field_has_an_effect_probe``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from types import SimpleNamespace
from typing import Any

import pytest
from helpers.frames import (
    Tap,
    arp_body,
    ether,
    fragments,
    icmp_message,
    inject,
    inject_ip,
    ipv4_packet,
)
from helpers.stack import new_host, routed, two_hosts
from helpers.tcp import REMOTE, Peer, established, fin_wait_2, handshake, listener
from helpers.units import MS, S

from ixsim.sched import Scheduler
from stack.core import ETH_P_ARP, ETH_P_IP, dev_close
from stack.ping import PingSock
from stack.sysctl import PATHS, Sysctl
from stack.tcp import TcpSock
from stack.tcp.tso import tso_should_defer
from stack.uapi import MSG_OOB
from stack.udp import UdpSock
from stack.wire import ARPOP_REQUEST, IcmpRepr, ip_bytes
from stack.wire.tcp import ACK, PSH, RST, SYN, URG

A, B = ip_bytes("10.0.0.1"), ip_bytes("10.0.0.2")
SOL_SOCKET, SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE = 1, 7, 8, 9

Probe = Callable[[str, Any], Any]
PROBES: dict[str, tuple[Any, Probe]] = {}


def probe(**changed: Any) -> Callable[[Probe], Probe]:
    """Register ``fn`` as the probe of each knob in ``changed`` (knob=its changed value)."""
    def register(fn: Probe) -> Probe:
        for knob, value in changed.items():
            PROBES[knob] = (value, fn)
        return fn
    return register


def _sysctl(knob: str, value: Any) -> Sysctl:
    sysctl = Sysctl()
    setattr(sysctl, knob, value)
    return sysctl


def _peer(knob: str, value: Any) -> Peer:
    return Peer(sysctl=_sysctl(knob, value))


# -- TCP, the test as the peer ------------------------------------------------------------------
@probe(tcp_sack=False, tcp_timestamps=False, tcp_window_scaling=False)
def syn_options(knob: str, value: Any) -> Any:
    p = _peer(knob, value)
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    th = p.expect(SYN).th
    return th.sack_permitted, th.timestamp is not None, th.wscale


@probe(tcp_syn_retries=2)
def syns_sent(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    p.run(300 * S)
    return len(p.drain())


@probe(tcp_synack_retries=1)
def synacks_sent(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    listener(p)
    p.syn()
    p.run(300 * S)
    return len(p.drain())


@probe(tcp_retries2=3)
def retransmissions_before_giving_up(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    sk = established(p)
    sk.sendmsg(b"x")
    p.run(3000 * S)
    return sum(1 for seg in p.drain() if seg.data)


@probe(tcp_orphan_retries=2)
def orphan_retransmissions(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    sk = established(p)
    sk.sendmsg(b"x")
    sk.close()
    p.run(3000 * S)
    return sum(1 for seg in p.drain() if seg.data)


@probe(tcp_fin_timeout_s=5)
def orphan_fin_wait_2_lifetime(knob: str, value: Any) -> Any:
    p = _peer(knob, value)
    sk = fin_wait_2(p)
    now = p.now
    sk.close()
    return [(name, when - now) for name, when in sk.timers()]


@probe(tcp_keepalive_time_s=60, tcp_keepalive_intvl_s=10, tcp_keepalive_probes=2)
def keepalive_probe_times(knob: str, value: Any) -> list[tuple[int, int]]:
    p = _peer(knob, value)
    sk = established(p)
    sk.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
    start = p.now
    p.run(10_000 * S)
    return [((seg.time - start) // S, seg.flags) for seg in p.drain()]


@probe(tcp_dsack=False)
def dsack_blocks(knob: str, value: Any) -> list[tuple]:
    p = _peer(knob, value)
    established(p)
    seq = p.seq
    p.send(ACK | PSH, data=b"abc")
    p.run(300 * MS)
    p.drain()
    p.send(ACK | PSH, seq=seq, data=b"abc")  # a duplicate: RFC 2883 reports it
    p.run(300 * MS)
    return [seg.th.sack_blocks for seg in p.drain()]


@probe(tcp_stdurg=True)
def urgent_byte(knob: str, value: Any) -> tuple[bytes, bytes]:
    p = _peer(knob, value)
    sk = established(p)
    p.send(ACK | PSH | URG, data=b"XYZ", urgent=2)  # BSD: 'Y' is urgent; RFC 1122: 'Z'
    return sk.recvmsg(10)[0], sk.recvmsg(1, MSG_OOB)[0]


@probe(tcp_rmem=(4096, 65536, 6291456), tcp_wmem=(4096, 32768, 4194304))
def tcp_buffer_sizes(knob: str, value: Any) -> tuple[int, int]:
    sk = TcpSock(_peer(knob, value).net)
    return sk.sk_rcvbuf, sk.sk_sndbuf


@probe(somaxconn=16)
def listen_backlog(knob: str, value: Any) -> int:
    return listener(_peer(knob, value), backlog=1000).max_ack_backlog


@probe(tcp_congestion_control="reno")
def congestion_control(knob: str, value: Any) -> str:
    return type(TcpSock(_peer(knob, value).net).ca).__name__


@probe(tcp_reordering=10)
def reordering(knob: str, value: Any) -> int:
    return TcpSock(_peer(knob, value).net).reordering


@probe(tcp_moderate_rcvbuf=False)
def receive_buffer_autotuning(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    sk = established(p)
    for _ in range(50):  # 20 segments per 2 ms, the RTT the receiver measures is 1 ms
        for _ in range(20):
            p.send(ACK | PSH, data=bytes(1448))
        p.run(2 * MS)
        sk.recvmsg(1 << 20)
        p.drain()
    return sk.sk_rcvbuf


@probe(tcp_ecn=1)
def syn_flags(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    with pytest.raises(BlockingIOError):
        TcpSock(p.net).connect(REMOTE, p.rport)
    return p.expect().flags  # ECE|CWR ask for ECN (RFC 3168 §6.1.1)


@probe(tcp_ecn_fallback=False)
def retransmitted_syn_flags(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    p.net.sysctl.tcp_ecn = 1
    with pytest.raises(BlockingIOError):
        TcpSock(p.net).connect(REMOTE, p.rport)
    p.expect()
    return p.expect(within=2 * S).flags  # the fallback drops ECE|CWR


@probe(tcp_slow_start_after_idle=False)
def first_flight_after_idle(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    sk = established(p)
    sk.cwnd, sk.sk_sndbuf = 40, 1 << 22
    p.run(10 * S)
    p.drain()
    sk.sendmsg(bytes(100 * 1448))
    return sum(1 for seg in p.drain() if seg.data)


@probe(tcp_tso_win_divisor=0)
def tso_defers(knob: str, value: Any) -> int:
    """``tcp_tso_should_defer`` on a socket where a third of the window is open."""
    net = SimpleNamespace(sysctl=_sysctl(knob, value), sched=SimpleNamespace(now=10 * MS))
    seg = SimpleNamespace(seq=0, skb=SimpleNamespace(tail=20_000, data=0, len=20_000))
    sk = SimpleNamespace(ca_state=0, net=net, lsndtime=10 * MS, rtx=[SimpleNamespace(tx_time=0)],
                         packets_in_flight=lambda: 10, wnd_end=lambda: 100_000, cwnd=20,
                         write_queue=[seg], snd_wnd=100_000, srtt_us=8 * 1000)
    return tso_should_defer(sk, seg, 1448, 44)


@probe(tcp_tw_reuse=1)
def time_wait_reuse(knob: str, value: Any) -> bool:
    p = _peer(knob, value)
    tw = SimpleNamespace(raddr=REMOTE, laddr=A, ts_recent_stamp=1, ts_recent=5, snd_nxt=100)
    p.run(2 * S)
    sk = TcpSock(p.net)
    return sk.table.twsk_unique(sk, tw)


@probe(tcp_abort_on_overflow=True)
def accept_queue_overflow(knob: str, value: Any) -> list[int]:
    p = _peer(knob, value)
    listener(p, backlog=2)
    handshake(p, 41000)
    handshake(p, 41001)
    c_iss, c_dut = handshake(p, 41002, final_ack=False)
    d_iss, d_dut = handshake(p, 41003, final_ack=False)
    p.rport = 41002
    p.send(ACK, seq=c_iss + 1, ack=c_dut + 1)
    p.rport = 41003
    p.send(ACK, seq=d_iss + 1, ack=d_dut + 1)  # no room in the accept queue
    p.run(10 * MS)
    return [seg.flags & RST for seg in p.drain()]


@probe(tcp_challenge_ack_limit=1)
def challenge_acks(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    established(p)
    for _ in range(4):
        p.send(SYN, at=p.now + 600 * MS, advance=False)  # in window: RFC 5961 §4
    p.run(10 * MS)
    return p.net.mib.tcpext["TCPChallengeACK"]


# -- sockets and buffers ------------------------------------------------------------------------
@probe(rmem_default=65536, wmem_default=65536)
def socket_buffer_defaults(knob: str, value: Any) -> tuple[int, int]:
    host = new_host(Scheduler(seed=1), "h")
    setattr(host.net.sysctl, knob, value)
    sk = UdpSock(host.net)
    return sk.sk_rcvbuf, sk.sk_sndbuf


@probe(rmem_max=65536, wmem_max=65536)
def socket_buffer_limits(knob: str, value: Any) -> tuple[int, int]:
    host = new_host(Scheduler(seed=1), "h")
    setattr(host.net.sysctl, knob, value)
    sk = UdpSock(host.net)
    sk.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 24)
    sk.setsockopt(SOL_SOCKET, SO_SNDBUF, 1 << 24)
    return sk.sk_rcvbuf, sk.sk_sndbuf


@probe(ip_local_port_range=(40000, 40000))
def ephemeral_port(knob: str, value: Any) -> int:
    host = new_host(Scheduler(seed=1), "h")
    setattr(host.net.sysctl, knob, value)
    return host.udp(0).num


@probe(ip_nonlocal_bind=True)
def bind_to_a_foreign_address(knob: str, value: Any) -> tuple[Any, ...]:
    host = new_host(Scheduler(seed=1), "h")
    setattr(host.net.sysctl, knob, value)
    out = []
    for sk in (TcpSock(host.net), UdpSock(host.net)):
        try:
            sk.bind(ip_bytes("192.0.2.7"), 5000)
            out.append(sk.getsockname())
        except OSError as exc:
            out.append(exc.errno)
    return tuple(out)


@probe(tcp_notsent_lowat=2000)
def bytes_one_send_queues(knob: str, value: Any) -> tuple[int, int]:
    p = _peer(knob, value)
    sk = established(p)
    copied = sk.sendmsg(bytes(200_000))
    return copied, sk.write_seq - sk.snd_nxt


# -- IPv4 ---------------------------------------------------------------------------------------
@probe(ip_forward=True)
def forwarded(knob: str, value: Any) -> int:
    sched, a, r, b = routed()
    setattr(r.net.sysctl, knob, value)
    b.udp(9)
    a.udp().sendmsg(b"x", addr=(ip_bytes("10.0.2.1"), 9))
    sched.run_for(10 * MS)
    return r.net.mib.ip["ForwDatagrams"]


@probe(ip_default_ttl=7)
def ttl_on_the_wire(knob: str, value: Any) -> list[int]:
    sched, a, b = two_hosts()
    setattr(a.net.sysctl, knob, value)
    tap = Tap(b.kernel)
    a.udp().sendmsg(b"x", addr=(B, 9))
    sched.run_for(10 * MS)
    return [frame[14 + 8] for _t, frame in tap.received(ETH_P_IP)]


@probe(ipfrag_time_s=5)
def reassembly_timeouts(knob: str, value: Any) -> int:
    sched, _a, b = two_hosts()
    setattr(b.net.sysctl, knob, value)
    inject_ip(b.dev, fragments(1, [(0, bytes(1000), True)])[0])
    sched.run_for(10 * S)
    return b.net.mib.ip["ReasmTimeout"]


@probe(ipfrag_high_thresh=3000)
def reassembly_memory_failures(knob: str, value: Any) -> int:
    sched, _a, b = two_hosts()
    setattr(b.net.sysctl, knob, value)
    for ident in range(1, 6):
        inject_ip(b.dev, fragments(ident, [(0, bytes(1000), True)])[0])
    return b.net.mib.ip["ReasmFails"]


# -- ICMP ---------------------------------------------------------------------------------------
@probe(icmp_ratelimit_ms=0, icmp_ratemask=0, icmp_msgs_burst=5, icmp_msgs_per_sec=10)
def port_unreachables_sent(knob: str, value: Any) -> int:
    """Ten datagrams to a closed port, twice, 100 ms apart."""
    sched, a, b = two_hosts()
    sysctl = b.net.sysctl
    if knob in ("icmp_msgs_burst", "icmp_msgs_per_sec"):
        sysctl.icmp_ratelimit_ms = 0  # the per-peer limit would hide the global one
    if knob == "icmp_msgs_per_sec":
        sysctl.icmp_msgs_burst = 5
    setattr(sysctl, knob, value)
    tx = a.udp()
    for _ in range(2):
        for _ in range(10):
            tx.sendmsg(b"x", addr=(B, 4444))
        sched.run_for(100 * MS)
    return b.net.mib.icmp["OutDestUnreachs"]


@probe(ping_group_range=(0, 2147483647))
def ping_socket_allowed(knob: str, value: Any) -> int:
    host = new_host(Scheduler(seed=1), "h")
    setattr(host.net.sysctl, knob, value)
    try:
        PingSock(host.net).close()
    except OSError as exc:
        return exc.errno  # EACCES: ixsim's gid 0 is outside the range
    return 0


@probe(icmp_echo_ignore_all=True)
def echo_replies(knob: str, value: Any) -> int:
    sched, _a, b = two_hosts()
    setattr(b.net.sysctl, knob, value)
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 1,
                                 icmp_message(IcmpRepr.echo_request(1, 1))))
    sched.run_for(10 * MS)
    return b.net.mib.icmp["OutEchoReps"]


@probe(icmp_echo_ignore_broadcasts=False)
def broadcast_echo_replies(knob: str, value: Any) -> int:
    sched, a, b = two_hosts()
    setattr(b.net.sysctl, knob, value)
    req = icmp_message(IcmpRepr.echo_request(1, 1, b"x"))
    inject(b.dev, ether(b"\xff" * 6, a.dev.dev_addr, ETH_P_IP,
                        ipv4_packet("10.0.0.1", "10.0.0.255", 1, req)))
    sched.run_for(10 * MS)
    return b.net.mib.icmp["OutEchoReps"]


# -- ARP and neighbours -------------------------------------------------------------------------
@probe(arp_accept=1)
def gratuitous_arp_learned(knob: str, value: Any) -> int:
    sched, a, _b = two_hosts()
    setattr(a.net.sysctl, knob, value)
    mac, ip = b"\x02\0\0\0\0\x05", ip_bytes("10.0.0.5")
    inject(a.dev, ether(b"\xff" * 6, mac, ETH_P_ARP, arp_body(ARPOP_REQUEST, mac, ip, ip)))
    sched.run_for(1 * MS)
    return len(a.net.arp.entries(a.dev))


@probe(neigh_base_reachable_ms=2000)
def reachable_time(knob: str, value: Any) -> bool:
    _sched, a, _b = two_hosts()
    setattr(a.net.sysctl, knob, value)
    return a.net.arp.reachable_time < 3 * S


@probe(neigh_retrans_ms=500, neigh_mcast_solicit=1)
def resolution_probe_times(knob: str, value: Any) -> list[int]:
    sched, a, _b = two_hosts()
    setattr(a.net.sysctl, knob, value)
    tap = Tap(a.kernel)
    start = sched.now
    a.udp().sendmsg(b"x", addr=(ip_bytes("10.0.0.3"), 9))
    sched.run_for(10 * S)
    return [(t - start) // MS for t, _frame in tap.sent(ETH_P_ARP)]


@probe(neigh_delay_first_probe_ms=1000, neigh_ucast_solicit=1)
def reconfirmation_probe_times(knob: str, value: Any) -> list[int]:
    """A stale entry used again: DELAY, then unicast probes to a peer that went silent."""
    sched, a, b = two_hosts()
    setattr(a.net.sysctl, knob, value)
    tx = a.udp()
    tx.sendmsg(b"x", addr=(B, 9))
    sched.run_for(60 * S)  # resolved, then STALE
    dev_close(b.dev)
    tap = Tap(a.kernel)
    start = sched.now
    tx.sendmsg(b"x", addr=(B, 9))
    sched.run_for(20 * S)
    return [(t - start) // MS for t, _frame in tap.sent(ETH_P_ARP)]


@probe(neigh_unres_qlen=3)
def unresolved_queue_discards(knob: str, value: Any) -> int:
    _sched, a, _b = two_hosts()
    setattr(a.net.sysctl, knob, value)
    tx = a.udp()
    for i in range(5):
        tx.sendmsg(bytes([i]), addr=(ip_bytes("10.0.0.3"), 9))
    return a.net.mib.arp["unres_discards"]


# -- the tests ----------------------------------------------------------------------------------
def test_every_field_has_an_effect_probe() -> None:
    assert {f.name for f in fields(Sysctl)} == set(PROBES)


@pytest.mark.parametrize("knob", sorted(PROBES))
def test_knob_has_an_effect(knob: str) -> None:
    value, fn = PROBES[knob]
    default = getattr(Sysctl(), knob)
    assert value != default
    assert fn(knob, default) != fn(knob, value)


def test_an_unknown_knob_is_refused() -> None:
    sysctl = Sysctl()
    with pytest.raises(AttributeError):
        sysctl.tcp_recovery = 1  # RACK is not modelled: no knob that would be ignored
    with pytest.raises(FileNotFoundError, match="net/ipv4/tcp_autocorking"):
        sysctl.write("net.ipv4.tcp_autocorking", 0)
    with pytest.raises(FileNotFoundError):
        sysctl.read("/proc/sys/net/core/netdev_budget")


def test_knobs_are_reached_by_their_linux_paths() -> None:
    sysctl = Sysctl()
    sysctl.write("net.ipv4.tcp_sack", False)
    sysctl.write("/proc/sys/net/ipv4/neigh/default/base_reachable_time_ms", 2000)
    assert sysctl.tcp_sack is False and sysctl.neigh_base_reachable_ms == 2000
    assert sysctl.read("net/ipv4/tcp_fin_timeout") == 60
    assert PATHS["somaxconn"] == "net.core.somaxconn"
    assert len(set(PATHS.values())) == len(PATHS)
