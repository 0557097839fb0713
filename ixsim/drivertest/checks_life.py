"""Life-cycle checks: probe/remove, link changes, TX timeout recovery, resets, statistics.

Each function is one check of :data:`ixsim.drivertest.CHECKS`: it returns its evidence or
raises CheckFailed / Skip (:mod:`.rig`).
"""

from __future__ import annotations

import hashlib

from device.spec.bus import DMA_TO_DEVICE
from ixsim.drivertest.context import Context
from ixsim.drivertest.rig import CheckFailed, Skip, make_frame, send_raw
from ixsim.world import World
from stack.core import dev_open, netdev_get_tx_queue, netif_queue_stopped, netif_xmit_stopped
from stack.core.ethtool_ioctl import ethtool_get_stats

PROBE_CYCLES = 100
PCI_COMMAND = 0x04
PCI_COMMAND_MASTER = 0x4


def probe_remove(ctx: Context) -> str:
    """probe, open, traffic, remove, 100 times: no leaked mapping, allocation, IRQ or netdev."""
    drv = ctx.driver
    w = World(seed=1)
    ctx.world_built(w)
    a = w.host("a", driver=False, stack=False)
    b = w.host("b", stack=False)
    w.cable(a.nics[0].port, b.nics[0].port, latency="1us", wait=False)
    rig_b = b.interfaces["eth0"]
    slot = a.nics[0]
    mem, dma, fn, kernel = a.machine.mem, a.machine.dma, slot.pci, a.kernel
    base = (mem.live_allocations, dma.live, kernel.skb_live, len(kernel.netdevs))
    frames = 0
    for cycle in range(PROBE_CYCLES):
        netdev = drv.probe(kernel, slot.pci_dev)
        if dev_open(netdev) != 0:
            raise CheckFailed(f"cycle {cycle}: ndo_open failed")
        w.run_for("5ms")
        if fn._irq_handler is None:
            raise CheckFailed(f"cycle {cycle}: the device is open but no IRQ is requested")
        for i in range(8):
            send_raw(netdev, make_frame(netdev, rig_b.dev_addr, 60 + 100 * i, i))
            send_raw(rig_b, make_frame(rig_b, netdev.dev_addr, 60 + 100 * i, i))
            frames += 2
        w.run_for("1ms")
        drv.remove(netdev)
        w.run_for("100us")
        now = (mem.live_allocations, dma.live, kernel.skb_live, len(kernel.netdevs))
        leaks = [f"{what} {after - before:+d}" for what, before, after in
                 zip(("allocations", "DMA mappings", "skbs", "net_devices"), base, now,
                     strict=True) if after != before]
        if fn._irq_handler is not None:
            leaks.append("IRQ still requested")
        if fn.command & PCI_COMMAND_MASTER:
            leaks.append("bus mastering still on")
        if leaks:
            kinds = _mapping_kinds(dma)
            raise CheckFailed(f"cycle {cycle}: after remove: {', '.join(leaks)}{kinds}")
    return (f"{PROBE_CYCLES} cycles, {frames} frames: 0 leaked allocations, DMA mappings, "
            f"skbs, IRQs, net_devices")


def _mapping_kinds(dma: object) -> str:
    live = list(dma.mappings())  # type: ignore[attr-defined]
    to_dev = sum(refs for _s, _l, direction, refs in live if direction == DMA_TO_DEVICE)
    return f" ({to_dev} of them to-device)" if to_dev else ""


def link_flap(ctx: Context) -> str:
    """Unplug and replug the cable 3 times: carrier follows, frames pass after each."""
    rig = ctx.rig(stack=False)
    times = []
    for n in range(3):
        t0 = rig.world.now
        rig.cable.unplug()
        rig.run_until(lambda: not rig.dev.carrier_ok(), "50ms", f"carrier off after unplug {n}")
        t_off = rig.world.now - t0
        rig.run("5ms")
        t0 = rig.world.now
        rig.cable.plug()
        rig.run_until(lambda: rig.dev.carrier_ok() and rig.peer.carrier_ok(), "50ms",
                      f"carrier on after replug {n}")
        t_on = rig.world.now - t0
        rig.clear()
        out = rig.frame(rig.dev, rig.peer.dev_addr, 100, n)
        back = rig.frame(rig.peer, rig.dev.dev_addr, 100, n)
        rig.send(rig.dev, out)
        rig.send(rig.peer, back)
        rig.run("1ms")
        if rig.wire_at_b != [out] or [r.frame for r in rig.rx_at_a] != [back]:
            raise CheckFailed(f"after replug {n}: a->b {len(rig.wire_at_b)} frames, "
                              f"b->a {len(rig.rx_at_a)} frames (1 each expected)")
        times.append((t_off, t_on))
    worst_off = max(t for t, _ in times) / 1000
    worst_on = max(t for _, t in times) / 1000
    return (f"3 unplug/replug: carrier off within {worst_off:.0f} us, on within "
            f"{worst_on:.0f} us; frames pass both ways after each")


def tx_timeout(ctx: Context) -> str:
    """A stalled TX unit stops the queue; the stack's watchdog calls ndo_tx_timeout; it recovers."""
    rig = ctx.rig(stack=False)
    dev = rig.dev
    if dev.netdev_ops.ndo_tx_timeout is None:
        raise CheckFailed("no ndo_tx_timeout: a hung transmitter would never be reset")
    timeouts: list[int] = []
    rig.a.kernel.tracers.append(
        lambda now, event, fields: timeouts.append(now)
        if event == "net_dev_xmit_timeout" else None)
    nic = rig.a.nics[0].nic
    nic.inject.tx_stall = True
    sent = 0
    txq = netdev_get_tx_queue(dev, 0)
    # Stopped by the driver (a full ring) or by BQL (the stalled unit completes nothing).
    while not netif_xmit_stopped(txq) and sent < 900:
        rig.send(dev, rig.frame(dev, rig.peer.dev_addr, 200, sent))
        sent += 1
        if sent % 64 == 0:
            rig.run("10us")
    rig.run("100ms")
    if not netif_xmit_stopped(txq):
        raise CheckFailed(f"{sent} frames queued on a stalled TX unit and the queue never "
                          "stopped")
    stalled_at = rig.world.now
    nic.inject.tx_stall = False  # the part stays hung until the driver resets it
    rig.run_until(lambda: bool(timeouts) and not netif_queue_stopped(dev), "10s",
                  "ndo_tx_timeout and the queue running again")
    after = rig.world.now - stalled_at
    rig.run("10ms")
    rig.clear()
    fresh = [rig.frame(dev, rig.peer.dev_addr, 300, 10_000 + i) for i in range(50)]
    for f in fresh:
        rig.send(dev, f)
    rig.run("5ms")
    got = [f for f in rig.wire_at_b if f in set(fresh)]
    if got != fresh:
        raise CheckFailed(f"after the reset {len(got)}/50 fresh frames reached b")
    return (f"queue stopped after {sent} frames; watchdog fired {len(timeouts)}x, "
            f"running again {after / 1e9:.2f} s later; 50/50 frames after")


def reset_under_load(ctx: Context) -> str:
    """Three resets (ndo_tx_timeout) during TCP both ways: both streams complete byte-exact."""
    rig = ctx.rig()
    dev = rig.dev
    reset = dev.netdev_ops.ndo_tx_timeout
    if reset is None:
        raise CheckFailed("no ndo_tx_timeout: the stack has no way to reset the device")
    n = 1 << 20
    up = rig.tcp_stream(rig.a, rig.b, "10.0.0.2", n, 5001)
    down = rig.tcp_stream(rig.b, rig.a, "10.0.0.1", n, 5002)
    resets = 0
    for mark in (n // 4, n // 2, 3 * n // 4):
        rig.run_until(lambda mark=mark: up.received >= mark or up.done, "20s",
                      f"TCP a->b to pass {mark} bytes")
        reset(dev, 0)
        resets += 1
    rig.run_until(lambda: up.done and down.done, "60s", "both TCP streams to complete")
    for name, st in (("a->b", up), ("b->a", down)):
        if st.received != n or hashlib.sha256(st.got).digest() != st.sha_sent:
            raise CheckFailed(f"{name}: {st.received}/{n} bytes, "
                              f"{'corrupted' if st.received == n else 'short'}")
    retrans = rig.a.net.mib.tcp["RetransSegs"] + rig.b.net.mib.tcp["RetransSegs"]
    return f"{resets} resets during 2 x 1 MiB TCP: both byte-exact, {retrans} retransmissions"


def ethtool_stats(ctx: Context) -> str:
    """ethtool -S packet and byte counters agree with the frames the wire carried."""
    rig = ctx.rig(stack=False)
    dev = rig.dev
    ops = dev.ethtool_ops
    if ops is None or getattr(ops, "get_ethtool_stats", None) is None:
        raise Skip("driver has no ethtool_ops.get_ethtool_stats")
    sizes = [60 + (i * 37) % 1455 for i in range(1000)]
    for i, size in enumerate(sizes):
        rig.send(dev, rig.frame(dev, rig.peer.dev_addr, size, i))
        rig.send(rig.peer, rig.frame(rig.peer, dev.dev_addr, size, i))
        if i % 100 == 99:
            rig.run("200us")
    rig.run("3s")  # a driver may fold its hardware counters in from a periodic watchdog
    stats = ethtool_get_stats(dev)
    tx_bytes = sum(len(f) for f in rig.wire_at_b)
    rx_bytes = sum(len(r.frame) for r in rig.rx_at_a)
    expect = {"tx_packets": len(rig.wire_at_b), "rx_packets": len(rig.rx_at_a)}
    missing = [k for k in ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes")
               if k not in stats]
    if missing:
        raise CheckFailed(f"ethtool -S lacks {', '.join(missing)}")
    wrong = [f"{k} {stats[k]} != {v}" for k, v in expect.items() if stats[k] != v]
    for key, total, count in (("tx_bytes", tx_bytes, expect["tx_packets"]),
                              ("rx_bytes", rx_bytes, expect["rx_packets"])):
        if stats[key] not in (total, total + 4 * count):  # with or without the FCS
            wrong.append(f"{key} {stats[key]} != {total} (or {total + 4 * count} with FCS)")
    if wrong:
        raise CheckFailed("; ".join(wrong))
    return (f"{len(stats)} counters; tx_packets {stats['tx_packets']}, rx_packets "
            f"{stats['rx_packets']}, tx_bytes {stats['tx_bytes']}, rx_bytes "
            f"{stats['rx_bytes']} match the wire")
