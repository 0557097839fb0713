"""TapMedium's own rules, on a stand-in fd: a SOCK_SEQPACKET socketpair keeps frame
boundaries as a tap does, so these run anywhere (no root, no /dev/net/tun).  The Linux
interface's state comes from an injected probe.  The real kernel is in test_tap_linux.py."""

from __future__ import annotations

import socket

import pytest

from device.backends.tap import TapError, TapMedium
from device.port import Port
from ixsim.sched import Scheduler


class Linux:
    """The far end: a socket standing for the kernel side, and the interface's state."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.up = True
        self.mtu = 1500

    def probe(self) -> tuple[bool, int | None]:
        return self.up, self.mtu

    def frames(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(70000, socket.MSG_DONTWAIT))
            except BlockingIOError:
                return out


class Rig:
    def __init__(self, batch: int = 64, sndbuf: int | None = None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if sndbuf:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self._ours = ours
        self.linux = Linux(theirs)
        self.log: list[str] = []
        self.sched = Scheduler(realtime=True)
        self.port = Port(self.sched, "emu.port")
        self.rx: list[tuple[int, bytes]] = []
        self.links: list[bool] = []
        self.port.attach(lambda f: self.rx.append((self.sched.events_run, f)), self.links.append)
        self.tap = TapMedium("ixfake0", fd=ours.detach(), probe=self.linux.probe, batch=batch,
                             log=self.log.append)
        self.tap.start(self.sched)
        self.port.connect(self.tap)
        self.tap.refresh_link()

    def run(self, duration: str = "20ms") -> None:
        self.sched.run_for(duration)

    def close(self) -> None:
        self.tap.close()
        self.linux.sock.close()
        self.sched.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def frame(seq: int, size: int = 60, ethertype: bytes = b"\x88\xb5") -> bytes:
    head = b"\x02\x00\x00\x00\x01\x00" + b"\x06\x00\x00\x00\x00\x01" + ethertype
    return (head + seq.to_bytes(4, "big")).ljust(size, bytes([seq & 0xFF]))


def test_frames_from_linux_reach_the_port_each_by_its_own_event(rig):
    sent = [frame(i, 60 + i * 100) for i in range(5)]
    for f in sent:
        rig.linux.sock.send(f)
    rig.run()
    assert [f for _, f in rig.rx] == sent
    assert len({event for event, _ in rig.rx}) == 5  # one event per frame
    assert rig.tap.rx_frames == 5 and rig.tap.rx_bytes == sum(map(len, sent))
    assert rig.port.rx_frames == 5


def test_a_read_callback_takes_a_bounded_batch():
    r = Rig(batch=4)
    try:
        r.run()  # what the rig queued at start
        for i in range(10):
            r.linux.sock.send(frame(i))
        r.tap._on_readable()
        assert r.tap.rx_frames == 1 and r.rx == []  # the first frame: read and scheduled
        r.tap._on_readable()  # a drain is pending: nothing more until it ran
        assert r.tap.rx_frames == 1
        r.sched.step()  # the first frame's delivery comes before the drain
        assert len(r.rx) == 1 and r.tap.rx_frames == 1
        r.sched.step()  # the drain: the rest of the batch of 4
        assert r.tap.rx_frames == 4 and len(r.rx) == 1
        r.run()
        assert [int.from_bytes(f[14:18], "big") for _, f in r.rx] == list(range(10))
    finally:
        r.close()


def test_short_frames_from_linux_are_padded_to_60_bytes(rig):
    arp = frame(1)[:42]
    rig.linux.sock.send(arp)
    rig.run()
    assert [f for _, f in rig.rx] == [arp + bytes(18)]


def test_frames_the_port_transmits_leave_unchanged(rig):
    sent = [frame(i, size) for i, size in enumerate((60, 61, 1000, 1514))]
    for f in sent:
        rig.port.transmit(f)
    assert rig.linux.frames() == sent
    assert rig.tap.tx_frames == 4 and rig.tap.tx_bytes == sum(map(len, sent))


def test_too_big_frames_are_counted_and_logged_once_per_mtu(rig):
    rig.linux.mtu = 1000
    rig.tap.refresh_link()
    for i in range(3):
        rig.port.transmit(frame(i, 1015))
    rig.port.transmit(frame(9, 1014))  # MTU + 14: fits
    rig.port.transmit(frame(8, 1018, b"\x81\x00"))  # VLAN-tagged: 4 more allowed
    rig.port.transmit(frame(7, 1019, b"\x81\x00"))
    assert rig.tap.dropped_too_big == 4
    assert [len(f) for f in rig.linux.frames()] == [1014, 1018]
    assert len(rig.log) == 1 and "MTU 1000" in rig.log[0] and "1015 bytes" in rig.log[0]
    rig.linux.mtu = 900
    rig.tap.refresh_link()
    rig.port.transmit(frame(1, 1000))
    assert rig.tap.dropped_too_big == 5 and len(rig.log) == 2


def test_a_full_kernel_queue_counts_dropped_eagain():
    r = Rig(sndbuf=4096)
    try:
        for i in range(200):
            r.port.transmit(frame(i, 1514))
        assert r.tap.dropped_eagain > 0
        assert r.tap.tx_frames + r.tap.dropped_eagain == 200
        assert len(r.linux.frames()) == r.tap.tx_frames
    finally:
        r.close()


def test_link_follows_the_linux_side_and_set_link(rig):
    assert rig.port.link_up and rig.links == [True]
    rig.linux.up = False
    rig.run("600ms")  # the slow poll notices
    assert not rig.port.link_up and rig.links == [True, False]
    rig.linux.up = True
    rig.tap.refresh_link()
    assert rig.port.link_up
    rig.tap.set_link(False)
    assert not rig.port.link_up
    rig.linux.sock.send(frame(1))
    rig.run()
    assert rig.rx == [] and rig.tap.dropped_link_down == 1  # drained, not delivered
    rig.tap.set_link(True)
    assert rig.port.link_up and rig.links == [True, False, True, False, True]
    rig.tap.close()
    assert not rig.port.link_up and rig.tap.closed
    rig.tap.close()  # idempotent


def test_a_second_port_is_refused_and_virtual_time_cannot_read_fds():
    r = Rig()
    try:
        with pytest.raises(ValueError, match="already carries"):
            Port(r.sched, "other").connect(r.tap)
    finally:
        r.close()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    tap = TapMedium("ixfake1", fd=a.detach(), probe=lambda: (True, 1500))
    with pytest.raises(RuntimeError, match="realtime=True"):
        tap.start(Scheduler())
    tap.close()
    b.close()


def test_bad_names_and_mtus_are_refused_before_anything_opens():
    with pytest.raises(ValueError, match="interface name"):
        TapMedium("a-name-far-too-long")
    with pytest.raises(ValueError, match="interface name"):
        TapMedium("a/b")
    with pytest.raises(ValueError, match="MTU"):
        TapMedium("ixt0", mtu=40)
    tap = TapMedium("ixt0")
    tap.close()
    with pytest.raises(TapError, match="closed"):
        tap.open()
