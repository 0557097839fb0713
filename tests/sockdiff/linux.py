"""The Linux backend: two network namespaces joined by a veth pair, sockets made from this
process.

``LinuxLink`` makes namespaces ``<tag>a`` and ``<tag>b`` with a veth pair between them
(10.0.0.1/24 and 10.0.0.2/24, ``lo`` up, IPv6 off so nothing unasked is sent) and deletes
them on ``close``; the names carry the process id, so pytest-xdist workers never clash.  A
socket is created inside a namespace by a short-lived helper thread that ``setns(2)``s into
it (Python 3.11 has no ``os.setns``: ctypes) and creates the socket; the namespace is a
property of the thread, so this process's own namespace is never changed, and a socket keeps
the namespace it was created in.  Only addresses inside the two namespaces are ever used.

``LinuxNet`` is the :class:`~tests.sockdiff.api.Net` over one such link; a watchdog
(``SIGALRM``) turns a scenario that blocks for ever into ``ScenarioHang``.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.sockdiff.api import POLL_ASKED, EpollView, Net

CLONE_NEWNET = 0x40000000
SIOCATMARK = 0x8905
HANG_S = 5

# The namespaces get Linux's compiled-in defaults where this machine's init namespace, from
# which a new namespace copies them, may be tuned (a distro's 32 MiB tcp_rmem): the comparison
# is with Linux as built, which is what ixsim models.  A key the namespace refuses to change
# (net.core.rmem_max is read-only outside the init namespace on 6.x; a non-init namespace
# may not pick a default congestion control the machine does not allow) is read instead and
# given to the ixsim hosts (``LinuxLink.mirrored``), so both run under the same settings.
# Settings both sides get, for the harness's sake: ICMP errors are not rate limited per
# destination (the scenarios of one run send more port unreachables to 10.0.0.1 than
# Linux's burst of 6, and the two sides' clocks refill the bucket at different paces).
BOTH = {
    "net.ipv4.icmp_ratelimit": 0,
}
# The default congestion control is left as the machine has it (a namespace may not pick one
# the machine does not allow, and ixsim has only cubic and reno): no scenario reads it.
KERNEL_DEFAULTS = {
    "net.ipv6.conf.all.disable_ipv6": 1,
    "net.ipv6.conf.default.disable_ipv6": 1,
    "net.core.rmem_max": 212992,
    "net.core.wmem_max": 212992,
    "net.core.rmem_default": 212992,
    "net.core.wmem_default": 212992,
    "net.ipv4.tcp_rmem": "4096 131072 6291456",
    "net.ipv4.tcp_wmem": "4096 16384 4194304",
}

_libc = ctypes.CDLL(None, use_errno=True)


class Unavailable(RuntimeError):
    """No root, no ``ip``, no network namespaces: a reason to skip."""


class ScenarioHang(Exception):
    """A scenario blocked for longer than the watchdog allows on Linux."""


def available() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "network namespaces need Linux"
    if os.geteuid() != 0:
        return False, "needs root (network namespaces need CAP_NET_ADMIN)"
    if shutil.which("ip") is None:
        return False, "the ip command (iproute2) is not installed"
    return True, ""


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise Unavailable(f"ip {' '.join(args)}: {done.stderr.strip()}")


def in_netns(path: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread that has entered the network namespace at ``path``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({path}): {os.strerror(err)}")
            finally:
                os.close(fd)
        except OSError as exc:
            box["error"] = Unavailable(f"cannot enter the namespace: {exc}")
            return
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    t = threading.Thread(target=run, name="sockdiff-setns")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class LinuxLink:
    """Two namespaces and a veth pair; ``close()`` deletes them (the veth goes with them)."""

    def __init__(self) -> None:
        ok, why = available()
        if not ok:
            raise Unavailable(why)
        pid = os.getpid()
        worker = "".join(c for c in os.environ.get("PYTEST_XDIST_WORKER", "") if c.isalnum())
        tag = f"sockdiff-{worker}-{pid}-" if worker else f"sockdiff-{pid}-"
        self.ns = {"a": tag + "a", "b": tag + "b"}
        self.made: list[str] = []
        atexit.register(self.close)
        self.mirrored: dict[str, str] = {}
        try:
            for side in ("a", "b"):
                _ip("netns", "add", self.ns[side])
                self.made.append(self.ns[side])
            va, vb = f"sdv{pid}a"[:15], f"sdv{pid}b"[:15]
            _ip("link", "add", va, "netns", self.ns["a"], "type", "veth",
                "peer", "name", vb, "netns", self.ns["b"])
            for side, dev in (("a", va), ("b", vb)):
                ns = self.ns[side]
                for key, value in KERNEL_DEFAULTS.items():
                    try:
                        self.sysctl(side, key, value)
                    except OSError:
                        try:
                            self.mirrored[key] = self.read_sysctl(side, key)
                        except OSError:
                            pass  # not in this kernel (IPv6 compiled out): nothing to mirror
                for key, value in BOTH.items():
                    self.sysctl(side, key, value)
                    self.mirrored[key] = str(value)
                _ip("-n", ns, "addr", "add", f"{Net.ADDRS[side]}/24", "dev", dev)
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", dev, "up")
            self._wait_up()
        except BaseException:
            self.close()
            raise

    def path(self, side: str) -> str:
        return f"/run/netns/{self.ns[side]}"

    def sysctl(self, side: str, key: str, value: Any) -> None:
        """Write a per-namespace sysctl from a thread inside the namespace (/proc/sys/net
        follows the writer's namespace)."""
        proc = "/proc/sys/" + key.replace(".", "/")

        def write() -> None:
            with open(proc, "w") as f:
                f.write(f"{value}\n")

        in_netns(self.path(side), write)

    def read_sysctl(self, side: str, key: str) -> str:
        proc = "/proc/sys/" + key.replace(".", "/")

        def read() -> str:
            with open(proc) as f:
                return " ".join(f.read().split())

        return str(in_netns(self.path(side), read))

    def _wait_up(self) -> None:
        """Until a UDP datagram crosses the link (veth carrier and DAD-free IPv4 are quick)."""
        rx = in_netns(self.path("b"), lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        tx = in_netns(self.path("a"), lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        try:
            rx.bind(("10.0.0.2", 9))
            rx.settimeout(0.05)
            for _ in range(100):
                tx.sendto(b"up", ("10.0.0.2", 9))
                try:
                    rx.recv(10)
                    return
                except TimeoutError:
                    continue
            raise Unavailable("the veth link between the namespaces did not come up")
        finally:
            rx.close()
            tx.close()

    def close(self) -> None:
        for ns in self.made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made.clear()


class LinuxNet(Net):
    backend = "linux"

    def __init__(self, link: LinuxLink, index: int = 0) -> None:
        super().__init__(index)
        self.link = link

    def _socket(self, side: str, family: int, type: int, proto: int) -> Any:
        return in_netns(self.link.path(side), lambda: socket.socket(family, type, proto))

    def settle(self, ms: float = 5) -> None:
        time.sleep(ms / 1000)

    def _poll(self, sock: Any) -> int:
        p = select.poll()
        p.register(sock.fileno(), POLL_ASKED)
        events = p.poll(0)
        return events[0][1] if events else 0

    def sockatmark(self, sock: Any) -> int:
        out = fcntl.ioctl(sock.fileno(), SIOCATMARK, b"\0\0\0\0")
        return struct.unpack("i", out)[0]

    def sysctl(self, side: str, key: str, value: Any) -> None:
        self.link.sysctl(side, key, value)

    def epoll(self, side: str) -> EpollView:
        ep = select.epoll()
        self._socks.append(ep)  # closed with the scenario's sockets
        return EpollView(ep, lambda sock: sock.fileno())

    def run(self, fn: Callable[[Net], None]) -> None:
        """Run a scenario under the watchdog."""
        def hang(signum: int, frame: Any) -> None:
            raise ScenarioHang(f"blocked for more than {HANG_S} s on Linux")

        if threading.current_thread() is not threading.main_thread():
            try:  # signals reach only the main thread: no watchdog here
                fn(self)
            finally:
                self.close()
            return
        old = signal.signal(signal.SIGALRM, hang)
        signal.alarm(HANG_S)
        try:
            fn(self)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
            self.close()
