"""TCP over scatter-gather: sendmsg into the socket's page frag, skb_split in tcp_fragment,
pskb_trim_head, retransmission from fragments; the bytes delivered are the bytes sent."""

from __future__ import annotations

import hashlib
import socket

import pytest

from ixsim.world import World
from stack.core import ethtool_set_features_by_name
from stack.core.page import alloc_pages
from stack.core.skbfrag import pskb_trim_head
from stack.core.skbuff import SkbFrag, alloc_skb
from stack.tcp import output


def _pair(loss: float = 0.0, seed: int = 1):
    w = World(seed=seed)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0, latency="20us", loss=loss)
    return w, a, b


def _connect(a, b, port: int = 7):
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", port))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    return srv, c, conn


def _data(n: int) -> bytes:
    return bytes((i * 7 + (i >> 9)) & 0xFF for i in range(n))


def _recv_all(conn, n: int) -> bytes:
    got = bytearray()
    while len(got) < n:
        chunk = conn.recv(1 << 20)
        assert chunk
        got += chunk
    return bytes(got)


def test_sendmsg_on_an_sg_route_queues_page_fragments_and_the_head_holds_no_payload():
    w, a, b = _pair()
    with w:
        _srv, c, conn = _connect(a, b)
        sk = c.sk
        sk.cwnd = 0  # hold everything in the write queue to look at it
        data = _data(100_000)
        c.setblocking(False)
        data = data[:c.send(data)]  # what the send buffer took
        assert len(data) > 60_000
        queued = list(sk.write_queue)
        assert queued and all(seg.skb.headlen() == 0 for seg in queued)
        assert all(seg.skb.data_len == seg.end_seq - seg.seq for seg in queued)
        page = sk.sk_frag.page
        assert page is not None and page.addr  # in guest memory: the driver maps it in place
        # consecutive bytes on one page coalesce into one fragment (skb_can_coalesce)
        first = queued[0].skb
        assert sum(f.size for f in first.shinfo.frags) == first.len
        assert len(first.shinfo.frags) <= -(-first.len // page.size) + 1
        assert b"".join(s.skb.tobytes() for s in queued) == data
        sk.cwnd = 10
        output.push_pending_frames(sk)
        c.setblocking(True)
        assert _recv_all(conn, len(data)) == data


def test_sendmsg_without_sg_stays_linear():
    w, a, b = _pair()
    with w:
        ethtool_set_features_by_name(a.eth0, {"sg": False})
        _srv, c, conn = _connect(a, b)
        sk = c.sk
        sk.cwnd = 0
        data = _data(20_000)
        c.setblocking(False)
        c.send(data)
        assert all(not seg.skb.data_len and seg.skb.headlen() == seg.end_seq - seg.seq
                   for seg in sk.write_queue)
        assert sk.sk_frag.page is None
        sk.cwnd = 10
        output.push_pending_frames(sk)
        c.setblocking(True)
        assert _recv_all(conn, len(data)) == data


def test_tcp_fragment_splits_without_copying_the_pages():
    w, a, b = _pair()
    with w:
        _srv, c, conn = _connect(a, b)
        sk = c.sk
        sk.cwnd = 0
        data = _data(30_000)
        c.setblocking(False)
        c.send(data)
        seg = sk.write_queue[0]
        frag = seg.skb.shinfo.frags[0]
        page, refs = frag.page, frag.page.refcount
        tail = output.fragment(sk, sk.write_queue, seg, 1000, 1448)
        assert seg.skb.len == 1000 and seg.skb.headlen() == 0
        assert tail.skb.shinfo.frags[0].page is page  # shared, not copied
        assert tail.skb.shinfo.frags[0].page_offset == frag.page_offset + 1000
        assert page.refcount == refs + 1  # the straddling fragment: one reference each
        assert seg.skb.tobytes() + tail.skb.tobytes() == data[:seg.skb.len + tail.skb.len]
        sk.cwnd = 10
        output.push_pending_frames(sk)
        c.setblocking(True)
        assert _recv_all(conn, len(data)) == data


def test_pskb_trim_head_drops_fragments_without_pulling_them():
    w, a, _b = _pair()
    with w:
        kernel = a.kernel
        skb = alloc_skb(kernel, 128)
        skb.reserve(64)
        skb.put_data(b"H" * 10)
        p1, p2 = alloc_pages(kernel, 0), alloc_pages(kernel, 0)
        p1.buf[0:100] = b"a" * 100
        p2.buf[0:50] = b"b" * 50
        skb.shinfo.frags += [SkbFrag(p1, 0, 100), SkbFrag(p2, 0, 50)]
        skb.data_len = 150
        pskb_trim_head(skb, 10 + 100 + 20)
        assert skb.headlen() == 0 and skb.len == 30
        assert skb.tobytes() == b"b" * 30
        assert p1.refcount == 0 and len(skb.shinfo.frags) == 1  # the emptied page was put
        assert skb.shinfo.frags[0].page_offset == 20


@pytest.mark.parametrize("sg", [True, False])
def test_lossy_bulk_transfer_retransmits_from_fragments_intact(sg):
    w, a, b = _pair(loss=0.02, seed=5)
    with w:
        if not sg:
            ethtool_set_features_by_name(a.eth0, {"sg": False})
        _srv, c, conn = _connect(a, b)
        data = _data(1 << 20)
        got = bytearray()

        async def sender():
            await c.sendall(data)
            c.close()

        async def receiver():
            while True:
                chunk = await conn.recv(1 << 20)
                if not chunk:
                    conn.close()
                    return
                got.extend(chunk)

        tasks = [w.spawn(sender()), w.spawn(receiver())]
        w.run_until(lambda: all(t.done() for t in tasks), timeout="60s")
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        assert c.sk.total_retrans > 0
        assert w.faults == []
        w.run_for("1s")  # the FIN handshake ends: TIME-WAIT purges the queues
        assert c.sk.sk_frag.page is None  # released with the connection (sk_destruct)
