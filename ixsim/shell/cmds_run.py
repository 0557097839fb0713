"""Shell commands that control time: trace, break, delete, breakpoints, step, run, continue,
events.  The engine is :class:`ixsim.shell.session.Session`; the line format is
docs/trace-format.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ixsim.sched import format_ns
from ixsim.shell import trace as T
from ixsim.shell.errors import ShellError
from ixsim.shell.session import TRACE_CLASSES, Stop, frame_matcher
from ixsim.shell.target import parse_int, parse_time, register, resolve_host, resolve_nic
from stack.core import TRACEPOINTS

MAX_STEPS = 10_000
CONTINUE_LIMIT = "10s"


class RunCommands:
    """Mixin for :class:`ixsim.shell.shell.Shell`."""

    world: Any
    session: Any

    if TYPE_CHECKING:
        def say(self, text: str = "") -> None: ...
        def says(self, lines: Any) -> None: ...
        def args(self, arg: str) -> list[str]: ...
        def need(self, words: list[str], lo: int, hi: int | None, usage: str) -> None: ...
        def show_new_faults(self, limit: int = ...) -> None: ...

    # -- tracing ------------------------------------------------------------------------
    def do_trace(self, arg: str) -> None:
        """Print a decoded line per event of a class: mmio, irq, dma, frames, tcp (or all).

        usage: trace [CLASS on|off [HOST]]
          mmio: every register access, decoded, with its side effect
                ("a eth0 mmio TDT <- 0x1  start_xmit: 1 descriptor, 1 frame 60 B");
          irq: interrupt deliveries with the causes pending; dma: every device DMA;
          frames: frames at each port (tx and rx), one line from stack.wire.describe;
          tcp: the kernel's tcp_* tracepoints (tcp_set_state...).
          Without HOST: every host.  Without arguments: what is on.
        example: trace mmio on a
        """
        words = self.args(arg)
        if not words:
            on = [f"{cls}: {', '.join(sorted(hosts))}"
                  for cls, hosts in self.session.traces.items() if hosts]
            self.says(on or ["no traces on"])
            return
        self.need(words, 2, 3, "trace mmio|irq|dma|frames|tcp|all on|off [HOST]")
        classes = TRACE_CLASSES if words[0] == "all" else (words[0],)
        if words[0] != "all" and words[0] not in TRACE_CLASSES:
            raise ShellError(f"unknown trace class {words[0]!r} "
                             f"(one of {', '.join(TRACE_CLASSES)}, all)")
        if words[1] not in ("on", "off"):
            raise ShellError(f"bad switch {words[1]!r}: on or off")
        on = words[1] == "on"
        hosts = [resolve_host(self.world, words[2]).name] if len(words) == 3 else list(
            self.world.hosts)
        for cls in classes:
            for host in hosts:
                if cls == "dma":
                    self.session.set_dma_trace(host, on)
                elif cls == "tcp":
                    self.session.set_tcp_trace(host, on)
                (self.session.traces[cls].add if on else self.session.traces[cls].discard)(host)
        self.say(f"trace {', '.join(classes)} {words[1]} for {', '.join(hosts)}")
        if on and "tcp" in classes and not any(n.startswith("tcp") for n in TRACEPOINTS):
            self.say("note: no tcp_* tracepoint is declared yet (stack/tcp not attached); "
                     "lines appear once the stack fires tcp_set_state")

    # -- breakpoints --------------------------------------------------------------------
    def do_break(self, arg: str) -> None:
        """Stop a run at a register access, an interrupt or a frame.

        usage: break HOST[:IFACE] REG [read|write]   after the event that accesses REG
               break irq HOST[:IFACE]                before the interrupt handler runs
               break frame FILTER                    after a matching frame at any port
          FILTER is a tcpdump expression (stack.bpf) such as 'arp or icmp'.  A TDT
          breakpoint stops right after the driver's doorbell, before the device fetches
          the descriptors: 'step' then runs the fetch.
        example: break a TDT write
        """
        words = self.args(arg)
        self.need(words, 2, None, "break HOST[:IFACE] REG [read|write] | break irq HOST | "
                                  "break frame FILTER")
        s = self.session
        if words[0] == "frame":
            expr = " ".join(words[1:])
            matcher, how = frame_matcher(expr)
            bp = s.add_breakpoint(kind="frame", expr=expr, matcher=matcher)
            self.say(f"breakpoint {bp.number}: {bp.describe()} ({how})")
            return
        if words[0] == "irq":
            self.need(words, 2, 2, "break irq HOST[:IFACE]")
            ref = resolve_nic(self.world, words[1])
            iface = ref.iface if ":" in words[1] else None
            bp = s.add_breakpoint(kind="irq", host=ref.host.name, iface=iface)
            self.say(f"breakpoint {bp.number}: {bp.describe()}")
            return
        self.need(words, 2, 3, "break HOST[:IFACE] REG [read|write]")
        ref = resolve_nic(self.world, words[0])
        reg = register(words[1])
        access = words[2] if len(words) == 3 else "access"
        if access not in ("read", "write", "access"):
            raise ShellError(f"bad access {access!r}: read or write")
        iface = ref.iface if ":" in words[0] else None
        bp = s.add_breakpoint(kind="reg", host=ref.host.name, iface=iface, reg=reg,
                              access=access)
        self.say(f"breakpoint {bp.number}: {bp.describe()}")

    def do_delete(self, arg: str) -> None:
        """Delete a breakpoint by number, or all of them.

        usage: delete N|all
        example: delete 1
        """
        words = self.args(arg)
        self.need(words, 1, 1, "delete N|all")
        if words[0] == "all":
            self.session.breakpoints.clear()
            self.say("all breakpoints deleted")
            return
        bp = self.session.delete_breakpoint(parse_int(words[0], "breakpoint number", 1))
        self.say(f"deleted breakpoint {bp.number}: {bp.describe()}")

    def do_breakpoints(self, arg: str) -> None:
        """List the breakpoints with their hit counts.

        usage: breakpoints
        """
        self.need(self.args(arg), 0, 0, "breakpoints")
        bps = self.session.breakpoints.values()
        self.says([f"{bp.number}: {bp.describe()}; hits: {bp.hits}" for bp in bps]
                  or ["no breakpoints"])

    # -- execution ----------------------------------------------------------------------
    def do_step(self, arg: str) -> None:
        """Run exactly N scheduler events (default 1), printing each and what it did.

        usage: step [N]
          each event prints its time and name (e.g. 'a:nic0 tx TxEngine._process: fetched
          1 descriptor (TDH 0 -> 1), 1 frame 60 B'), then the register accesses, frames,
          interrupts and faults it caused, indented.  Breakpoints are reported, not
          stopped at.  Enter repeats.
        example: step 3
        """
        words = self.args(arg)
        self.need(words, 0, 1, "step [N]")
        n = parse_int(words[0], "step count", 1, MAX_STEPS) if words else 1
        for _ in range(n):
            lines = self.session.step()
            if lines is None:
                self.say("nothing pending: the world is idle")
                break
            self.says(lines)
        self.session.hits.clear()
        self._say_next()

    def do_s(self, arg: str) -> None:
        """Short for step.

        usage: s [N]
        """
        self.do_step(arg)

    def do_run(self, arg: str) -> None:
        """Run the world for a virtual duration; a breakpoint stops it early and says why.

        usage: run DURATION      (e.g. 500us, 10ms, 2s)
        example: run 1ms
        """
        words = self.args(arg)
        self.need(words, 1, 1, "run DURATION")
        self._report(self.session.run(parse_time(words[0])))

    def do_continue(self, arg: str) -> None:
        """Run until the next breakpoint (at most LIMIT of virtual time, default 10s).

        usage: continue [LIMIT]
        example: continue
        """
        words = self.args(arg)
        self.need(words, 0, 1, "continue [LIMIT]")
        self._report(self.session.run(parse_time(words[0] if words else CONTINUE_LIMIT)))

    do_c = do_continue

    def do_events(self, arg: str) -> None:
        """List the pending scheduler events, soonest first (what step would run next).

        usage: events [N]      (default 10)
        example: events 5
        """
        words = self.args(arg)
        self.need(words, 0, 1, "events [N]")
        n = parse_int(words[0], "count", 1) if words else 10
        pending = self.world.sched.pending()
        for handle in pending[:n]:
            self.say(f"{T.stamp(handle.when)} #{handle.seq} {self.session.event_name(handle)}")
        if len(pending) > n:
            self.say(f"... and {len(pending) - n} more")
        if not pending:
            self.say("nothing pending")

    # -- reporting ----------------------------------------------------------------------
    def _report(self, stop: Stop) -> None:
        if stop.reason == "breakpoint" and stop.before is not None:
            bp = stop.before
            name = self.session.event_name(stop.pending)
            self.say(f"stopped at t={format_ns(self.world.now)} before {name}: "
                     f"breakpoint {bp.number} ({bp.describe()})")
        elif stop.reason == "breakpoint":
            for hit in stop.hits:
                self.say(f"breakpoint {hit.bp.number} hit: {hit.text}")
            self.say(f"stopped at t={format_ns(self.world.now)} after {stop.events} events")
        elif stop.reason == "idle":
            self.say(f"nothing left to run at t={format_ns(self.world.now)} "
                     f"({stop.events} events)")
        elif stop.reason == "interrupted":
            self.say(f"interrupted at t={format_ns(self.world.now)} ({stop.events} events)")
        else:
            self.say(f"ran to t={format_ns(self.world.now)} ({stop.events} events)")
        self.session.hits.clear()
        self.show_new_faults()
        if stop.reason == "breakpoint":
            self._say_next()

    def _say_next(self) -> None:
        head = self.world.sched.peek()
        if head is not None:
            self.say(f"next: {T.stamp(head.when)} {self.session.event_name(head)}")

    def report_hits(self, context: str) -> None:
        """Breakpoints that matched while a command (read, write, send, ping) ran."""
        for hit in self.session.hits:
            self.say(f"breakpoint {hit.bp.number} hit during {context}: {hit.text}")
        if self.session.hits:
            self._say_next()
        self.session.hits.clear()
