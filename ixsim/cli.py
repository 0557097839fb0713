"""The ``ixsim`` command: one argparse front with a sub-command per verb.

Each verb lives in its own module (``ixsim/cmd_<verb>.py``) exposing ``add_parser(subparsers)``
which registers the verb and sets ``func(args) -> int``.  Errors a user can cause are raised
as :class:`CliError` and printed as one line, never a traceback, with a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from ixsim.host import load_driver

VERB_MODULES = (
    "ixsim.cmd_demo",
    "ixsim.cmd_firmware",
    "ixsim.cmd_tap",
    "ixsim.cmd_wire",
    "ixsim.cmd_shell", "ixsim.cmd_inspect",
    "ixsim.cmd_bench",
    "ixsim.cmd_plot",
    "ixsim.netsim",
    "ixsim.cmd_drivertest",
)


class CliError(Exception):
    """A user-facing error: printed as ``ixsim: error: <message>``, exit status 2."""


def add_driver_option(p: argparse.ArgumentParser, what: str = "every host's NICs") -> None:
    """``--driver MODULE``: the driver bound to the hosts (``w.host(driver=)``)."""
    p.add_argument("--driver", metavar="MODULE",
                   help=f"bind this driver to {what} instead of the built-in ixgb: a dotted "
                        "module name importable from the current directory, e.g. "
                        "examples.minidriver (docs/writing-a-driver.md)")


def load_driver_option(name: str | None) -> ModuleType | bool:
    """The module ``--driver`` names (True: the built-in ixgb), or a one-line CliError."""
    if name is None:
        return True
    # The current directory first, as ``python -m`` does: --driver names the user's module.
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")
    try:
        module = load_driver(name)
    except (ValueError, TypeError) as exc:
        raise CliError(f"--driver {name}: {exc}") from None
    except Exception as exc:  # the module itself failed to import: say where, in one line
        raise CliError(f"--driver {name}: importing it failed: "
                       f"{type(exc).__name__}: {exc}") from None
    assert module is not None
    return module


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

