"""Socket options with Linux's observable effect (issue 12 item 3): SO_RCVLOWAT, TCP_DEFER_ACCEPT,
SO_LINGER with a timeout, and what an accepted socket inherits from its listener.

Two hosts on one cable in a World on virtual time; Linux's reference is ``tcp_poll``,
``tcp_recvmsg_locked``, ``tcp_set_rcvlowat`` (net/ipv4/tcp.c), ``tcp_check_req``
(net/ipv4/tcp_minisocks.c), ``reqsk_timer_handler`` (net/ipv4/inet_connection_sock.c),
``__tcp_close`` and ``sk_clone_lock`` (net/core/sock.c).
"""

from __future__ import annotations

import socket as pysocket
import struct

import pytest

from ixsim import World
from stack.uapi import (
    EPOLLIN,
    IPPROTO_TCP,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_OOBINLINE,
    SO_RCVLOWAT,
    SOL_SOCKET,
    TCP_DEFER_ACCEPT,
)

MS = 1_000_000
S = 1_000_000_000


@pytest.fixture
def pair():
    w = World(seed=3)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0, latency="1ms")
    yield w, a, b
    w.close()


def connected(w, a, b, port=5000, before_listen=None):
    srv = b.socket()
    srv.bind(("0.0.0.0", port))
    if before_listen:
        before_listen(srv)
    srv.listen()
    cli = a.socket()
    cli.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return srv, cli, conn


# -- SO_RCVLOWAT ----------------------------------------------------------------------------------
def test_rcvlowat_default_is_one_zero_means_one(pair):
    w, a, b = pair
    s = a.socket()
    assert s.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == 1
    s.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 0)
    assert s.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == 1
    s.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 100)
    assert s.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == 100


def test_rcvlowat_is_capped_at_half_a_locked_rcvbuf(pair):
    w, a, b = pair
    s = a.socket()
    s.setsockopt(SOL_SOCKET, pysocket.SO_RCVBUF, 4096)  # doubled to 8192
    s.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 1 << 20)
    assert s.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == 4096
    s.setsockopt(SOL_SOCKET, SO_RCVLOWAT, -1)  # INT_MAX, then the cap
    assert s.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == 4096


def test_poll_reports_epollin_only_at_rcvlowat_bytes(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 10)
    cli.sendall(b"12345")
    w.run_for("10ms")
    assert not conn.poll() & EPOLLIN
    conn.setblocking(False)
    assert conn.recv(100) == b"12345"  # a non-blocking read takes what there is
    cli.sendall(b"abcdefgh")
    w.run_for("10ms")
    assert not conn.poll() & EPOLLIN
    cli.sendall(b"ij")
    w.run_for("10ms")
    assert conn.poll() & EPOLLIN
    conn.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 11)
    assert not conn.poll() & EPOLLIN
    conn.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 1)
    assert conn.poll() & EPOLLIN


def test_poll_reports_epollin_at_eof_below_rcvlowat(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 10)
    cli.sendall(b"123")
    cli.shutdown(pysocket.SHUT_WR)
    w.run_for("10ms")
    assert conn.poll() & EPOLLIN
    assert conn.recv(100) == b"123"
    assert conn.recv(100) == b""


def test_blocking_recv_waits_for_rcvlowat_bytes(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 8)
    cli.sendall(b"1234")
    t0 = w.sched.now
    w.sched.call_later(50 * MS, cli.sendall, b"5678")
    assert conn.recv(100) == b"12345678"
    assert w.sched.now - t0 >= 50 * MS


def test_blocking_recv_target_is_min_of_rcvlowat_and_len(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    conn.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 8)
    cli.sendall(b"1234")
    w.run_for("10ms")
    t0 = w.sched.now
    assert conn.recv(3) == b"123"
    assert w.sched.now == t0


# -- TCP_DEFER_ACCEPT -----------------------------------------------------------------------------
@pytest.mark.parametrize("secs, reported", [(0, 0), (-3, 0), (1, 1), (2, 3), (5, 7), (30, 31)])
def test_defer_accept_reports_seconds_rounded_to_retransmissions(pair, secs, reported):
    w, a, b = pair
    s = b.socket()
    s.setsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT, secs)
    assert s.getsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT) == reported


def defer_listener(w, b, secs=5):
    srv = b.socket()
    srv.bind(("0.0.0.0", 5000))
    srv.setsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT, secs)
    srv.listen()
    srv.setblocking(False)
    return srv


def test_defer_accept_waits_for_data(pair):
    w, a, b = pair
    srv = defer_listener(w, b)
    cli = a.socket()
    cli.connect(("10.0.0.2", 5000))  # the handshake completes for the client
    w.run_for("2s")
    with pytest.raises(BlockingIOError):
        srv.accept()
    assert not srv.poll() & EPOLLIN
    assert b.net.mib.tcpext["TCPDeferAcceptDrop"] == 1
    cli.sendall(b"GET /")
    w.run_for("10ms")
    assert srv.poll() & EPOLLIN
    conn, _ = srv.accept()
    conn.setblocking(False)
    assert conn.recv(100) == b"GET /"
    assert conn.getsockopt(IPPROTO_TCP, TCP_DEFER_ACCEPT) == 0  # not inherited


def test_defer_accept_without_data_resends_synack_at_the_end_and_accepts(pair):
    w, a, b = pair
    srv = defer_listener(w, b, 5)  # 3 retransmission periods: 1 + 2 + 4 s
    cli = a.socket()
    cli.connect(("10.0.0.2", 5000))
    t0 = w.sched.now
    w.run_for("6900ms")
    with pytest.raises(BlockingIOError):
        srv.accept()
    assert b.net.mib.tcpext["TCPSynRetrans"] == 0  # acked requests are not resent early
    w.run_for("200ms")  # at 7 s the last-chance SYN-ACK; the client's ACK makes the child
    assert b.net.mib.tcpext["TCPSynRetrans"] == 1
    conn, _ = srv.accept()
    assert w.sched.now - t0 < 7200 * MS
    cli.sendall(b"late")
    conn.setblocking(True)
    assert conn.recv(100) == b"late"


# -- SO_LINGER ------------------------------------------------------------------------------------
def tcp_state(sock) -> str:
    return sock.sk.state.name


def test_linger_close_waits_for_the_fin_to_be_acknowledged(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 5))
    sk = cli.sk
    t0 = w.sched.now
    cli.close()
    elapsed = w.sched.now - t0
    assert 2 * MS <= elapsed < 3 * MS  # one round trip: FIN out, ACK back
    assert sk.state.name == "FIN_WAIT_2"


def test_linger_close_returns_after_l_linger_even_non_blocking_without_rst(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setblocking(False)  # Linux lingers in close() regardless of O_NONBLOCK
    cli.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 2))
    w.cables[0].unplug()
    sk = cli.sk
    t0 = w.sched.now
    cli.close()
    assert w.sched.now - t0 == 2 * S
    assert sk.state.name == "FIN_WAIT_1"  # still trying: the connection finishes on its own
    assert a.net.mib.tcp["OutRsts"] == 0


def test_linger_zero_aborts_with_rst_at_once(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 0))
    t0 = w.sched.now
    cli.close()
    assert w.sched.now == t0
    assert a.net.mib.tcp["OutRsts"] == 1
    with pytest.raises(ConnectionResetError):
        conn.recv(10)


def test_linger_close_in_a_task_is_awaitable(pair):
    w, a, b = pair
    srv, cli, conn = connected(w, a, b)
    cli.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 5))
    done = []

    async def closer():
        t0 = w.sched.now
        await cli.close()
        done.append(w.sched.now - t0)

    w.spawn(closer())
    w.run_for("1s")
    assert done and 2 * MS <= done[0] < 3 * MS


# -- what an accepted socket inherits (sk_clone_lock) ---------------------------------------------
def test_accepted_socket_inherits_the_listeners_socket_options(pair):
    w, a, b = pair

    def opts(srv):
        srv.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
        srv.setsockopt(IPPROTO_TCP, pysocket.TCP_KEEPIDLE, 2)
        srv.setsockopt(SOL_SOCKET, SO_LINGER, struct.pack("ii", 1, 3))
        srv.setsockopt(SOL_SOCKET, SO_OOBINLINE, 1)
        srv.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 4)

    srv, cli, conn = connected(w, a, b, before_listen=opts)
    assert conn.getsockopt(SOL_SOCKET, SO_KEEPALIVE) == 1
    assert conn.getsockopt(IPPROTO_TCP, pysocket.TCP_KEEPIDLE) == 2
    assert struct.unpack("ii", conn.getsockopt(SOL_SOCKET, SO_LINGER, 8)) == (1, 3)
    assert conn.getsockopt(SOL_SOCKET, SO_OOBINLINE) == 1
    assert conn.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == 4
    cli.sendall(b"12")
    w.run_for("10ms")
    assert not conn.poll() & EPOLLIN  # the inherited low-water mark has its effect
    assert b.net.mib.tcpext["TCPKeepAlive"] == 0
    w.run_for("2100ms")  # and the inherited SO_KEEPALIVE: a probe after 2 s idle
    assert b.net.mib.tcpext["TCPKeepAlive"] == 1
    assert a.net.mib.tcpext["TCPKeepAlive"] == 0



def test_rcvlowat_grows_an_unlocked_rcvbuf_to_fit(pair):
    w, a, b = pair
    s = a.socket()
    rmem_max = a.net.sysctl.tcp_rmem[2]
    s.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 1000)  # fits already: nothing grows
    assert s.getsockopt(SOL_SOCKET, pysocket.SO_RCVBUF) == a.net.sysctl.tcp_rmem[1]
    s.setsockopt(SOL_SOCKET, SO_RCVLOWAT, 1 << 30)
    assert s.getsockopt(SOL_SOCKET, SO_RCVLOWAT) == rmem_max >> 1
    assert s.getsockopt(SOL_SOCKET, pysocket.SO_RCVBUF) == rmem_max


# -- the host's own kernel as the reference for the option values ----------------------------------
LINUX_CASES = [
    ("defer 0", [(IPPROTO_TCP, TCP_DEFER_ACCEPT, 0)], (IPPROTO_TCP, TCP_DEFER_ACCEPT)),
    ("defer -3", [(IPPROTO_TCP, TCP_DEFER_ACCEPT, -3)], (IPPROTO_TCP, TCP_DEFER_ACCEPT)),
    ("defer 2", [(IPPROTO_TCP, TCP_DEFER_ACCEPT, 2)], (IPPROTO_TCP, TCP_DEFER_ACCEPT)),
    ("defer 5", [(IPPROTO_TCP, TCP_DEFER_ACCEPT, 5)], (IPPROTO_TCP, TCP_DEFER_ACCEPT)),
    ("defer 100", [(IPPROTO_TCP, TCP_DEFER_ACCEPT, 100)], (IPPROTO_TCP, TCP_DEFER_ACCEPT)),
    ("lowat default", [], (SOL_SOCKET, SO_RCVLOWAT)),
    ("lowat 0", [(SOL_SOCKET, SO_RCVLOWAT, 0)], (SOL_SOCKET, SO_RCVLOWAT)),
    ("lowat locked cap", [(SOL_SOCKET, pysocket.SO_RCVBUF, 4096),
                          (SOL_SOCKET, SO_RCVLOWAT, 1 << 20)], (SOL_SOCKET, SO_RCVLOWAT)),
    ("lowat -1 locked", [(SOL_SOCKET, pysocket.SO_RCVBUF, 4096),
                         (SOL_SOCKET, SO_RCVLOWAT, -1)], (SOL_SOCKET, SO_RCVLOWAT)),
]


@pytest.mark.skipif(not hasattr(pysocket, "TCP_DEFER_ACCEPT"), reason="needs a Linux host")
@pytest.mark.parametrize("steps, query", [c[1:] for c in LINUX_CASES],
                         ids=[c[0] for c in LINUX_CASES])
def test_option_values_match_the_host_kernel(pair, steps, query):
    w, a, b = pair
    emu = a.socket()
    with pysocket.socket() as real:
        for level, opt, value in steps:
            emu.setsockopt(level, opt, value)
            real.setsockopt(level, opt, value)
        assert emu.getsockopt(*query) == real.getsockopt(*query)
