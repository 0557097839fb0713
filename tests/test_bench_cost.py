"""ixsim/bench/cost.py: the counted figures are integers that do not move, split by layer.

Not timed: every assertion is on counts, which are the same on any machine and under load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ixsim.bench import cost, tcp

ROOT = Path(__file__).resolve().parent.parent


def _same(a: cost.Cost, b: cost.Cost) -> None:
    assert (a.calls, a.events, a.python, a.c) == (b.calls, b.events, b.python, b.c)


def _sums(c: cost.Cost) -> None:
    assert sum(c.python.values()) + sum(c.c.values()) == c.calls
    assert set(c.python) | set(c.c) <= set(cost.LAYERS)
    split = c.as_dict()
    assert sum(v["python"] + v["c"] for v in split["layers"].values()) == split["calls"]
    assert split["python_calls"] + split["c_calls"] == split["calls"]
    assert split["value"] == round(c.calls / c.units, 1)


def test_two_counted_frame_passes_give_the_same_integers():
    first = cost.frames_cost(60, 300)
    second = cost.frames_cost(60, 300)
    _same(first, second)
    _sums(first)
    # The benchmark's 0x88B5 sink runs once per frame: at least 300 calls in the bench layer.
    assert first.python["bench"] >= 300
    # Every frame crosses both drivers and both device models, and the cable once.
    assert first.python["driver"] >= 2 * 300 and first.python["device"] >= 2 * 300
    assert first.python["cable"] >= 300
    assert first.c["device"] > 0  # builtins called by the device model are counted
    assert first.events >= 300  # at least one scheduler event per frame


@pytest.mark.skipif(not tcp.available()[0], reason="TCP between two hosts is not available")
def test_two_counted_tcp_passes_give_the_same_integers():
    bulk = [cost.tcp_cost(256 << 10) for _ in range(2)]
    _same(*bulk)
    _sums(bulk[0])
    assert bulk[0].python["TCP"] > 0 and bulk[0].python["IP"] > 0
    assert bulk[0].units == (256 << 10) / cost.MSS
    rr = [cost.rr_cost(40) for _ in range(2)]
    _same(*rr)
    _sums(rr[0])
    assert rr[0].python["sockets"] > 0 and rr[0].events >= 40


@pytest.mark.parametrize(
    ("path", "layer"),
    [
        ("device/cable.py", "cable"),
        ("device/ixgb/rx.py", "device"),
        ("device/pci.py", "device"),
        ("driver/ixgb/tx.py", "driver"),
        ("stack/core/skbuff.py", "core"),
        ("stack/sched/fq.py", "core"),
        ("stack/neigh/neighbour.py", "core"),
        ("stack/neigh/arp.py", "IP"),
        ("stack/wire/ethernet.py", "core"),
        ("stack/wire/ipv4.py", "IP"),
        ("stack/wire/tcp.py", "TCP"),
        ("stack/ipv4/output.py", "IP"),
        ("stack/ipv6/tcp_ipv6.py", "TCP"),
        ("stack/ipv6/udp.py", "sockets"),
        ("stack/tcp/output.py", "TCP"),
        ("stack/socket/socket.py", "sockets"),
        ("stack/udp.py", "sockets"),
        ("stack/af_inet.py", "sockets"),
        ("fastpath/_c.py", "C core"),
        ("ixsim/sched.py", "scheduler"),
        ("ixsim/tasks.py", "scheduler"),
        ("ixsim/world.py", "world"),
        ("ixsim/bench/frames.py", "bench"),
        ("/usr/lib/python3.11/enum.py", "stdlib"),
    ],
)
def test_layer_of(path, layer):
    assert cost.layer_of(str(ROOT / path)) == layer
