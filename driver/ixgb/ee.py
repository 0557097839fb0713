"""The EEPROM seen through EECD: Microwire bit-banging, checksum and the hw->eeprom cache.

Mirrors Linux's ``ixgb_ee.c`` / ``ixgb_ee.h``.  Every word goes through EECD.SK/CS/DI/DO with
the sequences of docs/hardware.md §1.4: setup (SK, DI low, CS high), shift the opcode and address
out MSB first, shift 16 data bits in, standby.  A write runs EWEN, WRITE + address + data,
waits for DO after a standby, then EWDS and cleanup.  The 50 µs waits between clock edges are
accounted (``hw.udelay``), not spent: the model's EEPROM answers at once.

The word indices and opcodes are the datasheet's, from :mod:`device.spec.eeprom` (the driver
reads no firmware module): MAC in words 0..2, PBA in 8..9, init control 1 (signature) in
0x0A, device ID in 0x0D, checksum in 0x3F so that all 64 words sum to 0xBABA.
"""

from __future__ import annotations

from device.spec import regs as R
from device.spec.eeprom import (
    EEPROM_ADDR_BITS,
    EEPROM_CHECKSUM,
    EEPROM_DEVICE_ID,
    EEPROM_EWDS_OPCODE,
    EEPROM_EWEN_OPCODE,
    EEPROM_EXT_DUMMY_BITS,
    EEPROM_EXT_OPCODE_BITS,
    EEPROM_ICW1_SIGNATURE_CLEAR,
    EEPROM_ICW1_SIGNATURE_MASK,
    EEPROM_ICW1_SIGNATURE_VALID,
    EEPROM_INIT_CTRL1,
    EEPROM_MAC,
    EEPROM_OPCODE_BITS,
    EEPROM_PBA,
    EEPROM_PBA_HI,
    EEPROM_READ_OPCODE,
    EEPROM_SUM,
    EEPROM_WORD_BITS,
    EEPROM_WORDS,
    EEPROM_WRITE_OPCODE,
)
from driver.ixgb.adapter import Hw

_SK, _CS, _DI, _DO = R.EECD_SK, R.EECD_CS, R.EECD_DI, R.EECD_DO


def _raise_clock(hw: Hw, eecd: int) -> int:
    eecd |= _SK
    hw.write32(R.EECD, eecd)
    hw.write_flush()
    hw.udelay(50)
    return eecd


def _lower_clock(hw: Hw, eecd: int) -> int:
    eecd &= ~_SK
    hw.write32(R.EECD, eecd)
    hw.write_flush()
    hw.udelay(50)
    return eecd


def shift_out_bits(hw: Hw, data: int, count: int) -> None:
    """Clock ``count`` bits of ``data`` into the EEPROM, MSB first, on DI."""
    mask = 1 << (count - 1)
    eecd = hw.read32(R.EECD) & ~(_DO | _DI)
    while mask:
        eecd &= ~_DI
        if data & mask:
            eecd |= _DI
        hw.write32(R.EECD, eecd)
        hw.write_flush()
        hw.udelay(50)
        eecd = _raise_clock(hw, eecd)
        eecd = _lower_clock(hw, eecd)
        mask >>= 1
    # DI is left at 0.
    hw.write32(R.EECD, eecd & ~_DI)


def shift_in_bits(hw: Hw) -> int:
    """Clock a word (16 bits) out of the EEPROM (raise SK, sample DO, lower SK), MSB first."""
    eecd = hw.read32(R.EECD) & ~(_DO | _DI)
    data = 0
    for _ in range(EEPROM_WORD_BITS):
        data <<= 1
        eecd = _raise_clock(hw, eecd)
        eecd = hw.read32(R.EECD) & ~_DI
        if eecd & _DO:
            data |= 1
        eecd = _lower_clock(hw, eecd)
    return data


def setup_eeprom(hw: Hw) -> None:
    """Lower SK and DI, then raise CS: ready for a command."""
    eecd = hw.read32(R.EECD) & ~(_SK | _DI)
    hw.write32(R.EECD, eecd)
    hw.write32(R.EECD, eecd | _CS)


def standby_eeprom(hw: Hw) -> None:
    """Deselect, clock high, select, clock low (50 µs each): between two commands."""
    deselected = hw.read32(R.EECD) & ~(_CS | _SK)
    clock_high = deselected | _SK
    selected = clock_high | _CS
    clock_low = selected & ~_SK
    for eecd in (deselected, clock_high, selected, clock_low):
        hw.write32(R.EECD, eecd)
        hw.write_flush()
        hw.udelay(50)


def clock_eeprom(hw: Hw) -> None:
    eecd = hw.read32(R.EECD)
    _lower_clock(hw, _raise_clock(hw, eecd))


def cleanup_eeprom(hw: Hw) -> None:
    """End a command: CS and DI low, then one clock."""
    eecd = hw.read32(R.EECD) & ~(_CS | _DI)
    hw.write32(R.EECD, eecd)
    clock_eeprom(hw)


def wait_eeprom_command(hw: Hw) -> bool:
    """Toggle CS so the EEPROM runs the command, then wait (200 × 50 µs) for DO high."""
    standby_eeprom(hw)
    for _ in range(200):
        if hw.read32(R.EECD) & _DO:
            return True
        hw.udelay(50)
    return False


def read_eeprom(hw: Hw, offset: int) -> int:
    """One word: READ opcode, 6 address bits, 16 data bits in, standby."""
    setup_eeprom(hw)
    shift_out_bits(hw, EEPROM_READ_OPCODE, EEPROM_OPCODE_BITS)
    shift_out_bits(hw, offset, EEPROM_ADDR_BITS)
    data = shift_in_bits(hw)
    standby_eeprom(hw)
    return data


def write_eeprom(hw: Hw, offset: int, data: int) -> bool:
    """One word: EWEN, WRITE + address + data, wait for DO, EWDS.  Invalidates the cache.

    The caller must update the checksum afterwards (``update_eeprom_checksum``), or the next
    probe refuses the image.  Returns False when the EEPROM never signalled completion.
    """
    setup_eeprom(hw)
    shift_out_bits(hw, EEPROM_EWEN_OPCODE, EEPROM_EXT_OPCODE_BITS)
    shift_out_bits(hw, 0, EEPROM_EXT_DUMMY_BITS)
    standby_eeprom(hw)
    shift_out_bits(hw, EEPROM_WRITE_OPCODE, EEPROM_OPCODE_BITS)
    shift_out_bits(hw, offset, EEPROM_ADDR_BITS)
    shift_out_bits(hw, data & 0xFFFF, EEPROM_WORD_BITS)
    done = wait_eeprom_command(hw)
    standby_eeprom(hw)
    shift_out_bits(hw, EEPROM_EWDS_OPCODE, EEPROM_EXT_OPCODE_BITS)
    shift_out_bits(hw, 0, EEPROM_EXT_DUMMY_BITS)
    cleanup_eeprom(hw)
    hw.eeprom[EEPROM_INIT_CTRL1] = EEPROM_ICW1_SIGNATURE_CLEAR
    return done


def validate_eeprom_checksum(hw: Hw) -> bool:
    """Sum all 64 words straight from the part; good when the sum is 0xBABA."""
    checksum = 0
    for i in range(EEPROM_CHECKSUM + 1):
        checksum += read_eeprom(hw, i)
    return checksum & 0xFFFF == EEPROM_SUM


def update_eeprom_checksum(hw: Hw) -> None:
    """Write word 0x3F so that the 64 words sum to 0xBABA again."""
    checksum = 0
    for i in range(EEPROM_CHECKSUM):
        checksum += read_eeprom(hw, i)
    write_eeprom(hw, EEPROM_CHECKSUM, (EEPROM_SUM - checksum) & 0xFFFF)


def signature_valid(hw: Hw) -> bool:
    return hw.eeprom[EEPROM_INIT_CTRL1] & EEPROM_ICW1_SIGNATURE_MASK == EEPROM_ICW1_SIGNATURE_VALID


def get_eeprom_data(hw: Hw) -> bool:
    """Read all 64 words into ``hw.eeprom``; check the checksum, then the signature."""
    checksum = 0
    for i in range(EEPROM_WORDS):
        word = read_eeprom(hw, i)
        checksum += word
        hw.eeprom[i] = word
    if checksum & 0xFFFF != EEPROM_SUM:
        hw.eeprom[EEPROM_INIT_CTRL1] = EEPROM_ICW1_SIGNATURE_CLEAR  # cache invalid
        return False
    return signature_valid(hw)


def check_and_get_eeprom_data(hw: Hw) -> bool:
    """The cache is trusted while its signature is valid; otherwise re-read everything."""
    return signature_valid(hw) or get_eeprom_data(hw)


def get_eeprom_word(hw: Hw, index: int) -> int:
    if index < EEPROM_WORDS and check_and_get_eeprom_data(hw):
        return hw.eeprom[index]
    return 0


def get_ee_mac_addr(hw: Hw) -> bytes:
    """Words 0..2 as the 6 MAC bytes; all zero when the EEPROM data is not valid."""
    if not check_and_get_eeprom_data(hw):
        return bytes(6)
    w = hw.eeprom[EEPROM_MAC : EEPROM_MAC + 3]
    return bytes((w[0] & 0xFF, w[0] >> 8, w[1] & 0xFF, w[1] >> 8, w[2] & 0xFF, w[2] >> 8))


def get_ee_pba_number(hw: Hw) -> int:
    if check_and_get_eeprom_data(hw):
        return hw.eeprom[EEPROM_PBA] | (hw.eeprom[EEPROM_PBA_HI] << 16)
    return 0


def get_ee_device_id(hw: Hw) -> int:
    if check_and_get_eeprom_data(hw):
        return hw.eeprom[EEPROM_DEVICE_ID]
    return 0
