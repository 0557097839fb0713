"""The connection state machine: RFC 9293 states, the one setter, its transition table.

Mirrors Linux's ``tcp_set_state`` (``net/ipv4/tcp.c``) and ``enum tcp_ca_state``
(``include/net/tcp.h``), with smoltcp's ``set_state`` trace.  :func:`tcp_set_state` is the
only place a socket's ``state`` changes: it checks the move against :data:`TRANSITIONS`
(an illegal one is a bug and raises), keeps ``CurrEstab`` and ``EstabResets`` as Linux does,
unhashes a socket that reaches CLOSED and fires the ``tcp_set_state`` tracepoint.

Deliberate deviation: Linux hands a connection in TIME-WAIT to a separate
``inet_timewait_sock`` and moves the socket itself to CLOSE; here the socket stays in
TIME_WAIT for the 2MSL period (RFC 9293's model), so ``ss`` and ``sk.state`` agree.
Request socks (Linux's TCP_NEW_SYN_RECV) are not sockets and have no state of their own;
children created from them pass CLOSED -> SYN_RECEIVED -> ESTABLISHED.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from stack.core.kernel import TRACEPOINTS

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


class TcpState(IntEnum):
    """RFC 9293 §3.3.2 state names; values are Linux's ``TCP_*`` numbers (``ss``, TCP_INFO)."""

    ESTABLISHED = 1
    SYN_SENT = 2
    SYN_RECEIVED = 3
    FIN_WAIT_1 = 4
    FIN_WAIT_2 = 5
    TIME_WAIT = 6
    CLOSED = 7
    CLOSE_WAIT = 8
    LAST_ACK = 9
    LISTEN = 10
    CLOSING = 11


class CaState(IntEnum):
    """Congestion-avoidance state (``icsk_ca_state``), as TCP_INFO reports it."""

    OPEN = 0
    DISORDER = 1
    CWR = 2
    RECOVERY = 3
    LOSS = 4


S = TcpState
ESTABLISHED, SYN_SENT, SYN_RECEIVED = S.ESTABLISHED, S.SYN_SENT, S.SYN_RECEIVED
FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT, CLOSED = S.FIN_WAIT_1, S.FIN_WAIT_2, S.TIME_WAIT, S.CLOSED
CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING = S.CLOSE_WAIT, S.LAST_ACK, S.LISTEN, S.CLOSING

# Every legal move (RFC 9293 figure 5 plus Linux's aborts to CLOSED from any state).
TRANSITIONS: dict[TcpState, frozenset[TcpState]] = {
    CLOSED: frozenset({LISTEN, SYN_SENT, SYN_RECEIVED}),
    LISTEN: frozenset({CLOSED}),
    SYN_SENT: frozenset({SYN_RECEIVED, ESTABLISHED, CLOSED}),
    SYN_RECEIVED: frozenset({ESTABLISHED, FIN_WAIT_1, CLOSE_WAIT, CLOSED}),
    ESTABLISHED: frozenset({FIN_WAIT_1, CLOSE_WAIT, CLOSED}),
    FIN_WAIT_1: frozenset({FIN_WAIT_2, CLOSING, CLOSED}),
    FIN_WAIT_2: frozenset({TIME_WAIT, CLOSED}),
    CLOSE_WAIT: frozenset({LAST_ACK, CLOSED}),
    CLOSING: frozenset({TIME_WAIT, CLOSED}),
    LAST_ACK: frozenset({CLOSED}),
    TIME_WAIT: frozenset({CLOSED}),
}

# ss(8)'s names (sstate_name in iproute2's misc/ss.c).
SS_NAMES = {
    ESTABLISHED: "ESTAB", SYN_SENT: "SYN-SENT", SYN_RECEIVED: "SYN-RECV",
    FIN_WAIT_1: "FIN-WAIT-1", FIN_WAIT_2: "FIN-WAIT-2", TIME_WAIT: "TIME-WAIT",
    CLOSED: "UNCONN", CLOSE_WAIT: "CLOSE-WAIT", LAST_ACK: "LAST-ACK", LISTEN: "LISTEN",
    CLOSING: "CLOSING",
}

# TCP's tracepoints (include/trace/events/tcp.h), declared in the kernel's one table.
TCP_TRACEPOINTS: dict[str, tuple[str, ...]] = {
    "tcp_set_state": ("sk", "oldstate", "newstate"),
    "tcp_retransmit_skb": ("sk", "seq", "len"),
    "tcp_send_reset": ("sk", "saddr", "daddr", "sport", "dport"),
    "tcp_receive_reset": ("sk",),
    "tcp_cong_state_set": ("sk", "oldstate", "newstate"),
    # Linux's tcp:tcp_probe, emitted by tcp_ack (stack/tcp/ack.py): windows in segments,
    # sequence numbers absolute, srtt in µs, in_flight the RFC 6675 pipe in packets.
    "tcp_probe": ("sk", "data_len", "snd_nxt", "snd_una", "snd_cwnd", "ssthresh", "snd_wnd",
                  "srtt", "rcv_wnd", "in_flight", "mss"),
}
for _name, _fields in TCP_TRACEPOINTS.items():
    TRACEPOINTS.setdefault(_name, _fields)


class IllegalTransition(RuntimeError):
    """The engine tried a state change RFC 9293 (and Linux) never make: a bug."""


def tcp_set_state(sk: TcpSock, new: TcpState) -> None:
    """Move ``sk`` to ``new``: the one setter (Linux's ``tcp_set_state``)."""
    old = sk.state
    if old == new:
        return
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"{sk!r}: {old.name} -> {new.name}")
    mib = sk.net.mib.tcp
    if new == ESTABLISHED:
        mib["CurrEstab"] += 1
    elif old == ESTABLISHED:
        mib["CurrEstab"] -= 1
    if new == CLOSED:
        if old in (ESTABLISHED, CLOSE_WAIT):
            mib["EstabResets"] += 1
        sk.table.unhash(sk)
    sk.state = new
    kernel = sk.net.kernel
    if kernel.tracers:
        kernel.trace("tcp_set_state", sk=sk, oldstate=old.name, newstate=new.name)


def tcp_set_ca_state(sk: TcpSock, new: CaState) -> None:
    """Change the congestion state, telling the congestion control (``tcp_set_ca_state``)."""
    old = sk.ca_state
    if old == new:
        return
    sk.ca.set_state(sk, new)
    sk.ca_state = new
    kernel = sk.net.kernel
    if kernel.tracers:
        kernel.trace("tcp_cong_state_set", sk=sk, oldstate=old.name, newstate=new.name)
