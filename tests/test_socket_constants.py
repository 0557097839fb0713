"""stack.socket's numbers (stack.uapi's, i.e. the stdlib's), errors, addresses, fds."""

from __future__ import annotations

import errno
import socket
import struct
import sys

import pytest

import stack.socket as ours
from ixsim.sched import Scheduler
from stack.core import Kernel
from stack.net import Net
from stack.sock import SOCK_RCVBUF_LOCK, SOCK_SNDBUF_LOCK
from stack.socket.addr import inet_aton, inet_ntoa, sockaddr_in, to_user
from stack.socket.fdtable import FdTable

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux's numbers")


def test_the_api_exports_uapis_numbers():
    # their values against the stdlib's: tests/test_uapi.py
    from stack import uapi

    assert set(uapi.__all__) <= set(ours.__all__)
    assert all(getattr(ours, name) == getattr(uapi, name) for name in uapi.__all__)


def test_errors_map_to_the_stdlib_subclasses():
    from stack.sock import oserror

    assert type(oserror(errno.ECONNREFUSED)) is ConnectionRefusedError
    assert type(oserror(errno.ECONNRESET)) is ConnectionResetError
    assert type(oserror(errno.EPIPE)) is BrokenPipeError
    assert type(oserror(errno.EAGAIN)) is BlockingIOError


def test_address_conversions():
    assert inet_aton("10.0.0.1") == b"\n\0\0\x01" == socket.inet_aton("10.0.0.1")
    assert inet_ntoa(b"\n\0\0\x01") == "10.0.0.1"
    assert inet_aton("") == b"\0\0\0\0" and inet_aton("<broadcast>") == b"\xff" * 4
    assert sockaddr_in(("10.0.0.2", 7)) == (b"\n\0\0\x02", 7)
    assert to_user((b"\n\0\0\x02", 7)) == ("10.0.0.2", 7)
    for bad in ("10.0.0", "10.0.0.256", "a.b.c.d", "example.com", "1.2.3.4.5"):
        with pytest.raises(OSError) as info:
            inet_aton(bad)
        assert info.value.errno == errno.EINVAL
    with pytest.raises(OverflowError):
        sockaddr_in(("10.0.0.1", 70000))
    with pytest.raises(TypeError):
        sockaddr_in("10.0.0.1:7")
    with pytest.raises(TypeError):
        sockaddr_in(("10.0.0.1", "7"))


def test_fd_table_hands_out_the_lowest_free_number():
    table = FdTable()
    a, b, c = object(), object(), object()
    assert [table.install(x) for x in (a, b, c)] == [3, 4, 5]
    table.release(4)
    assert table.install(object()) == 4
    assert table.install(object()) == 6
    assert table.get(3) is a
    with pytest.raises(OSError) as info:
        table.get(99)
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError):
        table.release(99)


def test_linger_struct_is_the_native_pair_of_ints():
    # what users pass for SO_LINGER: struct.pack("ii", onoff, seconds)
    from stack.socket.sockopt import user_bytes, user_value

    raw = struct.pack("ii", 1, 5)
    assert user_value(ours.SOL_SOCKET, ours.SO_LINGER, raw) == (1, 5)
    assert user_bytes(ours.SOL_SOCKET, ours.SO_LINGER, (1, 5), 8) == raw
    assert user_value(ours.IPPROTO_TCP, ours.TCP_CONGESTION, b"reno\0\0") == "reno"
    assert user_value(ours.SOL_SOCKET, ours.SO_REUSEADDR, struct.pack("i", 1)) == 1
    assert user_value(ours.SOL_SOCKET, ours.SO_REUSEADDR, True) == 1


@pytest.mark.parametrize("family,type_", [(ours.AF_INET, ours.SOCK_STREAM),
                                          (ours.AF_INET, ours.SOCK_DGRAM),
                                          (ours.AF_PACKET, ours.SOCK_RAW)])
def test_buffer_sizes_are_set_by_one_handler_for_every_protocol(family, type_):
    # sock_setsockopt: min(val, *mem_max) doubled, at least SOCK_MIN_*; the size is then locked
    net = Net(Kernel(Scheduler(seed=1), "a"))
    s = ours.socket_create(net, family, type_)
    wmem_max, rmem_max = net.sysctl.wmem_max, net.sysctl.rmem_max
    # a negative size is a u32 to Linux, so it gets the maximum
    for value, sndbuf, rcvbuf in ((1, 4608, 2304), (5000, 10000, 10000),
                                  (-1, 2 * wmem_max, 2 * rmem_max),
                                  (10 << 20, 2 * wmem_max, 2 * rmem_max)):
        s.setsockopt(ours.SOL_SOCKET, ours.SO_SNDBUF, value)
        s.setsockopt(ours.SOL_SOCKET, ours.SO_RCVBUF, value)
        assert s.getsockopt(ours.SOL_SOCKET, ours.SO_SNDBUF) == sndbuf == s.sk.sk_sndbuf
        assert s.getsockopt(ours.SOL_SOCKET, ours.SO_RCVBUF) == rcvbuf == s.sk.sk_rcvbuf
    assert s.sk.userlocks & (SOCK_SNDBUF_LOCK | SOCK_RCVBUF_LOCK) == 3
    s.close()
