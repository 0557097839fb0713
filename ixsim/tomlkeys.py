"""Where a key is in a TOML text: the line an error message points at.

``tomllib`` returns plain dicts with no positions, so a configuration checker that wants to say
``net.toml:12: hosts.a.adresses: unknown key`` has to find the line itself.  This module reads
the text the way a person does: table headers (``[hosts.a]``, ``[[cables]]``, counted so that
the third ``[[cables]]`` is ``cables[2]``), then ``key = value`` lines (dotted and quoted keys
included) under the current header.  A key inside an inline table or a multi-line array
(``routes = [{dst = "0.0.0.0/0", via = "10.0.0.254"}]``) is found by searching forward from
the line that opens the value.  Lines inside multi-line strings are skipped.

Contract: :func:`find_line` returns the 1-based line of the deepest part of ``path`` it can
locate (a missing key points at its table's header; a missing table at line 0, meaning "no
line"), never raises for a path that is not in the text, and is good enough for humans, not a
TOML parser: the text has already been parsed by ``tomllib`` when it is called.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Path = Sequence[str | int]

_BARE = r"[A-Za-z0-9_-]+"
_PART = re.compile(rf'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|{_BARE})\s*')
_TRIPLE = re.compile(r'"""|\'\'\'')


def split_key(text: str) -> tuple[str, ...] | None:
    """``a."b.c".d`` -> ``("a", "b.c", "d")``; None when ``text`` is not a key."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _PART.match(text, pos)
        if m is None:
            return None
        token = m.group(1)
        parts.append(token[1:-1] if token[0] in "\"'" else token)
        pos = m.end()
        if pos == len(text):
            return tuple(parts)
        if text[pos] != ".":
            return None
        pos += 1


def _header(line: str) -> tuple[bool, tuple[str, ...]] | None:
    """``[a.b]`` -> (False, ("a", "b")); ``[[c]]`` -> (True, ("c",)); else None."""
    stripped = line.split("#", 1)[0].strip() if '"' not in line else line.strip()
    if stripped.startswith("[["):
        end = stripped.find("]]")
        key = split_key(stripped[2:end]) if end > 0 else None
        return (True, key) if key else None
    if stripped.startswith("["):
        end = stripped.rfind("]")
        key = split_key(stripped[1:end]) if end > 0 else None
        return (False, key) if key else None
    return None


def _key_of(line: str) -> tuple[str, ...] | None:
    """The key a ``key = value`` line assigns, or None."""
    stripped = line.lstrip()
    if not stripped or stripped[0] in "#[{]},":
        return None
    depth_quote = ""
    for i, ch in enumerate(stripped):
        if depth_quote:
            if ch == depth_quote:
                depth_quote = ""
        elif ch in "\"'":
            depth_quote = ch
        elif ch == "=":
            return split_key(stripped[:i].rstrip())
    return None


def index_lines(text: str) -> list[tuple[int, tuple[str | int, ...], bool]]:
    """Every header and key line as (line number, absolute path, is a header), in order."""
    out: list[tuple[int, tuple[str | int, ...], bool]] = []
    table: tuple[str | int, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    in_string = False
    for lineno, line in enumerate(text.splitlines(), 1):
        triples = len(_TRIPLE.findall(line))
        if in_string:
            in_string = triples % 2 == 0
            continue
        head = _header(line)
        if head is not None:
            is_array, key = head
            if is_array:
                n = counts.get(key, 0)
                counts[key] = n + 1
                table = (*key, n)
            else:
                table = key
            out.append((lineno, table, True))
        else:
            key = _key_of(line)
            if key is not None:
                out.append((lineno, (*table, *key), False))
        if triples % 2 == 1:
            in_string = True
    return out


def _common(a: tuple[str | int, ...], b: Sequence[str | int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y and str(x) != str(y):
            break
        n += 1
    return n


def find_line(text: str, path: Path) -> int:
    """The line of ``path`` (e.g. ``("hosts", "a", "routes", 1, "via")``) in ``text``; 0 if
    not even its first table is there."""
    lines = text.splitlines()
    best_line, best_len, best_exact, best_header = 0, 0, False, False
    for lineno, abs_path, header in index_lines(text):
        n = _common(abs_path, path)
        exact = n == len(abs_path)  # the line's own path is a prefix of the one sought
        if n > best_len or (n == best_len and exact and not best_exact):
            best_line, best_len, best_exact, best_header = lineno, n, exact, header
    if not best_line:
        return 0
    rest = [p for p in path[best_len:] if isinstance(p, str)]
    if not best_exact or not rest or best_header:
        # A key not under its table is missing: point at the table.
        return best_line
    # The rest of the path is inside the value that starts on best_line (an inline table, a
    # multi-line array): search forward for each remaining key, stopping at the next header.
    line = best_line
    for key in rest:
        pattern = re.compile(rf'(^|[{{,\s])("{re.escape(key)}"|{re.escape(key)})\s*=')
        for i in range(line - 1, len(lines)):
            if i > best_line - 1 and _header(lines[i]) is not None:
                return line
            if pattern.search(lines[i] if i != best_line - 1 else lines[i].split("=", 1)[-1]):
                line = i + 1
                break
        else:
            return line
    return line
