"""netconsole: every kernel log line as a UDP datagram, sent by netpoll (drivers/net/netconsole.c).

``w.host("a", "10.0.0.1/24", netconsole="@/eth0,6666@10.0.0.2/")`` configures it with the
module parameter's syntax (Documentation/networking/netconsole.rst)::

    netconsole=[src-port]@[src-ip]/[<dev>],[tgt-port]@<tgt-ip>/[tgt-macaddr]

parsed as Linux's ``netpoll_parse_options`` does: source port 6665, device eth0, target port
6666 and the broadcast MAC ff:ff:ff:ff:ff:ff by default; without a source IP, the first IPv4
address of the device (``netpoll_setup``; none is -EDESTADDRREQ, "no IP address for eth0,
aborting").  Several targets are separated by ``;``.  A device that is down is brought up
("device eth0 not up yet, forcing it"); one that does not exist is -ENODEV.

Once set up, netconsole is a console (``kernel.consoles``): every printk line below the
console loglevel (debug stays off, as with Linux's default of 7) goes out as it is printed,
with its timestamp prefix (``[    1.234567] text\\n``, CONFIG_PRINTK_TIME), in chunks of at
most 1000 bytes (MAX_PRINT_CHUNK), through :func:`stack.core.netpoll.netpoll_send_udp`: its
own Ethernet, IPv4 and UDP headers, no socket, no route, no ARP, no qdisc.  Lines printed
before the console was registered are not replayed (no CON_PRINTBUFFER);
"netconsole: network logging started" is the first line sent.  A target whose device is
unregistered (``host.device_del``) is disabled, as ``netconsole_netdev_event`` does.

Not modelled, and refused with EINVAL rather than ignored: the extended format (a ``+``
prefix), the kernel release prepended to messages (``r``), IPv6 addresses and the configfs
dynamic targets.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stack.core import (
    NETDEV_UNREGISTER,
    dev_open,
    format_mac,
    netif_running,
    register_netdevice_notifier,
    unregister_netdevice_notifier,
)
from stack.core.kernel import LogRecord
from stack.core.netdevice import NetDevice
from stack.core.netpoll import (
    BROADCAST_MAC,
    Netpoll,
    netpoll_cleanup,
    netpoll_send_udp,
    netpoll_setup,
)
from stack.wire.ipv4 import ip_bytes, ip_str

if TYPE_CHECKING:
    from stack.net import Net

MAX_PRINT_CHUNK = 1000
NAME = "netconsole"
_HEX = frozenset("0123456789abcdefABCDEF")


def _einval(np: Netpoll, rest: str) -> OSError:
    return OSError(errno.EINVAL, f"{np.name}: couldn't parse config at '{rest}'!")


def _port(np: Netpoll, text: str, rest: str) -> int:
    if not text.isdigit() or int(text) > 0xFFFF:  # kstrtou16(cur, 10, ...)
        raise _einval(np, rest)
    return int(text)


def _ip(np: Netpoll, text: str, rest: str) -> bytes:
    if ":" in text:
        raise OSError(errno.EINVAL, f"{np.name}: IPv6 addresses are not modelled ({text!r})")
    try:
        return ip_bytes(text)
    except ValueError:
        raise _einval(np, rest) from None


def _mac(np: Netpoll, text: str, rest: str) -> bytes:
    """mac_pton: six pairs of hex digits separated by ':'."""
    parts = text.split(":")
    if len(text) != 17 or len(parts) != 6 or any(len(p) != 2 or not _HEX.issuperset(p)
                                                  for p in parts):
        raise _einval(np, rest)
    return bytes(int(p, 16) for p in parts)


def netpoll_parse_options(np: Netpoll, opt: str) -> None:
    """Fill ``np`` from ``[src-port]@[src-ip]/[dev],[tgt-port]@<tgt-ip>/[tgt-mac]``;
    OSError(EINVAL, "couldn't parse config at '...'!") as Linux logs it."""
    cur = opt
    if not cur.startswith("@"):
        port, sep, after = cur.partition("@")
        if not sep:
            raise _einval(np, cur)
        np.local_port = _port(np, port, cur)
        cur = "@" + after
    cur = cur[1:]
    if not cur.startswith("/"):
        addr, sep, after = cur.partition("/")
        if not sep:
            raise _einval(np, cur)
        np.local_ip = _ip(np, addr, cur)
        cur = "/" + after
    cur = cur[1:]
    if not cur.startswith(","):
        name, sep, after = cur.partition(",")
        if not sep:
            raise _einval(np, cur)
        np.dev_name = name
        cur = "," + after
    cur = cur[1:]
    if not cur.startswith("@"):
        port, sep, after = cur.partition("@")
        if not sep:
            raise _einval(np, cur)
        np.remote_port = _port(np, port, cur)
        cur = "@" + after
    cur = cur[1:]
    addr, sep, after = cur.partition("/")
    if not sep:
        raise _einval(np, cur)
    np.remote_ip = _ip(np, addr, cur)
    if after:
        np.remote_mac = _mac(np, after, after)


@dataclass
class NetconsoleTarget:
    """One target (``struct netconsole_target``)."""

    np: Netpoll
    enabled: bool = True
    sent: int = 0  # datagrams handed to netpoll


@dataclass
class Netconsole:
    """The console: its targets and the kernel it prints for."""

    net: Net
    targets: list[NetconsoleTarget] = field(default_factory=list)

    def write_msg(self, record: LogRecord) -> None:
        """The console's write: the line with its timestamp, in 1000-byte chunks."""
        text = f"[{record.time_ns / 1e9:12.6f}] {record.msg}\n".encode()
        for nt in self.targets:
            dev = nt.np.dev
            if not nt.enabled or dev is None or not netif_running(dev):
                continue
            for start in range(0, len(text), MAX_PRINT_CHUNK):
                netpoll_send_udp(nt.np, text[start:start + MAX_PRINT_CHUNK])
                nt.sent += 1

    def netdev_event(self, event: int, dev: NetDevice) -> None:
        """netconsole_netdev_event: a target whose device unregisters is disabled."""
        if event != NETDEV_UNREGISTER:
            return
        for nt in self.targets:
            if nt.enabled and nt.np.dev is dev:
                netpoll_cleanup(nt.np)
                nt.enabled = False
                self.net.kernel.log("info", f"{NAME}: network logging stopped on interface "
                                    f"{dev.name} as it unregistered")

    def cleanup(self) -> None:
        """Unregister the console and release every target (module unload)."""
        kernel = self.net.kernel
        if self.write_msg in kernel.consoles:
            kernel.consoles.remove(self.write_msg)
        if self.netdev_event in kernel.netdev_notifiers:
            unregister_netdevice_notifier(kernel, self.netdev_event)
        for nt in self.targets:
            if nt.enabled:
                netpoll_cleanup(nt.np)
        self.targets.clear()


def _setup(net: Net, np: Netpoll) -> None:
    """netpoll_setup's device and address part, with Linux's messages and errnos."""
    kernel = net.kernel
    dev = kernel.netdevs.get(np.dev_name)
    if dev is None:
        kernel.log("err", f"{np.name}: {np.dev_name} doesn't exist, aborting")
        raise OSError(errno.ENODEV, f"{np.name}: {np.dev_name} doesn't exist, aborting")
    if not netif_running(dev):
        kernel.log("info", f"{np.name}: device {np.dev_name} not up yet, forcing it")
        err = dev_open(dev)
        if err:
            kernel.log("err", f"{np.name}: failed to open {np.dev_name}")
            raise OSError(-err, f"{np.name}: failed to open {np.dev_name}")
    if not np.local_ip:
        addrs = net.devinet.addresses(dev)
        if not addrs:
            kernel.log("err", f"{np.name}: no IP address for {np.dev_name}, aborting")
            raise OSError(errno.EDESTADDRREQ,
                          f"{np.name}: no IP address for {np.dev_name}, aborting")
        np.local_ip = bytes(addrs[0].local)
        kernel.log("info", f"{np.name}: local IPv4 {ip_str(np.local_ip)}")
    netpoll_setup(np, dev)


def _print_options(net: Net, np: Netpoll) -> None:
    log = net.kernel.log
    log("info", f"{np.name}: local port {np.local_port}")
    if np.local_ip:
        log("info", f"{np.name}: local IPv4 address {ip_str(np.local_ip)}")
    log("info", f"{np.name}: interface '{np.dev_name}'")
    log("info", f"{np.name}: remote port {np.remote_port}")
    log("info", f"{np.name}: remote IPv4 address {ip_str(np.remote_ip)}")
    log("info", f"{np.name}: remote ethernet address {format_mac(np.remote_mac)}")


def init_netconsole(net: Net, config: str) -> Netconsole:
    """Parse ``config`` (targets separated by ``;``), set each up, register the console and
    print "network logging started".  Raises OSError (EINVAL, ENODEV, EDESTADDRREQ) after
    undoing what was done, as the module's init fails ("netconsole: cleaning up")."""
    console = Netconsole(net)
    try:
        for target_config in config.split(";"):
            np = Netpoll(NAME, remote_mac=BROADCAST_MAC)
            if target_config.startswith(("+", "r")):
                raise OSError(errno.EINVAL, f"{NAME}: the extended ('+') and release ('r') "
                              "formats are not modelled")
            netpoll_parse_options(np, target_config)
            _print_options(net, np)
            _setup(net, np)
            console.targets.append(NetconsoleTarget(np))
    except OSError:
        net.kernel.log("err", f"{NAME}: cleaning up")
        console.cleanup()
        raise
    register_netdevice_notifier(net.kernel, console.netdev_event)
    net.kernel.consoles.append(console.write_msg)
    net.kernel.log("info", f"{NAME}: network logging started")
    return console
