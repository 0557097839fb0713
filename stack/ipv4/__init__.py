"""IPv4: addresses, routing, receive, forwarding, output, fragments, GSO and ICMP.

Mirrors Linux's ``net/ipv4`` (one module per concern: ``devinet``, ``route`` (fib_* +
route.c), ``input`` (ip_input.c), ``forward`` (ip_forward.c), ``output`` (ip_output.c),
``defrag`` (ip_fragment.c: reassembly; ip_do_fragment is in ``output``), ``gso``
(tcp_offload.c), ``icmp``).  The per-host state hangs off ``stack.net.Net``; see each
module's contract.
"""

from stack.ipv4.devinet import InIfAddr, parse_cidr
from stack.ipv4.icmp import ICMP_ERR_CONVERT, icmp_send
from stack.ipv4.output import MAX_HEADER, ip_queue_xmit, ip_send
from stack.ipv4.route import (
    RTN_BROADCAST,
    RTN_LOCAL,
    RTN_UNICAST,
    Route,
    dst_confirm_neigh,
    route_output,
)

__all__ = [
    "ICMP_ERR_CONVERT", "InIfAddr", "MAX_HEADER", "RTN_BROADCAST", "RTN_LOCAL", "RTN_UNICAST",
    "Route", "dst_confirm_neigh", "icmp_send", "ip_queue_xmit", "ip_send", "parse_cidr",
    "route_output",
]  # fmt: skip
