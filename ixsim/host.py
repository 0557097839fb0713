"""A Host: one emulated machine with its NICs, its driver instances and its network stack.

Assembly only (the kernel's boot, in miniature): guest memory and a PCI bus from ``device/``,
an EEPROM image per NIC from ``firmware/``, the driver probed on each PCI function, and the
stack configured with the addresses the user asked for.
"""

from __future__ import annotations

import abc
import importlib
import os
import selectors
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from device.machine import Machine, NicSlot
from device.pci import PciFunction
from device.pcierr import pci_hotplug_add, pci_surprise_remove, pcie_do_recovery
from driver import ixgb
from firmware import default_words, load_words, set_mac
from ixsim.apps.ping import ping
from ixsim.apps.ping6 import Ping6
from ixsim.capture import Capture, start_capture
from ixsim.regview import DeviceView
from ixsim.sched import parse_duration
from ixsim.tc import tc_replace
from stack.core import Kernel, dev_open
from stack.ipv6.radvd import Radvd
from stack.net import Net
from stack.netconsole import Netconsole, init_netconsole
from stack.socket import Socket, socket_create
from stack.socket.selectors import IxsimSelector
from stack.sysctl import sysctl_all, sysctl_read, sysctl_write
from stack.uapi import AF_INET, SOCK_STREAM
from stack.wire.ipv6 import is_ipv6_text

# a virtual subclass (stack/ may not import selectors); BaseSelector's own register() shadows
# the ABC's, hence ABCMeta's
abc.ABCMeta.register(selectors.BaseSelector, IxsimSelector)


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
        msi: bool = False,
        netconsole: str | None = None,
    ) -> None:
        self.world = world
        self.name = name
        self.driver = load_driver(driver)  # before any building: a bad driver costs nothing
        self.index = index
        self.sched = world.sched
        self.machine = Machine(world.sched, name, mem_size=mem_size, strict=world.strict,
                               pcix=bool(msi))
        self.kernel = Kernel(world.sched, name)
        self.kernel.mem = self.machine.mem  # skb fragment pages live in guest RAM
        self.addresses: list[tuple[str, str]] = []
        self.interfaces: dict[str, Any] = {}
        self.probe_errors: list[str] = []
        self.bound: dict[int, Any] = {}  # NIC index -> the net_device its driver registered
        self._driver_params = driver_params or {}
        self._up = up
        self.netconsole_config = netconsole
        self.netconsole: Netconsole | None = None
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
        for slot in self.machine.nics:  # the root port's AER interrupt runs the recovery
            slot.pci.error_notify = self._aer_recover
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
        self.bound[slot.index] = netdev
        if self.net is not None:
            self.net.attach(netdev)
        if up:
            dev_open(netdev)

    def start_netconsole(self) -> Netconsole:
        """Load netconsole with ``netconsole_config`` (``World.host`` calls this after the
        addresses are set); OSError with Linux's errno when the configuration fails."""
        if self.net is None:
            raise ValueError(f"host {self.name}: netconsole needs the IP stack (stack=True)")
        if self.netconsole_config is None:
            raise ValueError(f"host {self.name}: no netconsole configuration")
        self.netconsole = init_netconsole(self.net, self.netconsole_config)
        return self.netconsole

    # -- PCI errors and hot-plug (device/pcierr.py, docs/pci.md) -----------------------------
    def _slot_of(self, fn: PciFunction) -> NicSlot:
        return next(slot for slot in self.machine.nics if slot.pci is fn)

    def _aer_recover(self, fn: PciFunction) -> None:
        slot = self._slot_of(fn)
        handlers = getattr(self.driver, "err_handler", None) if slot.index in self.bound \
            else None
        pcie_do_recovery(slot.pci_dev, fn, handlers, self.kernel.log)

    def pci_error(self, iface: str) -> None:
        """Inject an uncorrectable PCI error into ``iface``'s function (as the shell's
        ``inject HOST pci-error``): its channel freezes and the AER recovery runs."""
        self._nic_slot(iface).pci.raise_error()

    def _nic_slot(self, name: str) -> NicSlot:
        for slot in self.machine.nics:
            dev = self.bound.get(slot.index)
            if name in (f"nic{slot.index}", getattr(dev, "name", None)):
                return slot
        known = [f"nic{s.index}" for s in self.machine.nics] + sorted(self.interfaces)
        raise ValueError(f"host {self.name} has no PCI device {name!r} "
                         f"(one of {', '.join(known)})")

    def device_del(self, name: str) -> str:
        """QEMU's ``device_del``: surprise-remove a NIC (by interface or id ``nicN``).

        The card is gone at once (MMIO reads all-ones, no DMA, no interrupts) and its cable
        end goes dark; then pciehp runs the driver's ``remove`` (the interface is
        unregistered, with its addresses and routes).  Returns the id for
        :meth:`device_add`.
        """
        slot = self._nic_slot(name)
        if not slot.pci.present:
            raise ValueError(f"host {self.name}: nic{slot.index} is already removed")
        netdev = self.bound.pop(slot.index, None)

        def remove() -> None:
            self.driver.remove(netdev)
            self.interfaces.pop(netdev.name, None)
            self.addresses = [(i, c) for i, c in self.addresses if i != netdev.name]

        cable = slot.port.medium
        if cable is not None and hasattr(cable, "unplug"):
            cable.unplug()
        pci_surprise_remove(slot.pci_dev, slot.pci, remove if netdev is not None else None,
                            self.kernel.log)
        return f"nic{slot.index}"

    def device_add(self, name: str) -> Any:
        """QEMU's ``device_add`` of a NIC removed by :meth:`device_del` (id ``nicN``): the
        card powers on, the driver probes it (a new interface, unconfigured, up unless the
        host was built with ``up=False``) and its cable end lights again.  Returns the
        net_device, or None when the driver refused it (``probe_errors``)."""
        slot = self._nic_slot(name)
        if slot.pci.present:
            raise ValueError(f"host {self.name}: nic{slot.index} is present")
        pci_hotplug_add(slot.pci_dev, slot.pci, self.kernel.log)
        cable = slot.port.medium
        if cable is not None and hasattr(cable, "plug"):
            cable.plug()
        if self.driver is not None:
            self._bind(slot, self._driver_params, self._up)
        return self.bound.get(slot.index)

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

    def selector(self) -> IxsimSelector:
        """A ``selectors.BaseSelector`` (an ``EpollSelector`` over this host's epoll) for
        this host's sockets; ``select()`` is awaitable inside a task (stack/socket/selectors.py).
        """
        return IxsimSelector(self.net)

    def spawn(self, coro: Any, name: str = "") -> Any:
        """Run an ``async def`` on this host's world; its socket calls are awaitable."""
        return self.sched.spawn(coro, name or f"{self.name}:{getattr(coro, '__name__', 'task')}")

    def ping(self, dest: str, count: int = 1, **options: Any) -> Any:
        """ping(8) (``ixsim.apps.ping``): echo requests over a ping socket, or a raw socket
        when ``net.ipv4.ping_group_range`` refuses one (the default), as iputils does; RTTs
        from virtual time, loss and rtt statistics."""
        for key in ("interval", "timeout"):
            if key in options:
                options[key] = parse_duration(options[key])
        if is_ipv6_text(dest):
            return Ping6(self.net, dest, count=count, **options).run()
        return ping(self.net, dest, count=count, **options)

    def radvd(self, iface: str, *prefixes: str, mtu: int = 0, **options: Any) -> Radvd:
        """Run radvd on ``iface`` advertising ``prefixes`` (``"2001:db8:1::/64"``): this host
        becomes an IPv6 router (forwarding on) that hosts with ``accept_ra`` autoconfigure
        from (stack/ipv6/radvd.py)."""
        dev = self.interfaces.get(iface)
        if dev is None or self.net is None:
            raise ValueError(f"host {self.name} has no interface {iface!r} with a stack")
        self.net.enable_ipv6()
        return Radvd(self.net, dev, list(prefixes), mtu=mtu, **options)

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

    def tc(self, iface: str, kind: str | None = None, **params: Any) -> Any:
        """``tc qdisc replace dev IFACE root KIND [PARAMS]`` with ``kind``, else the root
        qdisc as it is (``tc qdisc show``): ``host.tc("eth0", "fq_codel", target=5,
        interval=100)`` (times in ms, tc's parameter names), ``host.tc("eth0").stats()``.
        Kinds: ``pfifo_fast`` (Linux's built-in default), ``fq_codel`` and ``fq``; an unknown
        one is ENOENT, a bad parameter EINVAL.  ``ixsim.tc.qdisc_show(dev)`` prints it as
        tc -s does.
        """
        dev = self.interfaces.get(iface)
        if dev is None:
            raise OSError(19, f"Cannot find device {iface!r}")  # ENODEV, as tc says
        if kind is None:
            return dev.qdisc
        return tc_replace(dev, kind, **params)

    def capture(self, iface: str = "any", filter: str = "", pcap: str | None = None,
                keep: bool = True) -> Capture:
        """Packet capture on an interface, both directions, tcpdump filter syntax."""
        return start_capture(self, iface, filter, pcap=pcap, keep=keep)

    def route(self, dst: str, via: str | None = None, dev: str | None = None,
              metric: int = 0) -> None:
        """``ip route add DST [via GW] [dev IFACE]``; ``ip -6 route add`` for an IPv6
        destination or gateway (``host.route("::/0", via="fd00::fe")``)."""
        self.net.add_route(dst, gateway=via, dev=self.interfaces[dev] if dev else None,
                           metric=metric)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Host {self.name} nics={len(self.nics)}>"
