"""Raw frames per second: driver -> device -> cable -> device -> driver, no IP.

Two World hosts (``ixsim.world.World.host``: guest memory, PCI, an 82597EX bound to the ixgb
driver, a kernel) joined by a 10 Gb/s cable with no latency.  Host a sends Ethernet frames
with the IEEE local-experimental EtherType 0x88B5, which no protocol claims, through
``stack.core.dev_queue_xmit`` on its eth0; host b counts them with a :class:`PacketType`
handler for 0x88B5 and frees them.  So every frame crosses the qdisc, ``ndo_start_xmit``
(descriptors, bounce buffer, DMA map, TDT doorbell), the TX engine (descriptor fetch, DMA,
write-back, TXDW), the cable, the RX engine (filter, DMA, write-back, RXT0), the NAPI poll
(skb, ``netif_receive_skb``) and the TX completion on a.

The source works like pktgen in ``queue_xmit`` mode with a fresh skb per frame
(``clone_skb 0``): it keeps the qdisc topped up to ``tx_queue_len`` and never calls the
driver itself, so while the driver has its queue stopped (``netif_queue_stopped``, a full
ring) frames wait in the qdisc, and NET_TX feeds them in bursts with ``xmit_more`` (one TDT
write per burst).  It refills when the qdisc has drained to half.

Figures are wall clock (``time.perf_counter``) around the send-and-receive loop only; the
world is built and warmed up before the clock starts.  Each run checks that every frame
arrived and that neither machine recorded a device fault, so a fast wrong path cannot pass.
"""

from __future__ import annotations

import cProfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from ixsim.world import World
from stack.core import PacketType, alloc_skb, consume_skb, dev_queue_xmit

ETH_P_EXPERIMENTAL = 0x88B5
ETH_HLEN = 14
FCS = 4  # lengths here are without FCS: a "64-byte frame" is 60 bytes + FCS on the wire
HEADROOM = 64
WARMUP_FRAMES = 1_000


class BenchError(RuntimeError):
    """The path under test lost frames or faulted: the figure would be meaningless."""


@dataclass
class FramesResult:
    """One timed run of ``frames`` frames of ``length`` bytes (without FCS)."""

    length: int  # what the driver sends and receives; the wire adds 4 bytes of FCS
    frames: int
    seconds: float  # wall clock
    virtual_ns: int  # virtual time the run took
    events: int  # scheduler events run

    @property
    def pps(self) -> float:
        return self.frames / self.seconds

    @property
    def ns_per_frame(self) -> float:
        return self.seconds * 1e9 / self.frames

    @property
    def ns_per_byte(self) -> float:
        return self.seconds * 1e9 / (self.frames * self.length)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            pps=round(self.pps),
            ns_per_frame=round(self.ns_per_frame, 1),
            ns_per_byte=round(self.ns_per_byte, 3),
            virtual_pps=round(self.frames * 1e9 / self.virtual_ns) if self.virtual_ns else None,
        )
        return out


class FramesRig:
    """Two hosts, a cable, the 0x88B5 counter on b and the pktgen-like source on a."""

    def __init__(self, length: int, seed: int = 1) -> None:
        if not 60 <= length <= 1514:
            raise ValueError(f"frame length {length}: 60..1514 bytes (without FCS)")
        self.length = length
        self.world = World(seed=seed)
        self.a = self.world.host("a")
        self.b = self.world.host("b")
        self.world.cable(self.a.eth0, self.b.eth0)
        self.world.run_for("10ms")  # the drivers' watchdogs report link up
        dev = self.a.eth0
        if not dev.carrier_ok() or not self.b.eth0.carrier_ok():
            raise BenchError("the link did not come up")
        self.received = 0
        self.received_bytes = 0
        self.sent = 0
        self.b.kernel.dev_add_pack(PacketType(ETH_P_EXPERIMENTAL, self._rcv, dev=self.b.eth0))
        self.frame = (
            bytes(self.b.eth0.dev_addr)
            + bytes(dev.dev_addr)
            + ETH_P_EXPERIMENTAL.to_bytes(2, "big")
            + bytes(length - ETH_HLEN)
        )

    def _rcv(self, skb: Any, dev: Any, pt: Any, orig_dev: Any) -> int:
        self.received += 1
        self.received_bytes += skb.len + ETH_HLEN
        consume_skb(skb)
        return 0

    def send(self, frames: int) -> None:
        """Send ``frames`` frames and run the world until b has them all."""
        dev = self.a.eth0
        kernel = self.a.kernel
        qdisc = dev.qdisc
        sched = self.world.sched
        frame = self.frame
        total = len(frame) + HEADROOM
        fill = dev.tx_queue_len
        low = fill // 2
        target = self.received + frames
        left = frames
        while left:
            burst = min(fill - qdisc.qlen, left)
            for _ in range(burst):
                skb = alloc_skb(kernel, total)
                skb.reserve(HEADROOM)
                skb.put_data(frame)
                skb.dev = dev
                dev_queue_xmit(skb)
            left -= burst
            self.sent += burst
            if left:
                sched.run_until(lambda: qdisc.qlen <= low, timeout="1s", what="the qdisc to drain")
        sched.run_until(lambda: self.received >= target, timeout="1s", what="every frame to arrive")
        self.check()

    def check(self) -> None:
        faults = self.world.faults
        if faults:
            raise BenchError(f"device fault during the run: {faults[0]}")
        if self.received != self.sent:
            raise BenchError(f"{self.sent} frames sent, {self.received} received")
        if self.received_bytes != self.received * self.length:
            raise BenchError("frames arrived with the wrong length")

    def close(self) -> None:
        self.world.close()


def measure(
    length: int, frames: int, profile: cProfile.Profile | None = None, seed: int = 1
) -> FramesResult:
    """Build a rig, warm it up, then time ``frames`` frames of ``length`` bytes."""
    rig = FramesRig(length, seed)
    try:
        rig.send(WARMUP_FRAMES)
        sched = rig.world.sched
        now0, events0 = sched.now, sched.events_run
        if profile is not None:
            profile.enable()
        start = time.perf_counter()
        rig.send(frames)
        seconds = time.perf_counter() - start
        if profile is not None:
            profile.disable()
        return FramesResult(length, frames, seconds, sched.now - now0, sched.events_run - events0)
    finally:
        rig.close()


def best_of(length: int, frames: int, repeat: int) -> tuple[FramesResult, list[float]]:
    """The fastest of ``repeat`` runs (the least disturbed by the rest of the machine) and
    every run's rate."""
    runs = [measure(length, frames) for _ in range(max(1, repeat))]
    best = max(runs, key=lambda r: r.pps)
    return best, [round(r.pps) for r in runs]
