"""MSI: the capability in config space, the driver's pci_enable_msi in ixgb_up, messages.

The PCI function offers one 64-bit MSI capability (device/pci.py); ixgb enables it in
``up`` when STATUS.PCIX_MODE says the bus is PCI-X (``w.host(..., msi=True)``), as Linux's
ixgb_up does, and disables it in ``down``.  Interrupts then arrive as message writes: one
per rising edge of ICR & IMS, never re-delivered while the condition stays high.
"""

from __future__ import annotations

import errno
import hashlib
import io

from device.pci import (
    MSI_ADDRESS_BASE,
    MSI_CAP,
    PCI_CAP_ID_MSI,
    PCI_CAPABILITY_LIST,
    PCI_COMMAND,
    PCI_COMMAND_INTX_DISABLE,
    PCI_MSI_ADDRESS_HI,
    PCI_MSI_ADDRESS_LO,
    PCI_MSI_DATA_64,
    PCI_MSI_FLAGS,
    PCI_MSI_FLAGS_64BIT,
    PCI_MSI_FLAGS_ENABLE,
    PCI_STATUS,
    PCI_STATUS_CAP_LIST,
)
from device.spec import regs as R
from device.trace import subscribe
from ixsim import World
from ixsim.apps.bulk import bulk_receive, bulk_send, stream_bytes
from ixsim.shell import Shell
from stack.core import dev_close, dev_open


def _pair(msi_a: bool = True):
    w = World(seed=3)
    a = w.host("a", "10.0.0.1/24", msi=msi_a)
    b = w.host("b", "10.0.0.2/24")
    w.cable(a.eth0, b.eth0)
    return w, a, b


def test_config_space_offers_a_64bit_msi_capability():
    w = World(seed=1)
    h = w.host("h", driver=False)
    pdev = h.nics[0].pci_dev
    assert pdev.read_config(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST
    assert pdev.read_config(PCI_CAPABILITY_LIST, 1) == MSI_CAP
    assert pdev.read_config(MSI_CAP, 1) == PCI_CAP_ID_MSI
    assert pdev.read_config(MSI_CAP + 1, 1) == 0  # end of the list
    flags = pdev.read_config(MSI_CAP + PCI_MSI_FLAGS, 2)
    assert flags == PCI_MSI_FLAGS_64BIT  # one vector, disabled, no masking
    assert pdev.find_capability(PCI_CAP_ID_MSI) == MSI_CAP
    assert pdev.find_capability(0x07) == 0  # no PCI-X capability modelled
    # Read-only bits stay: the 64-bit flag and MMC cannot be written, address bits 1:0 are 0.
    pdev.write_config(MSI_CAP + PCI_MSI_FLAGS, 0xFFFF, 2)
    assert pdev.read_config(MSI_CAP + PCI_MSI_FLAGS, 2) == 0x00F1
    pdev.write_config(MSI_CAP + PCI_MSI_ADDRESS_LO, 0xFEE0_0003, 4)
    assert pdev.read_config(MSI_CAP + PCI_MSI_ADDRESS_LO, 4) == 0xFEE0_0000
    w.close()


def test_default_host_uses_intx_and_msi_host_uses_msi():
    w, a, b = _pair()
    pa, pb = a.eth0.parent, b.eth0.parent
    assert pa.msi_enabled and pa.irq == 24 and a.eth0.priv.have_msi
    assert not pb.msi_enabled and pb.irq == 16 and not b.eth0.priv.have_msi
    # The bus mode the driver reads (STATUS.PCIX_MODE), and ethtool's bus info from it.
    assert a.eth0.device.regs["STATUS"] & R.STATUS_PCIX_MODE
    assert not b.eth0.device.regs["STATUS"] & R.STATUS_PCIX_MODE
    cmd = pa.read_config(PCI_COMMAND, 2)
    assert cmd & PCI_COMMAND_INTX_DISABLE  # pci_intx_for_msi(dev, 0)
    assert pa.read_config(MSI_CAP + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE
    assert pa.read_config(MSI_CAP + PCI_MSI_ADDRESS_LO, 4) == MSI_ADDRESS_BASE
    assert pa.read_config(MSI_CAP + PCI_MSI_ADDRESS_HI, 4) == 0
    assert pa.read_config(MSI_CAP + PCI_MSI_DATA_64, 2) == 0x41
    w.close()


def test_interrupts_arrive_as_message_writes():
    w, a, b = _pair()
    pci = a.nics[0].pci
    msgs: list[tuple[int, int]] = []
    writes: list[tuple[str, int, int, str, bool]] = []
    delivered: list[int] = []
    subscribe(pci, "msi", lambda addr, data: msgs.append((addr, data)))
    subscribe(pci, "dma", lambda *f: writes.append(f) if f[3].startswith("MSI") else None)
    subscribe(pci, "irq_deliver", delivered.append)
    assert a.ping("10.0.0.2", count=3).received == 3
    assert msgs and set(msgs) == {(MSI_ADDRESS_BASE, 0x41)}
    assert writes and all(d == "W" and addr == MSI_ADDRESS_BASE and n == 4 and ok
                          for d, addr, n, _what, ok in writes)
    assert set(delivered) == {24}
    assert pci.irq_unhandled == 0
    w.close()


def test_edge_semantics_one_message_per_assertion_edge():
    w, a, _b = _pair()
    nic = a.nics[0].nic
    pci = a.nics[0].pci
    w.run_for("5ms")
    sent, delivered = pci.msi_sent, pci.irq_delivered
    nic.set_ics(R.INT_RXT0)  # one assertion edge: one message, one delivery
    w.run_for("1ms")
    assert pci.msi_sent == sent + 1
    assert pci.irq_delivered == delivered + 1
    # Two edges before the first is delivered merge into one delivery (the APIC's IRR bit).
    sent, delivered = pci.msi_sent, pci.irq_delivered
    pci.set_irq(True)
    pci.set_irq(False)
    pci.set_irq(True)
    assert pci.msi_sent == sent + 2
    w.step()
    assert pci.irq_delivered == delivered + 1
    w.close()


def test_level_high_is_not_redelivered_with_msi_but_is_with_intx():
    for msi, expect_more in ((True, False), (False, True)):
        w = World(seed=2)
        h = w.host("h", msi=msi, up=False, stack=False)
        pci = h.nics[0].pci
        pdev = h.eth0.parent
        calls: list[int] = []
        dev_open(h.eth0)
        pdev.free_irq()
        h.eth0.priv.irq_requested = False
        # A handler that never clears the cause: INTx re-runs it, MSI does not.
        pdev.request_irq(lambda irq, calls=calls: calls.append(irq) or 1)
        pci.set_irq(False)
        pci.set_irq(True)
        for _ in range(5):
            w.step()
        assert (len(calls) > 1) == expect_more, (msi, calls)
        assert len(calls) >= 1
        w.close()


def test_down_disables_msi_and_up_enables_it_again():
    w, a, _b = _pair()
    pdev = a.eth0.parent
    dev_close(a.eth0)
    assert not pdev.msi_enabled and pdev.irq == 16 and not a.eth0.priv.have_msi
    assert not pdev.read_config(PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE
    assert dev_open(a.eth0) == 0
    assert pdev.msi_enabled and pdev.irq == 24
    w.close()


def test_enable_msi_refusals_are_einval():
    w, a, _b = _pair()
    pdev = a.eth0.parent
    assert pdev.enable_msi() == -errno.EINVAL  # already enabled, as Linux refuses
    w.close()


def test_msi_without_bus_mastering_is_a_device_fault():
    w, a, _b = _pair()
    pdev = a.eth0.parent
    pdev.clear_master()
    a.nics[0].nic.set_ics(R.INT_RXT0)
    w.run_for("1ms")
    assert any(f.register == "MSI" and "bus mastering" in f.message for f in w.faults)
    w.close()


def test_tcp_bulk_over_msi_is_intact():
    w, a, b = _pair()
    n = 2_000_000
    rx = b.spawn(bulk_receive(b, 5001))
    tx = a.spawn(bulk_send(a, ("10.0.0.2", 5001), n, seed=5))
    w.run_until(lambda: rx.done() and tx.done(), timeout="10s")
    got = rx.result()
    assert got.bytes == n
    assert got.sha256 == hashlib.sha256(stream_bytes(n, seed=5)).hexdigest()
    assert a.nics[0].pci.msi_sent > 0 and not w.faults
    w.close()


def test_shell_ifaces_shows_the_interrupt_mode():
    w, _a, _b = _pair()
    out = io.StringIO()
    assert Shell(w, stdout=out).run_script(["ifaces a", "ifaces b"]) == 0
    out = out.getvalue()
    assert "irq 24 PCI-MSI" in out
    assert "irq 16 IO-APIC (INTx)" in out
    w.close()


def test_shell_trace_irq_shows_the_message():
    w, a, _b = _pair()
    out = io.StringIO()
    shell = Shell(w, stdout=out)
    assert shell.run_script(["trace irq on a", "run 1ms"]) == 0
    a.nics[0].nic.set_ics(R.INT_RXT0)
    assert shell.run_script(["run 1ms"]) == 0
    text = out.getvalue()
    assert "a eth0 msi message: write 0x0041 to 0xfee00000" in text
    assert "a eth0 irq 24 -> handler" in text
    shell.session.close()
    w.close()
