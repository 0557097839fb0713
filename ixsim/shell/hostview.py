"""Host views: hosts, interfaces (``ip -s addr``), timers, dmesg and the stack's tables.

The netdev-level views (``ifaces``) read ``stack.core`` state; the IPv4 ones (``routes``,
``neigh``, ``sockets``) read ``host.net`` (docs/stack-architecture.md: ``net.fib``,
``net.arp``, ``net.fdtable``) and answer with :class:`~ixsim.shell.errors.NotAvailable` on a
host whose stack is not attached yet.  Routes and neighbours are the stack's own iproute2-style
listings (``net.ip_route()``, ``net.ip_neigh()``), else the tables read duck-typed
(``dump()``, ``entries()``, ``routes()`` or iteration, each entry printed with ``str``).
"""

from __future__ import annotations

from typing import Any

from ixsim.sched import format_ns
from ixsim.shell.errors import NotAvailable
from ixsim.shell.hwview import columns
from ixsim.shell.target import NicRef, nics_of
from stack.core import (
    ETHTOOL_FEATURE_GROUPS,
    NETDEV_FEATURE_NAMES,
    OPERSTATE_NAMES,
    dev_get_stats,
    format_mac,
)

_IFF_NAMES = ((0x1, "UP"), (0x2, "BROADCAST"), (0x4, "DEBUG"), (0x8, "LOOPBACK"),
              (0x10, "POINTOPOINT"), (0x40, "RUNNING"), (0x80, "NOARP"), (0x100, "PROMISC"),
              (0x200, "ALLMULTI"), (0x1000, "MULTICAST"), (0x10000, "LOWER_UP"),
              (0x20000, "DORMANT"))


def net_of(host: Any) -> Any:
    net = getattr(host, "net", None)
    if net is None:
        raise NotAvailable()
    return net


def hosts_lines(world: Any) -> list[str]:
    rows: list[tuple[str, ...]] = [("host", "nics", "interfaces", "addresses", "stack",
                                    "faults")]
    for host in world.hosts.values():
        ifaces = ", ".join(f"{r.iface} {_state(r)}" for r in nics_of(host)) or "-"
        addrs = ", ".join(f"{i} {a}" for i, a in host.addresses) or "-"
        stack = "attached" if getattr(host, "net", None) is not None else "not attached"
        faults = sum(1 for f in world.faults if f.device.split(":")[0] == host.name)
        rows.append((host.name, str(len(host.nics)), ifaces, addrs, stack, str(faults)))
        rows.extend(("", "", f"probe error: {e}", "", "", "") for e in host.probe_errors)
    return columns(rows)


def _state(ref: NicRef) -> str:
    if ref.netdev is None:
        return "(no driver)"
    return OPERSTATE_NAMES[ref.netdev.operstate]


def _irq_mode(dev: Any) -> str:
    """The interrupt the function uses now, named as /proc/interrupts names the chip."""
    pdev = dev.parent
    if pdev is None or not hasattr(pdev, "msi_enabled"):
        return str(dev.irq)
    if pdev.msi_enabled:
        return f"{pdev.irq} PCI-MSI"
    return f"{pdev.irq} IO-APIC (INTx)"


def ifaces_lines(host: Any) -> list[str]:
    out = []
    for ref in nics_of(host):
        dev = ref.netdev
        port = ref.port.counters()
        link = "up" if ref.port.link_up else "down"
        if dev is None:
            out.append(f"{ref.iface}: no driver bound (PCI {ref.pci.name}), port link {link}")
        else:
            flags = ",".join(n for bit, n in _IFF_NAMES if dev.flags & bit)
            out.append(f"{dev.ifindex}: {dev.name}: <{flags}> mtu {dev.mtu} state "
                       f"{OPERSTATE_NAMES[dev.operstate]} driver {dev.driver_name or '?'} "
                       f"irq {_irq_mode(dev)}")
            out.append(f"    link/ether {format_mac(dev.dev_addr)} brd "
                       f"{format_mac(dev.broadcast)}")
            for addr in _addresses(host, dev):
                out.append(f"    inet {addr}")
            ipv6 = getattr(getattr(host, "net", None), "ipv6", None)
            if ipv6 is not None:  # ``ip addr`` shows both families
                out.extend(ipv6.addrconf.addr_lines(dev))
            st = dev_get_stats(dev)
            rows = [("", "packets", "bytes", "errors", "dropped"),
                    ("RX:", st.rx_packets, st.rx_bytes, st.rx_errors, st.rx_dropped),
                    ("TX:", st.tx_packets, st.tx_bytes, st.tx_errors, st.tx_dropped)]
            out.extend(columns(rows, "    "))
        out.append(f"    port {ref.port.name}: link {link}, tx {port['tx_frames']} frames "
                   f"{port['tx_bytes']} B, rx {port['rx_frames']} frames {port['rx_bytes']} B, "
                   f"dropped (no link) tx {port['tx_dropped_link_down']} "
                   f"rx {port['rx_dropped_link_down']}")
    return out


def _addresses(host: Any, dev: Any) -> list[str]:
    configured = [cidr for name, cidr in host.addresses if name == dev.name]
    if getattr(host, "net", None) is None:
        return [f"{c} (configured; the IPv4 stack is not attached)" for c in configured]
    devinet = getattr(host.net, "devinet", None)
    for method in ("addresses", "addrs"):
        fn = getattr(devinet, method, None)
        if callable(fn):
            try:
                return [str(a) for a in fn(dev)]
            except Exception:  # noqa: BLE001 - a different signature: use what was asked
                break
    return configured


def timers_lines(world: Any, hosts: Any) -> list[str]:
    rows: list[tuple[str, ...]] = [("host", "kind", "what", "expires", "in")]
    for host in hosts:
        rows.extend(_timer_rows(world, host))
    if len(rows) == 1:
        return ["nothing pending"]
    return columns(rows)


def _timer_rows(world: Any, host: Any) -> list[tuple[str, ...]]:
    now = world.now
    rows: list[tuple[str, ...]] = []
    for name, expires in host.kernel.timers():
        rows.append((host.name, "kernel timer", name, format_ns(expires),
                     format_ns(max(expires - now, 0))))
    for work in host.kernel.works():
        rows.append((host.name, "work", work, "pending", "-"))
    # Device events as their components label them (device/trace.py), in time order.
    device = [(ev.handle, ref, ev.label) for ref in nics_of(host)
              for component in (ref.nic.tx, ref.nic.rx, ref.pci)
              for ev in component.pending_events() if not ev.handle.cancelled]
    device.sort(key=lambda item: item[0])
    for handle, ref, what in device:
        rows.append((host.name, f"device {ref.iface}", what, format_ns(handle.when),
                     format_ns(max(handle.when - now, 0))))
    return rows


def dmesg_lines(host: Any, last: int | None) -> list[str]:
    lines = host.kernel.dmesg_text().splitlines()
    return lines[-last:] if last else lines


# -- the IPv4 stack's tables (duck-typed) -------------------------------------------------
def _entries(table: Any) -> list[Any]:
    for method in ("dump", "entries", "routes", "items"):
        fn = getattr(table, method, None)
        if callable(fn):
            result = fn()
            return list(result.values()) if isinstance(result, dict) else list(result)
    try:
        return list(table)
    except TypeError:
        return [table]


def _listing(host: Any, text: str, empty: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [f"{host.name}: {line}" for line in lines] or [f"{host.name}: {empty}"]


def routes_lines(host: Any) -> list[str]:
    net = net_of(host)
    if callable(getattr(net, "ip_route", None)):  # ``ip route`` text, then ``ip -6 route``
        text = net.ip_route() + (net.ip6_route() if getattr(net, "ipv6", None) else "")
        return _listing(host, text, "no routes")
    fib = getattr(net, "fib", None)
    if fib is None:
        raise NotAvailable("this host's stack has no routing table (net.fib)")
    entries = _entries(fib)
    return [f"{host.name}: {str(e)}" for e in entries] or [f"{host.name}: no routes"]


def neigh_lines(host: Any) -> list[str]:
    net = net_of(host)
    if callable(getattr(net, "ip_neigh", None)):  # ``ip neigh`` text, then ``ip -6 neigh``
        text = net.ip_neigh() + (net.ip6_neigh() if getattr(net, "ipv6", None) else "")
        return _listing(host, text, "no neighbours")
    arp = getattr(net, "arp", None)
    if arp is None:
        raise NotAvailable("this host's stack has no neighbour table (net.arp)")
    entries = _entries(arp)
    return [f"{host.name}: {str(e)}" for e in entries] or [f"{host.name}: no neighbours"]


def sockets_lines(host: Any) -> list[str]:
    net = net_of(host)
    table = getattr(net, "fdtable", None)
    files = getattr(table, "files", None)
    if not files:
        return [f"{host.name}: no sockets"]
    rows: list[tuple[str, ...]] = [("host", "fd", "proto", "local", "peer", "state")]
    for fd, sock in sorted(files.items()):
        kind = {1: "tcp", 2: "udp"}.get(getattr(sock, "type", 0) & 0xF, type(sock).__name__)
        local = _endpoint(sock, "getsockname")
        peer = _endpoint(sock, "getpeername")
        state = getattr(getattr(sock, "sk", None), "state", "")
        rows.append((host.name, str(fd), kind, local, peer, getattr(state, "name", str(state))))
    return columns(rows)


def _endpoint(sock: Any, method: str) -> str:
    try:
        name = getattr(sock, method)()
        addr, port = name[0], name[1]  # AF_INET6 names are 4-tuples
    except (OSError, AttributeError, TypeError, ValueError, IndexError):
        return "*"
    return f"[{addr}]:{port}" if ":" in str(addr) else f"{addr}:{port}"  # as ss prints them


def features_lines(ref: NicRef) -> list[str]:
    """``ethtool -k``: the groups with their member features, ``[fixed]`` where the device
    cannot change a bit, ``[requested on]`` where a wanted feature is off because the core or
    the driver overruled it (TSO without SG), as ethtool prints them."""
    dev = ref.netdev
    features, hw, wanted = dev.features, dev.hw_features, dev.wanted_features
    lines = [f"Features for {ref.label}:"]
    grouped = 0
    for _short, long, mask in ETHTOOL_FEATURE_GROUPS:
        present = [bit for bit in sorted(NETDEV_FEATURE_NAMES) if bit & mask]
        if not present:
            continue
        grouped |= mask
        state = "on" if features & mask else "off"
        if len(present) == 1:  # ethtool names a one-feature group by the group's name
            lines.append(_feature_line(long, present[0], features, hw, wanted, indent=False))
            continue
        lines.append(f"{long}: {state}")
        for bit in present:
            lines.append(_feature_line(NETDEV_FEATURE_NAMES[bit], bit, features, hw, wanted,
                                       indent=True))
    for bit, name in sorted(NETDEV_FEATURE_NAMES.items()):
        if not bit & grouped:
            lines.append(_feature_line(name, bit, features, hw, wanted, indent=False))
    return lines


def _feature_line(name: str, bit: int, features: int, hw: int, wanted: int,
                  indent: bool) -> str:
    on = bool(features & bit)
    note = ""
    if not hw & bit:
        note = " [fixed]"
    elif wanted & bit and not on:
        note = " [requested on]"
    return f"{chr(9) if indent else ''}{name}: {'on' if on else 'off'}{note}"
