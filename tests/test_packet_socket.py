"""AF_PACKET sockets: raw frames both directions, bind to an interface, BPF filters."""

from __future__ import annotations

import socket
import struct

import pytest

from ixsim.capture import start_capture
from ixsim.world import World
from stack.bpf.insn import BPF_K, BPF_RET, stmt

ETH_P_ALL = 0x0003


@pytest.fixture
def pair():
    with World(seed=3) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="10us")
        yield w, a, b


def test_packet_socket_sees_both_directions_and_filters_with_bpf(pair):
    w, a, b = pair
    sniff = b.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sniff.bind(("eth0", socket.htons(ETH_P_ALL)))
    sniff.setsockopt(socket.SOL_SOCKET, 26, "icmp")  # SO_ATTACH_FILTER, tcpdump syntax
    assert a.ping("10.0.0.2", count=2).received == 2
    sniff.setblocking(False)
    frames = []
    while True:
        try:
            frames.append(sniff.recvfrom(65535))
        except BlockingIOError:
            break
    # Two echo requests in, two replies out: ARP was filtered away.
    assert len(frames) == 4
    kinds = sorted(frame[14 + 20] for frame, _addr in frames)  # ICMP type
    assert kinds == [0, 0, 8, 8]
    directions = sorted(addr[2] for _frame, addr in frames)
    assert directions == [0, 0, 4, 4]  # PACKET_HOST in, PACKET_OUTGOING out
    assert all(addr[0] == "eth0" and addr[1] == 0x0800 for _f, addr in frames)
    assert sniff.sk.filtered > 0  # the ARP exchange was rejected by the filter


def test_raw_frame_sent_from_a_packet_socket_reaches_the_peer(pair):
    w, a, b = pair
    tx = a.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.bind(("eth0", 0))
    rx = b.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
    rx.bind(("eth0", socket.htons(0x88B5)))
    frame = bytes(b.eth0.dev_addr) + bytes(a.eth0.dev_addr) + struct.pack("!H", 0x88B5)
    frame += b"ixsim raw frame".ljust(46, b".")
    assert tx.send(frame) == len(frame)
    rx.settimeout(0.01)
    got, addr = rx.recvfrom(2048)
    assert got == frame
    assert addr[1] == 0x88B5 and addr[4] == bytes(a.eth0.dev_addr)


def test_packet_socket_errors(pair):
    w, a, b = pair
    s = a.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    with pytest.raises(OSError) as info:
        s.bind(("nope0", 0))
    assert info.value.errno == 19  # ENODEV
    s.settimeout(0.001)
    s.setsockopt(socket.SOL_SOCKET, 26, "udp port 9")
    with pytest.raises(TimeoutError):
        s.recv(100)
    with pytest.raises(Exception, match="syntax error"):
        s.setsockopt(socket.SOL_SOCKET, 26, "udp porrt 9")


def _drain(sock) -> list:
    sock.setblocking(False)
    got = []
    while True:
        try:
            got.append(sock.recvfrom(65535))
        except BlockingIOError:
            return got


def test_a_looped_back_broadcast_is_seen_once_on_its_way_out(pair, tmp_path):
    """Linux's packet_rcv drops PACKET_LOOPBACK copies: tcpdump shows our own broadcast once,
    outgoing, with its Ethernet header; neither a packet socket nor a capture sees the copy
    IP loops back to itself (dev_loopback_xmit), which has no Ethernet header."""
    w, a, b = pair
    sniff = a.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))  # every device
    pcap = tmp_path / "a.pcap"
    cap = a.capture("any", pcap=str(pcap))  # no filter: a filter would hide a headerless copy
    tx = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    tx.sendto(b"x" * 10, ("10.0.0.255", 9))
    w.run_for("1ms")
    cap.stop()
    want = 14 + 20 + 8 + 10
    ours = [f for f in cap.frames if f.frame.endswith(b"x" * 10)]
    assert [(f.direction, len(f.frame)) for f in ours] == [("out", want)]
    assert ours[0].frame[:6] == b"\xff" * 6  # the Ethernet header is there
    frames = [(frame, addr) for frame, addr in _drain(sniff) if frame.endswith(b"x" * 10)]
    assert [(len(frame), addr[2]) for frame, addr in frames] == [(want, 4)]  # PACKET_OUTGOING
    data, records = pcap.read_bytes(), []
    off = 24
    while off < len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        records.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    assert [len(r) for r in records if r.endswith(b"x" * 10)] == [want]


def test_the_filter_return_value_is_the_snap_length(pair, tmp_path):
    """sk_filter's result is the number of bytes kept (run_filter in packet_rcv): a program
    returning 20 keeps 20 bytes; a capture's pcap records caplen 20 and the real length."""
    w, a, b = pair
    sniff = b.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sniff.bind(("eth0", socket.htons(ETH_P_ALL)))
    sniff.setsockopt(socket.SOL_SOCKET, 26, [stmt(BPF_RET | BPF_K, 20)])
    assert a.ping("10.0.0.2", count=1, size=100).received == 1
    frames = _drain(sniff)
    assert frames and all(len(frame) == 20 for frame, _addr in frames)
    # A capture with tcpdump's -s 64: the compiled expression returns 64, the pcap record
    # keeps 64 bytes and the frame's real length.
    pcap = tmp_path / "b.pcap"
    cap = start_capture(b, "eth0", "icmp", pcap=str(pcap), snaplen=64)
    assert a.ping("10.0.0.2", count=1, size=200).received == 1
    cap.stop()
    wirelen = 14 + 20 + 8 + 200
    assert [(len(f.frame), f.wirelen) for f in cap.frames] == [(64, wirelen)] * 2
    data = pcap.read_bytes()
    assert struct.unpack_from("<II", data, 24 + 8) == (64, wirelen)
    assert len(data) == 24 + 2 * (16 + 64)
