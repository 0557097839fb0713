"""Block-level optimisation and layout of compiled filters.

A small cousin of libpcap's ``optimize.c``.  The compiler hands over basic blocks (a
straight-line body, then a conditional jump, ``ja`` or ``ret``), every jump going forward.
Three passes:

1. *Jump threading*: along every edge, remember what the tests taken so far proved about the
   values they compared (``[12] == 0x800``, ``[23] != 6``); an edge into a block whose test
   is already decided by that goes straight to the block's decided successor.  This is what
   turns ``tcp or udp`` into one ``ldh [12]`` per path.  Only blocks whose whole body feeds
   the compared value are skipped, so a skipped load always repeats one the path already did:
   no out-of-bounds verdict changes.
2. *Redundant loads*: a load whose value A or X provably already holds on every incoming
   path is dropped (the ``ldh [12]`` that opens each primitive).
3. *Layout*: blocks in order, ``ja`` to the next block dropped, conditional offsets that do
   not fit in 8 bits sent through a ``ja`` trampoline.

Contract: :func:`optimize` takes the blocks (``t``/``f`` are block indices, block 0 the entry)
and returns the instruction list; verdicts are those of the unoptimised blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stack.bpf.insn import (
    BPF_ABS,
    BPF_ALU,
    BPF_CLASS,
    BPF_DIV,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_LD,
    BPF_LDX,
    BPF_LEN,
    BPF_MISC,
    BPF_MOD,
    BPF_MODE,
    BPF_MSH,
    BPF_NEG,
    BPF_OP,
    BPF_RET,
    BPF_SIZE,
    BPF_SRC,
    BPF_TXA,
    BPF_X,
    Insn,
    jump,
    stmt,
)

_JA = BPF_JMP | BPF_JA
Desc = tuple | None       # a symbolic value: ('pkt', size, k), ('ind', size, k, X), ...


@dataclass(slots=True)
class Block:
    body: list[Insn]
    code: int          # a conditional jump, BPF_JMP|BPF_JA, or BPF_RET|BPF_K
    k: int
    t: int             # successor block indices (both the target for ``ja``)
    f: int
    live: bool = False


@dataclass(slots=True)
class Facts:
    eq: dict = field(default_factory=dict)       # desc -> value it equals
    tests: dict = field(default_factory=dict)    # (desc, op, k) -> outcome

    def copy(self) -> Facts:
        return Facts(dict(self.eq), dict(self.tests))


def _meet(all_facts: list[Facts]) -> Facts:
    first = all_facts[0]
    if len(all_facts) == 1:
        return first
    eq = {d: v for d, v in first.eq.items() if all(f.eq.get(d) == v for f in all_facts)}
    tests = {t: v for t, v in first.tests.items()
             if all(f.tests.get(t) == v for f in all_facts)}
    return Facts(eq, tests)


def _step(insn: Insn, a: Desc, x: Desc) -> tuple[Desc, Desc, bool]:
    """Symbolic effect of a straight-line instruction: new A, new X, and whether it is
    free of effects beyond the registers (no scratch memory, no runtime division)."""
    code, k = insn.code, insn.k
    cls, mode = BPF_CLASS(code), BPF_MODE(code)
    if cls == BPF_LD:
        if mode == BPF_ABS:
            return ("pkt", BPF_SIZE(code), k), x, True
        if mode == BPF_IND:
            return (("ind", BPF_SIZE(code), k, x) if x is not None else None), x, True
        if mode == BPF_LEN:
            return ("len",), x, True
        if mode == BPF_IMM:
            return ("imm", k), x, True
        return None, x, False
    if cls == BPF_LDX:
        if mode == BPF_MSH:
            return a, ("msh", k), True
        if mode == BPF_LEN:
            return a, ("len",), True
        if mode == BPF_IMM:
            return a, ("imm", k), True
        return a, None, False
    if cls == BPF_ALU:
        op = BPF_OP(code)
        if op == BPF_NEG:
            return (("neg", a) if a is not None else None), x, True
        if BPF_SRC(code) == BPF_X:
            both = a is not None and x is not None
            return (("alux", op, a, x) if both else None), x, op not in (BPF_DIV, BPF_MOD)
        return (("alu", op, k, a) if a is not None else None), x, True
    if cls == BPF_MISC:
        return (x, x, True) if BPF_OP(code) == BPF_TXA else (a, a, True)
    return a, x, False      # st / stx


def _terms(desc: Desc, into: set) -> set:
    if isinstance(desc, tuple):
        into.add(desc)
        for part in desc:
            if isinstance(part, tuple):
                _terms(part, into)
    return into


@dataclass(slots=True)
class _Info:
    a: Desc           # the value the block's jump compares (None: unknown)
    skippable: bool   # the body only computes that value


def _info(block: Block) -> _Info:
    a = x = None
    pure = True
    loads: list[Desc] = []
    for insn in block.body:
        a, x, ok = _step(insn, a, x)
        pure &= ok
        if BPF_CLASS(insn.code) in (BPF_LD, BPF_LDX) and BPF_MODE(insn.code) in (
                BPF_ABS, BPF_IND, BPF_MSH):
            loads.append(a if BPF_CLASS(insn.code) == BPF_LD else x)
    if BPF_CLASS(block.code) != BPF_JMP or BPF_SRC(block.code) == BPF_X or a is None:
        return _Info(None, False)
    used = _terms(a, set())
    return _Info(a, pure and all(load in used for load in loads))


def _evaluate(op: int, value: int, k: int) -> bool:
    if op == BPF_JEQ:
        return value == k
    if op == BPF_JGT:
        return value > k
    if op == BPF_JGE:
        return value >= k
    return bool(value & k)


def _decide(a: Desc, code: int, k: int, facts: Facts) -> bool | None:
    if a is None:
        return None
    op = BPF_OP(code)
    if a[0] == "imm":
        return _evaluate(op, a[1], k)
    if a in facts.eq:
        return _evaluate(op, facts.eq[a], k)
    return facts.tests.get((a, op, k))


def _learn(facts: Facts, a: Desc, code: int, k: int, outcome: bool) -> Facts:
    if a is None:
        return facts
    out = facts.copy()
    if BPF_OP(code) == BPF_JEQ and outcome:
        out.eq[a] = k
    else:
        out.tests[(a, BPF_OP(code), k)] = outcome
    return out


def thread_jumps(blocks: list[Block]) -> None:
    infos = [_info(b) for b in blocks]

    def follow(target: int, facts: Facts) -> int:
        while True:
            b = blocks[target]
            if b.code == _JA and not b.body:
                target = b.t
                continue
            if BPF_CLASS(b.code) == BPF_JMP and b.code != _JA and infos[target].skippable:
                decided = _decide(infos[target].a, b.code, b.k, facts)
                if decided is not None:
                    target = b.t if decided else b.f
                    continue
            return target

    incoming: list[list[Facts]] = [[] for _ in blocks]
    incoming[0].append(Facts())
    for i, b in enumerate(blocks):
        b.live = bool(incoming[i])
        if not b.live or BPF_CLASS(b.code) == BPF_RET:
            continue
        facts = _meet(incoming[i])
        if b.code != _JA:
            decided = _decide(infos[i].a, b.code, b.k, facts)
            if decided is not None:
                b.code, b.t, b.f = _JA, (b.t if decided else b.f), 0
        if b.code == _JA:
            b.t = b.f = follow(b.t, facts)
            incoming[b.t].append(facts)
            continue
        on_true = _learn(facts, infos[i].a, b.code, b.k, True)
        on_false = _learn(facts, infos[i].a, b.code, b.k, False)
        b.t, b.f = follow(b.t, on_true), follow(b.f, on_false)
        incoming[b.t].append(on_true)
        incoming[b.f].append(on_false)
        if b.t == b.f:
            b.code = _JA


def drop_redundant_loads(blocks: list[Block]) -> None:
    states: list[list[tuple[Desc, Desc]]] = [[] for _ in blocks]
    states[0].append((None, None))
    for i, b in enumerate(blocks):
        if not b.live:
            continue
        a, x = states[i][0]
        for sa, sx in states[i][1:]:
            a, x = (a if a == sa else None), (x if x == sx else None)
        body = []
        for insn in b.body:
            na, nx, pure = _step(insn, a, x)
            cls = BPF_CLASS(insn.code)
            if pure and cls in (BPF_LD, BPF_LDX, BPF_MISC) and (
                    (cls == BPF_LD and na is not None and na == a and nx == x)
                    or (cls != BPF_LD and nx is not None and nx == x and na == a)):
                continue
            body.append(insn)
            a, x = na, nx
        b.body = body
        if BPF_CLASS(b.code) != BPF_RET:
            states[b.t].append((a, x))
            if b.f != b.t and b.code != _JA:
                states[b.f].append((a, x))


def layout(blocks: list[Block]) -> list[Insn]:
    live = [i for i, b in enumerate(blocks) if b.live]
    after = {i: (live[n + 1] if n + 1 < len(live) else -1) for n, i in enumerate(live)}
    tramp: dict[int, list[bool]] = {i: [False, False] for i in live
                                    if BPF_CLASS(blocks[i].code) == BPF_JMP
                                    and blocks[i].code != _JA}

    def term_len(i: int) -> int:
        b = blocks[i]
        if BPF_CLASS(b.code) == BPF_RET:
            return 1
        if b.code == _JA:
            return 0 if b.t == after[i] else 1
        return 1 + sum(tramp[i])

    while True:
        addr = {}
        pc = 0
        for i in live:
            addr[i] = pc
            pc += len(blocks[i].body) + term_len(i)
        changed = False
        for i, need in tramp.items():
            jpc = addr[i] + len(blocks[i].body)
            for n, target in enumerate((blocks[i].t, blocks[i].f)):
                if not need[n] and addr[target] - jpc - 1 > 255:
                    need[n] = changed = True
        if not changed:
            break

    prog: list[Insn] = []
    for i in live:
        b = blocks[i]
        prog.extend(b.body)
        jpc = len(prog)
        if BPF_CLASS(b.code) == BPF_RET:
            prog.append(stmt(b.code, b.k))
        elif b.code == _JA:
            if b.t != after[i]:
                prog.append(stmt(_JA, addr[b.t] - jpc - 1))
        else:
            need_t, need_f = tramp[i]
            jt = 0 if need_t else addr[b.t] - jpc - 1
            jf = int(need_t) if need_f else addr[b.f] - jpc - 1
            prog.append(jump(b.code, b.k, jt, jf))
            if need_t:
                prog.append(stmt(_JA, addr[b.t] - len(prog) - 1))
            if need_f:
                prog.append(stmt(_JA, addr[b.f] - len(prog) - 1))
    return prog


def optimize(blocks: list[Block], passes: bool = True) -> list[Insn]:
    """Lay the blocks out, after the two optimising passes unless ``passes`` is False."""
    if passes:
        thread_jumps(blocks)
        drop_redundant_loads(blocks)
    else:
        for block in blocks:
            block.live = True
    return layout(blocks)
