"""``ixsim tap``: one emulated host, its NIC cabled to a Linux tap, in real time.

Creates the tap (or attaches to an existing one, e.g. from ``ip tuntap add mode tap``),
boots one emulated host on a real-time world with its eth0 on the tap, and runs until Ctrl-C
(or ``--duration``).  With ``--netns NS`` the tap's Linux end goes into that namespace
(created if missing); ``--peer-address`` gives the Linux end an address and brings it up.
``--address`` and ``--peer-address`` may each be given once per family (an IPv4 and an IPv6
address, e.g. ``--address 10.77.0.2/24 --address fd77::2/64``); they accumulate.
Everything it created is removed on exit.  Needs root (CAP_NET_ADMIN) and /dev/net/tun.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

from device.backends.tap import MAX_TAP_MTU, TUN_PATH, TapError, TapMedium
from device.pcap import PcapWriter
from ixsim.apps import chargen_server, discard_server, echo_server, http_server
from ixsim.cli import MAX_REALTIME, CliError, check_writable, duration_arg
from ixsim.netns import _NS_NAME as NS_NAME  # the namespace names LinuxPeer accepts
from ixsim.netns import LinuxPeer, Unavailable, attach_tap
from ixsim.sched import NS_PER_S
from ixsim.ui import console, print_json, table
from stack.neigh.neighbour import NUD_VALID
from stack.tcp.state import ESTABLISHED

APPS = ("echo", "discard", "chargen", "http")
STATUS_NS = NS_PER_S // 2
MAX_NIC_MTU = 16114  # the ixgb driver's max_mtu


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tap", help="cable one emulated host to a Linux tap (real time)", description=__doc__
    )
    p.add_argument("--ifname", default="ixtap0", help="tap interface name (default ixtap0)")
    p.add_argument(
        "--address",
        required=True,
        metavar="CIDR",
        action="append",
        help="the emulated host's address, e.g. 10.77.0.2/24 (once per family: "
        "add --address fd77::2/64 for IPv6)",
    )
    p.add_argument("--gateway", metavar="ADDR", help="the emulated host's default gateway")
    p.add_argument("--mtu", type=int, help="MTU of the tap and of the emulated eth0")
    p.add_argument(
        "--serve",
        default="",
        metavar="APPS",
        help=f"servers to run on the emulated host: {','.join(APPS)}",
    )
    p.add_argument(
        "--pcap",
        metavar="FILE",
        help="record every frame on the tap to FILE (checked writable at start)",
    )
    p.add_argument(
        "--netns",
        metavar="NS",
        help="put the tap's Linux end in network namespace NS (made if missing)",
    )
    p.add_argument(
        "--peer-address",
        metavar="CIDR",
        action="append",
        help="address for the tap's Linux end (and bring it up), e.g. 10.77.0.1/24 "
        "(once per family)",
    )
    p.add_argument(
        "--duration",
        metavar="T",
        help="exit by itself after T (e.g. 10s, 500ms; seconds if bare; up to 30 days)",
    )
    p.add_argument("--seed", type=int, default=1, help="world seed")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


# -- checking what the user asked for ------------------------------------------------------
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


def _interface(text: str, option: str) -> Interface:
    if "/" not in text:
        example = "64" if ":" in text else "24"
        raise CliError(f"{option} {text}: give a prefix length, e.g. {text}/{example}")
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        kind = "IPv6" if ":" in text else "IPv4"
        raise CliError(f"{option} {text}: not an {kind} address with prefix") from None


def _per_family(texts: list[str] | None, option: str) -> list[Interface]:
    """The option's addresses, at most one per family, IPv4 first."""
    out: dict[int, Interface] = {}
    for text in texts or ():
        iface = _interface(text, option)
        if iface.version in out:
            raise CliError(
                f"{option} {text}: one {option} per family (already {out[iface.version]})"
            )
        out[iface.version] = iface
    return [out[v] for v in sorted(out)]


def _check_args(args: argparse.Namespace) -> dict[str, Any]:
    addresses = _per_family(args.address, "--address")
    peers = _per_family(args.peer_address, "--peer-address")
    for peer in peers:
        if any(peer.ip == a.ip for a in addresses):
            raise CliError(f"--peer-address {peer.ip} is the emulated host's own address")
    address = addresses[0]
    peer = peers[0] if peers else None
    gateway = None
    if args.gateway:
        try:
            gateway = ipaddress.ip_address(args.gateway)
        except ValueError:
            raise CliError(f"--gateway {args.gateway}: not an IP address") from None
        same = [a for a in addresses if a.version == gateway.version]
        if not same:
            raise CliError(f"--gateway {gateway}: no --address of its family")
        if gateway not in same[0].network and not (
            isinstance(gateway, ipaddress.IPv6Address) and gateway.is_link_local
        ):
            raise CliError(f"--gateway {gateway} is not on {same[0].network}")
    if args.mtu is not None and not 68 <= args.mtu <= min(MAX_TAP_MTU, MAX_NIC_MTU):
        raise CliError(f"--mtu {args.mtu}: use 68..{MAX_NIC_MTU}")
    serve = [name.strip() for name in args.serve.split(",") if name.strip()]
    unknown = [name for name in serve if name not in APPS]
    if unknown:
        raise CliError(f"--serve {','.join(unknown)}: unknown (choose from {','.join(APPS)})")
    duration = None
    if args.duration is not None:
        duration = duration_arg(args.duration, "--duration", MAX_REALTIME, bare_seconds=True)
    ifname = args.ifname
    if not 0 < len(ifname.encode()) < 16 or any(c in ifname for c in "/ :"):
        raise CliError(f"--ifname {ifname!r}: 1-15 characters, no '/', ':' or blanks")
    if args.netns is not None and not NS_NAME.fullmatch(args.netns):
        raise CliError(f"--netns {args.netns!r}: 1-64 of A-Z a-z 0-9 _ . -")
    if args.pcap:
        check_writable(args.pcap, "--pcap")
    return {
        "address": address,
        "addresses": addresses,
        "peer": peer,
        "peers": peers,
        "gateway": gateway,
        "serve": serve,
        "duration": duration,
    }


def _check_environment(args: argparse.Namespace) -> None:
    if os.geteuid() != 0:
        raise CliError("ixsim tap needs root (a tap needs CAP_NET_ADMIN): run it with sudo")
    if not os.path.exists(TUN_PATH):
        raise CliError(f"{TUN_PATH} is missing: load the tun module (modprobe tun)")
    if (args.netns or args.peer_address) and not _which_ip():
        raise CliError("--netns and --peer-address need the ip command (iproute2)")


def _which_ip() -> bool:
    return shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is not None


# -- the emulated host's services ---------------------------------------------------------
SERVERS = {
    "echo": echo_server,
    "discard": discard_server,
    "chargen": chargen_server,
    "http": http_server,
}  # ixsim.apps tasks, each on its well-known TCP port


def _start_apps(host: Any, names: list[str]) -> list[Any]:
    """Spawn the servers asked for as tasks on the emulated host."""
    return [host.spawn(SERVERS[name](host), name=f"{name} server") for name in names]


def _arp_entries(host: Any) -> int | None:
    """Usable ARP entries (NUD_VALID, as ``ip neigh`` lists by default); None: no stack."""
    arp = getattr(getattr(host, "net", None), "arp", None)
    entries = getattr(arp, "entries", None)
    if not callable(entries):
        return None
    return sum(1 for n in entries() if n.nud_state & NUD_VALID)


def _connections(host: Any) -> int | None:
    """ESTABLISHED TCP connections (``ss -t state established``); None: no stack."""
    net = getattr(host, "net", None)
    if net is None:
        return None
    return sum(1 for sk in net.tcp.ehash.values() if getattr(sk, "state", None) == ESTABLISHED)


def _failed_servers(tasks: list[Any]) -> list[str]:
    """One line per server task that died, for the user (not a traceback)."""
    return [
        f"{task.name} stopped: {task.exception()!r}"
        for task in tasks
        if task.done() and task.exception() is not None
    ]


def _status(tap: TapMedium, host: Any) -> str:
    arp = _arp_entries(host)
    conns = _connections(host)
    return (
        f"link {'up' if tap.link_up else 'down':4}  "
        f"arp {'-' if arp is None else arp}  "
        f"linux->emu {tap.rx_frames} frames {tap.rx_bytes} B  "
        f"emu->linux {tap.tx_frames} frames {tap.tx_bytes} B  "
        f"conns {'-' if conns is None else conns}"
    )


# -- running ---------------------------------------------------------------------------------
class _Setup:
    """What ``ixsim tap`` made, so that exactly that is removed."""

    def __init__(self) -> None:
        self.peer: LinuxPeer | None = None
        self.tap: TapMedium | None = None
        self.root_addrs: list[tuple[str, str]] = []  # (cidr, ifname) added in our netns
        self.world: Any = None
        self.writer: PcapWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.tap is not None:
            self.tap.close()
        if self.world is not None:
            self.world.close()
        if self.peer is not None:
            self.peer.close()
        if self.tap is not None and not self.tap.created:
            for cidr, ifname in self.root_addrs:
                subprocess.run(["ip", "addr", "del", cidr, "dev", ifname], capture_output=True)


def run(args: argparse.Namespace) -> int:
    opts = _check_args(args)
    _check_environment(args)
    from ixsim.world import World  # after the checks: a usage error costs no boot

    setup = _Setup()
    out = console()
    try:
        tap = _open_tap(args, opts, setup)
        setup.world = world = World(seed=args.seed, realtime=True)
        host = world.host("emu", *(str(a) for a in opts["addresses"]))
        dev = host.interfaces["eth0"]
        if args.mtu is not None and args.mtu != dev.mtu:
            from stack.core import dev_set_mtu

            if dev_set_mtu(dev, args.mtu) != 0:
                raise CliError(f"--mtu {args.mtu}: the emulated eth0 refused it")
        port = attach_tap(world, host, "eth0", tap)
        if args.pcap:
            setup.writer = writer = PcapWriter(args.pcap)
            port.trace_frame.append(
                lambda _direction, _now, frame: writer.write(time.time_ns(), frame)
            )
        _set_gateway(host, opts["gateway"])
        tasks = _start_apps(host, opts["serve"])
        t0 = time.monotonic()
        try:  # from the banner on, Ctrl-C means "stop and summarise"
            if not args.json:
                _banner(out, args, opts, tap, dev, [t.name for t in tasks])
            _loop(
                world,
                tap,
                host,
                opts["duration"],
                tasks,
                live=sys.stdout.isatty() and not args.json,
            )
        except KeyboardInterrupt:
            pass
        wall = time.monotonic() - t0
        summary = {
            "ifname": tap.ifname,
            "netns": args.netns,
            "address": str(opts["address"]),
            "addresses": [str(a) for a in opts["addresses"]],
            "mac": _mac(dev.dev_addr),
            "link_up": tap.link_up,
            "wall_s": round(wall, 3),
            "gateway": str(opts["gateway"]) if opts["gateway"] else None,
            "serving": [t.name for t in tasks if not t.done()],
            "arp_entries": _arp_entries(host),
            "connections": _connections(host),
            "tap": tap.counters(),
            "port": port.counters(),
            "pcap_frames": setup.writer.packets if setup.writer else None,
        }
    except (TapError, Unavailable) as exc:
        raise CliError(str(exc)) from None
    finally:
        setup.close()
    if args.json:
        print_json(summary)
    else:
        _summary(out, summary)
    return 0


def _open_tap(args: argparse.Namespace, opts: dict[str, Any], setup: _Setup) -> TapMedium:
    peers = [str(p) for p in opts["peers"]]
    if args.netns:
        setup.peer = LinuxPeer(
            ns=args.netns,
            tap=args.ifname,
            linux_addr=peers[0] if peers else None,
            emu_addr=str(opts["address"]),
            mtu=args.mtu,
            ipv6=True,
            existing_ns_ok=True,
        )
        setup.peer.setup()
        for cidr in peers[1:]:  # the second family's address
            setup.peer.run("ip", "addr", "add", cidr, "dev", setup.peer.ifname, check=True)
        setup.tap = setup.peer.tap
        return setup.tap
    setup.tap = tap = TapMedium(args.ifname, mtu=args.mtu).open()
    if peers:
        cmds = [["ip", "addr", "replace", cidr, "dev", tap.ifname] for cidr in peers]
        for cmd in [*cmds, ["ip", "link", "set", "dev", tap.ifname, "up"]]:
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise CliError(f"{' '.join(cmd)}: {result.stderr.strip()}")
        setup.root_addrs = [(cidr, tap.ifname) for cidr in peers]
    return tap


def _set_gateway(host: Any, gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> None:
    """``ip route add default via GATEWAY`` (``ip -6 route`` for an IPv6 one) on the emulated
    host."""
    if gateway is None:
        return
    try:
        host.route("::/0" if gateway.version == 6 else "0.0.0.0/0", via=str(gateway))
    except (OSError, ValueError) as exc:
        raise CliError(f"--gateway {gateway}: {exc}") from None


def _loop(
    world: Any, tap: TapMedium, host: Any, duration: int | None, tasks: list[Any], live: bool
) -> None:
    """Run the world in half-second slices until Ctrl-C, SIGTERM or the duration is over."""

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    end = None if duration is None else world.now + duration
    reported: set[str] = set()
    try:
        while end is None or world.now < end:
            step = STATUS_NS if end is None else min(STATUS_NS, end - world.now)
            world.run_for(step)
            for line in _failed_servers(tasks):
                if line not in reported:
                    reported.add(line)
                    print(("\n" if live else "") + f"ixsim tap: {line}", file=sys.stderr)
            if live:
                sys.stdout.write("\r" + _status(tap, host) + "\x1b[K")
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if live:
            sys.stdout.write("\n")


def _mac(addr: bytes) -> str:
    return ":".join(f"{b:02x}" for b in addr)


def _banner(
    out: Any,
    args: argparse.Namespace,
    opts: dict[str, Any],
    tap: TapMedium,
    dev: Any,
    serving: list[str],
) -> None:
    where = f" in netns {args.netns}" if args.netns else ""
    exec_ = f"ip netns exec {args.netns} " if args.netns else ""
    addrs = ", ".join(str(a) for a in opts["addresses"])
    out.print(
        f"[bold]ixsim tap[/]: emulated host {addrs} ({_mac(dev.dev_addr)}) "
        f"on tap {tap.ifname}{where}, MTU {tap.mtu}"
    )
    if opts["peer"]:
        peers = ", ".join(str(p) for p in opts["peers"])
        pings = " / ".join(f"{exec_}ping {a.ip}" for a in opts["addresses"])
        out.print(f"  Linux end: {peers}; try: {pings}")
    else:
        up = "" if args.netns else f"; ip link set {tap.ifname} up"
        out.print(f"  Linux end has no address: {exec_}ip addr add ADDR/LEN dev {tap.ifname}" + up)
    out.print(
        f"  capture: {exec_}tcpdump -eni {tap.ifname}"
        + (f"  (and every frame to {args.pcap})" if args.pcap else "")
    )
    if opts["gateway"]:
        out.print(f"  default route via {opts['gateway']}")
    if serving:
        out.print(f"  serving: {', '.join(serving)}")
    out.print("  Ctrl-C to stop" + (f" (or after {args.duration})" if args.duration else ""))
    sys.stdout.flush()


def _summary(out: Any, s: dict[str, Any]) -> None:
    tap = s["tap"]
    rows = [
        ("Linux -> emulated", f"{tap['rx_frames']} frames, {tap['rx_bytes']} bytes"),
        ("emulated -> Linux", f"{tap['tx_frames']} frames, {tap['tx_bytes']} bytes"),
        (
            "dropped: too big / EAGAIN / link down",
            f"{tap['dropped_too_big']} / {tap['dropped_eagain']} / {tap['dropped_link_down']}",
        ),
        ("link at exit", "up" if s["link_up"] else "down"),
        ("wall time", f"{s['wall_s']:.1f} s"),
    ]
    if s["pcap_frames"] is not None:
        rows.append(("frames captured", s["pcap_frames"]))
    out.print(
        table(f"ixsim tap {s['ifname']}: summary", ("what", "value"), rows, ("left", "right"))
    )
