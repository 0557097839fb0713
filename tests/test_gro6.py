"""GRO for TCP over IPv6 (``ipv6_gro_receive``/``tcp6_gro_receive``), as tests/test_gro.py
checks IPv4's: hand-built frames fed to ``napi_gro_receive`` on a dummy device whose kernel
has the ETH_P_IPV6 offload, then two emulated hosts transferring over IPv6 with GRO on and
off, and software GSO of a super-segment for a device without TSO6.
"""

from __future__ import annotations

import hashlib
import socket
import struct

import pytest
from helpers.dummy import MAC_A, MAC_B, DummyHost

from ixsim import World
from stack.core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    ETH_P_IPV6,
    GRO_HELD,
    GRO_MERGED_FREE,
    GRO_NORMAL,
    NETIF_F_GRO,
    PacketOffload,
    consume_skb,
    eth_type_trans,
    ethtool_set_features,
    napi_gro_flush,
    napi_gro_receive,
    netdev_alloc_skb,
)
from stack.core.skbuff import SKB_GSO_TCPV6
from stack.ipv4.gso import inet_gso_segment
from stack.ipv6.gro import ipv6_gro_complete, ipv6_gro_receive
from stack.tcp import offload  # noqa: F401  (registers tcp6_gro_receive)
from stack.wire.checksum import pseudo_header_sum
from stack.wire.ipv6 import Ipv6Repr, ipv6_bytes
from stack.wire.tcp import ACK, PSH, TcpRepr

SRC = ipv6_bytes("fd00::2")
DST = ipv6_bytes("fd00::1")
MSS = 1428
TS = (1000, 2000)
HL = 40 + 32  # IPv6 + TCP with timestamps


@pytest.fixture
def host():
    h = DummyHost()
    h.kernel.dev_add_offload(
        PacketOffload(ETH_P_IPV6, inet_gso_segment, ipv6_gro_receive, ipv6_gro_complete)
    )
    h.up()
    h.catch(ETH_P_IPV6)
    yield h
    for skb in h.received:
        consume_skb(skb)
    assert h.kernel.skb_live == 0
    assert not h.napi.gro_list


def frame(seq: int, n: int = MSS, flags: int = ACK, hop_limit: int = 64, tclass: int = 0,
          flow: int = 0, sport: int = 5001, src: bytes = SRC, nexthdr: int = 6,
          pad: int = 0) -> bytes:
    """An Ethernet + IPv6 + TCP frame with ``n`` payload bytes (a pattern keyed by ``seq``)."""
    payload = bytes((seq + i) & 0xFF for i in range(n))
    th = TcpRepr(sport, 80, seq & 0xFFFFFFFF, 7000, flags, 512, timestamp=TS, payload_len=n)
    seg = bytearray(th.buffer_len() + n)
    seg[th.buffer_len() :] = payload
    th.emit(seg, 0, src, DST)
    hdr = bytearray(40)
    Ipv6Repr(src, DST, nexthdr, len(seg), hop_limit, tclass, flow).emit(hdr)
    return MAC_A + MAC_B + struct.pack("!H", ETH_P_IPV6) + bytes(hdr) + bytes(seg) + bytes(pad)


def rx(h: DummyHost, data: bytes, summed: int = CHECKSUM_NONE) -> int:
    """ixgb hands IPv6 up unverified (CHECKSUM_NONE): GRO checks the checksum itself."""
    skb = netdev_alloc_skb(h.dev, len(data))
    skb.put_data(data)
    skb.ip_summed = summed
    eth_type_trans(skb, h.dev)
    return napi_gro_receive(h.napi, skb)


def flushed(h: DummyHost) -> list:
    napi_gro_flush(h.napi)
    return h.received


def stream(seq: int, n: int) -> bytes:
    return b"".join(
        bytes((s + i) & 0xFF for i in range(MSS)) for s in range(seq, seq + n * MSS, MSS)
    )


def test_in_order_segments_become_one_super_segment(host):
    codes = [rx(host, frame(MSS * i)) for i in range(5)]
    assert codes == [GRO_HELD] + [GRO_MERGED_FREE] * 4
    (skb,) = flushed(host)
    buf = skb.tobytes()
    assert struct.unpack_from("!H", buf, 4)[0] == len(buf) - 40  # payload length fixed
    th = TcpRepr.parse(buf[40:])
    assert th.seq == 0 and th.flags == ACK and buf[HL:] == stream(0, 5)
    assert (skb.gso_size, skb.gso_segs) == (MSS, 5) and skb.gso_type & SKB_GSO_TCPV6
    assert skb.ip_summed == CHECKSUM_PARTIAL and skb.csum_start == skb.transport_header
    check = struct.unpack_from("!H", skb.head, skb.transport_header + 16)[0]
    assert check == pseudo_header_sum(SRC, DST, 6, len(buf) - 40)  # the IPv6 pseudo-header
    assert skb.shinfo.frags and len(skb.shinfo.frags) == 4  # the received buffers themselves


def test_a_single_segment_is_verified_and_goes_up_unchanged(host):
    data = frame(0)
    rx(host, data)
    (skb,) = flushed(host)
    assert skb.tobytes() == data[14:] and skb.ip_summed == CHECKSUM_UNNECESSARY
    assert skb.gso_size == 0


def test_a_bad_checksum_psh_and_pure_acks(host):
    bad = bytearray(frame(0))
    bad[-1] ^= 1
    assert rx(host, bytes(bad)) == GRO_NORMAL  # TCP will count it
    assert host.received[-1].ip_summed == CHECKSUM_NONE
    assert rx(host, frame(0, n=0)) == GRO_NORMAL
    assert rx(host, frame(0)) == GRO_HELD
    assert rx(host, frame(MSS, flags=ACK | PSH)) == GRO_MERGED_FREE  # merged, then flushed
    assert host.received[-1].gso_segs == 2 and not host.napi.gro_list


@pytest.mark.parametrize(
    "change, merges",
    [({"hop_limit": 63}, False), ({"tclass": 4}, False), ({"flow": 5}, False),
     ({"src": ipv6_bytes("fd00::3")}, False), ({}, True)],
)
def test_what_must_match(host, change, merges):
    rx(host, frame(0))
    code = rx(host, frame(MSS, **change))
    assert (code == GRO_MERGED_FREE) is merges
    assert len(flushed(host)) == (1 if merges else 2)


def test_extension_headers_padding_and_other_protocols_are_not_merged(host):
    rx(host, frame(0))
    assert rx(host, frame(MSS, pad=4)) == GRO_NORMAL  # payload length != frame
    assert rx(host, frame(2 * MSS, nexthdr=0)) == GRO_NORMAL  # hop-by-hop header
    assert rx(host, frame(3 * MSS, nexthdr=17)) == GRO_NORMAL
    assert len(flushed(host)) == 4


def test_gro_off_passes_every_frame_up(host):
    ethtool_set_features(host.dev, off=NETIF_F_GRO)
    assert [rx(host, frame(MSS * i)) for i in range(3)] == [GRO_NORMAL] * 3


def test_a_super_segment_is_cut_again_by_software_gso(host):
    for i in range(3):
        rx(host, frame(MSS * i))
    (skb,) = flushed(host)
    host.received.clear()
    skb.data = skb.mac_header
    segs = inet_gso_segment(skb, 0)
    consume_skb(skb)
    try:
        assert len(segs) == 3
        for i, seg in enumerate(segs):
            buf = seg.tobytes()[14:]
            assert struct.unpack_from("!H", buf, 4)[0] == len(buf) - 40 == 32 + MSS
            assert TcpRepr.parse(buf[40:]).seq == MSS * i
            # each stays CHECKSUM_PARTIAL, its own IPv6 pseudo-header sum seeded
            assert seg.ip_summed == CHECKSUM_PARTIAL
            assert struct.unpack_from("!H", buf, 56)[0] == pseudo_header_sum(SRC, DST, 6, 32 + MSS)
    finally:
        for seg in segs:
            consume_skb(seg)


def transfer6(gro: bool, nbytes: int = 3 << 20) -> tuple[str, int, int, int]:
    """(sha256 received, receiver's segments out, its TCP skbs in, NIC frames in)."""
    with World(seed=3) as w:
        a = w.host("a", "fd00::1/64")
        b = w.host("b", "fd00::2/64")
        if not gro:
            ethtool_set_features(b.eth0, off=NETIF_F_GRO)
        w.cable(a.eth0, b.eth0, latency="20us")
        w.run_for("3s")
        srv = b.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.bind(("::", 9))
        srv.listen()
        c = a.socket(socket.AF_INET6, socket.SOCK_STREAM)
        c.connect(("fd00::2", 9))
        conn, _ = srv.accept()
        payload = hashlib.shake_256(b"gro6").digest(nbytes)
        got = hashlib.sha256()
        received = 0

        async def send() -> None:
            await c.sendall(payload)
            c.shutdown(socket.SHUT_WR)

        async def recv() -> None:
            nonlocal received
            while data := await conn.recv(1 << 16):
                got.update(data)
                received += len(data)

        tasks = [w.spawn(send()), w.spawn(recv())]
        assert w.run_until(lambda: all(t.done() for t in tasks), timeout="10s")
        assert received == nbytes and hashlib.sha256(payload).hexdigest() == got.hexdigest()
        mib = b.net.mib.tcp
        assert mib["InCsumErrors"] == 0 and a.net.mib.tcp["RetransSegs"] == 0
        return got.hexdigest(), mib["OutSegs"], mib["InSegs"], int(b.eth0.device.regs["GPRC"])


def test_an_ipv6_transfer_with_and_without_gro_same_bytes_fewer_acks():
    on = transfer6(True)
    off = transfer6(False)
    assert on[0] == off[0]
    nsegs = (3 << 20) // MSS
    assert on[3] > nsegs and off[3] > nsegs  # the wire carried MSS-sized segments both times
    assert off[2] > nsegs and on[2] < nsegs // 4  # TCP sees super-segments
    assert on[1] < off[1] // 3  # one ACK per super-segment instead of one per 1-2 segments
    assert on == transfer6(True)  # deterministic
