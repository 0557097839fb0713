"""PCI errors and hot-plug: a frozen channel, the AER recovery through ixgb's err_handler,
surprise removal and re-plug (device/pcierr.py, driver/ixgb/main.py io_* handlers)."""

from __future__ import annotations

import hashlib
import io

import pytest

from device.ixgb.inject import pci_error
from device.spec import regs as R
from device.spec.bus import (
    PCI_ERS_RESULT_NEED_RESET,
    pci_channel_io_frozen,
    pci_channel_io_normal,
    pci_channel_io_perm_failure,
)
from ixsim import World
from ixsim.apps.bulk import bulk_receive, bulk_send, stream_bytes
from ixsim.shell import Shell


def _pair(msi: bool = False):
    w = World(seed=4)
    a = w.host("a", "10.0.0.1/24", msi=msi)
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0)
    return w, a, b


def _dmesg(host) -> list[str]:
    return [rec.msg for rec in host.kernel.dmesg]


def test_a_frozen_channel_reads_all_ones_and_stops_dma():
    w, a, _b = _pair()
    slot = a.nics[0]
    pci = slot.pci
    pci.error_notify = None  # hold the recovery back to look at the frozen function
    pci_error(slot.nic)
    assert pci.frozen and pci.isolated
    assert slot.pci_dev.iomap(0).read32(R.STATUS) == 0xFFFFFFFF
    assert pci.mmio_read(R.CTRL0) == 0xFFFFFFFF
    ring = a.eth0.priv.rx_ring.dma
    assert pci.dma_read(ring, 16, "test") is None and pci.dma_blocked == 1
    assert not pci.dma_write(ring, b"x" * 4, "test")
    before = pci.irq_delivered
    slot.nic.set_ics(R.INT_RXT0)
    w.run_for("1ms")
    assert pci.irq_delivered == before  # no interrupt while frozen
    assert not w.faults  # an error is not a driver mistake
    w.close()


@pytest.mark.parametrize("msi", [False, True], ids=["intx", "msi"])
def test_recovery_runs_the_handlers_in_pcie_do_recovery_order(msi):
    w, a, _b = _pair(msi)
    pdev = a.eth0.parent
    seen: list[tuple[str, int]] = []
    handlers = a.driver.err_handler
    orig = (handlers.error_detected, handlers.slot_reset, handlers.resume)

    def detected(p, state):
        seen.append(("error_detected", state))
        assert p.error_state == pci_channel_io_frozen
        result = orig[0](p, state)
        assert result == PCI_ERS_RESULT_NEED_RESET
        return result

    def slot_reset(p):
        seen.append(("slot_reset", int(a.nics[0].pci.frozen)))
        return orig[1](p)

    def resume(p):
        seen.append(("resume", p.error_state))
        orig[2](p)

    a.driver = type("Drv", (), {"err_handler": type(handlers)(detected, slot_reset, resume),
                                "remove": staticmethod(lambda n: None)})
    a.pci_error("eth0")
    w.run_for("20ms")
    assert seen == [("error_detected", pci_channel_io_frozen), ("slot_reset", 0),
                    ("resume", pci_channel_io_normal)]
    log = _dmesg(a)
    assert any("AER: Uncorrected (Fatal) error received: a:nic0" in m for m in log)
    assert any("AER: device recovery successful" in m for m in log)
    assert pdev.error_state == pci_channel_io_normal
    assert pdev.msi_enabled == msi  # ixgb_up enabled MSI again after the reset
    assert a.eth0.present and a.eth0.running
    assert a.ping("10.0.0.2").received == 1
    assert a.nics[0].nic.resets >= 2  # the slot reset reset the device
    w.close()


@pytest.mark.parametrize("msi", [False, True], ids=["intx", "msi"])
def test_tcp_transfer_across_a_pci_error_completes_intact(msi):
    w, a, b = _pair(msi)
    n = 3_000_000
    rx = b.spawn(bulk_receive(b, 5001))
    tx = a.spawn(bulk_send(a, ("10.0.0.2", 5001), n, seed=5))
    w.run_for("300us")
    assert not rx.done()
    a.pci_error("eth0")
    w.run_until(lambda: rx.done() and tx.done(), timeout="20s")
    got = rx.result()
    assert got.bytes == n
    assert got.sha256 == hashlib.sha256(stream_bytes(n, seed=5)).hexdigest()
    assert a.nics[0].pci.errors == 1 and not a.nics[0].pci.frozen
    assert not w.faults
    w.close()


def test_no_err_handler_means_recovery_fails():
    w, a, _b = _pair()
    a.driver = type("Drv", (), {})  # a driver without err_handler
    a.pci_error("eth0")
    w.run_for("1ms")
    assert any("AER: device recovery failed" in m for m in _dmesg(a))
    assert a.eth0.parent.error_state == pci_channel_io_perm_failure
    w.close()


def test_shell_inject_pci_error():
    w, a, _b = _pair()
    out = io.StringIO()
    shell = Shell(w, stdout=out)
    assert shell.run_script(["inject a pci-error", "run 10ms", "dmesg a"]) == 0
    text = out.getvalue()
    assert "PCI channel frozen" in text
    assert "AER: device recovery successful" in text
    assert a.ping("10.0.0.2").received == 1
    shell.session.close()
    w.close()


def test_surprise_removal_runs_remove_and_replug_probes():
    w, a, b = _pair()
    old = a.eth0
    ident = a.device_del("eth0")
    assert ident == "nic0"
    assert "eth0" not in a.interfaces and old not in a.kernel.netdevs.values()
    assert a.nics[0].pci.mmio_read(R.STATUS) == 0xFFFFFFFF
    assert a.nics[0].pci_dev.read_config(0, 2) == 0xFFFF  # nobody answers config cycles
    assert not b.eth0.device.regs["STATUS"] & R.STATUS_LU  # the peer lost link
    assert any("Card not present" in m for m in _dmesg(a))
    with pytest.raises(ValueError, match="already removed"):
        a.device_del("nic0")
    with pytest.raises(ValueError, match="no PCI device"):
        a.device_del("eth7")
    dev = a.device_add("nic0")
    assert dev is not None and dev.name == "eth0" and dev is not old
    assert a.eth0 is dev and dev.running
    w.run_for("20ms")
    a.add_address("eth0", "10.0.0.1/24")  # a new interface is unconfigured, as on Linux
    assert a.ping("10.0.0.2").received == 1
    with pytest.raises(ValueError, match="is present"):
        a.device_add("nic0")
    w.close()
