"""``ixsim shell``: the register-level debugger over a world of emulated hosts.

``ixsim shell`` opens a prompt over two hosts cabled back to back (``--scenario router``:
a - r - b); ``-c "regs a STATUS; ring a tx"`` or ``--script FILE`` runs commands and exits,
with status 2 at the first error.  Commands and examples: docs/shell.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ixsim.cli import CliError, add_driver_option, load_driver_option
from ixsim.shell import SCENARIOS, Shell, ShellError, build_world, split_script
from ixsim.shell.scenario import DEFAULT_AFTER
from ixsim.shell.target import parse_time


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shell", help="interactive register-level debugger over a world", description=__doc__
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "-c",
        dest="commands",
        metavar="'CMD; CMD'",
        help="run these commands (';'-separated) and exit",
    )
    src.add_argument("--script", metavar="FILE", help="run the commands in FILE and exit")
    p.add_argument(
        "--scenario", choices=sorted(SCENARIOS), help="b2b: a - b (default); router: a - r - b"
    )
    p.add_argument(
        "--topology",
        metavar="FILE",
        help="build the world from a topology file (TOML; README "
        "'Topology files') instead of a scenario",
    )
    p.add_argument(
        "--seed", type=int, help="world seed (same seed, same run; default 1, or the topology's)"
    )
    p.add_argument(
        "--after",
        default=DEFAULT_AFTER,
        help=f"virtual time to run before the first command (default "
        f"{DEFAULT_AFTER}: drivers probed, links up; 0ns for power-on; at most "
        f"2**62 ns)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="device faults raise at the faulting access (World(strict=True))",
    )
    add_driver_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    commands = None
    if args.commands is not None:
        commands = split_script(args.commands)
    elif args.script is not None:
        try:
            commands = split_script(Path(args.script).read_text())
        except OSError as exc:
            raise CliError(f"cannot read {args.script}: {exc.strerror or exc}") from None
    elif not sys.stdin.isatty():
        commands = split_script(sys.stdin.read())
    driver = load_driver_option(args.driver)
    if driver is not True and args.topology is not None:
        raise CliError(
            "--driver applies to the scenarios; a topology file names its driver "
            "with the hosts' driver key"
        )
    try:
        after = parse_time(args.after, "--after")
        world = build_world(
            args.scenario,
            args.seed,
            after,
            strict=args.strict,
            topology=args.topology,
            driver=driver,
        )
    except ShellError as exc:
        raise CliError(str(exc)) from None
    try:
        shell = Shell(world)
        if commands is not None:
            status = 0
            try:
                status = shell.run_script(commands)
            finally:
                _close_session(shell)
            return status
        try:
            return shell.interact()
        except ShellError as exc:  # closing the session: an unfinished capture
            raise CliError(str(exc)) from None
    finally:
        world.close()


def _close_session(shell: Shell) -> None:
    """Close the session; a capture it could not finish writing is one error line."""
    try:
        shell.session.close()
    except ShellError as exc:
        raise CliError(str(exc)) from None
