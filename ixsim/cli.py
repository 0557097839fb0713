"""The ``ixsim`` command: one argparse front with a sub-command per verb.

Each verb lives in its own module (``ixsim/cmd_<verb>.py``) exposing ``add_parser(subparsers)``
which registers the verb and sets ``func(args) -> int``.  Errors a user can cause are raised
as :class:`CliError` and printed as one line, never a traceback, with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys

VERB_MODULES = (
    "ixsim.cmd_demo",
    "ixsim.cmd_firmware",
    "ixsim.cmd_tap",
    "ixsim.cmd_wire",
    "ixsim.cmd_shell", "ixsim.cmd_inspect",
    "ixsim.cmd_bench",
    "ixsim.cmd_plot",
    "ixsim.netsim",
)


class CliError(Exception):
    """A user-facing error: printed as ``ixsim: error: <message>``, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ixsim",
        description="An emulated ixgb 10 GbE NIC, its driver and a TCP/IP stack on virtual time.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a verb still being written: leave it out rather than break the CLI
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"ixsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ixsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

