"""The 82597EX's PCI identity: vendor, device and subsystem IDs, class code, revision.

Mirrors Linux's ``drivers/net/ethernet/intel/ixgb/ixgb_ids.h`` and ``include/linux/pci_ids.h``.
Declared once; the machine builds the function's config space from these names, the driver
builds its ``ixgb_pci_tbl`` (``driver.ixgb.PCI_IDS``) and picks the PHY from them, and the
firmware tools store them in the EEPROM (words 0x0B..0x0E).

Spec: docs/hardware.md §1.1.
"""

from __future__ import annotations

# Vendors (pci_ids.h).
PCI_VENDOR_ID_INTEL = 0x8086
PCI_VENDOR_ID_SUN = 0x108E  # as a subsystem vendor: Sun boards (BCM PHY, GPI0 interrupt)

# Device IDs (ixgb_ids.h IXGB_DEVICE_ID_*).
IXGB_DEVICE_ID_82597EX = 0x1048
IXGB_DEVICE_ID_82597EX_SR = 0x1A48
IXGB_DEVICE_ID_82597EX_LR = 0x1B48
IXGB_DEVICE_ID_82597EX_CX4 = 0x109E

# Subsystem (board) IDs (ixgb_ids.h IXGB_SUBDEVICE_ID_*).
IXGB_SUBDEVICE_ID_A11F = 0xA11F
IXGB_SUBDEVICE_ID_A01F = 0xA01F
IXGB_SUBDEVICE_ID_A00C = 0xA00C
IXGB_SUBDEVICE_ID_A01C = 0xA01C
IXGB_SUBDEVICE_ID_7036 = 0x7036

# The 24-bit class code (base class, subclass, programming interface): an Ethernet
# controller (pci_ids.h PCI_CLASS_NETWORK_ETHERNET is the upper 16 bits, 0x0200).
PCI_CLASS_NETWORK_ETHERNET = 0x0200
CLASS_CODE_ETHERNET = PCI_CLASS_NETWORK_ETHERNET << 8

# What ixsim's emulated board reports unless told otherwise: the original 82597EX on an
# Intel board (subsystem 0xA11F), revision 0.
DEFAULT_VENDOR_ID = PCI_VENDOR_ID_INTEL
DEFAULT_DEVICE_ID = IXGB_DEVICE_ID_82597EX
DEFAULT_SUBSYSTEM_VENDOR_ID = PCI_VENDOR_ID_INTEL
DEFAULT_SUBSYSTEM_ID = IXGB_SUBDEVICE_ID_A11F
DEFAULT_REVISION_ID = 0

#: Display names, for the CLI and the shell.
DEVICE_NAMES: dict[int, str] = {
    IXGB_DEVICE_ID_82597EX: "82597EX",
    IXGB_DEVICE_ID_82597EX_SR: "82597EX_SR",
    IXGB_DEVICE_ID_82597EX_LR: "82597EX_LR",
    IXGB_DEVICE_ID_82597EX_CX4: "82597EX_CX4",
}
