"""One header table, compiled three ways: offsets, a ``struct.Struct``, a ``construct`` Struct.

The role dpkt's ``__hdr__`` plays (a list of ``(name, struct code, default)`` compiled once
into a ``struct.Struct``) and the role of smoltcp's ``mod field { pub const X: Field = 4..6 }``
offset tables.  Every protocol module in ``stack/wire/`` declares its fixed header once as a
:class:`Layout`; from it come

- the byte offset of each field (``LAYOUT.offset("ttl")``) used by the view's getters/setters,
- bit-field masks and shifts (``LAYOUT.mask("df")``) for fields packed into one word,
- ``LAYOUT.struct``: the whole header as one precompiled big-endian ``struct.Struct``, the hot
  path of every ``Repr.parse``/``Repr.emit`` (one ``unpack_from``/``pack_into`` per header),
- ``LAYOUT.construct()``: a ``construct`` Struct with the same field names (bit fields as a
  nested ``BitStruct``), for tests and the debugger's decoders only (cold path).

Contract: a field is a ``struct`` code of ``B``, ``H``, ``I`` or ``Ns`` (network byte order).
Bit fields are listed most significant first and must fill the word exactly.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

import construct as cs

Buffer = bytes | bytearray | memoryview
"""What views and ``parse``/``emit`` accept (``collections.abc.Buffer`` is Python 3.12+)."""

# Shared single-field codecs for the views' getters and setters (offsets come from the tables).
U8 = struct.Struct("!B")
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U16X2 = struct.Struct("!HH")

_WIDTHS = {"B": 1, "H": 2, "I": 4}


class Field(NamedTuple):
    """One header field: its name, its ``struct`` code, a line of doc, optional bit fields.

    ``bits`` splits an integer field into named sub-fields, most significant first, as
    ``(name, width in bits)``; names starting with ``_`` are reserved bits.
    """

    name: str
    code: str
    doc: str
    bits: tuple[tuple[str, int], ...] = ()


class Layout:
    """A compiled fixed header: ``offset(name)``, ``mask(bit)``, ``shift(bit)``, ``struct``."""

    __slots__ = ("name", "fields", "struct", "size", "_offsets", "_bits", "_construct")

    def __init__(self, name: str, fields: tuple[Field, ...]) -> None:
        self.name = name
        self.fields = fields
        self.struct = struct.Struct("!" + "".join(f.code for f in fields))
        self.size = self.struct.size
        self._offsets: dict[str, int] = {}
        self._bits: dict[str, tuple[int, int]] = {}
        self._construct: Any = None
        offset = 0
        for f in fields:
            self._offsets[f.name] = offset
            width = _code_width(f.code)
            if f.bits:
                if f.code not in _WIDTHS:
                    raise ValueError(f"{name}.{f.name}: bit fields need an integer code")
                shift = width * 8
                for bit_name, nbits in f.bits:
                    shift -= nbits
                    self._bits[bit_name] = (shift, (1 << nbits) - 1)
                if shift != 0:
                    raise ValueError(f"{name}.{f.name}: bit fields do not fill {width * 8} bits")
            offset += width
        if offset != self.size:
            raise ValueError(f"{name}: offsets disagree with struct size")

    def offset(self, field: str) -> int:
        """Byte offset of ``field`` from the start of the header."""
        return self._offsets[field]

    def shift(self, bit: str) -> int:
        """Right shift that brings bit field ``bit`` to bit 0 of its word."""
        return self._bits[bit][0]

    def mask(self, bit: str) -> int:
        """Mask of bit field ``bit`` in place within its word (e.g. IPv4 ``df`` -> 0x4000)."""
        shift, width_mask = self._bits[bit]
        return width_mask << shift

    def construct(self) -> Any:
        """The ``construct`` Struct for these fields (cold path: tests, debugger)."""
        if self._construct is None:
            self._construct = cs.Struct(*(f.name / _construct_type(f) for f in self.fields))
        return self._construct


def _code_width(code: str) -> int:
    if code in _WIDTHS:
        return _WIDTHS[code]
    if code.endswith("s") and code[:-1].isdigit():
        return int(code[:-1])
    raise ValueError(f"unsupported struct code {code!r}")


def _construct_type(f: Field) -> Any:
    if f.bits:
        return cs.BitStruct(*(bit / cs.BitsInteger(n) for bit, n in f.bits))
    if f.code == "B":
        return cs.Int8ub
    if f.code == "H":
        return cs.Int16ub
    if f.code == "I":
        return cs.Int32ub
    return cs.Bytes(_code_width(f.code))
