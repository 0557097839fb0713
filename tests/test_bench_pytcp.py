"""ixsim/bench/pytcp.py: ixsim and PyTCP over a tap in one run.

A full run needs a PyTCP source tree and Python >= 3.12 (``IXSIM_PYTCP=/path/to/PyTCP`` runs
it here); without them the script must end with one line saying what is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ixsim.bench import pytcp, tap

ROOT = Path(__file__).resolve().parent.parent


def test_a_folder_without_pytcp_ends_the_script_with_one_line(tmp_path, capsys):
    assert pytcp.main(["--pytcp", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ixsim.bench.pytcp: "), lines
    if tap.prerequisites()[0]:  # root, /dev/net/tun, ip netns: then the tree is the problem
        assert "not a PyTCP source tree" in lines[0] or "Python >= 3.12" in lines[0]


def test_an_old_python_is_refused_by_name():
    with pytest.raises(pytcp.Unusable, match=r"no Python >= 3\.12 .*python3\.11|not found"):
        pytcp.find_python("python3.11" if sys.version_info < (3, 12) else "no-such-python")


def test_ratios_say_how_much_better_ixsim_is():
    ix = {"tap_tcp_mbps": 500.0, "tap_ping_median_us": 200.0, "tap_rr_median_us": 250.0}
    py = {"tap_tcp_mbps": 100.0, "tap_ping_median_us": 400.0, "tap_rr_median_us": None}
    assert pytcp.ratios(ix, py) == {
        "tap_tcp_mbps": 5.0,  # throughput: ixsim / PyTCP
        "tap_ping_median_us": 2.0,  # latency: PyTCP / ixsim
        "tap_rr_median_us": None,
    }


def test_the_pytcp_host_script_compiles():
    compile(pytcp._PYTCP_HOST, "<pytcp host>", "exec")


@pytest.mark.skipif(not os.environ.get("IXSIM_PYTCP"), reason="IXSIM_PYTCP (a PyTCP tree) unset")
def test_side_by_side_quick_run():
    proc = subprocess.run(
        [sys.executable, "-m", "ixsim.bench.pytcp", "--pytcp", os.environ["IXSIM_PYTCP"],
         "--quick", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for side in ("ixsim", "pytcp"):
        for name in pytcp.FIGURES:
            assert result[side][name] and result[side][name] > 0, (side, name, result["errors"])
    assert all(r and r > 0 for r in result["ratios"].values())
