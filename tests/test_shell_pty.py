"""``ixsim shell`` at a terminal: tab completion and history (through a pseudo-terminal)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect", reason="pexpect is needed to drive a pseudo-terminal")

ROOT = Path(__file__).resolve().parent.parent
PROMPT = r"\(ixsim [^)]*\) "


@pytest.fixture
def term(tmp_path):
    env = dict(os.environ, HOME=str(tmp_path), TERM="dumb", NO_COLOR="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = pexpect.spawn(sys.executable, ["-m", "ixsim", "shell"], env=env, cwd=str(ROOT),
                          encoding="utf-8", timeout=20, dimensions=(40, 200))
    child.expect(PROMPT)
    yield child, tmp_path
    child.close(force=True)


def test_tab_completes_commands_hosts_interfaces_and_registers(term):
    child, _home = term
    child.send("rin\t")
    child.expect("ring ")
    child.send("b:\t")
    child.expect("b:eth0 ")
    child.send("r\t")
    child.expect("rx ")
    child.sendline("0:1")
    child.expect("b eth0 RX ring: 512 descriptors")
    child.expect(PROMPT)
    child.send("regs a:eth0 TDB\t")
    child.expect("TDB\x07?A")  # the common prefix (readline may ring the bell first)
    child.send("\t\t")
    child.expect("TDBAH")
    child.expect("TDBAL")
    child.send("L\t")
    child.expect("TDBAL ")
    child.sendline("")
    child.expect(r"a eth0 TDBAL @0x00608 = 0x")
    child.expect(PROMPT)
    child.send("inject a tx-\t")
    child.expect("tx-stall ")
    child.sendline("")
    child.expect("tx-stall on")
    child.expect(PROMPT)


def test_errors_keep_the_prompt_and_history_is_saved(term):
    child, home = term
    child.sendline("regs nosuchhost")
    child.expect("error: unknown host 'nosuchhost'")
    child.expect(PROMPT)
    child.sendline("step")
    child.expect(PROMPT)
    child.sendline("")  # Enter repeats step
    child.expect(r"\] ")
    child.expect(PROMPT)
    child.sendline("quit")
    child.expect(pexpect.EOF)
    history = (home / ".ixsim_history").read_text().splitlines()
    assert history[-3:] == ["regs nosuchhost", "step", "quit"]


def test_history_is_loaded_at_start(tmp_path):
    (tmp_path / ".ixsim_history").write_text("regs a STATUS\n")
    env = dict(os.environ, HOME=str(tmp_path), TERM="dumb",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = pexpect.spawn(sys.executable, ["-m", "ixsim", "shell"], env=env, cwd=str(ROOT),
                          encoding="utf-8", timeout=20, dimensions=(40, 200))
    try:
        child.expect(PROMPT)
        child.send("\x1b[A")  # up arrow: the last command from the file
        child.sendline("")
        child.expect(r"a eth0 STATUS @0x00010 = 0x00000002")
        child.expect(PROMPT)
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_ctrl_c_stops_a_long_run_between_events(term):
    child, _home = term
    child.sendline("run 100000000s")
    child.expect("run 100000000s")
    time.sleep(0.3)
    child.sendintr()
    child.expect(r"interrupted at t=.* \(\d+ events\)")
    child.expect(PROMPT)
    child.sendline("regs a STATUS")
    child.expect("a eth0 STATUS @0x00010 = 0x00000002")
    child.expect(PROMPT)
