"""The FIB: connected/local/broadcast routes, static routes, longest prefix, metrics, output
routes (source selection, loopback, broadcast, rejects), PMTU, device events, listings."""

from __future__ import annotations

import errno

import pytest
from helpers.stack import two_hosts
from helpers.units import S

from stack.core import dev_close, dev_open, dev_set_mtu
from stack.ipv4.route import (
    RT_TABLE_LOCAL,
    RTN_BROADCAST,
    RTN_LOCAL,
    RTN_PROHIBIT,
    RTN_UNICAST,
    RTN_UNREACHABLE,
    route_output,
)
from stack.wire import ip_bytes, ip_str


def ip(text: str) -> bytes:
    return ip_bytes(text)


def test_configure_installs_connected_local_and_broadcast_routes():
    _sched, a, _b = two_hosts()
    assert a.net.ip_route() == "10.0.0.0/24 dev veth0 proto kernel scope link src 10.0.0.1\n"
    assert a.net.ip_route(RT_TABLE_LOCAL) == (
        "local 10.0.0.1 dev veth0 proto kernel scope host src 10.0.0.1\n"
        "broadcast 10.0.0.255 dev veth0 proto kernel scope link src 10.0.0.1\n"
        "local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1\n"
        "local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1\n"
        "broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1\n")
    assert "inet 10.0.0.1/24 brd 10.0.0.255 scope global veth0" in a.net.ip_addr()


def test_longest_prefix_match_and_metrics():
    _sched, a, _b = two_hosts()
    fib = a.net.fib
    a.net.add_route("20.0.0.0/8", gateway="10.0.0.21")
    a.net.add_route("20.1.0.0/16", gateway="10.0.0.22")
    a.net.add_route("20.1.2.0/24", gateway="10.0.0.23")
    a.net.add_route("default", gateway="10.0.0.30", metric=100)
    a.net.add_route("default", gateway="10.0.0.31", metric=50)
    cases = {"20.9.9.9": "10.0.0.21", "20.1.9.9": "10.0.0.22", "20.1.2.3": "10.0.0.23",
             "8.8.8.8": "10.0.0.31", "10.0.0.2": None}
    for dst, gw in cases.items():
        rt = route_output(a.net, ip(dst))
        assert (ip_str(rt.gateway) if rt.gateway else None) == gw, dst
        assert rt.dev is a.dev and rt.src == ip("10.0.0.1") and rt.type == RTN_UNICAST
        assert rt.nexthop == (ip(gw) if gw else ip(dst))
    fib.del_route("default", metric=50)
    assert ip_str(route_output(a.net, ip("8.8.8.8")).gateway) == "10.0.0.30"
    assert a.net.ip_route() == (
        "default via 10.0.0.30 dev veth0 metric 100\n"
        "10.0.0.0/24 dev veth0 proto kernel scope link src 10.0.0.1\n"
        "20.0.0.0/8 via 10.0.0.21 dev veth0\n"
        "20.1.0.0/16 via 10.0.0.22 dev veth0\n"
        "20.1.2.0/24 via 10.0.0.23 dev veth0\n")


def test_route_errors():
    _sched, a, _b = two_hosts()
    a.net.add_route("30.0.0.0/8", gateway="10.0.0.9")
    cases = [
        (lambda: a.net.add_route("30.0.0.0/8", gateway="10.0.0.8"), errno.EEXIST),
        (lambda: a.net.add_route("31.0.0.0/8", gateway="192.168.1.1"), errno.ENETUNREACH),
        (lambda: a.net.add_route("31.0.0.0/8", gateway="10.0.0.1"), errno.EINVAL),
        (lambda: a.net.add_route("31.0.0.1/8", gateway="10.0.0.9"), errno.EINVAL),
        (lambda: a.net.add_route("31.0.0.0/8"), errno.ENODEV),
        (lambda: a.net.fib.del_route("32.0.0.0/8"), errno.ESRCH),
        (lambda: route_output(a.net, ip("40.0.0.1")), errno.ENETUNREACH),
        (lambda: route_output(a.net, ip("10.0.0.2"), ip("10.0.0.99")), errno.EINVAL),
    ]
    for call, code in cases:
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == code
    a.net.add_route("50.0.0.0/8", type=RTN_UNREACHABLE)
    a.net.add_route("51.0.0.0/8", type=RTN_PROHIBIT)
    assert a.net.ip_route().count("unreachable 50.0.0.0/8") == 1
    for dst, code in (("50.1.1.1", errno.EHOSTUNREACH), ("51.1.1.1", errno.EACCES)):
        with pytest.raises(OSError) as info:
            route_output(a.net, ip(dst))
        assert info.value.errno == code


def test_output_routes_local_broadcast_and_source_selection():
    _sched, a, _b = two_hosts()
    rt = route_output(a.net, ip("10.0.0.1"))
    assert rt.type == RTN_LOCAL and rt.dev is a.net.lo and rt.src == ip("10.0.0.1")
    rt = route_output(a.net, ip("127.0.0.5"))
    assert rt.type == RTN_LOCAL and rt.src == ip("127.0.0.1")  # the /8 route's prefsrc
    assert route_output(a.net, ip("0.0.0.0")).daddr == ip("127.0.0.1")
    rt = route_output(a.net, ip("10.0.0.255"))
    assert rt.type == RTN_BROADCAST and rt.dev is a.dev and rt.gateway is None
    rt = route_output(a.net, ip("255.255.255.255"), oif=a.dev)
    assert rt.type == RTN_BROADCAST and rt.src == ip("10.0.0.1")
    rt = route_output(a.net, ip("255.255.255.255"), ip("10.0.0.1"))
    assert rt.type == RTN_BROADCAST and rt.dev is a.dev
    with pytest.raises(OSError):
        route_output(a.net, ip("255.255.255.255"))  # no default route to pick a device
    # a second address: the one in the destination's subnet is the source
    a.net.devinet.add(a.dev, ip("10.7.0.1"), 16)
    assert route_output(a.net, ip("10.7.3.3")).src == ip("10.7.0.1")
    assert route_output(a.net, ip("10.0.0.3")).src == ip("10.0.0.1")
    # prefsrc wins; oif without a route assumes the destination is on-link
    a.net.add_route("60.0.0.0/8", gateway="10.0.0.9", prefsrc="10.7.0.1")
    assert route_output(a.net, ip("60.1.1.1")).src == ip("10.7.0.1")
    rt = route_output(a.net, ip("70.1.1.1"), oif=a.dev)
    assert rt.gateway is None and rt.dev is a.dev


def test_route_cache_and_genid_follow_changes():
    _sched, a, _b = two_hosts()
    rt1 = route_output(a.net, ip("10.0.0.2"))
    assert route_output(a.net, ip("10.0.0.2")) is rt1 and a.net.fib.check(rt1)
    a.net.add_route("80.0.0.0/8", gateway="10.0.0.2")
    assert not a.net.fib.check(rt1)
    assert route_output(a.net, ip("10.0.0.2")) is not rt1


def test_mtu_metric_and_learned_pmtu_expire():
    sched, a, _b = two_hosts()
    a.net.add_route("90.0.0.0/8", gateway="10.0.0.2", mtu=1400)
    assert route_output(a.net, ip("90.0.0.1")).mtu == 1400
    assert "90.0.0.0/8 via 10.0.0.2 dev veth0 mtu 1400" in a.net.ip_route()
    assert a.net.fib.update_pmtu(ip("10.0.0.2"), 1200)
    rt = route_output(a.net, ip("10.0.0.2"))
    assert rt.mtu == 1200 and rt.dev_mtu == 1500
    assert not a.net.fib.update_pmtu(ip("10.0.0.2"), 1300)  # only ever smaller
    assert a.net.fib.update_pmtu(ip("10.0.0.2"), 300)
    assert route_output(a.net, ip("10.0.0.2")).mtu == 552  # ip_rt_min_pmtu
    sched.run_for(600 * S)
    assert route_output(a.net, ip("10.0.0.2")).mtu == 1500  # ip_rt_mtu_expires
    dev_set_mtu(a.dev, 1000)
    assert route_output(a.net, ip("10.0.0.2")).mtu == 1000


def test_device_down_flushes_routes_and_up_restores_connected_ones():
    sched, a, _b = two_hosts()
    a.net.add_route("default", gateway="10.0.0.2")
    dev_close(a.dev)
    assert a.net.ip_route() == ""
    assert ip("10.0.0.1") not in a.net.fib.local_addrs
    with pytest.raises(OSError):
        route_output(a.net, ip("10.0.0.2"))
    dev_open(a.dev)
    assert a.net.ip_route() == "10.0.0.0/24 dev veth0 proto kernel scope link src 10.0.0.1\n"
    assert ip("10.0.0.1") in a.net.fib.local_addrs


def test_secondary_addresses_and_deleting_a_primary():
    _sched, a, _b = two_hosts()
    a.net.devinet.add(a.dev, ip("10.0.0.5"), 24)
    assert "inet 10.0.0.5/24 brd 10.0.0.255 scope global secondary veth0" in a.net.ip_addr()
    assert ip("10.0.0.5") in a.net.fib.local_addrs
    with pytest.raises(OSError) as info:
        a.net.devinet.add(a.dev, ip("10.0.0.5"), 24)
    assert info.value.errno == errno.EEXIST
    a.net.devinet.delete(a.dev, ip("10.0.0.1"))
    assert a.net.devinet.addresses(a.dev) == []
    assert a.net.ip_route() == "" and ip("10.0.0.5") not in a.net.fib.local_addrs
