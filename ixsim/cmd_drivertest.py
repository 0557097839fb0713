"""``ixsim drivertest``: the driver conformance kit (``ixsim.drivertest``).

Runs every check (or those ``-k PATTERN`` selects) against the built-in ixgb driver or the
one ``--driver MODULE`` names, each in a fresh world with the built-in ixgb as the peer,
and prints one line per check: its verdict and its evidence.  A check the driver cannot do
(an offload it does not advertise) is a skip naming the feature.  Exit status 0 only when
every selected check passed (skips do not fail), 1 otherwise, 2 for a usage error.
"""

from __future__ import annotations

import argparse

from ixsim.cli import CliError, add_driver_option, load_driver_option
from ixsim.drivertest import CHECKS, Result, run, select
from ixsim.ui import console, print_json

STYLE = {"ok": "green", "skip": "yellow", "FAIL": "bold red"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("drivertest", help="the driver conformance kit: probe/remove, link, "
                       "every frame size, offloads, filters, NAPI, recovery",
                       description=__doc__)
    add_driver_option(p, "host a (the peer, host b, runs ixgb)")
    p.add_argument("-k", dest="pattern", metavar="PATTERN",
                   help="run only the checks whose name contains PATTERN (globs, 'A or B', "
                        "'not A' work as in pytest); --list shows the names")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--json", action="store_true",
                   help='print {"driver", "checks": [{"name", "ok", "skipped", "detail"}], '
                        '"passed", "failed", "skipped"}')
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    out = console()
    if args.list:
        width = max(len(c.name) for c in CHECKS)
        for check in CHECKS:
            out.print(f"{check.name:<{width}}  {check.doc}")
        return 0
    driver = load_driver_option(args.driver)
    checks = select(args.pattern)
    if not checks:
        raise CliError(f"-k {args.pattern!r} selects no check (ixsim drivertest --list)")
    width = max(len(c.name) for c in checks)

    def line(result: Result) -> None:
        verdict = result.verdict
        out.print(f"{result.name:<{width}}  [{STYLE[verdict]}]{verdict:<4}[/]  "
                  f"{result.wall_s:5.1f}s  {result.detail}", markup=True)

    if not args.json:
        name = getattr(driver, "__name__", "driver.ixgb")
        out.print(f"[bold]ixsim drivertest[/]: driver {name} on host a, ixgb on host b, "
                  f"{len(checks)} checks")
    report = run(driver, checks=checks, progress=None if args.json else line)
    if args.json:
        print_json(report.to_json())
    else:
        out.print(f"{report.passed} passed, {report.failed} failed, {report.skipped} skipped")
    return 0 if report.failed == 0 else 1
