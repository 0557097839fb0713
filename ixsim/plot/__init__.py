"""Plots of a run: tcptrace's time-sequence graph, TCP's state over time, the NIC's rings.

Each plot is two steps, so a test can check both: *extract* the series (plain data, no
matplotlib) and *draw* them on a :class:`matplotlib.figure.Figure` that the caller saves.

* :mod:`ixsim.plot.tcptrace`: a pcap's TCP flow as tcptrace / Wireshark's Stevens graph.
* :mod:`ixsim.plot.tcpprobe`: cwnd, ssthresh, srtt and bytes in flight from the kernel's
  ``tcp_probe`` tracepoint, recorded during a run.
* :mod:`ixsim.plot.nicplot`: TX/RX ring occupancy and interrupts per millisecond from the
  device tracepoints, recorded during a run.

matplotlib is the ``plot`` extra, imported only when drawing (:mod:`ixsim.plot.mpl`).
"""

from ixsim.plot.mpl import INSTALL_HINT, MatplotlibMissing, save

__all__ = ["INSTALL_HINT", "MatplotlibMissing", "save"]
