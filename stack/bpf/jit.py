"""Classic BPF to Python: one generated function per program, the filter's fast path.

The role of Linux's ``arch/x86/net/bpf_jit_comp.c`` (for the classic program once
``bpf_convert_filter`` has made it eBPF): same verdicts as the reference interpreter in
:mod:`stack.bpf.vm`, several times faster, because the program's control flow becomes Python
control flow instead of a fetch-decode loop.

How: cBPF jumps only forward, so the program is a DAG.  Every instruction with more than one
reachable predecessor (but a ``ret``, which is repeated instead) starts a *region*; the rest
of the code is inlined as nested ``if``/``else`` under the region that reaches it.  Regions
are emitted in address order as ``if pc == N:`` blocks of one straight function: a region ends
every path with ``return`` or ``pc = M`` for a later region, so falling through the chain of
tests reaches it — no loop, no calls.  Registers and the 16 scratch words are locals; a
length check is emitted only where a load reaches further than any already proven on that
path.

Contract: :func:`jit` takes a program :func:`stack.bpf.vm.check` accepted and returns
``f(packet, wirelen=None) -> int``; :func:`source` shows the generated code.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Callable, Sequence

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
    BPF_TXA,
    BPF_W,
    BPF_X,
    BPF_XOR,
    Insn,
)

Compiled = Callable[..., int]

MAX_NESTING = 40          # inline depth before a single-predecessor block becomes a region
_M = "4294967295"
_JA = BPF_JMP | BPF_JA
_LOAD = {BPF_W: (4, "_W(P, {o})[0]"), BPF_H: (2, "_H(P, {o})[0]"), BPF_B: (1, "P[{o}]")}
_ALU_K = {BPF_ADD: f"A = (A + {{v}}) & {_M}", BPF_SUB: f"A = (A - {{v}}) & {_M}",
          BPF_MUL: f"A = (A * {{v}}) & {_M}", BPF_DIV: "A //= {v}", BPF_MOD: "A %= {v}",
          BPF_AND: "A &= {v}", BPF_OR: "A |= {v}", BPF_XOR: "A ^= {v}",
          BPF_LSH: f"A = (A << {{v}}) & {_M}", BPF_RSH: "A >>= {v}"}
_CMP = {BPF_JEQ: "A == {v}", BPF_JGT: "A > {v}", BPF_JGE: "A >= {v}"}


def _successors(prog: Sequence[Insn], pc: int) -> tuple[int, ...]:
    code, jt, jf, k = prog[pc]
    if BPF_CLASS(code) == BPF_RET:
        return ()
    if code == _JA:
        return (pc + 1 + k,)
    if BPF_CLASS(code) == BPF_JMP:
        return (pc + 1 + jt,) if jt == jf else (pc + 1 + jt, pc + 1 + jf)
    return (pc + 1,)


class _Emitter:
    def __init__(self, prog: Sequence[Insn]) -> None:
        self.prog = prog
        self.lines: list[str] = []
        preds = [0] * len(prog)
        seen = {0}
        todo = [0]
        while todo:
            for nxt in _successors(prog, todo.pop()):
                preds[nxt] += 1
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        # a shared ``ret`` is cheaper to repeat than to reach through ``pc``
        self.joins = {pc for pc in seen
                      if preds[pc] > 1 and BPF_CLASS(prog[pc].code) != BPF_RET}
        self.queued = {0}
        self.heap = [0]

    def out(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def goto(self, target: int, depth: int, proven: int) -> None:
        if target in self.joins or depth > MAX_NESTING:
            if target not in self.queued:
                self.queued.add(target)
                heapq.heappush(self.heap, target)
            self.out(depth, f"pc = {target}")
        else:
            self.block(target, depth, proven)

    def block(self, pc: int, depth: int, proven: int) -> None:
        """Inline from ``pc`` until every path has returned or left for a region."""
        prog = self.prog
        while True:
            code, jt, jf, k = prog[pc]
            cls = BPF_CLASS(code)
            if cls == BPF_RET:
                self.out(depth, "return A" if code & BPF_A else f"return {k}")
                return
            if code == _JA:
                self.goto(pc + 1 + k, depth, proven)
                return
            if cls == BPF_JMP:
                t, f = pc + 1 + jt, pc + 1 + jf
                if t == f:
                    self.goto(t, depth, proven)
                    return
                v = "X" if BPF_SRC(code) == BPF_X else str(k)
                op = BPF_OP(code)
                self.out(depth, f"if {_CMP[op].format(v=v) if op in _CMP else f'A & {v}'}:")
                self.goto(t, depth + 1, proven)
                self.out(depth, "else:")
                self.goto(f, depth + 1, proven)
                return
            proven = self.straight(Insn(code, jt, jf, k), depth, proven)
            pc += 1
            if pc in self.joins:
                self.goto(pc, depth, proven)
                return

    def straight(self, insn: Insn, depth: int, proven: int) -> int:
        """Emit one non-jump instruction; return the packet length now proven on this path."""
        code, _, _, k = insn
        cls, mode = BPF_CLASS(code), BPF_MODE(code)
        out = self.out
        if cls == BPF_LD and mode == BPF_ABS:
            size, load = _LOAD[BPF_SIZE(code)]
            if k + size > proven:
                out(depth, f"if n < {k + size}: return 0")
                proven = k + size
            out(depth, "A = " + load.format(o=k))
        elif cls == BPF_LD and mode == BPF_IND:
            size, load = _LOAD[BPF_SIZE(code)]
            out(depth, f"o = (X + {k}) & {_M}" if k else "o = X")
            out(depth, f"if n < o + {size}: return 0")
            out(depth, "A = " + load.format(o="o"))
        elif cls == BPF_LDX and mode == BPF_MSH:
            if k + 1 > proven:
                out(depth, f"if n <= {k}: return 0")
                proven = k + 1
            out(depth, f"X = (P[{k}] & 15) << 2")
        elif cls in (BPF_LD, BPF_LDX):
            reg = "A" if cls == BPF_LD else "X"
            value = {BPF_LEN: "w", BPF_IMM: str(k)}.get(mode, f"m{k}")
            out(depth, f"{reg} = {value}")
        elif cls == BPF_ST:
            out(depth, f"m{k} = A")
        elif cls == BPF_STX:
            out(depth, f"m{k} = X")
        elif cls == BPF_MISC:
            out(depth, "A = X" if BPF_OP(code) == BPF_TXA else "X = A")
        else:
            assert cls == BPF_ALU
            op = BPF_OP(code)
            if op == BPF_NEG:
                out(depth, f"A = -A & {_M}")
            elif BPF_SRC(code) == BPF_K:
                out(depth, _ALU_K[op].format(v=k))
            elif op in (BPF_DIV, BPF_MOD):
                out(depth, "if not X: return 0")
                out(depth, _ALU_K[op].format(v="X"))
            else:
                out(depth, _ALU_K[op].format(v="(X & 31)" if op in (BPF_LSH, BPF_RSH) else "X"))
        return proven

    def emit(self) -> str:
        self.out(0, "def bpf_filter(P, w=None, _W=_W, _H=_H):")
        self.out(1, "n = len(P)")
        if any(BPF_MODE(c) == BPF_LEN and BPF_CLASS(c) in (BPF_LD, BPF_LDX)
               for c, _, _, _ in self.prog):
            self.out(1, "if w is None: w = n")
        self.out(1, "A = X = 0")
        while self.heap:
            region = heapq.heappop(self.heap)
            if region == 0:
                self.block(0, 1, 0)
            else:
                self.out(1, f"if pc == {region}:")
                self.block(region, 2, 0)
        return "\n".join(self.lines) + "\n"


def source(prog: Sequence[Insn]) -> str:
    """The Python source :func:`jit` compiles for ``prog`` (for debugging and curiosity)."""
    return _Emitter([Insn(*i) for i in prog]).emit()


def jit(prog: Sequence[Insn]) -> Compiled:
    """Compile a checked program into ``f(packet, wirelen=None) -> int``."""
    text = source(prog)
    namespace: dict[str, object] = {"_W": struct.Struct(">I").unpack_from,
                                    "_H": struct.Struct(">H").unpack_from}
    exec(compile(text, "<bpf>", "exec"), namespace)  # noqa: S102 - our own generated code
    fn = namespace["bpf_filter"]
    assert callable(fn)
    return fn
