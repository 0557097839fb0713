"""SYN cookies: a listener whose SYN queue overflowed answers without keeping state.

Mirrors Linux's ``net/ipv4/syncookies.c`` (``secure_tcp_syn_cookie``,
``check_tcp_syn_cookie``, ``__cookie_v4_init_sequence``, ``cookie_init_timestamp``,
``cookie_timestamp_decode``, ``cookie_v4_check``) and the overflow bookkeeping of
``include/net/tcp.h`` (``tcp_synq_overflow``, ``tcp_synq_no_recent_overflow``,
``tcp_cookie_time``) and ``tcp_input.c`` (``tcp_syn_flood_action``).

Contract: ``net.ipv4.tcp_syncookies`` is 0 (never), 1 (when the SYN queue is full, the
default) or 2 (always).  :func:`syn_flood_action` decides for a SYN that found the queue full
(or mode 2) and logs Linux's "Possible SYN flooding" line once per listener (not in mode 2);
:func:`init_sequence` makes the ISN of a cookie SYN-ACK: the peer's ISN plus a keyed hash of
the 4-tuple, the minute counter in the top 8 bits and the index of the peer's MSS in
:data:`MSSTAB` hidden in the low 24.  When the SYN carried timestamps, the SYN-ACK's TSval
(:func:`init_timestamp`) keeps the peer's window scale, SACK-permitted and ECN in its low 6
bits, so the ACK's TSecr brings them back.  :func:`cookie_v4_check` validates the ACK that
comes back to the listener (cookies less than two minutes old, and only within two minutes of
the last overflow), counts ``SyncookiesRecv``/``SyncookiesFailed``, and rebuilds the request
from the cookie: the child gets the decoded MSS, window scale and SACK; the options of the
original SYN that were not encoded are lost, as in Linux.

Deviations: Linux hashes with SipHash-2-4 over the addresses, the ports and the counter;
ixsim keeps that structure with keyed BLAKE2b (``hashlib``), two 128-bit secrets per
namespace drawn from the world's seeded RNG at first use (``net_get_random_once``), so a run
is deterministic.  The minute counter is ``now // 60 s`` of the world's clock (Linux counts
jiffies from boot).  The ECN bit of the timestamp is written and read back when the request
asked for ECN (``ecn_ok``); no ECN negotiation exists yet, so it stays 0.

Spec: RFC 4987 §3.6 (SYN cookies); RFC 7323 §5 (the TSval the cookie rides in).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from stack.tcp.const import NS_PER_MS, NS_PER_S
from stack.tcp.seq import SEQ_MASK
from stack.wire.ipv4 import ip_str
from stack.wire.tcp import ACK, RST

if TYPE_CHECKING:
    from stack.tcp.hashtables import TcpTable
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock

COOKIEBITS = 24  # the counter lives in the top 8 bits
COOKIEMASK = (1 << COOKIEBITS) - 1
# The MSS values a cookie can carry: the peer's MSS is rounded down to one of them.
MSSTAB = (536, 1300, 1440, 1460)
TCP_SYNCOOKIE_PERIOD = 60 * NS_PER_S  # the counter ticks once a minute
MAX_SYNCOOKIE_AGE = 2  # a cookie is good for this many ticks
TCP_SYNCOOKIE_VALID = MAX_SYNCOOKIE_AGE * TCP_SYNCOOKIE_PERIOD
# Options in the low bits of a cookie SYN-ACK's TSval.
TS_OPT_WSCALE_MASK = 0xF  # 0xF: the SYN had no window scale
TS_OPT_SACK = 1 << 4
TS_OPT_ECN = 1 << 5
TSBITS = 6


# -- the cookie ----------------------------------------------------------------------------------
def _secret(table: TcpTable) -> tuple[bytes, bytes]:
    """The namespace's two cookie secrets, drawn on first use (``net_get_random_once``)."""
    if table.syncookie_secret is None:
        rng = table.net.sched.rng
        table.syncookie_secret = (
            rng.getrandbits(128).to_bytes(16, "big"),
            rng.getrandbits(128).to_bytes(16, "big"),
        )
    return table.syncookie_secret


def cookie_hash(
    table: TcpTable, saddr: bytes, daddr: bytes, sport: int, dport: int, count: int, c: int
) -> int:
    """32 bits of the keyed hash of the 4-tuple and ``count`` under secret ``c``."""
    msg = (
        saddr
        + daddr
        + ((sport << 16) | dport).to_bytes(4, "big")
        + (count & SEQ_MASK).to_bytes(4, "big")
    )
    return int.from_bytes(
        hashlib.blake2b(msg, key=_secret(table)[c], digest_size=4).digest(), "big"
    )


def cookie_time(now: int) -> int:
    """The minute counter (``tcp_cookie_time``)."""
    return now // TCP_SYNCOOKIE_PERIOD


def secure_syn_cookie(
    table: TcpTable, saddr: bytes, daddr: bytes, sport: int, dport: int, sseq: int, data: int
) -> int:
    """hash(0) + their ISN + count << 24 + (hash(count) + data) mod 2^24."""
    count = cookie_time(table.net.sched.now)
    return (
        cookie_hash(table, saddr, daddr, sport, dport, 0, 0)
        + sseq
        + (count << COOKIEBITS)
        + ((cookie_hash(table, saddr, daddr, sport, dport, count, 1) + data) & COOKIEMASK)
    ) & SEQ_MASK


def check_syn_cookie(
    table: TcpTable, cookie: int, saddr: bytes, daddr: bytes, sport: int, dport: int, sseq: int
) -> int:
    """The ``data`` of a cookie, or a value out of MSSTAB's range if it is forged or stale."""
    count = cookie_time(table.net.sched.now)
    cookie = (cookie - cookie_hash(table, saddr, daddr, sport, dport, 0, 0) - sseq) & SEQ_MASK
    diff = (count - (cookie >> COOKIEBITS)) & (SEQ_MASK >> COOKIEBITS)
    if diff >= MAX_SYNCOOKIE_AGE:
        return SEQ_MASK
    return (cookie - cookie_hash(table, saddr, daddr, sport, dport, count - diff, 1)) & COOKIEMASK


def init_sequence(listener: TcpSock, rx: RxSeg, mss: int) -> tuple[int, int]:
    """(ISN, MSS as the cookie keeps it) for a cookie SYN-ACK (``cookie_init_sequence``:
    ``tcp_synq_overflow``, ``SyncookiesSent``, ``__cookie_v4_init_sequence``)."""
    synq_overflow(listener)
    listener.net.mib.tcpext["SyncookiesSent"] += 1
    mssind = len(MSSTAB) - 1
    while mssind and mss < MSSTAB[mssind]:
        mssind -= 1
    th = rx.th
    isn = secure_syn_cookie(
        listener.table, rx.saddr, rx.daddr, th.src_port, th.dst_port, th.seq, mssind
    )
    return isn, MSSTAB[mssind]


def init_timestamp(wscale_ok: bool, snd_wscale: int, sack_ok: bool, ecn_ok: bool, now: int) -> int:
    """The millisecond clock with the peer's options in its low 6 bits, never ahead of the
    clock (``cookie_init_timestamp``); the caller adds the connection's TS offset."""
    ts_now = now // NS_PER_MS
    options = snd_wscale if wscale_ok else TS_OPT_WSCALE_MASK
    if sack_ok:
        options |= TS_OPT_SACK
    if ecn_ok:
        options |= TS_OPT_ECN
    ts = ((ts_now >> TSBITS) << TSBITS) | options
    if ts > ts_now:
        ts -= 1 << TSBITS
    return ts & SEQ_MASK


# -- the SYN queue overflow ----------------------------------------------------------------------
def synq_overflow(listener: TcpSock) -> None:
    """Remember when cookies were last sent (``tcp_synq_overflow``: a listener's
    ``ts_recent_stamp`` is that time, as in Linux)."""
    listener.ts_recent_stamp = listener.net.sched.now or 1


def synq_no_recent_overflow(listener: TcpSock) -> bool:
    """No cookie sent in the last two minutes: an ACK to the listener cannot carry one."""
    stamp = listener.ts_recent_stamp
    return not stamp or listener.net.sched.now > stamp + TCP_SYNCOOKIE_VALID


def syn_flood_action(listener: TcpSock) -> bool:
    """A SYN found the SYN queue full (or tcp_syncookies is 2): cookie or drop, counted, and
    the kernel log line once per listener (``tcp_syn_flood_action``)."""
    net = listener.net
    syncookies = net.sysctl.tcp_syncookies
    if syncookies:
        msg = "Sending cookies"
        net.mib.tcpext["TCPReqQFullDoCookies"] += 1
    else:
        msg = "Dropping request"
        net.mib.tcpext["TCPReqQFullDrop"] += 1
    if not listener.synflood_warned and syncookies != 2:
        listener.synflood_warned = True
        net.kernel.log(
            "info",
            f"TCP: request_sock_TCP: Possible SYN flooding on port "
            f"{ip_str(listener.laddr)}:{listener.lport}. {msg}.",
        )
    return bool(syncookies)


# -- the ACK that brings a cookie back -----------------------------------------------------------
def timestamp_decode(sysctl, rx: RxSeg, tsecr: int) -> tuple[bool, bool, int] | None:
    """(wscale_ok, sack_ok, snd_wscale) from the echoed TSval, or None when it names an
    option this host has since turned off (``cookie_timestamp_decode``)."""
    if rx.th.timestamp is None:
        return False, False, 0
    if not sysctl.tcp_timestamps:
        return None
    sack_ok = bool(tsecr & TS_OPT_SACK)
    if sack_ok and not sysctl.tcp_sack:
        return None
    wscale = tsecr & TS_OPT_WSCALE_MASK
    if wscale == TS_OPT_WSCALE_MASK:
        return False, sack_ok, 0
    if not sysctl.tcp_window_scaling:
        return None
    return True, sack_ok, wscale


def cookie_check(listener: TcpSock, rx: RxSeg) -> tuple[int, int, int] | None:
    """(MSS, ISN, TS offset) when ``rx`` is an ACK carrying a valid cookie, else None with
    the counters Linux bumps (``cookie_v4_check`` up to the request it rebuilds)."""
    net = listener.net
    th = rx.th
    if not net.sysctl.tcp_syncookies or not th.flags & ACK or th.flags & RST:
        return None
    if synq_no_recent_overflow(listener):
        return None
    cookie = (th.ack - 1) & SEQ_MASK
    mssind = check_syn_cookie(
        listener.table,
        cookie,
        rx.saddr,
        rx.daddr,
        th.src_port,
        th.dst_port,
        (th.seq - 1) & SEQ_MASK,
    )
    if mssind >= len(MSSTAB):
        net.mib.tcpext["SyncookiesFailed"] += 1
        return None
    net.mib.tcpext["SyncookiesRecv"] += 1
    tsoff = 0
    if th.timestamp is not None and th.timestamp[1]:
        tsoff = listener.table.ts_offset(rx.daddr, rx.saddr)
    return MSSTAB[mssind], cookie, tsoff
