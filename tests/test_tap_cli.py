"""``ixsim tap``: usage errors exit 2 with one line; a real run in a namespace counts the
frames Linux sends, records them, and removes everything it made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.tap import names

from device.pcap import read_pcap
from ixsim import cmd_tap
from ixsim.cli import main
from ixsim.netns import available, netns_exists

ROOT = Path(__file__).resolve().parent.parent
OK, WHY = available()
needs_linux = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("ixsim: error: ")
    return err[0]


@pytest.mark.parametrize("argv, text", [
    (["--address", "10.77.0.2"], "give a prefix length"),
    (["--address", "10.77.0.300/24"], "not an IPv4 address"),
    (["--address", "fd00::2/64", "--address", "fd00::3/64"], "one --address per family"),
    (["--address", "fd00::2"], "give a prefix length, e.g. fd00::2/64"),
    (["--address", "10.77.0.2/24", "--address", "fd77::2/64", "--peer-address",
      "fd77::2/64"], "own address"),
    (["--address", "10.77.0.2/24", "--gateway", "fd77::1"], "no --address of its family"),
    (["--address", "10.77.0.2/24", "--peer-address", "10.77.0.2/24"], "own address"),
    (["--address", "10.77.0.2/24", "--gateway", "10.78.0.1"], "not on 10.77.0.0/24"),
    (["--address", "10.77.0.2/24", "--mtu", "20000"], "--mtu 20000"),
    (["--address", "10.77.0.2/24", "--serve", "echo,telnet"], "telnet: unknown"),
    (["--address", "10.77.0.2/24", "--duration", "soon"], "--duration"),
    (["--address", "10.77.0.2/24", "--ifname", "much-too-long-name"], "--ifname"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, text):
    assert main(["tap", *argv]) == 2
    assert text in one_error_line(capsys)


def test_without_root_it_says_so_and_exits_2(capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["tap", "--address", "10.77.0.2/24"]) == 2
    assert "needs root" in one_error_line(capsys)


def test_without_dev_net_tun_it_says_so_and_exits_2(capsys, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cmd_tap, "TUN_PATH", "/nonexistent/tun")
    assert main(["tap", "--address", "10.77.0.2/24"]) == 2
    assert "/nonexistent/tun is missing" in one_error_line(capsys)


def wait_for(predicate, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def link_up_in(ns: str, ifname: str) -> bool:
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname],
                         capture_output=True, text=True)
    return out.returncode == 0 and '"UP"' in out.stdout


def ixsim_tap(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ixsim", "tap", *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@needs_linux
def test_a_run_in_a_namespace_counts_records_and_cleans_up(tmp_path):
    ns, ifname = names()
    pcap = tmp_path / "tap.pcap"
    proc = ixsim_tap("--ifname", ifname, "--address", "10.77.0.2/24", "--netns", ns,
                     "--peer-address", "10.77.0.1/24", "--duration", "1.5s", "--pcap", str(pcap),
                     "--json")
    try:
        assert wait_for(lambda: netns_exists(ns) and link_up_in(ns, ifname)), proc.stderr
        subprocess.run(["ip", "-n", ns, "neigh", "replace", "10.77.0.2", "lladdr",
                        "02:00:00:00:01:00", "dev", ifname], check=True)
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                        "for i in range(4): s.sendto(b'from-linux-%d' % i, ('10.77.0.2', 9))"],
                       check=True)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["netns"] == ns and summary["mac"] == "02:00:00:00:01:00"
    assert summary["tap"]["rx_frames"] >= 4 and summary["port"]["rx_frames"] >= 4
    frames = [frame for _ts, frame in read_pcap(pcap)]
    assert summary["pcap_frames"] == len(frames)
    payloads = [f[42:54] for f in frames if f[12:14] == b"\x08\x00" and f[23] == 17]
    assert payloads == [b"from-linux-%d" % i for i in range(4)]
    assert not netns_exists(ns)
    assert subprocess.run(["ip", "link", "show", "dev", ifname],
                          capture_output=True).returncode != 0


@needs_linux
def test_a_namespace_it_did_not_make_is_left_in_place():
    ns, ifname = names()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        proc = ixsim_tap("--ifname", ifname, "--address", "10.77.0.2/24", "--netns", ns,
                         "--duration", "500ms", "--json")
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert json.loads(out)["link_up"] is True  # --netns brings the Linux end up
        assert netns_exists(ns)
        assert subprocess.run(["ip", "-n", ns, "link", "show", "dev", ifname],
                              capture_output=True).returncode != 0
    finally:
        subprocess.run(["ip", "netns", "del", ns])


@needs_linux
def test_ctrl_c_prints_the_summary_and_removes_what_it_made():
    ns, ifname = names()
    proc = ixsim_tap("--ifname", ifname, "--address", "10.77.0.2/24", "--netns", ns)
    try:
        banner = []
        while not banner or "Ctrl-C to stop" not in banner[-1]:  # the run loop is next
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            banner.append(line)
        assert link_up_in(ns, ifname)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"ixsim tap {ifname}: summary" in out and "Linux -> emulated" in out
    assert not netns_exists(ns)


LINUX_CLIENT = """
import socket, time
for attempt in range(50):  # until ixsim tap has booted its host and its servers listen
    try:
        s = socket.create_connection(("10.77.0.2", 7), timeout=5)
        break
    except (ConnectionRefusedError, TimeoutError):
        time.sleep(0.1)
s.sendall(b"hello, echo")
print(s.recv(100).decode())
s.close()
h = socket.create_connection(("10.77.0.2", 80), timeout=5)
h.sendall(b"GET /hello HTTP/1.1\\r\\nHost: emu\\r\\nConnection: close\\r\\n\\r\\n")
reply = b""
while chunk := h.recv(4096):
    reply += chunk
print(reply.split(b"\\r\\n")[0].decode(), reply.split(b"\\r\\n\\r\\n", 1)[1].decode().strip())
"""


@needs_linux
def test_served_apps_answer_linux_and_the_gateway_is_set():
    ns, ifname = names()
    proc = ixsim_tap("--ifname", ifname, "--address", "10.77.0.2/24", "--netns", ns,
                     "--peer-address", "10.77.0.1/24", "--gateway", "10.77.0.1",
                     "--serve", "echo,http", "--json")
    try:
        assert wait_for(lambda: netns_exists(ns) and link_up_in(ns, ifname)), proc.stderr
        client = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", LINUX_CLIENT],
                                capture_output=True, text=True, timeout=15)
        proc.send_signal(signal.SIGINT)  # Ctrl-C: stop, summarise
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert client.returncode == 0, client.stderr
    assert client.stdout.splitlines() == ["hello, echo", "HTTP/1.1 200 OK hello, world"]
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["gateway"] == "10.77.0.1"
    assert summary["serving"] == ["echo server", "http server"]
    assert summary["arp_entries"] == 1


@needs_linux
def test_both_families_accumulate_and_linux_pings_the_ipv6_address():
    """``--address`` and ``--peer-address`` once per family: the emulated host answers
    Linux's ICMPv6 echo on fd77::2 after both DADs (the issue's command line)."""
    from ixsim.netns import _PING_PY

    ns, ifname = names()
    proc = ixsim_tap("--ifname", ifname, "--address", "10.77.0.2/24", "--address", "fd77::2/64",
                     "--netns", ns, "--peer-address", "10.77.0.1/24", "--peer-address",
                     "fd77::1/64", "--duration", "6s", "--json")
    try:
        assert wait_for(lambda: netns_exists(ns) and link_up_in(ns, ifname)), proc.stderr
        time.sleep(2.5)  # Linux's DAD on fd77::1 and ours on fd77::2 (1 s each)
        ping = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", _PING_PY,
                               "fd77::2", "3", "0.2", "1"], capture_output=True, text=True,
                              timeout=20)
        addrs = subprocess.run(["ip", "-n", ns, "-6", "addr", "show", "dev", ifname],
                               capture_output=True, text=True).stdout
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "3 packets transmitted, 3 received" in ping.stdout, ping.stdout + ping.stderr
    assert "inet6 fd77::1/64" in addrs
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["addresses"] == ["10.77.0.2/24", "fd77::2/64"]
    assert not netns_exists(ns)
