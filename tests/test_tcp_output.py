"""The send path and observability: super-segments and checksum offload from the route's
device features, the peer's window and sender SWS avoidance, send-buffer limits, MSS clamping;
TCP_INFO, the ss rendering, the state tracepoint and the transition table."""

from __future__ import annotations

import errno

import pytest
from helpers.tcp import LOCAL, REMOTE, Peer, active, established, listener
from helpers.units import MS

from stack.core import CHECKSUM_NONE, CHECKSUM_PARTIAL
from stack.core.features import NETIF_F_HW_CSUM, NETIF_F_SG, NETIF_F_TSO
from stack.sock import EPOLLOUT
from stack.sysctl import Sysctl
from stack.tcp import TcpSock, TcpState
from stack.tcp.state import TRANSITIONS, IllegalTransition, tcp_set_state
from stack.wire.tcp import ACK, FIN, PSH, SYN

TSO = NETIF_F_TSO | NETIF_F_HW_CSUM | NETIF_F_SG


def test_tso_device_gets_super_segments_with_gso_size_and_partial_checksum() -> None:
    p = Peer(features=TSO)
    sk = established(p)
    sk.sendmsg(b"t" * 100_000)
    segs = p.drain()
    assert [len(s.data) for s in segs] == [5 * 1448, 5 * 1448]  # cwnd 10, half per skb
    assert all(s.gso_size == 1448 and s.ip_summed == CHECKSUM_PARTIAL for s in segs)
    p.send(ACK, ack=p.ack)
    segs = p.drain()
    assert sum(len(s.data) for s in segs) == 20 * 1448  # slow start: cwnd 20, pipe empty
    assert sk.info().data_segs_out == 30 and p.net.mib.tcp["OutSegs"] >= 20


def test_device_without_tso_gets_mss_segments_and_software_checksums() -> None:
    p = Peer()
    sk = established(p)
    sk.sendmsg(b"s" * 5000)
    segs = p.drain()
    assert [len(s.data) for s in segs] == [1448, 1448, 1448, 656]
    assert all(s.gso_size == 0 and s.ip_summed == CHECKSUM_NONE for s in segs)
    assert segs[-1].flags == PSH | ACK and segs[0].flags == ACK


def test_checksum_offload_without_tso() -> None:
    p = Peer(features=NETIF_F_HW_CSUM)
    sk = established(p)
    sk.sendmsg(b"c" * 3000)
    segs = p.drain()
    assert [len(s.data) for s in segs] == [1448, 1448, 104]
    assert all(s.ip_summed == CHECKSUM_PARTIAL for s in segs)  # verified by the harness


def test_peer_window_limits_and_sender_sws_avoidance() -> None:
    p = Peer(wscale=None)
    p.window = 3000
    sk = established(p)
    sk.sendmsg(b"w" * 5000)
    assert [len(s.data) for s in p.drain()] == [1448, 1448]  # no 104-byte sliver (RFC 1122)
    p.send(ACK, ack=p.ack, window=3000)
    assert [len(s.data) for s in p.drain()] == [1448, 656]


def test_send_buffer_fills_then_eagain_then_write_space_wakes() -> None:
    p = Peer()
    sk = established(p)
    sk.setsockopt(1, 7, 4096)  # SO_SNDBUF: 8 KiB after doubling
    p.send(ACK, window=0)  # nothing can leave: everything stays queued
    n = sk.sendmsg(b"b" * 100_000)
    assert 8192 - 2000 < n <= 8192
    assert not sk.poll() & EPOLLOUT
    with pytest.raises(BlockingIOError) as exc:
        sk.sendmsg(b"more")
    assert exc.value.errno == errno.EAGAIN
    woken = []
    sk.wq.append(lambda s, ev: woken.append(ev))
    p.send(ACK, window=1000)
    sent = p.drain()
    assert sent
    p.send(ACK, ack=p.ack, window=0)
    assert sk.poll() & EPOLLOUT or not woken


def test_user_mss_is_advertised_and_respected() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    sk.setsockopt(6, 2, 1000)  # TCP_MAXSEG
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    syn = p.expect(SYN, mss=1000)
    p.dut_iss, p.lport, p.ack = syn.seq, syn.th.src_port, syn.seq + 1
    p.send(SYN | ACK, seq=p.iss, mss=1460, wscale=7, sack_perm=True)
    p.expect(ACK)
    sk.setsockopt(6, 1, 1)
    sk.sendmsg(b"m" * 2000)
    assert [len(s.data) for s in p.drain()] == [988, 988, 24]
    assert sk.getsockopt(6, 2) == 988


def test_tcp_info_reports_linux_fields() -> None:
    p = Peer(sysctl=Sysctl(tcp_early_retrans=0))  # no loss probe in the 20 ms before the ACK
    sk = established(p)
    sk.sendmsg(b"x" * 3000)
    p.drain()
    partial = p.ack - 1552  # the first segment
    p.send(ACK, ack=partial, at=20 * MS)
    p.send(ACK | PSH, data=b"reply", ack=partial, at=25 * MS)
    info = sk.getsockopt(6, 11)
    assert info.state == int(TcpState.ESTABLISHED) and info.ca_state == 0
    assert info.options == 7 and (info.snd_wscale, info.rcv_wscale) == (7, 7)
    assert (info.snd_mss, info.advmss, info.pmtu) == (1448, 1448, 1500)
    assert info.unacked == 2 and info.bytes_acked == 1448
    assert info.bytes_sent == 3000 and info.bytes_received == 5
    assert info.segs_out >= 3 and info.segs_in >= 3 and info.data_segs_in == 1
    # srtt = 7/8 of the ~0 handshake sample + 1/8 of the 20 ms one (RFC 6298 2.3)
    assert info.rtt == 2500 and info.last_data_recv == 0
    assert info.snd_cwnd == 10  # an application-limited flight does not grow cwnd (RFC 7661)
    assert info.rto >= 200_000 and info.retransmits == 0 and info.total_retrans == 0
    assert set(info.asdict()) >= {"rcv_space", "delivery_rate", "min_rtt", "lost", "sacked"}


def test_ss_line_looks_like_ss_tin() -> None:
    p = Peer()
    sk = established(p)
    sk.sendmsg(b"x" * 10)
    text = sk.ss()
    head, detail = text.split("\n")
    assert head.split()[:3] == ["ESTAB", "0", "10"]
    assert "10.0.0.1:5000" in head and "10.0.0.2:40000" in head
    for field in ("ts", "sack", "cubic", "wscale:7,7", "rto:", "mss:1448", "pmtu:1500",
                  "rcvmss:536", "advmss:1448", "cwnd:10", "bytes_sent:10", "unacked:1"):
        assert field in detail.split() or any(w.startswith(field) for w in detail.split())
    p.lport = 5001
    lsk = listener(p)
    assert lsk.ss().startswith("LISTEN")
    assert lsk in p.table.sockets() and sk in p.table.sockets()


def test_every_state_change_is_traced_and_legal() -> None:
    p = Peer()
    events = []
    p.kernel.tracers.append(lambda t, ev, f: ev == "tcp_set_state" and events.append(
        (f["oldstate"], f["newstate"])))
    sk = active(p)
    sk.close()
    p.expect(FIN | ACK)
    p.send(FIN | ACK)
    p.expect(ACK)
    p.run(61_000 * MS)
    assert events == [("CLOSED", "SYN_SENT"), ("SYN_SENT", "ESTABLISHED"),
                      ("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"),
                      ("FIN_WAIT_2", "TIME_WAIT"), ("TIME_WAIT", "CLOSED")]
    for old, new in events:
        assert TcpState[new] in TRANSITIONS[TcpState[old]]


def test_illegal_transitions_raise() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    with pytest.raises(IllegalTransition):
        tcp_set_state(sk, TcpState.ESTABLISHED)
    assert len(TRANSITIONS) == 11


def test_sockets_bound_to_an_address_and_getsockname() -> None:
    p = Peer()
    sk = TcpSock(p.net)
    sk.bind(LOCAL, 0)
    addr, port = sk.getsockname()
    assert addr == LOCAL and port
    assert sk.getsockopt(1, 3) == 1  # SO_TYPE: SOCK_STREAM
