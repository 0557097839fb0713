"""``device_del`` / ``device_add`` in ``ixsim shell``: PCI hot-plug through host.device_del/add."""

from __future__ import annotations

import io

from ixsim.shell import Shell, build_world


def test_device_del_and_add_unbind_and_rebind_the_driver():
    world = build_world("b2b", seed=1, after="10ms")
    out, err = io.StringIO(), io.StringIO()
    shell = Shell(world, stdout=out, stderr=err)
    try:
        a = world.hosts["a"]
        assert "eth0" in a.interfaces
        assert shell.run_script(["device_del a eth0"]) == 0, err.getvalue()
        assert "removed (nic0)" in out.getvalue()
        assert "eth0" not in a.interfaces
        assert not a.nics[0].pci.present
        # removing it twice is an error, not a traceback
        assert shell.run_script(["device_del a nic0"]) != 0
        assert "already removed" in err.getvalue()
        assert shell.run_script(["device_add a nic0"]) == 0, err.getvalue()
        assert a.nics[0].pci.present
        assert "driver bound as eth0" in out.getvalue()
        assert "eth0" in a.interfaces
        assert shell.run_script(["device_add a nic0"]) != 0
        assert "is present" in err.getvalue()
        assert shell.run_script(["device_del a nosuch"]) != 0
        assert "no PCI device 'nosuch'" in err.getvalue()
    finally:
        shell.session.close()
        world.close()
