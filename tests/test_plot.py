"""``ixsim plot``: the extracted series and the drawn figures (axes, series, point counts).

A hand-made capture pins the tcptrace extraction exactly (ISN, window scale, retransmission,
SACK blocks, sequence wrap); demo runs check the TCP and NIC recorders against the stack's
and the device's own counters; the CLI forms are run end to end, matplotlib missing too.
"""

from __future__ import annotations

import math
import sys

import pytest

pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")

from helpers.frames import ether, ipv4_packet  # noqa: E402

from device.pcap import PcapWriter  # noqa: E402
from ixsim.cli import main  # noqa: E402
from ixsim.demo import run_demo  # noqa: E402
from ixsim.plot import INSTALL_HINT  # noqa: E402
from ixsim.plot.runs import NicPlot, TcpPlot  # noqa: E402
from ixsim.plot.tcpprobe import PACING_NOTE  # noqa: E402
from ixsim.plot.tcptrace import Capture, Flow, draw_tcptrace, time_sequence  # noqa: E402
from ixsim.world import World  # noqa: E402
from stack.core.kernel import TRACEPOINTS  # noqa: E402
from stack.tcp.const import TCP_INIT_CWND  # noqa: E402
from stack.uapi import ETH_P_IP, IPPROTO_TCP  # noqa: E402
from stack.wire import TcpRepr  # noqa: E402
from stack.wire.tcp import ACK, SYN  # noqa: E402

A, B = "10.0.0.1", "10.0.0.2"
MAC_A, MAC_B = bytes.fromhex("020000000100"), bytes.fromhex("020000000200")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def tcp_frame(src: str, dst: str, th: TcpRepr, payload: bytes = b"") -> bytes:
    th.payload_len = len(payload)
    seg = bytearray(th.buffer_len() + len(payload))
    hl = th.emit(seg, 0)
    seg[hl:] = payload
    macs = (MAC_B, MAC_A) if src == A else (MAC_A, MAC_B)
    return ether(*macs, ETH_P_IP, ipv4_packet(src, dst, IPPROTO_TCP, bytes(seg)))


def write_capture(path, isn: int = 1000, irs: int = 5000) -> None:
    """A's handshake (wscale 7 / B's 2), five 1000-byte segments, the third lost and
    retransmitted after B's SACKs, B's window 1000 << 2 bytes."""
    mask = 0xFFFFFFFF
    frames = [
        (A, B, TcpRepr(40000, 5001, isn, 0, SYN, 65535, mss=1460, wscale=7,
                       sack_permitted=True)),
        (B, A, TcpRepr(5001, 40000, irs, (isn + 1) & mask, SYN | ACK, 65535, mss=1460,
                       wscale=2, sack_permitted=True)),
        (A, B, TcpRepr(40000, 5001, (isn + 1) & mask, irs + 1, ACK, 512)),
    ]
    data = [(A, B, TcpRepr(40000, 5001, (isn + 1 + i * 1000) & mask, irs + 1, ACK, 512),
             bytes(1000)) for i in range(5)]
    rel = lambda n: (isn + n) & mask  # noqa: E731
    frames += [data[0], data[1], data[3],
               (B, A, TcpRepr(5001, 40000, irs + 1, rel(2001), ACK, 1000)),
               (B, A, TcpRepr(5001, 40000, irs + 1, rel(2001), ACK, 1000,
                              sack_blocks=((rel(3001), rel(4001)),))),
               data[4],
               (B, A, TcpRepr(5001, 40000, irs + 1, rel(2001), ACK, 1000,
                              sack_blocks=((rel(3001), rel(5001)),))),
               data[2],
               (B, A, TcpRepr(5001, 40000, irs + 1, rel(5001), ACK, 1000))]
    with PcapWriter(str(path)) as w:
        for i, item in enumerate(frames):
            w.write(1_000_000 + i * 100_000, tcp_frame(*item))
        w.write(2_000_000, ether(MAC_A, MAC_B, 0x88B5, bytes(50)))  # not IP: skipped


def test_tcptrace_extracts_segments_acks_window_sacks_and_retransmissions(tmp_path):
    path = tmp_path / "hand.pcap"
    write_capture(path)
    cap = Capture(str(path))
    assert cap.skipped == 1
    assert [(str(s.flow), s.packets, s.data_bytes) for s in cap.flows()] == [
        ("10.0.0.1:40000>10.0.0.2:5001", 7, 5000), ("10.0.0.2:5001>10.0.0.1:40000", 5, 0)]
    ts = time_sequence(cap)
    assert ts.flow == Flow(A, 40000, B, 5001) and ts.isn == 1000 and ts.wscale == 2
    assert [(s.start, s.end, s.retrans) for s in ts.segments] == [
        (1, 1001, False), (1001, 2001, False), (3001, 4001, False), (4001, 5001, False),
        (2001, 3001, True)]
    assert ts.segments[0].t == pytest.approx(0.0003)  # seconds from the flow's first packet
    assert [a for _t, a in ts.acks] == [1, 2001, 2001, 2001, 5001]
    # The SYN-ACK's window is unscaled (RFC 7323 §2.2); later ones are shifted by 2.
    assert [w for _t, w in ts.windows] == [1 + 65535, 2001 + 4000, 2001 + 4000, 2001 + 4000,
                                           5001 + 4000]
    assert [(lo, hi) for _t, lo, hi in ts.sacks] == [(3001, 4001), (3001, 5001)]

    fig = draw_tcptrace(ts)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and "sequence number" in ax.get_ylabel()
    by_gid = {c.get_gid(): c for c in ax.collections}
    assert len(by_gid["segments"].get_segments()) == 4
    assert len(by_gid["retransmissions"].get_segments()) == 1
    assert by_gid["retransmissions"].get_segments()[0].tolist() == [
        [pytest.approx(0.001), 2001], [pytest.approx(0.001), 3001]]
    assert len(by_gid["sacks"].get_segments()) == 2
    lines = {ln.get_gid(): ln for ln in ax.lines}
    assert list(lines["ack"].get_ydata()) == [1, 2001, 2001, 2001, 5001]
    assert len(lines["window"].get_xdata()) == 5
    assert len(lines["retransmission-marks"].get_xdata()) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["segments (4)", "retransmissions (1)", "ACK", "receive window",
                      "SACK blocks (2)"]
    assert "1 retransmitted, wscale 2" in ax.get_title()


def test_tcptrace_unwraps_sequence_numbers_and_picks_the_flow(tmp_path):
    path = tmp_path / "wrap.pcap"
    write_capture(path, isn=0xFFFFFFFF - 2500)  # the sequence space wraps inside the data
    cap = Capture(str(path))
    ts = time_sequence(cap, "10.0.0.1:40000>10.0.0.2:5001")
    assert [s.end for s in ts.segments] == [1001, 2001, 4001, 5001, 3001]
    assert [a for _t, a in ts.acks][-1] == 5001
    assert [(lo, hi) for _t, lo, hi in ts.sacks] == [(3001, 4001), (3001, 5001)]
    back = time_sequence(cap, Flow(B, 5001, A, 40000))
    assert back.segments == [] and len(back.acks) == 6
    with pytest.raises(ValueError, match="no flow 1.2.3.4:1>10.0.0.2:5001 .*flows: 10.0.0.1"):
        time_sequence(cap, "1.2.3.4:1>10.0.0.2:5001")
    with pytest.raises(ValueError, match="SRC:PORT>DST:PORT"):
        Flow.parse("10.0.0.1>10.0.0.2")


@pytest.fixture(scope="module")
def lossy_run(tmp_path_factory):
    """One demo transfer over a lossy cable, recorded three ways."""
    d = tmp_path_factory.mktemp("run")
    pcap = str(d / "run.pcap")
    tcp, nic = TcpPlot(str(d / "tcp.png"), dpi=60), NicPlot(str(d / "nic.png"), dpi=60)
    irqs = {}

    def observe(w, a, b):
        done = [tcp.observe(w, a, b), nic.observe(w, a, b)]
        irqs.update({h.name: -h.nics[0].pci.irq_delivered for h in (a, b)})

        def finish():
            for h in (a, b):
                irqs[h.name] += h.nics[0].pci.irq_delivered
            for fn in filter(None, done):
                fn()
        return finish

    result = run_demo(768 << 10, loss=0.01, seed=4, pcap=pcap, observe=observe)
    assert result.ok and result.retransmits > 0
    return {"pcap": pcap, "tcp": tcp, "nic": nic, "irqs": irqs, "result": result,
            "tcp_fig": tcp.save(), "nic_fig": nic.save(), "dir": d}


def test_tcptrace_of_a_lossy_run(lossy_run):
    ts = time_sequence(Capture(lossy_run["pcap"]))
    assert ts.flow.dst == B and ts.flow.dport == 5001 and ts.wscale is not None
    assert max(s.end for s in ts.segments) == (768 << 10) + 1
    assert ts.retransmissions and ts.sacks
    covered = sorted((s.start, s.end) for s in ts.segments)
    edge = 1
    for start, end in covered:  # every byte was on the wire: no gap in the union
        assert start <= edge
        edge = max(edge, end)
    ax = draw_tcptrace(ts).axes[0]
    by_gid = {c.get_gid(): c for c in ax.collections}
    assert (len(by_gid["segments"].get_segments()) + len(by_gid["retransmissions"].get_segments())
            == len(ts.segments))
    assert len({ln.get_gid(): ln for ln in ax.lines}["ack"].get_xdata()) == len(ts.acks)


def test_tcp_probe_tracepoint_carries_its_declared_fields():
    with World(seed=2) as w:
        a, b = w.host("a", "10.0.0.1/24"), w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0)
        seen = []
        a.kernel.tracers.append(lambda t, ev, f: ev == "tcp_probe" and seen.append(f))
        srv = b.socket()
        srv.bind(("0.0.0.0", 7))
        srv.listen()
        c = a.socket()
        c.connect(("10.0.0.2", 7))
        conn, _ = srv.accept()
        c.sendall(bytes(100_000))
        got = 0
        while got < 100_000:
            got += len(conn.recv(65536))
        w.run_for("10ms")
    assert seen and all(tuple(f) == TRACEPOINTS["tcp_probe"] for f in seen)
    last = seen[-1]
    assert last["snd_una"] == last["snd_nxt"] and last["in_flight"] == 0
    assert last["snd_cwnd"] > TCP_INIT_CWND and last["srtt"] > 0 and last["mss"] == 1448


def test_tcp_plot_series_and_figure(lossy_run):
    s = lossy_run["tcp"].series
    assert s.host == "a" and s.name.startswith("10.0.0.1:") and s.name.endswith(">10.0.0.2:5001")
    assert s.acked >= 768 << 10
    assert s.cwnd[0] >= TCP_INIT_CWND and math.isnan(s.ssthresh[0])
    assert any(not math.isnan(x) for x in s.ssthresh)  # loss set ssthresh
    assert min(x for x in s.srtt_us if x) >= 100  # two 50 µs cable latencies at least
    assert s.bytes_in_flight[-1] == 0
    assert all(len(col) == len(s) for col in (s.cwnd, s.ssthresh, s.srtt_us, s.in_flight,
                                               s.bytes_in_flight, s.snd_wnd))
    fig = lossy_run["tcp_fig"]
    assert len(fig.axes) == 3
    assert [ax.get_ylabel() for ax in fig.axes] == ["segments", "srtt (µs)", "bytes"]
    assert fig.axes[2].get_xlabel() == "time (s)"
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines}
    for gid, _col in (("cwnd", s.cwnd), ("ssthresh", s.ssthresh), ("srtt", s.srtt_us),
                     ("in_flight", s.in_flight), ("bytes_in_flight", s.bytes_in_flight)):
        assert len(lines[gid].get_xdata()) == len(s), gid
    assert list(lines["cwnd"].get_ydata()) == s.cwnd
    legend = [t.get_text() for t in fig.axes[2].get_legend().get_texts()]
    assert PACING_NOTE in legend
    png = (lossy_run["dir"] / "tcp.png").read_bytes()
    assert png.startswith(PNG_MAGIC)


def test_nic_plot_series_and_figure(lossy_run):
    trace = lossy_run["nic"].trace
    assert [s.name for s in trace.nics] == ["a:eth0", "b:eth0"]
    a, b = trace.nics
    assert (a.tx_size, a.rx_size) == (256, 512)  # the driver's default rings
    assert max(n for _t, n in a.tx) > 1  # the sender queued descriptors
    assert min(n for _t, n in b.rx) < b.rx_size - 8  # the receiver's ring filled up
    for s in trace.nics:
        assert len(s.irqs) == lossy_run["irqs"][s.name[0]] > 0
        bins, counts = trace.irq_per_ms(s)
        assert sum(counts) == len(s.irqs) and len(bins) == len(counts)
        assert all(0 <= n <= s.tx_size for _t, n in s.tx)
    fig = lossy_run["nic_fig"]
    assert len(fig.axes) == 3 and fig.axes[2].get_ylabel() == "interrupts / ms"
    lines = {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines}
    assert set(lines) == {f"{k}:{n}" for k in ("tx", "rx", "irq") for n in ("a:eth0", "b:eth0")}
    assert len(lines["irq:b:eth0"].get_ydata()) == len(trace.irq_per_ms(b)[1])
    assert len(lines["tx:a:eth0"].get_xdata()) in (len(a.tx), len(a.tx) + 1)
    assert (lossy_run["dir"] / "nic.png").read_bytes().startswith(PNG_MAGIC)


def test_cli_plot_tcptrace(tmp_path, capsys):
    path = tmp_path / "hand.pcap"
    write_capture(path)
    out = tmp_path / "t.svg"
    assert main(["plot", "tcptrace", str(path), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "5 segments (1 retransmitted), 5 ACKs, 2 SACK blocks" in said
    assert out.read_text().lstrip().startswith("<?xml")
    assert main(["plot", "tcptrace", str(path), "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "10.0.0.1:40000>10.0.0.2:5001  7 packets  5000 data bytes",
        "10.0.0.2:5001>10.0.0.1:40000  5 packets  0 data bytes"]
    for argv, words in (
        ([str(path), "--flow", "nope", "-o", str(out)], "not a flow: 'nope'"),
        ([str(tmp_path / "missing.pcap"), "-o", str(out)], "No such file"),
        ([str(path), "-o", str(tmp_path / "x.nope")], "unknown image format 'nope'"),
        ([str(path), "-o", str(tmp_path / "no" / "x.png")], "does not exist"),
        ([str(path)], "give -o FILE"),
    ):
        assert main(["plot", "tcptrace", *argv]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("ixsim: error:") and words in err, err


def test_cli_plot_tcp_nic_and_demo_plot(tmp_path, capsys):
    for kind in ("tcp", "nic"):
        out = tmp_path / f"{kind}.png"
        assert main(["plot", kind, "-o", str(out), "--bytes", "256K", "--seed", "2"]) == 0
        assert out.read_bytes().startswith(PNG_MAGIC)
    said = capsys.readouterr().out
    assert "tcp_probe samples" in said and "a:eth0" in said and "interrupts" in said
    out = tmp_path / "demo.png"
    assert main(["demo", "--bytes", "256K", "--plot", str(out)]) == 0
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert f"TCP plot written to {out}" in capsys.readouterr().out
    assert main(["demo", "--bare", "--plot", str(out)]) == 2
    assert main(["plot", "tcp", "-o", str(out), "--loss", "2"]) == 2
    assert "--loss 2.0" in capsys.readouterr().err


def test_without_matplotlib_every_plot_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backend_bases",
                "matplotlib.collections", "matplotlib.lines"):
        monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    path = tmp_path / "hand.pcap"
    write_capture(path)
    out = str(tmp_path / "x.png")
    for argv in (["plot", "tcptrace", str(path), "-o", out], ["plot", "tcp", "-o", out],
                 ["plot", "nic", "-o", out], ["demo", "--bytes", "64K", "--plot", out]):
        assert main(argv) == 2
        assert capsys.readouterr().err == INSTALL_HINT + "\n"
    assert INSTALL_HINT == "ixsim plot needs matplotlib: pip install 'ixsim[plot]'"
