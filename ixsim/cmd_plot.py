"""``ixsim plot``: pictures of a capture or of a run (needs the ``plot`` extra, matplotlib).

* ``ixsim plot tcptrace FILE.pcap [--flow SRC:PORT>DST:PORT] -o out.png``: the
  time-sequence graph of one TCP flow, as tcptrace and Wireshark's Stevens graph draw it
  (segments, ACK line, receive window, SACK blocks, retransmissions in red).  Default flow:
  the one that carried the most data; ``--list`` prints the flows instead.
* ``ixsim plot tcp -o out.png [demo options]``: runs the demo scenario and draws the
  sender's cwnd, ssthresh, srtt and bytes in flight from the ``tcp_probe`` tracepoint.
* ``ixsim plot nic -o out.png [demo options]``: runs it and draws each NIC's TX/RX ring
  occupancy and interrupts per millisecond from the device tracepoints.

The format follows the output's suffix (png, svg, pdf, ...).  Without matplotlib every form
prints one line saying how to install it and exits 2.
"""

from __future__ import annotations

import argparse
import sys

from device.pcap import PcapError
from ixsim.cli import CliError
from ixsim.cmd_demo import add_run_options, check_run_options
from ixsim.demo import run_demo
from ixsim.plot import mpl
from ixsim.plot.runs import NicPlot, TcpPlot, check_output
from ixsim.plot.tcptrace import Capture, draw_tcptrace, time_sequence


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plots: tcptrace graph of a pcap, TCP state, NIC rings",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    kinds.required = True

    t = kinds.add_parser("tcptrace", help="time-sequence graph of a TCP flow in a pcap file",
                         description="The time-sequence graph of one TCP flow (tcptrace -S, "
                                     "Wireshark's Stevens graph).")
    t.add_argument("pcap", metavar="FILE.pcap", help="a classic pcap file of Ethernet frames")
    t.add_argument("--flow", metavar="SRC:PORT>DST:PORT",
                   help="the data direction to draw (default: the flow with most data)")
    t.add_argument("--list", action="store_true", help="list the flows and exit")
    _output(t, required=False)
    t.set_defaults(func=run_tcptrace)

    for kind, what, func in (
        ("tcp", "the demo's TCP sender: cwnd, ssthresh, srtt, bytes in flight", run_tcp),
        ("nic", "the demo's NICs: ring occupancy and interrupts per ms", run_nic),
    ):
        k = kinds.add_parser(kind, help=what, description=f"Run the demo scenario and draw {what}.")
        _output(k, required=True)
        add_run_options(k, default_bytes="4M")
        k.set_defaults(func=func)


def _output(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("-o", "--output", metavar="FILE", required=required,
                   help="the image to write (.png, .svg, .pdf, ...)")
    p.add_argument("--dpi", type=int, default=100, help="resolution of raster images")


def missing_matplotlib() -> int:
    """The one line (and exit status 2) every plot gives without matplotlib."""
    print(mpl.INSTALL_HINT, file=sys.stderr)
    return 2


def run_tcptrace(args: argparse.Namespace) -> int:
    if not args.list and not args.output:
        raise CliError("plot tcptrace: give -o FILE (or --list)")
    try:
        if args.output:
            check_output(args.output)
        capture = Capture(args.pcap)
        if args.list:
            for st in capture.flows():
                print(f"{st.flow}  {st.packets} packets  {st.data_bytes} data bytes")
            return 0
        ts = time_sequence(capture, args.flow)
        figure = draw_tcptrace(ts)
        mpl.save(figure, args.output, args.dpi)
    except mpl.MatplotlibMissing:
        return missing_matplotlib()
    except (OSError, PcapError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"{args.output}: {ts.flow}, {len(ts.segments)} segments "
          f"({len(ts.retransmissions)} retransmitted), {len(ts.acks)} ACKs, "
          f"{len(ts.sacks)} SACK blocks")
    return 0


def _run_plot(args: argparse.Namespace, plot_class: type) -> tuple[object, object]:
    check_run_options(args)
    try:
        plot = plot_class(args.output, args.dpi)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        result = run_demo(args.bytes, args.loss, args.latency, args.mtu, args.seed,
                          observe=plot.observe)
        plot.save()
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return plot, result


def run_tcp(args: argparse.Namespace) -> int:
    try:
        plot, result = _run_plot(args, TcpPlot)
    except mpl.MatplotlibMissing:
        return missing_matplotlib()
    print(f"{args.output}: {plot.series.name} on host {plot.series.host}, "
          f"{plot.samples} tcp_probe samples, {result.retransmits} retransmissions")
    return 0 if result.ok else 1


def run_nic(args: argparse.Namespace) -> int:
    try:
        plot, result = _run_plot(args, NicPlot)
    except mpl.MatplotlibMissing:
        return missing_matplotlib()
    parts = [f"{s.name} {len(s.irqs)} interrupts" for s in plot.trace.nics]
    print(f"{args.output}: " + ", ".join(parts))
    return 0 if result.ok else 1
