"""The 93C46-style Microwire EEPROM behind EECD (64 x 16-bit words, 6 address bits).

Bit-banged by the driver through EECD.SK/CS/DI, answering on EECD.DO; QEMU's e1000 models the
same state machine.  The driver's sequences are in docs/hardware.md §1.4: a READ is the 3-bit
opcode 110 then 6 address bits, after which each rising SK edge presents the next data bit
(MSB first, no dummy bit, consecutive words on further clocks); WRITE/ERASE need a prior EWEN;
DO reads 1 ("ready") whenever no read is shifting out, so a write completes at once.
Sizes and opcodes are :mod:`device.spec.eeprom`'s.
"""

from __future__ import annotations

from device.spec.eeprom import (
    EEPROM_ADDR_BITS,
    EEPROM_ERAL_OPCODE,
    EEPROM_ERASE_OPCODE,
    EEPROM_EWDS_OPCODE,
    EEPROM_EWEN_OPCODE,
    EEPROM_EXT_OPCODE,
    EEPROM_OPCODE_BITS,
    EEPROM_READ_OPCODE,
    EEPROM_WORD_BITS,
    EEPROM_WORDS,
    EEPROM_WRITE_OPCODE,
)

# The extended commands (EXT prefix) carry a 2-bit sub-opcode in the first address bits.
_EXT_SUB_MASK = 0b11
_EXT_SUB_SHIFT = EEPROM_ADDR_BITS - 2
_SUB_EWEN = EEPROM_EWEN_OPCODE & _EXT_SUB_MASK  # 11
_SUB_EWDS = EEPROM_EWDS_OPCODE & _EXT_SUB_MASK  # 00
_SUB_ERAL = EEPROM_ERAL_OPCODE & _EXT_SUB_MASK  # 10
_ADDRESSED = EEPROM_OPCODE_BITS + EEPROM_ADDR_BITS  # bits in a command up to its address
_LONGEST = _ADDRESSED + EEPROM_WORD_BITS  # a WRITE: nothing is longer


class Eeprom:
    def __init__(self, words: list[int]) -> None:
        if len(words) != EEPROM_WORDS:
            raise ValueError(f"EEPROM needs {EEPROM_WORDS} words, got {len(words)}")
        self.words = [w & 0xFFFF for w in words]
        self.write_enabled = False
        self.writes = 0
        self._reset_state()

    def _reset_state(self) -> None:
        self.cs = False
        self.sk = False
        self.do = 1
        self._bits = 0
        self._nbits = 0
        self._reading = False
        self._addr = 0
        self._out = 0

    def load(self, words: list[int]) -> None:
        self.words = [w & 0xFFFF for w in words]

    def pins(self, sk: bool, cs: bool, di: bool) -> None:
        """Apply a new level on SK, CS and DI (one EECD write)."""
        if not cs:
            if self.cs:
                self._reset_state()
            self.cs = False
            self.sk = sk
            return
        rising = sk and not self.sk
        self.cs = True
        self.sk = sk
        if not rising:
            return
        if self._reading:
            self.do = (self.words[self._addr] >> (EEPROM_WORD_BITS - 1 - self._out)) & 1
            self._out += 1
            if self._out == EEPROM_WORD_BITS:
                self._out = 0
                self._addr = (self._addr + 1) % EEPROM_WORDS
            return
        if self._nbits == 0 and not di:
            return  # Microwire: wait for the start bit (the opcode's leading 1)
        self._bits = (self._bits << 1) | int(di)
        self._nbits += 1
        self._decode()

    def _decode(self) -> None:
        n, bits = self._nbits, self._bits
        if n < EEPROM_OPCODE_BITS:
            return
        op = bits >> (n - EEPROM_OPCODE_BITS)
        if op == EEPROM_READ_OPCODE and n == _ADDRESSED:
            self._addr = bits & (EEPROM_WORDS - 1)
            self._reading = True
            self._out = 0
        elif op == EEPROM_ERASE_OPCODE and n == _ADDRESSED:
            if self.write_enabled:
                self.words[bits & (EEPROM_WORDS - 1)] = 0xFFFF
                self.writes += 1
            self._done()
        elif op == EEPROM_WRITE_OPCODE and n == _LONGEST:
            if self.write_enabled:
                self.words[(bits >> EEPROM_WORD_BITS) & (EEPROM_WORDS - 1)] = bits & 0xFFFF
                self.writes += 1
            self._done()
        elif op == EEPROM_EXT_OPCODE and n == _ADDRESSED:
            sub = (bits >> _EXT_SUB_SHIFT) & _EXT_SUB_MASK
            if sub == _SUB_EWEN:
                self.write_enabled = True
            elif sub == _SUB_EWDS:
                self.write_enabled = False
            elif sub == _SUB_ERAL and self.write_enabled:
                self.words = [0xFFFF] * EEPROM_WORDS
            self._done()
        elif n >= _LONGEST:
            self._done()  # nothing is longer than a WRITE: a garbled command resets

    def _done(self) -> None:
        self._bits = 0
        self._nbits = 0
        self.do = 1
