"""Netsim: TCP goodput by loss x RTT on a simulated 10 Gb/s link, on virtual time, kept as a
text snapshot (tests/snapshots/netsim.txt).

The table is computed once per session (12 points, one World each, measured in up to two
processes: ~30 s of wall time on two idle cores).  A change anywhere in the device, driver or
stack that moves a figure fails the snapshot test with a diff; when the change is meant,
regenerate with ``IXSIM_UPDATE_SNAPSHOTS=1 pytest tests/test_e2e_netsim.py`` and commit the
new table with it.  ``ixsim netsim`` prints the same table.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from pathlib import Path

import pytest

from ixsim import netsim
from ixsim.cli import main

SNAPSHOT = Path(__file__).parent / "snapshots" / "netsim.txt"
UPDATE = os.environ.get("IXSIM_UPDATE_SNAPSHOTS") == "1"
SEED = 1


@pytest.fixture(scope="module")
def points() -> list[netsim.Point]:
    jobs = min(2, os.cpu_count() or 1)
    return netsim.measure_points(netsim.table_specs(), seed=SEED, jobs=jobs)


def test_the_table_matches_its_snapshot(points: list[netsim.Point]) -> None:
    text = netsim.format_table(points, SEED, "cubic")
    if UPDATE:
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), f"no snapshot: IXSIM_UPDATE_SNAPSHOTS=1 writes {SNAPSHOT}"
    expected = SNAPSHOT.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            "tests/snapshots/netsim.txt", "this run"))
        pytest.fail("the netsim table changed (IXSIM_UPDATE_SNAPSHOTS=1 to accept it):\n"
                    + diff, pytrace=False)


def test_every_point_delivered_its_stream_intact(points: list[netsim.Point]) -> None:
    assert [(p.loss, p.rtt_ns) for p in points] == [
        (loss, rtt) for loss in netsim.LOSSES for rtt in netsim.RTTS_NS]
    for p in points:
        assert p.flow.intact and p.flow.received == p.nbytes
        assert p.flow.steady_bytes > p.nbytes // 4  # what TCP held at the half is not in it
        retrans = p.flow.counter("sender", "tcp.RetransSegs")
        assert (retrans == 0) == (p.loss == 0)


def test_no_point_beats_the_line_rate(points: list[netsim.Point]) -> None:
    line = netsim.line_rate_gbps()
    for p in points:
        assert p.flow.gbps <= p.goodput_gbps * 1.001 or p.loss > 0
        assert p.goodput_gbps <= line * 1.0005, (p.loss, p.rtt_ns, p.goodput_gbps)


def test_a_clean_link_is_filled_at_every_rtt(points: list[netsim.Point]) -> None:
    """The issue's target: >= 9.3 Gbit/s without loss (line rate 9.415 with MSS 1448 + TS)."""
    for p in points:
        if p.loss == 0:
            assert p.goodput_gbps >= 9.3, (p.rtt_ns, p.goodput_gbps)
            assert p.flow.counter("sender", "tcpext.TCPTimeouts") == 0


def test_goodput_falls_with_loss_at_every_rtt(points: list[netsim.Point]) -> None:
    by = {(p.loss, p.rtt_ns): p.goodput_gbps for p in points}

    def falls(figures: list[float]) -> bool:  # within 1 %: two points at line rate may swap
        pairs = zip(figures, figures[1:], strict=False)
        return all(later <= earlier * 1.01 for earlier, later in pairs)

    for rtt in netsim.RTTS_NS:
        column = [by[loss, rtt] for loss in netsim.LOSSES]
        assert falls(column), (rtt, column)
    for loss in netsim.LOSSES[1:]:
        row = [by[loss, rtt] for rtt in netsim.RTTS_NS]
        assert falls(row), (loss, row)
    # at 1 % loss and 10 ms the flow lives by the Mathis model: within a factor of two of it
    worst = by[0.01, 10 * netsim.NS_PER_MS]
    assert 0.5 < worst / netsim.mathis_gbps(0.01, 10 * netsim.NS_PER_MS) < 2.0


def test_reference_figures() -> None:
    assert round(netsim.line_rate_gbps(), 3) == 9.415  # 1448 / 1538 of 10 Gbit/s
    assert round(netsim.line_rate_gbps(8948), 3) == 9.900  # jumbo frames
    assert math.isinf(netsim.mathis_gbps(0, 100_000))
    # 1448 * 8 / 1 ms * 1.22 / sqrt(0.01) = 141.3 Mbit/s
    assert round(netsim.mathis_gbps(0.01, netsim.NS_PER_MS), 4) == 0.1413


def test_run_point_is_deterministic_and_follows_the_seed() -> None:
    args = (0.01, 10 * netsim.NS_PER_MS, 1 << 20)
    first = netsim.run_point(*args, seed=3)
    assert netsim.run_point(*args, seed=3) == first > 0
    assert netsim.run_point(*args, seed=4) != first
    assert netsim.run_point(*args, seed=3, cc="reno") != first


def test_the_cli_verb_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["netsim", "--loss", "0.01", "--rtt", "10ms", "--bytes", "1M", "--json",
                 "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    point, = out["points"]
    assert (point["loss"], point["rtt_ns"], point["bytes"]) == (0.01, 10_000_000, 1 << 20)
    assert point["goodput_gbps"] == netsim.run_point(0.01, 10_000_000, 1 << 20, seed=3)
    assert point["retrans_segs"] > 0 and point["mathis_gbps"] == pytest.approx(0.01413, 1e-3)
    assert main(["netsim", "--cc", "nosuch"]) == 2
