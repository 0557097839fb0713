"""TCP Fast Open (RFC 7413): data in the SYN, a cookie proving the client's address.

Mirrors Linux's ``net/ipv4/tcp_fastopen.c`` (``tcp_try_fastopen``,
``tcp_fastopen_cookie_gen``, ``tcp_fastopen_create_child``, ``tcp_fastopen_add_skb``,
``tcp_fastopen_cookie_check``, ``tcp_fastopen_defer_connect``, ``tcp_fastopen_queue_check``),
the client halves of ``tcp_output.c`` (``tcp_send_syn_data``) and ``tcp_input.c``
(``tcp_rcv_fastopen_synack``), and the cookie cache of ``tcp_metrics.c``
(``tcp_fastopen_cache_get``/``_set``).

Contract: ``net.ipv4.tcp_fastopen`` is a bit mask (:data:`TFO_CLIENT_ENABLE` 0x1, the
default; :data:`TFO_SERVER_ENABLE` 0x2; :data:`TFO_CLIENT_NO_COOKIE` 0x4;
:data:`TFO_SERVER_COOKIE_NOT_REQD` 0x200; :data:`TFO_SERVER_WO_SOCKOPT1` 0x400, Fast Open on
every listener with its backlog as the queue length).  A server enables it per listener with
``TCP_FASTOPEN`` (the number of pending Fast Open children allowed).  A client asks for a
cookie with an empty option (kind 34) in its SYN; the server answers with an 8-byte cookie, a
keyed hash of the two addresses; the client keeps it per destination (with the server's MSS)
and, on a later ``sendto(MSG_FASTOPEN)`` or first send after a ``TCP_FASTOPEN_CONNECT``
connect, puts up to one MSS less the 40 bytes of option room of data in the SYN.  A valid
cookie makes the server create the child at once: the data is readable at ``accept()`` and
the SYN-ACK acknowledges it; the child may send before the handshake completes.  A SYN-ACK
that acknowledges only the SYN makes the client retransmit the data (``TCPFastOpenActiveFail``,
``tcpi_fastopen_client_fail``).

Deviations: the cookie is keyed BLAKE2b of the addresses (Linux: SipHash), the key drawn from
the world's seeded RNG when first needed (``TCP_FASTOPEN_KEY`` and the
``tcp_fastopen_key`` sysctl are not modelled); only the RFC 7413 option is sent and
recognised, not the pre-RFC experimental option (kind 254, magic 0xF989); the active-side
blackhole detection is not modelled (its sysctl, ``tcp_fastopen_blackhole_timeout_sec``, is
0 by default on Linux 6.x); the cookie cache keeps only the Fast Open fields of a
``tcp_metrics`` entry.  A blocking ``sendto(MSG_FASTOPEN)`` returns once the SYN is out with
the bytes it carried, where Linux waits for the handshake and queues the rest too.

Spec: RFC 7413 §4 (cookie, client and server), §4.1.1 (option format).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from stack.core.skbuff import SKB_TRUESIZE_OVERHEAD
from stack.tcp import output, transmit
from stack.tcp import window as win
from stack.tcp.cb import TxSeg
from stack.tcp.recovery import current_ssthresh, mark_skb_lost
from stack.tcp.state import CaState, tcp_set_ca_state
from stack.uapi import TFO_COOKIE_UNAVAILABLE, TFO_DATA_NOT_ACKED, TFO_SYN_RETRANSMITTED
from stack.wire.tcp import ACK, MAX_TCP_OPTION_SPACE, PSH

if TYPE_CHECKING:
    from stack.tcp.hashtables import TcpTable
    from stack.tcp.rcv import RxSeg
    from stack.tcp.sock import TcpSock

# net.ipv4.tcp_fastopen bits (include/net/tcp.h)
TFO_CLIENT_ENABLE = 0x1
TFO_SERVER_ENABLE = 0x2
TFO_CLIENT_NO_COOKIE = 0x4
TFO_SERVER_COOKIE_NOT_REQD = 0x200
TFO_SERVER_WO_SOCKOPT1 = 0x400
TCP_FASTOPEN_COOKIE_MIN = 4
TCP_FASTOPEN_COOKIE_MAX = 16
TCP_FASTOPEN_COOKIE_SIZE = 8


class FastOpenRequest:
    """A client's Fast Open in progress (``struct tcp_fastopen_request``): the cookie to send
    (None: no option; ``b""``: a cookie request), the data for the SYN, what it took."""

    __slots__ = ("cookie", "data", "copied")

    def __init__(self, cookie: bytes | None = b"", data: memoryview | None = None) -> None:
        self.cookie = cookie
        self.data = data
        self.copied = 0


class FastOpenSock:
    """A socket's Fast Open fields (``tcp_sock``'s ``fastopen_*``/``syn_*`` bits and the
    listener's ``fastopenq``)."""

    __slots__ = (
        "connect",
        "no_cookie",
        "max_qlen",
        "qlen",
        "req",
        "rsk",
        "defer_connect",
        "syn_fastopen",
        "syn_data",
        "syn_data_acked",
        "client_fail",
    )

    def __init__(self) -> None:
        self.connect = False  # TCP_FASTOPEN_CONNECT
        self.no_cookie = False  # TCP_FASTOPEN_NO_COOKIE
        self.max_qlen = 0  # TCP_FASTOPEN on a listener
        self.qlen = 0  # Fast Open children not yet past SYN-RECEIVED
        self.req: FastOpenRequest | None = None  # client: tp->fastopen_req
        self.rsk: Any = None  # server child: its request sock (tp->fastopen_rsk)
        self.defer_connect = False  # inet->defer_connect: connect() waits for the first send
        self.syn_fastopen = False  # our SYN carried the option
        self.syn_data = False  # our SYN carried data
        self.syn_data_acked = False  # data in a SYN (ours or the peer's) was acknowledged
        self.client_fail = 0  # tcpi_fastopen_client_fail


class FastOpenMetrics:
    """The Fast Open part of a ``tcp_metrics`` entry for a destination."""

    __slots__ = ("mss", "cookie", "syn_loss", "last_syn_loss")

    def __init__(self) -> None:
        self.mss = 0
        self.cookie = b""
        self.syn_loss = 0
        self.last_syn_loss = 0


# -- cookies -------------------------------------------------------------------------------------
def cookie_gen(table: TcpTable, saddr: bytes, daddr: bytes) -> bytes:
    """The 8-byte cookie for a client address (``__tcp_fastopen_cookie_gen_cipher``)."""
    if table.fastopen_key is None:  # tcp_fastopen_init_key_once
        table.fastopen_key = table.net.sched.rng.getrandbits(128).to_bytes(16, "big")
    return hashlib.blake2b(
        saddr + daddr, key=table.fastopen_key, digest_size=TCP_FASTOPEN_COOKIE_SIZE
    ).digest()


def parse_cookie(body: bytes | None) -> bytes | None:
    """The option's cookie as ``tcp_parse_fastopen_option`` keeps it: ``b""`` a request,
    None when absent or of an invalid length (odd, or outside 4..16 bytes)."""
    if body is None:
        return None
    n = len(body)
    if n and (n & 1 or not TCP_FASTOPEN_COOKIE_MIN <= n <= TCP_FASTOPEN_COOKIE_MAX):
        return None
    return body


def no_cookie(sk: TcpSock, flag: int) -> bool:
    """``tcp_fastopen_no_cookie``: the sysctl bit or TCP_FASTOPEN_NO_COOKIE."""
    return bool(sk.net.sysctl.tcp_fastopen & flag) or sk.fastopen.no_cookie


# -- server --------------------------------------------------------------------------------------
def try_fastopen(listener: TcpSock, rx: RxSeg, foc: bytes | None) -> tuple[bool, bytes | None]:
    """(make the child now, the cookie for the SYN-ACK) for a SYN (``tcp_try_fastopen`` up
    to ``tcp_fastopen_create_child``, which the caller runs).  Counts CookieReqd and a bad
    cookie's PassiveFail."""
    net = listener.net
    mib = net.mib.tcpext
    syn_data = bool(rx.payload)
    if foc == b"":
        mib["TCPFastOpenCookieReqd"] += 1
    fo = listener.fastopen
    if not (
        net.sysctl.tcp_fastopen & TFO_SERVER_ENABLE
        and (syn_data or foc is not None)
        and fo.max_qlen
    ):
        return False, None
    if fo.qlen >= fo.max_qlen:  # tcp_fastopen_queue_check (no RST-ed requests to reuse)
        mib["TCPFastOpenListenOverflow"] += 1
        return False, None
    if syn_data and no_cookie(listener, TFO_SERVER_COOKIE_NOT_REQD):
        return True, None
    if foc is None:
        return False, None
    valid = cookie_gen(listener.table, rx.saddr, rx.daddr)
    if not foc:
        return False, valid
    if foc == valid:
        return True, None
    mib["TCPFastOpenPassiveFail"] += 1
    return False, valid


def add_syn_data(child: TcpSock, rx: RxSeg) -> None:
    """The SYN's data straight into the child's receive queue (``tcp_fastopen_add_skb``)."""
    child.rcv_nxt = rx.seq + 1
    data = rx.payload
    if data:
        child.receive_queue.append(memoryview(bytes(data)))
        child.rmem_alloc += len(data)
        child.bytes_received = len(data)
        child.data_segs_in = 1
        child.rcv_nxt = rx.seq + 1 + len(data)
        child.fastopen.syn_data_acked = True
    child.rcv_wup = child.rcv_nxt


def synrecv_done(sk: TcpSock) -> None:
    """The handshake of a Fast Open child completed (``tcp_rcv_synrecv_state_fastopen``,
    ``reqsk_fastopen_remove``): the request and its SYN-ACK timer go."""
    req = sk.fastopen.rsk
    sk.fastopen.rsk = None
    if req is None:
        return
    req.timer.del_timer()
    listener = req.listener
    if listener.fastopen.qlen:
        listener.fastopen.qlen -= 1
    sk.retransmits = 0
    sk.retrans_stamp = 0


# -- client --------------------------------------------------------------------------------------
def _cache_key(sk: TcpSock) -> tuple[bytes, bytes]:
    return sk.laddr, sk.raddr


def cache_get(sk: TcpSock) -> FastOpenMetrics | None:
    return sk.table.fastopen_cache.get(_cache_key(sk))


def cache_set(sk: TcpSock, mss: int, cookie: bytes | None, syn_lost: bool) -> None:
    """``tcp_fastopen_cache_set``: remember the server's MSS and cookie, count SYN losses."""
    cache = sk.table.fastopen_cache
    key = _cache_key(sk)
    tfom = cache.get(key)
    if tfom is None:
        tfom = cache[key] = FastOpenMetrics()
    if mss:
        tfom.mss = mss
    if cookie:
        tfom.cookie = cookie
    if syn_lost:
        tfom.syn_loss += 1
        tfom.last_syn_loss = sk.net.sched.now
    else:
        tfom.syn_loss = 0


def cookie_check(sk: TcpSock) -> tuple[bool, bytes | None, int]:
    """(send data in the SYN, the cookie to send, the cached MSS) for an active open
    (``tcp_fastopen_cookie_check``)."""
    tfom = cache_get(sk)
    cookie = tfom.cookie if tfom is not None else b""
    mss = tfom.mss if tfom is not None else 0
    if no_cookie(sk, TFO_CLIENT_NO_COOKIE):
        return True, None, mss
    if cookie:
        return True, cookie, mss
    sk.fastopen.client_fail = TFO_COOKIE_UNAVAILABLE
    return False, b"", mss


def defer_connect(sk: TcpSock) -> bool:
    """connect() under TCP_FASTOPEN_CONNECT: True when the SYN waits for the first send (a
    cookie is cached); else the SYN goes now with a cookie request
    (``tcp_fastopen_defer_connect``)."""
    fo = sk.fastopen
    if not fo.connect or fo.req is not None:
        return False
    ok, cookie, _ = cookie_check(sk)
    if ok:
        fo.defer_connect = True
        return True
    fo.req = FastOpenRequest(cookie)
    return False


def send_syn_data(sk: TcpSock, syn: TxSeg) -> None:
    """Our SYN with data and the cookie; if there is no cookie, a plain SYN asking for one
    (``tcp_send_syn_data``).  The SYN stays at the head of the retransmit queue and the data
    follows it as a segment of its own, so an RTO resends the SYN alone and a SYN-ACK that
    acknowledges only the SYN leaves the data to retransmit."""
    fo = sk.fastopen
    req = fo.req
    assert req is not None
    ok, cookie, cached_mss = cookie_check(sk)
    req.cookie = cookie
    if ok:
        sk.mss_clamp = win.mss_clamp_user(sk, cached_mss or sk.advmss)
        win.sync_mss(sk, sk.route.mtu)
        space = min(sk.route.mtu - 40, sk.mss_clamp) - MAX_TCP_OPTION_SPACE
        data = req.data if req.data is not None else memoryview(b"")
        space = max(min(space, len(data)), 0)
        skb = transmit.new_queued_skb(sk, space)
        skb.put_data(data[:space])
        skb.truesize = SKB_TRUESIZE_OVERHEAD + space
        seg = TxSeg(skb, syn.seq, syn.end_seq + space, syn.flags)
        req.copied = space
        transmit.transmit_skb(sk, seg)
        fo.syn_data = space > 0
        seg.seq += 1
        seg.flags = ACK | PSH
        sk.write_seq += space
        sk.wmem_queued += seg.skb.truesize
        sk.rtx.append(seg)
        sk.packets_out += 1
        sk.net.mib.tcpext["TCPOrigDataSent"] += 1
    else:
        transmit.transmit_skb(sk, syn)
    req.cookie = None  # retransmitted SYNs carry no option


def rcv_synack(sk: TcpSock, rx: RxSeg) -> bool:
    """Our SYN (with or without data) answered: cache the cookie and MSS, and retransmit
    data the SYN-ACK did not cover (``tcp_rcv_fastopen_synack``).  True when it did."""
    fo = sk.fastopen
    th = rx.th
    mss = th.mss or 0
    cookie = parse_cookie(th.fastopen) if fo.syn_fastopen else None
    data = sk.rtx[0] if fo.syn_data and sk.rtx else None
    syn_drop = bool(sk.total_retrans) and not cookie and data is not None
    cache_set(sk, mss, cookie, syn_drop)
    if data is not None:
        fo.client_fail = TFO_SYN_RETRANSMITTED if sk.total_retrans else TFO_DATA_NOT_ACKED
        for seg in sk.rtx:
            mark_skb_lost(sk, seg)
        if sk.ca_state != CaState.LOSS:  # tcp_non_congestion_loss_retransmit
            sk.high_seq = sk.snd_nxt
            sk.ssthresh = current_ssthresh(sk)
            sk.prior_ssthresh = 0
            sk.undo_marker = 0
            tcp_set_ca_state(sk, CaState.LOSS)
        output.xmit_retransmit_queue(sk)
        sk.net.mib.tcpext["TCPFastOpenActiveFail"] += 1
        return True
    fo.syn_data_acked = fo.syn_data
    if fo.syn_data_acked:
        sk.net.mib.tcpext["TCPFastOpenActive"] += 1
    return False
