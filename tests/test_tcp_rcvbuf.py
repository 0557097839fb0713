"""Buffer autotuning: the receive buffer grows with what the application reads per RTT
(``tcp_rcv_space_adjust``/``tcp_rcvbuf_grow``), SO_RCVBUF or ``tcp_moderate_rcvbuf=0`` stop
it, the receiver measures the RTT with or without timestamps; the send buffer grows with
cwnd unless SO_SNDBUF fixed it (``tcp_sndbuf_expand``)."""

from __future__ import annotations

import socket

from helpers.tcp import Peer, listener
from helpers.units import MS

from ixsim import netsim
from stack.sock import SOCK_RCVBUF_LOCK
from stack.sysctl import Sysctl
from stack.tcp import TcpSock
from stack.wire.tcp import ACK, PSH, SYN

MSS = 1448


def _receiver(p: Peer, rcvbuf: int | None = None) -> TcpSock:
    lsk = listener(p)
    if rcvbuf is not None:
        lsk.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    p.syn()
    p.dut_iss = p.expect(SYN | ACK).seq
    p.send(ACK)
    return lsk.accept()


def _stream(p: Peer, sk: TcpSock, rounds: int, per_round: int) -> list[int]:
    """The peer sends ``per_round`` segments every 2 ms (its RTT is 1 ms); the application
    reads everything each round.  Returns the window (scaled) of every ACK."""
    windows = []
    for _ in range(rounds):
        for _ in range(per_round):
            p.send(ACK | PSH, data=bytes(MSS))
        p.run(1 * MS)
        sk.recvmsg(1 << 22)
        p.run(1 * MS)
        windows += [seg.window << sk.rcv_wscale for seg in p.drain()]
    return windows


def test_receive_buffer_follows_the_reading_rate() -> None:
    p = Peer()
    sk = _receiver(p)
    start_buf, start_clamp = sk.sk_rcvbuf, sk.window_clamp
    windows = _stream(p, sk, 40, 30)
    assert sk.rcv_rtt_us >> 3 == 1000  # the TS echo: the 1 ms the peer took
    assert sk.sk_rcvbuf > 2 * start_buf and sk.window_clamp == sk.sk_rcvbuf // 2
    assert sk.window_clamp > start_clamp
    assert max(windows) > 2 * windows[0]  # the advertised window opened up
    assert sk.sk_rcvbuf <= p.net.sysctl.tcp_rmem[2]
    assert sk.info().rcv_space == sk.rcvq_space > 10 * MSS


def test_so_rcvbuf_locks_the_buffer() -> None:
    p = Peer()
    sk = _receiver(p, rcvbuf=100_000)
    assert sk.userlocks & SOCK_RCVBUF_LOCK and sk.sk_rcvbuf == 200_000  # doubled, as Linux
    windows = _stream(p, sk, 40, 30)
    assert sk.sk_rcvbuf == 200_000 and max(windows) <= 100_000
    assert sk.rcvq_space > 10 * MSS  # the measure goes on; only the growth is off


def test_moderate_rcvbuf_off_keeps_the_default() -> None:
    sysctl = Sysctl()
    sysctl.tcp_moderate_rcvbuf = False
    p = Peer(sysctl=sysctl)
    sk = _receiver(p)
    _stream(p, sk, 40, 30)
    assert sk.sk_rcvbuf == sysctl.tcp_rmem[1]


def test_receiver_rtt_without_timestamps_is_measured_per_window() -> None:
    """``tcp_rcv_rtt_measure``: with no TS option the receiver times a window's worth of
    data, and autotuning still works."""
    p = Peer(ts=False)
    sk = _receiver(p)
    _stream(p, sk, 40, 30)
    assert 0 < sk.rcv_rtt_us >> 3 <= 2000  # at most the 2 ms rounds of this peer
    assert sk.sk_rcvbuf > p.net.sysctl.tcp_rmem[1]


def test_send_buffer_grows_with_cwnd_unless_locked() -> None:
    for lock in (False, True):
        p = Peer()
        lsk = listener(p)
        if lock:
            lsk.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 50_000)
        p.syn()
        p.dut_iss = p.expect(SYN | ACK).seq
        p.send(ACK)
        sk = lsk.accept()
        before = sk.sk_sndbuf
        for _ in range(6):  # slow start: every round ACKs all, cwnd doubles
            try:
                while True:
                    sk.sendmsg(bytes(64 * 1024))
            except BlockingIOError:
                pass
            p.drain()
            p.send(ACK, ack=sk.snd_nxt, window=65535, at=p.now + 1 * MS)
        if lock:
            assert sk.sk_sndbuf == before == 100_000
        else:
            assert sk.cwnd > 20 and sk.sk_sndbuf > before


def test_high_bdp_bulk_transfer_needs_autotuning() -> None:
    """10 ms each way: the default 128 KiB buffer offers 64 KiB, 26 Mbit/s at a 20 ms RTT;
    autotuning opens the window toward tcp_rmem[2] / 2."""
    ns = {}
    for moderate in (True, False):
        with netsim.pair(5, latency="10ms") as p:
            p.b.sysctl("net.ipv4.tcp_moderate_rcvbuf", int(moderate))
            flow = netsim.transfer(p.world, p.a, p.b, "10.0.0.2", 8 << 20, seed=5)
            assert flow.intact
            ns[moderate] = flow.ns
            if moderate:
                assert flow.receiver_info.rcv_wnd > 1 << 20
            else:
                assert flow.receiver_info.rcv_wnd <= 65535
    assert ns[False] > 5 * ns[True]
