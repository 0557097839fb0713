"""TCP Fast Open with the test as the raw peer, both ways: ixsim as the server (cookie request,
data in the SYN delivered at accept before the handshake completes, bad cookies) and as the
client (cookie cache, TCP_FASTOPEN_CONNECT, MSG_FASTOPEN, the fallback when the server does not
take the data).  stack/tcp/fastopen.py; Linux's net/ipv4/tcp_fastopen.c."""

from __future__ import annotations

import errno

import pytest
from helpers.mib import assert_linux_tcp_mib_names
from helpers.tcp import LOCAL, REMOTE, Peer, listener
from helpers.units import MS

from stack.sysctl import Sysctl
from stack.tcp import TcpSock, TcpState
from stack.tcp.fastopen import cookie_gen
from stack.uapi import (
    IPPROTO_TCP,
    MSG_FASTOPEN,
    TCP_FASTOPEN,
    TCP_FASTOPEN_CONNECT,
    TCP_FASTOPEN_NO_COOKIE,
    TCPI_OPT_SYN_DATA,
    TFO_COOKIE_UNAVAILABLE,
    TFO_DATA_NOT_ACKED,
)
from stack.wire.tcp import ACK, PSH, SYN

COOKIE = bytes(range(0xC0, 0xC8))


def _server(**sysctl: object) -> tuple[Peer, TcpSock]:
    p = Peer(sysctl=Sysctl(tcp_fastopen=3, **sysctl))
    lsk = listener(p)
    lsk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN, 5)
    return p, lsk


# -- ixsim as the server -------------------------------------------------------------------------
def test_a_cookie_request_gets_the_cookie_in_the_synack() -> None:
    p, lsk = _server()
    assert lsk.getsockopt(IPPROTO_TCP, TCP_FASTOPEN) == 5
    p.syn(fastopen=b"")
    sa = p.expect(SYN | ACK, ack=p.iss + 1)
    assert sa.th.fastopen == cookie_gen(p.table, REMOTE, LOCAL) and len(sa.th.fastopen) == 8
    wire = bytearray(sa.th.buffer_len())
    sa.th.emit(wire)  # Linux's layout: MSS, SACK-perm+TS, NOP wscale, TFO, NOP NOP
    assert wire[40:52] == b"\x22\x0a" + sa.th.fastopen + b"\x01\x01"
    assert p.net.mib.tcpext["TCPFastOpenCookieReqd"] == 1
    assert not lsk.accept_queue  # no data: an ordinary request


def test_data_in_the_syn_is_delivered_at_accept_before_the_handshake_completes() -> None:
    p, lsk = _server()
    cookie = cookie_gen(p.table, REMOTE, LOCAL)
    p.syn(fastopen=cookie, data=b"GET / HTTP/1.0\r\n\r\n")
    sa = p.expect(SYN | ACK, ack=p.iss + 1 + 18)  # the SYN-ACK acknowledges the data
    assert sa.th.fastopen is None
    child = lsk.accept()
    assert child.state == TcpState.SYN_RECEIVED
    assert child.recvmsg(100)[0] == b"GET / HTTP/1.0\r\n\r\n"
    assert p.net.mib.tcpext["TCPFastOpenPassive"] == 1
    assert lsk.fastopen.qlen == 1
    assert child.sendmsg(b"HTTP/1.0 200 OK\r\n") == 17  # before the final ACK
    p.dut_iss = sa.seq
    p.expect(ACK | PSH, seq=sa.seq + 1, data=b"HTTP/1.0 200 OK\r\n")
    p.send(ACK, ack=sa.seq + 1 + 17)
    assert child.state == TcpState.ESTABLISHED and lsk.fastopen.qlen == 0
    assert child.info().options & TCPI_OPT_SYN_DATA
    assert_linux_tcp_mib_names(p.net)


def test_an_unanswered_fastopen_synack_is_retransmitted_by_its_child() -> None:
    p, lsk = _server()
    p.syn(fastopen=cookie_gen(p.table, REMOTE, LOCAL), data=b"x")
    first = p.expect(SYN | ACK, ack=p.iss + 2)
    again = p.expect(SYN | ACK, ack=p.iss + 2, at=1000 * MS)
    assert again.seq == first.seq and p.net.mib.tcpext["TCPSynRetrans"] == 1
    assert lsk.accept().recvmsg(10)[0] == b"x"


def test_a_wrong_cookie_falls_back_to_a_normal_handshake() -> None:
    p, lsk = _server()
    p.syn(fastopen=COOKIE, data=b"early")
    sa = p.expect(SYN | ACK, ack=p.iss + 1)  # only the SYN is acknowledged
    assert sa.th.fastopen == cookie_gen(p.table, REMOTE, LOCAL)  # the right one, for next time
    assert p.net.mib.tcpext["TCPFastOpenPassiveFail"] == 1 and not lsk.accept_queue
    p.seq = p.iss + 1
    p.send(ACK | PSH, ack=sa.seq + 1, data=b"early")  # the client retransmits its data
    child = lsk.accept()
    assert child.state == TcpState.ESTABLISHED and child.recvmsg(10)[0] == b"early"


def test_without_server_fastopen_the_syn_data_is_not_acknowledged() -> None:
    p = Peer()  # tcp_fastopen=1: client only
    lsk = listener(p)
    lsk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN, 5)
    p.syn(fastopen=COOKIE, data=b"early")
    sa = p.expect(SYN | ACK, ack=p.iss + 1)
    assert sa.th.fastopen is None and not lsk.accept_queue


def test_server_no_cookie_mode_takes_data_without_a_cookie() -> None:
    p, lsk = _server()
    lsk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1)
    p.syn(data=b"no cookie needed")
    p.expect(SYN | ACK, ack=p.iss + 1 + 16)
    assert lsk.accept().recvmsg(100)[0] == b"no cookie needed"


# -- ixsim as the client -------------------------------------------------------------------------
def _answer(p: Peer, syn: object, acked: int, cookie: bytes | None = None) -> None:
    """The peer's SYN-ACK to ``syn``, acknowledging ``acked`` bytes of its data."""
    p.dut_iss = syn.seq
    p.lport = syn.th.src_port
    p.ack = syn.seq + 1 + acked
    p.seq = p.iss
    p.send(SYN | ACK, seq=p.iss, ack=p.ack, mss=1460, wscale=7, sack_perm=True,
           fastopen=cookie)


def _get_cookie(p: Peer) -> None:
    """A first connection with TCP_FASTOPEN_CONNECT: no cookie yet, so the SYN asks for one."""
    sk = TcpSock(p.net)
    sk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
    assert sk.getsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT) == 1
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    syn = p.expect(SYN, length=0)
    assert syn.th.fastopen == b""  # the cookie request
    assert sk.info().fastopen_client_fail == TFO_COOKIE_UNAVAILABLE
    _answer(p, syn, 0, COOKIE)
    p.expect(ACK, seq=syn.seq + 1)
    assert sk.state == TcpState.ESTABLISHED
    assert p.table.fastopen_cache[(LOCAL, REMOTE)].cookie == COOKIE


def test_the_client_caches_the_cookie_then_sends_data_in_the_syn() -> None:
    p = Peer()
    _get_cookie(p)
    sk = TcpSock(p.net)
    sk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)
    assert sk.connect(REMOTE, p.rport) is None  # returns at once: the SYN waits for data
    p.expect_none(10 * MS)
    with pytest.raises(OSError) as exc:
        sk.connect(REMOTE, p.rport)
    assert exc.value.errno == errno.EISCONN
    assert sk.sendmsg(b"hello") == 5
    syn = p.expect(SYN, data=b"hello")
    assert syn.th.fastopen == COOKIE
    _answer(p, syn, 5)
    p.expect(ACK, seq=syn.seq + 6, ack=p.iss + 1)
    info = sk.info()
    assert info.options & TCPI_OPT_SYN_DATA and info.fastopen_client_fail == 0
    assert p.net.mib.tcpext["TCPFastOpenActive"] == 1 and sk.packets_out == 0
    assert_linux_tcp_mib_names(p.net)


def test_sendto_msg_fastopen_connects_with_data() -> None:
    p = Peer()
    _get_cookie(p)
    sk = TcpSock(p.net)
    assert sk.sendmsg(b"ping", MSG_FASTOPEN, (REMOTE, p.rport)) == 4
    syn = p.expect(SYN, data=b"ping")
    assert syn.th.fastopen == COOKIE
    _answer(p, syn, 4)
    p.expect(ACK, seq=syn.seq + 5)
    assert sk.state == TcpState.ESTABLISHED


def test_sendto_msg_fastopen_without_a_cookie_asks_for_one() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError) as exc:
        sk.sendmsg(b"ping", MSG_FASTOPEN, (REMOTE, p.rport))
    assert exc.value.errno == errno.EINPROGRESS
    syn = p.expect(SYN, length=0)
    assert syn.th.fastopen == b""


def test_data_the_synack_does_not_cover_is_retransmitted() -> None:
    p = Peer()
    _get_cookie(p)
    sk = TcpSock(p.net)
    assert sk.sendmsg(b"hello", MSG_FASTOPEN, (REMOTE, p.rport)) == 5
    syn = p.expect(SYN, data=b"hello")
    _answer(p, syn, 0)  # a server that ignored the data
    p.expect(ACK | PSH, seq=syn.seq + 1, data=b"hello")  # sent again, carrying the ACK
    assert sk.state == TcpState.ESTABLISHED
    assert sk.info().fastopen_client_fail == TFO_DATA_NOT_ACKED
    assert not sk.info().options & TCPI_OPT_SYN_DATA
    assert p.net.mib.tcpext["TCPFastOpenActiveFail"] == 1
    assert p.net.mib.tcpext["TCPFastOpenActive"] == 0


def test_client_no_cookie_mode_sends_data_without_an_option() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    sk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN_NO_COOKIE, 1)
    assert sk.sendmsg(b"raw", MSG_FASTOPEN, (REMOTE, p.rport)) == 3
    syn = p.expect(SYN, data=b"raw")
    assert syn.th.fastopen is None


def test_fastopen_options_refuse_what_linux_refuses() -> None:
    p = Peer(sysctl=Sysctl(tcp_fastopen=0))
    sk = TcpSock(p.net)
    with pytest.raises(OSError) as exc:
        sk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1)  # client Fast Open disabled
    assert exc.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as exc:
        sk.setsockopt(IPPROTO_TCP, TCP_FASTOPEN, -1)
    assert exc.value.errno == errno.EINVAL
    with pytest.raises(OSError) as exc:
        sk.sendmsg(b"x", MSG_FASTOPEN, (REMOTE, p.rport))
    assert exc.value.errno == errno.EOPNOTSUPP
