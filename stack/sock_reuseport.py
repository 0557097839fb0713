"""SO_REUSEPORT groups: several sockets on one address and port, one chosen per flow.

Mirrors Linux's ``net/core/sock_reuseport.c`` (``reuseport_select_sock``) with the flow hash of
``inet_ehashfn``/``udp_ehashfn``: a keyed hash of the 4-tuple picks one member of the group,
``reciprocal_scale(hash, n)``, so every segment or datagram of a flow reaches the same socket and
flows spread across the group.  The group is the sockets that share the port, the bound address
and device, and have SO_REUSEPORT set, in the order they joined (``listen()`` for TCP, ``bind()``
for UDP), as ``reuse->socks[]`` is.

Deviation: Linux keys the hash with a secret drawn at boot (``inet_ehash_secret``); ixsim's key
is fixed, so which member a flow reaches depends only on the 4-tuple and the group's order,
the same in every run.  No BPF program can be attached to a group (SO_ATTACH_REUSEPORT_CBPF is
not modelled, and refused as an unknown option).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")
_KEY = b"ixsim reuseport"


def ehashfn(laddr: bytes, lport: int, faddr: bytes, fport: int) -> int:
    """``inet_ehashfn``: a 32-bit hash of the flow, the same for every packet of it."""
    data = laddr + faddr + lport.to_bytes(2, "big") + fport.to_bytes(2, "big")
    return int.from_bytes(hashlib.blake2b(data, key=_KEY, digest_size=4).digest(), "big")


def reuseport_select_sock(group: Sequence[T], hash_: int) -> T:
    """``reuseport_select_sock``: ``reciprocal_scale(hash, n)`` picks the member."""
    return group[(hash_ * len(group)) >> 32]
