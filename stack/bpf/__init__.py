"""Packet filtering as Linux and tcpdump do it: classic BPF and the tcpdump filter language.

- :mod:`stack.bpf.insn` — opcodes, :class:`Insn`, ``tcpdump -d`` disassembly, binary and
  ``-ddd`` forms (Linux ``include/uapi/linux/filter.h``, libpcap ``bpf_image.c``);
- :mod:`stack.bpf.vm` — :func:`check` (Linux ``bpf_check_classic``), the reference
  interpreter :func:`interpret`, and :func:`run` (net/core/filter.c semantics);
- :mod:`stack.bpf.jit` — a program compiled to one Python function, the fast path;
- :mod:`stack.bpf.parse`, :mod:`stack.bpf.compiler`, :mod:`stack.bpf.optimize` — tcpdump
  expressions to cBPF over Ethernet (libpcap ``grammar.y``, ``gencode.c``, ``optimize.c``).

:class:`Filter` is what a capture point holds: ``Filter("tcp port 80")(frame) -> bool``.
"""

from __future__ import annotations

from collections.abc import Sequence

from stack.bpf.compiler import DEFAULT_SNAPLEN, compile_filter
from stack.bpf.insn import (
    BpfError,
    Insn,
    decode,
    disassemble,
    encode,
    format_ddd,
    parse_ddd,
)
from stack.bpf.vm import Packet, check, compile_program, interpret, run

__all__ = [
    "DEFAULT_SNAPLEN", "BpfError", "Filter", "Insn", "check", "compile_filter",
    "compile_program", "decode", "disassemble", "encode", "format_ddd", "interpret",
    "parse_ddd", "run",
]


class Filter:
    """A compiled filter: ``Filter("tcp port 80")(frame)`` is True when the frame matches.

    Built from a tcpdump expression, or with :meth:`from_program` from any cBPF program (a
    ``tcpdump -ddd`` dump, an ``SO_ATTACH_FILTER`` array); checked once, compiled once.
    """

    __slots__ = ("expr", "program", "_fn")

    def __init__(self, expr: str, snaplen: int = DEFAULT_SNAPLEN) -> None:
        self.expr: str | None = expr
        self.program: tuple[Insn, ...] = tuple(compile_filter(expr, snaplen))
        self._fn = compile_program(self.program)

    @classmethod
    def from_program(cls, prog: Sequence[Insn]) -> Filter:
        self = cls.__new__(cls)
        self.expr = None
        self.program = tuple(Insn(*insn) for insn in prog)
        self._fn = compile_program(self.program)
        return self

    def __call__(self, frame: Packet, wirelen: int | None = None) -> bool:
        return self._fn(frame, wirelen) != 0

    def run(self, frame: Packet, wirelen: int | None = None) -> int:
        """The program's return value: bytes to keep (the snap length), 0 to drop."""
        return self._fn(frame, wirelen)

    def disassemble(self) -> str:
        return disassemble(self.program)

    def encode(self) -> bytes:
        return encode(self.program)

    def __repr__(self) -> str:
        what = repr(self.expr) if self.expr is not None else "<program>"
        return f"Filter({what}, {len(self.program)} instructions)"
