"""Offload feature toggles (``ethtool -k``/``-K``): the Python API, the core's dependency
rules, each toggle's effect on the frames, and the shell's ``features`` command."""

from __future__ import annotations

import errno
import io
import socket

import pytest

from ixsim import World
from ixsim.shell import Shell, build_world
from stack.core import (
    NETIF_F_CSUM_MASK,
    NETIF_F_GRO,
    NETIF_F_HW_CSUM,
    NETIF_F_RXCSUM,
    NETIF_F_SG,
    NETIF_F_TSO,
    ethtool_get_features,
    ethtool_set_features_by_name,
)


@pytest.fixture
def pair():
    with World(seed=3) as w:
        a = w.host("a", "10.0.0.1/24")
        b = w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0)
        yield w, a, b


def test_tso_needs_sg_and_tx_checksum_and_comes_back_with_them(pair) -> None:
    _w, a, _b = pair
    dev = a.eth0
    assert dev.features & NETIF_F_TSO and dev.features & NETIF_F_SG
    assert not ethtool_set_features_by_name(dev, {"sg": False}) & (NETIF_F_SG | NETIF_F_TSO)
    assert dev.wanted_features & NETIF_F_TSO  # still wanted: ethtool's "[requested on]"
    assert ethtool_set_features_by_name(dev, {"sg": True}) & NETIF_F_TSO
    features = ethtool_set_features_by_name(dev, {"tx": False})
    assert not features & (NETIF_F_HW_CSUM | NETIF_F_TSO) and features & NETIF_F_SG
    features = ethtool_set_features_by_name(dev, {"tx-checksum-ip-generic": True})
    assert features & NETIF_F_TSO
    table = {name: (on, fixed) for name, on, fixed in ethtool_get_features(dev)}
    assert table["tx-scatter-gather"] == (True, False)
    assert table["highdma"] == (True, True)  # not in hw_features: [fixed]


def test_unknown_and_fixed_names_fail_as_linux_does(pair) -> None:
    _w, a, _b = pair
    with pytest.raises(OSError) as e:
        ethtool_set_features_by_name(a.eth0, {"warp-drive": True})
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        ethtool_set_features_by_name(a.eth0, {"lro": True})  # ixgb has no LRO
    assert e.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as e:
        ethtool_set_features_by_name(a.eth0, {"highdma": False})
    assert e.value.errno == errno.EOPNOTSUPP


def _bulk(w, a, b, n: int) -> bytes:
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", 9))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.connect(("10.0.0.2", 9))
    conn, _ = srv.accept()
    data = bytes((i * 11) & 0xFF for i in range(n))
    c.sendall(data)
    got = bytearray()
    while len(got) < n:
        got += conn.recv(65536)
    c.close()
    conn.close()
    srv.close()
    return bytes(got) == data


@pytest.mark.parametrize("toggle", [{"tso": False}, {"sg": False}, {"tx": False},
                                    {"gso": False, "tso": False}])
def test_each_tx_toggle_changes_the_descriptors_but_not_the_data(pair, toggle) -> None:
    w, a, b = pair
    ndesc: list[int] = []
    a.eth0.device.nic.tx.trace_tx_frame.append(lambda f, n: ndesc.append(n))
    ethtool_set_features_by_name(a.eth0, toggle)
    assert not a.eth0.features & NETIF_F_TSO
    assert _bulk(w, a, b, 200_000)
    if a.eth0.features & NETIF_F_SG and a.eth0.features & NETIF_F_CSUM_MASK:
        # sendmsg builds head + page fragments: header chunk plus the payload's one or two
        # fragments (an MSS can straddle two socket pages), never a TSO super-packet
        assert max(ndesc) <= 3 and any(n > 1 for n in ndesc)
    else:
        big = [n for n in ndesc if n > 1]
        assert big == []  # no TSO super-packets: every frame one linear chunk
    assert a.eth0.device.regs["TSCTC"] == 0  # the device segmented nothing
    assert w.faults == []


def test_rx_and_gro_toggles_take_effect(pair) -> None:
    w, a, b = pair
    ethtool_set_features_by_name(b.eth0, {"rx": False, "gro": False})
    assert not b.eth0.features & (NETIF_F_RXCSUM | NETIF_F_GRO)
    good = b.eth0.priv.hw_csum_rx_good
    assert _bulk(w, a, b, 50_000)
    assert b.eth0.priv.hw_csum_rx_good == good  # the driver no longer trusts the device


def test_shell_features_shows_and_switches() -> None:
    world = build_world("b2b", seed=1, after="10ms")
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(world, stdout=out, stderr=err)
    try:
        assert shell.run_script(["features a"]) == 0
        text = out.getvalue()
        assert "scatter-gather: on\n\ttx-scatter-gather: on\n" in text
        assert "highdma: on [fixed]" in text
        assert shell.run_script(["features a:eth0 sg off"]) == 0
        text = out.getvalue()
        assert "\ttx-tcp-segmentation: off [requested on]" in text
        assert not world.hosts["a"].eth0.features & NETIF_F_SG
        assert shell.run_script(["features a warp on"]) == 2
        assert "unknown feature 'warp'" in err.getvalue()
        assert shell.run_script(["features a sg"]) == 2
        assert shell.run_script(["features a lro on"]) == 2
    finally:
        shell.session.close()
        world.close()
