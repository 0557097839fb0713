"""Classic libpcap capture files: a writer for cables and ports, a reader for tests and tools.

Mirrors QEMU's ``net/dump.c`` (``-object filter-dump``), which writes the same format, and
smoltcp's ``phy::PcapWriter``.  Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html
(a 24-byte global header, then a 16-byte record header before each frame).

Contract:

* :class:`PcapWriter` writes little-endian files with magic ``0xA1B2C3D4`` (microsecond
  timestamps, version 2.4) by default; virtual nanoseconds are truncated to microseconds.
  ``nanosecond=True`` writes magic ``0xA1B23C4D`` and keeps every nanosecond (tcpdump and
  Wireshark read both).  Frames longer than ``snaplen`` are cut, with their original length
  kept in the record.  A writer given a path owns the file and closes it; a writer given a
  file object only flushes it.
* :class:`PcapReader` accepts either byte order and either magic and yields ``(ts_ns,
  frame)``; anything malformed (unknown magic, cut-short record, absurd length) raises
  :class:`PcapError` naming the offset, never a bare ``struct.error``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO, Any

from device.units import NS_PER_S, NS_PER_US

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
VERSION_MAJOR = 2
VERSION_MINOR = 4
LINKTYPE_ETHERNET = 1
# Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD: the largest record a reader accepts.
MAX_SNAPLEN = 262144


_GLOBAL_LE = struct.Struct("<IHHiIII")
_GLOBAL_BE = struct.Struct(">IHHiIII")
_RECORD_LE = struct.Struct("<IIII")
_RECORD_BE = struct.Struct(">IIII")


class PcapError(ValueError):
    """A capture file that is not classic pcap, or is cut short."""


class PcapWriter:
    """Append frames with virtual timestamps to a classic pcap file."""

    def __init__(
        self,
        path_or_file: str | Any,
        snaplen: int = MAX_SNAPLEN,
        linktype: int = LINKTYPE_ETHERNET,
        nanosecond: bool = False,
    ) -> None:
        if not 0 < snaplen <= 0xFFFFFFFF:
            raise ValueError(f"snaplen must be a positive 32-bit value, got {snaplen}")
        if isinstance(path_or_file, str | bytes) or hasattr(path_or_file, "__fspath__"):
            self._file: IO[bytes] = open(path_or_file, "wb")
            self._owned = True
        else:
            self._file = path_or_file
            self._owned = False
        self.snaplen = snaplen
        self.linktype = linktype
        self.nanosecond = nanosecond
        self._div = 1 if nanosecond else NS_PER_US
        self.packets = 0
        self.closed = False
        magic = MAGIC_NS if nanosecond else MAGIC_US
        self._file.write(
            _GLOBAL_LE.pack(magic, VERSION_MAJOR, VERSION_MINOR, 0, 0, snaplen, linktype)
        )

    def write(self, ts_ns: int, frame: bytes, orig_len: int | None = None) -> None:
        """Record one frame seen at virtual time ``ts_ns``.

        ``frame`` may already be cut (a capture filter's snap length, as tcpdump's): then
        ``orig_len`` is the length the frame had on the wire, the record's ``orig_len``.
        """
        sec, frac = divmod(ts_ns, NS_PER_S)
        length = len(frame) if orig_len is None else max(orig_len, len(frame))
        incl = min(len(frame), self.snaplen)
        write = self._file.write
        write(_RECORD_LE.pack(sec, frac // self._div, incl, length))
        write(frame if incl == len(frame) else frame[:incl])
        self.packets += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._owned:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcapReader:
    """Iterate ``(ts_ns, frame)`` over a classic pcap file (either byte order and precision).

    ``linktype``, ``snaplen``, ``nanosecond``, ``version`` and ``byteorder`` describe the file.
    """

    def __init__(self, path_or_file: str | Any) -> None:
        if isinstance(path_or_file, str | bytes) or hasattr(path_or_file, "__fspath__"):
            self._file: IO[bytes] = open(path_or_file, "rb")
            self._owned = True
        else:
            self._file = path_or_file
            self._owned = False
        head = self._file.read(_GLOBAL_LE.size)
        if len(head) < _GLOBAL_LE.size:
            self.close()
            raise PcapError(f"pcap global header cut short: {len(head)} of 24 bytes")
        (magic,) = struct.unpack_from("<I", head)
        if magic in (MAGIC_US, MAGIC_NS):
            self.byteorder = "little"
            fields, self._record = _GLOBAL_LE.unpack(head), _RECORD_LE
        else:
            (magic,) = struct.unpack_from(">I", head)
            if magic not in (MAGIC_US, MAGIC_NS):
                self.close()
                raise PcapError(f"not a classic pcap file: magic {head[:4].hex()}")
            self.byteorder = "big"
            fields, self._record = _GLOBAL_BE.unpack(head), _RECORD_BE
        _magic, major, minor, _zone, _sigfigs, self.snaplen, self.linktype = fields
        self.version = (major, minor)
        self.nanosecond = magic == MAGIC_NS
        self._mul = 1 if self.nanosecond else NS_PER_US
        self._offset = _GLOBAL_LE.size

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        read = self._file.read
        record = self._record
        size = record.size
        limit = max(self.snaplen, MAX_SNAPLEN)
        mul = self._mul
        while True:
            head = read(size)
            if not head:
                return
            if len(head) < size:
                raise PcapError(f"record header cut short at offset {self._offset}")
            sec, frac, incl, _orig = record.unpack(head)
            if incl > limit:
                raise PcapError(
                    f"record at offset {self._offset} claims {incl} bytes (limit {limit})"
                )
            frame = read(incl)
            if len(frame) < incl:
                raise PcapError(
                    f"record at offset {self._offset} cut short: {len(frame)} of {incl} bytes"
                )
            self._offset += size + incl
            yield sec * NS_PER_S + frac * mul, frame

    def close(self) -> None:
        if self._owned:
            self._file.close()

    def __enter__(self) -> PcapReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_pcap(path_or_file: str | Any) -> list[tuple[int, bytes]]:
    """Every ``(ts_ns, frame)`` of a capture, for tests and the debugger."""
    with PcapReader(path_or_file) as reader:
        return list(reader)
