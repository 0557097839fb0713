"""The one exception every ``checked()`` (and every ``Repr.parse``) raises on bad input.

smoltcp's ``wire::Error`` / ``Result``: a receive function wraps its layer's ``checked()`` and
``parse()`` in exactly one ``try``, bumps the Linux-named counter (``InHdrErrors``,
``InCsumErrors``, ``TcpInErrs``) and drops the packet.  :class:`BadChecksum` is a
``Malformed`` too, so one ``except Malformed`` catches both; the receiver tests for it only
to pick the checksum counter (Linux bumps ``*_MIB_CSUMERRORS`` *and* the header-error counter).
"""

from __future__ import annotations


class Malformed(Exception):
    """A packet this layer cannot accept: ``layer`` ("ipv4", "tcp", ...) and a ``reason``."""

    def __init__(self, layer: str, reason: str) -> None:
        super().__init__(layer, reason)
        self.layer = layer
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.layer}: {self.reason}"


class BadChecksum(Malformed):
    """The header (IPv4) or segment (ICMP, UDP, TCP) checksum does not verify."""


class Truncated(Malformed):
    """The buffer is shorter than a length field says (Linux's ``InTruncatedPkts``)."""
