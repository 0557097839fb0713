"""ethtool, the user's side: the ioctl layer the CLI and tests call on a driver's ``ethtool_ops``.

Mirrors Linux's ``net/ethtool/ioctl.c`` (``ethtool_get_drvinfo``, ``ethtool_get_stats``,
``ethtool_set_features``, ...).  The ops and structures a driver fills are in ``ethtool.py``.

Contract: each ``ethtool_*`` call raises ``OSError`` with the errno (``EOPNOTSUPP`` for a
missing op, ``EINVAL`` for a request out of bounds) rather than returning it; bounds are
checked against the driver's own maxima before the driver is called, as Linux does.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stack.core.ethtool import (
    ETH_SS_STATS,
    EthtoolCoalesce,
    EthtoolDrvinfo,
    EthtoolLinkSettings,
    EthtoolPauseparam,
    EthtoolRegs,
    EthtoolRingparam,
    ethtool_op_get_link,
)
from stack.core.features import NETDEV_FEATURE_NAMES, netdev_feature_mask
from stack.core.netdevice import netdev_update_features

if TYPE_CHECKING:
    from stack.core.netdevice import NetDevice


def _op(dev: NetDevice, name: str) -> Callable[..., Any]:
    fn = getattr(dev.ethtool_ops, name, None)
    if fn is None:
        raise OSError(errno.EOPNOTSUPP, f"{dev.name}: ethtool {name} not supported")
    return fn  # type: ignore[no-any-return]


def _check(dev: NetDevice, name: str, ret: int | None) -> None:
    if ret:
        raise OSError(-ret, f"{dev.name}: ethtool {name} failed ({ret})")


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
    fixed = (on | off) & ~dev.hw_features
    if fixed:
        raise OSError(errno.EOPNOTSUPP, f"{dev.name}: features {fixed:#x} are fixed")
    dev.wanted_features = (dev.wanted_features | on) & ~off
    netdev_update_features(dev)
    return dev.features


def ethtool_get_features(dev: NetDevice) -> list[tuple[str, bool, bool]]:
    """``ethtool -k``: (name, on, fixed) for every named feature, in bit order.

    ``fixed`` is Linux's "[fixed]": the bit is not in ``hw_features``, so ``-K`` cannot
    change it.
    """
    return [(name, bool(dev.features & bit), not dev.hw_features & bit)
            for bit, name in sorted(NETDEV_FEATURE_NAMES.items())]


def ethtool_set_features_by_name(dev: NetDevice, changes: dict[str, bool]) -> int:
    """``ethtool -K DEV NAME on|off ...``: the resulting ``dev.features``.

    A name is an ethtool group (``sg``, ``tso``, ``tx``, ``rx``, ``gso``, ``gro``, ``lro``,
    ``rxvlan``, ``txvlan`` or their long forms) or one feature's name.  As Linux's
    ``ethtool_set_one_feature``, only the changeable bits of a group move; a name with none
    (all fixed) is ``EOPNOTSUPP`` and an unknown name ``EINVAL``, both before anything
    changes.  The core and the driver then decide (``netdev_update_features``): TSO without
    SG or a TX checksum is dropped, so the result may differ from the request, which
    ``ethtool`` reports as "[requested on]".
    """
    on = off = 0
    for name, value in changes.items():
        mask = netdev_feature_mask(name)
        if mask is None:
            raise OSError(errno.EINVAL, f"{dev.name}: unknown feature {name!r}")
        mask &= dev.hw_features
        if not mask:
            raise OSError(errno.EOPNOTSUPP, f"{dev.name}: {name} cannot be changed [fixed]")
        if value:
            on |= mask
        else:
            off |= mask
    return ethtool_set_features(dev, on=on, off=off)
