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
from helpers.ipv6 import A6, B6, inject6, ipv6_packet, two_hosts6
from helpers.stack import new_host, routed, two_hosts
from helpers.tcp import REMOTE, Peer, established, fin_wait_2, handshake, listener
from helpers.units import MS, S

from ixsim.sched import Scheduler
from stack.core import ETH_P_ARP, ETH_P_IP, dev_close
from stack.ipv6.icmp import icmp6_xmit
from stack.ipv6.output import Flow6
from stack.ipv6.radvd import Radvd
from stack.ping import PingSock
from stack.sysctl import DEVCONF_KNOBS, PATHS, Ipv6Devconf, Sysctl
from stack.tcp import TcpSock
from stack.tcp.pacing import update_pacing_rate
from stack.tcp.tso import tso_should_defer
from stack.tcp.tsq import autocork, small_queue_check
from stack.uapi import MSG_OOB
from stack.udp import UdpSock
from stack.wire import ARPOP_REQUEST, IcmpRepr, ip_bytes
from stack.wire.icmpv6 import Icmpv6Repr
from stack.wire.ipv6 import ipv6_bytes
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


def _flight(p: Peer, segments: int, rtt: int = 10 * MS) -> tuple[TcpSock, list[int]]:
    """An established socket (handshake RTT ``rtt``) that just sent ``segments`` full ones."""
    sk = established(p, rtt=rtt)
    sk.setsockopt(6, 1, 1)  # TCP_NODELAY
    sk.sendmsg(bytes(segments * 1448))
    return sk, [p.expect(length=1448).seq for _ in range(segments)]


@probe(tcp_recovery=0)
def first_retransmission_after_one_sack(knob: str, value: Any) -> Any:
    """RACK marks the hole lost a reordering window after one SACK; DupThresh waits for 3."""
    p = _peer(knob, value)
    sk, seqs = _flight(p, 10)
    p.send(ACK, ack=seqs[0], sack=((seqs[1], seqs[2]),), at=p.now + 10 * MS)
    start = p.now
    p.run(10 * MS)
    return [(seg.seq, seg.time - start) for seg in p.drain()]


@probe(tcp_early_retrans=0)
def first_retransmission_of_a_silent_flight(knob: str, value: Any) -> Any:
    """A tail loss probe at 2 x SRTT + 2 ms, or the RTO."""
    p = _peer(knob, value)
    _sk, seqs = _flight(p, 3)
    start = p.now
    seg = p.expect(within=1 * S)
    return seg.seq == seqs[2], seg.time - start


@probe(tcp_frto=0)
def segments_after_an_rto_proven_spurious(knob: str, value: Any) -> Any:
    """F-RTO sends new data after the RTO and undoes it when the originals are ACKed."""
    p = Peer(sysctl=_sysctl(knob, value), ts=False)
    sk = established(p, rtt=10 * MS)
    sk.setsockopt(6, 1, 1)
    sk.sendmsg(bytes(30 * 1460))  # no timestamps: MSS 1460
    seqs = [p.expect(length=1460).seq for _ in range(10)]
    p.expect(within=1 * S)  # the loss probe (new data)
    p.expect(seq=seqs[0], within=1 * S)  # the RTO
    p.send(ACK, ack=seqs[1])
    after = [s.seq for s in p.drain()]
    p.send(ACK, ack=seqs[5])
    return after, int(sk.ca_state), p.net.mib.tcpext["TCPSpuriousRTOs"]


@probe(tcp_max_reordering=4)
def reordering_after_a_late_segment(knob: str, value: Any) -> int:
    """A hole filled by its original after 8 SACKed segments: reordering of 9 (capped)."""
    p = _peer(knob, value)
    sk, seqs = _flight(p, 10)
    p.send(ACK, ack=seqs[0], sack=((seqs[8], seqs[9]),), at=p.now + 10 * MS)
    p.send(ACK, ack=seqs[9] + 1448)
    return sk.reordering


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


@probe(tcp_limit_output_bytes=1 << 20)
def tsq_throttles(knob: str, value: Any) -> bool:
    """``tcp_small_queue_check`` with 2 MiB of an unpaced socket below TCP."""
    net = SimpleNamespace(sysctl=_sysctl(knob, value))
    sk = SimpleNamespace(net=net, sk_pacing_rate=(1 << 64) - 1, sk_pacing_shift=10,
                         sk_pacing_status=0, wmem_alloc=2 << 20, rtx=[1, 2], tsq_flags=0)
    return small_queue_check(sk, SimpleNamespace(truesize=66_000), 0)


@probe(tcp_autocorking=False)
def autocorks(knob: str, value: Any) -> tuple[bool, int]:
    """``tcp_push`` of a 100-byte tail while 64 KiB of the socket are in the device."""
    mib = SimpleNamespace(tcpext={"TCPAutoCorking": 0})
    net = SimpleNamespace(sysctl=_sysctl(knob, value), mib=mib)
    sk = SimpleNamespace(net=net, rtx=[1], wmem_alloc=65_000, tsq_flags=0)
    tail = SimpleNamespace(skb=SimpleNamespace(len=100, truesize=676))
    return autocork(sk, tail, 65_160), mib.tcpext["TCPAutoCorking"]


@probe(tcp_pacing_ss_ratio=100, tcp_pacing_ca_ratio=100)
def pacing_rates(knob: str, value: Any) -> tuple[int, int]:
    """``tcp_update_pacing_rate`` in slow start and in congestion avoidance."""
    net = SimpleNamespace(sysctl=_sysctl(knob, value))
    rates = []
    for ssthresh in (100, 10):
        sk = SimpleNamespace(net=net, mss_cache=1448, cwnd=20, ssthresh=ssthresh, packets_out=0,
                             srtt_us=8 * 1000, sk_max_pacing_rate=(1 << 64) - 1)
        update_pacing_rate(sk)
        rates.append(sk.sk_pacing_rate)
    return rates[0], rates[1]


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


@probe(tcp_syncookies=0)
def syn_queue_overflow(knob: str, value: Any) -> list[tuple[int, int]]:
    p = _peer(knob, value)
    listener(p, backlog=1)  # the SYN queue is full past one request (qlen > backlog)
    for port in (43000, 43001, 43002):
        p.rport, p.iss = port, p.iss + 100_000
        p.syn()
    p.run(10 * MS)  # 1: the third SYN gets a cookie SYN-ACK; 0: it is dropped
    return [(seg.th.dst_port, seg.flags) for seg in p.drain()]


@probe(tcp_max_syn_backlog=4)
def syn_backlog_without_cookies(knob: str, value: Any) -> int:
    p = _peer(knob, value)
    p.net.sysctl.tcp_syncookies = 0  # the knob only bounds a queue without cookies
    listener(p, backlog=100)
    for port in range(43000, 43006):
        p.rport, p.iss = port, p.iss + 100_000
        p.syn()
    p.run(10 * MS)  # 4: the last quarter is kept for proven peers, none here
    return len(p.drain())


@probe(tcp_fastopen=3)
def fastopen_cookie_in_synack(knob: str, value: Any) -> bytes | None:
    p = _peer(knob, value)
    lsk = listener(p)
    lsk.setsockopt(6, 23, 5)  # TCP_FASTOPEN: a queue of 5 pending Fast Open children
    p.syn(fastopen=b"")  # a cookie request
    return p.expect(SYN | ACK).th.fastopen  # 1: client only, no cookie; 3: the cookie


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


# -- IPv6 ---------------------------------------------------------------------------------------
def _frag6(ident: int, offset: int, more: bool, data: bytes) -> bytes:
    fh = bytes((58, 0)) + (offset | more).to_bytes(2, "big") + ident.to_bytes(4, "big")
    return ipv6_packet(A6, B6, 44, data, ext=fh)


@probe(ip6frag_time_s=5)
def reassembly6_timeouts(knob: str, value: Any) -> int:
    sched, _a, b = two_hosts6()
    setattr(b.net.sysctl, knob, value)
    inject6(b.dev, _frag6(1, 0, True, bytes(1000)))
    sched.run_for(10 * S)
    return b.net.mib.ip6["Ip6ReasmTimeout"]


@probe(ip6frag_high_thresh=3000)
def reassembly6_memory_failures(knob: str, value: Any) -> int:
    _sched, _a, b = two_hosts6()
    setattr(b.net.sysctl, knob, value)
    for ident in range(1, 6):
        inject6(b.dev, _frag6(ident, 0, True, bytes(1000)))
    return b.net.mib.ip6["Ip6ReasmFails"]


@probe(icmpv6_ratelimit_ms=0)
def parameter_problems_sent(knob: str, value: Any) -> int:
    """Ten packets of an unknown next header: one parameter problem each, rate limited."""
    sched, _a, b = two_hosts6()
    setattr(b.net.sysctl, knob, value)
    for _ in range(10):
        inject6(b.dev, ipv6_packet(A6, B6, 253, b"x" * 8))
    sched.run_for(10 * MS)
    return b.net.mib.icmp6["Icmp6OutParmProblems"]


DEVCONF_PROBES: dict[str, tuple[Any, Probe]] = {}


def devconf_probe(**changed: Any) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        for knob, value in changed.items():
            DEVCONF_PROBES[knob] = (value, fn)
        return fn
    return register


def _conf(knob: str, value: Any) -> Callable[[Any, Any], None]:
    """Set net.ipv6.conf.default.KNOB on both hosts before IPv6 comes up."""
    def before(a: Any, b: Any) -> None:
        for h in (a, b):
            h.net.sysctl.write(f"net.ipv6.conf.default.{knob}", value)
    return before


@devconf_probe(forwarding=1)
def forwarded6(knob: str, value: Any) -> tuple[int, int]:
    """A packet for someone else: dropped as an address error, or routed (no route here)."""
    sched, _a, b = two_hosts6(_conf(knob, value))
    inject6(b.dev, ipv6_packet(A6, ipv6_bytes("fd01::9"), 59, b""))
    sched.run_for(10 * MS)
    mib = b.net.mib.ip6
    return mib["Ip6InAddrErrors"], mib["Ip6InNoRoutes"]


@devconf_probe(hop_limit=7)
def hop_limit_on_the_wire(knob: str, value: Any) -> list[int]:
    sched, a, b = two_hosts6(_conf(knob, value))
    tap = Tap(b.kernel)
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(1, 1), Flow6(None, B6, 58))
    sched.run_for(10 * MS)
    return [frame[14 + 7] for _t, frame in tap.received(0x86DD)]


@devconf_probe(mtu=1400)
def fragments_of_a_large_datagram(knob: str, value: Any) -> int:
    sched, a, _b = two_hosts6()
    a.net.sysctl.write(f"net.ipv6.conf.{a.dev.name}.{knob}", value)
    icmp6_xmit(a.net, Icmpv6Repr.echo_request(1, 1, bytes(1300)), Flow6(None, B6, 58))
    sched.run_for(10 * MS)
    return a.net.mib.ip6["Ip6FragCreates"]


@devconf_probe(accept_ra=0, autoconf=0)
def autoconfigured(knob: str, value: Any) -> tuple[str, str]:
    sched, a, b = two_hosts6(_conf(knob, value))
    Radvd(b.net, b.dev, ["2001:db8:1::/64"])
    sched.run_for(30 * S)
    return a.net.ip6_addr(), a.net.ip6_route()


@devconf_probe(dad_transmits=3)
def dad_probes_sent(knob: str, value: Any) -> int:
    _sched, a, _b = two_hosts6(_conf(knob, value))
    return a.net.mib.icmp6["Icmp6OutNeighborSolicits"]


@devconf_probe(disable_ipv6=1)
def ipv6_discards(knob: str, value: Any) -> int:
    sched, _a, b = two_hosts6()
    b.net.sysctl.write(f"net.ipv6.conf.{b.dev.name}.{knob}", value)
    inject6(b.dev, ipv6_packet(A6, B6, 59, b""))
    sched.run_for(10 * MS)
    return b.net.mib.ip6["Ip6InDiscards"]


# -- the tests ----------------------------------------------------------------------------------
def test_every_field_has_an_effect_probe() -> None:
    containers = {"ipv6_conf_all", "ipv6_conf_default", "ipv6_conf_dev"}
    assert {f.name for f in fields(Sysctl)} - containers == set(PROBES)
    assert set(DEVCONF_KNOBS) == set(DEVCONF_PROBES)


@pytest.mark.parametrize("knob", sorted(DEVCONF_PROBES))
def test_devconf_knob_has_an_effect(knob: str) -> None:
    value, fn = DEVCONF_PROBES[knob]
    assert value != getattr(Ipv6Devconf(), knob)
    assert fn(knob, getattr(Ipv6Devconf(), knob)) != fn(knob, value)


def test_devconf_paths() -> None:
    sysctl = Sysctl()
    sysctl.write("net.ipv6.conf.all.forwarding", 1)
    assert sysctl.read("net.ipv6.conf.default.forwarding") == 1
    sysctl.write("/proc/sys/net/ipv6/conf/default/hop_limit", 9)
    assert sysctl.ipv6_conf_default.hop_limit == 9 and sysctl.ipv6_conf_all.hop_limit == 64
    with pytest.raises(FileNotFoundError):
        sysctl.read("net.ipv6.conf.eth9.forwarding")
    with pytest.raises(FileNotFoundError):
        sysctl.write("net.ipv6.conf.all.use_tempaddr", 2)


@pytest.mark.parametrize("knob", sorted(PROBES))
def test_knob_has_an_effect(knob: str) -> None:
    value, fn = PROBES[knob]
    default = getattr(Sysctl(), knob)
    assert value != default
    assert fn(knob, default) != fn(knob, value)


def test_an_unknown_knob_is_refused() -> None:
    sysctl = Sysctl()
    with pytest.raises(AttributeError):
        sysctl.tcp_mtu_probing = 1  # PMTU probing is not modelled: no knob to be ignored
    with pytest.raises(FileNotFoundError, match="net/ipv4/tcp_mtu_probing"):
        sysctl.write("net.ipv4.tcp_mtu_probing", 1)
    with pytest.raises(FileNotFoundError):
        sysctl.read("/proc/sys/net/core/netdev_budget")


def test_tcp_early_retrans_is_range_checked_as_linux() -> None:
    sysctl = Sysctl()
    sysctl.write("net.ipv4.tcp_early_retrans", 4)
    for bad in (5, -1):
        with pytest.raises(OSError) as exc:
            sysctl.write("net.ipv4.tcp_early_retrans", bad)
        assert exc.value.errno == 22
    assert sysctl.read("net.ipv4.tcp_early_retrans") == 4


def test_knobs_are_reached_by_their_linux_paths() -> None:
    sysctl = Sysctl()
    sysctl.write("net.ipv4.tcp_sack", False)
    sysctl.write("/proc/sys/net/ipv4/neigh/default/base_reachable_time_ms", 2000)
    assert sysctl.tcp_sack is False and sysctl.neigh_base_reachable_ms == 2000
    assert sysctl.read("net/ipv4/tcp_fin_timeout") == 60
    assert PATHS["somaxconn"] == "net.core.somaxconn"
    assert len(set(PATHS.values())) == len(PATHS)
