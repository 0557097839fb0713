"""A Host: one emulated machine with its NICs, its driver instances and its network stack.

Assembly only (the kernel's boot, in miniature): guest memory and a PCI bus from ``device/``,
an EEPROM image per NIC from ``firmware/``, the driver probed on each PCI function, and the
stack configured with the addresses the user asked for.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from device.machine import Machine, NicSlot
from driver import ixgb
from firmware import default_words, load_words, set_mac
from ixsim.capture import Capture, start_capture
from ixsim.regview import DeviceView
from ixsim.sched import parse_duration
from stack.core import Kernel, dev_open
from stack.net import Net
from stack.ping import ping
from stack.socket import Socket, socket_create
from stack.sysctl import sysctl_all, sysctl_read, sysctl_write
from stack.uapi import AF_INET, SOCK_STREAM


def host_mac(host_index: int, nic_index: int) -> str:
    """Deterministic, locally administered MACs: 02:00:00:00:<host+1>:<nic>."""
    return f"02:00:00:00:{host_index + 1:02x}:{nic_index:02x}"


DRIVER_API = ("match", "probe", "remove", "ProbeError")


def load_driver(driver: Any) -> ModuleType | None:
    """The driver module a ``driver=`` argument names, its interface checked; None: unbound.

    ``True`` is the built-in ixgb (``driver.ixgb``); ``False`` or ``None`` leave the NICs
    unbound (the module "blacklisted"); a module object is used as is; a string is a dotted
    module name (``"driver.ixgb"``, ``"mypkg.mydrv"``), and a bare name is also looked for in
    the ``driver`` package, as ``modprobe ixgb`` finds ``ixgb.ko``.  A driver is any module
    with ``match(pci_dev)``, ``probe(kernel, pci_dev, **params)``, ``remove(netdev)`` and a
    ``ProbeError`` exception class (docs/writing-a-driver.md); anything else is a TypeError,
    a name that does not import a ValueError.
    """
    if driver is True:
        return ixgb
    if driver is False or driver is None:
        return None
    if isinstance(driver, str):
        module = _import_driver(driver)
    elif isinstance(driver, ModuleType):
        module = driver
    else:
        raise TypeError(f"driver={driver!r}: pass True, False, a module or a dotted "
                        "module name such as 'driver.ixgb'")
    name = getattr(module, "__name__", repr(module))
    missing = [attr for attr in DRIVER_API[:3] if not callable(getattr(module, attr, None))]
    error = getattr(module, "ProbeError", None)
    if not (isinstance(error, type) and issubclass(error, BaseException)):
        missing.append("ProbeError")
    if missing:
        raise TypeError(f"driver {name!r} is not a driver: it lacks {', '.join(missing)} "
                        "(a driver module has match(pci_dev), probe(kernel, pci_dev, "
                        "**params), remove(netdev) and a ProbeError exception)")
    return module


def _import_driver(name: str) -> ModuleType:
    candidates = [name] if "." in name else [name, f"driver.{name}"]
    for candidate in candidates:
        try:
            return importlib.import_module(candidate)
        except ModuleNotFoundError as exc:
            # Only "this very module is missing" means a wrong name; a module that fails on
            # its own imports is a broken driver, and that error is the one to see.
            if exc.name is None or not (candidate + ".").startswith(exc.name + "."):
                raise
    raise ValueError(f"driver {name!r}: no such module (tried {' and '.join(candidates)})")


def _per_nic(firmware: Any, nics: int) -> list[Any]:
    if firmware is None or isinstance(firmware, (str, os.PathLike)):
        return [firmware] * nics
    images = list(firmware)
    return images + [None] * (nics - len(images))


class Host:
    """One machine on a world; ``World.host(name, *addresses, **options)`` builds it.

    Options: ``nics`` (how many ixgb functions), ``mem_size`` (guest memory), ``eeproms`` /
    ``firmware`` / ``macs`` (each NIC's NVM: raw words, an ELF image, or the default image
    with the given MAC), ``device_ids`` (each NIC's PCI device ID, e.g. an 82597EX SR/LR/CX4
    variant), ``driver`` (True: the built-in ixgb; False or None: NICs left unbound; a
    driver module or its dotted name, see :func:`load_driver`), ``driver_params`` (the
    driver's module parameters, ixgb's by default), ``stack=False`` (the netdev core only:
    no IPv4, no loopback, no GRO, so a driver test sees exactly the raw frames it sends and
    receives; ``net`` and ``lo`` are None) and ``up=False`` (interfaces probed but left down:
    the caller runs ``dev_open``).
    """

    def __init__(
        self,
        world: Any,
        name: str,
        index: int,
        nics: int = 1,
        mem_size: int = 64 << 20,
        eeproms: list[list[int]] | None = None,
        firmware: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
        macs: Sequence[str | None] | None = None,
        driver_params: dict[str, Any] | None = None,
        device_ids: Sequence[int] | None = None,
        driver: bool | str | ModuleType | None = True,
        stack: bool = True,
        up: bool = True,
    ) -> None:
        self.world = world
        self.name = name
        self.driver = load_driver(driver)  # before any building: a bad driver costs nothing
        self.index = index
        self.sched = world.sched
        self.machine = Machine(world.sched, name, mem_size=mem_size, strict=world.strict)
        self.kernel = Kernel(world.sched, name)
        self.kernel.mem = self.machine.mem  # skb fragment pages live in guest RAM
        self.addresses: list[tuple[str, str]] = []
        self.interfaces: dict[str, Any] = {}
        self.probe_errors: list[str] = []
        images = _per_nic(firmware, nics)
        for i in range(nics):
            mac = (macs[i] if macs and i < len(macs) else None) or host_mac(index, i)
            if eeproms and i < len(eeproms):
                words = eeproms[i]
            elif images[i] is not None:
                # Power-on load of the NIC's NVM image (an ELF, see firmware/); the MAC is
                # overridden unless the caller asked for the image's own (mac="image").
                words = load_words(images[i])
                if mac != "image":
                    words = set_mac(words, mac)
            else:
                words = default_words(mac)
            if device_ids and i < len(device_ids):
                self.machine.add_ixgb(words, device_id=device_ids[i])
            else:
                self.machine.add_ixgb(words)
        # Boot: bind the driver to every PCI function it matches, then bring links up.
        self.net: Net | None = None
        self.lo: Any = None
        if stack:
            self.net = Net(self.kernel)  # inet_init: ICMP, UDP, TCP up from boot (stack.af_inet)
            self.lo = self.net.lo
        # driver=False leaves the NICs unbound (the module "blacklisted"): bare-metal use.
        for slot in self.machine.nics if self.driver is not None else ():
            self._bind(slot, driver_params or {}, up)

    def _bind(self, slot: NicSlot, params: dict[str, Any], up: bool = True) -> None:
        drv = self.driver
        if not drv.match(slot.pci_dev):
            return
        try:
            netdev = drv.probe(self.kernel, slot.pci_dev, **params)
        except drv.ProbeError as exc:
            self.probe_errors.append(str(exc))
            return
        netdev.device = DeviceView(slot)  # the register-level view: eth0.device.regs[...]
        netdev.port = slot.port
        netdev.host = self
        self.interfaces[netdev.name] = netdev
        if self.net is not None:
            self.net.attach(netdev)
        if up:
            dev_open(netdev)

    @property
    def nics(self) -> list[NicSlot]:
        return self.machine.nics

    def __getattr__(self, name: str) -> Any:
        interfaces = self.__dict__.get("interfaces", {})
        if name in interfaces:
            return interfaces[name]
        raise AttributeError(f"host {self.__dict__.get('name')!r} has no attribute {name!r}")

    def add_address(self, iface: str, cidr: str) -> None:
        """``ip addr add CIDR dev IFACE``: the address, its connected route, gratuitous ARP."""
        dev = self.interfaces.get(iface)
        if dev is None:
            raise ValueError(f"host {self.name} has no interface {iface!r}")
        if self.net is None:
            raise ValueError(f"host {self.name} has no IP stack (built with stack=False)")
        self.net.configure(dev, cidr)
        self.addresses.append((iface, cidr))

    # -- the user's surface ------------------------------------------------------------------
    def socket(self, family: int = AF_INET, type: int = SOCK_STREAM, proto: int = 0) -> Socket:
        """A BSD socket on this host, with ``socket.socket``'s methods and errors."""
        return socket_create(self.net, family, type, proto)

    def spawn(self, coro: Any, name: str = "") -> Any:
        """Run an ``async def`` on this host's world; its socket calls are awaitable."""
        return self.sched.spawn(coro, name or f"{self.name}:{getattr(coro, '__name__', 'task')}")

    def ping(self, dest: str, count: int = 1, **options: Any) -> Any:
        """ping(8): echo requests, RTTs from virtual time, loss and rtt statistics."""
        for key in ("interval", "timeout"):
            if key in options:
                options[key] = parse_duration(options[key])
        return ping(self.net, dest, count=count, **options)

    def sysctl(self, key: str | None = None, value: Any = None) -> Any:
        """``sysctl KEY`` (read), ``sysctl -w KEY=VALUE`` (``value`` given) or ``sysctl -a``
        (no key: a dict of every key ixsim models, sorted), by Linux's names and units:
        ``host.sysctl("net.ipv4.tcp_sack", 0)``, ``host.sysctl("net.core.netdev_budget")``.
        An unknown key is ``FileNotFoundError``, a value of the wrong kind ``OSError(EINVAL)``,
        as on Linux (stack/sysctl.py)."""
        if key is None:
            return sysctl_all(self.kernel, self.net.sysctl if self.net else None)
        sysctl = self.net.sysctl if self.net else None
        if value is None:
            return sysctl_read(self.kernel, sysctl, key)
        sysctl_write(self.kernel, sysctl, key, value)
        return None

    def capture(self, iface: str = "any", filter: str = "", pcap: str | None = None,
                keep: bool = True) -> Capture:
        """Packet capture on an interface, both directions, tcpdump filter syntax."""
        return start_capture(self, iface, filter, pcap=pcap, keep=keep)

    def route(self, dst: str, via: str | None = None, dev: str | None = None,
              metric: int = 0) -> None:
        """``ip route add DST [via GW] [dev IFACE]``."""
        self.net.add_route(dst, gateway=via, dev=self.interfaces[dev] if dev else None,
                           metric=metric)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Host {self.name} nics={len(self.nics)}>"
