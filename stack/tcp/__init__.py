"""TCP (RFC 9293) with Linux's behaviour: the engine under the BSD socket layer.

Layout (Linux's ``net/ipv4/tcp*.c`` split by concern):

- ``state.py``   TcpState (RFC 9293 names), the one setter and its transition table
- ``seq.py``     sequence arithmetic; ``const.py`` Linux's constants and option numbers
- ``sock.py``    TcpSock (``struct tcp_sock``); ``cb.py`` TxSeg, a queued skb's control block
- ``ops.py``     bind/listen/accept/connect/ioctl/shutdown/close/disconnect; ``sendmsg.py``
  tcp_sendmsg; ``recvmsg.py`` tcp_recvmsg; ``poll.py`` tcp_poll
- ``close.py``   teardown: tcp_shutdown, tcp_fin, tcp_reset, tcp_done, tcp_time_wait
- ``sockopt.py`` setsockopt/getsockopt; ``info.py`` TCP_INFO and ``ss -tin``
- ``table.py``   TcpTable (hashes, ports, ISNs, the transmit/route hooks), tcp_init,
  tcp_v4_rcv/_err
- ``minisocks.py`` listeners, request socks (SYN queue); ``timewait.py`` TIME-WAIT segments
- ``rcv.py``     validation, header prediction, the state machine; ``rcvq.py`` data, SACK,
  delayed ACK; ``ack.py`` the ACK field, SACK scoreboard; ``recovery.py`` loss recovery
- ``output.py``  segments, tcp_write_xmit, retransmission; ``header.py`` options and the
  header write; ``tso.py`` TSO deferral; ``window.py`` MSS, windows, send buffer;
  ``connect.py`` the active open (SYN)
- ``timer.py``   RTO/probe0, delayed ACK, keepalive, TIME-WAIT; ``rtt.py`` RFC 6298
- ``cong.py``    the congestion-control interface; ``reno.py``, ``cubic.py`` (default),
  ``bbr.py`` (BBR v1 on the delivery-rate samples of ``rate.py``; ``chrono.py`` TCP_INFO's
  busy/limited times)
- ``offload.py`` GRO: merging received segments of a flow (``tcp_gro_receive``, both families)

Entry points: ``tcp_init(net)`` makes the namespace's ``net.tcp`` (``stack.af_inet``'s
``inet_init`` runs it and registers ``tcp_v4_rcv``/``tcp_v4_err`` with IP, from ``Net()``);
``TcpSock(net)`` is a new socket.
"""

from __future__ import annotations

# isort: off
# the congestion controls register in Linux's order (tcp_available_congestion_control lists
# "reno cubic bbr"), then GRO
from stack.tcp import reno, cubic, bbr, offload  # noqa: F401
# isort: on
from stack.tcp.cong import CONGESTION_OPS, CongestionOps, register
from stack.tcp.hashtables import TcpTable
from stack.tcp.info import TcpInfo
from stack.tcp.sock import TcpSock
from stack.tcp.state import CaState, TcpState
from stack.tcp.table import tcp_init, tcp_v4_err, tcp_v4_rcv

__all__ = [
    "CONGESTION_OPS",
    "CaState",
    "CongestionOps",
    "TcpInfo",
    "TcpSock",
    "TcpState",
    "TcpTable",
    "register",
    "tcp_init",
    "tcp_v4_err",
    "tcp_v4_rcv",
]
