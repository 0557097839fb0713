"""TCP between two emulated hosts: bulk goodput (wall clock and virtual time), request/response.

Until ``stack.tcp`` exposes ``TcpSock`` and two hosts can actually connect, every figure here
is skipped with the reason "skipped: TCP not available yet" (and what the probe saw), so
``ixsim bench`` runs and reports on a tree where TCP is still being written.  Once the probe
connects, the same code measures:

* ``tcp_b2b_mbps`` / ``tcp_b2b_jumbo_mbps``: one connection a -> b on a 10 Gb/s cable with no
  latency, MTU 1500 / 9000, ``nbytes`` of application data; Mbit/s of goodput per *wall*
  second (the speed of the implementation).
* ``tcp_virtual_gbps``: a 256 MiB transfer (MTU 1500) on a 10 Gb/s cable with 100 µs RTT
  (50 µs each way); Gbit/s per *virtual* second (the quality of the protocol: an honest stack
  fills the pipe).
* ``tcp_rr_per_s``: a 1-byte request and a 1-byte response, back to back on one
  connection, per wall second.

Both ends are tasks (``host.spawn``), so they use the awaitable socket calls; the world runs
until both finish or a virtual-time limit passes.
"""

from __future__ import annotations

import functools
import socket
import time
from collections.abc import Callable
from typing import Any

from ixsim.world import World

PORT = 5001
SKIP = "skipped: TCP not available yet"
_CHUNK = 65536
_LIMIT = "60s"  # virtual time any one measurement may take


def pair(mtu: int = 1500, latency: str = "0us") -> tuple[World, Any, Any]:
    """Two hosts, 10.0.0.1 (a) and 10.0.0.2 (b), on one cable; MTU and one-way latency."""
    from stack.core import dev_set_mtu

    w = World(seed=1)
    a = w.host("a", "10.0.0.1/24")
    b = w.host("b", "10.0.0.2/24")
    if mtu != 1500:
        for host in (a, b):
            if dev_set_mtu(host.eth0, mtu) != 0:
                raise RuntimeError(f"{host.name}: MTU {mtu} refused")
    w.cable(a.eth0, b.eth0, latency=latency)
    return w, a, b


def connect(w: World, a: Any, b: Any) -> tuple[Any, Any, Any]:
    """b listens on ``PORT``, a connects: (listener, a's socket, b's accepted socket)."""
    srv = b.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", PORT))
    srv.listen()
    c = a.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.settimeout(1.0)
    c.connect(("10.0.0.2", PORT))
    conn, _peer = srv.accept()
    return srv, c, conn


@functools.cache
def available() -> tuple[bool, str]:
    """``(True, "")`` once stack.tcp has TcpSock and a connection between two hosts forms."""
    try:
        from stack.tcp import TcpSock  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means "not yet"
        return False, f"{SKIP} (stack.tcp: {type(exc).__name__}: {exc})"
    try:
        w, a, b = pair()
        with w:
            connect(w, a, b)
    except Exception as exc:  # noqa: BLE001 - a probe: every failure is a reason to skip
        return False, f"{SKIP} (two hosts cannot connect: {type(exc).__name__}: {exc})"
    return True, ""


def run_tasks(w: World, *coros: Any) -> list[Any]:
    """Spawn the coroutines as tasks and run the world until all finish; their results."""
    tasks = [w.spawn(coro) for coro in coros]
    if not w.run_until(
        lambda: all(t.done() for t in tasks), timeout=_LIMIT, what="the benchmark's tasks"
    ):
        raise TimeoutError(f"the transfer did not finish within {_LIMIT} of virtual time")
    return [t.result() for t in tasks]


def bulk(nbytes: int, mtu: int = 1500, latency: str = "0us") -> tuple[float, int]:
    """Send ``nbytes`` a -> b on one connection; (wall seconds, virtual ns) of the transfer."""
    w, a, b = pair(mtu, latency)
    with w:
        srv, c, conn = connect(w, a, b)
        payload = memoryview(bytes(_CHUNK))

        async def sender() -> int:
            sent = 0
            while sent < nbytes:
                piece = payload[: min(_CHUNK, nbytes - sent)]
                await c.sendall(piece)
                sent += len(piece)
            c.shutdown(socket.SHUT_WR)
            return sent

        async def receiver() -> int:
            got = 0
            while data := await conn.recv(_CHUNK):
                got += len(data)
            return got

        v0 = w.now
        t0 = time.perf_counter()
        sent, got = run_tasks(w, sender(), receiver())
        wall = time.perf_counter() - t0
        if got != nbytes:
            raise RuntimeError(f"{sent} bytes sent, {got} received")
        return wall, w.now - v0


def request_response(count: int) -> float:
    """``count`` 1-byte requests, each answered by 1 byte; wall seconds for all of them."""
    w, a, b = pair()
    with w:
        srv, c, conn = connect(w, a, b)

        async def client() -> None:
            for _ in range(count):
                await c.sendall(b"q")
                if await c.recv(1) != b"r":
                    raise RuntimeError("wrong response")

        async def server() -> None:
            for _ in range(count):
                if await conn.recv(1) != b"q":
                    raise RuntimeError("wrong request")
                await conn.sendall(b"r")

        t0 = time.perf_counter()
        run_tasks(w, client(), server())
        return time.perf_counter() - t0


def _figure(fn: Callable[[], float], ok: bool, reason: str) -> dict[str, Any]:
    if not ok:
        return {"value": None, "skipped": reason}
    try:
        return {"value": fn(), "skipped": None}
    except Exception as exc:  # noqa: BLE001 - a broken TCP is reported, not a crash
        return {"value": None, "skipped": f"error: {type(exc).__name__}: {exc}"}


def measure(quick: bool) -> dict[str, dict[str, Any]]:
    """Every TCP figure as ``{"value": number | None, "skipped": reason | None}``."""
    ok, reason = available()
    nbytes = (2 << 20) if quick else (32 << 20)
    rr = 200 if quick else 5000

    def b2b() -> float:
        wall, _ = bulk(nbytes)
        return round(nbytes * 8 / wall / 1e6, 1)

    def jumbo() -> float:
        wall, _ = bulk(nbytes, mtu=9000)
        return round(nbytes * 8 / wall / 1e6, 1)

    # Protocol quality needs a transfer long enough that slow start and receive-buffer
    # autotuning (about 1.5 ms at 100 us RTT) are amortised: 256 MiB of virtual traffic.
    vbytes = (2 << 20) if quick else (256 << 20)

    def virtual() -> float:
        _, ns = bulk(vbytes, latency="50us")
        return round(vbytes * 8 / ns, 3)  # bits per ns = Gbit/s

    def per_s() -> float:
        return round(rr / request_response(rr))

    return {
        "tcp_b2b_mbps": _figure(b2b, ok, reason),
        "tcp_b2b_jumbo_mbps": _figure(jumbo, ok, reason),
        "tcp_virtual_gbps": _figure(virtual, ok, reason),
        "tcp_rr_per_s": _figure(per_s, ok, reason),
    }
