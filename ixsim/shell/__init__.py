"""The register-level debugger: ``ixsim shell`` and the one-shot ``regs``/``ring``/``stats``.

Public API::

    from ixsim.shell import Shell, build_world
    world = build_world("b2b", seed=1)           # hosts a, b back to back, run 10 ms
    shell = Shell(world)                          # cmd.Cmd over the world
    shell.run_script(["regs a STATUS", "ring a tx 0:3"])   # 0, or 2 at the first error
    shell.interact()                              # the prompt (readline, history, Tab)

Modules: ``shell`` (the loop, help, completion), ``cmds_hw`` / ``cmds_run`` / ``cmds_host``
(the commands by subject), ``session`` (tracepoints, breakpoints, step and run), ``trace``
(the line format, docs/trace-format.md), ``hwview`` / ``hostview`` (what the commands print),
``rings`` (ring geometry and ownership), ``traffic`` (frames, ping, TCP, UDP), ``inject``
(fault injection), ``target`` (naming hosts, NICs, registers, numbers), ``scenario``.
"""

from ixsim.shell.errors import NotAvailable, ShellError
from ixsim.shell.scenario import SCENARIOS, build_world
from ixsim.shell.shell import Shell, split_script

__all__ = ["SCENARIOS", "NotAvailable", "Shell", "ShellError", "build_world", "split_script"]
