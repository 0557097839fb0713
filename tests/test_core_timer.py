"""Kernel timers and the workqueue: ordering, re-arming, cancelling, their own events."""

from __future__ import annotations

from helpers.units import MS

from stack.core import (
    DelayedWork,
    Timer,
    Work,
    cancel_work_sync,
    flush_work,
    schedule_delayed_work,
    schedule_work,
)


def test_timers_fire_in_expiry_order_then_arming_order(kernel):
    fired = []
    timers = {name: Timer(kernel, lambda t: fired.append((t.name, kernel.sched.now)), name)
              for name in ("late", "early", "tie1", "tie2")}
    timers["late"].mod_timer(30 * MS)
    timers["tie1"].mod_timer(20 * MS)
    timers["early"].mod_timer(10 * MS)
    timers["tie2"].mod_timer(20 * MS)
    assert kernel.timers() == [("early", 10 * MS), ("tie1", 20 * MS), ("tie2", 20 * MS),
                               ("late", 30 * MS)]
    kernel.sched.run_for("1s")
    assert fired == [("early", 10 * MS), ("tie1", 20 * MS), ("tie2", 20 * MS),
                     ("late", 30 * MS)]
    assert kernel.timers() == [] and not timers["late"].timer_pending()


def test_mod_timer_del_timer_and_pending(kernel):
    fired = []
    t = Timer(kernel, lambda timer: fired.append(kernel.sched.now))
    assert t.mod_timer(10 * MS) is False and t.timer_pending()
    assert t.mod_timer(50 * MS) is True  # pushed later
    kernel.sched.run_for("20ms")
    assert fired == []  # the old deadline passed silently
    assert t.mod_timer(30 * MS) is True  # pulled earlier than 50 ms
    kernel.sched.run_for("100ms")
    assert fired == [30 * MS]
    t.mod_timer(200 * MS)
    assert t.del_timer() is True and t.del_timer() is False
    kernel.sched.run_for("1s")
    assert fired == [30 * MS] and kernel.sched.peek() is None


def test_pushing_a_timer_later_does_not_grow_the_event_queue(kernel):
    fired = []
    t = Timer(kernel, lambda timer: fired.append(kernel.sched.now))
    for i in range(1000):
        t.mod_timer((i + 1) * MS)  # an RTO re-armed on every ACK
    assert len(kernel.sched.pending()) == 1
    kernel.sched.run_for("2s")
    assert fired == [1000 * MS]


def test_periodic_timer_rearms_itself_with_the_timer_passed_in(kernel):
    ticks = []

    def watchdog(timer: Timer) -> None:
        ticks.append(kernel.sched.now)
        if len(ticks) < 3:
            timer.mod_timer(kernel.sched.now + 2000 * MS)

    t = Timer(kernel, watchdog)
    t.mod_timer(0)
    kernel.sched.run_for("10s")
    assert ticks == [0, 2000 * MS, 4000 * MS]
    assert "watchdog" in t.name


def test_timer_runs_as_its_own_event_with_a_name(kernel):
    t = Timer(kernel, lambda timer: None, "eth0 watchdog")
    t.mod_timer(5 * MS)
    handle = kernel.sched.step()
    assert handle is not None and handle.name.startswith("t timer eth0 watchdog")


def test_work_runs_later_in_its_own_event_fifo(kernel):
    ran = []
    a = Work(kernel, lambda w: ran.append("a"), "a")
    b = Work(kernel, lambda w: ran.append("b"), "b")
    assert schedule_work(b) is True and schedule_work(a) is True
    assert schedule_work(b) is False  # already pending: queued once
    assert ran == [] and kernel.works() == ["b", "a"]
    events = kernel.sched.events_run
    kernel.sched.run_for(0)
    assert ran == ["b", "a"] and kernel.sched.events_run == events + 2
    assert b.runs == 1 and kernel.works() == []


def test_work_may_requeue_itself_and_cancel_and_flush(kernel):
    ran = []

    def again(work: Work) -> None:
        ran.append(kernel.sched.now)
        if len(ran) < 3:
            schedule_work(work)

    w = Work(kernel, again)
    schedule_work(w)
    kernel.sched.run_for(0)
    assert len(ran) == 3
    schedule_work(w)
    assert cancel_work_sync(w) is True and cancel_work_sync(w) is False
    kernel.sched.run_for(0)
    assert len(ran) == 3
    f = Work(kernel, lambda work: ran.append("flushed"))
    schedule_work(f)
    assert flush_work(f) is True and ran[-1] == "flushed" and not f.pending()
    assert flush_work(f) is False


def test_delayed_work(kernel):
    ran = []
    d = DelayedWork(kernel, lambda w: ran.append(kernel.sched.now))
    assert schedule_delayed_work(d, 7 * MS) is True
    assert schedule_delayed_work(d, 1 * MS) is False
    kernel.sched.run_for("1s")
    assert ran == [7 * MS]


def test_work_from_a_timer_runs_after_it_in_process_context(kernel):
    order = []
    w = Work(kernel, lambda work: order.append(("work", kernel.sched.now)))

    def expire(timer: Timer) -> None:
        order.append(("timer", kernel.sched.now))
        schedule_work(w)
        order.append(("timer done", kernel.sched.now))

    Timer(kernel, expire).mod_timer(3 * MS)
    kernel.sched.run_for("10ms")
    assert order == [("timer", 3 * MS), ("timer done", 3 * MS), ("work", 3 * MS)]
