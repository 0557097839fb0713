"""GRO: which TCP/IPv4 segments merge, when held flows are flushed, and what TCP makes of it.

The unit half feeds hand-built frames to ``napi_gro_receive`` on a dummy device whose kernel
has the IPv4 offload (as ``Net`` registers it) and catches what reaches the ETH_P_IP handler.
The TCP half injects super-segments into the raw-peer harness (ACK policy, counters, the
out-of-order queue) and runs two emulated hosts with GRO on and off.
"""

from __future__ import annotations

import hashlib
import socket
import struct

import pytest
from helpers.dummy import MAC_A, MAC_B, DummyHost
from helpers.tcp import LOCAL, REMOTE, Peer, established, tcp_skb

from stack.core import (
    CHECKSUM_NONE,
    CHECKSUM_PARTIAL,
    CHECKSUM_UNNECESSARY,
    ETH_P_IP,
    GRO_HELD,
    GRO_MERGED_FREE,
    GRO_NORMAL,
    NETIF_F_GRO,
    PacketOffload,
    consume_skb,
    eth_type_trans,
    ethtool_set_features,
    napi_complete_done,
    napi_gro_flush,
    napi_gro_receive,
    netdev_alloc_skb,
)
from stack.core.gro import MAX_GRO_SKBS
from stack.ipv4.gro import inet_gro_complete, inet_gro_receive
from stack.ipv4.gso import inet_gso_segment
from stack.tcp import (
    offload,  # noqa: F401  (registers tcp4_gro_receive)
    tcp_v4_rcv,
)
from stack.wire import Ipv4Repr, ip_bytes
from stack.wire.checksum import internet_checksum, pseudo_header_sum
from stack.wire.ipv4 import IPPROTO_TCP, IPPROTO_UDP
from stack.wire.tcp import ACK, CWR, FIN, PSH, RST, SYN, URG, TcpRepr

SRC = ip_bytes("10.0.0.2")
DST = ip_bytes("10.0.0.1")
MSS = 1448
TS = (1000, 2000)


@pytest.fixture
def host():
    h = DummyHost()
    h.kernel.dev_add_offload(PacketOffload(ETH_P_IP, inet_gso_segment, inet_gro_receive,
                                           inet_gro_complete))
    h.up()
    h.catch()
    yield h
    for skb in h.received:
        consume_skb(skb)
    assert h.kernel.skb_live == 0
    assert not h.napi.gro_list


def frame(seq: int, n: int = MSS, flags: int = ACK, ack: int = 7000, window: int = 512,
          ts: tuple[int, int] | None = TS, ident: int | None = None, sport: int = 5001,
          ttl: int = 64, df: bool = True, ip_options: bytes = b"", proto: int = IPPROTO_TCP,
          src: bytes = SRC, mac_src: bytes = MAC_B) -> bytes:
    """An Ethernet + IPv4 + TCP frame with ``n`` payload bytes (a pattern keyed by ``seq``)."""
    payload = bytes((seq + i) & 0xFF for i in range(n))
    th = TcpRepr(sport, 80, seq & 0xFFFFFFFF, ack, flags, window, timestamp=ts,
                 payload_len=n)
    seg = bytearray(th.buffer_len() + n)
    seg[th.buffer_len():] = payload
    th.emit(seg, 0, src, DST)
    ip = Ipv4Repr(src, DST, proto, len(seg), ttl=ttl, df=df,
                  ident=(seq // MSS) & 0xFFFF if ident is None else ident, options=ip_options)
    hdr = bytearray(ip.buffer_len())
    ip.emit(hdr)
    return MAC_A + mac_src + struct.pack("!H", ETH_P_IP) + bytes(hdr) + bytes(seg)


def rx(h: DummyHost, data: bytes, summed: int = CHECKSUM_UNNECESSARY) -> int:
    skb = netdev_alloc_skb(h.dev, len(data))
    skb.put_data(data)
    skb.ip_summed = summed
    eth_type_trans(skb, h.dev)
    return napi_gro_receive(h.napi, skb)


def flushed(h: DummyHost) -> list:
    napi_gro_flush(h.napi)
    return h.received


def tcp_of(skb) -> tuple[TcpRepr, bytes]:
    buf = skb.tobytes()
    ihl = (buf[0] & 0x0F) << 2
    th = TcpRepr.parse(buf[ihl:])
    return th, buf[ihl + 20 + (12 if th.timestamp else 0):]


def stream(seq: int, n: int) -> bytes:
    """What ``n`` MSS-sized frames from ``seq`` carry, back to back."""
    return b"".join(bytes((s + i) & 0xFF for i in range(MSS)) for s in range(seq, seq + n * MSS,
                                                                             MSS))


# -- merging --------------------------------------------------------------------------------------
def test_in_order_segments_become_one_super_segment(host):
    codes = [rx(host, frame(MSS * i)) for i in range(5)]
    assert codes == [GRO_HELD] + [GRO_MERGED_FREE] * 4
    assert host.received == []  # nothing goes up before the flush
    (skb,) = flushed(host)
    buf = skb.tobytes()
    assert struct.unpack_from("!H", buf, 2)[0] == len(buf)  # total length fixed
    assert internet_checksum(buf[:20]) == 0  # and the header checksum with it
    th, payload = tcp_of(skb)
    assert payload == stream(0, 5) and th.seq == 0 and th.flags == ACK and th.timestamp == TS
    assert (skb.gso_size, skb.gso_segs) == (MSS, 5)
    # CHECKSUM_PARTIAL with the pseudo-header sum in the field, as Linux leaves it
    assert skb.ip_summed == CHECKSUM_PARTIAL and skb.csum_start == skb.transport_header
    assert th_check(skb) == pseudo_header_sum(SRC, DST, IPPROTO_TCP, len(buf) - 20)


def th_check(skb) -> int:
    return struct.unpack_from("!H", skb.head, skb.transport_header + 16)[0]


def test_a_single_held_segment_goes_up_unchanged(host):
    data = frame(0)
    assert rx(host, data) == GRO_HELD
    (skb,) = flushed(host)
    assert skb.mac_bytes() == data and skb.gso_size == 0 and skb.gso_segs == 0
    assert skb.ip_summed == CHECKSUM_UNNECESSARY


def test_a_short_segment_ends_the_burst_at_once(host):
    rx(host, frame(0))
    rx(host, frame(MSS))
    assert rx(host, frame(2 * MSS, n=100)) == GRO_MERGED_FREE
    (skb,) = host.received  # flushed right after the merge
    assert tcp_of(skb)[1] == stream(0, 2) + frame(2 * MSS, n=100)[-100:]
    assert skb.gso_segs == 3 and skb.gso_size == MSS


def test_psh_is_merged_then_flushed_and_kept_on_the_super_segment(host):
    rx(host, frame(0))
    assert rx(host, frame(MSS, flags=ACK | PSH)) == GRO_MERGED_FREE
    (skb,) = host.received
    assert tcp_of(skb)[0].flags == ACK | PSH and skb.gso_segs == 2


@pytest.mark.parametrize("flag", [SYN, RST, URG])
def test_other_flags_are_never_merged(host, flag):
    rx(host, frame(0))
    assert rx(host, frame(MSS, flags=ACK | flag)) == GRO_NORMAL
    first, second = host.received  # the held flow first, then the odd one, as it came
    assert tcp_of(first)[0].seq == 0 and tcp_of(second)[0].flags == ACK | flag


def test_fin_is_merged_like_psh_and_cwr_starts_a_new_burst(host):
    rx(host, frame(0))
    assert rx(host, frame(MSS, flags=ACK | CWR)) == GRO_HELD  # the held flow goes up
    assert rx(host, frame(2 * MSS, flags=ACK | FIN)) == GRO_MERGED_FREE  # and this one too
    first, second = host.received
    assert first.gso_segs == 0 and tcp_of(second)[0].flags == ACK | CWR | FIN
    assert second.gso_segs == 2 and tcp_of(second)[1] == stream(MSS, 2)


@pytest.mark.parametrize("change", [
    {"ack": 7001}, {"window": 513}, {"ts": (1001, 2000)}, {"ts": None}, {"ttl": 63},
    {"df": False, "ident": 1}, {"ident": 5},
])
def test_a_different_header_flushes_the_held_flow_and_starts_a_new_one(host, change):
    rx(host, frame(0))
    assert rx(host, frame(MSS, **change)) == GRO_HELD
    (first,) = host.received
    assert tcp_of(first)[0].seq == 0 and first.gso_segs == 0
    (_, second) = flushed(host)
    assert tcp_of(second)[0].seq == MSS


def test_a_fixed_ip_id_with_df_is_accepted(host):
    for i in range(3):
        rx(host, frame(MSS * i, ident=77))
    (skb,) = flushed(host)
    assert skb.gso_segs == 3


def test_a_gap_or_a_longer_segment_starts_a_new_flow_entry(host):
    rx(host, frame(0))
    assert rx(host, frame(2 * MSS)) == GRO_HELD  # MSS bytes missing
    assert rx(host, frame(3 * MSS, n=MSS + 4)) == GRO_HELD  # longer than the flow's gso_size
    assert [tcp_of(s)[0].seq for s in flushed(host)] == [0, 2 * MSS, 3 * MSS]


def test_pure_acks_and_bad_checksums_go_up_as_they_are(host):
    assert rx(host, frame(0, n=0)) == GRO_NORMAL
    bad = bytearray(frame(0))
    bad[-1] ^= 0xFF  # the NIC did not check it (CHECKSUM_NONE) and it is wrong
    assert rx(host, bytes(bad), summed=CHECKSUM_NONE) == GRO_NORMAL
    assert len(host.received) == 2 and host.received[1].ip_summed == CHECKSUM_NONE


def test_unverified_checksums_are_verified_in_software_then_merged(host):
    """skb_gro_checksum_validate: CHECKSUM_NONE is checked here and marked UNNECESSARY."""
    assert rx(host, frame(0), summed=CHECKSUM_NONE) == GRO_HELD
    assert rx(host, frame(MSS), summed=CHECKSUM_NONE) == GRO_MERGED_FREE
    (skb,) = flushed(host)
    assert skb.gso_segs == 2 and skb.ip_summed == CHECKSUM_PARTIAL
    assert tcp_of(skb)[1] == stream(0, 2)


@pytest.mark.parametrize("odd", [
    {"ip_options": b"\x01\x01\x01\x00"}, {"proto": IPPROTO_UDP},
])
def test_ip_headers_gro_does_not_know_are_not_merged(host, odd):
    assert rx(host, frame(0, **odd)) == GRO_NORMAL


def test_a_bad_ip_checksum_is_left_to_ip_rcv(host):
    data = bytearray(frame(0))
    data[14 + 10] ^= 0xFF
    assert rx(host, bytes(data)) == GRO_NORMAL


def test_merging_stops_below_64k(host):
    most = (65535 - 20 - 32) // MSS  # IPv4 + TCP with timestamps: 45 segments
    for i in range(most + 1):
        rx(host, frame(MSS * i))
    first, second = flushed(host)
    assert first.gso_segs == most and len(first.tobytes()) == 52 + most * MSS <= 65535
    assert tcp_of(second)[0].seq == MSS * most and second.gso_segs == 0


def test_flows_are_kept_apart_and_at_most_eight_are_held(host):
    for i in range(2):
        for port in (1, 2):
            rx(host, frame(MSS * i, sport=port))
    a, b = flushed(host)
    assert (tcp_of(a)[0].src_port, a.gso_segs, tcp_of(b)[0].src_port, b.gso_segs) == (1, 2, 2, 2)
    host.received.clear()
    consume_skb(a)
    consume_skb(b)
    for port in range(MAX_GRO_SKBS + 1):
        rx(host, frame(0, sport=100 + port))
    assert [tcp_of(s)[0].src_port for s in host.received] == [100]  # the oldest made room
    assert len(flushed(host)) == MAX_GRO_SKBS + 1


def test_another_link_layer_source_is_another_flow(host):
    rx(host, frame(0))
    assert rx(host, frame(MSS, mac_src=bytes.fromhex("020000000003"))) == GRO_HELD
    assert len(flushed(host)) == 2


def test_gro_off_passes_every_frame_up(host):
    host.dev.hw_features |= NETIF_F_GRO
    ethtool_set_features(host.dev, off=NETIF_F_GRO)
    assert [rx(host, frame(MSS * i)) for i in range(3)] == [GRO_NORMAL] * 3
    assert len(host.received) == 3


@pytest.mark.parametrize(("weight", "supers"), [(64, [6]), (4, [4, 2])])
def test_what_a_poll_held_goes_up_when_it_completes_or_uses_its_weight(host, weight, supers):
    def poll(napi, budget):  # DummyHost's poll, through GRO
        work = 0
        while work < budget and host.rx_ring:
            rx(host, host.rx_ring.popleft())
            work += 1
        if work < budget and napi_complete_done(napi, work):
            host.irq_enabled = True
        return work

    host.napi.poll = poll
    host.napi.weight = weight
    host.deliver([frame(MSS * i) for i in range(6)])
    host.settle()
    assert [skb.gso_segs for skb in host.received] == supers


# -- TCP takes a super-segment as its segments ----------------------------------------------------
def inject_super(p: Peer, segs: int, seq: int | None = None, mss: int = 1448) -> bytes:
    """A GRO super-segment of ``segs`` full segments, as napi_gro_complete hands it up."""
    seq = p.seq if seq is None else seq
    data = bytes((seq + i) & 0xFF for i in range(segs * mss))
    th = TcpRepr(p.rport, p.lport, seq & 0xFFFFFFFF, p.ack & 0xFFFFFFFF, ACK, p.window,
                 timestamp=(p.tsval(), p.ts_recent), payload_len=len(data))
    seg = bytearray(th.buffer_len() + len(data))
    seg[th.buffer_len():] = data
    th.emit(seg, 0, REMOTE, LOCAL)
    skb = tcp_skb(p.kernel, REMOTE, LOCAL, seg)
    skb.tstamp = p.sched.now
    skb.ip_summed = CHECKSUM_PARTIAL
    skb.gso_size, skb.gso_segs = mss, segs
    tcp_v4_rcv(p.net, skb)
    if seq == p.seq:
        p.seq = seq + len(data)
    return data


def test_a_super_segment_is_acked_at_once_and_counted_as_its_segments():
    p = Peer()
    sk = established(p)
    p.send(ACK, data=bytes(1448))  # the first data: quick ACKs, the ATO estimator starts
    p.drain()
    sk.ack_quick = 0  # past the quick ACKs of the start, the window fully open (a growing
    sk.rcv_ssthresh = sk.window_clamp  # one asks for quick ACKs too) and room to spare, so
    sk.sk_rcvbuf = 1 << 22  # unread data does not hold the window's right edge back
    p.send(ACK, data=bytes(1448))
    p.expect_none(10_000_000)  # one full segment: the ACK waits (delayed ACK)
    p.expect(ACK, ack=p.seq)  # ... until the delayed-ACK timer
    segs_in, data_segs_in = sk.segs_in, sk.data_segs_in
    inject_super(p, 4)
    p.expect(ACK, ack=p.seq, within=0)  # more than one full segment unACKed: ACK now
    assert sk.segs_in - segs_in == 4 and sk.data_segs_in - data_segs_in == 4
    assert sk.rcv_mss == 1448  # rcv_mss comes from gso_size, not from the skb's length
    assert p.net.mib.tcp["InSegs"] == 5  # handshake ACK, two segments, one skb: per skb


def test_a_super_segment_beyond_a_hole_waits_in_the_out_of_order_queue():
    p = Peer()
    sk = established(p)
    p.drain()
    start = p.seq
    late = inject_super(p, 3, seq=start + 1448)
    p.expect(ACK, ack=start)  # a duplicate ACK with a SACK of the super-segment
    assert sk.ofo and sk.selective_acks == [[sk.rcv_nxt + 1448, sk.rcv_nxt + 4 * 1448]]
    p.seq = start
    first = bytes((start + i) & 0xFF for i in range(1448))
    p.send(ACK, data=first)
    p.expect(ACK, ack=start + 4 * 1448)
    assert not sk.ofo
    assert sk.recvmsg(1 << 20)[0] == first + late


# -- two hosts ------------------------------------------------------------------------------------
def transfer(gro: bool, nbytes: int = 3 << 20) -> tuple[str, int, int, int]:
    """(sha256 received, receiver's segments out, its skbs in, virtual ns) of one transfer."""
    from ixsim import World

    with World(seed=3) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        if not gro:
            ethtool_set_features(b.eth0, off=NETIF_F_GRO)
        w.cable(a.eth0, b.eth0, latency="20us")
        srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("0.0.0.0", 9))
        srv.listen()
        c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.connect(("10.0.0.2", 9))
        conn, _ = srv.accept()
        payload = hashlib.shake_256(b"gro").digest(nbytes)
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

        t0 = w.now
        tasks = [w.spawn(send()), w.spawn(recv())]
        assert w.run_until(lambda: all(t.done() for t in tasks), timeout="10s")
        assert received == nbytes and hashlib.sha256(payload).hexdigest() == got.hexdigest()
        assert int(a.eth0.device.regs["TSCTC"]) > 0  # the sender's NIC cut TSO super-segments
        mib = b.net.mib.tcp
        return got.hexdigest(), mib["OutSegs"], mib["InSegs"], w.now - t0


def test_a_transfer_with_and_without_gro_delivers_the_same_bytes_with_fewer_acks():
    on = transfer(True)
    off = transfer(False)
    assert on[0] == off[0]
    nsegs = (3 << 20) // 1448
    assert off[2] > nsegs and on[2] < nsegs // 4  # TCP sees super-segments
    assert on[1] < off[1] // 4  # one ACK per super-segment instead of one per 1-2 segments
    assert on == transfer(True)  # and it is as deterministic as ever


def test_a_forwarded_super_segment_is_judged_by_its_segments(host):
    from stack.ipv4.forward import ip_exceeds_mtu
    from stack.wire.ipv4 import IP_DF

    for i in range(4):
        rx(host, frame(MSS * i))
    (skb,) = flushed(host)
    nh = skb.network_header
    assert skb.tail + skb.data_len - nh > 1500 and not ip_exceeds_mtu(skb, nh, 1500, IP_DF)
    assert ip_exceeds_mtu(skb, nh, 1499, IP_DF)  # 20 + 32 + 1448 = 1500 bytes per segment
    assert not ip_exceeds_mtu(skb, nh, 1499, 0)  # without DF, IP may fragment it


# -- the merged skb's layout: page fragments, then a frag_list ------------------------------------
def test_merged_payloads_are_page_fragments_over_the_received_buffers_then_a_frag_list(host):
    from stack.core.skbuff import MAX_SKB_FRAGS

    n = 30
    codes = [rx(host, frame(MSS * i)) for i in range(n)]
    # 1 held + 17 stolen heads (freed), then chained skbs (kept alive on the frag_list) and
    # their own stolen heads: Linux's skb_gro_receive order
    assert codes[: 1 + MAX_SKB_FRAGS] == [GRO_HELD] + [GRO_MERGED_FREE] * MAX_SKB_FRAGS
    assert codes[1 + MAX_SKB_FRAGS] == 0  # GRO_MERGED: chained, not freed
    assert codes[2 + MAX_SKB_FRAGS :] == [GRO_MERGED_FREE] * (n - 2 - MAX_SKB_FRAGS)
    (skb,) = flushed(host)
    shinfo = skb.shinfo
    assert len(shinfo.frags) == MAX_SKB_FRAGS and skb.has_frag_list()
    (chained,) = shinfo.frag_list
    assert chained.headlen() == MSS  # pulled to its payload
    assert len(chained.shinfo.frags) == n - 2 - MAX_SKB_FRAGS
    assert skb.headlen() == 20 + 32 + MSS and skb.len == 52 + n * MSS
    assert all(f.page.addr == 0 and f.size == MSS for f in shinfo.frags)  # no copy: the heads
    assert tcp_of(skb)[1] == stream(0, n) and skb.gso_segs == n
    assert struct.unpack_from("!H", skb.head, skb.network_header + 2)[0] == skb.len
    assert skb.ip_summed == CHECKSUM_PARTIAL
    assert th_check(skb) == pseudo_header_sum(SRC, DST, IPPROTO_TCP, skb.len - 20)


def test_a_frag_list_skb_reads_trims_pulls_copies_and_frees_like_a_linear_one(host):
    from stack.core import skb_copy_bits, skb_linearize
    from stack.core.features import NETIF_F_FRAGLIST, NETIF_F_SG
    from stack.core.skbfrag import skb_needs_linearize

    n = 25
    for i in range(n):
        rx(host, frame(MSS * i))
    (skb,) = flushed(host)
    host.received.clear()
    whole = skb.tobytes()
    assert len(whole) == skb.len == 52 + n * MSS
    # skb_copy_bits across the head, the fragments and into the chained skb's own fragments
    for off, ln in ((0, 52), (40, 3000), (52 + 17 * MSS - 5, 10), (skb.len - 7, 7)):
        assert skb_copy_bits(skb, off, ln) == whole[off : off + ln]
    # the stolen receive heads are not guest memory: no device may DMA them
    assert skb.shinfo.host_frags and skb_needs_linearize(skb, NETIF_F_SG | NETIF_F_FRAGLIST)
    skb.shinfo.host_frags = False  # were they DMA-able pages, FRAGLIST alone would decide
    assert skb_needs_linearize(skb, NETIF_F_SG) and not skb_needs_linearize(
        skb, NETIF_F_SG | NETIF_F_FRAGLIST)
    skb.shinfo.host_frags = True
    # a clone shares the chain; pskb_copy takes a reference on each chained skb
    clone = skb.clone()
    cp = clone.pskb_copy()
    assert cp.tobytes() == whole and cp.shinfo.frag_list[0].users == 2
    consume_skb(clone)
    # trim into the chained skb: the rest of it is cut, later bytes gone
    cut = 52 + 20 * MSS + 100
    cp.trim(cut)
    assert cp.len == cut and cp.tobytes() == whole[:cut]
    assert skb.tobytes() == whole  # the shared chained skb was not trimmed under the original
    # pulling into the chain (__pskb_pull_tail's second pass), then all of it
    assert cp.may_pull(52 + 17 * MSS + 10)
    assert cp.tobytes() == whole[:cut]
    skb_linearize(cp)
    assert not cp.data_len and not cp.has_frag_list() and cp.tobytes() == whole[:cut]
    consume_skb(cp)
    skb.trim(30)  # into the head: every fragment and chained skb let go
    assert skb.len == 30 and not skb.has_frag_list() and not skb.shinfo.frags
    consume_skb(skb)
    assert host.kernel.skb_live == 0 and host.kernel.pages_live == 0


def test_a_gro_skb_with_a_frag_list_is_freed_whole(host):
    for i in range(30):
        rx(host, frame(MSS * i))
    (skb,) = flushed(host)
    host.received.clear()
    assert skb.has_frag_list() and host.kernel.skb_live == 2 and host.kernel.pages_live == 17 + 11
    consume_skb(skb)
    assert host.kernel.skb_live == 0 and host.kernel.pages_live == 0
