"""The classic BPF machine: Linux's program checker and a reference interpreter.

Mirrors Linux's ``net/core/filter.c`` (``bpf_check_classic``, ``check_load_and_stores``,
``chk_code_allowed``) and the semantics of its classic-to-eBPF translation, which libpcap's
``bpf_filter.c`` shares for everything a tcpdump filter uses.

Contract:
- :func:`check` raises :class:`BpfError` for every program Linux's ``SO_ATTACH_FILTER`` would
  refuse with EINVAL: length outside 1..4096, an opcode outside Linux's list, a jump past the
  end (jumps are forward-only by construction), a last instruction that is not ``ret``, a
  division or modulo by constant zero, a constant shift of 32 or more, a scratch index
  ``>= 16``, a read of ``M[k]`` some path reaches before storing it.  The message names the
  instruction.  Deliberately stricter than Linux: loads from the ancillary range
  (``SKF_AD_OFF + ...``, e.g. ``SKF_AD_PROTOCOL``) are refused too, since a frame here has no
  skb metadata behind it.
- :func:`interpret` is the reference machine, one instruction at a time, for a checked
  program; :func:`run` checks, compiles (:mod:`stack.bpf.jit`, cached) and runs.  Both return
  the ``ret`` value: how many bytes to keep, 0 to drop the frame.
- Machine semantics (Linux's): A, X and M[] are u32 and start at 0; a packet load that does
  not fit in the captured bytes, or at a negative offset, ends the program with 0 (the
  ``SKF_NET_OFF``/``SKF_LL_OFF`` windows are not emulated and also give 0); ``div``/``mod`` by
  X == 0 returns 0; ``lsh``/``rsh`` by X use X's low 5 bits, as the kernel's interpreter and
  JITs behave on x86 (C leaves larger shifts undefined; libpcap gives 0 for them);
  ``ld #pktlen`` is the wire length (``wirelen``, default: the captured length).

Spec: Documentation/networking/filter.rst; include/uapi/linux/filter.h.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache

from stack.bpf.insn import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_CLASS,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LEN,
    BPF_LSH,
    BPF_MAXINSNS,
    BPF_MEM,
    BPF_MEMWORDS,
    BPF_MISC,
    BPF_MOD,
    BPF_MODE,
    BPF_MSH,
    BPF_MUL,
    BPF_NEG,
    BPF_OP,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_SIZE,
    BPF_SRC,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TAX,
    BPF_TXA,
    BPF_W,
    BPF_X,
    BPF_XOR,
    SKF_AD_OFF,
    U32,
    VALID_CODES,
    BpfError,
    Insn,
    image,
)
from stack.bpf.jit import Compiled, jit

Packet = bytes | bytearray | memoryview
Program = Sequence[Insn]

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_SIZE = {BPF_W: 4, BPF_H: 2, BPF_B: 1}
_MEM_CODES = {BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX}
_JA = BPF_JMP | BPF_JA


def is_cond_jump(code: int) -> bool:
    return BPF_CLASS(code) == BPF_JMP and code != _JA


def check(prog: Program) -> None:
    """Refuse what Linux's ``bpf_check_classic`` refuses (see the module contract)."""
    n = len(prog)
    if not 1 <= n <= BPF_MAXINSNS:
        raise BpfError(f"a program has 1..{BPF_MAXINSNS} instructions, this one has {n}")
    for pc, insn in enumerate(prog):
        if len(insn) != 4:
            raise BpfError(f"({pc:03d}) an instruction is (code, jt, jf, k), got {insn!r}")
        code, jt, jf, k = insn
        if not (0 <= code <= 0xFFFF and 0 <= jt <= 0xFF and 0 <= jf <= 0xFF and 0 <= k <= U32):
            raise BpfError(f"({pc:03d}) field out of range in {tuple(insn)}: code is u16, "
                           f"jt and jf u8, k u32")

        def bad(reason: str, pc: int = pc, insn: Insn = insn) -> BpfError:
            return BpfError(f"{image(Insn(*insn), pc)}: {reason}")

        if code not in VALID_CODES:
            raise bad(f"invalid opcode 0x{code:x}")
        if code in (BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_MOD | BPF_K) and k == 0:
            raise bad("division by constant zero")
        if code in (BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_K) and k >= 32:
            raise bad("constant shift by 32 or more")
        if code in _MEM_CODES and k >= BPF_MEMWORDS:
            raise bad(f"scratch memory is M[0..{BPF_MEMWORDS - 1}]")
        if code == _JA and k >= n - pc - 1:
            raise bad(f"jump past the last instruction ({n - 1})")
        if is_cond_jump(code) and (pc + jt + 1 >= n or pc + jf + 1 >= n):
            raise bad(f"jump past the last instruction ({n - 1})")
        if BPF_CLASS(code) == BPF_LD and BPF_MODE(code) == BPF_ABS and k >= SKF_AD_OFF & U32:
            raise bad("ancillary loads (SKF_AD_*) are not supported")
    if prog[-1][0] not in (BPF_RET | BPF_K, BPF_RET | BPF_A):
        raise BpfError(f"{image(Insn(*prog[-1]), n - 1)}: the last instruction must be ret")
    _check_load_and_stores(prog)


def _check_load_and_stores(prog: Program) -> None:
    """Linux's ``check_load_and_stores``: no path may read M[k] before a store to it."""
    n = len(prog)
    masks = [0xFFFF] * n
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(prog):
        valid &= masks[pc]
        if code in (BPF_ST, BPF_STX):
            valid |= 1 << k
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not valid & (1 << k):
                raise BpfError(f"{image(Insn(code, jt, jf, k), pc)}: reads M[{k}], which some "
                               f"path reaches before storing it")
        elif code == _JA:
            masks[pc + 1 + k] &= valid
            valid = 0xFFFF
        elif is_cond_jump(code):
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = 0xFFFF


def _load(packet: Packet, off: int, size: int) -> int | None:
    """A packet load at a u32 offset, or None when it falls outside the captured bytes."""
    if off + size > len(packet):
        return None
    if size == 1:
        return packet[off]
    return _U16(packet, off)[0] if size == 2 else _U32(packet, off)[0]


def _alu(op: int, a: int, v: int) -> int | None:
    if op == BPF_ADD:
        return (a + v) & U32
    if op == BPF_SUB:
        return (a - v) & U32
    if op == BPF_MUL:
        return (a * v) & U32
    if op == BPF_DIV:
        return a // v if v else None
    if op == BPF_MOD:
        return a % v if v else None
    if op == BPF_AND:
        return a & v
    if op == BPF_OR:
        return a | v
    if op == BPF_XOR:
        return a ^ v
    if op == BPF_LSH:
        return (a << (v & 31)) & U32
    if op == BPF_RSH:
        return a >> (v & 31)
    assert op == BPF_NEG
    return -a & U32


def interpret(prog: Program, packet: Packet, wirelen: int | None = None) -> int:
    """The reference machine: run a *checked* program over ``packet``, return its verdict."""
    wire = len(packet) if wirelen is None else wirelen
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    pc = 0
    while True:
        code, jt, jf, k = prog[pc]
        pc += 1
        cls = BPF_CLASS(code)
        if cls == BPF_RET:
            return a if code & BPF_A else k
        if cls == BPF_LD:
            mode = BPF_MODE(code)
            if mode in (BPF_ABS, BPF_IND):
                off = k if mode == BPF_ABS else (x + k) & U32
                got = _load(packet, off, _SIZE[BPF_SIZE(code)])
                if got is None:
                    return 0
                a = got
            elif mode == BPF_LEN:
                a = wire
            elif mode == BPF_IMM:
                a = k
            else:
                a = mem[k]
        elif cls == BPF_LDX:
            mode = BPF_MODE(code)
            if mode == BPF_MSH:
                got = _load(packet, k, 1)
                if got is None:
                    return 0
                x = (got & 0xF) << 2
            elif mode == BPF_LEN:
                x = wire
            elif mode == BPF_IMM:
                x = k
            else:
                x = mem[k]
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_ALU:
            got = _alu(BPF_OP(code), a, x if BPF_SRC(code) == BPF_X else k)
            if got is None:
                return 0
            a = got
        elif cls == BPF_JMP:
            op = BPF_OP(code)
            if op == BPF_JA:
                pc += k
                continue
            v = x if BPF_SRC(code) == BPF_X else k
            if op == BPF_JEQ:
                taken = a == v
            elif op == BPF_JGT:
                taken = a > v
            elif op == BPF_JGE:
                taken = a >= v
            else:
                taken = bool(a & v)
            pc += jt if taken else jf
        else:
            assert cls == BPF_MISC
            if BPF_OP(code) == BPF_TXA:
                a = x
            else:
                assert BPF_OP(code) == BPF_TAX
                x = a


@lru_cache(maxsize=512)
def _compiled(prog: tuple[Insn, ...]) -> Compiled:
    check(prog)
    return jit(prog)


def compile_program(prog: Program) -> Compiled:
    """Check ``prog`` and turn it into a Python function ``(packet, wirelen=None) -> int``."""
    return _compiled(tuple(Insn(*insn) for insn in prog))


def run(prog: Program, packet: Packet, wirelen: int | None = None) -> int:
    """Check, compile (cached by the program's instructions) and run.  Looking the program
    up costs a few microseconds; to filter many frames, hold :func:`compile_program`'s
    function (or a :class:`stack.bpf.Filter`), which runs in a few hundred nanoseconds."""
    return _compiled(tuple(Insn(*insn) for insn in prog))(packet, wirelen)
