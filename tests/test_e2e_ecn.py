"""ECN end to end: two hosts with ixgb NICs on virtual time, a cable that marks ECN-capable
packets Congestion Experienced (``ce=``), and the TCP reaction on both ends.

With ``net.ipv4.tcp_ecn=1`` on the sender (the receiver keeps Linux's default 2) every
data segment leaves ECT(0); the marks the cable makes arrive as CE (IpExt ``InCEPkts``), are
echoed with ECE and answered by CWR-state reductions, and nothing is retransmitted: the
congestion signal cost no data.  With ECN off nothing is ECN-capable, so the cable marks
nothing (``ce=`` never touches Not-ECT packets) and the stream is all ``InNoECTPkts``.
"""

from __future__ import annotations

from typing import Any

from ixsim import netsim
from stack.uapi import TCPI_OPT_ECN, TCPI_OPT_ECN_SEEN

NBYTES = 2 << 20
SEED = 11


def _run(ecn: int, **cable: Any) -> tuple[netsim.Pair, netsim.Flow, list[str]]:
    states: list[str] = []
    with netsim.pair(SEED, latency="50us", **cable) as p:
        p.a.sysctl("net.ipv4.tcp_ecn", ecn)

        def tracer(_now: int, name: str, fields: dict[str, Any]) -> None:
            if name == "tcp_cong_state_set":
                states.append(fields["newstate"])

        p.a.net.kernel.tracers.append(tracer)
        flow = netsim.transfer(p.world, p.a, p.b, "10.0.0.2", NBYTES, seed=SEED)
        assert flow.intact and not p.world.faults
    return p, flow, states


def test_cable_ce_marks_are_echoed_and_answered_without_retransmissions() -> None:
    p, flow, states = _run(1, ce=0.01)
    marked = p.cable.ab.ce_marked
    assert marked > 10
    assert p.cable.ba.ce_marked == 0  # pure ACKs are Not-ECT: nothing to mark
    rx = p.b.net.mib.ipext
    assert rx["InCEPkts"] == marked  # every mark reached the receiver's IP layer
    assert rx["InECT0Pkts"] > 1000  # the rest of the data, ECT(0)
    assert rx["InNoECTPkts"] < 10  # the handshake, the FIN
    assert flow.sender_info.options & TCPI_OPT_ECN
    assert flow.receiver_info.options & TCPI_OPT_ECN | TCPI_OPT_ECN_SEEN
    assert flow.sender_info.delivered_ce >= marked  # each echo covers at least its segment
    assert 0 < states.count("CWR") <= marked  # at most one reduction per mark
    assert flow.counter("sender", "tcp.RetransSegs") == 0
    assert p.a.net.mib.ipext["InCEPkts"] == 0


def test_without_ecn_nothing_is_marked() -> None:
    p, flow, states = _run(0, ce=0.5)
    assert p.cable.ab.ce_marked == 0 and "CWR" not in states
    rx = p.b.net.mib.ipext
    assert rx["InCEPkts"] == rx["InECT0Pkts"] == 0 and rx["InNoECTPkts"] > 1000
    assert not flow.sender_info.options & TCPI_OPT_ECN


def test_ce_marks_cost_less_goodput_than_the_same_rate_of_loss() -> None:
    """The point of ECN (RFC 3168 §1): the window is reduced as for a loss, but there is
    nothing to repair and no recovery to sit out."""
    _p, marked, _states = _run(1, ce=0.01)
    _p, lossy, _states = _run(0, loss=0.01)
    assert marked.ns < lossy.ns
