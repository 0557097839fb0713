"""examples/minidriver: the small driver the docs' walkthrough builds, driven through World.

The conformance kit runs it in tests/test_drivertest.py; these tests pin what the
walkthrough says about it: where its MAC comes from, what it leaves behind, its queue and
NAPI behaviour, its size and imports, and the CLI's --driver on it.
"""

from __future__ import annotations

import ast
import json
import socket
from pathlib import Path

from device.spec import regs as R
from device.spec.bus import DMA_TO_DEVICE
from device.spec.ids import IXGB_DEVICE_ID_82597EX_SR
from device.trace import subscribe
from examples import minidriver
from examples.minidriver import driver as mini
from ixsim.cli import main
from ixsim.drivertest.rig import make_frame, send_raw
from ixsim.host import host_mac, load_driver
from ixsim.world import World
from stack.core import dev_close, dev_open, netif_queue_stopped
from stack.core.features import NETIF_F_SOFT_FEATURES

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "examples" / "minidriver"


def _pair(w: World, **options):
    a = w.host("a", "10.0.0.1/24", driver="examples.minidriver", **options)
    b = w.host("b", "10.0.0.2/24", driver="examples.minidriver", **options)
    w.cable(a.eth0, b.eth0, latency="1us")
    return a, b


def test_it_is_a_driver_module_and_imports_only_the_driver_api():
    assert load_driver("examples.minidriver") is minidriver
    for path in SOURCE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                top = node.module.split(".")[0]
                assert top in ("__future__", "typing", "errno", "examples", "device",
                               "stack"), (path.name, node.module)
                if top == "device":
                    assert node.module.startswith("device.spec"), node.module
                if top == "stack":
                    assert node.module in ("stack.core", "stack.uapi"), node.module
            elif isinstance(node, ast.Import):
                assert all(a.name in ("errno",) for a in node.names), path.name
    assert len((SOURCE / "driver.py").read_text().splitlines()) <= 450


def test_mac_from_ral_rah_ping_and_tcp_both_ways():
    with World(seed=3) as w:
        a, b = _pair(w)
        assert a.eth0.dev_addr.hex(":") == host_mac(0, 0)
        assert a.eth0.driver_name == "minidriver" and a.eth0.features & ~NETIF_F_SOFT_FEATURES == 0
        assert a.ping("10.0.0.2", count=3).received == 3
        srv = b.socket()
        srv.bind(("0.0.0.0", 9))
        srv.listen()
        c = a.socket()
        c.connect(("10.0.0.2", 9))
        conn, _ = srv.accept()
        data = bytes(range(256)) * 200  # within the socket buffers: sendall returns
        c.sendall(data)
        got = b""
        while len(got) < len(data):
            got += conn.recv(65536)
        assert got == data
        conn.sendall(b"back")
        assert c.recv(4) == b"back"
        assert w.faults == []


def test_it_only_binds_the_part_it_knows():
    with World() as w:
        h = w.host("h", driver="examples.minidriver", device_ids=[IXGB_DEVICE_ID_82597EX_SR])
        assert h.interfaces == {} and h.probe_errors == []


def test_close_and_remove_leave_no_mapping_allocation_or_irq():
    with World() as w:
        a, b = _pair(w)
        a.ping("10.0.0.2")
        machine, fn = a.machine, a.nics[0].pci
        assert machine.dma.live > 0 and fn._irq_handler is not None
        assert dev_close(a.eth0) == 0
        assert machine.dma.live == 0 and machine.mem.live_allocations == 0
        assert fn._irq_handler is None
        assert dev_open(a.eth0) == 0
        mini.remove(a.eth0)
        assert machine.dma.live == 0 and fn._irq_handler is None
        assert not fn.command & 0x6  # memory decoding and bus mastering off


def test_a_full_ring_stops_the_queue_and_tx_timeout_recovers():
    with World() as w:
        a, b = _pair(w)
        a.ping("10.0.0.2")
        a.nics[0].nic.inject.tx_stall = True
        for i in range(mini.RING_SIZE + 50):  # raw frames: no socket buffer limits them
            send_raw(a.eth0, make_frame(a.eth0, b.eth0.dev_addr, 100, i))
        w.run_for("1ms")
        assert netif_queue_stopped(a.eth0)
        tx = a.eth0.priv.tx
        assert tx.unused() == 0  # 255 descriptors in use, one kept empty
        live = sum(r for _s, _l, d, r in a.machine.dma.mappings() if d == DMA_TO_DEVICE)
        assert live == mini.RING_SIZE - 1
        a.nics[0].nic.inject.tx_stall = False
        w.run_for("6s")  # the stack's 5 s TX watchdog -> ndo_tx_timeout -> reset task
        assert "transmit queue 0 timed out" in a.kernel.dmesg_text()
        assert not netif_queue_stopped(a.eth0)
        assert a.ping("10.0.0.2").received == 1
        assert w.faults == []


def test_poll_unmasks_only_under_budget():
    with World() as w:
        a, b = _pair(w)
        writes: list[tuple[int, int]] = []
        unsub = subscribe(a.nics[0].nic, "mmio",
                          lambda kind, off, value, old: writes.append((off, value))
                          if kind == "w" and off in (R.IMS, R.IMC) else None)
        a.eth0.priv.napi.weight = 4  # a small budget: a ping's frames fit, a burst does not
        done = []
        orig = a.eth0.priv.napi.poll

        def poll(napi, budget):
            n = len(writes)
            work = orig(napi, budget)
            done.append((work, budget, [v for off, v in writes[n:] if off == R.IMS]))
            return work

        a.eth0.priv.napi.poll = poll
        s = b.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r = a.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.bind(("0.0.0.0", 9))
        for _ in range(40):
            s.sendto(b"y" * 64, ("10.0.0.1", 9))
        w.run_for("5ms")
        unsub()
        full = [d for d in done if d[0] == d[1]]
        under = [d for d in done if d[0] < d[1]]
        assert full and all(not ims for _w, _b, ims in full)
        assert under and all(ims == [mini.IRQ_CAUSES] for _w, _b, ims in under)


def test_cli_demo_and_shell_with_the_minidriver(capsys):
    assert main(["demo", "--driver", "examples.minidriver", "--bytes", "256K", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["sha256_match"] and out["device_faults"] == 0
    assert main(["shell", "--driver", "examples.minidriver", "-c", "regs a RDLEN"]) == 0
    assert "RDLEN @0x00120 = 0x00001000" in capsys.readouterr().out


def test_cli_driver_errors_are_one_line(capsys):
    assert main(["demo", "--driver", "examples.nosuch"]) == 2
    assert main(["shell", "--driver", "json", "-c", "regs a STATUS"]) == 2
    assert main(["demo", "--bare", "--driver", "examples.minidriver"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("ixsim: error: --driver examples.nosuch: driver "
                             "'examples.nosuch': no such module")
    assert err[1].startswith("ixsim: error: --driver json: driver 'json' is not a driver")
    assert err[2] == ("ixsim: error: --bare drives the NICs without a driver: --driver does "
                      "not apply")
