"""Names and MAC spellings for the tests that run Linux as the peer in a network namespace."""

from __future__ import annotations

from ixsim.netns import unique_names


def names() -> tuple[str, str]:
    """A namespace and a tap name no other test (or concurrent run, or xdist worker) uses."""
    return unique_names()


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)
