"""The driver tests' two-host rig (``helpers.driver``: ixsim.World hosts without an IP
stack) checks itself: both links come up, one frame crosses each way."""

from __future__ import annotations

from helpers.driver import DriverPair

from device.spec import regs as R


# -- the rig's own sanity --------------------------------------------------------------------
def test_rig_brings_two_hosts_up_with_link():
    w = DriverPair()
    for host in w.hosts:
        assert host.netdev.name == "eth0"
        assert host.peek(R.STATUS) & R.STATUS_LU
        assert any("NIC Link is Up 10 Gbps Full Duplex, Flow Control: TX" in r.msg
                   for r in host.kernel.dmesg)
    w.assert_clean()


def test_rig_one_frame_each_way():
    w = DriverPair()
    fa = w.frame(w.a, 100, 1)
    fb = w.frame(w.b, 100, 2)
    assert w.send(w.a, fa) == 0 and w.send(w.b, fb) == 0
    w.run("1ms")
    assert w.b.frames() == [fa] and w.a.frames() == [fb]
    w.assert_clean()
