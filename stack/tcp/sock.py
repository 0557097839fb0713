"""The TCP socket: ``TcpSock``, one connection's state (Linux's ``struct tcp_sock``).

Mirrors the fields of ``include/linux/tcp.h`` (``tcp_sock``, ``tcp_options_received``),
``include/net/inet_connection_sock.h`` (``icsk_*``: RTO, backoff, the delayed-ACK engine, the
timers) and ``include/net/sock.h``, with Linux's names.  The operations of the BSD layer
(``bind``/``listen``/``accept``/``connect``/``sendmsg``/``recvmsg``/``shutdown``/``close``/
``poll``/``setsockopt``) are the :class:`stack.sock.Sock` interface, implemented in
``ops.py``, ``sendmsg.py``, ``recvmsg.py``, ``poll.py`` and ``sockopt.py``; the protocol
engine is ``rcv.py``/``ack.py``/``recovery.py`` (input), ``output.py`` and ``timer.py``.

Sequence numbers are unwrapped ints (see ``seq.py``).  Timers are data: one
:class:`stack.core.timer.Timer` per purpose - ``retransmit`` (multiplexing RTO and the
zero-window probe, as Linux's ``icsk_retransmit_timer`` does), ``delack``, ``keepalive``
(which also times an orphaned FIN-WAIT-2, as in Linux) and ``timewait`` - all listed by
:meth:`TcpSock.timers`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from stack.core.page import PageFrag
from stack.core.timer import Timer
from stack.sock import Sock
from stack.tcp import ops, sockopt, timer, urg, window
from stack.tcp.cb import TxSeg
from stack.tcp.cong import find
from stack.tcp.const import (
    NS_PER_MS,
    SS_UNCONNECTED,
    TCP_INFINITE_SSTHRESH,
    TCP_INIT_CWND,
    TCP_MSS_DEFAULT,
    TCP_TIMEOUT_INIT,
)
from stack.tcp.fastopen import FastOpenSock
from stack.tcp.info import get_info, ss_line
from stack.tcp.poll import tcp_poll
from stack.tcp.rack import RackState
from stack.tcp.recvmsg import tcp_recvmsg
from stack.tcp.scoreboard import TsortedAnchor
from stack.tcp.sendmsg import tcp_sendmsg
from stack.tcp.state import CLOSING, FIN_WAIT_1, LAST_ACK, SS_NAMES, CaState, TcpState
from stack.tcp.tsq_tasklet import pace_kick
from stack.uapi import IPPROTO_TCP, SOCK_STREAM
from stack.wire.ipv4 import INADDR_ANY, ip_str

if TYPE_CHECKING:
    from stack.tcp.hashtables import TcpTable

__all__ = ["TcpSock", "TxSeg"]


class TcpSock(Sock):
    """A TCP endpoint; created by ``TcpSock(net)`` (the BSD layer's ``socket()``)."""

    type = SOCK_STREAM
    protocol = IPPROTO_TCP

    def __init__(self, net: Any, table: TcpTable | None = None) -> None:
        super().__init__(net)
        self.table: TcpTable = table if table is not None else net.tcp
        sysctl = net.sysctl
        self.state = TcpState.CLOSED
        self.sock_state = SS_UNCONNECTED
        self.laddr = INADDR_ANY
        self.lport = 0
        self.raddr = INADDR_ANY
        self.rport = 0
        self.bound = False  # in the port hash (icsk_bind_hash)
        self.explicit_port = False  # bound by bind(), not by connect()
        self.reuseaddr = False
        self.keepopen = False
        self.linger: tuple[bool, int] = (False, 0)
        self.sk_err_soft = 0
        self.sk_rcvbuf = sysctl.tcp_rmem[1]
        self.sk_sndbuf = sysctl.tcp_wmem[1]
        self.nospace = False
        self.done = False  # SOCK_DONE: a FIN (or reset) ended the data stream
        # listening
        self.parent: TcpSock | None = None
        self.accept_queue: deque[TcpSock] = deque()
        self.max_ack_backlog = 0
        self.syn_table: dict[tuple[bytes, int, bytes, int], Any] = {}
        self.synflood_warned = False  # the "Possible SYN flooding" line was logged
        self.fastopen = FastOpenSock()  # TCP Fast Open state (fastopen.py)
        # route and path
        self.route: Any = None
        self.features = 0
        self.sk_frag = PageFrag()  # the page sendmsg copies into under NETIF_F_SG
        self.pseudo_base: tuple[bytes, bytes, int] | None = None  # header.py's pseudo sum cache
        self.pmtu = 0
        self.net_header_len = 20  # icsk_af_ops->net_header_len: 40 on an IPv6 connection
        self.icmp_pmtu = 0  # a smaller path MTU learned from ICMP
        # send sequence space (RFC 9293 §3.3.1)
        self.iss = 0
        self.snd_una = 0
        self.snd_nxt = 0
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.write_seq = 0
        self.pushed_seq = 0
        self.snd_sml = 0
        self.max_window = 0
        self.snd_up = 0
        # receive sequence space
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_wup = 0
        self.rcv_wnd = 0
        self.copied_seq = 0
        self.rcv_ssthresh = 0
        self.window_clamp = 0
        # options (tcp_options_received)
        self.tstamp_ok = False
        self.sack_ok = False
        self.wscale_ok = False
        self.snd_wscale = 0
        self.rcv_wscale = 0
        self.ts_recent = 0
        self.ts_recent_stamp = 0  # ns; 0: never
        self.ts_off = 0
        self.saw_tstamp = False
        self.rcv_tsval = 0
        self.rcv_tsecr = 0
        self.mss_clamp = TCP_MSS_DEFAULT
        self.user_mss = 0
        self.num_sacks = 0
        self.selective_acks: list[list[int]] = []
        self.dsack: tuple[int, int] | None = None
        self.last_oow_ack_time = 0
        # sizes
        self.mss_cache = TCP_MSS_DEFAULT
        self.advmss = TCP_MSS_DEFAULT
        self.rcv_mss = TCP_MSS_DEFAULT
        self.tcp_header_len = 20
        self.nonagle = 0
        self.urg_data = 0  # TCP_URG_* state | the urgent byte (urg.py)
        self.urg_seq = 0  # where the urgent byte is (or will be)
        # congestion and loss state
        self.cwnd = TCP_INIT_CWND
        self.ssthresh = TCP_INFINITE_SSTHRESH
        self.cwnd_cnt = 0
        self.cwnd_clamp = 0xFFFFFFFF
        self.cwnd_stamp = 0
        self.prior_cwnd = 0
        self.prior_ssthresh = 0
        self.ca_state = CaState.OPEN
        self.high_seq = 0
        self.undo_marker = 0
        self.undo_retrans = -1
        self.retrans_stamp = 0  # ns of the first retransmission (or of the SYN): Eifel undo
        self.timeout_stamp = 0  # ns the head was first sent: tcp_retries2's clock
        self.probed_head: TxSeg | None = None  # the head a loss probe resent (its first send
        # time is in timeout_stamp already)
        self.reordering = sysctl.tcp_reordering
        self.packets_out = 0
        self.sacked_out = 0
        self.lost_out = 0
        self.retrans_out = 0
        self.lost_high = 0  # highest end_seq ever marked LOST: bounds the retransmit walk
        self.sack_cache: list[tuple[int, int]] = []  # last ACK's SACK blocks (recv_sack_cache)
        self.highest_sack = 0  # end of the highest SACKed segment (tcp_highest_sack_seq)
        self.tsorted = TsortedAnchor()  # sent segments by transmit time (tsorted_sent_queue)
        self.rack = RackState()  # RACK loss detection (rack.py)
        self.reord_seen = 0  # reordering events seen (tcpi_reord_seen)
        self.tlp_high_seq = 0  # snd_nxt when the outstanding loss probe left; 0: none
        self.tlp_retrans = False  # that probe was a retransmission (not new data)
        self.frto = False  # F-RTO (RFC 5682) is watching this RTO episode
        self.max_packets_out = 0
        self.is_cwnd_limited = False
        self.cwnd_usage_seq = 0
        self.prr_delivered = 0
        self.prr_out = 0
        self.delivered = 0
        self.delivered_ce = 0  # segments delivered while the ACKs echoed ECE
        self.ecn_flags = 0  # TCP_ECN_* (ecn.py)
        self.total_retrans = 0
        self.lost = 0
        self.ca = find(sysctl.tcp_congestion_control)()
        # RTT (µs, Linux's fixed point) and timers
        self.srtt_us = 0
        self.mdev_us = 0
        self.mdev_max_us = 0
        self.rttvar_us = 0
        self.rtt_seq = 0
        self.min_rtt_us = 0
        self.rto = TCP_TIMEOUT_INIT
        self.retransmits = 0
        self.backoff = 0
        self.probes_out = 0
        self.syn_retries = 0  # TCP_SYNCNT; 0: the sysctl
        self.user_timeout = 0
        self.linger2 = 0
        self.notsent_lowat = 0  # TCP_NOTSENT_LOWAT; 0: net.ipv4.tcp_notsent_lowat
        self.defer_accept = 0  # TCP_DEFER_ACCEPT as SYN-ACK retransmissions (rskq_defer_accept)
        self.keepalive_time = 0  # ns; 0: the sysctl (TCP_KEEPIDLE)
        self.keepalive_intvl = 0
        self.keepalive_probes = 0
        # delayed-ACK engine (icsk_ack)
        self.ack_pending = 0
        self.ack_quick = 0
        self.pingpong = 0
        self.ato = 0
        self.ack_timeout = 0
        self.lrcvtime = 0
        self.last_seg_size = 0
        # receive-side autotuning (rcvq_space, rcv_rtt_est)
        self.rcv_rtt_us = 0  # x8, as Linux's rcv_rtt_est.rtt_us
        self.rcv_rtt_last_tsecr = 0
        self.rcv_rtt_seq = 0  # the per-window measure ends when rcv_nxt passes this
        self.rcv_rtt_time = 0  # ns it began; 0: none yet
        self.rcvq_space = 0
        self.rcvq_seq = 0
        self.rcvq_time = 0
        # queues
        self.write_queue: deque[TxSeg] = deque()  # not yet sent (sk_write_queue)
        self.rtx: list[TxSeg] = []  # sent, ordered by seq (tcp_rtx_queue)
        self.wmem_queued = 0
        self.wmem_alloc = 0  # sk_wmem_alloc: truesize of our skbs below TCP (tsq.py)
        self.tsq_flags = 0  # sk_tsq_flags: TSQ_THROTTLED, TSQ_QUEUED
        self.tcp_wstamp_ns = 0  # earliest departure of the next data skb (pacing.py)
        self.receive_queue: deque[memoryview] = deque()
        self.rmem_alloc = 0
        self.ofo: list[list[Any]] = []  # [seq, end_seq, bytes, fin], sorted, disjoint
        # statistics (TCP_INFO)
        self.bytes_acked = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.bytes_retrans = 0
        self.segs_in = 0
        self.segs_out = 0
        self.data_segs_in = 0
        self.data_segs_out = 0
        self.rcv_ooopack = 0
        self.dsack_dups = 0
        # delivery-rate estimation (rate.py, tcp_rate.c); stamps in ns
        self.first_tx_mstamp = 0  # send time of the newest (S)ACKed segment
        self.delivered_mstamp = 0  # when ``delivered`` last grew
        self.app_limited = 0  # 0, or delivered + in flight at the last app-limited moment
        self.rate_delivered = 0  # the sample TCP_INFO reports: packets over µs
        self.rate_interval_us = 0
        self.rate_app_limited = False
        # chronographs (chrono.py): the running one, since when (jiffies), the banked stats
        self.chrono_type = 0
        self.chrono_start = 0
        self.chrono_stat = [0, 0, 0]
        self.lsndtime = 0
        self.rcv_tstamp = 0
        self.last_data_recv = 0
        self.rcv_space_seen = 0
        self.fastpath = False
        # timers
        kernel = net.kernel
        self.retransmit_timer = Timer(kernel, lambda t: timer.write_timer(self), "tcp rto")
        self.xmit_timer_what = ""
        self.delack_timer = Timer(kernel, lambda t: timer.delack_timer(self), "tcp delack")
        self.keepalive_timer = Timer(kernel, lambda t: timer.keepalive_timer(self), "tcp keepalive")
        self.timewait_timer = Timer(kernel, lambda t: timer.timewait_timer(self), "tcp timewait")
        self.pacing_timer = Timer(kernel, lambda t: pace_kick(self), "tcp pacing")

    # -- clocks ------------------------------------------------------------------------------
    def now(self) -> int:
        return self.net.sched.now

    def ts_now(self) -> int:
        """TSval for now: a 1 ms clock plus this connection's offset (RFC 7323 §5.4)."""
        return (self.net.sched.now // NS_PER_MS + self.ts_off) & 0xFFFFFFFF

    # -- timers (inet_csk_reset_xmit_timer & co) ---------------------------------------------
    def reset_xmit_timer(self, what: str, delay: int, max_delay: int | None = None) -> None:
        """Arm the retransmit timer for ``what`` (``"rto"`` or ``"probe0"``) ``delay`` from now."""
        if max_delay is not None and delay > max_delay:
            delay = max_delay
        self.xmit_timer_what = what
        self.retransmit_timer.name = f"tcp {what}"
        self.retransmit_timer.mod_timer(self.net.sched.now + delay)

    def clear_xmit_timer(self) -> None:
        self.xmit_timer_what = ""
        self.retransmit_timer.del_timer()

    def clear_xmit_timers(self) -> None:
        """``tcp_clear_xmit_timers``: stop everything but TIME-WAIT's timer."""
        self.clear_xmit_timer()
        self.delack_timer.del_timer()
        self.ack_pending = 0
        self.keepalive_timer.del_timer()

    def reset_keepalive_timer(self, delay: int, what: str = "keepalive") -> None:
        self.keepalive_timer.name = f"tcp {what}"
        self.keepalive_timer.mod_timer(self.net.sched.now + delay)

    def timers(self) -> list[tuple[str, int]]:
        """Pending timers of this socket (and of its request socks), soonest first."""
        out = []
        if self.retransmit_timer.pending():
            out.append((self.xmit_timer_what or "rto", self.retransmit_timer.expires))
        for t in (self.delack_timer, self.keepalive_timer, self.timewait_timer, self.pacing_timer):
            if t.pending():
                out.append((t.name.removeprefix("tcp "), t.expires))
        for req in self.syn_table.values():
            if req.timer.pending():
                out.append((f"synack {ip_str(req.raddr)}:{req.rport}", req.timer.expires))
        return sorted(out, key=lambda e: e[1])

    # -- derived values ----------------------------------------------------------------------
    def packets_in_flight(self) -> int:
        """RFC 6675 "pipe" (``tcp_packets_in_flight``)."""
        return self.packets_out - (self.sacked_out + self.lost_out) + self.retrans_out

    def receive_window(self) -> int:
        """What is left of the window we last advertised (``tcp_receive_window``)."""
        win = self.rcv_wup + self.rcv_wnd - self.rcv_nxt
        return win if win > 0 else 0

    def wnd_end(self) -> int:
        return self.snd_una + self.snd_wnd

    def orphan(self) -> bool:
        """SOCK_DEAD: the user closed the socket; the kernel finishes the connection."""
        return self.closed

    def send_head(self) -> TxSeg | None:
        return self.write_queue[0] if self.write_queue else None

    # -- the Sock interface (ops.py, sendmsg.py, recvmsg.py, poll.py, sockopt.py) -------------
    def bind(self, addr: bytes, port: int) -> None:
        ops.bind(self, addr, port)

    def listen(self, backlog: int) -> None:
        ops.listen(self, backlog)

    def accept(self) -> TcpSock:
        return ops.accept(self)

    def connect(self, addr: bytes, port: int) -> None:
        ops.connect(self, addr, port)

    def connect_check(self) -> None:
        ops.connect_check(self)

    def disconnect(self) -> None:
        ops.disconnect(self)

    sendmsg = tcp_sendmsg  # the function itself: no wrapper call per send (issue 18)

    def recvmsg(self, bufsize: int, flags: int = 0) -> tuple[bytes, tuple[bytes, int] | None]:
        return tcp_recvmsg(self, bufsize, flags), None

    def shutdown(self, how: int) -> None:
        ops.shutdown(self, how)

    def close(self) -> None:
        ops.close(self)

    def poll(self) -> int:
        return tcp_poll(self)

    def ioctl(self, cmd: int) -> int:
        return ops.ioctl(self, cmd)

    def at_urgent_mark(self, offset: int = 0) -> bool:
        return urg.at_mark(self, offset)

    def closing(self) -> bool:
        return self.state in (FIN_WAIT_1, CLOSING, LAST_ACK)

    def setsockopt(self, level: int, option: int, value: Any) -> None:
        sockopt.setsockopt(self, level, option, value)

    def write_space(self) -> None:
        """SO_SNDBUF grew the buffer: wake a writer that found it full (``tcp_check_space``)."""
        window.check_space(self)

    def getsockopt(self, level: int, option: int) -> Any:
        return sockopt.getsockopt(self, level, option)

    def getsockname(self) -> tuple[bytes, int]:
        return self.laddr, self.lport

    def getpeername(self) -> tuple[bytes, int]:
        return ops.getpeername(self)

    def info(self) -> Any:
        """TCP_INFO as a :class:`stack.tcp.info.TcpInfo`."""
        return get_info(self)

    def ss(self) -> str:
        """An ``ss -tin`` rendering of this connection."""
        return ss_line(self)

    def __repr__(self) -> str:
        return (
            f"<TcpSock {SS_NAMES[self.state]} {ip_str(self.laddr)}:{self.lport} -> "
            f"{ip_str(self.raddr)}:{self.rport}>"
        )
