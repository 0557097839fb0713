"""The last measured differences from Linux of issue 12, each checked against this machine's
kernel: getsockopt's buflen 0, unknown option levels per socket type, IP_MTU_DISCOVER / IP_MTU /
IP_RECVERR on TCP and their effects, the SYN-ACK's TOS/TTL/DF, SO_ATTACH_FILTER's EINVAL and
the ping identifier rover.

Linux's reference: CPython's ``sock_getsockopt`` (Modules/socketmodule.c), ``do_ip_getsockopt``
and ``ip_dont_fragment`` (net/ipv4/ip_sockglue.c, include/net/ip.h), ``tcp_v4_err`` and
``tcp_v4_send_synack`` (net/ipv4/tcp_ipv4.c), ``packet_getsockopt`` (net/packet/af_packet.c),
``sk_attach_filter`` (net/core/filter.c), ``ping_get_port`` (net/ipv4/ping.c).
"""

from __future__ import annotations

import errno
import socket as pysocket
import struct

import pytest

from ixsim import World
from stack.core import ETH_P_ALL, PACKET_OUTGOING, PacketType, consume_skb
from stack.tcp.table import tcp_v4_err
from stack.uapi import (
    EPOLLERR,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_PMTUDISC_DO,
    IP_PMTUDISC_DONT,
    IP_PMTUDISC_PROBE,
    IP_RECVERR,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPPROTO_TCP,
    SO_ATTACH_FILTER,
    SO_ERROR,
    SO_MARK,
    SO_PRIORITY,
    SO_RCVBUF,
    SOCK_DGRAM,
    SOL_SOCKET,
    TCP_NODELAY,
)

ICMP_DEST_UNREACH = 3
ICMP_HOST_UNREACH = 1
IP_DF = 0x40  # the high byte of frag_off


@pytest.fixture
def pair():
    w = World(seed=7)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0, latency="1ms")
    yield w, a, b
    w.close()


def connected(a, b, port=5000, before_listen=None, before_connect=None):
    srv = b.socket()
    if before_listen:
        before_listen(srv)
    srv.bind(("0.0.0.0", port))
    srv.listen()
    cli = a.socket()
    if before_connect:
        before_connect(cli)
    cli.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return srv, cli, conn


def oserr(fn, *args) -> int:
    with pytest.raises(OSError) as exc:
        fn(*args)
    return exc.value.errno


# -- getsockopt ------------------------------------------------------------------------------------
def test_getsockopt_buflen_zero_is_the_int_form(pair):
    _, a, _ = pair
    s = a.socket()
    assert s.getsockopt(SOL_SOCKET, SO_RCVBUF, 0) == s.getsockopt(SOL_SOCKET, SO_RCVBUF)
    assert isinstance(s.getsockopt(SOL_SOCKET, SO_RCVBUF, 0), int)
    assert s.getsockopt(IPPROTO_TCP, TCP_NODELAY, 0) == 0
    assert len(s.getsockopt(SOL_SOCKET, SO_RCVBUF, 4)) == 4


def test_unknown_levels_fail_as_each_linux_protocol_does(pair):
    _, a, _ = pair
    tcp = a.socket()
    udp = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    raw = a.socket(pysocket.AF_INET, pysocket.SOCK_RAW, pysocket.IPPROTO_ICMP)
    pkt = a.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, 0)
    # ip_getsockopt: a level that is not SOL_IP is EOPNOTSUPP (setsockopt says ENOPROTOOPT)
    for s in (tcp, udp, raw):
        assert oserr(s.getsockopt, 999, 1) == errno.EOPNOTSUPP
        assert oserr(s.setsockopt, 999, 1, 1) == errno.ENOPROTOOPT
        assert oserr(s.getsockopt, SOL_SOCKET, 999) == errno.ENOPROTOOPT
        assert oserr(s.getsockopt, IPPROTO_IP, 999) == errno.ENOPROTOOPT
    assert oserr(tcp.getsockopt, pysocket.IPPROTO_UDP, 999) == errno.EOPNOTSUPP
    assert oserr(udp.getsockopt, pysocket.IPPROTO_UDP, 999) == errno.ENOPROTOOPT
    # packet_getsockopt: anything but SOL_PACKET is ENOPROTOOPT
    assert oserr(pkt.getsockopt, 999, 1) == errno.ENOPROTOOPT
    assert oserr(pkt.getsockopt, SOL_SOCKET, 999) == errno.ENOPROTOOPT


# -- IP_MTU_DISCOVER, IP_MTU and IP_RECVERR on TCP -------------------------------------------------
def test_tcp_ip_mtu_discover_sets_df_and_ip_mtu_needs_a_route(pair):
    w, a, b = pair
    cap = b.capture("eth0", "tcp and src host 10.0.0.1")
    probe = a.socket()
    assert probe.getsockopt(IPPROTO_IP, IP_MTU_DISCOVER) == 1  # IP_PMTUDISC_WANT
    assert oserr(probe.getsockopt, IPPROTO_IP, IP_MTU) == errno.ENOTCONN
    assert oserr(probe.setsockopt, IPPROTO_IP, IP_MTU_DISCOVER, 6) == errno.EINVAL
    srv, cli, conn = connected(a, b)
    assert cli.getsockopt(IPPROTO_IP, IP_MTU) == 1500
    cli.sendall(b"want")
    w.run_for("10ms")
    assert cap.frames and all(f.frame[20] & IP_DF for f in cap.frames)  # SYN, ACK, data
    seen = len(cap.frames)
    cli.setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
    cli.sendall(b"dont")
    w.run_for("10ms")
    assert conn.recv(100) == b"wantdont"
    assert not cap.frames[-1].frame[20] & IP_DF
    cli.setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)  # no DF either
    cli.sendall(b"probe")
    w.run_for("10ms")
    assert not cap.frames[-1].frame[20] & IP_DF
    cli.setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    cli.sendall(b"do")
    w.run_for("10ms")
    assert cap.frames[-1].frame[20] & IP_DF and len(cap.frames) > seen


def _icmp_unreach_for(sock) -> None:
    """Feed TCP's error handler an ICMP host unreachable quoting ``sock``'s next segment."""
    sk = sock.sk
    iph = bytearray(20)
    iph[12:16] = pysocket.inet_aton(sock.getsockname()[0])
    iph[16:20] = pysocket.inet_aton(sock.getpeername()[0])
    l4 = struct.pack("!HHI", sock.getsockname()[1], sock.getpeername()[1], sk.snd_una)
    tcp_v4_err(sk.net, bytes(iph), l4, ICMP_DEST_UNREACH, ICMP_HOST_UNREACH)


def test_tcp_ip_recverr_reports_a_soft_icmp_error_at_once(pair):
    _, a, b = pair
    _, quiet, _ = connected(a, b, port=5001)
    _icmp_unreach_for(quiet)
    assert quiet.getsockopt(SOL_SOCKET, SO_ERROR) == 0  # only sk_err_soft: TCP keeps trying
    assert quiet.sk.sk_err_soft == errno.EHOSTUNREACH

    def recverr(s):
        s.setsockopt(IPPROTO_IP, IP_RECVERR, 1)

    _, loud, _ = connected(a, b, port=5002, before_connect=recverr)
    assert loud.getsockopt(IPPROTO_IP, IP_RECVERR) == 1
    _icmp_unreach_for(loud)
    assert loud.getsockopt(SOL_SOCKET, SO_ERROR) == errno.EHOSTUNREACH


def test_accepted_socket_inherits_mtu_discover_and_recverr(pair):
    _, a, b = pair

    def opts(s):
        s.setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        s.setsockopt(IPPROTO_IP, IP_RECVERR, 1)

    _, _, conn = connected(a, b, before_listen=opts)
    assert conn.getsockopt(IPPROTO_IP, IP_MTU_DISCOVER) == IP_PMTUDISC_DONT
    assert conn.getsockopt(IPPROTO_IP, IP_RECVERR) == 1


# -- the SYN-ACK is the listener's -----------------------------------------------------------------
def test_synack_carries_the_listeners_tos_ttl_df_priority_and_mark(pair):
    w, a, b = pair
    cap = a.capture("eth0", "tcp and src host 10.0.0.2")
    marks = []

    def tap(skb, dev, pt, orig):
        if skb.pkt_type == PACKET_OUTGOING and skb.head[skb.data + 23] == 6:
            marks.append((skb.priority, skb.mark))
        consume_skb(skb)
        return 0

    b.kernel.dev_add_pack(PacketType(ETH_P_ALL, tap, dev=b.eth0))

    def opts(s):
        s.setsockopt(IPPROTO_IP, IP_TOS, 0x10)
        s.setsockopt(IPPROTO_IP, IP_TTL, 7)
        s.setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        s.setsockopt(SOL_SOCKET, SO_PRIORITY, 5)
        s.setsockopt(SOL_SOCKET, SO_MARK, 0x42)

    connected(a, b, before_listen=opts)
    w.run_for("10ms")
    synack = cap.frames[0].frame
    assert synack[47] & 0x12 == 0x12  # SYN|ACK
    assert (synack[15], synack[22]) == (0x10, 7)
    assert not synack[20] & IP_DF
    assert marks[0] == (5, 0x42)


# -- packet sockets: a program Linux refuses is EINVAL ---------------------------------------------
def test_packet_attach_filter_with_an_invalid_program_is_einval(pair):
    _, a, _ = pair
    s = a.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, pysocket.htons(3))
    bad = struct.pack("HBBI", 0x06, 0, 0, 0)[:7]  # not a whole sock_filter
    assert oserr(s.setsockopt, SOL_SOCKET, SO_ATTACH_FILTER, bad) == errno.EINVAL
    jump_out = struct.pack("HBBI", 0x05, 0, 0, 5) + struct.pack("HBBI", 0x06, 0, 0, 0xFFFF)
    assert oserr(s.setsockopt, SOL_SOCKET, SO_ATTACH_FILTER, jump_out) == errno.EINVAL
    assert oserr(s.setsockopt, SOL_SOCKET, SO_ATTACH_FILTER, "tcp and and") == errno.EINVAL


# -- ping sockets: identifiers from the rover ------------------------------------------------------
def test_ping_identifiers_come_from_the_rover_starting_at_one(pair):
    w, a, _ = pair
    a.sysctl("net.ipv4.ping_group_range", "0 0")
    first = a.socket(pysocket.AF_INET, SOCK_DGRAM, pysocket.IPPROTO_ICMP)
    second = a.socket(pysocket.AF_INET, SOCK_DGRAM, pysocket.IPPROTO_ICMP)
    first.bind(("0.0.0.0", 0))
    second.bind(("0.0.0.0", 0))
    # ping_get_port: the rover starts at 0 at boot and each pick is the next free one after it
    assert [first.getsockname()[1], second.getsockname()[1]] == [1, 2]


# -- SIOCINQ / SIOCOUTQ on datagram and packet sockets ---------------------------------------------
SIOCINQ, SIOCOUTQ, SIOCOUTQNSD = 0x541B, 0x5411, 0x894B


def test_udp_siocinq_is_the_next_datagrams_size_and_siocoutq_the_unsent(pair):
    w, a, b = pair
    rx = b.socket(pysocket.AF_INET, SOCK_DGRAM)
    rx.bind(("0.0.0.0", 9000))
    tx = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    assert rx.ioctl(SIOCINQ) == 0 and tx.ioctl(SIOCOUTQ) == 0
    tx.sendto(b"x" * 100, ("10.0.0.2", 9000))
    assert tx.ioctl(SIOCOUTQ) > 100  # the skb's truesize until the driver frees it
    tx.sendto(b"y" * 7, ("10.0.0.2", 9000))
    w.run_for("10ms")
    assert tx.ioctl(SIOCOUTQ) == 0
    assert rx.ioctl(SIOCINQ) == 100  # first_packet_length: the first datagram only
    rx.recv(1000)
    assert rx.ioctl(SIOCINQ) == 7
    assert oserr(rx.ioctl, SIOCOUTQNSD) == errno.ENOTTY


def test_packet_siocinq_is_the_next_frame_as_recv_gives_it(pair):
    w, a, b = pair
    raw = b.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, pysocket.htons(0x0800))
    cooked = b.socket(pysocket.AF_PACKET, pysocket.SOCK_DGRAM, pysocket.htons(0x0800))
    assert raw.ioctl(SIOCINQ) == 0 and raw.ioctl(SIOCOUTQ) == 0
    a.socket(pysocket.AF_INET, SOCK_DGRAM).sendto(b"z" * 10, ("10.0.0.2", 9))
    w.run_for("10ms")
    # 14 + 20 + 8 + 10 bytes padded to Ethernet's 60 on the wire, as a real NIC hands it up
    assert raw.ioctl(SIOCINQ) == 60 == len(raw.recv(2000))
    assert cooked.ioctl(SIOCINQ) == 60 - 14
    assert oserr(raw.ioctl, SIOCOUTQNSD) == errno.ENOTTY
    tx = a.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, pysocket.htons(3))
    tx.bind(("eth0", 0))
    frame = bytes(b.eth0.dev_addr) + bytes(a.eth0.dev_addr) + struct.pack("!H", 0x88B5)
    tx.send(frame + bytes(46))
    assert tx.ioctl(SIOCOUTQ) >= 60
    w.run_for("1ms")
    assert tx.ioctl(SIOCOUTQ) == 0


def test_raw_siocinq_counts_the_ip_header(pair):
    w, a, b = pair
    r = b.socket(pysocket.AF_INET, pysocket.SOCK_RAW, pysocket.IPPROTO_UDP)
    assert r.ioctl(SIOCINQ) == 0
    a.socket(pysocket.AF_INET, SOCK_DGRAM).sendto(b"q" * 4, ("10.0.0.2", 9))
    w.run_for("10ms")
    assert r.ioctl(SIOCINQ) == 20 + 8 + 4 == len(r.recv(100))
    assert r.ioctl(SIOCOUTQ) == 0


# -- MSG_PEEK | MSG_WAITALL stops at the urgent mark -----------------------------------------------
def test_peek_waitall_returns_short_at_the_urgent_mark_as_linux(pair):
    w, a, b = pair
    _, cli, conn = connected(a, b)
    cli.send(b"abc")
    cli.send(b"!", pysocket.MSG_OOB)
    cli.send(b"def")
    w.run_for("10ms")
    conn.settimeout(None)  # blocking in the kernel, bounded by SO_RCVTIMEO
    conn.setsockopt(SOL_SOCKET, pysocket.SO_RCVTIMEO, struct.pack("ll", 1, 0))
    # measured on Linux: b"abc" at once, twice; then b"def" after the 1 s timeout, twice
    outcomes = []
    for flags in (pysocket.MSG_PEEK | pysocket.MSG_WAITALL, pysocket.MSG_WAITALL) * 2:
        t0 = w.now
        data = conn.recv(10, flags)
        outcomes.append((data, (w.now - t0) // 1_000_000_000))
    assert outcomes == [(b"abc", 0), (b"abc", 0), (b"def", 1), (b"def", 1)]


# -- raw sockets: IP_RECVERR queues ICMP errors ----------------------------------------------------
def test_raw_socket_ip_recverr_queues_the_icmp_error_as_linux(pair):
    w, a, _ = pair
    r = a.socket(pysocket.AF_INET, pysocket.SOCK_RAW, pysocket.IPPROTO_UDP)
    r.setsockopt(IPPROTO_IP, IP_RECVERR, 1)
    dgram = struct.pack("!HHHH", 40000, 9, 8 + 4, 0) + b"ping"  # to b's closed port 9
    r.sendto(dgram, ("10.0.0.2", 0))
    w.run_for("10ms")
    assert r.sk.poll() & EPOLLERR
    data, anc, flags, addr = r.recvmsg(100, 512, pysocket.MSG_ERRQUEUE)
    # measured on Linux (127.0.0.1): the quoted UDP header and data, MSG_ERRQUEUE, (dst, 0),
    # ECONNREFUSED from ICMP (origin 2) type 3 code 3, the offender after the header
    assert (data, flags, addr) == (dgram, pysocket.MSG_ERRQUEUE, ("10.0.0.2", 0))
    assert [(level, ctype) for level, ctype, _ in anc] == [(IPPROTO_IP, IP_RECVERR)]
    ee = anc[0][2]
    assert struct.unpack("=IBBBBII", ee[:16]) == (errno.ECONNREFUSED, 2, 3, 3, 0, 0, 0)
    assert pysocket.inet_ntoa(ee[20:24]) == "10.0.0.2"
    assert r.getsockopt(SOL_SOCKET, SO_ERROR) == 0  # sk_err follows the (now empty) queue
    assert oserr(r.recvmsg, 100, 512, pysocket.MSG_ERRQUEUE) == errno.EAGAIN
    # off: no queue, and a hard error is not pending on an unconnected socket
    r.setsockopt(IPPROTO_IP, IP_RECVERR, 0)
    r.sendto(dgram, ("10.0.0.2", 0))
    w.run_for("10ms")
    assert oserr(r.recvmsg, 100, 512, pysocket.MSG_ERRQUEUE) == errno.EAGAIN
    assert r.getsockopt(SOL_SOCKET, SO_ERROR) == 0
