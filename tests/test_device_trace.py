"""The device debug port: declared tracepoints fire with their declared fields, components list
their pending events by label, and fault injection is typed (a misspelt knob raises)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from helpers.qtest import make_rig

from device.faults import DeviceFault
from device.ixgb.inject import KNOBS, Injection, UnknownInjection
from device.spec import desc as D
from device.spec import regs as R
from device.spec.bus import IRQ_HANDLED
from device.trace import TRACEPOINTS, UnknownTracepoint, subscribe, tracepoints_of

EOP, RS = D.TXD_CMD_EOP, D.TXD_CMD_RS
FRAME = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(range(46))


def components(rig):
    nic = rig.nic
    return {"IxgbNic": nic, "PciFunction": rig.slot.pci, "Port": rig.slot.port,
            "TxEngine": nic.tx, "RxEngine": nic.rx, "FaultLog": rig.faults}


def record_all(rig) -> list[tuple]:
    """Subscribe to every tracepoint of every component; events as (name, fields dict)."""
    seen: list[tuple] = []
    for obj in components(rig).values():
        for name in tracepoints_of(obj):
            fields = TRACEPOINTS[name].fields

            def fn(*args, name=name, fields=fields):
                assert len(args) == len(fields), name
                seen.append((name, dict(zip(fields, args, strict=True))))

            subscribe(obj, name, fn)
    return seen


def test_every_declared_tracepoint_is_on_its_owner_and_only_there():
    rig = make_rig()
    owners = components(rig)
    for name, tp in TRACEPOINTS.items():
        assert tp.doc and tp.fields
        assert name in tracepoints_of(owners[tp.owner]), name
        for other, obj in owners.items():
            if other != tp.owner:
                assert name not in tracepoints_of(obj), (name, other)


def test_unknown_tracepoint_is_a_clear_error():
    rig = make_rig()
    with pytest.raises(UnknownTracepoint, match=r"IxgbNic has no tracepoint 'dma' .*mmio"):
        subscribe(rig.nic, "dma", print)


def test_tx_path_fires_mmio_dma_frame_and_irq_with_their_fields():
    rig = make_rig()
    rig.setup_tx(count=8)
    delivered = []

    def handler(irq: int) -> int:
        delivered.append(rig.rd(R.ICR))
        return IRQ_HANDLED

    rig.slot.pci_dev.request_irq(handler)
    rig.wr(R.IMS, R.INT_TXDW)
    seen = record_all(rig)
    buf = rig.buffer(FRAME)
    rig.tx_desc(0, buf, len(FRAME), EOP | RS)
    rig.wr(R.TDT, 1)
    assert seen[0] == ("mmio", {"kind": "w", "offset": R.TDT, "value": 1, "old": 0})
    (ev,) = rig.nic.tx.pending_events()
    assert ev.label == "TX descriptor fetch" and not ev.handle.cancelled
    rig.run()
    names = [name for name, _ in seen]
    dma = [f for name, f in seen if name == "dma"]
    assert dma[0] == {"direction": "R", "addr": rig.tx_ring, "length": 16, "what": "TDBAL",
                      "ok": True}
    assert {"direction": "R", "addr": buf, "length": len(FRAME), "what": "TXD[0]",
            "ok": True} in dma
    assert dma[-1]["direction"] == "W" and dma[-1]["ok"]  # DD write-back
    assert ("tx_frame", {"frame": FRAME, "ndesc": 1}) in seen
    port = [f for name, f in seen if name == "frame"]
    assert port == [{"direction": "tx", "time_ns": port[0]["time_ns"], "frame": FRAME}]
    assert ("irq", {"level": True}) in seen
    assert names.index("irq") < names.index("irq_deliver")
    assert ("irq_deliver", {"irq": rig.slot.pci.irq}) in seen
    assert ("irq", {"level": False}) in seen  # the handler's ICR read lowered the line
    assert delivered and delivered[0] & R.INT_TXDW
    assert rig.wire == [FRAME]


def test_rx_path_fires_port_frame_dma_and_rx_frame():
    rig = make_rig()
    rig.setup_rx(count=8)
    seen = record_all(rig)
    rig.inject(FRAME)
    rig.run()
    (port,) = [f for n, f in seen if n == "frame"]
    assert port["direction"] == "rx" and port["frame"] == FRAME and port["time_ns"] > 0
    assert ("rx_frame", {"frame": FRAME, "index": 0}) in seen
    writes = [f for n, f in seen if n == "dma" and f["direction"] == "W"]
    assert [w["what"] for w in writes] == ["RX buffer 0", "RX desc 0"]


def test_fault_tracepoint_carries_the_recorded_fault():
    rig = make_rig()
    rig.setup_tx(count=8)
    seen = record_all(rig)
    rig.wr(R.TDT, 99)
    faults = [f["fault"] for n, f in seen if n == "fault"]
    assert len(faults) == 1 and isinstance(faults[0], DeviceFault)
    assert faults[0].register == "TDT" and faults[0].value == 99
    assert faults[0] is rig.faults.faults[-1]


def test_unsubscribed_dma_takes_the_fast_path_again_and_packets_do_not_change():
    def run(watch: bool) -> list[bytes]:
        rig = make_rig()
        rig.setup_tx(count=8)
        seen: list[tuple] = []
        unsub = subscribe(rig.slot.pci, "dma", lambda *a: seen.append(a))
        assert rig.slot.pci.dma_observed()
        if not watch:
            unsub()
            assert not rig.slot.pci.dma_observed() and not rig.slot.pci.trace_dma
        for i in range(3):
            rig.tx_desc(i, rig.buffer(FRAME), len(FRAME), EOP | RS)
        rig.wr(R.TDT, 3)
        rig.run()
        assert bool(seen) == watch
        return rig.wire

    assert run(True) == run(False) == [FRAME] * 3


def test_pending_events_are_labelled_and_vanish_when_run():
    rig = make_rig()
    rig.setup_rx(count=8, rdtr=100)
    rig.wr(R.IMS, R.INT_RXT0)
    rig.slot.pci_dev.request_irq(lambda irq: IRQ_HANDLED if rig.rd(R.ICR) else 0)
    rig.inject(FRAME)
    rig.sched.run_until_time(rig.sched.now + 1_000)  # the frame arrived, RDTR still runs
    assert [e.label for e in rig.nic.rx.pending_events()] == ["RDTR: RX delay timer (RXT0)"]
    rig.run()
    assert rig.nic.rx.pending_events() == [] and rig.slot.pci.pending_events() == []


# -- fault injection ----------------------------------------------------------------------
def test_injection_is_typed_and_a_misspelt_knob_raises():
    inj = Injection()
    assert not inj.armed and inj.active() == {}
    with pytest.raises(AttributeError):
        inj.tx_stal = True  # type: ignore[attr-defined]
    with pytest.raises(UnknownInjection, match=r"unknown fault 'tx-stal' \(one of tx-stall"):
        inj.set("tx-stal", True)
    with pytest.raises(ValueError, match="count"):
        inj.set("lost-irq", -1)
    inj.set("lost-irq", 2)
    assert inj.armed and inj.lost_irq == 2 and inj.active() == {"lost_irq": 2}
    assert inj.take("lost_irq") and inj.take("lost_irq") and not inj.take("lost_irq")
    assert not inj.armed
    inj.crc_error = 1
    assert inj.armed
    inj.clear()
    assert not inj.armed and inj == Injection()
    assert Injection(tx_stall=True).armed
    assert set(KNOBS) == {f.name for f in dataclasses.fields(Injection)} - {"armed"}


def test_injected_tx_stall_and_lost_irq_through_the_typed_knobs():
    rig = make_rig()
    rig.setup_tx(count=8)
    rig.nic.inject.tx_stall = True
    rig.tx_desc(0, rig.buffer(FRAME), len(FRAME), EOP | RS)
    rig.wr(R.TDT, 1)
    rig.run()
    assert rig.wire == [] and rig.nic.tx.stalled == 1
    rig.nic.inject.tx_stall = False
    rig.nic.inject.lost_irq = 1
    rig.nic.tx.doorbell()
    rig.run()
    assert rig.wire == [FRAME] and rig.nic.inject.lost_irq == 0 and rig.nic.tx.lost_irqs == 1


def test_trace_format_doc_lists_every_tracepoint_with_its_fields():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "trace-format.md").read_text()
    for name, tp in TRACEPOINTS.items():
        row = f"| `{name}` | `{tp.owner}` | `{', '.join(tp.fields)}` |"
        assert row in doc, row
