"""The interactive debugger: a ``cmd.Cmd`` prompt over a world, or a script of commands.

The commands live in three mixins, by subject: :mod:`ixsim.shell.cmds_hw` (registers, rings,
memory, DMA, EEPROM, counters, faults), :mod:`ixsim.shell.cmds_run` (traces, breakpoints,
step, run) and :mod:`ixsim.shell.cmds_host` (hosts, interfaces, the stack's tables,
traffic, links, cables, fault injection, capture).  This module is the loop around them:

* every ``do_<name>`` docstring is the help: its first line the one-line summary shown by
  ``help``, then ``usage:`` and an example;
* a user error is a :class:`~ixsim.shell.errors.ShellError`, printed as ``error: ...`` on
  stderr, one line; in script mode (``-c`` / ``--script``) the first error stops the script
  with exit status 2;
* interactive use (stdin a terminal) gets readline editing, history in ``~/.ixsim_history``
  and tab completion of commands, hosts, interfaces (``a:eth0``), registers and keywords.
"""

from __future__ import annotations

import cmd
import os
import re
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from device.faults import DeviceFaultError
from device.spec import regs as R
from ixsim.sched import format_ns
from ixsim.shell.cmds_host import HostCommands
from ixsim.shell.cmds_hw import HardwareCommands
from ixsim.shell.cmds_run import RunCommands
from ixsim.shell.errors import ShellError
from ixsim.shell.inject import FAULTS
from ixsim.shell.session import TRACE_CLASSES, Session
from ixsim.shell.target import host_names, nic_names
from stack.core import ETHTOOL_FEATURE_GROUPS

HISTORY_FILE = "~/.ixsim_history"
HISTORY_LENGTH = 2000
REPEATABLE = {"step", "s", "run", "continue", "c"}
CABLE_KINDS = ("loss", "delay", "reorder", "dup", "corrupt")

# Argument kinds by position, for tab completion.  "*" repeats the last kind.
ARGS: dict[str, tuple[str, ...]] = {
    "regs": ("nic", "reg", "*"), "read": ("nic", "reg"), "write": ("nic", "reg"),
    "ring": ("nic", "txrx"), "mem": ("host",), "dma": ("host", "all"), "eeprom": ("nic",),
    "stats": ("nic",), "ifaces": ("host",), "timers": ("host",), "dmesg": ("host",),
    "routes": ("host",), "neigh": ("host",), "sockets": ("host",),
    "trace": ("traceclass", "onoff", "host"), "break": ("break", "reg", "access"),
    "ping": ("host", "host"), "tcp": ("host", "host"), "udp": ("host", "host"),
    "send": ("host", "iface"), "link": ("nic", "updown"),
    "features": ("nic", "feature", "onoff"), "cable": ("cable", "cablekind"),
    "inject": ("nic", "fault"), "pcap": ("startstop",), "help": ("command",),
    "fdb": ("switch",), "device_del": ("host", "iface"), "device_add": ("host",),
    "events": (), "delete": (), "step": (), "run": (), "continue": (), "faults": (),
}
KEYWORDS = {
    "txrx": ("tx", "rx"), "onoff": ("on", "off"), "updown": ("up", "down"),
    "access": ("read", "write"), "traceclass": (*TRACE_CLASSES, "all"),
    "fault": FAULTS, "cablekind": CABLE_KINDS, "startstop": ("start", "stop"),
    "all": ("all",), "feature": tuple(short for short, _l, _m in ETHTOOL_FEATURE_GROUPS),
}


class Shell(HardwareCommands, RunCommands, HostCommands, cmd.Cmd):
    """``ixsim shell``: see the module docstring and docs/shell.md."""

    intro = ("ixsim debugger: 'help' lists the commands, 'help CMD' explains one; "
             "Tab completes; 'quit' leaves.")
    doc_header = "commands"

    def __init__(self, world: Any, stdout: TextIO | None = None,
                 stderr: TextIO | None = None) -> None:
        super().__init__(stdout=stdout or sys.stdout)
        self.stderr = stderr or sys.stderr
        self.world = world
        self.session = Session(world, self.say)
        self._faults_seen = len(world.faults)
        self.failed = False
        self.identchars += "-"

    # -- output -------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def says(self, lines: Iterable[str]) -> None:
        for text in lines:
            self.say(text)

    @property
    def prompt(self) -> str:  # type: ignore[override]
        return f"(ixsim {format_ns(self.world.now)}) "

    # -- dispatch -----------------------------------------------------------------------
    def onecmd(self, line: str) -> bool:
        try:
            return bool(super().onecmd(line))
        except ShellError as exc:
            self._error(str(exc))
        except DeviceFaultError as exc:
            self._error(f"device fault (strict mode stops at the faulting access): {exc}")
        except KeyboardInterrupt:
            self._error("interrupted")
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the debugger
            if os.environ.get("IXSIM_DEBUG"):
                raise
            self._error(f"internal error: {type(exc).__name__}: {exc} "
                        "(IXSIM_DEBUG=1 shows the traceback)")
        return False

    def _error(self, message: str) -> None:
        self.stdout.flush()
        self.stderr.write(f"error: {' '.join(message.split())}\n")
        self.stderr.flush()
        self.failed = True

    def precmd(self, line: str) -> str:
        self.failed = False
        return line

    def emptyline(self) -> bool:
        """Enter repeats step/run/continue (as gdb does); anything else is not repeated."""
        if self.lastcmd.split()[:1] and self.lastcmd.split()[0] in REPEATABLE:
            return self.onecmd(self.lastcmd)
        return False

    def default(self, line: str) -> bool:
        word = line.split()[0] if line.split() else line
        if word == "EOF":
            self.say()
            return True
        raise ShellError(f"unknown command {word!r} (type 'help' for the list)")

    @staticmethod
    def args(arg: str) -> list[str]:
        try:
            return shlex.split(arg)
        except ValueError as exc:
            raise ShellError(f"cannot parse arguments: {exc}") from None

    @staticmethod
    def need(words: list[str], lo: int, hi: int | None, usage: str) -> None:
        if len(words) < lo or (hi is not None and len(words) > hi):
            raise ShellError(f"usage: {usage}")

    # -- help ---------------------------------------------------------------------------
    def command_names(self) -> list[str]:
        return sorted(name[3:] for name in self.get_names() if name.startswith("do_"))

    def do_help(self, arg: str) -> None:
        """Show the commands, or one command's usage and an example.

        usage: help [COMMAND]
        example: help ring
        """
        words = self.args(arg)
        if words:
            fn = getattr(self, f"do_{words[0]}", None)
            if fn is None:
                raise ShellError(f"unknown command {words[0]!r} (type 'help' for the list)")
            self.says(_dedent(fn.__doc__ or "(no help)"))
            return
        rows = []
        for name in self.command_names():
            doc = getattr(self, f"do_{name}").__doc__ or ""
            rows.append((name, doc.strip().splitlines()[0] if doc.strip() else ""))
        width = max(len(n) for n, _ in rows)
        self.say("commands (help COMMAND for usage and an example):")
        self.says(f"  {n.ljust(width)}  {d}" for n, d in rows)

    def do_quit(self, arg: str) -> bool:
        """Leave the debugger.

        usage: quit
        """
        return True

    do_exit = do_quit

    # -- completion ---------------------------------------------------------------------
    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [n + " " for n in self.command_names() if n.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        words = line[:begidx].split()
        if not words:
            return []
        spec = ARGS.get(words[0], ())
        pos = len(words) - 1
        if not spec:
            return []
        kind = spec[pos] if pos < len(spec) else (spec[-2] if spec[-1] == "*" else "")
        if kind == "*":
            kind = spec[-2]
        if kind == "break":
            cands = ["irq", "frame", *nic_names(self.world)]
        elif kind == "reg" and words[0] == "break" and words[1:2] == ["irq"]:
            cands = nic_names(self.world)
        else:
            cands = self._candidates(kind, words)
        return [c + " " for c in cands if c.startswith(text)]

    def _candidates(self, kind: str, words: list[str]) -> list[str]:
        if kind == "host":
            return host_names(self.world)
        if kind == "nic":
            return nic_names(self.world)
        if kind == "iface":
            host = self.world.hosts.get(words[1]) if len(words) > 1 else None
            return list(host.interfaces) if host is not None else []
        if kind == "reg":
            if words[0] == "break" and words[1:2] == ["frame"]:
                return []
            return list(R.BY_NAME)
        if kind == "command":
            return self.command_names()
        if kind == "switch":
            return list(getattr(self.world, "switches", {}))
        if kind == "cable":
            return [str(i) for i in range(len(self.world.cables))] + list(CABLE_KINDS)
        return list(KEYWORDS.get(kind, ()))

    # -- running ------------------------------------------------------------------------
    def run_script(self, commands: Iterable[str]) -> int:
        """Run commands one by one, echoing each; stop at the first error with 2."""
        for command in commands:
            self.say(f"ixsim> {command}")
            self.failed = False
            if self.onecmd(command):
                break
            if self.failed:
                return 2
        return 0

    def interact(self) -> int:
        history = _setup_readline(self)
        try:
            while True:
                try:
                    self.cmdloop()
                    break
                except KeyboardInterrupt:
                    self.intro = None
                    self.say("^C")
        finally:
            if history is not None:
                _save_history(history)
            self.session.close()
        return 0


def split_script(text: str) -> list[str]:
    """Script text -> commands: one per line or ``;``-separated; ``#`` starts a comment."""
    out = []
    for raw in text.splitlines():
        line = _COMMENT.sub("", raw)
        for part in _split_semicolons(line):
            if part.strip():
                out.append(part.strip())
    return out


_COMMENT = re.compile(r"(^|\s)#.*$")


def _split_semicolons(line: str) -> list[str]:
    parts, cur, quote = [], [], ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == ";":
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def _dedent(doc: str) -> list[str]:
    lines = doc.strip("\n").splitlines()
    first, rest = lines[0].strip(), lines[1:]
    indent = min((len(x) - len(x.lstrip()) for x in rest if x.strip()), default=0)
    return [first, *(x[indent:] for x in rest)]


def _setup_readline(shell: Shell) -> Path | None:
    try:
        import readline
    except ImportError:
        return None
    readline.set_completer_delims(" \t\n;")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    path = Path(os.path.expanduser(HISTORY_FILE))
    readline.set_history_length(HISTORY_LENGTH)
    try:
        readline.read_history_file(path)
    except OSError:
        pass
    return path


def _save_history(path: Path) -> None:
    import readline

    try:
        readline.write_history_file(path)
    except OSError:
        pass
