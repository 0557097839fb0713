"""Run a scenario on both backends and compare what each observed."""

from __future__ import annotations

import difflib
from typing import Any

from tests.sockdiff.api import Scenario, error_of
from tests.sockdiff.ixsim_net import IxsimLink, IxsimNet
from tests.sockdiff.linux import LinuxLink, LinuxNet

Observations = list[tuple[str, Any]]


def _run(net: Any, sc: Scenario) -> Observations:
    try:
        net.run(sc.fn)
    except Exception as exc:  # noqa: BLE001 - a scenario that crashes is an observation
        net.observations.append(("scenario raised", error_of(exc)))
    return net.observations


def run_linux(link: LinuxLink, sc: Scenario) -> Observations:
    return _run(LinuxNet(link, sc.index), sc)


def run_ixsim(link: IxsimLink, sc: Scenario) -> Observations:
    return _run(IxsimNet(link, sc.index), sc)


def lines(obs: Observations) -> list[str]:
    return [f"{label}: {value!r}" for label, value in obs]


def diff(linux: Observations, ixsim: Observations) -> str:
    """A unified diff, Linux first, for the assertion message."""
    return "\n".join(difflib.unified_diff(lines(linux), lines(ixsim), "linux", "ixsim",
                                          lineterm="", n=2))


def first_difference(linux: Observations, ixsim: Observations) -> str:
    """``label: linux X, ixsim Y`` for the first observation that differs (for the table)."""
    for (la, va), (lb, vb) in zip(linux, ixsim, strict=False):
        if (la, va) != (lb, vb):
            return f"{la}: linux {va!r}, ixsim {vb!r}" if la == lb else f"{la} vs {lb}"
    if len(linux) != len(ixsim):
        longer, who = (linux, "linux") if len(linux) > len(ixsim) else (ixsim, "ixsim")
        label, value = longer[min(len(linux), len(ixsim))]
        return f"only {who}: {label}: {value!r}"
    return ""


def linux_broke(linux: Observations) -> str:
    """Why the scenario itself is broken, or "": Linux is the reference, so a scenario must
    run to its end there (an exception outside ``try_`` means it is written wrongly)."""
    for label, value in linux:
        if label == "scenario raised":
            return f"the scenario raised {value} on Linux: fix the scenario"
    return ""
