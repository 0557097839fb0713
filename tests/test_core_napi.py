"""NAPI and the softirqs: weight 64, budget 300, repoll, completion, MISSED, own events."""

from __future__ import annotations

import pytest
from helpers.dummy import BCAST, DummyHost, frame

from stack.core import (
    NET_RX_DROP,
    NET_RX_SUCCESS,
    NapiStruct,
    alloc_skb,
    consume_skb,
    eth_type_trans,
    napi_complete_done,
    napi_disable,
    napi_enable,
    napi_schedule,
    napi_schedule_prep,
    netif_napi_add,
    netif_rx,
)


@pytest.fixture
def host():
    h = DummyHost()
    h.up()
    h.catch()
    yield h
    for skb in h.received:
        consume_skb(skb)
    h.received.clear()
    assert h.kernel.skb_live == 0


def polls_by_event(h: DummyHost) -> list[list[int]]:
    """The poll_log grouped by the scheduler event each poll ran in."""
    groups: dict[int, list[int]] = {}
    for event, work in h.poll_log:
        groups.setdefault(event, []).append(work)
    return list(groups.values())


def test_budget_300_weight_64_and_repoll(host):
    host.deliver([frame()] * 1000)
    host.settle()
    # each NET_RX event polls the one instance at weight 64 until 300 is spent (5 polls),
    # then re-raises itself as a new event; the last poll takes the remaining 40 and completes
    assert polls_by_event(host) == [[64] * 5, [64] * 5, [64] * 5, [40]]
    assert len(host.received) == 1000
    sd = host.kernel.softnet
    assert sd.time_squeeze == 3 and sd.polls == 16 and sd.processed == 1000
    assert host.napi.polls == 16 and host.napi.work == 1000
    assert host.irqs == 1 and host.irq_enabled
    assert host.kernel.softirqs.counts()["NET_RX"] == 4


def test_instances_are_polled_round_robin():
    h = DummyHost()
    h.up()
    order: list[tuple[str, int]] = []
    queues = {"A": 200, "B": 50}

    def make_poll(name):
        def poll(napi, budget):
            work = min(budget, queues[name])
            queues[name] -= work
            order.append((name, work))
            if work < budget:
                napi_complete_done(napi, work)
            return work

        return poll

    a = netif_napi_add(h.dev, NapiStruct("A"), make_poll("A"))
    b = netif_napi_add(h.dev, NapiStruct("B"), make_poll("B"))
    napi_enable(a)
    napi_enable(b)
    napi_schedule(a)
    napi_schedule(b)
    h.settle()
    assert order == [("A", 64), ("B", 50), ("A", 64), ("A", 64), ("A", 8)]
    assert h.kernel.softnet.time_squeeze == 0


def test_softirq_runs_as_its_own_event_never_inside_the_irq_handler(host):
    host.rx_ring.extend([frame()] * 3)
    host.interrupt()  # called directly, as the IRQ event would
    assert host.napi.polls == 0 and host.received == []  # nothing polled inline
    assert host.kernel.softirqs.pending() == ["NET_RX"]
    handle = host.sched.step()
    assert handle is not None and "softirq NET_RX" in handle.name
    assert host.napi.polls == 1 and len(host.received) == 3
    assert host.kernel.softirqs.pending() == []


def test_raise_is_idempotent_until_the_softirq_runs(host):
    before = len(host.sched.pending())
    host.kernel.raise_softirq(3)
    host.kernel.raise_softirq(3)
    assert len(host.sched.pending()) == before + 1


def test_complete_done_only_under_budget(host):
    calls = []

    def greedy(napi, budget):
        calls.append(budget)
        if len(calls) == 1:
            # a buggy driver that completes although it used its whole weight
            assert napi_complete_done(napi, budget) is False
            return budget
        assert napi_complete_done(napi, 0) is True
        return 0

    napi = netif_napi_add(host.dev, NapiStruct("greedy"), greedy)
    napi_enable(napi)
    napi_schedule(napi)
    host.settle()
    assert calls == [64, 64]  # refused the first time, so the core repolled it
    assert any("must not complete" in msg for _, _, msg in host.kernel.dmesg)
    assert napi.sched is False  # the second, zero-work poll did complete


def test_missed_interrupt_reschedules_instead_of_completing(host):
    seen = []

    def poll(napi, budget):
        seen.append(budget)
        if len(seen) == 1:
            # the device interrupts again while we poll: prep fails and records MISSED
            assert napi_schedule_prep(napi) is False
            assert napi_complete_done(napi, 0) is False  # so we must not unmask
            return 0
        assert napi_complete_done(napi, 0) is True
        return 0

    napi = netif_napi_add(host.dev, NapiStruct("m"), poll)
    napi_enable(napi)
    napi_schedule(napi)
    host.settle()
    assert len(seen) == 2 and not napi.sched and not napi.missed


def test_disabled_instances_are_not_scheduled_or_polled(host):
    polled = []
    napi = netif_napi_add(host.dev, NapiStruct("d"), lambda n, b: polled.append(b) or 0)
    assert napi_schedule_prep(napi) is False  # starts disabled until napi_enable
    napi_enable(napi)
    assert napi_schedule(napi) is True
    napi_disable(napi)  # taken off the poll list before NET_RX runs
    host.settle()
    assert polled == [] and napi_schedule(napi) is False
    napi_enable(napi)
    assert napi_schedule(napi) is True
    host.settle()
    assert polled == [64]


def test_time_limit_squeezes_when_polls_cost_time(host):
    sched = host.sched

    def slow(napi, budget):
        sched.now += 1_500_000  # charge 1.5 ms of CPU time to the clock
        return budget

    napi = netif_napi_add(host.dev, NapiStruct("slow"), slow)
    napi_enable(napi)
    napi_schedule(napi)
    events_before = sched.events_run
    sched.step()
    assert napi.polls == 2  # 2 ms limit reached after the second poll, budget not spent
    assert host.kernel.softnet.time_squeeze == 1
    assert host.kernel.softirqs.pending() == ["NET_RX"]
    assert sched.events_run == events_before + 1
    napi_disable(napi)


def test_netif_rx_backlog_delivers_in_net_rx_and_drops_when_full(host):
    host.kernel.netdev_max_backlog = 3
    results = []
    for _ in range(5):
        skb = alloc_skb(host.kernel, 64)
        skb.put_data(frame(dst=BCAST))
        eth_type_trans(skb, host.dev)
        results.append(netif_rx(skb))
    assert results == [NET_RX_SUCCESS] * 3 + [NET_RX_DROP] * 2
    assert host.received == []
    host.settle()
    assert len(host.received) == 3
    sd = host.kernel.softnet
    assert sd.dropped == 2 and host.dev.stats.rx_dropped == 2
    assert host.kernel.drop_reasons["CPU_BACKLOG"] == 2
    assert sd.backlog is not None and not sd.backlog.sched


def test_interrupt_during_poll_window_is_not_lost(host):
    host.deliver([frame()] * 10)
    host.sched.step()  # the IRQ event: masked, NET_RX raised
    assert not host.irq_enabled
    host.deliver([frame()] * 5)  # masked: lands in the ring without an interrupt
    host.settle()
    assert len(host.received) == 15 and host.irq_enabled
