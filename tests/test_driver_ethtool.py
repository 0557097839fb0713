"""ethtool through stack.core's ioctl helpers: info, link, rings, coalesce, pause, stats,
registers and EEPROM."""

from __future__ import annotations

import errno
import struct

import pytest
from helpers.driver import MAC_A, DriverPair

from device.spec import regs as R
from driver.ixgb.ethtool import GSTRINGS_STATS
from firmware.layout import checksum_ok
from stack.core.ethtool import (
    EthtoolCoalesce,
    EthtoolPauseparam,
    EthtoolRingparam,
)
from stack.core.ethtool_ioctl import (
    ethtool_get_coalesce,
    ethtool_get_drvinfo,
    ethtool_get_eeprom,
    ethtool_get_link,
    ethtool_get_link_ksettings,
    ethtool_get_pauseparam,
    ethtool_get_regs,
    ethtool_get_ringparam,
    ethtool_get_stats,
    ethtool_set_coalesce,
    ethtool_set_eeprom,
    ethtool_set_features,
    ethtool_set_pauseparam,
    ethtool_set_ringparam,
)
from stack.core.features import NETIF_F_RXCSUM


def test_drvinfo_and_link():
    w = DriverPair()
    info = ethtool_get_drvinfo(w.a.netdev)
    assert (info.driver, info.bus_info) == ("ixgb", w.a.slot.pci_dev.name)
    assert (info.n_stats, info.regdump_len, info.eedump_len) == (len(GSTRINGS_STATS), 544, 128)
    assert ethtool_get_link(w.a.netdev)
    link = ethtool_get_link_ksettings(w.a.netdev)
    assert (link.speed, link.autoneg) == (10000, 0)
    w.cable.unplug()
    w.run("10ms")
    assert not ethtool_get_link(w.a.netdev)
    assert ethtool_get_link_ksettings(w.a.netdev).speed == -1


def test_ring_sizes_change_on_a_running_device():
    w = DriverPair()
    ring = ethtool_get_ringparam(w.a.netdev)
    assert (ring.rx_pending, ring.tx_pending, ring.rx_max_pending, ring.tx_max_pending) == (
        512, 256, 512, 4096)
    ethtool_set_ringparam(w.a.netdev, EthtoolRingparam(rx_pending=100, tx_pending=1000))
    assert w.a.peek(R.RDLEN) == 104 * 16 and w.a.peek(R.TDLEN) == 1000 * 16
    assert w.a.netdev.carrier_ok()
    with pytest.raises(OSError) as info:
        ethtool_set_ringparam(w.a.netdev, EthtoolRingparam(rx_pending=1024, tx_pending=256))
    assert info.value.errno == errno.EINVAL
    frames = [w.frame(w.a, 500, seq=i) for i in range(300)]
    for frame in frames:
        w.send(w.a, frame)
    w.run("2ms")
    assert w.b.frames() == frames
    assert w.a.machine.dma.live == 2 + 100  # 104 descriptors, 3 kept unused, 1 idle at RDT
    w.assert_clean()


def test_coalesce_programs_the_delay_registers():
    w = DriverPair()
    coal = ethtool_get_coalesce(w.a.netdev)
    assert (coal.rx_coalesce_usecs, coal.tx_coalesce_usecs) == (59, 26)  # 72 and 32 ticks
    ethtool_set_coalesce(w.a.netdev, EthtoolCoalesce(rx_coalesce_usecs=0,
                                                     tx_coalesce_usecs=100))
    assert w.a.peek(R.RDTR) == 0 and w.a.peek(R.TIDV) == 122
    with pytest.raises(OSError):
        ethtool_set_coalesce(w.a.netdev, EthtoolCoalesce(rx_max_coalesced_frames=8))
    # The values survive a reset (here: new rings, down and up).
    ethtool_set_ringparam(w.a.netdev, EthtoolRingparam(rx_pending=512, tx_pending=256))
    assert w.a.peek(R.RDTR) == 0 and w.a.peek(R.TIDV) == 122


def test_pause_parameters():
    w = DriverPair()
    pause = ethtool_get_pauseparam(w.a.netdev)
    assert (pause.autoneg, pause.rx_pause, pause.tx_pause) == (0, 0, 1)  # Linux default
    ethtool_set_pauseparam(w.a.netdev, EthtoolPauseparam(rx_pause=1, tx_pause=0))
    assert w.a.peek(R.CTRL0) & (R.CTRL0_RPE | R.CTRL0_TPE) == R.CTRL0_RPE
    assert w.a.peek(R.FCRTL) == 0 and w.a.peek(R.FCRTH) == 0
    ethtool_set_pauseparam(w.a.netdev, EthtoolPauseparam(rx_pause=0, tx_pause=0))
    assert w.a.peek(R.CTRL0) & R.CTRL0_CMDC
    with pytest.raises(OSError):
        ethtool_set_pauseparam(w.a.netdev, EthtoolPauseparam(autoneg=1))
    assert w.a.netdev.carrier_ok()


def test_statistics_with_ethtool_names():
    w = DriverPair()
    for i in range(30):
        w.send(w.a, w.frame(w.a, 100, seq=i))
    w.send(w.a, w.frame(w.a, 100, dst=b"\xff" * 6))
    w.run("1ms")
    tx = ethtool_get_stats(w.a.netdev)
    rx = ethtool_get_stats(w.b.netdev)
    assert list(tx) == [name for name, _w, _f in GSTRINGS_STATS]
    assert tx["tx_packets"] == 31 and tx["tx_bytes"] == 31 * 104
    assert rx["rx_packets"] == 31 and rx["rx_bytes"] == 31 * 104
    assert rx["multicast"] == 0 and rx["rx_errors"] == 0
    assert w.b.netdev.stats.rx_packets == 31
    # Counters accumulate across reads (the registers clear on read).
    w.send(w.a, w.frame(w.a, 100))
    w.run("1ms")
    assert ethtool_get_stats(w.b.netdev)["rx_packets"] == 32


def test_register_dump_in_ethtool_order():
    w = DriverPair()
    regs = ethtool_get_regs(w.a.netdev)
    assert regs.version == 1 << 24 | 0 << 16 | 0x1048
    words = struct.unpack("<136I", regs.data)
    names = R.ETHTOOL_DUMP_ORDER
    dump = dict(zip(names, words[: len(names)], strict=True))
    for name in ("CTRL0", "RCTL", "RDLEN", "TDLEN", "RDBAL", "TDBAL", "RDT", "TCTL", "MFS",
                 "RAL0", "RAH0", "IMS", "TIDV", "RDTR", "XPCSS"):
        assert dump[name] == w.a.peek(R.BY_NAME[name].offset), name
    assert dump["RAL0"] == int.from_bytes(MAC_A[:4], "little")
    assert dump["ICS"] == 0 and dump["IMC"] == 0  # write-only registers read 0
    assert len(words) - len(names) == 60  # then the accumulated statistics


def test_eeprom_read_and_write_keep_the_checksum_valid():
    w = DriverPair()
    a = w.a
    image = ethtool_get_eeprom(a.netdev)
    assert len(image) == 128
    assert list(struct.unpack("<64H", image)) == a.nic.eeprom.words
    assert ethtool_get_eeprom(a.netdev, 1, 5) == MAC_A[1:6]
    magic = 0x8086 | 0x1048 << 16
    ethtool_set_eeprom(a.netdev, magic, 0x61, b"\xab\xcd\xef")  # odd offset and length
    words = a.nic.eeprom.words
    assert words[0x30] & 0xFF00 == 0xAB00 and words[0x31] == 0xEFCD
    assert checksum_ok(words)
    assert ethtool_get_eeprom(a.netdev, 0x61, 3) == b"\xab\xcd\xef"
    with pytest.raises(OSError) as info:
        ethtool_set_eeprom(a.netdev, 0x12345678, 0x60, b"\0\0")
    assert info.value.errno == errno.EFAULT
    assert a.nic.eeprom.writes == 3  # words 0x30 and 0x31, then the checksum
    w.assert_clean()


def test_rx_checksum_feature_follows_xsumrx_and_ethtool():
    w = DriverPair(params_b={"XsumRX": 0})
    assert not w.b.netdev.features & NETIF_F_RXCSUM
    assert w.a.netdev.features & NETIF_F_RXCSUM
    assert w.a.peek(R.RXCSUM) & R.RXCSUM_TUOFL
    ethtool_set_features(w.a.netdev, off=NETIF_F_RXCSUM)
    assert not w.a.peek(R.RXCSUM) & R.RXCSUM_TUOFL
    assert not w.a.netdev.features & NETIF_F_RXCSUM
    w.run("10ms")
    assert w.a.netdev.carrier_ok()
    ethtool_set_features(w.b.netdev, on=NETIF_F_RXCSUM)
    assert w.b.peek(R.RXCSUM) & R.RXCSUM_TUOFL
