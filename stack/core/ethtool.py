"""ethtool: the driver's optional ``ethtool_ops`` and the calls ``ethtool`` makes on them.

Mirrors Linux's ``include/linux/ethtool.h`` (``struct ethtool_ops`` and the structures it
fills) and ``net/ethtool/ioctl.c`` (``ethtool_get_drvinfo``, ``ethtool_get_stats``, ...).

Contract for a driver: subclass :class:`EthtoolOps` and define the methods you support; an
attribute left at None means "not supported" (``-EOPNOTSUPP``).  Getters *return* the
structure (``get_ringparam(dev) -> EthtoolRingparam``) instead of filling one in; setters take
it and return 0 or a negative errno, like every ``ndo_*``.

The ``ethtool_*`` helpers below are the ioctl boundary that the CLI and tests call: they raise
``OSError`` with the errno (``EOPNOTSUPP`` for a missing op) rather than returning it.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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


def _op(dev: NetDevice, name: str) -> Callable[..., Any]:
    fn = getattr(dev.ethtool_ops, name, None)
    if fn is None:
        raise OSError(errno.EOPNOTSUPP, f"{dev.name}: ethtool {name} not supported")
    return fn  # type: ignore[no-any-return]


def _check(dev: NetDevice, name: str, ret: int | None) -> None:
    if ret:
        raise OSError(-ret, f"{dev.name}: ethtool {name} failed ({ret})")


def netdev_drivername(dev: NetDevice) -> str:
    """The driver's name for messages: ``dev.driver_name``, else what get_drvinfo says."""
    if dev.driver_name:
        return dev.driver_name
    get_drvinfo = getattr(dev.ethtool_ops, "get_drvinfo", None)
    return get_drvinfo(dev).driver if get_drvinfo is not None else ""


def ethtool_op_get_link(dev: NetDevice) -> int:
    """The generic get_link: the carrier state."""
    return int(dev.carrier_ok())


def ethtool_get_drvinfo(dev: NetDevice) -> EthtoolDrvinfo:
    """``ethtool -i``: the driver's answer, with the counts the core fills in."""
    info = _op(dev, "get_drvinfo")(dev)
    ops = dev.ethtool_ops
    if ops.get_sset_count is not None:
        info.n_stats = ops.get_sset_count(dev, ETH_SS_STATS)
    if ops.get_regs_len is not None:
        info.regdump_len = ops.get_regs_len(dev)
    if ops.get_eeprom_len is not None:
        info.eedump_len = ops.get_eeprom_len(dev)
    return info  # type: ignore[no-any-return]


def ethtool_get_link(dev: NetDevice) -> bool:
    get_link = dev.ethtool_ops.get_link or ethtool_op_get_link
    return bool(get_link(dev))


def ethtool_get_link_ksettings(dev: NetDevice) -> EthtoolLinkSettings:
    return _op(dev, "get_link_ksettings")(dev)  # type: ignore[no-any-return]


def ethtool_get_stats(dev: NetDevice) -> dict[str, int]:
    """``ethtool -S``: the driver's statistics by name."""
    names = _op(dev, "get_strings")(dev, ETH_SS_STATS)
    values = _op(dev, "get_ethtool_stats")(dev)
    if len(names) != len(values):
        raise OSError(errno.EINVAL, f"{dev.name}: {len(names)} stat names, {len(values)} values")
    return dict(zip(names, values, strict=True))


def ethtool_get_regs(dev: NetDevice) -> EthtoolRegs:
    """``ethtool -d``: the register dump (its length is get_regs_len)."""
    regs = _op(dev, "get_regs")(dev)
    length = _op(dev, "get_regs_len")(dev)
    if len(regs.data) != length:
        raise OSError(errno.EINVAL, f"{dev.name}: get_regs gave {len(regs.data)} of "
                      f"{length} bytes")
    return regs  # type: ignore[no-any-return]


def ethtool_get_eeprom(dev: NetDevice, offset: int = 0, length: int | None = None) -> bytes:
    """``ethtool -e``: bytes of the EEPROM, bounds-checked against get_eeprom_len."""
    total = _op(dev, "get_eeprom_len")(dev)
    if length is None:
        length = total - offset
    if offset < 0 or length < 0 or offset + length > total:
        raise OSError(errno.EINVAL, f"{dev.name}: EEPROM is {total} bytes")
    return bytes(_op(dev, "get_eeprom")(dev, offset, length))


def ethtool_set_eeprom(dev: NetDevice, magic: int, offset: int, data: bytes) -> None:
    """``ethtool -E``: write EEPROM bytes; the driver checks ``magic``."""
    total = _op(dev, "get_eeprom_len")(dev)
    if offset < 0 or offset + len(data) > total:
        raise OSError(errno.EINVAL, f"{dev.name}: EEPROM is {total} bytes")
    _check(dev, "set_eeprom", _op(dev, "set_eeprom")(dev, magic, offset, bytes(data)))


def ethtool_get_ringparam(dev: NetDevice) -> EthtoolRingparam:
    return _op(dev, "get_ringparam")(dev)  # type: ignore[no-any-return]


def ethtool_set_ringparam(dev: NetDevice, ring: EthtoolRingparam) -> None:
    """``ethtool -G``: bounds are checked against the driver's maxima first, as Linux does."""
    cur = ethtool_get_ringparam(dev)
    if ring.rx_pending > cur.rx_max_pending or ring.tx_pending > cur.tx_max_pending:
        raise OSError(errno.EINVAL, f"{dev.name}: ring size above the maximum")
    _check(dev, "set_ringparam", _op(dev, "set_ringparam")(dev, ring))


def ethtool_get_coalesce(dev: NetDevice) -> EthtoolCoalesce:
    return _op(dev, "get_coalesce")(dev)  # type: ignore[no-any-return]


def ethtool_set_coalesce(dev: NetDevice, coal: EthtoolCoalesce) -> None:
    _check(dev, "set_coalesce", _op(dev, "set_coalesce")(dev, coal))


def ethtool_get_pauseparam(dev: NetDevice) -> EthtoolPauseparam:
    return _op(dev, "get_pauseparam")(dev)  # type: ignore[no-any-return]


def ethtool_set_pauseparam(dev: NetDevice, pause: EthtoolPauseparam) -> None:
    _check(dev, "set_pauseparam", _op(dev, "set_pauseparam")(dev, pause))


def ethtool_set_features(dev: NetDevice, on: int = 0, off: int = 0) -> int:
    """``ethtool -K``: switch changeable features on/off; returns the resulting features.

    Bits outside ``dev.hw_features`` are fixed and raise ``EOPNOTSUPP``; what the device
    finally runs with is decided by ``netdev_update_features`` (the driver's fix_features may
    refuse a combination).
    """
    from stack.core.netdevice import netdev_update_features  # the ioctl layer sits above

    fixed = (on | off) & ~dev.hw_features
    if fixed:
        raise OSError(errno.EOPNOTSUPP, f"{dev.name}: features {fixed:#x} are fixed")
    dev.wanted_features = (dev.wanted_features | on) & ~off
    netdev_update_features(dev)
    return dev.features
