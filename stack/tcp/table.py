"""TCP's IP-facing entry points (``tcp_init``, ``tcp_v4_rcv``, ``tcp_v4_err``) and ``net.tcp``.

Mirrors Linux's ``tcp_sk_init`` and the receive side of ``net/ipv4/tcp_ipv4.c``
(``tcp_v4_rcv``, ``tcp_v4_err`` with ``icmp_err_convert``, ``tcp_v4_mtu_reduced``).  The
state itself, :class:`TcpTable` (socket hashes, ports, ISNs: ``inet_hashtables.c``,
``inet_connection_sock.c``, ``secure_seq.c``), is in ``hashtables.py`` and re-exported here.

Contract: ``net.tcp = TcpTable(net)`` (``tcp_init(net)`` does it; ``stack.af_inet``
registers ``tcp_v4_rcv``/``tcp_v4_err`` for IPPROTO_TCP).  Two hooks decouple TCP from IP:
``table.transmit(skb, saddr, daddr)`` (default: ``stack.ipv4.output.ip_queue_xmit``, or
``stack.ipv6.output.ip6_xmit`` for 16-byte addresses) and ``table.route(daddr, saddr=None[,
oif])`` (``oif``: an SO_BINDTODEVICE device) returning a route with ``.dev`` (``.features``,
``.mtu``), ``.src`` and ``.mtu`` (default: ``stack.ipv4.route.route_output`` or
``stack.ipv6.route.route_output6``); tests replace both.

Both families share these hashes, as Linux's ``tcp_hashinfo`` does: keys are ``(local addr,
local port, remote addr, remote port)`` with 4-byte addresses for IPv4 (an AF_INET6 socket's
v4-mapped connection included: the kernel Sock holds the IPv4 addresses, the socket layer
shows them as ``::ffff:a.b.c.d``) and 16-byte ones for IPv6; the wildcard is INADDR_ANY for
both.  ``tcp_v6_rcv`` (``stack.ipv6.tcp_ipv6``) enters through :func:`tcp_rcv` as
``tcp_v4_rcv`` does; listeners and port conflicts follow the family rules of
``stack.sock.inet_rcv_saddr_conflict`` (IPV6_V6ONLY).
"""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING, Any

from stack.core.dropreason import SkbDropReason
from stack.core.skbfrag import skb_linearize
from stack.core.skbfree import kfree_skb
from stack.core.skbuff import CHECKSUM_PARTIAL, CHECKSUM_UNNECESSARY
from stack.sock import EPOLLERR
from stack.tcp import minisocks, output, rcv, recovery, timewait
from stack.tcp import window as win
from stack.tcp.close import tcp_done
from stack.tcp.hashtables import INET_TABLE_PERTURB_SIZE, Key, TcpTable  # noqa: F401
from stack.tcp.minisocks import RequestSock
from stack.tcp.rcv import RxSeg
from stack.tcp.seq import s32
from stack.tcp.state import LISTEN, SYN_RECEIVED, SYN_SENT, TIME_WAIT
from stack.wire.errors import BadChecksum, Malformed
from stack.wire.tcp import RST, TcpPacket, TcpRepr

if TYPE_CHECKING:
    from stack.core.skbuff import SkBuff
    from stack.tcp.sock import TcpSock

_L4 = struct.Struct("!HHI")
ICMP_DEST_UNREACH = 3
ICMP_SOURCE_QUENCH = 4
ICMP_TIME_EXCEEDED = 11
ICMP_PARAMETERPROB = 12
ICMP_FRAG_NEEDED = 4
# icmp_err_convert[] (net/ipv4/icmp.c): code -> (errno, fatal)
ICMP_UNREACH_ERR = (
    (errno.ENETUNREACH, True),
    (errno.EHOSTUNREACH, True),
    (errno.ENOPROTOOPT, True),
    (errno.ECONNREFUSED, True),
    (errno.EMSGSIZE, False),
    (errno.EOPNOTSUPP, False),
    (errno.ENETUNREACH, True),
    (errno.EHOSTDOWN, True),
    (errno.ENONET, True),
    (errno.ENETUNREACH, True),
    (errno.EHOSTUNREACH, True),
    (errno.ENETUNREACH, True),
    (errno.EHOSTUNREACH, True),
    (errno.EHOSTUNREACH, True),
    (errno.EHOSTUNREACH, True),
    (errno.EHOSTUNREACH, True),
)


# -- IP's entry points ----------------------------------------------------------------------------
def tcp_init(net: Any) -> TcpTable:
    """The namespace's TCP state, ``net.tcp`` (``tcp_sk_init``); see ``stack.af_inet``."""
    net.tcp = TcpTable(net)
    return net.tcp


def tcp_v4_rcv(net: Any, skb: SkBuff) -> int:
    """A TCP segment from IP: check it once, find its socket, hand it over (``tcp_v4_rcv``).

    ``skb.data`` is at the TCP header, the IPv4 header at ``skb.network_header``.  A
    segment with page fragments (a local peer's, over loopback or veth) is made linear
    first: the parser reads the head (deviation: Linux reads fragments in place).
    """
    if skb.data_len:  # page fragments (veth, loopback): the segment parser reads the head
        skb_linearize(skb)
    head = skb.head
    nh = skb.network_header
    return tcp_rcv(net, skb, bytes(head[nh + 12 : nh + 16]), bytes(head[nh + 16 : nh + 20]))


def tcp_rcv(net: Any, skb: SkBuff, saddr: bytes, daddr: bytes) -> int:
    """What ``tcp_v4_rcv`` and ``tcp_v6_rcv`` share once they have the addresses: check the
    segment (checksum over the family's pseudo-header), look it up, hand it over."""
    mib = net.mib.tcp
    buf = memoryview(skb.head)[skb.data : skb.tail]
    try:
        if skb.ip_summed == CHECKSUM_UNNECESSARY or skb.ip_summed == CHECKSUM_PARTIAL:
            pkt = TcpPacket.checked(buf)  # verified by the NIC (PARTIAL: GRO merged it)
        else:
            pkt = TcpPacket.checked(buf, saddr, daddr)
        th = TcpRepr.parse(pkt)
    except BadChecksum:
        mib["InCsumErrors"] += 1
        mib["InErrs"] += 1
        kfree_skb(skb, SkbDropReason.TCP_CSUM)
        return 0
    except Malformed:
        mib["InErrs"] += 1
        kfree_skb(skb, SkbDropReason.TCP_HDR)
        return 0
    mib["InSegs"] += 1
    hlen = pkt.header_len
    table = net.tcp
    rx = RxSeg(skb, th, saddr, daddr, buf[hlen:], hlen, skb.tstamp or net.sched.now)
    key = (daddr, th.dst_port, saddr, th.src_port)
    sk = table.ehash.get(key)
    if sk is not None and sk.bound_dev_if is not None and sk.bound_dev_if is not skb.dev:
        sk = None  # INET_MATCH: bound to another device (SO_BINDTODEVICE)
    if sk is None:
        sk = table.lookup_listener(daddr, th.dst_port, skb.dev, saddr, th.src_port)
        if sk is None:
            if not th.flags & RST:
                rcv.reply_rst_table(table, rx)
            kfree_skb(skb, SkbDropReason.NO_SOCKET)
            return 0
        minisocks.listen_rcv(sk, rx)
        return 0
    if isinstance(sk, RequestSock):
        minisocks.req_rcv(sk, rx)
        return 0
    if sk.state == TIME_WAIT:
        isn = timewait.timewait_rcv(sk, rx)
        if isn:
            listener = table.lookup_listener(daddr, th.dst_port, skb.dev, saddr, th.src_port)
            rx.seq = th.seq
            rx.end_seq = th.seq + len(rx.payload) + 1
            if listener is None:
                rcv.reply_rst_table(table, rx)
                kfree_skb(skb, SkbDropReason.NO_SOCKET)
            else:
                minisocks.listen_rcv(listener, rx, tw_isn=isn)
        return 0
    rcv.do_rcv(sk, rx)
    return 0


def tcp_v4_err(
    net: Any, quoted_iph: Any, quoted_l4: Any, type: int, code: int, info: int = 0
) -> None:
    """An ICMP error quoting one of our segments (``tcp_v4_err``)."""
    src = getattr(quoted_iph, "src", None)
    if src is None:
        raw = bytes(quoted_iph[:20])
        src, dst = raw[12:16], raw[16:20]
    else:
        src, dst = bytes(src), bytes(quoted_iph.dst)
    if len(quoted_l4) < 8:
        return
    sport, dport, seq = _L4.unpack_from(quoted_l4, 0)
    table = net.tcp
    sk = table.ehash.get((src, sport, dst, dport))
    if sk is None:
        net.mib.icmp["InErrors"] += 1
        return
    if isinstance(sk, RequestSock) or sk.state in (TIME_WAIT, LISTEN):
        return
    if not sk.snd_una <= _unwrap(sk.snd_una, seq) <= sk.snd_nxt:
        net.mib.tcpext["OutOfWindowIcmps"] += 1
        return
    if type == ICMP_DEST_UNREACH:
        if code == ICMP_FRAG_NEEDED:
            _mtu_reduced(sk, info)
            return
        if code >= len(ICMP_UNREACH_ERR):
            return
        err = ICMP_UNREACH_ERR[code][0]
    elif type == ICMP_TIME_EXCEEDED:
        err = errno.EHOSTUNREACH
    elif type == ICMP_PARAMETERPROB:
        err = errno.EPROTO
    else:
        return
    if sk.state in (SYN_SENT, SYN_RECEIVED):
        sk.sk_err = err
        tcp_done(sk)
        sk.wake()
    elif sk.recverr:
        sk.sk_err = err  # IP_RECVERR: the user hears at once (tcp_v4_err, sk_error_report)
        sk.wake(EPOLLERR)
    else:
        sk.sk_err_soft = err  # connected: keep trying until the timeout, RFC 1122 4.2.3.9


def _unwrap(ref: int, wire: int) -> int:
    return ref + s32(wire - ref)


def _mtu_reduced(sk: TcpSock, mtu: int) -> None:
    """PMTU shrank (``tcp_v4_mtu_reduced`` + ``tcp_simple_retransmit``)."""
    if not mtu or mtu >= sk.pmtu or mtu < 68:
        return
    sk.icmp_pmtu = mtu
    win.sync_mss(sk, mtu)
    mss = win.current_mss(sk)
    for seg in sk.rtx:
        if seg.skb.len > mss:
            recovery.mark_skb_lost(sk, seg)
    if sk.lost_out:
        output.xmit_retransmit_queue(sk)
