"""TX offloads of the 82597EX: checksum insertion, TSO segmentation, VLAN insertion, padding.

Pure functions over ``bytes``/``bytearray``, called by the TX engine (``device/ixgb/tx.py``)
once a packet's data descriptors have been gathered.  They mirror QEMU's
``hw/net/e1000.c`` (``putsum``, ``xmit_seg``) in logic, not in code.  Per-byte work is done
by :mod:`fastpath` (RFC 1071 sums); header fields are patched with precompiled structs.

Contract:

* Offsets come from the last context descriptor (:class:`TxContext`) and are relative to the
  packet as the driver laid it out in its buffers, *before* any VLAN tag is inserted.
  End offsets (``ipcse``, ``tucse``) are inclusive; 0 means "to the end of the packet".
* A request the hardware cannot honour (offsets outside the packet, a TSO context with an MSS
  below ``TSO_MIN_MSS`` (88, Linux's TCP_MIN_MSS), a header longer than the packet, ...)
  raises :class:`OffloadError` carrying the offending value; the engine records it as a
  device fault once and drops the packet.  Nothing here ever raises anything else on hostile input.
* ``insert_ip_checksum`` computes the IPv4 header checksum with its field taken as zero.
  ``insert_l4_checksum`` *continues from the seed* the driver left in the field (Linux's
  CHECKSUM_PARTIAL: the field holds the pseudo-header sum), as the hardware does.
* ``tso_segments`` does not trust the seed: for every segment it recomputes the L4 checksum
  from the pseudo-header (addresses from the IP header, the real segment length), which is
  what the hardware's "seed without length + segment length" amounts to for a correct
  driver (docs/hardware.md §2.5, §3.11 "an LSO pseudo-header seed without the length").
* Checksums are stored "no zero" (a computed 0 goes out as 0xFFFF, its one's-complement
  twin): mandatory for UDP (RFC 768), equivalent for IPv4 and TCP.

Spec: docs/hardware.md §1.5 (context descriptor), §2.5 (how Linux fills it).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

import fastpath
from device.spec import desc as D
from fastpath import csum_fold, csum_partial

ETH_ZLEN = 60  # minimum frame without FCS; TCTL.TPDE pads up to it
ETH_P_8021Q = 0x8100
MAX_PACKET = 16 * 1024  # largest non-TSO packet the TX FIFO takes (before VLAN insertion)
MAX_TSO_PACKET = 256 * 1024  # largest TSO super-packet accepted (headers included)

TCP_FLAG_FIN = 0x01
TCP_FLAG_PSH = 0x08
IPPROTO_TCP = 6
IPPROTO_UDP = 17
_IPV4_MIN_HDR = 20
_IPV6_HDR = 40
_TCP_MIN_HDR = 20
_UDP_HDR = 8

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_VLAN_TAG = struct.Struct(">HH")
_PAD = bytes(ETH_ZLEN)


class OffloadError(ValueError):
    """An offload request the hardware cannot carry out; ``value`` is the offending field."""

    def __init__(self, message: str, value: int) -> None:
        super().__init__(message)
        self.value = value


class TxContext(NamedTuple):
    """The offload parameters of one TX context descriptor (docs/hardware.md §1.5)."""

    ipcss: int = 0
    ipcso: int = 0
    ipcse: int = 0
    tucss: int = 0
    tucso: int = 0
    tucse: int = 0
    cmd: int = 0  # CMD bits 31:24 of cmd_type_len, in place: TCP, IP, TSE, RS, IDE
    paylen: int = 0
    hdr_len: int = 0
    mss: int = 0

    @property
    def tcp(self) -> bool:
        return bool(self.cmd & D.TXC_CMD_TCP)

    @property
    def ipv4(self) -> bool:
        return bool(self.cmd & D.TXC_CMD_IP)

    @property
    def tse(self) -> bool:
        return bool(self.cmd & D.TXC_CMD_TSE)


EMPTY_CONTEXT = TxContext()


def _range_end(start: int, end_incl: int, length: int, what: str) -> int:
    """Exclusive end of a checksum range [start, end_incl]; end_incl 0 = end of packet."""
    end = end_incl + 1 if end_incl else length
    if start >= end or end > length:
        raise OffloadError(
            f"{what} checksum range {start}..{end - 1} lies outside the {length}-byte packet",
            end_incl or start,
        )
    return end


def _store_checksum(buf: bytearray, offset: int, partial: int) -> None:
    _U16.pack_into(buf, offset, csum_fold(partial) or 0xFFFF)


def insert_ip_checksum(buf: bytearray, css: int, cso: int, cse: int) -> None:
    """IXSM: the IPv4 header checksum of ``buf[css..cse]`` (field taken as 0) at ``cso``."""
    n = len(buf)
    end = _range_end(css, cse, n, "IP")
    if cso + 2 > n:
        raise OffloadError(f"IP checksum offset {cso} lies outside the {n}-byte packet", cso)
    buf[cso] = 0
    buf[cso + 1] = 0
    _store_checksum(buf, cso, csum_partial(buf[css:end]))


def insert_l4_checksum(buf: bytearray, css: int, cso: int, cse: int) -> None:
    """TXSM: the TCP/UDP checksum of ``buf[css..cse]`` at ``cso``, continuing from the seed
    (the pseudo-header sum) that the driver stored in the field."""
    n = len(buf)
    end = _range_end(css, cse, n, "TCP/UDP")
    if cso + 2 > n:
        raise OffloadError(f"TCP/UDP checksum offset {cso} lies outside the {n}-byte packet",
                           cso)
    _store_checksum(buf, cso, csum_partial(buf[css:end]))


def insert_vlan(frame: bytes | bytearray, tag: int) -> bytes:
    """VLE with CTRL0.VME: put 0x8100 + ``tag`` (the descriptor's vlan field) after the MACs."""
    return b"".join((frame[:12], _VLAN_TAG.pack(ETH_P_8021Q, tag), frame[12:]))


def pad(frame: bytes | bytearray) -> bytes:
    """TCTL.TPDE: pad a short frame with zeros to 60 bytes (64 with the FCS)."""
    return bytes(frame) + _PAD[len(frame):]


def check_tso(ctx: TxContext, length: int, ixsm: bool, txsm: bool) -> None:
    """Validate a TSO context against the packet it is applied to; OffloadError if unusable."""
    hdr_len, mss = ctx.hdr_len, ctx.mss
    if not ctx.tse:
        raise OffloadError("data descriptor with TSE but the last context descriptor is not "
                           "a TSO context", ctx.cmd)
    if mss < D.TSO_MIN_MSS:
        raise OffloadError(f"TSO context MSS {mss} is below the minimum {D.TSO_MIN_MSS} "
                           "(one super-packet would make too many frames)", mss)
    if hdr_len == 0 or hdr_len > length:
        raise OffloadError(f"TSO header length {hdr_len} does not fit the {length}-byte "
                           "packet", hdr_len)
    if hdr_len + mss > MAX_PACKET:
        raise OffloadError(f"TSO segments of {hdr_len} + {mss} bytes exceed the 16 KiB "
                           "frame limit", mss)
    if ctx.paylen != length - hdr_len:
        raise OffloadError(f"TSO context PAYLEN {ctx.paylen} differs from the "
                           f"{length - hdr_len} payload bytes the data descriptors carry",
                           ctx.paylen)
    ip_need = ctx.ipcss + (_IPV4_MIN_HDR if ctx.ipv4 else _IPV6_HDR)
    if ip_need > hdr_len:
        raise OffloadError(f"TSO IP header at {ctx.ipcss} extends beyond the {hdr_len}-byte "
                           "header", ctx.ipcss)
    l4_need = ctx.tucss + (_TCP_MIN_HDR if ctx.tcp else _UDP_HDR)
    if l4_need > hdr_len or ctx.tucss < ip_need:
        raise OffloadError(f"TSO TCP/UDP header at {ctx.tucss} does not lie between the IP "
                           f"header and the end of the {hdr_len}-byte header", ctx.tucss)
    if ixsm and ctx.ipv4:
        if ctx.ipcso + 2 > hdr_len:
            raise OffloadError(f"TSO IP checksum offset {ctx.ipcso} outside the header",
                               ctx.ipcso)
        if ctx.ipcse and not ctx.ipcss < ctx.ipcse < hdr_len:
            raise OffloadError(f"TSO IP checksum end {ctx.ipcse} outside the IP header",
                               ctx.ipcse)
    if txsm and ctx.tucso + 2 > hdr_len:
        raise OffloadError(f"TSO TCP/UDP checksum offset {ctx.tucso} outside the header",
                           ctx.tucso)


def tso_segments(packet: bytes, ctx: TxContext, ixsm: bool, txsm: bool) -> list[bytes]:
    """Cut a TSO super-packet into segments of at most ``ctx.mss`` payload bytes.

    Per segment, as the hardware does (QEMU's ``xmit_seg``): copy the ``hdr_len`` header,
    fix the IPv4 total length and ID (incremented per segment) or the IPv6 payload length,
    advance the TCP sequence number (or fix the UDP length), keep PSH and FIN for the last
    segment only, then fill in the IP header checksum (IXSM) and the TCP/UDP checksum (TXSM)
    over the real segment.
    """
    check_tso(ctx, len(packet), ixsm, txsm)
    return fastpath.tso_segment(  # the per-byte work, in C when built (issue 8)
        packet, ctx.ipcss, ctx.tucss, ctx.hdr_len, ctx.mss, None, ctx.tcp,
        ipv6=not ctx.ipv4, ip_csum=ixsm, ip_csum_off=ctx.ipcso,
        ip_csum_end=ctx.ipcse + 1 if ctx.ipcse else 0, l4_csum=txsm, l4_csum_off=ctx.tucso,
    )
