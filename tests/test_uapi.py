"""stack.uapi holds Linux's ABI numbers once, and they are the stdlib's where it has them."""

from __future__ import annotations

import ast
import dataclasses
import select
import socket
import sys
from pathlib import Path

import pytest

from stack import uapi
from stack.tcp.info import TCP_INFO_LAYOUT, TCP_INFO_LEN, TcpInfo

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(sys.platform != "linux", reason="Linux's numbers")
def test_every_number_equals_the_stdlibs_where_it_has_one():
    checked = []
    for name in uapi.__all__:
        for module in (socket, select):
            if hasattr(module, name):
                assert getattr(uapi, name) == getattr(module, name), (module.__name__, name)
                checked.append(name)
    for name in ("AF_INET", "AF_PACKET", "SOCK_STREAM", "SOL_SOCKET", "SO_SNDBUF",
                 "SO_RCVBUF", "TCP_NODELAY", "TCP_INFO", "IP_TTL", "MSG_PEEK", "IPPROTO_TCP",
                 "EPOLLIN", "EPOLLET", "SHUT_WR", "INADDR_LOOPBACK"):
        assert name in checked, name
    assert len(checked) > 90


def test_names_without_a_stdlib_twin_are_linuxs():
    # uapi/linux/eventpoll.h, if_ether.h, if_arp.h, asm-generic/socket.h
    assert (uapi.EPOLL_CTL_ADD, uapi.EPOLL_CTL_DEL, uapi.EPOLL_CTL_MOD) == (1, 2, 3)
    assert (uapi.ETH_P_IP, uapi.ETH_P_ARP, uapi.ETH_P_IPV6, uapi.ETH_P_ALL) == (
        0x0800, 0x0806, 0x86DD, 3)
    assert (uapi.ARPHRD_ETHER, uapi.ARPHRD_LOOPBACK) == (1, 772)
    assert uapi.SO_NO_CHECK == 11


def test_all_lists_every_number_and_nothing_else():
    # "@py_builtins"/"@pytest_ar": pytest's assertion rewriting, which the installed pytest11
    # entry point extends to every module of the ixsim distribution; never a name of ours.
    public = {n for n in vars(uapi) if not n.startswith(("_", "@"))}
    assert set(uapi.__all__) == public
    assert all(type(getattr(uapi, n)) is int for n in uapi.__all__)  # plain ints: hot paths


def test_no_other_stack_module_spells_a_number_out():
    """A module-level ``NAME = <int literal>`` for a uapi name anywhere else is a copy."""
    names = set(uapi.__all__)
    copies = []
    for path in sorted((ROOT / "stack").rglob("*.py")):
        if path.name == "uapi.py" and path.parent.name == "stack":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                copies += [f"{path.relative_to(ROOT)}:{node.lineno}: {t.id}"
                           for t in node.targets if isinstance(t, ast.Name) and t.id in names]
    assert not copies, "\n".join(copies)


def test_struct_tcp_info_has_linuxs_layout_and_every_field():
    assert TCP_INFO_LEN == 248  # Linux 6.7
    names = [name for name, _ in TCP_INFO_LAYOUT]
    fields = [f.name for f in dataclasses.fields(TcpInfo)]
    packed = ("snd_wscale", "rcv_wscale", "fastopen_client_fail",  # bit fields: *wscale, *app
              "delivery_rate_app_limited")
    assert [n for n in fields if n not in packed] == [
        n for n in names if not n.startswith("*")][: len(fields) - len(packed)]
    info = TcpInfo(**dict.fromkeys(fields, 0) | {"state": 1, "snd_wscale": 7, "rcv_wscale": 9,
                                                  "rto": 200_000, "total_rto": 3})
    raw = bytes(info)
    assert len(raw) == 248 and raw[0] == 1 and raw[6] == 7 | 9 << 4
    info.fastopen_client_fail = 2  # TFO_DATA_NOT_ACKED, after delivery_rate_app_limited's bit
    assert bytes(info)[7] == 2 << 1
    info.delivery_rate_app_limited = 1  # the low bit of the same byte
    assert bytes(info)[7] == 2 << 1 | 1
    assert int.from_bytes(raw[8:12], "little") == 200_000
    assert int.from_bytes(raw[240:242], "little") == 3
