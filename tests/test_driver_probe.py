"""ixgb probe and remove: EEPROM validation by bit-bang before any reset, MAC, parameters."""

from __future__ import annotations

import pytest
from helpers.driver import MAC_A, DriverPair

from device.pci import PCI_COMMAND_MASTER, PCI_COMMAND_MEMORY
from device.spec import regs as R
from driver import ixgb
from firmware import build_words, default_words
from ixsim.world import World
from stack.core.kernel import Kernel
from stack.core.netdevice import NETREG_REGISTERED, dev_close, dev_open


def dmesg_count(kernel: Kernel, text: str) -> int:
    return sum(text in r.msg for r in kernel.dmesg)


def _bare(words: list[int], device_id: int = 0x1048):
    """A host with one NIC and no driver bound (the test probes by hand), no IP stack."""
    w = World(seed=3)
    h = w.host("h", eeproms=[words], device_ids=[device_id], driver=False, stack=False)
    return w.sched, h.machine, h.nics[0], h.kernel


def _assert_nothing_left(machine, slot, kernel):
    assert kernel.netdevs == {}
    assert slot.pci._irq_handler is None
    assert machine.dma.live == 0
    assert machine.mem.live_allocations == 0
    assert slot.pci.command & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER) == 0
    assert kernel.pending_timers == {}


def test_probe_good_eeprom_registers_eth0_with_the_eeprom_mac():
    sched, machine, slot, kernel = _bare(build_words(MAC_A, pba=0x12345678))
    mmio: list[tuple[str, int, int]] = []
    slot.nic.trace_mmio.append(lambda kind, off, value, old: mmio.append((kind, off, value)))
    netdev = ixgb.probe(kernel, slot.pci_dev)
    assert netdev.name == "eth0" and netdev.reg_state == NETREG_REGISTERED
    assert kernel.netdevs["eth0"] is netdev
    assert netdev.dev_addr == MAC_A
    assert not netdev.carrier_ok()
    assert netdev.max_mtu == 16114 and netdev.min_mtu == 68
    adapter = ixgb.adapter_of(netdev)
    assert adapter.part_num == 0x12345678
    assert slot.pci.command & PCI_COMMAND_MASTER
    assert any(r.msg == f"ixgb {slot.pci_dev.name} eth0: Intel(R) PRO/10GbE Network Connection"
               for r in kernel.dmesg)
    # The EEPROM checksum was read through EECD (64 Microwire reads of 16 clocked bits
    # each) before the first global reset (CTRL0.RST) touched the part.
    first_rst = next(i for i, (kind, off, value) in enumerate(mmio)
                     if kind == "w" and off == R.CTRL0 and value & R.CTRL0_RST)
    eecd_reads = sum(1 for kind, off, _v in mmio[:first_rst] if kind == "r" and off == R.EECD)
    assert eecd_reads >= 64 * 16
    assert slot.nic.resets >= 1  # probe ends with ixgb_reset
    # No interrupt and no DMA until open.
    assert slot.pci._irq_handler is None and machine.dma.live == 0
    assert len(machine.faults) == 0


def test_probe_rejects_a_bad_checksum_before_any_reset_and_leaves_nothing():
    words = build_words(MAC_A)
    words[0x30] ^= 0x0100  # one flipped bit in a reserved word
    sched, machine, slot, kernel = _bare(words)
    with pytest.raises(ixgb.ProbeError) as info:
        ixgb.probe(kernel, slot.pci_dev)
    assert str(info.value.strerror) == (
        f"ixgb {slot.pci_dev.name}: The EEPROM Checksum Is Not Valid")
    assert info.value.errno == 5  # EIO
    assert slot.nic.resets == 0  # refused before any reset
    assert kernel.dmesg[-1].level == "err"
    assert "The EEPROM Checksum Is Not Valid" in kernel.dmesg[-1].msg
    _assert_nothing_left(machine, slot, kernel)


def test_probe_rejects_a_bad_signature():
    words = build_words(MAC_A, init_ctrl1=0x8000)  # bits 15:14 = 10b, checksum still right
    sched, machine, slot, kernel = _bare(words)
    with pytest.raises(ixgb.ProbeError, match="Signature Is Not Valid .*0x8000"):
        ixgb.probe(kernel, slot.pci_dev)
    _assert_nothing_left(machine, slot, kernel)


@pytest.mark.parametrize("mac", ["01:00:5e:00:00:01", "00:00:00:00:00:00",
                                 "ff:ff:ff:ff:ff:ff"])
def test_probe_rejects_an_invalid_mac(mac):
    sched, machine, slot, kernel = _bare(build_words(mac))
    with pytest.raises(ixgb.ProbeError, match="Invalid MAC Address"):
        ixgb.probe(kernel, slot.pci_dev)
    _assert_nothing_left(machine, slot, kernel)


def test_probe_refuses_a_device_not_in_the_table_and_unknown_parameters():
    sched, machine, slot, kernel = _bare(default_words(MAC_A), device_id=0x1000)
    assert not ixgb.match(slot.pci_dev)
    with pytest.raises(ixgb.ProbeError, match="not an 82597EX"):
        ixgb.probe(kernel, slot.pci_dev)
    sched, machine, slot, kernel = _bare(default_words(MAC_A))
    with pytest.raises(TypeError, match="RxDescriptor"):
        ixgb.probe(kernel, slot.pci_dev, RxDescriptor=128)
    _assert_nothing_left(machine, slot, kernel)


def test_pci_ids_cover_the_four_82597ex_parts():
    assert {d for _v, d in ixgb.PCI_IDS} == {0x1048, 0x1A48, 0x1B48, 0x109E}
    for device_id in (0x1A48, 0x1B48, 0x109E):
        words = build_words(MAC_A, device_id=device_id)
        sched, machine, slot, kernel = _bare(words, device_id=device_id)
        netdev = ixgb.probe(kernel, slot.pci_dev)
        assert ixgb.adapter_of(netdev).hw.device_id == device_id


def test_module_parameters_reach_the_hardware():
    w = DriverPair(params_a={"RxDescriptors": 100, "TxDescriptors": 70000, "TxIntDelay": 0,
                        "RxIntDelay": 10, "FlowControl": 3, "XsumRX": 0})
    a = w.a
    # 100 rounds up to 104; 70000 is out of range, so the default 256 is used (and logged).
    assert a.peek(R.RDLEN) == 104 * 16 and a.peek(R.TDLEN) == 256 * 16
    assert any("Invalid Transmit Descriptors specified (70000)" in r.msg
               for r in a.kernel.dmesg)
    assert a.peek(R.TIDV) == 0 and a.peek(R.RDTR) == 10
    assert a.peek(R.CTRL0) & (R.CTRL0_RPE | R.CTRL0_TPE) == R.CTRL0_RPE | R.CTRL0_TPE
    assert a.peek(R.PAP) == 0xFFFF and a.peek(R.FCRTH) == 0x30000
    assert a.peek(R.FCRTL) == 0x28000 | R.FCRTL_XONE
    assert not a.peek(R.RXCSUM) & R.RXCSUM_TUOFL
    assert w.b.peek(R.RXCSUM) & R.RXCSUM_TUOFL  # the default: XsumRX on
    assert "Flow Control: RX/TX" in "".join(r.msg for r in a.kernel.dmesg)


def test_open_programs_rings_filters_and_interrupts_as_linux_does():
    w = DriverPair()
    a = w.a
    adapter = a.adapter
    assert a.peek(R.TDBAL) == adapter.tx_ring.dma and a.peek(R.TDLEN) == 256 * 16
    assert a.peek(R.RDBAL) == adapter.rx_ring.dma and a.peek(R.RDLEN) == 512 * 16
    assert a.peek(R.TCTL) == R.TCTL_TCE | R.TCTL_TXEN | R.TCTL_TPDE
    rctl = a.peek(R.RCTL)
    for bit in (R.RCTL_RXEN, R.RCTL_BAM, R.RCTL_SECRC, R.RCTL_VFE, R.RCTL_CFF):
        assert rctl & bit
    assert rctl & R.RCTL_BSIZE_MASK == R.RCTL_BSIZE_2048
    assert a.peek(R.RXDCTL) == 0 and a.peek(R.TIDV) == 32 and a.peek(R.RDTR) == 72
    assert a.peek(R.IMS) == R.INT_RXT0 | R.INT_RXDMT0 | R.INT_TXDW | R.INT_LSC
    assert a.peek(R.MFS) >> 16 == 1518
    # RAR0 = our MAC with AV; 508 buffers posted (3 left unused), RDT = last filled index.
    assert a.peek(R.RAL(0)) == int.from_bytes(MAC_A[:4], "little")
    assert a.peek(R.RAH(0)) == int.from_bytes(MAC_A[4:], "little") | R.RAH_AV
    assert adapter.rx_ring.next_to_use == 508 and a.peek(R.RDT) == 507
    assert a.machine.dma.live == 2 + 508
    assert a.slot.pci._irq_handler is not None
    w.assert_clean()


def test_remove_closes_unregisters_and_disables():
    w = DriverPair()
    a = w.a
    ixgb.remove(a.netdev)
    assert a.kernel.netdevs == {}
    assert a.machine.dma.live == 0 and a.machine.mem.live_allocations == 0
    assert a.slot.pci._irq_handler is None
    assert not a.slot.pci.command & PCI_COMMAND_MEMORY
    assert a.kernel.pending_timers == {} and a.kernel.skb_live == 0
    # The reset in ixgb_down reset the TXN17401 optics over MDIO (PMA/PMD control 1).
    assert a.nic.phy[(0, 1, 0x0000)] == 0x8000
    delivered, reads = a.slot.pci.irq_delivered, a.nic.mmio_reads
    w.run("5s")  # nothing of a's runs any more: no watchdog, no interrupt, no MMIO
    assert (a.slot.pci.irq_delivered, a.nic.mmio_reads) == (delivered, reads)
    w.assert_clean()


def test_open_after_close_and_a_second_device_gets_eth1():
    w = World(seed=2)
    h = w.host("h", nics=2, macs=["02:00:00:00:09:00", "02:00:00:00:09:01"], driver=False,
               stack=False)
    sched, machine, kernel = w.sched, h.machine, h.kernel
    s0, s1 = h.nics
    n0 = ixgb.probe(kernel, s0.pci_dev)
    n1 = ixgb.probe(kernel, s1.pci_dev)
    assert (n0.name, n1.name) == ("eth0", "eth1")
    assert dev_open(n0) == 0 and dev_open(n1) == 0
    sched.run_for("10ms")
    assert not n0.carrier_ok() and not n1.carrier_ok()  # no cable: no link
    assert dmesg_count(kernel, "NIC Link is Up") == 0
    assert dev_close(n0) == 0 and dev_open(n0) == 0
    assert machine.dma.live == 2 * (2 + 508)
