"""Names and MAC spellings for the tests that run Linux as the peer in a network namespace."""

from __future__ import annotations

import itertools
import os

_ids = itertools.count()


def names() -> tuple[str, str]:
    """A namespace and a tap name no other test (or concurrent run) uses."""
    n = next(_ids)
    pid = os.getpid() % 100000
    return f"ixsim-t{pid}-{n}", f"ixt{pid}x{n}"


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)
