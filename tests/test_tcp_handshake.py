"""Opening connections: both handshakes, simultaneous open, SYN and SYN-ACK retransmission,
refused connections, resets to closed ports, and the listen backlog."""

from __future__ import annotations

import errno

import pytest
from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import (
    LOCAL,
    REMOTE,
    Peer,
    active,
    handshake,
    listener,
    passive,
    syn_received,
    syn_sent,
)
from helpers.units import MS, S

from stack.sock import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT
from stack.tcp import TcpSock, TcpState
from stack.wire.tcp import ACK, RST, SYN


def test_active_open_sends_linux_syn_options_and_completes() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError) as exc:
        sk.connect(REMOTE, p.rport)
    assert exc.value.errno == errno.EINPROGRESS
    assert sk.state == TcpState.SYN_SENT
    syn = p.expect(SYN, ack=0, window=64240, mss=1460, wscale=7, sack_permitted=True)
    assert syn.th.timestamp is not None and syn.th.timestamp[1] == 0
    assert sk.poll() & (EPOLLOUT | EPOLLIN) == 0
    with pytest.raises(OSError) as exc:
        sk.connect(REMOTE, p.rport)
    assert exc.value.errno == errno.EALREADY
    p.dut_iss, p.lport, p.ack = syn.seq, syn.th.src_port, syn.seq + 1
    p.send(SYN | ACK, seq=p.iss, mss=1460, wscale=7, sack_perm=True, at=10 * MS)
    ack = p.expect(ACK, seq=syn.seq + 1, ack=p.iss + 1, window=502)  # 64256 >> 7
    assert ack.th.timestamp[1] == p.tsval()
    assert sk.state == TcpState.ESTABLISHED and sk.poll() & EPOLLOUT
    sk.connect(REMOTE, p.rport)  # reports the success once
    with pytest.raises(OSError) as exc:
        sk.connect(REMOTE, p.rport)
    assert exc.value.errno == errno.EISCONN
    assert sk.getpeername() == (REMOTE, p.rport) and sk.getsockname()[0] == LOCAL
    info = sk.info()
    assert (info.snd_wscale, info.rcv_wscale, info.snd_mss, info.advmss) == (7, 7, 1448, 1448)
    assert info.rtt == 10_000 and info.rto == 210_000  # 10 ms sample: RTO = srtt + 200 ms
    mib = p.net.mib.tcp
    assert (mib["ActiveOpens"], mib["CurrEstab"], mib["OutSegs"], mib["InSegs"]) == (1, 1, 2, 1)


def test_passive_open_answers_with_syn_ack_and_queues_the_child() -> None:
    p = Peer()
    lsk = listener(p)
    with pytest.raises(BlockingIOError):
        lsk.accept()
    p.syn()
    sa = p.expect(SYN | ACK, ack=p.iss + 1, window=65160, mss=1460, wscale=7,
                  sack_permitted=True)
    assert sa.th.timestamp[1] == p.tsval()
    assert lsk.timers() == [(f"synack 10.0.0.2:{p.rport}", 1 * S)]
    assert lsk.poll() == 0
    p.dut_iss = sa.seq
    p.send(ACK, at=5 * MS)
    assert lsk.poll() & EPOLLIN
    child = lsk.accept()
    assert child.state == TcpState.ESTABLISHED and child.getpeername() == (REMOTE, p.rport)
    assert lsk.timers() == []
    assert child.info().rtt == 5000
    assert p.net.mib.tcp["PassiveOpens"] == 1 and p.net.mib.tcp["CurrEstab"] == 1
    p.expect_none(1 * S)


def test_no_options_means_rfc_defaults() -> None:
    p = Peer(ts=False, sack=False, wscale=None)
    sk = active(p)
    info = sk.info()
    assert info.options == 0 and (info.snd_wscale, info.rcv_wscale) == (0, 0)
    assert sk.mss_cache == 1460
    sk.sendmsg(b"x" * 3000)
    p.expect(ACK, length=1460, timestamp=None)


def test_peer_mss_option_clamps_and_its_absence_means_536() -> None:
    p = Peer(mss=1000)
    sk = active(p)
    assert sk.mss_cache == 1000 - 12
    p2 = Peer(mss=None)
    sk2 = active(p2)
    assert sk2.mss_cache == 536 - 12


def test_simultaneous_open() -> None:
    p = Peer()
    sk = syn_received(p)
    p.send(SYN | ACK, seq=p.iss, ack=p.dut_iss + 1, ts=True)
    assert sk.state == TcpState.ESTABLISHED
    p.expect(ACK, seq=p.dut_iss + 1, ack=p.iss + 1)
    sk.sendmsg(b"hi")
    p.expect(ACK | 0x08, data=b"hi")


def test_syn_retransmits_double_from_one_second_then_etimedout() -> None:
    p = Peer()
    sk = syn_sent(p)
    times = []
    for _ in range(6):
        seg = p.expect(SYN, seq=p.dut_iss, within=100 * S)
        times.append(seg.time)
    assert times == [1 * S, 3 * S, 7 * S, 15 * S, 31 * S, 63 * S]
    assert sk.timers() == [("rto", 127 * S)]
    p.expect_none(64 * S)
    assert sk.state == TcpState.CLOSED and sk.poll() & EPOLLERR and sk.poll() & EPOLLHUP
    with pytest.raises(TimeoutError) as exc:
        sk.connect(REMOTE, p.rport)
    assert exc.value.errno == errno.ETIMEDOUT
    mib = p.net.mib
    assert mib.tcp["RetransSegs"] == 6 and mib.tcpext["TCPTimeouts"] == 7
    assert mib.tcp["AttemptFails"] == 1 and mib.tcpext["TCPAbortOnTimeout"] == 1


def test_tcp_syncnt_overrides_syn_retries() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    sk.setsockopt(6, 7, 2)  # TCP_SYNCNT
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    p.expect(SYN)
    assert [p.expect(SYN, within=10 * S).time for _ in range(2)] == [1 * S, 3 * S]
    p.run(4 * S)
    assert sk.state == TcpState.CLOSED and sk.sock_error() == errno.ETIMEDOUT


def test_rst_to_syn_refuses_the_connection() -> None:
    p = Peer()
    sk = syn_sent(p)
    p.send(RST | ACK, seq=0, ack=p.dut_iss + 1, ts=None)
    assert sk.state == TcpState.CLOSED
    with pytest.raises(ConnectionRefusedError):
        sk.connect(REMOTE, p.rport)
    assert p.net.mib.tcp["AttemptFails"] == 1
    p.expect_none(5 * S)  # no retransmission, no reply to the RST


def test_rst_without_acceptable_ack_is_ignored_in_syn_sent() -> None:
    p = Peer()
    sk = syn_sent(p)
    p.send(RST | ACK, seq=0, ack=p.dut_iss + 5, ts=None)
    assert sk.state == TcpState.SYN_SENT
    p.send(RST, seq=0, ts=None)
    assert sk.state == TcpState.SYN_SENT
    # Linux takes a stray RST|ACK as a sign its SYN may be stale and resends it at once.
    p.expect(SYN, seq=p.dut_iss, at=2 * MS)
    p.expect(SYN, seq=p.dut_iss, at=2 * MS + 2 * S)


def test_syn_ack_with_bad_ack_gets_a_reset() -> None:
    p = Peer()
    syn_sent(p)
    p.send(SYN | ACK, seq=p.iss, ack=p.dut_iss + 7, mss=1460)
    p.expect(RST, seq=p.dut_iss + 7)


def test_syn_to_closed_port_gets_rst_ack() -> None:
    p = Peer()
    p.syn()
    p.expect(RST | ACK, seq=0, ack=p.iss + 1, window=0)
    p.send(ACK, seq=p.iss + 1, ack=12345, ts=None)
    p.expect(RST, seq=12345)
    p.send(RST, seq=p.iss + 1, ts=None)
    p.expect_none(1 * S)  # never an RST in reply to an RST
    assert p.net.mib.tcp["OutRsts"] == 2
    assert p.kernel.drop_reasons["NO_SOCKET"] == 3


def test_ack_to_a_listener_without_request_is_reset() -> None:
    p = Peer()
    listener(p)
    p.send(ACK, seq=p.iss + 1, ack=777)
    p.expect(RST, seq=777)


def test_synack_retransmission_then_the_request_expires() -> None:
    p = Peer()
    lsk = listener(p)
    p.syn()
    first = p.expect(SYN | ACK)
    times = [p.expect(SYN | ACK, seq=first.seq, within=100 * S).time for _ in range(5)]
    assert times == [1 * S, 3 * S, 7 * S, 15 * S, 31 * S]
    p.expect_none(40 * S)
    assert lsk.timers() == [] and not lsk.syn_table
    assert p.net.mib.tcpext["TCPSynRetrans"] == 5
    p.send(ACK, ack=first.seq + 1)  # too late: the request is gone
    p.expect(RST, seq=first.seq + 1)


def test_retransmitted_syn_gets_the_same_synack() -> None:
    p = Peer()
    listener(p)
    p.syn()
    first = p.expect(SYN | ACK)
    p.syn(at=200 * MS)
    p.expect(SYN | ACK, seq=first.seq, ack=p.iss + 1)


def test_listen_backlog_overflow_is_counted_and_recovers() -> None:
    p = Peer()
    lsk = listener(p, backlog=2)  # the accept queue holds backlog + 1 = 3, as in Linux
    handshake(p, 41000)
    handshake(p, 41001)
    c_iss, c_dut = handshake(p, 41002, final_ack=False)
    d_iss, d_dut = handshake(p, 41003, final_ack=False)
    p.rport = 41002
    p.send(ACK, seq=c_iss + 1, ack=c_dut + 1)
    assert len(lsk.accept_queue) == 3
    p.rport = 41003
    p.send(ACK, seq=d_iss + 1, ack=d_dut + 1)  # no room: the ACK is dropped, counted
    mib = p.net.mib.tcpext
    assert (mib["ListenOverflows"], mib["ListenDrops"]) == (1, 1)
    assert len(lsk.accept_queue) == 3 and len(lsk.syn_table) == 1
    p.rport, p.iss = 41004, p.iss + 100_000
    p.syn()  # a SYN while the accept queue is full is dropped too
    p.expect_none(10 * MS)
    assert (mib["ListenOverflows"], mib["ListenDrops"]) == (2, 2)
    assert lsk.accept().getpeername() == (REMOTE, 41000)
    p.rport = 41003  # D's SYN-ACK is retransmitted; the peer ACKs again, now with room
    p.expect(SYN | ACK, seq=d_dut, at=1 * S)
    p.send(ACK, seq=d_iss + 1, ack=d_dut + 1)
    assert [lsk.accept().getpeername()[1] for _ in range(3)] == [41001, 41002, 41003]
    assert p.net.mib.tcp["PassiveOpens"] == 4
    assert_linux_tcp_mib_names(p.net)


def test_syn_queue_limit_drops_syns_without_cookies() -> None:
    p = Peer()
    p.net.sysctl.tcp_syncookies = 0
    listener(p, backlog=1)
    handshake(p, 43000, final_ack=False)
    handshake(p, 43001, final_ack=False)  # full once it holds more than the backlog (6.13+)
    p.rport, p.iss = 43002, p.iss + 100_000
    p.syn()
    p.expect_none(10 * MS)  # tcp_syncookies=0: a full SYN queue drops the SYN
    assert p.net.mib.tcpext["TCPReqQFullDrop"] == 1
    assert p.net.mib.tcpext["ListenDrops"] == 1
    assert [r.msg for r in p.kernel.dmesg if "SYN flooding" in r.msg] == [
        "TCP: request_sock_TCP: Possible SYN flooding on port 10.0.0.1:5000. Dropping request."]


def test_closing_a_listener_resets_unaccepted_children() -> None:
    p = Peer()
    lsk, child = passive(p)
    handshake(p, 42000)
    p.drain()
    lsk.close()
    p.expect(RST | ACK)  # the unaccepted child is aborted
    assert lsk.state == TcpState.CLOSED and child.state == TcpState.ESTABLISHED
    p.rport = 42001
    p.syn()
    p.expect(RST | ACK, ack=p.iss + 1)


def test_bind_conflicts_and_reuseaddr() -> None:
    p = Peer()
    a = TcpSock(p.net)
    a.bind(LOCAL, 6000)
    b = TcpSock(p.net)
    with pytest.raises(OSError) as exc:
        b.bind(LOCAL, 6000)
    assert exc.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError) as exc:
        a.bind(LOCAL, 6001)
    assert exc.value.errno == errno.EINVAL
    a.listen(5)
    c = TcpSock(p.net)
    c.setsockopt(1, 2, 1)  # SO_REUSEADDR does not share a listening port
    with pytest.raises(OSError):
        c.bind(LOCAL, 6000)
    d = TcpSock(p.net)
    d.bind(LOCAL, 0)
    assert 32768 <= d.getsockname()[1] <= 60999


def test_accept_and_recv_on_wrong_states() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    with pytest.raises(OSError) as exc:
        sk.accept()
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(OSError) as exc:
        sk.recvmsg(10)
    assert exc.value.errno == errno.ENOTCONN
    with pytest.raises(BrokenPipeError):
        sk.sendmsg(b"x")
    with pytest.raises(OSError) as exc:
        sk.getpeername()
    assert exc.value.errno == errno.ENOTCONN
    assert sk.poll() == EPOLLOUT | 0x100 | EPOLLHUP  # an unconnected socket, as Linux


def _quote(p: Peer, seq: int) -> tuple[bytes, bytes]:
    """What an ICMP error quotes of a segment we sent: its IPv4 header and 8 bytes."""
    from stack.wire import Ipv4Repr
    from stack.wire.ipv4 import IPPROTO_TCP

    iph = bytearray(20)
    Ipv4Repr(LOCAL, REMOTE, IPPROTO_TCP, 20).emit(iph)
    l4 = p.lport.to_bytes(2, "big") + p.rport.to_bytes(2, "big") + seq.to_bytes(4, "big")
    return bytes(iph), l4


def test_icmp_port_unreachable_fails_a_connect() -> None:
    from stack.tcp import tcp_v4_err

    p = Peer()
    sk = syn_sent(p)
    iph, l4 = _quote(p, p.dut_iss)
    tcp_v4_err(p.net, iph, l4, 3, 3, 0)  # destination unreachable, port unreachable
    assert sk.state == TcpState.CLOSED
    with pytest.raises(ConnectionRefusedError):
        sk.connect(REMOTE, p.rport)


def test_icmp_errors_on_a_connection_are_soft_and_frag_needed_lowers_the_mss() -> None:
    from stack.tcp import tcp_v4_err

    p = Peer()
    sk = active(p)
    sk.sendmsg(b"z" * 1448)
    seg = p.expect(length=1448)
    iph, l4 = _quote(p, seg.seq)
    tcp_v4_err(p.net, iph, l4, 3, 1, 0)  # host unreachable: remembered, not fatal
    assert sk.state == TcpState.ESTABLISHED and sk.sk_err_soft == errno.EHOSTUNREACH
    tcp_v4_err(p.net, iph, l4, 3, 4, 1000)  # fragmentation needed, next-hop MTU 1000
    assert sk.mss_cache == 1000 - 40 - 12
    assert [len(s.data) for s in p.drain()] == [948, 500]  # resent in smaller segments
    iph2, l4_old = _quote(p, seg.seq - 100_000)
    tcp_v4_err(p.net, iph2, l4_old, 3, 1, 0)
    assert p.net.mib.tcpext["OutOfWindowIcmps"] == 1
