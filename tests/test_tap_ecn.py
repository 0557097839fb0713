"""ECN against the real Linux stack over the tap: the same SYN from both with ``tcp_ecn=1``,
the SYN-ACK each sends when asked, and ECT(0) data both ways once negotiated; Linux's
``ss -tino`` shows ``ecn`` (negotiated) and ``ecnseen`` (ECT data arrived) for our end.

Linux runs in a fresh namespace whose ``net.ipv4.tcp_ecn`` the test sets (the knob is per
namespace); skipped where root, /dev/net/tun or ``ip netns`` are missing.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_tap_tcp import (
    BOTH_WAYS,
    close_and_wait,
    connected,
    linux_and_emulated,
    linux_view,
)

from ixsim.netns import available
from stack.socket import tcp_info
from stack.uapi import TCPI_OPT_ECN, TCPI_OPT_ECN_SEEN
from stack.wire.tcp import ACK, CWR, ECE, SYN

OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")

ECT_0 = 2


class EcnWire:
    """(direction, TCP flags, payload length, ECN codepoint) of every TCP segment on the
    emulated NIC's port; "tx" ours, "rx" Linux's."""

    def __init__(self, port: Any) -> None:
        self.segments: list[tuple[str, int, int, int]] = []
        port.trace_frame.append(self._tap)

    def _tap(self, direction: str, _now: int, frame: bytes) -> None:
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:
            return
        ihl = (frame[14] & 15) * 4
        total = int.from_bytes(frame[16:18], "big")
        tcp = 14 + ihl
        length = total - ihl - (frame[tcp + 12] >> 4) * 4
        self.segments.append((direction, frame[tcp + 13], length, frame[15] & 3))

    def first(self, direction: str, flags: int) -> tuple[int, int]:
        """(flags, ECN codepoint) of the first segment in ``direction`` with all ``flags``."""
        return next((f, ecn) for d, f, _n, ecn in self.segments
                    if d == direction and f & flags == flags)

    def data_ecn(self, direction: str) -> set[int]:
        return {ecn for d, _f, n, ecn in self.segments if d == direction and n}

    def data_count(self, direction: str, ecn: int) -> int:
        return sum(1 for d, _f, n, e in self.segments if d == direction and n and e == ecn)


@BOTH_WAYS
def test_ecn_negotiated_with_linux(linux_connects: bool) -> None:
    with linux_and_emulated() as (peer, world, host):
        peer.run("sysctl", "-qw", "net.ipv4.tcp_ecn=1", check=True)
        host.sysctl("net.ipv4.tcp_ecn", 1)
        wire = EcnWire(host.interfaces["eth0"].port)
        sock, proc = connected(peer, world, host, linux_connects, linux_sends=200_000)
        sock.sendall(bytes(100_000))
        got = 0
        while got < 200_000:
            got += len(sock.recv(65536))
        # Linux's 200 kB can all arrive before our 100 kB has left (a loaded machine delays
        # the real-time loop): count our segments once every one of them has been acked.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (tcp_info(sock).unacked
                                               or tcp_info(sock).notsent_bytes):
            world.run_for("20ms")
        linux = linux_view(peer, world, sock.getsockname()[1])
        print(f"\nLinux's ss -tino:\n{linux['text']}")
        client, server = ("rx", "tx") if linux_connects else ("tx", "rx")
        # RFC 3168 §6.1.1: both stacks send the same ECN-setup SYN, Not-ECT, and answer it
        # with ECE alone
        assert wire.first(client, SYN) == (SYN | ECE | CWR, 0)
        synack, synack_ecn = wire.first(server, SYN | ACK)
        assert synack & (ECE | CWR) == ECE and synack_ecn == 0
        # new data is ECT(0) both ways, retransmissions Not-ECT (tcp_ecn_send; a real-time
        # run may retransmit); each side saw the other's
        info = tcp_info(sock)
        assert wire.data_ecn("tx") <= {0, ECT_0} and wire.data_ecn("rx") <= {0, ECT_0}
        assert wire.data_count("tx", ECT_0) > 50 and wire.data_count("rx", ECT_0) > 50
        assert wire.data_count("tx", 0) <= info.total_retrans
        assert {"ecn", "ecnseen"} <= linux["flags"], linux["text"]
        assert info.options & (TCPI_OPT_ECN | TCPI_OPT_ECN_SEEN) == (TCPI_OPT_ECN
                                                                      | TCPI_OPT_ECN_SEEN)
        assert host.net.mib.ipext["InECT0Pkts"] > 0
        close_and_wait(peer, world, sock, proc)


def test_linux_default_accepts_our_ecn_syn_and_refuses_with_zero() -> None:
    """Linux's default tcp_ecn=2 answers our ECN SYN with ECE; with 0 it answers plain and
    neither side marks its data."""
    for linux_ecn, expect in ((2, True), (0, False)):
        with linux_and_emulated() as (peer, world, host):
            peer.run("sysctl", "-qw", f"net.ipv4.tcp_ecn={linux_ecn}", check=True)
            host.sysctl("net.ipv4.tcp_ecn", 1)
            wire = EcnWire(host.interfaces["eth0"].port)
            sock, proc = connected(peer, world, host, False, linux_sends=10_000)
            sock.sendall(bytes(10_000))
            got = 0
            while got < 10_000:  # all of it: closing with unread data would reset
                got += len(sock.recv(65536))
            linux = linux_view(peer, world, sock.getsockname()[1])
            assert bool(wire.first("rx", SYN | ACK)[0] & ECE) == expect
            assert bool(tcp_info(sock).options & TCPI_OPT_ECN) == expect
            assert ("ecn" in linux["flags"]) == expect, linux["text"]
            assert ECT_0 in wire.data_ecn("tx") if expect else wire.data_ecn("tx") == {0}
            close_and_wait(peer, world, sock, proc)


