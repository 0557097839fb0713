"""qtest-style tests of the NIC core: PCI, register semantics, interrupts, EEPROM, MDIO, faults."""

from __future__ import annotations

import pytest
from helpers.qtest import make_rig
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.faults import DeviceFaultError
from device.pci import PCI_COMMAND, PCI_COMMAND_MASTER
from device.spec import regs as R
from device.spec.bus import IRQ_HANDLED, IRQ_LATENCY_NS, SPURIOUS_LIMIT
from firmware import default_words


# -- PCI ------------------------------------------------------------------------------------
def test_pci_identity_and_bar_sizing():
    rig = make_rig()
    dev = rig.slot.pci_dev
    assert dev.read_config(0x00, 2) == 0x8086
    assert dev.read_config(0x02, 2) == 0x1048
    assert dev.read_config(0x08, 4) >> 8 == 0x020000  # class: Ethernet controller
    bar = dev.read_config(0x10)
    dev.write_config(0x10, 0xFFFFFFFF)
    size = (~dev.read_config(0x10) & 0xFFFFFFFF) + 1
    assert size == 128 * 1024
    dev.write_config(0x10, bar)
    assert dev.read_config(0x10) == bar


def test_mmio_needs_memory_enable():
    rig = make_rig()
    dev = rig.slot.pci_dev
    dev.disable_device()
    assert rig.rd(R.STATUS) == 0xFFFFFFFF
    assert rig.faults.faults[-1].register == "BAR0"
    dev.enable_device()
    assert rig.rd(R.STATUS) & R.STATUS_LU


def test_dma_needs_bus_master():
    rig = make_rig()
    rig.setup_tx()
    addr = rig.buffer(b"\x01" * 60)
    rig.tx_desc(0, addr, 60, (1 << 24) | (1 << 27))
    cmd = rig.slot.pci_dev.read_config(PCI_COMMAND, 2)
    rig.slot.pci_dev.write_config(PCI_COMMAND, cmd & ~PCI_COMMAND_MASTER, 2)
    before = len(rig.faults)
    rig.wr(R.TDT, 1)
    rig.run()
    assert len(rig.faults) > before
    assert "bus mastering disabled" in rig.faults.faults[-1].message
    assert rig.wire == []


# -- interrupts -----------------------------------------------------------------------------
def test_icr_read_clears_and_ics_raises_line():
    rig = make_rig()
    rig.rd(R.ICR)
    assert rig.rd(R.ICR) == 0
    rig.wr(R.ICS, R.INT_TXDW | R.INT_RXT0)
    assert rig.nic.peek(R.ICR) == R.INT_TXDW | R.INT_RXT0
    assert not rig.slot.pci.irq_level  # masked
    rig.wr(R.IMS, R.INT_RXT0)
    assert rig.slot.pci.irq_level
    assert rig.rd(R.IMS) == R.INT_RXT0
    rig.wr(R.IMC, 0xFFFFFFFF)
    assert not rig.slot.pci.irq_level
    assert rig.rd(R.ICR) == R.INT_TXDW | R.INT_RXT0
    assert rig.rd(R.ICR) == 0


def test_irq_is_delivered_as_an_event_and_redelivered_while_level_high():
    rig = make_rig()
    rig.rd(R.ICR)
    calls = []

    def handler(irq):
        calls.append(rig.sched.now)
        if len(calls) == 2:
            rig.rd(R.ICR)  # the second invocation finally acknowledges
        return IRQ_HANDLED

    rig.slot.pci_dev.request_irq(handler)
    rig.wr(R.IMS, R.INT_TXDW)
    rig.wr(R.ICS, R.INT_TXDW)
    assert calls == []  # never a nested call from inside the register write
    rig.run("1us")
    assert len(calls) == 1  # delivered at once; still asserted, the next waits for the CPU
    rig.run(IRQ_LATENCY_NS)
    assert len(calls) == 2
    assert calls[1] - calls[0] == IRQ_LATENCY_NS  # re-delivery costs the interrupt latency
    assert not rig.slot.pci.irq_level


def test_stuck_irq_nobody_cared():
    rig = make_rig()
    rig.slot.pci_dev.request_irq(lambda irq: 0)
    rig.wr(R.IMS, R.INT_LSC)
    rig.wr(R.ICS, R.INT_LSC)
    # each unhandled re-delivery costs IRQ_LATENCY_NS: SPURIOUS_LIMIT of them take 2 ms
    rig.run((SPURIOUS_LIMIT - 1) * IRQ_LATENCY_NS - 1)
    assert not rig.slot.pci.irq_disabled
    rig.run("1ms")
    assert rig.slot.pci.irq_disabled
    assert rig.slot.pci.irq_unhandled == SPURIOUS_LIMIT
    assert "nobody cared" in rig.faults.faults[-1].message


# -- reset and link -------------------------------------------------------------------------
def test_ctrl0_rst_self_clears_and_resets_registers():
    rig = make_rig()
    rig.wr(R.IMS, R.INT_RXT0)
    rig.wr(R.RCTL, R.RCTL_BAM)
    rig.wr(R.RAL(1), 0x1234)
    rig.wr(R.CTRL0, R.CTRL0_RST)
    assert rig.rd(R.CTRL0) & R.CTRL0_RST == 0
    assert rig.rd(R.IMS) == 0
    assert rig.rd(R.RCTL) == 0
    assert rig.rd(R.RAL(1)) == 0
    assert rig.rd(R.RAH(0)) & R.RAH_AV  # RAR0 reloaded from the EEPROM
    assert rig.rd(R.STATUS) & R.STATUS_LU
    assert rig.nic.resets == 1


def test_link_follows_cable_with_lsc():
    rig = make_rig()
    rig.rd(R.ICR)
    rig.cable.unplug()
    assert not rig.rd(R.STATUS) & R.STATUS_LU
    assert not rig.rd(R.XPCSS) & R.XPCSS_ALIGN_STATUS
    assert rig.rd(R.ICR) & R.INT_LSC
    rig.cable.plug()
    assert rig.rd(R.STATUS) & R.STATUS_LU and rig.rd(R.XPCSS) & R.XPCSS_ALIGN_STATUS
    assert rig.rd(R.ICR) & R.INT_LSC


def test_lrst_self_clears_and_raises_lsc_only_on_a_change():
    rig = make_rig()
    rig.rd(R.ICR)
    rig.wr(R.CTRL0, R.CTRL0_LRST | R.CTRL0_JFE)
    assert rig.rd(R.CTRL0) == R.CTRL0_JFE
    assert rig.nic.link_up
    assert not rig.rd(R.ICR) & R.INT_LSC  # retrained at once: nothing changed
    rig.cable.unplug()
    rig.rd(R.ICR)
    for _ in range(8):  # a driver pulsing LRST on a dead cable raises no interrupt storm
        rig.wr(R.CTRL0, R.CTRL0_LRST)
    assert rig.rd(R.ICR) == 0
    rig.nic.inject.link_misaligned = True
    rig.cable.plug()
    assert not rig.nic.link_up  # lanes not aligned: LU alone is not link
    rig.nic.inject.link_misaligned = False
    rig.rd(R.ICR)
    rig.wr(R.CTRL0, R.CTRL0_LRST)
    assert rig.nic.link_up and rig.rd(R.ICR) & R.INT_LSC


# -- EEPROM ---------------------------------------------------------------------------------
class Microwire:
    """The driver's bit-bang sequences (docs/hardware.md §1.4), played by the test."""

    def __init__(self, rig):
        self.rig = rig

    def _w(self, v):
        self.rig.wr(R.EECD, v)

    def _eecd(self):
        return self.rig.rd(R.EECD)

    def setup(self):
        v = self._eecd() & ~(R.EECD_SK | R.EECD_DI)
        self._w(v)
        self._w(v | R.EECD_CS)

    def shift_out(self, data, count):
        v = self._eecd() & ~R.EECD_DO
        for i in range(count - 1, -1, -1):
            v = (v & ~R.EECD_DI) | (R.EECD_DI if data >> i & 1 else 0)
            self._w(v)
            self._w(v | R.EECD_SK)
            self._w(v)
        self._w(v & ~R.EECD_DI)

    def shift_in(self):
        data = 0
        v = self._eecd() & ~(R.EECD_DO | R.EECD_DI)
        for _ in range(16):
            self._w(v | R.EECD_SK)
            data = (data << 1) | (1 if self._eecd() & R.EECD_DO else 0)
            self._w(v)
        return data

    def standby(self):
        v = self._eecd() & ~(R.EECD_CS | R.EECD_SK)
        self._w(v)
        self._w(v | R.EECD_SK)
        self._w(v | R.EECD_SK | R.EECD_CS)
        self._w(v | R.EECD_CS)

    def cleanup(self):
        v = self._eecd() & ~(R.EECD_CS | R.EECD_DI)
        self._w(v)
        self._w(v | R.EECD_SK)
        self._w(v)

    def read(self, addr):
        self.setup()
        self.shift_out(0b110, 3)
        self.shift_out(addr, 6)
        word = self.shift_in()
        self.standby()
        self.cleanup()
        return word

    def write(self, addr, value):
        self.setup()
        self.shift_out(0b10011, 5)
        self.shift_out(0, 4)
        self.standby()
        self.shift_out(0b101, 3)
        self.shift_out(addr, 6)
        self.shift_out(value, 16)
        self.standby()
        ready = bool(self._eecd() & R.EECD_DO)
        self.standby()
        self.shift_out(0b10000, 5)
        self.shift_out(0, 4)
        self.cleanup()
        return ready


def test_eeprom_bitbang_reads_whole_image_with_good_checksum():
    rig = make_rig()
    mw = Microwire(rig)
    words = [mw.read(i) for i in range(64)]
    assert words == default_words()
    assert sum(words) & 0xFFFF == 0xBABA
    assert words[0x0A] >> 14 == 0b01
    assert words[0x0D] == 0x1048
    assert rig.faults.count == 0


def test_eeprom_bitbang_write_needs_ewen_and_reloads_on_ee_rst():
    rig = make_rig()
    mw = Microwire(rig)
    assert mw.write(0x10, 0xBEEF)
    assert mw.read(0x10) == 0xBEEF
    # Without EWEN, a write is ignored.
    mw.setup()
    mw.shift_out(0b101, 3)
    mw.shift_out(0x11, 6)
    mw.shift_out(0x1234, 16)
    mw.cleanup()
    assert mw.read(0x11) == default_words()[0x11]
    rig.wr(R.CTRL1, R.CTRL1_EE_RST)
    assert rig.rd(R.CTRL1) & R.CTRL1_EE_RST == 0


# -- MDIO -----------------------------------------------------------------------------------
def test_mdio_command_completes_and_reads_xpak_vendor():
    rig = make_rig()
    base = (0 << R.MSCA_PHY_ADDR_SHIFT) | (1 << R.MSCA_DEV_TYPE_SHIFT)
    rig.wr(R.MSCA, base | R.MSCA_ADDR_CYCLE | 0x803A | R.MSCA_MDI_COMMAND)
    assert rig.rd(R.MSCA) & R.MSCA_MDI_COMMAND == 0
    rig.wr(R.MSCA, base | R.MSCA_READ | R.MSCA_MDI_COMMAND)
    assert rig.rd(R.MSCA) & R.MSCA_MDI_COMMAND == 0
    assert rig.rd(R.MSRWD) >> 16 == (ord("I") << 8) | ord("X")


# -- statistics -----------------------------------------------------------------------------
def test_statistics_clear_on_read_and_saturate_and_peek_does_not_clear():
    rig = make_rig()
    rig.nic.stat_add(R.RNBC, 5)
    assert rig.nic.peek(R.RNBC) == 5
    assert rig.rd(R.RNBC) == 5
    assert rig.rd(R.RNBC) == 0
    rig.nic.stat_add(R.RNBC, 0xFFFFFFFF)
    rig.nic.stat_add(R.RNBC, 10)
    assert rig.rd(R.RNBC) == 0xFFFFFFFF
    rig.nic.stat_add64(R.GORCL, (1 << 32) + 7)
    assert rig.rd(R.GORCL) == 7  # low half does not clear
    assert rig.rd(R.GORCL + 4) == 1  # high half clears the pair
    assert rig.rd(R.GORCL) == 0
    rig.nic.stat_add64(R.GORCL, 1 << 64)
    assert rig.nic.peek(R.GORCL) == 0xFFFFFFFF and rig.nic.peek(R.GORCL + 4) == 0xFFFFFFFF


def test_peek_does_not_clear_icr():
    rig = make_rig()
    rig.wr(R.ICS, R.INT_RXO)
    assert rig.nic.peek(R.ICR) & R.INT_RXO
    assert rig.nic.peek(R.ICR) & R.INT_RXO
    assert rig.rd(R.ICR) & R.INT_RXO


# -- faults ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("action", "register", "words"),
    [
        (lambda r: r.rd(0x00004), "0x00004", "unimplemented"),
        (lambda r: r.wr(0x00002, 1), "BAR0", "unaligned"),
        (lambda r: r.wr(R.STATUS, 0), "STATUS", "read-only register"),
        (lambda r: r.wr(R.TDLEN, 100), "TDLEN", "multiple of 128"),
        (lambda r: r.wr(R.RDBAL, 0x1008), "RDBAL", "read-only bits"),
        (lambda r: (r.wr(R.TDLEN, 1024), r.wr(R.TDT, 64)), "TDT", "beyond the ring"),
        (lambda r: (r.wr(R.RDLEN, 1024), r.wr(R.RDT, 70)), "RDT", "beyond the ring"),
    ],
)
def test_driver_mistakes_are_faults_with_register_and_value(action, register, words):
    rig = make_rig()
    action(rig)
    fault = rig.faults.faults[-1]
    assert fault.register == register
    assert words in fault.message
    assert fault.device == "dut:nic0"


def test_strict_mode_raises_at_the_access():
    rig = make_rig(strict=True)
    with pytest.raises(DeviceFaultError, match="TDT"):
        rig.wr(R.TDT, 5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(sorted(R.REGISTERS) + [0x4, 0x1FFFC, 0x3]),
                          st.integers(0, 0xFFFFFFFF), st.booleans()), max_size=60))
def test_random_mmio_never_crashes_or_hangs(ops):
    rig = make_rig()
    rig.setup_tx(count=16)
    rig.setup_rx(count=16)
    for offset, value, is_write in ops:
        if is_write:
            rig.wr(offset, value)
        else:
            rig.rd(offset)
    budget = 100_000
    while rig.sched.peek() is not None and budget:
        rig.sched.step()
        budget -= 1
        if rig.sched.now > 10**10:
            break
    assert budget > 0, "device kept generating events without end"
