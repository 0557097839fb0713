"""Fragmentation of a 9000-byte UDP datagram over a 1500-byte MTU and its reassembly: in order,
reordered, with loss (timeout, ICMP time exceeded), duplicates, overlaps, memory limits; DF."""

from __future__ import annotations

import errno

import pytest
from helpers.frames import Tap, fragments, inject_ip, udp_datagram
from helpers.mib import assert_linux_mib_names
from helpers.stack import two_hosts
from helpers.units import MS, US, S

from stack.core import ETH_P_IP, alloc_skb
from stack.ipv4 import MAX_HEADER, ip_send
from stack.uapi import IP_MTU_DISCOVER, IP_PMTUDISC_DO, SOL_IP
from stack.wire import IP_MF, IP_OFFSET, Ipv4Packet, ip_bytes

D = 50 * US
B = ip_bytes("10.0.0.2")
DATA = bytes(i * 7 & 0xFF for i in range(9000))


def is_fragment(frame: bytes) -> bool:
    return frame[12:14] == b"\x08\x00" and bool(
        int.from_bytes(frame[20:22], "big") & (IP_MF | IP_OFFSET))


def fragment_impair(plan):
    """An impair hook that applies ``plan(index)`` (None: drop, int: extra delay) to
    fragments in the order they are transmitted, and passes everything else."""
    count = [0]

    def impair(frame: bytes) -> int | None:
        if not is_fragment(frame):
            return 0
        index = count[0]
        count[0] += 1
        return plan(index)

    return impair


def send_big(a, port: int = 9) -> None:
    a.udp().sendmsg(DATA, addr=(B, port))


def test_9000_byte_datagram_is_fragmented_and_reassembled():
    sched, a, b = two_hosts(delay=D)
    tap = Tap(a.kernel)
    rx = b.udp(9)
    send_big(a)
    sched.run_for(10 * MS)
    data, (src, _port) = rx.recvmsg(10000)
    assert data == DATA and src == ip_bytes("10.0.0.1")
    frames = [f for _t, f in tap.sent(ETH_P_IP)]
    assert [len(f) for f in frames] == [1514] * 6 + [14 + 20 + 128]
    offsets = [Ipv4Packet(f[14:]).frag_offset for f in frames]
    assert offsets == [i * 1480 for i in range(7)]
    assert [Ipv4Packet(f[14:]).mf for f in frames] == [True] * 6 + [False]
    assert len({Ipv4Packet(f[14:]).ident for f in frames}) == 1
    assert all(Ipv4Packet(f[14:]).verify_checksum() for f in frames)
    ma, mb = a.net.mib.ip, b.net.mib.ip
    assert (ma["FragOKs"], ma["FragCreates"], ma["OutRequests"], ma["OutTransmits"]) == (1, 7, 1, 7)
    assert (mb["ReasmReqds"], mb["ReasmOKs"], mb["InDelivers"]) == (7, 1, 1)
    assert b.net.ipfrag.mem == 0 and not b.net.ipfrag.queues
    assert_linux_mib_names(a.net)
    assert_linux_mib_names(b.net)
    assert a.kernel.skb_live == 0 and b.kernel.skb_live == 0


def test_reordered_fragments_are_reassembled():
    sched, a, b = two_hosts(delay=D)
    rx = b.udp(9)
    a.dev.priv.impair = fragment_impair(lambda i: (7 - i) * 10 * US)  # arrive last-first
    send_big(a)
    sched.run_for(10 * MS)
    assert rx.recvmsg(10000)[0] == DATA
    assert b.net.mib.ip["ReasmOKs"] == 1


def test_a_lost_fragment_times_out_after_30_s_with_icmp_time_exceeded():
    sched, a, b = two_hosts(delay=D)
    rx = b.udp(9)
    tap_b = Tap(b.kernel)
    a.dev.priv.impair = fragment_impair(lambda i: None if i == 2 else 0)
    send_big(a)
    sched.run_for(10 * MS)
    first = tap_b.received(ETH_P_IP)[0][0]
    assert b.net.mib.ip["ReasmReqds"] == 6 and b.net.ipfrag.queues
    sched.run_for(first + 30 * S - sched.now - 1)
    assert b.net.mib.ip["ReasmTimeout"] == 0
    sched.run_for(10 * MS)
    mb = b.net.mib.ip
    assert (mb["ReasmTimeout"], mb["ReasmFails"], mb["ReasmOKs"]) == (1, 1, 0)
    assert b.net.mib.icmp["OutTimeExcds"] == 1
    assert a.net.mib.icmp["InTimeExcds"] == 1
    icmp_out = [f for _t, f in tap_b.sent(ETH_P_IP) if f[23] == 1]
    (frame,) = icmp_out
    assert (frame[34], frame[35]) == (11, 1)  # time exceeded, fragment reassembly
    quoted = Ipv4Packet.checked(frame[42:], quoted=True)
    assert quoted.frag_offset == 0 and quoted.mf  # the first fragment is quoted
    assert not rx.rcvq and b.net.ipfrag.mem == 0
    assert b.kernel.skb_live == 0 and a.kernel.skb_live == 0


def test_without_the_first_fragment_the_timeout_sends_nothing():
    sched, a, b = two_hosts(delay=D)
    a.dev.priv.impair = fragment_impair(lambda i: None if i == 0 else 0)
    send_big(a)
    sched.run_for(31 * S)
    assert b.net.mib.ip["ReasmTimeout"] == 1 and b.net.mib.icmp["OutMsgs"] == 0


def test_duplicates_are_dropped_and_overlaps_discard_the_datagram():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    udp = udp_datagram("10.0.0.1", "10.0.0.2", 5, 9, b"0123456789abcdefghijklmn")
    assert len(udp) == 32
    dev = b.dev
    # exact and contained duplicates: ignored, the datagram completes once
    for pkt in fragments(1, [(0, udp[:8], True), (8, udp[8:16], True), (0, udp[:16], True),
                          (8, udp[8:16], True), (16, udp[16:], False)]):
        inject_ip(dev, pkt)
    assert rx.recvmsg(100)[0] == b"0123456789abcdefghijklmn"
    assert b.kernel.drop_reasons["DUP_FRAG"] == 2
    # a partial overlap kills the whole datagram
    for pkt in fragments(2, [(0, udp[:16], True), (8, udp[8:24], True), (16, udp[16:], False)]):
        inject_ip(dev, pkt)
    assert b.net.mib.ipext["ReasmOverlaps"] == 1
    assert b.net.mib.ip["ReasmFails"] == 1
    assert not rx.rcvq
    sched.run_for(31 * S)  # the late last fragment's queue expires
    assert b.net.mib.ip["ReasmTimeout"] == 1 and b.kernel.skb_live == 0


def test_inconsistent_ends_and_oversized_datagrams_fail():
    _sched, _a, b = two_hosts()
    dev = b.dev
    udp = udp_datagram("10.0.0.1", "10.0.0.2", 5, 9, bytes(24))
    # two different last fragments
    for pkt in fragments(3, [(16, udp[16:], False), (8, udp[8:16], False)]):
        inject_ip(dev, pkt)
    assert b.net.mib.ip["ReasmFails"] == 1
    # 65544 bytes of payload: over the 65535-byte limit once complete
    chunk = bytes(1480)
    pieces = [(i * 1480, chunk, True) for i in range(44)] + [(44 * 1480, bytes(424), False)]
    for pkt in fragments(4, pieces):
        inject_ip(dev, pkt)
    assert b.net.mib.ip["ReasmFails"] == 2 and b.net.mib.ip["ReasmOKs"] == 0
    assert not b.net.ipfrag.queues and b.kernel.skb_live == 0


def test_fragment_memory_limit():
    sched, a, b = two_hosts()
    b.net.sysctl.ipfrag_high_thresh = 3000
    dev = b.dev
    for ident in range(1, 6):
        inject_ip(dev, fragments(ident, [(0, bytes(1000), True)])[0])
    assert b.net.ipfrag.mem > 3000
    fails = b.net.mib.ip["ReasmFails"]
    assert fails >= 1 and len(b.net.ipfrag.queues) == 5 - fails
    sched.run_for(31 * S)
    assert b.net.ipfrag.mem == 0 and b.kernel.skb_live == 0


def test_df_gives_emsgsize_and_a_local_frag_needed():
    sched, a, b = two_hosts()
    rx = b.udp(9)
    sk = a.udp()
    sk.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    with pytest.raises(OSError) as info:
        sk.sendmsg(b"x" * 2000, addr=(B, 9))
    assert info.value.errno == errno.EMSGSIZE
    assert sk.sendmsg(b"x" * 1472, addr=(B, 9)) == 1472  # exactly one MTU
    # a DF packet over the MTU handed to IP: dropped, and ICMP fragmentation needed to us
    skb = alloc_skb(a.kernel, MAX_HEADER + 2000)
    skb.reserve(MAX_HEADER)
    skb.put_data(bytes(2000))
    assert ip_send(a.net, skb, None, B, 17, df=True) == -errno.EMSGSIZE
    sched.run_for(1 * MS)
    assert a.net.mib.ip["FragFails"] == 1
    assert a.net.mib.icmp["OutDestUnreachs"] == 1 and a.net.mib.icmp["InDestUnreachs"] == 1
    assert len(rx.recvmsg(2000)[0]) == 1472
    assert a.kernel.skb_live == 0
