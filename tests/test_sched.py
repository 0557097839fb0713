"""The world's scheduler: ordering, cancellation, virtual time, deadlock, tasks."""

from __future__ import annotations

import pytest

from ixsim.sched import Deadlock, Scheduler, parse_duration


def test_parse_duration_units():
    assert parse_duration("50us") == 50_000
    assert parse_duration("1.5ms") == 1_500_000
    assert parse_duration("2s") == 2_000_000_000
    assert parse_duration(7) == 7
    assert parse_duration(0.25) == 250_000_000
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(ValueError):
        parse_duration(-1)


def test_events_run_in_time_then_fifo_order():
    s = Scheduler()
    seen = []
    s.call_later(20, seen.append, "c")
    s.call_later(10, seen.append, "a")
    s.call_later(10, seen.append, "b")
    s.call_soon(seen.append, "first")
    s.run_for(100)
    assert seen == ["first", "a", "b", "c"]
    assert s.now == 100


def test_cancel_and_step():
    s = Scheduler()
    seen = []
    h = s.call_later(5, seen.append, 1)
    s.call_later(6, seen.append, 2)
    h.cancel()
    ran = s.step()
    assert ran is not None and seen == [2] and s.now == 6
    assert s.step() is None


def test_virtual_time_jumps():
    s = Scheduler()
    s.call_later(parse_duration("200ms"), lambda: None)
    s.run_until(lambda: s.now >= 200_000_000)
    assert s.now == 200_000_000


def test_run_until_deadlock_is_clear():
    s = Scheduler()
    with pytest.raises(Deadlock, match="waiting for the moon"):
        s.run_until(lambda: False, what="the moon")


def test_run_until_timeout_returns_false():
    s = Scheduler()
    s.call_later(parse_duration("1s"), lambda: None)
    assert s.run_until(lambda: False, timeout="10ms") is False
    assert s.now == 10_000_000


def test_stop_breaks_a_run():
    s = Scheduler()
    for i in range(10):
        s.call_later(i + 1, lambda i=i: s.stop() if i == 3 else None)
    assert s.run_for(100) is False
    assert s.now == 4


def test_tasks_sleep_events_and_results():
    s = Scheduler()
    log = []
    ev = s.event()

    async def waiter():
        await ev.wait()
        log.append(("woke", s.now))
        return 42

    async def setter():
        await s.sleep("1ms")
        ev.set()

    t = s.spawn(waiter())
    s.spawn(setter())
    assert s.wait(t) == 42
    assert log == [("woke", 1_000_000)]


def test_task_exception_propagates_to_waiter():
    s = Scheduler()

    async def boom():
        await s.sleep(5)
        raise ValueError("bad")

    t = s.spawn(boom())
    with pytest.raises(ValueError, match="bad"):
        s.wait(t)


def test_condition_notify():
    s = Scheduler()
    cond = s.condition()
    state = {"n": 0}

    async def consumer():
        await cond.wait_for(lambda: state["n"] >= 3)
        return s.now

    async def producer():
        for _ in range(3):
            await s.sleep(10)
            state["n"] += 1
            cond.notify_all()

    t = s.spawn(consumer())
    s.spawn(producer())
    assert s.wait(t) == 30


def test_same_seed_same_rng_stream():
    a, b = Scheduler(seed=7), Scheduler(seed=7)
    assert [a.rng.random() for _ in range(5)] == [b.rng.random() for _ in range(5)]
    assert Scheduler(seed=8).rng.random() != Scheduler(seed=7).rng.random()


def test_file_descriptors_need_real_time():
    with pytest.raises(RuntimeError, match="real time"):
        Scheduler().add_reader(0, lambda: None)
