"""Send-side chronographs: how long a connection was busy, and what limited it.

Mirrors Linux 6.x's ``tcp_chrono_start``/``tcp_chrono_stop`` (``net/ipv4/tcp_output.c``)
and ``tcp_get_info_chrono_stats`` (``net/ipv4/tcp.c``).  One chronograph runs at a time, the
most interesting condition winning (``TCP_CHRONO_SNDBUF_LIMITED`` > ``RWND_LIMITED`` >
``BUSY``); the time it ran is added to its stat when another starts.  TCP_INFO reports
``busy_time`` (all three), ``rwnd_limited`` and ``sndbuf_limited`` in µs.

Who starts and stops them, as in Linux: BUSY when data is queued on an empty write queue
(``tcp_add_write_queue_tail``); RWND_LIMITED from ``tcp_write_xmit`` while the peer's window
stops it; SNDBUF_LIMITED from ``tcp_cwnd_validate`` when a flight that was not cwnd-limited
emptied the write queue while the writer waits for buffer space (SOCK_NOSPACE), stopped by
``tcp_check_space``; BUSY stops when the retransmit queue empties (``tcp_clean_rtx_queue``).
Linux counts in jiffies and converts with ``USEC_PER_SEC / HZ``; ixsim's jiffies are ms
(``stack.core.units.HZ``), so the stats read in whole milliseconds as on a HZ=1000 kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stack.core.units import HZ, NS_PER_S

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock

TCP_CHRONO_UNSPEC = 0
TCP_CHRONO_BUSY = 1  # active data sending
TCP_CHRONO_RWND_LIMITED = 2  # stalled by insufficient receive window
TCP_CHRONO_SNDBUF_LIMITED = 3  # stalled by insufficient send buffer
TCP_CHRONO_MAX = 4
NS_PER_JIFFY = NS_PER_S // HZ
USEC_PER_JIFFY = 1_000_000 // HZ


def _jiffies(sk: TcpSock) -> int:
    return sk.net.sched.now // NS_PER_JIFFY


def chrono_set(sk: TcpSock, new: int) -> None:
    """``tcp_chrono_set``: bank the running chronograph's time, start ``new``."""
    now = sk.net.sched.now // NS_PER_JIFFY  # _jiffies, inlined: twice per transaction
    old = sk.chrono_type
    if old > TCP_CHRONO_UNSPEC:
        sk.chrono_stat[old - 1] += now - sk.chrono_start
    sk.chrono_start = now
    sk.chrono_type = new


def chrono_start(sk: TcpSock, kind: int) -> None:
    """``tcp_chrono_start``: a more interesting condition takes over."""
    if kind > sk.chrono_type:
        chrono_set(sk, kind)


def chrono_stop(sk: TcpSock, kind: int) -> None:
    """``tcp_chrono_stop``: idle when nothing is queued, else back to BUSY if ``kind`` ran."""
    if not sk.rtx and not sk.write_queue:
        chrono_set(sk, TCP_CHRONO_UNSPEC)
    elif kind == sk.chrono_type:
        chrono_set(sk, TCP_CHRONO_BUSY)


def chrono_stats(sk: TcpSock) -> tuple[int, int, int]:
    """``tcp_get_info_chrono_stats``: (busy_time, rwnd_limited, sndbuf_limited) in µs."""
    stats = [0] * TCP_CHRONO_MAX
    now = _jiffies(sk)
    for kind in range(TCP_CHRONO_BUSY, TCP_CHRONO_MAX):
        value = sk.chrono_stat[kind - 1]
        if kind == sk.chrono_type:
            value += now - sk.chrono_start
        stats[kind] = value * USEC_PER_JIFFY
    return sum(stats), stats[TCP_CHRONO_RWND_LIMITED], stats[TCP_CHRONO_SNDBUF_LIMITED]
