"""``ixsim bench --quick --json``: it runs, and reports every figure (or why it was skipped).

Not a timed test: no figure is compared with a target, only its presence and shape.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ixsim.bench.runner import FIGURES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    prof = tmp_path_factory.mktemp("bench") / "frames.prof"
    proc = subprocess.run(
        [sys.executable, "-m", "ixsim", "bench", "--quick", "--json", "--profile", str(prof)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr, prof


def test_every_figure_is_a_number_or_skipped_with_a_reason(bench_run):
    result, _stderr, _prof = bench_run
    for name in FIGURES:
        assert name in result, name
        value = result[name]
        if value is None:
            assert result["skipped"][name].strip(), name
        else:
            assert isinstance(value, int | float) and value > 0, (name, value)
            assert name not in result["skipped"]
    # The raw frames path needs nothing but ixsim: it is never skipped.
    assert result["frames_pps_64"] > 0 and result["frames_pps_1514"] > 0


def test_machine_and_scaling_sections(bench_run):
    result, _stderr, _prof = bench_run
    assert result["implementation"] in ("c", "python")
    assert result["python"].count(".") == 2 and result["cpu"]
    assert result["quick"] is True
    for name in ("frames_64", "frames_1514"):
        section = result["scaling"][name]
        short, long = section["short"], section["long"]
        assert long["frames"] == 10 * short["frames"]
        for run in (short, long):
            assert run["ns_per_frame"] > 0 and run["ns_per_byte"] > 0 and run["pps"] > 0
        assert section["ns_per_frame_ratio"] > 0 and section["ns_per_byte_ratio"] > 0
    assert set(result["ratios"]) >= {"frames_pps_64_vs_ixy_py", "tcp_b2b_mbps_vs_pytcp"}


def test_counted_figures_are_in_the_quick_run_with_their_split(bench_run):
    result, _stderr, _prof = bench_run
    for name in ("calls_per_frame_64", "calls_per_frame_1514", "events_per_frame_64"):
        assert isinstance(result[name], float) and result[name] > 0, name
    for name in ("calls_per_frame_64", "calls_per_frame_1514", "calls_per_tcp_mss", "calls_per_rr"):
        if result[name] is None:
            assert result["skipped"][name].strip(), name
            continue
        section = result["costs"][name]
        assert section["value"] == result[name] == round(section["calls"] / section["units"], 1)
        layers = section["layers"]
        assert sum(v["python"] + v["c"] for v in layers.values()) == section["calls"], name
        assert section["python_calls"] + section["c_calls"] == section["calls"]
        assert {"device", "driver", "core", "cable"} <= set(layers), name
    assert result["events_per_frame_64"] == result["costs"]["calls_per_frame_64"]["events_per_unit"]
    assert result["targets"]["calls_per_frame_64"]["max"] == 60
    assert result["targets"]["frames_pps_64"]["min"] == 150_000
    met = result["targets"]["calls_per_frame_64"]["met"]
    assert met == (result["calls_per_frame_64"] <= 60)


def test_profile_is_written_and_its_top_ten_printed(bench_run):
    _result, stderr, prof = bench_run
    assert prof.exists() and prof.stat().st_size > 0
    assert "tottime" in stderr and "Ordered by: internal time" in stderr


def test_the_wheel_ships_the_benchmarks(tmp_path):
    """``pip install .`` carries ``ixsim bench``'s modules: the wheel holds every ixsim/bench/
    module, so an installed ixsim runs the benchmarks without a source tree (issue 18 item 4;
    checked once by hand in a fresh venv: ``ixsim bench --quick --json`` from ``/``)."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "build", "*.egg-info", "__pycache__", "*.so", ".pytest_cache", ".ruff_cache"
        ),
    )
    out = tmp_path / "wheel"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = out.glob("ixsim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"ixsim/bench/{p.name}" for p in (ROOT / "ixsim" / "bench").glob("*.py")}
    assert {"ixsim/bench/runner.py", "ixsim/bench/frames.py", "ixsim/bench/cost.py"} <= shipped
    assert shipped <= names, sorted(shipped - names)
    assert "ixsim/cmd_bench.py" in names
    assert not any(n.startswith("bench/") for n in names)  # no top-level "bench" package
