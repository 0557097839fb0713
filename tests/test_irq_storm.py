"""Interrupt storms never freeze virtual time (issue 19 item 4).

Before: a level line that stayed high while the handler returned IRQ_HANDLED was delivered
again at the same instant for ever (1.5M handler calls in 10 s of wall time, virtual time
stuck, nothing recorded).  Now every delivery costs ``IRQ_LATENCY_NS``, a per-line rate limit
(``IRQ_STORM_COUNT`` deliveries within ``IRQ_STORM_WINDOW_NS``) disables a handled storm with
a device fault naming the IRQ and the rate, and the ixgb driver treats an all-ones ICR
(confirmed on STATUS) as a removed device: IRQ_NONE, no re-arm, detached, carrier off.

Each scenario checks: virtual time advanced as asked, the handler ran a bounded number of
times, the storm is on record (a device fault, or the driver's "Adapter removed"), and the
rest of the world kept running (two other hosts ping and move bytes).  The seeded fuzz at
the end (a bounded wall budget) drives random handlers against the NIC model and would have
hung on the old delivery loop.
"""

from __future__ import annotations

import hashlib
import random
import time

import pytest
from helpers.qtest import make_rig

from device.pci import PCI_COMMAND, PCI_COMMAND_MEMORY
from device.spec import regs as R
from device.spec.bus import (
    IRQ_HANDLED,
    IRQ_LATENCY_NS,
    IRQ_NONE,
    IRQ_STORM_COUNT,
    IRQ_STORM_WINDOW_NS,
    SPURIOUS_LIMIT,
)
from ixsim import World
from ixsim.apps.bulk import bulk_receive, bulk_send, stream_bytes
from stack.core import netif_carrier_ok, netif_device_present

RUN_NS = 100_000_000  # 100 ms of virtual time per scenario
CALL_CAP = IRQ_STORM_COUNT + SPURIOUS_LIMIT + 100  # more means the line was never stopped


def _world(msi: bool = False):
    """a-b on one cable (a is the victim), c-d on another (the rest of the world)."""
    w = World(seed=19)
    a = w.host("a", "10.0.0.1/24", msi=msi)
    b = w.host("b", "10.0.0.2/24")
    c = w.host("c", "10.0.1.3/24")
    d = w.host("d", "10.0.1.4/24")
    w.cable(a.eth0, b.eth0)
    w.cable(c.eth0, d.eth0)
    w.run_for("3s")  # links up, carriers on
    return w, a, b, c, d


def _replace_handler(slot, handler):
    """Take the line from the driver and give it to ``handler`` (a driver with a bug)."""
    pdev = slot.pci_dev
    pdev.free_irq()
    pdev.request_irq(handler)


class Livelock(AssertionError):
    """The handler ran more often than any stopped storm allows (the old same-instant loop
    ran it for ever): fail instead of hanging."""


def _called(w, calls: list[int]) -> None:
    calls.append(w.sched.now)
    if len(calls) > CALL_CAP:
        raise Livelock(f"{len(calls)} handler calls by t={w.sched.now} ns")


def _storm_faults(w) -> list[str]:
    return [f.message for f in w.faults if f.register == "IRQ"]


def _assert_world_keeps_running(w, c, d) -> None:
    assert c.ping("10.0.1.4").received == 1
    n = 256 * 1024
    rx = d.spawn(bulk_receive(d, 5001))
    tx = c.spawn(bulk_send(c, ("10.0.1.4", 5001), n, seed=5))
    w.run_until(lambda: rx.done() and tx.done(), timeout="5s")
    got = rx.result()
    assert got.bytes == n
    assert got.sha256 == hashlib.sha256(stream_bytes(n, seed=5)).hexdigest()


def _run_storm(w, slot, calls: list[int]) -> None:
    """Run RUN_NS; the storm must be stopped within one window, at a rate the limit names."""
    t0 = w.sched.now
    w.run_for(RUN_NS)
    assert w.sched.now == t0 + RUN_NS  # virtual time moved on
    assert len(calls) <= IRQ_STORM_COUNT  # then the line was disabled
    assert slot.pci.irq_disabled and slot.pci.irq_storms == 1
    # the deliveries came IRQ_LATENCY_NS apart, never at one instant
    gaps = {b - a for a, b in zip(calls, calls[1:], strict=False)}
    assert min(gaps) >= IRQ_LATENCY_NS
    (msg,) = _storm_faults(w)
    irq = slot.pci_dev.irq
    assert msg.startswith(f"irq {irq}: interrupt storm, {IRQ_STORM_COUNT} deliveries in ")
    assert "/s, above the limit of 200000/s): IRQ disabled" in msg


def test_surprise_removal_the_driver_detaches_returns_irq_none_and_rearms_nothing():
    w, a, _b, c, d = _world()
    slot = a.nics[0]
    netdev = a.eth0
    assert netif_carrier_ok(netdev)
    delivered, mmio_writes = slot.pci.irq_delivered, slot.nic.mmio_writes
    slot.nic.inject.surprise_removal = True
    slot.nic.set_ics(R.INT_RXT0)  # a cause the removed card leaves asserted
    t0 = w.sched.now
    w.run_for(RUN_NS)
    assert w.sched.now == t0 + RUN_NS
    # the handler saw ICR = STATUS = all-ones once or twice, then the removal task freed the
    # line: no storm, no nobody-cared, and not one register write after the removal
    assert slot.pci.irq_delivered - delivered <= 3
    assert slot.pci.irq_unhandled >= 1 and not slot.pci.irq_disabled
    assert slot.nic.mmio_writes == mmio_writes
    assert "Adapter removed" in [rec.msg.split(": ")[-1] for rec in a.kernel.dmesg]
    assert not netif_device_present(netdev) and not netif_carrier_ok(netdev)
    assert not _storm_faults(w)
    _assert_world_keeps_running(w, c, d)


def test_surprise_removal_with_no_interrupt_pending_is_found_by_the_watchdog():
    w, a, _b, c, d = _world()
    slot = a.nics[0]
    netdev = a.eth0
    delivered = slot.pci.irq_delivered
    slot.nic.inject.surprise_removal = True
    w.run_for("2100ms")  # one watchdog period (2 s): STATUS reads all-ones
    assert "Adapter removed" in [rec.msg.split(": ")[-1] for rec in a.kernel.dmesg]
    assert not netif_device_present(netdev) and not netif_carrier_ok(netdev)
    assert slot.pci.irq_delivered - delivered <= 2 and not slot.pci.irq_disabled
    _assert_world_keeps_running(w, c, d)


def test_surprise_removal_with_a_handler_that_trusts_all_ones_is_a_storm_fault():
    """Linux's own ixgb_intr: any non-zero ICR is ours, IRQ_HANDLED.  ICR reads all-ones and
    never clears, so the line stays high: a handled storm, stopped by the rate limit."""
    w, a, _b, c, d = _world()
    slot = a.nics[0]
    io = slot.pci_dev.iomap(0)
    calls: list[int] = []

    def ixgb_intr_without_removal_check(irq: int) -> int:
        _called(w, calls)
        return IRQ_HANDLED if io.read32(R.ICR) else IRQ_NONE

    _replace_handler(slot, ixgb_intr_without_removal_check)
    slot.nic.inject.surprise_removal = True
    slot.nic.set_ics(R.INT_RXT0)
    _run_storm(w, slot, calls)
    _assert_world_keeps_running(w, c, d)


@pytest.mark.parametrize("msi", [False, True], ids=["intx", "msi"])
def test_a_handler_that_rings_tdt_with_no_work_is_a_storm_fault(msi):
    """Each empty TX pass raises TXQE, so the line (or an MSI edge) comes straight back."""
    w, a, _b, c, d = _world(msi)
    slot = a.nics[0]
    assert slot.pci.msi_enabled == msi
    io = slot.pci_dev.iomap(0)
    calls: list[int] = []

    def handler(irq: int) -> int:
        _called(w, calls)
        io.read32(R.ICR)
        io.write32(R.TDT, io.read32(R.TDT))  # the doorbell again, nothing new in the ring
        return IRQ_HANDLED

    _replace_handler(slot, handler)
    io.write32(R.IMS, R.INT_TXQE)
    io.write32(R.TDT, io.read32(R.TDT))
    _run_storm(w, slot, calls)
    _assert_world_keeps_running(w, c, d)


def test_a_handler_that_clears_memory_decoding_is_a_storm_fault():
    """With PCI_COMMAND.MEMORY clear the handler cannot reach ICR: the cause stays pending."""
    w, a, _b, c, d = _world()
    slot = a.nics[0]
    pdev = slot.pci_dev
    calls: list[int] = []

    def handler(irq: int) -> int:
        _called(w, calls)
        cmd = pdev.read_config(PCI_COMMAND, 2)
        pdev.write_config(PCI_COMMAND, cmd & ~PCI_COMMAND_MEMORY, 2)
        return IRQ_HANDLED

    _replace_handler(slot, handler)
    slot.nic.set_ics(R.INT_RXT0)
    _run_storm(w, slot, calls)
    _assert_world_keeps_running(w, c, d)


def test_request_irq_enables_a_storm_disabled_line_again():
    rig = make_rig()
    calls = []
    rig.slot.pci_dev.request_irq(lambda irq: calls.append(irq) or IRQ_HANDLED)
    rig.wr(R.IMS, R.INT_LSC)
    rig.wr(R.ICS, R.INT_LSC)  # never acknowledged
    rig.run(IRQ_STORM_WINDOW_NS)
    assert len(calls) == IRQ_STORM_COUNT and rig.slot.pci.irq_disabled
    assert rig.sched.now == IRQ_STORM_WINDOW_NS
    rig.slot.pci_dev.free_irq()
    rig.slot.pci_dev.request_irq(lambda irq: rig.rd(R.ICR) and IRQ_HANDLED)
    assert not rig.slot.pci.irq_disabled
    rig.run("1ms")
    assert not rig.slot.pci.irq_level  # the new handler acknowledged the cause


# -- seeded fuzz -----------------------------------------------------------------------------
FUZZ_BUDGET_S = 3.0
FUZZ_RUN_NS = 30_000_000

CAUSES = (R.INT_TXDW, R.INT_TXQE, R.INT_LSC, R.INT_RXSEQ, R.INT_RXDMT0, R.INT_RXO, R.INT_RXT0)


def _fuzz_handler(rig, rnd: random.Random, calls: list[int]):
    """A random handler: a fixed plan of register and config accesses, run on every call."""
    plan = [rnd.randrange(7) for _ in range(rnd.randrange(1, 5))]
    causes = rnd.choice(CAUSES) | rnd.choice(CAUSES)
    verdict = rnd.choice((IRQ_HANDLED, IRQ_HANDLED, IRQ_NONE))
    pdev = rig.slot.pci_dev

    def handler(irq: int) -> int:
        calls.append(rig.sched.now)
        if len(calls) > CALL_CAP:
            raise Livelock(f"{len(calls)} handler calls by t={rig.sched.now} ns, plan {plan}")
        for op in plan:
            if op == 0:
                rig.rd(R.ICR)
            elif op == 1:
                rig.wr(R.ICS, causes)
            elif op == 2:
                rig.wr(R.IMS, causes)
            elif op == 3:
                rig.wr(R.TDT, rig.rd(R.TDH))
            elif op == 4:
                cmd = pdev.read_config(PCI_COMMAND, 2)
                pdev.write_config(PCI_COMMAND, cmd ^ PCI_COMMAND_MEMORY, 2)
            elif op == 5:
                rig.wr(R.IMC, causes)
            else:
                rig.nic.inject.surprise_removal = not rig.nic.inject.surprise_removal
        return verdict

    return handler, plan


def test_interrupt_storm_fuzz_never_freezes_virtual_time():
    rnd = random.Random(19_004)
    deadline = time.monotonic() + FUZZ_BUDGET_S
    iterations = storms = 0
    while time.monotonic() < deadline:
        rig = make_rig(seed=rnd.randrange(1 << 16))
        rig.setup_tx(count=16)
        calls: list[int] = []
        irq_faults: list[str] = []  # the tracepoint: the bounded log may be full of others
        rig.faults.trace_fault.append(
            lambda f, out=irq_faults: f.register == "IRQ" and out.append(f.message)
        )
        handler, plan = _fuzz_handler(rig, rnd, calls)
        rig.slot.pci_dev.request_irq(handler)
        rig.wr(R.IMS, rnd.choice(CAUSES) | R.INT_TXQE)
        rig.wr(R.ICS, rnd.choice(CAUSES))
        rig.wr(R.TDT, 0)
        rig.run(FUZZ_RUN_NS)
        assert rig.sched.now == FUZZ_RUN_NS, plan
        # at most one delivery per IRQ_LATENCY_NS, and a storm on record when it was one
        assert len(calls) <= FUZZ_RUN_NS // IRQ_LATENCY_NS + 1, plan
        pci = rig.slot.pci
        if len(calls) >= SPURIOUS_LIMIT:
            assert pci.irq_disabled or len(calls) < IRQ_STORM_COUNT, plan
        if pci.irq_disabled:
            storms += 1
            assert irq_faults and (
                "interrupt storm" in irq_faults[0] or "nobody cared" in irq_faults[0]
            ), plan
        iterations += 1
    assert iterations >= 5 and storms >= 1, (iterations, storms)
