"""Linux's ABI numbers, declared once: what user space and the wire agree on with the kernel.

Mirrors the ``include/uapi/`` headers the stack implements: ``linux/socket.h`` and
``asm-generic/socket.h`` (AF_, SOCK_, SOL_, SO_, MSG_), ``linux/in.h`` (IPPROTO_, IP_,
INADDR_), ``linux/tcp.h`` (TCP_ options, TCPI_OPT_), ``linux/eventpoll.h`` (EPOLL*),
``linux/sockios.h`` (SIOC*), ``linux/if_ether.h`` (ETH_P_), ``linux/if_packet.h`` (PACKET_) and
``linux/if_arp.h`` (ARPHRD_).  Every other module imports these names from here; nothing else
spells them out.

``stack/`` is sans-I/O and may not import the stdlib ``socket`` or ``select`` modules (ruff
TID251), so the numbers are written out; ``tests/test_uapi.py`` checks every one the stdlib
also has against it on the running Linux, so user code may pass ``socket.SO_REUSEADDR`` or
``stack.uapi.SO_REUSEADDR`` interchangeably.  Plain ``int``s: they sit on hot paths.
"""

# -- address families, socket types (linux/socket.h, linux/net.h) -------------------------------
AF_UNSPEC = 0
AF_INET = 2
AF_INET6 = 10
AF_PACKET = 17

SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000
SOCK_TYPE_MASK = 0xF

SOMAXCONN = 4096

SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

# -- protocols (linux/in.h; the IP header's protocol field, IANA's numbers) ---------------------
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_IGMP = 2
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43  # IPv6 routing header (linux/in6.h)
IPPROTO_FRAGMENT = 44  # IPv6 fragment header
IPPROTO_GRE = 47
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59  # IPv6: no next header
IPPROTO_DSTOPTS = 60  # IPv6 destination options
IPPROTO_HOPOPTS = 0  # IPv6 hop-by-hop options (the IPv6 header's next header 0)
IPPROTO_SCTP = 132
IPPROTO_RAW = 255

INADDR_ANY = 0x00000000
INADDR_BROADCAST = 0xFFFFFFFF
INADDR_LOOPBACK = 0x7F000001

# -- option levels (linux/socket.h: SOL_IP and SOL_TCP are the protocol numbers) ----------------
SOL_IP = IPPROTO_IP
SOL_SOCKET = 1
SOL_TCP = IPPROTO_TCP
SOL_UDP = IPPROTO_UDP
SOL_IPV6 = IPPROTO_IPV6

# -- SOL_SOCKET options (asm-generic/socket.h) -------------------------------------------------
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_NO_CHECK = 11
SO_PRIORITY = 12
SO_LINGER = 13
SO_REUSEPORT = 15
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO = 20  # SO_RCVTIMEO_OLD: struct timeval of longs, as CPython passes
SO_SNDTIMEO = 21  # SO_SNDTIMEO_OLD
SO_BINDTODEVICE = 25
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_ACCEPTCONN = 30
SO_MARK = 36
SO_PROTOCOL = 38
SO_DOMAIN = 39
SO_MAX_PACING_RATE = 47  # u64 bytes/s (an int is its low 32 bits, ~0U unlimited)

# -- IPPROTO_IPV6 options (linux/in6.h, uapi/linux/ipv6.h) --------------------------------------
IPV6_UNICAST_HOPS = 16
IPV6_MULTICAST_HOPS = 18
IPV6_V6ONLY = 26
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_RECVHOPLIMIT = 51
IPV6_HOPLIMIT = 52
IPV6_RECVTCLASS = 66
IPV6_TCLASS = 67

# -- IPPROTO_IP options (linux/in.h) ------------------------------------------------------------
IP_TOS = 1
IP_TTL = 2
IP_HDRINCL = 3
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_MTU = 14
IP_PKTINFO = 8
IP_RECVTTL = 12
IP_RECVTOS = 13
IP_PMTUDISC_DONT = 0
IP_PMTUDISC_WANT = 1
IP_PMTUDISC_DO = 2
IP_PMTUDISC_PROBE = 3
IP_PMTUDISC_INTERFACE = 4
IP_PMTUDISC_OMIT = 5
IPTOS_TOS_MASK = 0x1E
INET_ECN_MASK = 3

# -- IPPROTO_TCP options (linux/tcp.h) ----------------------------------------------------------
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
TCP_FASTOPEN = 23
TCP_NOTSENT_LOWAT = 25
TCP_FASTOPEN_CONNECT = 30
TCP_FASTOPEN_NO_COOKIE = 34
TCP_CA_NAME_MAX = 16

# struct tcp_info's tcpi_options bits
TCPI_OPT_TIMESTAMPS = 1
TCPI_OPT_SACK = 2
TCPI_OPT_WSCALE = 4
TCPI_OPT_ECN = 8  # ECN was negotiated
TCPI_OPT_ECN_SEEN = 16  # at least one ECT segment was received
TCPI_OPT_SYN_DATA = 32
# tcpi_fastopen_client_fail (enum tcp_fastopen_client_fail)
TFO_STATUS_UNSPEC = 0
TFO_COOKIE_UNAVAILABLE = 1
TFO_DATA_NOT_ACKED = 2
TFO_SYN_RETRANSMITTED = 3

# -- send/recv flags (linux/socket.h) -----------------------------------------------------------
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_CONFIRM = 0x800
MSG_ERRQUEUE = 0x2000
MSG_FASTOPEN = 0x20000000
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000
MSG_CMSG_CLOEXEC = 0x40000000

# -- the error queue (linux/errqueue.h): struct sock_extended_err's ee_origin ----------------
SO_EE_ORIGIN_NONE = 0
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

# -- epoll (linux/eventpoll.h; also the kernel side's poll() mask) ------------------------------
EPOLLIN = 0x001
EPOLLPRI = 0x002
EPOLLOUT = 0x004
EPOLLERR = 0x008
EPOLLHUP = 0x010
EPOLLRDNORM = 0x040
EPOLLRDBAND = 0x080
EPOLLWRNORM = 0x100
EPOLLRDHUP = 0x2000
EPOLLEXCLUSIVE = 1 << 28
EPOLLWAKEUP = 1 << 29
EPOLLONESHOT = 1 << 30
EPOLLET = 1 << 31
EPOLL_CTL_ADD = 1  # the stdlib's select module lacks the EPOLL_CTL_* numbers
EPOLL_CTL_DEL = 2
EPOLL_CTL_MOD = 3
EPOLL_CLOEXEC = SOCK_CLOEXEC

# -- socket ioctls (asm-generic/ioctls.h, linux/sockios.h, asm-generic/sockios.h) --------------
FIONREAD = 0x541B
SIOCINQ = FIONREAD
SIOCOUTQ = 0x5411  # TIOCOUTQ
SIOCATMARK = 0x8905
SIOCOUTQNSD = 0x894B

# -- ethertypes (linux/if_ether.h) --------------------------------------------------------------
ETH_P_LOOP = 0x0060
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD
ETH_P_PAUSE = 0x8808
ETH_P_8021AD = 0x88A8
ETH_P_LLDP = 0x88CC
ETH_P_802_3_MIN = 0x0600  # below this the field is an 802.3 length
ETH_P_802_3 = 0x0001  # pseudo types, below 0x0600
ETH_P_ALL = 0x0003
ETH_P_802_2 = 0x0004

# -- packet sockets (linux/if_packet.h): sll_pkttype, also skb->pkt_type ------------------------
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4
PACKET_LOOPBACK = 5
# SOL_PACKET options and struct packet_mreq's mr_type (linux/if_packet.h)
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_DROP_MEMBERSHIP = 2
PACKET_STATISTICS = 6
PACKET_MR_MULTICAST = 0
PACKET_MR_PROMISC = 1
PACKET_MR_ALLMULTI = 2
PACKET_MR_UNICAST = 3

# -- raw and ping sockets (linux/socket.h SOL_RAW, linux/icmp.h ICMP_FILTER) -------------------
SOL_RAW = 255
ICMP_FILTER = 1
IP_RECVTTL = 12  # linux/in.h: the received TTL as an IP_TTL control message
SO_EE_ORIGIN_ICMP = 2  # linux/errqueue.h: sock_extended_err.ee_origin of an ICMP error

# -- link types (linux/if_arp.h): sll_hatype, ARP's hardware type, dev->type ------------------
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772

__all__ = sorted(name for name in dict(globals()) if name.isupper())  # every number above
