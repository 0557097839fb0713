"""The ixgb driver: Intel 82597EX PRO/10GbE, modelled on Linux's drivers/net/ethernet/intel/ixgb.

Public API (what a Host assembly calls)::

    from driver import ixgb
    if ixgb.match(pci_dev):                              # vendor/device in PCI_IDS
        netdev = ixgb.probe(kernel, pci_dev, RxDescriptors=256, copybreak=256)
    stack.core.dev_open(netdev)                          # ndo_open: rings, IRQ, watchdog
    ...
    ixgb.remove(netdev)                                  # close, unregister, disable

``probe`` raises :class:`ProbeError` (an ``OSError`` with errno EIO and the kernel log line as
its message) for a device it refuses; nothing is left behind then.  Module parameters are the
keyword arguments (names and defaults in :mod:`driver.ixgb.param`).

Layout (one concern per module, Linux's file in brackets): ``adapter`` (ixgb.h), ``hw``
(ixgb_hw.c), ``ee`` (ixgb_ee.c), ``main`` / ``updown`` / ``ring`` / ``rxfilter`` (ixgb_main.c:
probe/remove and ops, open/close and up/down, rings, receive filters), ``tx`` / ``rx`` /
``intr`` / ``watchdog`` (ixgb_main.c: data path), ``ethtool`` (ixgb_ethtool.c), ``param``
(ixgb_param.c).
"""

from __future__ import annotations

from typing import Any

from device.spec.bus import PciDevice
from device.spec.ids import (
    IXGB_DEVICE_ID_82597EX,
    IXGB_DEVICE_ID_82597EX_CX4,
    IXGB_DEVICE_ID_82597EX_LR,
    IXGB_DEVICE_ID_82597EX_SR,
    PCI_VENDOR_ID_INTEL,
)
from driver.ixgb.adapter import Adapter
from driver.ixgb.ethtool import ETHTOOL_OPS
from driver.ixgb.main import DRIVER_STRING, ERR_HANDLER, ProbeError
from driver.ixgb.main import probe as _probe
from driver.ixgb.main import remove as _remove
from driver.ixgb.param import OPTIONS

DRIVER_NAME = "ixgb"
err_handler = ERR_HANDLER  # the pci_driver's err_handler: AER recovery (device/pcierr.py)

# (vendor, device) pairs the driver binds to (Linux's ixgb_pci_tbl; any subsystem).
PCI_IDS: tuple[tuple[int, int], ...] = (
    (PCI_VENDOR_ID_INTEL, IXGB_DEVICE_ID_82597EX),
    (PCI_VENDOR_ID_INTEL, IXGB_DEVICE_ID_82597EX_CX4),
    (PCI_VENDOR_ID_INTEL, IXGB_DEVICE_ID_82597EX_SR),
    (PCI_VENDOR_ID_INTEL, IXGB_DEVICE_ID_82597EX_LR),
)


def match(pci_dev: PciDevice) -> bool:
    """True when ``pci_dev`` is one of the 82597EX parts in :data:`PCI_IDS`."""
    return (pci_dev.vendor, pci_dev.device) in PCI_IDS


def probe(kernel: Any, pci_dev: PciDevice, **params: Any) -> Any:
    """Bind to ``pci_dev`` and register a net_device (named eth0, eth1, ... by the core).

    Raises ProbeError for a device not in PCI_IDS, a bad EEPROM (checksum, signature) or an
    invalid MAC address; TypeError for an unknown module parameter.
    """
    if not match(pci_dev):
        message = (f"{DRIVER_NAME} {pci_dev.name}: device {pci_dev.vendor:04x}:"
                   f"{pci_dev.device:04x} is not an 82597EX")
        raise ProbeError(19, message)  # ENODEV
    return _probe(kernel, pci_dev, dict(params), ETHTOOL_OPS)


def remove(netdev: Any) -> None:
    """Unbind: close the device if open, unregister it, disable the PCI function."""
    _remove(netdev)


def adapter_of(netdev: Any) -> Adapter:
    """The driver's private state behind a net_device it registered (for debuggers/tests)."""
    return netdev.priv  # type: ignore[no-any-return]


__all__ = ["DRIVER_NAME", "DRIVER_STRING", "OPTIONS", "PCI_IDS", "Adapter", "ProbeError",
           "adapter_of", "err_handler", "match", "probe", "remove"]
