"""The demo scenario: two hosts back to back, link, ARP, ping, a TCP bulk transfer.

Written on the public API only (World, Host, sockets, tasks), so it doubles as an example of
a two-host test.  ``run_demo`` returns the figures; ``ixsim demo`` prints them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ixsim.host import Host
from ixsim.world import World
from stack.core import IF_OPER_UP, dev_set_mtu

CHUNK = 64 * 1024
PORT = 5001


@dataclass
class DemoResult:
    ok: bool = False
    bytes: int = 0
    sha256_match: bool = False
    goodput_virtual_gbps: float = 0.0
    goodput_wall_mbps: float = 0.0
    transfer_virtual_s: float = 0.0
    transfer_wall_s: float = 0.0
    retransmits: int = 0
    interrupts: int = 0
    napi_polls: int = 0
    frames_per_interrupt: float = 0.0
    device_faults: int = 0
    ping_rtt_us: float | None = None
    arp: str = ""
    link: list[str] = field(default_factory=list)
    seed: int = 0
    mtu: int = 1500
    loss: float = 0.0
    latency_us: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _pattern(offset: int, size: int) -> bytes:
    """Deterministic payload bytes (a counting pattern with the offset mixed in)."""
    base = hashlib.sha256(offset.to_bytes(8, "big")).digest()
    return (base * (size // len(base) + 1))[:size]


def run_demo(
    nbytes: int = 8 << 20,
    loss: float = 0.0,
    latency: str = "50us",
    mtu: int = 1500,
    seed: int = 1,
    pcap: str | None = None,
    say: Callable[[str], None] = lambda text: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    observe: Callable[[World, Host, Host], Callable[[], None] | None] | None = None,
    driver: Any = True,
) -> DemoResult:
    """Run the scenario; ``observe(world, a, b)``, if given, is called once the links are up
    (to attach recorders, e.g. ``ixsim.plot``'s) and may return a function called when the
    transfer has completed, before the connection closes.  ``driver`` is both hosts' driver
    (``w.host(driver=)``)."""
    res = DemoResult(seed=seed, mtu=mtu, loss=loss)
    with World(seed=seed) as w:
        a = w.host("a", "10.0.0.1/24", driver=driver)
        b = w.host("b", "10.0.0.2/24", driver=driver)
        for host in (a, b):
            if not host.interfaces:
                raise ValueError(f"host {host.name}: the driver bound no interface "
                                 f"({'; '.join(host.probe_errors) or 'no NIC matched'})")
            if mtu != 1500 and dev_set_mtu(host.eth0, mtu) != 0:
                raise ValueError(f"MTU {mtu} refused by the driver (68..16114)")
        cable = w.cable(a.eth0, b.eth0, latency=latency, loss=loss, pcap=pcap)
        res.latency_us = cable.ab.latency_ns / 1000 if hasattr(cable, "ab") else 0.0
        w.run_until(lambda: a.eth0.operstate == IF_OPER_UP and b.eth0.operstate == IF_OPER_UP,
                    timeout="10s", what="link up on both NICs")
        for host in (a, b):
            for _t, _level, msg in host.kernel.dmesg:
                if "Link is Up" in msg:
                    res.link.append(f"{host.name}: {msg}")
        for line in res.link:
            say(line)
        done = observe(w, a, b) if observe is not None else None

        reply = a.ping("10.0.0.2", count=3, interval="10ms")
        res.arp = a.net.ip_neigh()
        say("arp: " + (res.arp.strip().splitlines() or ["(empty)"])[0])
        if reply.received:
            res.ping_rtt_us = reply.rtt_avg / 1000
            say(f"ping 10.0.0.2: {reply.received}/{reply.transmitted} replies, "
                f"rtt avg {res.ping_rtt_us:.1f} us")

        expect = hashlib.sha256()
        got = hashlib.sha256()
        state = {"received": 0, "done": False, "sent": 0}

        async def server() -> None:
            srv = b.socket()
            srv.bind(("0.0.0.0", PORT))
            srv.listen()
            conn, _peer = await srv.accept()
            while True:
                data = await conn.recv(256 * 1024)
                if not data:
                    break
                got.update(data)
                state["received"] += len(data)
            conn.close()
            srv.close()
            state["done"] = True

        async def client() -> None:
            c = a.socket()
            await c.connect(("10.0.0.2", PORT))
            offset = 0
            while offset < nbytes:
                chunk = _pattern(offset, min(CHUNK, nbytes - offset))
                expect.update(chunk)
                await c.sendall(chunk)
                offset += len(chunk)
                state["sent"] = offset
            c.close()

        before_retrans = a.net.mib.tcp["RetransSegs"]
        b.spawn(server(), "server")
        t0_virtual, t0_wall = w.now, time.perf_counter()
        a.spawn(client(), "client")
        step = max(1, nbytes // 50)
        next_mark = step
        while not state["done"]:
            mark = next_mark
            w.run_until(lambda mark=mark: state["done"] or state["received"] >= mark,
                        timeout="600s", what="the bulk transfer to progress")
            progress(state["received"], nbytes)
            next_mark = state["received"] + step
        res.transfer_wall_s = time.perf_counter() - t0_wall
        res.transfer_virtual_s = (w.now - t0_virtual) / 1e9
        if done is not None:
            done()
        w.run_for("100ms")  # let FIN/ACK exchanges and TIME_WAIT bookkeeping settle
        res.bytes = state["received"]
        res.sha256_match = got.digest() == expect.digest() and res.bytes == nbytes
        if res.transfer_virtual_s > 0:
            res.goodput_virtual_gbps = res.bytes * 8 / res.transfer_virtual_s / 1e9
        if res.transfer_wall_s > 0:
            res.goodput_wall_mbps = res.bytes * 8 / res.transfer_wall_s / 1e6
        res.retransmits = a.net.mib.tcp["RetransSegs"] - before_retrans
        rx_frames = 0
        for host in (a, b):
            slot = host.nics[0]
            res.interrupts += slot.pci.irq_delivered
            res.napi_polls += sum(napi.polls for napi in host.eth0.napi_list)
            rx_frames += slot.port.rx_frames
        res.frames_per_interrupt = rx_frames / res.interrupts if res.interrupts else 0.0
        res.device_faults = len(w.faults)
        res.ok = res.sha256_match and res.device_faults == 0
    return res
