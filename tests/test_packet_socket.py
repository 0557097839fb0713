"""AF_PACKET sockets: raw frames both directions, bind to an interface, BPF filters."""

from __future__ import annotations

import socket
import struct

import pytest

from ixsim.world import World

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
