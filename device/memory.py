"""Guest physical memory, its allocator, and the IOMMU-like map of what a driver mapped.

One region per host (QEMU's ``MemoryRegion`` for RAM) backed by an anonymous ``mmap`` so
untouched pages cost nothing.  The kernel side allocates from it (``alloc``/``free``: a
size-class allocator like SLUB over a page bump allocator) and maps buffers for DMA
(``DmaMap.map``/``unmap`` with a direction, as ``dma_map_single`` does).  The device side may
only reach memory through a live mapping with the right direction: anything else is a device
fault naming the address, which is how use-after-unmap and "forgot to map" bugs show up.
DMA addresses are identical to guest physical addresses (an identity IOMMU that still checks).
Directions are ``device.spec.bus``'s ``DMA_*`` bits.

The map only holds ranges inside guest RAM: ``DmaMap.map`` of anything else returns
``DMA_MAPPING_ERROR`` (Linux's ``dma_map_single`` failing, which ``dma_mapping_error()``
reports) and maps nothing.  So every range the device may reach lies in RAM, and a bus
address is never turned into a RAM offset that wraps or runs off the end.

Lookups are exact for any nesting or overlap of mappings: a range is allowed when one live
mapping with the right direction contains it (issue 19 item 7: a fixed look-back refused DMA
into mappings larger than it).
"""

from __future__ import annotations

import mmap
from bisect import bisect_right, insort
from collections.abc import Callable

from device.spec.bus import DMA_MAPPING_ERROR

PAGE_SIZE = 4096

_NO_HIT = (0, -1, 0)  # an empty range: matches nothing
_STALE_SLACK = 256  # stale starts DmaMap tolerates beyond twice the live ones
_MIN_CLASS = 64
_MAX_CLASS = 1 << 17  # 128 KiB; larger requests take whole pages


class OutOfGuestMemory(MemoryError):
    pass


class GuestMemory:
    """Guest RAM with a deterministic allocator (same calls -> same addresses)."""

    def __init__(self, size: int = 64 << 20, base: int = 0x10_0000) -> None:
        if size % PAGE_SIZE:
            raise ValueError("guest memory size must be a multiple of the page size")
        self.size = size
        self.base = base  # address 0 and the first MiB are never handed out: 0 is a bug
        self._ram = mmap.mmap(-1, size)
        self.view = memoryview(self._ram)
        self._brk = base
        self._free_by_class: dict[int, list[int]] = {}
        self._free_pages: dict[int, list[int]] = {}
        self._live: dict[int, int] = {}  # addr -> size class (or page-rounded size)
        self.allocs = 0
        self.frees = 0

    # -- allocation ---------------------------------------------------------------------
    @staticmethod
    def _class_of(size: int) -> int:
        if size <= _MIN_CLASS:
            return _MIN_CLASS
        if size <= _MAX_CLASS:
            return 1 << (size - 1).bit_length()
        return (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)

    def alloc(self, size: int) -> int:
        """Allocate ``size`` bytes; the address is aligned to min(size class, page)."""
        if size <= 0:
            raise ValueError(f"allocation of {size} bytes")
        # _class_of(size), inline for the per-packet sizes (a TX bounce chunk per frame).
        if size <= _MIN_CLASS:
            cls = _MIN_CLASS
            table = self._free_by_class
        elif size <= _MAX_CLASS:
            cls = 1 << (size - 1).bit_length()
            table = self._free_by_class
        else:
            cls = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
            table = self._free_pages
        free = table[cls] if cls in table else None
        if free:
            addr = free.pop()
        else:
            align = min(cls, PAGE_SIZE)
            addr = (self._brk + align - 1) & ~(align - 1)
            if addr + cls > self.base + self.size:
                raise OutOfGuestMemory(f"guest memory exhausted allocating {size} bytes")
            self._brk = addr + cls
        self._live[addr] = cls
        self.allocs += 1
        return addr

    def free(self, addr: int) -> None:
        live = self._live
        if addr not in live:
            raise ValueError(f"free of 0x{addr:x}, which is not a live allocation")
        cls = live[addr]
        del live[addr]
        table = self._free_by_class if cls <= _MAX_CLASS else self._free_pages
        if cls in table:
            table[cls].append(addr)
        else:
            table[cls] = [addr]
        self.frees += 1

    @property
    def live_allocations(self) -> int:
        return len(self._live)

    def allocation_size(self, addr: int) -> int | None:
        return self._live.get(addr)

    # -- access (CPU side: no checks beyond bounds) --------------------------------------
    def in_ram(self, addr: int, length: int) -> bool:
        return self.base <= addr and addr + length <= self.base + self.size and length >= 0

    def slice(self, addr: int, length: int) -> memoryview:
        off = addr - self.base
        return self.view[off : off + length]

    def read(self, addr: int, length: int) -> bytes:
        off = addr - self.base
        return self._ram[off : off + length]

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        off = addr - self.base
        self._ram[off : off + len(data)] = data

    def close(self) -> None:
        self.view.release()
        self._ram.close()


class DmaMap:
    """The IOMMU view: which guest ranges are mapped for DMA, and in which direction."""

    def __init__(self, lo: int, hi: int) -> None:
        # The bus addresses that exist (guest RAM, [lo, hi)): a mapping outside is refused,
        # which is what keeps every device access that allows() passes inside RAM.
        self.lo = lo
        self.hi = hi
        # Every start address a mapping has had, sorted, for the range search; an address is
        # not taken out when its last mapping goes (the search skips starts no longer in
        # _maps) so a buffer address mapped again costs no insort and its unmap no bisect.
        # Rebuilt from _maps when the stale ones outnumber the live (_compact).
        self._starts: list[int] = []
        self._listed: set[int] = set()  # the members of _starts
        # start -> [[end, dir, refs], ...]; read directly by PciFunction.dma_view/dma_store
        # for the exact-start case (a buffer mapped for this transfer).
        self.maps: dict[int, list[list[int]]] = {}
        self._maps = self.maps
        # The last mapping a range lookup found, (start, end, dir): rings and coherent
        # blocks are hit again and again at other offsets.  Valid while that mapping lives;
        # unmap() forgets it when the mapping goes.
        self.hit: tuple[int, int, int] = _NO_HIT  # read by PciFunction.dma_view/dma_store
        # The longest mapping ever made: a range lookup looks back no further than a mapping
        # that long could reach, which keeps it exact.  A high-water mark (one comparison per
        # map, nothing per unmap); it only lengthens the search of a refused access.
        self._longest = 0
        self.live = 0
        self.maps_total = 0
        self.unmaps_total = 0
        self.map_errors = 0

    # map, unmap and allows run for every buffer of every packet: dict membership tests
    # instead of dict.get, no len(), so a call costs one bisect/insort at most.
    def map(self, addr: int, length: int, direction: int) -> int:
        """Map [addr, addr+length) for ``direction``; the bus address, or
        ``DMA_MAPPING_ERROR`` (nothing mapped) for a range outside guest RAM."""
        end = addr + length
        if addr < self.lo or end > self.hi or length < 0:
            self.map_errors += 1
            return DMA_MAPPING_ERROR
        maps = self._maps
        if addr not in maps:
            if addr not in self._listed:
                if len(self._starts) > (len(maps) << 1) + _STALE_SLACK:
                    self._compact()
                self._listed.add(addr)
                insort(self._starts, addr)
            maps[addr] = [[end, direction, 1]]
        else:
            entries = maps[addr]
            for entry in entries:
                if entry[0] == end and entry[1] == direction:
                    entry[2] += 1
                    break
            else:
                entries.append([end, direction, 1])
        if length > self._longest:
            self._longest = length
        self.live += 1
        self.maps_total += 1
        return addr

    def unmap(self, addr: int, length: int, direction: int) -> bool:
        """Drop one mapping; False when no such mapping exists (a driver bug)."""
        return self.unmap_or_report(None, addr, length, direction)

    def unmap_or_report(
        self,
        report: Callable[[int, int], None] | None,
        dma_addr: int,
        length: int,
        direction: int,
    ) -> bool:
        """:meth:`unmap`, calling ``report(dma_addr, length)`` first when it fails.

        ``PciDev.dma_unmap_single`` is this method with the function's fault reporter bound
        (``functools.partial``): the DMA API's signature, and no wrapper call per buffer.
        """
        addr = dma_addr
        maps = self._maps
        if addr not in maps:
            if report is not None:
                report(addr, length)
            return False
        entries = maps[addr]
        end = addr + length
        entry = entries[0]
        if entry[0] == end and entry[1] == direction:
            # The common case: one buffer mapped once at this address.
            if entry[2] == 1:
                if self.hit[0] == addr:
                    self.hit = _NO_HIT
                del entries[0]
                if not entries:
                    del maps[addr]  # its start stays listed (see __init__)
            else:
                entry[2] -= 1
            self.live -= 1
            self.unmaps_total += 1
            return True
        i = 0
        for entry in entries:
            if entry[0] == end and entry[1] == direction:
                entry[2] -= 1
                if entry[2] == 0:
                    if self.hit[0] == addr:
                        self.hit = _NO_HIT
                    if len(entries) == 1:
                        del self._maps[addr]
                    else:
                        del entries[i]
                self.live -= 1
                self.unmaps_total += 1
                return True
            i += 1
        if report is not None:
            report(addr, length)
        return False

    def allows(self, addr: int, length: int, need: int) -> bool:
        """True when [addr, addr+length) lies inside one live mapping allowing ``need`` (every
        direction bit of it: 3 asks for a mapping the device may both read and write).

        Checked in order of cost: the mapping the last range lookup found (a ring), a mapping
        starting exactly at ``addr`` (a buffer mapped for this transfer), then a search back
        from ``addr`` over the starts a live mapping could reach ``end`` from (no further back
        than the longest mapping made): exact for nested and overlapping mappings.
        """
        end = addr + length
        lo, hi, direction = self.hit
        if lo <= addr and end <= hi and direction & need == need:
            return True
        maps = self._maps
        if addr in maps:
            for entry in maps[addr]:
                if entry[0] >= end and entry[1] & need == need:
                    return True
        starts = self._starts
        i = bisect_right(starts, addr) - 1
        reach = end - self._longest  # a mapping starting before this cannot contain the range
        while i >= 0:
            start = starts[i]
            if start < reach:
                break
            i -= 1
            if start not in maps:
                continue  # a stale start: nothing is mapped there now
            for entry in maps[start]:
                if entry[0] >= end and entry[1] & need == need:
                    self.hit = (start, entry[0], entry[1])
                    return True
        return False

    def _compact(self) -> None:
        """Forget the stale starts: the range search's list becomes the live starts."""
        self._starts = sorted(self._maps)
        self._listed = set(self._starts)

    def mappings(self) -> list[tuple[int, int, int, int]]:
        """(start, length, direction, refs) for the debugger's ``dma`` listing."""
        out = []
        for start in self._starts:
            if start not in self._maps:
                continue
            for end, direction, refs in self._maps[start]:
                out.append((start, end - start, direction, refs))
        return out
