"""Which fast retransmissions were spurious, judged from the wire (netsim's reordering table).

The issue's figure is *spurious fast retransmits over fast retransmits*.  The sender's own
counters only approximate it: D-SACKs (TCPDSACKRecvSegs) also report loss probes and RTO
retransmissions that proved unneeded, and a duplicate the receiver never saw (the
retransmission itself was lost) is not reported at all; RetransSegs counts every kind.  Here
the harness, which sees both ends, decides it exactly:

* two passive stages on the data lane of the cable record, per TCP sequence number, the
  copies of a data segment that were put on the wire (first stage, before any impairment)
  and which of those copies reached the receiver (last stage, after loss and reordering);
* a tracer on the sender's ``tcp_retransmit_skb`` tracepoint classifies each retransmission
  by the sender's congestion state at that moment: ``Recovery`` is a fast retransmission
  (RACK or DupThresh, PRR), ``Loss`` an RTO retransmission, any other state a tail loss
  probe; a retransmitted skb of several MSS is counted per segment, as RetransSegs does;
* a fast-retransmitted segment is spurious when an *earlier* copy of it (the original, or
  an earlier retransmission) reached the receiver, whenever it arrived.

Nothing here touches the stack: the stages pass every frame on unchanged, the tracer only
reads.  Frames are matched by object identity while they are on the wire (the stages of a
lane hand the same ``bytes`` object along).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from device.impair import Stage
from stack.tcp.state import CaState

ETH_P_IP = 0x0800
IPPROTO_TCP = 6
_SEQ = struct.Struct("!I")


def tcp_data_seq(frame: bytes) -> int:
    """The sequence number of an IPv4 TCP frame that carries data, else -1."""
    if len(frame) < 54 or frame[12] != ETH_P_IP >> 8 or frame[13] != ETH_P_IP & 0xFF:
        return -1
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != IPPROTO_TCP:
        return -1
    total = (frame[16] << 8) | frame[17]
    tcp = 14 + ihl
    doff = (frame[tcp + 12] >> 4) * 4
    if total - ihl - doff <= 0:
        return -1
    return _SEQ.unpack_from(frame, tcp + 4)[0]


class _Sent(Stage):
    """First on the lane: number each data segment's copies in sending order."""

    def __init__(self, audit: RetransAudit) -> None:
        super().__init__()
        self.audit = audit

    def __call__(self, frame: bytes, when_ns: int, emit: Any) -> None:
        seq = tcp_data_seq(frame)
        if seq >= 0:
            sent = self.audit.sent
            copy = sent.get(seq, 0)
            sent[seq] = copy + 1
            self.audit.on_wire[id(frame)] = (seq, copy)
        emit(frame, when_ns)

    def fork(self) -> Stage:
        raise TypeError("a RetransAudit stage belongs to one lane")


class _Arrived(Stage):
    """Last on the lane: note which copies survived the impairments."""

    def __init__(self, audit: RetransAudit) -> None:
        super().__init__()
        self.audit = audit

    def __call__(self, frame: bytes, when_ns: int, emit: Any) -> None:
        tag = self.audit.on_wire.pop(id(frame), None)
        if tag is not None:
            self.audit.arrived.setdefault(tag[0], set()).add(tag[1])
        emit(frame, when_ns)

    def fork(self) -> Stage:
        raise TypeError("a RetransAudit stage belongs to one lane")


@dataclass
class RetransAudit:
    """The retransmissions of one flow and what the receiver had already got."""

    mss: int
    sent: dict[int, int] = field(default_factory=dict)  # seq -> copies put on the wire
    arrived: dict[int, set[int]] = field(default_factory=dict)  # seq -> copies delivered
    on_wire: dict[int, tuple[int, int]] = field(default_factory=dict)  # id(frame) -> tag
    # (seq, copy index, kind) of every retransmitted segment, kind "fast"/"rto"/"probe"
    retransmits: list[tuple[int, int, str]] = field(default_factory=list)

    def attach(self, lane: Any, kernel: Any) -> None:
        """Watch ``lane`` (the data direction) and the sending host's ``kernel``; call after
        the impairments are set, so the last stage sees what survived them."""
        lane.stages.insert(0, _Sent(self))
        lane.stages.append(_Arrived(self))
        lane.rebuild()
        kernel.tracers.append(self._trace)

    def _trace(self, now: int, event: str, fields: dict[str, Any]) -> None:
        if event != "tcp_retransmit_skb":
            return
        state = fields["sk"].ca_state
        kind = "fast" if state == CaState.RECOVERY else "rto" if state == CaState.LOSS else "probe"
        seq, end = fields["seq"], fields["seq"] + fields["len"]
        pending: dict[int, int] = {}
        while seq < end:  # the copies of earlier retransmissions still count as sent
            key = seq & 0xFFFFFFFF
            copy = self.sent.get(key, 0) + pending.get(key, 0)
            pending[key] = pending.get(key, 0) + 1
            self.retransmits.append((key, copy, kind))
            seq += self.mss

    def counts(self, kind: str = "fast") -> tuple[int, int]:
        """(spurious, all) retransmitted segments of ``kind``: spurious when an earlier copy
        of the segment reached the receiver."""
        spurious = total = 0
        for seq, copy, k in self.retransmits:
            if k != kind:
                continue
            total += 1
            got = self.arrived.get(seq, ())
            if any(c < copy for c in got):
                spurious += 1
        return spurious, total

    def share(self, kind: str = "fast") -> float | None:
        spurious, total = self.counts(kind)
        return spurious / total if total else None
