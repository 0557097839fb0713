"""Small building blocks the scenarios share (written against the neutral ``Net`` only)."""

from __future__ import annotations

import socket as S
import struct
from typing import Any

from tests.sockdiff.api import Net

TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING"}
TCP_INFO_LEN = 104
# linux/in.h numbers CPython's socket module does not export
IP_PKTINFO = 8
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_RECVTTL = 12
IP_MTU = 14
NOWHERE = "10.0.0.3"  # on the link, answered by nobody: a connect there stays in SYN_SENT


def listener(net: Net, side: str = "b", i: int = 0, backlog: int = 8, before=None) -> Any:
    srv = net.socket(side, S.AF_INET, S.SOCK_STREAM)
    if before is not None:
        before(srv)
    srv.bind((net.addr(side), net.port(i)))
    srv.listen(backlog)
    return srv


def tcp_pair(net: Net, i: int = 0, before_listen=None, before_connect=None
             ) -> tuple[Any, Any, Any]:
    """(listener on b, client on a, accepted socket on b), connected and settled."""
    srv = listener(net, "b", i, before=before_listen)
    cli = net.socket("a", S.AF_INET, S.SOCK_STREAM)
    if before_connect is not None:
        before_connect(cli)
    cli.connect((net.addr("b"), net.port(i)))
    conn, _ = srv.accept()
    net.settle(2)
    return srv, cli, conn


def udp_pair(net: Net, i: int = 0) -> tuple[Any, Any]:
    """(receiver bound on b, sender bound on a), not connected."""
    rx = net.socket("b", S.AF_INET, S.SOCK_DGRAM)
    rx.bind((net.addr("b"), net.port(i)))
    tx = net.socket("a", S.AF_INET, S.SOCK_DGRAM)
    tx.bind((net.addr("a"), net.port(i + 1)))
    return rx, tx


def tcp_state(sock: Any) -> str:
    info = sock.getsockopt(S.IPPROTO_TCP, S.TCP_INFO, TCP_INFO_LEN)
    return TCP_STATES.get(info[0], str(info[0]))


def note_state(net: Net, label: str, sock: Any) -> None:
    net.try_(label, tcp_state, sock)


def int_opt(sock: Any, level: int, opt: int) -> int:
    return sock.getsockopt(level, opt)


def roundtrip(net: Net, sock: Any, level: int, opt: int, values: list[Any], label: str) -> None:
    """Note the default, then for each value the setsockopt result and what reads back."""
    net.try_(f"{label} default", sock.getsockopt, level, opt)
    for v in values:
        net.try_(f"{label} set {v!r}", sock.setsockopt, level, opt, v)
        net.try_(f"{label} get after {v!r}", sock.getsockopt, level, opt)


def linger(onoff: int, seconds: int) -> bytes:
    return struct.pack("ii", onoff, seconds)


def icmp_echo(ident: int, seq: int, payload: bytes) -> bytes:
    """An ICMP echo request with its checksum (RFC 792)."""
    head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    data = head + payload
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return struct.pack("!BBHHH", 8, 0, ~total & 0xFFFF, ident, seq) + payload
