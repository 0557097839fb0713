"""Bounds-check an ELF file's headers before pyelftools reads it.

pyelftools believes the headers: a NOBITS section's ``data()`` is ``sh_size`` zero bytes (1 GiB
for ``sh_size`` 1 GiB), a compressed one inflates to the size its header claims, and a
section count or entry size of the attacker's choosing sets how long its loops run.  The
loader calls :func:`check_headers` on the file's bytes first, so every size pyelftools will
use is known to lie inside the file (as the kernel's ``elf_read`` bounds checks in
``fs/binfmt_elf.c`` do for program headers) and a bad one is one line.

The names pyelftools reads (sections, symbols) are C strings it reads until their NUL; each
must end within ``MAX_NAME`` bytes, so the name maps it builds stay small too.

Contract: ``check_headers(raw, max_section)`` returns the section headers and names or raises
``ValueError`` whose message is one line; it allocates nothing in proportion to any header
field, only to the number of section headers that fit in the file.
"""

from __future__ import annotations

import struct

ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
SHT_SYMTAB, SHT_NOBITS, SHT_DYNSYM = 2, 8, 11
SHF_COMPRESSED = 0x800
SHN_XINDEX = 0xFFFF
MAX_NAME = 256  # bytes in a section or symbol name, its NUL included

# Per class: (Elf_Ehdr fields from e_shoff on, its offset, Ehdr size, Shdr, Shdr size, Sym size)
_EHDR_TAIL = {ELFCLASS32: ("IIHHHHHH", 32, 52), ELFCLASS64: ("QIHHHHHH", 40, 64)}
_SHDR = {ELFCLASS32: ("IIIIIIIIII", 40), ELFCLASS64: ("IIQQQQIIQQ", 64)}
_SYM_SIZE = {ELFCLASS32: 16, ELFCLASS64: 24}


class Shdr(tuple[int, ...]):
    """One section header, in Elf_Shdr's field order (the same for both classes)."""

    __slots__ = ()
    name = property(lambda self: self[0])
    type = property(lambda self: self[1])
    flags = property(lambda self: self[2])
    offset = property(lambda self: self[4])
    size = property(lambda self: self[5])
    link = property(lambda self: self[6])
    entsize = property(lambda self: self[9])


def _name(raw: bytes, table: Shdr, offset: int, what: str) -> str:
    """The NUL-terminated name at ``offset`` in string table ``table``, which must end
    within ``MAX_NAME`` bytes and inside the table."""
    start = table.offset + offset
    end = min(start + MAX_NAME, table.offset + table.size, len(raw))
    nul = raw.find(b"\0", start, end) if offset < table.size else -1
    if nul < 0:
        raise ValueError(f"{what}: name at {offset} does not end within {MAX_NAME} bytes")
    return raw[start:nul].decode("latin-1")


def check_headers(raw: bytes, max_section: int) -> list[tuple[Shdr, str]]:
    """Validate the ELF header and every section header of ``raw``; -> the section headers
    with their names.

    Each section's data must lie inside the file (a NOBITS one has none, but its size is
    still at most ``max_section``); the section header table must too, with the entry size
    of its class; symbol tables must have their class's entry size and a link to a section
    that exists.  Spec: the System V gABI, "ELF Header" and "Sections".
    """
    if len(raw) < 16 or raw[:4] != b"\x7fELF":
        raise ValueError("not an ELF file (no \\x7fELF magic)")
    klass, data = raw[4], raw[5]
    if klass not in _EHDR_TAIL:
        raise ValueError(f"unknown ELF class {klass}")
    if data not in (ELFDATA2LSB, ELFDATA2MSB):
        raise ValueError(f"unknown ELF data encoding {data}")
    endian = "<" if data == ELFDATA2LSB else ">"
    tail, at, ehsize = _EHDR_TAIL[klass]
    if len(raw) < ehsize:
        raise ValueError(f"truncated ELF header ({len(raw)} of {ehsize} bytes)")
    shoff, _flags, _eh, _phes, _phn, shentsize, shnum, shstrndx = struct.unpack_from(
        endian + tail, raw, at
    )
    if shoff == 0:
        return []
    shdr_fmt, shdr_size = _SHDR[klass]
    if shentsize != shdr_size:
        raise ValueError(f"section header size {shentsize} (ELF class {klass} has {shdr_size})")
    shdr = struct.Struct(endian + shdr_fmt)
    if shoff + shdr_size > len(raw):
        raise ValueError(f"section headers at {shoff} past the end of the file ({len(raw)} bytes)")
    first = Shdr(shdr.unpack_from(raw, shoff))
    count = shnum or first.size  # extended numbering: the count is section 0's sh_size
    if shstrndx == SHN_XINDEX:
        shstrndx = first.link
    if shoff + count * shdr_size > len(raw):
        raise ValueError(
            f"{count} section headers at {shoff} run past the end of the file ({len(raw)} bytes)"
        )
    if count and shstrndx >= count:
        raise ValueError(f"section name table index {shstrndx} out of range ({count} sections)")
    headers = [Shdr(shdr.unpack_from(raw, shoff + i * shdr_size)) for i in range(count)]
    names = [
        _name(raw, headers[shstrndx], sh.name, f"section {i}") if shstrndx else ""
        for i, sh in enumerate(headers)
    ]
    for index, sh in enumerate(headers):
        where = f"section {index}"
        if sh.size > max_section:
            raise ValueError(f"{where} claims {sh.size} bytes (at most {max_section})")
        if sh.type != SHT_NOBITS and sh.offset + sh.size > len(raw):
            raise ValueError(
                f"{where} ({sh.size} bytes at {sh.offset}) runs past the end of the file "
                f"({len(raw)} bytes)"
            )
        if sh.type in (SHT_SYMTAB, SHT_DYNSYM):
            if sh.entsize != _SYM_SIZE[klass]:
                raise ValueError(f"{where}: symbol size {sh.entsize} (expect {_SYM_SIZE[klass]})")
            if sh.link >= count:
                raise ValueError(f"{where}: string table index {sh.link} out of range")
            strtab = headers[sh.link]
            for i in range(sh.size // sh.entsize):
                (st_name,) = struct.unpack_from(endian + "I", raw, sh.offset + i * sh.entsize)
                _name(raw, strtab, st_name, f"{where} symbol {i}")
    return list(zip(headers, names, strict=True))
