"""``ixsim demo --bare``: frames moved by register writes alone, checked end to end."""

from __future__ import annotations

import json

from ixsim.baremetal import run_bare
from ixsim.cli import main


def test_bare_demo_moves_frames_intact():
    result = run_bare(frames=100, size=1514, seed=3)
    assert result.frames_received == 100
    assert result.sha256_match
    assert result.faults == 0
    assert result.counters["a"]["GPTCL"] == 100
    assert result.counters["b"]["GORCL"] == 100 * (1514 + 4)
    assert result.interrupts_causes.get("RXT0", 0) > 0


def test_bare_demo_is_deterministic():
    assert run_bare(10, 200, seed=5).virtual_ns == run_bare(10, 200, seed=5).virtual_ns


def test_demo_cli_json(capsys):
    assert main(["demo", "--bare", "--frames", "8", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["frames_received"] == 8 and out["device_faults"] == 0


def test_demo_cli_bad_value_is_one_line(capsys):
    assert main(["demo", "--bare", "--size", "9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--size 9" in err
