"""The debugger's execution control: breakpoints, step, run, traces and fault injection."""

from __future__ import annotations

import io
import re

import pytest

from device.spec import regs as R
from ixsim.shell import Shell, build_world
from ixsim.shell.target import resolve_nic
from ixsim.shell.traffic import build_frames, send_frames

STAMP = r"\[\d+\.\d{9}\]"


class Dbg:
    def __init__(self) -> None:
        self.world = build_world("b2b", seed=1)
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.shell = Shell(self.world, stdout=self.out, stderr=self.err)

    def ok(self, *commands: str) -> str:
        start = self.out.tell()
        rc = self.shell.run_script(commands)
        assert rc == 0 and not self.err.getvalue(), self.err.getvalue()
        return self.out.getvalue()[start:]

    def peek(self, host: str, reg: str) -> int:
        return resolve_nic(self.world, host).nic.peek(R.lookup(reg).offset)


@pytest.fixture
def dbg():
    d = Dbg()
    yield d
    d.shell.session.close()
    d.world.close()


def queue_later(dbg: Dbg, delay_ns: int, spec: str = "len=1514") -> int:
    """Make the driver transmit from inside an event (as the stack would), not the prompt."""
    ref = resolve_nic(dbg.world, "a")
    when = dbg.world.now + delay_ns
    dbg.world.sched.call_at(when, lambda: send_frames(ref, build_frames(ref, [spec])))
    return when


def test_tdt_breakpoint_stops_before_the_fetch_and_step_runs_it(dbg):
    t0 = dbg.peek("a", "TDT")
    tx = resolve_nic(dbg.world, "a").nic.tx
    fetched = tx.descriptors
    when = queue_later(dbg, 50_000)
    out = dbg.ok("break a TDT write", "run 1ms")
    assert "breakpoint 1: write to TDT on a" in out
    assert re.search(rf"^breakpoint 1 hit: {STAMP} a eth0 mmio TDT <- {t0 + 1:#x}  start_xmit: "
                     r"1 descriptor, 1 frame 1514 B$", out, re.M)
    assert dbg.world.now == when
    assert re.search(rf"^next: {STAMP} a:nic0 TX descriptor fetch$", out, re.M)
    # Stopped after the doorbell, before the fetch: the device has not moved.
    assert dbg.peek("a", "TDT") == t0 + 1 and dbg.peek("a", "TDH") == t0
    assert tx.descriptors == fetched

    out = dbg.ok("step")
    # Fetched and on the wire; TDH moves when its last bit has left, 1.2304 µs later.
    assert re.search(rf"^{STAMP} a:nic0 TX descriptor fetch: fetched 1 descriptor "
                     rf"\(TDH {t0} -> {t0}\), 1 frame 1514 B", out, re.M)
    assert "    a eth0 frame tx 02:00:00:00:01:00 > ff:ff:ff:ff:ff:ff" in out
    assert dbg.peek("a", "TDH") == t0 and tx.descriptors == fetched + 1
    dbg.world.run_for(1231)
    assert dbg.peek("a", "TDH") == t0 + 1


def test_breakpoint_during_a_prompt_command_is_reported(dbg):
    out = dbg.ok("break a TDT", "send a eth0")
    assert re.search(r"^breakpoint 1 hit during send: .* TDT <- 0x[0-9a-f]+  start_xmit", out,
                     re.M)
    assert "next: " in out and "TX descriptor fetch" in out


def test_step_executes_exactly_n_events(dbg):
    dbg.ok("send a eth0 count=2")
    before = dbg.world.sched.events_run
    out = dbg.ok("step 4")
    assert dbg.world.sched.events_run == before + 4
    headers = re.findall(rf"^{STAMP} \S", out, re.M)
    assert len(headers) == 4


def test_irq_breakpoint_stops_before_the_handler(dbg):
    out = dbg.ok("break irq b", "send a eth0", "run 1ms")
    assert re.search(r"^stopped at t=.* before b:nic0 interrupt delivery: breakpoint 1 "
                     r"\(interrupt delivery on b", out, re.M)
    assert dbg.peek("b", "ICR") & R.INT_RXT0  # the handler has not read ICR yet
    out = dbg.ok("step")
    assert re.search(r"b:nic0 interrupt delivery: .*interrupt 16 handled", out)
    assert "    b eth0 mmio ICR -> 0x80 [RXT0]  (read clears)" in out
    assert dbg.peek("b", "ICR") == 0
    out = dbg.ok("delete 1", "continue 1ms")
    assert "ran to t=" in out


def test_continue_resumes_past_an_irq_stop(dbg):
    dbg.ok("break irq b", "send a eth0 count=2", "run 1ms")
    out = dbg.ok("continue 5ms")
    # The delivery we stopped at runs first; the next one stops again (or time runs out).
    assert "before b:nic0 interrupt delivery" in out or "ran to t=" in out
    assert resolve_nic(dbg.world, "b").pci.irq_delivered >= 1


def test_frame_breakpoint(dbg):
    out = dbg.ok("break frame ether proto 0x88b5", "send a eth0", "run 1ms")
    assert "breakpoint 1: frame matching 'ether proto 0x88b5'" in out
    assert re.search(rf"^breakpoint 1 hit: {STAMP} a eth0 frame tx 02:00:00:00:01:00 > ", out,
                     re.M)


def test_trace_lines_have_the_documented_format(dbg):
    t0 = dbg.peek("a", "TDT")
    out = dbg.ok("trace mmio on a", "trace irq on", "trace frames on", "send a eth0 len=100",
                 "run 1ms", "trace all off", "send a eth0", "run 1ms", "trace")
    lines = [x for x in out.splitlines() if x.startswith("[")]
    assert lines, out
    for text in lines:
        assert re.match(rf"^{STAMP} [a-z]+ eth\d (mmio|irq|frame) \S", text), text
    assert re.search(rf"^{STAMP} a eth0 mmio TDT <- {t0 + 1:#x}  start_xmit: 1 descriptor, "
                     r"1 frame 100 B$", out, re.M)
    assert re.search(rf"^{STAMP} a eth0 frame tx 02:00:00:00:01:00 > ff:ff:ff:ff:ff:ff, "
                     r"ethertype Unknown \(0x88b5\), length 100$", out, re.M)
    assert re.search(rf"^{STAMP} b eth0 frame rx 02:00:00:00:01:00 > ff:ff:ff:ff:ff:ff, ", out,
                     re.M)
    assert re.search(rf"^{STAMP} a eth0 irq 16 -> handler: ICR=0x3 \[TXDW\|TXQE\] IMS=0x95$",
                     out, re.M)
    assert re.search(rf"^{STAMP} a eth0 mmio ICR -> 0x3 \[TXDW\|TXQE\]  \(read clears\)$", out,
                     re.M)
    # After 'trace all off' the second frame printed no trace line.
    assert len(re.findall(r"frame tx", out)) == 1
    assert out.rstrip().endswith("no traces on")


def test_trace_dma_and_shell_accesses(dbg):
    out = dbg.ok("trace dma on a", "send a eth0", "step", "trace dma off", "trace mmio on a",
                 "read a STATUS")
    assert re.search(r"^    a eth0 dma R 0x[0-9a-f]+ \+16 TDBAL$", out, re.M)
    assert re.search(r"^    a eth0 dma R 0x[0-9a-f]+ \+60 TXD\[0\]$", out, re.M)
    assert re.search(rf"^{STAMP} a eth0 mmio STATUS -> 0x2 \[LU\]  \(shell\)$", out, re.M)
    pci = resolve_nic(dbg.world, "a").pci
    assert not pci.trace_dma and not pci.dma_observed()  # unsubscribed: the fast path again


def test_inject_tx_stall_shows_up_everywhere(dbg):
    t0 = dbg.peek("a", "TDT")
    out = dbg.ok("inject a tx-stall", "inject a", "send a eth0", "step")
    assert "a eth0: tx_stall=True" in out
    assert "TX descriptor fetch: TX stalled: nothing fetched (inject tx-stall)" in out
    out = dbg.ok("run 3s", f"ring a tx {t0}:{t0 + 1}", "dmesg a")
    assert dbg.peek("a", "TDH") == t0 and dbg.peek("a", "TDT") == t0 + 1
    assert re.search(rf"^  {t0}\s+HW\s+HEAD NTC\s+data addr=", out, re.M)
    assert "Detected Tx Unit Hang" in out
    out = dbg.ok("inject a tx-stall off", "run 1ms")
    assert "the TX unit resumes" in out and dbg.peek("a", "TDH") == t0 + 1


def test_inject_rx_faults_and_spurious_irq(dbg):
    out = dbg.ok("inject b crc-error 1", "inject b rx-no-buffer 1", "send a eth0", "run 1ms")
    assert "crc-error armed for the next 1 received frame" in out
    b = resolve_nic(dbg.world, "b")
    assert b.nic.peek(R.CRCERRS) == 1 and b.nic.peek(R.RNBC) == 1
    before = b.pci.irq_unhandled
    out = dbg.ok("inject b spurious-irq", "step 2")
    assert "interrupt not handled (the handler returned IRQ_NONE)" in out
    assert b.pci.irq_unhandled == before + 1
    out = dbg.ok("inject a lost_irq 2", "inject a")
    assert "a eth0: lost_irq=2" in out  # the Injection field name works as well
    out = dbg.ok("inject a lost-irq 2", "inject a clear", "inject a")
    assert "a eth0: no injection armed" in out


def test_events_lists_what_runs_next(dbg):
    out = dbg.ok("send a eth0", "events 2")
    lines = out.splitlines()
    assert re.match(rf"^{STAMP} #\d+ a:nic0 TX descriptor fetch$", lines[3])
    assert len(lines) == 6 and lines[-1].startswith("... and ")
