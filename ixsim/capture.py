"""Packet capture on a host interface: ``host.capture("eth0", "tcp port 80", pcap="x.pcap")``.

A packet tap (``ETH_P_ALL``, both directions, as tcpdump's AF_PACKET socket) with an optional
classic-BPF filter compiled from a tcpdump expression, writing a pcap file and keeping the
frames for tests.  Frames are recorded as the stack sees them: outgoing ones before the NIC's
offloads (checksums may be partial, super-segments unsplit), exactly as tcpdump on Linux.

As on Linux (``packet_rcv``), a copy the stack loops back to itself (``PACKET_LOOPBACK``: our
own broadcasts and multicasts, ``dev_loopback_xmit``) is never captured: tcpdump sees such a
frame once, on its way out.  The filter's return value is the snap length, as ``sk_filter``'s
is: a program answering ``ret #20`` keeps 20 bytes, and the pcap record says how long the
frame really was (``caplen`` 20, ``len`` the frame's length).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from device.pcap import PcapWriter
from stack.bpf import Filter
from stack.core import ETH_P_ALL, PACKET_LOOPBACK, PACKET_OUTGOING, PacketType, consume_skb


@dataclass
class CapturedFrame:
    time_ns: int
    direction: str  # "in" or "out"
    frame: bytes  # cut to the snap length (the filter's return value)
    wirelen: int = -1  # the frame's real length (pcap's orig_len); -1: not recorded

    def __post_init__(self) -> None:
        if self.wirelen < 0:
            self.wirelen = len(self.frame)


@dataclass
class Capture:
    iface: str
    expr: str
    frames: list[CapturedFrame] = field(default_factory=list)
    writer: PcapWriter | None = None
    _ptype: Any = None
    _kernel: Any = None
    matched: int = 0
    seen: int = 0

    def stop(self) -> None:
        if self._ptype is not None:
            self._kernel.dev_remove_pack(self._ptype)
            self._ptype = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_capture(host: Any, iface: str, expr: str = "", pcap: str | None = None,
                  keep: bool = True, snaplen: int = 262144) -> Capture:
    dev = host.interfaces.get(iface) if iface != "any" else None
    if iface != "any" and dev is None:
        raise ValueError(f"{host.name} has no interface {iface!r}")
    flt = Filter(expr, snaplen=snaplen) if expr else None
    cap = Capture(iface, expr, writer=PcapWriter(pcap, snaplen=snaplen) if pcap else None)
    sched = host.sched

    def tap(skb: Any, dev_: Any, pt: Any, orig: Any) -> int:
        if skb.pkt_type == PACKET_LOOPBACK:  # packet_rcv: "goto drop"
            consume_skb(skb)
            return 0
        cap.seen += 1
        # The tap sees data at the network header on RX and the MAC header on TX; back up to
        # the MAC header either way (skb.mac_header), as AF_PACKET does.
        start = skb.mac_header if skb.mac_header >= 0 else skb.data
        frame = bytes(skb.head[start : skb.tail])
        if skb.data_len:  # a transmitted skb's page fragments follow its head
            frame += skb.frags_bytes()
        if skb.vlan_present and skb.pkt_type != PACKET_OUTGOING:
            tci = skb.vlan_tci
            frame = frame[:12] + bytes((0x81, 0x00, tci >> 8, tci & 0xFF)) + frame[12:]
        keep_bytes = snaplen if flt is None else flt.run(frame)
        if keep_bytes:
            cap.matched += 1
            direction = "out" if skb.pkt_type == PACKET_OUTGOING else "in"
            wirelen = len(frame)
            if keep_bytes < wirelen:
                frame = frame[:keep_bytes]
            if keep:
                cap.frames.append(CapturedFrame(sched.now, direction, frame, wirelen))
            if cap.writer is not None:
                cap.writer.write(sched.now, frame, wirelen)
        consume_skb(skb)  # the tap owns the reference it was handed
        return 0

    cap._ptype = PacketType(ETH_P_ALL, tap, dev=dev)
    cap._kernel = host.kernel
    host.kernel.dev_add_pack(cap._ptype)
    return cap
