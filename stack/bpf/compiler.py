"""tcpdump filter expressions to classic BPF over Ethernet (DLT_EN10MB).

Mirrors libpcap's ``gencode.c`` (what each primitive tests, in which order) and, in small,
``optimize.c``; :mod:`stack.bpf.parse` is its ``grammar.y``.  The output is standard cBPF:
``check()``-clean, loadable by Linux's ``SO_ATTACH_FILTER``, ending in ``ret #snaplen`` /
``ret #0`` like tcpdump's.

Supported grammar (pcap-filter(7) names; ``A`` an IPv4 address, ``M`` a MAC, ``N`` a number):

    expr      := term (("and" | "&&" | "or" | "||") term)*   one precedence, left to right
    term      := ("not" | "!") term | "(" expr ")" | primitive | relation | id
    primitive := [ip|arp|rarp] [dir] host A      [ip|arp|rarp] [dir] net A/len | A mask A | a.b
               | [ip6] [dir] host A6             [ip6] [dir] net A6/len
               | [tcp|udp|sctp] [dir] port N     [tcp|udp|sctp] [dir] portrange N-N
               | ether [dir] [host] M            [ether] broadcast | [ether] multicast
               | ip | ip6 | arp | rarp | tcp | udp | sctp | icmp | icmp6
               | ether proto N|\\name            ip proto N|\\name   ip6 proto N   proto N
               | ip multicast | vlan [N] | greater N | less N
    dir       := src | dst | src or dst | src and dst
    relation  := arith (= | == | != | < | <= | > | >=) arith
    arith     := N | len | P "[" arith [":" 1|2|4] "]" | arith (+ - * / % & | ^ << >>) arith
                 | "-" arith | "(" arith ")"     with P one of ether ip ip6 arp rarp tcp udp
                 sctp icmp, and pcap-filter's names (tcpflags, tcp-syn, icmptype, icmp-echo...)
    id        := a bare A, N, M or N-N: takes the qualifiers of the last qualified primitive

Meaning, as tcpdump's: ``host``/``net`` test the IPv4 source/destination *and* the ARP and
RARP sender/target protocol addresses (``ip host`` for IPv4 only); ``tcp``/``udp``/``sctp``
and ``port`` match IPv6 too (next header, one fragment header deep for the protocol
keywords); a bare ``port`` means TCP, UDP or SCTP; ports are read only from the first fragment
of an IPv4 datagram (``jset #0x1fff`` on the fragment offset, ``ldxb 4*([14]&0xf)`` for the
header length); ``vlan`` shifts every later primitive by 4 bytes, in text order.  ``and`` and
``or`` have *equal* precedence and group left to right (``a or b and c`` is
``(a or b) and c``), exactly as in tcpdump; so do libpcap's arithmetic quirks: ``^`` and
``%`` have no precedence of their own and take the whole rest of the arithmetic as their right
operand (``ip[2] % 3 + 1`` is ``ip[2] % 4``).  One quirk is deliberately *not* copied:
libpcap forgets the protocol check of an arithmetic operator's right operand (``gen_arth``
drops ``a1->b``: ``ip[0] + tcp[0] = 5`` reads ``tcp[0]`` from any IPv4 packet); here every
protocol a relation reads is checked.  IPv6 addresses (``host fd00::1``, ``ip6 src net
fd00::/64``) test the IPv6 source and destination, as ``gen_host6`` does.  Not supported:
host and service names, ``ip broadcast`` (needs a netmask), ``mpls``/``pppoe``/``gateway``
and the other link types.  A load past the captured bytes, or a division by zero at run
time, makes the whole program return 0, as in the kernel.  Verdicts equal tcpdump's on whole
frames, except where its optimizer folds such a division away (``0 / x``); on a truncated
frame the verdict can also depend on which load comes first, and the two optimizers order
loads differently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stack.bpf import parse as p
from stack.bpf import tree as pt
from stack.bpf.insn import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_B,
    BPF_DIV,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
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
    BPF_MSH,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_ST,
    BPF_SUB,
    BPF_TAX,
    BPF_W,
    BPF_X,
    BPF_XOR,
    U32,
    BpfError,
    Insn,
    stmt,
)
from stack.bpf.optimize import Block
from stack.bpf.optimize import optimize as lay_out
from stack.uapi import ETH_P_IP, ETH_P_IPV6

DEFAULT_SNAPLEN = 262144        # tcpdump's default, what its programs return on a match
IP_MF_OFFSET = 0x1FFF           # the fragment offset bits of the IPv4 flags/offset word
_SIZE = {1: BPF_B, 2: BPF_H, 4: BPF_W}
_ALU = {"+": BPF_ADD, "-": BPF_SUB, "*": BPF_MUL, "/": BPF_DIV, "%": BPF_MOD, "&": BPF_AND,
        "|": BPF_OR, "^": BPF_XOR, "<<": BPF_LSH, ">>": BPF_RSH}
_COMMUTES = {"+", "*", "&", "|", "^"}
_FOLD = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
         "/": lambda a, b: a // b, "%": lambda a, b: a % b, "&": lambda a, b: a & b,
         "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
         "<<": lambda a, b: a << b if b < 32 else 0, ">>": lambda a, b: a >> b}


# --- the boolean form: tests with short-circuit structure -----------------------------------

@dataclass(slots=True)
class Test:
    """Straight-line ``body`` then a conditional jump ``code`` with operand ``k``."""
    body: tuple[Insn, ...]
    code: int
    k: int = 0


@dataclass(slots=True)
class BAnd:
    left: Cond
    right: Cond


@dataclass(slots=True)
class BOr:
    left: Cond
    right: Cond


@dataclass(slots=True)
class BNot:
    expr: Cond


@dataclass(slots=True)
class Const:
    value: bool


Cond = Test | BAnd | BOr | BNot | Const


def all_of(*conds: Cond) -> Cond:
    out = conds[0]
    for cond in conds[1:]:
        out = BAnd(out, cond)
    return out


def any_of(*conds: Cond) -> Cond:
    out = conds[0]
    for cond in conds[1:]:
        out = BOr(out, cond)
    return out


def ld(size: int, off: int) -> Insn:
    return stmt(BPF_LD | _SIZE[size] | BPF_ABS, off)


def ldx_iphdr(link: int) -> Insn:
    """``ldxb 4*([link]&0xf)``: X = the IPv4 header length."""
    return stmt(BPF_LDX | BPF_B | BPF_MSH, link)


def eq(size: int, off: int, value: int, mask: int = U32) -> Test:
    body = (ld(size, off),)
    if mask != U32 and mask != (1 << 8 * size) - 1:
        body += (stmt(BPF_ALU | BPF_AND | BPF_K, mask),)
    return Test(body, BPF_JMP | BPF_JEQ | BPF_K, value & mask)


def ethertype(link: int, *types: int) -> Cond:
    return any_of(*(eq(2, link - 2, t) for t in types))


def by_dir(direction: str, src: Cond, dst: Cond) -> Cond:
    return {"src": src, "dst": dst, "src or dst": BOr(src, dst),
            "src and dst": BAnd(src, dst)}[direction]


def not_fragment(link: int) -> Cond:
    """Only the first fragment (offset 0) carries the transport header."""
    return BNot(Test((ld(2, link + 6),), BPF_JMP | BPF_JSET | BPF_K, IP_MF_OFFSET))


def in_range(body: tuple[Insn, ...], lo: int, hi: int) -> Cond:
    if lo == hi:
        return Test(body, BPF_JMP | BPF_JEQ | BPF_K, lo)
    above = BNot(Test(body, BPF_JMP | BPF_JGT | BPF_K, hi))
    return above if lo == 0 else BAnd(Test(body, BPF_JMP | BPF_JGE | BPF_K, lo), above)


# --- primitives (gencode.c) -----------------------------------------------------------------

def ip_proto(link: int, proto: int, v4: bool = True, v6: bool = True) -> Cond:
    branches = []
    if v4:
        branches.append(BAnd(ethertype(link, ETH_P_IP), eq(1, link + 9, proto)))
    if v6:   # the next header, or the one behind a fragment header (gen_ip6_proto + 44)
        branches.append(BAnd(ethertype(link, ETH_P_IPV6),
                             BOr(eq(1, link + 6, proto),
                                 BAnd(eq(1, link + 6, 44), eq(1, link + 40, proto)))))
    return any_of(*branches)


def host_net(node: pt.HostNet) -> Cond:
    L, a, m = node.link, node.addr, node.mask
    branches = []
    if node.ip:
        branches.append(BAnd(ethertype(L, ETH_P_IP),
                             by_dir(node.dir, eq(4, L + 12, a, m), eq(4, L + 16, a, m))))
    if node.arp_types:   # ARP/RARP for IPv4 over Ethernet: sender at 14, target at 24
        branches.append(BAnd(ethertype(L, *node.arp_types),
                             by_dir(node.dir, eq(4, L + 14, a, m), eq(4, L + 24, a, m))))
    return any_of(*branches)


def host_net6(node: pt.HostNet6) -> Cond:
    """``gen_host6``: the IPv6 source (at +8) or destination (at +24), word by word under the
    mask, words the mask leaves out not read."""
    L = node.link
    if not node.mask:
        return ethertype(L, ETH_P_IPV6)  # net ::/0

    def at(off: int) -> Cond:
        words = []
        for i in range(4):
            shift = 96 - 32 * i
            m = (node.mask >> shift) & U32
            if m:
                words.append(eq(4, off + 4 * i, (node.addr >> shift) & U32, m))
        return all_of(*words)
    return BAnd(ethertype(L, ETH_P_IPV6), by_dir(node.dir, at(L + 8), at(L + 24)))


def ether_addr(mac: bytes, direction: str) -> Cond:
    def at(off: int) -> Cond:
        return BAnd(eq(4, off + 2, int.from_bytes(mac[2:], "big")),
                    eq(2, off, int.from_bytes(mac[:2], "big")))
    return by_dir(direction, at(6), at(0))


def port(node: pt.Port) -> Cond:
    L = node.link
    v4_src = (ldx_iphdr(L), stmt(BPF_LD | BPF_H | BPF_IND, L))
    v4_dst = (ldx_iphdr(L), stmt(BPF_LD | BPF_H | BPF_IND, L + 2))
    v4 = all_of(ethertype(L, ETH_P_IP), any_of(*(eq(1, L + 9, pr) for pr in node.protos)),
                not_fragment(L),
                by_dir(node.dir, in_range(v4_src, node.lo, node.hi),
                       in_range(v4_dst, node.lo, node.hi)))
    v6 = all_of(ethertype(L, ETH_P_IPV6), any_of(*(eq(1, L + 6, pr) for pr in node.protos)),
                by_dir(node.dir, in_range((ld(2, L + 40),), node.lo, node.hi),
                       in_range((ld(2, L + 42),), node.lo, node.hi)))
    return BOr(v4, v6)


def vlan(node: pt.Vlan) -> Cond:
    tagged = ethertype(node.link, *p.VLAN_TPIDS)
    if node.vid is None:
        return tagged
    return BAnd(tagged, eq(2, node.link, node.vid, 0x0FFF))


def cond(node: pt.Node) -> Cond:
    if isinstance(node, pt.And):
        return BAnd(cond(node.left), cond(node.right))
    if isinstance(node, pt.Or):
        return BOr(cond(node.left), cond(node.right))
    if isinstance(node, pt.Not):
        return BNot(cond(node.expr))
    if isinstance(node, pt.EtherType):
        return ethertype(node.link, *node.types)
    if isinstance(node, pt.IpProto):
        return ip_proto(node.link, node.proto, node.v4, node.v6)
    if isinstance(node, pt.HostNet):
        return host_net(node)
    if isinstance(node, pt.HostNet6):
        return host_net6(node)
    if isinstance(node, pt.EtherAddr):
        return ether_addr(node.mac, node.dir)
    if isinstance(node, pt.EtherBroadcast):
        return ether_addr(b"\xff" * 6, "dst")
    if isinstance(node, pt.EtherMulticast):
        return Test((ld(1, 0),), BPF_JMP | BPF_JSET | BPF_K, 1)
    if isinstance(node, pt.IpMulticast):
        return BAnd(ethertype(node.link, ETH_P_IP),
                    Test((ld(1, node.link + 16),), BPF_JMP | BPF_JGE | BPF_K, 224))
    if isinstance(node, pt.Port):
        return port(node)
    if isinstance(node, pt.Vlan):
        return vlan(node)
    assert isinstance(node, pt.Relation)
    return Relation().cond(node)


# --- relations: arithmetic on packet bytes --------------------------------------------------

def fold(node: pt.Arith) -> pt.Arith:
    """Fold constant subtrees with u32 arithmetic, refusing what Linux would refuse."""
    if isinstance(node, pt.Bin):
        left, right = fold(node.left), fold(node.right)
        if isinstance(right, pt.Num):
            if node.op in ("/", "%") and right.value == 0:
                raise BpfError("division by zero")
            if isinstance(left, pt.Num):      # libpcap's fold_op: a shift of 32+ gives 0
                return pt.Num(_FOLD[node.op](left.value, right.value) & U32)
            if node.op in ("<<", ">>") and right.value >= 32:
                raise BpfError(f"shift by {right.value} (a u32 shift must be 0..31)")
        elif isinstance(left, pt.Num) and node.op in _COMMUTES:
            left, right = right, left
        return pt.Bin(node.op, left, right)
    if isinstance(node, pt.Neg):
        inner = fold(node.expr)
        return pt.Num(-inner.value & U32) if isinstance(inner, pt.Num) else pt.Neg(inner)
    if isinstance(node, pt.Load):
        return pt.Load(node.proto, fold(node.index), node.size, node.link)
    return node


@dataclass(slots=True)
class Relation:
    """Code for one ``arith relop arith``: guards for every protocol it reads, then a test."""
    guards: dict[tuple[str, int], Cond] = field(default_factory=dict)

    def cond(self, node: pt.Relation) -> Cond:
        left, right = fold(node.left), fold(node.right)
        op = node.op
        if isinstance(left, pt.Num) and isinstance(right, pt.Num):
            a, b = left.value, right.value
            return Const({"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                          ">=": a >= b}[op])
        jump = {"=": BPF_JEQ, "!=": BPF_JEQ, ">": BPF_JGT, "<=": BPF_JGT, ">=": BPF_JGE,
                "<": BPF_JGE}[op]
        if (op in ("=", "!=") and isinstance(right, pt.Num) and right.value == 0
                and isinstance(left, pt.Bin) and left.op == "&"
                and isinstance(left.right, pt.Num)):        # x & m != 0: jset, as tcpdump
            test = Test(tuple(self.arith(left.left, 0)), BPF_JMP | BPF_JSET | BPF_K,
                        left.right.value)
            flip = op == "="
        elif isinstance(right, pt.Num):
            test = Test(tuple(self.arith(left, 0)), BPF_JMP | jump | BPF_K, right.value)
            flip = op in ("!=", "<", "<=")
        else:
            body = self.arith(left, 0) + [stmt(BPF_ST, 0)] + self.arith(right, 1)
            body += [stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | BPF_MEM, 0)]
            test = Test(tuple(body), BPF_JMP | jump | BPF_X)
            flip = op in ("!=", "<", "<=")
        checked: Cond = BNot(test) if flip else test
        return all_of(*self.guards.values(), checked) if self.guards else checked

    def guard(self, proto: str, link: int) -> None:
        key = (proto, link)
        if proto == "ether" or key in self.guards:
            return
        if proto in p.ETH_TYPES:
            self.guards[key] = ethertype(link, p.ETH_TYPES[proto])
        else:
            self.guards[key] = all_of(ethertype(link, ETH_P_IP),
                                      eq(1, link + 9, p.IP_PROTOS[proto]), not_fragment(link))

    def arith(self, node: pt.Arith, depth: int) -> list[Insn]:
        """Instructions leaving ``node``'s value in A, using M[depth..] as a stack."""
        if depth >= BPF_MEMWORDS:
            raise BpfError("expression too complex (more than 16 scratch words)")
        if isinstance(node, pt.Num):
            return [stmt(BPF_LD | BPF_IMM, node.value)]
        if isinstance(node, pt.Len):
            return [stmt(BPF_LD | BPF_W | BPF_LEN)]
        if isinstance(node, pt.Neg):
            return self.arith(node.expr, depth) + [stmt(BPF_ALU | BPF_NEG)]
        if isinstance(node, pt.Bin):
            code = BPF_ALU | _ALU[node.op]
            if isinstance(node.right, pt.Num):
                return self.arith(node.left, depth) + [stmt(code | BPF_K, node.right.value)]
            return (self.arith(node.left, depth) + [stmt(BPF_ST, depth)]
                    + self.arith(node.right, depth + 1)
                    + [stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | BPF_MEM, depth),
                       stmt(code | BPF_X)])
        assert isinstance(node, pt.Load)
        return self.load(node, depth)

    def load(self, node: pt.Load, depth: int) -> list[Insn]:
        self.guard(node.proto, node.link)
        size = _SIZE[node.size]
        transport = node.proto in p.TRANSPORT
        base = 0 if node.proto == "ether" else node.link
        if isinstance(node.index, pt.Num):
            off = (base + node.index.value) & U32
            if off >= 0x80000000:
                raise BpfError(f"{node.proto}[{node.index.value}]: offset out of range")
            if transport:
                return [ldx_iphdr(node.link), stmt(BPF_LD | size | BPF_IND, off)]
            return [stmt(BPF_LD | size | BPF_ABS, off)]
        code = self.arith(node.index, depth)
        if transport:
            code += [ldx_iphdr(node.link), stmt(BPF_ALU | BPF_ADD | BPF_X)]
        return code + [stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | size | BPF_IND, base)]


# --- code generation ------------------------------------------------------------------------

class _Gen:
    """Short-circuit code: each test jumps to the true or false label of its context."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.pending: list[int] = []
        self.labels = 0
        self.where: dict[int, int] = {}          # label -> block index

    def label(self) -> int:
        self.labels += 1
        return self.labels

    def place(self, label: int) -> None:
        self.pending.append(label)

    def block(self, body: tuple[Insn, ...], code: int, k: int, t: int, f: int) -> None:
        for label in self.pending:
            self.where[label] = len(self.blocks)
        self.pending = []
        self.blocks.append(Block(list(body), code, k, t, f))

    def gen(self, c: Cond, t: int, f: int) -> None:
        if isinstance(c, BAnd):
            mid = self.label()
            self.gen(c.left, mid, f)
            self.place(mid)
            self.gen(c.right, t, f)
        elif isinstance(c, BOr):
            mid = self.label()
            self.gen(c.left, t, mid)
            self.place(mid)
            self.gen(c.right, t, f)
        elif isinstance(c, BNot):
            self.gen(c.expr, f, t)
        elif isinstance(c, Const):
            target = t if c.value else f
            self.block((), BPF_JMP | BPF_JA, 0, target, target)
        else:
            self.block(c.body, c.code, c.k, t, f)


def compile_filter(expr: str, snaplen: int = DEFAULT_SNAPLEN, optimize: bool = True
                   ) -> list[Insn]:
    """Compile a tcpdump expression (see the module docstring) to a checked cBPF program.

    ``optimize=False`` (tcpdump's ``-O``) keeps every test and load as generated."""
    if not 0 < snaplen <= U32:
        raise BpfError(f"snaplen must be 1..{U32}, got {snaplen}")
    tree = p.parse(expr)
    if tree is None:
        return [stmt(BPF_RET | BPF_K, snaplen)]
    gen = _Gen()
    accept, reject = gen.label(), gen.label()
    gen.gen(cond(tree), accept, reject)
    gen.place(accept)
    gen.block((), BPF_RET | BPF_K, snaplen, 0, 0)
    gen.place(reject)
    gen.block((), BPF_RET | BPF_K, 0, 0, 0)
    for block in gen.blocks:
        block.t, block.f = gen.where.get(block.t, block.t), gen.where.get(block.f, block.f)
    prog = lay_out(gen.blocks, passes=optimize)
    if len(prog) > BPF_MAXINSNS:
        raise BpfError(f"filter compiles to {len(prog)} instructions; Linux takes at most "
                       f"{BPF_MAXINSNS}")
    return prog

