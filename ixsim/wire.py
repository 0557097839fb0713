"""A wire between two Linux interfaces: two taps joined by an ixsim cable, in real time.

This is ``sch_netem`` for kernels that have none (this project's CI machines among them) and
the instrument for comparing ixsim's TCP with Linux's over the same impaired path.  Each end
is a Linux tap: either made here and moved into a network namespace with an address
(:class:`NetnsEnd`, ``"A:10.9.0.1/24"`` on the command line), or an existing tap interface
taken as it is (:class:`TapEnd`).  Between them::

    Linux A -tap- [hub A] === ixsim cable (rate, latency, loss...) === [hub B] -tap- Linux B

The repeaters are two-port hubs (:mod:`device.hub`): a tap is a medium that plugs into one
port, and a cable needs a port at each end.  The cable's lanes serialize at ``rate``, add
``latency`` and run the impairment stages of :mod:`device.impair`, exactly as between two
emulated NICs, but on the real-time scheduler (``World(realtime=True)``), so the delays are
wall-clock delays seen by the real kernels.

What differs from netem, said out loud:

* A tap pushes back on nothing, so each direction's serializer queue is bounded: ``limit``
  frames (default 1000, netem's default) wait for or occupy the serializer, the next is
  dropped and counted in the lane's ``dropped_queue``.  netem's limit also counts packets
  that are only being delayed; this one does not.
* Timing is as good as the host's scheduling: the real-time loop sleeps until the next event
  (ixsim/realtime.py), so each frame's delivery is late by the loop's wake-up latency
  (tens of µs on an idle machine).  Latencies of a millisecond or more, and rates up to a
  few hundred Mbit/s, are faithful; ``tests/test_wire.py`` measures it.
* Both directions are impaired alike (as ``World.cable``); netem impairs egress only, so
  netem on both ends is the equivalent.

Everything made here (namespaces that did not exist, taps) is removed by :meth:`Wire.close`,
which also runs at interpreter exit.  Needs root and /dev/net/tun.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from device.backends.tap import TapMedium
from device.pcap import PcapWriter
from ixsim.netns import LinuxPeer
from ixsim.world import World

DEFAULT_LIMIT = 1000  # frames per direction, netem's default limit

_NS_SPEC = re.compile(r"(?P<ns>[A-Za-z0-9_.-]{1,64}):(?P<cidr>[0-9.]+/\d{1,2})")


@dataclass(frozen=True)
class NetnsEnd:
    """A tap made here, moved into namespace ``ns`` (made if missing), given ``cidr``."""

    ns: str
    cidr: str

    @classmethod
    def parse(cls, text: str) -> NetnsEnd:
        """``"A:10.9.0.1/24"``; ValueError with the reason otherwise."""
        match = _NS_SPEC.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r}: expected NAMESPACE:ADDRESS/PREFIX, "
                             "e.g. A:10.9.0.1/24")
        try:
            iface = ipaddress.IPv4Interface(match["cidr"])
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        return cls(match["ns"], str(iface))

    @property
    def ip(self) -> str:
        return str(ipaddress.IPv4Interface(self.cidr).ip)


@dataclass(frozen=True)
class TapEnd:
    """An existing tap interface of this namespace (``ip tuntap add mode tap NAME``), used as
    it is: its addresses and state are the user's."""

    ifname: str


def _tap_name(index: int) -> str:
    return f"ixw{os.getpid()}x{index}"[:15]


class Wire:
    """Two Linux ends joined by an ixsim cable; see the module docstring.

    ``latency``, ``rate``, ``loss``, ``dup``, ``corrupt``, ``reorder``/``reorder_delay``,
    ``delay``/``jitter`` mean what they mean to :meth:`ixsim.World.cable`.  Use as a context
    manager, or call :meth:`start` and :meth:`close`; run the world with ``wire.run_for(T)``
    or give ``world=wire.world`` to ``LinuxPeer.run``/``ping`` so that Linux commands run
    while frames flow.
    """

    def __init__(
        self,
        ends: tuple[NetnsEnd | TapEnd | str, NetnsEnd | TapEnd | str],
        *,
        latency: int | str = 0,
        rate: int | str = "10G",
        loss: float = 0.0,
        dup: float = 0.0,
        corrupt: float = 0.0,
        reorder: float = 0.0,
        reorder_delay: int | str = "100us",
        delay: int | str = 0,
        jitter: int | str = 0,
        limit: int | None = DEFAULT_LIMIT,
        pcap: str | None = None,
        mtu: int | None = None,
        seed: int = 1,
    ) -> None:
        if len(ends) != 2:
            raise ValueError(f"a wire has two ends, got {len(ends)}")
        self.ends = tuple(NetnsEnd.parse(e) if isinstance(e, str) else e for e in ends)
        netns = [e.ns for e in self.ends if isinstance(e, NetnsEnd)]
        if len(netns) == 2 and netns[0] == netns[1]:
            raise ValueError(f"both ends are in namespace {netns[0]}: Linux would route "
                             "between them locally, never over the wire")
        self.cable_args = {"latency": latency, "rate": rate, "loss": loss, "dup": dup,
                           "corrupt": corrupt, "reorder": reorder,
                           "reorder_delay": reorder_delay, "delay": delay, "jitter": jitter,
                           "limit": limit}
        self.pcap_path = pcap
        self.mtu = mtu
        self.seed = seed
        self.peers: list[LinuxPeer | None] = []
        self.taps: list[TapMedium] = []
        self.world: Any = None
        self.cable: Any = None
        self.writer: PcapWriter | None = None
        self.closed = False

    def __enter__(self) -> Wire:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Wire:
        """Make the ends, the repeaters and the cable; undo everything on failure."""
        try:
            for index, end in enumerate(self.ends):
                if isinstance(end, NetnsEnd):
                    peer = LinuxPeer(ns=end.ns, tap=_tap_name(index), linux_addr=end.cidr,
                                     emu_addr=None, mtu=self.mtu, existing_ns_ok=True)
                    peer.setup()
                    self.peers.append(peer)
                    self.taps.append(peer.tap)
                else:
                    self.peers.append(None)
                    self.taps.append(TapMedium(end.ifname, mtu=self.mtu).open())
            self.world = world = World(seed=self.seed, realtime=True)
            repeaters = [world.hub(f"wire{index}", ports=2) for index in range(2)]
            for tap, hub in zip(self.taps, repeaters, strict=True):
                tap.start(world.sched)
                hub.port(0).port.connect(tap)
                tap.refresh_link()
            self.cable = world.cable(repeaters[0].port(1), repeaters[1].port(1),
                                     **self.cable_args)
            if self.pcap_path:
                self._record(repeaters)
        except BaseException:
            self.close()
            raise
        return self

    def _record(self, repeaters: list[Any]) -> None:
        """Write what each end is offered (after the cable's impairments), wall-clock
        stamped like tcpdump's."""
        self.writer = writer = PcapWriter(self.pcap_path)

        def record(direction: str, _now: int, frame: bytes) -> None:
            if direction == "rx":
                writer.write(time.time_ns(), frame)

        for hub in repeaters:
            hub.port(1).port.trace_frame.append(record)

    def run_for(self, duration: int | str) -> None:
        self.world.run_for(duration)

    def peer(self, index: int) -> LinuxPeer:
        """The namespace of end ``index`` (0 or 1), for ``run``/``ping``/``python``."""
        peer = self.peers[index]
        if peer is None:
            raise ValueError(f"end {index} is an existing tap, not a namespace made here")
        return peer

    def stats(self) -> dict[str, Any]:
        """Per direction: frames, bytes, drops by cause, as the cable counts them."""
        ab, ba = self.cable.ab.stats(), self.cable.ba.stats()
        names = [self._end_name(i) for i in range(2)]
        return {f"{names[0]}->{names[1]}": ab, f"{names[1]}->{names[0]}": ba}

    def _end_name(self, index: int) -> str:
        end = self.ends[index]
        return end.ns if isinstance(end, NetnsEnd) else end.ifname

    def close(self) -> None:
        """Remove what :meth:`start` made; every step runs, twice is harmless."""
        if self.closed:
            return
        self.closed = True
        if self.writer is not None:
            self.writer.close()
        for peer, tap in zip(self.peers, self.taps, strict=False):
            if peer is None:
                tap.close()
        if self.world is not None:
            self.world.close()
        for peer in self.peers:
            if peer is not None:
                peer.close()
