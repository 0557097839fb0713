"""The pytest plugin (ixsim/pytest_plugin.py), run on inner test files through ``pytester``.

The inner sessions load the plugin with ``-p ixsim.pytest_plugin`` unless the installed ixsim
already registers it through its ``pytest11`` entry point (registering it twice is an error).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import tomllib
from pathlib import Path

import pytest

import ixsim.netns
from device.pcap import read_pcap
from ixsim.netns import available, netns_exists
from ixsim.recorder import RecordedWorld, Recorder
from ixsim.world import World
from stack.wire.describe import describe

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent


def _plugin_args() -> list[str]:
    eps = importlib.metadata.entry_points(group="pytest11")
    if any(ep.value == "ixsim.pytest_plugin" for ep in eps):
        return []
    return ["-p", "ixsim.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*_plugin_args(), "-p", "no:cacheprovider", *args)


def test_entry_point_and_xdist_are_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["entry-points"]["pytest11"] == {"ixsim": "ixsim.pytest_plugin"}
    assert any(req.startswith("pytest-xdist>=") for req in meta["optional-dependencies"]["test"])


def test_world_is_fresh_seeded_and_closed(pytester):
    pcap = pytester.path / "ab.pcap"
    pytester.makepyfile(f"""
        def test_seed_default(world, ixsim_seed):
            assert world.seed == ixsim_seed == 0 and world.hosts == {{}}

        def test_cable_pcap(world):
            a = world.host("a", "10.0.0.1/24")
            b = world.host("b", "10.0.0.2/24")
            world.cable(a.eth0, b.eth0, pcap={str(pcap)!r})
            assert a.ping("10.0.0.2").received == 1

        def test_previous_world_was_closed(world):
            from device.pcap import read_pcap
            assert len(read_pcap({str(pcap)!r})) == 4   # ARP and ICMP, flushed by close()
            assert world.hosts == {{}}
    """)
    run(pytester, "-p", "no:randomly").assert_outcomes(passed=3)


def test_seed_option_and_marker(pytester):
    pytester.makepyfile("""
        import pytest

        def test_option(world, ixsim_seed):
            assert world.seed == ixsim_seed == 41

        @pytest.mark.ixsim(seed=7)
        def test_marker_wins(world):
            assert world.seed == 7

        @pytest.mark.ixsim(strict=True)
        def test_strict(world):
            assert world.strict and world.seed == 41

        @pytest.mark.ixsim(sed=3)
        def test_bad_marker(world):
            pass
    """)
    result = run(pytester, "--ixsim-seed", "41", "-rE")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.ixsim: unknown keyword sed (it takes seed, strict)*"])
    assert "Traceback" not in result.stdout.str()


def test_same_seed_same_run(pytester):
    """The seed reaches the world's RNG: two runs with one seed see the same ISNs."""
    pytester.makepyfile("""
        def test_isn(world, capsys):
            print("ISN", world.sched.rng.getrandbits(32))
    """)
    runs = [run(pytester, "-s", "--ixsim-seed", seed).stdout.str() for seed in ("3", "3", "4")]
    isns = [re.search(r"ISN (\d+)", out)[1] for out in runs]
    assert isns[0] == isns[1] != isns[2]


def test_random_seed_is_drawn_shown_and_reported(pytester):
    pytester.makepyfile("""
        def test_fail(world, ixsim_seed):
            print("SEED", world.seed, ixsim_seed)
            assert False
    """)
    outs = [run(pytester, "-s", "--ixsim-seed", "random").stdout.str() for _ in range(2)]
    seeds = []
    for out in outs:
        drawn = re.search(r"ixsim: --ixsim-seed random drew seed (\d+)", out)[1]
        assert f"SEED {drawn} {drawn}" in out
        assert f"ixsim: reproduce with --ixsim-seed {drawn}" in out
        assert f"test_random_seed_is_drawn_shown_and_reported.py::test_fail " \
               f"--ixsim-seed={drawn}" in out
        seeds.append(drawn)
    assert seeds[0] != seeds[1]


@pytest.mark.parametrize("value", ["-1", "x"])
def test_bad_seed_option_is_a_usage_error(pytester, value):
    pytester.makepyfile("def test_x(world): pass")
    result = run(pytester, f"--ixsim-seed={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --ixsim-seed: invalid _seed value*"])


def test_two_hosts(pytester):
    pytester.makepyfile("""
        def test_ping(two_hosts):
            w, a, b = two_hosts
            assert [addr for _, addr in a.addresses] == ["10.0.0.1/24"]
            assert [addr for _, addr in b.addresses] == ["10.0.0.2/24"]
            assert len(w.cables) == 1 and w.hosts == {"a": a, "b": b}
            assert a.ping("10.0.0.2", count=2).received == 2
            assert w.cables[0].ab.delivered >= 3   # ARP request + 2 echo requests
    """)
    run(pytester).assert_outcomes(passed=1)


FAILING = """
    import pytest

    def test_ping_then_fail(two_hosts):
        w, a, b = two_hosts
        assert a.ping("10.0.0.2").received == 1
        assert w.now < 0, "deliberately false"

    @pytest.mark.ixsim(seed=5)
    def test_pinned(world):
        assert False

    def test_passes(two_hosts):
        assert two_hosts[1].ping("10.0.0.2").received == 1

    def test_no_world():
        assert False
"""


def test_failure_names_the_seed(pytester):
    pytester.makepyfile(test_fail=FAILING)
    result = run(pytester, "--ixsim-seed", "9")
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()
    assert out.count("ixsim: reproduce with --ixsim-seed 9") == 1
    assert "python -m pytest test_fail.py::test_ping_then_fail --ixsim-seed=9" in out
    assert "ixsim: reproduce with seed 5 (@pytest.mark.ixsim)" in out
    assert "python -m pytest test_fail.py::test_pinned\n" in out
    assert out.count("ixsim: reproduce") == 2  # test_no_world built no world: no section


def test_failure_artifacts(pytester):
    pytester.makepyfile(test_fail=FAILING)
    art = pytester.path / "art"
    result = run(pytester, "--ixsim-artifacts", str(art))
    result.assert_outcomes(passed=1, failed=3)
    # One directory per failing test that built a world, none for passes or world-less tests.
    assert sorted(p.name for p in art.iterdir()) == ["test_fail.py_test_ping_then_fail",
                                                    "test_fail.py_test_pinned"]
    d = art / "test_fail.py_test_ping_then_fail"
    assert f"artifacts: {d}{os.sep}" in result.stdout.str()
    frames = read_pcap(d / "cable0-a_nic0.port-b_nic0.port.pcap")
    texts = [describe(f) for _t, f in frames]
    assert len(frames) == 4, texts
    assert "ARP" in texts[0] and "echo request" in texts[2] and "echo reply" in texts[3]
    assert [t for t, _f in frames] == sorted(t for t, _f in frames)
    trace = (d / "trace.txt").read_text().splitlines()
    assert any(re.fullmatch(r"\[0\.\d{9}\] b eth0 frame tx .*echo reply.*", t) for t in trace)
    assert any(re.fullmatch(r"\[0\.\d{9}\] a eth0 frame rx .*echo reply.*", t) for t in trace)
    assert any(re.fullmatch(r"\[0\.\d{9}\] a eth0 irq 16 -> handler: ICR=.*", t) for t in trace)
    summary = (d / "summary.txt").read_text()
    assert summary.startswith("test_fail.py::test_ping_then_fail failed in call (seed 0)")
    assert "hosts a, b" in summary and "  a->b: frames=2 " in summary
    assert "NIC Link is Up" in (d / "dmesg-a.txt").read_text()
    assert (d / "faults.txt").read_text() == ""
    pinned = art / "test_fail.py_test_pinned"
    assert (pinned / "summary.txt").read_text().splitlines()[1] == "seed 5"
    assert not list(pinned.glob("*.pcap"))  # no cable, no frames


def test_recording_does_not_change_the_run():
    def trial(cls):
        with cls(seed=2) as w:
            a, b = w.host("a", "10.0.0.1/24"), w.host("b", "10.0.0.2/24")
            w.cable(a.eth0, b.eth0, loss=0.2)
            result = a.ping("10.0.0.2", count=20, interval="1ms")
            return result.received, w.now, w.sched.events_run, w.cables[0].ab.stats()

    assert trial(World) == trial(RecordedWorld)


def test_recorder_keeps_the_last_frames(tmp_path):
    with RecordedWorld(seed=0, max_frames=3, trace_lines=2) as w:
        a, b = w.host("a", "10.0.0.1/24"), w.host("b", "10.0.0.2/24")
        w.cable(a.eth0, b.eth0)
        assert a.ping("10.0.0.2", count=3, interval="1ms").received == 3
        assert isinstance(w.recorder, Recorder)
        w.recorder.dump(tmp_path)
    frames = read_pcap(tmp_path / "cable0-a_nic0.port-b_nic0.port.pcap")
    # Each port kept its last 3 frames (a: reply 2, request 3, reply 3; b: reply 2,
    # request 3, reply 3); the cable's record is what each end of them received.
    assert [re.search(r"echo (\w+), id \d+, seq (\d+)", describe(f)).groups()
            for _t, f in frames] == [("reply", "2"), ("request", "3"), ("reply", "3")]
    summary = (tmp_path / "summary.txt").read_text()
    assert "port a:nic0.port (a eth0): 8 frames (kept the last 3)" in summary
    assert len((tmp_path / "trace.txt").read_text().splitlines()) == 2


LINUX = """
    import subprocess

    def test_peer(linux_peer):
        assert (linux_peer.ip, linux_peer.host_ip) == ("10.0.0.2", "10.0.0.1")
        assert subprocess.run(["ip", "netns", "pids", linux_peer.ns]).returncode == 0
        print("NS", linux_peer.ns, linux_peer.tap)
        assert linux_peer.ping(count=2).received == 2
        out = linux_peer.run(["ip", "-4", "-o", "addr", "show", "dev", linux_peer.tap])
        assert "10.0.0.2/24" in out.stdout
        assert linux_peer.host.eth0.operstate == 6  # IF_OPER_UP
"""


def test_linux_peer(pytester):
    pytester.makepyfile(LINUX)
    result = run(pytester, "-s", "-rs")
    ok, why = available()
    if not ok:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines([f"*Linux peer unavailable: {why}*"])
        pytest.skip(f"Linux peer unavailable: {why}")
    result.assert_outcomes(passed=1)
    ns, tap = re.search(r"NS (\S+) (\S+)", result.stdout.str()).groups()
    assert not netns_exists(ns)  # the fixture deleted it
    assert not os.path.exists(f"/sys/class/net/{tap}")


def test_linux_peer_skips_with_the_reason(pytester, monkeypatch):
    monkeypatch.setattr(ixsim.netns, "available", lambda: (False, "needs root (test)"))
    pytester.makepyfile(LINUX)
    result = run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*Linux peer unavailable: needs root (test)*"])


XDIST = """
    import os
    import pytest

    @pytest.mark.parametrize("n", range(4))
    def test_world(two_hosts, n, ixsim_seed):
        w, a, b = two_hosts
        assert w.seed == ixsim_seed
        assert a.ping("10.0.0.2").received == 1
        worker = os.environ["PYTEST_XDIST_WORKER"]
        with open(os.path.join(os.environ["SEEDS_OUT"], f"{worker}-{n}"), "w") as f:
            f.write(str(ixsim_seed))

    @pytest.mark.parametrize("n", range(2))
    def test_peer(linux_peer, n):
        assert linux_peer.ping(count=1).received == 1
        assert os.environ["PYTEST_XDIST_WORKER"] in linux_peer.ns

    def test_fail(world):
        assert False
"""


def test_under_xdist(pytester, monkeypatch):
    """Two workers: one session seed (``random``, drawn by the controller), failure sections
    and artifacts come back; Linux peers built at once in two workers do not collide."""
    pytest.importorskip("xdist")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                 "")]))
    seeds_out = pytester.path / "seeds"
    seeds_out.mkdir()
    monkeypatch.setenv("SEEDS_OUT", str(seeds_out))
    pytester.makepyfile(test_par=XDIST)
    art = pytester.path / "art"
    result = pytester.runpytest_subprocess(
        *_plugin_args(), "-p", "no:cacheprovider", "-n", "2", "--ixsim-seed", "random",
        "--ixsim-artifacts", str(art), timeout=240)
    peers = 2 if available()[0] else 0
    result.assert_outcomes(passed=4 + peers, failed=1, skipped=2 - peers)
    seed = re.search(r"ixsim: --ixsim-seed random drew seed (\d+)", result.stdout.str())[1]
    seen = {p.name: p.read_text() for p in seeds_out.iterdir()}
    assert len(seen) == 4 and set(seen.values()) == {seed}
    assert {name.split("-")[0] for name in seen} <= {"gw0", "gw1"}
    result.stdout.fnmatch_lines([f"*ixsim: reproduce with --ixsim-seed {seed}*",
                                 f"*python -m pytest test_par.py::test_fail --ixsim-seed={seed}*"])
    summary = (art / "test_par.py_test_fail" / "summary.txt").read_text()
    assert summary.splitlines()[1] == f"seed {seed}"


def test_readme_example_runs(pytester):
    """The README's "Writing tests with the pytest plugin" file passes as printed."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Writing tests with the pytest plugin", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code.startswith("# test_mynet.py")
    pytester.makepyfile(test_mynet=code)
    result = run(pytester, "-rs")
    if available()[0]:
        result.assert_outcomes(passed=4)
    else:
        result.assert_outcomes(passed=3, skipped=1)
