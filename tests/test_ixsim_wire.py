"""``ixsim wire``: two Linux namespaces joined by an ixsim cable, in real time.

The numbers are measured with the real kernel on both ends: ping RTT against twice the
latency, TCP goodput against the rate, ping loss against the cable's own loss count.  The
queue limit is checked in virtual time on a bare cable.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys

import pytest

from device.cable import Cable
from device.port import Port
from ixsim.netns import available, netns_exists, unique_names
from ixsim.sched import Scheduler
from ixsim.wire import NetnsEnd, Wire


def _need_netns() -> None:
    ok, reason = available()
    if not ok:
        pytest.skip(reason)


def _ends() -> tuple[str, str]:
    a, _ = unique_names()
    b, _ = unique_names()
    return f"{a}:10.91.0.1/24", f"{b}:10.91.0.2/24"


def _rtts_ms(output: str) -> list[float]:
    return [float(m) for m in re.findall(r"time=([0-9.]+) ms", output)]


# -- the queue limit, in virtual time ------------------------------------------------------
def test_limit_drops_beyond_the_serializer_queue() -> None:
    sched = Scheduler(seed=1)
    a, b = Port(sched, "a"), Port(sched, "b")
    got: list[bytes] = []
    b.attach(got.append, lambda up: None)
    a.attach(lambda f: None, lambda up: None)
    cable = Cable(sched, a, b, rate_bps=10_000_000, limit=3)
    for i in range(10):
        a.transmit(bytes([i]) * 100)
    sched.run_for(10_000_000)
    assert [f[0] for f in got] == [0, 1, 2]
    assert cable.ab.dropped_queue == 7
    # once the serializer has drained, the queue takes frames again
    a.transmit(b"\x0a" * 100)
    sched.run_for(10_000_000)
    assert got[-1][0] == 10 and cable.ab.dropped_queue == 7


def test_limit_must_be_positive() -> None:
    sched = Scheduler(seed=1)
    with pytest.raises(ValueError, match="limit"):
        Cable(sched, Port(sched, "a"), Port(sched, "b"), limit=0)


def test_end_spec_errors() -> None:
    assert NetnsEnd.parse("A:10.9.0.1/24") == NetnsEnd("A", "10.9.0.1/24")
    for bad in ("A", "A:10.9.0.1", "A:10.9.0.300/24", ":10.9.0.1/24"):
        with pytest.raises(ValueError):
            NetnsEnd.parse(bad)
    with pytest.raises(ValueError, match="both ends"):
        Wire(("A:10.9.0.1/24", "A:10.9.0.2/24"))


# -- real kernels on both ends ---------------------------------------------------------------
def test_ping_rtt_is_twice_the_latency() -> None:
    _need_netns()
    with Wire(_ends(), latency="5ms", rate="100M") as wire:
        peer = wire.peer(0)
        peer.ping("10.91.0.2", count=1, world=wire.world)  # ARP out of the way
        result = peer.ping("10.91.0.2", count=15, interval=0.05, world=wire.world)
        rtts = _rtts_ms(result.output)
        assert result.received == 15, result.output
        median = statistics.median(rtts)
        assert 10.0 <= median <= 11.0, rtts  # within 10 % of 2 x 5 ms
        assert min(rtts) >= 10.0, rtts  # the wire never delivers early
        stats = wire.stats()
        assert all(d["delivered"] >= 16 for d in stats.values()), stats


SINK = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001)); s.listen(); print("ready", flush=True)
c, _ = s.accept(); n = 0; t0 = t1 = None
while True:
    d = c.recv(65536)
    if not d: break
    t1 = time.monotonic()
    if t0 is None: t0 = t1
    n += len(d)
print(n, t1 - t0, flush=True)
"""

SEND = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], 5001), timeout=30)
c.sendall(b"x" * int(sys.argv[2])); c.close()
"""


def test_tcp_goodput_follows_the_rate() -> None:
    _need_netns()
    with Wire(_ends(), latency="1ms", rate="10M") as wire:
        sink = wire.peer(1).spawn_python(SINK)
        wire.run_for("300ms")
        wire.peer(0).python(SEND, "10.91.0.2", 2_000_000, world=wire.world, timeout=60)
        out = wire.peer(1).wait(sink, wire.world, 20)
        nbytes, seconds = out.stdout.split()[-2:]
        assert int(nbytes) == 2_000_000
        goodput = int(nbytes) * 8 / float(seconds)
        # 1448 payload bytes per 1538 on the wire: 9.41 Mbit/s at most
        assert 0.85 * 9.41e6 <= goodput <= 1.02 * 9.41e6, goodput


def test_loss_is_what_linux_sees() -> None:
    _need_netns()
    with Wire(_ends(), latency="1ms", loss=0.2, seed=3) as wire:
        peer = wire.peer(0)
        result = peer.ping("10.91.0.2", count=60, interval=0.02, wait=0.5, world=wire.world)
        stats = wire.stats()
        lost = sum(d["dropped_loss"] for d in stats.values())
        # each echo that did not come back lost its request or its reply on the cable;
        # the few extra drops are ARP frames
        missing = 60 - result.received
        assert missing <= lost <= missing + 6, (result.output, stats)
        assert 60 * 0.4 <= result.received <= 60 * 0.85, result.output


def test_cli_json_and_teardown() -> None:
    _need_netns()
    a, b = _ends()
    proc = subprocess.run(
        [sys.executable, "-m", "ixsim", "wire", "--netns", a, "--netns", b,
         "--latency", "1ms", "--rate", "100M", "--duration", "500ms", "--json"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["ends"] == [a, b]
    assert summary["latency_ns"] == 1_000_000 and summary["rate_bps"] == 100_000_000
    assert set(summary["directions"]) == {f"{a.split(':')[0]}->{b.split(':')[0]}",
                                          f"{b.split(':')[0]}->{a.split(':')[0]}"}
    assert not netns_exists(a.split(":")[0]) and not netns_exists(b.split(":")[0])


@pytest.mark.parametrize("argv, message", [
    (["--netns", "A:10.9.0.1/24"], "two ends"),
    (["--netns", "A:10.9.0.1", "--netns", "B:10.9.0.2/24"], "NAMESPACE:ADDRESS/PREFIX"),
    (["--netns", "A:10.9.0.1/24", "--netns", "B:10.9.0.2/24", "--loss", "2"], "probability"),
    (["--netns", "A:10.9.0.1/24", "--netns", "B:10.9.0.2/24", "--latency", "5 parsecs"],
     "duration"),
])
def test_cli_errors_are_one_line(argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "ixsim", "wire", *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- netsim --against-linux: the same point on both stacks -----------------------------------
def test_against_linux_runs_both_stacks_on_the_same_path() -> None:
    _need_netns()
    proc = subprocess.run(
        [sys.executable, "-m", "ixsim", "netsim", "--against-linux", "--loss", "0.01",
         "--rtt", "10ms", "--bytes", "1M", "--rate", "20M", "--repeat", "2", "--json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rate_bps"] == 20_000_000 and result["repeat"] == 2
    (point,) = result["points"]
    assert point["loss"] == 0.01 and point["rtt_ns"] == 10_000_000
    assert point["bytes"] == 1 << 20
    assert point["linux_cc"] == "cubic"
    for side in ("ixsim", "linux"):
        # both flows lost segments on the data direction and recovered them, and neither
        # can beat the 20 Mbit/s line (1448/1538 of it is payload)
        assert point[f"{side}_retrans"] > 0
        assert 0 < point[f"{side}_goodput_mbps"] <= 20 * 1448 / 1538 * 1.02
    assert point["ratio"] == pytest.approx(
        point["ixsim_goodput_mbps"] / point["linux_goodput_mbps"], rel=0.01)
    # two runs a side (seeds 1 and 2); the compared goodput is their mean
    assert point["runs"] == 2
    for side in ("ixsim", "linux"):
        runs = point[f"{side}_runs_goodput_mbps"]
        assert len(runs) == 2 and all(r > 0 for r in runs)
        assert point[f"{side}_goodput_mbps"] == pytest.approx(sum(runs) / 2, abs=0.01)
    # ixsim's runs are different samples of the loss process (seeds 1 and 2), not one twice
    first, second = point["ixsim_runs_goodput_mbps"]
    assert first != second


def test_against_linux_reordering_compares_the_senders_reaction() -> None:
    _need_netns()
    proc = subprocess.run(
        [sys.executable, "-m", "ixsim", "netsim", "--against-linux", "--loss", "0",
         "--rtt", "20ms", "--reorder", "0.05", "--reorder-delay", "8ms", "--bytes", "2M",
         "--rate", "20M", "--repeat", "1", "--json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (point,) = json.loads(proc.stdout)["points"]
    assert point["loss"] == 0 and point["reorder"] == 0.05
    assert point["reorder_delay_ns"] == 8_000_000
    for side in ("ixsim", "linux"):
        # frames held 8 ms, beyond RACK's min_rtt/4 = 5 ms: both senders see the network
        # reorder (a never-retransmitted segment SACKed below the highest SACK) ...
        assert point[f"{side}_sack_reorder"] > 0
        # ... and with no loss at all, whatever they retransmitted was spurious: the
        # D-SACKed segments are at most the retransmitted ones
        assert 0 <= point[f"{side}_spurious"] <= point[f"{side}_retrans"]
        assert point[f"{side}_fast_retrans"] <= point[f"{side}_retrans"]
        share = point[f"{side}_spurious_share_retrans"]
        if point[f"{side}_retrans"]:
            assert share == pytest.approx(point[f"{side}_spurious"] / point[f"{side}_retrans"])
        else:
            assert share is None


@pytest.mark.parametrize("argv, message", [
    (["--rtt", "1ms"], "10ms or more"),
    (["--reorder", "0.05", "--reorder-delay", "100us"], "1ms or more"),
    (["--reorder-delay", "2ms"], "needs --reorder"),
    (["--reorder", "1"], "(0, 1)"),
    (["--cc", "reno"], "--cc"),
    (["--rate", "fast"], "--rate"),
    (["--repeat", "0"], "--repeat"),
])
def test_against_linux_errors(argv: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "ixsim", "netsim", "--against-linux", *argv],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_netsim_reorder_delay_needs_against_linux() -> None:
    proc = subprocess.run([sys.executable, "-m", "ixsim", "netsim", "--reorder-delay", "2ms"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--against-linux" in proc.stderr


def test_netsim_rate_needs_against_linux() -> None:
    proc = subprocess.run([sys.executable, "-m", "ixsim", "netsim", "--rate", "100M"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--against-linux" in proc.stderr
