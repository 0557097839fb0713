"""Link changes, TX hang detection and recovery, and reconfiguration under traffic."""

from __future__ import annotations

from helpers.driver import DriverPair, tx_mappings

from device.spec import regs as R
from stack.core import bql_store, netdev_get_tx_queue
from stack.core.netdevice import dev_close, dev_set_mtu, netif_queue_stopped


def dmesg(host) -> str:
    return host.kernel.dmesg_text()


def test_cable_unplug_and_replug_are_seen_as_carrier_changes():
    w = DriverPair()
    up = "NIC Link is Up 10 Gbps Full Duplex, Flow Control: TX"
    for host in w.hosts:
        assert dmesg(host).count(up) == 1
    w.cable.unplug()
    w.run("10ms")
    for host in w.hosts:
        assert not host.netdev.carrier_ok()
        assert "NIC Link is Down" in dmesg(host)
        assert not host.peek(R.STATUS) & R.STATUS_LU
    w.send(w.a, w.frame(w.a, 100))  # no carrier: the qdisc holds nothing back, drops it
    w.cable.plug()
    w.run("10ms")
    for host in w.hosts:
        assert host.netdev.carrier_ok()
        assert dmesg(host).count(up) == 2
    frame = w.frame(w.a, 100, seq=1)
    w.send(w.a, frame)
    w.run("1ms")
    assert w.b.frames() == [frame]
    assert w.a.kernel.skb_live == 0 and w.b.kernel.skb_live == 0
    w.assert_clean()


def test_a_tx_stall_is_detected_as_a_hang_and_tx_timeout_recovers():
    w = DriverPair()
    a = w.a
    # All ten frames go to the ring: BQL (which would hold nine in the qdisc behind the
    # first, the device never completing it) gets a floor above them.
    bql_store(netdev_get_tx_queue(a.netdev, 0), "limit_min", 10 * 200)
    a.nic.inject.tx_stall = True
    for i in range(10):
        w.send(a, w.frame(a, 200, seq=i))
    w.run("100us")
    tdt = a.peek(R.TDT)
    assert a.peek(R.TDH) == 0 and tdt == 10
    w.run("2.5s")  # the watchdog (every 2 s) arms the check; the clean-up pass finds the hang
    text = dmesg(a)
    assert "Detected Tx Unit Hang" in text
    assert "  TDH                  <0>" in text
    assert f"  TDT                  <{tdt:x}>" in text
    assert f"  next_to_use          <{a.adapter.tx_ring.next_to_use:x}>" in text
    assert "  next_to_clean        <0>" in text
    assert netif_queue_stopped(a.netdev)
    assert a.adapter.tx_timeout_count == 0
    a.nic.inject.tx_stall = False  # the part would stay hung; the reset is what helps
    w.run("3s")  # the stack's 5 s TX watchdog calls ndo_tx_timeout -> down + up (workqueue)
    assert "NETDEV WATCHDOG: eth0 (ixgb): transmit queue 0 timed out" in dmesg(a)
    assert a.adapter.tx_timeout_count == 1 and a.adapter.tx_timeout_task.runs == 1
    assert not netif_queue_stopped(a.netdev) and a.netdev.carrier_ok()
    assert w.b.frames() == []  # the stalled frames were thrown away by the reset
    frames = [w.frame(a, 300, seq=i) for i in range(20)]
    for frame in frames:
        w.send(a, frame)
    w.run("1ms")
    assert w.b.frames() == frames
    assert a.kernel.skb_live == 0 and tx_mappings(a) == 0
    assert a.kernel.drop_reasons.get("NOT_SPECIFIED") == 10  # freed by clean_tx_ring
    w.assert_clean()


def test_lost_link_with_tx_work_stranded_schedules_the_reset_task():
    w = DriverPair()
    a = w.a
    a.nic.inject.tx_stall = True
    for i in range(5):
        w.send(a, w.frame(a, 200, seq=i))
    w.run("100us")
    a.nic.inject.tx_stall = False
    w.cable.unplug()
    w.run("10ms")  # LSC: the watchdog sees no carrier with TX work pending
    assert a.adapter.tx_timeout_count == 1
    assert a.adapter.tx_ring.next_to_use == a.adapter.tx_ring.next_to_clean == 0
    assert a.kernel.skb_live == 0 and tx_mappings(a) == 0
    w.cable.plug()
    w.run("10ms")
    frame = w.frame(a, 64, seq=9)
    w.send(a, frame)
    w.run("1ms")
    assert w.b.frames() == [frame]


def test_mtu_change_while_traffic_flows():
    w = DriverPair()
    sent: list[bytes] = []
    state = {"seq": 0, "size": 1000}

    def tick() -> None:
        if w.sched.now >= 60_000_000:
            return
        state["seq"] += 1
        frame = w.frame(w.a, state["size"], seq=state["seq"])
        if w.send(w.a, frame) == 0:
            sent.append(frame)
        w.sched.call_later(20_000, tick)

    w.sched.call_later(0, tick)
    w.run("10ms")
    for host in (w.b, w.a):  # the receiver first, so nothing jumbo reaches a 1500 MTU
        assert dev_set_mtu(host.netdev, 9000) == 0
        w.run("1ms")
    w.run("10ms")
    state["size"] = 9014  # from 32 ms to 60 ms: one jumbo frame every 20 us
    w.run("30ms")
    got = w.b.frames()
    it = iter(sent)
    assert all(frame in it for frame in got)  # in order, byte-exact, nothing invented
    assert sum(len(f) == 1000 for f in got) > 800
    assert sum(len(f) == 9014 for f in got) > 1390
    # Only the frames offered while a device was down (no carrier, qdisc detached) are lost.
    assert len(sent) - len(got) <= 2
    assert w.b.peek(R.MFS) >> 16 == 9018 and w.b.peek(R.CTRL0) & R.CTRL0_JFE
    for host in w.hosts:
        assert dev_close(host.netdev) == 0
        assert host.kernel.skb_live == 0
        assert host.machine.dma.live == 0 and host.machine.mem.live_allocations == 0
    w.assert_clean()


def test_a_storm_of_local_faults_forces_the_reset_path():
    w = DriverPair()
    a = w.a
    w.run("2s")  # one watchdog period with a quiet link: nothing happens
    assert not netif_queue_stopped(a.netdev)
    a.nic.stat_add(R.LFC, 300)  # more than 250 new local faults since the last look
    w.run("2s")
    assert netif_queue_stopped(a.netdev)  # check_for_bad_link stopped the queue...
    w.run("4s")  # ...so the stack's TX watchdog calls ndo_tx_timeout: down + up
    assert a.adapter.tx_timeout_count == 1
    assert not netif_queue_stopped(a.netdev)
    frame = w.frame(a, 100)
    w.send(a, frame)
    w.run("1ms")
    assert w.b.frames() == [frame]
