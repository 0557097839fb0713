"""IPv4 addresses per device: ``in_device`` and its ``in_ifaddr`` list.

Mirrors Linux's ``net/ipv4/devinet.c`` (``inetdev_init``, ``inet_insert_ifa`` with primary and
secondary addresses, ``inet_del_ifa`` without ``promote_secondaries``, ``inet_select_addr``,
``__ip_dev_find``) and ``include/linux/inetdevice.h``.

Contract: ``net.devinet.add(dev, local, prefixlen)`` (``ip addr add``) needs a device the Net
has attached (``Net.attach``), raises ``OSError`` (EEXIST, ENODEV, EINVAL) and, while the device
is up, installs the address's routes (``Fib.sync_ifaddrs``: local, broadcast and prefix routes)
and announces it with a gratuitous ARP.  Addresses are 4-byte ``bytes``; ``parse_cidr`` reads
``"10.0.0.1/24"``.  The broadcast address defaults to the subnet's (prefixes up to /30), as
``ip addr add ... brd +`` sets it.  ``select_addr`` is the source-address choice of routing.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stack.core import IFF_LOOPBACK, IFF_UP, PacketType
from stack.sock import oserror
from stack.wire.ethernet import mac_str
from stack.wire.ipv4 import int_to_ip, ip_bytes, ip_str, ip_to_int, ipv4_is_loopback

if TYPE_CHECKING:
    from stack.core import NetDevice

RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254
SCOPE_NAMES = {RT_SCOPE_UNIVERSE: "global", RT_SCOPE_LINK: "link", RT_SCOPE_HOST: "host"}


def inet_make_mask(prefixlen: int) -> int:
    """The netmask of a prefix length as a host int (``inet_make_mask``)."""
    return (0xFFFFFFFF << (32 - prefixlen)) & 0xFFFFFFFF if prefixlen else 0


def parse_cidr(text: str) -> tuple[bytes, int]:
    """``"10.0.0.1/24"`` -> ``(b"\\n\\0\\0\\x01", 24)``; no ``/len`` means /32."""
    addr, _, plen = text.strip().partition("/")
    prefixlen = 32
    if plen:
        if not plen.isdigit() or int(plen) > 32:
            raise ValueError(f"bad prefix length in {text!r}")
        prefixlen = int(plen)
    return ip_bytes(addr), prefixlen


@dataclass(slots=True, eq=False)
class InIfAddr:
    """One address (``struct in_ifaddr``)."""

    local: bytes
    prefixlen: int
    dev: NetDevice
    broadcast: bytes | None = None
    scope: int = RT_SCOPE_UNIVERSE
    secondary: bool = False
    mask: int = 0
    net_int: int = 0

    def matches(self, addr: bytes) -> bool:
        """inet_ifa_match: ``addr`` is inside this address's subnet."""
        return ip_to_int(addr) & self.mask == self.net_int

    @property
    def network(self) -> bytes:
        return int_to_ip(self.net_int)

    def __str__(self) -> str:
        return f"{ip_str(self.local)}/{self.prefixlen}"


@dataclass(slots=True, eq=False)
class InDevice:
    """Per-device IPv4 state (``struct in_device``), hung on ``dev.ip_ptr``."""

    dev: NetDevice
    ifa_list: list[InIfAddr] = field(default_factory=list)
    packet_types: list[PacketType] = field(default_factory=list)


class Devinet:
    """The namespace's IPv4 addresses (``net.devinet``)."""

    def __init__(self, net: Any) -> None:
        self.net = net
        self.in_devices: dict[NetDevice, InDevice] = {}

    # -- in_device lifetime ----------------------------------------------------------------------
    def in_dev(self, dev: NetDevice) -> InDevice | None:
        return self.in_devices.get(dev)

    def create(self, dev: NetDevice) -> InDevice:
        """inetdev_init: give ``dev`` IPv4 state (idempotent)."""
        in_dev = self.in_devices.get(dev)
        if in_dev is None:
            in_dev = InDevice(dev)
            self.in_devices[dev] = in_dev
            dev.ip_ptr = in_dev
        return in_dev

    def destroy(self, dev: NetDevice) -> None:
        """inetdev_destroy: every address of ``dev`` goes, with its routes."""
        in_dev = self.in_devices.pop(dev, None)
        if in_dev is None:
            return
        in_dev.ifa_list.clear()
        dev.ip_ptr = None
        self.net.fib.sync_ifaddrs(dev)

    # -- addresses -------------------------------------------------------------------------------
    def add(self, dev: NetDevice, local: bytes, prefixlen: int,
            broadcast: bytes | None = None) -> InIfAddr:
        """``ip addr add LOCAL/PREFIXLEN dev DEV``; returns the new address."""
        in_dev = self.in_devices.get(dev)
        if in_dev is None:
            raise oserror(errno.ENODEV, f"{dev.name} is not attached to this Net")
        if len(local) != 4 or not 0 <= prefixlen <= 32 or local == bytes(4):
            raise oserror(errno.EINVAL, f"bad address {local!r}/{prefixlen}")
        for ifa in in_dev.ifa_list:
            if ifa.local == local and ifa.prefixlen == prefixlen:
                raise oserror(errno.EEXIST, f"{ip_str(local)}/{prefixlen} on {dev.name}")
        mask = inet_make_mask(prefixlen)
        if broadcast is None and prefixlen <= 30:
            broadcast = int_to_ip((ip_to_int(local) & mask) | (~mask & 0xFFFFFFFF))
        scope = RT_SCOPE_HOST if ipv4_is_loopback(local) else RT_SCOPE_UNIVERSE
        ifa = InIfAddr(bytes(local), prefixlen, dev, broadcast, scope, False, mask,
                       ip_to_int(local) & mask)
        ifa.secondary = any(not o.secondary and o.prefixlen == prefixlen
                            and o.net_int == ifa.net_int for o in in_dev.ifa_list)
        in_dev.ifa_list.append(ifa)
        if dev.flags & IFF_UP:
            self.net.fib.sync_ifaddrs(dev)
            self.net.announce(dev, ifa.local)
        return ifa

    def delete(self, dev: NetDevice, local: bytes, prefixlen: int | None = None) -> None:
        """``ip addr del``; deleting a primary also deletes its secondaries (Linux's default)."""
        in_dev = self.in_devices.get(dev)
        victim = None
        for ifa in in_dev.ifa_list if in_dev else []:
            if ifa.local == local and (prefixlen is None or ifa.prefixlen == prefixlen):
                victim = ifa
                break
        if in_dev is None or victim is None:
            raise oserror(errno.EADDRNOTAVAIL, f"{ip_str(local)} is not on {dev.name}")
        doomed = [victim]
        if not victim.secondary:
            doomed += [o for o in in_dev.ifa_list if o.secondary
                       and o.prefixlen == victim.prefixlen and o.net_int == victim.net_int]
        for ifa in doomed:
            in_dev.ifa_list.remove(ifa)
        self.net.fib.sync_ifaddrs(dev)

    def addresses(self, dev: NetDevice | None = None) -> list[InIfAddr]:
        devs = [dev] if dev is not None else list(self.in_devices)
        return [ifa for d in devs if d in self.in_devices for ifa in self.in_devices[d].ifa_list]

    # -- lookups ---------------------------------------------------------------------------------
    def select_addr(self, dev: NetDevice | None, dst: bytes | None,
                    scope: int) -> bytes | None:
        """inet_select_addr: a primary address of ``dev`` for ``dst`` (its subnet first),
        else the first suitable primary address of any device."""
        in_dev = self.in_devices.get(dev) if dev is not None else None
        addr = None
        for ifa in in_dev.ifa_list if in_dev is not None else ():
            if ifa.secondary or ifa.scope > scope:
                continue
            if dst is None or ifa.matches(dst):
                return ifa.local
            if addr is None:
                addr = ifa.local
        if addr is not None:
            return addr
        for other in self.in_devices.values():
            for ifa in other.ifa_list:
                if not ifa.secondary and ifa.scope != RT_SCOPE_LINK and ifa.scope <= scope:
                    return ifa.local
        return None

    def dev_find(self, addr: bytes) -> NetDevice | None:
        """__ip_dev_find: the device that has ``addr``."""
        for in_dev in self.in_devices.values():
            for ifa in in_dev.ifa_list:
                if ifa.local == addr:
                    return in_dev.dev
        return None

    # -- listing ---------------------------------------------------------------------------------
    def show(self) -> str:
        """``ip addr show`` for the attached devices, in ifindex order."""
        out = []
        for in_dev in sorted(self.in_devices.values(), key=lambda d: d.dev.ifindex):
            dev = in_dev.dev
            out.append(f"{dev.ifindex}: {dev.name}: <{_flags_text(dev.flags)}> mtu {dev.mtu} "
                       f"state {dev.operstate_name}\n")
            kind = "loopback" if dev.flags & IFF_LOOPBACK else "ether"
            out.append(f"    link/{kind} {mac_str(dev.dev_addr)} brd {mac_str(dev.broadcast)}\n")
            for ifa in in_dev.ifa_list:
                brd = f" brd {ip_str(ifa.broadcast)}" if ifa.broadcast else ""
                sec = " secondary" if ifa.secondary else ""
                out.append(f"    inet {ifa}{brd} scope {SCOPE_NAMES.get(ifa.scope, ifa.scope)}"
                           f"{sec} {dev.name}\n")
        return "".join(out)


_FLAG_NAMES = ((0x8, "LOOPBACK"), (0x2, "BROADCAST"), (0x80, "NOARP"), (0x1000, "MULTICAST"),
               (0x1, "UP"), (0x10000, "LOWER_UP"))


def _flags_text(flags: int) -> str:
    return ",".join(name for bit, name in _FLAG_NAMES if flags & bit)
