"""tcpdump filter expressions (pcap-filter(7)) to a syntax tree with resolved offsets.

Mirrors libpcap's ``scanner.l`` and ``grammar.y`` for the subset :mod:`stack.bpf.compiler`
documents, over Ethernet (DLT_EN10MB).  The parser already resolves what libpcap resolves
while parsing: each primitive carries the link-layer payload offset in force where it was
written (14, plus 4 for every ``vlan`` written before it, in text order, whatever the
``and``/``or``/``not`` around it — libpcap's ``off_linkpl`` bump), and a bare id inherits
the qualifiers of the last qualified primitive (``port 80 or 443``, ``host a and not b``).

The tree's node types are in ``tree.py``, the scanner in ``scanner.py`` (libpcap's
``scanner.l``); both are re-exported here.

Contract: :func:`parse` returns the tree (``None`` for an empty expression, which accepts
everything) or raises :class:`BpfError` whose message ends with ``(column N)``, 1-based.
"""

from __future__ import annotations

import ipaddress

from stack.bpf.insn import U32, BpfError
from stack.bpf.scanner import Token, mac_bytes, number, tokenize  # noqa: F401 - re-exported
from stack.bpf.tree import (  # noqa: F401 - re-exported: compiler and tests use them
    And,
    Arith,
    Bin,
    EtherAddr,
    EtherBroadcast,
    EtherMulticast,
    EtherType,
    HostNet,
    HostNet6,
    IpMulticast,
    IpProto,
    Len,
    Load,
    Neg,
    Node,
    Not,
    Num,
    Or,
    Port,
    Relation,
    Vlan,
)
from stack.uapi import (
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_ARP,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_RARP,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_IGMP,
    IPPROTO_SCTP,
    IPPROTO_TCP,
    IPPROTO_UDP,
)

ETH_HLEN = 14
ETH_TYPES = {"ip": ETH_P_IP, "ip6": ETH_P_IPV6, "arp": ETH_P_ARP, "rarp": ETH_P_RARP}
IP_PROTOS = {"icmp": IPPROTO_ICMP, "igmp": IPPROTO_IGMP, "tcp": IPPROTO_TCP, "udp": IPPROTO_UDP,
             "icmp6": IPPROTO_ICMPV6, "sctp": IPPROTO_SCTP}
PORT_PROTOS = (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP)  # a bare ``port``: tcp, udp, sctp (libpcap)
VLAN_TPIDS = (ETH_P_8021Q, ETH_P_8021AD, 0x9100)  # 0x9100: the old QinQ TPID libpcap also takes
TRANSPORT = ("tcp", "udp", "sctp", "icmp")
NETWORK = ("ip", "ip6", "arp", "rarp")
DIRS = ("src", "dst")
TYPES = ("host", "net", "port", "portrange")
QUALIFIED_PROTOS = ("ether", "ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6")
NAMED = {  # pcap-filter(7)'s named offsets and values for relations
    "tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
    "tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
    "icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3,
    "icmp-sourcequench": 4, "icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9,
    "icmp-routersolicit": 10, "icmp-timxceed": 11, "icmp-paramprob": 12, "icmp-tstamp": 13,
    "icmp-tstampreply": 14, "icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17,
    "icmp-maskreply": 18,
}
RELOPS = ("=", "==", "!=", "<", ">", "<=", ">=")
ARITH_OPS = ("+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>")
AND_OR = {"and": "and", "&&": "and", "or": "or", "||": "or"}


# --- the parser -----------------------------------------------------------------------------

class Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0
        self.vlans = 0                 # vlan keywords seen so far, in text order
        self.last: tuple[str | None, str | None, str | None] | None = None

    # token helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def error(self, message: str | None = None, tok: Token | None = None) -> BpfError:
        tok = tok or self.tok
        if message is None:
            where = "end of expression" if tok.kind == "end" else f"'{tok.text}'"
            message = f"syntax error at {where}"
        return BpfError(f"{message} (column {tok.pos + 1})")

    def expect(self, text: str) -> Token:
        if self.tok.text != text or self.tok.kind not in ("op", "word"):
            raise self.error()
        return self.take()

    def is_word(self, *words: str, tok: Token | None = None) -> bool:
        tok = tok or self.tok
        return tok.kind == "word" and tok.text in words

    @property
    def link(self) -> int:
        return ETH_HLEN + 4 * self.vlans

    # boolean level: libpcap gives 'and' and 'or' one precedence, left to right; 'not' binds
    # tighter (pcap-filter(7): "Alternation and concatenation have equal precedence")
    def parse(self) -> Node | None:
        if self.tok.kind == "end":
            return None
        node = self.expr()
        if self.tok.kind != "end":
            raise self.error()
        return node

    def expr(self) -> Node:
        node = self.term()
        while self.tok.text in AND_OR and self.tok.kind in ("op", "word"):
            op = AND_OR[self.take().text]
            right = self.term()
            node = And(node, right) if op == "and" else Or(node, right)
        return node

    def term(self) -> Node:
        tok = self.tok
        if self.is_word("not") or (tok.kind == "op" and tok.text == "!"):
            self.take()
            return Not(self.term())
        if tok.kind == "op" and tok.text == "(":
            return self.paren()
        return self.primitive()

    def paren(self) -> Node:
        """``(`` opens a boolean group, or an arithmetic operand when the matching ``)`` is
        followed by an operator (a group never is): no backtracking needed."""
        depth, j = 0, self.i
        while self.toks[j].kind != "end":
            text = self.toks[j].text if self.toks[j].kind == "op" else ""
            depth += (text == "(") - (text == ")")
            if depth == 0:
                break
            j += 1
        if self.arith_op(self.toks[min(j + 1, len(self.toks) - 1)]):
            return self.relation()
        self.take()
        node = self.expr()
        self.expect(")")
        return node

    @staticmethod
    def arith_op(tok: Token) -> bool:
        """A relational or arithmetic operator: what says a relation is being written."""
        return tok.kind == "op" and (tok.text in RELOPS or tok.text in ARITH_OPS)

    def primitive(self) -> Node:
        tok, nxt = self.tok, self.peek()
        if tok.kind == "word":
            word = tok.text
            if word in ("len", "link") or (word in QUALIFIED_PROTOS
                                            and nxt.kind == "op" and nxt.text == "["):
                return self.relation()
            if word in QUALIFIED_PROTOS:
                return self.proto_primitive()
            if word in DIRS or word in TYPES:
                return self.qualified(None)
            if word == "proto":
                self.take()
                self.last = None
                return IpProto(self.proto_number("ip"), True, True, self.link)
            if word in ("broadcast", "multicast"):
                self.take()
                self.last = None
                return EtherBroadcast() if word == "broadcast" else EtherMulticast()
            if word == "vlan":
                return self.vlan()
            if word in ("greater", "less"):
                self.take()
                n = self.num()
                self.last = None
                return Relation(">=" if word == "greater" else "<=", Len(), Num(n))
            if word in NAMED and self.arith_op(nxt):
                return self.relation()
            raise self.error()
        if (tok.kind == "num" and self.arith_op(nxt)) or (tok.kind == "op" and tok.text == "-"):
            return self.relation()
        if self.at_id():
            if self.last is None:
                raise self.error()
            proto, dir_, typ = self.last
            return self.make_id(proto, dir_, typ)
        raise self.error()

    def at_id(self) -> bool:
        """An id: a number, address, range, MAC, or a name (refused later, with a reason)."""
        tok = self.tok
        return tok.kind in ("num", "addr", "ip6", "mac", "range") or (
            tok.kind == "word" and tok.text not in AND_OR and tok.text != "not")

    def proto_primitive(self) -> Node:
        proto_tok = self.take()
        proto = proto_tok.text
        tok = self.tok
        if self.is_word("proto") and proto in ("ether", "ip", "ip6"):
            self.take()
            self.last = None
            if proto == "ether":
                return EtherType((self.proto_number("ether"),), self.link)
            return IpProto(self.proto_number(proto), proto == "ip", proto == "ip6", self.link)
        if self.is_word("broadcast", "multicast") and proto in ("ether", "ip"):
            self.take()
            self.last = None
            if proto == "ether":
                return EtherBroadcast() if tok.text == "broadcast" else EtherMulticast()
            if tok.text == "multicast":
                return IpMulticast(self.link)
            raise self.error("'ip broadcast' needs the interface's netmask; use "
                             "'dst host 255.255.255.255'", tok)
        if tok.kind == "word" and (tok.text in DIRS or tok.text in TYPES):
            return self.qualified(proto)
        self.last = None
        if proto == "ether":
            raise self.error("expected host, src, dst, proto, broadcast or multicast "
                             "after 'ether'", tok)
        if proto in ETH_TYPES:
            return EtherType((ETH_TYPES[proto],), self.link)
        return IpProto(IP_PROTOS[proto], proto != "icmp6", proto not in ("icmp",), self.link)

    def proto_number(self, space: str) -> int:
        tok = self.tok
        if tok.kind == "esc":
            names = ETH_TYPES if space == "ether" else IP_PROTOS
            name = tok.text[1:]
            if name not in names:
                raise self.error(f"unknown {space} protocol '{name}'")
            self.take()
            return names[name]
        value = self.num()
        limit = 0xFFFF if space == "ether" else 0xFF
        if value > limit:
            raise self.error(f"{space} protocol {value} out of range 0..{limit}", tok)
        return value

    def num(self) -> int:
        tok = self.tok
        if tok.kind != "num":
            raise self.error()
        try:
            value = number(tok.text)
        except ValueError:
            raise self.error(f"bad number '{tok.text}'") from None
        self.take()
        return value

    def vlan(self) -> Node:
        self.take()
        self.last = None
        vid = None
        if self.tok.kind == "num":
            tok = self.tok
            vid = self.num()
            if vid > 4095:
                raise self.error(f"VLAN tag {vid} greater than maximum 4095", tok)
        node = Vlan(vid, self.link)
        self.vlans += 1
        return node

    def qualified(self, proto: str | None) -> Node:
        """``[proto] [dir] [type] id``, the proto already taken."""
        dir_ = None
        if self.is_word(*DIRS):
            dir_ = self.take().text
            other = "dst" if dir_ == "src" else "src"
            if (self.tok.text in AND_OR and self.tok.kind in ("op", "word")
                    and self.is_word(other, tok=self.peek())):
                dir_ = f"src {AND_OR[self.take().text]} dst"
                self.take()
        typ = self.take().text if self.is_word(*TYPES) else None
        if not self.at_id():
            raise self.error()
        self.last = (proto, dir_, typ)
        return self.make_id(proto, dir_, typ)

    def make_id(self, proto: str | None, dir_: str | None, typ: str | None) -> Node:
        """One id under qualifiers (also for a bare id inheriting them)."""
        tok = self.take()
        direction = dir_ or "src or dst"
        if tok.kind == "mac":
            if proto != "ether" or typ not in (None, "host"):
                raise self.error("ethernet address used in non-ether expression", tok)
            return EtherAddr(mac_bytes(tok.text), direction)
        if proto == "ether":
            raise self.error("'ether' needs an Ethernet address (aa:bb:cc:dd:ee:ff)", tok)
        if typ in ("port", "portrange") or tok.kind == "range":
            return self.port(tok, proto, direction, typ)
        if tok.kind == "ip6":
            return self.address6(tok, proto, direction, typ)
        if proto not in (None, "ip", "arp", "rarp"):
            raise self.error(f"'{proto}' modifier applied to {typ or 'host'}", tok)
        addr, mask = self.address(tok, typ)
        ip = proto in (None, "ip")
        arp = {None: (ETH_P_ARP, ETH_P_RARP), "ip": (), "arp": (ETH_P_ARP,),
               "rarp": (ETH_P_RARP,)}[proto]
        return HostNet(addr, mask, direction, ip, arp, self.link)

    def port(self, tok: Token, proto: str | None, direction: str, typ: str | None) -> Port:
        if typ not in ("port", "portrange"):
            raise self.error(f"'{tok.text}' needs 'portrange'", tok)
        if proto not in (None, "tcp", "udp", "sctp"):
            raise self.error(f"'{proto}' modifier applied to {typ}", tok)
        if tok.kind == "range" and typ == "portrange":
            texts = tok.text.split("-")
        elif tok.kind == "num":
            texts = [tok.text, tok.text]
        else:
            raise self.error(f"expected a port {'range ' if typ == 'portrange' else ''}"
                             f"number, got '{tok.text}'", tok)
        try:
            lo, hi = sorted(number(t) for t in texts)
        except ValueError:
            raise self.error(f"bad port '{tok.text}'", tok) from None
        if hi > 0xFFFF:
            raise self.error(f"illegal port number {hi} > 65535", tok)
        protos = PORT_PROTOS if proto is None else (IP_PROTOS[proto],)
        return Port(lo, hi, direction, protos, self.link)

    def address6(self, tok: Token, proto: str | None, direction: str,
                 typ: str | None) -> HostNet6:
        """``host X6`` or ``net X6/len`` (libpcap's ``gen_host6``/``gen_mcode6``)."""
        if proto not in (None, "ip6"):
            raise self.error(f"'{proto}' modifier applied to ip6 {typ or 'host'}", tok)
        try:
            addr = int(ipaddress.IPv6Address(tok.text))
        except ValueError:
            raise self.error(f"'{tok.text}' is not an IPv6 address", tok) from None
        mask = (1 << 128) - 1
        if self.tok.kind == "op" and self.tok.text == "/":
            if typ != "net":
                raise self.error("Mask syntax for networks only")
            self.take()
            length_tok = self.tok
            length = self.num()
            if length > 128:
                raise self.error("mask length must be <= 128", length_tok)
            mask = (mask << (128 - length)) & ((1 << 128) - 1)
            if addr & ~mask:
                raise self.error(f'non-network bits set in "{tok.text}/{length}"')
        return HostNet6(addr, mask, direction, self.link)

    def address(self, tok: Token, typ: str | None) -> tuple[int, int]:
        """An IPv4 host, or a network as ``a.b.c.d/len``, ``a.b.c.d mask m.m.m.m`` or ``a.b``."""
        if tok.kind == "word":
            raise self.error(f"host names are not supported (no resolver): '{tok.text}'", tok)
        if tok.kind not in ("addr", "num") or (tok.kind == "num" and typ != "net"):
            raise self.error(f"'{tok.text}' is not an IPv4 address", tok)
        try:
            parts = [number(part) for part in tok.text.split(".")]
        except ValueError:
            parts = [256]
        if any(p > 255 for p in parts):
            raise self.error(f"'{tok.text}' is not an IPv4 address", tok)
        addr = 0
        for p in parts:
            addr = addr << 8 | p
        addr <<= 8 * (4 - len(parts))
        cidr = self.tok.kind == "op" and self.tok.text == "/"
        masked = self.is_word("mask")
        if typ != "net":
            if cidr or masked:
                raise self.error("Mask syntax for networks only")
            if len(parts) != 4:
                raise self.error(f"'{tok.text}' is not a host address; use 'net'", tok)
            return addr, U32
        if cidr:
            self.take()
            length_tok = self.tok
            length = self.num()
            if length > 32:
                raise self.error("mask length must be <= 32", length_tok)
            mask = (U32 << (32 - length)) & U32
        elif masked:
            self.take()
            mask_tok = self.tok
            if mask_tok.kind != "addr" or mask_tok.text.count(".") != 3:
                raise self.error("expected a dotted netmask")
            self.take()
            mask = int.from_bytes(bytes(int(p) for p in mask_tok.text.split(".")), "big")
        else:
            mask = (U32 << (8 * (4 - len(parts)))) & U32
        if addr & ~mask & U32:
            raise self.error(f'non-network bits set in "{tok.text}"', tok)
        return addr, mask

    # --- relations: arith relop arith (libpcap's precedence: | & << >> + - * / unary-;
    #     '^' and '%' have none, see unary())
    def relation(self) -> Relation:
        self.last = None
        left = self.arith()
        tok = self.tok
        if tok.kind != "op" or tok.text not in RELOPS:
            raise self.error()
        self.take()
        right = self.arith()
        return Relation("=" if tok.text == "==" else tok.text, left, right)

    _LEVELS = (("|",), ("&",), ("<<", ">>"), ("+", "-"), ("*", "/"))

    def arith(self, level: int = 0) -> Arith:
        if level == len(self._LEVELS):
            return self.unary()
        node = self.arith(level + 1)
        while self.tok.kind == "op" and self.tok.text in self._LEVELS[level]:
            op = self.take().text
            node = Bin(op, node, self.arith(level + 1))
        return node

    def unary(self) -> Arith:
        if self.tok.kind == "op" and self.tok.text == "-":
            self.take()
            return Neg(self.unary())
        node = self.operand()
        # '^' and '%' have no declared precedence in grammar.y, so yacc shifts: the right
        # operand is the whole rest of the arithmetic ('a & b ^ c' is 'a & (b ^ c)',
        # 'a % 3 + 1' is 'a % 4'), as tcpdump compiles them
        if self.tok.kind == "op" and self.tok.text in ("^", "%"):
            op = self.take().text
            node = Bin(op, node, self.arith())
        return node

    def operand(self) -> Arith:
        tok = self.tok
        if tok.kind == "num":
            return Num(self.num())
        if tok.kind == "op" and tok.text == "(":
            self.take()
            node = self.arith()
            self.expect(")")
            return node
        if tok.kind == "word" and tok.text == "len":
            self.take()
            return Len()
        if tok.kind == "word" and tok.text in NAMED:
            self.take()
            return Num(NAMED[tok.text])
        if tok.kind == "word" and (tok.text in TRANSPORT or tok.text in NETWORK
                                   or tok.text in ("ether", "link")):
            self.take()
            self.expect("[")
            index = self.arith()
            size = 1
            if self.tok.kind == "op" and self.tok.text == ":":
                self.take()
                size_tok = self.tok
                size = self.num()
                if size not in (1, 2, 4):
                    raise self.error("data size must be 1, 2, or 4", size_tok)
            self.expect("]")
            proto = "ether" if tok.text == "link" else tok.text
            return Load(proto, index, size, self.link)
        raise self.error()


def parse(text: str) -> Node | None:
    """Parse a filter expression; ``None`` means the empty expression (accept all)."""
    return Parser(text).parse()
