"""Pure-Python twins of the per-byte work: RFC 1071 Internet checksum, TSO segmentation.

The C core (``fastpath/_core.c``, wrapped by ``fastpath/_c.py``) gives identical results for
every input; these are the reference and the fallback when no compiler was available at
install time (or ``IXSIM_PURE=1``).  ``int.from_bytes`` folding is ~25x faster than a byte
loop in CPython: the whole buffer becomes one big int, and end-around carry folding is done
on it in a few big-int operations.  ``tso_segment`` is the device's TSO engine
(device/ixgb/offload.py ``tso_segments``) as a function of plain offsets.
"""

from __future__ import annotations

import struct
from typing import NamedTuple


def csum_partial(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """One's-complement 16-bit sum of ``data`` (big-endian words) plus ``initial``, unfolded
    to 16 bits but not complemented.  Odd lengths are padded with a zero byte (RFC 1071)."""
    n = len(data)
    if n & 1:
        data = bytes(data) + b"\0"
        n += 1
    if n == 0:
        total = initial
    else:
        big = int.from_bytes(data, "big")
        # Fold the big integer 16 bits at a time in O(log n) big-int steps: summing the
        # words of a number is the number mod 0xFFFF (with 0xFFFF for non-zero multiples).
        total = big % 0xFFFF
        if total == 0 and big:
            total = 0xFFFF
        total += initial
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def csum_fold(total: int) -> int:
    """Fold a 32-bit partial sum to 16 bits and complement it (Linux's csum_fold)."""
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The value to store in a checksum field: ~(sum of words), with 0 kept as 0."""
    return csum_fold(csum_partial(data, initial))


def csum_replace2(check: int, old: int, new: int) -> int:
    """Incrementally update a stored checksum when one 16-bit word changes (RFC 1624 eqn 3)."""
    total = (~check & 0xFFFF) + (~old & 0xFFFF) + new
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def csum_copy(dst: bytearray | memoryview, dst_off: int,
              src: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """Copy ``src`` into ``dst`` at ``dst_off`` and return ``csum_partial(src, initial)``
    (Linux's ``csum_partial_copy_nocheck``: one pass over the bytes in the C core).

    ``src`` and ``dst`` must not overlap.  ValueError if ``src`` does not fit in ``dst``."""
    n = len(src)
    if dst_off < 0 or dst_off + n > len(dst):
        raise ValueError(f"csum_copy: {n} bytes at offset {dst_off} do not fit in a "
                         f"{len(dst)}-byte buffer")
    total = csum_partial(src, initial)
    dst[dst_off : dst_off + n] = src
    return total


# -- TSO ------------------------------------------------------------------------------------

_TCP_FLAG_FIN = 0x01
_TCP_FLAG_PSH = 0x08
_IPPROTO_TCP = 6
_IPPROTO_UDP = 17
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class TsoArgs(NamedTuple):
    """``tso_segment``'s arguments, validated and resolved (both twins work from these).

    ``ip_id``: -1 = take it from the header; ``ip_csum_off``/``l4_csum_off``: -1 = do not
    insert that checksum; ``ip_csum_end``: exclusive, 0 = to the end of each segment."""

    l3_off: int
    l4_off: int
    hdr_len: int
    mss: int
    ip_id: int
    is_tcp: bool
    ipv6: bool
    ip_csum_off: int
    ip_csum_end: int
    l4_csum_off: int
    nseg: int


def tso_args(length: int, l3_off: int, l4_off: int, hdr_len: int, mss: int,
             ip_id_start: int | None, is_tcp: bool, ipv6: bool, ip_csum: bool,
             ip_csum_off: int | None, ip_csum_end: int | None, l4_csum: bool,
             l4_csum_off: int | None) -> TsoArgs:
    """Check ``tso_segment``'s arguments against a ``length``-byte packet; ValueError names
    the first one that would put a read or a write outside a segment's header."""
    is_tcp = bool(is_tcp)
    ipv6 = bool(ipv6)
    if not 0 < hdr_len <= length:
        raise ValueError(f"tso_segment: header length {hdr_len} does not fit the "
                         f"{length}-byte packet")
    if mss <= 0:
        raise ValueError(f"tso_segment: MSS {mss} is not positive")
    ip_hdr = 40 if ipv6 else 20
    if l3_off < 0 or l3_off + ip_hdr > hdr_len:
        raise ValueError(f"tso_segment: the {ip_hdr}-byte IP header at {l3_off} does not fit "
                         f"the {hdr_len}-byte header")
    l4_hdr = 20 if is_tcp else 8
    if l4_off < 0 or l4_off + l4_hdr > hdr_len:
        raise ValueError(f"tso_segment: the {l4_hdr}-byte L4 header at {l4_off} does not fit "
                         f"the {hdr_len}-byte header")
    payload = length - hdr_len
    longest = hdr_len + min(mss, payload)
    len_base = l3_off + ip_hdr if ipv6 else l3_off
    if longest - len_base > 0xFFFF or (not is_tcp and longest - l4_off > 0xFFFF):
        raise ValueError(f"tso_segment: a {longest}-byte segment overflows a 16-bit length "
                         "field")
    if ip_csum and not ipv6:
        if ip_csum_off is None:
            ip_csum_off = l3_off + 10
        if ip_csum_off < 0 or ip_csum_off + 2 > hdr_len:
            raise ValueError(f"tso_segment: IP checksum offset {ip_csum_off} lies outside "
                             f"the {hdr_len}-byte header")
        if ip_csum_end is None:
            ip_csum_end = l4_off
        if ip_csum_end and not l3_off < ip_csum_end <= hdr_len:
            raise ValueError(f"tso_segment: IP checksum end {ip_csum_end} does not lie "
                             f"within the header, after the IP header's start {l3_off}")
    else:
        ip_csum_off, ip_csum_end = -1, 0
    if l4_csum:
        if l4_csum_off is None:
            l4_csum_off = l4_off + (16 if is_tcp else 6)
        if l4_csum_off < 0 or l4_csum_off + 2 > hdr_len:
            raise ValueError(f"tso_segment: L4 checksum offset {l4_csum_off} lies outside "
                             f"the {hdr_len}-byte header")
    else:
        l4_csum_off = -1
    ip_id = -1 if ipv6 or ip_id_start is None else ip_id_start & 0xFFFF
    nseg = max(1, -(-payload // mss))
    return TsoArgs(l3_off, l4_off, hdr_len, mss, ip_id, is_tcp, ipv6, ip_csum_off,
                   ip_csum_end, l4_csum_off, nseg)


def tso_segment(packet: bytes | bytearray | memoryview, l3_off: int, l4_off: int,
                hdr_len: int, mss: int, ip_id_start: int | None, is_tcp: bool, *,
                ipv6: bool = False, ip_csum: bool = True, ip_csum_off: int | None = None,
                ip_csum_end: int | None = None, l4_csum: bool = True,
                l4_csum_off: int | None = None) -> list[bytes]:
    """Cut a TSO super-packet into finished frames of at most ``mss`` payload bytes each.

    What the 82597EX does per segment (device/ixgb/offload.py, QEMU's ``xmit_seg``): copy the
    ``hdr_len``-byte header; set the IPv4 total length and ID (``ip_id_start`` + k, or the
    header's own ID when None) or the IPv6 payload length; advance the TCP sequence number by
    ``mss`` per segment and keep PSH/FIN for the last one only (UDP: set its length); then
    insert the IPv4 header checksum over ``[l3_off, ip_csum_end)`` (default: up to
    ``l4_off``; 0: to the end of the segment) at ``ip_csum_off`` (default ``l3_off + 10``)
    and the TCP/UDP checksum over ``[l4_off, end)`` at ``l4_csum_off`` (default the field of
    the TCP or UDP header), from the pseudo-header (addresses from the IP header, the real
    segment length): a seed left in the field by the driver is not trusted.  Checksum fields
    are zeroed before anything is read or summed; a computed 0 is stored as 0xFFFF.
    ``ip_csum``/``l4_csum`` False leave the field as the driver wrote it (IXSM/TXSM clear).

    Spec: docs/hardware.md §2.5, §3.11; RFC 9293 §3.1 (pseudo-header).
    """
    a = tso_args(len(packet), l3_off, l4_off, hdr_len, mss, ip_id_start, is_tcp, ipv6,
                 ip_csum, ip_csum_off, ip_csum_end, l4_csum, l4_csum_off)
    hdr_len, mss = a.hdr_len, a.mss
    tucss, tucso, ipcso = a.l4_off, a.l4_csum_off, a.ip_csum_off
    ipcss = a.l3_off
    header = bytearray(packet[:hdr_len])
    if ipcso >= 0:
        header[ipcso] = header[ipcso + 1] = 0
    if tucso >= 0:
        header[tucso] = header[tucso + 1] = 0
    ipv4, tcp = not a.ipv6, a.is_tcp
    if ipv4:
        ip_id = a.ip_id if a.ip_id >= 0 else _U16.unpack_from(header, ipcss + 4)[0]
        addr_sum = csum_partial(header[ipcss + 12 : ipcss + 20])
    else:
        ip_id = 0
        addr_sum = csum_partial(header[ipcss + 8 : ipcss + 40])
    pseudo_base = addr_sum + (_IPPROTO_TCP if tcp else _IPPROTO_UDP)
    if tcp:
        seq = _U32.unpack_from(header, tucss + 4)[0]
        flags = header[tucss + 13]
        flags_mid = flags & ~(_TCP_FLAG_PSH | _TCP_FLAG_FIN)
    else:
        seq = flags = flags_mid = 0
    payload = memoryview(packet)[hdr_len:]
    nseg = a.nseg
    ip_len_off = ipcss + 2 if ipv4 else ipcss + 4
    ip_len_base = ipcss if ipv4 else ipcss + 40
    ip_end = a.ip_csum_end
    pack16 = _U16.pack_into
    segments = []
    for k in range(nseg):
        seg = bytearray(header)
        seg += payload[k * mss : (k + 1) * mss]
        n = len(seg)
        pack16(seg, ip_len_off, n - ip_len_base)
        if ipv4:
            pack16(seg, ipcss + 4, (ip_id + k) & 0xFFFF)
        if tcp:
            _U32.pack_into(seg, tucss + 4, (seq + k * mss) & 0xFFFF_FFFF)
            seg[tucss + 13] = flags if k == nseg - 1 else flags_mid
        else:
            pack16(seg, tucss + 4, n - tucss)
        if ipcso >= 0:
            pack16(seg, ipcso, csum_fold(csum_partial(seg[ipcss : ip_end or n])) or 0xFFFF)
        if tucso >= 0:
            pack16(seg, tucso,
                   csum_fold(csum_partial(seg[tucss:], pseudo_base + n - tucss)) or 0xFFFF)
        segments.append(bytes(seg))
    return segments
