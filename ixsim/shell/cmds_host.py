"""Shell commands over hosts and the network: hosts, ifaces, routes, neigh, sockets, timers,
dmesg, sysctl, tc, ping, send, tcp, udp, features, bql, link, cable, device_del, device_add, fdb,
inject, pcap.

The IPv4 commands work through ``host.net`` / ``host.ping`` / ``host.socket`` and, on a
host where those are not attached yet, answer in one line: "not available yet: the IPv4
stack is not attached to this host".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ixsim.sched import format_ns
from ixsim.shell import hostview as H
from ixsim.shell import traffic
from ixsim.shell.errors import NotAvailable, ShellError
from ixsim.shell.inject import FAULTS, cable_value, describe_injections, inject
from ixsim.shell.target import (
    address_of,
    ipv4_of,
    parse_float,
    parse_int,
    parse_time,
    resolve_host,
    resolve_nic,
)
from ixsim.tc import parse_params, qdisc_show
from stack.core import (
    BQL_ATTRS,
    ETHTOOL_FEATURE_GROUPS,
    bql_show,
    bql_store,
    ethtool_set_features_by_name,
    netdev_feature_mask,
    netdev_get_tx_queue,
)

MAX_TRANSFER = 64 << 20


class HostCommands:
    """Mixin for :class:`ixsim.shell.shell.Shell`."""

    world: Any
    session: Any

    if TYPE_CHECKING:
        def say(self, text: str = "") -> None: ...
        def says(self, lines: Any) -> None: ...
        def args(self, arg: str) -> list[str]: ...
        def need(self, words: list[str], lo: int, hi: int | None, usage: str) -> None: ...
        def show_new_faults(self, limit: int = ...) -> None: ...
        def report_hits(self, context: str) -> None: ...

    # -- looking ------------------------------------------------------------------------
    def do_hosts(self, arg: str) -> None:
        """List the hosts: NICs, interfaces and their state, addresses, stack, faults.

        usage: hosts
        """
        self.need(self.args(arg), 0, 0, "hosts")
        self.says(H.hosts_lines(self.world))

    def do_ifaces(self, arg: str) -> None:
        """Show a host's interfaces like 'ip -s addr': flags, MAC, MTU, state, counters.

        usage: ifaces HOST
        example: ifaces a
        """
        words = self.args(arg)
        self.need(words, 1, 1, "ifaces HOST")
        self.says(H.ifaces_lines(resolve_host(self.world, words[0])))

    def _per_host(self, arg: str, usage: str, view: Callable[[Any], list[str]]) -> None:
        words = self.args(arg)
        self.need(words, 0, 1, usage)
        if words:
            self.says(view(resolve_host(self.world, words[0])))
            return
        lines, missing = [], []
        for host in self.world.hosts.values():
            try:
                lines.extend(view(host))
            except NotAvailable:
                missing.append(host.name)
        if len(missing) == len(self.world.hosts):
            raise NotAvailable()
        self.says(lines)
        for name in missing:
            self.say(f"{name}: not available yet: the IPv4 stack is not attached to this host")

    def do_routes(self, arg: str) -> None:
        """Show the IPv4 routing table (net.fib) of one host or all.

        usage: routes [HOST]
        example: routes a
        """
        self._per_host(arg, "routes [HOST]", H.routes_lines)

    def do_neigh(self, arg: str) -> None:
        """Show the ARP neighbour table (net.arp) of one host or all.

        usage: neigh [HOST]
        example: neigh a
        """
        self._per_host(arg, "neigh [HOST]", H.neigh_lines)

    def do_sysctl(self, arg: str) -> None:
        """Read or set a host's sysctls by Linux name, or list them all ('sysctl -a').

        usage: sysctl HOST [KEY | KEY=VALUE]...
        example: sysctl a net.ipv4.tcp_sack=0 net.core.netdev_budget
        """
        words = self.args(arg)
        self.need(words, 1, None, "sysctl HOST [KEY | KEY=VALUE]...")
        host = resolve_host(self.world, words[0])
        if len(words) == 1:
            self.says(f"{key} = {_sysctl_text(value)}" for key, value in host.sysctl().items())
            return
        for word in words[1:]:
            key, eq, value = word.partition("=")
            try:
                if eq:
                    host.sysctl(key, value.strip())
                self.say(f"{key} = {_sysctl_text(host.sysctl(key))}")
            except FileNotFoundError:
                raise ShellError(f"sysctl: cannot stat /proc/sys/{key.replace('.', '/')}: "
                                 "No such file or directory") from None
            except OSError:
                raise ShellError(f"sysctl: setting key {key!r}: Invalid argument") from None

    def do_tc(self, arg: str) -> None:
        """Show a host's qdiscs as 'tc -s qdisc show', or replace one ('tc qdisc replace').

        usage: tc HOST [IFACE [KIND [PARAM VALUE | ecn | noecn]...]]
        example: tc a eth0 fq_codel target 5ms interval 100ms limit 1000
        """
        words = self.args(arg)
        self.need(words, 1, None, "tc HOST [IFACE [KIND [PARAM VALUE]...]]")
        host = resolve_host(self.world, words[0])
        names = [words[1]] if len(words) > 1 else list(host.interfaces)
        try:
            if len(words) > 2:
                host.tc(words[1], words[2], **parse_params(words[2], words[3:]))
            for name in names:
                if host.tc(name) is None and len(words) < 2:
                    continue
                self.says(qdisc_show(host.interfaces[name]))
        except OSError as exc:
            raise ShellError(f"tc: {exc.strerror or exc}") from None

    def do_sockets(self, arg: str) -> None:
        """List open sockets like 'ss': fd, protocol, local and peer address, state.

        usage: sockets [HOST]
        example: sockets b
        """
        self._per_host(arg, "sockets [HOST]", H.sockets_lines)

    def do_timers(self, arg: str) -> None:
        """List pending kernel timers and work, and the NICs' pending timers (TIDV, RDTR).

        usage: timers [HOST]
        example: timers a
        """
        words = self.args(arg)
        self.need(words, 0, 1, "timers [HOST]")
        hosts = [resolve_host(self.world, words[0])] if words else self.world.hosts.values()
        self.says(H.timers_lines(self.world, hosts))

    def do_dmesg(self, arg: str) -> None:
        """Print a host's kernel log (driver messages: link up, Tx Unit Hang, resets).

        usage: dmesg HOST [LAST]
        example: dmesg a 5
        """
        words = self.args(arg)
        self.need(words, 1, 2, "dmesg HOST [LAST]")
        last = parse_int(words[1], "line count", 1) if len(words) == 2 else None
        self.says(H.dmesg_lines(resolve_host(self.world, words[0]), last) or ["(empty)"])

    # -- traffic ------------------------------------------------------------------------
    def do_send(self, arg: str) -> None:
        """Queue a raw Ethernet frame on an interface (through the driver, or the port).

        usage: send HOST IFACE HEX
               send HOST IFACE [dst=MAC] [src=MAC] [type=N] [len=N] [payload=HEX] [count=N]
          the frame goes down dev_queue_xmit -> qdisc -> the driver's start_xmit, which
          writes descriptors and TDT; the device fetches them at its next event
          ('step' shows it).  Defaults: broadcast, the NIC's MAC, type 0x88b5, 60 bytes.
        example: send a eth0 dst=ff:ff:ff:ff:ff:ff type=0x88b5 len=100
        """
        words = self.args(arg)
        self.need(words, 2, None, "send HOST IFACE [HEX|FRAME-SPEC]")
        ref = resolve_nic(self.world, words[0], words[1])
        frames = traffic.build_frames(ref, words[2:])
        self.says(traffic.send_frames(ref, frames))
        self.show_new_faults()
        self.report_hits("send")

    def do_ping(self, arg: str) -> None:
        """Ping from one host to another (through host.ping: ICMP or ICMPv6 by the address).

        usage: ping A B|ADDRESS [COUNT]
        example: ping a b 3
        example: ping a fd00::2 3
        """
        words = self.args(arg)
        self.need(words, 2, 3, "ping A B|ADDRESS [COUNT]")
        src = resolve_host(self.world, words[0])
        count = parse_int(words[2], "count", 1, 1000) if len(words) == 3 else 1
        self.says(traffic.ping(self.world, src, address_of(self.world, words[1]), count))
        self.report_hits("ping")

    def _transfer(self, arg: str, proto: str) -> None:
        words = self.args(arg)
        self.need(words, 3, 3, f"{proto} A B BYTES")
        src = resolve_host(self.world, words[0])
        dst = resolve_host(self.world, words[1])
        nbytes = parse_int(words[2], "byte count", 1, MAX_TRANSFER)
        fn = traffic.tcp if proto == "tcp" else traffic.udp
        self.says(fn(self.world, src, dst, ipv4_of(self.world, dst.name), nbytes))
        self.report_hits(proto)

    def do_tcp(self, arg: str) -> None:
        """Send BYTES over a TCP connection from A to B (port 5001) and report the transfer.

        usage: tcp A B BYTES
        example: tcp a b 100000
        """
        self._transfer(arg, "tcp")

    def do_udp(self, arg: str) -> None:
        """Send BYTES as UDP datagrams of up to 1472 bytes from A to B (port 5001).

        usage: udp A B BYTES
        example: udp a b 10000
        """
        self._transfer(arg, "udp")

    def do_features(self, arg: str) -> None:
        """Show or switch a NIC's offload features, as `ethtool -k` / `ethtool -K` do.

        Names are ethtool's: sg, tso, tx, rx, gso, gro, lro, rxvlan, txvlan, their long forms
        (scatter-gather, ...) or one feature's own name (tx-scatter-gather).  The core and
        the driver have the last word: TSO needs sg and tx, which "[requested on]" shows.
        usage: features HOST[:IFACE] [NAME on|off]...
        example: features a sg off
        """
        words = self.args(arg)
        usage = "features HOST[:IFACE] [NAME on|off]..."
        self.need(words, 1, None, usage)
        if len(words) % 2 != 1:
            raise ShellError(f"each feature name needs on or off: {usage}")
        ref = resolve_nic(self.world, words[0])
        if ref.netdev is None:
            raise ShellError(f"{ref.label} has no driver bound: no features")
        changes: dict[str, bool] = {}
        for name, state in zip(words[1::2], words[2::2], strict=True):
            if state not in ("on", "off"):
                raise ShellError(f"bad state {state!r} for {name}: on or off")
            if netdev_feature_mask(name) is None:
                groups = ", ".join(short for short, _l, _m in ETHTOOL_FEATURE_GROUPS)
                raise ShellError(f"unknown feature {name!r}: one of {groups} or a feature "
                                 "name that 'features HOST' lists")
            changes[name] = state == "on"
        if changes:
            try:
                ethtool_set_features_by_name(ref.netdev, changes)
            except OSError as exc:
                raise ShellError(f"{ref.label}: {exc.strerror or exc}") from None
        self.says(H.features_lines(ref))

    def do_bql(self, arg: str) -> None:
        """Show or set a TX queue's Byte Queue Limits, as /sys/class/net/IFACE/queues/tx-0/
        byte_queue_limits/ does: hold_time (ms), inflight, limit, limit_max, limit_min (bytes).
        Only limit_max, limit_min and hold_time can be written.
        usage: bql HOST[:IFACE] [ATTR VALUE]...
        example: bql a limit_max 30000
        """
        words = self.args(arg)
        usage = "bql HOST[:IFACE] [ATTR VALUE]..."
        self.need(words, 1, None, usage)
        if len(words) % 2 != 1:
            raise ShellError(f"each attribute needs a value: {usage}")
        ref = resolve_nic(self.world, words[0])
        if ref.netdev is None:
            raise ShellError(f"{ref.label} has no driver bound: no TX queue")
        txq = netdev_get_tx_queue(ref.netdev, 0)
        for name, value in zip(words[1::2], words[2::2], strict=True):
            if name not in BQL_ATTRS:
                raise ShellError(f"unknown attribute {name!r}: one of {', '.join(BQL_ATTRS)}")
            try:
                bql_store(txq, name, parse_int(value))
            except OSError as exc:
                raise ShellError(f"{ref.label}: {name}: {exc.strerror or exc}") from None
        shown = bql_show(txq)
        self.say(f"{ref.label} tx-0 byte_queue_limits")
        self.says([f"  {name:<10} {shown[name]}" for name in BQL_ATTRS])

    # -- the wire -----------------------------------------------------------------------
    def do_link(self, arg: str) -> None:
        """Unplug or plug the cable of a NIC (both ends lose or regain link; LSC on both).

        usage: link HOST[:IFACE] up|down
        example: link a down
        """
        words = self.args(arg)
        self.need(words, 2, 2, "link HOST[:IFACE] up|down")
        ref = resolve_nic(self.world, words[0])
        if words[1] not in ("up", "down"):
            raise ShellError(f"bad state {words[1]!r}: up or down")
        cable = ref.port.medium
        if cable is None or not hasattr(cable, "unplug"):
            raise ShellError(f"{ref.label} is not cabled")
        (cable.plug if words[1] == "up" else cable.unplug)()
        state = "plugged: link up" if words[1] == "up" else "unplugged: link down"
        self.say(f"cable {cable.name} {state} on both ends (LSC raised on both NICs)")

    def do_device_del(self, arg: str) -> None:
        """Surprise-remove a NIC from a host's PCI bus, as QEMU's device_del does.

        The card is gone at once (MMIO reads all-ones, no DMA, no interrupts) and its cable
        end goes dark; pciehp then runs the driver's remove: the interface is unregistered
        with its addresses and routes.  Prints the id (nicN) that device_add takes back.
        usage: device_del HOST IFACE|nicN
        example: device_del a eth0
        """
        words = self.args(arg)
        self.need(words, 2, 2, "device_del HOST IFACE|nicN")
        host = resolve_host(self.world, words[0])
        try:
            nic = host.device_del(words[1])
        except ValueError as exc:
            raise ShellError(str(exc)) from None
        self.say(f"{host.name}: {words[1]} removed ({nic}); 'device_add {host.name} {nic}' "
                 "plugs it back")

    def do_device_add(self, arg: str) -> None:
        """Hot-plug a NIC removed by device_del back in, as QEMU's device_add does.

        The card powers on, the driver probes it (a new, unconfigured interface) and its
        cable end lights again.
        usage: device_add HOST nicN
        example: device_add a nic0
        """
        words = self.args(arg)
        self.need(words, 2, 2, "device_add HOST nicN")
        host = resolve_host(self.world, words[0])
        try:
            netdev = host.device_add(words[1])
        except ValueError as exc:
            raise ShellError(str(exc)) from None
        if netdev is None:
            self.say(f"{host.name}: {words[1]} powered on; the driver refused it "
                     "(see dmesg)")
            return
        self.say(f"{host.name}: {words[1]} added: driver bound as {netdev.name} "
                 "(no addresses: configure it again)")

    def do_fdb(self, arg: str) -> None:
        """The forwarding database of the switches, as `bridge fdb show` prints it.

        usage: fdb [SWITCH]
        example: fdb sw0
        """
        words = self.args(arg)
        self.need(words, 0, 1, "fdb [SWITCH]")
        switches = getattr(self.world, "switches", {})
        if words:
            if words[0] not in switches:
                known = ", ".join(switches) or "none"
                raise ShellError(f"no switch {words[0]!r} (switches: {known})")
            switches = {words[0]: switches[words[0]]}
        if not switches:
            self.say("no switches")
            return
        for sw in switches.values():
            table = sw.fdb()
            self.says(str(entry) for entry in table)
            if not table:
                self.say(f"{sw.name}: fdb empty")

    def do_cable(self, arg: str) -> None:
        """List the cables, or set an impairment on one (both directions).

        usage: cable
               cable [N] loss|dup|corrupt|ce P         probability 0..1 ('off' removes)
               cable [N] delay D[,JITTER]              e.g. 50us or 50us,10us
               cable [N] reorder P[,DELAY]             DELAY defaults to 100us
          N defaults to 0 when the world has one cable.
        example: cable 0 loss 0.1
        """
        words = self.args(arg)
        cables = self.world.cables
        if not words:
            for i, c in enumerate(cables):
                stages = ", ".join(s.describe() for s in c.ab.stages) or "no impairment"
                ab, ba = c.ab.stats(), c.ba.stats()
                self.say(f"{i}: {c.name} {'plugged' if c.plugged else 'UNPLUGGED'}, "
                         f"{c.rate_bps / 1e9:g} Gb/s, latency {format_ns(c.latency_ns)}, "
                         f"{stages}; frames {ab['frames']}+{ba['frames']}, delivered "
                         f"{ab['delivered']}+{ba['delivered']}, lost "
                         f"{ab['dropped_loss'] + ba['dropped_loss']}")
            if not cables:
                self.say("no cables")
            return
        if words[0].isdigit():
            index = parse_int(words.pop(0), "cable number", 0)
            if index >= len(cables):
                raise ShellError(f"no cable {index} (cables 0..{len(cables) - 1})")
        elif len(cables) == 1:
            index = 0
        else:
            raise ShellError(f"which cable? give its number, 0..{len(cables) - 1}")
        self.need(words, 2, 2, "cable [N] loss|delay|reorder|dup|corrupt|ce VALUE")
        kind = words[0]
        if kind not in ("loss", "delay", "reorder", "dup", "corrupt", "ce"):
            raise ShellError(f"unknown impairment {kind!r} (loss, delay, reorder, dup, "
                             "corrupt, ce)")
        value = cable_value(kind, words[1], parse_time,
                            lambda t: parse_float(t, "probability"))
        try:
            cables[index].set_impairment(kind, value)
        except ValueError as exc:
            raise ShellError(str(exc)) from None
        shown = "removed" if value is None else f"set to {words[1]}"
        self.say(f"cable {index}: {kind} {shown} (both directions)")

    def do_inject(self, arg: str) -> None:
        """Inject a hardware fault into a NIC, or show what is armed.

        usage: inject HOST[:IFACE] [FAULT [N|on|off]]
          tx-stall [off]        the TX unit stops fetching (TDH frozen)
          rx-no-buffer [N]      the next N frames find no RX descriptor (RNBC)
          lost-irq [N]          the next N TX interrupt causes are swallowed
          spurious-irq          the IRQ line rises with ICR empty
          bad-checksum [N]      the next N checked frames report TCPE
          crc-error [N]         the next N frames are marked CE (CRCERRS)
          link-misaligned [off] the XAUI lanes never align (STATUS.LU clear)
          surprise-removal [off] MMIO reads return 0xffffffff (device gone)
          eeprom-corruption [W] EEPROM word W (default 0x3e) inverted
          pci-error             bus error: channel frozen, AER recovery runs
          clear                 disarm everything
        example: inject a tx-stall
        """
        words = self.args(arg)
        self.need(words, 1, 3, "inject HOST[:IFACE] [FAULT [N|on|off]]")
        ref = resolve_nic(self.world, words[0])
        if len(words) == 1:
            self.say(describe_injections(ref))
            return
        fault = words[1].replace("_", "-")  # the Injection field name is accepted too
        if fault not in FAULTS:
            raise ShellError(f"unknown fault {words[1]!r} (one of {', '.join(FAULTS)})")
        self.say(inject(ref, fault, words[2] if len(words) == 3 else None))

    def do_pcap(self, arg: str) -> None:
        """Capture every frame delivered on every cable to a pcap file (like cable pcap=).

        usage: pcap start FILE | pcap stop
        example: pcap start /tmp/ab.pcap
        """
        words = self.args(arg)
        self.need(words, 1, 2, "pcap start FILE | pcap stop")
        if words[0] == "start":
            self.need(words, 2, 2, "pcap start FILE")
            self.session.pcap_start(words[1])
            self.say(f"capturing to {words[1]} (frames as each NIC receives them)")
        elif words[0] == "stop":
            self.need(words, 1, 1, "pcap stop")
            path, n = self.session.pcap_stop()
            self.say(f"wrote {n} frame{'s' if n != 1 else ''} to {path}")
        else:
            raise ShellError(f"bad pcap action {words[0]!r}: start or stop")


def _sysctl_text(value: Any) -> str:
    """A value as ``sysctl`` prints it: ints (a bool as 0/1), vectors tab-separated."""
    if isinstance(value, tuple):
        return "\t".join(str(v) for v in value)
    return str(int(value)) if isinstance(value, bool) else str(value)
