"""device/spec/ beyond the register map: the bus contract, PCI identity, EEPROM map, time units.

Each fact is declared once in device/spec; these tests pin the values to docs/hardware.md and
check that everything else (the PCI function the machine builds, the driver's ID table, the
shipped firmware image, the device's PciDev) derives from or conforms to them.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import driver.ixgb
from device.machine import Machine
from device.pci import PCI_CLASS_PROG, PCI_REVISION_ID
from device.pcidev import PciDev
from device.spec import bus, eeprom, ids, timing
from firmware import decode, default_words
from ixsim.sched import Scheduler

ROOT = Path(__file__).resolve().parent.parent


def _machine() -> Machine:
    return Machine(Scheduler(1), "spec")


def _members(proto: type) -> set[str]:
    """A Protocol's members: its annotated attributes, methods and properties."""
    return set(proto.__annotations__) | {n for n in vars(proto) if not n.startswith("_")}


# -- bus: the PciDevice Protocol ------------------------------------------------------------
def test_pci_dev_is_a_pci_device_member_by_member():
    slot = _machine().add_ixgb(default_words())
    pdev = slot.pci_dev
    assert isinstance(pdev, bus.PciDevice)
    assert isinstance(pdev.iomap(0), bus.IoMem)
    assert isinstance(pdev.mem, bus.DmaMemory)
    members = _members(bus.PciDevice)
    public = {n for n in dir(pdev) if not n.startswith("_")}
    assert public == members, "PciDev and the PciDevice Protocol must name the same members"
    for name in members:
        declared = inspect.getattr_static(bus.PciDevice, name, None)
        if isinstance(declared, property):
            assert isinstance(inspect.getattr_static(PciDev, name), property), name
        elif callable(declared):
            want = list(inspect.signature(declared).parameters)[1:]  # without self
            got = list(inspect.signature(getattr(pdev, name)).parameters)
            assert got == want, f"{name}{tuple(got)} != PciDevice.{name}{tuple(want)}"


def test_the_driver_uses_only_what_pci_device_declares():
    members = _members(bus.PciDevice)
    used: set[str] = set()
    for path in sorted((ROOT / "driver").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in ("pdev", "pci_dev"):
                    used.add(node.attr)
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "pdev"):
                used.add(node.attr)
    assert used, "the walk found no PCI accesses at all"
    assert used <= members, f"driver uses {sorted(used - members)} beyond PciDevice"


def test_dma_directions_are_linux_values_as_a_mask():
    # include/linux/dma-direction.h for the two streaming directions; bidirectional is both.
    assert (bus.DMA_TO_DEVICE, bus.DMA_FROM_DEVICE) == (1, 2)
    assert bus.DMA_BIDIRECTIONAL == bus.DMA_TO_DEVICE | bus.DMA_FROM_DEVICE
    assert (bus.IRQ_NONE, bus.IRQ_HANDLED) == (0, 1)


# -- ids: one PCI identity ------------------------------------------------------------------
def test_ids_match_the_spec():
    # Spec: docs/hardware.md §1.1
    assert ids.PCI_VENDOR_ID_INTEL == 0x8086
    assert (ids.IXGB_DEVICE_ID_82597EX, ids.IXGB_DEVICE_ID_82597EX_SR,
            ids.IXGB_DEVICE_ID_82597EX_LR, ids.IXGB_DEVICE_ID_82597EX_CX4) == (
        0x1048, 0x1A48, 0x1B48, 0x109E)
    assert ids.CLASS_CODE_ETHERNET == 0x020000


def test_the_driver_binds_every_82597ex_part():
    assert set(driver.ixgb.PCI_IDS) == {(ids.PCI_VENDOR_ID_INTEL, d) for d in ids.DEVICE_NAMES}


def test_machine_config_space_and_firmware_image_carry_the_default_ids():
    pdev = _machine().add_ixgb(default_words()).pci_dev
    assert (pdev.vendor, pdev.device) == (ids.DEFAULT_VENDOR_ID, ids.DEFAULT_DEVICE_ID)
    assert (pdev.subsystem_vendor, pdev.subsystem_device) == (
        ids.DEFAULT_SUBSYSTEM_VENDOR_ID, ids.DEFAULT_SUBSYSTEM_ID)
    assert pdev.revision == ids.DEFAULT_REVISION_ID
    assert pdev.read_config(PCI_REVISION_ID, 4) >> 8 == ids.CLASS_CODE_ETHERNET
    assert pdev.read_config(PCI_CLASS_PROG, 1) == ids.CLASS_CODE_ETHERNET & 0xFF
    image = decode(default_words())
    assert (image["vendor_id"], image["device_id"]) == (ids.DEFAULT_VENDOR_ID,
                                                        ids.DEFAULT_DEVICE_ID)
    assert (image["subsystem_vendor"], image["subsystem_id"]) == (
        ids.DEFAULT_SUBSYSTEM_VENDOR_ID, ids.DEFAULT_SUBSYSTEM_ID)


# -- eeprom: the Microwire command set ------------------------------------------------------
def test_microwire_opcodes_match_the_spec():
    # Spec: docs/hardware.md §1.4: READ 110, WRITE 101, ERASE 111 (3 bits); EWEN 10011 and
    # EWDS 10000 (5 bits, each followed by 4 dummy bits).
    assert (eeprom.EEPROM_READ_OPCODE, eeprom.EEPROM_WRITE_OPCODE,
            eeprom.EEPROM_ERASE_OPCODE) == (0b110, 0b101, 0b111)
    assert (eeprom.EEPROM_EWEN_OPCODE, eeprom.EEPROM_EWDS_OPCODE) == (0b10011, 0b10000)
    assert eeprom.EEPROM_EXT_DUMMY_BITS == 4
    shift = eeprom.EEPROM_EXT_OPCODE_BITS - eeprom.EEPROM_OPCODE_BITS
    for ext in (eeprom.EEPROM_EWEN_OPCODE, eeprom.EEPROM_EWDS_OPCODE,
                eeprom.EEPROM_WRAL_OPCODE, eeprom.EEPROM_ERAL_OPCODE):
        assert ext >> shift == eeprom.EEPROM_EXT_OPCODE
    assert eeprom.EEPROM_WORDS == 1 << eeprom.EEPROM_ADDR_BITS == 64
    assert eeprom.EEPROM_SUM == 0xBABA


# -- timing ---------------------------------------------------------------------------------
def test_delay_unit_is_0_8192_us():
    # Spec: docs/hardware.md §1.6: TIDV and RDTR count in 0.8192 µs.
    assert timing.DELAY_UNIT_NS == 819.2
    assert int(72 * timing.DELAY_UNIT_NS) == 58982
