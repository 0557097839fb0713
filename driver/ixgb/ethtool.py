"""ethtool support: driver info, link, rings, coalescing, pause, statistics, registers, EEPROM.

Mirrors Linux's ``ixgb_ethtool.c``.  Spec: docs/hardware.md §2.14.  Getters return the
``stack.core.ethtool`` structures; setters return 0 or a negative errno.

Differences, said out loud: ixgb never had ``get/set_coalesce``; ixsim adds them over the two
delay registers the driver programs (TIDV for TX, RDTR for RX, in 0.8192 µs ticks), since
they are what "interrupts per frame" depends on.  ``get_regs`` reads the registers through
BAR0 as Linux does, so the dump clears ICR (use the device's non-destructive peek to avoid
that); its version word is ``1 << 24 | revision << 16 | device_id``.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from device.spec import regs as R
from device.spec.eeprom import EEPROM_BYTES, EEPROM_CHECKSUM
from device.spec.timing import DELAY_UNIT_NS
from driver.ixgb import ee, updown
from driver.ixgb.adapter import (
    ALL_RAR_ENTRIES,
    FC_FULL,
    FC_NONE,
    FC_RX_PAUSE,
    FC_TX_PAUSE,
    MAX_RXD,
    MAX_TXD,
    MIN_RXD,
    MIN_TXD,
    REQ_RX_DESCRIPTOR_MULTIPLE,
    REQ_TX_DESCRIPTOR_MULTIPLE,
    Adapter,
    DescRing,
)
from driver.ixgb.hw import STAT_KEYS
from driver.ixgb.ring import (
    free_rx_resources,
    free_tx_resources,
    setup_rx_resources,
    setup_tx_resources,
)
from driver.ixgb.watchdog import update_stats
from stack.core import (
    AUTONEG_DISABLE,
    AUTONEG_ENABLE,
    DUPLEX_FULL,
    ETH_SS_STATS,
    PORT_FIBRE,
    SPEED_10000,
    EthtoolCoalesce,
    EthtoolDrvinfo,
    EthtoolLinkSettings,
    EthtoolOps,
    EthtoolPauseparam,
    EthtoolRegs,
    EthtoolRingparam,
    netif_carrier_ok,
    netif_running,
)

DRIVER_NAME = "ixgb"
DRIVER_VERSION = "2.0.0-k"
SPEED_UNKNOWN = -1
DUPLEX_UNKNOWN = 0xFF
REG_DUMP_LEN = 136 * 4
EEPROM_LEN = EEPROM_BYTES

# (ethtool name, where it lives): "netdev" stats fields, adapter counters, or "hw" counters.
GSTRINGS_STATS: tuple[tuple[str, str, str], ...] = (
    ("rx_packets", "netdev", "rx_packets"),
    ("tx_packets", "netdev", "tx_packets"),
    ("rx_bytes", "netdev", "rx_bytes"),
    ("tx_bytes", "netdev", "tx_bytes"),
    ("rx_errors", "netdev", "rx_errors"),
    ("tx_errors", "netdev", "tx_errors"),
    ("rx_dropped", "netdev", "rx_dropped"),
    ("tx_dropped", "netdev", "tx_dropped"),
    ("multicast", "netdev", "multicast"),
    ("collisions", "netdev", "collisions"),
    ("rx_over_errors", "netdev", "rx_over_errors"),
    ("rx_crc_errors", "netdev", "rx_crc_errors"),
    ("rx_frame_errors", "netdev", "rx_frame_errors"),
    ("rx_no_buffer_count", "hw", "rnbc"),
    ("rx_fifo_errors", "netdev", "rx_fifo_errors"),
    ("rx_missed_errors", "netdev", "rx_missed_errors"),
    ("tx_aborted_errors", "netdev", "tx_aborted_errors"),
    ("tx_carrier_errors", "netdev", "tx_carrier_errors"),
    ("tx_fifo_errors", "netdev", "tx_fifo_errors"),
    ("tx_heartbeat_errors", "netdev", "tx_heartbeat_errors"),
    ("tx_window_errors", "netdev", "tx_window_errors"),
    ("tx_deferred_ok", "hw", "dc"),
    ("tx_timeout_count", "adapter", "tx_timeout_count"),
    ("tx_restart_queue", "adapter", "restart_queue"),
    ("rx_long_length_errors", "hw", "roc"),
    ("rx_short_length_errors", "hw", "ruc"),
    ("tx_tcp_seg_good", "hw", "tsctc"),
    ("tx_tcp_seg_failed", "hw", "tsctfc"),
    ("rx_flow_control_xon", "hw", "xonrxc"),
    ("rx_flow_control_xoff", "hw", "xoffrxc"),
    ("tx_flow_control_xon", "hw", "xontxc"),
    ("tx_flow_control_xoff", "hw", "xofftxc"),
    ("rx_csum_offload_good", "adapter", "hw_csum_rx_good"),
    ("rx_csum_offload_errors", "adapter", "hw_csum_rx_error"),
    ("tx_csum_offload_good", "adapter", "hw_csum_tx_good"),
    ("tx_csum_offload_errors", "adapter", "hw_csum_tx_error"),
)

_DUMP_OFFSETS = [R.BY_NAME[name].offset for name in R.ETHTOOL_DUMP_ORDER]
_DUMP = struct.Struct(f"<{len(_DUMP_OFFSETS) + len(STAT_KEYS)}I")
assert _DUMP.size == REG_DUMP_LEN and len(R.ETHTOOL_DUMP_ORDER) == 44 + 2 * ALL_RAR_ENTRIES


def _adapter(netdev: Any) -> Adapter:
    return netdev.priv  # type: ignore[no-any-return]


def get_drvinfo(netdev: Any) -> EthtoolDrvinfo:
    return EthtoolDrvinfo(driver=DRIVER_NAME, version=DRIVER_VERSION,
                          bus_info=_adapter(netdev).pdev.name)


def get_link_ksettings(netdev: Any) -> EthtoolLinkSettings:
    """10000/full on fibre while carrier is up; autonegotiation never."""
    if netif_carrier_ok(netdev):
        return EthtoolLinkSettings(SPEED_10000, DUPLEX_FULL, PORT_FIBRE, AUTONEG_DISABLE)
    return EthtoolLinkSettings(SPEED_UNKNOWN, DUPLEX_UNKNOWN, PORT_FIBRE, AUTONEG_DISABLE)


def get_msglevel(netdev: Any) -> int:
    return _adapter(netdev).msg_enable


def set_msglevel(netdev: Any, value: int) -> None:
    _adapter(netdev).msg_enable = value


def get_ringparam(netdev: Any) -> EthtoolRingparam:
    adapter = _adapter(netdev)
    return EthtoolRingparam(rx_max_pending=MAX_RXD, tx_max_pending=MAX_TXD,
                            rx_pending=adapter.rx_ring.count, tx_pending=adapter.tx_ring.count)


def _clamp_align(value: int, low: int, high: int, multiple: int) -> int:
    value = min(max(value, low), high)
    return (value + multiple - 1) // multiple * multiple


def set_ringparam(netdev: Any, ring: EthtoolRingparam) -> int:
    """New ring sizes (clamped and rounded up to 8); on a running device the new rings are
    allocated before the old ones are freed, so a failure leaves the old ones working."""
    if ring.rx_mini_pending or ring.rx_jumbo_pending:
        return -errno.EINVAL
    adapter = _adapter(netdev)
    running = netif_running(netdev)
    if running:
        updown.down(adapter, True)
    tx_old, rx_old = adapter.tx_ring, adapter.rx_ring
    rx_new = DescRing(_clamp_align(ring.rx_pending, MIN_RXD, MAX_RXD,
                                   REQ_RX_DESCRIPTOR_MULTIPLE))
    tx_new = DescRing(_clamp_align(ring.tx_pending, MIN_TXD, MAX_TXD,
                                   REQ_TX_DESCRIPTOR_MULTIPLE))
    adapter.tx_ring, adapter.rx_ring = tx_new, rx_new
    if not running:
        return 0
    err = setup_rx_resources(adapter)
    if not err:
        err = setup_tx_resources(adapter)
        if err:
            free_rx_resources(adapter)
    if err:
        adapter.tx_ring, adapter.rx_ring = tx_old, rx_old
        updown.up(adapter)
        return err
    adapter.tx_ring, adapter.rx_ring = tx_old, rx_old
    free_rx_resources(adapter)
    free_tx_resources(adapter)
    adapter.tx_ring, adapter.rx_ring = tx_new, rx_new
    err = updown.up(adapter)
    if err:
        return err
    updown.set_speed_duplex(netdev)
    return 0


def _ticks_to_usecs(ticks: int) -> int:
    return round(ticks * DELAY_UNIT_NS / 1000)


def _usecs_to_ticks(usecs: int) -> int:
    return round(usecs * 1000 / DELAY_UNIT_NS)


def get_coalesce(netdev: Any) -> EthtoolCoalesce:
    """RDTR and TIDV as microseconds (an ixsim addition, see the module docstring)."""
    adapter = _adapter(netdev)
    return EthtoolCoalesce(rx_coalesce_usecs=_ticks_to_usecs(adapter.rx_int_delay),
                           tx_coalesce_usecs=_ticks_to_usecs(adapter.tx_int_delay))


def set_coalesce(netdev: Any, coal: EthtoolCoalesce) -> int:
    """Program RDTR/TIDV (0..65535 ticks); kept across resets like the module parameters."""
    rx = _usecs_to_ticks(coal.rx_coalesce_usecs)
    tx = _usecs_to_ticks(coal.tx_coalesce_usecs)
    unsupported = (coal.rx_max_coalesced_frames, coal.tx_max_coalesced_frames,
                   coal.rx_coalesce_usecs_irq, coal.tx_coalesce_usecs_irq,
                   coal.rx_max_coalesced_frames_irq, coal.tx_max_coalesced_frames_irq,
                   coal.use_adaptive_rx_coalesce, coal.use_adaptive_tx_coalesce)
    if any(unsupported) or not 0 <= rx <= 0xFFFF or not 0 <= tx <= 0xFFFF:
        return -errno.EINVAL
    adapter = _adapter(netdev)
    adapter.rx_int_delay = rx
    adapter.tx_int_delay = tx
    if netif_running(netdev):
        adapter.hw.write32(R.RDTR, rx)
        adapter.hw.write32(R.TIDV, tx)
    return 0


def get_pauseparam(netdev: Any) -> EthtoolPauseparam:
    fc = _adapter(netdev).hw.fc.type
    return EthtoolPauseparam(autoneg=AUTONEG_DISABLE,
                             rx_pause=int(fc in (FC_RX_PAUSE, FC_FULL)),
                             tx_pause=int(fc in (FC_TX_PAUSE, FC_FULL)))


def set_pauseparam(netdev: Any, pause: EthtoolPauseparam) -> int:
    if pause.autoneg == AUTONEG_ENABLE:
        return -errno.EINVAL
    adapter = _adapter(netdev)
    if pause.rx_pause and pause.tx_pause:
        adapter.hw.fc.type = FC_FULL
    elif pause.rx_pause:
        adapter.hw.fc.type = FC_RX_PAUSE
    elif pause.tx_pause:
        adapter.hw.fc.type = FC_TX_PAUSE
    else:
        adapter.hw.fc.type = FC_NONE
    if netif_running(netdev):
        updown.down(adapter, True)
        updown.up(adapter)
        updown.set_speed_duplex(netdev)
    else:
        updown.reset(adapter)
    return 0


def get_sset_count(netdev: Any, sset: int) -> int:
    return len(GSTRINGS_STATS) if sset == ETH_SS_STATS else -errno.EOPNOTSUPP


def get_strings(netdev: Any, sset: int) -> list[str]:
    return [name for name, _where, _field in GSTRINGS_STATS] if sset == ETH_SS_STATS else []


def get_ethtool_stats(netdev: Any) -> list[int]:
    adapter = _adapter(netdev)
    update_stats(adapter)
    out = []
    for _name, where, field in GSTRINGS_STATS:
        if where == "netdev":
            out.append(int(getattr(netdev.stats, field, 0)))
        elif where == "hw":
            out.append(adapter.stats.get(field, 0))
        else:
            out.append(int(getattr(adapter, field)))
    return out


def get_regs_len(netdev: Any) -> int:
    return REG_DUMP_LEN


def get_regs(netdev: Any) -> EthtoolRegs:
    """76 registers in ethtool's order, then the 60 accumulated statistics words."""
    adapter = _adapter(netdev)
    hw = adapter.hw
    read32 = hw.read32
    words = [read32(off) for off in _DUMP_OFFSETS]
    stats = adapter.stats
    words.extend(stats.get(key, 0) & 0xFFFFFFFF for key in STAT_KEYS)
    version = 1 << 24 | hw.revision_id << 16 | hw.device_id
    return EthtoolRegs(version=version, data=_DUMP.pack(*words))


def get_eeprom_len(netdev: Any) -> int:
    return EEPROM_LEN


def eeprom_magic(adapter: Adapter) -> int:
    return adapter.hw.vendor_id | adapter.hw.device_id << 16


def get_eeprom(netdev: Any, offset: int, length: int) -> bytes:
    """Bytes of the EEPROM from the driver's cache (re-read if a write invalidated it)."""
    if length <= 0 or offset < 0:
        return b""
    hw = _adapter(netdev).hw
    length = min(length, EEPROM_LEN - offset)
    first, last = offset >> 1, (offset + length - 1) >> 1
    raw = b"".join(ee.get_eeprom_word(hw, w).to_bytes(2, "little")
                   for w in range(first, last + 1))
    start = offset & 1
    return raw[start : start + length]


def set_eeprom(netdev: Any, magic: int, offset: int, data: bytes) -> int:
    """Write bytes (odd edges read-modify-write), then fix the checksum word."""
    if not data:
        return -errno.EINVAL
    adapter = _adapter(netdev)
    if magic != eeprom_magic(adapter):
        return -errno.EFAULT
    hw = adapter.hw
    length = min(len(data), EEPROM_LEN - offset)
    first, last = offset >> 1, (offset + length - 1) >> 1
    buf = bytearray((last - first + 1) * 2)
    if offset & 1:
        buf[0:2] = ee.read_eeprom(hw, first).to_bytes(2, "little")
    if (offset + length) & 1:
        buf[-2:] = ee.read_eeprom(hw, last).to_bytes(2, "little")
    start = offset & 1
    buf[start : start + length] = data[:length]
    for i in range(last - first + 1):
        ee.write_eeprom(hw, first + i, int.from_bytes(buf[2 * i : 2 * i + 2], "little"))
    if first <= EEPROM_CHECKSUM:
        ee.update_eeprom_checksum(hw)
    return 0


class IxgbEthtoolOps(EthtoolOps):
    """The ``ethtool_ops`` table (Linux's ``ixgb_ethtool_ops``)."""

    get_drvinfo = staticmethod(get_drvinfo)
    get_link_ksettings = staticmethod(get_link_ksettings)
    get_msglevel = staticmethod(get_msglevel)
    set_msglevel = staticmethod(set_msglevel)
    get_ringparam = staticmethod(get_ringparam)
    set_ringparam = staticmethod(set_ringparam)
    get_coalesce = staticmethod(get_coalesce)
    set_coalesce = staticmethod(set_coalesce)
    get_pauseparam = staticmethod(get_pauseparam)
    set_pauseparam = staticmethod(set_pauseparam)
    get_sset_count = staticmethod(get_sset_count)
    get_strings = staticmethod(get_strings)
    get_ethtool_stats = staticmethod(get_ethtool_stats)
    get_regs_len = staticmethod(get_regs_len)
    get_regs = staticmethod(get_regs)
    get_eeprom_len = staticmethod(get_eeprom_len)
    get_eeprom = staticmethod(get_eeprom)
    set_eeprom = staticmethod(set_eeprom)


ETHTOOL_OPS = IxgbEthtoolOps()
