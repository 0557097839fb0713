"""The 93C46-style Microwire EEPROM behind EECD (64 x 16-bit words, 6 address bits).

Bit-banged by the driver through EECD.SK/CS/DI, answering on EECD.DO; QEMU's e1000 models the
same state machine.  The driver's sequences are in spec/ixgb.md §1.4: a READ is the 3-bit
opcode 110 then 6 address bits, after which each rising SK edge presents the next data bit
(MSB first, no dummy bit, consecutive words on further clocks); WRITE/ERASE need a prior EWEN;
DO reads 1 ("ready") whenever no read is shifting out, so a write completes at once.
"""

from __future__ import annotations

EEPROM_WORDS = 64
ADDR_BITS = 6
OP_READ = 0b110
OP_WRITE = 0b101
OP_ERASE = 0b111
OP_EXT = 0b100  # followed by 2 bits: 11 EWEN, 00 EWDS, 01 WRAL, 10 ERAL


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
            self.do = (self.words[self._addr] >> (15 - self._out)) & 1
            self._out += 1
            if self._out == 16:
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
        if n < 3:
            return
        op = bits >> (n - 3)
        if op == OP_READ and n == 3 + ADDR_BITS:
            self._addr = bits & (EEPROM_WORDS - 1)
            self._reading = True
            self._out = 0
        elif op == OP_ERASE and n == 3 + ADDR_BITS:
            if self.write_enabled:
                self.words[bits & (EEPROM_WORDS - 1)] = 0xFFFF
                self.writes += 1
            self._done()
        elif op == OP_WRITE and n == 3 + ADDR_BITS + 16:
            if self.write_enabled:
                self.words[(bits >> 16) & (EEPROM_WORDS - 1)] = bits & 0xFFFF
                self.writes += 1
            self._done()
        elif op == OP_EXT and n == 3 + ADDR_BITS:
            sub = (bits >> 4) & 0b11
            if sub == 0b11:
                self.write_enabled = True
            elif sub == 0b00:
                self.write_enabled = False
            elif sub == 0b10 and self.write_enabled:  # ERAL
                self.words = [0xFFFF] * EEPROM_WORDS
            self._done()
        elif n >= 3 + ADDR_BITS + 16:
            self._done()  # nothing is longer than a WRITE: a garbled command resets

    def _done(self) -> None:
        self._bits = 0
        self._nbits = 0
        self.do = 1
