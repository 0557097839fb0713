"""TCP constants: timer bounds, sizes, socket option numbers, ack-engine flags.

Mirrors the ``#define``s of Linux's ``include/net/tcp.h``, ``include/net/inet_connection_sock.h``
and ``include/uapi/linux/tcp.h`` (option numbers, ``TCP_CA_*``), plus the few
``SOL_SOCKET``/``MSG_*`` numbers of ``include/uapi/asm-generic/socket.h`` the TCP socket reads.
Times are integer nanoseconds (the scheduler's unit), never jiffies.
"""

from __future__ import annotations

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
SOCK_MIN_SNDBUF = 4608
SOCK_MIN_RCVBUF = 2304

# -- socket options (include/uapi/linux/tcp.h, asm-generic/socket.h) ------------------------------
SOL_SOCKET = 1
SOL_TCP = IPPROTO_TCP = 6
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_LINGER = 13
SO_REUSEPORT = 15
SO_ACCEPTCONN = 30
TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_CORK = 3
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6
TCP_SYNCNT = 7
TCP_LINGER2 = 8
TCP_DEFER_ACCEPT = 9
TCP_WINDOW_CLAMP = 10
TCP_INFO = 11
TCP_QUICKACK = 12
TCP_CONGESTION = 13
TCP_USER_TIMEOUT = 18
MAX_TCP_KEEPIDLE = 32767
MAX_TCP_KEEPINTVL = 32767
MAX_TCP_KEEPCNT = 127
MAX_TCP_SYNCNT = 127

# -- recv/send flags ------------------------------------------------------------------------------
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTWAIT = 0x40
MSG_WAITALL = 0x100
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000

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

# -- socket user locks (sk_userlocks) -------------------------------------------------------------
SOCK_SNDBUF_LOCK = 1
SOCK_RCVBUF_LOCK = 2
SOCK_BINDADDR_LOCK = 4
SOCK_BINDPORT_LOCK = 8

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

# -- tcp_info.tcpi_options ------------------------------------------------------------------------
TCPI_OPT_TIMESTAMPS = 1
TCPI_OPT_SACK = 2
TCPI_OPT_WSCALE = 4
TCPI_OPT_ECN = 8
