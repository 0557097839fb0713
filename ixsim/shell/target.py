"""Naming things at the prompt: ``a``, ``a:eth1``, ``r:nic1``, ``TDT``, ``0x1000``, ``1.5ms``.

One resolver for hosts and NICs, shared by the shell and the one-shot verbs.  A NIC is named
``HOST`` (its first NIC), ``HOST:IFACE`` (the interface the driver registered, ``eth0``) or
``HOST:nicN`` (the PCI slot, which also works for a host without a driver).  Every failure is
a :class:`~ixsim.shell.errors.ShellError` naming what exists.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
from dataclasses import dataclass
from typing import Any

from device.spec import regs as R
from ixsim.cli import MAX_RUN, check_duration
from ixsim.clock import DurationTooLong
from ixsim.shell.errors import ShellError


@dataclass
class NicRef:
    """One NIC of one host, with the netdev the driver registered for it (if any)."""

    host: Any
    slot: Any
    netdev: Any | None

    @property
    def nic(self) -> Any:
        return self.slot.nic

    @property
    def pci(self) -> Any:
        return self.slot.pci

    @property
    def port(self) -> Any:
        return self.slot.port

    @property
    def iface(self) -> str:
        return self.netdev.name if self.netdev is not None else f"nic{self.slot.index}"

    @property
    def label(self) -> str:
        """``a eth0``: how trace lines and headers name this NIC."""
        return f"{self.host.name} {self.iface}"

    @property
    def adapter(self) -> Any | None:
        """The driver's private state when it has ixgb-shaped rings (tx_ring/rx_ring)."""
        priv = getattr(self.netdev, "priv", None)
        return priv if hasattr(priv, "tx_ring") and hasattr(priv, "rx_ring") else None


def host_names(world: Any) -> list[str]:
    return list(world.hosts)


def resolve_host(world: Any, name: str) -> Any:
    host = world.hosts.get(name)
    if host is None:
        raise ShellError(f"unknown host {name!r} (hosts: {', '.join(world.hosts) or 'none'})")
    return host


def nics_of(host: Any) -> list[NicRef]:
    """Every NIC of ``host`` in slot order, each with its netdev when a driver bound it."""
    by_slot = {}
    for dev in host.interfaces.values():
        view = getattr(dev, "device", None)
        slot = getattr(view, "slot", None)
        if slot is not None:
            by_slot[id(slot)] = dev
    return [NicRef(host, slot, by_slot.get(id(slot))) for slot in host.nics]


def all_nics(world: Any) -> list[NicRef]:
    return [ref for host in world.hosts.values() for ref in nics_of(host)]


def nic_names(world: Any) -> list[str]:
    """Completion candidates: ``a``, ``a:eth0``, ... (``a:nic0`` only without a driver)."""
    out = []
    for host in world.hosts.values():
        out.append(host.name)
        out.extend(f"{host.name}:{ref.iface}" for ref in nics_of(host))
    return out


def resolve_nic(world: Any, spec: str, iface: str | None = None) -> NicRef:
    """``a`` / ``a:eth0`` / ``a:nic1`` (or host and iface given apart) -> :class:`NicRef`."""
    name, _, part = spec.partition(":")
    host = resolve_host(world, name)
    part = iface or part
    refs = nics_of(host)
    if not refs:
        raise ShellError(f"host {name!r} has no NIC")
    if not part:
        return refs[0]
    for ref in refs:
        if part in (ref.iface, f"nic{ref.slot.index}"):
            return ref
    known = ", ".join(ref.iface for ref in refs)
    raise ShellError(f"host {name!r} has no interface {part!r} (it has {known})")


def register(name: str) -> R.Reg:
    """A register by name (``TDT``, ``gprc``, ``RAL0``) or offset (``0x620``)."""
    try:
        return R.lookup(name)
    except KeyError:
        close = difflib.get_close_matches(name.upper(), list(R.BY_NAME), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ShellError(f"unknown register {name!r}{hint}") from None


def registers(patterns: list[str]) -> list[R.Reg]:
    """Names, offsets or globs (``RAL*``) -> registers in the order asked, no duplicates."""
    out: list[R.Reg] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            found = [reg for n, reg in R.BY_NAME.items() if fnmatch.fnmatchcase(n, pattern.upper())]
            if not found:
                raise ShellError(f"no register matches {pattern!r}")
        else:
            found = [register(pattern)]
        out.extend(reg for reg in found if reg not in out)
    return out


def parse_int(text: str, what: str = "number", lo: int | None = None, hi: int | None = None) -> int:
    """``17``, ``0x11``, ``0b101``, ``1_000`` -> int, range-checked; ShellError otherwise."""
    try:
        value = int(text, 0)
    except (ValueError, TypeError):
        raise ShellError(f"bad {what} {text!r}: expected a number such as 17 or 0x11") from None
    if lo is not None and value < lo or hi is not None and value > hi:
        bounds = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise ShellError(f"bad {what} {text!r}: must be in {bounds}")
    return value


def parse_float(text: str, what: str, lo: float = 0.0, hi: float = 1.0) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ShellError(f"bad {what} {text!r}: expected a number in [{lo}, {hi}]") from None
    if not lo <= value <= hi:
        raise ShellError(f"bad {what} {text!r}: must be in [{lo}, {hi}]")
    return value


def parse_time(text: str, what: str = "duration", limit: int = MAX_RUN) -> int:
    """``10ms``, ``50us``, ``2s``, ``1500ns`` -> ns; a bare number is refused (say the unit),
    so are non-finite values and anything over ``limit`` (the scheduler's horizon, 2**62 ns;
    a long run stops at Ctrl-C)."""
    try:
        return check_duration(text, limit)
    except DurationTooLong as exc:
        raise ShellError(f"{what} {exc}") from None
    except ValueError:
        raise ShellError(f"bad {what} {text!r}: use e.g. 50us, 1.5ms, 2s") from None


def address_of(world: Any, name: str) -> str:
    """A host name (its first configured address) or an address of either family, as text:
    what ``ping`` takes (``host.ping`` picks the family from it)."""
    if name not in world.hosts:
        try:
            ip = ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            pass
        else:
            return name if ip.version == 6 else str(ip)
    return ipv4_of(world, name)


def ipv4_of(world: Any, name: str) -> str:
    """A host name (its first configured address) or a dotted quad, as a dotted quad."""
    host = world.hosts.get(name)
    if host is None:
        parts = name.split(".")
        if len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts):
            return name
        raise ShellError(f"unknown host or address {name!r} (hosts: {', '.join(world.hosts)})")
    if not host.addresses:
        raise ShellError(f"host {name!r} has no IPv4 address")
    return str(host.addresses[0][1]).split("/")[0]
