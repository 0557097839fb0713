"""The TCP test harness: the test is the raw TCP peer (gVisor packetimpact, smoltcp style).

A :class:`Peer` owns one host (``Scheduler`` + ``Kernel`` + ``Net``) whose TCP is the device
under test.  TCP's two hooks are replaced: ``net.tcp.transmit`` captures every segment the
engine sends (checksum verified, offloads finished as a NIC would), ``net.tcp.route`` returns a
route through a fake device with chosen ``features`` and ``mtu``.  The test then speaks TCP
by hand:

- ``p.send(flags, seq=, ack=, data=, at=)`` builds a segment with ``TcpRepr`` (and an IPv4
  header), optionally first running virtual time up to ``at``, and hands it to ``tcp_v4_rcv``;
- ``p.expect(flags=, seq=, ack=, data=, at=, within=)`` pops the next captured segment (running
  time until one shows up) and checks the given fields; ``p.expect_none(within)`` checks
  silence.

``p.seq``/``p.ack`` track the peer's next sequence number and the next byte it expects from
the engine, so tests can write ``p.send(ACK)`` for "the obvious ACK".  Fixtures build a socket
in every RFC 9293 state (:data:`STATE_FIXTURES`).  The ``test_tcp_*`` files import this
module; ``tests/test_tcp_harness.py`` checks the harness itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from helpers.stack import new_host
from helpers.units import MS, S
from ixsim.sched import Scheduler
from stack.core import CHECKSUM_PARTIAL, alloc_skb, consume_skb, skb_checksum_help
from stack.sysctl import Sysctl
from stack.tcp import TcpSock, TcpState, tcp_v4_rcv
from stack.tcp.seq import SEQ_MASK
from stack.wire import Ipv4Repr, ip_bytes
from stack.wire.checksum import verify_l4
from stack.wire.ipv4 import IPPROTO_TCP
from stack.wire.tcp import ACK, FIN, RST, SYN, TcpRepr, flags_str

LOCAL = ip_bytes("10.0.0.1")
REMOTE = ip_bytes("10.0.0.2")
LPORT = 5000
RPORT = 40000
PEER_ISN = 0xFFFFF000  # close to the wrap: sequence arithmetic is exercised everywhere
PEER_TS = 0x7FFFFF00

def tcp_skb(kernel: Any, src: bytes, dst: bytes, seg: bytes, ecn: int = 0) -> Any:
    """A received segment as ``ip_rcv`` hands it to ``tcp_v4_rcv``: an IPv4 header (DF, the
    ECN codepoint ``ecn``) in front, ``network_header`` set, the data pulled to the TCP
    header."""
    ip = Ipv4Repr(src, dst, IPPROTO_TCP, len(seg), df=True, ecn=ecn)
    skb = alloc_skb(kernel, 128 + ip.buffer_len() + len(seg))
    skb.reserve(128)
    off = skb.put(ip.buffer_len())
    ip.emit(skb.head, off)
    skb.network_header = off
    skb.put_data(seg)
    skb.pull(ip.buffer_len())
    return skb


@dataclass
class Seg:
    """One segment the engine sent, as the peer saw it."""

    th: TcpRepr
    data: bytes
    time: int
    gso_size: int
    ip_summed: int
    tos: int = 0  # the TOS byte IP will write (the socket's, ECN bits included)

    @property
    def ecn(self) -> int:
        """The ECN codepoint of the IP header: 0 Not-ECT, 2 ECT(0), 3 CE."""
        return self.tos & 3

    @property
    def flags(self) -> int:
        return self.th.flags

    @property
    def seq(self) -> int:
        return self.th.seq

    @property
    def ack(self) -> int:
        return self.th.ack

    @property
    def window(self) -> int:
        return self.th.window

    def __repr__(self) -> str:
        return (f"<Seg t={self.time / MS:.3f}ms [{flags_str(self.flags)}] seq={self.seq} "
                f"ack={self.ack} win={self.window} len={len(self.data)} "
                f"ts={self.th.timestamp} sack={self.th.sack_blocks}>")


class Peer:
    """The raw peer of one engine host (see the module docstring)."""

    def __init__(self, seed: int = 1, features: int = 0, mtu: int = 1500,
                 sysctl: Sysctl | None = None, ts: bool = True, sack: bool = True,
                 wscale: int | None = 7, mss: int = 1460) -> None:
        self.sched = Scheduler(seed=seed)
        host = new_host(self.sched, "dut", sysctl=sysctl)
        self.kernel = host.kernel
        self.net = host.net
        self.table = self.net.tcp
        self.net.devinet.add(self.net.lo, LOCAL, 32)  # the engine owns LOCAL (bind checks it)
        self.table.transmit = self._capture
        self.dev = SimpleNamespace(features=features, mtu=mtu, name="eth0")
        self.table.route = self._route
        self.out: deque[Seg] = deque()
        self.use_ts = ts
        self.use_sack = sack
        self.use_wscale = wscale
        self.mss = mss
        self.iss = PEER_ISN
        self.seq = PEER_ISN  # the peer's next sequence number
        self.ack = 0  # the next byte the peer expects from the engine
        self.dut_iss = 0
        self.ts_recent = 0  # the engine's last TSval, echoed back
        self.window = 65535
        self.lport = LPORT
        self.rport = RPORT

    # -- hooks -----------------------------------------------------------------------------------
    def _route(self, daddr: bytes, saddr: bytes | None = None) -> Any:
        return SimpleNamespace(dev=self.dev, src=LOCAL, mtu=self.dev.mtu, daddr=daddr)

    def _capture(self, skb: Any, saddr: bytes, daddr: bytes) -> int:
        assert saddr == LOCAL and daddr == REMOTE, (saddr, daddr)
        summed = skb.ip_summed
        if summed == CHECKSUM_PARTIAL:
            skb_checksum_help(skb)  # what the NIC does
        buf = skb.tobytes()
        assert verify_l4(saddr, daddr, IPPROTO_TCP, buf), "bad TCP checksum"
        th = TcpRepr.parse(buf)
        data = buf[len(buf) - th.payload_len:]
        sk = skb.sk
        seg = Seg(th, data, self.sched.now, skb.gso_size, summed, sk.tos if sk is not None else 0)
        if th.timestamp is not None:
            self.ts_recent = th.timestamp[0]
        self.out.append(seg)
        consume_skb(skb)
        return 0

    # -- time ------------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return self.sched.now

    def run(self, duration: int) -> None:
        self.sched.run_for(duration)

    def run_until(self, when: int) -> None:
        if when > self.sched.now:
            self.sched.run_until_time(when)

    def tsval(self) -> int:
        return (PEER_TS + self.sched.now // MS) & SEQ_MASK

    # -- sending ---------------------------------------------------------------------------------
    def send(self, flags: int = ACK, seq: int | None = None, ack: int | None = None,
             data: bytes = b"", window: int | None = None, at: int | None = None,
             ts: tuple[int, int] | None | bool = True, sack: tuple = (), mss: int | None = None,
             wscale: int | None = None, sack_perm: bool = False, sport: int | None = None,
             dport: int | None = None, advance: bool = True, csum_ok: bool = True,
             urgent: int = 0, fastopen: bytes | None = None, ecn: int = 0) -> None:
        """Inject one segment at ``at`` (absolute ns; default now), with the ECN codepoint
        ``ecn`` in its IP header."""
        if at is not None:
            self.run_until(at)
        if seq is None:
            seq = self.seq
        if ack is None:
            ack = self.ack
        th = TcpRepr(sport or self.rport, dport or self.lport, seq & SEQ_MASK,
                     ack & SEQ_MASK if flags & ACK else 0, flags,
                     self.window if window is None else window, payload_len=len(data))
        if ts is True:
            th.timestamp = (self.tsval(), self.ts_recent) if self.use_ts else None
        elif ts:
            th.timestamp = ts
        th.sack_blocks = tuple((s & SEQ_MASK, e & SEQ_MASK) for s, e in sack)
        th.mss = mss
        th.wscale = wscale
        th.sack_permitted = sack_perm
        th.urgent = urgent
        th.fastopen = fastopen  # RFC 7413: b"" asks for a cookie
        self.inject(th, data, csum_ok, ecn)
        if advance and seq == self.seq:
            self.seq = seq + len(data) + bool(flags & SYN) + bool(flags & FIN)

    def inject(self, th: TcpRepr, data: bytes, csum_ok: bool = True, ecn: int = 0) -> None:
        hl = th.buffer_len()
        seg = bytearray(hl + len(data))
        seg[hl:] = data
        th.payload_len = len(data)
        th.emit(seg, 0, REMOTE, LOCAL)
        if not csum_ok:
            seg[16] ^= 0xFF
        self.inject_raw(bytes(seg), ecn=ecn)

    def inject_raw(self, seg: bytes, src: bytes = REMOTE, dst: bytes = LOCAL,
                   ecn: int = 0) -> None:
        skb = tcp_skb(self.kernel, src, dst, seg, ecn)
        skb.tstamp = self.sched.now
        tcp_v4_rcv(self.net, skb)

    def syn(self, **kw: Any) -> None:
        """The peer's SYN with the options it was built with."""
        self.seq = self.iss
        self.send(SYN, seq=self.iss, ack=0, mss=self.mss, wscale=self.use_wscale,
                  sack_perm=self.use_sack, ts=True if self.use_ts else None, **kw)

    # -- expecting -------------------------------------------------------------------------------
    def next(self, within: int = 5 * S) -> Seg:
        if not self.out:
            deadline = self.sched.now + within
            self.sched.run_until(lambda: bool(self.out) or self.sched.now > deadline,
                                 timeout=within)
        assert self.out, f"no segment within {within / MS} ms (now {self.now / MS} ms)"
        return self.out.popleft()

    def expect(self, flags: int | None = None, seq: int | None = None, ack: int | None = None,
               data: bytes | None = None, window: int | None = None, at: int | None = None,
               within: int = 5 * S, length: int | None = None, **opts: Any) -> Seg:
        """The next segment the engine sends; every given field must match."""
        seg = self.next(within)
        if flags is not None:
            assert seg.flags == flags, f"{seg}: flags {flags_str(seg.flags)} != {flags_str(flags)}"
        if seq is not None:
            assert seg.seq == seq & SEQ_MASK, f"{seg}: seq != {seq & SEQ_MASK}"
        if ack is not None:
            assert seg.ack == ack & SEQ_MASK, f"{seg}: ack != {ack & SEQ_MASK}"
        if data is not None:
            assert seg.data == data, f"{seg}: data {seg.data[:32]!r} != {data[:32]!r}"
        if length is not None:
            assert len(seg.data) == length, f"{seg}: len {len(seg.data)} != {length}"
        if window is not None:
            assert seg.window == window, f"{seg}: window != {window}"
        if at is not None:
            assert seg.time == at, f"{seg}: sent at {seg.time} != {at}"
        for name, value in opts.items():
            got = getattr(seg.th, name)
            assert got == value, f"{seg}: {name} {got} != {value}"
        if seg.flags & (SYN | FIN) or seg.data:
            end = seg.seq + len(seg.data) + bool(seg.flags & SYN) + bool(seg.flags & FIN)
            if seg.seq == self.ack & SEQ_MASK or seg.flags & SYN:
                self.ack = end
        return seg

    def expect_none(self, within: int) -> None:
        """Nothing is sent for ``within`` ns."""
        if not self.out:
            deadline = self.sched.now + within
            self.sched.run_until(lambda: bool(self.out) or self.sched.now >= deadline,
                                 timeout=within)
        assert not self.out, f"unexpected {self.out[0]}"

    def drain(self) -> list[Seg]:
        """Every captured segment, in order (sequence tracking included)."""
        out = []
        while self.out:
            out.append(self.expect())
        return out


# -- fixtures: one socket per state ---------------------------------------------------------------
def listener(p: Peer, backlog: int = 8) -> TcpSock:
    sk = TcpSock(p.net)
    sk.bind(LOCAL, p.lport)
    sk.listen(backlog)
    return sk


def passive(p: Peer, backlog: int = 8, rtt: int = 0) -> tuple[TcpSock, TcpSock]:
    """A listener and the child established by the peer's handshake; the peer's ACK comes
    ``rtt`` ns after the SYN-ACK (the engine's first RTT sample, so its srtt and min_rtt)."""
    lsk = listener(p, backlog)
    p.syn()
    sa = p.expect(SYN | ACK, ack=p.iss + 1)
    p.dut_iss = sa.seq
    p.run(rtt)
    p.send(ACK)
    child = lsk.accept()
    assert child.state == TcpState.ESTABLISHED
    return lsk, child


def active(p: Peer, **synack: Any) -> TcpSock:
    """An established socket that connected to the peer."""
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    syn = p.expect(SYN)
    p.dut_iss = syn.seq
    p.lport = syn.th.src_port
    p.ack = syn.seq + 1
    p.seq = p.iss
    p.send(SYN | ACK, seq=p.iss, mss=p.mss, wscale=p.use_wscale, sack_perm=p.use_sack,
           ts=True if p.use_ts else None, **synack)
    p.expect(ACK, seq=p.dut_iss + 1, ack=p.iss + 1)
    assert sk.state == TcpState.ESTABLISHED
    sk.connect(REMOTE, p.rport)  # the second connect() reports success
    return sk


def established(p: Peer, rtt: int = 0) -> TcpSock:
    return passive(p, rtt=rtt)[1]


def fin_wait_1(p: Peer) -> TcpSock:
    sk = established(p)
    sk.shutdown(1)
    p.expect(FIN | ACK)
    return sk


def fin_wait_2(p: Peer) -> TcpSock:
    sk = fin_wait_1(p)
    p.send(ACK)
    assert sk.state == TcpState.FIN_WAIT_2
    return sk


def close_wait(p: Peer) -> TcpSock:
    sk = established(p)
    p.send(FIN | ACK)
    assert sk.state == TcpState.CLOSE_WAIT
    p.expect(ACK, within=300 * MS)
    return sk


def last_ack(p: Peer) -> TcpSock:
    sk = close_wait(p)
    sk.close()
    p.expect(FIN | ACK)
    assert sk.state == TcpState.LAST_ACK
    return sk


def closing(p: Peer) -> TcpSock:
    sk = fin_wait_1(p)
    p.send(FIN | ACK, ack=p.ack - 1)  # FIN crossing ours: does not ACK our FIN
    assert sk.state == TcpState.CLOSING
    p.expect(ACK)
    return sk


def time_wait(p: Peer) -> TcpSock:
    sk = fin_wait_2(p)
    p.send(FIN | ACK)
    p.expect(ACK)
    assert sk.state == TcpState.TIME_WAIT
    return sk


def syn_sent(p: Peer) -> TcpSock:
    sk = TcpSock(p.net)
    with pytest.raises(BlockingIOError):
        sk.connect(REMOTE, p.rport)
    syn = p.expect(SYN)
    p.dut_iss = syn.seq
    p.lport = syn.th.src_port
    p.ack = syn.seq + 1
    return sk


def syn_received(p: Peer) -> TcpSock:
    """Simultaneous open: our SYN crossed the peer's."""
    sk = syn_sent(p)
    p.seq = p.iss
    p.send(SYN, seq=p.iss, ack=0, mss=p.mss, wscale=p.use_wscale, sack_perm=p.use_sack,
           ts=True if p.use_ts else None)
    p.expect(SYN | ACK, seq=p.dut_iss, ack=p.iss + 1)
    assert sk.state == TcpState.SYN_RECEIVED
    return sk


def closed(p: Peer) -> TcpSock:
    sk = established(p)
    p.send(RST)
    assert sk.state == TcpState.CLOSED
    return sk


def handshake(p: Peer, rport: int, final_ack: bool = True) -> tuple[int, int]:
    """One more connection from port ``rport``; returns (peer ISN, engine ISN)."""
    p.rport = rport
    p.iss += 100_000
    p.syn()
    sa = p.expect(SYN | ACK, ack=p.iss + 1)
    if final_ack:
        p.send(ACK, ack=sa.seq + 1)
    return p.iss, sa.seq


STATE_FIXTURES = {
    TcpState.LISTEN: listener,
    TcpState.SYN_SENT: syn_sent,
    TcpState.SYN_RECEIVED: syn_received,
    TcpState.ESTABLISHED: established,
    TcpState.FIN_WAIT_1: fin_wait_1,
    TcpState.FIN_WAIT_2: fin_wait_2,
    TcpState.CLOSE_WAIT: close_wait,
    TcpState.CLOSING: closing,
    TcpState.LAST_ACK: last_ack,
    TcpState.TIME_WAIT: time_wait,
    TcpState.CLOSED: closed,
}
