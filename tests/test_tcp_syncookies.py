"""SYN cookies with the test as the raw peer: a SYN flood fills a listener's SYN queue, the
next SYN gets a cookie SYN-ACK, and the ACK that brings the cookie back makes the child with
the options the cookie kept (stack/tcp/syncookies.py, Linux's net/ipv4/syncookies.c)."""

from __future__ import annotations

from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import LOCAL, REMOTE, Peer, handshake, listener
from helpers.units import MS, S

from stack.tcp import TcpState
from stack.tcp.seq import SEQ_MASK
from stack.tcp.syncookies import MSSTAB, check_syn_cookie
from stack.wire.tcp import ACK, PSH, RST, SYN

FLOOD = "TCP: request_sock_TCP: Possible SYN flooding on port 10.0.0.1:5000. Sending cookies."


def _flood(p: Peer, backlog: int = 1) -> object:
    """A listener whose SYN queue is full: backlog + 1 requests never completed."""
    lsk = listener(p, backlog)
    for port in range(43000, 43001 + backlog):
        handshake(p, port, final_ack=False)
    assert len(lsk.syn_table) == backlog + 1
    return lsk


def _cookie_syn(p: Peer, port: int = 44000, **kw: object) -> object:
    p.rport, p.iss = port, p.iss + 100_000
    p.syn(**kw)
    p.run(1 * MS)
    mine = [seg for seg in p.drain() if seg.th.dst_port == port]  # not the queue's retries
    assert len(mine) == 1 and mine[0].flags == SYN | ACK and mine[0].ack == (p.iss + 1) & SEQ_MASK
    return mine[0]


def test_cookie_synack_and_its_ack_complete_a_connection_with_the_queue_full() -> None:
    p = Peer()
    lsk = _flood(p)
    sa = _cookie_syn(p)
    mib = p.net.mib.tcpext
    assert (mib["TCPReqQFullDoCookies"], mib["SyncookiesSent"], mib["TCPReqQFullDrop"]) == (
        1, 1, 0)
    assert len(lsk.syn_table) == 2  # the cookie's request was not queued
    assert [r.msg for r in p.kernel.dmesg if "SYN flooding" in r.msg] == [FLOOD]
    # the ISN is the cookie: it decodes to the MSS index of the SYN's 1460
    cookie = sa.seq
    assert check_syn_cookie(p.table, cookie, REMOTE, LOCAL, p.rport, 5000, p.iss) == 3
    # the TSval (less the pair's offset) keeps wscale 7 and SACK in its low 6 bits
    tsval = (sa.th.timestamp[0] - p.table.ts_offset(LOCAL, REMOTE)) & SEQ_MASK
    assert tsval & 0x3F == 7 | 0x10 and (p.now // MS - tsval) & SEQ_MASK < 64  # not ahead
    assert sa.th.mss == 1460 and sa.th.wscale == 7 and sa.th.sack_permitted
    p.send(ACK, ack=cookie + 1)
    assert mib["SyncookiesRecv"] == 1 and mib["SyncookiesFailed"] == 0
    child = lsk.accept()
    assert child.state == TcpState.ESTABLISHED and child.getpeername() == (REMOTE, 44000)
    assert (child.mss_clamp, child.snd_wscale, child.sack_ok, child.tstamp_ok) == (
        1460, 7, True, True)
    p.send(ACK | PSH, data=b"through the cookie")
    assert child.recvmsg(100)[0] == b"through the cookie"
    assert p.expect(ACK).ack == (p.iss + 1 + 18) & SEQ_MASK
    assert p.net.mib.tcp["PassiveOpens"] == 1
    assert_linux_tcp_mib_names(p.net)


def test_the_flood_line_is_logged_once_per_listener() -> None:
    p = Peer()
    _flood(p)
    for port in (44000, 44001, 44002):
        _cookie_syn(p, port)
    assert p.net.mib.tcpext["SyncookiesSent"] == 3
    assert sum("SYN flooding" in r.msg for r in p.kernel.dmesg) == 1


def test_a_wrong_cookie_is_rejected_with_a_reset() -> None:
    p = Peer()
    _flood(p)
    sa = _cookie_syn(p)
    p.send(ACK, ack=sa.seq + 2)  # not the cookie
    p.expect(RST, seq=sa.seq + 2)
    assert p.net.mib.tcpext["SyncookiesFailed"] == 1
    assert p.net.mib.tcpext["SyncookiesRecv"] == 0


def test_an_ack_is_no_cookie_without_a_recent_overflow() -> None:
    p = Peer()
    listener(p)
    p.send(ACK, ack=12345)
    p.expect(RST, seq=12345)
    assert p.net.mib.tcpext["SyncookiesFailed"] == 0  # not even checked


def test_without_timestamps_a_cookie_keeps_only_the_mss_rounded_down() -> None:
    p = Peer(ts=False, mss=1400)
    lsk = _flood(p)
    sa = _cookie_syn(p)
    assert sa.th.timestamp is None
    p.send(ACK, ack=sa.seq + 1)
    child = lsk.accept()
    assert child.mss_clamp == MSSTAB[1] == 1300  # 1400 rounds down to 1300
    assert (child.wscale_ok, child.sack_ok, child.tstamp_ok) == (False, False, False)


def test_the_cookie_ack_two_minutes_on_is_rejected() -> None:
    p = Peer()
    p.net.sysctl.tcp_syncookies = 2
    lsk = listener(p)
    sa = _cookie_syn(p)
    _cookie_syn(p, 44001, at=110 * S)  # a recent cookie keeps cookie checking on
    p.rport, p.iss = 44000, p.iss - 100_000
    p.seq = p.iss + 1
    p.send(ACK, ack=sa.seq + 1, at=121 * S)  # the minute counter moved on twice
    assert p.net.mib.tcpext["SyncookiesFailed"] == 1
    assert not lsk.accept_queue


def test_syncookies_2_sends_cookies_always_and_logs_nothing() -> None:
    p = Peer()
    p.net.sysctl.tcp_syncookies = 2
    lsk = listener(p, backlog=8)
    p.syn()
    sa = p.expect(SYN | ACK)
    assert not lsk.syn_table and lsk.timers() == []
    assert p.net.mib.tcpext["SyncookiesSent"] == 1
    assert not any("SYN flooding" in r.msg for r in p.kernel.dmesg)
    p.send(ACK, ack=sa.seq + 1)
    assert lsk.accept().state == TcpState.ESTABLISHED
