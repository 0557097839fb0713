"""recvmsg/sendmsg ancillary data and the UDP error queue, against this machine's Linux.

Each shape (payload, cmsg bytes, msg_flags, address) is taken from the real kernel through
Python's ``socket`` on 127.0.0.1 and compared with ixsim's over its own loopback; the rest
(TTL exceeded and fragmentation needed through a router, TCP's empty error queue, EPOLLERR)
asserts Linux's values directly.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time

import pytest
from helpers.stack import routed, two_hosts

from stack.socket import (
    EPOLLERR,
    MSG_CMSG_CLOEXEC,
    MSG_CTRUNC,
    MSG_DONTWAIT,
    MSG_ERRQUEUE,
    MSG_TRUNC,
    SO_EE_ORIGIN_ICMP,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_IP,
    SOL_SOCKET,
    epoll_create,
)
from stack.socket.cmsg import CMSG_LEN, CMSG_SPACE, put_cmsgs
from stack.uapi import (
    IP_MTU_DISCOVER,
    IP_PKTINFO,
    IP_PMTUDISC_DO,
    IP_RECVERR,
    IP_RECVTOS,
    IP_RECVTTL,
    IP_TOS,
    IP_TTL,
)

EE = struct.Struct("=IBBBBII")  # struct sock_extended_err
US = 1_000


def _closed_port() -> int:
    """A UDP port nobody listens on, on this machine's 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _linux_settle(sock: socket.socket) -> None:
    """The real loopback delivers the ICMP error through its softirq: wait until the socket
    reports it (POLLERR), up to 2 s, however loaded the machine is."""
    poller = select.poll()
    poller.register(sock, select.POLLERR)
    deadline = time.monotonic() + 2
    while not poller.poll(10) and time.monotonic() < deadline:
        pass


def _host():
    sched, a, _b = two_hosts()
    return sched, a


# -- framing --------------------------------------------------------------------------------
def test_cmsg_len_and_space_are_cpythons():
    for n in range(0, 70):
        assert CMSG_LEN(n) == socket.CMSG_LEN(n)
        assert CMSG_SPACE(n) == socket.CMSG_SPACE(n)
    for fn in (CMSG_LEN, CMSG_SPACE):
        with pytest.raises(OverflowError):
            fn(-1)


def test_put_cmsg_truncates_as_linux():
    cmsgs = [(0, 8, bytes(12)), (0, 2, b"@\0\0\0"), (0, 1, b"\0")]
    assert put_cmsgs(cmsgs, 1024) == (cmsgs, 0)
    assert put_cmsgs(cmsgs, 0) == ([], MSG_CTRUNC)
    assert put_cmsgs(cmsgs, 16) == ([(0, 8, b"")], MSG_CTRUNC)
    assert put_cmsgs(cmsgs, 20) == ([(0, 8, bytes(4))], MSG_CTRUNC)
    assert put_cmsgs(cmsgs, 32) == ([(0, 8, bytes(12))], MSG_CTRUNC)
    assert put_cmsgs(cmsgs, 56) == (cmsgs[:2], MSG_CTRUNC)
    assert put_cmsgs(cmsgs, 73) == (cmsgs, 0)  # the last one needs CMSG_LEN(1), not SPACE


# -- IP_PKTINFO / IP_RECVTTL / IP_RECVTOS, differential on 127.0.0.1 -----------------------
def _recv_shapes(make, send, ancbufsizes):
    """[(data, ancdata, msg_flags, address host)] for each ancbufsize."""
    rx = make(SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    for opt in (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS):
        rx.setsockopt(SOL_IP, opt, 1)
    tx = make(SOCK_DGRAM)
    out = []
    for size in ancbufsizes:
        send(tx, b"data", rx.getsockname())
        data, anc, flags, addr = rx.recvmsg(100, size)
        out.append((data, anc, flags, addr[0]))
    rx.close()
    tx.close()
    return out


def test_recv_ancillary_data_is_linuxs():
    sizes = (1024, 0, 16, 20, 32, 56, 72)

    def linux(kind):
        return socket.socket(socket.AF_INET, kind)

    expected = _recv_shapes(linux, lambda s, d, a: s.sendto(d, a), sizes)
    sched, host = _host()
    got = _recv_shapes(lambda kind: host.socket(socket.AF_INET, kind),
                       lambda s, d, a: s.sendto(d, a), sizes)
    assert got == expected
    pktinfo = got[0][1][0]
    assert pktinfo[:2] == (SOL_IP, IP_PKTINFO)
    ifindex, spec_dst, addr = struct.unpack("=i4s4s", pktinfo[2])
    assert ifindex == host.net.lo.ifindex == 1
    assert spec_dst == addr == socket.inet_aton("127.0.0.1")


def test_recvttl_follows_the_received_header():
    sched, a, b = two_hosts()
    rx = b.socket(socket.AF_INET, SOCK_DGRAM)
    rx.bind(("10.0.0.2", 5000))
    rx.setsockopt(SOL_IP, IP_RECVTTL, 1)
    rx.setsockopt(SOL_IP, IP_RECVTOS, 1)
    assert rx.getsockopt(SOL_IP, IP_RECVTTL) == 1 and rx.getsockopt(SOL_IP, IP_PKTINFO) == 0
    tx = a.socket(socket.AF_INET, SOCK_DGRAM)
    tx.setsockopt(SOL_IP, IP_TTL, 7)
    tx.setsockopt(SOL_IP, IP_TOS, 0x10)
    tx.sendto(b"x", ("10.0.0.2", 5000))
    data, anc, flags, addr = rx.recvmsg(10, 256)
    assert (data, flags, addr[0]) == (b"x", 0, "10.0.0.1")
    assert anc == [(SOL_IP, IP_TTL, struct.pack("=i", 7)), (SOL_IP, IP_TOS, b"\x10")]
    # the per-datagram IP_TTL / IP_TOS cmsgs of sendmsg override the socket's
    tx.sendmsg([b"y"], [(SOL_IP, IP_TTL, struct.pack("=i", 3)), (SOL_IP, IP_TOS, b"\x08")],
               0, ("10.0.0.2", 5000))
    assert rx.recvmsg(10, 256)[1] == [(SOL_IP, IP_TTL, struct.pack("=i", 3)),
                                      (SOL_IP, IP_TOS, b"\x08")]
    rx.setsockopt(SOL_IP, IP_RECVTTL, 0)
    tx.sendto(b"z", ("10.0.0.2", 5000))
    assert rx.recvmsg(10, 256)[1] == [(SOL_IP, IP_TOS, b"\x10")]


def test_recvmsg_trunc_and_into():
    sched, a, b = two_hosts()
    rx = b.socket(socket.AF_INET, SOCK_DGRAM)
    rx.bind(("10.0.0.2", 5000))
    tx = a.socket(socket.AF_INET, SOCK_DGRAM)
    tx.sendmsg([b"hello ", memoryview(b"world")], [], 0, ("10.0.0.2", 5000))
    assert rx.recvmsg(5) == (b"hello", [], MSG_TRUNC, ("10.0.0.1", tx.getsockname()[1]))
    tx.sendto(b"0123456789", ("10.0.0.2", 5000))
    one, two = bytearray(4), bytearray(4)
    nbytes, anc, flags, addr = rx.recvmsg_into([one, two])
    assert (nbytes, anc, flags) == (8, [], MSG_TRUNC)
    assert (one, two) == (bytearray(b"0123"), bytearray(b"4567"))
    with pytest.raises(ValueError, match="negative buffer size in recvmsg"):
        rx.recvmsg(-1)
    with pytest.raises(ValueError, match="invalid ancillary data buffer length"):
        rx.recvmsg(10, -1)
    with pytest.raises(TypeError):
        rx.recvmsg_into([b"read-only"])


def test_sendmsg_pktinfo_picks_the_source_as_linux():
    def run(make):
        rx = make(SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        tx = make(SOCK_DGRAM)
        spec = struct.pack("=i4s4s", 0, socket.inet_aton("127.0.0.5"), bytes(4))
        tx.sendmsg([b"x"], [(SOL_IP, IP_PKTINFO, spec)], 0, rx.getsockname())
        data, _anc, _flags, addr = rx.recvmsg(10)
        errors = []
        for anc in ([(SOL_IP, IP_PKTINFO, b"short")],
                    [(SOL_IP, IP_PKTINFO, struct.pack("=i4s4s", 99, bytes(4), bytes(4)))],
                    [(SOL_SOCKET, 99, b"x")], [(SOL_IP, 99, b"x")]):
            try:
                tx.sendmsg([b"x"], anc, 0, rx.getsockname())
                errors.append(0)
            except OSError as exc:
                errors.append(exc.errno)
        assert tx.sendmsg([b"x"], [(99, 99, b"ignored")], 0, rx.getsockname()) == 1
        rx.close()
        tx.close()
        return data, addr[0], errors

    expected = run(lambda kind: socket.socket(socket.AF_INET, kind))
    assert expected == (b"x", "127.0.0.5", [errno.EINVAL, errno.ENODEV, errno.EINVAL,
                                             errno.EINVAL])
    sched, host = _host()
    assert run(lambda kind: host.socket(socket.AF_INET, kind)) == expected


def test_sendmsg_pktinfo_ifindex_chooses_the_device():
    sched, a, b = two_hosts()
    rx = b.socket(socket.AF_INET, SOCK_DGRAM)
    rx.bind(("0.0.0.0", 5000))
    tx = a.socket(socket.AF_INET, SOCK_DGRAM)
    ifindex = a.dev.ifindex
    pkt = struct.pack("=i4s4s", ifindex, bytes(4), bytes(4))
    tx.sendmsg([b"hi"], [(SOL_IP, IP_PKTINFO, pkt)], 0, ("10.0.0.2", 5000))
    assert rx.recvfrom(10) == (b"hi", ("10.0.0.1", tx.getsockname()[1]))


# -- the error queue ---------------------------------------------------------------------------
def _errqueue_script(make, settle, port):
    s = make(SOCK_DGRAM)
    s.setsockopt(SOL_IP, IP_RECVERR, 1)
    s.connect(("127.0.0.1", port))
    s.send(b"hello")
    settle(s)
    first = s.recvmsg(100, 1024, MSG_ERRQUEUE)
    try:
        s.recvmsg(100, 1024, MSG_ERRQUEUE)
        empty = 0
    except OSError as exc:
        empty = exc.errno
    after = s.send(b"again")  # sk_err followed the queue: nothing pending
    settle(s)
    small = s.recvmsg(3, 10, MSG_ERRQUEUE | MSG_CMSG_CLOEXEC)
    u = make(SOCK_DGRAM)
    u.setsockopt(SOL_IP, IP_RECVERR, 1)
    u.sendto(b"abc", ("127.0.0.1", port))
    settle(u)
    uncon = u.recvmsg(100, 1024, MSG_ERRQUEUE)
    try:
        u.recv(10, MSG_DONTWAIT)
        rest = 0
    except OSError as exc:
        rest = exc.errno
    s.close()
    u.close()
    return first, empty, after, small, uncon, rest


def test_icmp_port_unreachable_reaches_the_error_queue_as_on_linux():
    port = _closed_port()
    expected = _errqueue_script(lambda kind: socket.socket(socket.AF_INET, kind),
                                _linux_settle, port)
    sched, host = _host()
    got = _errqueue_script(lambda kind: host.socket(socket.AF_INET, kind),
                           lambda _sock: sched.run_for(100 * US), port)
    assert got == expected
    data, anc, flags, addr = got[0]
    assert (data, flags, addr) == (b"hello", MSG_ERRQUEUE, ("127.0.0.1", port))
    [(level, ctype, errhdr)] = anc
    assert (level, ctype, len(errhdr)) == (SOL_IP, IP_RECVERR, 32)
    ee_errno, origin, itype, code, _pad, info, _data = EE.unpack_from(errhdr)
    assert (ee_errno, origin, itype, code, info) == (errno.ECONNREFUSED, SO_EE_ORIGIN_ICMP,
                                                     3, 3, 0)
    assert errhdr[16:24] == struct.pack("=H2s4s", socket.AF_INET, bytes(2),
                                        socket.inet_aton("127.0.0.1"))
    assert got[1] == errno.EAGAIN
    assert got[3][2] == MSG_ERRQUEUE | MSG_TRUNC | MSG_CTRUNC | MSG_CMSG_CLOEXEC


def test_the_error_queue_raises_epollerr_and_never_blocks():
    sched, host = _host()
    s = host.socket(socket.AF_INET, SOCK_DGRAM)
    s.setsockopt(SOL_IP, IP_RECVERR, 1)
    ep = epoll_create(host.net)
    ep.register(s, select.EPOLLIN)
    with pytest.raises(BlockingIOError):
        s.recvmsg(100, 1024, MSG_ERRQUEUE)  # blocking socket, empty queue: EAGAIN at once
    for _ in range(2):
        s.sendto(b"x", ("127.0.0.1", 9))
    sched.run_for(100 * US)
    assert len(s.sk.sk_error_queue) == 2
    assert ep.poll(0) == [(s.fileno(), EPOLLERR)]
    assert s.recv(10, MSG_ERRQUEUE) == b"x"  # recv() reads the error queue too
    assert s.poll() & EPOLLERR and s.sk.sk_err == errno.ECONNREFUSED
    s.recvmsg(10, 0, MSG_ERRQUEUE)
    assert ep.poll(0) == [] and not s.poll() & EPOLLERR
    s.setsockopt(SOL_IP, IP_RECVERR, 0)
    s.sendto(b"x", ("127.0.0.1", 9))
    sched.run_for(100 * US)
    assert not s.sk.sk_error_queue and not s.poll() & EPOLLERR  # unconnected: nothing


def test_tcp_has_an_empty_error_queue():
    sched, host = _host()
    t = host.socket(socket.AF_INET, SOCK_STREAM)
    for call in (lambda: t.recvmsg(10, 10, MSG_ERRQUEUE), lambda: t.recv(10, MSG_ERRQUEUE)):
        with pytest.raises(BlockingIOError) as info:
            call()
        assert info.value.errno == errno.EAGAIN
    real = socket.socket()
    with pytest.raises(BlockingIOError):
        real.recvmsg(10, 10, MSG_ERRQUEUE)
    real.close()


def _first_error(sock):
    data, anc, flags, addr = sock.recvmsg(2000, 1024, MSG_ERRQUEUE)
    [(_level, _type, errhdr)] = anc
    return data, flags, addr, EE.unpack_from(errhdr), errhdr[20:24]


def test_ttl_exceeded_names_the_router_as_offender():
    sched, a, r, b = routed()
    s = a.socket(socket.AF_INET, SOCK_DGRAM)
    s.setsockopt(SOL_IP, IP_RECVERR, 1)
    s.setsockopt(SOL_IP, IP_TTL, 1)
    s.sendto(b"probe", ("10.0.2.1", 33434))
    sched.run_for(1_000 * US)
    data, flags, addr, ee, offender = _first_error(s)
    assert (data, flags, addr) == (b"probe", MSG_ERRQUEUE, ("10.0.2.1", 33434))
    assert ee[:6] == (errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP, 11, 0, 0, 0)
    assert offender == socket.inet_aton("10.0.1.254")


def test_frag_needed_reports_the_mtu_in_ee_info():
    sched, a, r, b = routed(mtu_rb=1000)
    s = a.socket(socket.AF_INET, SOCK_DGRAM)
    s.setsockopt(SOL_IP, IP_RECVERR, 1)
    s.setsockopt(SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    s.sendto(bytes(1200), ("10.0.2.1", 7))
    sched.run_for(1_000 * US)
    data, flags, addr, ee, offender = _first_error(s)
    assert data == bytes(576 - 20 - 8 - 20 - 8)  # what the 576-byte ICMP quote carried
    assert ee[:6] == (errno.EMSGSIZE, SO_EE_ORIGIN_ICMP, 3, 4, 0, 1000)
    assert offender == socket.inet_aton("10.0.1.254")
