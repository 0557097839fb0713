"""Terminal output for the CLI: aligned tables, coloured on a terminal, plain when piped.

Built on ``rich``; when stdout is not a terminal (or NO_COLOR is set) the same tables come
out as plain aligned text, so scripts and tests can read them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def console(stream=None) -> Console:
    stream = stream or sys.stdout
    plain = not stream.isatty() or "NO_COLOR" in os.environ
    return Console(file=stream, no_color=plain, highlight=False, soft_wrap=True,
                   force_terminal=False if plain else None, width=None if not plain else 120)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]],
          justify: Sequence[str] | None = None) -> Table:
    t = Table(title=title, title_justify="left", show_edge=False, pad_edge=False,
              box=None, header_style="bold")
    for i, name in enumerate(columns):
        t.add_column(name, justify=(justify[i] if justify else "left"))  # type: ignore[arg-type]
    for row in rows:
        t.add_row(*(str(cell) for cell in row))
    return t


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))
