"""TCP_INFO and ``ss -tin``: one connection's state as Linux reports it.

Mirrors ``struct tcp_info`` (``include/uapi/linux/tcp.h``) filled by ``tcp_get_info``
(``net/ipv4/tcp.c``), with the ``tcpi_`` prefix dropped and Linux's units (times in µs
unless the name says ms, sizes in bytes, windows in segments for cwnd/ssthresh), its byte
layout (``bytes(info)``, what ``getsockopt(IPPROTO_TCP, TCP_INFO, buflen)`` returns), and
iproute2's ``ss -tin`` line (``misc/ss.c``: ``tcp_show_info``).
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from stack.tcp.chrono import chrono_stats
from stack.tcp.const import NS_PER_MS, NS_PER_US
from stack.tcp.ecn import TCP_ECN_OK, TCP_ECN_SEEN
from stack.tcp.rate import delivery_rate
from stack.tcp.state import LISTEN, SS_NAMES, TIME_WAIT, TcpState
from stack.uapi import (
    TCPI_OPT_ECN,
    TCPI_OPT_ECN_SEEN,
    TCPI_OPT_SACK,
    TCPI_OPT_SYN_DATA,
    TCPI_OPT_TIMESTAMPS,
    TCPI_OPT_WSCALE,
)
from stack.wire.ipv4 import ip_str

if TYPE_CHECKING:
    from stack.tcp.sock import TcpSock


# struct tcp_info (include/uapi/linux/tcp.h, Linux 6.7: 248 bytes) in layout order, names
# without ``tcpi_``, with the C type's struct code.  snd_wscale and rcv_wscale share one byte
# (4 bits each, ``*wscale``); ``*app`` holds delivery_rate_app_limited and
# fastopen_client_fail.
TCP_INFO_LAYOUT: tuple[tuple[str, str], ...] = (
    *((name, "B") for name in ("state", "ca_state", "retransmits", "probes", "backoff",
                               "options", "*wscale", "*app")),
    *((name, "I") for name in (
        "rto", "ato", "snd_mss", "rcv_mss", "unacked", "sacked", "lost", "retrans", "fackets",
        "last_data_sent", "last_ack_sent", "last_data_recv", "last_ack_recv", "pmtu",
        "rcv_ssthresh", "rtt", "rttvar", "snd_ssthresh", "snd_cwnd", "advmss", "reordering",
        "rcv_rtt", "rcv_space", "total_retrans")),
    *((name, "Q") for name in ("pacing_rate", "max_pacing_rate", "bytes_acked",
                               "bytes_received")),
    *((name, "I") for name in ("segs_out", "segs_in", "notsent_bytes", "min_rtt",
                               "data_segs_in", "data_segs_out")),
    *((name, "Q") for name in ("delivery_rate", "busy_time", "rwnd_limited",
                               "sndbuf_limited")),
    ("delivered", "I"), ("delivered_ce", "I"),
    ("bytes_sent", "Q"), ("bytes_retrans", "Q"),
    *((name, "I") for name in ("dsack_dups", "reord_seen", "rcv_ooopack", "snd_wnd",
                               "rcv_wnd", "rehash")),
    ("total_rto", "H"), ("total_rto_recoveries", "H"), ("total_rto_time", "I"),
)
_TCP_INFO = struct.Struct("<" + "".join(code for _, code in TCP_INFO_LAYOUT))
_WIDTH_MASK = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFF_FFFF, "Q": (1 << 64) - 1}
TCP_INFO_LEN = _TCP_INFO.size


def pack_tcp_info(info: Any) -> bytes:
    """``info`` (fields named as Linux's without ``tcpi_``) as ``struct tcp_info``'s bytes.

    Fields the object lacks are 0; values are masked to their C width.
    """
    values = []
    for name, code in TCP_INFO_LAYOUT:
        if name == "*wscale":
            value = (getattr(info, "snd_wscale", 0) & 0xF) | (
                (getattr(info, "rcv_wscale", 0) & 0xF) << 4)
        elif name == "*app":  # delivery_rate_app_limited:1, fastopen_client_fail:2
            value = (getattr(info, "delivery_rate_app_limited", 0) & 1) | (
                (getattr(info, "fastopen_client_fail", 0) & 3) << 1)
        else:
            value = int(getattr(info, name, 0) or 0)
        values.append(value & _WIDTH_MASK[code])
    return _TCP_INFO.pack(*values)


@dataclass(slots=True)
class TcpInfo:
    state: int
    ca_state: int
    retransmits: int
    probes: int
    backoff: int
    options: int
    snd_wscale: int
    rcv_wscale: int
    rto: int  # µs
    ato: int  # µs
    snd_mss: int
    rcv_mss: int
    unacked: int
    sacked: int
    lost: int
    retrans: int
    fackets: int
    last_data_sent: int  # ms ago
    last_ack_sent: int
    last_data_recv: int  # ms ago
    last_ack_recv: int  # ms ago
    pmtu: int
    rcv_ssthresh: int
    rtt: int  # µs
    rttvar: int  # µs
    snd_ssthresh: int
    snd_cwnd: int
    advmss: int
    reordering: int
    rcv_rtt: int  # µs
    rcv_space: int
    total_retrans: int
    pacing_rate: int
    max_pacing_rate: int
    bytes_acked: int
    bytes_received: int
    segs_out: int
    segs_in: int
    notsent_bytes: int
    min_rtt: int  # µs
    data_segs_in: int
    data_segs_out: int
    delivery_rate: int  # bytes per second
    busy_time: int
    rwnd_limited: int
    sndbuf_limited: int
    delivered: int
    delivered_ce: int
    bytes_sent: int
    bytes_retrans: int
    dsack_dups: int
    reord_seen: int
    rcv_ooopack: int
    snd_wnd: int
    rcv_wnd: int
    rehash: int
    total_rto: int
    fastopen_client_fail: int = 0  # TFO_* (uapi): why our SYN's data was not accepted
    delivery_rate_app_limited: int = 0  # the delivery_rate sample was app-limited

    def asdict(self) -> dict[str, Any]:
        return asdict(self)

    def __bytes__(self) -> bytes:
        return pack_tcp_info(self)


def user_state(sk: Any) -> TcpState:
    """The state a socket's owner sees: a connection that reached TIME-WAIT has left its
    socket for a timewait sock in Linux (``tcp_time_wait``), so the socket itself is CLOSE."""
    if sk.state == TIME_WAIT and not sk.closed:
        return TcpState.CLOSED
    return sk.state


def get_info(sk: TcpSock) -> TcpInfo:
    """``tcp_get_info``."""
    now = sk.net.sched.now
    opts = 0
    if sk.tstamp_ok:
        opts |= TCPI_OPT_TIMESTAMPS
    if sk.sack_ok:
        opts |= TCPI_OPT_SACK
    if sk.wscale_ok:
        opts |= TCPI_OPT_WSCALE
    if sk.fastopen.syn_data_acked:
        opts |= TCPI_OPT_SYN_DATA
    if sk.ecn_flags & TCP_ECN_OK:
        opts |= TCPI_OPT_ECN
    if sk.ecn_flags & TCP_ECN_SEEN:
        opts |= TCPI_OPT_ECN_SEEN
    listen = sk.state == LISTEN
    busy, rwnd_limited, sndbuf_limited = chrono_stats(sk)
    return TcpInfo(
        state=int(user_state(sk)), ca_state=int(sk.ca_state), retransmits=sk.retransmits,
        probes=sk.probes_out, backoff=sk.backoff, options=opts,
        snd_wscale=sk.snd_wscale if sk.wscale_ok else 0,
        rcv_wscale=sk.rcv_wscale if sk.wscale_ok else 0,
        rto=sk.rto // NS_PER_US, ato=sk.ato // NS_PER_US, snd_mss=sk.mss_cache,
        rcv_mss=sk.rcv_mss,
        unacked=len(sk.accept_queue) if listen else sk.packets_out,
        sacked=sk.max_ack_backlog if listen else sk.sacked_out,
        lost=sk.lost_out, retrans=sk.retrans_out, fackets=0,
        last_data_sent=(now - sk.lsndtime) // NS_PER_MS, last_ack_sent=0,
        last_data_recv=(now - sk.last_data_recv) // NS_PER_MS,
        last_ack_recv=(now - sk.rcv_tstamp) // NS_PER_MS,
        pmtu=sk.pmtu, rcv_ssthresh=sk.rcv_ssthresh, rtt=sk.srtt_us >> 3,
        rttvar=sk.mdev_us >> 2, snd_ssthresh=sk.ssthresh, snd_cwnd=sk.cwnd,
        advmss=sk.advmss, reordering=sk.reordering, rcv_rtt=sk.rcv_rtt_us >> 3,
        rcv_space=sk.rcvq_space, total_retrans=sk.total_retrans,
        pacing_rate=sk.sk_pacing_rate, max_pacing_rate=sk.sk_max_pacing_rate,
        bytes_acked=sk.bytes_acked, bytes_received=sk.bytes_received,
        segs_out=sk.segs_out, segs_in=sk.segs_in,
        notsent_bytes=sk.write_seq - sk.snd_nxt if sk.write_seq > sk.snd_nxt else 0,
        min_rtt=sk.min_rtt_us, data_segs_in=sk.data_segs_in, data_segs_out=sk.data_segs_out,
        delivery_rate=delivery_rate(sk), busy_time=busy, rwnd_limited=rwnd_limited,
        sndbuf_limited=sndbuf_limited,
        delivery_rate_app_limited=int(sk.rate_app_limited),
        delivered=sk.delivered, delivered_ce=sk.delivered_ce, bytes_sent=sk.bytes_sent,
        bytes_retrans=sk.bytes_retrans, dsack_dups=sk.dsack_dups,
        reord_seen=sk.reord_seen, rcv_ooopack=sk.rcv_ooopack, snd_wnd=sk.snd_wnd,
        rcv_wnd=sk.rcv_wnd, rehash=0, total_rto=0, fastopen_client_fail=sk.fastopen.client_fail)


def _rate(bps: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.1f}{unit}bps"
    return f"{bps:.0f}bps"


def _ms(us: int) -> str:
    return f"{us / 1000:g}"


def ss_line(sk: TcpSock) -> str:
    """Two lines as ``ss -tin`` prints one socket."""
    if sk.state == LISTEN:
        recvq, sendq = len(sk.accept_queue), sk.max_ack_backlog
        peer = "0.0.0.0:*"
    else:
        recvq = sum(len(c) for c in sk.receive_queue)
        sendq = sk.write_seq - sk.snd_una if sk.write_seq > sk.snd_una else 0
        peer = f"{ip_str(sk.raddr)}:{sk.rport}"
    head = (f"{SS_NAMES[sk.state]:<10} {recvq:<6} {sendq:<6} "
            f"{ip_str(sk.laddr)}:{sk.lport:<15} {peer}")
    i = get_info(sk)
    parts = []
    if i.options & TCPI_OPT_TIMESTAMPS:
        parts.append("ts")
    if i.options & TCPI_OPT_SACK:
        parts.append("sack")
    parts.append(sk.ca.name)
    if i.options & TCPI_OPT_WSCALE:
        parts.append(f"wscale:{i.snd_wscale},{i.rcv_wscale}")
    parts.append(f"rto:{_ms(i.rto)}")
    if i.backoff:
        parts.append(f"backoff:{i.backoff}")
    if i.rtt:
        parts.append(f"rtt:{_ms(i.rtt)}/{_ms(i.rttvar)}")
    if i.ato:
        parts.append(f"ato:{_ms(i.ato)}")
    parts.append(f"mss:{i.snd_mss} pmtu:{i.pmtu} rcvmss:{i.rcv_mss} advmss:{i.advmss}")
    parts.append(f"cwnd:{i.snd_cwnd}")
    if i.snd_ssthresh < 0xFFFF:
        parts.append(f"ssthresh:{i.snd_ssthresh}")
    parts.append(f"bytes_sent:{i.bytes_sent}")
    if i.bytes_retrans:
        parts.append(f"bytes_retrans:{i.bytes_retrans}")
    parts.append(f"bytes_acked:{i.bytes_acked} bytes_received:{i.bytes_received} "
                 f"segs_out:{i.segs_out} segs_in:{i.segs_in}")
    if i.data_segs_out:
        parts.append(f"data_segs_out:{i.data_segs_out}")
    if i.data_segs_in:
        parts.append(f"data_segs_in:{i.data_segs_in}")
    bbr = sk.ca.get_info(sk)  # INET_DIAG_BBRINFO, as ss prints it
    if bbr:
        bw = bbr["bbr_bw_hi"] << 32 | bbr["bbr_bw_lo"]
        parts.append(f"bbr:(bw:{_rate(bw * 8)},mrtt:{bbr['bbr_min_rtt'] / 1000:g},"
                     f"pacing_gain:{bbr['bbr_pacing_gain'] / 256:g},"
                     f"cwnd_gain:{bbr['bbr_cwnd_gain'] / 256:g})")
    if i.rtt:
        parts.append(f"send {_rate(i.snd_cwnd * i.snd_mss * 8 * 1e6 / i.rtt)}")
    parts.append(f"lastsnd:{i.last_data_sent} lastrcv:{i.last_data_recv} "
                 f"lastack:{i.last_ack_recv}")
    if i.delivery_rate:
        parts.append(f"delivery_rate {_rate(i.delivery_rate * 8)}")
    if i.delivery_rate_app_limited:
        parts.append("app_limited")
    if i.busy_time:
        busy = f"busy:{i.busy_time // 1000}ms"
        if i.rwnd_limited:
            busy += f" rwnd_limited:{i.rwnd_limited // 1000}ms" \
                    f"({i.rwnd_limited * 100 / i.busy_time:.1f}%)"
        if i.sndbuf_limited:
            busy += f" sndbuf_limited:{i.sndbuf_limited // 1000}ms" \
                    f"({i.sndbuf_limited * 100 / i.busy_time:.1f}%)"
        parts.append(busy)
    parts.append(f"delivered:{i.delivered}")
    if i.unacked:
        parts.append(f"unacked:{i.unacked}")
    if i.retrans or i.total_retrans:
        parts.append(f"retrans:{i.retrans}/{i.total_retrans}")
    if i.lost:
        parts.append(f"lost:{i.lost}")
    if i.sacked and sk.state != LISTEN:
        parts.append(f"sacked:{i.sacked}")
    if i.reordering != 3:
        parts.append(f"reordering:{i.reordering}")
    if i.rcv_rtt:
        parts.append(f"rcv_rtt:{_ms(i.rcv_rtt)}")
    parts.append(f"rcv_space:{i.rcv_space} rcv_ssthresh:{i.rcv_ssthresh}")
    if i.min_rtt:
        parts.append(f"minrtt:{_ms(i.min_rtt)}")
    parts.append(f"snd_wnd:{i.snd_wnd} rcv_wnd:{i.rcv_wnd}")
    return head + "\n\t " + " ".join(parts)
