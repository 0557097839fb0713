"""What each socket option does, seen from outside (issue 12 item 3): frames on the wire, the
order the qdisc sends them in, errnos and the virtual time they come at.

Linux's reference: ``sk_setsockopt`` (net/core/sock.c), ``__ip_sock_set_tos`` and
``rt_tos2priority`` (net/ipv4/ip_sockglue.c, include/net/route.h), pfifo_fast's ``prio2band``
(net/sched/sch_generic.c), ``sock_rcvtimeo``/``sock_sndtimeo`` and ``__inet_stream_connect``,
``tcp_set_window_clamp``, ``tcp_clamp_rto_to_user_timeout``/``tcp_write_timeout``,
``tcp_close`` with ``linger2 < 0``, ``tcp_stream_memory_free`` (net/ipv4/tcp*.c).
"""

from __future__ import annotations

import errno
import socket as pysocket
import struct

import pytest

from ixsim import World
from stack.core import ETH_P_ALL, PACKET_OUTGOING, PacketType, consume_skb
from stack.core.netdevice import netif_stop_queue, netif_wake_queue
from stack.sock_reuseport import ehashfn
from stack.uapi import (
    EPOLLIN,
    EPOLLOUT,
    IP_TOS,
    IP_TTL,
    IPPROTO_IP,
    IPPROTO_TCP,
    SO_ATTACH_FILTER,
    SO_BINDTODEVICE,
    SO_DETACH_FILTER,
    SO_DONTROUTE,
    SO_MARK,
    SO_NO_CHECK,
    SO_PRIORITY,
    SO_RCVTIMEO,
    SO_REUSEPORT,
    SO_SNDTIMEO,
    SOCK_DGRAM,
    SOL_SOCKET,
    TCP_LINGER2,
    TCP_NOTSENT_LOWAT,
    TCP_QUICKACK,
    TCP_USER_TIMEOUT,
    TCP_WINDOW_CLAMP,
)
from stack.wire import ip_bytes

MS = 1_000_000
S = 1_000_000_000
TV = struct.Struct("ll")


@pytest.fixture
def pair():
    w = World(seed=5)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0, latency="1ms")
    yield w, a, b
    w.close()


def connected(w, a, b, port=5000, before_connect=None):
    srv = b.socket()
    srv.bind(("0.0.0.0", port))
    srv.listen()
    cli = a.socket()
    if before_connect:
        before_connect(cli)
    cli.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return srv, cli, conn


def ip_fields(frame: bytes) -> tuple[int, int, int]:
    """(TOS, TTL, protocol) of an Ethernet + IPv4 frame."""
    return frame[15], frame[22], frame[23]


def udp_dport(frame: bytes) -> int:
    return struct.unpack_from("!H", frame, 14 + 20 + 2)[0]


# -- SO_PRIORITY and IP_TOS: the pfifo_fast band -----------------------------------------------
def test_priority_and_tos_pick_the_pfifo_fast_band(pair):
    w, a, b = pair
    socks = {}
    for port, opt in ((7001, None), (7002, (SOL_SOCKET, SO_PRIORITY, 2)),
                      (7003, (SOL_SOCKET, SO_PRIORITY, 6)), (7004, (IPPROTO_IP, IP_TOS, 0x10))):
        s = a.socket(pysocket.AF_INET, SOCK_DGRAM)
        if opt:
            s.setsockopt(*opt)
        socks[port] = s
    socks[7001].sendto(b"warm", ("10.0.0.2", 7000))  # resolve ARP first
    w.run_for("10ms")
    cap = b.capture("eth0", "udp and dst portrange 7001-7004")
    netif_stop_queue(a.eth0)  # back the queue up: every datagram waits in the qdisc
    for port in (7002, 7001, 7003, 7002, 7004, 7001):
        socks[port].sendto(b"x", ("10.0.0.2", port))
    assert a.eth0.qdisc.qlen == 6
    netif_wake_queue(a.eth0)
    w.run_for("10ms")
    order = [udp_dport(f.frame) for f in cap.frames]
    # band 0 (priority 6: TC_PRIO_INTERACTIVE, and TOS 0x10 = lowdelay -> 6), then band 1
    # (priority 0), then band 2 (priority 2: TC_PRIO_BULK); FIFO within a band
    assert order == [7003, 7004, 7001, 7001, 7002, 7002]


def test_tcp_priority_reaches_the_qdisc(pair):
    w, a, b = pair
    marks = []

    def tap(skb, dev, pt, orig):
        if skb.pkt_type == PACKET_OUTGOING and skb.head[skb.data + 23] == 6:
            marks.append((skb.priority, skb.mark))
        consume_skb(skb)
        return 0

    a.kernel.dev_add_pack(PacketType(ETH_P_ALL, tap, dev=a.eth0))

    def opts(cli):
        cli.setsockopt(SOL_SOCKET, SO_PRIORITY, 6)
        cli.setsockopt(SOL_SOCKET, SO_MARK, 0xBEEF)

    srv, cli, conn = connected(w, a, b, before_connect=opts)
    cli.sendall(b"data")
    w.run_for("10ms")
    assert marks and set(marks) == {(6, 0xBEEF)}  # SYN, ACK and data alike


def test_udp_mark_and_priority_are_on_every_skb(pair):
    w, a, b = pair
    seen = []

    def tap(skb, dev, pt, orig):
        if skb.pkt_type == PACKET_OUTGOING and skb.head[skb.data + 23] == 17:
            seen.append((skb.priority, skb.mark))
        consume_skb(skb)
        return 0

    a.kernel.dev_add_pack(PacketType(ETH_P_ALL, tap, dev=a.eth0))
    s = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    s.setsockopt(SOL_SOCKET, SO_MARK, 7)
    s.setsockopt(IPPROTO_IP, IP_TOS, 0x08)  # throughput: TC_PRIO_BULK
    s.sendto(b"x", ("10.0.0.2", 9))
    w.run_for("10ms")
    assert seen == [(2, 7)]


# -- IP_TOS and IP_TTL on the wire ----------------------------------------------------------------
def test_tcp_segments_carry_ip_tos_and_ttl(pair):
    w, a, b = pair
    cap = b.capture("eth0", "tcp and src host 10.0.0.1")

    def opts(cli):
        cli.setsockopt(IPPROTO_IP, IP_TOS, 0x10)
        cli.setsockopt(IPPROTO_IP, IP_TTL, 9)

    srv, cli, conn = connected(w, a, b, before_connect=opts)
    cli.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    w.run_for("10ms")
    assert len(cap.frames) >= 3  # SYN, ACK, data
    assert {ip_fields(f.frame) for f in cap.frames} == {(0x10, 9, 6)}
    cli.setsockopt(IPPROTO_IP, IP_TTL, -1)  # back to net.ipv4.ip_default_ttl
    cli.sendall(b"more")
    w.run_for("10ms")
    assert ip_fields(cap.frames[-1].frame) == (0x10, 64, 6)


def test_udp_datagrams_carry_ip_tos_and_ttl(pair):
    w, a, b = pair
    cap = b.capture("eth0", "udp")
    s = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    s.setsockopt(IPPROTO_IP, IP_TOS, 0xB8)
    s.setsockopt(IPPROTO_IP, IP_TTL, 3)
    s.sendto(b"x", ("10.0.0.2", 9))
    w.run_for("10ms")
    assert [ip_fields(f.frame) for f in cap.frames] == [(0xB8, 3, 17)]


# -- SO_RCVTIMEO / SO_SNDTIMEO ---------------------------------------------------------------------
def test_rcvtimeo_fails_a_blocking_recv_with_eagain(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(1, 250_000))
    t0 = w.sched.now
    with pytest.raises(BlockingIOError) as exc:
        conn.recv(10)
    assert exc.value.errno == errno.EAGAIN
    assert w.sched.now - t0 == 1250 * MS
    cli.sendall(b"hi")
    assert conn.recv(10) == b"hi"  # data before the timeout: returned as usual


def test_rcvtimeo_on_accept_and_udp(pair):
    w, a, b = pair
    srv = b.socket()
    srv.bind(("0.0.0.0", 5000))
    srv.listen()
    srv.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(0, 300_000))
    t0 = w.sched.now
    with pytest.raises(BlockingIOError):
        srv.accept()
    assert w.sched.now - t0 == 300 * MS
    u = b.socket(pysocket.AF_INET, SOCK_DGRAM)
    u.bind(("0.0.0.0", 9))
    u.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(2, 0))
    t0 = w.sched.now
    with pytest.raises(BlockingIOError):
        u.recvfrom(100)
    assert w.sched.now - t0 == 2 * S


def test_a_negative_rcvtimeo_is_a_zero_timeout(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(-1, 0))
    t0 = w.sched.now
    with pytest.raises(BlockingIOError):
        conn.recv(10)
    assert w.sched.now == t0


def test_cpython_timeout_is_its_own_and_wins(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(5, 0))
    conn.settimeout(0.5)  # CPython polls a non-blocking fd: the kernel timeout never runs
    t0 = w.sched.now
    with pytest.raises(TimeoutError):
        conn.recv(10)
    assert w.sched.now - t0 == 500 * MS


def test_rcvtimeo_in_a_task(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVTIMEO, TV.pack(0, 100_000))
    got = []

    async def reader():
        t0 = w.sched.now
        try:
            await conn.recv(10)
        except BlockingIOError as exc:
            got.append((exc.errno, w.sched.now - t0))

    w.spawn(reader())
    w.run_for("1s")
    assert got == [(errno.EAGAIN, 100 * MS)]


def test_sndtimeo_bounds_connect_with_einprogress(pair):
    w, a, b = pair
    w.cables[0].unplug()
    cli = a.socket()
    cli.setsockopt(SOL_SOCKET, SO_SNDTIMEO, TV.pack(0, 700_000))
    t0 = w.sched.now
    with pytest.raises(BlockingIOError) as exc:
        cli.connect(("10.0.0.2", 5000))
    assert exc.value.errno == errno.EINPROGRESS
    assert w.sched.now - t0 == 700 * MS
    with pytest.raises(OSError) as again:
        cli.connect(("10.0.0.2", 5000))  # the handshake goes on: a second call is EALREADY
    assert again.value.errno == errno.EALREADY
    assert cli.connect_ex(("10.0.0.2", 5000)) == errno.EALREADY


def test_sndtimeo_bounds_a_send_into_a_full_buffer(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setsockopt(SOL_SOCKET, SO_SNDTIMEO, TV.pack(1, 0))
    w.cables[0].unplug()
    t0 = w.sched.now
    with pytest.raises(BlockingIOError) as exc:
        cli.sendall(bytes(4 << 20))  # more than the send buffer; nothing is acknowledged
    assert exc.value.errno == errno.EAGAIN
    assert w.sched.now - t0 == S


# -- SO_BINDTODEVICE -------------------------------------------------------------------------------
@pytest.fixture
def three():
    w = World(seed=5)
    a = w.host("a", "10.0.0.1/24", "10.0.1.1/24", nics=2)
    b = w.host("b", "10.0.0.2/24")
    c = w.host("c", "10.0.1.2/24")
    w.cable(a.eth0, b.eth0, latency="1ms")
    w.cable(a.eth1, c.eth0, latency="1ms")
    yield w, a, b, c
    w.close()


def test_bindtodevice_routes_udp_out_of_that_device(three):
    w, a, b, c = three
    on_b = b.capture("eth0", "udp")
    on_a1 = a.capture("eth1", "arp and dst host 10.0.0.2")
    s = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    s.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, b"eth1")
    s.sendto(b"x", ("10.0.0.2", 9))  # the route says eth0; the binding says eth1
    w.run_for("3s")
    assert not on_b.frames
    assert on_a1.frames and on_a1.frames[0].direction == "out"  # out of eth1 (ARP fails)
    s.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, b"")  # unbound: the route again
    s.sendto(b"y", ("10.0.0.2", 9))
    w.run_for("10ms")
    assert len(on_b.frames) == 1


def test_bindtodevice_restricts_a_tcp_listener_to_its_device(three):
    w, a, b, c = three
    srv = a.socket()
    srv.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, b"eth1")
    srv.bind(("0.0.0.0", 5000))
    srv.listen()
    from_b = b.socket()
    with pytest.raises(ConnectionRefusedError):  # arrived on eth0: no listener there
        from_b.connect(("10.0.0.1", 5000))
    from_c = c.socket()
    from_c.connect(("10.0.1.1", 5000))
    conn, peer = srv.accept()
    assert peer[0] == "10.0.1.2"
    assert conn.getsockopt(SOL_SOCKET, SO_BINDTODEVICE, 16) == b"eth1\0"


def test_bindtodevice_tcp_connect_leaves_through_the_device(three):
    w, a, b, c = three
    cli = a.socket()
    cli.setsockopt(SOL_SOCKET, SO_BINDTODEVICE, b"eth1")
    cli.setblocking(False)
    with pytest.raises(BlockingIOError):
        cli.connect(("10.0.0.2", 5000))
    assert cli.sk.route.dev is a.eth1


# -- TCP_QUICKACK ----------------------------------------------------------------------------------
def ack_delay(w, a, b, conn_opt=None):
    srv, cli, conn = connected(w, a, b)
    if conn_opt is not None:
        conn.setsockopt(IPPROTO_TCP, TCP_QUICKACK, conn_opt)
    w.run_for("300ms")
    cap = a.capture("eth0", "tcp and src host 10.0.0.2")
    t0 = w.sched.now
    cli.sendall(b"x" * 100)
    w.run_for("300ms")
    return cap.frames[0].time_ns - t0


def test_quickack_off_delays_the_ack_and_on_sends_it_at_once(pair):
    w, a, b = pair
    assert ack_delay(w, a, b) < 3 * MS  # quick-ack mode: the ACK comes back at once
    w2 = World(seed=5)
    a2, b2 = w2.host("a", "10.0.0.1/24"), w2.host("b", "10.0.0.2/24")
    w2.cable(a2.eth0, b2.eth0, latency="1ms")
    delayed = ack_delay(w2, a2, b2, conn_opt=0)  # pingpong: the delayed-ACK timer decides
    assert delayed >= 40 * MS
    w2.close()


def test_quickack_sends_a_scheduled_ack_now(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(IPPROTO_TCP, TCP_QUICKACK, 0)
    w.run_for("300ms")
    cli.sendall(b"x" * 100)
    w.run_until(lambda: conn.poll() & EPOLLIN, "10ms")  # its ACK waits on the delack timer
    assert [name for name, _ in conn.sk.timers()] == ["delack"]
    out = b.net.mib.tcp["OutSegs"]
    conn.setsockopt(IPPROTO_TCP, TCP_QUICKACK, 1)
    assert b.net.mib.tcp["OutSegs"] == out + 1
    assert conn.getsockopt(IPPROTO_TCP, TCP_QUICKACK) == 1


# -- TCP_WINDOW_CLAMP ------------------------------------------------------------------------------
def test_window_clamp_bounds_the_window_we_offer(pair):
    w, a, b = pair
    clamp = 5000
    srv, cli, conn = connected(
        w, a, b, before_connect=lambda s: s.setsockopt(IPPROTO_TCP, TCP_WINDOW_CLAMP, clamp))
    assert cli.getsockopt(IPPROTO_TCP, TCP_WINDOW_CLAMP) == clamp
    assert 0 < conn.sk.snd_wnd <= clamp  # the window a offered in its handshake
    conn.setblocking(False)
    worst = 0
    for _ in range(20):  # a does not read: no autotuning moves the clamp
        try:
            conn.send(bytes(20_000))
        except BlockingIOError:
            pass
        w.run_for("1ms")
        worst = max(worst, conn.sk.snd_nxt - conn.sk.snd_una, conn.sk.snd_wnd)
    assert 0 < worst <= clamp
    assert cli.sk.rcv_nxt - cli.sk.copied_seq >= clamp  # data did flow, a window at a time
    with pytest.raises(OSError) as exc:
        cli.setsockopt(IPPROTO_TCP, TCP_WINDOW_CLAMP, 0)  # 0 only before a connection
    assert exc.value.errno == errno.EINVAL
    cli.setsockopt(IPPROTO_TCP, TCP_WINDOW_CLAMP, 100)  # at least SOCK_MIN_RCVBUF / 2
    assert cli.getsockopt(IPPROTO_TCP, TCP_WINDOW_CLAMP) == 1152


# -- TCP_USER_TIMEOUT ------------------------------------------------------------------------------
def test_user_timeout_aborts_with_etimedout(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setsockopt(IPPROTO_TCP, TCP_USER_TIMEOUT, 3000)
    w.cables[0].unplug()
    cli.send(b"lost")
    t0 = w.sched.now
    cli.settimeout(60)
    with pytest.raises(TimeoutError) as exc:
        cli.recv(10)
    assert exc.value.errno == errno.ETIMEDOUT  # the connection's error, not the call's timeout
    # the last RTO is clamped to the user timeout (tcp_clamp_rto_to_user_timeout)
    assert 3 * S <= w.sched.now - t0 <= 3 * S + 2 * MS


def test_without_user_timeout_the_connection_outlives_it(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    w.cables[0].unplug()
    cli.send(b"lost")
    w.run_for("10s")
    assert cli.sk.state.name == "ESTABLISHED"


# -- TCP_LINGER2 -----------------------------------------------------------------------------------
def fin_wait_2(w, a, b):
    srv, cli, conn = connected(w, a, b)
    cli.shutdown(pysocket.SHUT_WR)
    w.run_for("10ms")
    assert cli.sk.state.name == "FIN_WAIT_2"
    return cli, conn


def test_linger2_negative_resets_instead_of_fin_wait_2(pair):
    w, a, b = pair
    cli, conn = fin_wait_2(w, a, b)
    cli.setsockopt(IPPROTO_TCP, TCP_LINGER2, -1)
    sk = cli.sk
    cli.close()
    assert sk.state.name == "CLOSED"
    assert a.net.mib.tcpext["TCPAbortOnLinger"] == 1
    assert a.net.mib.tcp["OutRsts"] == 1
    w.run_for("10ms")
    assert conn.sk.state.name == "CLOSED"  # the peer, in CLOSE-WAIT, took the reset
    assert conn.recv(10) == b""  # its FIN came first: end of stream, as on Linux


def test_linger2_sets_the_orphaned_fin_wait_2_lifetime(pair):
    w, a, b = pair
    cli, conn = fin_wait_2(w, a, b)
    cli.setsockopt(IPPROTO_TCP, TCP_LINGER2, 5)
    sk = cli.sk
    cli.close()
    w.run_for("4900ms")
    assert sk.state.name == "FIN_WAIT_2"
    w.run_for("200ms")
    assert sk.state.name == "CLOSED"  # tcp_fin_timeout (60 s) would have kept it


# -- TCP_NOTSENT_LOWAT -----------------------------------------------------------------------------
def test_notsent_lowat_gates_epollout_on_unsent_bytes(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4000)
    w.cables[0].unplug()
    cli.setblocking(False)
    sent = cli.send(bytes(40_000))  # checked whenever a new skb is needed, as Linux does
    assert sent < 40_000
    unsent = cli.sk.write_seq - cli.sk.snd_nxt
    assert unsent >= 4000  # the initial window went out; the rest waits
    assert not cli.poll() & EPOLLOUT
    cli.setsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0)  # back to the sysctl: UINT_MAX
    assert cli.poll() & EPOLLOUT
    cli.setsockopt(IPPROTO_TCP, TCP_NOTSENT_LOWAT, 4000)
    assert not cli.poll() & EPOLLOUT
    woken = []
    cli.sk.wq.append(lambda sk, ev: woken.append(w.sched.now))
    w.cables[0].plug()
    w.run_until(lambda: cli.poll() & EPOLLOUT, "30s")
    assert (cli.sk.write_seq - cli.sk.snd_nxt) < 4000
    assert woken  # a writer waiting in epoll hears of it (tcp_check_space)


# -- SO_REUSEPORT ---------------------------------------------------------------------------------
def test_reuseport_lets_listeners_share_a_port_and_spreads_connections(pair):
    w, a, b = pair
    plain = b.socket()
    plain.bind(("0.0.0.0", 6000))
    plain.listen()
    other = b.socket()
    other.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    with pytest.raises(OSError) as exc:  # the first one did not set it
        other.bind(("0.0.0.0", 6000))
    assert exc.value.errno == errno.EADDRINUSE
    group = []
    for _ in range(2):
        s = b.socket()
        s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
        s.bind(("0.0.0.0", 5000))
        s.listen()
        s.setblocking(False)
        group.append(s)
    late = b.socket()
    with pytest.raises(OSError) as exc:  # joining needs SO_REUSEPORT too
        late.bind(("0.0.0.0", 5000))
    assert exc.value.errno == errno.EADDRINUSE
    clients = []
    for _ in range(16):
        c = a.socket()
        c.connect(("10.0.0.2", 5000))
        clients.append(c)
    w.run_for("10ms")
    accepted = []
    for s in group:
        peers = set()
        while True:
            try:
                conn, peer = s.accept()
            except BlockingIOError:
                break
            peers.add(peer[1])
        accepted.append(peers)
    assert all(accepted) and sum(map(len, accepted)) == 16  # both members got connections
    # each flow went where the hash of its 4-tuple points (reciprocal_scale over the group)
    for c in clients:
        port = c.getsockname()[1]
        h = ehashfn(ip_bytes("10.0.0.2"), 5000, ip_bytes("10.0.0.1"), port)
        assert port in accepted[(h * 2) >> 32]


def test_reuseport_spreads_udp_datagrams_by_flow(pair):
    w, a, b = pair
    group = []
    for _ in range(3):
        s = b.socket(pysocket.AF_INET, SOCK_DGRAM)
        s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
        s.bind(("0.0.0.0", 9000))
        s.setblocking(False)
        group.append(s)
    senders = [a.socket(pysocket.AF_INET, SOCK_DGRAM) for _ in range(12)]
    for _ in range(3):  # three datagrams per flow
        for i, s in enumerate(senders):
            s.sendto(bytes([i]), ("10.0.0.2", 9000))
    w.run_for("10ms")
    got = []
    for s in group:
        flows = []
        while True:
            try:
                data, peer = s.recvfrom(10)
            except BlockingIOError:
                break
            flows.append(data[0])
        got.append(flows)
    assert sum(map(len, got)) == 36
    assert sum(1 for flows in got if flows) >= 2  # spread over the group
    for flows in got:  # a flow never splits across members
        assert all(flows.count(i) in (0, 3) for i in range(12))
    lone = b.socket(pysocket.AF_INET, SOCK_DGRAM)
    with pytest.raises(OSError) as exc:
        lone.bind(("0.0.0.0", 9000))
    assert exc.value.errno == errno.EADDRINUSE


# -- SO_DONTROUTE ---------------------------------------------------------------------------------
def test_dontroute_reaches_on_link_peers_only(pair):
    w, a, b = pair
    a.route("10.0.9.0/24", via="10.0.0.2")
    u = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    u.sendto(b"x", ("10.0.9.5", 9))  # through the gateway: fine without the option
    u.setsockopt(SOL_SOCKET, SO_DONTROUTE, 1)
    with pytest.raises(OSError) as exc:
        u.sendto(b"x", ("10.0.9.5", 9))
    assert exc.value.errno == errno.ENETUNREACH
    assert u.sendto(b"x", ("10.0.0.2", 9)) == 1  # on the link: sent
    t = a.socket()
    t.setsockopt(SOL_SOCKET, SO_DONTROUTE, 1)
    with pytest.raises(OSError) as exc:
        t.connect(("10.0.9.5", 80))
    assert exc.value.errno == errno.ENETUNREACH


# -- SO_NO_CHECK, and packet sockets' SO_PRIORITY / SO_MARK / SO_DETACH_FILTER ---------------------
def test_no_check_sends_udp_without_a_checksum(pair):
    w, a, b = pair
    cap = b.capture("eth0", "udp")
    s = a.socket(pysocket.AF_INET, SOCK_DGRAM)
    s.sendto(b"sum", ("10.0.0.2", 9))
    s.setsockopt(SOL_SOCKET, SO_NO_CHECK, 1)
    s.sendto(b"none", ("10.0.0.2", 9))
    w.run_for("10ms")
    sums = [struct.unpack_from("!H", f.frame, 14 + 20 + 6)[0] for f in cap.frames]
    assert sums[0] != 0 and sums[1] == 0  # RFC 768: zero means "no checksum"


def test_packet_socket_priority_mark_and_detach_filter(pair):
    w, a, b = pair
    seen = []

    def tap(skb, dev, pt, orig):
        if skb.pkt_type == PACKET_OUTGOING:
            seen.append((skb.priority, skb.mark))
        consume_skb(skb)
        return 0

    a.kernel.dev_add_pack(PacketType(ETH_P_ALL, tap, dev=a.eth0))
    tx = a.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, pysocket.htons(ETH_P_ALL))
    tx.bind(("eth0", 0))
    tx.setsockopt(SOL_SOCKET, SO_PRIORITY, 5)
    tx.setsockopt(SOL_SOCKET, SO_MARK, 9)
    frame = bytes(b.eth0.dev_addr) + bytes(a.eth0.dev_addr) + struct.pack("!H", 0x88B5)
    tx.send(frame + bytes(46))
    w.run_for("1ms")
    assert seen == [(5, 9)]
    rx = b.socket(pysocket.AF_PACKET, pysocket.SOCK_RAW, pysocket.htons(ETH_P_ALL))
    rx.bind(("eth0", pysocket.htons(ETH_P_ALL)))
    rx.setblocking(False)
    rx.setsockopt(SOL_SOCKET, SO_ATTACH_FILTER, "icmp")
    tx.send(frame + bytes(46))
    w.run_for("1ms")
    with pytest.raises(BlockingIOError):
        rx.recv(2048)
    rx.setsockopt(SOL_SOCKET, SO_DETACH_FILTER, 0)
    tx.send(frame + bytes(46))
    w.run_for("1ms")
    assert rx.recv(2048)[:12] == frame[:12]
