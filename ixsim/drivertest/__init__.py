"""The driver conformance kit behind ``ixsim drivertest``.

In the spirit of Linux's ``tools/testing/selftests/drivers/net``: a fixed list of checks any
driver for the 82597EX model must pass, each run in a fresh world (:mod:`.rig`) with the
driver under test on host ``a`` and the built-in ixgb as the reference peer on ``b``.
Checks are functions registered in one table, :data:`CHECKS`, in the order they run; each
returns its evidence (one line) or raises :class:`~.rig.CheckFailed` or
:class:`~.rig.Skip`.  A check the driver cannot do (an offload it does not advertise) is
skipped with the feature named, never failed.

Every check also fails when its world recorded a device fault, and the last check,
``device-faults``, totals the faults of every check that ran.  The verdicts come back as a
:class:`Report`; :func:`run` is the whole API::

    from ixsim.drivertest import run
    report = run("examples.minidriver", pattern="napi")
    assert report.failed == 0
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ixsim.drivertest import checks_data, checks_life, checks_offload
from ixsim.drivertest.context import Context
from ixsim.drivertest.rig import CheckFailed, Skip
from ixsim.host import load_driver

CheckFn = Callable[[Context], str]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    fn: CheckFn
    doc: str


def _table(*rows: tuple[str, CheckFn]) -> tuple[Check, ...]:
    return tuple(Check(name, fn, (fn.__doc__ or "").strip().splitlines()[0])
                 for name, fn in rows)


def device_faults(ctx: Context) -> str:
    """Zero device faults in every world the checks before this one built."""
    if ctx.faults:
        raise CheckFailed(f"{len(ctx.faults)} device faults; first: {ctx.faults[0]}")
    return f"0 faults in {ctx.worlds} worlds"


CHECKS: tuple[Check, ...] = _table(
    ("probe-remove", checks_life.probe_remove),
    ("link-flap", checks_life.link_flap),
    ("arp-ping", checks_data.arp_ping),
    ("mtu-sweep", checks_data.mtu_sweep),
    ("tx-checksum", checks_offload.tx_checksum),
    ("rx-checksum", checks_offload.rx_checksum),
    ("tso", checks_offload.tso),
    ("vlan-insert", checks_offload.vlan_insert),
    ("vlan-strip", checks_offload.vlan_strip),
    ("vlan-filter", checks_offload.vlan_filter),
    ("promiscuous", checks_data.promiscuous),
    ("all-multicast", checks_data.all_multicast),
    ("multicast-filter", checks_data.multicast_filter),
    ("rings-wrap", checks_data.rings_wrap),
    ("napi-budget", checks_data.napi_budget),
    ("irq-moderation", checks_data.irq_moderation),
    ("tx-timeout", checks_life.tx_timeout),
    ("reset-under-load", checks_life.reset_under_load),
    ("ethtool-stats", checks_life.ethtool_stats),
    ("device-faults", device_faults),
)


@dataclass(slots=True)
class Result:
    name: str
    ok: bool
    detail: str
    skipped: bool = False
    wall_s: float = 0.0

    @property
    def verdict(self) -> str:
        return "skip" if self.skipped else ("ok" if self.ok else "FAIL")


@dataclass(slots=True)
class Report:
    driver: str
    results: list[Result] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.ok and not r.skipped)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.results if r.skipped)

    def to_json(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "checks": [{"name": r.name, "ok": r.ok, "skipped": r.skipped,
                        "detail": r.detail} for r in self.results],
            "passed": self.passed, "failed": self.failed, "skipped": self.skipped,
        }


def select(pattern: str | None) -> list[Check]:
    """The checks ``-k PATTERN`` selects, as pytest's ``-k``: a substring (or a glob) of the
    name, combined with ``not``, ``and``, ``or`` (``"not rings and not mtu"``)."""
    if not pattern:
        return list(CHECKS)
    return [c for c in CHECKS if _matches(c.name, pattern.strip())]


def _matches(name: str, pattern: str) -> bool:
    return any(all(_term(name, t.strip()) for t in alt.split(" and "))
               for alt in pattern.split(" or "))


def _term(name: str, term: str) -> bool:
    negate = term.startswith("not ")
    word = term[4:].strip() if negate else term
    hit = fnmatch.fnmatchcase(name, word) if any(ch in word for ch in "*?[") else word in name
    return hit != negate


def run(driver: Any = True, pattern: str | None = None,
        checks: Iterable[Check] | None = None,
        progress: Callable[[Result], None] | None = None) -> Report:
    """Run the selected checks against ``driver`` (anything ``w.host(driver=)`` takes)."""
    module = load_driver(driver)
    if module is None:
        raise ValueError("drivertest needs a driver (driver=False binds none)")
    ctx = Context(module)
    report = Report(module.__name__)
    for check in (list(checks) if checks is not None else select(pattern)):
        start = time.perf_counter()
        before = len(ctx.faults)
        try:
            detail = check.fn(ctx)
            ok, skipped = True, False
        except Skip as exc:
            detail, ok, skipped = f"skip: {exc}", True, True
        except CheckFailed as exc:
            detail, ok, skipped = str(exc), False, False
        except Exception as exc:  # the driver raised: that is a failure with its evidence
            detail, ok, skipped = f"driver raised {type(exc).__name__}: {exc}", False, False
        finally:
            ctx.close_rigs()
        new_faults = ctx.faults[before:]
        if new_faults and ok and not skipped and check.fn is not device_faults:
            ok = False
            detail = f"{len(new_faults)} device faults; first: {new_faults[0]} ({detail})"
        result = Result(check.name, ok, detail, skipped, time.perf_counter() - start)
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report


__all__ = ["CHECKS", "Check", "CheckFailed", "Context", "Report", "Result", "Skip", "run",
           "select"]
