"""NewReno congestion control: RFC 5681 slow start and congestion avoidance.

Mirrors Linux's ``tcp_reno`` ops in ``net/ipv4/tcp_cong.c`` (always built in, the fallback).
Loss recovery itself (fast retransmit, NewReno partial ACKs) is the engine's, in recovery.py.

Spec: RFC 5681 §3.1; RFC 6582 (NewReno).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.tcp.cong import CongestionOps, register, reno_cong_avoid, reno_ssthresh, reno_undo_cwnd

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


@register
class Reno(CongestionOps):
    name = "reno"

    def ssthresh(self, sk: TcpSock) -> int:
        return reno_ssthresh(sk)

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        reno_cong_avoid(sk, acked)

    def undo_cwnd(self, sk: TcpSock) -> int:
        return reno_undo_cwnd(sk)
