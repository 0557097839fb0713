"""``python -m tests.sockdiff [--json] [-k PATTERN]``: every scenario on Linux and on ixsim,
a table scenario | linux | ixsim | match, and the match count."""

from __future__ import annotations

import argparse
import json
import sys

from tests.sockdiff import SCENARIOS
from tests.sockdiff.ixsim_net import IxsimLink
from tests.sockdiff.known import KNOWN
from tests.sockdiff.linux import LinuxLink, Unavailable, available
from tests.sockdiff.runner import first_difference, linux_broke, run_ixsim, run_linux


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.sockdiff", description=__doc__)
    p.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    p.add_argument("-k", dest="pattern", default="", help="only scenarios whose name has this")
    p.add_argument("-v", action="store_true", help="print both observation lists on mismatch")
    args = p.parse_args(argv)
    ok, why = available()
    if not ok:
        print(f"Linux side unavailable: {why}", file=sys.stderr)
        return 2
    chosen = [sc for sc in SCENARIOS if args.pattern in sc.name]
    rows = []
    try:
        link = LinuxLink()
    except Unavailable as exc:
        print(f"Linux side unavailable: {exc}", file=sys.stderr)
        return 2
    sim = IxsimLink(sysctls=link.mirrored)
    try:
        for sc in chosen:
            if args.v:
                print(f"... {sc.name}", file=sys.stderr, flush=True)
            linux = run_linux(link, sc)
            ixsim = run_ixsim(sim, sc)
            broke = linux_broke(linux)
            rows.append({"scenario": sc.name, "match": linux == ixsim and not broke,
                         "difference": broke or first_difference(linux, ixsim),
                         "known": KNOWN.get(sc.name),
                         "linux": [list(o) for o in linux], "ixsim": [list(o) for o in ixsim]})
    finally:
        link.close()
        sim.close()
    matched = sum(r["match"] for r in rows)
    if args.json:
        print(json.dumps({"matched": matched, "total": len(rows), "scenarios": rows},
                         indent=1, default=repr))
        return 0
    width = max((len(r["scenario"]) for r in rows), default=8)
    print(f"{'scenario':<{width}} | linux | ixsim | match")
    for r in rows:
        mark = "yes" if r["match"] else ("no (known) " if r["known"] else "NO  ") + r["difference"]
        print(f"{r['scenario']:<{width}} | {len(r['linux']):>5} | {len(r['ixsim']):>5} | {mark}")
        if args.v and not r["match"]:
            for side in ("linux", "ixsim"):
                print(f"    {side}: {r[side]}")
    unexpected = sum(1 for r in rows if r["match"] == bool(r["known"]))
    print(f"{matched}/{len(rows)} match"
          + (f"; {unexpected} not as tests/sockdiff/known.py expects" if unexpected else ""))
    if link.mirrored:
        print("ixsim hosts run with (Linux's where a namespace keeps its own): " +
              ", ".join(f"{k}={v}" for k, v in link.mirrored.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
