"""TCP between Linux and the emulated host over the tap: bulk both ways, options, impairments.

The emulated host ("emu", 10.77.0.2) runs the whole ixsim stack on a real-time world; Linux
(10.77.0.1) is a network namespace whose sockets are the kernel's own.  Both ends hash what
they send and receive (sha256) and the test compares the digests with the stream's expected
one, computed here.  Skipped, with the reason, where root, /dev/net/tun or ``ip netns`` are
missing; the netem test also where the kernel has no ``sch_netem`` (the same impairment
applied by the emulated side, :class:`ImpairedTap`, runs everywhere).

The stream is ``ixsim.apps.bulk``'s: a 65521-byte block from ``random.Random(seed)``,
repeated; the Linux scripts rebuild it from the seed (the same interpreter runs them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import struct
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.tap import names
from helpers.units import MS

from device.impair import Delay, Loss, Reorder
from ixsim.apps import body_bytes, bulk_receive, echo_server, http_server
from ixsim.apps.bulk import BLOCK, _block
from ixsim.netns import LinuxPeer, Unavailable, attach_tap, available
from ixsim.world import World
from stack.socket import tcp_info
from stack.uapi import TCPI_OPT_SACK, TCPI_OPT_TIMESTAMPS, TCPI_OPT_WSCALE
from stack.wire.tcp import SYN, TcpPacket, TcpRepr

OK, WHY = available()
pytestmark = pytest.mark.skipif(not OK, reason=f"Linux peer unavailable: {WHY}")

LINUX_IP, EMU_IP = "10.77.0.1", "10.77.0.2"
MB = 1_000_000
BIG = 50 * MB  # the figure, each way
IMPAIRED = 10 * MB  # each way under loss: hundreds of losses at 1 %, ~10 s in all
CHUNK = 65536
TS_OPTION = 12  # bytes of NOP, NOP, timestamps in every segment: the MSS less this is sent


def expected_sha(nbytes: int, seed: int) -> str:
    """sha256 of the first ``nbytes`` of the bulk stream, computed here (a third opinion)."""
    source = memoryview(_block(seed))
    digest = hashlib.sha256()
    done = 0
    while done < nbytes:
        offset = done % BLOCK
        piece = source[offset:offset + min(CHUNK, nbytes - done)]
        digest.update(piece)
        done += len(piece)
    return digest.hexdigest()


def mbps(nbytes: int, secs: float) -> float:
    return nbytes * 8 / secs / 1e6


# -- the rig ---------------------------------------------------------------------------------------
class ImpairedTap:
    """A medium between the emulated NIC's port and the tap that loses, reorders and delays
    frames with the cable's stages (``device.impair``) and the world's seeded RNG: the
    impairment netem would give, where the kernel has no ``sch_netem``.

    To the port it is the medium (``sender``); to the tap it is the port (``deliver``,
    ``set_link``, ``link_up``, ``medium``).  ``rx`` stages act on what Linux sends (where
    netem on the tap would), ``tx`` on what the emulated host sends.  The stages see frames
    when the tap is *read*, so a stall of the emulated host bunches Linux's frames before
    they are reordered (more than netem would: PAWS then drops a few reordered ones).
    """

    def __init__(self, world: World, port: Any, tap: Any, rx: list[Any],
                 tx: list[Any]) -> None:
        self.sched = world.sched
        self.port = port
        self.name = f"{port.name}~impaired"
        self.medium = tap  # the tap checks that it is its port's medium
        self.rx, self.tx = rx, tx
        for stage in rx + tx:
            stage.rng = stage.rng or world.sched.rng
        tap.start(world.sched)
        self._to_linux = tap.sender(self)
        port.connect(self)
        tap.refresh_link()

    # the port's medium
    def sender(self, port: Any) -> Any:
        return self._transmit

    def _transmit(self, frame: bytes) -> None:
        self._through(self.tx, frame, self._to_linux)

    # the tap's port
    @property
    def link_up(self) -> bool:
        return self.port.link_up

    def set_link(self, up: bool) -> None:
        self.port.set_link(up)

    def deliver(self, frame: bytes) -> None:
        self._through(self.rx, frame, self.port.deliver)

    def _through(self, stages: list[Any], frame: bytes, out: Any) -> None:
        now = self.sched.now

        def stage(i: int) -> Any:
            def emit(frame: bytes, when: int) -> None:
                if i < len(stages):
                    stages[i](frame, when, stage(i + 1))
                elif when <= now:
                    out(frame)
                else:
                    self.sched.call_at(when, out, frame)
            return emit

        stage(0)(frame, now)

    def counts(self) -> dict[str, int]:
        return {f"{side} {s.kind}": s.count
                for side, stages in (("rx", self.rx), ("tx", self.tx)) for s in stages}


@contextlib.contextmanager
def linux_and_emulated(impair: Any = None) -> Iterator[tuple[LinuxPeer, World, Any]]:
    """Linux at LINUX_IP in a fresh namespace, host "emu" at EMU_IP on its tap, carrier up;
    ``impair(world, port, tap)`` cables them instead (an :class:`ImpairedTap`)."""
    ns, tap = names()
    with LinuxPeer(ns=ns, tap=tap, linux_addr=f"{LINUX_IP}/24",
                   emu_addr=f"{EMU_IP}/24") as peer, World(realtime=True) as world:
        host = world.host("emu", f"{EMU_IP}/24")
        dev = host.interfaces["eth0"]
        if impair is None:
            attach_tap(world, host, "eth0", peer.tap)
        else:
            impair(world, dev.port, peer.tap)
        assert world.run_until(lambda: dev.carrier_ok() and dev.qdisc.active, timeout="3s")
        yield peer, world, host


@pytest.fixture
def pair():
    with linux_and_emulated() as rig:
        yield rig


# -- looking at both sides -------------------------------------------------------------------------
def nstat(peer: LinuxPeer, *counters: str) -> dict[str, int]:
    """Linux's absolute SNMP counters in the namespace (``nstat -asz``)."""
    out = peer.run("nstat", "-asz", *counters, check=True).stdout
    values = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    return {name: values.get(name, 0) for name in counters}


SS_HEAD = re.compile(r"^ESTAB\s+\d+\s+\d+\s+(\S+):(\d+)\s+(\S+):(\d+)")


def parse_ss(text: str, emu_port: int) -> dict[str, Any] | None:
    """The ESTABLISHED connection to ``EMU_IP:emu_port`` in ``ss -tino`` output: its info
    line parsed into ``flags`` (``ts``, ``sack``, the congestion control ...) and
    ``key: value`` (``wscale``, ``mss``, ``retrans`` ...), and the two lines as ``text``."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        head = SS_HEAD.match(line)
        if head and (head[3], int(head[4])) == (EMU_IP, emu_port):
            info = lines[i + 1].split()
            view: dict[str, Any] = {"text": f"{line.rstrip()}\n{lines[i + 1]}",
                                    "flags": {t for t in info if ":" not in t}}
            for token in info:
                key, _, value = token.partition(":")
                view.setdefault(key, value)
            return view
    return None


def linux_view(peer: LinuxPeer, world: World, emu_port: int) -> dict[str, Any]:
    """Run the world until Linux's ``ss -tino`` shows the connection to ``EMU_IP:emu_port``
    ESTABLISHED (the handshake's last ACK may still be in our NIC); :func:`parse_ss`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        world.run_for("20ms")
        view = parse_ss(peer.ss(), emu_port)
        if view is not None:
            return view
    raise AssertionError(f"Linux never showed an ESTABLISHED connection to {EMU_IP}:{emu_port}")


def assert_clean_link(peer: LinuxPeer) -> None:
    """Nothing was dropped between the two stacks: not by the tap, not by Linux's device."""
    counters = peer.tap.counters()
    assert {k: v for k, v in counters.items() if k.startswith("dropped") or k == "tx_errors"
            if v} == {}, counters
    stats = peer.link()["stats64"]
    assert (stats["rx"]["dropped"], stats["rx"]["errors"], stats["tx"]["dropped"],
            stats["tx"]["errors"]) == (0, 0, 0, 0), stats


class Wire:
    """Every TCP segment on the emulated NIC's port, as on the wire (after the NIC's
    offloads): ``(direction, TcpRepr, checksum_ok)``, "tx" ours and "rx" Linux's."""

    def __init__(self, port: Any) -> None:
        self.segments: list[tuple[str, TcpRepr, bool]] = []
        port.trace_frame.append(self._tap)

    def _tap(self, direction: str, _now: int, frame: bytes) -> None:
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:
            return
        ihl = (frame[14] & 15) * 4
        total = int.from_bytes(frame[16:18], "big")
        segment = TcpPacket(memoryview(frame)[14 + ihl:14 + total])  # no Ethernet padding
        ok = segment.verify_checksum(frame[26:30], frame[30:34])
        self.segments.append((direction, TcpRepr.parse(segment), ok))

    def syn(self, direction: str) -> TcpRepr:
        return next(rep for d, rep, _ in self.segments if d == direction and rep.flags & SYN)

    def largest(self, direction: str) -> int:
        return max((rep.payload_len for d, rep, _ in self.segments if d == direction), default=0)

    def checksums_ok(self) -> bool:
        return all(ok for _, _, ok in self.segments)


class Lines:
    """A child's stdout, line by line, read while the world runs (so the emulated host
    answers whatever the child is waiting for)."""

    def __init__(self, proc: Any, world: World) -> None:
        self.fd = proc.stdout.fileno()
        self.sched = world.sched
        self.world = world
        self.buf = b""
        self.eof = False
        os.set_blocking(self.fd, False)
        self.sched.add_reader(self.fd, self._read)

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if not data:
            self.close()
        self.buf += data

    def next(self, timeout: str = "10s") -> str:
        assert self.world.run_until(lambda: b"\n" in self.buf or self.eof, timeout=timeout)
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def close(self) -> None:
        if not self.eof:
            self.eof = True
            self.sched.remove_reader(self.fd)


# -- bulk transfers --------------------------------------------------------------------------------
STREAM_PY = textwrap.dedent("""
    import hashlib, json, random, socket, sys, threading, time
    BLOCK, CHUNK = 65521, 65536

    def block(seed):
        b = random.Random(seed).randbytes(BLOCK)
        return memoryview(b + b[:CHUNK])

    def send_stream(s, n, seed):
        src, h, sent = block(seed), hashlib.sha256(), 0
        while sent < n:
            off = sent % BLOCK
            piece = src[off:off + min(CHUNK, n - sent)]
            s.sendall(piece)
            h.update(piece)
            sent += len(piece)
        s.shutdown(socket.SHUT_WR)
        return sent, h.hexdigest()

    def recv_all(s):
        h, got, buf = hashlib.sha256(), 0, bytearray(1 << 20)
        view = memoryview(buf)
        while k := s.recv_into(buf):
            h.update(view[:k])
            got += k
        return got, h.hexdigest()

    def report(**kw):
        print(json.dumps(kw), flush=True)
""")

# Linux as the client: N bytes to the emulated discard (port 9), then N bytes through the
# emulated echo (port 7), sending from a thread while the main thread reads the echo back.
LINUX_CLIENT = STREAM_PY + textwrap.dedent("""
    ip, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.create_connection((ip, 9), timeout=120)
    t0 = time.perf_counter()
    sent, sha = send_stream(s, n, seed)
    back = recv_all(s)  # the discard server's close: everything was read
    report(what="discard", sent=sent, sha=sha, back=back[0], secs=time.perf_counter() - t0)
    s.close()
    s = socket.create_connection((ip, 7), timeout=120)
    out = {}
    sender = threading.Thread(target=lambda: out.update(r=send_stream(s, n, seed)))
    t0 = time.perf_counter()
    sender.start()
    got, got_sha = recv_all(s)
    sender.join()
    report(what="echo", sent=out["r"][0], sha=out["r"][1], got=got, got_sha=got_sha,
           secs=time.perf_counter() - t0)
    s.close()
""")

# Linux as the server: read to EOF (hashing), then send N bytes of seed+1 and half-close,
# then wait for the client's close.
LINUX_SERVER = STREAM_PY + textwrap.dedent("""
    ip, port, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((ip, port))
    lst.listen(1)
    print("ready", flush=True)
    s, addr = lst.accept()
    s.settimeout(120)
    t0 = time.perf_counter()
    got, got_sha = recv_all(s)
    t1 = time.perf_counter()
    sent, sha = send_stream(s, n, seed + 1)
    rest = recv_all(s)
    report(what="server", peer=list(addr), got=got, got_sha=got_sha, in_secs=t1 - t0,
           sent=sent, sha=sha, rest=rest[0])
""")


def reports(text: str) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return {row["what"]: row for row in rows}


def linux_client_to_discard_and_echo(peer: LinuxPeer, world: World, host: Any,
                                     nbytes: int, seed: int = 5) -> dict[str, Any]:
    """LINUX_CLIENT against the emulated discard (a hashing one) and echo servers."""
    sink = host.spawn(bulk_receive(host, 9, bufsize=CHUNK * 4))  # discard, with a sha256
    echo = host.spawn(echo_server(host, 7, connections=1))
    world.run_for("1ms")  # both listening before Linux's SYNs
    result = peer.python(LINUX_CLIENT, EMU_IP, nbytes, seed, world=world, timeout=240)
    assert world.run_until(lambda: sink.done() and echo.done(), timeout="5s")
    return {"linux": reports(result.stdout), "sink": sink.result(), "echo": echo.result(),
            "expected": expected_sha(nbytes, seed)}


def check_linux_client(run: dict[str, Any], nbytes: int) -> None:
    linux, sink, echo, want = run["linux"], run["sink"], run["echo"], run["expected"]
    discard = linux["discard"]
    assert (discard["sent"], discard["back"], discard["sha"]) == (nbytes, 0, want)
    assert (sink.bytes, sink.sha256) == (nbytes, want)  # what the emulated host read
    looped = linux["echo"]
    assert (looped["sent"], looped["sha"]) == (nbytes, want)
    assert (looped["got"], looped["got_sha"]) == (nbytes, want)  # what came back
    assert (echo.connections, echo.bytes_in, echo.bytes_out) == (1, nbytes, nbytes)


def emulated_client_both_ways(peer: LinuxPeer, world: World, host: Any, nbytes: int,
                              seed: int = 9, port: int = 5001) -> dict[str, Any]:
    """Our blocking client against LINUX_SERVER: ``nbytes`` there, half-close, ``nbytes``
    back; Linux's ``ss -tino`` view of the connection is taken half way through."""
    server = peer.spawn_python(LINUX_SERVER, LINUX_IP, port, nbytes, seed, bufsize=0)
    assert server.stdout.readline() == b"ready\n"
    sock = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(120)
    sock.connect((LINUX_IP, port))
    source = memoryview(_block(seed))
    digest = hashlib.sha256()
    sent = 0
    ss = None
    while sent < nbytes:  # blocking calls: each runs the world until it completes
        if ss is None and sent >= nbytes // 2:
            ss = parse_ss(peer.ss(), sock.getsockname()[1])
        offset = sent % BLOCK
        piece = source[offset:offset + min(CHUNK, nbytes - sent)]
        sock.sendall(piece)
        digest.update(piece)
        sent += len(piece)
    sock.shutdown(socket.SHUT_WR)
    t0 = time.perf_counter()
    back = hashlib.sha256()
    got = 0
    buf = bytearray(CHUNK * 4)
    view = memoryview(buf)
    while n := sock.recv_into(buf):
        back.update(view[:n])
        got += n
    in_secs = time.perf_counter() - t0
    info = tcp_info(sock)
    sock.close()
    result = peer.wait(server, world, timeout=30)
    assert result.returncode == 0, result.stderr
    return {"linux": reports(result.stdout)["server"], "sent": sent, "sha": digest.hexdigest(),
            "got": got, "got_sha": back.hexdigest(), "info": info, "ss": ss,
            "in_secs": in_secs, "expected": expected_sha(nbytes, seed),
            "expected_back": expected_sha(nbytes, seed + 1)}


def check_emulated_client(run: dict[str, Any], nbytes: int) -> None:
    linux = run["linux"]
    assert (run["sent"], run["sha"]) == (nbytes, run["expected"])
    assert (linux["got"], linux["got_sha"]) == (nbytes, run["expected"])  # Linux read ours
    assert (linux["sent"], linux["sha"]) == (nbytes, run["expected_back"])
    assert (run["got"], run["got_sha"]) == (nbytes, run["expected_back"])  # we read Linux's
    assert linux["peer"][0] == EMU_IP and linux["rest"] == 0


# On a clean link nothing is lost, but Linux's tail loss probe fires after 2 x srtt (~2 ms
# here) whenever the emulated host stalls longer than that (a garbage collection, a busy
# scheduler): an occasional spurious retransmission, which our D-SACK reports.  A real loss
# would cost hundreds; allow a handful.
SPURIOUS = 10
COUNTERS = ("TcpRetransSegs", "TcpInCsumErrors", "TcpInErrs")


def test_tcp_50mb_linux_client_to_emulated_discard_and_echo(pair):
    peer, world, host = pair
    before = nstat(peer, *COUNTERS)
    run = linux_client_to_discard_and_echo(peer, world, host, BIG)
    check_linux_client(run, BIG)
    after = nstat(peer, *COUNTERS)
    assert after["TcpInCsumErrors"] == before["TcpInCsumErrors"]  # the NIC's checksums
    assert after["TcpInErrs"] == before["TcpInErrs"]
    assert host.net.mib.tcp["InCsumErrors"] == host.net.mib.tcp["InErrs"] == 0
    assert_clean_link(peer)
    linux_retrans = after["TcpRetransSegs"] - before["TcpRetransSegs"]
    assert linux_retrans <= SPURIOUS and host.net.mib.tcp["RetransSegs"] <= SPURIOUS
    linux = run["linux"]
    print(f"\nLinux -> emulated discard: {mbps(BIG, linux['discard']['secs']):.0f} Mbit/s; "
          f"through the emulated echo: {mbps(BIG, linux['echo']['secs']):.0f} Mbit/s each "
          f"way at once; retransmitted: Linux {linux_retrans}, emulated "
          f"{host.net.mib.tcp['RetransSegs']} segments")


def test_tcp_50mb_emulated_client_both_ways_with_a_linux_server(pair):
    peer, world, host = pair
    before = nstat(peer, *COUNTERS)
    run = emulated_client_both_ways(peer, world, host, BIG)
    check_emulated_client(run, BIG)
    after = nstat(peer, *COUNTERS)
    assert after["TcpInCsumErrors"] == before["TcpInCsumErrors"]
    assert after["TcpInErrs"] == before["TcpInErrs"]
    assert host.net.mib.tcp["InCsumErrors"] == host.net.mib.tcp["InErrs"] == 0
    assert_clean_link(peer)
    info = run["info"]
    linux_retrans = after["TcpRetransSegs"] - before["TcpRetransSegs"]
    assert linux_retrans <= SPURIOUS and info.total_retrans <= SPURIOUS
    # Linux's view half way through our 50 MB: the options we negotiated, still.
    ss = run["ss"]
    assert ss is not None and {"ts", "sack"} <= ss["flags"], ss
    assert ss["wscale"] == f"{info.rcv_wscale},{info.snd_wscale}" and ss["mss"] == "1448"
    assert info.options == TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE
    print(f"\nemulated -> Linux: {mbps(BIG, run['linux']['in_secs']):.0f} Mbit/s, "
          f"Linux -> emulated: {mbps(BIG, run['in_secs']):.0f} Mbit/s; retransmitted: "
          f"Linux {linux_retrans}, emulated {info.total_retrans} segments\n"
          f"Linux's ss -tino half way:\n{ss['text']}")


# -- options: what each side believes was negotiated -----------------------------------------------
# Linux's end of one connection: send N bytes, then read to EOF (our close) and report.
LINUX_PEER_END = textwrap.dedent("""
    import socket, sys
    role, ip, port, mss, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \\
        int(sys.argv[5])
    if role == "client":
        s = socket.socket()
        if mss:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)  # before the SYN
        s.settimeout(30)
        s.connect((ip, port))
    else:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if mss:
            lst.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        lst.bind((ip, port))
        lst.listen(1)
        print("ready", flush=True)
        s, _ = lst.accept()
        s.settimeout(30)
    s.sendall((bytes(range(256)) * (n // 256 + 1))[:n])
    got = 0
    while data := s.recv(65536):
        got += len(data)
    print("got", got, flush=True)
""")


def connected(peer: LinuxPeer, world: World, host: Any, linux_connects: bool, *,
              our_mss: int = 0, linux_mss: int = 0, linux_sends: int = 0) -> tuple[Any, Any]:
    """One established connection whose Linux end (``LINUX_PEER_END``) sends
    ``linux_sends`` bytes, then reads until we close: (our socket, Linux's process).
    ``*_mss``: TCP_MAXSEG set before the handshake on that side (0: none)."""
    if linux_connects:
        lst = host.socket(socket.AF_INET, socket.SOCK_STREAM)
        if our_mss:
            lst.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, our_mss)
        lst.bind(("0.0.0.0", 7007))
        lst.listen()
        lst.settimeout(10)
        proc = peer.spawn_python(LINUX_PEER_END, "client", EMU_IP, 7007, linux_mss,
                                 linux_sends, bufsize=0)
        sock, _addr = lst.accept()
        lst.close()
    else:
        proc = peer.spawn_python(LINUX_PEER_END, "server", LINUX_IP, 7008, linux_mss,
                                 linux_sends, bufsize=0)
        assert proc.stdout.readline() == b"ready\n"
        sock = host.socket(socket.AF_INET, socket.SOCK_STREAM)
        if our_mss:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, our_mss)
        sock.settimeout(10)
        sock.connect((LINUX_IP, 7008))
    sock.settimeout(10)
    return sock, proc


def close_and_wait(peer: LinuxPeer, world: World, sock: Any, proc: Any) -> str:
    sock.close()
    result = peer.wait(proc, world, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout


BOTH_WAYS = pytest.mark.parametrize("linux_connects", [True, False],
                                    ids=["linux-connects", "emu-connects"])


@BOTH_WAYS
def test_linux_sees_the_options_we_negotiated(pair, linux_connects):
    peer, world, host = pair
    wire = Wire(host.interfaces["eth0"].port)
    sock, proc = connected(peer, world, host, linux_connects)
    linux = linux_view(peer, world, sock.getsockname()[1])
    print(f"\nLinux's ss -tino:\n{linux['text']}")
    ours, theirs = wire.syn("tx"), wire.syn("rx")  # our SYN or SYN-ACK, and Linux's
    # What we offered: MSS for MTU 1500 (1500 - 40), window scaling, SACK, timestamps.
    assert ours.mss == 1460 and ours.sack_permitted and ours.timestamp is not None
    assert ours.wscale is not None and theirs.wscale is not None
    # Linux's view: timestamps and SACK on; wscale:SND,RCV is the shift we advertised (it
    # scales our windows by it) and its own; its mss is our 1460 less the timestamps.
    assert {"ts", "sack"} <= linux["flags"], linux["text"]
    assert linux["wscale"] == f"{ours.wscale},{theirs.wscale}"
    assert (linux["mss"], linux["pmtu"]) == (str(1460 - TS_OPTION), "1500")
    close_and_wait(peer, world, sock, proc)
    assert wire.checksums_ok()  # the NIC finished every checksum before the tap


@BOTH_WAYS
def test_our_tcp_info_shows_the_options_linux_negotiated(pair, linux_connects):
    peer, world, host = pair
    wire = Wire(host.interfaces["eth0"].port)
    sock, proc = connected(peer, world, host, linux_connects)
    linux = linux_view(peer, world, sock.getsockname()[1])
    info = tcp_info(sock)
    ours, theirs = wire.syn("tx"), wire.syn("rx")
    assert theirs.sack_permitted and theirs.timestamp is not None and theirs.mss == 1460
    assert info.state == 1  # TCP_ESTABLISHED
    assert info.options == TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE
    # snd_wscale is the shift Linux told us (its SYN / SYN-ACK), rcv_wscale ours: the same
    # pair as Linux's wscale:SND,RCV, swapped.
    assert (info.snd_wscale, info.rcv_wscale) == (theirs.wscale, ours.wscale)
    assert linux["wscale"] == f"{info.rcv_wscale},{info.snd_wscale}"
    assert info.snd_mss == 1460 - TS_OPTION  # what Linux advertised, less the timestamps
    assert (info.pmtu, info.advmss) == (1500, 1460 - TS_OPTION)
    close_and_wait(peer, world, sock, proc)


@pytest.mark.parametrize("who", ["we-clamp", "linux-clamps"])
def test_tcp_maxseg_clamps_the_mss_both_stacks_use(pair, who):
    """TCP_MAXSEG before the handshake lowers the MSS that side advertises and sends with;
    the other side obeys it, TSO included: no segment on the wire is longer."""
    peer, world, host = pair
    wire = Wire(host.interfaces["eth0"].port)
    clamp = 1200 if who == "we-clamp" else 1000
    sock, proc = connected(peer, world, host, linux_connects=who == "we-clamp",
                           our_mss=clamp if who == "we-clamp" else 0,
                           linux_mss=clamp if who == "linux-clamps" else 0,
                           linux_sends=200_000)
    linux = linux_view(peer, world, sock.getsockname()[1])
    assert wire.syn("tx" if who == "we-clamp" else "rx").mss == clamp
    mss = clamp - TS_OPTION
    info = tcp_info(sock)
    assert linux["mss"] == str(mss) and info.snd_mss == mss  # both send with the clamp
    got = 0
    while got < 200_000:  # Linux's, first: it reads only once it has sent them
        got += len(sock.recv(65536))
    sock.sendall(bytes(300_000))  # TSO bursts through the NIC
    assert close_and_wait(peer, world, sock, proc).split() == ["got", "300000"]
    assert wire.largest("tx") == mss and wire.largest("rx") == mss
    assert wire.checksums_ok()


# -- other services, refusals and resets -----------------------------------------------------------
LINUX_HTTP_CLIENT = textwrap.dedent("""
    import hashlib, http.client, json, sys
    conn = http.client.HTTPConnection(sys.argv[1], 80, timeout=30)
    out = []
    for path in ("/hello", "/bytes/1000000", "/nope"):
        conn.request("GET", path)  # one keep-alive connection for the three
        resp = conn.getresponse()
        body = resp.read()
        out.append([path, resp.status, len(body), hashlib.sha256(body).hexdigest()])
    conn.close()
    print(json.dumps(out))
""")


def test_linux_fetches_pages_from_the_emulated_http_server(pair):
    peer, world, host = pair
    server = host.spawn(http_server(host, 80, connections=1))
    world.run_for("1ms")
    result = peer.python(LINUX_HTTP_CLIENT, EMU_IP, world=world)
    got = json.loads(result.stdout)
    sha = hashlib.sha256
    assert got[:2] == [["/hello", 200, 13, sha(b"hello, world\n").hexdigest()],
                       ["/bytes/1000000", 200, MB, sha(body_bytes(MB)).hexdigest()]]
    assert got[2][:2] == ["/nope", 404]
    assert world.run_until(server.done, timeout="3s")
    assert server.result().requests == 3


LINUX_REFUSED_AND_RESET = textwrap.dedent("""
    import socket, struct, sys
    ip = sys.argv[1]
    try:
        socket.create_connection((ip, 4444), timeout=10)  # nobody listens there
        print("connected?!")
    except ConnectionRefusedError:
        print("refused", flush=True)
    s = socket.create_connection((ip, 4445), timeout=10)
    try:
        print("read", s.recv(100), flush=True)
        print("read again", s.recv(100), flush=True)  # the emulated side aborts
    except ConnectionResetError:
        print("reset", flush=True)
    lst = socket.socket()
    lst.bind((sys.argv[2], 4446))
    lst.listen(1)
    print("ready", flush=True)
    c, _ = lst.accept()
    c.sendall(b"bye")
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()  # abortive: RST
""")


def test_refusals_and_resets_both_ways(pair):
    peer, world, host = pair
    lst = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("0.0.0.0", 4445))
    lst.listen()
    lst.settimeout(10)
    proc = peer.spawn_python(LINUX_REFUSED_AND_RESET, EMU_IP, LINUX_IP, bufsize=0)
    linux = Lines(proc, world)
    assert linux.next() == "refused"  # our RST to its SYN on a port nobody listens on
    assert host.net.mib.tcp["OutRsts"] == 1
    conn, _ = lst.accept()
    lst.close()
    conn.sendall(b"partial")
    assert linux.next() == "read b'partial'"
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # abortive: RST
    assert linux.next() == "reset"
    assert linux.next() == "ready"
    linux.close()
    # Linux refuses us, then aborts the one connection it accepted.
    refused = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    refused.settimeout(10)
    with pytest.raises(ConnectionRefusedError):
        refused.connect((LINUX_IP, 4447))
    sock = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((LINUX_IP, 4446))
    assert sock.recv(100) == b"bye"
    with pytest.raises(ConnectionResetError):
        sock.recv(100)
    assert host.net.mib.tcp["AttemptFails"] >= 1 and host.net.mib.tcp["EstabResets"] >= 1
    result = peer.wait(proc, world, timeout=10)
    assert result.returncode == 0, result.stderr



LINUX_SLOW_END = textwrap.dedent("""
    import hashlib, socket, sys, time
    role, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = bytes(range(256)) * 4096  # 1 MiB
    if role == "send":
        s = socket.create_connection((ip, port), timeout=30)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        print("sent", hashlib.sha256(data).hexdigest(), flush=True)
        s.recv(1)
    else:
        lst = socket.socket()
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a window of ~2 segments
        lst.bind((ip, port))
        lst.listen(1)
        print("ready", flush=True)
        c, _ = lst.accept()
        c.settimeout(30)
        # Not reading: the window closes and the emulated sender's persist timer probes it
        # (first probe one RTO, >= 200 ms, after the window closed).  1.5 s leaves room for
        # several probes even when a loaded machine is slow to fill the window.
        time.sleep(1.5)
        h, n = hashlib.sha256(), 0
        while d := c.recv(65536):
            h.update(d)
            n += len(d)
        print("got", n, h.hexdigest(), flush=True)
""")
MIB_SHA = hashlib.sha256(bytes(range(256)) * 4096).hexdigest()


def test_zero_windows_and_probes_both_ways(pair):
    """A receiver that does not read closes its window; the sender probes it (persist
    timer) until the reader opens it again; nothing is lost either way."""
    peer, world, host = pair
    before = nstat(peer, "TcpExtTCPWinProbe", "TcpExtTCPToZeroWindowAdv")
    lst = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lst.bind(("0.0.0.0", 7010))
    lst.listen()
    lst.settimeout(10)
    proc = peer.spawn_python(LINUX_SLOW_END, "send", EMU_IP, 7010, bufsize=0)
    conn, _ = lst.accept()
    lst.close()
    world.run_for("600ms")  # we do not read: our window closes, Linux probes it
    assert tcp_info(conn).rcv_wnd == 0
    assert host.net.mib.tcpext["TCPToZeroWindowAdv"] >= 1
    conn.settimeout(30)
    digest, got = hashlib.sha256(), 0
    while data := conn.recv(65536):
        digest.update(data)
        got += len(data)
    assert (got, digest.hexdigest()) == (1 << 20, MIB_SHA)
    assert close_and_wait(peer, world, conn, proc).split() == ["sent", MIB_SHA]
    assert nstat(peer, "TcpExtTCPWinProbe")["TcpExtTCPWinProbe"] > before["TcpExtTCPWinProbe"]

    proc = peer.spawn_python(LINUX_SLOW_END, "recv", LINUX_IP, 7011, bufsize=0)
    assert proc.stdout.readline() == b"ready\n"
    sock = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect((LINUX_IP, 7011))
    sock.sendall(bytes(range(256)) * 4096)
    sock.shutdown(socket.SHUT_WR)
    assert close_and_wait(peer, world, sock, proc).split() == ["got", str(1 << 20), MIB_SHA]
    assert host.net.mib.tcpext["TCPWinProbe"] >= 1  # our persist timer's probes
    after = nstat(peer, "TcpExtTCPToZeroWindowAdv")["TcpExtTCPToZeroWindowAdv"]
    assert after > before["TcpExtTCPToZeroWindowAdv"]  # Linux closed its window on us


# -- impairments -----------------------------------------------------------------------------------
def survive(peer: LinuxPeer, world: World, host: Any, nbytes: int) -> dict[str, int]:
    """Both kinds of transfer under whatever impairs the link, intact; who repaired what."""
    before = nstat(peer, "TcpRetransSegs", "TcpExtTCPSackRecovery", "TcpExtTCPDSACKRecv",
                   "TcpInCsumErrors")
    t0 = time.perf_counter()
    check_linux_client(linux_client_to_discard_and_echo(peer, world, host, nbytes), nbytes)
    check_emulated_client(emulated_client_both_ways(peer, world, host, nbytes), nbytes)
    after = nstat(peer, *before)
    moved = {f"linux {k}": after[k] - before[k] for k in before}
    moved["emu RetransSegs"] = host.net.mib.tcp["RetransSegs"]
    moved["emu TCPSackRecovery"] = host.net.mib.tcpext["TCPSackRecovery"]
    moved["emu TCPOFOQueue"] = host.net.mib.tcpext["TCPOFOQueue"]
    moved["secs"] = round(time.perf_counter() - t0)
    print(f"\n{4 * nbytes // MB} MB moved under impairment: {moved}")
    assert moved["linux TcpInCsumErrors"] == 0
    return moved


def test_tcp_under_netem_loss_reorder_and_delay(pair):
    """``tc qdisc add dev TAP root netem loss 1% reorder 5% delay 1ms`` on Linux's side."""
    peer, world, host = pair
    try:
        peer.netem(loss=0.01, reorder=0.05, delay="1ms")
    except Unavailable as exc:
        pytest.skip(f"{exc}; test_tcp_under_loss_reorder_and_delay_on_our_side runs instead")
    moved = survive(peer, world, host, IMPAIRED)
    assert moved["linux TcpRetransSegs"] > 0  # netem lost Linux's data: it repaired it
    assert moved["emu TCPOFOQueue"] > 0  # from our SACKs, while we queued past the holes


def test_tcp_under_loss_reorder_and_delay_on_our_side():
    """The netem test's impairment applied by the emulated side instead (it runs where
    sch_netem is missing), on frames both ways: 1 ms delay, 1 % loss, 5 % held back 1 ms.
    Each stack repairs the losses of its own data from the other's SACKs."""
    shims: list[ImpairedTap] = []

    def impair(world: World, port: Any, tap: Any) -> None:
        def stages() -> list[Any]:
            return [Delay(MS), Loss(0.01), Reorder(0.05, MS)]

        shims.append(ImpairedTap(world, port, tap, rx=stages(), tx=stages()))

    with linux_and_emulated(impair) as (peer, world, host):
        moved = survive(peer, world, host, IMPAIRED)
        counts = shims[0].counts()
        print(counts)
        assert counts["rx loss"] > 0 and counts["tx loss"] > 0
        assert moved["linux TcpRetransSegs"] > 0 and moved["linux TcpExtTCPSackRecovery"] > 0
        assert moved["emu RetransSegs"] > 0 and moved["emu TCPSackRecovery"] > 0
        assert moved["emu TCPOFOQueue"] > 0
