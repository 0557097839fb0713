"""The tcpdump filter scanner: expression text to tokens, and libpcap's number and MAC forms.

Mirrors libpcap's ``scanner.l`` for the subset :mod:`stack.bpf.compiler` documents: MAC
addresses in their three spellings, IPv4/IPv6 addresses and prefixes, port ranges, numbers
(``0x`` hex, leading-``0`` octal, decimal; u32), words, ``\\`` escapes and operators.
A character no token starts with raises :class:`BpfError` ending with ``(column N)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stack.bpf.insn import U32, BpfError

_HEX2 = r"[0-9a-f]{1,2}"
_TOKEN = re.compile(rf"""
    (?P<ws>\s+)
  | (?P<mac>(?:{_HEX2}(?::{_HEX2}){{5}}|{_HEX2}(?:-{_HEX2}){{5}}
            |[0-9a-f]{{4}}\.[0-9a-f]{{4}}\.[0-9a-f]{{4}})(?![\w.:-]))
  | (?P<ip6>(?:[0-9a-f]{{0,4}}:){{2,7}}(?:[0-9a-f]{{0,4}}|\d+(?:\.\d+){{3}})(?![\w.:]))
  | (?P<addr>\d+(?:\.\d+){{1,3}}(?![\w.:]))
  | (?P<range>\d+-\d+(?![\w.:-]))
  | (?P<num>(?:0x[0-9a-f]+|\d+)(?![\w.]))
  | (?P<word>[a-z_][a-z0-9_]*(?:[-.][a-z0-9_]+)*)
  | (?P<esc>\\[a-z][a-z0-9]*)
  | (?P<op>&&|\|\||<<|>>|<=|>=|!=|==|[()\[\]:!&|^+\-*/%=<>])
""", re.IGNORECASE | re.VERBOSE)


@dataclass(slots=True)
class Token:
    kind: str      # mac addr range num word esc op end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    out = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = re.match(r"\S+", text[pos:])
            raise BpfError(f"syntax error at '{bad.group() if bad else text[pos]}' "
                           f"(column {pos + 1})")
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            word = m.group()
            out.append(Token(kind, word.lower() if kind in ("word", "esc") else word, pos))
        pos = m.end()
    out.append(Token("end", "", len(text)))
    return out


def mac_bytes(text: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff``, ``aa-bb-cc-dd-ee-ff`` or ``aabb.ccdd.eeff`` to 6 bytes."""
    if "." in text:
        return bytes.fromhex(text.replace(".", ""))
    return bytes(int(part, 16) for part in re.split(r"[:-]", text))


def number(text: str) -> int:
    """libpcap's numbers: ``0x`` hex, a leading ``0`` octal, else decimal; u32."""
    if text.lower().startswith("0x"):
        value = int(text, 16)
    elif len(text) > 1 and text.startswith("0"):
        value = int(text, 8) if set(text) <= set("01234567") else -1
    else:
        value = int(text)
    if not 0 <= value <= U32:
        raise ValueError(text)
    return value
