"""Hostile option values end in one line on stderr and a non-zero exit, never a traceback:
the invocations issue 19 item 9 found, run as a user runs them (a subprocess), and a sweep of
hostile values over the duration, size and rate options of demo, shell, netsim, tap and wire
through the CLI's main entry.  The bounds are ixsim/cli.py's (docs/design.md "Command-line
limits")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ixsim.cli import (
    MAX_LATENCY,
    MAX_RUN,
    MAX_TRANSFER,
    DurationTooLong,
    check_duration,
    main,
    size_arg,
)
from ixsim.clock import parse_duration, parse_rate

ROOT = Path(__file__).resolve().parent.parent
HUGE = "9" * 400  # a decimal int() accepts; 10**400 as a float is inf


def ixsim(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ixsim", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line(err: str) -> str:
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["demo", "--latency", "infs"], "ixsim: error: --latency: 'infs' is too long: at most 10s"),
        (["demo", "--pcap", "/nonexistent.ixsim/x.pcap"], "No such file or directory"),
        (["demo", "--pcap", "/tmp"], "--pcap /tmp: cannot write: Is a directory"),
        (["demo", "--pcap", "/dev/full"], "--pcap /dev/full: cannot write: No space left"),
        (["shell", "--after", "1e400s", "-c", "hosts"], "--after '1e400s' is too long"),
        (["shell", "-c", "pcap start /dev/full"], "cannot write /dev/full: No space left"),
        (["shell", "-c", "run infs"], "duration 'infs' is too long: at most 2**62 ns (146 years)"),
        (["tap", "--netns", "bad name!", "--address", "10.0.0.1/24"], "--netns 'bad name!'"),
        (["netsim", "--bytes", "-1"], "argument --bytes: size '-1': from 1 byte to 1 TiB"),
    ],
)
def test_the_issues_invocations_are_one_line(argv: list[str], text: str) -> None:
    done = ixsim(*argv)
    assert done.returncode != 0
    line = one_line(done.stderr)
    assert text in line, line
    assert "internal error" not in line


def test_a_full_disk_during_a_shell_capture_is_one_line_at_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the capture file fails only once frames arrive (a disk filling up): 'pcap stop' at
    # the session's close says so in one line
    from device import pcap

    real_write = pcap.PcapWriter.write

    def failing_write(self, ts_ns, frame, orig_len=None):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pcap.PcapWriter, "write", failing_write)
    path = tmp_path / "cap.pcap"
    status = main(["shell", "-c", f"pcap start {path}; ping a b"])
    monkeypatch.setattr(pcap.PcapWriter, "write", real_write)
    err = capsys.readouterr().err
    assert status == 2
    assert one_line(err) == (
        f"ixsim: error: writing {path}: No space left on device (the capture is incomplete)"
    )


HOSTILE = ["nan", "nans", "-0", "1e309", "1e309s", HUGE, HUGE + "s", "", "inf", "-1s", "-1"]


def sweep_cases() -> list[tuple[list[str], str]]:
    """(argv, hostile value): every one must be refused."""
    cases = []
    for value in HOSTILE:
        cases += [
            (["demo", "--latency", value], value),
            (["demo", "--bytes", value], value),
            (["shell", "--after", value, "-c", "hosts"], value),
            (["netsim", "--rtt", value], value),
            (["netsim", "--bytes", value], value),
            (["netsim", "--against-linux", "--rate", value], value),
            (
                [
                    "wire",
                    "--netns",
                    "A:10.9.0.1/24",
                    "--netns",
                    "B:10.9.0.2/24",
                    "--latency",
                    value,
                ],
                value,
            ),
            (
                ["wire", "--netns", "A:10.9.0.1/24", "--netns", "B:10.9.0.2/24", "--jitter", value],
                value,
            ),
            (
                ["wire", "--netns", "A:10.9.0.1/24", "--netns", "B:10.9.0.2/24", "--rate", value],
                value,
            ),
        ]
        if value != "-0":  # a probability or bare seconds of -0 is 0: accepted, the run starts
            cases += [
                (["demo", "--loss", value], value),
                (["netsim", "--loss", value], value),
                (["tap", "--address", "10.0.0.1/24", "--duration", value], value),
                (
                    [
                        "wire",
                        "--netns",
                        "A:10.9.0.1/24",
                        "--netns",
                        "B:10.9.0.2/24",
                        "--duration",
                        value,
                    ],
                    value,
                ),
            ]
    cases += [(["shell", "-c", f"run {value}"], value) for value in HOSTILE]
    cases += [
        (["shell", "-c", f"cable loss {value}"], value) for value in ("nan", "inf", "-0.5", HUGE)
    ]
    cases += [
        (["demo", "--mtu", HUGE], HUGE),
        (["demo", "--bare", "--frames", HUGE], HUGE),
        (["demo", "--bare", "--size", "-0"], "-0"),
        (["tap", "--address", "10.0.0.1/24", "--mtu", HUGE], HUGE),
        (["wire", "--netns", "A:10.9.0.1/24", "--netns", "B:10.9.0.2/24", "--limit", "0"], "0"),
        (["netsim", "--jobs", HUGE], HUGE),
        (["demo", "--seed", ""], ""),
        (["demo", "--seed", "nan"], "nan"),
    ]
    return cases


@pytest.mark.parametrize(("argv", "value"), sweep_cases())
def test_hostile_values_are_refused_in_one_line(
    argv: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse refused it
        status = exc.code
    captured = capsys.readouterr()
    assert status == 2, (argv, captured)
    line = one_line(captured.err)
    assert "error" in line and "internal error" not in line, line


def test_the_shared_parsers_refuse_what_is_not_finite_and_say_their_bound() -> None:
    for text in ("nans", "infs", "1e400s", "-1ns"):
        with pytest.raises(ValueError):
            parse_duration(text)
    for value in (float("nan"), float("inf"), -1.0, 1 << 63):
        with pytest.raises(ValueError):
            parse_duration(value)
    assert parse_duration("-0s") == 0 and parse_duration(1.5) == 1_500_000_000
    for text in ("inf", "nan", "1e400", "-1G", "0"):
        with pytest.raises(ValueError):
            parse_rate(text)
    with pytest.raises(DurationTooLong, match="at most 10s"):
        check_duration("10.5s", MAX_LATENCY)
    assert check_duration("10s", MAX_LATENCY) == MAX_LATENCY
    assert check_duration(f"{MAX_RUN}ns", MAX_RUN) == MAX_RUN
    with pytest.raises(DurationTooLong, match="at most 2"):
        check_duration("1e10s", MAX_RUN)
    assert check_duration("2.5", MAX_RUN, bare_seconds=True) == 2_500_000_000
    assert size_arg("16M") == 16 << 20 and size_arg("1T") == MAX_TRANSFER
    assert size_arg("1.5k") == 1536


def test_one_line_argparse_errors_name_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--bytes", "lots"])
    assert exc.value.code == 2
    assert one_line(capsys.readouterr().err) == (
        "ixsim demo: error: argument --bytes: not a size: 'lots' (e.g. 1048576, 64K, 16M) "
        "(see ixsim demo --help)"
    )
