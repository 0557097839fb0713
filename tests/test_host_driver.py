"""``w.host(..., driver=X)``: the built-in ixgb, unbound NICs, or any module with the driver
interface (``match``, ``probe``, ``remove``, ``ProbeError``), by object or dotted name."""

from __future__ import annotations

import sys
import types

import pytest

import driver.ixgb
from ixsim.host import load_driver
from ixsim.world import World


def counting_driver(name: str = "countdrv", refuse: bool = False) -> types.ModuleType:
    """A driver module of our own: ixgb underneath, counting what the host asks of it."""
    mod = types.ModuleType(name)
    mod.calls = []
    mod.ProbeError = driver.ixgb.ProbeError

    def match(pci_dev):
        mod.calls.append(("match", pci_dev.name))
        return driver.ixgb.match(pci_dev)

    def probe(kernel, pci_dev, **params):
        mod.calls.append(("probe", pci_dev.name, params))
        if refuse:
            raise mod.ProbeError(5, f"{name} {pci_dev.name}: refused")
        return driver.ixgb.probe(kernel, pci_dev, **params)

    mod.match, mod.probe, mod.remove = match, probe, driver.ixgb.remove
    return mod


@pytest.mark.parametrize("spec", [True, driver.ixgb, "driver.ixgb", "ixgb"])
def test_builtin_driver_by_flag_object_and_name(spec):
    with World() as w:
        a = w.host("a", "10.0.0.1/24", driver=spec)
        b = w.host("b", "10.0.0.2/24")
        assert a.driver is driver.ixgb
        w.cable(a.eth0, b.eth0)
        assert a.ping("10.0.0.2").received == 1
        assert a.eth0.ethtool_ops.get_drvinfo(a.eth0).driver == "ixgb"


@pytest.mark.parametrize("spec", [False, None])
def test_no_driver_leaves_the_nics_unbound(spec):
    with World() as w:
        a = w.host("a", driver=spec, nics=2)
        assert a.driver is None and a.interfaces == {} and len(a.nics) == 2


def test_a_driver_module_of_our_own_is_matched_and_probed_with_its_params():
    mod = counting_driver()
    with World() as w:
        a = w.host("a", "10.0.0.1/24", nics=2, driver=mod,
                   driver_params={"RxDescriptors": 128})
        b = w.host("b", "10.0.0.2/24")
        assert a.driver is mod
        assert [c[0] for c in mod.calls] == ["match", "probe", "match", "probe"]
        assert mod.calls[1][2] == {"RxDescriptors": 128}
        assert sorted(a.interfaces) == ["eth0", "eth1"]
        w.cable(a.eth0, b.eth0)
        assert a.ping("10.0.0.2").received == 1


def test_a_dotted_name_imports_the_module(monkeypatch):
    mod = counting_driver("ixsim_test_drivers.fancy")
    pkg = types.ModuleType("ixsim_test_drivers")
    pkg.__path__ = []
    monkeypatch.setitem(sys.modules, "ixsim_test_drivers", pkg)
    monkeypatch.setitem(sys.modules, "ixsim_test_drivers.fancy", mod)
    with World() as w:
        a = w.host("a", driver="ixsim_test_drivers.fancy")
        assert a.driver is mod and "eth0" in a.interfaces


def test_a_refusing_probe_is_recorded_not_raised():
    mod = counting_driver(refuse=True)
    with World() as w:
        a = w.host("a", driver=mod)
        assert a.interfaces == {}
        assert len(a.probe_errors) == 1 and a.probe_errors[0].startswith("[Errno 5] countdrv")
        assert a.probe_errors[0].endswith(": refused")


@pytest.mark.parametrize("spec, error, text", [
    ("driver.nosuch", ValueError, "driver 'driver.nosuch': no such module"),
    ("nosuch", ValueError, "tried nosuch and driver.nosuch"),
    ("json", TypeError, "'json' is not a driver: it lacks match, probe, remove, ProbeError"),
    (42, TypeError, "driver=42: pass True, False, a module or a dotted module name"),
])
def test_bad_drivers_are_clear_errors(spec, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(")):
        load_driver(spec)
    with World() as w:
        with pytest.raises(error):
            w.host("a", driver=spec)
        assert "a" not in w.hosts  # nothing was half-built: the name is still free


def test_probe_error_that_is_not_an_exception_is_refused():
    mod = counting_driver()
    mod.ProbeError = "oops"
    with pytest.raises(TypeError, match="lacks ProbeError"):
        load_driver(mod)


def test_a_driver_whose_own_import_fails_shows_that_error(monkeypatch, tmp_path):
    (tmp_path / "brokendrv.py").write_text("import nosuchdependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="nosuchdependency"):
        load_driver("brokendrv")
