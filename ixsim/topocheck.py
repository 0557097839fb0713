"""Topology files, checked: the TOML document to a validated :class:`Topology`, or an error
naming the file, the line and the key.

The layout is in README "Topology files"; :mod:`ixsim.topology` builds the world from what this
module returns.  Contract: the whole file is checked before anything is built, and every mistake
is a :class:`TopologyError` whose message names the file, the line and the key, the way a
compiler does: ``net.toml:12: hosts.a.adresses: unknown key (did you mean 'addresses'?)``.
Unknown keys are errors (a typo must not silently fall back to a default), values are
type-checked, names are cross-checked (a cable end names a host interface or switch port that
exists, and is plugged in once).  IPv6 addresses and routes are refused with a message saying
so: the stack does not model IPv6 yet.  Relative paths (``pcap``, ``firmware``) are relative to
the topology file's directory, as in docker-compose files.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ixsim.clock import parse_duration, parse_rate
from ixsim.tomlkeys import find_line
from stack.sysctl import PATHS, Sysctl

KeyPath = tuple[str | int, ...]

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
NIC_NAME = re.compile(r"eth(\d+)\Z")
PORT_NAME = re.compile(r"port(\d+)\Z")
MAX_NICS = 16
MAX_PORTS = 1024  # BR_MAX_PORTS
DEFAULT_PORTS = {"switch": 8, "hub": 4}  # World.switch's and World.hub's defaults
IPV6_PENDING = "IPv6 is not modelled yet (IPv4 only for now: the stack has no IPv6)"

# Keys of each table, in the order the README documents them.
TOP_KEYS = ("world", "hosts", "switches", "hubs", "cables", "taps")
WORLD_KEYS = ("seed", "realtime", "strict")
HOST_KEYS = ("addresses", "nics", "driver", "driver_params", "mtu", "sysctls", "routes", "up",
             "stack", "macs", "firmware", "device_ids", "mem_size")
ROUTE_KEYS = ("dst", "via", "dev", "metric")
SWITCH_KEYS = ("ports", "vlan_filtering", "ageing", "port")
SWITCH_PORT_KEYS = ("vlan", "trunk")
HUB_KEYS = ("ports",)
# World.cable's keyword arguments, by the same names (wait is the loader's business).
CABLE_KEYS = ("ends", "latency", "rate", "loss", "dup", "reorder", "reorder_delay", "corrupt",
              "ce", "delay", "jitter", "pcap", "snaplen")
TAP_KEYS = ("end", "ifname", "mtu", "netns", "persist")
# Names people reach for that are spelt otherwise here (difflib would not guess them).
ALIASES = {"duplicate": "dup", "duplication": "dup", "address": "addresses",
           "port_count": "ports", "nic": "nics", "gateway": "via", "gw": "via",
           "destination": "dst", "to": "dst", "sysctl": "sysctls", "route": "routes"}
DURATIONS = ("latency", "reorder_delay", "delay", "jitter")
PROBABILITIES = ("loss", "dup", "reorder", "corrupt", "ce")


class TopologyError(ValueError):
    """A mistake in a topology file: ``FILE:LINE: KEY: message`` (line and key when known)."""

    def __init__(self, file: str, line: int, key: str, message: str) -> None:
        self.file, self.line, self.key, self.message = file, line, key, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def format_key(path: KeyPath) -> str:
    """``("hosts", "a", "routes", 1, "via")`` -> ``hosts.a.routes[1].via``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'
            out += f".{text}" if out else text
    return out


# -- what the file asks for, checked ----------------------------------------------------------
@dataclass
class End:
    """One cable end: ``host.ifname`` or ``switch.portN`` / ``hub.portN``."""

    kind: str  # "host", "switch" or "hub"
    name: str
    index: int  # NIC or port number
    iface: str  # as written: "eth1", "port3"
    key: KeyPath


@dataclass
class HostSpec:
    name: str
    key: KeyPath
    nics: int | None = None
    addresses: list[tuple[str, str, KeyPath]] = field(default_factory=list)  # iface, cidr
    routes: list[tuple[dict[str, Any], KeyPath]] = field(default_factory=list)
    sysctls: list[tuple[str, Any, KeyPath]] = field(default_factory=list)
    mtu: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # w.host keyword arguments
    needs: dict[int, KeyPath] = field(default_factory=dict)  # NIC index -> who names it


@dataclass
class BridgeSpec:
    name: str
    key: KeyPath
    kind: str  # "switch" or "hub"
    ports: int
    vlan_filtering: bool = False
    ageing: int | str | None = None
    port: dict[int, tuple[dict[str, Any], KeyPath]] = field(default_factory=dict)


@dataclass
class CableSpec:
    key: KeyPath
    ends: tuple[End, End]
    options: dict[str, Any]


@dataclass
class TapSpec:
    key: KeyPath
    end: End
    ifname: str
    options: dict[str, Any]


@dataclass
class Topology:
    file: str
    text: str = ""
    seed: int | None = None
    realtime: bool | None = None
    strict: bool | None = None
    hosts: dict[str, HostSpec] = field(default_factory=dict)
    bridges: dict[str, BridgeSpec] = field(default_factory=dict)
    cables: list[CableSpec] = field(default_factory=list)
    taps: list[TapSpec] = field(default_factory=list)


class _Checker:
    """Walks the parsed document once, raising TopologyError at the first mistake."""

    def __init__(self, text: str, file: str, base: Path) -> None:
        self.text = text
        self.file = file
        self.base = base

    def error(self, path: KeyPath, message: str) -> TopologyError:
        return TopologyError(self.file, find_line(self.text, path), format_key(path), message)

    # -- generic checks ------------------------------------------------------------------------
    def keys(self, table: dict[str, Any], path: KeyPath, allowed: tuple[str, ...],
             required: tuple[str, ...] = ()) -> None:
        for key in table:
            if key not in allowed:
                hint = ALIASES.get(key)
                if hint not in allowed:
                    close = difflib.get_close_matches(key, allowed, n=1)
                    hint = close[0] if close else None
                tail = f" (did you mean {hint!r}?)" if hint else (
                    f" (known: {', '.join(allowed)})")
                raise self.error((*path, key), "unknown key" + tail)
        for key in required:
            if key not in table:
                raise self.error(path, f"missing key {key!r}")

    def table(self, value: Any, path: KeyPath) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {_kind(value)}")
        return value

    def typed(self, value: Any, path: KeyPath, want: type | tuple[type, ...],
              what: str) -> Any:
        ok = isinstance(value, want) and not (isinstance(value, bool) and bool not in (
            want if isinstance(want, tuple) else (want,)))
        if not ok:
            raise self.error(path, f"expected {what}, got {_kind(value)}")
        return value

    def integer(self, value: Any, path: KeyPath, lo: int, hi: int | None = None) -> int:
        self.typed(value, path, int, "an integer")
        if value < lo or (hi is not None and value > hi):
            span = f"{lo}..{hi}" if hi is not None else f"{lo} or more"
            raise self.error(path, f"{value} is out of range ({span})")
        return int(value)

    def name(self, value: str, path: KeyPath, what: str) -> str:
        if not NAME.match(value):
            raise self.error(path, f"bad {what} name {value!r} (a letter, then letters, "
                                   "digits, '_' or '-')")
        return value

    def cidr(self, value: Any, path: KeyPath) -> str:
        self.typed(value, path, str, "an address such as \"10.0.0.1/24\"")
        if ":" in value:
            raise self.error(path, f"{value}: {IPV6_PENDING}")
        if "/" not in value:
            raise self.error(path, f"{value}: give the prefix length, e.g. {value}/24")
        try:
            ipaddress.IPv4Interface(value)
        except ValueError as exc:
            raise self.error(path, f"not an IPv4 address/prefix: {exc}") from None
        return value

    def path_value(self, value: Any, path: KeyPath) -> str:
        self.typed(value, path, str, "a file name")
        return str(self.base / value) if not os.path.isabs(value) else value

    def with_parser(self, value: Any, path: KeyPath, parse: Callable[[Any], Any]) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.error(path, f"expected a number or a string, got {_kind(value)}")
        try:
            parse(value)
        except ValueError as exc:
            raise self.error(path, str(exc)) from None
        return value

    # -- the document ----------------------------------------------------------------------------
    def document(self, doc: dict[str, Any]) -> Topology:
        topo = Topology(self.file)
        self.keys(doc, (), TOP_KEYS)
        world = self.table(doc.get("world", {}), ("world",))
        self.keys(world, ("world",), WORLD_KEYS)
        if "seed" in world:
            topo.seed = self.integer(world["seed"], ("world", "seed"), 0)
        for key in ("realtime", "strict"):
            if key in world:
                setattr(topo, key, self.typed(world[key], ("world", key), bool, "true or false"))
        for name, body in self.table(doc.get("hosts", {}), ("hosts",)).items():
            topo.hosts[name] = self.host(name, body)
        for kind, section in (("switch", "switches"), ("hub", "hubs")):
            for name, body in self.table(doc.get(section, {}), (section,)).items():
                key: KeyPath = (section, name)
                self.name(name, key, kind)
                if name in topo.hosts or name in topo.bridges:
                    raise self.error(key, f"the name {name!r} is taken already (hosts, "
                                          "switches and hubs share one namespace)")
                topo.bridges[name] = self.bridge(kind, name, body, key)
        used: dict[tuple[str, int], KeyPath] = {}
        for i, body in enumerate(self.array(doc.get("cables", []), ("cables",))):
            topo.cables.append(self.cable(topo, body, ("cables", i), used))
        for i, body in enumerate(self.array(doc.get("taps", []), ("taps",))):
            topo.taps.append(self.tap(topo, body, ("taps", i), used))
        if topo.taps and topo.realtime is False:
            raise self.error(("world", "realtime"), "taps need a real-time world")
        self.nic_counts(topo)
        return topo

    def array(self, value: Any, path: KeyPath) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self.error(path, f"expected an array of tables ([[{path[0]}]]), "
                                   f"got {_kind(value)}")
        return [self.table(v, (*path, i)) for i, v in enumerate(value)]

    def host(self, name: str, body: Any) -> HostSpec:
        key: KeyPath = ("hosts", name)
        self.name(name, key, "host")
        body = self.table(body, key)
        self.keys(body, key, HOST_KEYS)
        spec = HostSpec(name, key)
        if "nics" in body:
            spec.nics = self.integer(body["nics"], (*key, "nics"), 1, MAX_NICS)
        self.addresses(spec, body.get("addresses", []), (*key, "addresses"))
        for opt in ("up", "stack"):
            if opt in body:
                spec.options[opt] = self.typed(body[opt], (*key, opt), bool, "true or false")
        if "driver" in body:
            drv = self.typed(body["driver"], (*key, "driver"), (bool, str),
                             "true, false or a module name such as \"driver.ixgb\"")
            spec.options["driver"] = drv
        if "driver_params" in body:
            spec.options["driver_params"] = dict(
                self.table(body["driver_params"], (*key, "driver_params")))
        if "mtu" in body:
            spec.mtu = self.integer(body["mtu"], (*key, "mtu"), 68, 65535)
        if "mem_size" in body:
            spec.options["mem_size"] = self.integer(body["mem_size"], (*key, "mem_size"),
                                                    1 << 20)
        if "macs" in body:
            macs = self.typed(body["macs"], (*key, "macs"), list, "a list of MAC addresses")
            for i, mac in enumerate(macs):
                if not isinstance(mac, str) or not re.fullmatch(
                        r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", mac):
                    raise self.error((*key, "macs", i), f"not a MAC address: {mac!r}")
            spec.options["macs"] = list(macs)
        if "firmware" in body:
            spec.options["firmware"] = self.path_value(body["firmware"], (*key, "firmware"))
        if "device_ids" in body:
            ids = self.typed(body["device_ids"], (*key, "device_ids"), list,
                             "a list of PCI device IDs")
            spec.options["device_ids"] = [self.integer(v, (*key, "device_ids", i), 0, 0xFFFF)
                                          for i, v in enumerate(ids)]
        self.sysctls(spec, body.get("sysctls", {}), (*key, "sysctls"))
        routes = self.typed(body.get("routes", []), (*key, "routes"), list,
                            "an array of route tables")
        for i, route in enumerate(routes):
            spec.routes.append((self.route(spec, route, (*key, "routes", i)),
                                (*key, "routes", i)))
        if spec.options.get("stack") is False:
            for what in ("addresses", "routes", "sysctls"):
                if body.get(what):
                    raise self.error((*key, what), "this host has no IP stack (stack = false)")
        return spec

    def addresses(self, spec: HostSpec, value: Any, path: KeyPath) -> None:
        """A list (one CIDR per NIC in order, as ``w.host``) or a table by interface."""
        if isinstance(value, list):
            for i, cidr in enumerate(value):
                spec.addresses.append((f"eth{i}", self.cidr(cidr, (*path, i)), (*path, i)))
                spec.needs.setdefault(i, (*path, i))
            return
        if not isinstance(value, dict):
            raise self.error(path, "expected a list of addresses or a table by interface "
                                   f"({{eth0 = \"10.0.0.1/24\"}}), got {_kind(value)}")
        for iface, cidrs in value.items():
            nic = self.nic(spec, iface, (*path, iface))
            for j, cidr in enumerate(cidrs if isinstance(cidrs, list) else [cidrs]):
                where = (*path, iface, j) if isinstance(cidrs, list) else (*path, iface)
                spec.addresses.append((iface, self.cidr(cidr, where), where))
            spec.needs.setdefault(nic, (*path, iface))

    def nic(self, spec: HostSpec, iface: str, path: KeyPath) -> int:
        m = NIC_NAME.match(iface)
        if m is None:
            raise self.error(path, f"host {spec.name} has interfaces eth0, eth1, ...; "
                                   f"not {iface!r}")
        return int(m.group(1))

    def sysctls(self, spec: HostSpec, value: Any, path: KeyPath) -> None:
        """``"net.ipv4.ip_forward" = 1`` or, unquoted, nested tables: both are one path."""
        table = self.table(value, path)
        fields_by_name = {f.name: f for f in fields(Sysctl)}
        by_path = {p: name for name, p in PATHS.items()}
        defaults = Sysctl()
        for dotted, val, where in _flatten(table, path):
            name = by_path.get(dotted)
            if name is None:
                close = difflib.get_close_matches(dotted, list(by_path), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(where, f"unknown sysctl {dotted!r}{hint}")
            default = getattr(defaults, fields_by_name[name].name)
            spec.sysctls.append((dotted, self.sysctl_value(val, default, where), where))

    def sysctl_value(self, value: Any, default: Any, path: KeyPath) -> Any:
        if isinstance(default, bool):
            if isinstance(value, bool) or value in (0, 1):
                return bool(value)
            raise self.error(path, f"expected 0, 1, true or false, got {value!r}")
        if isinstance(default, int):
            return self.integer(value, path, 0)
        if isinstance(default, tuple):
            items = value.split() if isinstance(value, str) else value
            if not isinstance(items, list) or len(items) != len(default):
                raise self.error(path, f"expected {len(default)} integers "
                                       f"(e.g. {' '.join(map(str, default))!r})")
            try:
                return tuple(int(v) for v in items)
            except (TypeError, ValueError):
                raise self.error(path, f"expected {len(default)} integers") from None
        return self.typed(value, path, str, "a string")

    def route(self, spec: HostSpec, value: Any, path: KeyPath) -> dict[str, Any]:
        route = self.table(value, path)
        self.keys(route, path, ROUTE_KEYS, required=("dst",))
        dst = self.typed(route["dst"], (*path, "dst"), str, "a destination such as "
                                                             "\"0.0.0.0/0\" or \"default\"")
        if dst == "default":
            dst = "0.0.0.0/0"
        if ":" in dst:
            raise self.error((*path, "dst"), f"{dst}: {IPV6_PENDING}")
        try:
            ipaddress.IPv4Network(dst)
        except ValueError as exc:
            raise self.error((*path, "dst"), f"not an IPv4 network: {exc}") from None
        out: dict[str, Any] = {"dst": dst}
        if "via" in route:
            via = self.typed(route["via"], (*path, "via"), str, "a gateway address")
            if ":" in via:
                raise self.error((*path, "via"), f"{via}: {IPV6_PENDING}")
            try:
                ipaddress.IPv4Address(via)
            except ValueError as exc:
                raise self.error((*path, "via"), f"not an IPv4 address: {exc}") from None
            out["via"] = via
        if "dev" in route:
            dev = self.typed(route["dev"], (*path, "dev"), str, "an interface name")
            spec.needs.setdefault(self.nic(spec, dev, (*path, "dev")), (*path, "dev"))
            out["dev"] = dev
        if "via" not in out and "dev" not in out:
            raise self.error(path, "a route needs 'via' or 'dev'")
        if "metric" in route:
            out["metric"] = self.integer(route["metric"], (*path, "metric"), 0)
        return out

    def bridge(self, kind: str, name: str, body: Any, key: KeyPath) -> BridgeSpec:
        body = self.table(body, key)
        self.keys(body, key, SWITCH_KEYS if kind == "switch" else HUB_KEYS)
        ports = DEFAULT_PORTS[kind]
        if "ports" in body:
            ports = self.integer(body["ports"], (*key, "ports"), 1, MAX_PORTS)
        spec = BridgeSpec(name, key, kind, ports)
        if kind == "hub":
            return spec
        if "ageing" in body:
            spec.ageing = self.with_parser(body["ageing"], (*key, "ageing"), parse_duration)
        if "vlan_filtering" in body:
            spec.vlan_filtering = self.typed(body["vlan_filtering"], (*key, "vlan_filtering"),
                                             bool, "true or false")
        for index, conf in self.table(body.get("port", {}), (*key, "port")).items():
            where = (*key, "port", index)
            if not index.isdigit() or int(index) >= spec.ports:
                raise self.error(where, f"no port {index!r} on switch {name} (ports are 0.."
                                        f"{spec.ports - 1})")
            conf = self.table(conf, where)
            self.keys(conf, where, SWITCH_PORT_KEYS)
            out: dict[str, Any] = {}
            if "vlan" in conf:
                out["vlan"] = self.integer(conf["vlan"], (*where, "vlan"), 1, 4094)
            if "trunk" in conf:
                vids = self.typed(conf["trunk"], (*where, "trunk"), list, "a list of VLAN IDs")
                out["trunk"] = [self.integer(v, (*where, "trunk", i), 1, 4094)
                                for i, v in enumerate(vids)]
            if out and not spec.vlan_filtering:
                raise self.error(where, f"VLANs on switch {name} need vlan_filtering = true "
                                        "(as on a Linux bridge)")
            spec.port[int(index)] = (out, where)
        return spec

    def end(self, topo: Topology, value: Any, path: KeyPath,
            used: dict[tuple[str, int], KeyPath]) -> End:
        text = self.typed(value, path, str, "an end such as \"a.eth0\" or \"sw0.port1\"")
        owner, dot, iface = text.partition(".")
        if not dot or not iface:
            raise self.error(path, f"{text!r}: name an interface or port, e.g. {owner}.eth0 "
                                   f"or {owner}.port0")
        if owner in topo.hosts:
            spec = topo.hosts[owner]
            index = self.nic(spec, iface, path)
            spec.needs.setdefault(index, path)
            end = End("host", owner, index, iface, path)
        elif owner in topo.bridges:
            bridge = topo.bridges[owner]
            m = PORT_NAME.match(iface)
            if m is None or int(m.group(1)) >= bridge.ports:
                raise self.error(path, f"{text!r}: {bridge.kind} {owner} has ports port0.."
                                       f"port{bridge.ports - 1}")
            end = End(bridge.kind, owner, int(m.group(1)), iface, path)
        else:
            known = sorted([*topo.hosts, *topo.bridges])
            close = difflib.get_close_matches(owner, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else (
                f" (known: {', '.join(known)})" if known else "")
            raise self.error(path, f"{text!r}: no host, switch or hub named {owner!r}{hint}")
        slot = (owner, index if end.kind == "host" else -1 - end.index)
        if slot in used:
            raise self.error(path, f"{text} is already plugged in ({format_key(used[slot])})")
        used[slot] = path
        return end

    def cable(self, topo: Topology, body: dict[str, Any], key: KeyPath,
              used: dict[tuple[str, int], KeyPath]) -> CableSpec:
        self.keys(body, key, CABLE_KEYS, required=("ends",))
        ends = body["ends"]
        if not isinstance(ends, list) or len(ends) != 2:
            raise self.error((*key, "ends"), "expected two ends, e.g. [\"a.eth0\", \"b.eth0\"]")
        a = self.end(topo, ends[0], (*key, "ends"), used)
        b = self.end(topo, ends[1], (*key, "ends"), used)
        options: dict[str, Any] = {}
        for opt, val in body.items():
            where = (*key, opt)
            if opt in DURATIONS:
                options[opt] = self.with_parser(val, where, parse_duration)
            elif opt == "rate":
                options[opt] = self.with_parser(val, where, parse_rate)
            elif opt in PROBABILITIES:
                self.typed(val, where, (int, float), "a probability (0.01 is 1%)")
                if not 0 <= val <= 1:
                    raise self.error(where, f"{val} is not a probability (0 to 1; 0.01 is 1%)")
                options[opt] = float(val)
            elif opt == "pcap":
                options[opt] = self.path_value(val, where)
            elif opt == "snaplen":
                options[opt] = self.integer(val, where, 1, 262144)
        return CableSpec(key, (a, b), options)

    def tap(self, topo: Topology, body: dict[str, Any], key: KeyPath,
            used: dict[tuple[str, int], KeyPath]) -> TapSpec:
        self.keys(body, key, TAP_KEYS, required=("end", "ifname"))
        end = self.end(topo, body["end"], (*key, "end"), used)
        if end.kind != "host":
            raise self.error((*key, "end"), "a tap plugs into a host interface (host.ethN)")
        ifname = self.typed(body["ifname"], (*key, "ifname"), str, "an interface name")
        options: dict[str, Any] = {}
        if "mtu" in body:
            options["mtu"] = self.integer(body["mtu"], (*key, "mtu"), 68, 65521)
        if "netns" in body:
            options["netns"] = self.typed(body["netns"], (*key, "netns"), str, "a namespace")
        if "persist" in body:
            options["persist"] = self.typed(body["persist"], (*key, "persist"), bool,
                                            "true or false")
        return TapSpec(key, end, ifname, options)

    def nic_counts(self, topo: Topology) -> None:
        """``nics`` defaults to what the file names (eth0..ethN); an explicit count must
        cover every interface named."""
        for spec in topo.hosts.values():
            highest = max(spec.needs, default=0)
            if spec.nics is None:
                if highest >= MAX_NICS:
                    raise self.error(spec.needs[highest], f"eth{highest}: at most {MAX_NICS} "
                                                          "NICs per host")
                spec.nics = highest + 1
            elif highest >= spec.nics:
                raise self.error(spec.needs[highest],
                                 f"host {spec.name} has {spec.nics} NIC(s) (eth0..eth"
                                 f"{spec.nics - 1}); eth{highest} needs nics = {highest + 1}")


def _flatten(table: dict[str, Any], path: KeyPath) -> list[tuple[str, Any, KeyPath]]:
    out: list[tuple[str, Any, KeyPath]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            for dotted, val, where in _flatten(value, (*path, key)):
                out.append((f"{key}.{dotted}", val, where))
        else:
            out.append((key, value, (*path, key)))
    return out


def _kind(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def parse(text: str, file: str = "<topology>", base: Path | None = None) -> Topology:
    """Check a topology document; TopologyError at the first mistake."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", message)
        line = int(m.group(1)) if m else 0
        if not m and "(at end of document)" in message:
            line = len(text.splitlines())
        reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "",
                        message)
        raise TopologyError(file, line, "", f"not valid TOML: {reason}") from None
    topo = _Checker(text, file, base or Path(".")).document(doc)
    topo.text = text
    return topo


def read(path: str | os.PathLike[str]) -> Topology:
    """Read and check a topology file."""
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise TopologyError(file, 0, "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TopologyError(file, 0, "", f"not UTF-8 text: {exc.reason}") from None
    return parse(text, file, Path(file).parent)
