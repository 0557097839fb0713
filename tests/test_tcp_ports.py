"""Ephemeral port choice: connect()'s RFC 6056 algorithm 4 search and bind()'s parity.

Issue 19 item 6: the search started at the same offset every time, so each connect() to one
peer walked past every port still in TIME-WAIT (1.03 s per 1,000 connects rose to 6.27 s at
8,000 TIME-WAIT sockets).  Linux's ``__inet_hash_connect`` advances ``table_perturb`` after
each success; the number of ports probed per connect stays O(1) amortised.  Measured with
``TcpTable.connect_probes`` (ports examined), never the wall clock.
"""

from __future__ import annotations

import pytest
from helpers.stack import new_host

from ixsim.sched import Scheduler
from stack.tcp import TcpSock, TcpState
from stack.udp import UdpSock
from stack.wire import ip_bytes

LOCAL = ip_bytes("10.0.0.1")
PEER = ip_bytes("10.0.0.2")


def _net(seed: int = 1):
    return new_host(Scheduler(seed=seed), "a").net


def _connect_port(net, raddr: bytes = PEER, rport: int = 80) -> TcpSock:
    """The port half of ``connect()`` (``tcp_v4_connect`` -> ``inet_hash_connect``)."""
    sk = TcpSock(net)
    sk.laddr, sk.raddr, sk.rport = LOCAL, raddr, rport
    net.tcp.hash_connect(sk)
    return sk


def _time_wait(net, count: int) -> list[TcpSock]:
    """``count`` connections to PEER:80 left in TIME-WAIT: each holds its port and 4-tuple in
    the hashes (what ``tcp_time_wait`` leaves); with tcp_tw_reuse=2 (default) and a
    non-loopback peer none may be recycled."""
    socks = []
    for _ in range(count):
        sk = _connect_port(net)
        sk.state = TcpState.TIME_WAIT
        socks.append(sk)
    return socks


def test_connect_probes_stay_bounded_with_8000_time_wait_sockets():
    net = _net()
    tw = _time_wait(net, 8000)
    assert len({sk.lport for sk in tw}) == 8000
    before = net.tcp.connect_probes
    fresh = [_connect_port(net) for _ in range(1000)]
    probes = net.tcp.connect_probes - before
    # Before the fix every connect started at the same offset and walked past the whole
    # TIME-WAIT run: ~8,000+ probes each (8.5M in all).  The perturbed start lands past it.
    assert probes <= 4 * 1000, probes
    ports = {sk.lport for sk in fresh}
    assert len(ports) == 1000 and not ports & {sk.lport for sk in tw}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_connect_ports_in_range_even_first_and_deterministic_per_seed(seed):
    def run(s: int) -> list[int]:
        net = _net(s)
        net.sysctl.ip_local_port_range = (40000, 40999)
        return [_connect_port(net, rport=80).lport for _ in range(600)]

    ports = run(seed)
    assert ports == run(seed)  # same seed, same ports
    assert ports != run(seed + 100)
    assert all(40000 <= p <= 40999 for p in ports)
    assert len(set(ports)) == 600
    # the first pass takes the even ports (500 of them); only then the odd ones
    assert all(p % 2 == 0 for p in ports[:500])
    assert all(p % 2 == 1 for p in ports[500:])


def test_connect_exhausts_the_range_with_eaddrnotavail():
    net = _net()
    net.sysctl.ip_local_port_range = (50000, 50009)
    ports = sorted(_connect_port(net).lport for _ in range(10))
    assert ports == list(range(50000, 50010))
    with pytest.raises(OSError) as exc:
        _connect_port(net)
    assert exc.value.errno == 99  # EADDRNOTAVAIL
    # another peer has its own 4-tuples: the same ports serve it
    assert 50000 <= _connect_port(net, raddr=ip_bytes("10.0.0.3")).lport <= 50009


def test_bind_port_zero_prefers_odd_ports():
    """``inet_csk_find_open_port`` takes odd ports first ("to not pollute connect() users")."""
    net = _net()
    net.sysctl.ip_local_port_range = (40000, 40099)
    ports = []
    for _ in range(100):
        sk = TcpSock(net)
        net.tcp.bind(sk, LOCAL, 0)
        ports.append(sk.lport)
    assert sorted(ports) == list(range(40000, 40100))
    assert all(p % 2 == 1 for p in ports[:50]) and all(p % 2 == 0 for p in ports[50:])


def test_udp_autobind_probes_stay_bounded_with_8000_ports_taken():
    """UDP's ``udp_lib_get_port`` draws a fresh random start per autobind, so there is no
    fixed offset to walk past: with 8,000 ports taken the next 200 autobinds examine a few
    ports each (counted at ``udp_lib_lport_inuse``)."""
    net = _net()
    table = net.udp
    probes = 0
    conflict = table._conflict

    def counting(sk, port):
        nonlocal probes
        probes += 1
        return conflict(sk, port)

    table._conflict = counting
    socks = []
    for _ in range(8000):
        sk = UdpSock(net)
        sk.bind(b"\0\0\0\0", 0)
        socks.append(sk)
    probes = 0
    for _ in range(200):
        sk = UdpSock(net)
        sk.bind(b"\0\0\0\0", 0)
        socks.append(sk)
    ports = [sk.getsockname()[1] for sk in socks]
    low, high = net.sysctl.ip_local_port_range
    assert len(set(ports)) == 8200 and all(low <= p <= high for p in ports)
    assert probes <= 3 * 200, probes
