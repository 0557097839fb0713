"""Cable impairment and observation stages, composed as wrappers.

Mirrors the role of Linux's ``sch_netem`` (loss, duplication, corruption, delay with jitter,
reordering, ECN marking) and smoltcp's ``phy::FaultInjector``/``PcapWriter`` wrappers: each
stage is a small callable ``stage(frame, when_ns, emit)`` that passes zero, one or more frames on by
calling ``emit(frame, when_ns)``.  A cable chains them in the order given, so position is
meaning: a :class:`PcapTap` placed first records what was sent, placed last what arrives.

Contract:

* ``when_ns`` is the virtual time at which the frame reaches the stage (its last bit has
  arrived at the far end of the wire).  Stages never read a clock and never schedule; they
  only change the time they emit with, and the cable turns the final time into one event.
* Randomness comes from an rng object (the world's seeded ``random.Random``, or one passed
  in); a stage built with ``rng=None`` is given ``sched.rng`` by the cable.  The same seed
  and the same traffic give the same decisions, byte for byte.
* Each stage counts what it did in ``count``; ``stat`` names the cable statistic it feeds.
* ``fork()`` makes an independent stage with the same parameters (sharing the rng and, for
  :class:`PcapTap`, the writer) for the other direction of a cable; ``reset()`` forgets
  per-flow state when the cable is unplugged.

Deliberate deviations from netem: :class:`Delay` with jitter keeps frames in order unless
``reorder=True`` (netem reorders under jitter by default, which surprises everyone);
:class:`CeMark` marks ECN-capable IPv4 packets Congestion Experienced with its own
probability and leaves every other frame alone, where netem's ``loss ... ecn`` marks instead
of dropping and still drops what cannot be marked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

Emit = Callable[[bytes, int], None]

ETH_HLEN = 14
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100


class Rng(Protocol):
    """The part of ``random.Random`` the stages use."""

    def random(self) -> float: ...

    def randrange(self, start: int, stop: int = ..., step: int = ...) -> int: ...


def _check_p(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {p!r}")
    return float(p)


def _check_ns(ns: int, what: str) -> int:
    if isinstance(ns, bool) or not isinstance(ns, int) or ns < 0:
        raise ValueError(f"{what} must be a non-negative int of nanoseconds, got {ns!r}")
    return ns


class Stage:
    """Base of the stages: an rng slot, a counter, ``fork`` and ``reset``."""

    stat = ""
    kind = ""

    def __init__(self, rng: Rng | None = None) -> None:
        self.rng: Any = rng
        self.count = 0

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        raise NotImplementedError

    def fork(self) -> Stage:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget per-flow state (the wire was emptied); counters are kept."""

    def describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.describe()} count={self.count}>"


class Loss(Stage):
    """Drop each frame with probability ``p`` (netem ``loss random``)."""

    stat = "dropped_loss"
    kind = "loss"

    def __init__(self, p: float, rng: Rng | None = None) -> None:
        super().__init__(rng)
        self.p = _check_p(p)

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        p = self.p
        if p and self.rng.random() < p:
            self.count += 1
            return
        emit(frame, when_ns)

    def fork(self) -> Loss:
        return Loss(self.p, self.rng)

    def describe(self) -> str:
        return f"Loss(p={self.p})"


class Duplicate(Stage):
    """Emit each frame twice, back to back, with probability ``p`` (netem ``duplicate``)."""

    stat = "duplicated"
    kind = "dup"

    def __init__(self, p: float, rng: Rng | None = None) -> None:
        super().__init__(rng)
        self.p = _check_p(p)

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        emit(frame, when_ns)
        p = self.p
        if p and self.rng.random() < p:
            self.count += 1
            emit(frame, when_ns)

    def fork(self) -> Duplicate:
        return Duplicate(self.p, self.rng)

    def describe(self) -> str:
        return f"Duplicate(p={self.p})"


class Reorder(Stage):
    """With probability ``p`` hold a frame back by ``delay_ns`` so later frames pass it.

    Frames not held go straight through; whether a held frame is actually overtaken depends
    on traffic arriving within ``delay_ns`` (netem ``delay ... reorder``, inverted).
    """

    stat = "reordered"
    kind = "reorder"

    def __init__(self, p: float, delay_ns: int, rng: Rng | None = None) -> None:
        super().__init__(rng)
        self.p = _check_p(p)
        self.delay_ns = _check_ns(delay_ns, "reorder delay")

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        p = self.p
        if p and self.rng.random() < p:
            self.count += 1
            emit(frame, when_ns + self.delay_ns)
            return
        emit(frame, when_ns)

    def fork(self) -> Reorder:
        return Reorder(self.p, self.delay_ns, self.rng)

    def describe(self) -> str:
        return f"Reorder(p={self.p}, delay_ns={self.delay_ns})"


class Corrupt(Stage):
    """With probability ``p`` flip one random bit of one random byte (netem ``corrupt``).

    ``keep_header=True`` leaves the 14-byte Ethernet header alone, so the frame still reaches
    the right MAC and the damage is for the upper layers' checksums to find.  A frame with no
    byte eligible passes unchanged and is not counted.
    """

    stat = "corrupted"
    kind = "corrupt"

    def __init__(self, p: float, rng: Rng | None = None, keep_header: bool = False) -> None:
        super().__init__(rng)
        self.p = _check_p(p)
        self.keep_header = keep_header
        self._first = ETH_HLEN if keep_header else 0

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        p = self.p
        if p and self.rng.random() < p and len(frame) > self._first:
            rng = self.rng
            index = rng.randrange(self._first, len(frame))
            bit = rng.randrange(8)
            damaged = bytearray(frame)
            damaged[index] ^= 1 << bit
            frame = bytes(damaged)
            self.count += 1
        emit(frame, when_ns)

    def fork(self) -> Corrupt:
        return Corrupt(self.p, self.rng, self.keep_header)

    def describe(self) -> str:
        return f"Corrupt(p={self.p}, keep_header={self.keep_header})"


class CeMark(Stage):
    """With probability ``p`` set Congestion Experienced on an ECN-capable IPv4 packet.

    The frame's IPv4 header (after the Ethernet header and an 802.1Q tag, if any) is marked
    as a router's AQM marks (RFC 3168 §5, Linux's ``IP_ECN_set_ce``): ECT(0) or ECT(1)
    becomes CE and the header checksum is patched incrementally (RFC 1624).  Frames that are
    not IPv4, Not-ECT, or CE already pass unchanged, draw no random number and are not
    counted; ``count`` is the number of packets marked.
    """

    stat = "ce_marked"
    kind = "ce"

    def __init__(self, p: float, rng: Rng | None = None) -> None:
        super().__init__(rng)
        self.p = _check_p(p)

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        p = self.p
        if p:
            off = ip_header_offset(frame)
            if off >= 0 and 1 <= frame[off + 1] & 3 <= 2 and self.rng.random() < p:
                marked = bytearray(frame)
                old = marked[off] << 8 | marked[off + 1]
                marked[off + 1] |= 3
                check = marked[off + 10] << 8 | marked[off + 11]
                total = (~check & 0xFFFF) + (~old & 0xFFFF) + (old | 3)  # RFC 1624 eqn. 3
                total = (total & 0xFFFF) + (total >> 16)
                total = ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
                marked[off + 10] = total >> 8
                marked[off + 11] = total & 0xFF
                frame = bytes(marked)
                self.count += 1
        emit(frame, when_ns)

    def fork(self) -> CeMark:
        return CeMark(self.p, self.rng)

    def describe(self) -> str:
        return f"CeMark(p={self.p})"


def ip_header_offset(frame: bytes) -> int:
    """Where an Ethernet frame's IPv4 header starts (past one 802.1Q tag), or -1 if the frame
    carries no complete IPv4 header."""
    off = ETH_HLEN
    if len(frame) < off + 20:
        return -1
    ethertype = frame[12] << 8 | frame[13]
    if ethertype == ETH_P_8021Q:
        ethertype = frame[16] << 8 | frame[17]
        off += 4
        if len(frame) < off + 20:
            return -1
    if ethertype != ETH_P_IP or frame[off] >> 4 != 4 or frame[off] & 0x0F < 5:
        return -1
    return off


class Delay(Stage):
    """Add ``extra_ns`` plus a uniform jitter in ``[0, jitter_ns]`` to every frame.

    Order is kept unless ``reorder=True``: a frame never leaves before the one ahead of it,
    so jitter only stretches gaps (which skews the jitter's distribution upward when frames
    are closer together than ``jitter_ns``; said out loud because netem behaves otherwise).
    """

    stat = "delayed"
    kind = "delay"

    def __init__(
        self,
        extra_ns: int,
        jitter_ns: int = 0,
        rng: Rng | None = None,
        reorder: bool = False,
    ) -> None:
        super().__init__(rng)
        self.extra_ns = _check_ns(extra_ns, "delay")
        self.jitter_ns = _check_ns(jitter_ns, "jitter")
        self.reorder = reorder
        self._last = 0

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        when_ns += self.extra_ns
        jitter = self.jitter_ns
        if jitter:
            when_ns += self.rng.randrange(jitter + 1)
        if not self.reorder:
            if when_ns < self._last:
                when_ns = self._last
            self._last = when_ns
        self.count += 1
        emit(frame, when_ns)

    def fork(self) -> Delay:
        return Delay(self.extra_ns, self.jitter_ns, self.rng, self.reorder)

    def reset(self) -> None:
        self._last = 0

    def describe(self) -> str:
        return f"Delay(extra_ns={self.extra_ns}, jitter_ns={self.jitter_ns})"


class PcapTap(Stage):
    """Record every frame passing this point with its virtual timestamp, then pass it on.

    ``writer`` is anything with ``write(ts_ns, frame)`` (a :class:`device.pcap.PcapWriter`).
    The cable runs its stages when a frame is sent, so the record is written ahead of the
    world's clock, stamped with the time the frame reaches the tap; a tap after a
    :class:`Reorder`, or one writer shared by both directions, can therefore hold records out
    of time order (Wireshark shows them as negative deltas).  For a capture in strict time
    order use the port's ``frame`` tracepoint (``Port.trace_frame``), which runs at the
    moment of transmit/receive.
    """

    stat = "captured"
    kind = "pcap"

    def __init__(self, writer: Any) -> None:
        super().__init__(None)
        self.writer = writer
        self._write = writer.write

    def __call__(self, frame: bytes, when_ns: int, emit: Emit) -> None:
        self._write(when_ns, frame)
        self.count += 1
        emit(frame, when_ns)

    def fork(self) -> PcapTap:
        return PcapTap(self.writer)


# The debugger's names for the impairments it may set (Cable.set_impairment).
KINDS: dict[str, type[Stage]] = {
    "loss": Loss,
    "delay": Delay,
    "reorder": Reorder,
    "dup": Duplicate,
    "duplicate": Duplicate,
    "corrupt": Corrupt,
    "ce": CeMark,
}
