"""Counted cost: function calls and scheduler events per unit of work, not timed.

Wall-clock figures move with the machine and its load; these do not.  Each figure is one
counted pass over a fixed amount of work, after a warm-up (so one-time imports, caches,
ARP, the TCP handshake and slow start are not in it), under ``cProfile``:

* ``calls_per_frame_64`` / ``calls_per_frame_1514``: calls per frame on the raw path of
  :mod:`ixsim.bench.frames` (qdisc, driver, device, cable, device, NAPI, the 0x88B5 sink),
  ``FRAMES`` frames;
* ``calls_per_tcp_mss``: calls per 1448 bytes of payload of a TCP bulk transfer between two
  emulated hosts (MTU 1500, TSO and GRO on), ``TCP_BYTES`` bytes on an established,
  warmed-up connection;
* ``calls_per_rr``: calls per 1-byte request/response transaction, ``RR`` of them;
* ``events_*``: scheduler events per unit (``Scheduler.events_run``, which counts both the
  events the loop pops and those a device runs inline with ``run_inline``).

What a call is: cProfile's count, the one ``ixsim bench --profile`` shows and the one the
issue's "119 calls per 64-byte frame" was read from -- every call of a Python function
(a coroutine resumed counts too, as it does in cProfile) *and* every call of a C function
from Python code: builtins (``len``, ``dict.get``, ``deque.append``, ``struct`` methods) and
the C core's functions.  C functions are calls the interpreter dispatches one by one, which is
the cost being counted; leaving them out would let a change that replaces one Python call by
three builtin calls look free.  The split says both columns, per layer: ``python`` (calls of
functions defined in the layer) and ``c`` (calls of C functions made from the layer's code).
A C function is charged to the layer of the Python code that called it, except the C core's
own functions (``fastpath._cext``), which are the ``C core`` layer whoever calls them.

Layers, by the file a function is defined in (:func:`layer_of`): ``device/cable.py`` ->
cable, the rest of ``device/`` -> device, ``driver/`` -> driver, ``stack/`` by Linux's
directories (``stack/tcp``, ``stack/ipv6/tcp_ipv6.py`` and ``stack/wire/tcp.py`` -> TCP;
``stack/ipv4``, ``stack/ipv6``, ``stack/neigh/arp.py``, ``stack/inetpeer.py`` and the
IP/ICMP wire formats -> IP; ``stack/socket``, ``stack/sock*.py``, ``stack/af_inet.py``, UDP,
raw, ping and packet sockets -> sockets; everything else, ``stack/core``, ``stack/sched``,
the neighbour table, Ethernet and ARP wire formats, -> core), ``fastpath/`` -> C core (the
Python wrappers and the extension's functions), ``ixsim/sched.py``, ``ixsim/clock.py``,
``ixsim/tasks.py`` and ``ixsim/realtime.py`` -> scheduler, the rest of ``ixsim/`` -> world
(the host, the World and the task-side socket calls), ``ixsim/bench/`` -> bench (the
benchmark's own source and sink), the standard library's Python functions -> stdlib.

Deterministic: the same work on the same code gives the same integers on any machine, run
after run -- the world runs on virtual time with a fixed seed, and the cyclic garbage
collector is off during the pass (a collection would run ``__del__`` methods at a moment that
depends on the process's history).  The figures are the counts divided by the units, one
decimal; the integers are in ``costs`` (``ixsim bench --json``).
"""

from __future__ import annotations

import cProfile
import gc
import pstats
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import device
import driver
import fastpath
import ixsim
import stack
from ixsim.bench import frames, tcp
from ixsim.clock import parse_duration

FRAMES = 2_000  # frames per counted raw-path pass (both lengths)
TCP_BYTES = 4 << 20  # payload per counted TCP bulk pass
TCP_WARMUP_BYTES = 1 << 20
MSS = 1448  # payload per segment at MTU 1500 with timestamps: the unit of calls_per_tcp_mss
RR = 500  # transactions per counted request/response pass
RR_WARMUP = 50
_CHUNK = 65536
_LIMIT = "60s"  # virtual time a counted TCP pass may take

LAYERS = (
    "device", "cable", "driver", "core", "IP", "TCP", "sockets", "scheduler", "C core",
    "world", "bench", "stdlib",
)  # fmt: skip
FIGURES = (
    "calls_per_frame_64", "calls_per_frame_1514", "calls_per_tcp_mss", "calls_per_rr",
    "events_per_frame_64",
)  # fmt: skip

_ROOTS = {
    name: Path(mod.__file__).resolve().parent
    for name, mod in (("device", device), ("driver", driver), ("stack", stack),
                      ("fastpath", fastpath), ("ixsim", ixsim))
}  # fmt: skip
_SCHEDULER = {"sched.py", "clock.py", "tasks.py", "realtime.py"}
_IP_WIRE = {"ipv4.py", "ipv6.py", "icmp.py", "icmpv6.py"}
_SOCKET_FILES = {"af_inet.py", "af_inet6.py", "raw.py", "ping.py", "packet.py"}
_C_CORE_MODULE = "fastpath._cext"


def _stack_layer(parts: tuple[str, ...]) -> str:
    """The layer of a file under stack/, by Linux's directory (``parts`` relative to stack/)."""
    top, name = parts[0], parts[-1]
    if top == "tcp" or name.startswith("tcp"):
        return "TCP"
    if top == "wire":
        if name in _IP_WIRE:
            return "IP"
        return "sockets" if name == "udp.py" else "core"
    if top == "socket" or name.startswith(("sock", "udp")) or name in _SOCKET_FILES:
        return "sockets"
    if top in ("ipv4", "ipv6") or name in ("arp.py", "inetpeer.py"):
        return "IP"
    return "core"


def layer_of(filename: str) -> str:
    """The layer a function defined in ``filename`` belongs to (module docstring)."""
    path = Path(filename).resolve()
    for root_name, root in _ROOTS.items():
        if not path.is_relative_to(root):
            continue
        parts = path.relative_to(root).parts
        if root_name == "device":
            return "cable" if parts == ("cable.py",) else "device"
        if root_name == "stack":
            return _stack_layer(parts)
        if root_name == "fastpath":
            return "C core"
        if root_name == "ixsim":
            if parts[0] == "bench":
                return "bench"
            return "scheduler" if parts[0] in _SCHEDULER else "world"
        return root_name
    return "stdlib"


@dataclass
class Cost:
    """One counted pass: ``calls`` over ``units`` units of work, split by layer."""

    unit: str  # what one unit is ("64-byte frame", "1448 bytes of TCP payload", ...)
    units: float
    calls: int
    events: int
    python: dict[str, int] = field(default_factory=dict)  # layer -> Python function calls
    c: dict[str, int] = field(default_factory=dict)  # layer -> C function calls made there

    @property
    def per_unit(self) -> float:
        return round(self.calls / self.units, 1)

    @property
    def events_per_unit(self) -> float:
        return round(self.events / self.units, 1)

    def as_dict(self) -> dict[str, Any]:
        layers = {}
        for name in LAYERS:
            py, cc = self.python.get(name, 0), self.c.get(name, 0)
            if py or cc:
                layers[name] = {"python": py, "c": cc,
                                "per_unit": round((py + cc) / self.units, 1)}  # fmt: skip
        return {
            "value": self.per_unit, "unit": self.unit, "units": self.units,
            "calls": self.calls, "python_calls": sum(self.python.values()),
            "c_calls": sum(self.c.values()), "events": self.events,
            "events_per_unit": self.events_per_unit, "layers": layers,
        }  # fmt: skip


def _charge(stats: dict[Any, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Python and C calls per layer from cProfile's raw stats (module docstring's rules)."""
    python: dict[str, int] = {}
    c: dict[str, int] = {}
    layers: dict[str, str] = {}

    def of(filename: str) -> str:
        if filename not in layers:
            layers[filename] = layer_of(filename)
        return layers[filename]

    for (filename, _line, name), (_cc, nc, _tt, _ct, callers) in stats.items():
        if filename != "~":
            layer = of(filename)
            python[layer] = python.get(layer, 0) + nc
        elif _C_CORE_MODULE in name:
            c["C core"] = c.get("C core", 0) + nc
        elif name == "<method 'disable' of '_lsprof.Profiler' objects>":
            continue  # the profiler's own off switch
        else:
            charged = 0
            for (cfile, _cline, _cname), cstats in callers.items():
                layer = of(cfile) if cfile != "~" else "stdlib"
                c[layer] = c.get(layer, 0) + cstats[0]
                charged += cstats[0]
            if nc > charged:  # called from the pass's own top level
                c["bench"] = c.get("bench", 0) + nc - charged
    return python, c


def count(work: Callable[[], Any], sched: Any, unit: str, units: float) -> Cost:
    """Run ``work`` once under cProfile with the garbage collector off; its :class:`Cost`."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    prof = cProfile.Profile()
    events0 = sched.events_run
    try:
        prof.enable()
        try:
            work()
        finally:
            prof.disable()
    finally:
        if was_enabled:
            gc.enable()
    events = sched.events_run - events0
    python, c = _charge(pstats.Stats(prof).stats)  # type: ignore[attr-defined]
    total = sum(python.values()) + sum(c.values())
    return Cost(unit, units, total, events, python, c)


def run_tasks(w: Any, *coros: Any) -> None:
    """Run the coroutines as tasks until all finish, with no condition checked per event.

    :func:`ixsim.bench.tcp.run_tasks` gives ``run_until`` a predicate, which the scheduler
    calls before every event and in every ``run_inline``: harness calls that would be counted
    as the scheduler's and the benchmark's.  Here the last task to finish calls ``stop()``.
    """
    sched = w.sched
    tasks = [w.spawn(coro) for coro in coros]
    left = [len(tasks)]

    def finished(_task: Any) -> None:
        left[0] -= 1
        if not left[0]:
            sched.stop()

    for task in tasks:
        task.add_done_callback(finished)
    sched.run_until_time(sched.now + parse_duration(_LIMIT))
    for task in tasks:
        if not task.done():
            raise TimeoutError(f"the counted pass did not finish within {_LIMIT} of virtual time")
        task.result()


def frames_cost(length: int, n: int = FRAMES) -> Cost:
    """Calls per frame of ``length`` bytes (without FCS) on the raw path, after a warm-up."""
    rig = frames.FramesRig(length)
    try:
        rig.send(frames.WARMUP_FRAMES)
        return count(lambda: rig.send(n), rig.world.sched, f"{length + frames.FCS}-byte frame", n)
    finally:
        rig.close()


def tcp_cost(nbytes: int = TCP_BYTES) -> Cost:
    """Calls per 1448 bytes of payload of a bulk transfer a -> b, on a warmed-up connection."""
    w, a, b = tcp.pair()
    with w:
        _srv, cl, conn = tcp.connect(w, a, b)
        payload = memoryview(bytes(_CHUNK))

        async def sender(total: int) -> None:
            sent = 0
            while sent < total:
                piece = payload[: min(_CHUNK, total - sent)]
                await cl.sendall(piece)
                sent += len(piece)

        async def receiver(total: int) -> None:
            got = 0
            while got < total:
                data = await conn.recv(_CHUNK)
                if not data:
                    raise RuntimeError(f"EOF after {got} of {total} bytes")
                got += len(data)

        run_tasks(w, sender(TCP_WARMUP_BYTES), receiver(TCP_WARMUP_BYTES))
        return count(lambda: run_tasks(w, sender(nbytes), receiver(nbytes)), w.sched,
                     f"{MSS} bytes of TCP payload", nbytes / MSS)  # fmt: skip


def rr_cost(n: int = RR) -> Cost:
    """Calls per 1-byte request/response transaction, after ``RR_WARMUP`` of them."""
    w, a, b = tcp.pair()
    with w:
        _srv, cl, conn = tcp.connect(w, a, b)

        async def client(k: int) -> None:
            for _ in range(k):
                await cl.sendall(b"q")
                if await cl.recv(1) != b"r":
                    raise RuntimeError("wrong response")

        async def server(k: int) -> None:
            for _ in range(k):
                if await conn.recv(1) != b"q":
                    raise RuntimeError("wrong request")
                await conn.sendall(b"r")

        run_tasks(w, client(RR_WARMUP), server(RR_WARMUP))
        return count(lambda: run_tasks(w, client(n), server(n)), w.sched,
                     "request/response transaction", n)  # fmt: skip


def measure(log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every cost figure: ``{"figures": {name: value | None}, "skipped": {...}, "costs": {...}}``.

    The same work in ``--quick`` and full runs, so CI prints the very figures a full run does.
    """
    say = log or (lambda _line: None)
    figures: dict[str, float | None] = dict.fromkeys(FIGURES)
    skipped: dict[str, str] = {}
    costs: dict[str, Any] = {}
    for key, length in (("calls_per_frame_64", 60), ("calls_per_frame_1514", 1514)):
        say(f"counted pass: {key} ({FRAMES} frames)")
        cost = frames_cost(length)
        figures[key] = cost.per_unit
        costs[key] = cost.as_dict()
    figures["events_per_frame_64"] = costs["calls_per_frame_64"]["events_per_unit"]
    ok, reason = tcp.available()
    for key, fn in (("calls_per_tcp_mss", tcp_cost), ("calls_per_rr", rr_cost)):
        if not ok:
            skipped[key] = reason
            continue
        say(f"counted pass: {key}")
        try:
            cost = fn()
        except Exception as exc:  # noqa: BLE001 - a broken TCP is reported, not a crash
            skipped[key] = f"error: {type(exc).__name__}: {exc}"
            continue
        figures[key] = cost.per_unit
        costs[key] = cost.as_dict()
    return {"figures": figures, "skipped": skipped, "costs": costs}
