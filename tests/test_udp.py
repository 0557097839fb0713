"""UDP sockets (the kernel side): binding, ephemeral ports, sending and receiving, connected
sockets and ICMP errors, broadcast, buffers, checksums and offloads, options, poll."""

from __future__ import annotations

import errno
import socket

import pytest
from helpers.frames import Tap, inject_ip, ipv4_packet, udp_datagram
from helpers.mib import assert_linux_mib_names
from helpers.stack import new_host, two_hosts
from helpers.units import MS, S

from ixsim.sched import Scheduler
from stack.core import CHECKSUM_PARTIAL, ETH_P_IP, NETIF_F_HW_CSUM, NETIF_F_RXCSUM
from stack.sock import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP
from stack.uapi import (
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_TOS,
    IP_TTL,
    MSG_PEEK,
    SO_BROADCAST,
    SO_ERROR,
    SO_RCVBUF,
    SO_REUSEADDR,
    SO_SNDBUF,
    SOL_IP,
    SOL_SOCKET,
)
from stack.udp import UdpSock
from stack.wire import Ipv4Packet, UdpPacket, ip_bytes

A = ip_bytes("10.0.0.1")
B = ip_bytes("10.0.0.2")
ANY = bytes(4)


def errno_of(call) -> int:
    with pytest.raises(OSError) as info:
        call()
    return info.value.errno


def test_bind_conflicts_reuseaddr_and_foreign_addresses():
    _sched, a, _b = two_hosts()
    s1 = a.udp(5000)
    assert s1.getsockname() == (ANY, 5000)
    assert errno_of(lambda: a.udp(5000)) == errno.EADDRINUSE
    assert errno_of(lambda: a.udp(5000, "10.0.0.1")) == errno.EADDRINUSE  # wildcard overlaps
    assert errno_of(lambda: s1.bind(ANY, 5001)) == errno.EINVAL  # already bound
    assert errno_of(lambda: a.udp(6000, "10.0.0.2")) == errno.EADDRNOTAVAIL
    s2 = a.udp(6000, "10.0.0.1")
    s3 = a.udp(6000, "127.0.0.1")  # different addresses do not conflict
    assert s2.getsockname() == (A, 6000) and s3.num == 6000
    r1, r2 = UdpSock(a.net), UdpSock(a.net)
    for sk in (r1, r2):
        sk.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
        sk.bind(ANY, 7000)
    s1.close()
    a.udp(5000)  # the port is free again after close


def test_ephemeral_ports_come_from_the_range_and_the_world_rng():
    def ports(seed: int) -> list[int]:
        host = new_host(Scheduler(seed=seed), "h")
        out = []
        for _ in range(50):
            sk = UdpSock(host.net)
            sk.bind(ANY, 0)
            out.append(sk.num)
        return out

    first = ports(1)
    assert first == ports(1) and first != ports(2)
    assert len(set(first)) == 50 and all(32768 <= p <= 60999 for p in first)
    host = new_host(Scheduler(seed=1), "h")
    host.net.sysctl.ip_local_port_range = (40000, 40001)
    socks = [host.udp(0) for _ in range(2)]
    assert sorted(sk.num for sk in socks) == [40000, 40001]
    assert errno_of(lambda: host.udp(0)) == errno.EADDRINUSE
    unbound = UdpSock(host.net)
    assert errno_of(lambda: unbound.sendmsg(b"x", addr=(A, 9))) == errno.EAGAIN


def test_sendto_recvfrom_peek_truncation_and_counters():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    tx = a.udp(4000)
    assert tx.sendmsg(b"first datagram", addr=(B, 9)) == 14
    tx.sendmsg(b"second", addr=(B, 9))
    sched.run_for(10 * MS)
    assert rx.recvmsg(100, MSG_PEEK) == (b"first datagram", (A, 4000))
    assert rx.recvmsg(5) == (b"first", (A, 4000))  # the rest of the datagram is discarded
    assert rx.recvmsg(100) == (b"second", (A, 4000))
    assert errno_of(lambda: rx.recvmsg(100)) == errno.EAGAIN
    assert b.net.mib.udp["InDatagrams"] == 2 and a.net.mib.udp["OutDatagrams"] == 2
    assert errno_of(lambda: tx.sendmsg(b"x" * 65508, addr=(B, 9))) == errno.EMSGSIZE
    assert errno_of(lambda: tx.sendmsg(b"x")) == errno.EDESTADDRREQ
    assert errno_of(lambda: tx.sendmsg(b"x", addr=(B, 0))) == errno.EINVAL
    assert errno_of(lambda: tx.sendmsg(b"x", addr=(ip_bytes("192.168.1.1"), 9))) == \
        errno.ENETUNREACH
    assert a.net.mib.ip["OutNoRoutes"] == 1
    assert_linux_mib_names(a.net)
    assert_linux_mib_names(b.net)


def test_max_datagram_over_loopback():
    sched, a, _b = two_hosts()
    rx = a.udp(9, "127.0.0.1")
    tx = a.udp()
    payload = bytes(range(256)) * 255 + bytes(227)
    assert len(payload) == 65507
    tx.sendmsg(payload, addr=(ip_bytes("127.0.0.1"), 9))
    sched.run_for(1 * MS)
    assert rx.recvmsg(70000)[0] == payload
    assert a.net.mib.ip["FragCreates"] == 0  # lo's MTU is 64 KiB


def test_connected_socket_filters_sources_and_learns_its_address():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    rx.connect(A, 4000)
    assert rx.getsockname() == (B, 9) and rx.getpeername() == (A, 4000)
    good, bad = a.udp(4000), a.udp(4001)
    bad.sendmsg(b"from 4001", addr=(B, 9))
    good.sendmsg(b"from 4000", addr=(B, 9))
    sched.run_for(10 * MS)
    assert rx.recvmsg(100) == (b"from 4000", (A, 4000))
    assert b.net.mib.udp["NoPorts"] == 1  # nobody else listens on 9 for 4001
    rx.disconnect()
    assert rx.getsockname() == (ANY, 9)
    assert errno_of(rx.getpeername) == errno.ENOTCONN


def test_port_unreachable_makes_a_connected_socket_fail_with_econnrefused():
    sched, a, b = two_hosts()
    conn = a.udp()
    conn.connect(B, 9)
    unconn = a.udp()
    conn.sendmsg(b"anyone?")
    unconn.sendmsg(b"anyone?", addr=(B, 9))
    sched.run_for(10 * MS)
    assert b.net.mib.udp["NoPorts"] == 2 and b.net.mib.icmp["OutDestUnreachs"] == 2
    assert conn.poll() & EPOLLERR and conn.sk_err == errno.ECONNREFUSED
    with pytest.raises(ConnectionRefusedError):
        conn.recvmsg(100)
    assert conn.sk_err == 0 and not conn.poll() & EPOLLERR  # reported once
    assert unconn.sk_err == 0  # RFC 1122 4.1.3.3: only connected sockets hear of it
    conn.sendmsg(b"again?")
    sched.run_for(10 * MS)
    with pytest.raises(ConnectionRefusedError):
        conn.sendmsg(b"and now?")  # the next send reports it too
    conn.sendmsg(b"once more")
    sched.run_for(10 * MS)
    assert conn.getsockopt(SOL_SOCKET, SO_ERROR) == errno.ECONNREFUSED
    assert conn.getsockopt(SOL_SOCKET, SO_ERROR) == 0


def test_loopback_port_unreachable_and_connect_to_any_means_localhost():
    sched, a, _b = two_hosts()
    conn = a.udp()
    conn.connect(ANY, 9999)
    assert conn.getpeername() == (ip_bytes("127.0.0.1"), 9999)
    assert conn.getsockname()[0] == ip_bytes("127.0.0.1")
    conn.sendmsg(b"nobody home")
    sched.run_for(0)
    with pytest.raises(ConnectionRefusedError):
        conn.recvmsg(100)
    assert a.net.mib.icmp["OutRateLimitHost"] == 0  # loopback is never rate limited


def test_option_numbers_agree_with_the_stdlib():
    import stack.uapi as udp  # the one home of the numbers stack/udp.py uses

    for name in ("SOL_SOCKET", "SO_REUSEADDR", "SO_TYPE", "SO_ERROR", "SO_BROADCAST",
                 "SO_SNDBUF", "SO_RCVBUF", "SO_BINDTODEVICE", "SOL_IP", "IP_TOS", "IP_TTL",
                 "MSG_PEEK", "SOCK_DGRAM"):
        if hasattr(socket, name):
            assert getattr(udp, name) == getattr(socket, name), name


def test_broadcast_needs_so_broadcast_and_reaches_everyone_including_us():
    sched, a, b = two_hosts()
    rx_b = b.udp(9)
    rx_a = a.udp(9)
    tx = a.udp()
    bcast = ip_bytes("10.0.0.255")
    assert errno_of(lambda: tx.sendmsg(b"hello all", addr=(bcast, 9))) == errno.EACCES
    assert errno_of(lambda: tx.connect(bcast, 9)) == errno.EACCES
    tx.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
    tx.sendmsg(b"hello all", addr=(bcast, 9))
    sched.run_for(10 * MS)
    assert rx_b.recvmsg(100)[0] == b"hello all"
    assert rx_a.recvmsg(100)[0] == b"hello all"  # our own broadcast, looped back
    assert a.net.mib.udp["OutDatagrams"] == 1
    # the limited broadcast leaves through the device the source address belongs to
    tx2 = a.udp(0, "10.0.0.1")
    tx2.setsockopt(SOL_SOCKET, SO_BROADCAST, 1)
    tx2.sendmsg(b"limited", addr=(ip_bytes("255.255.255.255"), 9))
    sched.run_for(10 * MS)
    assert rx_b.recvmsg(100)[0] == b"limited" and rx_a.recvmsg(100)[0] == b"limited"


def test_receive_buffer_overflow_counts_rcvbuf_errors():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    rx.setsockopt(SOL_SOCKET, SO_RCVBUF, 1)
    assert rx.getsockopt(SOL_SOCKET, SO_RCVBUF) == 2304  # SOCK_MIN_RCVBUF
    tx = a.udp()
    for i in range(10):
        tx.sendmsg(bytes([i]) * 100, addr=(B, 9))
    sched.run_for(10 * MS)
    queued = len(rx.rcvq)
    assert 1 <= queued < 10
    udp = b.net.mib.udp
    assert udp["RcvbufErrors"] == 10 - queued and udp["InErrors"] == 10 - queued
    assert rx.drops == 10 - queued
    got = [rx.recvmsg(200)[0][0] for _ in range(queued)]
    assert got == list(range(queued))  # the first ones were kept
    rx.setsockopt(SOL_SOCKET, SO_RCVBUF, 1 << 20)
    assert rx.sk_rcvbuf == 2 * 212992  # clamped to rmem_max, doubled


def test_checksums_zero_bad_and_offloaded():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 17,
                                 udp_datagram("10.0.0.1", "10.0.0.2", 5, 9, b"nocsum", False)))
    assert rx.recvmsg(100)[0] == b"nocsum"  # 0 means no checksum
    bad = bytearray(udp_datagram("10.0.0.1", "10.0.0.2", 5, 9, b"bad"))
    bad[6] ^= 0x40
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 17, bytes(bad)))
    short = udp_datagram("10.0.0.1", "10.0.0.2", 5, 9, b"short")[:10]
    inject_ip(b.dev, ipv4_packet("10.0.0.1", "10.0.0.2", 17, short))
    udp = b.net.mib.udp
    assert (udp["InCsumErrors"], udp["InErrors"]) == (1, 2)
    assert not rx.rcvq and b.kernel.skb_live == 0


def test_checksum_offload_partial_on_transmit_and_verified_on_receive():
    sched, a, b = two_hosts(features=NETIF_F_HW_CSUM | NETIF_F_RXCSUM)
    partials = []
    rx = b.udp(9)
    tx = a.udp()
    tap = Tap(b.kernel)
    original = a.dev.netdev_ops.ndo_start_xmit

    def spy(skb, dev):
        partials.append(skb.ip_summed == CHECKSUM_PARTIAL)
        return original(skb, dev)

    a.dev.netdev_ops.ndo_start_xmit = spy
    tx.sendmsg(b"offloaded", addr=(B, 9))
    tx.sendmsg(b"y" * 3000, addr=(B, 9))  # fragmented: checksummed in software first
    sched.run_for(10 * MS)
    assert rx.recvmsg(100)[0] == b"offloaded" and rx.recvmsg(4000)[0] == b"y" * 3000
    frames = [f for _t, f in tap.received(ETH_P_IP)]
    udp = UdpPacket.checked(Ipv4Packet.checked(frames[0][14:]).payload, A, B)
    assert udp.checksum != 0  # the "hardware" filled it in (a tap on A sees only the seed)
    assert partials == [False, True, False, False, False]  # ARP, datagram, 3 fragments
    assert b.net.mib.udp["InCsumErrors"] == 0


def test_socket_options_ttl_tos_mtu():
    sched, a, b = two_hosts()
    b.udp(9)
    tap = Tap(a.kernel)
    tx = a.udp()
    tx.setsockopt(SOL_IP, IP_TTL, 7)
    tx.setsockopt(SOL_IP, IP_TOS, 0x10)
    assert tx.getsockopt(SOL_IP, IP_TTL) == 7 and tx.getsockopt(SOL_IP, IP_TOS) == 0x10
    assert errno_of(lambda: tx.setsockopt(SOL_IP, IP_TTL, 300)) == errno.EINVAL
    assert errno_of(lambda: tx.setsockopt(SOL_IP, IP_MTU_DISCOVER, 9)) == errno.EINVAL
    assert errno_of(lambda: tx.getsockopt(SOL_IP, IP_MTU)) == errno.ENOTCONN
    tx.connect(B, 9)
    assert tx.getsockopt(SOL_IP, IP_MTU) == 1500
    tx.sendmsg(b"x")
    sched.run_for(10 * MS)
    ip = Ipv4Packet.checked(tap.sent(ETH_P_IP)[-1][1][14:])
    assert (ip.ttl, ip.tos, ip.df) == (7, 0x10, True)
    tx.setsockopt(SOL_IP, IP_TTL, -1)
    assert tx.getsockopt(SOL_IP, IP_TTL) == 64
    assert errno_of(lambda: tx.setsockopt(99, 1, 1)) == errno.ENOPROTOOPT


def test_poll_wakeups_shutdown_and_close():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    events = []
    rx.wq.append(lambda sk, ev: events.append(ev))
    assert rx.poll() == EPOLLOUT | 0x100  # EPOLLOUT | EPOLLWRNORM
    a.udp().sendmsg(b"wake", addr=(B, 9))
    sched.run_for(10 * MS)
    assert rx.poll() & EPOLLIN and events and events[0] & EPOLLIN
    assert errno_of(lambda: rx.shutdown(0)) == errno.ENOTCONN  # unconnected, bits still set
    assert rx.poll() & EPOLLRDHUP
    rx.recvmsg(100)
    assert rx.recvmsg(100) == (b"", None)  # read side shut
    rx.connect(A, 1)
    rx.shutdown(1)
    assert rx.poll() & EPOLLHUP
    assert errno_of(lambda: rx.sendmsg(b"x")) == errno.EPIPE
    rx.close()
    assert errno_of(lambda: rx.recvmsg(1)) == errno.EBADF
    assert 9 not in b.net.udp.ports


def test_send_buffer_limits_then_frees_and_wakes_writers():
    sched, a, _b = two_hosts()
    tx = a.udp()
    tx.setsockopt(SOL_SOCKET, SO_SNDBUF, 1)  # 4608 bytes
    woken = []
    tx.wq.append(lambda sk, ev: woken.append(ev))
    sent = 0
    with pytest.raises(BlockingIOError):
        for _ in range(100):  # 10.0.0.3 does not answer ARP: the datagrams wait
            tx.sendmsg(b"z" * 500, addr=(ip_bytes("10.0.0.3"), 9))
            sent += 1
    assert 1 <= sent < 10 and not tx.poll() & EPOLLOUT
    sched.run_for(4 * S)  # resolution fails, the skbs are freed
    assert tx.wmem_alloc == 0 and tx.poll() & EPOLLOUT
    assert any(ev & EPOLLOUT for ev in woken)
    assert a.kernel.skb_live == 0
