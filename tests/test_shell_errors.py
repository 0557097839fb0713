"""Every user error of ``ixsim shell`` is one line on stderr, no traceback, exit status 2,
and a script stops at the first one."""

from __future__ import annotations

import pytest

from ixsim.cli import main

ERRORS = [
    ("regs zz", "unknown host 'zz' (hosts: a, b)"),
    ("regs a FOO", "unknown register 'FOO'"),
    ("regs a STAUTS", "unknown register 'STAUTS'; did you mean STATUS?"),
    ("regs a 'ZZ*'", "no register matches 'ZZ*'"),
    ("regs a:eth7", "host 'a' has no interface 'eth7' (it has eth0)"),
    ("regs", "usage: regs HOST[:IFACE] [NAME...]"),
    ("frobnicate", "unknown command 'frobnicate' (type 'help' for the list)"),
    ("help frobnicate", "unknown command 'frobnicate' (type 'help' for the list)"),
    ("write a TDT 0xzz", "bad value '0xzz': expected a number such as 17 or 0x11"),
    ("write a TDT 0x100000000", "bad value '0x100000000': must be in 0..4294967295"),
    ("read a", "usage: read HOST[:IFACE] REG"),
    ("ring a xx", "bad ring 'xx': tx or rx"),
    ("ring a tx 9999", "slots 9999:255 outside the ring of 256 (0:255)"),
    ("mem a 0 16", "0x0+16 is outside guest RAM"),
    ("mem a 0x100000 999999", "bad length '999999': must be in 1..4096"),
    ("dma a most", "bad option 'most': only 'all'"),
    ("run 10", "bad duration '10': use e.g. 50us, 1.5ms, 2s"),
    ("step 0", "bad step count '0': must be in 1..10000"),
    ("trace foo on", "unknown trace class 'foo' (one of mmio, irq, dma, frames, tcp, all)"),
    ("trace mmio maybe", "bad switch 'maybe': on or off"),
    ("break a TDT sometimes", "bad access 'sometimes': read or write"),
    ("break frame ((", "bad filter '(('"),
    ("delete 5", "no breakpoint 5 (breakpoints: none)"),
    ("send a eth0 dst=zz", "bad MAC address 'zz'"),
    ("send a eth0 len=5", "bad frame length '5': must be in 14..16128"),
    ("send a eth0 colour=red", "bad frame spec word 'colour=red'"),
    ("send a eth0 abc", "bad frame 'abc': expected hex digits"),
    ("link a sideways", "bad state 'sideways': up or down"),
    ("cable 3 loss 0.1", "no cable 3 (cables 0..0)"),
    ("cable loss 2", "bad probability '2': must be in [0.0, 1.0]"),
    ("cable 0 jitter 1", "unknown impairment 'jitter'"),
    ("inject a foo", "unknown fault 'foo'"),
    ("inject a tx_stal", "unknown fault 'tx_stal' (one of tx-stall, lost-irq, rx-no-buffer, "
                         "crc-error, bad-checksum, link-misaligned, surprise-removal, "
                         "spurious-irq, eeprom-corruption, pci-error, clear)"),
    ("inject a rx-no-buffer many", "bad count 'many'"),
    ("pcap stop", "no capture is running ('pcap start FILE')"),
    ("pcap start /nonexistent/dir/x.pcap", "cannot write /nonexistent/dir/x.pcap"),
    ("faults please", "bad option 'please': only 'clear'"),
    ("regs \"a", "cannot parse arguments: No closing quotation"),
    ("ping zz b", "unknown host 'zz' (hosts: a, b)"),
]


@pytest.mark.parametrize(("command", "message"), ERRORS, ids=[c for c, _m in ERRORS])
def test_error_is_one_line_and_exit_2(capsys, command, message):
    rc = main(["shell", "-c", f"hosts; {command}; hosts"])
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in out + err
    assert out.count("ixsim> hosts") == 1  # the script stopped at the error


def test_script_file_and_exit_0(tmp_path, capsys):
    script = tmp_path / "s.ixsim"
    script.write_text("# a comment\nhosts\nregs a STATUS   # trailing comment\n\nstep; step\n")
    assert main(["shell", "--script", str(script)]) == 0
    out = capsys.readouterr().out
    assert "ixsim> regs a STATUS" in out and out.count("ixsim> step") == 2


def test_script_file_missing(capsys):
    assert main(["shell", "--script", "/nonexistent.ixsim"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read /nonexistent.ixsim" in err


def test_bad_after_and_scenario_options(capsys):
    assert main(["shell", "--after", "soon", "-c", "hosts"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["shell", "--scenario", "mesh", "-c", "hosts"])
    assert exc.value.code == 2


def test_router_scenario(capsys):
    assert main(["shell", "--scenario", "router", "-c", "hosts; regs r:eth1 STATUS"]) == 0
    out = capsys.readouterr().out
    assert "r     2     eth0 UP, eth1 UP" in out
    assert "r eth1 STATUS @0x00010 = 0x00000002" in out


def test_quit_ends_a_script(capsys):
    assert main(["shell", "-c", "hosts; quit; frobnicate"]) == 0
    assert "frobnicate" not in capsys.readouterr().err


def test_strict_mode_fault_is_one_line(capsys):
    assert main(["shell", "--strict", "-c", "write a TDT 0x400; hosts"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: device fault (strict mode stops at the faulting access): ")
    assert "TDT=0x400: TDT beyond the ring" in err
