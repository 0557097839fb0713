"""ethtool, the driver's side: the optional ``ethtool_ops`` and the structures they fill.

Mirrors Linux's ``include/linux/ethtool.h`` (``struct ethtool_ops`` and the structures it
fills), ``ethtool_op_get_link`` from ``net/ethtool/common.c`` and ``netdev_drivername`` from
``net/core/dev.c``.  The calls ``ethtool`` makes on these ops (the ioctl layer, which needs
the net_device core) are in ``ethtool_ioctl.py``; this module imports nothing of the core, so
``netdevice.py`` can hold an :class:`EthtoolOps` without a cycle.

Contract for a driver: subclass :class:`EthtoolOps` and define the methods you support; an
attribute left at None means "not supported" (``-EOPNOTSUPP``).  Getters *return* the
structure (``get_ringparam(dev) -> EthtoolRingparam``) instead of filling one in; setters take
it and return 0 or a negative errno, like every ``ndo_*``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice

ETH_SS_TEST = 0
ETH_SS_STATS = 1
ETH_SS_PRIV_FLAGS = 2

SPEED_10000 = 10000
DUPLEX_HALF = 0
DUPLEX_FULL = 1
PORT_FIBRE = 0x03
PORT_OTHER = 0xFF
AUTONEG_DISABLE = 0
AUTONEG_ENABLE = 1


@dataclass(slots=True)
class EthtoolDrvinfo:
    driver: str = ""
    version: str = ""
    fw_version: str = ""
    bus_info: str = ""
    n_stats: int = 0
    testinfo_len: int = 0
    eedump_len: int = 0
    regdump_len: int = 0


@dataclass(slots=True)
class EthtoolRingparam:
    rx_max_pending: int = 0
    rx_mini_max_pending: int = 0
    rx_jumbo_max_pending: int = 0
    tx_max_pending: int = 0
    rx_pending: int = 0
    rx_mini_pending: int = 0
    rx_jumbo_pending: int = 0
    tx_pending: int = 0


@dataclass(slots=True)
class EthtoolCoalesce:
    rx_coalesce_usecs: int = 0
    rx_max_coalesced_frames: int = 0
    rx_coalesce_usecs_irq: int = 0
    rx_max_coalesced_frames_irq: int = 0
    tx_coalesce_usecs: int = 0
    tx_max_coalesced_frames: int = 0
    tx_coalesce_usecs_irq: int = 0
    tx_max_coalesced_frames_irq: int = 0
    use_adaptive_rx_coalesce: int = 0
    use_adaptive_tx_coalesce: int = 0


@dataclass(slots=True)
class EthtoolPauseparam:
    autoneg: int = 0
    rx_pause: int = 0
    tx_pause: int = 0


@dataclass(slots=True)
class EthtoolRegs:
    version: int = 0
    data: bytes = b""  # little-endian register words, get_regs_len bytes


@dataclass(slots=True)
class EthtoolLinkSettings:
    speed: int = 0
    duplex: int = DUPLEX_FULL
    port: int = PORT_OTHER
    autoneg: int = AUTONEG_DISABLE


class EthtoolOps:
    """The driver's ethtool callbacks (each takes the net_device first); None = unsupported."""

    get_drvinfo: Callable[[NetDevice], EthtoolDrvinfo] | None = None
    get_link: Callable[[NetDevice], int] | None = None
    get_link_ksettings: Callable[[NetDevice], EthtoolLinkSettings] | None = None
    get_msglevel: Callable[[NetDevice], int] | None = None
    set_msglevel: Callable[[NetDevice, int], None] | None = None
    get_ringparam: Callable[[NetDevice], EthtoolRingparam] | None = None
    set_ringparam: Callable[[NetDevice, EthtoolRingparam], int] | None = None
    get_coalesce: Callable[[NetDevice], EthtoolCoalesce] | None = None
    set_coalesce: Callable[[NetDevice, EthtoolCoalesce], int] | None = None
    get_pauseparam: Callable[[NetDevice], EthtoolPauseparam] | None = None
    set_pauseparam: Callable[[NetDevice, EthtoolPauseparam], int] | None = None
    get_sset_count: Callable[[NetDevice, int], int] | None = None
    get_strings: Callable[[NetDevice, int], list[str]] | None = None
    get_ethtool_stats: Callable[[NetDevice], list[int]] | None = None
    get_regs_len: Callable[[NetDevice], int] | None = None
    get_regs: Callable[[NetDevice], EthtoolRegs] | None = None
    get_eeprom_len: Callable[[NetDevice], int] | None = None
    get_eeprom: Callable[[NetDevice, int, int], bytes] | None = None  # (dev, offset, length)
    set_eeprom: Callable[[NetDevice, int, int, bytes], int] | None = None  # (magic, offset, data)


def netdev_drivername(dev: NetDevice) -> str:
    """The driver's name for messages: ``dev.driver_name``, else what get_drvinfo says."""
    if dev.driver_name:
        return dev.driver_name
    get_drvinfo = getattr(dev.ethtool_ops, "get_drvinfo", None)
    return get_drvinfo(dev).driver if get_drvinfo is not None else ""


def ethtool_op_get_link(dev: NetDevice) -> int:
    """The generic get_link: the carrier state."""
    return int(dev.carrier_ok())
