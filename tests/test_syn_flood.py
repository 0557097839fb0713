"""A SYN flood against a listener, end to end (issue 19, "Also: SYN floods").

Before SYN cookies, 20,000 spoofed SYNs kept a listener from legitimate clients for 63 s
(the flood's requests fill the SYN queue until their SYN-ACK retries run out).  Here host
``x`` sends 20,000 SYNs from spoofed addresses (198.18.0.0/15, RFC 2544's benchmark range)
through a packet socket while host ``a`` connects to ``b``; ``b`` routes the spoofed
addresses to a gateway that never answers ARP, so no SYN-ACK of the flood is ever answered.

- ``tcp_syncookies=1`` (the default): once the queue is full each SYN gets a cookie SYN-ACK
  (``TCPReqQFullDoCookies``, ``SyncookiesSent``), the client's handshake completes in one
  round trip without a SYN retransmission (its ACK is a valid cookie: ``SyncookiesRecv``) and
  data moves during the flood.
- ``tcp_syncookies=0``: as Linux, each SYN that finds the queue full is dropped
  (``TCPReqQFullDrop`` and ``ListenDrops``, "Dropping request" logged once): the client's
  SYNs go unanswered until the flood's requests expire after their last SYN-ACK retry, 63 s.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from ixsim import World
from stack.tcp import TcpState
from stack.wire import Ipv4Repr, ip_bytes
from stack.wire.ipv4 import IPPROTO_TCP
from stack.wire.tcp import SYN, TcpRepr

FLOOD = 20_000
BATCH = 100  # SYNs per burst ...
BURST_GAP_NS = 200_000  # ... every 200 us: 500,000 SYNs a second, 40 ms of flood
BACKLOG = 128
PORT = 80
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800


def _world(syncookies: int):
    w = World(seed=1904)
    a = w.host("a", "10.0.0.1/24")  # the legitimate client
    b = w.host("b", "10.0.0.2/24")  # the server
    x = w.host("x", "10.0.0.3/24")  # the attacker
    sw = w.switch("sw0", ports=3)
    for i, h in enumerate((a, b, x)):
        w.cable(h.eth0, sw.port(i))
    b.net.add_route("default", gateway="10.0.0.254")  # nobody: spoofed peers never answer
    b.sysctl("net.ipv4.tcp_syncookies", syncookies)
    w.run_for("3s")
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", PORT))
    srv.listen(BACKLOG)
    return w, a, b, x, srv


def _syn_frame(dst_mac: bytes, src_mac: bytes, i: int) -> bytes:
    src = ip_bytes(f"198.18.{i >> 8 & 0xFF}.{i & 0xFF}")
    dst = ip_bytes("10.0.0.2")
    th = TcpRepr(
        1024 + i % 60000,
        PORT,
        (i * 2654435761) & 0xFFFFFFFF,
        0,
        SYN,
        64240,
        mss=1460,
        wscale=7,
        sack_permitted=True,
    )
    seg = bytearray(th.buffer_len())
    th.emit(seg, 0, src, dst)
    ip = Ipv4Repr(src, dst, IPPROTO_TCP, len(seg), 64, i & 0xFFFF, True)
    pkt = bytearray(ip.buffer_len() + len(seg))
    hl = ip.emit(pkt)
    pkt[hl:] = seg
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + bytes(pkt)


def _start_flood(w, x, b) -> list[int]:
    """Send FLOOD spoofed SYNs from ``x`` in bursts (scheduled events); returns [sent]."""
    tx = x.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.bind(("eth0", 0))
    tx.setblocking(False)
    dst, src = bytes(b.eth0.dev_addr), bytes(x.eth0.dev_addr)
    frames = [_syn_frame(dst, src, i) for i in range(FLOOD)]
    sent = [0]

    def burst() -> None:
        for frame in frames[sent[0] : sent[0] + BATCH]:
            tx.send(frame)
            sent[0] += 1
        if sent[0] < FLOOD:
            w.sched.call_later(BURST_GAP_NS, burst)

    w.sched.call_soon(burst)
    return sent


def _dmesg(h) -> list[str]:
    return [rec.msg for rec in h.kernel.dmesg]


def test_with_syncookies_a_client_connects_and_moves_data_during_the_flood():
    w, a, b, x, srv = _world(syncookies=1)
    ping = a.ping("10.0.0.2")
    assert ping.received == 1
    sent = _start_flood(w, x, b)
    w.run_for("10ms")  # a quarter of the flood is in: the SYN queue is long full
    assert 4000 <= sent[0] < FLOOD
    lsk = srv.sk
    assert len(lsk.syn_table) == BACKLOG + 1
    ext = b.net.mib.tcpext
    cookies0 = ext["TCPReqQFullDoCookies"]
    assert cookies0 >= sent[0] - 2 * BATCH - BACKLOG - 1  # the last burst may be in flight
    retrans0 = a.net.mib.tcp["RetransSegs"]

    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    t0 = w.sched.now
    c.connect(("10.0.0.2", PORT))
    took = w.sched.now - t0
    # one round trip plus processing, queued behind the flood's frames on the switch: well
    # under a millisecond, and no SYN retransmission (the first one comes after 1 s)
    assert took < 1_000_000, took
    assert a.net.mib.tcp["RetransSegs"] == retrans0
    assert sent[0] < FLOOD  # still flooding
    conn, peer = srv.accept()
    assert peer == ("10.0.0.1", c.getsockname()[1])
    assert ext["SyncookiesRecv"] == 1 and ext["SyncookiesFailed"] == 0

    data = bytes(range(256)) * 256  # 64 KiB both ways while the flood goes on
    t1 = w.sched.now
    c.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        got += conn.recv(65536)
    conn.sendall(bytes(got))
    back = bytearray()
    while len(back) < len(data):
        back += c.recv(65536)
    assert bytes(got) == data and bytes(back) == data
    assert w.sched.now - t1 < 5_000_000
    assert a.net.mib.tcp["RetransSegs"] == retrans0
    w.run_until(lambda: sent[0] == FLOOD, timeout="1s")
    w.run_for("5ms")
    assert ext["TCPReqQFullDoCookies"] + BACKLOG + 1 >= FLOOD
    assert ext["SyncookiesSent"] == ext["TCPReqQFullDoCookies"]  # one per SYN past the queue
    assert ext["TCPReqQFullDrop"] == 0
    assert len(lsk.syn_table) == BACKLOG + 1  # the cookies kept no state
    # the listener's bound address, as Linux's tcp_syn_flood_action prints sk_rcv_saddr
    line = f"TCP: request_sock_TCP: Possible SYN flooding on port 0.0.0.0:{PORT}. Sending cookies."
    assert _dmesg(b).count(line) == 1
    c.close()
    conn.close()


def test_without_syncookies_the_flood_keeps_a_client_out_until_its_requests_expire():
    w, a, b, x, srv = _world(syncookies=0)
    sent = _start_flood(w, x, b)
    w.run_for("10ms")
    lsk = srv.sk
    assert len(lsk.syn_table) == BACKLOG + 1
    ext = b.net.mib.tcpext
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.setblocking(False)
    t0 = w.sched.now
    with pytest.raises(BlockingIOError) as exc:
        c.connect(("10.0.0.2", PORT))
    assert exc.value.errno == errno.EINPROGRESS
    w.run_for("10s")  # the SYN and its retransmissions at 1, 3 and 7 s: all dropped
    assert sent[0] == FLOOD
    assert c.sk.state == TcpState.SYN_SENT
    drops = ext["TCPReqQFullDrop"]
    assert drops == FLOOD - (BACKLOG + 1) + 4  # every flood SYN past the queue, and the client's 4
    assert ext["ListenDrops"] == drops
    assert ext["TCPReqQFullDoCookies"] == ext["SyncookiesSent"] == 0
    assert ext["ListenOverflows"] == 0  # the accept queue never filled: nothing completed
    line = f"TCP: request_sock_TCP: Possible SYN flooding on port 0.0.0.0:{PORT}. Dropping request."
    assert _dmesg(b).count(line) == 1
    # the flood's requests die after their fifth SYN-ACK retry (1+2+4+8+16+32 = 63 s); the
    # client's SYN at 63 s (retries at 1, 3, 7, 15, 31, 63 s) finds room and connects
    w.run_until(lambda: c.sk.state == TcpState.ESTABLISHED, timeout="70s")
    took = w.sched.now - t0
    assert 63_000_000_000 <= took < 64_000_000_000, took
    conn, _ = srv.accept()
    c.setblocking(True)
    c.sendall(b"finally")
    assert conn.recv(16) == b"finally"
