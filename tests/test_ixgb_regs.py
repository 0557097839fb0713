"""The register and descriptor spec checks itself, and the device applies each access kind.

qtest style (``tests/qtest.py``): the test writes a register, reads it back and checks ICR,
IMS, the interrupt line, faults and notes.  One test per access kind of ``regs.ACCESS``; the
spec-table tests prove that every exported constant comes from a field table and that the
descriptor ``construct`` decoders agree with the ``struct`` formats.
"""

from __future__ import annotations

import random

import pytest
from helpers.qtest import make_rig

from device.faults import DeviceFaultError
from device.spec import desc as D
from device.spec import regs as R
from driver.ixgb.ethtool import GSTRINGS_STATS
from driver.ixgb.hw import STAT_WORDS


# -- the tables -----------------------------------------------------------------------------
def test_every_register_has_a_known_access_kind_and_sane_masks():
    for reg in R.REGISTERS.values():
        assert reg.access in R.ACCESS, reg.name
        assert reg.sc & ~reg.writable == 0, f"{reg.name}: a self-clearing bit is not writable"
        if reg.alias is not None:
            assert reg.access in (R.W1S, R.W1C, R.RC), reg.name
            assert reg.alias in R.REGISTERS, reg.name
        for f in reg.fields:
            assert f.shift + f.width <= 32, (reg.name, f.name)


def test_bit_constants_are_the_field_tables():
    """Each bit constant the hot paths use equals the field it was exported from."""
    rctl = {f.name: f for f in R.BY_NAME["RCTL"].fields}
    assert R.RCTL_BAM == rctl["BAM"].mask
    assert R.RCTL_BSIZE_SHIFT == rctl["BSIZE"].shift and R.RCTL_BSIZE_MASK == rctl["BSIZE"].mask
    assert R.RCTL_BSIZE_8192 == 2 << rctl["BSIZE"].shift
    assert R.INT_MASK == sum(f.mask for f in R.BY_NAME["ICR"].fields)
    assert R.MSCA_READ == 2 << R.MSCA_OP_CODE_SHIFT
    assert R.MFS_SHIFT == 16
    assert R.BY_NAME["EECD"].reset == R.EECD_FWE_DIS
    assert R.BY_NAME["CTRL0"].sc == R.CTRL0_RST | R.CTRL0_LRST
    assert R.BY_NAME["CTRL1"].sc == R.CTRL1_EE_RST
    assert R.BY_NAME["MSCA"].sc == R.MSCA_MDI_COMMAND
    with pytest.raises(ValueError, match="declared twice"):
        R.export_fields({"X_A": 1}, "X", (R.Field("A", 0),))


def test_statistics_are_declared_once():
    for stat in R.STATS:
        if stat.width == 64:
            low, high = R.REGISTERS[stat.offset], R.REGISTERS[stat.offset + 4]
            assert (low.name, low.access) == (stat.name + "L", R.RO)
            assert (high.name, high.access, high.alias) == (stat.name + "H", R.RC, stat.offset)
            assert getattr(R, stat.name + "L") == stat.offset
        else:
            assert R.REGISTERS[stat.offset].access == R.RC
            assert getattr(R, stat.name) == stat.offset
    assert R.STAT_FIRST == 0x2000 and R.STAT_END == 0x21DC


def test_driver_statistics_derive_from_the_spec():
    assert STAT_WORDS == [(reg.name.lower(), reg.offset) for reg in R.STAT_REGS]
    keys = {key for key, _off in STAT_WORDS}
    assert {field for _name, where, field in GSTRINGS_STATS if where == "hw"} <= keys


@pytest.mark.parametrize("layout", [D.RX_LAYOUT, D.TX_LAYOUT, D.TX_CTX_LAYOUT],
                         ids=lambda layout: layout.name)
def test_descriptor_construct_agrees_with_struct(layout):
    rng = random.Random(7)
    for _ in range(200):
        raw = bytes(rng.getrandbits(8) for _ in range(D.DESC_SIZE))
        parsed = layout.construct().parse(raw)
        values = layout.struct.unpack(raw)
        assert [parsed[f.name] for f in layout.fields] == list(values)
        assert layout.construct().build(parsed) == raw


def test_descriptor_constants_come_from_the_tables():
    assert D.RX_WB.unpack_from(bytes(range(16)), D.RX_WB_OFFSET) == D.RX_DESC.unpack(
        bytes(range(16)))[1:]
    assert D.TX_STATUS_OFFSET == 12
    assert D.TXD_CMD_EOP == 1 << 24 and D.TXC_CMD_TSE == 1 << 26
    assert D.TXD_TYPE_DATA == 1 << D.TXD_TYPE_SHIFT and D.TXD_TYPE_CONTEXT == 0
    assert D.RXD_SPECIAL_VLAN_MASK == 0xFFF and D.RXD_SPECIAL_PRI_SHIFT == 13


def test_ring_dump_decodes_descriptors():
    raw = D.TX_DESC.pack(0x1000, 60 | D.TXD_TYPE_DATA | D.TXD_CMD_EOP | D.TXD_CMD_RS,
                         D.TXD_STAT_DD, D.TXD_POPTS_TXSM, 0)
    assert D.describe_tx(raw) == "data addr=0x1000 len=60 cmd=EOP|RS popts=0x2 vlan=0 sta=DD"
    raw = D.RX_DESC.pack(0x2000, 64, 0, D.RXD_STAT_DD | D.RXD_STAT_EOP | D.RXD_STAT_VP, 0,
                         (5 << 13) | 42)
    assert D.describe_rx(raw) == "addr=0x2000 len=64 sta=DD|EOP|VP err=- vlan=42 pri=5"


# -- access kinds, applied by the device -------------------------------------------------
def test_w1s_ims_sets_only_the_ones_and_raises_the_line():
    rig = make_rig()
    rig.rd(R.ICR)
    rig.wr(R.ICS, R.INT_LSC)
    assert not rig.slot.pci.irq_level
    rig.wr(R.IMS, R.INT_RXT0)
    rig.wr(R.IMS, R.INT_LSC)  # a zero bit leaves RXT0 set
    assert rig.rd(R.IMS) == R.INT_RXT0 | R.INT_LSC
    assert rig.slot.pci.irq_level


def test_w1s_ims_setting_undefined_bits_is_a_fault():
    rig = make_rig(strict=True)
    with pytest.raises(DeviceFaultError, match="read-only bits"):
        rig.wr(R.IMS, 0xFFFFFFFF)


def test_w1s_alias_ics_sets_icr_and_reads_zero():
    rig = make_rig()
    rig.rd(R.ICR)
    rig.wr(R.ICS, 0xFFFFFFFF)  # no fault: ICS is an alias; undefined causes are dropped
    assert rig.nic.peek(R.ICR) == R.INT_MASK
    assert rig.rd(R.ICS) == 0
    assert not rig.faults.faults


def test_w1c_alias_imc_clears_ims_and_drops_the_line():
    rig = make_rig()
    rig.rd(R.ICR)
    rig.wr(R.IMS, R.INT_RXT0 | R.INT_TXDW)
    rig.wr(R.ICS, R.INT_TXDW)
    assert rig.slot.pci.irq_level
    rig.wr(R.IMC, R.INT_RXT0)
    assert rig.rd(R.IMS) == R.INT_TXDW and rig.slot.pci.irq_level
    rig.wr(R.IMC, R.INT_TXDW)
    assert rig.rd(R.IMS) == 0 and not rig.slot.pci.irq_level
    assert rig.rd(R.IMC) == 0


def test_rc_w1c_icr_read_clears_and_write_clears_ones():
    rig = make_rig()
    rig.rd(R.ICR)
    rig.wr(R.IMS, R.INT_MASK)
    rig.wr(R.ICS, R.INT_TXDW | R.INT_RXT0)
    rig.wr(R.ICR, R.INT_TXDW)  # write-1-to-clear
    assert rig.nic.peek(R.ICR) == R.INT_RXT0 and rig.slot.pci.irq_level
    assert rig.rd(R.ICR) == R.INT_RXT0  # read-to-clear
    assert rig.nic.peek(R.ICR) == 0 and not rig.slot.pci.irq_level
    assert not rig.faults.faults


def test_rc_statistics_pair_clears_on_the_high_half_and_writes_fault():
    rig = make_rig()
    rig.nic.stat_add64(R.GPRCL, (3 << 32) | 5)
    rig.nic.stat_add(R.RNBC, 7)
    assert rig.rd(R.GPRCL) == 5  # the low half alone clears nothing
    assert rig.rd(R.GPRCH) == 3
    assert rig.nic.peek(R.GPRCL) == 0 and rig.nic.peek(R.GPRCH) == 0
    assert rig.rd(R.RNBC) == 7 and rig.rd(R.RNBC) == 0
    rig.wr(R.RNBC, 1)
    rig.wr(R.GPRCL, 1)
    assert [f.register for f in rig.faults.faults] == ["RNBC", "GPRCL"]


def test_sc_bits_act_and_read_back_zero():
    rig = make_rig()
    rig.wr(R.CTRL0, R.CTRL0_LRST | R.CTRL0_JFE)
    assert rig.rd(R.CTRL0) == R.CTRL0_JFE  # LRST self-cleared, JFE stored
    rig.wr(R.RAL(0), 0)
    rig.wr(R.CTRL1, R.CTRL1_EE_RST | R.CTRL1_SDP4)
    assert rig.rd(R.CTRL1) == R.CTRL1_SDP4
    assert rig.rd(R.RAL(0)) != 0  # EE_RST reloaded RAR0 from the EEPROM
    rig.wr(R.MSCA, R.MSCA_MDI_COMMAND | R.MSCA_READ | (1 << R.MSCA_DEV_TYPE_SHIFT))
    assert rig.rd(R.MSCA) & R.MSCA_MDI_COMMAND == 0  # the command completed at once
    assert rig.rd(R.MSCA) & R.MSCA_OP_CODE_MASK == R.MSCA_READ


def test_partial_register_is_stored_and_logged_once():
    rig = make_rig(strict=True)  # a note is not a fault: strict mode does not raise
    rig.wr(R.TXDCTL, 0x10)
    rig.wr(R.TXDCTL, 0x20)
    rig.wr(R.RXDCTL, 0x5)  # (PAP was used here until flow control was modelled)
    assert rig.rd(R.TXDCTL) == 0x20
    assert rig.rd(R.RXDCTL) == 0x5
    notes = rig.faults.notes
    assert [(n.register, n.value) for n in notes] == [("TXDCTL", 0x10), ("RXDCTL", 0x5)]
    assert "not modelled" in notes[0].message
    assert not rig.faults.faults
    with pytest.raises(DeviceFaultError, match="read-only bits"):
        rig.wr(R.TXDCTL, 0xFFFFFFFF)  # still masked like RW
