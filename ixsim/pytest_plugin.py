"""The ixsim pytest plugin: fixtures for tests that build worlds, seeds, failure artifacts.

Registered through the ``pytest11`` entry point (``pyproject.toml``), so ``pip install ixsim``
is enough; without installing, ``pytest -p ixsim.pytest_plugin`` loads it.  Fixtures:

* ``world``: a fresh :class:`ixsim.world.World` per test, closed afterwards.
* ``two_hosts``: ``(w, a, b)``: hosts ``a`` (10.0.0.1/24) and ``b`` (10.0.0.2/24) cabled
  back to back, link up.
* ``linux_peer``: a :class:`LinuxPeerRig`: a real-time world with host ``a`` (10.0.0.1/24)
  whose eth0 is a tap inside a network namespace the fixture creates and deletes, where Linux
  has 10.0.0.2/24.  Skipped with the reason without root, ``/dev/net/tun`` or ``ip``.
* ``ixsim_seed``: the seed the test's worlds use.

Seeds: ``--ixsim-seed N`` (default 0; ``random`` draws one per session, printed in the
header and shared with xdist workers) for every test, unless the test (or its class or module)
is marked ``@pytest.mark.ixsim(seed=N)``, which pins it; ``strict=True`` in the marker makes
device faults raise (``World(strict=True)``).  A failing test that used a world gets a report
section ``ixsim: reproduce with --ixsim-seed N`` with the command line that reruns it.

``--ixsim-artifacts DIR``: the worlds of each test are recorded from the start
(:mod:`ixsim.recorder`), and for every failing test ``DIR/<test id>/`` receives a pcap per
cable, the last ``--ixsim-trace-lines`` trace lines, each host's dmesg, the device faults and a
summary.  Passing tests leave nothing.

Parallel runs (pytest-xdist): nothing here is shared between tests; namespace and tap names
carry the worker and the process (:func:`ixsim.netns.unique_names`), artifact directories the
test id.  The simulator is imported by the fixtures, not at plugin load: pytest loads every
installed ``pytest11`` plugin in every session, and a project that does not use ixsim should
not pay for importing it.
"""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MARKER = "ixsim"
MARKER_DOC = (
    "ixsim(seed=N, strict=False): the seed (and strict device-fault mode) of the worlds the "
    "ixsim fixtures build for this test; the marker's seed wins over --ixsim-seed"
)
MARKER_KEYS = ("seed", "strict")
LINUX_ADDR = "10.0.0.2/24"
HOST_ADDR = "10.0.0.1/24"

_WORLDS = pytest.StashKey[list]()
_SETTINGS = pytest.StashKey[tuple]()
_SESSION_SEED = pytest.StashKey[int]()


# -- options and marker ----------------------------------------------------------------------
def _seed(text: str) -> int | str:
    if text == "random":
        return text
    try:
        seed = int(text, 0)
    except ValueError:
        raise ValueError(f"not an integer: {text!r}") from None
    if seed < 0:
        raise ValueError(f"a seed is a non-negative integer, got {seed}")
    return seed


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be >= 0, got {value}")
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ixsim", "ixsim worlds (emulated hosts and cables)")
    group.addoption("--ixsim-seed", type=_seed, default=0, metavar="N",
                    help="seed of the worlds built by the ixsim fixtures (default 0), or "
                         "'random' for one drawn per session (shown in the header); "
                         "@pytest.mark.ixsim(seed=N) pins a test's own")
    group.addoption("--ixsim-artifacts", default=None, metavar="DIR",
                    help="for every failing test, keep each cable's pcap and the last trace "
                         "lines of its worlds in DIR/<test id>/")
    group.addoption("--ixsim-trace-lines", type=_count, default=200, metavar="N",
                    help="how many trace lines --ixsim-artifacts keeps (default 200)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    seed = config.getoption("ixsim_seed", 0)
    if seed == "random":
        # One seed per session: an xdist worker takes the controller's (pytest_configure_node).
        workerinput = getattr(config, "workerinput", {})
        seed = workerinput.get("ixsim_seed", secrets.randbelow(1 << 32))
    config.stash[_SESSION_SEED] = seed


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker uses the controller's session seed."""
    node.workerinput["ixsim_seed"] = node.config.stash[_SESSION_SEED]


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("ixsim_seed", 0) == "random":
        return f"ixsim: --ixsim-seed random drew seed {config.stash[_SESSION_SEED]}"
    return None


def _settings(item: pytest.Item) -> tuple[int, bool, str]:
    """(seed, strict, where the seed came from) for ``item``; a bad marker fails the test."""
    cached = item.stash.get(_SETTINGS, None)
    if cached is not None:
        return cached
    seed: int = item.config.stash[_SESSION_SEED]
    origin = "--ixsim-seed"
    strict = False
    mark = item.get_closest_marker(MARKER)
    if mark is not None:
        if mark.args:
            pytest.fail(f"@pytest.mark.ixsim takes keywords only ({', '.join(MARKER_KEYS)}), "
                        f"got positional {mark.args!r}", pytrace=False)
        unknown = sorted(set(mark.kwargs) - set(MARKER_KEYS))
        if unknown:
            pytest.fail(f"@pytest.mark.ixsim: unknown keyword {', '.join(unknown)} "
                        f"(it takes {', '.join(MARKER_KEYS)})", pytrace=False)
        if "seed" in mark.kwargs:
            value = mark.kwargs["seed"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                pytest.fail(f"@pytest.mark.ixsim(seed=...) needs a non-negative int, "
                            f"got {value!r}", pytrace=False)
            seed, origin = value, "marker"
        strict = bool(mark.kwargs.get("strict", False))
    item.stash[_SETTINGS] = (seed, strict, origin)
    return item.stash[_SETTINGS]


# -- building worlds -------------------------------------------------------------------------
def _new_world(request: pytest.FixtureRequest, realtime: bool = False) -> Any:
    """A World for the requesting test, recorded when --ixsim-artifacts is set."""
    from ixsim.recorder import RecordedWorld
    from ixsim.world import World

    seed, strict, _origin = _settings(request.node)
    config = request.config
    if config.getoption("ixsim_artifacts"):
        w = RecordedWorld(seed=seed, realtime=realtime, strict=strict,
                          trace_lines=config.getoption("ixsim_trace_lines"))
    else:
        w = World(seed=seed, realtime=realtime, strict=strict)
    request.node.stash.setdefault(_WORLDS, []).append(w)
    return w


@pytest.fixture
def ixsim_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test's worlds: its ``ixsim`` marker's, else ``--ixsim-seed``."""
    return _settings(request.node)[0]


@pytest.fixture
def world(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh World (virtual time) for this test, closed after it."""
    w = _new_world(request)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def two_hosts(world: Any) -> tuple[Any, Any, Any]:
    """``(w, a, b)``: a at 10.0.0.1/24 and b at 10.0.0.2/24 on one cable, link up."""
    a = world.host("a", HOST_ADDR)
    b = world.host("b", LINUX_ADDR)
    world.cable(a.eth0, b.eth0)
    return world, a, b


class LinuxPeerRig:
    """Linux in a network namespace on the far end of host ``a``'s eth0 (a tap).

    ``world`` is real time; ``host`` is the emulated host (``host_ip`` on eth0); ``ns`` the
    namespace, ``ip`` Linux's address there, ``tap`` the tap's name; ``peer`` the
    :class:`ixsim.netns.LinuxPeer` with everything else (``ss``, ``neigh``, ``netem``, ...).
    Commands run inside the namespace while the world runs, so the emulated host answers.
    """

    def __init__(self, world: Any, host: Any, peer: Any) -> None:
        self.world = world
        self.host = host
        self.peer = peer
        self.ns: str = peer.ns
        self.tap: str = peer.ifname
        self.ip: str = peer.linux_ip
        self.host_ip: str = peer.emu_ip

    def run(self, *cmd: Any, timeout: float = 30.0, check: bool = False,
            input: str | None = None) -> Any:
        """Run a command in the namespace (``run(["ping", "-c1", ip])`` or ``run("ss -t")``);
        returns ``subprocess.CompletedProcess`` with text output."""
        return self.peer.run(*cmd, world=self.world, timeout=timeout, check=check,
                             input=input)

    def python(self, code: str, *args: Any, timeout: float = 30.0, check: bool = True) -> Any:
        """Run a Python snippet in the namespace (its sockets are Linux's)."""
        return self.peer.python(code, *args, world=self.world, timeout=timeout, check=check)

    def ping(self, addr: str | None = None, count: int = 3, **kwargs: Any) -> Any:
        """Linux pings ``addr`` (the emulated host by default): a ``PingResult``."""
        return self.peer.ping(addr or self.host_ip, count=count, world=self.world, **kwargs)

    def __repr__(self) -> str:
        return f"<LinuxPeerRig ns={self.ns} tap={self.tap} linux={self.ip} host={self.host_ip}>"


@pytest.fixture
def linux_peer(request: pytest.FixtureRequest) -> Iterator[LinuxPeerRig]:
    """Host ``a`` (10.0.0.1/24) in a real-time world, its eth0 on a tap into a fresh
    namespace where Linux has 10.0.0.2/24; namespace and tap are deleted afterwards."""
    from ixsim.netns import LinuxPeer, Unavailable, attach_tap, available, unique_names

    ok, why = available()
    if not ok:
        pytest.skip(f"Linux peer unavailable: {why}")
    ns, tap = unique_names()
    peer = LinuxPeer(ns=ns, tap=tap, linux_addr=LINUX_ADDR, emu_addr=HOST_ADDR, mtu=1500)
    try:
        peer.setup()
    except Unavailable as exc:
        pytest.skip(f"Linux peer unavailable: {exc}")
    try:
        w = _new_world(request, realtime=True)
        try:
            host = w.host("a", HOST_ADDR)
            attach_tap(w, host, "eth0", peer.tap)
            w.wait_link(host.eth0, timeout="5s")
            yield LinuxPeerRig(w, host, peer)
        finally:
            w.close()
    finally:
        peer.close()


# -- reports ---------------------------------------------------------------------------------
def _rerun_command(item: pytest.Item, seed: int, origin: str) -> str:
    argv = ["python", "-m", "pytest", item.nodeid]
    if origin != "marker":
        argv.append(f"--ixsim-seed={seed}")
    return shlex.join(argv)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    worlds = item.stash.get(_WORLDS, None)
    if not report.failed or not worlds or call.when not in ("setup", "call"):
        return
    seed, _strict, origin = _settings(item)
    why = "pinned by @pytest.mark.ixsim" if origin == "marker" else f"from {origin}"
    lines = [f"seed {seed} ({why}); rerun this test alone with:",
             "    " + _rerun_command(item, seed, origin)]
    artifacts = item.config.getoption("ixsim_artifacts")
    if artifacts:
        lines += _dump_artifacts(item, worlds, Path(artifacts), seed, call.when)
    title = (f"ixsim: reproduce with seed {seed} (@pytest.mark.ixsim)" if origin == "marker"
             else f"ixsim: reproduce with --ixsim-seed {seed}")
    report.sections.append((title, "\n".join(lines)))


def _dump_artifacts(item: pytest.Item, worlds: list[Any], root: Path, seed: int,
                    when: str) -> list[str]:
    from ixsim.recorder import safe_name

    base = root / safe_name(item.nodeid, limit=200)
    header = f"{item.nodeid} failed in {when} (seed {seed})"
    lines = []
    for i, w in enumerate(worlds):
        recorder = getattr(w, "recorder", None)
        if recorder is None:
            continue
        directory = base if len(worlds) == 1 else base / f"world{i}"
        try:
            files = recorder.dump(directory, header=header)
        except OSError as exc:
            lines.append(f"artifacts: could not write {directory}: {exc}")
            continue
        lines.append(f"artifacts: {directory}{os.sep} ({len(files)} files: "
                     f"{', '.join(f.name for f in files if f.suffix == '.pcap') or 'no pcap'}, "
                     f"trace.txt, ...)")
    return lines
