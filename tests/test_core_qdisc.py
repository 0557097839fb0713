"""The transmit path: requeue on BUSY, resume on wake, xmit_more, quota, drops, watchdog."""

from __future__ import annotations

import struct

import pytest
from helpers.dummy import MAC_B, DummyHost, frame
from helpers.units import S

from fastpath import internet_checksum
from stack.core import (
    ETH_P_8021Q,
    ETH_P_ALL,
    ETH_P_IP,
    NET_XMIT_CN,
    NET_XMIT_DROP,
    NET_XMIT_SUCCESS,
    NETIF_F_HW_CSUM,
    NETIF_F_HW_VLAN_CTAG_TX,
    NETIF_F_SG,
    NETIF_F_TSO,
    SKB_GSO_TCPV4,
    PacketOffload,
    PacketType,
    alloc_skb,
    consume_skb,
    dev_close,
    dev_queue_xmit,
    netdev_get_tx_queue,
    netif_carrier_off,
    netif_carrier_on,
    netif_queue_stopped,
    netif_stop_queue,
    netif_wake_queue,
)


@pytest.fixture
def host():
    h = DummyHost()
    h.up()
    yield h
    assert h.kernel.skb_live == 0


def frames(n: int) -> list[bytes]:
    return [frame(payload=bytes([i]) * 46) for i in range(n)]


def test_single_packet_goes_straight_to_the_driver(host):
    assert host.xmit(frame()) == NET_XMIT_SUCCESS
    assert host.ops.sent == [(frame(), False, 0)]
    assert host.dev.qdisc.packets == 1 and host.dev.qdisc.bytes == len(frame())


def test_xmit_more_on_all_but_the_last_of_a_burst(host):
    netif_stop_queue(host.dev)
    for data in frames(5):
        host.xmit(data)
    assert host.ops.sent == [] and host.dev.qdisc.qlen == 5
    netif_wake_queue(host.dev)
    host.settle()
    assert [s[0] for s in host.ops.sent] == frames(5)
    assert [s[1] for s in host.ops.sent] == [True, True, True, True, False]


def test_busy_requeues_at_the_head_and_wake_resumes_from_net_tx(host):
    seen = []
    host.kernel.dev_add_pack(PacketType(ETH_P_ALL, lambda skb, *a: seen.append(skb) or 0))
    host.ops.accept = 2
    for data in frames(5):
        host.xmit(data)
    q = host.dev.qdisc
    assert [s[0] for s in host.ops.sent] == frames(2)
    assert netif_queue_stopped(host.dev) and q.qlen == 3 and q.requeues == 1
    host.ops.accept = None
    netif_wake_queue(host.dev)
    assert len(host.ops.sent) == 2  # waking only schedules NET_TX; nothing is sent inline
    assert host.kernel.softirqs.pending() == ["NET_TX"]
    handle = host.sched.step()
    assert handle is not None and "softirq NET_TX" in handle.name
    assert [s[0] for s in host.ops.sent] == frames(5) and q.qlen == 0
    assert [s.mac_bytes() for s in seen] == frames(5)  # the retried frame was tapped once
    for skb in seen:
        consume_skb(skb)


def test_busy_with_queue_awake_is_stopped_for_the_driver(host):
    host.ops.accept = 0
    host.ops.stop_on_busy = False
    host.xmit(frame())
    host.xmit(frame())
    assert netif_queue_stopped(host.dev) and host.dev.qdisc.qlen == 2
    assert sum("NETDEV_TX_BUSY with its queue awake" in m for _, _, m in host.kernel.dmesg) == 1
    host.ops.accept = None
    netif_wake_queue(host.dev)
    host.settle()
    assert len(host.ops.sent) == 2


def test_quota_hands_the_rest_to_net_tx(host):
    netif_stop_queue(host.dev)
    for data in frames(100):
        host.xmit(data)
    netif_wake_queue(host.dev)
    host.sched.step()
    assert len(host.ops.sent) == 64
    assert host.ops.sent[62][1] is True and host.ops.sent[63][1] is False  # doorbell at 64
    assert host.kernel.softirqs.pending() == ["NET_TX"]
    host.settle()
    assert [s[0] for s in host.ops.sent] == frames(100)
    assert host.ops.sent[-1][1] is False


def test_txqueuelen_overflow_is_dropped_and_counted(host):
    host.dev.tx_queue_len = 3
    netif_stop_queue(host.dev)
    rcs = [host.xmit(data) for data in frames(5)]
    assert rcs == [NET_XMIT_SUCCESS] * 3 + [NET_XMIT_DROP] * 2
    assert host.dev.qdisc.drops == 2 and host.kernel.drop_reasons["QDISC_DROP"] == 2
    dev_close(host.dev)  # flushes the three queued frames
    assert host.dev.qdisc.qlen == 0


def test_pfifo_fast_bands_by_priority(host):
    netif_stop_queue(host.dev)
    host.xmit(frame(payload=b"best-effort" + bytes(35)), priority=0)  # band 1
    host.xmit(frame(payload=b"bulk" + bytes(42)), priority=1)  # band 2
    host.xmit(frame(payload=b"interactive" + bytes(35)), priority=6)  # band 0
    netif_wake_queue(host.dev)
    host.settle()
    assert [s[0][14:18] for s in host.ops.sent] == [b"inte", b"best", b"bulk"]


def test_no_transmission_while_down_or_without_carrier():
    h = DummyHost()
    assert h.xmit(frame()) == NET_XMIT_CN  # registered, never opened
    h.up()
    netif_stop_queue(h.dev)
    h.xmit(frame())
    assert h.dev.qdisc.qlen == 1
    netif_carrier_off(h.dev)
    assert h.dev.qdisc.qlen == 1  # the link-watch event has not run yet
    h.settle()
    assert h.dev.qdisc.qlen == 0 and not h.dev.qdisc.active  # flushed, noop
    assert h.xmit(frame()) == NET_XMIT_CN
    netif_carrier_on(h.dev)
    h.settle()
    netif_wake_queue(h.dev)
    assert h.xmit(frame()) == NET_XMIT_SUCCESS and len(h.ops.sent) == 1
    assert h.kernel.skb_live == 0


def test_tx_watchdog_fires_after_5s_of_stopped_queue(host):
    sched = host.sched
    sched.run_for("1s")
    host.xmit(frame())  # trans_start = 1 s
    netif_stop_queue(host.dev)
    assert host.kernel.timers() == [("eth0 dev_watchdog", 6 * S)]
    sched.run_until_time(6 * S - 1)
    assert host.ops.timeouts == []
    sched.run_until_time(6 * S)
    assert host.ops.timeouts == [(6 * S, 0)]
    msg = "NETDEV WATCHDOG: eth0 (dummy): transmit queue 0 timed out"
    assert [(t, lvl) for t, lvl, m in host.kernel.dmesg if m == msg] == [(6 * S, "crit")]
    assert netdev_get_tx_queue(host.dev, 0).trans_timeout == 1
    sched.run_until_time(11 * S)  # still stuck: once per expiry
    assert [t for t, _ in host.ops.timeouts] == [6 * S, 11 * S]
    netif_wake_queue(host.dev)
    sched.run_for("20s")
    assert len(host.ops.timeouts) == 2 and host.kernel.timers() == []


def test_watchdog_quiet_when_woken_in_time_or_carrier_off(host):
    sched = host.sched
    netif_stop_queue(host.dev)
    sched.run_for("4s")
    netif_wake_queue(host.dev)
    sched.run_for("10s")
    assert host.ops.timeouts == []
    netif_carrier_off(host.dev)
    host.settle()
    netif_stop_queue(host.dev)
    sched.run_for("30s")
    assert host.ops.timeouts == [] and host.kernel.timers() == []


def test_watchdog_does_not_keep_an_idle_host_busy(host):
    host.xmit(frame())
    assert host.kernel.timers() == [] and host.sched.peek() is None


def test_checksum_completed_in_software_without_csum_offload(host):
    host.dev.features &= ~NETIF_F_HW_CSUM
    skb = alloc_skb(host.kernel, 128)
    skb.reserve(32)
    skb.put_data(frame(payload=bytes(20) + struct.pack("!HHHH", 1, 2, 12, 0x4242) + b"data"))
    skb.partial_csum_set(34, 6)
    skb.dev = host.dev
    dev_queue_xmit(skb)
    sent = host.ops.sent[0][0]
    udp = sent[34:]
    assert internet_checksum(udp, 0x4242) == 0


def test_vlan_tag_inserted_in_software_without_tag_offload(host):
    assert not host.dev.features & NETIF_F_HW_VLAN_CTAG_TX
    skb = alloc_skb(host.kernel, 128)
    skb.reserve(32)
    skb.put_data(frame())
    skb.vlan_hwaccel_put_tag(ETH_P_8021Q, 0x2005)
    skb.dev = host.dev
    dev_queue_xmit(skb)
    sent = host.ops.sent[0][0]
    assert sent[:12] == frame()[:12]
    assert struct.unpack("!HHH", sent[12:18]) == (ETH_P_8021Q, 0x2005, ETH_P_IP)
    assert sent[18:] == frame()[14:]


def test_gso_without_tso_uses_the_protocols_offload(host):
    def segment(skb, features):
        data = skb.tobytes()
        out = []
        for chunk in (data[14:30], data[30:]):
            seg = alloc_skb(skb.kernel, 100)
            seg.put_data(data[:14] + chunk)
            seg.dev = skb.dev
            out.append(seg)
        return out

    host.dev.features = NETIF_F_SG | NETIF_F_HW_CSUM  # no TSO
    skb = alloc_skb(host.kernel, 128)
    skb.put_data(frame())
    skb.protocol = ETH_P_IP
    skb.gso_size, skb.gso_type = 16, SKB_GSO_TCPV4
    skb.dev = host.dev
    assert dev_queue_xmit(skb) == NET_XMIT_DROP  # no offload registered yet
    assert any("no offload" in m for _, _, m in host.kernel.dmesg)
    host.kernel.dev_add_offload(PacketOffload(ETH_P_IP, segment))
    skb = alloc_skb(host.kernel, 128)
    skb.put_data(frame())
    skb.protocol, skb.gso_size, skb.gso_type, skb.dev = ETH_P_IP, 16, SKB_GSO_TCPV4, host.dev
    dev_queue_xmit(skb)
    assert [len(s[0]) for s in host.ops.sent] == [30, 44]
    assert [s[1] for s in host.ops.sent] == [True, False]
    host.dev.features |= NETIF_F_TSO  # with TSO the GSO skb goes to the driver whole
    skb = alloc_skb(host.kernel, 128)
    skb.put_data(frame(src=MAC_B))
    skb.protocol, skb.gso_size, skb.gso_type, skb.dev = ETH_P_IP, 16, SKB_GSO_TCPV4, host.dev
    dev_queue_xmit(skb)
    assert len(host.ops.sent) == 3 and len(host.ops.sent[2][0]) == len(frame())
