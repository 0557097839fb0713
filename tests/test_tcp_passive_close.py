"""Passive close: the ACK of the peer's FIN is delayed, as Linux's ``tcp_fin`` delays it.

``tcp_fin`` moves to CLOSE-WAIT and enters ping-pong mode, so the ACK goes through
``tcp_send_delayed_ack``: an application that closes within the delayed-ACK window sends ONE
FIN|ACK that acknowledges the peer's FIN, never a pure ACK followed by a FIN|ACK.  The window
is ATO (40 ms) once data was received, and one jiffy (the next tick of the timer wheel) on a
connection that received nothing: Linux arms the timer for ``jiffies + 0``.  Checked against
this machine's Linux over 127.0.0.1 (``tcpdump``): with no data the pure ACK left 1.1-1.6 ms
after the FIN (HZ=250), with data 43 ms after it; a close within that window sent one FIN|ACK.
The test is the raw peer (``tests/helpers/tcp.py``), then two hosts end to end.
"""

from __future__ import annotations

import socket

from helpers.tcp import Peer, established
from helpers.units import MS, US

from ixsim import World
from stack.tcp import TcpState
from stack.tcp.const import TICK_NS
from stack.wire.tcp import ACK, FIN, PSH, TcpRepr


def test_close_within_the_tick_sends_one_fin_ack_on_a_silent_connection() -> None:
    p = Peer()
    sk = established(p)
    p.send(FIN | ACK, at=300 * US)  # mid-tick: the delayed ACK is due at the next tick (1 ms)
    assert sk.state == TcpState.CLOSE_WAIT
    assert sk.timers() == [("delack", TICK_NS)]
    assert sk.recvmsg(10)[0] == b""
    p.run_until(800 * US)
    sk.close()
    p.expect(FIN | ACK, seq=p.dut_iss + 1, ack=p.seq, at=800 * US)
    p.expect_none(100 * MS)  # no pure ACK before or after it
    p.send(ACK)
    assert sk.state == TcpState.CLOSED


def test_silent_connection_acks_the_fin_at_the_next_tick() -> None:
    p = Peer()
    sk = established(p)
    p.send(FIN | ACK, at=300 * US)
    p.expect(ACK, ack=p.seq, at=TICK_NS)  # not at once: jiffies + 0 runs at the next tick
    sk.close()
    p.expect(FIN | ACK, seq=p.dut_iss + 1, ack=p.seq, at=TICK_NS)


def test_fin_on_a_tick_boundary_waits_a_whole_tick() -> None:
    p = Peer()
    established(p)
    p.send(FIN | ACK, at=2 * MS)
    p.expect(ACK, ack=p.seq, at=2 * MS + TICK_NS)


def test_close_within_ato_after_data_sends_one_fin_ack() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"request")
    p.expect(ACK)  # quick-ack mode at the start
    assert sk.recvmsg(100)[0] == b"request"
    p.send(FIN | ACK, at=1 * MS)
    assert sk.timers() == [("delack", 41 * MS)]
    p.run_until(30 * MS)
    sk.close()
    p.expect(FIN | ACK, ack=p.seq, at=30 * MS)
    p.send(ACK)
    assert sk.state == TcpState.CLOSED
    p.expect_none(300 * MS)


def test_reply_then_close_within_ato_needs_no_pure_ack() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"request")
    p.expect(ACK)
    assert sk.recvmsg(100)[0] == b"request"
    p.send(FIN | ACK, at=1 * MS)
    p.run_until(5 * MS)
    sk.sendmsg(b"reply")
    p.expect(PSH | ACK, ack=p.seq, data=b"reply", at=5 * MS)  # the reply acknowledges the FIN
    sk.close()
    p.expect(FIN | ACK, ack=p.seq, at=5 * MS)
    p.send(ACK)
    assert sk.state == TcpState.CLOSED
    p.expect_none(300 * MS)


def test_late_close_gets_the_pure_ack_first() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"request")
    p.expect(ACK)
    assert sk.recvmsg(100)[0] == b"request"
    p.send(FIN | ACK, at=1 * MS)
    p.expect(ACK, ack=p.seq, at=41 * MS)  # ATO
    p.run_until(60 * MS)
    sk.close()
    p.expect(FIN | ACK, ack=p.seq, at=60 * MS)


def test_two_hosts_server_closing_at_once_sends_one_fin_ack() -> None:
    segments: list[tuple[int, bytes]] = []
    with World(seed=3) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="50us")
        srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("0.0.0.0", 7))
        srv.listen()
        c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("10.0.0.2", 7))
        conn, _ = srv.accept()

        def tap(skb, saddr, daddr, _orig=b.net.tcp.transmit):
            th = TcpRepr.parse(skb.tobytes())
            segments.append((th.flags, th.payload_len))
            return _orig(skb, saddr, daddr)

        b.net.tcp.transmit = tap
        c.sendall(b"request")
        c.shutdown(socket.SHUT_WR)
        assert conn.recv(100) == b"request"
        assert conn.recv(100) == b""
        conn.sendall(b"reply")
        conn.close()
        assert c.recv(100) == b"reply"
        assert c.recv(100) == b""
        w.run_for("1s")
    # the server's side: ACK of the request (quick-ack), the reply, one FIN|ACK; no pure ACK
    # of the client's FIN in between
    flags = [f for f, _ in segments]
    assert flags.count(FIN | ACK) == 1
    fin_at = flags.index(FIN | ACK)
    reply_at = next(i for i, (f, n) in enumerate(segments) if n == 5)
    assert reply_at == fin_at - 1
    assert all(n or f == ACK for f, n in segments[:reply_at]) and len(segments) == fin_at + 1
