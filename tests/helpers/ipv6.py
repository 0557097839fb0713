"""IPv6 rigs and packet builders: two hosts with IPv6 on a veth pair, raw packets to inject.

``two_hosts6()`` is ``helpers.stack.two_hosts`` with fd00::1/64 and fd00::2/64 added and the
world run for 3 s (DAD over, the link-local addresses usable).  ``ipv6_packet()`` builds a
fixed header (and an optional run of extension-header bytes) in front of a payload;
``inject6()`` delivers it to a device as a driver would.
"""

from __future__ import annotations

from typing import Any

from helpers.frames import ether, inject
from helpers.stack import Host, two_hosts
from helpers.units import S
from ixsim.sched import Scheduler
from stack.core import ETH_P_IPV6, NetDevice
from stack.wire.icmpv6 import Icmpv6Repr
from stack.wire.ipv6 import Ipv6Repr, ipv6_bytes

A6, B6 = ipv6_bytes("fd00::1"), ipv6_bytes("fd00::2")


def two_hosts6(before: Any = None, **kw: Any) -> tuple[Scheduler, Host, Host]:
    """A (fd00::1/64) and B (fd00::2/64); ``before(a, b)`` runs before IPv6 is loaded."""
    sched, a, b = two_hosts(**kw)
    if before is not None:
        before(a, b)
    a.net.configure(a.dev, "fd00::1/64")
    b.net.configure(b.dev, "fd00::2/64")
    sched.run_for(3 * S)
    return sched, a, b


def ipv6_packet(src: bytes, dst: bytes, nexthdr: int, payload: bytes, hop_limit: int = 64,
                ext: bytes = b"") -> bytes:
    buf = bytearray(40)
    Ipv6Repr(src, dst, nexthdr, len(ext) + len(payload), hop_limit).emit(buf)
    return bytes(buf) + ext + payload


def icmpv6(src: bytes, dst: bytes, msg: Icmpv6Repr) -> bytes:
    buf = bytearray(msg.buffer_len())
    msg.emit(buf, 0, src, dst)
    return bytes(buf)


def inject6(dev: NetDevice, packet: bytes, src_mac: bytes = b"\x02\0\0\0\0\x99",
            dst_mac: bytes | None = None) -> int:
    return inject(dev, ether(dst_mac or dev.dev_addr, src_mac, ETH_P_IPV6, packet))
