"""Pluggable congestion control: the ``tcp_congestion_ops`` interface and its registry.

Mirrors Linux's ``include/net/tcp.h`` (``struct tcp_congestion_ops``, ``CA_EVENT_*``) and
``net/ipv4/tcp_cong.c`` (registration, ``tcp_slow_start``, ``tcp_cong_avoid_ai``), in the shape
of smoltcp's ``congestion/``.  An algorithm is a :class:`CongestionOps` subclass registered
under its name; every socket gets its *own instance*, whose attributes are the private state
Linux keeps in ``inet_csk_ca(sk)``.  The engine owns ``cwnd``/``ssthresh`` on the socket;
the ops read and write them there.

Contract: ``ssthresh(sk)`` and ``undo_cwnd(sk)`` are required; ``cong_avoid(sk, ack, acked)``
is called with the number of newly delivered segments when the socket is not reducing its
window; ``pkts_acked(sk, acked, rtt_us)`` sees every ACK with its RTT sample (-1 if none);
``set_state`` sees every ``ca_state`` change and ``cwnd_event`` the ``CA_EVENT_*`` events.
An algorithm that sets ``has_cong_control`` (BBR) gets every ACK's rate sample in
``cong_control(sk, ack, flag, rs)`` instead, and owns cwnd and ``sk_pacing_rate``: the engine
then skips PRR, ``cong_avoid``, ``tcp_update_pacing_rate`` and the cwnd reset at the end of a
reduction, as Linux's ``tcp_cong_control`` and ``tcp_end_cwnd_reduction`` do.
``sndbuf_expand`` is the multiple of cwnd ``tcp_sndbuf_expand`` provisions (2 by default).
The default is ``net.sysctl.tcp_congestion_control`` (``cubic``, as in Linux).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from stack.sock import oserror
from stack.sysctl import READ_ONLY

if TYPE_CHECKING:
    from stack.tcp.rate import RateSample
    from stack.tcp.sock import TcpSock

CA_EVENT_TX_START = 0  # first transmit when no packets in flight
CA_EVENT_CWND_RESTART = 1
CA_EVENT_COMPLETE_CWR = 2
CA_EVENT_LOSS = 3  # loss timeout
CA_EVENT_ECN_NO_CE = 4
CA_EVENT_ECN_IS_CE = 5

CONGESTION_OPS: dict[str, type[CongestionOps]] = {}


class CongestionOps:
    """One congestion control algorithm; subclass, name it, and :func:`register` it."""

    name = ""
    has_cong_control = False  # ca_ops->cong_control is set

    def init(self, sk: TcpSock) -> None:
        """Called when the connection starts using this algorithm."""

    def release(self, sk: TcpSock) -> None:
        """Called when the socket switches away from it or closes."""

    def ssthresh(self, sk: TcpSock) -> int:
        """The slow-start threshold after a loss (required)."""
        raise NotImplementedError

    def cong_avoid(self, sk: TcpSock, ack: int, acked: int) -> None:
        """Grow cwnd for ``acked`` newly delivered segments (``ack`` is the new snd_una)."""
        reno_cong_avoid(sk, acked)

    def set_state(self, sk: TcpSock, new_state: int) -> None:
        """A ``ca_state`` change (``TCP_CA_*``)."""

    def cwnd_event(self, sk: TcpSock, event: int) -> None:
        """A ``CA_EVENT_*``."""

    def pkts_acked(self, sk: TcpSock, acked: int, rtt_us: int) -> None:
        """Every ACK that acknowledged something, with its RTT sample (-1: none)."""

    def undo_cwnd(self, sk: TcpSock) -> int:
        """cwnd to restore when a reduction proves spurious (required)."""
        raise NotImplementedError

    def cong_control(self, sk: TcpSock, ack: int, flag: int, rs: RateSample) -> None:
        """Set cwnd and pacing from the ACK's rate sample (only with ``has_cong_control``)."""
        raise NotImplementedError

    def sndbuf_expand(self, sk: TcpSock) -> int:
        """How many cwnds of send buffer to provision (``tcp_sndbuf_expand``)."""
        return 2

    def min_tso_segs(self, sk: TcpSock) -> int:
        """The smallest TSO burst (``tcp_tso_segs``); 0: ``tcp_min_tso_segs``."""
        return 0

    def get_info(self, sk: TcpSock) -> dict[str, int]:
        """The algorithm's ``tcp_cc_info`` for ``ss -i``/INET_DIAG (``get_info``); {}: none."""
        return {}


def register(cls: type[CongestionOps]) -> type[CongestionOps]:
    """Class decorator: make an algorithm available by name.

    Linux's ``tcp_register_congestion_control``.
    """
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    CONGESTION_OPS[cls.name] = cls
    return cls


def find(name: str) -> type[CongestionOps]:
    """The algorithm called ``name``, or ``ENOENT`` as ``setsockopt(TCP_CONGESTION)`` gives."""
    try:
        return CONGESTION_OPS[name]
    except KeyError:
        raise oserror(errno.ENOENT, f"no congestion control {name!r}") from None


def available() -> list[str]:
    """The registered algorithms, in registration order as Linux lists them."""
    return list(CONGESTION_OPS)


READ_ONLY["net.ipv4.tcp_available_congestion_control"] = lambda: " ".join(available())


# -- helpers every algorithm uses (net/ipv4/tcp_cong.c) -------------------------------------------
def in_slow_start(sk: TcpSock) -> bool:
    return sk.cwnd < sk.ssthresh


def is_cwnd_limited(sk: TcpSock) -> bool:
    """Was the last flight limited by cwnd (not by the application, the peer's window or
    TCP Small Queues)?  (``tcp_is_cwnd_limited`` as of Linux 6.0: the flag first; in slow
    start cwnd may also grow to twice the largest flight of the current window)"""
    if sk.is_cwnd_limited:
        return True
    if sk.cwnd < sk.ssthresh:
        return sk.cwnd < 2 * sk.max_packets_out
    return False


def slow_start(sk: TcpSock, acked: int) -> int:
    """Grow cwnd by ``acked`` up to ssthresh; return the acks left over (``tcp_slow_start``)."""
    cwnd = min(sk.cwnd + acked, sk.ssthresh)
    acked -= cwnd - sk.cwnd
    sk.cwnd = min(cwnd, sk.cwnd_clamp)
    return acked


def cong_avoid_ai(sk: TcpSock, w: int, acked: int) -> None:
    """Additive increase: +1 segment per ``w`` acked (``tcp_cong_avoid_ai``)."""
    w = max(w, 1)
    if sk.cwnd_cnt >= w:
        sk.cwnd_cnt = 0
        sk.cwnd += 1
    sk.cwnd_cnt += acked
    if sk.cwnd_cnt >= w:
        delta = sk.cwnd_cnt // w
        sk.cwnd_cnt -= delta * w
        sk.cwnd += delta
    sk.cwnd = min(sk.cwnd, sk.cwnd_clamp)


def reno_cong_avoid(sk: TcpSock, acked: int) -> None:
    """RFC 5681: slow start below ssthresh, then one segment per RTT (``tcp_reno_cong_avoid``)."""
    if not is_cwnd_limited(sk):
        return
    if sk.cwnd < sk.ssthresh:
        acked = slow_start(sk, acked)
        if not acked:
            return
    cong_avoid_ai(sk, sk.cwnd, acked)


def reno_ssthresh(sk: TcpSock) -> int:
    """RFC 5681 (4): half the window, at least 2 (``tcp_reno_ssthresh``)."""
    return max(sk.cwnd >> 1, 2)


def reno_undo_cwnd(sk: TcpSock) -> int:
    return max(sk.cwnd, sk.prior_cwnd)
