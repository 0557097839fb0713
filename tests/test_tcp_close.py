"""Closing: active, passive, simultaneous and half close, TIME-WAIT and its reuse rules,
aborts (unread data, SO_LINGER 0), orphans, and the errors the socket calls report."""

from __future__ import annotations

import errno

import pytest
from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import (
    REMOTE,
    Peer,
    active,
    close_wait,
    established,
    fin_wait_1,
    fin_wait_2,
    listener,
    time_wait,
)
from helpers.units import MS, S

from stack.sock import EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP
from stack.tcp import TcpSock, TcpState
from stack.wire.tcp import ACK, FIN, PSH, RST, SYN


def test_active_close_through_time_wait() -> None:
    p = Peer()
    sk = established(p)
    sk.close()
    assert sk.state == TcpState.FIN_WAIT_1
    p.expect(FIN | ACK, seq=p.dut_iss + 1, ack=p.seq)
    p.send(ACK, at=1 * MS)
    assert sk.state == TcpState.FIN_WAIT_2
    assert [name for name, _ in sk.timers()] == ["fin_wait2"]  # an orphan does not wait forever
    p.send(FIN | ACK, at=2 * MS)
    p.expect(ACK, ack=p.seq)
    assert sk.state == TcpState.TIME_WAIT
    assert sk.timers() == [("timewait", 2 * MS + 60 * S)]
    p.run(60 * S)
    assert sk.state == TcpState.CLOSED and not p.table.ehash
    assert p.net.mib.tcpext["TW"] == 1 and p.net.mib.tcp["CurrEstab"] == 0
    assert p.kernel.skb_live == 0


def test_passive_close_through_last_ack() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"request")
    p.expect(ACK, at=0)  # quick-ack mode at the start
    assert sk.recvmsg(100)[0] == b"request"
    p.send(FIN | ACK, at=1 * MS)
    assert sk.state == TcpState.CLOSE_WAIT
    assert sk.poll() & (EPOLLIN | EPOLLRDHUP) == EPOLLIN | EPOLLRDHUP
    assert sk.recvmsg(10)[0] == b""
    p.expect(ACK, ack=p.seq, at=41 * MS)  # delayed by ATO: our FIN might have ridden along
    sk.sendmsg(b"bye")  # a half-closed connection still sends
    p.expect(PSH | ACK, data=b"bye")
    sk.close()
    p.expect(FIN | ACK, seq=p.dut_iss + 4)
    assert sk.state == TcpState.LAST_ACK
    p.send(ACK)
    assert sk.state == TcpState.CLOSED and p.net.mib.tcp["EstabResets"] == 0


def test_fin_ack_is_piggybacked_when_the_app_closes_quickly() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"request")
    p.expect(ACK)
    assert sk.recvmsg(100)[0] == b"request"
    p.send(FIN | ACK)
    p.run(5 * MS)
    sk.close()
    p.expect(FIN | ACK, ack=p.seq, at=5 * MS)
    p.expect_none(150 * MS)  # no separate ACK; only the FIN's retransmission would follow


def test_simultaneous_close_goes_through_closing() -> None:
    p = Peer()
    sk = fin_wait_1(p)
    p.send(FIN | ACK, ack=p.ack - 1)  # the peer's FIN crosses ours
    assert sk.state == TcpState.CLOSING
    p.expect(ACK, ack=p.seq)
    p.send(ACK)  # now it ACKs our FIN
    assert sk.state == TcpState.TIME_WAIT


def test_fin_and_ack_of_our_fin_in_one_segment() -> None:
    p = Peer()
    sk = fin_wait_1(p)
    p.send(FIN | ACK)
    assert sk.state == TcpState.TIME_WAIT
    p.expect(ACK, ack=p.seq)


def test_half_close_keeps_receiving() -> None:
    p = Peer()
    sk = established(p)
    sk.shutdown(1)  # SHUT_WR
    p.expect(FIN | ACK)
    p.send(ACK)
    assert sk.state == TcpState.FIN_WAIT_2 and sk.timers() == []  # not an orphan
    with pytest.raises(BrokenPipeError):
        sk.sendmsg(b"x")
    p.send(PSH | ACK, data=b"still talking")
    assert sk.recvmsg(100)[0] == b"still talking"
    p.send(FIN | ACK)
    assert sk.state == TcpState.TIME_WAIT
    assert sk.recvmsg(100)[0] == b""


def test_time_wait_acks_a_retransmitted_fin_and_restarts() -> None:
    p = Peer()
    sk = time_wait(p)
    p.send(FIN | ACK, seq=p.seq - 1, at=30 * S)
    p.expect(ACK, ack=p.seq)
    assert sk.timers() == [("timewait", 90 * S + sk.timers()[0][1] % S)]
    p.run(59 * S)
    assert sk.state == TcpState.TIME_WAIT
    p.run(2 * S)
    assert sk.state == TcpState.CLOSED


def test_rst_in_time_wait_kills_it() -> None:
    p = Peer()
    sk = time_wait(p)
    p.send(RST, seq=p.seq - 5, ts=None)  # out of window: ignored
    assert sk.state == TcpState.TIME_WAIT
    p.send(RST, ts=None)
    assert sk.state == TcpState.CLOSED
    p.expect_none(1 * S)


def test_new_syn_with_higher_sequence_reopens_from_time_wait() -> None:
    p = Peer()
    lsk = listener(p)
    p.syn()
    sa = p.expect(SYN | ACK)
    p.dut_iss = sa.seq
    p.send(ACK)
    child = lsk.accept()
    child.close()
    fin = p.expect(FIN | ACK)
    p.send(FIN | ACK)
    p.expect(ACK)
    assert child.state == TcpState.TIME_WAIT
    p.iss = p.seq + 1000  # a new incarnation, higher ISN
    p.syn(at=1 * S)
    sa2 = p.expect(SYN | ACK, ack=p.iss + 1)
    assert sa2.seq == (fin.seq + 1 + 65535 + 2) & 0xFFFFFFFF  # ISN above the old snd_nxt
    assert child.state == TcpState.CLOSED
    p.send(ACK, ack=sa2.seq + 1)
    assert lsk.accept().state == TcpState.ESTABLISHED


def test_old_syn_to_time_wait_gets_an_ack() -> None:
    p = Peer(ts=False)
    sk = time_wait(p)
    p.send(SYN, seq=p.seq - 1000, ack=0, ts=None)
    p.expect(ACK, ack=p.seq)
    assert sk.state == TcpState.TIME_WAIT


def _time_wait_on_loopback(p: Peer) -> tuple[TcpSock, int]:
    sk = active(p)
    sk.close()
    p.expect(FIN | ACK)
    p.send(FIN | ACK)
    p.expect(ACK)
    assert sk.state == TcpState.TIME_WAIT
    return sk, sk.lport


def test_connect_reuses_time_wait_only_as_tcp_tw_reuse_allows() -> None:
    p = Peer()
    tw, port = _time_wait_on_loopback(p)
    sk = TcpSock(p.net)
    sk.setsockopt(1, 2, 1)
    sk.bind(tw.laddr, 0)
    explicit = TcpSock(p.net)
    explicit.setsockopt(1, 2, 1)
    tw.reuseaddr = True
    explicit.bind(tw.laddr, port)
    with pytest.raises(OSError) as exc:  # tcp_tw_reuse=2: loopback only
        explicit.connect(REMOTE, p.rport)
    assert exc.value.errno == errno.EADDRNOTAVAIL
    p.net.sysctl.tcp_tw_reuse = 1
    with pytest.raises(OSError):  # not before a second has passed since the last timestamp
        explicit.connect(REMOTE, p.rport)
    p.run(2 * S)
    with pytest.raises(BlockingIOError):
        explicit.connect(REMOTE, p.rport)
    syn = p.expect(SYN)
    assert syn.th.src_port == port and tw.state == TcpState.CLOSED
    assert syn.seq == (tw.snd_nxt + 65537) & 0xFFFFFFFF
    assert p.net.mib.tcpext["TWRecycled"] == 1


def test_close_with_unread_data_sends_rst() -> None:
    p = Peer()
    sk = established(p)
    p.send(PSH | ACK, data=b"unread")
    p.expect(ACK)
    sk.close()
    p.expect(RST | ACK, seq=p.dut_iss + 1)
    assert sk.state == TcpState.CLOSED
    assert p.net.mib.tcpext["TCPAbortOnClose"] == 1 and p.net.mib.tcp["EstabResets"] == 1


def test_so_linger_zero_aborts_with_rst() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(1, 13, (1, 0))  # SO_LINGER on, 0 s
    sk.sendmsg(b"pending")
    p.expect(PSH | ACK)
    sk.close()
    p.expect(RST | ACK)
    assert sk.state == TcpState.CLOSED and p.kernel.skb_live == 0


def test_orphaned_fin_wait_2_times_out() -> None:
    p = Peer()
    sk = established(p)
    sk.close()
    p.expect(FIN | ACK)
    p.send(ACK)
    assert sk.state == TcpState.FIN_WAIT_2
    p.run(59 * S)
    assert sk.state == TcpState.FIN_WAIT_2
    p.run(2 * S)
    assert sk.state == TcpState.CLOSED
    p.send(ACK | PSH, data=b"late")
    p.expect(RST, seq=p.dut_iss + 2)  # nobody is there any more


def test_data_after_close_is_answered_with_rst() -> None:
    p = Peer()
    sk = fin_wait_2(p)
    sk.close()
    p.send(PSH | ACK, data=b"too late")
    p.expect(RST)
    assert sk.state == TcpState.CLOSED
    assert p.net.mib.tcpext["TCPAbortOnData"] == 1


def test_reset_in_close_wait_gives_epipe() -> None:
    p = Peer()
    sk = close_wait(p)
    p.send(RST, ts=None)
    assert sk.state == TcpState.CLOSED
    with pytest.raises(BrokenPipeError):
        sk.sendmsg(b"x")
    assert sk.recvmsg(10)[0] == b""


def test_reset_in_established_gives_econnreset_then_eof() -> None:
    p = Peer()
    sk = established(p)
    p.send(RST, ts=None)
    assert sk.state == TcpState.CLOSED
    assert sk.poll() & EPOLLHUP and sk.poll() & 0x008
    with pytest.raises(ConnectionResetError):
        sk.recvmsg(10)
    assert sk.recvmsg(10)[0] == b""
    assert p.net.mib.tcp["EstabResets"] == 1 and p.net.mib.tcp["CurrEstab"] == 0


def test_poll_masks_through_a_close() -> None:
    p = Peer()
    sk = established(p)
    assert sk.poll() == EPOLLOUT | 0x100
    p.send(FIN | ACK)
    assert sk.poll() & (EPOLLIN | EPOLLRDHUP | EPOLLOUT) == EPOLLIN | EPOLLRDHUP | EPOLLOUT
    sk.shutdown(1)
    p.expect(FIN | ACK, within=1 * S)
    assert sk.poll() & EPOLLHUP
    assert_linux_tcp_mib_names(p.net)


def test_shutdown_on_unconnected_socket_is_enotconn() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    with pytest.raises(OSError) as exc:
        sk.shutdown(2)
    assert exc.value.errno == errno.ENOTCONN


def test_wait_queue_hears_state_changes() -> None:
    p = Peer()
    sk = established(p)
    events = []
    sk.wq.append(lambda s, ev: events.append(ev))
    p.send(PSH | ACK, data=b"x")
    p.send(RST, ts=None)
    assert events and events[0] & EPOLLIN and events[-1] & 0x008
