"""Linux in a network namespace <-> an emulated host over a tap, in real time.

* ``tap_ping_median_us``: Linux pings the emulated host (``ping -i 0.01``, or the raw-socket
  twin ``ixsim.netns`` falls back to); the median of the per-reply RTTs, in µs.
* ``tap_tcp_mbps``: Linux sends ``nbytes`` to a TCP sink on the emulated host; Mbit/s.
* ``tap_rr_median_us``: 1-byte request/response from Linux to an echo on the emulated host;
  the median round trip in µs.
* ``tap_ping_lowlat_median_us``, ``tap_rr_lowlat_median_us``: the same two latencies with the
  driver's interrupt moderation off (module parameters ``RxIntDelay=0``, ``TxIntDelay=0``: the
  low-latency tuning ``ethtool -C eth0 rx-usecs 0 tx-usecs 0`` would give).  The headline
  figures above keep the driver's defaults (RDTR 72 = 59 µs before the receive interrupt),
  which the NIC spends in wall time when the world runs in real time: legitimate hardware
  behaviour, shown apart so that the loop's and the stack's own latency can be read off.

Each figure is skipped with the reason when what it needs is missing: root, /dev/net/tun or
``ip netns`` (``ixsim.netns.available``), the tap backend itself, or, for the two TCP
figures, TCP on the emulated host (``ixsim.bench.tcp.available``).  Any failure while measuring is
reported as ``error: ...`` in the same place, never as a crash of the whole run: the namespace
is always deleted again (``LinuxPeer.close``).
"""

from __future__ import annotations

import os
import re
import statistics
from typing import Any

from ixsim.bench import tcp

LINUX_ADDR = "10.77.9.1/24"
EMU_ADDR = "10.77.9.2/24"
EMU_IP = "10.77.9.2"
PORT = 5001
LOW_LATENCY = {"RxIntDelay": 0, "TxIntDelay": 0}  # ethtool -C rx-usecs 0 tx-usecs 0
_RTT = re.compile(r"time=([0-9.]+) ms")

# Linux side of the TCP figures: a plain client, timed by Linux's own clock.
TCP_CLIENT = """
import socket, sys, time
host, port, nbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
buf = bytes(65536)
t0 = time.perf_counter()
left = nbytes
while left:
    left -= s.send(buf[:min(left, len(buf))])
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(nbytes * 8 / (time.perf_counter() - t0) / 1e6)
"""
RR_CLIENT = """
import socket, statistics, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((host, port), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(count):
    t0 = time.perf_counter()
    s.sendall(b"q")
    if s.recv(1) != b"q":
        raise SystemExit("bad echo")
    rtts.append((time.perf_counter() - t0) * 1e6)
print(statistics.median(rtts))
"""


FIGURES = (
    "tap_tcp_mbps",
    "tap_ping_median_us",
    "tap_rr_median_us",
    "tap_ping_lowlat_median_us",
    "tap_rr_lowlat_median_us",
)


def prerequisites() -> tuple[bool, str]:
    """Root, /dev/net/tun, ip netns and the tap backend; ``(True, "")`` or the reason."""
    try:
        from ixsim import netns
    except Exception as exc:  # noqa: BLE001 - the backend is still being written
        return False, f"skipped: the tap backend is not available yet ({exc})"
    ok, reason = netns.available()
    return (True, "") if ok else (False, f"skipped: {reason}")


def _skipped(reason: str) -> dict[str, Any]:
    return {"value": None, "skipped": reason}


def _peer_and_host(driver_params: dict[str, int] | None = None) -> tuple[Any, Any, Any]:
    from ixsim.netns import LinuxPeer, attach_tap
    from ixsim.world import World

    tag = os.getpid() % 100_000
    peer = LinuxPeer(
        ns=f"ixsim-bench{tag}", tap=f"ixbench{tag}", linux_addr=LINUX_ADDR, emu_addr=EMU_ADDR
    ).setup()
    try:
        world = World(realtime=True)
        host = world.host("emu", EMU_ADDR, driver_params=driver_params)
        attach_tap(world, host, "eth0", peer.tap)
    except BaseException:
        peer.close()
        raise
    return peer, world, host


def ping_median(count: int, driver_params: dict[str, int] | None = None) -> float:
    peer, world, _host = _peer_and_host(driver_params)
    try:
        peer.ping(EMU_IP, count=3, interval=0.05, world=world)  # ARP and warm-up
        result = peer.ping(EMU_IP, count=count, interval=0.01, world=world)
        rtts = [float(m) for m in _RTT.findall(result.output)]
        if not rtts:
            raise RuntimeError(f"no replies: {result.output.strip()[-200:]}")
        return round(statistics.median(rtts) * 1000, 1)
    finally:
        world.close()
        peer.close()


def _serve(host: Any, world: Any, echo: bool) -> Any:
    import socket

    srv = host.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("0.0.0.0", PORT))
    srv.listen()

    async def server() -> None:
        conn, _peer = await srv.accept()
        while data := await conn.recv(65536):
            if echo:
                await conn.sendall(data)
        if not echo:
            await conn.sendall(b"!")  # the client's recv(1): everything arrived
        conn.close()

    return world.spawn(server())


def tcp_mbps(nbytes: int) -> float:
    peer, world, host = _peer_and_host()
    try:
        _serve(host, world, echo=False)
        result = peer.python(TCP_CLIENT, EMU_IP, PORT, nbytes, world=world, timeout=120)
        return round(float(result.stdout.strip().splitlines()[-1]), 1)
    finally:
        world.close()
        peer.close()


def rr_median(count: int, driver_params: dict[str, int] | None = None) -> float:
    peer, world, host = _peer_and_host(driver_params)
    try:
        _serve(host, world, echo=True)
        result = peer.python(RR_CLIENT, EMU_IP, PORT, count, world=world, timeout=120)
        return round(float(result.stdout.strip().splitlines()[-1]), 1)
    finally:
        world.close()
        peer.close()


def _figure(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return {"value": fn(*args), "skipped": None}
    except Exception as exc:  # noqa: BLE001 - reported in the figure, the run goes on
        return _skipped(f"error: {type(exc).__name__}: {exc}")


def counts(quick: bool) -> tuple[int, int, int]:
    """Pings, request/response transactions and TCP bytes per figure (also for PyTCP's)."""
    pings, rrs = (50, 50) if quick else (200, 1000)  # 20 pings gave too noisy a median
    return pings, rrs, (4 << 20) if quick else (64 << 20)


def measure(quick: bool) -> dict[str, dict[str, Any]]:
    """Every tap figure as ``{"value": number | None, "skipped": reason | None}``."""
    ok, reason = prerequisites()
    if not ok:
        return {name: _skipped(reason) for name in FIGURES}
    pings, rrs, nbytes = counts(quick)
    out = {"tap_ping_median_us": _figure(ping_median, pings)}
    tcp_ok, tcp_reason = tcp.available()
    if not tcp_ok:
        out["tap_tcp_mbps"] = _skipped(tcp_reason)
        out["tap_rr_median_us"] = _skipped(tcp_reason)
    else:
        out["tap_tcp_mbps"] = _figure(tcp_mbps, nbytes)
        out["tap_rr_median_us"] = _figure(rr_median, rrs)
    out["tap_ping_lowlat_median_us"] = _figure(ping_median, pings, LOW_LATENCY)
    out["tap_rr_lowlat_median_us"] = (
        _figure(rr_median, rrs, LOW_LATENCY) if tcp_ok else _skipped(tcp_reason)
    )
    return out
