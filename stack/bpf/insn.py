"""Classic BPF instructions: opcodes, the ``sock_filter`` record, its text and binary forms.

Mirrors Linux's ``include/uapi/linux/filter.h`` and ``include/uapi/linux/bpf_common.h``
(``BPF_*`` opcode fields, ``struct sock_filter``, ``BPF_STMT``/``BPF_JUMP``) and libpcap's
``bpf_image.c`` (the ``tcpdump -d`` disassembly) and ``tcpdump -dd``/``-ddd`` dumps.

Contract:
- Opcodes are plain ``int`` constants with Linux's names; an instruction is an :class:`Insn`
  ``(code, jt, jf, k)`` NamedTuple, a program a sequence of them.
- :func:`disassemble` prints exactly what ``tcpdump -d`` prints, minus the trailing blanks
  libpcap leaves after operand-less instructions (``tax``, ``ret`` A).  Unknown opcodes print
  as ``unimp 0x..`` (libpcap's word); decoding never raises on what it does not know.
- :func:`encode`/:func:`decode` give the 8-byte-per-instruction array ``SO_ATTACH_FILTER``
  takes (``struct sock_filter``: u16 code, u8 jt, u8 jf, u32 k), in *native* byte order as
  the kernel reads it; :func:`format_ddd`/:func:`parse_ddd` the decimal ``tcpdump -ddd`` text
  (also accepted: the comma-separated form iptables ``-m bpf --bytecode`` and tc use).

Spec: Linux Documentation/networking/filter.rst; McCanne & Jacobson, "The BSD Packet Filter".
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple


class BpfError(ValueError):
    """A filter expression that does not compile, or a program Linux would refuse (EINVAL)."""


# Instruction classes (code & 0x07)
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_MISC = 0x07

# ld/ldx operand size (code & 0x18)
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10

# ld/ldx addressing mode (code & 0xe0)
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80
BPF_MSH = 0xA0

# alu/jmp operation (code & 0xf0)
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0

BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40

# operand source (code & 0x08)
BPF_K = 0x00
BPF_X = 0x08

# ret operand (code & 0x18)
BPF_A = 0x10

# misc operation (code & 0xf8)
BPF_TAX = 0x00
BPF_TXA = 0x80

BPF_MEMWORDS = 16      # scratch memory M[0..15]
BPF_MAXINSNS = 4096    # Linux's limit on a classic program
SKF_AD_OFF = -0x1000   # ancillary-data loads start here (as a negative s32 offset)
SKF_NET_OFF = -0x100000
SKF_LL_OFF = -0x200000
U32 = 0xFFFFFFFF


def BPF_CLASS(code: int) -> int:  # noqa: N802 - Linux's macro names
    return code & 0x07


def BPF_SIZE(code: int) -> int:  # noqa: N802
    return code & 0x18


def BPF_MODE(code: int) -> int:  # noqa: N802
    return code & 0xE0


def BPF_OP(code: int) -> int:  # noqa: N802
    return code & 0xF0


def BPF_SRC(code: int) -> int:  # noqa: N802
    return code & 0x08


def BPF_RVAL(code: int) -> int:  # noqa: N802
    return code & 0x18


def BPF_MISCOP(code: int) -> int:  # noqa: N802
    return code & 0xF8


class Insn(NamedTuple):
    """``struct sock_filter``: a 16-bit opcode, two 8-bit jump offsets, a 32-bit operand."""

    code: int
    jt: int
    jf: int
    k: int


def stmt(code: int, k: int = 0) -> Insn:
    """``BPF_STMT(code, k)``."""
    return Insn(code, 0, 0, k & U32)


def jump(code: int, k: int, jt: int, jf: int) -> Insn:
    """``BPF_JUMP(code, k, jt, jf)``."""
    return Insn(code, jt, jf, k & U32)


# ---------------------------------------------------------------------------------------------
# tcpdump -d text (libpcap bpf_image.c)

def _sd(k: int) -> int:
    """C's ``%d`` of a u32: libpcap prints most operands signed."""
    return k - (1 << 32) if k & 0x80000000 else k


def _build_images() -> dict[int, tuple[str, str]]:
    """Exact opcode -> (mnemonic, operand format); the same set Linux's ``chk_code_allowed``
    accepts, plus ``ret`` A.  ``{k}`` is the signed operand, ``{x}`` the hex one."""
    table = {
        BPF_RET | BPF_K: ("ret", "#{k}"),
        BPF_RET | BPF_A: ("ret", ""),
        BPF_LD | BPF_W | BPF_ABS: ("ld", "[{k}]"),
        BPF_LD | BPF_H | BPF_ABS: ("ldh", "[{k}]"),
        BPF_LD | BPF_B | BPF_ABS: ("ldb", "[{k}]"),
        BPF_LD | BPF_W | BPF_LEN: ("ld", "#pktlen"),
        BPF_LD | BPF_W | BPF_IND: ("ld", "[x + {k}]"),
        BPF_LD | BPF_H | BPF_IND: ("ldh", "[x + {k}]"),
        BPF_LD | BPF_B | BPF_IND: ("ldb", "[x + {k}]"),
        BPF_LD | BPF_IMM: ("ld", "#0x{x}"),
        BPF_LD | BPF_MEM: ("ld", "M[{k}]"),
        BPF_LDX | BPF_W | BPF_LEN: ("ldx", "#pktlen"),
        BPF_LDX | BPF_B | BPF_MSH: ("ldxb", "4*([{k}]&0xf)"),
        BPF_LDX | BPF_IMM: ("ldx", "#0x{x}"),
        BPF_LDX | BPF_MEM: ("ldx", "M[{k}]"),
        BPF_ST: ("st", "M[{k}]"),
        BPF_STX: ("stx", "M[{k}]"),
        BPF_MISC | BPF_TAX: ("tax", ""),
        BPF_MISC | BPF_TXA: ("txa", ""),
        BPF_JMP | BPF_JA: ("ja", "{ja}"),
        BPF_ALU | BPF_NEG: ("neg", ""),
    }
    for op, name in ((BPF_JEQ, "jeq"), (BPF_JGT, "jgt"), (BPF_JGE, "jge"), (BPF_JSET, "jset")):
        table[BPF_JMP | op | BPF_K] = (name, "#0x{x}")
        table[BPF_JMP | op | BPF_X] = (name, "x")
    for op, name in ((BPF_ADD, "add"), (BPF_SUB, "sub"), (BPF_MUL, "mul"), (BPF_DIV, "div"),
                     (BPF_MOD, "mod"), (BPF_AND, "and"), (BPF_OR, "or"), (BPF_XOR, "xor"),
                     (BPF_LSH, "lsh"), (BPF_RSH, "rsh")):
        hexed = op in (BPF_AND, BPF_OR, BPF_XOR)     # libpcap prints these immediates in hex
        table[BPF_ALU | op | BPF_K] = (name, "#0x{x}" if hexed else "#{k}")
        table[BPF_ALU | op | BPF_X] = (name, "x")
    return table


IMAGES = _build_images()
VALID_CODES = frozenset(IMAGES)      # what Linux's bpf_check_classic lets through


def image(insn: Insn, pc: int) -> str:
    """One line of ``tcpdump -d``: ``(001) jeq      #0x800           jt 2	jf 5``."""
    found = IMAGES.get(insn.code)
    if found is None:
        return f"({pc:03d}) {'unimp':<8s} 0x{insn.code:x}"
    op, fmt = found
    operand = fmt.format(k=_sd(insn.k), x=f"{insn.k:x}", ja=pc + 1 + insn.k)
    if BPF_CLASS(insn.code) == BPF_JMP and insn.code != BPF_JMP | BPF_JA:
        return (f"({pc:03d}) {op:<8s} {operand:<16s} jt {pc + 1 + insn.jt}\t"
                f"jf {pc + 1 + insn.jf}")
    return f"({pc:03d}) {op:<8s} {operand}".rstrip()


def disassemble(prog: Sequence[Insn]) -> str:
    """The whole program as ``tcpdump -d`` prints it, one instruction a line."""
    return "\n".join(image(Insn(*insn), pc) for pc, insn in enumerate(prog))


# ---------------------------------------------------------------------------------------------
# Binary (SO_ATTACH_FILTER) and decimal (tcpdump -ddd) forms

SOCK_FILTER = struct.Struct("=HBBI")   # struct sock_filter, native order, no padding


def encode(prog: Iterable[Insn]) -> bytes:
    """The ``struct sock_filter`` array, 8 bytes an instruction, in this host's byte order."""
    try:
        return b"".join(SOCK_FILTER.pack(*insn) for insn in prog)
    except struct.error as exc:
        raise BpfError(f"instruction field out of range: {exc}") from None


def decode(data: bytes | bytearray | memoryview) -> list[Insn]:
    """Inverse of :func:`encode`; a length that is not a multiple of 8 is an error."""
    if len(data) % SOCK_FILTER.size:
        raise BpfError(f"a sock_filter array is 8 bytes an instruction, got {len(data)} bytes")
    return [Insn(*fields) for fields in SOCK_FILTER.iter_unpack(data)]


def format_ddd(prog: Sequence[Insn]) -> str:
    """``tcpdump -ddd``: the instruction count, then ``code jt jf k`` in decimal."""
    return "\n".join([str(len(prog))] + [f"{i.code} {i.jt} {i.jf} {i.k}" for i in prog])


def format_dd(prog: Sequence[Insn]) -> str:
    """``tcpdump -dd``: the program as C initialisers for a ``struct sock_filter`` array."""
    return "\n".join(f"{{ 0x{i.code:x}, {i.jt}, {i.jf}, 0x{i.k:08x} }}," for i in prog)


_DDD_SPLIT = re.compile(r"[,\n]")


def parse_ddd(text: str) -> list[Insn]:
    """Read ``tcpdump -ddd`` output, or its one-line comma form (``4,40 0 0 12,21 0 1 ...``)."""
    rows = [row.split() for row in _DDD_SPLIT.split(text.strip()) if row.strip()]
    if not rows or len(rows[0]) != 1:
        raise BpfError("bytecode must start with the instruction count")
    try:
        count = int(rows[0][0])
        prog = [Insn(*(int(f) for f in row)) for row in rows[1:] if len(row) == 4]
    except ValueError as exc:
        raise BpfError(f"bad bytecode: {exc}") from None
    if len(prog) != len(rows) - 1 or len(prog) != count:
        raise BpfError(f"bytecode says {count} instructions but holds {len(rows) - 1} rows "
                       f"of 'code jt jf k'")
    return prog
