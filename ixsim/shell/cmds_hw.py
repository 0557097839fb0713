"""Shell commands over the hardware: regs, read, write, ring, mem, dma, eeprom, stats, faults.

``regs``, ``ring``, ``mem``, ``dma`` and ``eeprom`` only look (peek, CPU reads of guest RAM);
``read`` and ``write`` are real MMIO accesses with every side effect a driver's would have,
and say so.  Views are in :mod:`ixsim.shell.hwview`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from device.spec import regs as R
from ixsim.shell import hwview as V
from ixsim.shell.errors import ShellError
from ixsim.shell.rings import ring
from ixsim.shell.target import parse_int, register, registers, resolve_host, resolve_nic

_LOW_HALVES = {reg.offset for reg in R.STAT_REGS if reg.access == R.RO}
_CLEARS = {reg.offset for reg in R.STAT_REGS if reg.access == R.RC}
MAX_FAULT_LINES = 10


class HardwareCommands:
    """Mixin for :class:`ixsim.shell.shell.Shell` (uses its ``world``, ``session``, ``say``)."""

    world: Any
    session: Any

    if TYPE_CHECKING:
        def say(self, text: str = "") -> None: ...
        def says(self, lines: Any) -> None: ...
        def args(self, arg: str) -> list[str]: ...
        def need(self, words: list[str], lo: int, hi: int | None, usage: str) -> None: ...
        def report_hits(self, context: str) -> None: ...

    _faults_seen = 0

    def show_new_faults(self, limit: int = MAX_FAULT_LINES) -> None:
        """Print the device faults recorded since the last time this was called."""
        faults = self.world.faults
        new = faults[min(self._faults_seen, len(faults)):]
        for fault in new[:limit]:
            self.say(f"FAULT {fault}")
        if len(new) > limit:
            self.say(f"... and {len(new) - limit} more device faults ('faults' lists them)")
        self._faults_seen = len(faults)

    def do_regs(self, arg: str) -> None:
        """Show registers decoded, without side effects (a peek never clears ICR or counters).

        usage: regs HOST[:IFACE] [NAME...]
          without names: every register in ethtool -d order, one line each;
          with names (or globs such as 'RAL*', or offsets such as 0x620): each bit field.
        example: regs a STATUS ICR TDT
        """
        words = self.args(arg)
        self.need(words, 1, None, "regs HOST[:IFACE] [NAME...]")
        ref = resolve_nic(self.world, words[0])
        if len(words) == 1:
            self.says(V.regs_dump_lines(ref))
        else:
            self.says(V.regs_detail_lines(ref, registers(words[1:])))

    def do_read(self, arg: str) -> None:
        """Read a register through MMIO, as the driver would: side effects happen.

        usage: read HOST[:IFACE] REG
          reading ICR clears it (and drops the interrupt line); reading a statistics
          register clears the counter (a 64-bit pair when its high half is read).
          Use 'regs' to look without touching.
        example: read a ICR
        """
        words = self.args(arg)
        self.need(words, 2, 2, "read HOST[:IFACE] REG")
        ref = resolve_nic(self.world, words[0])
        reg = register(words[1])
        with self.session.shell_access():
            value = ref.pci.mmio_read(reg.offset)
        if reg.offset == R.ICR:
            effect = ("ICR is now clear (read-to-clear) and the interrupt line dropped"
                      if value else "ICR was clear; reading it drops the interrupt line")
        elif reg.offset in _CLEARS:
            effect = "the counter is now clear (clear-on-read)"
        elif reg.offset in _LOW_HALVES:
            effect = "low half: no side effect (the pair clears when its high half is read)"
        elif R.reads_zero(reg):
            effect = "write-only register: reads return 0"
        else:
            effect = "no side effect for this register"
        bits = f" [{R.describe_bits(reg, value)}]" if reg.fields else ""
        self.say(f"{ref.label} {reg.name} -> 0x{value:08x}{bits}  (real MMIO read: {effect})")
        self.show_new_faults()
        self.report_hits("read")

    def do_write(self, arg: str) -> None:
        """Write a register through MMIO, as the driver would: side effects happen.

        usage: write HOST[:IFACE] REG VALUE
          a TDT write starts transmission (the descriptor fetch is the next device
          event), an ICS write raises interrupt causes, CTRL0.RST resets the NIC.
          Rule breaks (read-only bits, TDT beyond the ring...) are device faults.
        example: write a ICS 0x1
        """
        words = self.args(arg)
        self.need(words, 3, 3, "write HOST[:IFACE] REG VALUE")
        ref = resolve_nic(self.world, words[0])
        reg = register(words[1])
        value = parse_int(words[2], "value", 0, 0xFFFF_FFFF)
        old = ref.nic.peek(reg.offset)
        with self.session.shell_access():
            ref.pci.mmio_write(reg.offset, value)
        new = ref.nic.peek(reg.offset)
        bits = f" [{R.describe_bits(reg, new)}]" if reg.fields else ""
        self.say(f"{ref.label} {reg.name} <- 0x{value:08x} (real MMIO write; was "
                 f"0x{old:08x}, now 0x{new:08x}{bits})")
        self.show_new_faults()
        self.report_hits("write")

    def do_ring(self, arg: str) -> None:
        """Dump a descriptor ring: decoded slots, HEAD/TAIL, NTU/NTC and who owns each slot.

        usage: ring HOST[:IFACE] tx|rx [FROM[:TO]]
          HEAD/TAIL are the device's TDH/TDT (RDH/RDT); NTU/NTC the driver's
          next_to_use/next_to_clean; HW owns [HEAD, TAIL), SW the rest.  Without a range
          runs of 4+ quiet slots (no marker, no DD) fold into one line; FROM alone shows
          16 slots from FROM.
        example: ring a tx 0:7
        """
        words = self.args(arg)
        self.need(words, 2, 3, "ring HOST[:IFACE] tx|rx [FROM[:TO]]")
        ref = resolve_nic(self.world, words[0])
        kind = words[1].lower()
        if kind not in ("tx", "rx"):
            raise ShellError(f"bad ring {words[1]!r}: tx or rx")
        lo = hi = None
        if len(words) == 3:
            first, sep, last = words[2].partition(":")
            lo = parse_int(first, "slot", 0)
            hi = parse_int(last, "slot", 0) if sep else None
            if hi is None:
                count = ring(ref.nic, kind).count
                hi = min(lo + 15, max(count - 1, 0))
        self.says(V.ring_lines(V.ring_data(ref, kind, lo, hi), collapse=lo is None))

    def do_mem(self, arg: str) -> None:
        """Hexdump guest memory (a CPU read: no DMA check, no side effect).

        usage: mem HOST ADDR [LEN]      (LEN defaults to 64, at most 4096)
        example: mem a 0x100000 32
        """
        words = self.args(arg)
        self.need(words, 2, 3, "mem HOST ADDR [LEN]")
        host = resolve_host(self.world, words[0])
        addr = parse_int(words[1], "address", 0)
        length = parse_int(words[2], "length", 1, V.MEM_MAX) if len(words) == 3 else 64
        self.says(V.mem_lines(host, addr, length))

    def do_dma(self, arg: str) -> None:
        """List the host's live DMA mappings (the IOMMU view) with direction and size.

        usage: dma HOST [all]
          runs of same-sized driver buffers fold into one line unless 'all' is given.
        example: dma a
        """
        words = self.args(arg)
        self.need(words, 1, 2, "dma HOST [all]")
        if len(words) == 2 and words[1] != "all":
            raise ShellError(f"bad option {words[1]!r}: only 'all'")
        self.says(V.dma_lines(resolve_host(self.world, words[0]), full=len(words) == 2))

    def do_eeprom(self, arg: str) -> None:
        """Decode the NIC's EEPROM with the firmware image's symbols, and check its checksum.

        usage: eeprom HOST[:IFACE]
        example: eeprom b
        """
        words = self.args(arg)
        self.need(words, 1, 1, "eeprom HOST[:IFACE]")
        self.says(V.eeprom_lines(resolve_nic(self.world, words[0])))

    def do_stats(self, arg: str) -> None:
        """Show the driver's ethtool statistics (names and values from get_ethtool_stats).

        usage: stats HOST[:IFACE]
          the driver reads and accumulates the clear-on-read counters, as ethtool -S
          does; 'regs HOST GPRC' peeks a counter without clearing it.
        example: stats b
        """
        words = self.args(arg)
        self.need(words, 1, 1, "stats HOST[:IFACE]")
        self.says(V.stats_lines(resolve_nic(self.world, words[0])))

    def do_faults(self, arg: str) -> None:
        """List every device fault of the world with its time, or forget them.

        usage: faults [clear]
        example: faults
        """
        words = self.args(arg)
        self.need(words, 0, 1, "faults [clear]")
        if words:
            if words[0] != "clear":
                raise ShellError(f"bad option {words[0]!r}: only 'clear'")
            for host in self.world.hosts.values():
                host.machine.faults.clear()
            self._faults_seen = 0
            self.say("device faults cleared")
            return
        self.says(V.fault_lines(self.world))
        self._faults_seen = len(self.world.faults)
