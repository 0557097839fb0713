"""The one-shot verbs ``ixsim regs|ring|stats``: same views as the shell, on a fresh world."""

from __future__ import annotations

import json
import re

from device.spec import regs as R
from ixsim.cli import main
from ixsim.shell import build_world
from ixsim.shell.target import resolve_nic
from ixsim.shell.traffic import build_frames, send_frames


def reference_world():
    """What the verbs build by default: b2b, 10 ms, 4 raw frames a -> b, then 1 ms."""
    world = build_world("b2b", seed=1, after="10ms")
    a = resolve_nic(world, "a")
    if getattr(world.hosts["a"], "ping", None) is None:
        send_frames(a, build_frames(a, ["count=4", "len=100"]))
    else:
        world.hosts["a"].ping("10.0.0.2", count=4)
    world.run_for("1ms")
    return world


def test_regs_json_matches_the_same_world_built_by_hand(capsys):
    assert main(["regs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    world = reference_world()
    assert data["time_ns"] == world.now
    for key, regs in data["nics"].items():
        host, _, iface = key.partition(":")
        ref = resolve_nic(world, host, iface)
        assert set(regs) == set(R.ETHTOOL_DUMP_ORDER)  # print_json sorts the keys
        for name, reg in regs.items():
            assert reg["value"] == ref.nic.peek(R.BY_NAME[name].offset), (key, name)
    world.close()


def test_regs_text_with_names(capsys):
    assert main(["regs", "--host", "b", "STATUS", "GPRC"]) == 0
    out = capsys.readouterr().out
    assert "b eth0 STATUS @0x00010 = 0x00000002" in out
    assert re.search(r"b eth0 GPRCL @0x02008 = 0x0000000[1-9]", out)


def test_ring_json_has_markers_and_owners(capsys):
    assert main(["ring", "--host", "a", "tx", "--json"]) == 0
    ring = json.loads(capsys.readouterr().out)["nics"]["a:eth0"]["tx"]
    assert ring["count"] == 256 and ring["head"] == ring["tail"] == ring["next_to_use"]
    slots = {d["index"]: d for d in ring["descriptors"]}
    assert set(slots[ring["head"]]["markers"]) >= {"HEAD", "TAIL", "NTU", "NTC"}
    assert all(d["owner"] == "SW" for d in ring["descriptors"])


def test_ring_text_range(capsys):
    assert main(["ring", "--host", "b", "rx", "0:3", "--traffic", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("b eth0 RX ring: 512 descriptors")
    assert len(re.findall(r"^  \d+\s+(HW|SW)", out, re.M)) == 4


def test_stats_json_and_text(capsys):
    assert main(["stats", "--host", "b", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)["nics"]["b:eth0"]
    assert data["source"] == "driver (ethtool -S)"
    assert data["stats"]["rx_packets"] >= 4
    assert main(["stats", "--scenario", "router", "--host", "r:eth1", "--traffic", "0"]) == 0
    assert capsys.readouterr().out.startswith("r eth1 statistics from the driver")


def test_verb_errors_are_one_line(capsys):
    for argv in (["regs", "--host", "zz"], ["regs", "NOPE"], ["ring", "--host", "a", "tx",
                                                              "900"],
                 ["stats", "--after", "later"], ["regs", "--traffic", "-1"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("ixsim: error: "), err
