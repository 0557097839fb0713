"""Bulk transfer: a sender and a receiver reporting goodput on virtual time, with sha256.

The stream is deterministic: a block of 65521 bytes (a prime, so its period never lines up
with segment sizes and a duplicated or misplaced segment changes the hash) drawn from
``random.Random(seed)``, repeated.  Both ends hash what they sent / received; equal digests
mean the bytes arrived intact and in order.

Goodput is application bytes over virtual time: the receiver measures from accept to EOF,
the sender from connect until the receiver's close (it waits for EOF after its half-close,
so its time covers delivery, not just queueing).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

from ixsim.apps.common import family_of, listen_on, open_socket
from ixsim.clock import NS_PER_S
from stack.socket import AF_INET, SHUT_WR

BLOCK = 65521
CHUNK = 65536


@dataclass(slots=True)
class Goodput:
    bytes: int
    ns: int
    sha256: str

    @property
    def seconds(self) -> float:
        return self.ns / NS_PER_S

    @property
    def gbps(self) -> float:
        """Application goodput in Gbit/s (10^9 bits per virtual second)."""
        return self.bytes * 8 / self.ns if self.ns else 0.0

    def __str__(self) -> str:
        return (f"{self.bytes} bytes in {self.seconds:.6f} s = {self.gbps:.3f} Gbit/s "
                f"(sha256 {self.sha256[:16]}...)")


def _block(seed: int) -> bytes:
    block = random.Random(seed).randbytes(BLOCK)
    return block + block[:CHUNK]  # so any offset has a whole chunk after it


def stream_bytes(n: int, seed: int = 0) -> bytes:
    """The first ``n`` bytes of the stream (for checking a receiver without the sender)."""
    block = _block(seed)[:BLOCK]
    return (block * (n // BLOCK + 1))[:n]


async def bulk_send(host: Any, address: tuple[str, int], nbytes: int, *, seed: int = 0,
                    chunk: int = CHUNK) -> Goodput:
    """Connect, send ``nbytes`` of the stream, half-close, wait for the receiver's EOF."""
    chunk = min(chunk, CHUNK)
    source = memoryview(_block(seed))
    digest = hashlib.sha256()
    sock = open_socket(host, family=family_of(address))
    sched = sock.sched
    try:
        await sock.connect(address)
        t0 = sched.now
        sent = 0
        while sent < nbytes:
            offset = sent % BLOCK
            piece = source[offset:offset + min(chunk, nbytes - sent)]
            await sock.sendall(piece)
            digest.update(piece)
            sent += len(piece)
        sock.shutdown(SHUT_WR)
        while await sock.recv(CHUNK):
            pass  # the receiver sends nothing; this is the wait for its close
        return Goodput(sent, sched.now - t0, digest.hexdigest())
    finally:
        sock.close()


async def bulk_receive(host: Any, port: int = 5001, *, bufsize: int = 262144,
                       family: int = AF_INET) -> Goodput:
    """Listen, accept one connection, read to EOF, close; report what arrived."""
    listener = listen_on(host, port, 1, family)
    try:
        conn, _peer = await listener.accept()
    finally:
        listener.close()
    sched = conn.sched
    t0 = sched.now
    digest = hashlib.sha256()
    buf = bytearray(bufsize)
    view = memoryview(buf)
    total = 0
    try:
        while n := await conn.recv_into(buf):
            digest.update(view[:n])
            total += n
        return Goodput(total, sched.now - t0, digest.hexdigest())
    finally:
        conn.close()
