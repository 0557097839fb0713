"""Making traffic from the prompt: raw frames, and ping/TCP/UDP through the host's stack.

Raw frames go down the driver's transmit path (``dev_queue_xmit``, so the qdisc, the
driver's descriptors and the TDT doorbell are all exercised) or, on a NIC no driver is bound
to, straight onto its port.  A FRAME-SPEC is ``key=value`` words: ``dst=`` (default
broadcast), ``src=`` (default the NIC's address), ``type=`` (EtherType, default 0x88b5, the
IEEE local-experimental one), ``len=`` (total length without FCS, default 60),
``payload=`` (hex bytes placed after the header, the rest is a counting pattern) and
``count=`` (frames to queue, default 1).

The stack commands (``ping``, ``tcp``, ``udp``) use ``host.ping`` and ``host.socket``; they
block the prompt while they run the world, like a test calling ``sock.recv()``.
"""

from __future__ import annotations

import socket as _stdlib_socket  # constants only, as docs/design.md's example does
from dataclasses import dataclass
from typing import Any

from ixsim.sched import format_ns
from ixsim.shell.errors import NotAvailable, ShellError
from ixsim.shell.target import NicRef, parse_int
from stack.core import (
    NET_XMIT_CN,
    NET_XMIT_DROP,
    NET_XMIT_SUCCESS,
    alloc_skb,
    dev_queue_xmit,
)
from stack.wire.describe import describe

ETH_P_EXPERIMENTAL = 0x88B5
MIN_FRAME, MAX_FRAME = 14, 16128
_XMIT_RESULTS = {NET_XMIT_SUCCESS: "queued", NET_XMIT_DROP: "dropped: qdisc full",
                 NET_XMIT_CN: "dropped: device down or no carrier"}
TEST_PORT = 5001


def parse_mac(text: str) -> bytes:
    parts = text.replace("-", ":").split(":")
    try:
        mac = bytes(int(p, 16) for p in parts)
    except ValueError:
        mac = b""
    if len(mac) != 6 or len(parts) != 6:
        raise ShellError(f"bad MAC address {text!r}: expected e.g. 02:00:00:00:02:00")
    return mac


def parse_hex(text: str, what: str = "hex bytes") -> bytes:
    clean = text.replace(":", "").replace(" ", "").removeprefix("0x")
    try:
        return bytes.fromhex(clean)
    except ValueError:
        raise ShellError(f"bad {what} {text!r}: expected hex digits such as "
                         "ffffffffffff0200...") from None


def build_frames(ref: NicRef, words: list[str]) -> list[bytes]:
    """``HEX`` (one word without ``=``) or a FRAME-SPEC (maybe empty) -> the frames."""
    if len(words) == 1 and "=" not in words[0]:
        frame = parse_hex(words[0], "frame")
        if not MIN_FRAME <= len(frame) <= MAX_FRAME:
            raise ShellError(f"a frame is {MIN_FRAME}..{MAX_FRAME} bytes, got {len(frame)}")
        return [frame]
    spec: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or key not in ("dst", "src", "type", "len", "payload", "count"):
            raise ShellError(f"bad frame spec word {word!r}: use dst= src= type= len= "
                             "payload= count=, or one hex string")
        spec[key] = value
    dst = parse_mac(spec.get("dst", "ff:ff:ff:ff:ff:ff"))
    src = parse_mac(spec["src"]) if "src" in spec else _own_mac(ref)
    etype = parse_int(spec.get("type", hex(ETH_P_EXPERIMENTAL)), "EtherType", 0, 0xFFFF)
    payload = parse_hex(spec["payload"], "payload") if "payload" in spec else b""
    length = parse_int(spec.get("len", "60"), "frame length", MIN_FRAME, MAX_FRAME)
    count = parse_int(spec.get("count", "1"), "count", 1, 10_000)
    head = dst + src + etype.to_bytes(2, "big") + payload
    if len(head) > length:
        raise ShellError(f"len={length} is shorter than the header and payload ({len(head)} B)")
    frames = []
    for seq in range(count):
        filler = bytes((seq + i) & 0xFF for i in range(length - len(head)))
        frames.append(head + filler)
    return frames


def _own_mac(ref: NicRef) -> bytes:
    if ref.netdev is not None:
        return bytes(ref.netdev.dev_addr)
    words = ref.nic.eeprom.words
    return b"".join(words[i].to_bytes(2, "little") for i in range(3))


def send_frames(ref: NicRef, frames: list[bytes]) -> list[str]:
    """Queue ``frames`` on the NIC; one line per frame saying what became of it."""
    out = []
    for frame in frames:
        if ref.netdev is not None:
            skb = alloc_skb(ref.host.kernel, len(frame))
            skb.put_data(frame)
            skb.dev = ref.netdev
            rc = dev_queue_xmit(skb)
            verdict = _XMIT_RESULTS.get(rc, f"dev_queue_xmit returned {rc}")
            out.append(f"{ref.label}: {verdict}: {describe(frame)}")
        else:
            ref.port.transmit(frame)
            out.append(f"{ref.label}: put on the port (no driver bound): {describe(frame)}")
    return out


# -- through the stack --------------------------------------------------------------------
def ping(world: Any, src: Any, dst_addr: str, count: int) -> list[str]:
    fn = getattr(src, "ping", None)
    if fn is None:
        raise NotAvailable()
    start = world.now
    try:
        result = fn(dst_addr, count=count)
    except TypeError:
        result = fn(dst_addr)
    except OSError as exc:
        raise ShellError(f"ping {dst_addr}: {exc}") from None
    took = f"({format_ns(world.now - start)} of virtual time)"
    if callable(getattr(result, "text", None)):  # ping(8)'s own output
        return [*result.text().rstrip("\n").splitlines(), took]
    fields = [f"{name} {getattr(result, name)}" for name in ("transmitted", "received", "loss")
              if hasattr(result, name)]
    return [f"ping {src.name} -> {dst_addr}: {', '.join(fields) or result} {took}"]


@dataclass
class Transfer:
    sent: int = 0
    received: int = 0


def tcp(world: Any, src: Any, dst: Any, dst_addr: str, nbytes: int) -> list[str]:
    """A server task on ``dst`` reads while the prompt's client ``sendall``s ``nbytes``."""
    if getattr(src, "socket", None) is None or getattr(dst, "socket", None) is None:
        raise NotAvailable()
    if any(getattr(getattr(h, "net", None), "tcp", None) is None for h in (src, dst)):
        raise NotAvailable("TCP is not attached to this host's stack (net.tcp)")
    t = Transfer()
    start = world.now
    try:
        srv = dst.socket(_stdlib_socket.AF_INET, _stdlib_socket.SOCK_STREAM)
        srv.bind(("0.0.0.0", TEST_PORT))
        srv.listen()

        async def server() -> None:
            conn, _peer = await srv.accept()
            while t.received < nbytes:
                data = await conn.recv(65536)
                if not data:
                    break
                t.received += len(data)
            conn.close()

        task = world.spawn(server(), f"{dst.name} tcp sink")
        cli = src.socket(_stdlib_socket.AF_INET, _stdlib_socket.SOCK_STREAM)
        cli.connect((dst_addr, TEST_PORT))
        cli.sendall(bytes(i & 0xFF for i in range(nbytes)))
        t.sent = nbytes
        world.run_until(task.done, "30s", "the TCP receiver")
        cli.close()
        srv.close()
    except OSError as exc:
        raise ShellError(f"tcp {src.name} -> {dst_addr}: {exc}") from None
    return [_transfer_line("tcp", src, dst_addr, t, world.now - start)]


def udp(world: Any, src: Any, dst: Any, dst_addr: str, nbytes: int) -> list[str]:
    if getattr(src, "socket", None) is None or getattr(dst, "socket", None) is None:
        raise NotAvailable()
    t = Transfer()
    start = world.now
    try:
        rx = dst.socket(_stdlib_socket.AF_INET, _stdlib_socket.SOCK_DGRAM)
        rx.bind(("0.0.0.0", TEST_PORT))
        rx.setblocking(False)
        tx = src.socket(_stdlib_socket.AF_INET, _stdlib_socket.SOCK_DGRAM)
        chunk = 1472
        for off in range(0, nbytes, chunk):
            n = min(chunk, nbytes - off)
            tx.sendto(bytes(n), (dst_addr, TEST_PORT))
            t.sent += n
        world.run_for("10ms")
        while True:
            try:
                data = rx.recv(65536)
            except BlockingIOError:
                break
            t.received += len(data)
        tx.close()
        rx.close()
    except OSError as exc:
        raise ShellError(f"udp {src.name} -> {dst_addr}: {exc}") from None
    return [_transfer_line("udp", src, dst_addr, t, world.now - start)]


def _transfer_line(proto: str, src: Any, dst_addr: str, t: Transfer, ns: int) -> str:
    rate = f", {t.received * 8 / ns:.2f} Gb/s" if ns and proto == "tcp" else ""
    return (f"{proto} {src.name} -> {dst_addr}:{TEST_PORT}: sent {t.sent} B, received "
            f"{t.received} B in {format_ns(ns)} virtual{rate}")
