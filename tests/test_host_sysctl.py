"""``host.sysctl``: Linux's names and units, the kernel's net.core knobs, errors as Linux's."""

from __future__ import annotations

import errno
import socket

import pytest

from ixsim import World
from stack.sysctl import DEVCONF_KNOBS, KERNEL_PATHS, PATHS, READ_ONLY


@pytest.fixture
def pair():
    with World(seed=5) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0, latency="10us")
        yield w, a, b


def bulk(w, a, b, port: int, nbytes: int = 2_000_000) -> None:
    """``nbytes`` a -> b, the test playing both applications (non-blocking, 1 ms steps)."""
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", port))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(("10.0.0.2", port))
    conn, _ = srv.accept()
    c.setblocking(False)
    conn.setblocking(False)
    sent = got = 0
    while got < nbytes:
        if sent < nbytes:
            try:
                sent += c.send(b"x" * min(65536, nbytes - sent))
            except BlockingIOError:
                pass
        w.run_for("100us")
        try:
            while chunk := conn.recv(1 << 20):
                got += len(chunk)
        except BlockingIOError:
            pass
    assert got == nbytes
    for s in (c, conn, srv):
        s.close()


def test_netdev_budget_by_its_linux_name_bounds_each_net_rx_run(pair):
    """``sysctl -w net.core.netdev_budget=1``: every NET_RX run stops after one poll's work,
    counted as a time_squeeze (softnet_stat's third column); the default never squeezes a
    two-host transfer."""
    w, a, b = pair
    assert b.sysctl("net.core.netdev_budget") == 300
    bulk(w, a, b, 5001)
    assert b.kernel.softnet.time_squeeze == 0
    b.sysctl("net.core.netdev_budget", 1)
    assert b.kernel.netdev_budget == 1 and b.sysctl("net.core.netdev_budget") == 1
    polls = b.kernel.softnet.polls
    bulk(w, a, b, 5002)
    squeezed = b.kernel.softnet.time_squeeze
    assert squeezed > 0
    assert squeezed >= (b.kernel.softnet.polls - polls) // 2  # nearly every run is cut short


def test_namespace_knobs_by_linux_name_change_the_wire(pair):
    """``net.ipv4.tcp_sack=0`` and ``tcp_timestamps=0``: the SYN carries neither option."""
    w, a, b = pair
    a.sysctl("net.ipv4.tcp_sack", 0)
    a.sysctl("/proc/sys/net/ipv4/tcp_timestamps", "0")  # a path and a string, as echo writes
    assert a.sysctl("net.ipv4.tcp_sack") is False
    cap = a.capture("eth0", "tcp[tcpflags] & tcp-syn != 0")
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", 7))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(("10.0.0.2", 7))
    cap.stop()
    syn = cap.frames[0].frame
    doff = (syn[14 + 20 + 12] >> 4) * 4
    options = syn[14 + 20 + 20 : 14 + 20 + doff]
    kinds = set()
    i = 0
    while i < len(options):
        kind = options[i]
        if kind in (0, 1):
            i += 1
            continue
        kinds.add(kind)
        i += options[i + 1]
    assert 4 not in kinds and 8 not in kinds  # no SACK-permitted, no timestamps
    assert 2 in kinds  # MSS is still there


def test_units_are_linuxs_at_every_path(pair):
    w, a, b = pair
    assert a.sysctl("net.ipv4.neigh.default.delay_first_probe_time") == 5  # seconds
    a.sysctl("net.ipv4.neigh.default.delay_first_probe_time", 2)
    assert a.net.sysctl.neigh_delay_first_probe_ms == 2000
    a.sysctl("net.core.netdev_budget_usecs", 8000)
    assert a.kernel.netdev_budget_ns == 8_000_000
    a.sysctl("net.ipv4.tcp_rmem", "4096 65536 1048576")
    assert a.net.sysctl.tcp_rmem == (4096, 65536, 1048576)


def test_sysctl_a_lists_every_key_with_its_value(pair):
    w, a, b = pair
    table = a.sysctl()
    # net.ipv6.conf.{all,default}.* are listed too, as Linux's sysctl -a lists them (a
    # device's own net.ipv6.conf.DEV.* once IPv6 runs on it; these hosts have no IPv6)
    conf6 = {f"net.ipv6.conf.{which}.{knob}" for which in ("all", "default")
             for knob in DEVCONF_KNOBS}
    assert set(table) == set(PATHS.values()) | set(KERNEL_PATHS) | conf6 | set(READ_ONLY)
    assert list(table) == sorted(table)
    assert table["net.core.netdev_budget"] == 300 and table["net.ipv4.tcp_sack"] is True
    assert table["net.ipv4.tcp_congestion_control"] == "cubic"


def test_unknown_keys_and_bad_values_fail_as_on_linux(pair):
    w, a, b = pair
    with pytest.raises(FileNotFoundError, match="tcp_mtu_probing"):
        a.sysctl("net.ipv4.tcp_mtu_probing", 1)  # not modelled: refused, not ignored
    with pytest.raises(FileNotFoundError):
        a.sysctl("net.ipv4.tcp_sak")
    for key, value in [("net.ipv4.tcp_sack", "yes"), ("net.ipv4.tcp_rmem", "1 2"),
                       ("net.core.dev_weight", 0), ("net.ipv4.ip_default_ttl", 1.5),
                       ("net.ipv4.tcp_congestion_control", 3)]:
        with pytest.raises(OSError) as info:
            a.sysctl(key, value)
        assert info.value.errno == errno.EINVAL, key
    assert a.sysctl("net.core.dev_weight") == 64 and a.net.sysctl.tcp_sack is True


def test_a_host_without_a_stack_has_only_the_kernels_knobs():
    with World(seed=1) as w:
        h = w.host("bare", stack=False)
        assert set(h.sysctl()) == set(KERNEL_PATHS)
        h.sysctl("net.core.netdev_max_backlog", 10)
        assert h.kernel.netdev_max_backlog == 10
        with pytest.raises(FileNotFoundError):
            h.sysctl("net.ipv4.tcp_sack")
