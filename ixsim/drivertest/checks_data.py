"""Data-path checks: ARP and ping, every frame size, receive filters, ring wrap, NAPI, IRQs.

Each function is one check of :data:`ixsim.drivertest.CHECKS`: it returns its evidence or
raises CheckFailed / Skip (:mod:`.rig`).  Frames from ``a`` (the driver under test) are
checked as they arrived at ``b``'s port; frames to ``a`` as a's driver passed them up.
"""

from __future__ import annotations

import hashlib
from typing import Any

from device.spec import regs as R
from device.spec.bus import DMA_TO_DEVICE
from device.trace import subscribe
from ixsim.drivertest.context import Context
from ixsim.drivertest.rig import CheckFailed, Rig, Skip
from stack.core import dev_mc_add, dev_mc_del, dev_set_allmulti, dev_set_promiscuity

MTUS = (68, 576, 1500, 9000, 16114)  # ETH_MIN_MTU .. the 82597EX's largest (16128-byte frame)
BATCH = 64
WRAP_FRAMES = 100_000
OTHER_UNICAST = bytes.fromhex("020000009999")
BROADCAST = b"\xff" * 6


def arp_ping(ctx: Context) -> str:
    """ARP resolves both ways and 5 pings each way are answered."""
    rig = ctx.rig()
    out = rig.a.ping("10.0.0.2", count=5, interval="1ms")
    back = rig.b.ping("10.0.0.1", count=5, interval="1ms")
    if out.received != 5 or back.received != 5:
        raise CheckFailed(f"ping a->b {out.received}/5, b->a {back.received}/5 answered")
    neigh = rig.a.net.ip_neigh()
    if rig.peer.dev_addr.hex(":") not in neigh:
        raise CheckFailed(f"a's ARP table lacks b's MAC: {neigh.strip()!r}")
    return (f"ARP: 10.0.0.2 is {rig.peer.dev_addr.hex(':')}; ping 5/5 each way, rtt avg "
            f"{out.rtt_avg / 1000:.1f} us / {back.rtt_avg / 1000:.1f} us")


def _exchange(rig: Rig, sizes: list[int], seq0: int) -> None:
    """Send one frame of each size each way, batch by batch; byte-exact at the far end."""
    for start in range(0, len(sizes), BATCH):
        batch = sizes[start : start + BATCH]
        rig.clear()
        out = [rig.frame(rig.dev, rig.peer.dev_addr, n, seq0 + start + i)
               for i, n in enumerate(batch)]
        back = [rig.frame(rig.peer, rig.dev.dev_addr, n, seq0 + start + i)
                for i, n in enumerate(batch)]
        for f_out, f_back in zip(out, back, strict=True):
            rig.send(rig.dev, f_out)
            rig.send(rig.peer, f_back)
        want = len(batch)
        rig.run_until(lambda want=want: len(rig.wire_at_b) >= want and len(rig.rx_at_a) >= want,
                      "50ms", f"{want} frames each way of sizes {batch[0]}..{batch[-1]}")
        rig.run("20us")
        _same(out, rig.wire_at_b, "a->b (at b's port)")
        _same(back, [r.frame for r in rig.rx_at_a], "b->a (as a's driver passed it up)")


def _same(sent: list[bytes], got: list[bytes], where: str) -> None:
    if got == sent:
        return
    for i, (s, g) in enumerate(zip(sent, got, strict=False)):
        if s != g:
            diff = next((j for j in range(min(len(s), len(g))) if s[j] != g[j]), None)
            at = f"first differing byte {diff}" if diff is not None else "lengths differ"
            raise CheckFailed(f"{where}: frame {i} of {len(s)} bytes came as {len(g)} bytes "
                              f"({at})")
    raise CheckFailed(f"{where}: {len(got)} frames for {len(sent)} sent")


def mtu_sweep(ctx: Context) -> str:
    """MTU 68..16114: the smallest and largest frame at each, then every size 60..16128."""
    rig = ctx.rig(stack=False)
    frames = 0
    for mtu in MTUS:
        rig.set_mtu(mtu)
        top = mtu + 14
        sizes = sorted({60, min(top, 61), (60 + top) // 2, top - 1, top})
        _exchange(rig, sizes, mtu * 100)
        frames += 2 * len(sizes)
    every = list(range(60, MTUS[-1] + 15))
    _exchange(rig, every, 0)
    frames += 2 * len(every)
    return (f"MTU {', '.join(map(str, MTUS))}: boundary frames; then every size 60..16128 "
            f"each way; {frames} frames byte-exact")


def _filter_probe(rig: Rig, dst: bytes, seq: int) -> bool:
    """Does a frame from b to ``dst`` reach a's stack?"""
    rig.clear()
    rig.send(rig.peer, rig.frame(rig.peer, dst, 80, seq))
    rig.run("200us")
    return len(rig.rx_at_a) == 1


def _rx_mode_rig(ctx: Context) -> Rig:
    rig = ctx.rig(stack=False)
    if rig.dev.netdev_ops.ndo_set_rx_mode is None:
        raise Skip("driver has no ndo_set_rx_mode")
    return rig


def promiscuous(ctx: Context) -> str:
    """A frame for another MAC is dropped, taken in promiscuous mode, dropped again after."""
    rig = _rx_mode_rig(ctx)
    seen = [_filter_probe(rig, OTHER_UNICAST, 1)]
    dev_set_promiscuity(rig.dev, 1)
    seen.append(_filter_probe(rig, OTHER_UNICAST, 2))
    dev_set_promiscuity(rig.dev, -1)
    seen.append(_filter_probe(rig, OTHER_UNICAST, 3))
    own = _filter_probe(rig, rig.dev.dev_addr, 4)
    if seen != [False, True, False] or not own:
        raise CheckFailed(f"frame to {OTHER_UNICAST.hex(':')} received off/on/off: {seen} "
                          f"(expected [False, True, False]); own MAC received: {own}")
    return "other unicast: dropped, received in promiscuous mode, dropped after; own MAC: yes"


def all_multicast(ctx: Context) -> str:
    """An unjoined multicast group is dropped, taken with IFF_ALLMULTI, dropped again after."""
    rig = _rx_mode_rig(ctx)
    group = bytes.fromhex("01005e7f0102")
    seen = [_filter_probe(rig, group, 1)]
    dev_set_allmulti(rig.dev, 1)
    seen.append(_filter_probe(rig, group, 2))
    dev_set_allmulti(rig.dev, -1)
    seen.append(_filter_probe(rig, group, 3))
    bcast = _filter_probe(rig, BROADCAST, 4)
    if seen != [False, True, False] or not bcast:
        raise CheckFailed(f"frame to {group.hex(':')} received off/on/off: {seen} "
                          f"(expected [False, True, False]); broadcast received: {bcast}")
    return "unjoined group: dropped, received with all-multi, dropped after; broadcast: yes"


def multicast_filter(ctx: Context) -> str:
    """A joined group (dev_mc_add) is received; after dev_mc_del it is dropped again."""
    rig = _rx_mode_rig(ctx)
    joined, other = bytes.fromhex("01005e7f0001"), bytes.fromhex("01005e7f0002")
    before = _filter_probe(rig, joined, 1)
    dev_mc_add(rig.dev, joined)
    during = _filter_probe(rig, joined, 2)
    leak = _filter_probe(rig, other, 3)
    dev_mc_del(rig.dev, joined)
    after = _filter_probe(rig, joined, 4)
    if before or not during or after:
        raise CheckFailed(f"group {joined.hex(':')} received before/joined/left: "
                          f"{[before, during, after]} (expected [False, True, False])")
    note = ("an unjoined group got through too (an imperfect filter, allowed)" if leak
            else "an unjoined group was filtered")
    return f"joined group: dropped, received, dropped after leaving; {note}"


def _tx_mappings(rig: Rig) -> int:
    return sum(refs for _s, _l, direction, refs in rig.a.machine.dma.mappings()
               if direction == DMA_TO_DEVICE)


def rings_wrap(ctx: Context) -> str:
    """100,000 frames each way wrap both rings: all delivered in order, byte-exact, reclaimed."""
    rig = ctx.rig(stack=False)
    rig.record = False
    sent_out, sent_back = hashlib.sha256(), hashlib.sha256()
    got_out, got_back = hashlib.sha256(), hashlib.sha256()
    counts = {"out": 0, "back": 0}

    def wire_b(direction: str, time_ns: int, frame: Any) -> None:
        if direction == "rx":
            got_out.update(frame)
            counts["out"] += 1

    def rx_a(frame: bytes) -> None:
        got_back.update(frame)
        counts["back"] += 1

    unsub = subscribe(rig.b.nics[0].port, "frame", wire_b)
    rig.rx_hook = rx_a
    templates = [(rig.frame(rig.dev, rig.peer.dev_addr, 60 + k, k),
                  rig.frame(rig.peer, rig.dev.dev_addr, 60 + k, k)) for k in range(64)]
    try:
        batch = 250
        for start in range(0, WRAP_FRAMES, batch):
            for k in range(start, min(start + batch, WRAP_FRAMES)):
                out, back = templates[k % 64]
                seq = k.to_bytes(4, "big")
                out = out[:14] + seq + out[18:]
                back = back[:14] + seq + back[18:]
                sent_out.update(out)
                sent_back.update(back)
                rig.send(rig.dev, out)
                rig.send(rig.peer, back)
            end = min(start + batch, WRAP_FRAMES)
            rig.run_until(lambda end=end: counts["out"] >= end and counts["back"] >= end,
                          "50ms", f"frames {start}..{end - 1} each way")
        rig.run("20ms")
    finally:
        unsub()
    problems = []
    if counts["out"] != WRAP_FRAMES or got_out.digest() != sent_out.digest():
        problems.append(f"a->b {counts['out']} frames, "
                        f"{'same' if got_out.digest() == sent_out.digest() else 'different'}"
                        " bytes")
    if counts["back"] != WRAP_FRAMES or got_back.digest() != sent_back.digest():
        problems.append(f"b->a {counts['back']} frames, "
                        f"{'same' if got_back.digest() == sent_back.digest() else 'different'}"
                        " bytes")
    live = _tx_mappings(rig)
    if live:
        problems.append(f"{live} TX buffers still mapped to-device once the traffic stopped "
                        "(completions not unmapped)")
    if problems:
        raise CheckFailed("; ".join(problems))
    return (f"{WRAP_FRAMES:,} frames each way, in order and byte-exact (sha256); "
            f"0 TX mappings left")


def _flood(rig: Rig, n: int, size: int = 60, src: Any = None) -> None:
    """``src`` (b) sends ``n`` frames to the other host in bursts of 250 (17 us of wire time
    at 60 bytes) every 40 us: a load of ~6 Mpps the qdisc never has to drop."""
    src = src if src is not None else rig.peer
    dst = rig.dev if src is rig.peer else rig.peer
    for i in range(n):
        rig.send(src, rig.frame(src, dst.dev_addr, size, i))
        if i % 250 == 249:
            rig.run("40us")


def napi_budget(ctx: Context) -> str:
    """Under a flood a poll never does more than its budget, and unmasks (IMS) only below it."""
    rig = ctx.rig(stack=False)
    names = {napi.name for napi in rig.dev.napi_list}
    bucket: list[int] = []
    polls: list[tuple[int, int, int]] = []  # (work, budget, IMS writes during the poll)

    def mmio(kind: str, offset: int, value: int, old: int) -> None:
        if kind == "w" and offset == R.IMS:
            bucket.append(value)

    def tracer(now: int, event: str, fields: dict[str, Any]) -> None:
        if event == "napi_poll" and fields["napi"] in names:
            polls.append((fields["work"], fields["budget"], len(bucket)))
            bucket.clear()

    unsub = subscribe(rig.a.nics[0].nic, "mmio", mmio)
    rig.a.kernel.tracers.append(tracer)
    try:
        _flood(rig, 3000)
        rig.run("20ms")
        rig.clear()
        probe = rig.frame(rig.peer, rig.dev.dev_addr, 100, 99_999)
        rig.send(rig.peer, probe)  # interrupts must be live again once the flood is over
        rig.run("2ms")
    finally:
        unsub()
    over = [p for p in polls if p[0] > p[1]]
    full = [p for p in polls if p[0] == p[1]]
    rearmed_full = [p for p in full if p[2]]
    if over:
        raise CheckFailed(f"{len(over)} polls did more work than their budget, e.g. {over[0][0]}"
                          f" > {over[0][1]}")
    if not full:
        raise CheckFailed(f"the flood never filled a poll ({len(polls)} polls): cannot show "
                          "the budget is respected")
    if rearmed_full:
        raise CheckFailed(f"{len(rearmed_full)} of {len(full)} polls that used their whole "
                          "budget re-enabled interrupts (IMS written)")
    under = [p for p in polls if p[0] < p[1]]
    if [r.frame for r in rig.rx_at_a] != [probe]:
        raise CheckFailed(f"after the flood a lone frame came up as {len(rig.rx_at_a)} frames "
                          "(lost, garbled, or interrupts not re-armed under budget)")
    return (f"{len(polls)} polls: {len(full)} used the whole budget (no IMS write), "
            f"{len(under)} under budget re-armed; a lone frame after the flood was received")


def irq_moderation(ctx: Context) -> str:
    """At load, fewer interrupts than frames, both directions."""
    rig = ctx.rig(stack=False)
    fn = rig.a.nics[0].pci
    n = 5000
    base = fn.irq_delivered
    _flood(rig, n)
    rig.run("10ms")
    rx_irqs = fn.irq_delivered - base
    received = len(rig.rx_at_a)
    base = fn.irq_delivered
    _flood(rig, n, src=rig.dev)
    rig.run("10ms")
    tx_irqs = fn.irq_delivered - base
    sent = len(rig.wire_at_b)
    if received < n * 9 // 10 or sent < n * 9 // 10:
        raise CheckFailed(f"only {received} of {n} frames received, {sent} of {n} sent")
    if rx_irqs >= received or tx_irqs >= sent:
        raise CheckFailed(f"RX: {rx_irqs} interrupts for {received} frames; TX: {tx_irqs} "
                          f"for {sent}: no moderation")
    return (f"RX {received} frames / {rx_irqs} IRQs ({received / max(rx_irqs, 1):.0f} per IRQ);"
            f" TX {sent} frames / {tx_irqs} IRQs ({sent / max(tx_irqs, 1):.0f} per IRQ)")
