"""Plots of the demo scenario (``ixsim/demo.py``): the recorders ``ixsim demo --plot`` and
``ixsim plot tcp|nic`` attach through ``run_demo(observe=...)``, and the file they write.

Each plot checks its output path before the run (a missing directory or an unknown format
fails in a second, not after the transfer), records during it and draws after it.
"""

from __future__ import annotations

import os
from typing import Any

from ixsim.plot import mpl
from ixsim.plot.nicplot import NicRecorder, NicTrace, draw_nic
from ixsim.plot.tcpprobe import TcpProbeRecorder, TcpSeries, draw_tcp


def check_output(path: str) -> None:
    """Refuse an output file matplotlib cannot write: ValueError naming the problem."""
    formats = mpl.require("backend_bases").FigureCanvasBase.get_supported_filetypes()
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if suffix not in formats:
        raise ValueError(f"{path}: unknown image format {suffix or '(no suffix)'!r} "
                         f"(use one of {', '.join(sorted(formats))})")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"{path}: directory {parent} does not exist")


class TcpPlot:
    """Record the sender (host a) with ``tcp_probe``; draw its connection to ``path``."""

    def __init__(self, path: str, dpi: int = 100) -> None:
        check_output(path)
        self.path = path
        self.dpi = dpi
        self.recorder: TcpProbeRecorder | None = None
        self.series: TcpSeries | None = None
        self.samples = 0

    def observe(self, world: Any, a: Any, b: Any) -> None:
        # Kept attached through the close: the last ACKs arrive after the receiver has
        # read everything, and after the final ACK there are no samples anyway.
        self.recorder = TcpProbeRecorder(a.kernel)

    def save(self) -> Any:
        """Draw and write the figure; return it."""
        if self.recorder is None:
            raise ValueError("the run ended before TCP was recorded")
        self.recorder.close()
        self.series = self.recorder.busiest()
        self.samples = len(self.series)
        figure = draw_tcp(self.series)
        mpl.save(figure, self.path, self.dpi)
        return figure


class NicPlot:
    """Record both hosts' first NIC; draw rings and interrupts to ``path``."""

    def __init__(self, path: str, dpi: int = 100) -> None:
        check_output(path)
        self.path = path
        self.dpi = dpi
        self.recorder: NicRecorder | None = None
        self.trace: NicTrace | None = None

    def observe(self, world: Any, a: Any, b: Any) -> Any:
        self.recorder = NicRecorder(world.sched, [(f"{h.name}:eth0", h.nics[0]) for h in (a, b)])

        def done() -> None:
            self.trace = self.recorder.close()
        return done

    def save(self) -> Any:
        if self.recorder is None:
            raise ValueError("the run ended before the NICs were recorded")
        if self.trace is None:
            self.trace = self.recorder.close()
        figure = draw_nic(self.trace)
        mpl.save(figure, self.path, self.dpi)
        return figure
