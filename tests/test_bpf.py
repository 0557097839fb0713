"""stack/bpf: cBPF machine, checker, Python JIT and the tcpdump-expression compiler.

Frames are built by hand with struct; the meaning of every filter primitive is re-stated
below (:func:`meaning`) as plain Python over parsed header fields, independently of the
compiler, and hypothesis checks the compiled program against it.  Where tcpdump and Linux are
on the machine they are the oracles: tcpdump's own programs must give our verdicts, and the
kernel must accept what we emit (SO_ATTACH_FILTER) and refuse what check() refuses.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import ipaddress
import random
import re
import shutil
import socket
import struct
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.bpf import (
    BpfError,
    Filter,
    Insn,
    check,
    compile_filter,
    decode,
    disassemble,
    encode,
    format_ddd,
    interpret,
    parse_ddd,
    run,
)
from stack.bpf import insn as I  # noqa: N812 - the opcode namespace, as in C
from stack.bpf.insn import format_dd, jump, stmt
from stack.bpf.jit import MAX_NESTING, jit, source

# --- frames -----------------------------------------------------------------------------------

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("02000000000b")
BCAST = b"\xff" * 6
MCAST = bytes.fromhex("01005e000001")
TPIDS = (0x8100, 0x88A8, 0x9100)


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def ether(payload: bytes, ethertype: int, dst=MAC_B, src=MAC_A, vlans=()) -> bytes:
    tags = b"".join(struct.pack("!HH", tpid, tci) for tpid, tci in vlans)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, frag=0, mf=False, ihl=5,
         ttl=64) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 0x1234,
                       (0x2000 if mf else 0) | frag, ttl, proto, 0, ip(src), ip(dst))
    return head + b"\x01" * (4 * (ihl - 5)) + payload


def ipv6(nh: int, payload: bytes, frag_nh: int | None = None) -> bytes:
    if frag_nh is not None:
        payload = struct.pack("!BBHI", frag_nh, 0, 0, 7) + payload
        nh = 44
    return (struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + bytes(range(16))
            + bytes(range(16, 32)) + payload)


def tcp(sport: int, dport: int, flags=0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 65535, 0, 0)


def udp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8, 0)


def sctp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHII", sport, dport, 0, 0)


def icmp(kind=8) -> bytes:
    return struct.pack("!BBHHH", kind, 0, 0, 1, 1)


def arp(op: int, spa: str, tpa: str) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, MAC_A, ip(spa), MAC_B, ip(tpa))


TCP80 = ether(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1234, 80)), 0x0800)
UDP53 = ether(ipv4("10.0.0.2", "192.168.1.7", 17, udp(53, 5353)), 0x0800)
ICMP = ether(ipv4("10.0.0.1", "10.0.0.2", 1, icmp()), 0x0800)
ARP = ether(arp(1, "10.0.0.1", "10.0.0.2"), 0x0806, dst=BCAST)
RARP = ether(arp(3, "10.0.0.7", "10.0.0.8"), 0x8035, dst=BCAST)
TCP6 = ether(ipv6(6, tcp(80, 4000)), 0x86DD)
UDP6_FRAG = ether(ipv6(0, udp(53, 53), frag_nh=17), 0x86DD)
VLAN_UDP = ether(ipv4("10.0.0.1", "10.0.0.2", 17, udp(53, 53)), 0x0800, vlans=[(0x8100, 5)])
QINQ_TCP = ether(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(22, 80)), 0x0800,
                 vlans=[(0x88A8, 7), (0x8100, 5)])
FRAG_FIRST = ether(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1234, 80), mf=True), 0x0800)
FRAG_LATER = ether(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1234, 80), frag=185), 0x0800)
OPTS_TCP = ether(ipv4("10.0.0.1", "10.0.0.2", 6, tcp(443, 22, flags=0x02), ihl=7), 0x0800)
MCAST_UDP = ether(ipv4("10.0.0.1", "224.0.0.251", 17, udp(5353, 5353)), 0x0800, dst=MCAST)
LLDP = ether(b"\x02\x07" + bytes(40), 0x88CC, dst=bytes.fromhex("0180c200000e"))


def matches(expr: str, frame: bytes) -> bool:
    prog = compile_filter(expr)
    verdict = run(prog, frame)
    assert verdict == interpret(prog, frame), expr
    return verdict != 0


# --- the compiler, on hand-built frames --------------------------------------------------------

PRIMITIVES = [
    ("ip", [TCP80, UDP53, ICMP], [ARP, TCP6, LLDP, VLAN_UDP]),
    ("ip6", [TCP6, UDP6_FRAG], [TCP80, ARP]),
    ("arp", [ARP], [RARP, TCP80]),
    ("rarp", [RARP], [ARP]),
    ("tcp", [TCP80, TCP6, FRAG_LATER, OPTS_TCP], [UDP53, ICMP, ARP, UDP6_FRAG]),
    ("udp", [UDP53, UDP6_FRAG, MCAST_UDP], [TCP80, TCP6, VLAN_UDP]),
    ("icmp", [ICMP], [TCP80, TCP6]),
    ("host 10.0.0.2", [TCP80, UDP53, ARP, ICMP], [RARP, TCP6, LLDP]),
    ("src host 10.0.0.2", [UDP53], [TCP80, ARP]),
    ("dst host 10.0.0.2", [TCP80, ARP], [UDP53]),
    ("ip host 10.0.0.2", [TCP80], [ARP]),
    ("arp host 10.0.0.1", [ARP], [TCP80, RARP]),
    ("host 10.0.0.8", [RARP], [ARP]),
    ("net 192.168.0.0/16", [UDP53], [TCP80, ARP]),
    ("dst net 192.168.1.0 mask 255.255.255.0", [UDP53], [TCP80]),
    ("src net 10.0.0.0/24", [TCP80, UDP53, ARP, RARP], [TCP6, LLDP]),
    ("net 10", [TCP80, ARP], [TCP6]),
    ("port 80", [TCP80, TCP6, FRAG_FIRST], [UDP53, FRAG_LATER, VLAN_UDP, QINQ_TCP]),
    ("src port 53", [UDP53], [TCP80, UDP6_FRAG]),   # IPv6 ports: no fragment-header walk
    ("dst port 80", [TCP80], [TCP6]),
    ("tcp dst port 22", [OPTS_TCP], [TCP80]),
    ("udp port 80", [], [TCP80]),
    ("portrange 5000-6000", [UDP53, MCAST_UDP], [TCP80]),
    ("src portrange 1-100", [UDP53, TCP6], [TCP80]),
    ("ether host " + mac_text(MAC_A), [TCP80, ARP], []),
    ("ether src " + mac_text(MAC_B), [], [TCP80]),
    ("ether dst " + mac_text(MAC_B), [TCP80], [ARP]),
    ("ether broadcast", [ARP, RARP], [TCP80, MCAST_UDP]),
    ("ether multicast", [ARP, MCAST_UDP, LLDP], [TCP80]),
    ("broadcast", [ARP], [MCAST_UDP]),
    ("ip multicast", [MCAST_UDP], [TCP80, ARP]),
    ("ether proto 0x88cc", [LLDP], [TCP80]),
    ("ether proto \\arp", [ARP], [TCP80]),
    ("ip proto 17", [UDP53], [TCP80, UDP6_FRAG]),
    ("ip6 proto 17", [UDP6_FRAG], [UDP53]),
    ("proto \\tcp", [TCP80, TCP6], [UDP53]),
    ("vlan", [VLAN_UDP, QINQ_TCP], [TCP80]),
    ("vlan 5", [VLAN_UDP], [QINQ_TCP, TCP80]),
    ("vlan 7 and vlan 5 and tcp port 80", [QINQ_TCP], [VLAN_UDP]),
    ("vlan and udp port 53", [VLAN_UDP], [UDP53]),
    ("tcp[13] & 2 != 0", [OPTS_TCP], [TCP80, UDP53]),
    ("tcp[tcpflags] & (tcp-syn|tcp-ack) = tcp-syn", [OPTS_TCP], [TCP80]),
    ("icmp[icmptype] = icmp-echo", [ICMP], [TCP80]),
    ("ip[8] = 64 and ip[0] & 0xf > 5", [OPTS_TCP], [TCP80]),
    ("udp[0:2] = 53", [UDP53], [TCP80]),
    ("ether[12:2] = 0x806", [ARP], [TCP80]),
    ("ip[2:2] + 14 = len", [TCP80, UDP53], [LLDP]),
    ("tcp[(tcp[12] >> 4) * 4 - 1] = 0", [TCP80], [UDP53]),
    ("greater 50", [TCP80], [ARP]),
    ("less 42", [ARP], [TCP80]),
]


@pytest.mark.parametrize(("expr", "yes", "no"), PRIMITIVES, ids=[p[0] for p in PRIMITIVES])
def test_primitive_on_frames(expr, yes, no):
    for frame in yes:
        assert matches(expr, frame), (expr, frame.hex())
    for frame in no:
        assert not matches(expr, frame), (expr, frame.hex())


def test_and_or_have_equal_precedence_left_to_right_as_tcpdump():
    # pcap-filter(7): "Negation has highest precedence. Alternation and concatenation have
    # equal precedence and associate left to right." So a or b and c == (a or b) and c.
    assert not matches("arp or ip and udp", ARP)
    assert matches("arp or (ip and udp)", ARP)
    assert matches("(arp or ip) and udp", UDP53)
    assert matches("udp and ip or arp", ARP)                  # (udp and ip) or arp
    assert not matches("udp and (ip or arp)", ARP)
    assert matches("not tcp and ip", UDP53)                   # (not tcp) and ip
    assert not matches("not (tcp or ip)", UDP53)
    assert matches("! tcp && ip || arp", ARP)
    assert matches("not not tcp", TCP80)


@pytest.mark.parametrize(("expr", "alu"), [
    ("ip[2] + 1 * 2 = 1", "add      #2"),        # * before +
    ("ip[2] | 1 & 2 = 1", "or       #0"),        # & before |
    ("ip[2] - 1 - 1 = 1", "sub      #1"),        # left to right: two subs
    ("ip[2] << 1 + 1 = 1", "lsh      #2"),       # + before <<
    ("ip[2] ^ 1 & 3 = 1", "xor      #0x1"),      # '^' takes the rest: ip[2] ^ (1 & 3)
    ("ip[2] & 1 ^ 3 = 1", "and      #0x2"),      # ... and ip[2] & (1 ^ 3)
    ("ip[2] % 3 + 1 = 1", "mod      #4"),        # '%' too: ip[2] % (3 + 1)
    ("ip[2] * 5 % 3 = 1", "mul      #2"),
])
def test_arithmetic_precedence_is_libpcaps(expr, alu):
    assert alu in disassemble(compile_filter(expr))


def test_fragments_carry_ports_only_in_the_first():
    assert matches("tcp port 80", FRAG_FIRST)
    assert not matches("tcp port 80", FRAG_LATER)
    assert not matches("port 1234 or portrange 1-65535", FRAG_LATER)
    assert matches("tcp and not port 80", FRAG_LATER)        # not a port match, still tcp
    assert not matches("tcp[13] & 0x18 != 0", FRAG_LATER)
    assert matches("tcp dst port 22", OPTS_TCP)              # ports behind 8 option bytes


def test_vlan_shifts_every_later_primitive_in_text_order():
    assert matches("vlan and ip", VLAN_UDP)
    assert not matches("ip and vlan", VLAN_UDP)              # ip read at 12 first: 0x8100
    assert not matches("vlan or ip", UDP53)                  # ip read at 16, as tcpdump
    # 'vlan 9' is never evaluated on this frame, yet shifts 'vlan 5' to offset 22: no match
    assert not matches("(vlan 7 or vlan 9) and vlan 5 and port 22", QINQ_TCP)
    assert matches("vlan 7 and vlan 5 and port 22", QINQ_TCP)


def test_bare_ids_inherit_the_last_qualifiers():
    assert matches("port 22 or 80", TCP80)
    assert matches("tcp src port 22 or 443", OPTS_TCP)
    assert matches("host 10.9.9.9 or 10.0.0.2", TCP80)
    assert matches("host 10.0.0.1 and not 10.0.0.9", TCP80)
    assert matches(f"ether src 02:00:00:00:00:ff or {mac_text(MAC_A)}", TCP80)


@pytest.mark.parametrize(("expr", "message"), [
    ("tcp port fooo", "expected a port number, got 'fooo' (column 10)"),
    ("host 10.0.0.1 annd tcp", "syntax error at 'annd' (column 15)"),
    ("tcp and", "syntax error at end of expression (column 8)"),
    ("(tcp or udp", "syntax error at end of expression (column 12)"),
    ("tcp)", "syntax error at ')' (column 4)"),
    ("port 70000", "illegal port number 70000 > 65535 (column 6)"),
    ("vlan 4096", "VLAN tag 4096 greater than maximum 4095 (column 6)"),
    ("net 10.1.0.1/16", 'non-network bits set in "10.1.0.1" (column 5)'),
    ("net 10.0.0.0/33", "mask length must be <= 32 (column 14)"),
    ("host 1:2:3:4:5:6", "ethernet address used in non-ether expression (column 6)"),
    ("tcp host 10.0.0.1", "'tcp' modifier applied to host (column 10)"),
    ("host example.com", "host names are not supported (no resolver): 'example.com'"),
    ("ip[1:3] = 1", "data size must be 1, 2, or 4 (column 6)"),
    ("ip[2] / 0 = 1", "division by zero"),
    ("ip[2-1] = 1", "syntax error at '2-1' (column 4)"),
    ("10.0.0.1", "syntax error at '10.0.0.1' (column 1)"),
    ("tcp # port", "syntax error at '#' (column 5)"),
])
def test_errors_name_the_place(expr, message):
    with pytest.raises(BpfError) as exc:
        compile_filter(expr)
    assert message in str(exc.value)


def test_empty_expression_accepts_everything():
    assert compile_filter("") == [Insn(I.BPF_RET | I.BPF_K, 0, 0, 262144)]
    assert compile_filter("  ", snaplen=96) == [Insn(I.BPF_RET | I.BPF_K, 0, 0, 96)]
    assert Filter("tcp", snaplen=96).run(TCP80) == 96


# --- disassembly ------------------------------------------------------------------------------

GOLDEN = {   # identical, instruction for instruction, to tcpdump 4.99's -d output
    "ip": """\
(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 3
(002) ret      #262144
(003) ret      #0""",
    "host 1.2.3.4": """\
(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 6
(002) ld       [26]
(003) jeq      #0x1020304       jt 12	jf 4
(004) ld       [30]
(005) jeq      #0x1020304       jt 12	jf 13
(006) jeq      #0x806           jt 8	jf 7
(007) jeq      #0x8035          jt 8	jf 13
(008) ld       [28]
(009) jeq      #0x1020304       jt 12	jf 10
(010) ld       [38]
(011) jeq      #0x1020304       jt 12	jf 13
(012) ret      #262144
(013) ret      #0""",
    "tcp[13] & 2 != 0": """\
(000) ldh      [12]
(001) jeq      #0x800           jt 2	jf 10
(002) ldb      [23]
(003) jeq      #0x6             jt 4	jf 10
(004) ldh      [20]
(005) jset     #0x1fff          jt 10	jf 6
(006) ldxb     4*([14]&0xf)
(007) ldb      [x + 27]
(008) jset     #0x2             jt 9	jf 10
(009) ret      #262144
(010) ret      #0""",
    "arp or ip and udp": """\
(000) ldh      [12]
(001) jeq      #0x806           jt 6	jf 2
(002) jeq      #0x800           jt 3	jf 6
(003) ldb      [23]
(004) jeq      #0x11            jt 5	jf 6
(005) ret      #262144
(006) ret      #0""",
    "ether multicast and not ether broadcast": """\
(000) ldb      [0]
(001) jset     #0x1             jt 2	jf 7
(002) ld       [2]
(003) jeq      #0xffffffff      jt 4	jf 6
(004) ldh      [0]
(005) jeq      #0xffff          jt 7	jf 6
(006) ret      #262144
(007) ret      #0""",
}


@pytest.mark.parametrize("expr", list(GOLDEN))
def test_disassembly_of_compiled_expressions(expr):
    assert disassemble(compile_filter(expr)) == GOLDEN[expr]


def test_tcp_port_compiles_to_the_tcpdump_shape():
    text = disassemble(compile_filter("tcp port 80")).splitlines()
    assert text[:8] == [
        "(000) ldh      [12]",
        "(001) jeq      #0x800           jt 2\tjf 11",
        "(002) ldb      [23]",
        "(003) jeq      #0x6             jt 4\tjf 19",
        "(004) ldh      [20]",
        "(005) jset     #0x1fff          jt 19\tjf 6",
        "(006) ldxb     4*([14]&0xf)",
        "(007) ldh      [x + 14]",
    ]
    assert text[-2:] == ["(018) ret      #262144", "(019) ret      #0"]


def test_disassembler_covers_every_opcode():
    prog = [stmt(I.BPF_LD | I.BPF_W | I.BPF_ABS, 26), stmt(I.BPF_LD | I.BPF_H | I.BPF_IND, 14),
            stmt(I.BPF_LD | I.BPF_B | I.BPF_ABS, 0), stmt(I.BPF_LD | I.BPF_W | I.BPF_LEN),
            stmt(I.BPF_LD | I.BPF_IMM, 255), stmt(I.BPF_LDX | I.BPF_IMM, 16),
            stmt(I.BPF_LDX | I.BPF_B | I.BPF_MSH, 14), stmt(I.BPF_ST, 3),
            stmt(I.BPF_LD | I.BPF_MEM, 3), stmt(I.BPF_STX, 4), stmt(I.BPF_LDX | I.BPF_MEM, 4),
            stmt(I.BPF_ALU | I.BPF_ADD | I.BPF_K, 5), stmt(I.BPF_ALU | I.BPF_AND | I.BPF_K, 15),
            stmt(I.BPF_ALU | I.BPF_SUB | I.BPF_X), stmt(I.BPF_ALU | I.BPF_NEG),
            stmt(I.BPF_MISC | I.BPF_TAX), stmt(I.BPF_MISC | I.BPF_TXA),
            stmt(I.BPF_JMP | I.BPF_JA, 1), jump(I.BPF_JMP | I.BPF_JGT | I.BPF_X, 0, 0, 1),
            stmt(I.BPF_RET | I.BPF_A), stmt(I.BPF_RET | I.BPF_K, 0xFFFFFFFF), Insn(0xFFFF, 0, 0, 0)]
    assert disassemble(prog).splitlines() == [
        "(000) ld       [26]", "(001) ldh      [x + 14]", "(002) ldb      [0]",
        "(003) ld       #pktlen", "(004) ld       #0xff", "(005) ldx      #0x10",
        "(006) ldxb     4*([14]&0xf)", "(007) st       M[3]", "(008) ld       M[3]",
        "(009) stx      M[4]", "(010) ldx      M[4]", "(011) add      #5",
        "(012) and      #0xf", "(013) sub      x", "(014) neg", "(015) tax", "(016) txa",
        "(017) ja       19", "(018) jgt      x                jt 19\tjf 20", "(019) ret",
        "(020) ret      #-1", "(021) unimp    0xffff"]


def test_binary_and_text_forms_round_trip():
    prog = compile_filter("vlan and tcp port 80")
    blob = encode(prog)
    assert len(blob) == 8 * len(prog) and decode(blob) == prog
    assert blob[:8] == struct.pack("=HBBI", *prog[0])
    assert parse_ddd(format_ddd(prog)) == prog
    assert parse_ddd(",".join(format_ddd(prog).splitlines())) == prog   # iptables/tc form
    assert format_dd(prog[:1]) == "{ 0x28, 0, 0, 0x0000000c },"
    with pytest.raises(BpfError):
        decode(blob[:-1])
    with pytest.raises(BpfError, match="says 3 instructions"):
        parse_ddd("3\n6 0 0 0")


# --- the checker ------------------------------------------------------------------------------

RET0 = stmt(I.BPF_RET | I.BPF_K, 0)
LD12 = stmt(I.BPF_LD | I.BPF_H | I.BPF_ABS, 12)
MALFORMED = [
    ([], "1..4096 instructions"),
    ([RET0] * 4097, "1..4096 instructions"),
    ([LD12], "last instruction must be ret"),
    ([jump(I.BPF_JMP | I.BPF_JEQ | I.BPF_K, 0, 1, 0), RET0], "jump past"),
    ([stmt(I.BPF_JMP | I.BPF_JA, 1), RET0], "jump past"),
    ([stmt(I.BPF_JMP | I.BPF_JA, 0xFFFFFFFF), RET0], "jump past"),
    ([Insn(0x08, 0, 0, 0), RET0], "invalid opcode 0x8"),            # ld h imm
    ([Insn(I.BPF_RET | I.BPF_X, 0, 0, 0)], "invalid opcode"),
    ([stmt(I.BPF_ST, 16), RET0], "M[0..15]"),
    ([stmt(I.BPF_LD | I.BPF_MEM, 0), RET0], "reads M[0]"),
    ([jump(I.BPF_JMP | I.BPF_JEQ | I.BPF_K, 0, 0, 1), stmt(I.BPF_ST, 2),
      stmt(I.BPF_LDX | I.BPF_MEM, 2), RET0], "reads M[2]"),
    ([stmt(I.BPF_ALU | I.BPF_DIV | I.BPF_K, 0), RET0], "division by constant zero"),
    ([stmt(I.BPF_ALU | I.BPF_MOD | I.BPF_K, 0), RET0], "division by constant zero"),
    ([stmt(I.BPF_ALU | I.BPF_LSH | I.BPF_K, 32), RET0], "shift by 32"),
    ([stmt(I.BPF_LD | I.BPF_W | I.BPF_ABS, 0xFFFFFF00), RET0], "ancillary"),
    ([Insn(6, 0, 0, 1 << 32)], "field out of range"),
]


@pytest.mark.parametrize(("prog", "message"), MALFORMED, ids=[m for _, m in MALFORMED])
def test_check_refuses_what_linux_refuses(prog, message):
    with pytest.raises(BpfError, match=re.escape(message)):
        check(prog)
    with pytest.raises(BpfError):
        run(prog, TCP80)


def test_check_accepts_initialised_scratch_and_every_valid_opcode():
    check([stmt(I.BPF_ST, 15), stmt(I.BPF_LD | I.BPF_MEM, 15), stmt(I.BPF_RET | I.BPF_A)])
    for code in I.VALID_CODES:
        k = 1 if code in (I.BPF_ALU | I.BPF_DIV | I.BPF_K, I.BPF_ALU | I.BPF_MOD | I.BPF_K) else 0
        prog = [stmt(I.BPF_ST, 0), Insn(code, 0, 0, k), RET0]
        check(prog)
        assert run(prog, TCP80) == interpret(prog, TCP80)


# --- machine semantics ------------------------------------------------------------------------

def test_out_of_bounds_load_and_division_by_zero_return_zero():
    accept = stmt(I.BPF_RET | I.BPF_K, 99)
    for prog in ([stmt(I.BPF_LD | I.BPF_W | I.BPF_ABS, 57), accept],
                 [stmt(I.BPF_LDX | I.BPF_IMM, 0xFFFFFFF0), stmt(I.BPF_LD | I.BPF_B | I.BPF_IND, 5),
                  accept],
                 [stmt(I.BPF_LDX | I.BPF_B | I.BPF_MSH, 60), accept],
                 [stmt(I.BPF_ALU | I.BPF_DIV | I.BPF_X), accept]):
        assert run(prog, bytes(60)) == interpret(prog, bytes(60)) == 0
    wrap = [stmt(I.BPF_LDX | I.BPF_IMM, 0xFFFFFFFF), stmt(I.BPF_LD | I.BPF_B | I.BPF_IND, 2),
            stmt(I.BPF_RET | I.BPF_A)]                   # X + k wraps to offset 1, as a u32
    assert run(wrap, b"\x00\x07") == interpret(wrap, b"\x00\x07") == 7
    lengths = [stmt(I.BPF_LD | I.BPF_W | I.BPF_LEN), stmt(I.BPF_RET | I.BPF_A)]
    assert run(lengths, bytes(60)) == 60 and run(lengths, bytes(60), wirelen=1514) == 1514
    shift = [stmt(I.BPF_LD | I.BPF_IMM, 1), stmt(I.BPF_LDX | I.BPF_IMM, 33),
             stmt(I.BPF_ALU | I.BPF_LSH | I.BPF_X), stmt(I.BPF_RET | I.BPF_A)]
    assert run(shift, b"") == interpret(shift, b"") == 2   # X's low 5 bits, like x86 Linux


def test_jit_handles_memoryview_and_bytearray():
    f = Filter("udp port 53")
    assert f(memoryview(UDP53)) and f(bytearray(UDP53)) and not f(memoryview(TCP80))


def test_long_filters_use_trampolines_and_deep_code_stays_compilable():
    hosts = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(60)]
    expr = " or ".join(f"host {h}" for h in hosts) + " or port 9"
    prog = compile_filter(expr)
    check(prog)
    assert len(prog) > 300 and any(i.code == I.BPF_JMP | I.BPF_JA for i in prog)
    for h in (hosts[0], hosts[-1], "10.2.0.1"):
        frame = ether(ipv4(h, "10.9.9.9", 17, udp(1, 2)), 0x0800)
        assert matches(expr, frame) == (h != "10.2.0.1")
    n = 3 * MAX_NESTING            # a chain of single-predecessor tests, deeper than we nest
    chain = ([stmt(I.BPF_LD | I.BPF_B | I.BPF_ABS, 0)]
             + [jump(I.BPF_JMP | I.BPF_JGE | I.BPF_K, i, 0, n - i) for i in range(n)]
             + [stmt(I.BPF_RET | I.BPF_K, 1), RET0])
    check(chain)
    assert "pc ==" in source(chain)
    for b in range(256):
        assert jit(chain)(bytes([b])) == interpret(chain, bytes([b])) == (b >= n - 1)
    with pytest.raises(BpfError, match="at most 4096"):
        compile_filter(" or ".join(f"host 10.0.{i // 200}.{i % 200}" for i in range(300)))


def test_filter_object():
    f = Filter("tcp dst port 80")
    assert f(TCP80) and not f(UDP53) and f.run(TCP80) == 262144 and f.run(UDP53) == 0
    assert "ret      #262144" in f.disassemble() and len(f.encode()) == 8 * len(f.program)
    g = Filter.from_program(f.program)
    assert g(TCP80) and repr(g) == f"Filter(<program>, {len(f.program)} instructions)"
    assert repr(f) == f"Filter('tcp dst port 80', {len(f.program)} instructions)"
    for n in range(len(TCP80)):      # truncated: never raises; matches once [x + 16] fits
        assert f(TCP80[:n]) is (n >= 38)


# --- random programs: the JIT against the reference interpreter ------------------------------

_STRAIGHT = sorted(c for c in I.VALID_CODES if I.BPF_CLASS(c) not in (I.BPF_JMP, I.BPF_RET))
_JUMPS = sorted(c for c in I.VALID_CODES if I.BPF_CLASS(c) == I.BPF_JMP)


@st.composite
def programs(draw):
    n = draw(st.integers(1, 40))
    body = [stmt(I.BPF_ST, i) for i in range(16)]
    for pc in range(n):
        left = n - pc                        # instructions after this one, before the final ret
        if draw(st.integers(0, 4)) == 0 and left > 0:
            code = draw(st.sampled_from(_JUMPS))
            k = draw(st.sampled_from([0, 1, 6, 0x800, 0x11, 0xFFFFFFFF]))
            if code == I.BPF_JMP | I.BPF_JA:
                body.append(stmt(code, draw(st.integers(0, left - 1))))
            else:
                body.append(jump(code, k, draw(st.integers(0, left)), draw(st.integers(0, left))))
            continue
        if draw(st.integers(0, 6)) == 0:
            body.append(stmt(draw(st.sampled_from([I.BPF_RET | I.BPF_A, I.BPF_RET | I.BPF_K])),
                             draw(st.integers(0, 70))))
            continue
        code = draw(st.sampled_from(_STRAIGHT))
        if code in (I.BPF_LD | I.BPF_MEM, I.BPF_LDX | I.BPF_MEM, I.BPF_ST, I.BPF_STX):
            k = draw(st.integers(0, 15))
        elif I.BPF_CLASS(code) == I.BPF_ALU and I.BPF_OP(code) in (I.BPF_LSH, I.BPF_RSH):
            k = draw(st.integers(0, 31))
        elif I.BPF_CLASS(code) == I.BPF_ALU and I.BPF_OP(code) in (I.BPF_DIV, I.BPF_MOD):
            k = draw(st.integers(1, 9))
        else:
            k = draw(st.sampled_from([0, 1, 2, 12, 14, 23, 30, 60, 0xFFFFEFFF, 0x7FFFFFFF]))
        body.append(stmt(code, k))
    body.append(stmt(draw(st.sampled_from([I.BPF_RET | I.BPF_A, I.BPF_RET | I.BPF_K])), 1))
    for pc, insn in enumerate(body):        # keep every jump inside the program
        if I.BPF_CLASS(insn.code) == I.BPF_JMP and insn.code != I.BPF_JMP | I.BPF_JA:
            room = len(body) - pc - 2
            body[pc] = insn._replace(jt=min(insn.jt, room), jf=min(insn.jf, room))
    return body


@settings(max_examples=300, deadline=None, derandomize=True)
@given(programs(), st.binary(max_size=70), st.none() | st.integers(0, 2000))
def test_jit_agrees_with_the_reference_interpreter(prog, packet, wirelen):
    check(prog)
    assert jit(prog)(packet, wirelen) == interpret(prog, packet, wirelen)


# --- meaning: what each primitive means, restated over parsed fields --------------------------

IPS = ["10.0.0.1", "10.0.0.2", "192.168.1.7", "224.0.0.251"]
NETS = [("10.0.0.0", 8), ("10.0.0.0", 24), ("192.168.0.0", 16), ("10.0.0.2", 32)]
PORTS = [22, 53, 80, 443]
RANGES = [(20, 80), (50, 60), (400, 500)]
DIRECTIONS = ["", "src", "dst", "src or dst", "src and dst"]
PROTOS = ["ip", "ip6", "arp", "rarp", "tcp", "udp", "sctp", "icmp", "icmp6"]
PROTO_NUM = {"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmp6": 58}


def u(frame: bytes, off: int, n: int) -> int:
    return int.from_bytes(frame[off:off + n], "big")


def either(direction: str, src, dst, test) -> bool:
    return {"": test(src) or test(dst), "src": test(src), "dst": test(dst),
            "src or dst": test(src) or test(dst), "src and dst": test(src) and test(dst)
            }[direction]


def meaning(prim: tuple, f: bytes, L: int) -> bool:   # noqa: N803 - L, the link offset
    """The primitive's meaning with the Ethernet payload at offset ``L`` of frame ``f``."""
    kind = prim[0]
    etype = u(f, L - 2, 2)
    v4, v6 = etype == 0x0800, etype == 0x86DD
    hlen = 4 * (f[L] & 0x0F)
    first = u(f, L + 6, 2) & 0x1FFF == 0

    def v6_has(proto):
        return f[L + 6] == proto or (f[L + 6] == 44 and f[L + 40] == proto)

    if kind in ("host", "net"):
        _, proto, direction, addr, bits = prim
        want, mask = u(ip(addr), 0, 4), (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF

        def is_it(value):
            return value & mask == want
        in_ip = proto in ("", "ip") and v4 and either(direction, u(f, L + 12, 4),
                                                      u(f, L + 16, 4), is_it)
        types = {"": (0x0806, 0x8035), "ip": (), "arp": (0x0806,)}[proto]
        in_arp = etype in types and either(direction, u(f, L + 14, 4), u(f, L + 24, 4), is_it)
        return in_ip or in_arp
    if kind == "port":
        _, proto, direction, lo, hi = prim
        protos = (PROTO_NUM[proto],) if proto else (6, 17, 132)

        def in_range(port):
            return lo <= port <= hi
        if v4 and f[L + 9] in protos and first:
            return either(direction, u(f, L + hlen, 2), u(f, L + hlen + 2, 2), in_range)
        return v6 and f[L + 6] in protos and either(direction, u(f, L + 40, 2),
                                                    u(f, L + 42, 2), in_range)
    if kind == "proto":
        name = prim[1]
        if name in ("ip", "ip6", "arp", "rarp"):
            return etype == {"ip": 0x0800, "ip6": 0x86DD, "arp": 0x0806, "rarp": 0x8035}[name]
        num = PROTO_NUM[name]
        return (name != "icmp6" and v4 and f[L + 9] == num) or (name != "icmp" and v6
                                                                  and v6_has(num))
    if kind == "ether":
        return either(prim[1], f[6:12], f[0:6], lambda mac: mac == prim[2])
    if kind == "ebcast":
        return f[0:6] == BCAST
    if kind == "emcast":
        return bool(f[0] & 1)
    if kind == "ipmcast":
        return v4 and f[L + 16] >= 224
    if kind == "vlan":
        return etype in TPIDS and (prim[1] is None or u(f, L, 2) & 0x0FFF == prim[1])
    if kind == "ipproto":
        return v4 and f[L + 9] == prim[1]
    if kind == "syn":
        return v4 and f[L + 9] == 6 and first and bool(f[L + hlen + 13] & 0x02)
    if kind == "ttl":
        return v4 and f[L + 8] > prim[1]
    assert kind in ("greater", "less")
    return len(f) >= prim[1] if kind == "greater" else len(f) <= prim[1]


def render_prim(prim: tuple) -> str:
    kind = prim[0]
    if kind in ("host", "net"):
        _, proto, direction, addr, bits = prim
        mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
        dotted = ".".join(str(mask >> shift & 255) for shift in (24, 16, 8, 0))
        what = f"host {addr}" if kind == "host" else (
            f"net {addr}/{bits}" if bits % 8 or bits == 32 else f"net {addr} mask {dotted}")
        return " ".join(w for w in (proto, direction, what) if w)
    if kind == "port":
        _, proto, direction, lo, hi = prim
        what = f"port {lo}" if lo == hi else f"portrange {lo}-{hi}"
        return " ".join(w for w in (proto, direction, what) if w)
    if kind == "ether":
        return f"ether {prim[1] or 'host'} {mac_text(prim[2])}"
    return {"proto": lambda: prim[1], "ebcast": lambda: "ether broadcast",
            "emcast": lambda: "ether multicast", "ipmcast": lambda: "ip multicast",
            "vlan": lambda: "vlan" if prim[1] is None else f"vlan {prim[1]}",
            "ipproto": lambda: f"ip proto {prim[1]}",
            "syn": lambda: "tcp[tcpflags] & tcp-syn != 0",
            "ttl": lambda: f"ip[8] > {prim[1]}",
            "greater": lambda: f"greater {prim[1]}", "less": lambda: f"less {prim[1]}"}[kind]()


class Picker:
    """One generator for hypothesis (``draw``) and for a seeded ``random.Random``."""

    def __init__(self, draw=None, rng: random.Random | None = None) -> None:
        self.draw, self.rng, self.vlans = draw, rng, 0

    def pick(self, seq):
        seq = list(seq)
        return self.rng.choice(seq) if self.rng else self.draw(st.sampled_from(seq))

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi) if self.rng else self.draw(st.integers(lo, hi))


def gen_prim(pk: Picker) -> tuple:
    kind = pk.pick(["host", "net", "port", "portrange", "proto", "proto", "ether", "ebcast",
                    "emcast", "ipmcast", "vlan", "ipproto", "syn", "ttl", "greater", "less"])
    if kind == "vlan" and pk.vlans >= 2:
        kind = "proto"
    if kind == "host":
        return ("host", pk.pick(["", "", "ip", "arp"]), pk.pick(DIRECTIONS), pk.pick(IPS), 32)
    if kind == "net":
        return ("net", pk.pick(["", "ip"]), pk.pick(DIRECTIONS), *pk.pick(NETS))
    if kind in ("port", "portrange"):
        lo, hi = (pk.pick(PORTS),) * 2 if kind == "port" else pk.pick(RANGES)
        return ("port", pk.pick(["", "", "tcp", "udp"]), pk.pick(DIRECTIONS), lo, hi)
    if kind == "proto":
        return ("proto", pk.pick(PROTOS))
    if kind == "ether":
        return ("ether", pk.pick(["", "src", "dst"]), pk.pick([MAC_A, MAC_B, BCAST]))
    if kind == "vlan":
        pk.vlans += 1
        return ("vlan", pk.pick([None, 5, 7]))
    if kind in ("ipproto", "ttl", "greater", "less"):
        return (kind, pk.pick({"ipproto": [6, 17, 47], "ttl": [1, 63, 64],
                               "greater": [100, 130, 150], "less": [100, 130, 150]}[kind]))
    return (kind,)


def gen_expr(pk: Picker, depth: int = 3) -> tuple:
    choice = pk.int(0, 5) if depth else 0
    if choice <= 2:
        return ("prim", gen_prim(pk))
    if choice == 3:
        return ("not", pk.pick(["not", "!"]), gen_expr(pk, depth - 1))
    op = pk.pick(["and", "&&"] if choice == 4 else ["or", "||"])
    return ("and" if choice == 4 else "or", op, gen_expr(pk, depth - 1), gen_expr(pk, depth - 1))


def render(expr: tuple, minimal: bool = False) -> str:
    """Fully parenthesised, or with only the parentheses tcpdump's grammar needs."""
    if expr[0] == "prim":
        return render_prim(expr[1])
    if expr[0] == "not":
        inner = render(expr[2], minimal)
        return f"{expr[1]} {inner if minimal and expr[2][0] in ('prim', 'not') else f'({inner})'}"
    left, right = render(expr[2], minimal), render(expr[3], minimal)
    if not minimal:
        return f"({left} {expr[1]} {right})"
    if expr[3][0] in ("and", "or"):
        right = f"({right})"         # equal precedence, left-associative: only the right side
    return f"{left} {expr[1]} {right}"


def evaluate(expr: tuple, frame: bytes) -> bool:
    links: list[int] = []

    def assign(e):                   # link offset of every primitive, vlans counted in text order
        if e[0] == "prim":
            links.append(14 + 4 * sum(1 for _ in vlans_before))
            if e[1][0] == "vlan":
                vlans_before.append(1)
        else:
            for child in e[2:]:
                assign(child)
    vlans_before: list[int] = []
    assign(expr)
    it = iter(links)

    def walk(e):                     # every primitive evaluated (no short cut) to keep order
        if e[0] == "prim":
            return meaning(e[1], frame, next(it))
        values = [walk(child) for child in e[2:]]
        if e[0] == "not":
            return not values[0]
        return all(values) if e[0] == "and" else any(values)
    return walk(expr)


def gen_frame(pk: Picker) -> bytes:
    kind = pk.pick(["tcp", "tcp", "udp", "udp", "icmp", "sctp", "gre", "tcp6", "udp6",
                    "sctp6", "icmp6", "frag6", "arp", "rarp", "lldp"])
    sport, dport = pk.pick(PORTS + [1234, 5353]), pk.pick(PORTS + [1234, 5353])
    if kind in ("tcp", "udp", "icmp", "sctp", "gre"):
        transport = {"tcp": lambda: tcp(sport, dport, pk.pick([0x02, 0x10, 0x12, 0x18])),
                     "udp": lambda: udp(sport, dport), "sctp": lambda: sctp(sport, dport),
                     "icmp": lambda: icmp(pk.pick([0, 8])), "gre": lambda: bytes(8)}[kind]()
        proto = {"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132, "gre": 47}[kind]
        payload = ipv4(pk.pick(IPS[:3]), pk.pick(IPS), proto, transport,
                       frag=pk.pick([0, 0, 0, 1, 185]), mf=pk.pick([False, True]),
                       ihl=pk.pick([5, 5, 6, 8]), ttl=pk.pick([1, 64, 200]))
        ethertype = 0x0800
    elif kind in ("tcp6", "udp6", "sctp6", "icmp6", "frag6"):
        inner = pk.pick([6, 17]) if kind == "frag6" else {"tcp6": 6, "udp6": 17, "sctp6": 132,
                                                           "icmp6": 58}[kind]
        transport = tcp(sport, dport) if inner == 6 else udp(sport, dport)
        payload = ipv6(inner, transport, frag_nh=inner if kind == "frag6" else None)
        ethertype = 0x86DD
    elif kind in ("arp", "rarp"):
        payload = arp(pk.pick([1, 2]), pk.pick(IPS[:3]), pk.pick(IPS[:3]))
        ethertype = 0x0806 if kind == "arp" else 0x8035
    else:
        payload, ethertype = b"\x02\x07\x04" + bytes(30), 0x88CC
    vlans = [(pk.pick(TPIDS), pk.pick([5, 7, 0x2005])) for _ in range(pk.pick([0, 0, 1, 2]))]
    frame = ether(payload, ethertype, dst=pk.pick([MAC_A, MAC_B, BCAST, MCAST]),
                  src=pk.pick([MAC_A, MAC_B]), vlans=vlans)
    # pad so that every load any generated filter makes is inside the frame
    return frame + bytes(max(0, pk.int(120, 170) - len(frame)))


@st.composite
def expressions(draw):
    return gen_expr(Picker(draw))


@st.composite
def frames(draw):
    return gen_frame(Picker(draw))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(expressions(), st.lists(frames(), min_size=1, max_size=12))
def test_compiled_filters_mean_what_the_expression_says(expr, packets):
    full, minimal = render(expr), render(expr, minimal=True)
    prog, prog_min = compile_filter(full), compile_filter(minimal)
    plain = compile_filter(full, optimize=False)
    check(prog)
    check(plain)
    fast = Filter.from_program(prog)
    for frame in packets:
        want = evaluate(expr, frame)
        assert fast(frame) == want, (full, frame.hex())
        assert (run(prog_min, frame) != 0) == want, (minimal, frame.hex())
        assert (interpret(prog, frame) != 0) == want
        assert (run(plain, frame) != 0) == want
        for cut in (13, 20, 34, 45, 60):   # truncated: no exception; the optimizer keeps the
            short = frame[:cut]            # verdict even where a load falls off the end
            assert fast.run(short) == interpret(prog, short) == run(plain, short), (full, cut)


# --- oracles: tcpdump's programs and the Linux kernel -------------------------------------------

TCPDUMP = shutil.which("tcpdump")


@functools.cache
def tcpdump_program(expr: str) -> list[Insn]:
    out = subprocess.run([TCPDUMP, "-ddd", expr], capture_output=True, text=True)
    if "expression rejects all packets" in out.stderr:     # its optimizer proved it
        return [stmt(I.BPF_RET | I.BPF_K, 0)]
    assert out.returncode == 0, (expr, out.stderr)
    return parse_ddd(out.stdout)


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed (apt-get install tcpdump)")
def test_tcpdump_compiled_programs_give_our_verdicts():
    rng = random.Random(20240607)
    exprs = [render(gen_expr(Picker(rng=rng)), minimal=bool(i % 2)) for i in range(60)]
    exprs += ["tcp port 80 or 443", "src port 53 or dst 10.0.0.1", "ip[2:2] - len = 0",
              "tcp[tcp[12] >> 4] = 2", "ip[2] ^ 1 & 3 = 1", "vlan 5 or ip", "net 10",
              "ip[2] % 3 + 1 = 1", "udp[8:2] * 2 / 3 >> 1 > ether[0] - 7"]
    # whole frames only: on a truncated one the verdict depends on which load comes first,
    # and tcpdump's optimizer orders loads differently (e.g. 'tcp or ip' needs no [23])
    packets = [gen_frame(Picker(rng=rng)) for _ in range(250)]
    for expr in exprs:
        ours, theirs = Filter(expr), Filter.from_program(tcpdump_program(expr))
        for frame in packets:
            assert ours(frame) == theirs(frame), (expr, frame.hex())


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed (apt-get install tcpdump)")
@pytest.mark.parametrize("expr", ["tcp port 80", "vlan 5 and udp", "ip[2:2] - len = 0",
                                  "icmp or arp", "not tcp[13] & 2 != 0"])
def test_disassembly_matches_tcpdump_d(expr):
    out = subprocess.run([TCPDUMP, "-d", expr], capture_output=True, text=True, check=True)
    want = "\n".join(line.rstrip() for line in out.stdout.strip().splitlines())
    assert disassemble(tcpdump_program(expr)) == want


def attach(prog) -> int:
    """SO_ATTACH_FILTER on a UDP socket: 0, or the errno Linux refused with."""
    so_attach_filter = getattr(socket, "SO_ATTACH_FILTER", 26)
    blob = ctypes.create_string_buffer(encode(prog) or b"\0")
    fprog = struct.pack("HL", len(prog), ctypes.addressof(blob))   # struct sock_fprog
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.setsockopt(socket.SOL_SOCKET, so_attach_filter, fprog)
        except OSError as exc:
            return exc.errno
    return 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_ATTACH_FILTER is Linux's")
def test_linux_loads_what_we_compile_and_refuses_what_check_refuses():
    rng = random.Random(7)
    for expr in [render(gen_expr(Picker(rng=rng))) for _ in range(40)] + list(GOLDEN):
        assert attach(compile_filter(expr)) == 0, expr
    for prog, _ in MALFORMED:
        if all(0 <= i.k <= 0xFFFFFFFF for i in prog):
            assert attach(prog) == errno.EINVAL, disassemble(prog)
    # the one deliberate difference: Linux knows SKF_AD_PROTOCOL, check() refuses it
    protocol = [stmt(I.BPF_LD | I.BPF_H | I.BPF_ABS, 0xFFFFF000), stmt(I.BPF_RET | I.BPF_A)]
    assert attach(protocol) == 0
    with pytest.raises(BpfError, match="ancillary"):
        check(protocol)


# -- IPv6 addresses (issue 15 item 5) ---------------------------------------------------------
V6_ADDRS = ["fd00::1", "fd00::2", "fd00:0:0:1::5", "fe80::1", "2001:db8::7", "::1",
            "ff02::1:ff00:2", "::ffff:10.0.0.1"]
V6_EXPRS = ["ip6 host fd00::1", "host fd00::2", "src host fd00::1", "dst host fe80::1",
            "ip6 src or dst host 2001:db8::7", "src and dst net fd00::/64", "net fd00::/16",
            "ip6 net fd00:0:0:1::/64", "net fe80::/10 and icmp6", "host ::ffff:10.0.0.1",
            "ip6 dst net ff02::/16", "net ::/0", "not host fd00::1 and tcp port 80",
            "src net 2001:db8::/33 or dst host ::1", "ip6 proto 17 and net fd00::/8",
            "tcp port 80 and host fd00::2"]


def v6_frame(rng: random.Random) -> bytes:
    src, dst = rng.choice(V6_ADDRS), rng.choice(V6_ADDRS)
    nh = rng.choice([6, 17, 58])
    payload = {6: tcp(rng.choice([80, 1000]), rng.choice([80, 22])),
               17: udp(53, rng.choice([53, 80])), 58: bytes([128, 0, 0, 0, 0, 1, 0, 1])}[nh]
    hdr = struct.pack("!IHBB", 0x60000000, len(payload), nh, 64)
    return ether(hdr + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed
                 + payload, 0x86DD)


def test_ipv6_host_and_net_primitives():
    f1 = ether(struct.pack("!IHBB", 0x60000000, 20, 6, 64)
               + ipaddress.IPv6Address("fd00::1").packed
               + ipaddress.IPv6Address("fe80::9").packed + tcp(1000, 80), 0x86DD)
    assert matches("ip6 host fd00::1", f1) and matches("src host fd00::1", f1)
    assert not matches("dst host fd00::1", f1) and matches("dst net fe80::/10", f1)
    assert matches("src net fd00::/8 and tcp dst port 80", f1)
    assert not matches("host fd00::1", TCP80)  # IPv4 frames never match an IPv6 address
    for bad, message in (("ip host fd00::1", "'ip' modifier applied to ip6"),
                         ("host fd00::/64", "Mask syntax for networks only"),
                         ("net fd00::1/64", "non-network bits set"),
                         ("net fd00::/129", "mask length must be <= 128")):
        with pytest.raises(BpfError, match=message):
            Filter(bad)


@pytest.mark.skipif(TCPDUMP is None, reason="tcpdump is not installed (apt-get install tcpdump)")
def test_ipv6_filters_give_tcpdumps_verdicts():
    rng = random.Random(15)
    packets = [v6_frame(rng) for _ in range(300)] + [TCP80, UDP53, ARP, TCP6]
    for expr in V6_EXPRS:
        ours, theirs = Filter(expr), Filter.from_program(tcpdump_program(expr))
        verdicts = [ours(frame) for frame in packets]
        assert verdicts == [theirs(frame) for frame in packets], expr
        assert any(verdicts) or expr.startswith("not"), expr
