"""The Linux kernel as a peer: a network namespace holding the far end of a tap.

For tests and users who want the real Linux stack on the other side of an emulated NIC::

    with LinuxPeer(ns="ixsim-t1", tap="ixtap0", linux_addr="10.77.0.1/24",
                   emu_addr="10.77.0.2/24", mtu=1500) as peer, World(realtime=True) as w:
        host = w.host("emu", "10.77.0.2/24")
        attach_tap(w, host, "eth0", peer.tap)
        print(peer.ping("10.77.0.2", world=w))

Topology (the same as ``ip tuntap`` + ``ip link set netns`` by hand): a namespace is made,
the tap is created and opened in *our* namespace (so the fd is ours), then the interface is
moved into the namespace, where it gets ``linux_addr`` and is brought up with ``lo``.  A tap
fd stays valid after its interface changes namespace; :meth:`TapMedium.follow_netns` makes
the link probe look for it there.  IPv6 is off in the namespace unless asked for, so Linux
sends nothing the test did not cause (no router solicitations, no MLD reports); a namespace
that existed before (``existing_ns_ok=True``) keeps its settings.

Every command runs as ``ip netns exec NS ...``.  Commands given ``world=`` run while the
world runs (real time), so the emulated host can answer them; without it they block.
Teardown always runs (``close`` from ``__exit__``, from a failed setup, or at interpreter
exit): child processes are killed, the tap closed (deleting it), the namespace deleted.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

from device.backends.tap import TUN_PATH, TapError, TapMedium
from device.port import Port

_NS_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NS_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class Unavailable(RuntimeError):
    """What a test needs is not there (root, /dev/net/tun, ip netns, sch_netem): a reason to
    skip, not a failure."""


class Neighbour(NamedTuple):
    dst: str
    lladdr: str | None
    state: str


class PingResult(NamedTuple):
    transmitted: int
    received: int
    returncode: int
    output: str


def _ip() -> str | None:
    return shutil.which("ip")


@functools.cache
def available() -> tuple[bool, str]:
    """Can this process build a namespace with a tap in it?  ``(True, "")`` or
    ``(False, reason)``; the probe makes and deletes a namespace, once per process."""
    if not sys.platform.startswith("linux"):
        return False, "Linux taps and network namespaces need Linux"
    if os.geteuid() != 0:
        return False, "needs root (taps and network namespaces need CAP_NET_ADMIN)"
    if not os.path.exists(TUN_PATH):
        return False, f"{TUN_PATH} is missing (modprobe tun, or run where it exists)"
    try:
        os.close(os.open(TUN_PATH, os.O_RDWR))
    except OSError as exc:
        return False, f"cannot open {TUN_PATH}: {exc.strerror}"
    if _ip() is None:
        return False, "the ip command (iproute2) is not installed"
    probe = f"ixsim-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return False, f"ip netns does not work here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True, ""


_name_ids = itertools.count()


def unique_names() -> tuple[str, str]:
    """A namespace and a tap name no other test, pytest-xdist worker or concurrent run on
    this machine uses: the worker id (``PYTEST_XDIST_WORKER``), the process id and a counter.
    The tap name fits IFNAMSIZ (15 characters); the namespace name is for people to read."""
    n = next(_name_ids)
    pid = os.getpid()
    worker = _NS_UNSAFE.sub("", os.environ.get("PYTEST_XDIST_WORKER", ""))[:8]
    ns = f"ixsim-{worker}-{pid}-{n}" if worker else f"ixsim-{pid}-{n}"
    return ns, f"ixt{pid}x{n}"[:15]


def netns_exists(ns: str) -> bool:
    return os.path.exists(os.path.join("/run/netns", ns))


def attach_tap(world: Any, host: Any, iface: str, tap: TapMedium) -> Port:
    """Cable ``host``'s interface ``iface`` (e.g. ``"eth0"``) to ``tap`` on ``world``'s
    scheduler, which must be real time; the link comes up when the Linux side is up."""
    dev = host.interfaces.get(iface)
    if dev is None:
        raise KeyError(f"host {host.name} has no interface {iface!r} "
                       f"(it has {', '.join(host.interfaces) or 'none'})")
    port: Port = dev.port
    tap.start(world.sched)
    port.connect(tap)
    tap.refresh_link()
    return port


def _argv(cmd: Sequence[Any]) -> list[str]:
    """``run("ping", "-c", 3)``, ``run(["ping", "-c", "3"])`` or ``run("ping -c 3")``."""
    if len(cmd) == 1 and isinstance(cmd[0], list | tuple):
        cmd = cmd[0]
    if len(cmd) == 1 and isinstance(cmd[0], str) and " " in cmd[0]:
        return shlex.split(cmd[0])
    return [str(part) for part in cmd]


def _ns_arg(value: float | str, unit: str = "") -> str:
    """netem numbers: 0.01 -> "1%" for probabilities; "10ms" and "1%" pass through."""
    if isinstance(value, str):
        return value
    return f"{value * 100:g}%" if unit == "%" else f"{value}{unit}"


class LinuxPeer:
    """A network namespace with a tap inside, its fd held here; see the module docstring."""

    def __init__(
        self,
        ns: str = "ixsim-t1",
        tap: str = "ixtap0",
        linux_addr: str | None = "10.77.0.1/24",
        emu_addr: str | None = "10.77.0.2/24",
        mtu: int | None = 1500,
        *,
        ipv6: bool = False,
        existing_ns_ok: bool = False,
        log: Any = None,
    ) -> None:
        if not _NS_NAME.fullmatch(ns):
            raise ValueError(f"not a namespace name: {ns!r}")
        self.ns = ns
        self.ifname = tap
        self.linux_if = ipaddress.ip_interface(linux_addr) if linux_addr else None
        self.emu_if = ipaddress.ip_interface(emu_addr) if emu_addr else None
        self.mtu = mtu
        self.ipv6 = ipv6
        self.existing_ns_ok = existing_ns_ok
        self.tap = TapMedium(tap, mtu=mtu, log=log)
        self.created_ns = False
        self.linux_mac = ""
        self.closed = False
        self._procs: list[subprocess.Popen] = []
        self._atexit = False

    @property
    def linux_ip(self) -> str:
        return str(self.linux_if.ip) if self.linux_if else ""

    @property
    def emu_ip(self) -> str:
        return str(self.emu_if.ip) if self.emu_if else ""

    def __repr__(self) -> str:
        return f"<LinuxPeer ns={self.ns} tap={self.ifname} {self.linux_if}>"

    # -- building and tearing down --------------------------------------------------------
    def __enter__(self) -> LinuxPeer:
        self.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self) -> LinuxPeer:
        """Build the namespace and the tap; on any failure, undo what was done and raise."""
        ok, reason = available()
        if not ok:
            raise Unavailable(reason)
        atexit.register(self.close)
        self._atexit = True
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def _setup(self) -> None:
        if netns_exists(self.ns):
            if not self.existing_ns_ok:
                raise RuntimeError(f"network namespace {self.ns} exists already "
                                   f"(remove it with: ip netns del {self.ns})")
        else:
            self._ip("netns", "add", self.ns)
            self.created_ns = True
        if not self.ipv6 and self.created_ns:  # a namespace we did not make keeps its own
            self.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                     "net.ipv6.conf.default.disable_ipv6=1")  # no IPv6 in the kernel: fine
        self.tap.open()
        self.ifname = self.tap.ifname
        self._ip("link", "set", "dev", self.ifname, "netns", self.ns)
        self.tap.follow_netns(self.ns)
        if self.linux_if is not None:
            self._ip("-n", self.ns, "addr", "add", str(self.linux_if), "dev", self.ifname)
        self._ip("-n", self.ns, "link", "set", "dev", self.ifname, "up")
        self._ip("-n", self.ns, "link", "set", "dev", "lo", "up")
        self.linux_mac = self.link()["address"]

    def close(self) -> None:
        """Kill children, close the tap, delete the namespace; every step runs."""
        if self.closed:
            return
        self.closed = True
        if self._atexit:
            atexit.unregister(self.close)
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdout, proc.stderr, proc.stdin):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        self.tap.close()
        if self.created_ns:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        if self.tap.created and os.path.exists(f"/sys/class/net/{self.ifname}"):
            subprocess.run(["ip", "link", "del", "dev", self.ifname], capture_output=True)

    def _ip(self, *args: str) -> None:
        result = subprocess.run(["ip", *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise TapError(f"ip {' '.join(args)}: {result.stderr.strip()}")

    # -- running things inside ------------------------------------------------------------
    def _exec(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv]

    def popen(self, *cmd: Any, **kwargs: Any) -> subprocess.Popen:
        """Start a command inside the namespace (stdout/stderr piped unless given); it is
        killed at teardown if still running."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(self._exec(_argv(cmd)), **kwargs)
        self._procs.append(proc)
        return proc

    def run(self, *cmd: Any, world: Any = None, timeout: float = 30.0, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command inside the namespace and collect its output (text).

        With ``world`` (a real-time World) the world runs until the command ends, so an
        emulated host can take part; without it this call blocks.  ``check`` raises
        ``CalledProcessError`` on a non-zero exit; a timeout kills it and raises
        ``subprocess.TimeoutExpired``.
        """
        argv = _argv(cmd)
        if world is None:
            result = subprocess.run(self._exec(argv), capture_output=True, text=True,
                                    timeout=timeout, input=input)
        else:
            proc = self.popen(argv, stdin=subprocess.PIPE if input is not None else None)
            if input is not None:
                assert proc.stdin is not None
                proc.stdin.write(input.encode())
                proc.stdin.close()
            result = self.wait(proc, world, timeout)
        if check:
            result.check_returncode()
        return result

    def python(self, code: str, *args: Any, world: Any = None, timeout: float = 30.0,
               check: bool = True) -> subprocess.CompletedProcess:
        """Run a Python snippet inside the namespace (the real Linux stack: sockets there are
        Linux's); ``args`` become ``sys.argv[1:]``."""
        return self.run(sys.executable, "-c", code, *args, world=world, timeout=timeout,
                        check=check)

    def spawn_python(self, code: str, *args: Any, **kwargs: Any) -> subprocess.Popen:
        """Start a Python snippet inside the namespace (a server the world talks to)."""
        return self.popen(sys.executable, "-c", code, *[str(a) for a in args], **kwargs)

    def wait(self, proc: subprocess.Popen, world: Any,
             timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run ``world`` (real time) until ``proc`` exits; its piped output is read as it
        comes (so a chatty child never blocks on a full pipe) and returned as text."""
        sched = world.sched
        pipes = _Pipes(sched, [s for s in (proc.stdout, proc.stderr) if s is not None])
        try:
            done = world.run_until(
                lambda: pipes.eof and (pipes.watched or proc.poll() is not None),
                timeout=f"{timeout}s", what=f"{proc.args!r} to exit")
            if done:
                proc.wait(timeout=timeout)
        finally:
            pipes.close()
        out = pipes.text(proc.stdout)
        err = pipes.text(proc.stderr)
        if not done:
            proc.kill()
            proc.wait()
            raise subprocess.TimeoutExpired(proc.args, timeout, out, err)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    # -- looking at the Linux side --------------------------------------------------------
    def link(self) -> dict[str, Any]:
        """``ip -j -s -d link show`` of the tap inside the namespace, as a dict (with
        ``operstate``, ``mtu``, ``address`` and ``stats64``: what Linux counted)."""
        out = self.run("ip", "-j", "-s", "-d", "link", "show", "dev", self.ifname, check=True)
        return json.loads(out.stdout)[0]

    def neigh(self) -> list[Neighbour]:
        """Linux's neighbour (ARP) table for the tap."""
        out = self.run("ip", "-j", "neigh", "show", "dev", self.ifname, check=True)
        rows = json.loads(out.stdout or "[]")
        return [Neighbour(row["dst"], row.get("lladdr"), " ".join(row.get("state", [])))
                for row in rows]

    def add_neigh(self, ip: str, mac: str) -> None:
        """A permanent neighbour entry (Linux then sends to ``ip`` without asking ARP)."""
        self._ip("-n", self.ns, "neigh", "replace", ip, "lladdr", mac, "dev", self.ifname,
                 "nud", "permanent")

    def ss(self, *expr: str) -> str:
        """``ss -tino [FILTER]`` inside the namespace: Linux's TCP sockets with their
        internals.  ``-o`` because iproute2 (6.1 at least) prints the negotiated ``ts``,
        ``sack`` and ``ecn`` only with it; it also adds the timers (``timer:(on,200ms,0)``).
        ``expr`` is ss's state/address filter, e.g. ``"state", "established"``."""
        return self.run("ss", "-tino", *expr, check=True).stdout

    def set_link(self, up: bool) -> None:
        """``ip link set dev TAP up|down`` inside the namespace."""
        self._ip("-n", self.ns, "link", "set", "dev", self.ifname, "up" if up else "down")

    def set_mtu(self, mtu: int) -> None:
        self._ip("-n", self.ns, "link", "set", "dev", self.ifname, "mtu", str(mtu))

    def netem(self, loss: float | str | None = None, reorder: float | str | None = None,
              delay: str | None = None) -> str:
        """Impair what Linux sends on the tap with ``tc qdisc replace ... netem``; no argument
        removes it.  Raises :class:`Unavailable` when the kernel has no sch_netem."""
        base = ["tc", "qdisc", "replace", "dev", self.ifname, "root", "netem"]
        if loss is None and reorder is None and delay is None:
            base = ["tc", "qdisc", "del", "dev", self.ifname, "root"]
        if delay is not None:
            base += ["delay", _ns_arg(delay)]
        elif reorder is not None:
            base += ["delay", "10ms"]  # netem reorders only when it delays
        if loss is not None:
            base += ["loss", _ns_arg(loss, "%")]
        if reorder is not None:
            base += ["reorder", _ns_arg(reorder, "%")]
        result = self.run(base)
        if result.returncode != 0:
            text = result.stderr.strip()
            if "unknown" in text.lower() or "not supported" in text.lower():
                raise Unavailable(f"sch_netem is not available in this kernel ({text})")
            raise TapError(f"{' '.join(base)}: {text}")
        return " ".join(base)

    def ping(self, addr: str, count: int = 3, interval: float = 0.2, wait: float = 1.0,
             world: Any = None, timeout: float = 30.0) -> PingResult:
        """Linux pings ``addr``: iputils ``ping`` if installed, otherwise the same exchange
        from a raw ICMP socket in Python (same summary line)."""
        result = self.run(ping_argv(addr, count, interval, wait), world=world, timeout=timeout)
        match = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received",
                          result.stdout)
        sent, got = (int(match[1]), int(match[2])) if match else (0, 0)
        return PingResult(sent, got, result.returncode, result.stdout + result.stderr)


def ping_argv(addr: str, count: int, interval: float, wait: float) -> list[str]:
    """The command that pings ``addr``: iputils ``ping`` if installed, else ``_PING_PY``."""
    if shutil.which("ping"):
        return _argv(["ping", "-n", "-c", count, "-i", interval, "-W", wait, addr])
    return _argv([sys.executable, "-c", _PING_PY, addr, count, interval, wait])


class _Pipes:
    """A child's output pipes read from the scheduler as data comes, until EOF."""

    def __init__(self, sched: Any, streams: list[Any]) -> None:
        self.sched = sched
        self.chunks: dict[int, list[bytes]] = {}
        self.open: set[int] = set()
        self.watched = bool(streams)
        for stream in streams:
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self.chunks[fd] = []
            self.open.add(fd)
            sched.add_reader(fd, functools.partial(self._drain, fd))

    @property
    def eof(self) -> bool:
        return not self.open

    def _drain(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not data:
                self.sched.remove_reader(fd)
                self.open.discard(fd)
                return
            self.chunks[fd].append(data)

    def close(self) -> None:
        for fd in self.open:
            self.sched.remove_reader(fd)
        self.open.clear()

    def text(self, stream: Any) -> str:
        if stream is None:
            return ""
        return b"".join(self.chunks.get(stream.fileno(), [])).decode(errors="replace")


# iputils ping's exchange and summary line, for machines without ping (needs CAP_NET_RAW).
_PING_PY = r"""
import os, socket, struct, sys, time
dst, count, interval, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
v6 = ":" in dst  # ICMPv6 echo: the kernel fills the checksum of a raw ICMPv6 socket
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xFFFF

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF

print(f"PING {dst} 56(84) bytes of data.", flush=True)
received = 0
for seq in range(1, count + 1):
    payload = bytes(range(56))
    pkt = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, seq) + payload
    if not v6:
        pkt = pkt[:2] + struct.pack("!H", csum(pkt)) + pkt[4:]
    t0 = time.monotonic()
    s.sendto(pkt, (dst, 0))
    while True:
        left = t0 + wait - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            break
        ihl = 0 if v6 else (data[0] & 15) * 4  # a raw ICMPv6 socket gets no IP header
        typ, _code, _sum, rid, rseq = struct.unpack_from("!BBHHH", data, ihl)
        if typ == (129 if v6 else 0) and rid == ident and rseq == seq and src[0] == dst:
            received += 1
            ms = (time.monotonic() - t0) * 1000
            print(f"{len(data) - ihl} bytes from {dst}: icmp_seq={seq} "
                  f"{'ttl=?' if v6 else f'ttl={data[8]}'} "
                  f"time={ms:.3f} ms", flush=True)
            break
    if seq < count:
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
print(f"--- {dst} ping statistics ---")
print(f"{count} packets transmitted, {received} received, "
      f"{100 - received * 100 // count}% packet loss")
sys.exit(0 if received else 1)
"""
