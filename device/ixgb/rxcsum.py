"""RX checksum offload: verify the IPv4 header and TCP/UDP checksums of a received frame.

The receive half of the 82597's checksum engine, reported in the RX descriptor's status and
errors bytes (docs/hardware.md §1.5): IPCS/IPE for the IPv4 header, TCPCS/TCPE for TCP or UDP,
IXSM when nothing was checked.  It mirrors the checksum part of QEMU's e1000 receive path
(``e1000_receiver_checksum``-style status bits, ``hw/net/e1000.c``) and is what Linux's
``ixgb_rx_checksum`` consumes (§2.7 step 4).

Contract: :func:`rx_checksum` takes the bytes as they will be DMA'd (VLAN tag already stripped
or not), the offset of the L3 header (14, or 18 for a frame still carrying its tag), and
RXCSUM, and returns ``(status_bits, error_bits)``.  It never raises on any input.

Rules, settled for ixsim:

* RXCSUM.IPOFL enables the IPv4 header check (IPCS, and IPE when the header does not sum to
  0xFFFF).  RXCSUM.TUOFL enables the TCP/UDP check (TCPCS, and TCPE when the segment and its
  pseudo-header do not sum to 0xFFFF).
* **IPOFL clear** (what the Linux driver programs: it sets TUOFL only, §2.3 step 5): the IPv4
  header is *not* checked, so neither IPCS nor IPE is reported; the TCP/UDP check still runs.
  The hardware reports what it was asked to compute and nothing more; Linux re-checks the IP
  header in software anyway (``ip_rcv`` always does).
* IXSM ("ignore checksum indication") is set exactly when no checksum was computed: not IPv4
  (or a malformed IPv4 header: version != 4, IHL < 5, header beyond the frame), both offloads
  off, or IPv4 whose only enabled check did not apply (TUOFL only, on ICMP).
* No L4 check (no TCPCS) on IP fragments (MF set or offset != 0), on a total length that is
  shorter than the header or runs past the frame, on a TCP segment shorter than 20 bytes or a
  UDP datagram shorter than 8, and on UDP with checksum 0 (the sender computed none, RFC 768).
  The IP total length bounds the L4 data, so Ethernet padding is ignored.
"""

from __future__ import annotations

import struct

from device.spec import desc as D
from device.spec import regs as R
from fastpath import csum_partial

IPPROTO_TCP = 6
IPPROTO_UDP = 17
_OFFLOADS = R.RXCSUM_IPOFL | R.RXCSUM_TUOFL
_IXSM = (D.RXD_STAT_IXSM, 0)
_IP_FIELDS = struct.Struct("!BBHHHBBH")  # ver_ihl, tos, tot_len, id, frag, ttl, proto, check
_ADDRS = struct.Struct("!HHHH")  # saddr and daddr as 16-bit words (the pseudo-header)


def rx_checksum(data: bytes | memoryview, l3: int, rxcsum: int) -> tuple[int, int]:
    """Checksum status and error bits for one frame (module docstring for the rules)."""
    if not rxcsum & _OFFLOADS:
        return _IXSM
    n = len(data)
    if n < l3 + 20 or data[l3 - 2] != 0x08 or data[l3 - 1] != 0x00:
        return _IXSM
    vihl, _tos, tot_len, _id, frag, _ttl, proto, _check = _IP_FIELDS.unpack_from(data, l3)
    ihl = (vihl & 0x0F) << 2
    if vihl >> 4 != 4 or ihl < 20 or l3 + ihl > n:
        return _IXSM
    mv = memoryview(data)
    status = 0
    errors = 0
    if rxcsum & R.RXCSUM_IPOFL:
        status = D.RXD_STAT_IPCS
        if csum_partial(mv[l3 : l3 + ihl]) != 0xFFFF:
            errors = D.RXD_ERR_IPE
    if (
        rxcsum & R.RXCSUM_TUOFL
        and (proto == IPPROTO_TCP or proto == IPPROTO_UDP)
        and not frag & 0x3FFF
        and ihl <= tot_len
        and l3 + tot_len <= n
    ):
        l4 = l3 + ihl
        l4_len = tot_len - ihl
        if proto == IPPROTO_TCP:
            applies = l4_len >= 20
        else:
            applies = l4_len >= 8 and (data[l4 + 6] or data[l4 + 7])
        if applies:
            status |= D.RXD_STAT_TCPCS
            pseudo = sum(_ADDRS.unpack_from(data, l3 + 12)) + proto + l4_len
            if csum_partial(mv[l4 : l4 + l4_len], pseudo) != 0xFFFF:
                errors |= D.RXD_ERR_TCPE
    if not status:
        return _IXSM
    return status, errors
