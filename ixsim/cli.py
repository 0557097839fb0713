"""The ``ixsim`` command: one argparse front with a sub-command per verb.

Each verb lives in its own module (``ixsim/cmd_<verb>.py``) exposing ``add_parser(subparsers)``
which registers the verb and sets ``func(args) -> int``.  Errors a user can cause are raised
as :class:`CliError` and printed as one line, never a traceback, with a non-zero exit; an
argument argparse refuses is one line too (``ixsim VERB: error: ...``, exit 2).

The options' values are checked here, once for every verb, with documented upper bounds
(docs/design.md "Command-line limits"): :func:`duration_arg` (a finite time up to a bound
per kind: ``MAX_RUN`` of virtual time to run, ``MAX_LATENCY`` of cable delay,
``MAX_REALTIME`` of wall-clock run), :func:`size_arg` (1 byte to ``MAX_TRANSFER``),
:func:`rate_arg` (up to ``MAX_RATE``) and :func:`check_writable` for an output file.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from types import ModuleType
from typing import NoReturn

from ixsim.clock import (
    MAX_DURATION_NS,
    NS_PER_S,
    DurationTooLong,
    parse_duration,
    parse_rate,
)
from ixsim.host import load_driver

MAX_RUN = MAX_DURATION_NS  # virtual time one command runs the world: the scheduler's horizon
MAX_LATENCY = 10 * NS_PER_S  # a cable's one-way latency, jitter or a round-trip time
MAX_REALTIME = 30 * 86_400 * NS_PER_S  # wall-clock --duration of tap and wire: 30 days
MAX_TRANSFER = 1 << 40  # bytes of one TCP transfer (--bytes): 1 TiB
MAX_RATE = 10**12  # a cable's line rate, bit/s: 1 Tbit/s
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

VERB_MODULES = (
    "ixsim.cmd_demo",
    "ixsim.cmd_firmware",
    "ixsim.cmd_tap",
    "ixsim.cmd_wire",
    "ixsim.cmd_shell",
    "ixsim.cmd_inspect",
    "ixsim.cmd_bench",
    "ixsim.cmd_plot",
    "ixsim.cmd_netsim",
    "ixsim.cmd_drivertest",
)


class CliError(Exception):
    """A user-facing error: printed as ``ixsim: error: <message>``, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with one-line errors: ``ixsim VERB: error: MESSAGE (see ixsim VERB --help)``
    on stderr and exit status 2, as every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def human_ns(ns: int) -> str:
    """A bound for a message: ``10s``, ``1 day``, ``30 days``, ``2**62 ns (146 years)``."""
    if ns == MAX_DURATION_NS:
        return "2**62 ns (146 years)"
    day = 86_400 * NS_PER_S
    if ns >= day and ns % day == 0:
        return "1 day" if ns == day else f"{ns // day} days"
    return f"{ns // NS_PER_S}s" if ns % NS_PER_S == 0 else f"{ns}ns"


def check_duration(text: str, limit: int, bare_seconds: bool = False) -> int:
    """A finite duration with a unit (``50us``, ``1.5ms``, ``2s``; a bare number is seconds
    when ``bare_seconds``) of at most ``limit`` ns -> ns; ValueError saying why not
    (DurationTooLong, naming ``limit``, for one too long)."""
    value: str | float = text
    if bare_seconds and not any(c.isalpha() for c in text):
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 10s)") from None
    try:
        ns = parse_duration(value)
    except DurationTooLong:
        ns = limit + 1
    if ns > limit:
        raise DurationTooLong(f"{text!r} is too long: at most {human_ns(limit)}")
    return ns


def duration_arg(text: str, option: str, limit: int, bare_seconds: bool = False) -> int:
    """``--option T`` -> ns, by :func:`check_duration`; else a one-line CliError."""
    try:
        return check_duration(text, limit, bare_seconds)
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None


def size_arg(text: str) -> int:
    """An argparse ``type``: a byte count (suffixes K, M, G, T: powers of 1024; an optional
    ``B``/``iB``), from 1 to ``MAX_TRANSFER``."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    scale = _SIZE_UNITS.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in _SIZE_UNITS else t
    try:
        amount = float(number) if number.strip() else math.nan
    except ValueError:
        amount = math.nan
    if not math.isfinite(amount):
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1048576, 64K, 16M)")
    value = amount * scale
    if value < 1 or value > MAX_TRANSFER:
        raise argparse.ArgumentTypeError(f"size {text!r}: from 1 byte to {MAX_TRANSFER >> 40} TiB")
    return int(value)


def rate_arg(text: str, option: str) -> int:
    """``--option R`` -> bit/s (``10G``, ``100M``), positive and at most ``MAX_RATE``."""
    try:
        rate = parse_rate(text)
    except ValueError as exc:
        raise CliError(f"{option}: {exc}") from None
    if rate > MAX_RATE:
        raise CliError(f"{option} {text}: at most 1T (10**12 bit/s)")
    return rate


def check_writable(path: str, option: str) -> None:
    """Refuse an output file that cannot be written (missing directory, a directory, a full
    device) before the run, in one line: the file is created and a first block written and
    flushed (``/dev/full`` says ENOSPC then), as the writer will do."""
    try:
        with open(path, "wb") as fh:
            fh.write(bytes(24))  # a pcap global header's size
            fh.flush()
    except OSError as exc:
        raise CliError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def add_driver_option(p: argparse.ArgumentParser, what: str = "every host's NICs") -> None:
    """``--driver MODULE``: the driver bound to the hosts (``w.host(driver=)``)."""
    p.add_argument(
        "--driver",
        metavar="MODULE",
        help=f"bind this driver to {what} instead of the built-in ixgb: a dotted "
        "module name importable from the current directory, e.g. "
        "examples.minidriver (docs/writing-a-driver.md)",
    )


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
        raise CliError(
            f"--driver {name}: importing it failed: {type(exc).__name__}: {exc}"
        ) from None
    assert module is not None
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
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
