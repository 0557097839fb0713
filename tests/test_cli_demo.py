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


def test_full_demo_json_has_the_contract_keys(capsys):
    assert main(["demo", "--bytes", "1M", "--json", "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("ok", "bytes", "sha256_match", "goodput_virtual_gbps", "goodput_wall_mbps",
                "retransmits", "interrupts", "device_faults"):
        assert key in out, key
    assert out["ok"] and out["sha256_match"] and out["bytes"] == 1 << 20
    assert out["device_faults"] == 0 and out["interrupts"] > 0
    assert 0 < out["goodput_virtual_gbps"] < 10


def test_full_demo_with_loss_retransmits_and_still_delivers(capsys):
    assert main(["demo", "--bytes", "2M", "--loss", "0.01", "--json", "--seed", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sha256_match"] and out["retransmits"] > 0


def test_full_demo_same_seed_same_virtual_time(capsys):
    runs = []
    for _ in range(2):
        assert main(["demo", "--bytes", "512K", "--loss", "0.02", "--json", "--seed", "9"]) == 0
        out = json.loads(capsys.readouterr().out)
        runs.append((out["transfer_virtual_s"], out["retransmits"], out["interrupts"]))
    assert runs[0] == runs[1]


def test_full_demo_bad_values_are_one_line(capsys):
    for argv in (["demo", "--mtu", "20"], ["demo", "--loss", "2"], ["demo", "--latency", "x"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
