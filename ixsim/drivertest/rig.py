"""The kit's test bench: the driver under test on host ``a``, the built-in ixgb on ``b``.

Every check builds a fresh :class:`Rig` (a world of its own, so one check's damage cannot
fail the next): ``a`` (10.0.0.1/24) runs the driver under test, ``b`` (10.0.0.2/24) the
reference ixgb driver, one cable between them.  What the kit observes, it observes from
outside the driver:

* **the wire**: ``frame`` tracepoints on both ports (device/trace.py); a frame ``a`` sent is
  checked as it arrived at ``b``'s port (``wire_at_b``), before ``b``'s MAC or driver;
* **what a's stack got**: an ETH_P_ALL packet tap on a's interface, the kernel half of a
  ``socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)``, which sees each frame as the driver passed it
  up (``rx_at_a``), with its VLAN tag and ``ip_summed``;
* raw frames go out through ``dev_queue_xmit`` (what a packet socket's ``send`` does), so
  every size and every byte is the kit's choice, not the stack's.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.trace import subscribe
from ixsim.sched import parse_duration
from ixsim.world import World
from stack.core import (
    ETH_P_ALL,
    PacketType,
    alloc_skb,
    consume_skb,
    dev_queue_xmit,
    dev_set_mtu,
)
from stack.core.skbuff import PACKET_OUTGOING

ETH_P_EXPERIMENTAL = 0x88B5  # IEEE 802 local experimental ethertype: no protocol claims it
HEADROOM = 64


@dataclass(slots=True)
class Rx:
    """A frame a's driver passed up: bytes from the MAC header, its stripped tag, checksum."""

    frame: bytes
    vlan_tci: int | None
    ip_summed: int


class Stream:
    """A TCP transfer's progress, as :meth:`Rig.tcp_stream` reports it."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.received = 0
        self.done = False
        self.got = b""
        self.sha_sent = b""


def send_raw(dev: Any, frame: bytes, vlan_tci: int | None = None) -> int:
    """dev_queue_xmit one raw frame (a packet socket's send), optionally with a tag to insert
    (``skb.vlan_tci``: hardware insertion when the device offers it, else the stack's)."""
    skb = alloc_skb(dev.kernel, len(frame) + HEADROOM)
    skb.reserve(HEADROOM)
    skb.put_data(frame)
    skb.dev = dev
    if vlan_tci is not None:
        skb.vlan_hwaccel_put_tag(0x8100, vlan_tci)
    return dev_queue_xmit(skb)


def make_frame(src: Any, dst: bytes, size: int, seq: int) -> bytes:
    """A raw frame of ``size`` bytes from ``src`` with a numbered, position-dependent body."""
    head = dst + src.dev_addr + struct.pack("!HI", ETH_P_EXPERIMENTAL, seq)
    n = size - len(head)
    pattern = bytes((seq * 7 + i) & 0xFF for i in range(256))
    return head + (pattern * (n // 256 + 1))[:n]


class CheckFailed(Exception):
    """A check's verdict: the driver got something wrong (the message is the evidence)."""


class Skip(Exception):
    """The driver does not offer what the check needs (the message says what)."""


class Rig:
    """Hosts ``a`` (driver under test) and ``b`` (ixgb) back to back, links up."""

    def __init__(self, driver: Any, seed: int = 1, stack: bool = True,
                 mtu: int | None = None) -> None:
        self.world = World(seed=seed)
        self.driver = driver
        addr_a = ("10.0.0.1/24",) if stack else ()
        addr_b = ("10.0.0.2/24",) if stack else ()
        self.a = self.world.host("a", *addr_a, driver=driver, stack=stack)
        self.b = self.world.host("b", *addr_b, stack=stack)
        if not self.a.interfaces:
            reason = "; ".join(self.a.probe_errors) or "match() refused the 82597EX"
            self.close()
            raise CheckFailed(f"probe bound no interface: {reason}")
        self.dev = self.a.interfaces["eth0"]
        self.peer = self.b.interfaces["eth0"]
        self.cable = self.world.cable(self.a.nics[0].port, self.b.nics[0].port,
                                      latency="1us", wait=False)
        self.run_until(lambda: self.dev.carrier_ok() and self.peer.carrier_ok(), "20ms",
                       "carrier on both hosts after the cable went in")
        self.wire_at_b: list[bytes] = []  # frames as they arrived at b's port
        self.wire_at_a: list[bytes] = []  # frames as they arrived at a's port
        self.rx_at_a: list[Rx] = []
        self.rx_at_b: list[bytes] = []
        self.record = True
        self.rx_hook: Callable[[bytes], None] | None = None  # replaces rx_at_a when set
        self._unsub = [
            subscribe(self.b.nics[0].port, "frame", self._wire_b),
            subscribe(self.a.nics[0].port, "frame", self._wire_a),
        ]
        self._taps = [PacketType(ETH_P_ALL, self._tap_a, dev=self.dev),
                      PacketType(ETH_P_ALL, self._tap_b, dev=self.peer)]
        self.a.kernel.dev_add_pack(self._taps[0])
        self.b.kernel.dev_add_pack(self._taps[1])
        if mtu is not None:
            self.set_mtu(mtu)

    # -- observation ---------------------------------------------------------------------------
    def _wire_b(self, direction: str, time_ns: int, frame: bytes) -> None:
        if direction == "rx" and self.record:
            self.wire_at_b.append(bytes(frame))

    def _wire_a(self, direction: str, time_ns: int, frame: bytes) -> None:
        if direction == "rx" and self.record:
            self.wire_at_a.append(bytes(frame))

    def _tap_a(self, skb: Any, dev: Any, pt: Any, orig: Any) -> int:
        if self.rx_hook is not None and skb.pkt_type != PACKET_OUTGOING:
            self.rx_hook(skb.mac_bytes())
        elif self.record and skb.pkt_type != PACKET_OUTGOING:
            tci = skb.vlan_tci if skb.vlan_present or skb.vlan_tci else None
            self.rx_at_a.append(Rx(skb.mac_bytes(), tci, skb.ip_summed))
        consume_skb(skb)
        return 0

    def _tap_b(self, skb: Any, dev: Any, pt: Any, orig: Any) -> int:
        if self.record and skb.pkt_type != PACKET_OUTGOING:
            self.rx_at_b.append(skb.mac_bytes())
        consume_skb(skb)
        return 0

    def clear(self) -> None:
        self.wire_at_a.clear()
        self.wire_at_b.clear()
        self.rx_at_a.clear()
        self.rx_at_b.clear()

    # -- driving ---------------------------------------------------------------------------------
    def run(self, duration: int | str) -> None:
        self.world.run_for(duration)

    def run_until(self, pred: Callable[[], bool], timeout: str, what: str) -> None:
        """Run until ``pred`` holds; CheckFailed naming ``what`` if it never does."""
        end = self.world.now + _ns(timeout)
        while not pred():
            if self.world.now >= end:
                raise CheckFailed(f"timed out after {timeout}: {what}")
            self.world.run_for(min(100_000, end - self.world.now))

    def send(self, dev: Any, frame: bytes, vlan_tci: int | None = None) -> int:
        return send_raw(dev, frame, vlan_tci)

    def frame(self, src: Any, dst: bytes, size: int, seq: int) -> bytes:
        return make_frame(src, dst, size, seq)

    def tcp_stream(self, src: Any, dst: Any, dst_ip: str, nbytes: int, port: int) -> Stream:
        """A TCP transfer of ``nbytes`` from host ``src`` to ``dst`` as two world tasks."""
        st = Stream(nbytes)
        data = bytes((i * 131 + (i >> 8)) & 0xFF for i in range(nbytes))
        st.sha_sent = hashlib.sha256(data).digest()
        got = bytearray()

        async def server() -> None:
            srv = dst.socket()
            srv.bind(("0.0.0.0", port))
            srv.listen()
            conn, _peer = await srv.accept()
            while True:
                chunk = await conn.recv(256 * 1024)
                if not chunk:
                    break
                got.extend(chunk)
                st.received = len(got)
            conn.close()
            srv.close()
            st.got = bytes(got)
            st.done = True

        async def client() -> None:
            c = src.socket()
            await c.connect((dst_ip, port))
            await c.sendall(data)
            c.close()

        dst.spawn(server(), f"drivertest server {port}")
        self.run("10us")
        src.spawn(client(), f"drivertest client {port}")
        return st

    def set_mtu(self, mtu: int) -> None:
        for dev in (self.dev, self.peer):
            err = dev_set_mtu(dev, mtu)
            if err:
                raise CheckFailed(f"{dev.host.name}: MTU {mtu} refused ({err})")
        self.run_until(lambda: self.dev.carrier_ok() and self.peer.carrier_ok(), "20ms",
                       f"carrier back after MTU {mtu}")

    # -- accounting --------------------------------------------------------------------------
    def faults(self) -> list[str]:
        return [str(f) for f in self.world.faults]

    def close(self) -> None:
        for unsub in getattr(self, "_unsub", ()):
            unsub()
        self.world.close()


def _ns(text: str) -> int:
    return parse_duration(text)
