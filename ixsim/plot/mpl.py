"""matplotlib, loaded on demand: the one place ixsim imports it.

matplotlib is the ``plot`` extra (``pip install 'ixsim[plot]'``), not a dependency, so the
import happens when a figure is first drawn, never when ``ixsim`` or ``ixsim.plot`` is
imported.  Figures are built with :class:`matplotlib.figure.Figure` directly, not pyplot: no
global figure registry, no GUI backend, PNG/SVG/PDF through Agg and its siblings, safe in a
test run that draws many figures.
"""

from __future__ import annotations

import importlib
from typing import Any

INSTALL_HINT = "ixsim plot needs matplotlib: pip install 'ixsim[plot]'"


class MatplotlibMissing(RuntimeError):
    """matplotlib is not installed; the message says how to install it."""


def require(module: str = "figure") -> Any:
    """Return ``matplotlib.<module>``, or raise :class:`MatplotlibMissing`."""
    try:
        return importlib.import_module("matplotlib." + module)
    except ImportError:
        raise MatplotlibMissing(INSTALL_HINT) from None


def new_figure(nrows: int, height: float, width: float = 10.0, sharex: bool = True) -> Any:
    """A figure of ``nrows`` stacked axes sharing the time axis; returns the Figure."""
    figure = require().Figure(figsize=(width, height), layout="constrained")
    figure.subplots(nrows, 1, sharex=sharex, squeeze=False)
    return figure


def save(figure: Any, path: str, dpi: int = 100) -> None:
    """Write ``figure`` to ``path``; the format follows the suffix (png, svg, pdf)."""
    figure.savefig(path, dpi=dpi)
