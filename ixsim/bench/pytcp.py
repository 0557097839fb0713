"""ixsim and PyTCP side by side: the tap figures of both, measured in one run.

``python -m ixsim.bench.pytcp --pytcp PATH`` (PATH: a PyTCP source tree, the folder holding
``pytcp/``) measures ``tap_tcp_mbps``, ``tap_ping_median_us`` and ``tap_rr_median_us``
exactly as ``ixsim bench`` does (:mod:`ixsim.bench.tap`: the same Linux-side ping, TCP client
and request/response client, the same counts), first against ixsim, then against PyTCP, and
prints both with the ratios.  So the comparison in the README is measured on one machine, in
one run, not quoted from another.

PyTCP (https://github.com/ccie18643/PyTCP, a pure-Python TCP/IP stack, Python >= 3.12, no
dependencies) attaches to a tap itself: ``pytcp.initialize_tap`` opens ``/dev/net/tun`` with
``TUNSETIFF`` and a name.  So it runs in a subprocess (``_PYTCP_HOST``) started with the
interpreter of ``--python`` (default: the first ``python3.13``, ``python3.12``, ``python3``
on PATH or pyenv's that is 3.12 or newer) and ``PYTHONPATH=PATH``; once its tap exists, this
script moves the interface into a namespace it creates, gives it the Linux address and brings
it up -- the topology :class:`ixsim.netns.LinuxPeer` builds for ixsim.  The subprocess serves
a TCP sink (port 5001: discards, answers "!" at EOF, as ixsim's does) and a TCP echo (port
5002).

PyTCP is tuned as the issue comparing them says: ``python -O`` (PyTCP's ``__debug__ and
log(...)`` calls compile away), logging channels off (``config.LOG_CHANEL``), the delayed ACK
at one timer tick (``DELAYED_ACK_DELAY`` 1 ms instead of 100), IPv6 off (ixsim's host is
IPv4 only here).  Its packet integrity and sanity checks stay on, as ixsim's checks do.

Needs root, ``/dev/net/tun`` and ``ip netns`` (as the tap figures do) and a PyTCP tree; any
missing piece ends the script with one line saying which (exit status 2).  ``--json`` prints
one object: ``ixsim``, ``pytcp`` (figure -> value, None where it failed), ``ratios`` (ixsim
over PyTCP for throughput, PyTCP over ixsim for latencies: above 1 means ixsim is better) and
``errors``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ixsim.bench import tap
from ixsim.netns import ping_argv

FIGURES = ("tap_tcp_mbps", "tap_ping_median_us", "tap_rr_median_us")
LINUX_ADDR = "10.77.8.1/24"
PYTCP_ADDR = "10.77.8.2/24"
PYTCP_IP = "10.77.8.2"
SINK_PORT = 5001
ECHO_PORT = 5002
_READY_S = 30.0  # PyTCP's start-up (each subsystem sleeps 0.1 s) and ARP probing
_RTT = re.compile(r"time=([0-9.]+) ms")

# The PyTCP host: argv = tap name, address/len, sink port, echo port.  Prints "ready" once its
# stack and both services run, then serves until stdin closes or it is killed.
_PYTCP_HOST = """
import os, sys, threading
from pytcp import config
from pytcp.protocols.tcp import session

config.LOG_CHANEL = set()       # logging off
session.DELAYED_ACK_DELAY = 1   # one timer tick (1 ms) instead of 100 ms

from pytcp import TcpIpStack, initialize_tap
from pytcp.lib import socket

tap_name, address, sink_port, echo_port = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:5])
stack = TcpIpStack(fd=initialize_tap(tap_name=tap_name), ip4_address=address)
config.IP6_SUPPORT = False      # the constructor turned IPv6 autoconfiguration on
config.IP6_LLA_AUTOCONFIG = config.IP6_GUA_AUTOCONFIG = False
stack.start()


def handle(conn, echo):
    while data := conn.recv():
        if echo:
            conn.send(data)
    if not echo:
        conn.send(b"!")
    conn.close()


def serve(port, echo):
    listener = socket.socket(family=socket.AF_INET4, type=socket.SOCK_STREAM)
    listener.bind(("0.0.0.0", port))
    listener.listen()
    while True:
        conn, _peer = listener.accept()
        threading.Thread(target=handle, args=(conn, echo), daemon=True).start()


for port, echo in ((sink_port, False), (echo_port, True)):
    threading.Thread(target=serve, args=(port, echo), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
os._exit(0)
"""


class Unusable(RuntimeError):
    """PyTCP cannot run here: the one line the script prints before exiting with 2."""


def find_python(explicit: str | None) -> str:
    """An interpreter PyTCP accepts (>= 3.12): ``explicit``, else the first on PATH."""
    if explicit:
        candidates = [explicit]
    else:  # pyenv's interpreters too: its shims refuse a version the user has not selected
        pyenv = sorted(Path("~/.pyenv/versions").expanduser().glob("3.1[2-9]*/bin/python3"))
        candidates = ["python3.13", "python3.12", "python3", *map(str, reversed(pyenv))]
    seen = []
    for name in candidates:
        path = shutil.which(name)
        if path is None:
            seen.append(f"{name}: not found")
            continue
        probe = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        version = probe.stdout.strip()
        if probe.returncode == 0 and tuple(map(int, version.split("."))) >= (3, 12):
            return path
        why = version or (probe.stderr.strip().splitlines() or ["does not run"])[0][:60]
        seen.append(f"{name}: {why}")
    raise Unusable("no Python >= 3.12 for PyTCP (" + "; ".join(seen) + "); give one with --python")


def check_tree(tree: Path, python: str) -> None:
    """``tree`` holds an importable PyTCP (under ``python -O``)."""
    if not (tree / "pytcp" / "__init__.py").is_file():
        raise Unusable(f"{tree} is not a PyTCP source tree (no pytcp/__init__.py)")
    probe = subprocess.run(
        [python, "-O", "-c", "import pytcp, pytcp.protocols.tcp.session; print(pytcp.__file__)"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(tree)},
    )  # fmt: skip
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise Unusable(f"PyTCP from {tree} does not import with {python}: {last}")


class PyTcpPeer:
    """A namespace holding the Linux end of PyTCP's tap; PyTCP runs in a subprocess here."""

    def __init__(self, tree: Path, python: str) -> None:
        tag = os.getpid() % 100_000
        self.ns = f"ixsim-pytcp{tag}"
        self.ifname = f"pytcp{tag}"
        self.tree = tree
        self.python = python
        self.proc: subprocess.Popen[str] | None = None
        self.created_ns = False

    def __enter__(self) -> PyTcpPeer:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ip(self, *args: str) -> None:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")

    def _setup(self) -> None:
        self._ip("netns", "add", self.ns)
        self.created_ns = True
        self.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                 "net.ipv6.conf.default.disable_ipv6=1")  # fmt: skip
        self.proc = subprocess.Popen(
            [self.python, "-O", "-c", _PYTCP_HOST, self.ifname, PYTCP_ADDR, str(SINK_PORT),
             str(ECHO_PORT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(self.tree)},
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # PyTCP's start-up is about a second
        if line.strip() != "ready":
            self.proc.kill()
            _out, err = self.proc.communicate(timeout=10)
            tail = (err.strip().splitlines() or [line.strip() or "no output"])[-1]
            raise RuntimeError(f"PyTCP did not start: {tail}")
        # The tap is PyTCP's (its fd); move the interface to the namespace, as LinuxPeer does.
        self._ip("link", "set", "dev", self.ifname, "netns", self.ns)
        self._ip("-n", self.ns, "addr", "add", LINUX_ADDR, "dev", self.ifname)
        self._ip("-n", self.ns, "link", "set", "dev", self.ifname, "up")
        self._ip("-n", self.ns, "link", "set", "dev", "lo", "up")
        deadline = time.monotonic() + _READY_S
        while self.run(*ping_argv(PYTCP_IP, 1, 0.2, 1.0)).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"PyTCP did not answer a ping within {_READY_S:.0f} s")

    def run(self, *cmd: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """A command in the namespace (Linux's side), to completion."""
        return subprocess.run(["ip", "netns", "exec", self.ns, *cmd], capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)
        if self.created_ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        if os.path.exists(f"/sys/class/net/{self.ifname}"):
            subprocess.run(["ip", "link", "del", "dev", self.ifname], capture_output=True)


def _python_out(result: subprocess.CompletedProcess[str]) -> float:
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(last)
    return round(float(result.stdout.strip().splitlines()[-1]), 1)


def measure_pytcp(tree: Path, python: str, quick: bool) -> dict[str, Any]:
    """The three tap figures against PyTCP, with ixsim.bench.tap's clients and counts."""
    pings, rrs, nbytes = tap.counts(quick)
    out: dict[str, Any] = dict.fromkeys(FIGURES)
    errors: dict[str, str] = {}
    with PyTcpPeer(tree, python) as peer:
        warm = peer.run(*ping_argv(PYTCP_IP, 3, 0.05, 1.0))  # as tap.ping_median warms up
        ping = peer.run(*ping_argv(PYTCP_IP, pings, 0.01, 1.0))
        rtts = [float(m) for m in _RTT.findall(ping.stdout)]
        if rtts:
            out["tap_ping_median_us"] = round(statistics.median(rtts) * 1000, 1)
        else:
            errors["tap_ping_median_us"] = f"no replies: {(warm.stdout + ping.stdout)[-200:]}"
        for key, code, port, arg in (
            ("tap_tcp_mbps", tap.TCP_CLIENT, SINK_PORT, nbytes),
            ("tap_rr_median_us", tap.RR_CLIENT, ECHO_PORT, rrs),
        ):
            try:
                result = peer.run(sys.executable, "-c", code, PYTCP_IP, str(port), str(arg),
                                  timeout=600)  # fmt: skip
                out[key] = _python_out(result)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
                errors[key] = f"error: {type(exc).__name__}: {exc}"
    return {"figures": out, "errors": errors}


def measure_ixsim(quick: bool) -> dict[str, Any]:
    """The three tap figures against ixsim, as ``ixsim bench`` measures them."""
    pings, rrs, nbytes = tap.counts(quick)
    out: dict[str, Any] = dict.fromkeys(FIGURES)
    errors: dict[str, str] = {}
    for key, fn, arg in (
        ("tap_ping_median_us", tap.ping_median, pings),
        ("tap_tcp_mbps", tap.tcp_mbps, nbytes),
        ("tap_rr_median_us", tap.rr_median, rrs),
    ):
        try:
            out[key] = fn(arg)
        except Exception as exc:  # noqa: BLE001 - reported beside the figure, the run goes on
            errors[key] = f"error: {type(exc).__name__}: {exc}"
    return {"figures": out, "errors": errors}


def ratios(ixsim: dict[str, Any], pytcp: dict[str, Any]) -> dict[str, float | None]:
    """ixsim's advantage per figure: > 1 means ixsim is faster (throughput) or quicker (latency)."""
    out: dict[str, float | None] = {}
    for key in FIGURES:
        a, b = ixsim.get(key), pytcp.get(key)
        if not a or not b:
            out[key] = None
        else:
            out[key] = round(a / b if key == "tap_tcp_mbps" else b / a, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ixsim.bench.pytcp", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--pytcp", required=True, type=Path, metavar="PATH",
                        help="a PyTCP source tree (the folder holding pytcp/)")  # fmt: skip
    parser.add_argument("--python", help="the interpreter for PyTCP (>= 3.12)")
    parser.add_argument("--quick", action="store_true", help="ixsim bench --quick's counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        ok, reason = tap.prerequisites()
        if not ok:
            raise Unusable(reason.removeprefix("skipped: "))
        python = find_python(args.python)
        tree = args.pytcp.resolve()
        check_tree(tree, python)
    except Unusable as exc:
        print(f"ixsim.bench.pytcp: {exc}", file=sys.stderr)
        return 2
    say = (lambda _line: None) if args.json else (lambda line: print(line, flush=True))
    say("measuring ixsim over a tap ...")
    ixsim = measure_ixsim(args.quick)
    say(f"measuring PyTCP ({tree}, {python} -O) over a tap ...")
    try:
        pytcp = measure_pytcp(tree, python, args.quick)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"ixsim.bench.pytcp: {exc}", file=sys.stderr)
        return 2
    result = {
        "quick": args.quick, "pytcp_tree": str(tree), "pytcp_python": python,
        "ixsim": ixsim["figures"], "pytcp": pytcp["figures"],
        "ratios": ratios(ixsim["figures"], pytcp["figures"]),
        "errors": {"ixsim": ixsim["errors"], "pytcp": pytcp["errors"]},
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    units = {"tap_tcp_mbps": "Mbit/s", "tap_ping_median_us": "µs", "tap_rr_median_us": "µs"}
    print(f"{'figure':<22}{'ixsim':>12}{'PyTCP':>12}  ratio (> 1: ixsim better)")
    for key in FIGURES:
        cells = [result[side][key] for side in ("ixsim", "pytcp")]
        shown = [f"{v:,.1f}" if v is not None else "-" for v in cells]
        ratio = result["ratios"][key]
        print(f"{key:<22}{shown[0]:>12}{shown[1]:>12}  "
              f"{'-' if ratio is None else f'x{ratio:g}'} ({units[key]})")  # fmt: skip
    for side, errs in result["errors"].items():
        for key, text in errs.items():
            print(f"{side} {key}: {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
