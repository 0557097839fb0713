"""Packet-socket memberships drive the NIC's receive filters; PACKET_STATISTICS counts, resets.

PACKET_ADD_MEMBERSHIP goes through the netdev core (dev_set_promiscuity / dev_set_allmulti /
dev_mc_add) to the ixgb driver's set_rx_mode, which programs RCTL.UPE/MPE and the multicast
filter: the device then really receives frames it dropped before.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from device.spec import regs as R
from ixsim.world import World
from stack.uapi import (
    PACKET_ADD_MEMBERSHIP,
    PACKET_DROP_MEMBERSHIP,
    PACKET_MR_ALLMULTI,
    PACKET_MR_MULTICAST,
    PACKET_MR_PROMISC,
    PACKET_MR_UNICAST,
    PACKET_OTHERHOST,
    PACKET_STATISTICS,
    SOL_PACKET,
)

ETH_P_ALL = 0x0003
ETH_P_TEST = 0x88B5
STRANGER = bytes.fromhex("02aabbccddee")  # a unicast MAC that is not b's
GROUP = bytes.fromhex("01005e000042")


def mreq(ifindex: int, mtype: int, addr: bytes = b"") -> bytes:
    return struct.pack("=iHH8s", ifindex, mtype, len(addr), addr)


@pytest.fixture
def pair():
    with World(seed=5) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="10us")
        yield w, a, b


def rctl(host) -> int:
    return host.nics[0].nic.peek(R.RCTL)


def sniffer(host):
    s = host.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("eth0", socket.htons(ETH_P_ALL)))
    s.setblocking(False)
    return s


def drain(s) -> list[tuple[bytes, tuple]]:
    got = []
    while True:
        try:
            got.append(s.recvfrom(65535))
        except BlockingIOError:
            return got


def send_to(w, a, dst: bytes, tag: bytes) -> bytes:
    tx = a.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    tx.bind(("eth0", 0))
    frame = dst + bytes(a.eth0.dev_addr) + struct.pack("!H", ETH_P_TEST) + tag.ljust(46, b".")
    tx.send(frame)
    tx.close()
    w.run_for("1ms")
    return frame


def test_promiscuous_membership_makes_the_nic_deliver_a_frame_for_another_mac(pair):
    w, a, b = pair
    sniff = sniffer(b)
    assert not rctl(b) & R.RCTL_UPE
    send_to(w, a, STRANGER, b"before")
    assert drain(sniff) == []  # the NIC's unicast filter dropped it
    ifindex = b.eth0.ifindex
    sniff.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq(ifindex, PACKET_MR_PROMISC))
    assert rctl(b) & R.RCTL_UPE and rctl(b) & R.RCTL_MPE
    frame = send_to(w, a, STRANGER, b"during")
    (got, addr), = drain(sniff)
    assert got == frame and addr[2] == PACKET_OTHERHOST
    # The same membership twice is one device user; one drop leaves it in place ...
    sniff.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq(ifindex, PACKET_MR_PROMISC))
    assert b.eth0.promiscuity == 1
    sniff.setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, mreq(ifindex, PACKET_MR_PROMISC))
    assert rctl(b) & R.RCTL_UPE
    # ... and closing the socket drops what remains.
    sniff.close()
    assert not rctl(b) & (R.RCTL_UPE | R.RCTL_MPE) and b.eth0.promiscuity == 0
    sniff = sniffer(b)
    send_to(w, a, STRANGER, b"after")
    assert drain(sniff) == []


def test_multicast_and_allmulti_memberships_program_the_filter(pair):
    w, a, b = pair
    sniff = sniffer(b)
    ifindex = b.eth0.ifindex
    send_to(w, a, GROUP, b"not joined")
    assert drain(sniff) == []
    sniff.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq(ifindex, PACKET_MR_MULTICAST, GROUP))
    assert GROUP in b.eth0.mc and not rctl(b) & R.RCTL_MPE
    frame = send_to(w, a, GROUP, b"joined")
    assert [f for f, _ in drain(sniff)] == [frame]
    sniff.setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, mreq(ifindex, PACKET_MR_MULTICAST, GROUP))
    assert GROUP not in b.eth0.mc
    send_to(w, a, GROUP, b"left")
    assert drain(sniff) == []
    sniff.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq(ifindex, PACKET_MR_ALLMULTI))
    assert rctl(b) & R.RCTL_MPE and not rctl(b) & R.RCTL_UPE
    frame = send_to(w, a, GROUP, b"allmulti")
    assert [f for f, _ in drain(sniff)] == [frame]
    sniff.close()
    assert not rctl(b) & R.RCTL_MPE and b.eth0.allmulti == 0


def test_membership_errors_are_linuxs(pair):
    w, a, b = pair
    s = sniffer(b)
    ifindex = b.eth0.ifindex
    cases = [
        (mreq(999, PACKET_MR_PROMISC), errno.ENODEV),
        (mreq(ifindex, PACKET_MR_PROMISC)[:12], errno.EINVAL),  # shorter than packet_mreq
        (5, errno.EINVAL),  # an int is 4 bytes
        (struct.pack("=iHH8s", ifindex, PACKET_MR_MULTICAST, 9, b""), errno.EINVAL),
        (mreq(ifindex, PACKET_MR_MULTICAST, GROUP[:5]), errno.EINVAL),  # alen != addr_len
        (mreq(ifindex, PACKET_MR_UNICAST, STRANGER), errno.EOPNOTSUPP),  # not modelled
    ]
    for value, code in cases:
        with pytest.raises(OSError) as info:
            s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, value)
        assert info.value.errno == code, value
    # Unknown types are accepted and do nothing (packet_dev_mc's default); dropping a
    # membership that does not exist succeeds (Linux 6.x).
    s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq(ifindex, 9))
    s.setsockopt(SOL_PACKET, PACKET_DROP_MEMBERSHIP, mreq(ifindex, PACKET_MR_ALLMULTI))
    assert b.eth0.allmulti == 0 and b.eth0.promiscuity == 0
    with pytest.raises(OSError) as info:
        s.getsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP)
    assert info.value.errno == errno.ENOPROTOOPT


def test_packet_statistics_count_queued_and_dropped_frames_and_reset_on_read(pair):
    w, a, b = pair
    s = sniffer(b)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # the minimum: 2304 bytes
    for i in range(10):
        send_to(w, a, bytes(b.eth0.dev_addr), b"x" * 1000 + bytes([i]))
    queued = len(drain(s))
    assert 0 < queued < 10
    packets, drops = struct.unpack("=II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    assert (packets, drops) == (10, 10 - queued)  # tp_packets includes the drops
    assert struct.unpack("=II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)) == (0, 0)
    send_to(w, a, bytes(b.eth0.dev_addr), b"one more")
    assert s.getsockopt(SOL_PACKET, PACKET_STATISTICS) == 1  # without buflen: tp_packets
    assert s.getsockopt(SOL_PACKET, PACKET_STATISTICS) == 0  # ... and it was reset
