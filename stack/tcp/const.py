"""TCP constants: timer bounds, sizes, option limits, ack-engine flags.

Mirrors the kernel-internal ``#define``s of Linux's ``include/net/tcp.h`` and
``include/net/inet_connection_sock.h``.  The ABI numbers (``TCP_NODELAY``, ``SO_*``,
``MSG_*``, ``TCPI_OPT_*``) are :mod:`stack.uapi`'s.  Times are integer nanoseconds (the
scheduler's unit), never jiffies.
"""

from __future__ import annotations

from stack.core.units import HZ

# Re-exported for the TCP modules, which take every constant from here; defined in stack.core.units.
from stack.core.units import NS_PER_MS as NS_PER_MS
from stack.core.units import NS_PER_S as NS_PER_S
from stack.core.units import NS_PER_US as NS_PER_US

# -- timers (include/net/tcp.h) -------------------------------------------------------------------
TCP_RTO_MIN = 200 * NS_PER_MS
TCP_RTO_MAX = 120 * NS_PER_S
TCP_TIMEOUT_INIT = 1 * NS_PER_S  # RFC 6298 2.1 initial RTO
TCP_TIMEOUT_MIN = 2 * NS_PER_MS
TCP_DELACK_MIN = 40 * NS_PER_MS
TCP_DELACK_MAX = 200 * NS_PER_MS
TCP_ATO_MIN = 40 * NS_PER_MS
# One jiffy (1/HZ).  A timer armed for ``jiffies + 0`` (a delayed ACK with ato 0: nothing
# received yet) runs at the next tick of the timer wheel, not at once.
TICK_NS = NS_PER_S // HZ
TCP_TIMEWAIT_LEN = 60 * NS_PER_S
TCP_RESOURCE_PROBE_INTERVAL = 500 * NS_PER_MS
TCP_INVALID_RATELIMIT = 500 * NS_PER_MS  # net.ipv4.tcp_invalid_ratelimit
TCP_PAWS_24DAYS = 60 * 60 * 24 * 24 * NS_PER_S
TCP_PAWS_WINDOW = 1

# -- sizes ----------------------------------------------------------------------------------------
TCP_MSS_DEFAULT = 536  # RFC 9293 3.7.1: MSS assumed when the peer sends none
TCP_MSS_DESIRED = 1220
TCP_MIN_MSS = 88
TCP_MIN_SND_MSS = 48
TCP_BASE_MSS = 1024
MAX_TCP_WINDOW = 65535
TCP_MAX_WSCALE = 14
TCP_INIT_CWND = 10  # RFC 6928
TCP_INFINITE_SSTHRESH = 0x7FFFFFFF
TCP_MAX_QUICKACKS = 16
TCP_NUM_SACKS = 4
TCPOLEN_TSTAMP_ALIGNED = 12
TCPOLEN_SACK_BASE_ALIGNED = 4
TCPOLEN_SACK_PERBLOCK = 8
GSO_MAX_SIZE = 65536
GSO_MAX_SEGS = 65535
# Headroom for TCP + IP + link headers (Linux: L1_CACHE_ALIGN(128 + MAX_HEADER)).
MAX_TCP_HEADER = 320
IPV4_HLEN = 20
TCP_HLEN = 20

# -- option limits (include/net/tcp.h) ------------------------------------------------------------
MAX_TCP_KEEPIDLE = 32767
MAX_TCP_KEEPINTVL = 32767
MAX_TCP_KEEPCNT = 127
MAX_TCP_SYNCNT = 127

# -- Nagle / cork (tp->nonagle) -------------------------------------------------------------------
TCP_NAGLE_OFF = 1  # TCP_NODELAY
TCP_NAGLE_CORK = 2  # TCP_CORK
TCP_NAGLE_PUSH = 4  # one-shot: push the queue now

# -- delayed-ACK engine (icsk_ack.pending) --------------------------------------------------------
ICSK_ACK_SCHED = 1
ICSK_ACK_TIMER = 2
ICSK_ACK_PUSHED = 4
ICSK_ACK_PUSHED2 = 8
ICSK_ACK_NOW = 16
ICSK_ACK_NOMEM = 32

# -- urgent data (tp->urg_data: a state bit, with the urgent byte in the low 8 bits) -----------
TCP_URG_VALID = 0x0100  # the byte arrived and was not read
TCP_URG_NOTYET = 0x0200  # a new urgent pointer, its byte not here yet
TCP_URG_READ = 0x0400  # read by recv(MSG_OOB)

# -- BSD socket states (sock->state) --------------------------------------------------------------
SS_UNCONNECTED = 1
SS_CONNECTING = 2
SS_CONNECTED = 3

# -- retransmit-queue scoreboard bits (TCP_SKB_CB(skb)->sacked) -----------------------------------
TCPCB_SACKED_ACKED = 0x01
TCPCB_SACKED_RETRANS = 0x02
TCPCB_LOST = 0x04
TCPCB_TAGBITS = 0x07
TCPCB_EVER_RETRANS = 0x80
TCP_FIN_TIMEOUT_MAX_S = 120  # include/net/tcp.h: TCP_FIN_TIMEOUT_MAX, TCP_LINGER2's cap
TCPCB_RETRANS = TCPCB_SACKED_RETRANS | TCPCB_EVER_RETRANS

# -- RACK (include/net/tcp.h): net.ipv4.tcp_recovery bits, reo_wnd persistence -------------------
TCP_RACK_LOSS_DETECTION = 0x1  # use RACK to detect losses
TCP_RACK_STATIC_REO_WND = 0x2  # use a static RACK reordering window
TCP_RACK_NO_DUPTHRESH = 0x4  # do not use the DupThresh shortcut
TCP_RACK_RECOVERY_THRESH = 16  # recoveries a widened reo_wnd persists for
